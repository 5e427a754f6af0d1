// The Cosmos REST handler on the real SQLite store (a temporary file) and on a store whose
// writes fail: status codes, JSON bodies, headers, what a storage failure shows a client, the
// account document's echoed address and the query-plan answer. The SDK-level checks are in
// tests/e2e/cosmos_sdk.test.mjs.
#include "documents/cosmos_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <filesystem>

#include "storage/sqlite/sqlite_document_store.h"

namespace nimbus::documents {
namespace {

namespace json = boost::json;

// Forwards to a real store, except that item writes fail as a broken disk would.
class FailingWrites final : public api::DocumentStore {
 public:
  explicit FailingWrites(api::DocumentStore& s) : s_(s) {}
  void create_database(std::string id, std::optional<api::Throughput> t, api::DocCallback<api::DatabaseInfo> d) override { s_.create_database(id, t, d); }
  void list_offers(api::DocCallback<std::vector<api::OfferInfo>> d) override { s_.list_offers(d); }
  void read_offer(std::string id, api::DocCallback<api::OfferInfo> d) override { s_.read_offer(id, d); }
  void replace_offer(std::string id, api::Throughput t, std::optional<std::string> m, api::DocCallback<api::OfferInfo> d) override { s_.replace_offer(id, t, m, d); }
  void read_database(std::string id, api::DocCallback<api::DatabaseInfo> d) override { s_.read_database(id, d); }
  void list_databases(api::DocCallback<std::vector<api::DatabaseInfo>> d) override { s_.list_databases(d); }
  void delete_database(std::string id, api::DocCallback<void> d) override { s_.delete_database(id, d); }
  void create_container(std::string db, api::ContainerSpec spec, api::DocCallback<api::ContainerInfo> d) override { s_.create_container(db, spec, d); }
  void read_container(api::ContainerRef r, api::DocCallback<api::ContainerInfo> d) override { s_.read_container(r, d); }
  void list_containers(std::string db, api::DocCallback<std::vector<api::ContainerInfo>> d) override { s_.list_containers(db, d); }
  void delete_container(api::ContainerRef r, api::DocCallback<void> d) override { s_.delete_container(r, d); }
  void replace_container(api::ContainerRef r, api::ContainerSpec spec, bool pk, bool uk, std::optional<std::string> m,
                         api::DocCallback<api::ContainerInfo> d) override {
    s_.replace_container(r, spec, pk, uk, m, d);
  }
  void create_item(api::ContainerRef, std::optional<api::PartitionKey>, json::object, api::DocCallback<api::Item> d) override {
    d(api::DocError{api::DocErrc::storage_failure, "disk I/O error in /secret/path/nimbus.db"});
  }
  void upsert_item(api::ContainerRef r, std::optional<api::PartitionKey> pk, json::object b, api::DocCallback<api::Item> d) override { s_.upsert_item(r, pk, b, d); }
  void replace_item(api::ContainerRef r, std::string id, std::optional<api::PartitionKey> pk, json::object b, std::optional<std::string> m, api::DocCallback<api::Item> d) override { s_.replace_item(r, id, pk, b, m, d); }
  void read_item(api::ContainerRef r, std::string id, api::PartitionKey pk, api::ItemForm f, api::DocCallback<api::Item> d) override { s_.read_item(r, id, pk, f, d); }
  void item_counts(api::DocCallback<std::vector<api::ContainerItems>> d) override { s_.item_counts(d); }
  void write_user(std::string db, api::AccessWrite h, std::string id, json::object b, std::optional<std::string> m, api::DocCallback<api::AccessInfo> d) override { s_.write_user(db, h, id, b, m, d); }
  void read_user(std::string db, std::string id, api::DocCallback<api::AccessInfo> d) override { s_.read_user(db, id, d); }
  void list_users(std::string db, api::DocCallback<std::vector<api::AccessInfo>> d) override { s_.list_users(db, d); }
  void delete_user(std::string db, std::string id, api::DocCallback<void> d) override { s_.delete_user(db, id, d); }
  void write_permission(std::string db, std::string u, api::AccessWrite h, std::string id, json::object b, std::optional<std::string> m, api::DocCallback<api::AccessInfo> d) override { s_.write_permission(db, u, h, id, b, m, d); }
  void read_permission(std::string db, std::string u, std::string id, api::DocCallback<api::AccessInfo> d) override { s_.read_permission(db, u, id, d); }
  void list_permissions(std::string db, std::string u, api::DocCallback<std::vector<api::AccessInfo>> d) override { s_.list_permissions(db, u, d); }
  void delete_permission(std::string db, std::string u, std::string id, api::DocCallback<void> d) override { s_.delete_permission(db, u, id, d); }
  void read_grant(int64_t p, api::DocCallback<api::PermissionGrant> d) override { s_.read_grant(p, d); }
  void delete_item(api::ContainerRef r, std::string id, api::PartitionKey pk, std::optional<std::string> m, api::DocCallback<void> d) override { s_.delete_item(r, id, pk, m, d); }
  void delete_partition(api::ContainerRef r, api::PartitionKey pk, api::DocCallback<int64_t> d) override { s_.delete_partition(r, pk, d); }
  void read_feed(api::ContainerRef r, api::FeedOptions o, api::DocCallback<api::Page> d) override { s_.read_feed(r, o, d); }
  void query(api::ContainerRef r, std::shared_ptr<const api::DocumentQuery> q, api::FeedOptions o, api::DocCallback<api::Page> d) override { s_.query(r, q, o, d); }
  void read_change_feed(api::ContainerRef r, api::ChangeFeedOptions o, api::DocCallback<api::ChangeFeedPage> d) override { s_.read_change_feed(r, o, d); }
  void patch_item(api::ContainerRef, std::string, api::PartitionKey, api::PatchSpec, std::optional<std::string>, api::DocCallback<api::Item> d) override {
    d(api::DocError{api::DocErrc::storage_failure, "disk I/O error in /secret/path/nimbus.db"});
  }
  void execute_batch(api::ContainerRef, std::optional<api::PartitionKey>, std::vector<api::BatchOperation>, api::BatchOptions,
                     api::DocCallback<std::vector<api::BatchOperationResult>> d) override {
    d(api::DocError{api::DocErrc::storage_failure, "disk I/O error in /secret/path/nimbus.db"});
  }

 private:
  api::DocumentStore& s_;
};

class CosmosServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("nimbus-cosmos-service-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    storage::SqliteDocumentStore::Options o;
    o.path = (dir / "nimbus.db").string();
    o.sync = storage::SqliteEngine::Sync::off;
    std::string error;
    store = storage::SqliteDocumentStore::open(o, error);
    ASSERT_TRUE(store) << error;
    failing = std::make_unique<FailingWrites>(*store);
    log = std::make_unique<Logger>(LogLevel::none);
    use(*store, false);
  }
  void TearDown() override {
    service.reset();
    async.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  void use(api::DocumentStore& s, bool auth) {
    service.reset();
    async = std::make_unique<AsyncDocumentStore>(s, io.get_executor());
    CosmosService::Options o;
    o.auth = auth;
    service = std::make_unique<CosmosService>(*async, std::move(o), *log);
  }
  api::HttpResponseData send(std::string method, std::string path, std::string body = {},
                             api::Headers headers = {}) {
    api::HttpRequestData req;
    req.method = std::move(method);
    req.path = path;
    req.target = path;
    req.host = "docs.example:8081";
    req.headers = std::move(headers);
    req.body = std::move(body);
    auto f = boost::asio::co_spawn(io, service->handle(req), boost::asio::use_future);
    io.restart();
    io.run();
    return f.get();
  }
  static std::string header(const api::HttpResponseData& r, std::string_view name) {
    for (auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }
  static json::value body(const api::HttpResponseData& r) { return json::parse(r.body); }

  boost::asio::io_context io;
  std::filesystem::path dir;
  std::unique_ptr<storage::SqliteDocumentStore> store;
  std::unique_ptr<FailingWrites> failing;
  std::unique_ptr<Logger> log;
  std::unique_ptr<AsyncDocumentStore> async;
  std::unique_ptr<CosmosService> service;
};

TEST_F(CosmosServiceTest, AccountEchoesTheAddressTheClientUsed) {
  auto r = send("GET", "/");
  ASSERT_EQ(r.status, 200);
  auto b = body(r).as_object();
  EXPECT_EQ(b["writableLocations"].as_array()[0].as_object()["databaseAccountEndpoint"],
            "http://docs.example:8081/");
  EXPECT_EQ(b["readableLocations"].as_array()[0].as_object()["databaseAccountEndpoint"],
            "http://docs.example:8081/");
  EXPECT_NE(b["id"], "localhost");
  EXPECT_FALSE(header(r, "x-ms-activity-id").empty());
  EXPECT_FALSE(header(r, "x-ms-request-charge").empty());
  EXPECT_EQ(header(r, "Content-Type"), "application/json");
}

TEST_F(CosmosServiceTest, UnsignedRequestsAre401WhenAuthIsOn) {
  use(*store, true);
  auto r = send("GET", "/dbs");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(body(r).as_object()["code"], "Unauthorized");
  // The same verdict at admission, before any body is read.
  api::HttpRequestData head;
  head.method = "POST";
  head.path = head.target = "/dbs";
  auto refused = service->admit(head);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_NE(refused->body.find("Unauthorized"), std::string::npos);
  // Signed with the emulator key at the current time: accepted.
  std::string date = rfc1123(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count());
  auto ok = send("GET", "/dbs", "",
                 {{"authorization", master_authorization(kEmulatorKey, "GET", "dbs", "", date)},
                  {"x-ms-date", date}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  api::HttpRequestData signed_head;
  signed_head.method = "GET";
  signed_head.path = signed_head.target = "/dbs";
  signed_head.headers = {{"authorization", master_authorization(kEmulatorKey, "GET", "dbs", "", date)},
                         {"x-ms-date", date}};
  EXPECT_FALSE(service->admit(signed_head));
  // Admission marks what it verified, so the handler signs once per request; a refused head
  // stays unmarked, and a request that never passed admission is verified by the handler.
  EXPECT_TRUE(signed_head.authenticated);
  EXPECT_FALSE(head.authenticated);
  auto forged = send("GET", "/dbs", "",
                     {{"authorization", master_authorization(kEmulatorKey, "GET", "dbs", "x", date)},
                      {"x-ms-date", date}});
  EXPECT_EQ(forged.status, 401);
}

TEST_F(CosmosServiceTest, ItemLifecycleStatusesAndHeaders) {
  ASSERT_EQ(send("POST", "/dbs", R"({"id":"d"})").status, 201);
  ASSERT_EQ(send("POST", "/dbs/d/colls", R"({"id":"c","partitionKey":{"paths":["/pk"],"kind":"Hash"}})").status, 201);
  api::Headers pk{{"x-ms-documentdb-partitionkey", R"(["p"])"}};
  auto created = send("POST", "/dbs/d/colls/c/docs", R"({"id":"i","pk":"p"})", pk);
  ASSERT_EQ(created.status, 201) << created.body;
  std::string etag = header(created, "etag");
  EXPECT_FALSE(etag.empty());
  EXPECT_EQ(body(created).as_object()["_etag"].as_string(), etag);
  EXPECT_EQ(header(created, "x-ms-session-token").rfind("0:-1#", 0), 0u);
  EXPECT_EQ(send("POST", "/dbs/d/colls/c/docs", R"({"id":"i","pk":"p"})", pk).status, 409);

  auto pk_inm = pk;
  pk_inm.emplace_back("If-None-Match", etag);
  auto nm = send("GET", "/dbs/d/colls/c/docs/i", "", pk_inm);
  EXPECT_EQ(nm.status, 304);
  EXPECT_TRUE(nm.body.empty());

  auto pk_im = pk;
  pk_im.emplace_back("If-Match", "\"stale\"");
  auto stale = send("PUT", "/dbs/d/colls/c/docs/i", R"({"id":"i","pk":"p","n":2})", pk_im);
  EXPECT_EQ(stale.status, 412);
  EXPECT_EQ(body(stale).as_object()["code"], "PreconditionFailed");

  auto del = send("DELETE", "/dbs/d/colls/c/docs/i", "", pk);
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  auto gone = send("GET", "/dbs/d/colls/c/docs/i", "", pk);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(body(gone).as_object()["code"], "NotFound");
  // A point read without the partition key header.
  EXPECT_EQ(send("GET", "/dbs/d/colls/c/docs/i").status, 400);
}

TEST_F(CosmosServiceTest, QueryPlanAndChangeFeed) {
  ASSERT_EQ(send("POST", "/dbs", R"({"id":"d"})").status, 201);
  ASSERT_EQ(send("POST", "/dbs/d/colls", R"({"id":"c","partitionKey":{"paths":["/pk"]}})").status, 201);
  auto plan = send("POST", "/dbs/d/colls/c/docs", R"({"query":"SELECT TOP 3 * FROM c ORDER BY c.n"})",
                   {{"x-ms-cosmos-is-query-plan-request", "True"}});
  ASSERT_EQ(plan.status, 200) << plan.body;
  EXPECT_TRUE(body(plan).as_object().contains("queryInfo"));
  auto bad = send("POST", "/dbs/d/colls/c/docs", R"({"query":"SELECT FROM"})",
                  {{"x-ms-documentdb-isquery", "true"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("position"), std::string::npos);

  api::Headers cf{{"A-IM", "Incremental feed"}, {"x-ms-documentdb-partitionkeyrangeid", "0"}};
  auto empty = send("GET", "/dbs/d/colls/c/docs", "", cf);
  EXPECT_EQ(empty.status, 304);
  std::string cont = header(empty, "etag");
  ASSERT_FALSE(cont.empty());
  ASSERT_EQ(send("POST", "/dbs/d/colls/c/docs", R"({"id":"a","pk":"p"})",
                 {{"x-ms-documentdb-partitionkey", R"(["p"])"}}).status, 201);
  auto next_headers = cf;
  next_headers.emplace_back("If-None-Match", cont);
  auto next = send("GET", "/dbs/d/colls/c/docs", "", next_headers);
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(body(next).as_object()["Documents"].as_array().size(), 1u);
  EXPECT_EQ(header(next, "x-ms-item-count"), "1");
}

TEST_F(CosmosServiceTest, StorageFailureShowsOnlyTheActivityId) {
  ASSERT_EQ(send("POST", "/dbs", R"({"id":"d"})").status, 201);
  ASSERT_EQ(send("POST", "/dbs/d/colls", R"({"id":"c","partitionKey":{"paths":["/pk"]}})").status, 201);
  use(*failing, false);
  auto r = send("POST", "/dbs/d/colls/c/docs", R"({"id":"i","pk":"p"})",
                {{"x-ms-documentdb-partitionkey", R"(["p"])"}});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(body(r).as_object()["code"], "InternalServerError");
  EXPECT_EQ(r.body.find("/secret/path"), std::string::npos);
  EXPECT_NE(r.body.find(header(r, "x-ms-activity-id")), std::string::npos);
}

TEST_F(CosmosServiceTest, PatchTakesBothBodyFormsAndAnswersTheItem) {
  ASSERT_EQ(send("POST", "/dbs", R"({"id":"d"})").status, 201);
  ASSERT_EQ(send("POST", "/dbs/d/colls", R"({"id":"c","partitionKey":{"paths":["/pk"]}})").status, 201);
  api::Headers pk{{"x-ms-documentdb-partitionkey", R"(["p"])"}};
  ASSERT_EQ(send("POST", "/dbs/d/colls/c/docs", R"({"id":"i","pk":"p","n":1})", pk).status, 201);
  // The bare operations array (what the SDK sends for item.patch([...])).
  auto a = send("PATCH", "/dbs/d/colls/c/docs/i", R"([{"op":"incr","path":"/n","value":2}])", pk);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(body(a).at("n"), 3);
  EXPECT_EQ(header(a, "etag"), body(a).at("_etag").as_string());
  EXPECT_EQ(header(a, "x-ms-session-token"), "0:-1#2");  // the create took LSN 1, the patch 2
  EXPECT_FALSE(body(a).as_object().contains("_lsn"));      // only the change feed shows it
  // {operations, condition}; the condition's syntax error names its position.
  auto b = send("PATCH", "/dbs/d/colls/c/docs/i", R"({"operations":[{"op":"set","path":"/s","value":"x"}],"condition":"from c where c.n = 3"})", pk);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(body(b).at("s"), "x");
  auto bad_cond = send("PATCH", "/dbs/d/colls/c/docs/i", R"({"operations":[{"op":"set","path":"/s","value":1}],"condition":"from c where"})", pk);
  EXPECT_EQ(bad_cond.status, 400);
  EXPECT_NE(bad_cond.body.find("condition"), std::string::npos);
  auto no_pk = send("PATCH", "/dbs/d/colls/c/docs/i", R"([{"op":"set","path":"/s","value":1}])");
  EXPECT_EQ(no_pk.status, 400);
  EXPECT_NE(no_pk.body.find("x-ms-documentdb-partitionkey"), std::string::npos);
  for (const char* bad : {"", "{", "5", R"({"ops":[]})", R"([{"op":"set"}])", R"([{"op":"set","path":"/x"}])", R"([{"op":"move","path":"/x"}])",
                          R"({"operations":[{"op":"set","path":"/x","value":1}],"condition":7})"}) {
    SCOPED_TRACE(bad);
    auto r = send("PATCH", "/dbs/d/colls/c/docs/i", bad, pk);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(body(r).at("code"), "BadRequest");
  }
  EXPECT_EQ(send("GET", "/dbs/d/colls/c/docs/i", "", pk).status, 200);
}

TEST_F(CosmosServiceTest, BatchAndBulkAnswerPerOperationResults) {
  ASSERT_EQ(send("POST", "/dbs", R"({"id":"d"})").status, 201);
  ASSERT_EQ(send("POST", "/dbs/d/colls", R"({"id":"c","partitionKey":{"paths":["/pk"]}})").status, 201);
  api::Headers atomic{{"x-ms-cosmos-is-batch-request", "True"}, {"x-ms-cosmos-batch-atomic", "True"}, {"x-ms-documentdb-partitionkey", R"(["p"])"}};
  auto ok = send("POST", "/dbs/d/colls/c/docs",
                 R"([{"operationType":"Create","resourceBody":{"id":"a","pk":"p"}},{"operationType":"Read","id":"a","partitionKey":"[\"p\"]"}])", atomic);
  ASSERT_EQ(ok.status, 200) << ok.body;
  // A batch over 2 MB in all is refused whole, with the service's sentence first.
  api::Headers batch_head{{"x-ms-cosmos-is-batch-request", "True"}};
  auto big = send("POST", "/dbs/d/colls/c/docs",
                  R"([{"operationType":"Create","partitionKey":"[\"p\"]","resourceBody":{"id":"big","pk":"p","s":")" +
                      std::string(api::kMaxItemBytes, 'x') + R"("}}])", batch_head);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(body(big).at("message").as_string().rfind("Message: {\"Errors\":[\"Request size is too large\"]}", 0), 0u);
  json::value okb = body(ok);
  auto& results = okb.as_array();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].at("statusCode"), 201);
  EXPECT_EQ(results[0].at("resourceBody").at("id"), "a");
  EXPECT_EQ(results[0].at("eTag"), results[0].at("resourceBody").at("_etag"));
  EXPECT_TRUE(results[0].at("requestCharge").is_number());
  EXPECT_EQ(header(ok, "x-ms-session-token").rfind("0:-1#", 0), 0u);
  // Prefer: return=minimal drops written bodies but keeps a read's.
  auto minimal = atomic;
  minimal.emplace_back("Prefer", "return=minimal");
  auto m = send("POST", "/dbs/d/colls/c/docs", R"([{"operationType":"Upsert","resourceBody":{"id":"a","pk":"p","v":2}},{"operationType":"Read","id":"a"}])", minimal);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_FALSE(body(m).as_array()[0].as_object().contains("resourceBody"));
  EXPECT_EQ(body(m).as_array()[1].at("resourceBody").at("v"), 2);
  // A failed batch: 207, the failure's status and message, the others 424.
  auto failed = send("POST", "/dbs/d/colls/c/docs", R"([{"operationType":"Create","resourceBody":{"id":"b","pk":"p"}},{"operationType":"Create","resourceBody":{"id":"a","pk":"p"}}])", atomic);
  ASSERT_EQ(failed.status, 207) << failed.body;
  EXPECT_EQ(body(failed).as_array()[0].at("statusCode"), 424);
  EXPECT_EQ(body(failed).as_array()[1].at("statusCode"), 409);
  EXPECT_NE(body(failed).as_array()[1].at("message").as_string().find("already exists"), std::string::npos);
  EXPECT_EQ(send("GET", "/dbs/d/colls/c/docs/b", "", {{"x-ms-documentdb-partitionkey", R"(["p"])"}}).status, 404);
  // Bulk: atomic false, each operation with its own partition key (a JSON string, as the SDK
  // sends it), each on its own.
  api::Headers bulk{{"x-ms-cosmos-is-batch-request", "True"}, {"x-ms-cosmos-batch-atomic", "False"}, {"x-ms-documentdb-partitionkeyrangeid", "0"}};
  auto bk = send("POST", "/dbs/d/colls/c/docs",
                 R"([{"operationType":"Create","partitionKey":"[\"q\"]","resourceBody":{"id":"x","pk":"q"}},{"operationType":"Create","partitionKey":"[\"p\"]","resourceBody":{"id":"a","pk":"p"}},{"operationType":"Delete","id":"a","partitionKey":"[\"p\"]"}])",
                 bulk);
  ASSERT_EQ(bk.status, 207) << bk.body;
  EXPECT_EQ(body(bk).as_array()[0].at("statusCode"), 201);
  EXPECT_EQ(body(bk).as_array()[1].at("statusCode"), 409);
  EXPECT_EQ(body(bk).as_array()[2].at("statusCode"), 204);
  // Hostile bodies are refused whole, naming the operation.
  for (const char* bad : {R"([5])", R"([{"operationType":"Create","resourceBody":[]}])", R"([{"operationType":"Read","id":7}])",
                          R"([{"operationType":"Read","id":"a","partitionKey":"not json"}])", R"([{"operationType":"Replace","resourceBody":{"pk":"p"}}])",
                          R"([{"operationType":"Delete","id":"a","ifMatch":5}])"}) {
    SCOPED_TRACE(bad);
    auto r = send("POST", "/dbs/d/colls/c/docs", bad, atomic);
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(body(r).at("message").as_string().find("Batch operation 0"), std::string::npos) << r.body;
  }
}

TEST_F(CosmosServiceTest, PatchAndBatchStorageFailuresShowOnlyTheActivityId) {
  ASSERT_EQ(send("POST", "/dbs", R"({"id":"d"})").status, 201);
  ASSERT_EQ(send("POST", "/dbs/d/colls", R"({"id":"c","partitionKey":{"paths":["/pk"]}})").status, 201);
  use(*failing, false);
  auto p = send("PATCH", "/dbs/d/colls/c/docs/i", R"([{"op":"set","path":"/x","value":1}])", {{"x-ms-documentdb-partitionkey", R"(["p"])"}});
  auto b = send("POST", "/dbs/d/colls/c/docs", R"([{"operationType":"Read","id":"i"}])",
                {{"x-ms-cosmos-is-batch-request", "True"}, {"x-ms-cosmos-batch-atomic", "True"}, {"x-ms-documentdb-partitionkey", R"(["p"])"}});
  for (auto* r : {&p, &b}) {
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->body.find("/secret/path"), std::string::npos);
    EXPECT_NE(r->body.find(header(*r, "x-ms-activity-id")), std::string::npos);
  }
}

TEST_F(CosmosServiceTest, BadInputIsAnsweredNeverCrashes) {
  const char* bodies[] = {"", "{", "[1]", "\"x\"", "null", "{\"id\":5}", "{\"id\":\"\"}"};
  for (const char* b : bodies) {
    SCOPED_TRACE(b);
    auto r = send("POST", "/dbs", b);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(body(r).as_object()["code"], "BadRequest");
  }
  EXPECT_EQ(send("GET", "/dbs/%zz").status, 400);
  EXPECT_EQ(send("GET", "/nothing").status, 404);
  EXPECT_EQ(send("PATCH", "/dbs").status, 405);
  EXPECT_EQ(send("GET", "/dbs/d/colls/c/docs", "", {{"x-ms-documentdb-partitionkey", "p"}}).status, 400);
  EXPECT_EQ(send("GET", "/dbs/none/colls/c/docs").status, 404);
  EXPECT_EQ(send("POST", "/dbs/d/colls/c/docs", std::string(CosmosService::kMaxRequestBody + 1, ' ')).status, 413);
}

}  // namespace
}  // namespace nimbus::documents
