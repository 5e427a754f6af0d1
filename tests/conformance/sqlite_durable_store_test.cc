// Runs the durable store conformance suite on the SQLite backend (a SqliteDurableStore on an
// engine opened with SqliteEngine::open; the engine is the EffectsStore), plus what only SQLite
// has: several Effects sharing one group-commit transaction.
#include <sqlite3.h>

#include <filesystem>
#include <future>

#include "api/durable_events.h"
#include "durable_store_conformance.h"
#include "storage/sqlite/sqlite_durable_store.h"
#include "storage/sqlite/sqlite_engine.h"
#include "storage/sqlite/sqlite_queue_store.h"

namespace nimbus::conformance {
namespace {

using storage::SqliteEngine;

// The engine and the store borrowing it, as one object the suite owns (the store goes first).
class OwnedSqliteDurableStore final : public api::DurableStore {
 public:
  explicit OwnedSqliteDurableStore(std::unique_ptr<SqliteEngine> engine)
      : engine_(std::move(engine)), store_(*engine_) {}
  SqliteEngine& engine() { return *engine_; }

  void get_instance(std::string id, api::QueueCallback<api::InstanceState> done) override {
    store_.get_instance(std::move(id), std::move(done));
  }
  void load_episode(std::string id, bool with_history, int max_inbox,
                    api::QueueCallback<api::Episode> done) override {
    store_.load_episode(std::move(id), with_history, max_inbox, std::move(done));
  }
  void get_history(std::string id, api::QueueCallback<std::vector<std::string>> done) override {
    store_.get_history(std::move(id), std::move(done));
  }
  void list_instances(api::InstanceQuery q, api::QueueCallback<api::InstancePage> done) override {
    store_.list_instances(std::move(q), std::move(done));
  }
  void purge(std::vector<std::string> ids, api::QueueCallback<int64_t> done) override {
    store_.purge(std::move(ids), std::move(done));
  }
  void purge_matching(api::InstanceQuery q, api::QueueCallback<int64_t> done) override {
    store_.purge_matching(std::move(q), std::move(done));
  }
  void recover(api::QueueCallback<api::DurableRecovery> done) override {
    store_.recover(std::move(done));
  }

 private:
  std::unique_ptr<SqliteEngine> engine_;
  storage::SqliteDurableStore store_;
};

std::unique_ptr<OwnedSqliteDurableStore> open_sqlite(const std::string& dir, FakeClock& clock) {
  SqliteEngine::Options o;
  o.path = dir + "/nimbus.db";
  o.clock = [&clock] { return clock.now.load(); };
  std::string error;
  auto engine = SqliteEngine::open(o, error);
  EXPECT_NE(engine, nullptr) << error;
  if (!engine) return nullptr;
  return std::make_unique<OwnedSqliteDurableStore>(std::move(engine));
}

const DurableStoreBackend kSqlite{
    "Sqlite",
    [](const std::string& dir, FakeClock& clock) -> std::unique_ptr<api::DurableStore> {
      return open_sqlite(dir, clock);
    },
    [](api::DurableStore& s) -> api::EffectsStore& {
      return static_cast<OwnedSqliteDurableStore&>(s).engine();
    },
    [](api::DurableStore& s) -> std::unique_ptr<api::QueueStore> {
      return std::make_unique<storage::SqliteQueueStore>(
          static_cast<OwnedSqliteDurableStore&>(s).engine());
    }};

INSTANTIATE_TEST_SUITE_P(Backends, DurableStoreConformance, ::testing::Values(&kSqlite),
                         [](const auto& info) { return std::string(info.param->name); });

// The start of instance "x" (execution "e1") of orchestrator "Flow".
api::Effects start_of_x() {
  api::OrchestrationStart w;
  w.instance.id = "x";
  w.instance.name = "Flow";
  w.instance.execution_id = "e1";
  w.started = "{}";
  api::Effects start;
  start.writes.emplace_back(std::move(w));
  return start;
}

// Holds the writer thread inside a batch until released, so the commits submitted meanwhile
// are applied together in the next batch (one transaction, one round of notices).
struct GateOp final : SqliteEngine::Op {
  std::shared_future<void> open;
  explicit GateOp(std::shared_future<void> f) : open(std::move(f)) {}
  void execute(storage::SqliteDb&) override { open.wait(); }
  void complete(const api::QueueError*) override {}
};

// One batch holds Effects A (an event for "x" an hour from now, committed) and Effects B (an
// event for "x" now, then a write that fails: rolled back). Only A's time may be
// announced: B's rolled-back event must not pull the notice of A forward.
TEST(SqliteDurableStore, ARolledBackEffectsDoesNotChangeTheNoticesOfItsBatch) {
  char tmpl[] = "/tmp/nimbus-sqlite-durable-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  FakeClock clock;
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    ASSERT_TRUE(sync.commit(start_of_x()).ok());

    NoticeLog heard;
    store->engine().set_notice_listener(std::ref(heard));
    std::promise<void> gate;
    store->engine().submit(std::make_unique<GateOp>(gate.get_future().share()));
    api::UnixMillis later = clock.now + 3'600'000;
    api::Effects a;
    a.writes.emplace_back(api::OrchestrationEvent{"x", "{\"n\":\"a\"}", later, false});
    api::Effects b;
    b.writes.emplace_back(api::OrchestrationEvent{"x", "{\"n\":\"b\"}", 0, false});
    // After its event, B fails (the acknowledgement would run before the writes).
    b.writes.emplace_back(api::OrchestrationEvent{"nobody", "{}", 0, true});
    std::promise<api::QueueResult<api::CommitReceipt>> ra, rb;
    store->engine().commit(std::move(a), [&](auto r) { ra.set_value(std::move(r)); });
    store->engine().commit(std::move(b), [&](auto r) { rb.set_value(std::move(r)); });
    gate.set_value();
    ASSERT_TRUE(ra.get_future().get().ok());
    auto b_result = rb.get_future().get();
    ASSERT_FALSE(b_result.ok());
    EXPECT_EQ(b_result.error().code, api::QueueErrc::queue_not_found);

    std::vector<api::UnixMillis> times;
    for (const auto& n : heard.take())
      if (auto* r = std::get_if<api::OrchestrationReady>(&n)) times.push_back(r->visible_at);
    EXPECT_EQ(times, std::vector<api::UnixMillis>{later});
    auto ep = sync.episode("x").value();
    EXPECT_EQ(ep.inbox.size(), 1u) << "only the started event is visible";
    store->engine().set_notice_listener(nullptr);
  }
  std::filesystem::remove_all(tmpl);
}

// An episode's events share history rows (JSON arrays) since 2026-11-30; files written before
// hold one row per event. Both kinds read back as events in order, and events whose strings
// hold commas, brackets and escaped quotes are cut at the right places.
TEST(SqliteDurableStore, HistoryReadsEpisodeRowsAndTheOneEventRowsOfEarlierFiles) {
  char tmpl[] = "/tmp/nimbus-sqlite-durable-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  FakeClock clock;
  auto ack = [](std::vector<std::string> history) {
    api::EpisodeAck a;
    a.instance_id = "x";
    a.execution_id = "e1";
    a.status = api::RuntimeStatus::running;
    a.history = std::move(history);
    api::Effects fx;
    fx.acknowledge(std::move(a));
    return fx;
  };
  const std::string first = R"({"kind":"executionStarted","eventId":-1,"input":"[1,2]"})";
  const std::string tricky1 =
      R"({"kind":"taskCompleted","eventId":-1,"result":"{\"a\":\"x,y]}\\\\\",[{\"}"})";
  const std::string tricky2 = R"({"kind":"taskCompleted","eventId":-1,"result":"[],{}"})";
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    ASSERT_TRUE(sync.commit(start_of_x()).ok());
    ASSERT_TRUE(sync.commit(ack({first})).ok());
  }
  {
    // What an earlier version wrote for a two-event episode: a row per event.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((std::string(tmpl) + "/nimbus.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "INSERT INTO durable_history(instance,seq,event) VALUES"
                           "('x',1,'{\"kind\":\"old\",\"eventId\":1}'),"
                           "('x',2,'{\"kind\":\"old\",\"eventId\":2}');"
                           "UPDATE durable_instances SET history_events=3 WHERE id='x';",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    ASSERT_TRUE(sync.commit(ack({tricky1, tricky2})).ok());
    std::vector<std::string> expected{first, R"({"kind":"old","eventId":1})",
                                      R"({"kind":"old","eventId":2})", tricky1, tricky2};
    // An episode of 30 events of ~100 bytes: several rows (each kept under ~1,000 bytes).
    std::vector<std::string> many;
    for (int i = 0; i < 30; ++i)
      many.push_back(R"({"kind":"taskScheduled","eventId":)" + std::to_string(i) +
                     R"(,"input":")" + std::string(70, 'x') + R"("})");
    ASSERT_TRUE(sync.commit(ack(many)).ok());
    expected.insert(expected.end(), many.begin(), many.end());
    EXPECT_EQ(sync.history("x").value(), expected);
    EXPECT_EQ(sync.episode("x").value().history, expected);
    EXPECT_EQ(sync.get("x").value().history_events, 35);
  }
  std::filesystem::remove_all(tmpl);
}

// A history row cut short (a damaged file) never loses its last event silently: what follows the
// last whole event comes back as one more event, which is not JSON, so replaying it fails that
// instance by name instead of running it on a history with an event missing.
TEST(SqliteDurableStore, ATruncatedHistoryRowHandsOnItsDamagedTail) {
  char tmpl[] = "/tmp/nimbus-sqlite-durable-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  FakeClock clock;
  const std::string first = R"({"kind":"executionStarted","eventId":-1,"input":"1"})";
  const std::string second = R"({"kind":"taskScheduled","eventId":0,"name":"Square"})";
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    ASSERT_TRUE(sync.commit(start_of_x()).ok());
    api::EpisodeAck a;
    a.instance_id = "x";
    a.execution_id = "e1";
    a.status = api::RuntimeStatus::running;
    a.history = {first, second};
    api::Effects fx;
    fx.acknowledge(std::move(a));
    ASSERT_TRUE(sync.commit(std::move(fx)).ok());
    ASSERT_EQ(sync.history("x").value(), (std::vector<std::string>{first, second}));
  }
  {
    // Cut the row's last 12 bytes: the second event loses its end and the array its bracket.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((std::string(tmpl) + "/nimbus.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "UPDATE durable_history SET event=substr(event,1,length(event)-12) "
                           "WHERE instance='x' AND event LIKE '[%';",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  }
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    auto history = sync.history("x").value();
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0], first);
    EXPECT_EQ(history[1], second.substr(0, second.size() - 11));
    api::durable_events::HistoryEvent ev;
    std::string error;
    EXPECT_FALSE(api::durable_events::from_json(std::string_view(history[1]), ev, error));
    EXPECT_NE(error.find("not JSON"), std::string::npos) << error;
  }
  std::filesystem::remove_all(tmpl);
}

// Files made before 2026-11-30 number inbox events and work items with AUTOINCREMENT (their
// sqlite_sequence remembers numbers whose rows are gone) and have no durable_next_seq. Opened
// now, they keep working and never give out a number again, before or after a reopen.
TEST(SqliteDurableStore, AFileWithTheAutoincrementTablesOfEarlierVersionsNeverReusesNumbers) {
  char tmpl[] = "/tmp/nimbus-sqlite-durable-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  FakeClock clock;
  const std::string path = std::string(tmpl) + "/nimbus.db";
  auto exec = [&](const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  };
  auto count = [&](const char* sql) {
    sqlite3* db = nullptr;
    int64_t n = -1;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    if (st && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  };
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    ASSERT_TRUE(sync.commit(start_of_x()).ok());
  }
  // The tables as the earlier schema made them; numbers 1..7 given out, 6 and 7 consumed.
  exec(R"sql(
    DROP TABLE durable_inbox; DROP TABLE durable_tasks; DROP TABLE durable_next_seq;
    CREATE TABLE durable_inbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, instance TEXT NOT NULL,
                               visible INTEGER NOT NULL, event TEXT NOT NULL);
    CREATE INDEX durable_inbox_instance ON durable_inbox(instance, seq);
    CREATE TABLE durable_tasks(seq INTEGER PRIMARY KEY AUTOINCREMENT, instance TEXT NOT NULL,
                               execution_id TEXT NOT NULL, task_id INTEGER NOT NULL,
                               name TEXT NOT NULL, input TEXT NOT NULL);
    CREATE INDEX durable_tasks_instance ON durable_tasks(instance);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 7)
      INSERT INTO durable_inbox(seq,instance,visible,event) SELECT i,'x',0,'{}' FROM n;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 7)
      INSERT INTO durable_tasks(seq,instance,execution_id,task_id,name,input)
      SELECT i,'x','e1',i,'Square','1' FROM n;
    DELETE FROM durable_inbox WHERE seq >= 6; DELETE FROM durable_tasks WHERE seq >= 6;
  )sql");
  ASSERT_EQ(count("SELECT seq FROM sqlite_sequence WHERE name='durable_tasks'"), 7);
  auto task = [](int id) {
    api::Effects fx;
    fx.writes.emplace_back(api::ActivityTask{"x", "e1", id, "Square", "2"});
    return fx;
  };
  auto event = [] {
    api::Effects fx;
    fx.writes.emplace_back(api::OrchestrationEvent{"x", "{}", 0, true});
    return fx;
  };
  auto seq = [](const api::QueueResult<api::CommitReceipt>& r) {
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::get<api::DurableReceipt>(r.value().writes.at(0)).seq : 0;
  };
  int64_t t8 = 0, e8 = 0;
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    t8 = seq(sync.commit(task(8)));
    e8 = seq(sync.commit(event()));
    EXPECT_EQ(t8, 8);
    EXPECT_EQ(e8, 8);
    EXPECT_EQ(sync.recover().value().tasks.size(), 6u);  // 1..5 and 8
    EXPECT_EQ(sync.episode("x").value().inbox.size(), 6u);
    // The last ones consumed: the next numbers still go on.
    api::Effects done;
    done.acknowledge(api::ActivityAck{t8});
    ASSERT_TRUE(sync.commit(std::move(done)).ok());
    EXPECT_EQ(seq(sync.commit(task(9))), 9);
  }
  EXPECT_EQ(count("SELECT tasks FROM durable_next_seq"), 10);
  EXPECT_EQ(count("SELECT inbox FROM durable_next_seq"), 9);
  exec("DELETE FROM durable_tasks WHERE seq = 9");  // the highest row gone before a reopen
  {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    EXPECT_EQ(seq(sync.commit(task(10))), 10);
    EXPECT_EQ(seq(sync.commit(event())), 9);
  }
  std::filesystem::remove_all(tmpl);
}

// A new file has no AUTOINCREMENT (no sqlite_sequence row rewritten per INSERT); its numbers
// go on across a reopen from the saved counters, though every row is gone.
TEST(SqliteDurableStore, NewFilesNumberWithoutAutoincrementAndGoOnAfterAReopen) {
  char tmpl[] = "/tmp/nimbus-sqlite-durable-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  FakeClock clock;
  const std::string path = std::string(tmpl) + "/nimbus.db";
  int64_t last = 0;
  for (int round = 0; round < 2; ++round) {
    auto store = open_sqlite(tmpl, clock);
    ASSERT_NE(store, nullptr);
    SyncDurable sync(*store, store->engine());
    if (round == 0) ASSERT_TRUE(sync.commit(start_of_x()).ok());
    api::Effects fx;
    fx.writes.emplace_back(api::ActivityTask{"x", "e1", round, "Square", "2"});
    fx.writes.emplace_back(api::ActivityTask{"x", "e1", round + 10, "Square", "2"});
    auto r = sync.commit(std::move(fx));
    ASSERT_TRUE(r.ok()) << r.error().message;
    int64_t a = std::get<api::DurableReceipt>(r.value().writes.at(0)).seq;
    int64_t b = std::get<api::DurableReceipt>(r.value().writes.at(1)).seq;
    EXPECT_GT(a, last);
    EXPECT_EQ(b, a + 1);
    last = b;
    for (int64_t t : {a, b}) {
      api::Effects done;
      done.acknowledge(api::ActivityAck{t});
      ASSERT_TRUE(sync.commit(std::move(done)).ok());
    }
    EXPECT_TRUE(sync.recover().value().tasks.empty());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name='durable_tasks'", -1,
                               &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))).find("AUTOINCREMENT"),
            std::string::npos);
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace nimbus::conformance
