#pragma once
// api::DurableStore as the durable table set (durable_tables.h) on the storage engine: the
// reads of the orchestration engine and the management API, and purges. Writes go through
// api::Effects commits on the same engine.
// Ownership: borrows the engine. Thread-safety: every method only enqueues; completions run on
// the engine's writer thread.
#include "api/durable_store.h"
#include "storage/sqlite/sqlite_engine.h"

namespace nimbus::storage {

class SqliteDurableStore final : public api::DurableStore {
 public:
  explicit SqliteDurableStore(SqliteEngine& engine) : engine_(engine) {}

  void get_instance(std::string id, api::QueueCallback<api::InstanceState> done) override;
  void load_episode(std::string id, bool with_history, int max_inbox,
                    api::QueueCallback<api::Episode> done) override;
  void get_history(std::string id, api::QueueCallback<std::vector<std::string>> done) override;
  void list_instances(api::InstanceQuery query, api::QueueCallback<api::InstancePage> done) override;
  void purge(std::vector<std::string> ids, api::QueueCallback<int64_t> done) override;
  void purge_matching(api::InstanceQuery query, api::QueueCallback<int64_t> done) override;
  void recover(api::QueueCallback<api::DurableRecovery> done) override;

 private:
  SqliteEngine& engine_;
};

}  // namespace nimbus::storage
