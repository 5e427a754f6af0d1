#include "storage/sqlite/sqlite_document_store.h"

#include "storage/sqlite/access_tables.h"
#include "storage/sqlite/document_tables.h"
#include "storage/sqlite/sqlite_db.h"

namespace nimbus::storage {

namespace json = boost::json;
namespace dt = document_tables;
namespace at = access_tables;

namespace {

// An engine operation whose body returns a DocResult<T>: the engine's batch failures
// (shutting down, a failed transaction) become the document store's own codes.
template <class T>
struct DocOp final : SqliteEngine::Op {
  std::function<api::DocResult<T>(SqliteDb&)> body;
  api::DocCallback<T> done;
  std::optional<api::DocResult<T>> result;

  DocOp(std::function<api::DocResult<T>(SqliteDb&)> b, api::DocCallback<T> d)
      : body(std::move(b)), done(std::move(d)) {}
  void execute(SqliteDb& db) override { result.emplace(body(db)); }
  void complete(const api::QueueError* failure) override {
    if (!done) return;
    if (failure) {
      done(api::DocError{failure->code == api::QueueErrc::unavailable ? api::DocErrc::unavailable
                                                                       : api::DocErrc::storage_failure,
                         "document store: " + failure->message});
    } else if (!result) {
      done(api::DocError{api::DocErrc::storage_failure, "document store: the operation did not run; retry"});
    } else {
      done(std::move(*result));
    }
  }
};

template <class T, class F>
std::unique_ptr<SqliteEngine::Op> op(F&& body, api::DocCallback<T> done) {
  return std::make_unique<DocOp<T>>(std::forward<F>(body), std::move(done));
}

}  // namespace

SqliteDocumentStore::SqliteDocumentStore(SqliteEngine& engine, Callers callers)
    : client_(engine, callers) {}
SqliteDocumentStore::SqliteDocumentStore(std::unique_ptr<SqliteEngine> owned, Callers callers)
    : client_(std::move(owned), callers) {}

std::unique_ptr<SqliteDocumentStore> SqliteDocumentStore::open(Options options, std::string& error,
                                                               Callers callers) {
  auto engine = SqliteEngine::open(std::move(options), error);
  if (!engine) return nullptr;
  return std::unique_ptr<SqliteDocumentStore>(new SqliteDocumentStore(std::move(engine), callers));
}

void SqliteDocumentStore::note_active_clients(size_t clients) { client_.note_active_clients(clients); }

void SqliteDocumentStore::create_database(std::string id, std::optional<api::Throughput> throughput,
                                          api::DocCallback<api::DatabaseInfo> done) {
  submit(op<api::DatabaseInfo>([id = std::move(id), throughput](SqliteDb& db) { return dt::create_database(db, id, throughput); },
                               std::move(done)));
}
void SqliteDocumentStore::read_database(std::string id, api::DocCallback<api::DatabaseInfo> done) {
  submit(op<api::DatabaseInfo>([id = std::move(id)](SqliteDb& db) { return dt::read_database(db, id); }, std::move(done)));
}
void SqliteDocumentStore::list_databases(api::DocCallback<std::vector<api::DatabaseInfo>> done) {
  submit(op<std::vector<api::DatabaseInfo>>([](SqliteDb& db) { return dt::list_databases(db); }, std::move(done)));
}
void SqliteDocumentStore::delete_database(std::string id, api::DocCallback<void> done) {
  submit(op<void>([id = std::move(id)](SqliteDb& db) { return dt::delete_database(db, id); }, std::move(done)));
}
void SqliteDocumentStore::create_container(std::string database, api::ContainerSpec spec, api::DocCallback<api::ContainerInfo> done) {
  submit(op<api::ContainerInfo>(
      [database = std::move(database), spec = std::move(spec)](SqliteDb& db) { return dt::create_container(db, database, spec); }, std::move(done)));
}
void SqliteDocumentStore::read_container(api::ContainerRef ref, api::DocCallback<api::ContainerInfo> done) {
  submit(op<api::ContainerInfo>([ref = std::move(ref)](SqliteDb& db) { return dt::read_container(db, ref); }, std::move(done)));
}
void SqliteDocumentStore::replace_container(api::ContainerRef ref, api::ContainerSpec spec, bool has_partition_key,
                                            bool has_unique_key_policy, std::optional<std::string> if_match,
                                            api::DocCallback<api::ContainerInfo> done) {
  submit(op<api::ContainerInfo>(
      [ref = std::move(ref), spec = std::move(spec), has_partition_key, has_unique_key_policy,
       if_match = std::move(if_match)](SqliteDb& db) {
        return dt::replace_container(db, ref, spec, has_partition_key, has_unique_key_policy, if_match);
      },
      std::move(done)));
}
void SqliteDocumentStore::list_containers(std::string database, api::DocCallback<std::vector<api::ContainerInfo>> done) {
  submit(op<std::vector<api::ContainerInfo>>([database = std::move(database)](SqliteDb& db) { return dt::list_containers(db, database); },
                                                     std::move(done)));
}
void SqliteDocumentStore::delete_container(api::ContainerRef ref, api::DocCallback<void> done) {
  submit(op<void>([ref = std::move(ref)](SqliteDb& db) { return dt::delete_container(db, ref); }, std::move(done)));
}
void SqliteDocumentStore::list_offers(api::DocCallback<std::vector<api::OfferInfo>> done) {
  submit(op<std::vector<api::OfferInfo>>([](SqliteDb& db) { return dt::list_offers(db); }, std::move(done)));
}
void SqliteDocumentStore::read_offer(std::string id, api::DocCallback<api::OfferInfo> done) {
  submit(op<api::OfferInfo>([id = std::move(id)](SqliteDb& db) { return dt::read_offer(db, id); }, std::move(done)));
}
void SqliteDocumentStore::replace_offer(std::string id, api::Throughput throughput, std::optional<std::string> if_match,
                                        api::DocCallback<api::OfferInfo> done) {
  submit(op<api::OfferInfo>([id = std::move(id), throughput, if_match = std::move(if_match)](SqliteDb& db) {
    return dt::replace_offer(db, id, throughput, if_match);
  }, std::move(done)));
}
void SqliteDocumentStore::write_user(std::string database, api::AccessWrite how, std::string id, json::object body,
                                     std::optional<std::string> if_match, api::DocCallback<api::AccessInfo> done) {
  submit(op<api::AccessInfo>([=, database = std::move(database), id = std::move(id), body = std::move(body)](SqliteDb& db) {
    return at::write_user(db, database, how, id, body, if_match);
  }, std::move(done)));
}
void SqliteDocumentStore::read_user(std::string database, std::string id, api::DocCallback<api::AccessInfo> done) {
  client_.engine().submit_read(op<api::AccessInfo>([database = std::move(database), id = std::move(id)](SqliteDb& db) {
    return at::read_user(db, database, id);
  }, std::move(done)));
}
void SqliteDocumentStore::list_users(std::string database, api::DocCallback<std::vector<api::AccessInfo>> done) {
  client_.engine().submit_read(op<std::vector<api::AccessInfo>>([database = std::move(database)](SqliteDb& db) {
    return at::list_users(db, database);
  }, std::move(done)));
}
void SqliteDocumentStore::delete_user(std::string database, std::string id, api::DocCallback<void> done) {
  submit(op<void>([database = std::move(database), id = std::move(id)](SqliteDb& db) {
    return at::delete_user(db, database, id);
  }, std::move(done)));
}
void SqliteDocumentStore::write_permission(std::string database, std::string user, api::AccessWrite how, std::string id,
                                           json::object body, std::optional<std::string> if_match,
                                           api::DocCallback<api::AccessInfo> done) {
  submit(op<api::AccessInfo>([=, database = std::move(database), user = std::move(user), id = std::move(id),
                              body = std::move(body)](SqliteDb& db) {
    return at::write_permission(db, database, user, how, id, body, if_match);
  }, std::move(done)));
}
void SqliteDocumentStore::read_permission(std::string database, std::string user, std::string id,
                                          api::DocCallback<api::AccessInfo> done) {
  client_.engine().submit_read(op<api::AccessInfo>([database = std::move(database), user = std::move(user), id = std::move(id)](SqliteDb& db) {
    return at::read_permission(db, database, user, id);
  }, std::move(done)));
}
void SqliteDocumentStore::list_permissions(std::string database, std::string user,
                                           api::DocCallback<std::vector<api::AccessInfo>> done) {
  client_.engine().submit_read(op<std::vector<api::AccessInfo>>([database = std::move(database), user = std::move(user)](SqliteDb& db) {
    return at::list_permissions(db, database, user);
  }, std::move(done)));
}
void SqliteDocumentStore::delete_permission(std::string database, std::string user, std::string id,
                                            api::DocCallback<void> done) {
  submit(op<void>([database = std::move(database), user = std::move(user), id = std::move(id)](SqliteDb& db) {
    return at::delete_permission(db, database, user, id);
  }, std::move(done)));
}
void SqliteDocumentStore::read_grant(int64_t permission, api::DocCallback<api::PermissionGrant> done) {
  client_.engine().submit_read(op<api::PermissionGrant>([permission](SqliteDb& db) { return at::read_grant(db, permission); }, std::move(done)));
}
void SqliteDocumentStore::create_item(api::ContainerRef ref, std::optional<api::PartitionKey> pk, json::object body, api::DocCallback<api::Item> done) {
  submit(op<api::Item>(
      [ref = std::move(ref), pk = std::move(pk), body = std::move(body)](SqliteDb& db) {
        return dt::write_item(db, dt::WriteMode::create, ref, pk, body, nullptr, std::nullopt);
      },
      std::move(done)));
}
void SqliteDocumentStore::upsert_item(api::ContainerRef ref, std::optional<api::PartitionKey> pk, json::object body, api::DocCallback<api::Item> done) {
  submit(op<api::Item>(
      [ref = std::move(ref), pk = std::move(pk), body = std::move(body)](SqliteDb& db) {
        return dt::write_item(db, dt::WriteMode::upsert, ref, pk, body, nullptr, std::nullopt);
      },
      std::move(done)));
}
void SqliteDocumentStore::replace_item(api::ContainerRef ref, std::string id, std::optional<api::PartitionKey> pk, json::object body,
                                       std::optional<std::string> if_match, api::DocCallback<api::Item> done) {
  submit(op<api::Item>(
      [ref = std::move(ref), id = std::move(id), pk = std::move(pk), body = std::move(body), if_match = std::move(if_match)](SqliteDb& db) {
        return dt::write_item(db, dt::WriteMode::replace, ref, pk, body, &id, if_match);
      },
      std::move(done)));
}
void SqliteDocumentStore::read_item(api::ContainerRef ref, std::string id, api::PartitionKey pk, api::ItemForm form, api::DocCallback<api::Item> done) {
  client_.engine().submit_read(op<api::Item>(
      [ref = std::move(ref), id = std::move(id), pk = std::move(pk), form](SqliteDb& db) { return dt::read_item(db, ref, id, pk, form); }, std::move(done)));
}
void SqliteDocumentStore::delete_partition(api::ContainerRef ref, api::PartitionKey pk, api::DocCallback<int64_t> done) {
  submit(op<int64_t>([ref = std::move(ref), pk = std::move(pk)](SqliteDb& db) { return dt::delete_partition(db, ref, pk); }, std::move(done)));
}
void SqliteDocumentStore::delete_item(api::ContainerRef ref, std::string id, api::PartitionKey pk, std::optional<std::string> if_match,
                                      api::DocCallback<void> done) {
  submit(op<void>(
      [ref = std::move(ref), id = std::move(id), pk = std::move(pk), if_match = std::move(if_match)](SqliteDb& db) -> api::DocResult<void> {
        auto r = dt::delete_item(db, ref, id, pk, if_match);
        if (!r) return r.error();
        return {};
      },
      std::move(done)));
}
void SqliteDocumentStore::read_feed(api::ContainerRef ref, api::FeedOptions options, api::DocCallback<api::Page> done) {
  submit(op<api::Page>(
      [ref = std::move(ref), options = std::move(options)](SqliteDb& db) { return dt::read_feed(db, ref, options); }, std::move(done)));
}
void SqliteDocumentStore::query(api::ContainerRef ref, std::shared_ptr<const api::DocumentQuery> query, api::FeedOptions options,
                                api::DocCallback<api::Page> done) {
  if (!query) {
    if (done) done(api::DocError{api::DocErrc::bad_request, "no query given; parse the query text first"});
    return;
  }
  submit(op<api::Page>(
      [ref = std::move(ref), query = std::move(query), options = std::move(options)](SqliteDb& db) {
        return dt::query(db, ref, *query, options);
      },
      std::move(done)));
}
void SqliteDocumentStore::read_change_feed(api::ContainerRef ref, api::ChangeFeedOptions options, api::DocCallback<api::ChangeFeedPage> done) {
  submit(op<api::ChangeFeedPage>(
      [ref = std::move(ref), options = std::move(options)](SqliteDb& db) { return dt::read_change_feed(db, ref, options); }, std::move(done)));
}
void SqliteDocumentStore::patch_item(api::ContainerRef ref, std::string id, api::PartitionKey pk, api::PatchSpec patch,
                                     std::optional<std::string> if_match, api::DocCallback<api::Item> done) {
  submit(op<api::Item>(
      [ref = std::move(ref), id = std::move(id), pk = std::move(pk), patch = std::move(patch), if_match = std::move(if_match)](SqliteDb& db) {
        return dt::patch_item(db, ref, id, pk, patch, if_match);
      },
      std::move(done)));
}
void SqliteDocumentStore::execute_batch(api::ContainerRef ref, std::optional<api::PartitionKey> pk, std::vector<api::BatchOperation> operations,
                                        api::BatchOptions options, api::DocCallback<std::vector<api::BatchOperationResult>> done) {
  // One engine operation: a transactional batch is one unit inside the group-commit
  // transaction, so it commits (or not) with one fsync like any single write.
  submit(op<std::vector<api::BatchOperationResult>>(
      [ref = std::move(ref), pk = std::move(pk), operations = std::move(operations), options](SqliteDb& db) {
        return dt::execute_batch(db, ref, pk, operations, options);
      },
      std::move(done)));
}
void SqliteDocumentStore::row_counts(api::ContainerRef ref, api::DocCallback<RowCounts> done) {
  submit(op<RowCounts>(
      [ref = std::move(ref)](SqliteDb& db) -> api::DocResult<RowCounts> {
        auto r = dt::row_counts(db, ref);
        if (!r) return r.error();
        return RowCounts{r.value().items, r.value().index_entries, r.value().unique_entries,
                         r.value().counted_items};
      },
      std::move(done)));
}
void SqliteDocumentStore::item_counts(api::DocCallback<std::vector<api::ContainerItems>> done) {
  submit(op<std::vector<api::ContainerItems>>(
      [](SqliteDb& db) -> api::DocResult<std::vector<api::ContainerItems>> { return dt::item_counts(db); },
      std::move(done)));
}

}  // namespace nimbus::storage
