// document_store_bench: creates, point reads, upserts, replaces with If-Match and deletes
// through api::DocumentStore on the SQLite engine (synchronous=FULL: every acknowledged write is
// fsync-durable), with a bounded number of operations in flight, as a lean client would drive
// it. Not a test: prints figures.
//   document_store_bench [DIR] [ITEMS] [IN_FLIGHT] [indexed|none]
// "none" makes the container with indexingMode none (what the range index costs).
// Per phase it prints the rate and the CPU per operation of the process and of each thread by
// name. Without HTTP, a write's CPU here is what any server on this store pays at least, on
// top of its transport. The CPU moves little with a shared machine's load, unlike the rate.
// In flight defaults to 1024: a lean in-process client (a function's output binding, a bulk
// loader) can keep that many writes waiting, and with 64 the generator measured mostly the
// fsync latency (each group commit held all 64, then the writer idled until the sync ended).
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

// Runs `total` operations with at most `in_flight` outstanding.
struct Ran {
  double seconds = 0;
  int failed = 0;
};
template <class Submit>
Ran run(int total, int in_flight, Submit submit) {
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
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), failed};
}

// CPU seconds (user + system) and name of each thread of this process, by thread id, from /proc.
struct ThreadCpu {
  double seconds = 0;
  std::string name;
};
std::map<int, ThreadCpu> thread_cpu() {
  std::map<int, ThreadCpu> out;
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* d = opendir("/proc/self/task");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    int tid = std::atoi(e->d_name);
    if (tid <= 0) continue;
    std::string task = "/proc/self/task/" + std::string(e->d_name);
    std::ifstream f(task + "/stat");
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
    std::string name;
    std::getline(std::ifstream(task + "/comm") >> std::ws, name);
    out[tid] = {static_cast<double>(utime + stime) / tick, tid == getpid() ? "client" : name};
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

// The items of crud_cpu.mjs (the SDK benchmark), so the two measure the same rows and index
// entries: six properties, 100 partitions.
json::object item(int i, int v) {
  return json::object{{"id", named("item-", i)}, {"pk", named("p", i % 100)}, {"n", i},
                      {"v", v}, {"tag", named("t", i % 37)}, {"name", named("name ", i)}};
}

api::PartitionKey key_of(int i) { return api::PartitionKey{json::string(named("p", i % 100))}; }

double process_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Runs one phase and prints its rate and CPU per successful operation: the whole process,
// and each thread that worked, by name ("client" is this generator's thread, "store-writer"
// and "store-sync" the engine's).
template <class Submit>
void phase(const char* name, int total, int in_flight, SqliteDocumentStore& store, Submit submit) {
  auto threads_before = thread_cpu();
  double cpu_before = process_cpu();
  uint64_t commits_before = store.engine().commit_count();
  Ran ran = run(total, in_flight, submit);
  double cpu = process_cpu() - cpu_before;
  std::vector<std::pair<double, std::string>> used;
  for (auto& [tid, now] : thread_cpu()) {
    auto was = threads_before.find(tid);
    double d = now.seconds - (was == threads_before.end() ? 0.0 : was->second.seconds);
    if (d > 0) used.emplace_back(d, now.name);
  }
  std::sort(used.rbegin(), used.rend());
  int ok = std::max(1, total - ran.failed);
  std::printf("%-7s %d in %.3f s = %.0f/s, %d failed, %llu commits; CPU per op: process %.1f us", name, total,
              ran.seconds, total / ran.seconds, ran.failed,
              static_cast<unsigned long long>(store.engine().commit_count() - commits_before), cpu / ok * 1e6);
  for (auto& [secs, thread] : used) std::printf(", %s %.1f us", thread.c_str(), secs / ok * 1e6);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // each figure out as it is measured, even if killed later
  std::string dir = argc > 1 ? argv[1] : "/tmp/nimbus-docbench-" + std::to_string(getpid());
  int creates = argc > 2 ? std::atoi(argv[2]) : 20000;
  int in_flight = argc > 3 ? std::atoi(argv[3]) : 1024;
  std::string indexing = argc > 4 ? argv[4] : "indexed";
  bool unindexed = indexing == "none";
  // A count that is not a positive number (e.g. "full" where the in-flight count goes) would
  // otherwise leave the generator waiting for operations it never started.
  if (creates < 1 || in_flight < 1 || (indexing != "indexed" && indexing != "none")) {
    std::fprintf(stderr, "usage: document_store_bench [DIR] [ITEMS >= 1] [IN_FLIGHT >= 1] [indexed|none]\n");
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

  // The phases of crud_cpu.mjs, each over every item once: create, point read (twice over,
  // scattered), an upsert and a replace with If-Match (the upsert's etag) that change `v`,
  // then the delete.
  std::printf("%d items, %d in flight, synchronous=FULL, %s\n", creates, in_flight, unindexed ? "indexingMode none" : "default indexing policy");
  phase("create", creates, in_flight, *store, [&](int i, auto fin) {
    store->create_item(ref, std::nullopt, item(i, 0), [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  phase("read", creates * 2, in_flight, *store, [&](int i, auto fin) {
    int k = (i * 7919) % creates;
    store->read_item(ref, named("item-", k), key_of(k), api::ItemForm::text, [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  std::vector<std::string> etags(creates);
  phase("upsert", creates, in_flight, *store, [&](int i, auto fin) {
    store->upsert_item(ref, std::nullopt, item(i, 1), [fin, &etags, i](api::DocResult<api::Item> r) {
      if (r.ok()) etags[i] = r.value().etag;
      fin(r.ok());
    });
  });
  phase("replace", creates, in_flight, *store, [&](int i, auto fin) {
    store->replace_item(ref, named("item-", i), key_of(i), item(i, 2), etags[i], [fin](api::DocResult<api::Item> r) { fin(r.ok()); });
  });
  phase("delete", creates, in_flight, *store, [&](int i, auto fin) {
    store->delete_item(ref, named("item-", i), key_of(i), std::nullopt, [fin](api::DocResult<void> r) { fin(r.ok()); });
  });
  store.reset();
  if (argc <= 1) std::filesystem::remove_all(dir);
  return 0;
}
