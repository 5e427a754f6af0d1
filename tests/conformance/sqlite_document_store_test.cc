// Runs the document store conformance suite on the SQLite backend, plus what only SQLite has:
// the index rows behind queries and the purge of expired items.
#include <filesystem>
#include <future>
#include <condition_variable>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <boost/json/parse.hpp>
#include <sqlite3.h>

#include "document_store_conformance.h"
#include "storage/sqlite/document_tables.h"
#include "storage/sqlite/sqlite_db.h"
#include "storage/sqlite/sqlite_document_store.h"
#include "storage/sqlite/sqlite_queue_store.h"

namespace nimbus::conformance {
namespace {

namespace json = boost::json;
using storage::SqliteDocumentStore;

std::unique_ptr<SqliteDocumentStore> open_sqlite(const std::string& dir, FakeClock& clock,
                                                 std::chrono::milliseconds sweep = std::chrono::milliseconds(30000)) {
  SqliteDocumentStore::Options o;
  o.path = dir + "/nimbus.db";
  o.clock = [&clock] { return clock.now.load(); };
  o.sweep_interval = sweep;
  std::string error;
  auto s = SqliteDocumentStore::open(o, error);
  EXPECT_NE(s, nullptr) << error;
  return s;
}

const DocumentStoreBackend kSqlite{
    "Sqlite",
    [](const std::string& dir, FakeClock& clock) -> std::unique_ptr<api::DocumentStore> { return open_sqlite(dir, clock); },
    [](api::DocumentStore& s) -> api::EffectsStore& { return static_cast<SqliteDocumentStore&>(s).engine(); },
    [](api::DocumentStore& s) -> std::unique_ptr<api::QueueStore> {
      return std::make_unique<storage::SqliteQueueStore>(static_cast<SqliteDocumentStore&>(s).engine());
    }};

INSTANTIATE_TEST_SUITE_P(Backends, DocumentStoreConformance, ::testing::Values(&kSqlite),
                         [](const auto& info) { return std::string(info.param->name); });

struct Fixture {
  FakeClock clock;
  std::string dir;
  std::unique_ptr<SqliteDocumentStore> store;
  std::unique_ptr<SyncDocs> docs;
  explicit Fixture(std::chrono::milliseconds sweep = std::chrono::milliseconds(30000)) {
    char tmpl[] = "/tmp/nimbus-docstore-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    store = open_sqlite(dir, clock, sweep);
    docs = std::make_unique<SyncDocs>(*store);
  }
  ~Fixture() {
    docs.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  api::ContainerRef container(std::string body) {
    if (!docs->read_db("db").ok()) EXPECT_TRUE(docs->create_db("db").ok());
    auto spec = api::ContainerSpec::from_json(json::parse(body).as_object());
    EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error().message);
    EXPECT_TRUE(docs->create_container("db", spec.value()).ok());
    return {"db", spec.value().id};
  }
  // Closes the store, runs `sql` on its file as another program would, and opens it again.
  void reopen_after(const char* sql) {
    docs.reset();
    store.reset();
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/nimbus.db").c_str(), &raw), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    sqlite3_close(raw);
    store = open_sqlite(dir, clock);
    docs = std::make_unique<SyncDocs>(*store);
  }
  SqliteDocumentStore::RowCounts counts(api::ContainerRef c) {
    auto r = SyncDocs::wait<SqliteDocumentStore::RowCounts>([&](auto cb) { store->row_counts(c, cb); });
    EXPECT_TRUE(r.ok());
    // The count every write keeps for /metrics agrees with the rows, whatever happened.
    if (r.ok()) EXPECT_EQ(r.value().counted_items, r.value().items);
    return r.ok() ? r.value() : SqliteDocumentStore::RowCounts{};
  }
};

TEST(SqliteDocumentStore, IndexRowsFollowEveryWriteAndHonourExcludedPaths) {
  Fixture f;
  auto c = f.container(R"({"id":"c","partitionKey":{"paths":["/pk"]},"indexingPolicy":{"excludedPaths":[{"path":"/secret/*"},{"path":"/\"_etag\"/?"}]}})");
  // pk, id, n, tags/0, tags/1, _ts = 6 entries; secret/* holds none.
  ASSERT_TRUE(f.docs->create(c, json::parse(R"({"id":"a","pk":"p","n":1,"tags":["x","y"],"secret":{"k":1,"j":"s"}})").as_object()).ok());
  EXPECT_EQ(f.counts(c).index_entries, 6);
  ASSERT_TRUE(f.docs->upsert(c, json::parse(R"({"id":"a","pk":"p","n":2})").as_object()).ok());
  EXPECT_EQ(f.counts(c).index_entries, 4);
  ASSERT_TRUE(f.docs->remove(c, "a", {"p"}).ok());
  EXPECT_EQ(f.counts(c).index_entries, 0);
  EXPECT_EQ(f.counts(c).items, 0);
  // Queries on an excluded path still answer (by scanning).
  ASSERT_TRUE(f.docs->create(c, json::parse(R"({"id":"b","pk":"p","secret":{"k":7}})").as_object()).ok());
  auto r = f.docs->query(c, "SELECT * FROM c WHERE c.secret.k = 7");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().items.size(), 1u);

  auto none = f.container(R"({"id":"none","partitionKey":{"paths":["/pk"]},"indexingPolicy":{"indexingMode":"none","automatic":false}})");
  ASSERT_TRUE(f.docs->create(none, json::parse(R"({"id":"a","pk":"p","n":1})").as_object()).ok());
  EXPECT_EQ(f.counts(none).index_entries, 0);
  EXPECT_EQ(f.docs->query(none, "SELECT * FROM c WHERE c.n = 1").value().items.size(), 1u);
}

// A path in indexingPolicy.fullTextIndexes gets one index row per distinct token of its text,
// kept with every write, built for a container whose policy gains one, and added once to a
// file of format 2; FullTextContains filters take their candidates from those rows (they read
// only the items holding every word), and answer the same without them.
TEST(SqliteDocumentStore, FullTextIndexRowsFollowWritesAndAnswerFullTextContains) {
  Fixture f;
  auto c = f.container(R"({"id":"t","partitionKey":{"paths":["/pk"]},
    "fullTextPolicy":{"defaultLanguage":"en-US","fullTextPaths":[{"path":"/body"}]},
    "indexingPolicy":{"excludedPaths":[{"path":"/body/?"},{"path":"/\"_etag\"/?"}],"fullTextIndexes":[{"path":"/body"}]}})");
  auto obj = [](const char* t) { return json::parse(t).as_object(); };
  // id, pk, _ts and the tokens red, bicycle (the body itself is excluded from the range index).
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"1","pk":"p","body":"Red red bicycles"})")).ok());
  EXPECT_EQ(f.counts(c).index_entries, 5);
  ASSERT_TRUE(f.docs->upsert(c, obj(R"({"id":"1","pk":"p","body":"a blue bicycle"})")).ok());
  EXPECT_EQ(f.counts(c).index_entries, 6);  // a, blue, bicycle
  for (int i = 2; i < 40; ++i)
    ASSERT_TRUE(f.docs->create(c, json::object{{"id", std::to_string(i)}, {"pk", "p"},
                                               {"body", i % 10 == 0 ? "red bicycle" : "green kayak number " + std::to_string(i)}}).ok());
  auto query = [&](const char* sql) {
    auto r = f.docs->query(c, sql);
    EXPECT_TRUE(r.ok()) << sql;
    std::vector<std::string> ids;
    for (auto& v : r.value().items) ids.emplace_back(v.as_string());
    std::sort(ids.begin(), ids.end());
    return std::make_pair(ids, r.value().stats);
  };
  using S = std::vector<std::string>;
  auto [ids, stats] = query("SELECT VALUE c.id FROM c WHERE FullTextContains(c.body, 'RED bicycles')");
  EXPECT_EQ(ids, (S{"10", "20", "30"}));
  EXPECT_TRUE(stats.from_index);
  EXPECT_EQ(stats.retrieved_documents, 3);
  // Both words but not as a phrase: a candidate the engine then drops.
  auto [all, all_stats] = query("SELECT VALUE c.id FROM c WHERE FullTextContainsAll(c.body, 'bicycle', 'blue')");
  EXPECT_EQ(all, (S{"1"}));
  EXPECT_EQ(all_stats.retrieved_documents, 1);
  auto [none, none_stats] = query("SELECT VALUE c.id FROM c WHERE FullTextContains(c.body, 'red canoe')");
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none_stats.retrieved_documents, 0);
  ASSERT_TRUE(f.docs->remove(c, "1", {"p"}).ok());
  EXPECT_EQ(query("SELECT VALUE c.id FROM c WHERE FullTextContains(c.body, 'bicycle')").first, (S{"10", "20", "30"}));
  // A word most items hold: reading them one by one would cost more than the scan it is.
  for (int i = 40; i < 120; ++i)
    ASSERT_TRUE(f.docs->create(c, json::object{{"id", std::to_string(i)}, {"pk", "p"}, {"body", "green kayak"}}).ok());
  auto kayaks = f.docs->query(c, "SELECT VALUE COUNT(1) FROM c WHERE FullTextContains(c.body, 'kayak')");
  ASSERT_TRUE(kayaks.ok());
  EXPECT_EQ(kayaks.value().items.at(0), 35 + 80);
  EXPECT_FALSE(kayaks.value().stats.from_index);

  // Without a full-text index the same filter scans and answers the same.
  auto plain = f.container(R"({"id":"plain","partitionKey":{"paths":["/pk"]}})");
  ASSERT_TRUE(f.docs->create(plain, obj(R"({"id":"1","pk":"p","body":"red bicycle"})")).ok());
  auto scanned = f.docs->query(plain, "SELECT VALUE c.id FROM c WHERE FullTextContains(c.body, 'red bicycle')");
  ASSERT_TRUE(scanned.ok());
  EXPECT_EQ(scanned.value().items.size(), 1u);
  EXPECT_FALSE(scanned.value().stats.from_index);
  int64_t before = f.counts(plain).index_entries;
  ASSERT_TRUE(f.docs->replace_container(plain, obj(R"({"id":"plain","partitionKey":{"paths":["/pk"]},
    "fullTextPolicy":{"fullTextPaths":[{"path":"/body"}]},"indexingPolicy":{"fullTextIndexes":[{"path":"/body"}]}})")).ok());
  EXPECT_EQ(f.counts(plain).index_entries, before + 2);
  EXPECT_TRUE(f.docs->query(plain, "SELECT * FROM c WHERE FullTextContains(c.body, 'bicycle')").value().stats.from_index);

  // A file of format 2 has no token rows: opening it adds them.
  int64_t rows = f.counts(c).index_entries;
  f.reopen_after("DELETE FROM doc_index WHERE substr(path, 1, 1) = char(1); PRAGMA user_version=2;");
  EXPECT_EQ(f.counts(c).index_entries, rows);
  EXPECT_EQ(query("SELECT VALUE c.id FROM c WHERE FullTextContains(c.body, 'red bicycle')").first, (S{"10", "20", "30"}));
}

// A vector index (indexingPolicy.vectorIndexes) keeps one row per item holding the path's
// numbers; ORDER BY [RANK] VectorDistance with TOP or OFFSET LIMIT over the whole container then
// reads only the best documents, and answers what a container without the index answers.
TEST(SqliteDocumentStore, VectorIndexRowsFollowWritesAndAnswerVectorDistanceOrders) {
  Fixture f;
  const char* policy = R"("vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/e","dataType":"float32","distanceFunction":"cosine","dimensions":3}]})";
  auto vi = f.container(std::string(R"({"id":"vi","partitionKey":{"paths":["/pk"]},)") + policy +
                        R"(,"indexingPolicy":{"excludedPaths":[{"path":"/e/*"}],"vectorIndexes":[{"path":"/e","type":"quantizedFlat"}]}})");
  auto plain = f.container(std::string(R"({"id":"plain","partitionKey":{"paths":["/pk"]},)") + policy +
                           R"(,"indexingPolicy":{"excludedPaths":[{"path":"/e/*"}]}})");
  uint32_t x = 7;
  auto rnd = [&] {
    x = x * 1103515245u + 12345u;
    return static_cast<double>(x >> 8) / 16777216.0 - 0.5;
  };
  auto both = [&](const json::object& item) {
    ASSERT_TRUE(f.docs->create(vi, item).ok());
    ASSERT_TRUE(f.docs->create(plain, item).ok());
  };
  for (int i = 0; i < 60; ++i)
    both(json::object{{"id", std::to_string(i)}, {"pk", "p" + std::to_string(i % 4)}, {"n", i},
                      {"e", json::array{rnd(), rnd(), rnd()}}});
  // Items without a score: no vector, another length, a non-number.
  both(json::object{{"id", "none"}, {"pk", "p0"}, {"n", 100}});
  both(json::object{{"id", "short"}, {"pk", "p1"}, {"n", 101}, {"e", json::array{1, 2}}});
  both(json::object{{"id", "text"}, {"pk", "p2"}, {"n", 102}, {"e", json::array{1, "2", 3}}});
  auto run = [&](api::ContainerRef c, const std::string& sql) {
    auto r = f.docs->query(c, sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.error().message);
    std::vector<std::string> ids;
    if (r.ok())
      for (auto& v : r.value().items) ids.emplace_back(v.as_string());
    return std::make_pair(ids, r.ok() && r.value().stats.from_index);
  };
  // The index answers (from_index) with the scan's rows in the scan's order, or leaves the
  // query to the scan.
  auto same = [&](const std::string& sql, bool from_index) {
    auto [want, scanned] = run(plain, sql);
    auto [got, indexed] = run(vi, sql);
    EXPECT_EQ(got, want) << sql;
    EXPECT_FALSE(scanned) << sql;
    EXPECT_EQ(indexed, from_index) << sql;
    return got;
  };
  const std::string q = "[0.3, -0.2, 0.1]";
  auto top5 = same("SELECT TOP 5 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q + ")", true);
  EXPECT_EQ(top5.size(), 5u);
  same("SELECT TOP 5 VALUE c.id FROM c ORDER BY RANK VectorDistance(c.e, " + q + ")", true);
  same("SELECT VALUE c.id FROM c ORDER BY VectorDistance(" + q + ", c.e) OFFSET 3 LIMIT 4", true);
  same("SELECT TOP 4 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q + ", false, {'distanceFunction':'dotproduct'})", true);
  same("SELECT TOP 4 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q + ") ASC", false);  // undefined first
  same("SELECT TOP 4 VALUE c.id FROM c ORDER BY RANK VectorDistance(c.e, " + q + ", false, {'distanceFunction':'euclidean'})", true);
  // WHERE that no index narrows: fed in growing rounds until four rows pass it.
  same("SELECT TOP 4 VALUE c.id FROM c WHERE c.n % 7 = 3 ORDER BY VectorDistance(c.e, " + q + ")", true);
  // More rows wanted than items scored: the unscored ones are in the answer, from the scan.
  EXPECT_EQ(same("SELECT TOP 70 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q + ")", false).size(), 63u);
  // A query vector of another length scores nothing.
  same("SELECT TOP 3 VALUE c.id FROM c ORDER BY VectorDistance(c.e, [1, 2])", false);
  // RANK with WHERE fixing the partition key: that partition's documents, from its index rows,
  // ranked as a scan ranks them (CONCAT hides the partition key from every index).
  auto with = [&](const std::string& where) {
    return "SELECT TOP 3 VALUE c.id FROM c WHERE " + where + " ORDER BY RANK VectorDistance(c.e, " + q + ")";
  };
  auto [in_p1, narrowed] = run(vi, with("c.pk = 'p1'"));
  EXPECT_TRUE(narrowed);
  EXPECT_EQ(in_p1, run(plain, with("CONCAT(c.pk, '') = 'p1'")).first);
  EXPECT_EQ(in_p1.size(), 3u);

  // Writes: a replaced vector moves, a deleted item goes, ties are fed together.
  json::object best{{"id", "7"}, {"pk", "p3"}, {"n", 7}, {"e", json::array{0.3, -0.2, 0.1}}};
  ASSERT_TRUE(f.docs->replace(vi, "7", best).ok());
  ASSERT_TRUE(f.docs->replace(plain, "7", best).ok());
  EXPECT_EQ(same("SELECT TOP 1 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q + ")", true), (std::vector<std::string>{"7"}));
  ASSERT_TRUE(f.docs->remove(vi, "7", {"p3"}).ok());
  ASSERT_TRUE(f.docs->remove(plain, "7", {"p3"}).ok());
  EXPECT_NE(same("SELECT TOP 1 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q + ")", true), (std::vector<std::string>{"7"}));
  for (int i = 0; i < 5; ++i) both(json::object{{"id", "tie" + std::to_string(i)}, {"pk", "p0"}, {"e", json::array{0.6, -0.4, 0.2}}});
  auto [ties, tied_from_index] = run(vi, "SELECT TOP 3 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q + ")");
  EXPECT_TRUE(tied_from_index);
  ASSERT_EQ(ties.size(), 3u);
  for (auto& id : ties) EXPECT_EQ(id.rfind("tie", 0), 0u) << id;  // any three of the five equals

  // Once every item has a vector, an ascending order is served too. (Another query vector
  // from here on: the ties above would make the two containers' orders differ, rightly.)
  const std::string q2 = "[-0.1, 0.4, 0.2]";
  for (const char* id : {"none", "short", "text"})
    for (auto c : {vi, plain}) ASSERT_TRUE(f.docs->remove(c, id, {std::string("p") + (id[0] == 'n' ? "0" : id[0] == 's' ? "1" : "2")}).ok());
  same("SELECT TOP 4 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q2 + ", false, {'distanceFunction':'euclidean'})", true);

  // A file of format 3 has no vector rows: opening it adds them.
  int64_t rows = f.counts(vi).index_entries;
  f.reopen_after("DELETE FROM doc_index WHERE substr(path, 1, 1) = char(2); PRAGMA user_version=3;");
  EXPECT_EQ(f.counts(vi).index_entries, rows);
  same("SELECT TOP 5 VALUE c.id FROM c ORDER BY VectorDistance(c.e, " + q2 + ")", true);
}

// -0 and 0 are one JSON value, so a rewrite from one to the other leaves the index rows alone:
// the vector row must hold the same bytes for both, or the next rewrite misses the row it
// meant to delete and a stale vector ranks the item.
TEST(SqliteDocumentStore, VectorIndexRowsHoldMinusZeroAsZero) {
  Fixture f;
  const char* policy = R"("vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/e","dataType":"float32","distanceFunction":"cosine","dimensions":3}]})";
  auto vi = f.container(std::string(R"({"id":"vi","partitionKey":{"paths":["/pk"]},)") + policy +
                        R"(,"indexingPolicy":{"excludedPaths":[{"path":"/*"}],"vectorIndexes":[{"path":"/e","type":"flat"}]}})");
  auto plain = f.container(std::string(R"({"id":"plain","partitionKey":{"paths":["/pk"]},)") + policy + "}");
  for (auto c : {vi, plain}) {
    ASSERT_TRUE(f.docs->upsert(c, json::parse(R"({"id":"near","pk":"p","e":[0,0.9,0.1]})").as_object()).ok());
    for (const char* e : {"[-0.0,1,0]", "[0.0,1,0]", "[1,0,0]"})
      ASSERT_TRUE(f.docs->upsert(c, json::parse(std::string(R"({"id":"z","pk":"p","e":)") + e + "}").as_object()).ok());
  }
  EXPECT_EQ(f.counts(vi).index_entries, 2);  // one vector row per item
  const std::string sql = "SELECT TOP 1 VALUE c.id FROM c ORDER BY VectorDistance(c.e, [0, 1, 0])";
  auto nearest = [&] {
    for (auto c : {vi, plain}) {
      auto r = f.docs->query(c, sql);
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(r.value().items, (std::vector<json::value>{"near"}));
    }
  };
  nearest();
  // A file of format 4 may hold such a stale row (here: each item's vector row again, with
  // other bytes): opening it writes the vector rows again.
  f.reopen_after(
      "INSERT INTO doc_index(cid, path, val, item) SELECT cid, path, zeroblob(24), item FROM doc_index "
      "WHERE substr(path, 1, 1) = char(2); PRAGMA user_version=4;");
  EXPECT_EQ(f.counts(vi).index_entries, 2);
  nearest();
}

// An object key "0" and an array element 0 share the index path /a/0: a vector index there
// holds both, while c.a["0"] reads only the first, so the index must not rank for it.
TEST(SqliteDocumentStore, VectorIndexDoesNotRankPathsWithArrayIndexLikeComponents) {
  Fixture f;
  auto c = f.container(
      R"({"id":"vi","partitionKey":{"paths":["/pk"]},)"
      R"("vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/a/0","dataType":"float32","distanceFunction":"cosine","dimensions":2}]},)"
      R"("indexingPolicy":{"vectorIndexes":[{"path":"/a/0","type":"flat"}]}})");
  ASSERT_TRUE(f.docs->create(c, json::parse(R"({"id":"key","pk":"p","a":{"0":[1,0]}})").as_object()).ok());
  ASSERT_TRUE(f.docs->create(c, json::parse(R"({"id":"element","pk":"p","a":[[0,1]]})").as_object()).ok());
  auto r = f.docs->query(c, R"(SELECT TOP 1 VALUE c.id FROM c ORDER BY VectorDistance(c.a["0"], [0, 1]))");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().items, (std::vector<json::value>{"key"}));  // "element" has no c.a["0"]: undefined, last
  EXPECT_FALSE(r.value().stats.from_index);
}

// A data directory from before doc_containers counted items gets the column at open, counted
// from the rows it holds.
TEST(SqliteDocumentStore, FilesWithoutItemCountsAreCountedAtOpen) {
  Fixture f;
  auto c = f.container(R"({"id":"old","partitionKey":{"paths":["/pk"]}})");
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(f.docs->create(c, json::object{{"id", std::to_string(i)}, {"pk", "p"}}).ok());
  f.reopen_after("ALTER TABLE doc_containers DROP COLUMN items");
  EXPECT_EQ(f.counts(c).counted_items, 3);
  ASSERT_TRUE(f.docs->create(c, json::object{{"id", "3"}, {"pk", "p"}}).ok());
  EXPECT_EQ(f.counts(c).counted_items, 4);
}

// With the writer idle and every commit synced, a point read runs at once on the caller's

// A file of data format 1 held `_lsn` in every stored body. Opening it takes it out (reads
// then answer as the service does), keeps the rest of each body in its order, and the change
// feed still shows each item's `_lsn`, from the row.
TEST(SqliteDocumentStore, FilesOfFormatOneLoseLsnFromTheirBodiesAtOpen) {
  Fixture f;
  auto c = f.container(R"({"id":"old","partitionKey":{"paths":["/pk"]}})");
  for (int i = 0; i < 3000; ++i)  // more than one slice of the rewrite
    ASSERT_TRUE(f.docs->create(c, json::object{{"id", std::to_string(i)}, {"pk", "p"}, {"z", i}, {"a", "x"}}).ok());
  f.reopen_after(
      "UPDATE doc_items SET body=CAST(json_insert(CAST(body AS TEXT), '$._lsn', lsn) AS BLOB);"
      "PRAGMA user_version=1;");
  auto read = f.docs->read(c, "2999", {"p"});
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_FALSE(read.value().document.contains("_lsn"));
  std::vector<std::string> keys;
  for (auto& m : read.value().document) keys.emplace_back(m.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "pk", "z", "a", "_rid", "_self", "_etag", "_attachments", "_ts"}));
  auto feed = f.docs->changes(c, api::ChangeFeedOptions{});
  ASSERT_TRUE(feed.ok());
  ASSERT_FALSE(feed.value().items.empty());
  EXPECT_EQ(feed.value().items[0].at("_lsn"), 1);
  // Every row was rewritten, not only the first slice.
  auto q = f.docs->query(c, "SELECT VALUE COUNT(1) FROM c WHERE IS_DEFINED(c._lsn)");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q.value().items.at(0), 0);
}
// thread (no hand-off to the writer and back).
TEST(SqliteDocumentStore, PointReadsRunOnTheCallingThreadWhenTheWriterIsIdle) {
  Fixture f;
  auto c = f.container(R"({"id":"c","partitionKey":{"paths":["/pk"]}})");
  ASSERT_TRUE(f.docs->create(c, json::object{{"id", "x"}, {"pk", "p"}, {"v", 1}}).ok());
  uint64_t before = f.store->engine().inline_read_count();
  std::optional<api::DocResult<api::Item>> got;
  std::thread::id ran_on;
  f.store->read_item(c, "x", api::PartitionKey{json::string("p")}, api::ItemForm::parsed,
                     [&](api::DocResult<api::Item> r) {
                       ran_on = std::this_thread::get_id();
                       got.emplace(std::move(r));
                     });
  ASSERT_TRUE(got.has_value()) << "the read did not complete before read_item returned";
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  ASSERT_TRUE(got->ok());
  EXPECT_EQ(got->value().document.at("v").as_int64(), 1);
  EXPECT_EQ(f.store->engine().inline_read_count(), before + 1);
  // A missing item answers the same way.
  auto missing = f.docs->read(c, "nope", {"p"});
  EXPECT_EQ(missing.error().code, api::DocErrc::not_found);
}

// A point read must never answer with a write whose sync has not completed (a crash could take
// it back). Batch A's completion is held on the sync thread, so A and B (committed behind it)
// stay unsynced-or-unacknowledged; a read submitted then must queue behind them, not run at
// once on the connection that already shows their rows.
TEST(SqliteDocumentStore, PointReadsWaitBehindBatchesNotYetAcknowledged) {
  Fixture f;
  auto c = f.container(R"({"id":"c","partitionKey":{"paths":["/pk"]}})");
  ASSERT_TRUE(f.docs->create(c, json::object{{"id", "x"}, {"pk", "p"}, {"v", 0}}).ok());
  auto& engine = f.store->engine();
  std::mutex mu;
  std::condition_variable cv;
  bool a_running = false, b_submitted = false, a_completing = false, release = false;
  std::vector<std::string> order;  // guarded by mu
  auto upsert = [c](storage::SqliteDb& db, int v) -> api::QueueResult<int> {
    json::object body{{"id", "x"}, {"pk", "p"}, {"v", v}};
    auto r = storage::document_tables::write_item(db, storage::document_tables::WriteMode::upsert, c,
                                                  std::nullopt, body, nullptr, std::nullopt);
    if (!r) return api::QueueError{api::QueueErrc::storage_failure, r.error().message};
    return v;
  };
  engine.submit(storage::make_op<int>(
      [&](storage::SqliteDb& db) {
        std::unique_lock lk(mu);
        a_running = true;
        cv.notify_all();
        cv.wait(lk, [&] { return b_submitted; });  // B is pending when A commits: A goes to the sync thread
        lk.unlock();
        return upsert(db, 1);
      },
      api::QueueCallback<int>([&](api::QueueResult<int>) {
        std::unique_lock lk(mu);
        a_completing = true;
        cv.notify_all();
        cv.wait(lk, [&] { return release; });
        order.push_back("A");
      })));
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return a_running; }));
  }
  engine.submit(storage::make_op<int>([&](storage::SqliteDb& db) { return upsert(db, 2); },
                                      api::QueueCallback<int>([&](api::QueueResult<int>) {
                                        std::lock_guard lk(mu);
                                        order.push_back("B");
                                      })));
  {
    std::unique_lock lk(mu);
    b_submitted = true;
    cv.notify_all();
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return a_completing; }));
  }
  uint64_t before = engine.inline_read_count();
  std::optional<int64_t> read_v;
  f.store->read_item(c, "x", api::PartitionKey{json::string("p")}, api::ItemForm::parsed,
                     [&](api::DocResult<api::Item> r) {
                       std::lock_guard lk(mu);
                       if (r) read_v = r.value().document.at("v").as_int64();
                       order.push_back("read");
                       cv.notify_all();
                     });
  {
    std::lock_guard lk(mu);
    release = true;
    cv.notify_all();
  }
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<std::string>{"A", "B", "read"}));
  EXPECT_EQ(read_v, 2);
  EXPECT_EQ(engine.inline_read_count(), before);
}

TEST(SqliteDocumentStore, ExpiredItemsArePurgedWithTheirIndexRows) {
  Fixture f(std::chrono::milliseconds(20));
  auto c = f.container(R"({"id":"t","partitionKey":{"paths":["/pk"]},"defaultTtl":5})");
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(f.docs->create(c, json::object{{"id", std::to_string(i)}, {"pk", "p"}, {"ttl", i < 20 ? 5 : -1}}).ok());
  EXPECT_EQ(f.counts(c).items, 30);
  f.clock.advance_seconds(6);
  // The sweep runs between batches every 20 ms; wait for it (bounded).
  for (int i = 0; i < 200 && f.counts(c).items != 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto after = f.counts(c);
  EXPECT_EQ(after.items, 10);
  EXPECT_EQ(after.index_entries, 10 * 4);  // id, pk, ttl, _ts of the 10 that stay
}

// All versions: an expiry is a delete the feed shows (timeToLiveExpired true) once the sweep
// purges the item, and changes older than the retention are dropped by the sweep; a
// continuation from before them is then refused, not answered with a gap.
TEST(SqliteDocumentStore, AllVersionsFeedShowsExpiriesAndForgetsPastItsRetention) {
  Fixture f(std::chrono::milliseconds(20));
  auto c = f.container(R"({"id":"t","partitionKey":{"paths":["/pk"]},"defaultTtl":5,"changeFeedPolicy":{"retentionDuration":1}})");
  auto obj = [](const char* t) { return json::parse(t).as_object(); };
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"brief","pk":"p"})")).ok());
  api::ChangeFeedOptions o;
  o.all_versions = true;
  o.start.kind = api::ChangeFeedStart::Kind::lsn;
  o.start.lsn = 0;
  f.clock.advance_seconds(6);
  auto deleted = [&] {
    auto p = f.docs->changes(c, o);
    return p.ok() && p.value().items.size() == 2;
  };
  for (int i = 0; i < 200 && !deleted(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto p = f.docs->changes(c, o);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p.value().items.size(), 2u);
  const auto& meta = p.value().items[1].at("metadata");
  EXPECT_EQ(meta.at("operationType"), "delete");
  EXPECT_EQ(meta.at("timeToLiveExpired"), true);
  EXPECT_EQ(meta.at("id"), "brief");
  EXPECT_GT(meta.at("lsn").as_int64(), p.value().items[0].at("metadata").at("lsn").as_int64());
  // Past the one-minute retention both are dropped; reading from before them is refused.
  f.clock.advance_seconds(61);
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"later","pk":"p","ttl":-1})")).ok());
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto r = f.docs->changes(c, o);
    gone = !r.ok() && r.error().code == api::DocErrc::bad_request;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(gone);
  auto r = f.docs->changes(c, o);
  EXPECT_NE(r.error().message.find("retention period"), std::string::npos) << r.error().message;
  // From where the trimmed changes ended, the feed goes on.
  o.start.lsn = meta.at("lsn").as_int64();
  auto after = f.docs->changes(c, o);
  ASSERT_TRUE(after.ok()) << after.error().message;
  ASSERT_EQ(after.value().items.size(), 1u);
  EXPECT_EQ(after.value().items[0].at("current").at("id"), "later");
}

// An item past its expiry is gone even before the sweep purges its row: a create or upsert of
// its id then writes a new item, and the all-versions feed must still show the expiry (before
// the new item), since the sweep will no longer find the row to report it.
TEST(SqliteDocumentStore, AllVersionsFeedShowsAnExpiryOverwrittenBeforeTheSweep) {
  Fixture f(std::chrono::hours(1));  // no sweep during the test
  auto c = f.container(R"({"id":"t","partitionKey":{"paths":["/pk"]},"defaultTtl":-1,"changeFeedPolicy":{"retentionDuration":60}})");
  auto obj = [](const char* t) { return json::parse(t).as_object(); };
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"a","pk":"p","ttl":5})")).ok());
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"b","pk":"p","ttl":5})")).ok());
  f.clock.advance_seconds(6);
  EXPECT_EQ(f.docs->replace(c, "b", obj(R"({"id":"b","pk":"p"})")).error().code, api::DocErrc::not_found);
  auto again = f.docs->upsert(c, obj(R"({"id":"a","pk":"p","v":2})"));
  ASSERT_TRUE(again.ok()) << again.error().message;
  api::ChangeFeedOptions o;
  o.all_versions = true;
  o.start.kind = api::ChangeFeedStart::Kind::lsn;
  o.start.lsn = 0;
  auto p = f.docs->changes(c, o);
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::vector<std::string> seen;
  int64_t last = 0;
  for (const auto& it : p.value().items) {
    const auto& m = it.at("metadata").as_object();
    EXPECT_GT(m.at("lsn").as_int64(), last);
    last = m.at("lsn").as_int64();
    const auto& id = m.contains("id") ? m.at("id") : it.at("current").at("id");  // deletes carry no current
    seen.push_back(std::string(m.at("operationType").as_string()) + " " + std::string(id.as_string()) +
                   (m.contains("timeToLiveExpired") && m.at("timeToLiveExpired") == true ? " ttl" : ""));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"create a", "create b", "delete a ttl", "create a"}));
  EXPECT_EQ(again.value().lsn, last);
  // Deleting the partition: b, expired and still unpurged, shows as a TTL delete; a as a delete.
  ASSERT_TRUE(f.docs->delete_partition(c, api::PartitionKey{"p"}).ok());
  o.start.lsn = last;
  auto after = f.docs->changes(c, o);
  ASSERT_TRUE(after.ok()) << after.error().message;
  std::vector<std::string> deletes;
  for (const auto& it : after.value().items) {
    const auto& m = it.at("metadata").as_object();
    deletes.push_back(std::string(m.at("id").as_string()) + (m.at("timeToLiveExpired") == true ? " ttl" : ""));
  }
  std::sort(deletes.begin(), deletes.end());
  EXPECT_EQ(deletes, (std::vector<std::string>{"a", "b ttl"}));
}

TEST(SqliteDocumentStore, UniqueKeyRowsFollowWritesAndArePurgedWithTheirItems) {
  Fixture f(std::chrono::milliseconds(20));
  auto c = f.container(R"({"id":"u","partitionKey":{"paths":["/pk"]},"defaultTtl":5,
    "uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/email"]},{"paths":["/a","/b"]}]}})");
  auto obj = [](const char* t) { return json::parse(t).as_object(); };
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"1","pk":"p","email":"x","ttl":-1})")).ok());
  EXPECT_EQ(f.counts(c).unique_entries, 2);  // one row per key, a missing value as null
  ASSERT_TRUE(f.docs->patch(c, "1", {"p"}, R"([{"op":"set","path":"/email","value":"y"}])").ok());
  EXPECT_EQ(f.counts(c).unique_entries, 2);  // the old value's row is gone, not kept beside
  EXPECT_TRUE(f.docs->create(c, obj(R"({"id":"2","pk":"p","email":"x","a":1,"b":2,"ttl":-1})")).ok());
  ASSERT_TRUE(f.docs->remove(c, "1", {"p"}).ok());
  EXPECT_EQ(f.counts(c).unique_entries, 2);
  // An expired item's value is free before the purge; the purge then removes only its own
  // rows, never the ones a new item took over.
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"old","pk":"q","email":"z"})")).ok());
  f.clock.advance_seconds(6);
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"new","pk":"q","email":"z","a":0,"ttl":-1})")).ok());
  for (int i = 0; i < 200 && f.counts(c).items != 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto after = f.counts(c);
  EXPECT_EQ(after.items, 2);
  EXPECT_EQ(after.unique_entries, 4);
  EXPECT_EQ(f.docs->create(c, obj(R"({"id":"again","pk":"q","email":"z"})")).error().code, api::DocErrc::conflict);
}

// A container whose unique keys were stored by an older version (no doc_unique rows, no
// doc_unique_built mark): the first checked write builds the rows, then keys hold.
TEST(SqliteDocumentStore, UniqueKeyRowsAreBuiltForContainersOfAnOlderVersion) {
  Fixture f;
  auto c = f.container(R"({"id":"legacy","partitionKey":{"paths":["/pk"]},"uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/email"]}]}})");
  auto obj = [](const char* t) { return json::parse(t).as_object(); };
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"1","pk":"p","email":"x"})")).ok());
  ASSERT_TRUE(f.docs->create(c, obj(R"({"id":"2","pk":"p","email":"y"})")).ok());
  f.reopen_after("DELETE FROM doc_unique; DELETE FROM doc_unique_built;");
  EXPECT_EQ(f.counts(c).unique_entries, 0);
  auto dup = f.docs->create(c, obj(R"({"id":"3","pk":"p","email":"x"})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, api::DocErrc::conflict);
  EXPECT_EQ(f.counts(c).unique_entries, 2);
  EXPECT_TRUE(f.docs->create(c, obj(R"({"id":"3","pk":"p","email":"z"})")).ok());
  EXPECT_EQ(f.counts(c).unique_entries, 3);
}

// The container's LSN as the file holds it (a change feed started "now" answers with it).
int64_t container_lsn(SyncDocs& docs, const api::ContainerRef& c) {
  api::ChangeFeedOptions o;
  o.start.kind = api::ChangeFeedStart::Kind::now;
  auto r = docs.changes(c, o);
  EXPECT_TRUE(r.ok());
  return r.ok() ? r.value().continuation_lsn : -1;
}

api::QueueResult<api::CommitReceipt> commit(SqliteDocumentStore& store, api::Effects fx) {
  std::promise<api::QueueResult<api::CommitReceipt>> p;
  auto f = p.get_future();
  store.engine().commit(std::move(fx), [&p](api::QueueResult<api::CommitReceipt> r) { p.set_value(std::move(r)); });
  return f.get();
}

// Writes take the container's LSN from the connection's memory and check it against the row.
// An Effects that wrote an item and then failed rolls its savepoint back, LSN included: the
// next write must notice and go on from the row, and LSNs never go back, not even across a
// restart after the newest item was deleted (a change feed reader holds that LSN).
TEST(SqliteDocumentStore, LsnNeverGoesBackAfterRolledBackWritesOrARestart) {
  Fixture f;
  auto c = f.container(R"({"id":"c","partitionKey":{"paths":["/pk"]}})");
  auto a = f.docs->create(c, json::object{{"id", "a"}, {"pk", "p"}});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(container_lsn(*f.docs, c), a.value().lsn);
  // An upsert and a delete of a missing item: the delete fails, so the upsert is taken back.
  api::Effects fx;
  fx.writes.push_back(api::DocumentUpsert{c, json::object{{"id", "b"}, {"pk", "p"}}, std::nullopt});
  fx.writes.push_back(api::DocumentDelete{c, "missing", api::PartitionKey{json::string("p")}});
  EXPECT_FALSE(commit(*f.store, std::move(fx)).ok());
  EXPECT_EQ(container_lsn(*f.docs, c), a.value().lsn);
  EXPECT_EQ(f.docs->read(c, "b", {"p"}).error().code, api::DocErrc::not_found);
  // The next write's LSN follows the row's, and the row holds it.
  auto b = f.docs->create(c, json::object{{"id", "b"}, {"pk", "p"}, {"n", 1}});
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b.value().lsn, a.value().lsn);
  EXPECT_EQ(container_lsn(*f.docs, c), b.value().lsn);
  // Effects that hold: their LSNs come from memory and land in the row.
  api::Effects ok;
  ok.writes.push_back(api::DocumentUpsert{c, json::object{{"id", "e"}, {"pk", "p"}}, std::nullopt});
  auto done = commit(*f.store, std::move(ok));
  ASSERT_TRUE(done.ok());
  int64_t e_lsn = std::get<api::DocumentReceipt>(done.value().writes.at(0)).lsn;
  EXPECT_GT(e_lsn, b.value().lsn);
  EXPECT_EQ(container_lsn(*f.docs, c), e_lsn);
  // Delete the newest item, restart: the next LSN is past the delete's.
  ASSERT_TRUE(f.docs->remove(c, "e", {"p"}).ok());
  int64_t deleted_at = container_lsn(*f.docs, c);
  EXPECT_GT(deleted_at, e_lsn);
  f.reopen_after("");
  EXPECT_EQ(container_lsn(*f.docs, c), deleted_at);
  auto d = f.docs->create(c, json::object{{"id", "d"}, {"pk", "p"}});
  ASSERT_TRUE(d.ok());
  EXPECT_GT(d.value().lsn, deleted_at);
  auto changes = f.docs->changes(c, api::ChangeFeedOptions{});
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes.value().items.size(), 3u);  // a, b, d in LSN order
  EXPECT_EQ(changes.value().items.back().at("id").as_string(), "d");
  EXPECT_EQ(f.counts(c).items, 3);
}

// A transactional batch that fails takes back its writes, their index rows and their LSNs;
// queries answer as before it, and the next write goes on from the container's row.
TEST(SqliteDocumentStore, IndexRowsAndLsnHoldAfterARolledBackBatch) {
  Fixture f;
  auto c = f.container(R"({"id":"c","partitionKey":{"paths":["/pk"]}})");
  auto x = f.docs->create(c, json::object{{"id", "x"}, {"pk", "p"}, {"n", 1}, {"tag", "old"}});
  ASSERT_TRUE(x.ok());
  auto before = f.counts(c);
  std::vector<api::BatchOperation> ops(4);
  ops[0].type = api::BatchOperation::Type::upsert;
  ops[0].body = json::object{{"id", "x"}, {"pk", "p"}, {"n", 2}, {"tag", "new"}, {"extra", true}};
  ops[1].type = api::BatchOperation::Type::create;
  ops[1].body = json::object{{"id", "y"}, {"pk", "p"}, {"tag", "new"}};
  ops[2].type = api::BatchOperation::Type::remove;
  ops[2].id = "x";
  ops[3].type = api::BatchOperation::Type::replace;  // fails: no such item
  ops[3].id = "z";
  ops[3].body = json::object{{"id", "z"}, {"pk", "p"}};
  api::BatchOptions atomic;
  atomic.atomic = true;
  auto r = f.docs->batch(c, api::PartitionKey{json::string("p")}, ops, atomic);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().at(3).status, 404);
  auto after = f.counts(c);
  EXPECT_EQ(after.items, before.items);
  EXPECT_EQ(after.index_entries, before.index_entries);
  EXPECT_EQ(container_lsn(*f.docs, c), x.value().lsn);
  EXPECT_EQ(f.docs->query(c, "SELECT * FROM c WHERE c.tag = 'new'").value().items.size(), 0u);
  EXPECT_EQ(f.docs->query(c, "SELECT * FROM c WHERE c.tag = 'old'").value().items.size(), 1u);
  EXPECT_EQ(f.docs->query(c, "SELECT * FROM c WHERE c.n > 1").value().items.size(), 0u);
  auto y = f.docs->create(c, json::object{{"id", "y"}, {"pk", "p"}, {"tag", "new"}});
  ASSERT_TRUE(y.ok());
  EXPECT_GT(y.value().lsn, x.value().lsn);
  EXPECT_EQ(container_lsn(*f.docs, c), y.value().lsn);
  EXPECT_EQ(f.docs->query(c, "SELECT * FROM c WHERE c.tag = 'new'").value().items.size(), 1u);
  // A batch that holds: its writes' LSNs follow one another and the row keeps the last.
  std::vector<api::BatchOperation> good(2);
  good[0].type = api::BatchOperation::Type::upsert;
  good[0].body = json::object{{"id", "x"}, {"pk", "p"}, {"n", 3}};
  good[1].type = api::BatchOperation::Type::remove;
  good[1].id = "y";
  auto g = f.docs->batch(c, api::PartitionKey{json::string("p")}, good, atomic);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g.value().at(1).status, 204);
  EXPECT_EQ(container_lsn(*f.docs, c), y.value().lsn + 2);
  EXPECT_EQ(f.docs->query(c, "SELECT * FROM c WHERE c.n = 3").value().items.size(), 1u);
  EXPECT_EQ(f.docs->query(c, "SELECT * FROM c WHERE c.tag = 'old'").value().items.size(), 0u);
  EXPECT_EQ(f.counts(c).index_entries, 4);  // x: id, pk, n, _ts
}

// A policy that indexes everything takes a shorter way to its entries (no rule matching); the
// rows must be exactly those the rule-matching way writes. "/zz/?" excludes nothing these
// items hold but sends the second container the long way. Compared row by row in the file,
// after creates, upserts that change, add and drop nested values, and deletes.
TEST(SqliteDocumentStore, IndexEverythingPolicyWritesTheSameRowsAsRuleMatching) {
  Fixture f;
  auto fast = f.container(R"({"id":"fast","partitionKey":{"paths":["/pk"]}})");
  auto slow = f.container(R"({"id":"slow","partitionKey":{"paths":["/pk"]},"indexingPolicy":{"excludedPaths":[{"path":"/zz/?"}]}})");
  std::vector<json::object> bodies = {
      json::parse(R"({"id":"a","pk":"p","n":1,"s":"x","b":true,"z":null,"d":1.5})").as_object(),
      json::parse(R"({"id":"b","pk":"p","o":{"k":"v","a~b":1,"c/d":[1,"two",{"e":false}]},"t":[[1,2],[]],"long":"0123456789012345678901234567890"})").as_object(),
      json::parse(R"({"id":"c","pk":"q","0":{"1":[null]},"u":"\u00e9\u4e2d","_ts":5,"_rid":"r","nested":{"_rid":"kept"}})").as_object(),
  };
  for (auto* c : {&fast, &slow})
    for (auto& b : bodies) ASSERT_TRUE(f.docs->create(*c, b).ok());
  for (auto* c : {&fast, &slow}) {
    ASSERT_TRUE(f.docs->upsert(*c, json::parse(R"({"id":"a","pk":"p","n":2,"s":"x","o":{"k":"w"},"t":[3]})").as_object()).ok());
    ASSERT_TRUE(f.docs->upsert(*c, json::parse(R"({"id":"b","pk":"p","o":{"k":"v","a~b":2},"t":[[1,2]]})").as_object()).ok());
    ASSERT_TRUE(f.docs->create(*c, json::parse(R"({"id":"d","pk":"p","gone":[1,2,3]})").as_object()).ok());
    ASSERT_TRUE(f.docs->remove(*c, "d", {"p"}).ok());
  }
  EXPECT_EQ(f.counts(fast).index_entries, f.counts(slow).index_entries);
  f.docs.reset();
  f.store.reset();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((f.dir + "/nimbus.db").c_str(), &raw), SQLITE_OK);
  auto rows = [&](const std::string& container) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw,
                                 "SELECT i.id || ' ' || x.path || ' ' || hex(x.val) FROM doc_index x JOIN doc_items i ON i.seq = x.item "
                                 "JOIN doc_containers c ON c.cid = x.cid WHERE c.name = ?1 ORDER BY 1",
                                 -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, container.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    return out;
  };
  auto a = rows("fast"), b = rows("slow");
  sqlite3_close(raw);
  EXPECT_EQ(a.size(), 20u);  // 7 + 7 + 6 entries
  EXPECT_EQ(a, b);
  f.store = open_sqlite(f.dir, f.clock);
  f.docs = std::make_unique<SyncDocs>(*f.store);
}

TEST(SqliteDocumentStore, ApplyPatchEdgeCases) {
  using storage::document_tables::apply_patch;
  auto run = [](const char* doc, std::vector<api::PatchOperation> ops) {
    json::object d = json::parse(doc).as_object();
    auto e = apply_patch(d, ops, "i");
    return std::make_pair(json::value(std::move(d)), e ? e->message : std::string());
  };
  using Op = api::PatchOperation::Op;
  auto op = [](Op o, std::string path, json::value v = nullptr, std::string from = "") {
    api::PatchOperation p;
    p.op = o;
    p.path = std::move(path);
    p.value = std::move(v);
    p.from = std::move(from);
    return p;
  };
  // Moving a value onto itself changes nothing (RFC 6902).
  EXPECT_EQ(run(R"({"a":1})", {op(Op::move, "/a", nullptr, "/a")}).first, json::parse(R"({"a":1})"));
  // set at "-" or at the length appends (unsure, see the code); add at the length too.
  EXPECT_EQ(run(R"({"t":[1]})", {op(Op::set, "/t/-", 2), op(Op::set, "/t/2", 3), op(Op::add, "/t/3", 4)}).first,
            json::parse(R"({"t":[1,2,3,4]})"));
  // Array indexes are decimal without leading zeros.
  EXPECT_NE(run(R"({"t":[1,2]})", {op(Op::replace, "/t/01", 0)}).second.find("not an array index"), std::string::npos);
  // Deep paths through arrays and objects.
  EXPECT_EQ(run(R"({"a":[{"b":[0,{"c":1}]}]})", {op(Op::incr, "/a/0/b/1/c", 41)}).first, json::parse(R"({"a":[{"b":[0,{"c":42}]}]})"));
  // incr past int64 becomes a double instead of wrapping.
  auto big = run(R"({"n":9223372036854775807})", {op(Op::incr, "/n", 1)});
  EXPECT_TRUE(big.second.empty()) << big.second;
  EXPECT_TRUE(big.first.at("n").is_double());
  // move into an array position, and out of one.
  EXPECT_EQ(run(R"({"t":["a","b"],"x":"c"})", {op(Op::move, "/t/1", nullptr, "/x"), op(Op::move, "/y", nullptr, "/t/0")}).first,
            json::parse(R"({"t":["c","b"],"y":"a"})"));
  // The error names the operation, the path and the item.
  auto e = run(R"({"a":1})", {op(Op::set, "/b", 1), op(Op::remove, "/zz")}).second;
  EXPECT_NE(e.find("patch operation 1 (remove \"/zz\") on item \"i\""), std::string::npos) << e;
}

// Random operations over random documents (fixed seed, so a failure reproduces): whatever the
// paths and values, apply_patch answers (never crashes, never loops), every refusal names its
// operation, and an add of a fresh property followed by its remove gives the document back.
TEST(SqliteDocumentStore, ApplyPatchHoldsUpUnderRandomOperations) {
  using storage::document_tables::apply_patch;
  using Op = api::PatchOperation::Op;
  std::mt19937 rng(20261129);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const char* names[] = {"a", "b", "0", "1", "-", "~0", "~1", "~", "10", "x~1y", "", "id", "pk", "_ts"};
  auto random_value = [&](int depth, auto& self) -> json::value {
    switch (pick(depth > 3 ? 5 : 7)) {
      case 0: return nullptr;
      case 1: return static_cast<int64_t>(pick(5)) - 2;
      case 2: return 1.5;
      case 3: return "s";
      case 4: return pick(2) == 0;
      case 5: {
        json::array a;
        for (size_t i = pick(4); i > 0; --i) a.push_back(self(depth + 1, self));
        return a;
      }
      default: {
        json::object o;
        for (size_t i = pick(4); i > 0; --i) o[names[pick(4)]] = self(depth + 1, self);
        return o;
      }
    }
  };
  auto random_path = [&] {
    std::string p;
    for (size_t i = pick(4); i > 0 || p.empty(); i = i ? i - 1 : 0) {
      p += "/";
      p += names[pick(std::size(names))];
      if (i == 0) break;
    }
    return pick(20) == 0 ? std::string("a") : p;  // now and then no leading '/'
  };
  int applied = 0, refused = 0;
  for (int round = 0; round < 5000; ++round) {
    json::object doc{{"id", "i"}, {"pk", "p"}};
    for (size_t i = pick(5); i > 0; --i) doc[names[pick(4)]] = random_value(0, random_value);
    std::vector<api::PatchOperation> ops(pick(20) == 0 ? 11 : 1 + pick(3));  // now and then over the limit
    for (auto& o : ops) {
      o.op = static_cast<Op>(pick(6));
      o.path = random_path();
      o.from = random_path();
      o.value = pick(4) == 0 ? json::value("t") : random_value(2, random_value);
    }
    json::object d = doc;
    auto e = apply_patch(d, ops, "i");
    if (e) {
      ++refused;
      ASSERT_EQ(e->code, api::DocErrc::bad_request);
      ASSERT_TRUE(e->message.find("patch") != std::string::npos) << e->message;
    } else {
      ++applied;
    }
    // add then remove of a property the document does not have restores it exactly.
    json::object before = d;
    std::vector<api::PatchOperation> round_trip(2);
    round_trip[0].op = Op::add;
    round_trip[0].path = "/fresh~1key";
    round_trip[0].value = random_value(0, random_value);
    round_trip[1].op = Op::remove;
    round_trip[1].path = "/fresh~1key";
    ASSERT_FALSE(apply_patch(d, round_trip, "i").has_value());
    ASSERT_EQ(json::value(d), json::value(before));
  }
  // Both outcomes are exercised, so the loop tests something.
  EXPECT_GT(applied, 100);
  EXPECT_GT(refused, 100);
}

TEST(SqliteDocumentStore, IndexValueEncodingOrdersLikeCosmosWithinEachType) {
  using storage::document_tables::encode_index_value;
  auto e = [](json::value v) { return *encode_index_value(v); };
  EXPECT_LT(e(-1e300), e(-5));
  EXPECT_LT(e(-5), e(-0.5));
  EXPECT_EQ(e(0.0), e(-0.0));
  EXPECT_EQ(e(0), e(0.0));
  EXPECT_LT(e(0), e(1e-300));
  EXPECT_LT(e(2), e(2.5));
  EXPECT_LT(e(2.5), e(uint64_t{18446744073709551615ull}));
  EXPECT_LT(e("a"), e("ab"));
  EXPECT_LT(e("Z"), e("a"));  // ordinal
  EXPECT_LT(e(false), e(true));
  // Types never interleave: null < bools < numbers < strings.
  EXPECT_LT(e(nullptr), e(false));
  EXPECT_LT(e(true), e(-1e300));
  EXPECT_LT(e(1e300), e(""));
  EXPECT_FALSE(encode_index_value(json::object()).has_value());
  EXPECT_FALSE(encode_index_value(json::array()).has_value());
  EXPECT_EQ(storage::document_tables::encode_path({"a/b", "~x", "0"}), "/a~1b/~0x/0");
}

}  // namespace
}  // namespace nimbus::conformance
