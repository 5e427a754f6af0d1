#pragma once
// api::DocumentStore as the document table set (document_tables.h) on the storage engine
// (sqlite_engine.h): what the Cosmos REST service, the cosmosDB bindings and the conformance
// suite use. Document writes made through api::Effects (DocumentUpsert / DocumentDelete) go
// through the same table code, in the engine's commit.
//
// Every operation is one engine operation (inside the engine's group-commit transaction), so a
// write is durable when its completion runs and reads see every acknowledged write.
// Ownership: borrows an engine shared with the other table sets (the host: one database file,
// one writer) or owns one opened for it alone (open(): tests, benchmarks, a standalone
// service). Thread-safety: every method only enqueues, and completions run on the writer (or
// sync) thread, except read_item, which reads at once on the calling thread and completes there
// when the engine can (SqliteEngine::submit_read).
#include <memory>
#include <string>

#include "api/document_store.h"
#include "storage/sqlite/sqlite_engine.h"

namespace nimbus::storage {

class SqliteDocumentStore final : public api::DocumentStore {
 public:
  using Options = SqliteEngine::Options;

  using Callers = SqliteEngine::Callers;  // whose operations this store submits

  explicit SqliteDocumentStore(SqliteEngine& engine, Callers callers = Callers::host);
  static std::unique_ptr<SqliteDocumentStore> open(Options options, std::string& error,
                                                   Callers callers = Callers::host);
  SqliteDocumentStore(const SqliteDocumentStore&) = delete;
  SqliteDocumentStore& operator=(const SqliteDocumentStore&) = delete;

  SqliteEngine& engine() { return client_.engine(); }

  void create_database(std::string id, std::optional<api::Throughput> throughput,
                       api::DocCallback<api::DatabaseInfo> done) override;
  void read_database(std::string id, api::DocCallback<api::DatabaseInfo> done) override;
  void list_databases(api::DocCallback<std::vector<api::DatabaseInfo>> done) override;
  void delete_database(std::string id, api::DocCallback<void> done) override;
  void create_container(std::string database, api::ContainerSpec spec,
                        api::DocCallback<api::ContainerInfo> done) override;
  void read_container(api::ContainerRef ref, api::DocCallback<api::ContainerInfo> done) override;
  void replace_container(api::ContainerRef ref, api::ContainerSpec spec, bool has_partition_key,
                         bool has_unique_key_policy, std::optional<std::string> if_match,
                         api::DocCallback<api::ContainerInfo> done) override;
  void list_containers(std::string database,
                       api::DocCallback<std::vector<api::ContainerInfo>> done) override;
  void delete_container(api::ContainerRef ref, api::DocCallback<void> done) override;
  void list_offers(api::DocCallback<std::vector<api::OfferInfo>> done) override;
  void read_offer(std::string id, api::DocCallback<api::OfferInfo> done) override;
  void replace_offer(std::string id, api::Throughput throughput, std::optional<std::string> if_match,
                     api::DocCallback<api::OfferInfo> done) override;
  void create_item(api::ContainerRef ref, std::optional<api::PartitionKey> partition_key,
                   boost::json::object body, api::DocCallback<api::Item> done) override;
  void upsert_item(api::ContainerRef ref, std::optional<api::PartitionKey> partition_key,
                   boost::json::object body, api::DocCallback<api::Item> done) override;
  void replace_item(api::ContainerRef ref, std::string id,
                    std::optional<api::PartitionKey> partition_key, boost::json::object body,
                    std::optional<std::string> if_match, api::DocCallback<api::Item> done) override;
  void read_item(api::ContainerRef ref, std::string id, api::PartitionKey partition_key, api::ItemForm form,
                 api::DocCallback<api::Item> done) override;
  void delete_partition(api::ContainerRef ref, api::PartitionKey partition_key, api::DocCallback<int64_t> done) override;
  void delete_item(api::ContainerRef ref, std::string id, api::PartitionKey partition_key,
                   std::optional<std::string> if_match, api::DocCallback<void> done) override;
  void read_feed(api::ContainerRef ref, api::FeedOptions options,
                 api::DocCallback<api::Page> done) override;
  void query(api::ContainerRef ref, std::shared_ptr<const api::DocumentQuery> query,
             api::FeedOptions options, api::DocCallback<api::Page> done) override;
  void read_change_feed(api::ContainerRef ref, api::ChangeFeedOptions options,
                        api::DocCallback<api::ChangeFeedPage> done) override;
  void patch_item(api::ContainerRef ref, std::string id, api::PartitionKey partition_key,
                  api::PatchSpec patch, std::optional<std::string> if_match,
                  api::DocCallback<api::Item> done) override;
  void execute_batch(api::ContainerRef ref, std::optional<api::PartitionKey> partition_key,
                     std::vector<api::BatchOperation> operations, api::BatchOptions options,
                     api::DocCallback<std::vector<api::BatchOperationResult>> done) override;

  void item_counts(api::DocCallback<std::vector<api::ContainerItems>> done) override;
  void write_user(std::string database, api::AccessWrite how, std::string id, boost::json::object body,
                  std::optional<std::string> if_match, api::DocCallback<api::AccessInfo> done) override;
  void read_user(std::string database, std::string id, api::DocCallback<api::AccessInfo> done) override;
  void list_users(std::string database, api::DocCallback<std::vector<api::AccessInfo>> done) override;
  void delete_user(std::string database, std::string id, api::DocCallback<void> done) override;
  void write_permission(std::string database, std::string user, api::AccessWrite how, std::string id,
                        boost::json::object body, std::optional<std::string> if_match,
                        api::DocCallback<api::AccessInfo> done) override;
  void read_permission(std::string database, std::string user, std::string id,
                       api::DocCallback<api::AccessInfo> done) override;
  void list_permissions(std::string database, std::string user,
                        api::DocCallback<std::vector<api::AccessInfo>> done) override;
  void delete_permission(std::string database, std::string user, std::string id,
                         api::DocCallback<void> done) override;
  void read_grant(int64_t permission, api::DocCallback<api::PermissionGrant> done) override;

  // Test aid: stored item rows (live and expired), index and unique-key entries of a container,
  // and the item count its writes keep (which must equal `items`).
  struct RowCounts {
    int64_t items = 0;
    int64_t index_entries = 0;
    int64_t unique_entries = 0;
    int64_t counted_items = 0;
  };
  void row_counts(api::ContainerRef ref, api::DocCallback<RowCounts> done);

  // Callers::api_clients only: the engine's patient windows wait for this many (Op::patient).
  void note_active_clients(size_t clients) override;

 private:
  SqliteDocumentStore(std::unique_ptr<SqliteEngine> owned, Callers callers);
  void submit(std::unique_ptr<SqliteEngine::Op> op) { client_.submit(std::move(op)); }
  EngineClient client_;
};

}  // namespace nimbus::storage
