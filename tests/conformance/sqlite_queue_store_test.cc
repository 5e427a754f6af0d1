// Runs the queue store conformance suite on the SQLite backend, plus what only SQLite has:
// group commit and the on-disk file.
#include <filesystem>
#include <thread>

#include "queue_store_conformance.h"
#include "storage/sqlite/sqlite_queue_store.h"

namespace nimbus::conformance {
namespace {

std::unique_ptr<storage::SqliteQueueStore> open_sqlite(const std::string& dir, FakeClock& clock,
                                                       storage::SqliteQueueStore::Sync sync =
                                                           storage::SqliteQueueStore::Sync::full) {
  storage::SqliteQueueStore::Options o;
  o.path = dir + "/nimbus.db";
  o.sync = sync;
  o.clock = [&clock] { return clock.now.load(); };
  std::string error;
  auto s = storage::SqliteQueueStore::open(o, error);
  EXPECT_NE(s, nullptr) << error;
  return s;
}

const QueueStoreBackend kSqlite{
    "Sqlite", [](const std::string& dir, FakeClock& clock) -> std::unique_ptr<api::QueueStore> {
      return open_sqlite(dir, clock);
    }};

INSTANTIATE_TEST_SUITE_P(Backends, QueueStoreConformance, ::testing::Values(&kSqlite),
                         [](const auto& info) { return std::string(info.param->name); });

TEST(SqliteQueueStore, GroupCommitBatchesConcurrentPutsIntoFewTransactions) {
  char tmpl[] = "/tmp/nimbus-sqlite-queue-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  FakeClock clock;
  {
    auto store = open_sqlite(tmpl, clock);
    SyncQueueStore sync(*store);
    api::QueueRef q{"devstoreaccount1", "bulk"};
    ASSERT_TRUE(sync.create(q).ok());
    uint64_t before = store->commit_count();
    constexpr int kPuts = 2000;
    std::atomic<int> done{0};
    std::promise<void> all;
    for (int i = 0; i < kPuts; ++i)
      store->put_message({q, "m"}, [&](api::QueueResult<api::MessageReceipt> r) {
        EXPECT_TRUE(r.ok());
        if (++done == kPuts) all.set_value();
      });
    all.get_future().get();
    uint64_t commits = store->commit_count() - before;
    // 2000 puts submitted at once must not cost 2000 fsyncs.
    EXPECT_LT(commits, kPuts / 10u) << commits << " commits";
    EXPECT_EQ(sync.props(q).value().approximate_message_count, kPuts);
  }
  std::filesystem::remove_all(tmpl);
}

TEST(SqliteQueueStore, OpenFailsWithAClearErrorForAnUnusablePath) {
  storage::SqliteQueueStore::Options o;
  o.path = "/nonexistent-dir-for-nimbus/nimbus.db";
  std::string error;
  EXPECT_EQ(storage::SqliteQueueStore::open(o, error), nullptr);
  EXPECT_NE(error.find("/nonexistent-dir-for-nimbus/nimbus.db"), std::string::npos) << error;
}

TEST(SqliteQueueStore, SubmissionsAfterShutdownFailAsUnavailable) {
  // Covered through the destructor: everything already submitted completes, none is dropped.
  char tmpl[] = "/tmp/nimbus-sqlite-queue-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  FakeClock clock;
  std::atomic<int> completed{0};
  {
    auto store = open_sqlite(tmpl, clock);
    api::QueueRef q{"devstoreaccount1", "bye"};
    store->create_queue(q, {}, [&](auto) { completed++; });
    for (int i = 0; i < 100; ++i) store->put_message({q, "x"}, [&](auto) { completed++; });
  }
  EXPECT_EQ(completed.load(), 101);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace nimbus::conformance
