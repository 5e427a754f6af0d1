#pragma once
// The conformance suite every api::DocumentStore backend must pass, with the api::EffectsStore
// of the same backend (document writes commit atomically with queue writes). A backend test
// file provides a DocumentStoreBackend and instantiates the suite:
//   INSTANTIATE_TEST_SUITE_P(Backends, DocumentStoreConformance, ::testing::Values(&kSqlite),
//                            [](const auto& i) { return std::string(i.param->name); });
// Queries are prepared with the SQL engine's adapter (documents::DocsqlQuery), the same object
// the REST service hands a store. The suite drives the store synchronously through SyncDocs.
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <memory>
#include <string>

#include "api/document_store.h"
#include "api/effects.h"
#include "api/queue_store.h"
#include "queue_store_conformance.h"  // FakeClock

namespace nimbus::conformance {

struct DocumentStoreBackend {
  const char* name;
  // Opens the store kept in `dir` (fresh, or the same dir again to check durability).
  std::function<std::unique_ptr<api::DocumentStore>(const std::string& dir, FakeClock& clock)> open;
  // The EffectsStore that commits for `store`, and a queue store on the same engine.
  std::function<api::EffectsStore&(api::DocumentStore& store)> effects;
  std::function<std::unique_ptr<api::QueueStore>(api::DocumentStore& store)> queues;
};

class SyncDocs {
 public:
  explicit SyncDocs(api::DocumentStore& s) : s_(s) {}

  template <class T, class Submit>
  static api::DocResult<T> wait(Submit&& submit) {
    std::promise<api::DocResult<T>> p;
    auto f = p.get_future();
    submit([&p](api::DocResult<T> r) { p.set_value(std::move(r)); });
    return f.get();
  }

  api::DocResult<api::DatabaseInfo> create_db(std::string id, std::optional<api::Throughput> t = std::nullopt) {
    return wait<api::DatabaseInfo>([&](auto cb) { s_.create_database(id, t, cb); });
  }
  api::DocResult<std::vector<api::OfferInfo>> offers() {
    return wait<std::vector<api::OfferInfo>>([&](auto cb) { s_.list_offers(cb); });
  }
  api::DocResult<api::OfferInfo> offer(std::string id) {
    return wait<api::OfferInfo>([&](auto cb) { s_.read_offer(id, cb); });
  }
  api::DocResult<api::OfferInfo> replace_offer(std::string id, api::Throughput t, std::optional<std::string> if_match = std::nullopt) {
    return wait<api::OfferInfo>([&](auto cb) { s_.replace_offer(id, t, if_match, cb); });
  }
  api::DocResult<api::AccessInfo> user(std::string db, api::AccessWrite how, std::string id, boost::json::object body) {
    return wait<api::AccessInfo>([&](auto cb) { s_.write_user(db, how, id, body, std::nullopt, cb); });
  }
  api::DocResult<api::AccessInfo> permission(std::string db, std::string user, api::AccessWrite how, std::string id,
                                             boost::json::object body, std::optional<std::string> if_match = std::nullopt) {
    return wait<api::AccessInfo>([&](auto cb) { s_.write_permission(db, user, how, id, body, if_match, cb); });
  }
  api::DocResult<api::PermissionGrant> grant(int64_t permission) {
    return wait<api::PermissionGrant>([&](auto cb) { s_.read_grant(permission, cb); });
  }
  api::DocResult<api::DatabaseInfo> read_db(std::string id) {
    return wait<api::DatabaseInfo>([&](auto cb) { s_.read_database(id, cb); });
  }
  api::DocResult<std::vector<api::DatabaseInfo>> list_dbs() {
    return wait<std::vector<api::DatabaseInfo>>([&](auto cb) { s_.list_databases(cb); });
  }
  api::DocResult<void> delete_db(std::string id) {
    return wait<void>([&](auto cb) { s_.delete_database(id, cb); });
  }
  api::DocResult<api::ContainerInfo> create_container(std::string db, api::ContainerSpec spec) {
    return wait<api::ContainerInfo>([&](auto cb) { s_.create_container(db, spec, cb); });
  }
  api::DocResult<api::ContainerInfo> read_container(api::ContainerRef r) {
    return wait<api::ContainerInfo>([&](auto cb) { s_.read_container(r, cb); });
  }
  api::DocResult<std::vector<api::ContainerInfo>> list_containers(std::string db) {
    return wait<std::vector<api::ContainerInfo>>([&](auto cb) { s_.list_containers(db, cb); });
  }
  // `body` as a REST replace sends it; a field it lacks (partitionKey, uniqueKeyPolicy) keeps the container's.
  api::DocResult<api::ContainerInfo> replace_container(api::ContainerRef r, const boost::json::object& body,
                                                       std::optional<std::string> if_match = std::nullopt) {
    auto spec = api::ContainerSpec::from_json(body);
    if (!spec) return spec.error();
    return wait<api::ContainerInfo>([&](auto cb) {
      s_.replace_container(r, spec.value(), body.contains("partitionKey"), body.contains("uniqueKeyPolicy"), if_match, cb);
    });
  }
  api::DocResult<void> delete_container(api::ContainerRef r) {
    return wait<void>([&](auto cb) { s_.delete_container(r, cb); });
  }
  api::DocResult<api::Item> create(api::ContainerRef r, boost::json::object body,
                                   std::optional<api::PartitionKey> pk = std::nullopt) {
    return wait<api::Item>([&](auto cb) { s_.create_item(r, pk, body, cb); });
  }
  api::DocResult<api::Item> upsert(api::ContainerRef r, boost::json::object body,
                                   std::optional<api::PartitionKey> pk = std::nullopt) {
    return wait<api::Item>([&](auto cb) { s_.upsert_item(r, pk, body, cb); });
  }
  api::DocResult<api::Item> replace(api::ContainerRef r, std::string id, boost::json::object body,
                                    std::optional<std::string> if_match = std::nullopt,
                                    std::optional<api::PartitionKey> pk = std::nullopt) {
    return wait<api::Item>([&](auto cb) { s_.replace_item(r, id, pk, body, if_match, cb); });
  }
  api::DocResult<api::Item> read(api::ContainerRef r, std::string id, api::PartitionKey pk,
                                 api::ItemForm form = api::ItemForm::parsed) {
    return wait<api::Item>([&](auto cb) { s_.read_item(r, id, pk, form, cb); });
  }
  api::DocResult<void> remove(api::ContainerRef r, std::string id, api::PartitionKey pk,
                              std::optional<std::string> if_match = std::nullopt) {
    return wait<void>([&](auto cb) { s_.delete_item(r, id, pk, if_match, cb); });
  }
  api::DocResult<int64_t> delete_partition(api::ContainerRef r, api::PartitionKey pk) {
    return wait<int64_t>([&](auto cb) { s_.delete_partition(r, pk, cb); });
  }
  api::DocResult<std::vector<api::ContainerItems>> item_counts() {
    return wait<std::vector<api::ContainerItems>>([&](auto cb) { s_.item_counts(cb); });
  }
  api::DocResult<api::Page> feed(api::ContainerRef r, api::FeedOptions o = {}) {
    return wait<api::Page>([&](auto cb) { s_.read_feed(r, o, cb); });
  }
  // Parses `sql` with the SQL engine; a parse error comes back as the query's error.
  api::DocResult<api::Page> query(api::ContainerRef r, std::string sql,
                                  boost::json::object params = {}, api::FeedOptions o = {});
  api::DocResult<api::ChangeFeedPage> changes(api::ContainerRef r, api::ChangeFeedOptions o = {}) {
    return wait<api::ChangeFeedPage>([&](auto cb) { s_.read_change_feed(r, o, cb); });
  }
  // Patches with `ops` (a JSON operations array, as the REST body carries it: [{"op", "path",
  // "value"|"from"}]) and an optional condition ("FROM c WHERE ...", prepared with the engine).
  api::DocResult<api::Item> patch(api::ContainerRef r, std::string id, api::PartitionKey pk,
                                  std::string_view ops, std::string condition = "",
                                  std::optional<std::string> if_match = std::nullopt);
  api::DocResult<std::vector<api::BatchOperationResult>> batch(
      api::ContainerRef r, std::optional<api::PartitionKey> pk, std::vector<api::BatchOperation> ops,
      api::BatchOptions o = {}) {
    return wait<std::vector<api::BatchOperationResult>>(
        [&](auto cb) { s_.execute_batch(r, pk, ops, o, cb); });
  }

 private:
  api::DocumentStore& s_;
};

class DocumentStoreConformance : public ::testing::TestWithParam<const DocumentStoreBackend*> {
 protected:
  void SetUp() override;
  void TearDown() override;
  void reopen();
  // A database "db" with container `name` partitioned on `pk_path` (and extra JSON fields).
  api::ContainerRef make_container(std::string name, std::string pk_path = "/pk",
                                   boost::json::object extra = {});

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<api::DocumentStore> store_;
  std::unique_ptr<SyncDocs> docs_;
};

}  // namespace nimbus::conformance
