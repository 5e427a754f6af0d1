#pragma once
// api::QueueStore on one SQLite file (<data>/nimbus.db), durable by default, fast by group
// commit.
//
// Why this shape: one fsync costs about as much as thousands of row writes, so a dedicated
// store thread drains every pending operation into ONE transaction, commits once (one fsync
// under synchronous=FULL), and only then completes each caller. Acknowledged therefore means
// durable without paying an fsync per message. Messages sit in one table indexed on
// (queue, next_visible, seq, expires): Get and Peek walk the head of that index (O(log n) at
// any depth), and the approximate count is a covering-index count. A message id carries its
// row id plus a random salt, so Delete/Update find the row by primary key with no id index.
//
// Ownership and threads: the store owns its connection and its thread; every method only
// enqueues and returns. Completions and the message listener run on the store thread, after
// the commit that made their effect durable. Destruction finishes everything already
// submitted, then joins the thread; later submissions complete at once, on the submitting
// thread, with QueueErrc::unavailable. One process at a time may open a given file.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/queue_store.h"

namespace nimbus::storage {

class SqliteQueueStore final : public api::QueueStore {
 public:
  enum class Sync {
    off,     // no fsync: survives a process crash only while the OS stays up (benchmarks)
    normal,  // WAL without fsync at commit: survives kill -9, may lose the last commits on
             // power loss
    full,    // fsync at every group commit: survives power loss (default)
  };
  struct Options {
    std::string path;  // the database file, e.g. <data>/nimbus.db
    Sync sync = Sync::full;
    size_t max_batch = 4096;  // operations per transaction at most
    // Expired messages are invisible at once; their rows are deleted this often.
    std::chrono::milliseconds sweep_interval{30000};
    // Wall clock in Unix ms; tests inject a fake one to step through visibility and expiry.
    std::function<api::UnixMillis()> clock;
  };

  // Opens (creating the file and schema when missing) and starts the store thread. Returns
  // nullptr with `error` naming the file and the fix when the database cannot be used.
  static std::unique_ptr<SqliteQueueStore> open(Options options, std::string& error);
  ~SqliteQueueStore() override;
  SqliteQueueStore(const SqliteQueueStore&) = delete;
  SqliteQueueStore& operator=(const SqliteQueueStore&) = delete;

  static bool parse_sync(std::string_view text, Sync& out);  // "off" | "normal" | "full"

  void create_queue(api::QueueRef queue, api::QueueMetadata metadata,
                    api::QueueCallback<api::CreateQueueOutcome> done) override;
  void delete_queue(api::QueueRef queue, api::QueueCallback<void> done) override;
  void list_queues(std::string account, api::ListQueuesOptions options,
                   api::QueueCallback<api::QueueListing> done) override;
  void get_queue_properties(api::QueueRef queue,
                            api::QueueCallback<api::QueueProperties> done) override;
  void set_queue_metadata(api::QueueRef queue, api::QueueMetadata metadata,
                          api::QueueCallback<void> done) override;
  void get_queue_acl(api::QueueRef queue,
                     api::QueueCallback<std::vector<api::SignedIdentifier>> done) override;
  void set_queue_acl(api::QueueRef queue, std::vector<api::SignedIdentifier> acl,
                     api::QueueCallback<void> done) override;
  void get_service_properties(std::string account,
                              api::QueueCallback<std::string> done) override;
  void set_service_properties(std::string account, std::string document,
                              api::QueueCallback<void> done) override;
  void put_message(api::NewMessage message, api::QueueCallback<api::MessageReceipt> done) override;
  void get_messages(api::QueueRef queue, int count, int64_t visibility_timeout_seconds,
                    api::QueueCallback<std::vector<api::QueueMessage>> done) override;
  void peek_messages(api::QueueRef queue, int count,
                     api::QueueCallback<std::vector<api::QueueMessage>> done) override;
  void delete_message(api::QueueRef queue, std::string id, std::string pop_receipt,
                      api::QueueCallback<void> done) override;
  void update_message(api::QueueRef queue, std::string id, std::string pop_receipt,
                      std::optional<std::string> text, int64_t visibility_timeout_seconds,
                      api::QueueCallback<api::UpdateReceipt> done) override;
  void clear_messages(api::QueueRef queue, api::QueueCallback<void> done) override;
  void complete_message(api::QueueRef queue, std::string id, std::string pop_receipt,
                        std::vector<api::NewMessage> outputs,
                        api::QueueCallback<std::vector<api::MessageReceipt>> done) override;
  void put_messages(std::vector<api::NewMessage> messages,
                    api::QueueCallback<std::vector<api::MessageReceipt>> done) override;
  void move_to_poison(api::QueueRef queue, std::string id, std::string pop_receipt,
                      api::QueueCallback<api::MessageReceipt> done) override;
  void set_message_listener(api::MessageListener listener) override;

  // Transactions committed so far (a benchmark and test aid: ops / commits = batch size).
  uint64_t commit_count() const;

  struct Db;  // the connection and its prepared statements (sqlite_queue_store.cc)
  struct Op;  // one submitted operation

 private:
  explicit SqliteQueueStore(Options options);
  void submit(std::unique_ptr<Op> op);
  void run();
  void run_batch(std::deque<std::unique_ptr<Op>>& batch);
  void sweep_expired();
  void notify(Db& db);

  Options options_;
  std::unique_ptr<Db> db_;  // used only by the store thread after open()
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Op>> pending_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  api::MessageListener listener_;            // guarded by mu_ (copied per batch)
  std::atomic<uint64_t> commits_{0};
  std::thread thread_;
};

}  // namespace nimbus::storage
