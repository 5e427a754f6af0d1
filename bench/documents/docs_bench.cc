// docs_bench: the store side of the document benchmark (bench/documents/run_docs_bench.sh).
//   docs_bench load    --dir D --items N [--partitions P] [--in-flight F] [--sync off|normal|full]
//   docs_bench queries --dir D --items N [--partitions P] [--iters K]
// `load` fills database "bench", container "items" (partition key /pk, the default indexing
// policy: every path) through api::DocumentStore directly, not over HTTP: 1,000,000 creates
// through the REST API would take most of an hour on this machine and measure the HTTP layer,
// which the SDK side of the run measures anyway. A directory that already holds the container
// with N items is reused (the load is the slow part of a run). `queries` times the benchmark's
// queries at the store interface (no HTTP, no JSON over a socket), to separate the store's
// cost from the server's. Every figure is printed as one JSON line prefixed "result: ".
// Item i: {id:"item-i", pk:"p<i % P>", n:i, tag:"t<i / 10>" (10 items in 10 partitions),
// score:(i * 7919) % 1000003, kind:"k<i % 10>", name:"name <i>"}.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "documents/docsql_query.h"
#include "storage/sqlite/sqlite_document_store.h"

namespace json = boost::json;
using nimbus::storage::SqliteDocumentStore;
using namespace nimbus;

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode, dir;
  int64_t items = 1000000;
  int partitions = 1000;
  int in_flight = 256;
  int iters = 200;
  std::string sync = "normal";
};

long rss_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  return -1;
}

// Waits for one callback-style call (the completion runs on the engine's writer thread).
template <class T, class Call>
api::DocResult<T> call(Call c) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<api::DocResult<T>> out;
  c([&](api::DocResult<T> r) {
    std::lock_guard lk(mu);
    out.emplace(std::move(r));
    cv.notify_all();
  });
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return out.has_value(); });
  return std::move(*out);
}

json::object item(int64_t i, int partitions) {
  return json::object{{"id", "item-" + std::to_string(i)},
                      {"pk", "p" + std::to_string(i % partitions)},
                      {"n", i},
                      {"tag", "t" + std::to_string(i / 10)},
                      {"score", (i * 7919) % 1000003},
                      {"kind", "k" + std::to_string(i % 10)},
                      {"name", "name " + std::to_string(i)}};
}

std::unique_ptr<SqliteDocumentStore> open_store(const Args& a) {
  std::filesystem::create_directories(a.dir);
  SqliteDocumentStore::Options o;
  o.path = a.dir + "/nimbus.db";
  if (!storage::SqliteEngine::parse_sync(a.sync, o.sync)) {
    std::fprintf(stderr, "--sync %s: use off, normal or full\n", a.sync.c_str());
    return nullptr;
  }
  std::string error;
  auto store = SqliteDocumentStore::open(o, error);
  if (!store) std::fprintf(stderr, "%s\n", error.c_str());
  return store;
}

const api::ContainerRef kRef{"bench", "items"};

int64_t count_items(SqliteDocumentStore& store) {
  auto q = documents::DocsqlQuery::parse("SELECT VALUE COUNT(1) FROM c", {});
  auto r = call<api::Page>([&](auto done) { store.query(kRef, q.value(), {}, done); });
  if (!r || r.value().items.empty()) return -1;
  return r.value().items[0].to_number<int64_t>();
}

int load(const Args& a) {
  auto store = open_store(a);
  if (!store) return 1;
  int64_t have = count_items(*store);
  if (have == a.items) {
    std::printf("result: {\"step\":\"load\",\"reused\":true,\"items\":%lld}\n", static_cast<long long>(have));
    return 0;
  }
  if (have >= 0) {
    std::fprintf(stderr, "%s holds %lld items, not %lld: remove the directory and load again\n", a.dir.c_str(),
                 static_cast<long long>(have), static_cast<long long>(a.items));
    return 1;
  }
  call<api::DatabaseInfo>([&](auto done) { store->create_database("bench", std::nullopt, done); });
  auto spec = api::ContainerSpec::from_json(json::parse(R"({"id":"items","partitionKey":{"paths":["/pk"]}})").as_object());
  auto made = call<api::ContainerInfo>([&](auto done) { store->create_container("bench", spec.value(), done); });
  if (!made) {
    std::fprintf(stderr, "create container: %s\n", made.error().message.c_str());
    return 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  int64_t outstanding = 0, failed = 0;
  auto start = Clock::now();
  auto last_report = start;
  for (int64_t i = 0; i < a.items; ++i) {
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return outstanding < a.in_flight; });
      ++outstanding;
    }
    store->create_item(kRef, std::nullopt, item(i, a.partitions), [&](api::DocResult<api::Item> r) {
      std::lock_guard lk(mu);
      --outstanding;
      if (!r) ++failed;
      cv.notify_all();
    });
    if ((i & 0xFFFF) == 0 && Clock::now() - last_report > std::chrono::seconds(15)) {
      last_report = Clock::now();
      std::fprintf(stderr, "load: %lld items, %.0f s\n", static_cast<long long>(i),
                   std::chrono::duration<double>(last_report - start).count());
    }
  }
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return outstanding == 0; });
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("result: {\"step\":\"load\",\"reused\":false,\"items\":%lld,\"failed\":%lld,\"seconds\":%.1f,\"per_s\":%.0f,\"sync\":\"%s\",\"in_flight\":%d}\n",
              static_cast<long long>(a.items), static_cast<long long>(failed), secs, a.items / secs, a.sync.c_str(), a.in_flight);
  return failed ? 1 : 0;
}

struct Named {
  const char* name;
  std::string text;
  std::function<json::object(std::mt19937_64&)> params;
  std::function<std::optional<api::PartitionKey>(const json::object&)> pk;
  size_t expect_rows;  // 0: not checked
};

int queries(const Args& a) {
  auto store = open_store(a);
  if (!store) return 1;
  int64_t n = a.items;
  int parts = a.partitions;
  std::vector<Named> qs = {
      {"single_partition_eq", "SELECT * FROM c WHERE c.id = @id",
       [n](std::mt19937_64& r) { return json::object{{"@id", "item-" + std::to_string(r() % n)}}; },
       [parts](const json::object& p) {
         int64_t i = std::stoll(std::string(p.at("@id").as_string()).substr(5));
         return std::optional<api::PartitionKey>(api::PartitionKey{json::string("p" + std::to_string(i % parts))});
       },
       1},
      {"cross_partition_filter_10", "SELECT * FROM c WHERE c.tag = @tag",
       [n](std::mt19937_64& r) { return json::object{{"@tag", "t" + std::to_string(r() % (n / 10))}}; },
       [](const json::object&) { return std::optional<api::PartitionKey>(); }, 10},
      {"order_by_top10", "SELECT TOP 10 * FROM c ORDER BY c.score DESC", [](std::mt19937_64&) { return json::object{}; },
       [](const json::object&) { return std::optional<api::PartitionKey>(); }, 10},
      {"count", "SELECT VALUE COUNT(1) FROM c", [](std::mt19937_64&) { return json::object{}; },
       [](const json::object&) { return std::optional<api::PartitionKey>(); }, 1},
  };
  std::mt19937_64 rng(42);
  for (auto& q : qs) {
    std::vector<double> ms;
    int iters = a.iters;
    auto deadline = Clock::now() + std::chrono::seconds(30);  // a slow path must not stall the run
    std::string error;
    for (int i = 0; i < iters + 3 && Clock::now() < deadline; ++i) {
      json::object params = q.params(rng);
      api::FeedOptions o;
      o.partition_key = q.pk(params);
      auto t0 = Clock::now();
      auto parsed = documents::DocsqlQuery::parse(q.text, params);
      auto r = call<api::Page>([&](auto done) { store->query(kRef, parsed.value(), o, done); });
      double t = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!r) {
        error = r.error().message;
        break;
      }
      if (q.expect_rows && r.value().items.size() != q.expect_rows) {
        error = "expected " + std::to_string(q.expect_rows) + " rows, got " + std::to_string(r.value().items.size());
        break;
      }
      if (i >= 3) ms.push_back(t);  // the first runs warm the page cache and the definition cache
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms.empty() ? -1.0 : ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
    std::printf("result: {\"step\":\"store_query\",\"query\":\"%s\",\"text\":\"%s\",\"items\":%lld,\"runs\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"error\":%s}\n",
                q.name, q.text.c_str(), static_cast<long long>(n), ms.size(), pct(0.5), pct(0.99), ms.empty() ? -1.0 : ms.back(),
                error.empty() ? "null" : json::serialize(json::string(error)).c_str());
    std::fflush(stdout);
  }
  // ORDER BY right after a write: the container's LSN moved, so the store must re-establish that
  // every row is in the ORDER BY index (by checking the rows written since, or by counting).
  // Upserts rewrite an item with its own content, so the data set stays the same.
  {
    std::vector<double> ms;
    std::string error;
    auto parsed = documents::DocsqlQuery::parse("SELECT TOP 10 * FROM c ORDER BY c.score DESC", {});
    for (int i = 0; i < 20; ++i) {
      int64_t k = static_cast<int64_t>(rng() % n);
      auto w = call<api::Item>([&](auto done) { store->upsert_item(kRef, std::nullopt, item(k, parts), done); });
      if (!w) {
        error = w.error().message;
        break;
      }
      auto t0 = Clock::now();
      auto r = call<api::Page>([&](auto done) { store->query(kRef, parsed.value(), {}, done); });
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!r || r.value().items.size() != 10) {
        error = r ? "expected 10 rows" : r.error().message;
        break;
      }
    }
    std::sort(ms.begin(), ms.end());
    std::printf("result: {\"step\":\"store_query\",\"query\":\"order_by_top10_after_a_write\",\"items\":%lld,\"runs\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"error\":%s}\n",
                static_cast<long long>(n), ms.size(), ms.empty() ? -1.0 : ms[ms.size() / 2], ms.empty() ? -1.0 : ms.back(),
                error.empty() ? "null" : json::serialize(json::string(error)).c_str());
  }
  std::printf("result: {\"step\":\"store_rss\",\"rss_kb\":%ld,\"hwm_kb\":%ld}\n", rss_kb("VmRSS:"), rss_kb("VmHWM:"));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr, "usage: docs_bench load|queries --dir D --items N [--partitions P] [--in-flight F] [--sync off|normal|full] [--iters K]\n");
    return 2;
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir") a.dir = v;
    else if (k == "--items") a.items = std::atoll(v.c_str());
    else if (k == "--partitions") a.partitions = std::atoi(v.c_str());
    else if (k == "--in-flight") a.in_flight = std::atoi(v.c_str());
    else if (k == "--iters") a.iters = std::atoi(v.c_str());
    else if (k == "--sync") a.sync = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.dir.empty() || a.items < 10 || a.partitions < 1) {
    std::fprintf(stderr, "--dir is required; --items at least 10\n");
    return 2;
  }
  if (a.mode == "load") return load(a);
  if (a.mode == "queries") return queries(a);
  std::fprintf(stderr, "unknown mode %s: load or queries\n", a.mode.c_str());
  return 2;
}
