#pragma once
// api::QueueStore as the queue table set (queue_tables.h) on the storage engine
// (sqlite_engine.h): what the queue REST service, the CLI and the conformance suite use.
//
// Every operation is one engine operation (one row set change inside the engine's group-commit
// transaction); complete_message, put_messages and move_to_poison are api::Effects commits,
// the same path the triggers and output bindings use through api::EffectsStore.
//
// Ownership: either borrows an engine shared with other table sets (the host: one database,
// one writer) or owns one opened for it alone (open(): the standalone queue service, tests).
// Thread-safety: every method only enqueues on the engine; call from any thread. Completions
// run on the engine's writer thread (see api/queue_store.h).
#include <memory>
#include <string>

#include "api/queue_store.h"
#include "storage/sqlite/sqlite_engine.h"

namespace nimbus::storage {

class SqliteQueueStore final : public api::QueueStore {
 public:
  using Sync = SqliteEngine::Sync;
  using Options = SqliteEngine::Options;

  // Whose operations this store submits (SqliteEngine::Callers); complete_message,
  // put_messages and move_to_poison are Effects commits, never patient.
  using Callers = SqliteEngine::Callers;

  // On an engine the caller owns and keeps alive longer than this store.
  explicit SqliteQueueStore(SqliteEngine& engine, Callers callers = Callers::host);
  // Opens an engine of its own on options.path. nullptr with `error` (file and fix) on failure.
  static std::unique_ptr<SqliteQueueStore> open(Options options, std::string& error,
                                                Callers callers = Callers::host);
  static bool parse_sync(std::string_view text, Sync& out) {
    return SqliteEngine::parse_sync(text, out);
  }
  SqliteQueueStore(const SqliteQueueStore&) = delete;
  SqliteQueueStore& operator=(const SqliteQueueStore&) = delete;

  SqliteEngine& engine() { return client_.engine(); }
  uint64_t commit_count() const { return client_.engine().commit_count(); }

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
  // Callers::api_clients only: the engine's patient windows wait for this many (Op::patient).
  void note_active_clients(size_t clients) override;

 private:
  SqliteQueueStore(std::unique_ptr<SqliteEngine> owned, Callers callers);
  void submit(std::unique_ptr<SqliteEngine::Op> op) { client_.submit(std::move(op)); }
  EngineClient client_;
};

}  // namespace nimbus::storage
