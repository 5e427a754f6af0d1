// document_store_bench: creates, point reads, upserts, replaces and deletes through
// api::DocumentStore on the SQLite engine (synchronous=FULL: every acknowledged write is
// fsync-durable), with a bounded number of operations in flight, as a lean client would drive
// it. Not a test: prints figures.
//   document_store_bench [dir] [creates] [in_flight] [indexing]
// `indexing` "none" makes the container with indexingMode none (what the range index costs).
// The store's CPU per write without HTTP is what any server on this store pays at least, on
// top of its transport: the write phases print it per thread (the writer, the sync thread,
// this generator's thread).
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
#include <vector>

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

// "<prefix><n>" (not `"lit" + std::to_string(n)`: g++ 12 warns falsely on that, -Wrestrict).
std::string named(const char* prefix, long n) {
  std::string s = prefix;
  s += std::to_string(n);
  return s;
}

double process_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Runs one write phase and prints its CPU per operation: the process, and each thread that
// worked (this generator's thread is "client"; of the store's, the writer works most).
template <class Submit>
void write_phase(const char* name, int total, int in_flight, SqliteDocumentStore& store, Submit submit) {
  auto threads_before = thread_cpu();
  double cpu_before = process_cpu();
  uint64_t commits_before = store.engine().commit_count();
  double t = run(total, in_flight, submit);
  double cpu = process_cpu() - cpu_before;
  std::vector<std::pair<double, int>> used;
  for (auto& [tid, secs] : thread_cpu()) {
    auto was = threads_before.find(tid);
    double d = secs - (was == threads_before.end() ? 0.0 : was->second);
    if (d > 0) used.emplace_back(d, tid);
  }
  std::sort(used.rbegin(), used.rend());
  std::printf("%-8s %d in %.3f s = %.0f/s, %llu commits; CPU per op: process %.1f us", name, total, t, total / t,
              static_cast<unsigned long long>(store.engine().commit_count() - commits_before), cpu / total * 1e6);
  for (auto& [secs, tid] : used)
    std::printf(", %s %.1f us", tid == getpid() ? "client" : named("thread ", tid).c_str(), secs / total * 1e6);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "/tmp/nimbus-docbench-" + std::to_string(getpid());
  int creates = argc > 2 ? std::atoi(argv[2]) : 20000;
  int in_flight = argc > 3 ? std::atoi(argv[3]) : 1024;
  bool unindexed = argc > 4 && std::string(argv[4]) == "none";
  // A count that is not a positive number (e.g. "full" where the in-flight count goes) would
  // otherwise leave the generator waiting for operations it never started.
  if (creates < 1 || in_flight < 1) {
    std::fprintf(stderr, "usage: document_store_bench [DIR] [CREATES >= 1] [IN_FLIGHT >= 1] [indexed|none]\n");
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
  api::ContainerSpec spec = api::ContainerSpec::from_json(
      json::parse(unindexed ? R"({"id":"items","partitionKey":{"paths":["/pk"]},"indexingPolicy":{"indexingMode":"none","automatic":false}})"
                            : R"({"id":"items","partitionKey":{"paths":["/pk"]}})").as_object()).value();
  wait([&](auto fin) { store->create_container("bench", spec, [fin](auto) { fin(); }); });
  api::ContainerRef ref{"bench", "items"};

  auto threads_before = thread_cpu();
  double cpu_before = process_cpu();
  double t = run(creates, in_flight, [&](int i, auto fin) {
    json::object body{{"id", named("item-", i)}, {"pk", named("p", i % 1000)},
                      {"name", named("name ", i)}, {"score", i % 100}, {"kind", i % 2 ? "a" : "b"}};
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
    store->read_item(ref, named("item-", k), api::PartitionKey{json::string(named("p", k % 1000))}, api::ItemForm::text,
                     [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  std::printf("point reads: %d in %.3f s = %.0f/s\n", reads, t, reads / t);

  // The writes a Cosmos client makes after its creates, each over every item once.
  auto body_of = [](int i, int round) {
    return json::object{{"id", named("item-", i)}, {"pk", named("p", i % 1000)},
                        {"name", named("name ", i)}, {"score", (i + round) % 100}, {"kind", i % 2 ? "a" : "b"}};
  };
  auto key_of = [](int i) { return api::PartitionKey{json::string(named("p", i % 1000))}; };
  write_phase("upsert", creates, in_flight, *store, [&](int i, auto fin) {
    store->upsert_item(ref, std::nullopt, body_of(i, 1), [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  write_phase("replace", creates, in_flight, *store, [&](int i, auto fin) {
    store->replace_item(ref, named("item-", i), key_of(i), body_of(i, 2), std::nullopt,
                        [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  write_phase("delete", creates, in_flight, *store, [&](int i, auto fin) {
    store->delete_item(ref, named("item-", i), key_of(i), std::nullopt, [fin](api::DocResult<void> r) { fin(r.ok()); });
  });
  store.reset();
  if (argc <= 1) std::filesystem::remove_all(dir);
  return 0;
}
