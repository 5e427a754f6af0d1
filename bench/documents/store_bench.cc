// document_store_bench: creates and point reads through api::DocumentStore on the SQLite
// engine (synchronous=FULL: every acknowledged create is fsync-durable), with a bounded number
// of operations in flight, as a lean client would drive it. Not a test: prints figures.
//   document_store_bench [dir] [creates] [in_flight]
// In flight defaults to 1024: a lean in-process client (a function's output binding, a bulk
// loader) can keep that many writes waiting, and with 64 the generator measured mostly the
// fsync latency (each group commit held all 64, then the writer idled until the sync ended).
// Besides the rate it prints the CPU the creates took: the whole process, and its busiest
// thread (the engine's writer thread), per create; these move little with a shared machine's
// load, unlike the rate.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include "storage/sqlite/sqlite_document_store.h"

namespace json = boost::json;
using nimbus::storage::SqliteDocumentStore;
using namespace nimbus;

namespace {

// Runs `total` operations with at most `in_flight` outstanding; returns seconds.
template <class Submit>
double run(int total, int in_flight, Submit submit) {
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0, done = 0, failed = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < total; ++i) {
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return outstanding < in_flight; });
      ++outstanding;
    }
    submit(i, [&](bool ok) {
      std::lock_guard lk(mu);
      --outstanding;
      ++done;
      if (!ok) ++failed;
      cv.notify_all();
    });
  }
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return done == total; });
  if (failed) std::fprintf(stderr, "%d operations failed\n", failed);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU seconds (user + system) of each thread of this process, by thread id, from /proc.
std::map<int, double> thread_cpu() {
  std::map<int, double> out;
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* d = opendir("/proc/self/task");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    int tid = std::atoi(e->d_name);
    if (tid <= 0) continue;
    std::ifstream f("/proc/self/task/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(f, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 0; i < 13 && rest >> field; ++i) {  // state is field 3; utime 14, stime 15
      if (i == 11) utime = std::stoull(field);
      if (i == 12) stime = std::stoull(field);
    }
    out[tid] = static_cast<double>(utime + stime) / tick;
  }
  closedir(d);
  return out;
}

double process_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "/tmp/nimbus-docbench-" + std::to_string(getpid());
  int creates = argc > 2 ? std::atoi(argv[2]) : 20000;
  int in_flight = argc > 3 ? std::atoi(argv[3]) : 1024;
  // A count that is not a positive number (e.g. "full" where the in-flight count goes) would
  // otherwise leave the generator waiting for operations it never started.
  if (creates < 1 || in_flight < 1) {
    std::fprintf(stderr, "usage: document_store_bench [DIR] [CREATES >= 1] [IN_FLIGHT >= 1]\n");
    return 2;
  }
  std::filesystem::create_directories(dir);
  SqliteDocumentStore::Options o;
  o.path = dir + "/nimbus.db";
  std::string error;
  auto store = SqliteDocumentStore::open(o, error);
  if (!store) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  auto wait = [&](auto submit) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    submit([&] {
      std::lock_guard lk(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done; });
  };
  wait([&](auto fin) { store->create_database("bench", std::nullopt, [fin](auto) { fin(); }); });
  api::ContainerSpec spec = api::ContainerSpec::from_json(json::parse(R"({"id":"items","partitionKey":{"paths":["/pk"]}})").as_object()).value();
  wait([&](auto fin) { store->create_container("bench", spec, [fin](auto) { fin(); }); });
  api::ContainerRef ref{"bench", "items"};

  auto threads_before = thread_cpu();
  double cpu_before = process_cpu();
  double t = run(creates, in_flight, [&](int i, auto fin) {
    json::object body{{"id", "item-" + std::to_string(i)}, {"pk", "p" + std::to_string(i % 1000)},
                      {"name", "name " + std::to_string(i)}, {"score", i % 100}, {"kind", i % 2 ? "a" : "b"}};
    store->create_item(ref, std::nullopt, std::move(body), [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  double cpu = process_cpu() - cpu_before;
  double busiest = 0;
  for (auto& [tid, secs] : thread_cpu()) {
    auto was = threads_before.find(tid);
    busiest = std::max(busiest, secs - (was == threads_before.end() ? 0.0 : was->second));
  }
  std::printf("creates:     %d in %.3f s = %.0f/s (%d in flight, synchronous=FULL, %llu commits)\n", creates, t,
              creates / t, in_flight, static_cast<unsigned long long>(store->engine().commit_count()));
  std::printf("create CPU:  %.1f us per create (process), %.1f us (busiest thread: the writer); %.0f creates per writer CPU second\n",
              cpu / creates * 1e6, busiest / creates * 1e6, busiest > 0 ? creates / busiest : 0.0);
  int reads = creates * 2;
  t = run(reads, in_flight, [&](int i, auto fin) {
    int k = (i * 7919) % creates;
    store->read_item(ref, "item-" + std::to_string(k), api::PartitionKey{json::string("p" + std::to_string(k % 1000))}, api::ItemForm::text,
                     [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  std::printf("point reads: %d in %.3f s = %.0f/s\n", reads, t, reads / t);
  store.reset();
  if (argc <= 1) std::filesystem::remove_all(dir);
  return 0;
}
