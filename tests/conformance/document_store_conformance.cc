// The document store conformance suite (document_store_conformance.h): every backend runs it.
#include "document_store_conformance.h"

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <map>
#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "documents/docsql_query.h"

namespace nimbus::conformance {

namespace json = boost::json;
using api::DocErrc;

api::DocResult<api::Page> SyncDocs::query(api::ContainerRef r, std::string sql, json::object params,
                                          api::FeedOptions o) {
  auto q = documents::DocsqlQuery::parse(sql, std::move(params));
  if (!q) return q.error();
  std::shared_ptr<const api::DocumentQuery> prepared = q.value();
  return wait<api::Page>([&](auto cb) { s_.query(r, prepared, o, cb); });
}

// The operations array parsed by hand here (the REST layer has its own parser): the suite
// tests the store's semantics, so a malformed op is a test bug and fails loudly.
std::vector<api::PatchOperation> patch_ops(std::string_view ops) {
  std::vector<api::PatchOperation> out;
  json::value parsed = json::parse(ops);
  for (auto& v : parsed.as_array()) {
    const auto& o = v.as_object();
    api::PatchOperation p;
    std::string_view n = o.at("op").as_string();
    using Op = api::PatchOperation::Op;
    p.op = n == "add" ? Op::add : n == "set" ? Op::set : n == "replace" ? Op::replace : n == "remove" ? Op::remove : n == "incr" ? Op::incr : Op::move;
    EXPECT_TRUE(n == "add" || n == "set" || n == "replace" || n == "remove" || n == "incr" || n == "move") << n;
    p.path = std::string(o.at("path").as_string());
    if (auto* f = o.if_contains("from")) p.from = std::string(f->as_string());
    if (auto* val = o.if_contains("value")) p.value = *val;
    out.push_back(std::move(p));
  }
  return out;
}

api::DocResult<api::Item> SyncDocs::patch(api::ContainerRef r, std::string id, api::PartitionKey pk, std::string_view ops,
                                          std::string condition, std::optional<std::string> if_match) {
  api::PatchSpec spec;
  spec.operations = patch_ops(ops);
  if (!condition.empty()) {
    auto q = documents::DocsqlQuery::parse("SELECT VALUE 1 " + condition, {});
    if (!q) return q.error();
    spec.condition = q.value();
    spec.condition_text = condition;
  }
  return wait<api::Item>([&](auto cb) { s_.patch_item(r, id, pk, spec, if_match, cb); });
}

void DocumentStoreConformance::SetUp() {
  char tmpl[] = "/tmp/nimbus-docstore-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  store_ = GetParam()->open(dir_, clock_);
  ASSERT_NE(store_, nullptr);
  docs_ = std::make_unique<SyncDocs>(*store_);
}

void DocumentStoreConformance::TearDown() {
  docs_.reset();
  store_.reset();
  std::filesystem::remove_all(dir_);
}

void DocumentStoreConformance::reopen() {
  docs_.reset();
  store_.reset();
  store_ = GetParam()->open(dir_, clock_);
  ASSERT_NE(store_, nullptr);
  docs_ = std::make_unique<SyncDocs>(*store_);
}

api::ContainerRef DocumentStoreConformance::make_container(std::string name, std::string pk_path,
                                                           json::object extra) {
  if (!docs_->read_db("db").ok()) {
    EXPECT_TRUE(docs_->create_db("db").ok());
  }
  json::object body = std::move(extra);
  body["id"] = name;
  if (!pk_path.empty()) body["partitionKey"] = json::object{{"paths", json::array{json::string(pk_path)}}, {"kind", "Hash"}};
  auto spec = api::ContainerSpec::from_json(body);
  EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error().message);
  auto c = docs_->create_container("db", spec.value());
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return {"db", name};
}

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }
api::PartitionKey pk(json::value v) { return api::PartitionKey{std::move(v)}; }

std::set<std::string> ids_of(const std::vector<json::value>& rows) {
  std::set<std::string> out;
  for (auto& r : rows) out.insert(std::string(r.as_object().at("id").as_string()));
  return out;
}

// Every page of a query from the first, following continuations (at most 200 pages): the rows
// in order, the documents the store says it read, and the pages. Each page holds at most
// `page` rows and none is empty.
struct Paged {
  std::vector<json::value> rows;
  int64_t docs_read = 0;
  int pages = 0;
};
Paged page_through(SyncDocs& docs, const api::ContainerRef& c, const std::string& sql, int page,
                   std::optional<api::PartitionKey> partition = std::nullopt) {
  Paged out;
  api::FeedOptions o;
  o.max_item_count = page;
  o.partition_key = std::move(partition);
  do {
    auto r = docs.query(c, sql, {}, o);
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok()) break;
    EXPECT_LE(r.value().items.size(), static_cast<size_t>(page));
    EXPECT_FALSE(r.value().items.empty()) << "an empty page " << out.pages;
    for (auto& v : r.value().items) out.rows.push_back(v);
    out.docs_read += r.value().stats.retrieved_documents;
    o.continuation = r.value().continuation;
  } while (!o.continuation.empty() && ++out.pages < 200);
  return out;
}

#define EXPECT_ERR(expr, errc)                                                   \
  do {                                                                           \
    auto r_ = (expr);                                                            \
    ASSERT_FALSE(r_.ok()) << #expr " succeeded";                                 \
    EXPECT_EQ(r_.error().code, errc) << r_.error().message;                      \
  } while (0)

}  // namespace

// --- databases and containers ----------------------------------------------------------------

TEST_P(DocumentStoreConformance, DatabasesCreateReadListDelete) {
  auto a = docs_->create_db("alpha");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a.value().resource.at("id").as_string(), "alpha");
  for (auto* k : {"_rid", "_self", "_etag", "_ts"}) EXPECT_TRUE(a.value().resource.contains(k)) << k;
  EXPECT_ERR(docs_->create_db("alpha"), DocErrc::conflict);
  ASSERT_TRUE(docs_->create_db("beta").ok());
  auto list = docs_->list_dbs();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.value().size(), 2u);
  EXPECT_EQ(docs_->read_db("alpha").value().resource.at("_rid"), a.value().resource.at("_rid"));
  ASSERT_TRUE(docs_->delete_db("alpha").ok());
  EXPECT_ERR(docs_->read_db("alpha"), DocErrc::not_found);
  EXPECT_ERR(docs_->delete_db("alpha"), DocErrc::not_found);
}

// Users and permissions (api::AccessInfo): ids are unique per database and per user, a replace
// may rename, a permission's resource resolves (by ids or by _self) to the name link its grant
// checks requests against, and grants end with their permission, user or database.
TEST_P(DocumentStoreConformance, UsersAndPermissionsGrantWhatTheySayUntilDeleted) {
  using api::AccessWrite;
  ASSERT_TRUE(docs_->create_db("app").ok());
  ASSERT_TRUE(docs_->create_db("other").ok());
  auto orders = [] { return api::ContainerSpec::from_json(obj(R"({"id":"orders","partitionKey":{"paths":["/pk"]}})")).value(); };
  auto c = docs_->create_container("app", orders());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(docs_->create_container("other", orders()).ok());
  auto ada = docs_->user("app", AccessWrite::create, "", {{"id", "ada"}});
  ASSERT_TRUE(ada.ok()) << ada.error().message;
  EXPECT_TRUE(ada.value().created);
  for (auto* k : {"_rid", "_self", "_etag", "_ts", "_permissions"}) EXPECT_TRUE(ada.value().resource.contains(k)) << k;
  EXPECT_ERR(docs_->user("app", AccessWrite::create, "", {{"id", "ada"}}), DocErrc::conflict);
  EXPECT_ERR(docs_->user("app", AccessWrite::create, "", {{"id", "bad/id"}}), DocErrc::bad_request);
  EXPECT_ERR(docs_->user("nodb", AccessWrite::create, "", {{"id", "x"}}), DocErrc::not_found);
  auto again = docs_->user("app", AccessWrite::upsert, "", {{"id", "ada"}});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again.value().created);
  EXPECT_EQ(again.value().resource.at("_rid"), ada.value().resource.at("_rid"));

  // By _self: the container's rid link resolves to its name link.
  std::string self(c.value().resource.at("_self").as_string());
  auto p = docs_->permission("app", "ada", AccessWrite::create, "",
                             {{"id", "read-orders"}, {"permissionMode", "read"}, {"resource", self}});
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p.value().resource.at("permissionMode"), "read");  // as given
  EXPECT_EQ(p.value().resource.at("resource").as_string(), self);
  auto g = docs_->grant(p.value().permission);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g.value().database, "app");
  EXPECT_EQ(g.value().mode, "Read");
  EXPECT_EQ(g.value().link, "dbs/app/colls/orders");
  EXPECT_EQ(g.value().partition_key, "");

  // Replace: mode, partition key (a scalar grants ["p1"]) and a rename; If-Match is checked.
  auto r = docs_->permission("app", "ada", AccessWrite::replace, "read-orders",
                             {{"id", "all-p1"}, {"permissionMode", "All"}, {"resource", "dbs/app/colls/orders"},
                              {"resourcePartitionKey", "p1"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().permission, p.value().permission);
  EXPECT_EQ(docs_->grant(p.value().permission).value().mode, "All");
  EXPECT_EQ(docs_->grant(p.value().permission).value().partition_key, "[\"p1\"]");
  EXPECT_ERR(docs_->permission("app", "ada", AccessWrite::replace, "all-p1",
                               {{"id", "all-p1"}, {"permissionMode", "All"}, {"resource", "dbs/app/colls/orders"}},
                               std::string("\"stale\"")),
             DocErrc::precondition_failed);

  // An item by its _self: the grant names the item's id and is bound to its partition (ids are
  // unique only within one); an id in several partitions needs the partition named.
  auto item = docs_->create({"app", "orders"}, {{"id", "o-1"}, {"pk", "p1"}});
  ASSERT_TRUE(item.ok());
  auto pi = docs_->permission("app", "ada", AccessWrite::create, "",
                              {{"id", "one"}, {"permissionMode", "All"}, {"resource", item.value().document.at("_self")}});
  ASSERT_TRUE(pi.ok()) << pi.error().message;
  EXPECT_EQ(docs_->grant(pi.value().permission).value().link, "dbs/app/colls/orders/docs/o-1");
  EXPECT_EQ(docs_->grant(pi.value().permission).value().partition_key, "[\"p1\"]");
  ASSERT_TRUE(docs_->create({"app", "orders"}, {{"id", "o-1"}, {"pk", "p2"}}).ok());
  EXPECT_ERR(docs_->permission("app", "ada", AccessWrite::create, "",
                               {{"id", "twin"}, {"permissionMode", "All"}, {"resource", "dbs/app/colls/orders/docs/o-1"}}),
             DocErrc::bad_request);
  auto bound = docs_->permission("app", "ada", AccessWrite::create, "",
                                 {{"id", "twin"}, {"permissionMode", "All"}, {"resource", "dbs/app/colls/orders/docs/o-1"},
                                  {"resourcePartitionKey", json::array{"p2"}}});
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  EXPECT_EQ(docs_->grant(bound.value().permission).value().partition_key, "[\"p2\"]");
  EXPECT_ERR(docs_->permission("app", "ada", AccessWrite::create, "",
                               {{"id", "none"}, {"permissionMode", "All"}, {"resource", "dbs/app/colls/orders/docs/absent"}}),
             DocErrc::not_found);

  // Refusals name the field: mode, the resource's shape, database and existence.
  auto mode = docs_->permission("app", "ada", AccessWrite::create, "",
                                {{"id", "w"}, {"permissionMode", "Write"}, {"resource", "dbs/app/colls/orders"}});
  EXPECT_ERR(mode, DocErrc::bad_request);
  EXPECT_NE(mode.error().message.find("permissionMode"), std::string::npos) << mode.error().message;
  EXPECT_ERR(docs_->permission("app", "ada", AccessWrite::create, "",
                               {{"id", "w"}, {"permissionMode", "All"}, {"resource", "dbs/other/colls/orders"}}),
             DocErrc::bad_request);
  EXPECT_ERR(docs_->permission("app", "ada", AccessWrite::create, "",
                               {{"id", "w"}, {"permissionMode", "All"}, {"resource", "dbs/app/colls/none"}}),
             DocErrc::not_found);
  EXPECT_ERR(docs_->permission("app", "ada", AccessWrite::create, "",
                               {{"id", "w"}, {"permissionMode", "All"}, {"resource", "dbs/app"}}),
             DocErrc::bad_request);

  // A rename keeps the user's permissions; deleting the user ends them, and a database's
  // deletion ends its users.
  auto renamed = docs_->user("app", AccessWrite::replace, "ada", {{"id", "ada2"}});
  ASSERT_TRUE(renamed.ok()) << renamed.error().message;
  EXPECT_TRUE(docs_->grant(pi.value().permission).ok());
  ASSERT_TRUE(SyncDocs::wait<void>([&](auto cb) { store_->delete_user("app", "ada2", cb); }).ok());
  EXPECT_ERR(docs_->grant(pi.value().permission), DocErrc::not_found);
  ASSERT_TRUE(docs_->user("app", AccessWrite::create, "", {{"id", "bob"}}).ok());
  auto pb = docs_->permission("app", "bob", AccessWrite::create, "",
                              {{"id", "r"}, {"permissionMode", "Read"}, {"resource", "dbs/app/colls/orders"}});
  ASSERT_TRUE(pb.ok());
  reopen();
  EXPECT_TRUE(docs_->grant(pb.value().permission).ok());
  // A container's deletion ends the grants on it and on its items, not others'.
  ASSERT_TRUE(docs_->create_container("app", api::ContainerSpec::from_json(obj(R"({"id":"gone","partitionKey":{"paths":["/pk"]}})")).value()).ok());
  auto pg = docs_->permission("app", "bob", AccessWrite::create, "",
                              {{"id", "g"}, {"permissionMode", "Read"}, {"resource", "dbs/app/colls/gone"}});
  ASSERT_TRUE(pg.ok()) << pg.error().message;
  ASSERT_TRUE(SyncDocs::wait<void>([&](auto cb) { store_->delete_container({"app", "gone"}, cb); }).ok());
  EXPECT_ERR(docs_->grant(pg.value().permission), DocErrc::not_found);
  EXPECT_TRUE(docs_->grant(pb.value().permission).ok());
  ASSERT_TRUE(docs_->delete_db("app").ok());
  EXPECT_ERR(docs_->grant(pb.value().permission), DocErrc::not_found);
  ASSERT_TRUE(docs_->create_db("app").ok());
  EXPECT_ERR(SyncDocs::wait<api::AccessInfo>([&](auto cb) { store_->read_user("app", "bob", cb); }), DocErrc::not_found);
}

// Offers as the service keeps them: a container gets its own (400 RU/s unless it asks for
// more) unless its database shares one; a database has one only when created with it; an
// offer names its owner, can be replaced (manual or autoscale), and goes with its owner.
TEST_P(DocumentStoreConformance, OffersFollowTheirContainersAndDatabases) {
  ASSERT_TRUE(docs_->create_db("plain").ok());
  auto owner_of = [&](const api::OfferInfo& o) { return std::string(o.resource.at("offerResourceId").as_string()); };
  auto c = docs_->create_container("plain", api::ContainerSpec::from_json(obj(R"({"id":"c","partitionKey":{"paths":["/pk"]}})")).value());
  ASSERT_TRUE(c.ok());
  auto spec = api::ContainerSpec::from_json(obj(R"({"id":"big","partitionKey":{"paths":["/pk"]}})")).value();
  spec.throughput = api::Throughput{25100, 0};
  auto big = docs_->create_container("plain", spec);
  ASSERT_TRUE(big.ok());
  auto all = docs_->offers();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all.value().size(), 2u);
  std::map<std::string, json::object> by_owner;
  for (auto& o : all.value()) by_owner[owner_of(o)] = o.resource;
  auto& dflt = by_owner.at(std::string(c.value().resource.at("_rid").as_string()));
  EXPECT_EQ(dflt.at("content").at("offerThroughput"), 400);
  EXPECT_EQ(dflt.at("resource"), c.value().resource.at("_self"));
  EXPECT_EQ(dflt.at("_self").as_string(), "offers/" + std::string(dflt.at("id").as_string()) + "/");
  EXPECT_EQ(by_owner.at(std::string(big.value().resource.at("_rid").as_string())).at("content").at("offerThroughput"), 25100);
  // Replace: to autoscale and back; a stale If-Match and bad values are refused.
  std::string id(dflt.at("id").as_string());
  auto auto_ = docs_->replace_offer(id, api::Throughput{0, 50000});
  ASSERT_TRUE(auto_.ok()) << auto_.error().message;
  EXPECT_EQ(auto_.value().resource.at("content").at("offerAutopilotSettings").at("maxThroughput"), 50000);
  EXPECT_ERR(docs_->replace_offer(id, api::Throughput{500, 0}, std::string(dflt.at("_etag").as_string())), DocErrc::precondition_failed);
  EXPECT_ERR(docs_->replace_offer(id, api::Throughput{450, 0}), DocErrc::bad_request);
  EXPECT_ERR(docs_->replace_offer(id, api::Throughput{0, 1500}), DocErrc::bad_request);
  EXPECT_ERR(docs_->replace_offer("nope", api::Throughput{400, 0}), DocErrc::not_found);
  EXPECT_EQ(docs_->replace_offer(id, api::Throughput{500, 0}).value().resource.at("content").at("offerThroughput"), 500);
  EXPECT_EQ(docs_->offer(id).value().resource.at("content").at("offerThroughput"), 500);
  // A database with shared throughput: its containers get none unless they ask.
  ASSERT_TRUE(docs_->create_db("shared", api::Throughput{0, 4000}).ok());
  ASSERT_TRUE(docs_->create_container("shared", api::ContainerSpec::from_json(obj(R"({"id":"in","partitionKey":{"paths":["/pk"]}})")).value()).ok());
  EXPECT_EQ(docs_->offers().value().size(), 3u);
  EXPECT_ERR(docs_->create_db("bad", api::Throughput{399, 0}), DocErrc::bad_request);
  EXPECT_ERR(docs_->read_db("bad"), DocErrc::not_found);
  // Gone with their owners.
  ASSERT_TRUE(docs_->delete_container({"plain", "c"}).ok());
  EXPECT_ERR(docs_->offer(id), DocErrc::not_found);
  ASSERT_TRUE(docs_->delete_db("shared").ok());
  EXPECT_EQ(docs_->offers().value().size(), 1u);
}

TEST_P(DocumentStoreConformance, BadDatabaseIdsAreRefusedWithTheIdAndTheRule) {
  for (std::string id : std::vector<std::string>{"a/b", "a\\b", "a?b", "a#b", std::string(256, 'x'), "trailing ", ""}) {
    auto r = docs_->create_db(id);
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.error().code, DocErrc::bad_request) << id;
    EXPECT_NE(r.error().message.find("database id"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(docs_->create_db(std::string(255, 'x')).ok());
}

TEST_P(DocumentStoreConformance, ContainerKeepsPartitionKeyTtlIndexingAndUniqueKeys) {
  ASSERT_TRUE(docs_->create_db("db").ok());
  auto spec = api::ContainerSpec::from_json(obj(R"({"id":"orders","partitionKey":{"paths":["/customer/id"],"kind":"Hash","version":2},
    "defaultTtl":3600,"indexingPolicy":{"excludedPaths":[{"path":"/blob/*"}]},
    "uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/email"]}]}})"));
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  auto c = docs_->create_container("db", spec.value());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_ERR(docs_->create_container("db", spec.value()), DocErrc::conflict);
  auto read = docs_->read_container({"db", "orders"});
  ASSERT_TRUE(read.ok());
  const auto& res = read.value().resource;
  EXPECT_EQ(res.at("partitionKey").at("paths").as_array()[0], "/customer/id");
  EXPECT_EQ(res.at("partitionKey").at("kind"), "Hash");
  EXPECT_EQ(res.at("defaultTtl"), 3600);
  EXPECT_EQ(res.at("indexingPolicy").at("excludedPaths").as_array()[0].at("path"), "/blob/*");
  EXPECT_EQ(res.at("uniqueKeyPolicy").at("uniqueKeys").as_array()[0].at("paths").as_array()[0], "/email");
  for (auto* k : {"_rid", "_self", "_etag", "_ts", "_docs"}) EXPECT_TRUE(res.contains(k)) << k;
  EXPECT_EQ(res.at("_rid"), c.value().resource.at("_rid"));  // stable: the change feed checks it
  EXPECT_EQ(docs_->list_containers("db").value().size(), 1u);
  ASSERT_TRUE(docs_->delete_container({"db", "orders"}).ok());
  EXPECT_ERR(docs_->read_container({"db", "orders"}), DocErrc::not_found);
  EXPECT_ERR(docs_->create_container("nodb", spec.value()), DocErrc::not_found);
  EXPECT_ERR(docs_->list_containers("nodb"), DocErrc::not_found);
}

TEST_P(DocumentStoreConformance, BadContainerDefinitionsNameTheFieldAndTheFix) {
  for (std::string body : {R"({"partitionKey":{"paths":["/pk"]}})", R"({"id":"c","partitionKey":{"paths":["pk"]}})",
                           R"({"id":"c","partitionKey":{"paths":[]}})", R"({"id":"c","partitionKey":{"paths":["/a//b"]}})",
                           R"({"id":"c","defaultTtl":0})", R"({"id":"c","defaultTtl":-5})", R"({"id":"c","defaultTtl":"1"})",
                           R"({"id":"c","partitionKey":{"paths":["/a","/b"],"kind":"Hash"}})",
                           R"({"id":"c","indexingPolicy":{"excludedPaths":[{"path":"/x"}]}})", R"({"id":"c/d"})"}) {
    auto spec = api::ContainerSpec::from_json(obj(body));
    ASSERT_FALSE(spec.ok()) << body;
    EXPECT_EQ(spec.error().code, DocErrc::bad_request);
    EXPECT_FALSE(spec.error().message.empty());
  }
}

// --- items -----------------------------------------------------------------------------------

// vectorEmbeddingPolicy: kept and answered; each vector index needs an embedding of its path;
// the policy and the vector indexes are fixed once the container exists.
TEST_P(DocumentStoreConformance, VectorEmbeddingPolicyIsKeptCheckedAndFixed) {
  const char* good = R"({"id":"vec","partitionKey":{"paths":["/pk"]},
    "vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/v","dataType":"float32","dimensions":2,"distanceFunction":"cosine"}]},
    "indexingPolicy":{"vectorIndexes":[{"path":"/v","type":"flat"}]}})";
  auto c = make_container("vec", "/pk", obj(good));
  auto res = docs_->read_container(c).value().resource;
  EXPECT_EQ(res.at("vectorEmbeddingPolicy").at("vectorEmbeddings").as_array().size(), 1u);
  EXPECT_EQ(res.at("indexingPolicy").at("vectorIndexes").as_array().size(), 1u);
  auto unmatched = api::ContainerSpec::from_json(obj(R"({"id":"x","vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/v","dataType":"float32","dimensions":2,"distanceFunction":"cosine"}]},
    "indexingPolicy":{"vectorIndexes":[{"path":"/w","type":"flat"}]}})"));
  ASSERT_FALSE(unmatched.ok());
  EXPECT_NE(unmatched.error().message.find("w not matching in Embedding's path"), std::string::npos) << unmatched.error().message;
  EXPECT_FALSE(api::ContainerSpec::from_json(obj(R"({"id":"x","indexingPolicy":{"vectorIndexes":[{"path":"/v","type":"flat"}]}})")).ok());
  EXPECT_FALSE(api::ContainerSpec::from_json(obj(R"({"id":"x","vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/v","dataType":"float32","dimensions":0,"distanceFunction":"cosine"}]}})")).ok());
  EXPECT_FALSE(api::ContainerSpec::from_json(obj(R"({"id":"x","vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/v","dataType":"float32","dimensions":2,"distanceFunction":"manhattan"}]}})")).ok());
  // A replace that changes the vector indexes is refused; one that leaves the policy out keeps it.
  EXPECT_ERR(docs_->replace_container(c, obj(R"({"id":"vec","partitionKey":{"paths":["/pk"]},
    "vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/v","dataType":"float32","dimensions":2,"distanceFunction":"cosine"}]},
    "indexingPolicy":{"vectorIndexes":[{"path":"/v","type":"quantizedFlat"}]}})")), DocErrc::bad_request);
  auto kept = docs_->replace_container(c, obj(R"({"id":"vec","partitionKey":{"paths":["/pk"]},"defaultTtl":60,
    "indexingPolicy":{"vectorIndexes":[{"path":"/v","type":"flat"}]},
    "vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/v","dataType":"float32","dimensions":2,"distanceFunction":"cosine"}]}})"));
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept.value().resource.at("vectorEmbeddingPolicy"), res.at("vectorEmbeddingPolicy"));
}

TEST_P(DocumentStoreConformance, FullTextPolicyIsKeptCheckedAndRankingSeesTheWholeContainer) {
  auto c = make_container("texts", "/pk", obj(R"({"id":"texts","partitionKey":{"paths":["/pk"]},
    "fullTextPolicy":{"defaultLanguage":"en-US","fullTextPaths":[{"path":"/body","language":"en-US"}]},
    "indexingPolicy":{"fullTextIndexes":[{"path":"/body"}]}})"));
  auto res = docs_->read_container(c).value().resource;
  EXPECT_EQ(res.at("fullTextPolicy").at("fullTextPaths").at(0).at("path"), "/body");
  EXPECT_EQ(res.at("indexingPolicy").at("fullTextIndexes").as_array().size(), 1u);
  auto unlisted = api::ContainerSpec::from_json(obj(R"({"id":"x","indexingPolicy":{"fullTextIndexes":[{"path":"/title"}]}})"));
  ASSERT_FALSE(unlisted.ok());
  EXPECT_NE(unlisted.error().message.find("has no path in fullTextPolicy.fullTextPaths"), std::string::npos) << unlisted.error().message;
  EXPECT_FALSE(api::ContainerSpec::from_json(obj(R"({"id":"x","fullTextPolicy":{"fullTextPaths":[{"path":"body"}]}})")).ok());
  EXPECT_FALSE(api::ContainerSpec::from_json(obj(R"({"id":"x","fullTextPolicy":[]})")).ok());
  // Unlike the vector policy, a replace may change it (the service allows it).
  auto changed = docs_->replace_container(c, obj(R"({"id":"texts","partitionKey":{"paths":["/pk"]},
    "fullTextPolicy":{"defaultLanguage":"en-US","fullTextPaths":[{"path":"/title"}]}})"));
  ASSERT_TRUE(changed.ok()) << changed.error().message;
  EXPECT_EQ(changed.value().resource.at("fullTextPolicy").at("fullTextPaths").at(0).at("path"), "/title");

  // BM25 normalizes by the mean length of a text. Over partition "a" alone (1 and 2) the short
  // text 1 would rank first; over the whole container, which holds a long text in "b", the
  // text with the word twice (2) ranks first. The service measures over the whole container,
  // whatever WHERE keeps.
  std::string long_text;
  for (int i = 0; i < 60; ++i) long_text += "word ";
  json::object docs[] = {obj(R"({"id":"1","pk":"a","body":"bicycle"})"),
                         obj(R"({"id":"2","pk":"a","body":"bicycle bicycle one two three four"})"),
                         json::object{{"id", "3"}, {"pk", "b"}, {"body", long_text}},
                         obj(R"({"id":"4","pk":"c","body":"red bicycle"})"), obj(R"({"id":"5","pk":"b","body":"red"})")};
  for (auto& d : docs) ASSERT_TRUE(docs_->create(c, d, pk(d.at("pk"))).ok());
  auto ranked = [&](const std::string& sql) {
    std::vector<std::string> out;
    auto r = docs_->query(c, sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.error().message);
    if (r.ok())
      for (const auto& v : r.value().items) out.emplace_back(v.as_string());
    return out;
  };
  using S = std::vector<std::string>;
  EXPECT_EQ(ranked("SELECT VALUE c.id FROM c WHERE FullTextContains(c.body, 'red bicycle')"), (S{"4"}));
  EXPECT_EQ(ranked("SELECT VALUE c.id FROM c WHERE c.pk = 'a' ORDER BY RANK FullTextScore(c.body, 'bicycle')"), (S{"2", "1"}));
  EXPECT_EQ(ranked("SELECT VALUE c.id FROM c WHERE c.pk = 'a' ORDER BY c.id"), (S{"1", "2"}));
  auto plan_only = docs_->query(c, "SELECT c.id FROM c ORDER BY RANK RRF(FullTextScore(c.body, 'red'))");
  EXPECT_FALSE(plan_only.ok());
}

TEST_P(DocumentStoreConformance, ItemLifecycleWithSystemPropertiesAndEtags) {
  auto c = make_container("items");
  auto created = docs_->create(c, obj(R"({"id":"a1","pk":"p","n":1})"), pk("p"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  const auto& d = created.value().document;
  for (auto* k : {"_rid", "_self", "_etag", "_ts", "_attachments"}) EXPECT_TRUE(d.contains(k)) << k;
  EXPECT_FALSE(d.contains("_lsn"));  // as on the service, only the change feed shows it
  EXPECT_EQ(docs_->changes(c).value().items.at(0).at("_lsn"), 1);
  EXPECT_EQ(d.at("_etag").as_string(), created.value().etag);
  EXPECT_EQ(d.at("_ts"), clock_.now.load() / 1000);
  EXPECT_TRUE(created.value().created);
  EXPECT_EQ(created.value().lsn, 1);

  auto read = docs_->read(c, "a1", pk("p"));
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read.value().document, d);

  std::string etag1 = created.value().etag;
  auto replaced = docs_->replace(c, "a1", obj(R"({"id":"a1","pk":"p","n":2})"), etag1, pk("p"));
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_NE(replaced.value().etag, etag1);
  EXPECT_EQ(replaced.value().document.at("_rid"), d.at("_rid"));  // _rid survives a replace
  EXPECT_EQ(replaced.value().lsn, 2);

  auto stale = docs_->replace(c, "a1", obj(R"({"id":"a1","pk":"p","n":3})"), etag1, pk("p"));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, DocErrc::precondition_failed);
  EXPECT_NE(stale.error().message.find("a1"), std::string::npos);
  EXPECT_EQ(docs_->read(c, "a1", pk("p")).value().document.at("n"), 2);

  auto up = docs_->upsert(c, obj(R"({"id":"a1","pk":"p","n":4})"));
  ASSERT_TRUE(up.ok());
  EXPECT_FALSE(up.value().created);
  auto up2 = docs_->upsert(c, obj(R"({"id":"a2","pk":"p"})"));
  ASSERT_TRUE(up2.ok());
  EXPECT_TRUE(up2.value().created);

  EXPECT_ERR(docs_->remove(c, "a1", pk("p"), etag1), DocErrc::precondition_failed);
  ASSERT_TRUE(docs_->remove(c, "a1", pk("p"), up.value().etag).ok());
  EXPECT_ERR(docs_->read(c, "a1", pk("p")), DocErrc::not_found);
  EXPECT_ERR(docs_->remove(c, "a1", pk("p")), DocErrc::not_found);
  EXPECT_ERR(docs_->replace(c, "a1", obj(R"({"id":"a1","pk":"p"})")), DocErrc::not_found);
  EXPECT_ERR(docs_->read({"db", "nope"}, "a1", pk("p")), DocErrc::not_found);
}

// Item::text is the stored JSON of the item: what a write stored and what a read in either form
// finds, so a caller may send it on instead of serializing Item::document.
TEST_P(DocumentStoreConformance, ItemTextIsTheStoredDocument) {
  auto c = make_container("text");
  auto created = docs_->create(c, obj(R"({"id":"t1","pk":"p","n":[1,{"x":"y"}]})"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  if (!created.value().text.empty())
    EXPECT_EQ(json::parse(created.value().text), json::value(created.value().document));
  auto parsed = docs_->read(c, "t1", json::array{"p"});
  ASSERT_TRUE(parsed.ok());
  auto text = docs_->read(c, "t1", json::array{"p"}, api::ItemForm::text);
  ASSERT_TRUE(text.ok());
  ASSERT_FALSE(text.value().text.empty());
  EXPECT_TRUE(text.value().document.empty());
  EXPECT_EQ(json::parse(text.value().text), json::value(parsed.value().document));
  EXPECT_EQ(text.value().etag, parsed.value().etag);
  EXPECT_EQ(text.value().lsn, parsed.value().lsn);
  auto replaced = docs_->upsert(c, obj(R"({"id":"t1","pk":"p","n":2})"));
  ASSERT_TRUE(replaced.ok());
  auto after = docs_->read(c, "t1", json::array{"p"}, api::ItemForm::text);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(json::parse(after.value().text), json::value(replaced.value().document));
  EXPECT_FALSE(docs_->read(c, "none", json::array{"p"}, api::ItemForm::text).ok());
}

TEST_P(DocumentStoreConformance, DuplicateIdConflictsWithinItsLogicalPartitionOnly) {
  auto c = make_container("dups");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"x","pk":"a"})")).ok());
  auto dup = docs_->create(c, obj(R"({"id":"x","pk":"a","v":2})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, DocErrc::conflict);
  EXPECT_NE(dup.error().message.find("\"x\""), std::string::npos) << dup.error().message;
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"x","pk":"b"})")).ok());
  EXPECT_FALSE(docs_->read(c, "x", pk("a")).value().document.contains("v"));
}

TEST_P(DocumentStoreConformance, BadItemIdsAreRefused) {
  auto c = make_container("ids");
  // '?' and a trailing space are taken, as the service takes them in item ids (below).
  for (std::string id : std::vector<std::string>{"a/b", "a\\b", "a#b", std::string(256, 'i'), ""}) {
    json::object body{{"id", id}, {"pk", "p"}};
    auto r = docs_->create(c, body);
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.error().code, DocErrc::bad_request) << id;
    EXPECT_NE(r.error().message.find("id"), std::string::npos) << r.error().message;
  }
  EXPECT_ERR(docs_->create(c, obj(R"({"id":7,"pk":"p"})")), DocErrc::bad_request);
  EXPECT_ERR(docs_->create(c, obj(R"({"pk":"p"})")), DocErrc::bad_request);
  EXPECT_TRUE(docs_->create(c, json::object{{"id", std::string(255, 'i')}, {"pk", "p"}}).ok());
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"ünïcødé ✓","pk":"p"})")).ok());
  EXPECT_TRUE(docs_->read(c, "ünïcødé ✓", pk("p")).ok());
  EXPECT_EQ(docs_->feed(c).value().items.size(), 2u);  // nothing of the refused ones landed
  for (std::string id : {"a?b", "space ", "   "}) {
    ASSERT_TRUE(docs_->create(c, json::object{{"id", id}, {"pk", "p"}}).ok()) << id;
    EXPECT_TRUE(docs_->read(c, id, pk("p")).ok()) << id;
  }
}

TEST_P(DocumentStoreConformance, ItemOverTwoMegabytesIsTooLarge) {
  auto c = make_container("big");
  json::object body{{"id", "big"}, {"pk", "p"}, {"blob", std::string(api::kMaxItemBytes, 'x')}};
  auto r = docs_->create(c, body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, DocErrc::too_large);
  EXPECT_NE(r.error().message.find("2 MB"), std::string::npos) << r.error().message;
  EXPECT_ERR(docs_->read(c, "big", pk("p")), DocErrc::not_found);
  json::object ok{{"id", "fits"}, {"pk", "p"}, {"blob", std::string(api::kMaxItemBytes - 1024, 'x')}};
  EXPECT_TRUE(docs_->create(c, ok).ok());
}

TEST_P(DocumentStoreConformance, PartitionKeyMismatchesAreBadRequests) {
  auto c = make_container("pks");
  auto mismatch = docs_->create(c, obj(R"({"id":"a","pk":"x"})"), pk("y"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, DocErrc::bad_request);
  EXPECT_NE(mismatch.error().message.find("differs"), std::string::npos) << mismatch.error().message;
  // A body without the key property belongs to the undefined partition, not to ["x"].
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"b"})"), pk("x")), DocErrc::bad_request);
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"c","pk":"x"})"), (api::PartitionKey{"x", "y"})), DocErrc::bad_request);
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"d","pk":{"a":1}})")), DocErrc::bad_request);
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"e","pk":[1]})")), DocErrc::bad_request);
  EXPECT_ERR(docs_->read(c, "a", api::PartitionKey{}), DocErrc::bad_request);
  json::object long_pk{{"id", "f"}, {"pk", std::string(3000, 'k')}};
  EXPECT_ERR(docs_->create(c, long_pk), DocErrc::bad_request);
  // Undefined partition: [{}] addresses items without the key.
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"u"})"), api::PartitionKey{json::object()}).ok());
  EXPECT_TRUE(docs_->read(c, "u", api::PartitionKey{json::object()}).ok());
  EXPECT_ERR(docs_->read(c, "u", pk(nullptr)), DocErrc::not_found);  // null is not undefined
  // 1, 1.0 and 1e0 are one partition key value.
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"n","pk":1.0})"), pk(1)).ok());
  EXPECT_TRUE(docs_->read(c, "n", pk(1.0)).ok());
  EXPECT_EQ(docs_->feed(c).value().items.size(), 2u);
}

TEST_P(DocumentStoreConformance, NestedPartitionKeyPath) {
  auto c = make_container("nested", "/a/b");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"1","a":{"b":"k"}})"), pk("k")).ok());
  EXPECT_TRUE(docs_->read(c, "1", pk("k")).ok());
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"2","a":{"b":"k"}})"), pk("j")), DocErrc::bad_request);
  auto rows = docs_->query(c, "SELECT * FROM c WHERE c.a.b = 'k'");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ(rows.value().items.size(), 1u);
}

TEST_P(DocumentStoreConformance, HostileBodiesAreRefusedWithoutHarm) {
  auto c = make_container("hostile");
  {
    json::value v = 1;
    for (int i = 0; i < 10000; ++i) {
      json::object o;
      o["a"] = std::move(v);
      v = std::move(o);
    }
    json::object body{{"id", "deep"}, {"pk", "p"}, {"x", std::move(v)}};
    auto r = docs_->create(c, std::move(body));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, DocErrc::bad_request);
    EXPECT_NE(r.error().message.find("levels deep"), std::string::npos) << r.error().message;
  }
  json::object inf{{"id", "inf"}, {"pk", "p"}, {"x", std::numeric_limits<double>::infinity()}};
  EXPECT_ERR(docs_->create(c, inf), DocErrc::bad_request);
  json::object nan{{"id", "nan"}, {"pk", "p"}, {"x", json::array{std::nan("")}}};
  EXPECT_ERR(docs_->create(c, nan), DocErrc::bad_request);
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"t","pk":"p","ttl":0})")), DocErrc::bad_request);
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"t","pk":"p","ttl":"5"})")), DocErrc::bad_request);
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"t","pk":"p","ttl":null})")), DocErrc::bad_request);  // as the service
  // Big but finite numbers are values like any other.
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"big","pk":"p","u":18446744073709551615,"d":1.7e308})")).ok());
  EXPECT_EQ(docs_->feed(c).value().items.size(), 1u);
}

TEST_P(DocumentStoreConformance, ClientSystemPropertiesAreIgnoredAndIdCannotChange) {
  auto c = make_container("sys");
  auto r = docs_->create(c, obj(R"({"id":"s","pk":"p","_etag":"\"mine\"","_lsn":999,"_rid":"zz","_ts":1})"));
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r.value().document.at("_etag"), "\"mine\"");
  EXPECT_FALSE(r.value().document.contains("_lsn"));
  EXPECT_EQ(r.value().lsn, 1);
  EXPECT_NE(r.value().document.at("_rid"), "zz");
  // A read document can be sent back as is (the SDK's replace does).
  auto again = docs_->replace(c, "s", r.value().document, r.value().etag);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_ERR(docs_->replace(c, "s", obj(R"({"id":"other","pk":"p"})")), DocErrc::bad_request);
}

TEST_P(DocumentStoreConformance, LsnIncreasesWithEveryWriteIncludingDeletes) {
  auto c = make_container("lsn");
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto r = docs_->upsert(c, json::object{{"id", "i" + std::to_string(i % 2)}, {"pk", "p"}});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().lsn, last + 1);
    last = r.value().lsn;
  }
  ASSERT_TRUE(docs_->remove(c, "i0", pk("p")).ok());
  auto r = docs_->create(c, obj(R"({"id":"z","pk":"p"})"));
  EXPECT_EQ(r.value().lsn, last + 2);
  // Another container has its own sequence.
  auto other = make_container("lsn2");
  EXPECT_EQ(docs_->create(other, obj(R"({"id":"z","pk":"p"})")).value().lsn, 1);
}

TEST_P(DocumentStoreConformance, EverythingSurvivesAReopen) {
  auto c = make_container("durable");
  auto r = docs_->create(c, obj(R"({"id":"d","pk":"p","v":1})"));
  ASSERT_TRUE(r.ok());
  reopen();
  auto read = docs_->read(c, "d", pk("p"));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read.value().etag, r.value().etag);
  EXPECT_EQ(docs_->create(c, obj(R"({"id":"e","pk":"p"})")).value().lsn, 2);
  EXPECT_EQ(docs_->read_container(c).value().resource.at("partitionKey").at("paths").as_array()[0], "/pk");
}

// --- read feed and queries -------------------------------------------------------------------

TEST_P(DocumentStoreConformance, ReadFeedPagesThroughEveryItemOnce) {
  auto c = make_container("feed");
  for (int i = 0; i < 25; ++i)
    ASSERT_TRUE(docs_->create(c, json::object{{"id", "i" + std::to_string(i)}, {"pk", "p" + std::to_string(i % 3)}}).ok());
  std::set<std::string> seen;
  api::FeedOptions o;
  o.max_item_count = 10;
  int pages = 0;
  do {
    auto page = docs_->feed(c, o);
    ASSERT_TRUE(page.ok()) << page.error().message;
    EXPECT_LE(page.value().items.size(), 10u);
    for (auto& id : ids_of(page.value().items)) EXPECT_TRUE(seen.insert(id).second) << id;
    o.continuation = page.value().continuation;
    ++pages;
  } while (!o.continuation.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 3);
  // As the service pages a read feed: an exactly full last page still has a continuation,
  // and the page after it is empty, without one.
  api::FeedOptions exact;
  exact.max_item_count = 5;
  pages = 0;
  size_t last_size = 0;
  do {
    auto page = docs_->feed(c, exact);
    ASSERT_TRUE(page.ok()) << page.error().message;
    last_size = page.value().items.size();
    exact.continuation = page.value().continuation;
    ++pages;
  } while (!exact.continuation.empty() && pages < 10);
  EXPECT_EQ(pages, 6);
  EXPECT_EQ(last_size, 0u);
  api::FeedOptions one;
  one.partition_key = pk("p1");
  EXPECT_EQ(docs_->feed(c, one).value().items.size(), 8u);
  api::FeedOptions bad;
  bad.continuation = "not-a-token";
  EXPECT_ERR(docs_->feed(c, bad), DocErrc::bad_request);
  bad.continuation.clear();
  bad.max_item_count = 5000;
  EXPECT_ERR(docs_->feed(c, bad), DocErrc::bad_request);
}

TEST_P(DocumentStoreConformance, QueriesAnswerWithCosmosSemantics) {
  auto c = make_container("q");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"1","pk":"a","n":1,"s":"x","tags":["red","blue"]})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"2","pk":"a","n":5,"s":"y"})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"3","pk":"b","n":9,"s":"x"})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"4","pk":"b","n":"9","s":null})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"5","pk":"b","n":true})")).ok());
  auto ids = [&](std::string sql, json::object params = {}, api::FeedOptions o = {}) {
    auto r = docs_->query(c, sql, params, o);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? ids_of(r.value().items) : std::set<std::string>{};
  };
  using S = std::set<std::string>;
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.s = 'x'"), (S{"1", "3"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.n > 4"), (S{"2", "3"}));  // "9" and true are other types
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.n >= 1 AND c.n < 9"), (S{"1", "2"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.n BETWEEN 5 AND 9"), (S{"2", "3"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.n IN (1, '9')"), (S{"1", "4"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.s = null"), (S{"4"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.n = true"), (S{"5"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.tags[1] = 'blue'"), (S{"1"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.pk = 'b' AND c.n > 0"), (S{"3"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.id = @id", {{"@id", "2"}}), (S{"2"}));
  api::FeedOptions in_b;
  in_b.partition_key = pk("b");
  EXPECT_EQ(ids("SELECT * FROM c", {}, in_b), (S{"3", "4", "5"}));
  EXPECT_EQ(ids("SELECT * FROM c WHERE c.s = 'x'", {}, in_b), (S{"3"}));
  auto count = docs_->query(c, "SELECT VALUE COUNT(1) FROM c");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count.value().items.at(0), 5);
  auto top = docs_->query(c, "SELECT TOP 2 c.id FROM c WHERE IS_NUMBER(c.n) ORDER BY c.n DESC");
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top.value().items.size(), 2u);
  EXPECT_EQ(top.value().items[0].at("id"), "3");
  auto syntax = docs_->query(c, "SELECT * FORM c");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().code, DocErrc::bad_request);
  EXPECT_NE(syntax.error().message.find("FORM"), std::string::npos) << syntax.error().message;
  EXPECT_ERR(docs_->query({"db", "missing"}, "SELECT * FROM c"), DocErrc::not_found);
}

// The index only narrows: an indexed filter must answer exactly what the same filter answers
// when it cannot use the index (an arithmetic no-op makes it non-sargable).
TEST_P(DocumentStoreConformance, IndexedFiltersAgreeWithScans) {
  auto c = make_container("agree", "/pk", obj(R"({"indexingPolicy":{"excludedPaths":[{"path":"/hidden/?"}]}})"));
  std::mt19937 rng(7);
  std::string long_prefix(300, 'L');
  auto random_item = [&](int i) {
    json::object d{{"id", std::to_string(i)}, {"pk", "p" + std::to_string(i % 7)}};
    switch (rng() % 6) {
      case 0: d["v"] = static_cast<int64_t>(rng() % 50) - 25; break;
      case 1: d["v"] = (rng() % 1000) / 10.0; break;
      case 2: d["v"] = std::string(1, static_cast<char>('a' + rng() % 26)); break;
      case 3: d["v"] = long_prefix + std::to_string(rng() % 5); break;
      case 4: d["v"] = nullptr; break;
      default: break;  // undefined
    }
    d["hidden"] = static_cast<int64_t>(rng() % 10);
    if (rng() % 5) d["arr"] = json::array{static_cast<int64_t>(rng() % 4), "s"};
    return d;
  };
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(docs_->create(c, random_item(i)).ok());
  // Rewrites keep some index rows and change others (a value, its type, a path that appears
  // or goes away): the index must then agree with the rewritten items, not the first ones.
  for (int i = 0; i < 300; i += 2) ASSERT_TRUE(docs_->upsert(c, random_item(i)).ok());
  // Rewrites each filter so the index cannot help: the same truth, through a function call.
  std::vector<std::pair<std::string, std::string>> filters = {
      {"c.v = 3", "(c.v ?? undefined) = 3"},
      {"c.v > 10", "(c.v ?? undefined) > 10"},
      {"c.v <= -3.5", "(c.v ?? undefined) <= -3.5"},
      {"c.v >= 'm'", "(c.v ?? undefined) >= 'm'"},
      {"c.v < 'c'", "(c.v ?? undefined) < 'c'"},
      {"c.v = '" + long_prefix + "3'", "(c.v ?? undefined) = '" + long_prefix + "3'"},
      {"c.v > '" + long_prefix + "2'", "(c.v ?? undefined) > '" + long_prefix + "2'"},
      {"c.v IN (1, 'q', null)", "(c.v ?? undefined) IN (1, 'q', null)"},
      {"c.v BETWEEN 0 AND 20", "(c.v ?? undefined) BETWEEN 0 AND 20"},
      {"c.hidden = 4", "(c.hidden ?? undefined) = 4"},
      {"c.arr[0] = 2", "(c.arr[0] ?? undefined) = 2"},
      {"c.pk = 'p3' AND c.v > 0", "(c.pk ?? undefined) = 'p3' AND (c.v ?? undefined) > 0"},
      {"c._ts > 0", "(c._ts ?? undefined) > 0"},
  };
  for (auto& [indexed, scanned] : filters) {
    api::FeedOptions all;
    all.max_item_count = 1000;
    auto a = docs_->query(c, "SELECT * FROM c WHERE " + indexed, {}, all);
    auto b = docs_->query(c, "SELECT * FROM c WHERE " + scanned, {}, all);
    ASSERT_TRUE(a.ok()) << indexed << ": " << a.error().message;
    ASSERT_TRUE(b.ok()) << scanned << ": " << b.error().message;
    EXPECT_EQ(ids_of(a.value().items), ids_of(b.value().items)) << indexed;
    EXPECT_FALSE(b.value().items.empty() && indexed.find("hidden") != std::string::npos) << indexed;
  }
}

// ORDER BY with TOP / OFFSET LIMIT may be answered by walking an ordered index and stopping
// early (SQLite); whatever the backend does, the answer must be the first rows of the full
// ORDER BY answer. The values sort across types, tie, and share long string prefixes; then a
// document without the ORDER BY property (undefined sorts first) and one with an array there
// must appear where the full answer puts them.
TEST_P(DocumentStoreConformance, OrderedTopAgreesWithTheFullOrderedAnswer) {
  auto c = make_container("ordered");
  std::mt19937 rng(11);
  std::string long_prefix(300, 'L');
  for (int i = 0; i < 120; ++i) {
    json::object d{{"id", "d" + std::to_string(i)}, {"pk", "p" + std::to_string(i % 5)}, {"n", i}};
    switch (rng() % 6) {
      case 0: d["v"] = static_cast<int64_t>(rng() % 20) - 10; break;  // ties
      case 1: d["v"] = (rng() % 1000) / 10.0; break;
      case 2: d["v"] = std::string(1, static_cast<char>('a' + rng() % 26)); break;
      case 3: d["v"] = long_prefix + std::to_string(rng() % 7); break;
      case 4: d["v"] = nullptr; break;
      default: d["v"] = (rng() % 2) == 0; break;
    }
    ASSERT_TRUE(docs_->create(c, d).ok());
  }
  // Rows compared by their ORDER BY value (ties may come in any order) and, where the value is
  // unique in the answer, by id too.
  auto run = [&](const std::string& sql) {
    api::FeedOptions all;
    all.max_item_count = 1000;
    auto r = docs_->query(c, sql, {}, all);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.error().message);
    std::vector<std::string> out;
    if (r.ok())
      for (auto& row : r.value().items) out.push_back(row.is_object() && row.as_object().contains("v") ? json::serialize(row.as_object().at("v")) : "undefined");
    return out;
  };
  auto check_all = [&](const std::string& label) {
    for (std::string dir : {"", " DESC"}) {
      auto full = run("SELECT c.id, c.v FROM c ORDER BY c.v" + dir);
      ASSERT_GE(full.size(), 120u) << label;
      for (size_t k : {0u, 1u, 3u, 10u, 50u, 200u}) {
        auto top = run("SELECT TOP " + std::to_string(k) + " c.id, c.v FROM c ORDER BY c.v" + dir);
        std::vector<std::string> want(full.begin(), full.begin() + std::min(k, full.size()));
        EXPECT_EQ(top, want) << label << ": TOP " << k << dir;
      }
      auto window = run("SELECT c.id, c.v FROM c ORDER BY c.v" + dir + " OFFSET 7 LIMIT 9");
      EXPECT_EQ(window, std::vector<std::string>(full.begin() + 7, full.begin() + 16)) << label << ": OFFSET 7 LIMIT 9" << dir;
      // A WHERE the index cannot answer: the walk must keep feeding until TOP is full.
      auto where_full = run("SELECT c.id, c.v FROM c WHERE c.n % 9 = 0 ORDER BY c.v" + dir);
      auto where_top = run("SELECT TOP 4 c.id, c.v FROM c WHERE c.n % 9 = 0 ORDER BY c.v" + dir);
      EXPECT_EQ(where_top, std::vector<std::string>(where_full.begin(), where_full.begin() + 4)) << label << ": WHERE" << dir;
    }
  };
  check_all("every document has a scalar v");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"undef","pk":"p1","n":1000})")).ok());
  check_all("one document without v");
  auto first = run("SELECT TOP 1 c.id, c.v FROM c ORDER BY c.v");
  EXPECT_EQ(first, std::vector<std::string>{"undefined"});
  ASSERT_TRUE(docs_->remove(c, "undef", pk("p1")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"arr","pk":"p1","n":1001,"v":[1,2]})")).ok());
  check_all("one document with an array v");
  auto last = run("SELECT TOP 1 c.id, c.v FROM c ORDER BY c.v DESC");
  EXPECT_EQ(last, std::vector<std::string>{"[1,2]"});
  ASSERT_TRUE(docs_->remove(c, "arr", pk("p1")).ok());
  check_all("back to scalars only");
  // Writes of scalars after an ordered answer: the new lowest and highest values lead at once.
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"low","pk":"p2","n":1002,"v":null})")).ok());
  ASSERT_TRUE(docs_->upsert(c, obj(R"({"id":"d0","pk":"p0","n":0,"v":"zzzz"})")).ok());
  check_all("after scalar writes");
  EXPECT_EQ(run("SELECT TOP 1 c.id, c.v FROM c ORDER BY c.v DESC"), std::vector<std::string>{"\"zzzz\""});
}

// COUNT(1) over the whole container and over one partition counts live items only (expired
// ones may still be stored until the sweep).
TEST_P(DocumentStoreConformance, CountAnswersLiveItems) {
  auto c = make_container("count", "/pk", obj(R"({"defaultTtl":10})"));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(docs_->create(c, json::object{{"id", std::to_string(i)}, {"pk", i % 2 ? "odd" : "even"}, {"ttl", i < 5 ? 5 : -1}}).ok());
  auto count = [&](std::optional<std::string> partition) {
    api::FeedOptions o;
    if (partition) o.partition_key = pk(json::string(*partition));
    auto r = docs_->query(c, "SELECT VALUE COUNT(1) FROM c", {}, o);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() && r.value().items.size() == 1 ? r.value().items[0].to_number<int64_t>() : -1;
  };
  EXPECT_EQ(count(std::nullopt), 12);
  EXPECT_EQ(count("odd"), 6);
  clock_.advance_seconds(6);  // 0..4 expire: 0, 2, 4 even, 1, 3 odd
  EXPECT_EQ(count(std::nullopt), 7);
  EXPECT_EQ(count("odd"), 4);
  EXPECT_EQ(count("even"), 3);
  // Other COUNT shapes still run through the SQL engine and agree.
  auto r = docs_->query(c, "SELECT VALUE COUNT(c.id) FROM c WHERE c.pk = 'even'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().items.at(0), 3);
  auto obj_count = docs_->query(c, "SELECT COUNT(1) AS n FROM c");
  ASSERT_TRUE(obj_count.ok());
  EXPECT_EQ(obj_count.value().items.at(0).at("n"), 7);
}

// A container deleted and created again under the same name, with another partition key path
// and index policy, is served by its new definition at once (stores may cache definitions).
TEST_P(DocumentStoreConformance, RecreatedContainerIsServedByItsNewDefinition) {
  auto c = make_container("again");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"a","pk":"p","k":"x","v":1})")).ok());
  ASSERT_TRUE(docs_->read(c, "a", pk("p")).ok());
  ASSERT_EQ(docs_->query(c, "SELECT * FROM c WHERE c.v = 1").value().items.size(), 1u);
  ASSERT_TRUE(docs_->delete_container(c).ok());
  EXPECT_ERR(docs_->read(c, "a", pk("p")), DocErrc::not_found);  // a read just before: no cache hit
  auto c2 = make_container("again", "/k", obj(R"({"indexingPolicy":{"indexingMode":"none","automatic":false}})"));
  ASSERT_TRUE(docs_->create(c2, obj(R"({"id":"a","pk":"p","k":"y","v":2})")).ok());
  EXPECT_ERR(docs_->read(c2, "a", pk("p")), DocErrc::not_found);
  auto r = docs_->read(c2, "a", pk("y"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().document.at("v"), 2);
  EXPECT_EQ(docs_->query(c2, "SELECT * FROM c WHERE c.v = 2").value().items.size(), 1u);
  EXPECT_EQ(docs_->query(c2, "SELECT * FROM c WHERE c.v = 1").value().items.size(), 0u);
  auto top = docs_->query(c2, "SELECT TOP 1 c.id FROM c ORDER BY c.v");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top.value().items.size(), 1u);
}

TEST_P(DocumentStoreConformance, ReplacedContainerRecomputesExpiryAndRebuildsItsIndex) {
  auto c = make_container("repl", "/pk", obj(R"({"indexingPolicy":{"excludedPaths":[{"path":"/secret/*"}]}})"));
  for (int i = 0; i < 700; ++i)  // more than one slice of the rebuild
    ASSERT_TRUE(docs_->create(c, json::object{{"id", std::to_string(i)}, {"pk", "p" + std::to_string(i % 7)}, {"secret", i % 10}, {"n", i}}).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"own","pk":"p0","secret":3,"n":-1,"ttl":100})")).ok());
  auto secret3 = [&] { return docs_->query(c, "SELECT * FROM c WHERE c.secret = 3").value().items.size(); };
  auto n_below_5 = [&] { return docs_->query(c, "SELECT * FROM c WHERE c.n < 5").value().items.size(); };
  ASSERT_EQ(secret3(), 71u);  // an excluded path: answered by a scan
  ASSERT_EQ(n_below_5(), 6u);

  // Index everything, then exclude /n: the answers stay the same (from the new index rows, then
  // from a scan), so neither the rebuild nor the deletion of rows loses or invents an item.
  auto everything = docs_->replace_container(c, obj(R"({"id":"repl","partitionKey":{"paths":["/pk"],"kind":"Hash"}})"));
  ASSERT_TRUE(everything.ok()) << everything.error().message;
  EXPECT_EQ(secret3(), 71u);
  EXPECT_EQ(n_below_5(), 6u);
  // A write after the replace is indexed under the new policy (the connection's catalog
  // forgot the old definition): /secret is indexed now.
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"late","pk":"p1","secret":3,"n":-2})")).ok());
  EXPECT_EQ(secret3(), 72u);
  EXPECT_EQ(n_below_5(), 7u);
  auto no_n = docs_->replace_container(c, obj(R"({"id":"repl","indexingPolicy":{"excludedPaths":[{"path":"/n/?"}]}})"));
  ASSERT_TRUE(no_n.ok()) << no_n.error().message;
  // The given path, and /"_etag"/? which the service adds to every policy.
  EXPECT_EQ(json::serialize(no_n.value().resource.at("indexingPolicy").at("excludedPaths")), R"([{"path":"/n/?"},{"path":"/\"_etag\"/?"}])");
  EXPECT_EQ(no_n.value().spec.partition_key_paths, std::vector<std::string>{"/pk"});  // kept: not in the body
  EXPECT_EQ(secret3(), 72u);
  EXPECT_EQ(n_below_5(), 7u);
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"later","pk":"p2","secret":3,"n":-3})")).ok());  // under the new policy
  EXPECT_EQ(n_below_5(), 8u);
  auto lowest = docs_->query(c, "SELECT TOP 2 VALUE c.n FROM c ORDER BY c.n");
  ASSERT_TRUE(lowest.ok()) << lowest.error().message;
  ASSERT_EQ(lowest.value().items.size(), 2u);
  EXPECT_EQ(lowest.value().items[0], -3);
  EXPECT_EQ(lowest.value().items[1], -2);
  EXPECT_EQ(docs_->read_container(c).value().resource.at("_etag"), no_n.value().resource.at("_etag"));
  // If-Match: a stale _etag is refused and changes nothing; the current one is taken.
  std::string etag(no_n.value().resource.at("_etag").as_string());
  EXPECT_ERR(docs_->replace_container(c, obj(R"({"id":"repl","indexingPolicy":{"excludedPaths":[{"path":"/n/?"}]}})"), std::string("\"stale\"")),
             DocErrc::precondition_failed);
  EXPECT_TRUE(docs_->replace_container(c, obj(R"({"id":"repl","indexingPolicy":{"excludedPaths":[{"path":"/n/?"}]}})"), etag).ok());

  // TTL on: expiry from each item's last write; an item's own ttl still wins.
  clock_.advance_seconds(30);
  ASSERT_TRUE(docs_->upsert(c, json::object{{"id", "0"}, {"pk", "p0"}, {"secret", 0}, {"n", 0}}).ok());  // written now
  ASSERT_TRUE(docs_->replace_container(c, obj(R"({"id":"repl","defaultTtl":40})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"fresh","pk":"p3","n":100})")).ok());  // after the replace: the new TTL
  EXPECT_TRUE(docs_->read(c, "1", pk("p1")).ok());
  clock_.advance_seconds(11);  // 41 s after the first writes, 11 after item 0's and "fresh"'s
  EXPECT_ERR(docs_->read(c, "1", pk("p1")), DocErrc::not_found);
  EXPECT_TRUE(docs_->read(c, "0", pk("p0")).ok());
  EXPECT_TRUE(docs_->read(c, "fresh", pk("p3")).ok());
  EXPECT_TRUE(docs_->read(c, "own", pk("p0")).ok());
  EXPECT_EQ(n_below_5(), 2u);  // 0 and "own"
  clock_.advance_seconds(30);  // 41 s after item 0's and "fresh"'s writes
  EXPECT_ERR(docs_->read(c, "fresh", pk("p3")), DocErrc::not_found);
  EXPECT_ERR(docs_->read(c, "0", pk("p0")), DocErrc::not_found);
  EXPECT_TRUE(docs_->read(c, "own", pk("p0")).ok());  // its own ttl of 100 s
  // TTL off again: nothing expires any more, but what has expired stays gone.
  ASSERT_TRUE(docs_->replace_container(c, obj(R"({"id":"repl"})")).ok());
  clock_.advance_seconds(1000);
  EXPECT_TRUE(docs_->read(c, "own", pk("p0")).ok());
  EXPECT_ERR(docs_->read(c, "0", pk("p0")), DocErrc::not_found);
  EXPECT_ERR(docs_->read(c, "1", pk("p1")), DocErrc::not_found);

  // What cannot change is refused, naming it; the container is unchanged after.
  auto renamed = docs_->replace_container(c, obj(R"({"id":"other"})"));
  ASSERT_FALSE(renamed.ok());
  EXPECT_NE(renamed.error().message.find("cannot be renamed"), std::string::npos) << renamed.error().message;
  auto new_pk = docs_->replace_container(c, obj(R"({"id":"repl","partitionKey":{"paths":["/n"]}})"));
  ASSERT_FALSE(new_pk.ok());
  EXPECT_EQ(new_pk.error().code, DocErrc::bad_request);
  EXPECT_NE(new_pk.error().message.find("partition key"), std::string::npos) << new_pk.error().message;
  auto new_uk = docs_->replace_container(c, obj(R"({"id":"repl","uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/n"]}]}})"));
  ASSERT_FALSE(new_uk.ok());
  EXPECT_NE(new_uk.error().message.find("unique keys"), std::string::npos) << new_uk.error().message;
  EXPECT_ERR(docs_->replace_container({"db", "missing"}, obj(R"({"id":"missing"})")), DocErrc::not_found);
  EXPECT_EQ(docs_->read_container(c).value().spec.partition_key_paths, std::vector<std::string>{"/pk"});

  // The new definition outlives a restart.
  reopen();
  auto after = docs_->read_container(c).value().resource;
  EXPECT_FALSE(after.contains("defaultTtl"));                                   // the last replace's
  EXPECT_EQ(after.at("indexingPolicy").at("excludedPaths").as_array().size(), 1u);  // the default policy
  EXPECT_EQ(n_below_5(), 1u);  // "own"
}

TEST_P(DocumentStoreConformance, DeletedPartitionTakesOnlyItsOwnItemsAndIndexRows) {
  auto c = make_container("dp", "/pk", obj(R"({"uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/code"]}]}})"));
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(docs_->create(c, json::object{{"id", std::to_string(i)}, {"pk", i < 20 ? "gone" : "stays"}, {"code", i % 20}, {"n", i}}).ok());
  auto lsn_before = docs_->changes(c).value().continuation_lsn;
  auto d = docs_->delete_partition(c, pk("gone"));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d.value(), 20);
  EXPECT_ERR(docs_->read(c, "3", pk("gone")), DocErrc::not_found);
  EXPECT_TRUE(docs_->read(c, "23", pk("stays")).ok());
  EXPECT_EQ(docs_->query(c, "SELECT * FROM c WHERE c.n >= 0").value().items.size(), 10u);   // indexed filter
  EXPECT_EQ(docs_->query(c, "SELECT * FROM c WHERE c.code = 3").value().items.size(), 1u);  // "23"'s code
  EXPECT_EQ(docs_->feed(c).value().items.size(), 10u);
  EXPECT_GT(docs_->changes(c).value().continuation_lsn, lsn_before);  // the LSN moved on
  // Ids and unique values are free in that partition again; an empty partition deletes nothing.
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"3","pk":"gone","code":3})")).ok());
  EXPECT_EQ(docs_->delete_partition(c, pk("never")).value(), 0);
  EXPECT_ERR(docs_->delete_partition({"db", "missing"}, pk("gone")), DocErrc::not_found);
}

TEST_P(DocumentStoreConformance, QueryPagesWithContinuations) {
  auto c = make_container("qp");
  for (int i = 0; i < 23; ++i) ASSERT_TRUE(docs_->create(c, json::object{{"id", std::to_string(i)}, {"pk", "p"}, {"n", i}}).ok());
  api::FeedOptions o;
  o.max_item_count = 10;
  std::vector<int64_t> seen;
  for (int page = 0; page < 5; ++page) {
    auto r = docs_->query(c, "SELECT VALUE c.n FROM c ORDER BY c.n", {}, o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    for (auto& v : r.value().items) seen.push_back(v.as_int64());
    o.continuation = r.value().continuation;
    if (o.continuation.empty()) break;
  }
  ASSERT_EQ(seen.size(), 23u);
  for (int i = 0; i < 23; ++i) EXPECT_EQ(seen[i], i);
  for (const char* token : {"q:zz", R"({"token":"q:zz"})", R"({"token":7})", R"({"token":"qs"})"}) {
    o.continuation = token;
    EXPECT_ERR(docs_->query(c, "SELECT * FROM c", {}, o), DocErrc::bad_request);
  }
  // The continuation is JSON with the store's token and the range, as the service's are.
  o.continuation.clear();
  auto first = docs_->query(c, "SELECT VALUE c.n FROM c ORDER BY c.n", {}, o);
  auto token = json::parse(first.value().continuation);
  EXPECT_TRUE(token.at("token").is_string());
  EXPECT_EQ(token.at("range"), json::parse(R"({"min":"","max":"FF"})"));
}

// A query without ORDER BY, GROUP BY, DISTINCT or TOP pages by position: every row once, in
// order, each document read once over all pages (not once per page), a JOIN's rows split
// across pages, no empty page after an exactly full last one, from a scan, a partition and
// index candidates alike; a token that is not one of ours is refused.
TEST_P(DocumentStoreConformance, StreamingQueriesPageByPositionReadingEachDocumentOnce) {
  auto c = make_container("qs");
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(docs_->create(c, json::object{{"id", std::to_string(100 + i)}, {"pk", i % 2 ? "odd" : "even"}, {"n", i},
                                              {"tags", json::array{"a", "b", "c"}}, {"kind", i % 4 == 0 ? "four" : "other"}}).ok());
  struct Case { const char* sql; const char* pk; int page; size_t rows; int64_t docs; };
  for (const Case& k : {Case{"SELECT VALUE c.n FROM c", nullptr, 7, 40, 40}, Case{"SELECT VALUE c.n FROM c", nullptr, 10, 40, 40},
                        Case{"SELECT VALUE t FROM c JOIN t IN c.tags", nullptr, 7, 120, 40},
                        Case{"SELECT VALUE c.n FROM c WHERE c.n >= 30", nullptr, 4, 10, 10},
                        Case{"SELECT VALUE c.n FROM c WHERE c.kind = 'four'", nullptr, 3, 10, 10},
                        Case{"SELECT VALUE c.n FROM c", "odd", 6, 20, 20}}) {
    SCOPED_TRACE(std::string(k.sql) + " page " + std::to_string(k.page));
    auto paged = page_through(*docs_, c, k.sql, k.page, k.pk ? std::optional(pk(k.pk)) : std::nullopt);
    std::vector<std::string> seen;
    for (auto& v : paged.rows) seen.push_back(json::serialize(v));
    EXPECT_EQ(seen.size(), k.rows);
    // The same rows, in the same order, as one page holding everything.
    api::FeedOptions all;
    all.max_item_count = 1000;
    if (k.pk) all.partition_key = pk(k.pk);
    std::vector<std::string> whole;
    auto one_page = docs_->query(c, k.sql, {}, all);  // held: a range-for over .value() of a temporary dangles
    ASSERT_TRUE(one_page.ok());
    for (auto& v : one_page.value().items) whole.push_back(json::serialize(v));
    EXPECT_EQ(seen, whole);
    // Each document once, plus at most one re-read per page boundary (the resume document).
    EXPECT_LE(paged.docs_read, k.docs + paged.pages + 1);
  }
  api::FeedOptions bad;
  bad.continuation = "not-ours";
  EXPECT_ERR(docs_->query(c, "SELECT * FROM c", {}, bad), DocErrc::bad_request);
}

// ORDER BY on one indexed path over the whole container pages along the index: the rows of
// every page together are the query's answer (every matching item once, keys in order, checked
// here against the keys themselves, and the same rows as one page of the same query with
// OFFSET/LIMIT), each document is read about once over all pages, and index values that stand
// for several keys (strings cut in the index) are ordered by the engine. A container where
// some item lacks the path falls back to the re-run pages and still answers right; a token
// that is not ours is refused.
// Queries answered whole (GROUP BY, DISTINCT, TOP/OFFSET, ORDER BY with an indexed filter):
// the first page computes the answer and later pages continue it without reading the
// container again, showing the answer as it was at the first page.
TEST_P(DocumentStoreConformance, WholeAnswerQueriesPageWithoutReadingTheContainerAgain) {
  auto c = make_container("groups");
  for (int i = 0; i < 300; ++i)
    ASSERT_TRUE(docs_->create(c, json::object{{"id", "i" + std::to_string(i)}, {"pk", "p" + std::to_string(i % 7)}, {"g", i % 50}, {"n", i}}).ok());
  struct Case { const char* sql; size_t rows; std::optional<std::string> pk; };
  for (const Case& k : {Case{"SELECT c.g, COUNT(1) AS n, SUM(c.n) AS s FROM c GROUP BY c.g", 50, {}},
                        Case{"SELECT DISTINCT VALUE c.g FROM c", 50, {}},
                        Case{"SELECT TOP 120 c.id FROM c ORDER BY c.id", 120, {}},
                        Case{"SELECT c.id FROM c WHERE c.g = 3 ORDER BY c.n DESC", 6, {}},
                        Case{"SELECT c.g, COUNT(1) AS n FROM c GROUP BY c.g", 50, std::string("p3")}}) {
    SCOPED_TRACE(k.sql);
    auto paged = page_through(*docs_, c, k.sql, 7, k.pk ? std::optional(pk(json::value(json::string(*k.pk)))) : std::nullopt);
    api::FeedOptions all;
    all.max_item_count = 1000;
    if (k.pk) all.partition_key = pk(json::value(json::string(*k.pk)));
    auto one = docs_->query(c, k.sql, {}, all);
    ASSERT_TRUE(one.ok()) << one.error().message;
    std::vector<std::string> seen, whole;
    for (auto& v : paged.rows) seen.push_back(json::serialize(v));
    for (auto& v : one.value().items) whole.push_back(json::serialize(v));
    if (!k.pk) EXPECT_EQ(seen.size(), k.rows);
    EXPECT_EQ(seen, whole);
    // The documents are read for the first page only.
    EXPECT_EQ(paged.docs_read, one.value().stats.retrieved_documents);
  }
  // A change between pages does not show: the pages are the first page's answer.
  api::FeedOptions o;
  o.max_item_count = 10;
  const char* sql = "SELECT c.g, COUNT(1) AS n FROM c GROUP BY c.g";
  auto first = docs_->query(c, sql, {}, o);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"new","pk":"p0","g":1000,"n":0})")).ok());
  std::vector<json::value> rest;
  o.continuation = first.value().continuation;
  while (!o.continuation.empty()) {
    auto r = docs_->query(c, sql, {}, o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    for (auto& v : r.value().items) rest.push_back(v);
    o.continuation = r.value().continuation;
  }
  EXPECT_EQ(first.value().items.size() + rest.size(), 50u);
  // A page asked for again gets the same rows; a token of another query does not serve this
  // one's rows (that query is answered at the token's offset).
  o.continuation.clear();
  auto p1 = docs_->query(c, sql, {}, o);
  ASSERT_TRUE(p1.ok());
  o.continuation = p1.value().continuation;
  auto twice = [&] {
    auto r = docs_->query(c, sql, {}, o);
    std::string out;
    for (auto& v : r.value().items) out += json::serialize(v) + ",";
    return out;
  };
  std::string second = twice();
  EXPECT_EQ(twice(), second);
  EXPECT_EQ(second.find("null"), std::string::npos) << second;
  const char* other = "SELECT DISTINCT VALUE c.g FROM c";
  auto theirs = docs_->query(c, other, {}, o);
  ASSERT_TRUE(theirs.ok()) << theirs.error().message;
  ASSERT_FALSE(theirs.value().items.empty());
  EXPECT_TRUE(theirs.value().items[0].is_number()) << json::serialize(theirs.value().items[0]);
  // Tokens that are not ours are refused, also numbers too large to be one.
  for (const char* inner : {"q:", "q:5:", "q:5:x", "q:x:5", "q:5:123456789012345678901", "q:0:99999999999999999999",
                            "q:9999999999999:1"}) {
    api::FeedOptions bad;
    bad.continuation = json::serialize(json::object{{"token", inner}, {"range", json::object{{"min", ""}, {"max", "FF"}}}});
    EXPECT_ERR(docs_->query(c, sql, {}, bad), DocErrc::bad_request);
  }
}

TEST_P(DocumentStoreConformance, OrderByQueriesPageAlongTheIndexReadingEachDocumentOnce) {
  auto c = make_container("qo");
  const int kItems = 60;
  for (int i = 0; i < kItems; ++i) {
    std::string s(300, static_cast<char>('a' + i % 5));  // five groups sharing their indexed prefix
    s += std::to_string(1000 - i);
    ASSERT_TRUE(docs_->create(c, json::object{{"id", std::to_string(100 + i)}, {"pk", "p" + std::to_string(i % 3)}, {"i", i},
                                              {"n", (i * 7) % 20}, {"s", s}, {"big", int64_t{9007199254740992} + i % 3}}).ok());
  }
  struct Case { std::string sql; bool desc; int page; size_t rows; int64_t max_reads; };
  for (const Case& k : {Case{"SELECT VALUE {k: c.n, id: c.id} FROM c ORDER BY c.n", false, 7, 60, 60 + 10},
                        Case{"SELECT VALUE {k: c.n, id: c.id} FROM c WHERE c.i % 2 = 0 ORDER BY c.n DESC", true, 10, 30, 60 + 5},
                        Case{"SELECT VALUE {k: c.s, id: c.id} FROM c ORDER BY c.s", false, 4, 60, 60 * 4},
                        Case{"SELECT VALUE {k: c.s, id: c.id} FROM c ORDER BY c.s DESC", true, 5, 60, 60 * 4},
                        Case{"SELECT VALUE {k: c.big, id: c.id} FROM c ORDER BY c.big DESC", true, 6, 60, 60 + 11},
                        Case{"SELECT * FROM c ORDER BY c.n", false, 60, 60, 60 + 1},
                        Case{"SELECT VALUE {k: c.n, id: c.id} FROM c ORDER BY c.n", false, 1, 60, 60 * 2 + 1}}) {
    SCOPED_TRACE(k.sql + " page " + std::to_string(k.page));
    auto paged = page_through(*docs_, c, k.sql, k.page);
    const std::vector<json::value>& rows = paged.rows;
    ASSERT_EQ(rows.size(), k.rows);
    // Every matching item once, and the keys in order: numbers as doubles (as the engine
    // compares them, so the integers beyond 2^53 that share one are ties), strings bytewise.
    std::set<std::string> ids;
    for (auto& r : rows) ids.insert(std::string(r.at("id").as_string()));
    EXPECT_EQ(ids.size(), k.rows);
    auto key = [](const json::value& row) { return row.as_object().contains("k") ? row.at("k") : row.at("n"); };
    for (size_t i = 1; i < rows.size(); ++i) {
      const json::value &a = key(rows[i - 1]), &b = key(rows[i]);
      bool ordered = a.is_string() ? (k.desc ? a.as_string() >= b.as_string() : a.as_string() <= b.as_string())
                                   : (k.desc ? a.to_number<double>() >= b.to_number<double>() : a.to_number<double>() <= b.to_number<double>());
      EXPECT_TRUE(ordered) << "row " << i << ": " << json::serialize(a) << " then " << json::serialize(b);
    }
    // The same rows as the query answered in one page by the engine's ORDER BY with a limit.
    api::FeedOptions all;
    all.max_item_count = 1000;
    auto sorted = docs_->query(c, k.sql + " OFFSET 0 LIMIT 1000", {}, all);  // held: see above
    ASSERT_TRUE(sorted.ok()) << sorted.error().message;
    std::vector<std::string> seen, whole;
    for (auto& v : rows) seen.push_back(json::serialize(v));
    for (auto& v : sorted.value().items) whole.push_back(json::serialize(v));
    EXPECT_EQ(seen, whole);
    EXPECT_LE(paged.docs_read, k.max_reads);
  }
  // The long strings' true order (the indexed prefixes tie within each group).
  auto by_s = docs_->query(c, "SELECT VALUE c.s FROM c ORDER BY c.s", {}, [] { api::FeedOptions f; f.max_item_count = 1000; return f; }());
  ASSERT_TRUE(by_s.ok());
  std::vector<std::string> strings;
  for (auto& v : by_s.value().items) strings.emplace_back(v.as_string());
  EXPECT_TRUE(std::is_sorted(strings.begin(), strings.end()));
  EXPECT_EQ(strings.size(), static_cast<size_t>(kItems));

  // One item without the path: the pages are re-run (the index walk would miss it) and still
  // hold every row, the undefined key first.
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"none","pk":"p0"})")).ok());
  auto with_none = page_through(*docs_, c, "SELECT VALUE c.id FROM c ORDER BY c.n", 25);
  ASSERT_EQ(with_none.rows.size(), static_cast<size_t>(kItems + 1));
  EXPECT_EQ(with_none.rows.front(), "none");

  api::FeedOptions bad;
  bad.continuation = R"({"token":"WyJxbyIsIiEhIiwxXQ=="})";  // ["qo","!!",1]: not base64 inside
  ASSERT_TRUE(docs_->remove(c, "none", pk("p0")).ok());
  EXPECT_ERR(docs_->query(c, "SELECT * FROM c ORDER BY c.n", {}, bad), DocErrc::bad_request);
}

// --- change feed -----------------------------------------------------------------------------

TEST_P(DocumentStoreConformance, ChangeFeedGivesLatestVersionsInLsnOrder) {
  auto c = make_container("cf");
  auto empty = docs_->changes(c);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().not_modified);
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"a","pk":"1","v":1})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"b","pk":"2","v":1})")).ok());
  ASSERT_TRUE(docs_->upsert(c, obj(R"({"id":"a","pk":"1","v":2})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"gone","pk":"1"})")).ok());
  ASSERT_TRUE(docs_->remove(c, "gone", pk("1")).ok());
  auto all = docs_->changes(c);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all.value().items.size(), 2u);  // a once (latest), b; the deleted item not at all
  EXPECT_EQ(all.value().items[0].at("id"), "b");
  EXPECT_EQ(all.value().items[1].at("id"), "a");
  EXPECT_EQ(all.value().items[1].at("v"), 2);
  EXPECT_LT(all.value().items[0].at("_lsn").as_int64(), all.value().items[1].at("_lsn").as_int64());
  EXPECT_FALSE(all.value().not_modified);
  int64_t cont = all.value().continuation_lsn;
  EXPECT_EQ(cont, 5);

  api::ChangeFeedOptions next;
  next.start = {api::ChangeFeedStart::Kind::lsn, cont, 0};
  EXPECT_TRUE(docs_->changes(c, next).value().not_modified);
  EXPECT_EQ(docs_->changes(c, next).value().continuation_lsn, cont);
  ASSERT_TRUE(docs_->upsert(c, obj(R"({"id":"b","pk":"2","v":3})")).ok());
  auto more = docs_->changes(c, next);
  ASSERT_EQ(more.value().items.size(), 1u);
  EXPECT_EQ(more.value().items[0].at("v"), 3);

  // Paging: one item a page, continuing from each page's continuation.
  api::ChangeFeedOptions paged;
  paged.max_item_count = 1;
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    auto p = docs_->changes(c, paged);
    ASSERT_TRUE(p.ok());
    if (p.value().not_modified) break;
    for (auto& it : p.value().items) order.emplace_back(it.at("id").as_string());
    paged.start = {api::ChangeFeedStart::Kind::lsn, p.value().continuation_lsn, 0};
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));

  // From now: nothing, then exactly what came after.
  api::ChangeFeedOptions now;
  now.start.kind = api::ChangeFeedStart::Kind::now;
  auto n = docs_->changes(c, now);
  EXPECT_TRUE(n.value().not_modified);
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"late","pk":"1"})")).ok());
  api::ChangeFeedOptions after_now;
  after_now.start = {api::ChangeFeedStart::Kind::lsn, n.value().continuation_lsn, 0};
  auto late = docs_->changes(c, after_now);
  ASSERT_EQ(late.value().items.size(), 1u);
  EXPECT_EQ(late.value().items[0].at("id"), "late");

  // One partition.
  api::ChangeFeedOptions p1;
  p1.partition_key = pk("1");
  auto part = docs_->changes(c, p1);
  EXPECT_EQ(ids_of(std::vector<json::value>(part.value().items.begin(), part.value().items.end())), (std::set<std::string>{"a", "late"}));
  api::ChangeFeedOptions neg;
  neg.start = {api::ChangeFeedStart::Kind::lsn, -1, 0};
  EXPECT_ERR(docs_->changes(c, neg), DocErrc::bad_request);
  EXPECT_ERR(docs_->changes({"db", "none"}), DocErrc::not_found);
}

// AllVersionsAndDeletes: with a changeFeedPolicy every change is kept, in LSN order, as
// {current?, metadata}: each version of an item, each delete (with its id and partition key),
// a partition's deletion as one delete per item; pages never split one LSN; only "now" and
// continuations start it; a container without the policy, or a continuation from before the
// policy was switched on, is refused rather than answered with changes missing.
TEST_P(DocumentStoreConformance, AllVersionsFeedGivesEveryChangeAndDelete) {
  auto c = make_container("avad", "/pk", obj(R"({"changeFeedPolicy":{"retentionDuration":5}})"));
  EXPECT_EQ(docs_->read_container(c).value().resource.at("changeFeedPolicy").at("retentionDuration"), 5);
  api::ChangeFeedOptions o;
  o.all_versions = true;
  o.start.kind = api::ChangeFeedStart::Kind::now;
  auto now = docs_->changes(c, o);
  ASSERT_TRUE(now.ok()) << now.error().message;
  EXPECT_TRUE(now.value().not_modified);
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"a","pk":"p1","v":1})")).ok());
  ASSERT_TRUE(docs_->upsert(c, obj(R"({"id":"a","pk":"p1","v":2})")).ok());
  ASSERT_TRUE(docs_->upsert(c, obj(R"({"id":"a","pk":"p1","v":3})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"b","pk":"p2","v":1})")).ok());
  ASSERT_TRUE(docs_->remove(c, "a", pk("p1")).ok());
  for (const char* id : {"x", "y", "z"}) ASSERT_TRUE(docs_->create(c, json::object{{"id", id}, {"pk", "p3"}}).ok());
  ASSERT_EQ(docs_->delete_partition(c, pk("p3")).value(), 3);

  // Page by two: every page holds at most two changes, the partition's three deletes too
  // (each at its own LSN), so a huge partition's deletion never makes one huge page.
  std::vector<json::object> all;
  o.start.kind = api::ChangeFeedStart::Kind::lsn;
  o.start.lsn = now.value().continuation_lsn;
  o.max_item_count = 2;
  for (int pages = 0; pages < 20; ++pages) {
    auto p = docs_->changes(c, o);
    ASSERT_TRUE(p.ok()) << p.error().message;
    if (p.value().not_modified) break;
    EXPECT_LE(p.value().items.size(), 2u);
    for (auto& ch : p.value().items) all.push_back(ch);
    o.start.lsn = p.value().continuation_lsn;
  }
  auto op = [](const json::object& ch) { return std::string(ch.at("metadata").at("operationType").as_string()); };
  auto lsn = [](const json::object& ch) { return ch.at("metadata").at("lsn").as_int64(); };
  ASSERT_EQ(all.size(), 11u);
  std::vector<std::string> ops;
  for (auto& ch : all) ops.push_back(op(ch));
  EXPECT_EQ(ops, (std::vector<std::string>{"create", "replace", "replace", "create", "delete", "create", "create", "create",
                                           "delete", "delete", "delete"}));
  EXPECT_EQ(all[0].at("current").at("v"), 1);
  EXPECT_EQ(all[1].at("current").at("v"), 2);
  EXPECT_EQ(all[2].at("current").at("v"), 3);
  EXPECT_EQ(all[1].at("metadata").at("previousImageLSN").as_int64(), lsn(all[0]));  // the version it replaced
  EXPECT_EQ(all[2].at("metadata").at("previousImageLSN").as_int64(), lsn(all[1]));
  EXPECT_FALSE(all[0].at("metadata").as_object().contains("previousImageLSN"));
  const auto& del = all[4];
  EXPECT_EQ(op(del), "delete");
  EXPECT_FALSE(del.contains("current"));
  EXPECT_EQ(del.at("metadata").at("id"), "a");
  EXPECT_EQ(del.at("metadata").at("partitionKey"), (json::value{{"pk", "p1"}}));
  EXPECT_EQ(del.at("metadata").at("timeToLiveExpired"), false);
  EXPECT_EQ(del.at("metadata").at("previousImageLSN").as_int64(), lsn(all[2]));
  EXPECT_EQ(all[10].at("metadata").at("id"), "z");
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(lsn(all[i - 1]), lsn(all[i]));  // one change per LSN

  // One partition only.
  o.start.lsn = now.value().continuation_lsn;
  o.max_item_count = -1;
  o.partition_key = pk("p2");
  auto p2 = docs_->changes(c, o);
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2.value().items.size(), 1u);
  EXPECT_EQ(p2.value().items[0].at("current").at("id"), "b");
  o.partition_key.reset();

  // Refusals: from the beginning or a time, and a container that keeps no changes.
  o.start.kind = api::ChangeFeedStart::Kind::beginning;
  auto begin = docs_->changes(c, o);
  EXPECT_ERR(begin, DocErrc::bad_request);
  EXPECT_NE(begin.error().message.find("You must read the change feed from within the retention period."), std::string::npos);
  auto plain = make_container("plain");
  o.start.kind = api::ChangeFeedStart::Kind::now;
  auto none = docs_->changes(plain, o);
  EXPECT_ERR(none, DocErrc::bad_request);
  EXPECT_NE(none.error().message.find("changeFeedPolicy"), std::string::npos);
  EXPECT_FALSE(api::ContainerSpec::from_json(obj(R"({"id":"x","changeFeedPolicy":{"retentionDuration":-1}})")).ok());

  // Switched on by a replace: a continuation from before would miss what was not kept.
  ASSERT_TRUE(docs_->create(plain, obj(R"({"id":"early","pk":"p"})")).ok());
  auto before = docs_->changes(plain, api::ChangeFeedOptions{});
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(docs_->replace_container(plain, obj(R"({"id":"plain","partitionKey":{"paths":["/pk"]},"changeFeedPolicy":{"retentionDuration":1}})")).ok());
  ASSERT_TRUE(docs_->create(plain, obj(R"({"id":"late","pk":"p"})")).ok());
  o.start.kind = api::ChangeFeedStart::Kind::lsn;
  o.start.lsn = 0;
  EXPECT_ERR(docs_->changes(plain, o), DocErrc::bad_request);
  o.start.lsn = before.value().continuation_lsn;
  auto late = docs_->changes(plain, o);
  ASSERT_TRUE(late.ok()) << late.error().message;
  ASSERT_EQ(late.value().items.size(), 1u);
  EXPECT_EQ(late.value().items[0].at("current").at("id"), "late");
}

TEST_P(DocumentStoreConformance, ChangeFeedFromATime) {
  auto c = make_container("cft");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"old","pk":"p"})")).ok());
  clock_.advance_seconds(10);
  int64_t t = clock_.now.load();
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"new","pk":"p"})")).ok());
  api::ChangeFeedOptions o;
  o.start = {api::ChangeFeedStart::Kind::time, 0, t};
  auto r = docs_->changes(c, o);
  ASSERT_EQ(r.value().items.size(), 1u);
  EXPECT_EQ(r.value().items[0].at("id"), "new");
}

// --- TTL -------------------------------------------------------------------------------------

TEST_P(DocumentStoreConformance, ExpiredItemsAreInvisibleEverywhere) {
  auto c = make_container("ttl", "/pk", obj(R"({"defaultTtl":10})"));
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"short","pk":"p","n":1})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"forever","pk":"p","n":1,"ttl":-1})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"long","pk":"p","n":1,"ttl":100})")).ok());
  clock_.advance_seconds(11);
  EXPECT_ERR(docs_->read(c, "short", pk("p")), DocErrc::not_found);
  EXPECT_EQ(ids_of(docs_->feed(c).value().items), (std::set<std::string>{"forever", "long"}));
  EXPECT_EQ(ids_of(docs_->query(c, "SELECT * FROM c WHERE c.n = 1").value().items), (std::set<std::string>{"forever", "long"}));
  EXPECT_EQ(docs_->changes(c).value().items.size(), 2u);
  EXPECT_ERR(docs_->replace(c, "short", obj(R"({"id":"short","pk":"p"})")), DocErrc::not_found);
  // The id is free again.
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"short","pk":"p"})")).ok());
  clock_.advance_seconds(100);
  EXPECT_ERR(docs_->read(c, "long", pk("p")), DocErrc::not_found);
  EXPECT_TRUE(docs_->read(c, "forever", pk("p")).ok());

  // Without a container defaultTtl, an item's ttl does nothing (as in the service).
  auto none = make_container("nottl");
  ASSERT_TRUE(docs_->create(none, obj(R"({"id":"x","pk":"p","ttl":1})")).ok());
  clock_.advance_seconds(5);
  EXPECT_TRUE(docs_->read(none, "x", pk("p")).ok());
}

// --- Effects: documents commit with queue writes ---------------------------------------------

TEST_P(DocumentStoreConformance, EffectsCommitDocumentsAndQueueWritesTogether) {
  auto c = make_container("fx");
  auto& fx_store = GetParam()->effects(*store_);
  auto queues = GetParam()->queues(*store_);
  std::mutex mu;
  std::vector<api::CommitNotice> notices;
  fx_store.set_notice_listener([&](const api::CommitNotice& n) {
    std::lock_guard lk(mu);
    notices.push_back(n);
  });
  api::QueueRef q{"devstoreaccount1", "out"};
  auto commit = [&](api::Effects fx) {
    std::promise<api::QueueResult<api::CommitReceipt>> p;
    auto f = p.get_future();
    fx_store.commit(std::move(fx), [&p](api::QueueResult<api::CommitReceipt> r) { p.set_value(std::move(r)); });
    return f.get();
  };
  api::Effects ok;
  ok.put({q, "hello"}).upsert(c, obj(R"({"id":"d1","pk":"p"})")).upsert(c, obj(R"({"id":"d2","pk":"p"})"));
  ok.writes.emplace_back(api::DocumentUpsert{c, obj(R"({"id":"d1","pk":"p","v":2})"), pk("p")});
  auto r = commit(std::move(ok));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r.value().writes.size(), 4u);
  auto& d1 = std::get<api::DocumentReceipt>(r.value().writes[1]);
  EXPECT_TRUE(d1.created);
  EXPECT_EQ(d1.lsn, 1);
  EXPECT_FALSE(std::get<api::DocumentReceipt>(r.value().writes[3]).created);
  EXPECT_EQ(docs_->read(c, "d1", pk("p")).value().document.at("v"), 2);
  {
    std::lock_guard lk(mu);
    int doc_notices = 0;
    for (auto& n : notices)
      if (auto* d = std::get_if<api::DocumentChanged>(&n)) {
        ++doc_notices;
        EXPECT_EQ(d->container, c);
        EXPECT_EQ(d->lsn, 3);  // one notice per container per commit, its highest LSN
      }
    EXPECT_EQ(doc_notices, 1);
  }

  // A document write that fails undoes the whole Effects, queue put included.
  api::Effects bad;
  bad.put({q, "must not land"}).upsert({"db", "no-such-container"}, obj(R"({"id":"x","pk":"p"})"));
  auto failed = commit(std::move(bad));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("no-such-container"), std::string::npos) << failed.error().message;
  api::Effects bad_body;
  bad_body.upsert(c, obj(R"({"id":"a/b","pk":"p"})"));
  EXPECT_EQ(commit(std::move(bad_body)).error().code, api::QueueErrc::invalid_argument);
  api::Effects del;
  del.writes.emplace_back(api::DocumentDelete{c, "d2", pk("p")});
  ASSERT_TRUE(commit(std::move(del)).ok());
  EXPECT_ERR(docs_->read(c, "d2", pk("p")), DocErrc::not_found);
  auto msgs = SyncQueueStore::wait<std::vector<api::QueueMessage>>([&](auto cb) { queues->peek_messages(q, 32, cb); });
  ASSERT_TRUE(msgs.ok()) << msgs.error().message;
  ASSERT_EQ(msgs.value().size(), 1u);
  EXPECT_EQ(msgs.value()[0].text, "hello");
  fx_store.set_notice_listener(nullptr);
}

// A change-feed batch's outputs commit only with its lease's advance: a lease someone else
// changed (stale If-Match) or deleted fails the whole Effects, outputs included, with the
// codes the trigger reads as "lost the lease".
TEST_P(DocumentStoreConformance, LeaseAdvanceCommitsWithTheOutputsOrNotAtAll) {
  auto leases = make_container("leases", "/id");
  auto out = make_container("out");
  auto& fx_store = GetParam()->effects(*store_);
  auto commit = [&](api::Effects fx) {
    std::promise<api::QueueResult<api::CommitReceipt>> p;
    auto f = p.get_future();
    fx_store.commit(std::move(fx), [&p](api::QueueResult<api::CommitReceipt> r) { p.set_value(std::move(r)); });
    return f.get();
  };
  auto lease = docs_->create(leases, obj(R"({"id":"L","ContinuationToken":"\"0\""})"));
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  auto advance = [&](const std::string& etag, const char* token, const char* doc_id) {
    api::Effects fx;
    fx.upsert(out, obj(std::string(R"({"id":")") + doc_id + R"(","pk":"p"})"));
    auto body = obj(std::string(R"({"id":"L","ContinuationToken":")") + token + "\"}");
    fx.acknowledge(api::LeaseAdvance{leases, body, pk("L"), etag});
    return commit(std::move(fx));
  };
  auto ok = advance(lease.value().etag, "5", "o1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  ASSERT_TRUE(ok.value().lease.has_value());
  auto now = docs_->read(leases, "L", pk("L"));
  EXPECT_EQ(now.value().etag, ok.value().lease->etag);
  EXPECT_EQ(now.value().document.at("ContinuationToken"), "5");
  EXPECT_TRUE(docs_->read(out, "o1", pk("p")).ok());

  // The old _etag is stale now: nothing of this Effects lands.
  auto stale = advance(lease.value().etag, "9", "o2");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, api::QueueErrc::pop_receipt_mismatch) << stale.error().message;
  EXPECT_ERR(docs_->read(out, "o2", pk("p")), DocErrc::not_found);
  EXPECT_EQ(docs_->read(leases, "L", pk("L")).value().document.at("ContinuationToken"), "5");

  ASSERT_TRUE(docs_->remove(leases, "L", pk("L")).ok());
  auto gone = advance(ok.value().lease->etag, "9", "o3");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, api::QueueErrc::message_not_found) << gone.error().message;
  EXPECT_ERR(docs_->read(out, "o3", pk("p")), DocErrc::not_found);
}

TEST_P(DocumentStoreConformance, ConcurrentWritersEachGetADistinctLsn) {
  auto c = make_container("conc");
  constexpr int kWrites = 500;
  std::mutex mu;
  std::set<int64_t> lsns;
  std::promise<void> all;
  std::atomic<int> done{0};
  for (int i = 0; i < kWrites; ++i)
    store_->upsert_item(c, std::nullopt, json::object{{"id", std::to_string(i % 50)}, {"pk", "p"}}, [&](api::DocResult<api::Item> r) {
      EXPECT_TRUE(r.ok());
      if (r.ok()) {
        std::lock_guard lk(mu);
        lsns.insert(r.value().lsn);
      }
      if (++done == kWrites) all.set_value();
    });
  all.get_future().get();
  EXPECT_EQ(lsns.size(), static_cast<size_t>(kWrites));
  EXPECT_EQ(*lsns.rbegin(), kWrites);
  EXPECT_EQ(docs_->changes(c).value().items.size(), 50u);
}


// --- partial update (PATCH) ------------------------------------------------------------------

namespace {
int64_t container_lsn(SyncDocs& d, const api::ContainerRef& c) {
  api::ChangeFeedOptions now;
  now.start.kind = api::ChangeFeedStart::Kind::now;
  return d.changes(c, now).value().continuation_lsn;
}
}  // namespace

TEST_P(DocumentStoreConformance, PatchAppliesEachOperationAsTheServiceDefinesIt) {
  auto c = make_container("patch");
  // The example of "Partial document update in Azure Cosmos DB", plus the array cases.
  auto made = docs_->create(c, obj(R"({"id":"bike","pk":"road","name":"R-410","price":455.95,"inventory":{"quantity":15},
    "used":false,"tags":["r-series"],"n":1})"));
  ASSERT_TRUE(made.ok()) << made.error().message;
  auto p = docs_->patch(c, "bike", pk("road"), R"([
    {"op":"add","path":"/color","value":"silver"},
    {"op":"remove","path":"/used"},
    {"op":"set","path":"/price","value":355.45},
    {"op":"incr","path":"/inventory/quantity","value":10},
    {"op":"add","path":"/tags/-","value":"featured-bikes"},
    {"op":"move","from":"/color","path":"/inventory/color"},
    {"op":"add","path":"/tags/0","value":"first"},
    {"op":"set","path":"/tags/1","value":"R-SERIES"},
    {"op":"replace","path":"/name","value":"R-420"},
    {"op":"incr","path":"/views","value":-3}])");
  ASSERT_TRUE(p.ok()) << p.error().message;
  const auto& d = p.value().document;
  EXPECT_EQ(d.at("price"), 355.45);
  EXPECT_FALSE(d.contains("used"));
  EXPECT_FALSE(d.contains("color"));
  EXPECT_EQ(d.at("inventory"), json::parse(R"({"quantity":25,"color":"silver"})"));
  EXPECT_EQ(d.at("tags"), json::parse(R"(["first","R-SERIES","featured-bikes"])"));
  EXPECT_EQ(d.at("name"), "R-420");
  EXPECT_EQ(d.at("views"), -3);  // incr of a missing field creates it with the increment
  EXPECT_TRUE(d.at("inventory").at("quantity").is_int64());  // integers stay integers
  // A write like any other: new etag and LSN, the change feed and reads see it.
  EXPECT_NE(p.value().etag, made.value().etag);
  EXPECT_EQ(p.value().lsn, made.value().lsn + 1);
  EXPECT_EQ(docs_->read(c, "bike", pk("road")).value().document, d);
  auto feed = docs_->changes(c);
  ASSERT_EQ(feed.value().items.size(), 1u);
  EXPECT_EQ(feed.value().items[0].at("_lsn"), p.value().lsn);
  // incr with a double makes a double; remove and replace of array elements shift / overwrite.
  auto q = docs_->patch(c, "bike", pk("road"), R"([{"op":"incr","path":"/n","value":0.5},
    {"op":"remove","path":"/tags/0"},{"op":"replace","path":"/tags/1","value":"last"},{"op":"incr","path":"/inventory/quantity","value":-25}])");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q.value().document.at("n"), 1.5);
  EXPECT_EQ(q.value().document.at("tags"), json::parse(R"(["R-SERIES","last"])"));
  EXPECT_EQ(q.value().document.at("inventory").at("quantity"), 0);
  // Escaped property names: ~1 is '/', ~0 is '~'.
  auto e = docs_->patch(c, "bike", pk("road"), R"([{"op":"set","path":"/a~1b~0c","value":1}])");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e.value().document.at("a/b~c"), 1);
}

TEST_P(DocumentStoreConformance, PatchRefusesWhatTheServiceRefusesAndChangesNothing) {
  auto c = make_container("patchbad");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"a","pk":"p","s":"text","arr":[1,2],"o":{"x":1}})")).ok());
  int64_t before = container_lsn(*docs_, c);
  std::string eleven = "[";
  for (int i = 0; i < 11; ++i) eleven += std::string(i ? "," : "") + R"({"op":"set","path":"/f)" + std::to_string(i) + R"(","value":1})";
  eleven += "]";
  struct Case { const char* why; std::string ops; const char* says; };
  std::vector<Case> cases = {
      {"remove of a missing path", R"([{"op":"remove","path":"/missing"}])", "does not exist"},
      {"replace of a missing path", R"([{"op":"replace","path":"/missing","value":1}])", "does not exist"},
      {"incr on a string", R"([{"op":"incr","path":"/s","value":1}])", "not a number"},
      {"incr by a string", R"([{"op":"incr","path":"/n","value":"1"}])", "not a number"},
      {"add beyond the array's end", R"([{"op":"add","path":"/arr/3","value":1}])", "beyond the end"},
      {"remove beyond the array's end", R"([{"op":"remove","path":"/arr/2"}])", "does not exist"},
      {"a missing parent", R"([{"op":"set","path":"/none/deeper","value":1}])", "does not exist"},
      {"a scalar parent", R"([{"op":"set","path":"/s/x","value":1}])", "not an object or array"},
      {"a path without '/'", R"([{"op":"set","path":"x","value":1}])", "start with '/'"},
      {"the id", R"([{"op":"set","path":"/id","value":"b"}])", "id cannot change"},
      {"a system property", R"([{"op":"set","path":"/_etag","value":"x"}])", "system property"},
      {"the partition key", R"([{"op":"set","path":"/pk","value":"q"}])", "partition key"},
      {"move from a missing path", R"([{"op":"move","from":"/missing","path":"/y"}])", "does not exist"},
      {"move into itself", R"([{"op":"move","from":"/o","path":"/o/inner"}])", "into itself"},
      {"11 operations", eleven, "at most 10"},
      {"no operations", "[]", "no operations"},
      // The first operations succeed, the last fails: nothing of it is kept.
      {"a failing last operation", R"([{"op":"set","path":"/kept","value":1},{"op":"remove","path":"/missing"}])", "does not exist"},
  };
  for (auto& k : cases) {
    auto r = docs_->patch(c, "a", pk("p"), k.ops);
    ASSERT_FALSE(r.ok()) << k.why;
    EXPECT_EQ(r.error().code, DocErrc::bad_request) << k.why;
    EXPECT_NE(r.error().message.find(k.says), std::string::npos) << k.why << ": " << r.error().message;
  }
  EXPECT_EQ(container_lsn(*docs_, c), before);
  EXPECT_EQ(docs_->read(c, "a", pk("p")).value().lsn, before);
  EXPECT_FALSE(docs_->read(c, "a", pk("p")).value().document.contains("kept"));
}

TEST_P(DocumentStoreConformance, PatchHonoursIfMatchAndItsCondition) {
  auto c = make_container("patchcond");
  auto made = docs_->create(c, obj(R"({"id":"a","pk":"p","status":"open","n":1})"));
  ASSERT_TRUE(made.ok());
  const char* ops = R"([{"op":"incr","path":"/n","value":1}])";
  EXPECT_ERR(docs_->patch(c, "a", pk("p"), ops, "FROM c WHERE c.status = 'closed'"), DocErrc::precondition_failed);
  auto ok = docs_->patch(c, "a", pk("p"), ops, "FROM c WHERE c.status = 'open' AND c.n < 5");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok.value().document.at("n"), 2);
  EXPECT_ERR(docs_->patch(c, "a", pk("p"), ops, "", made.value().etag), DocErrc::precondition_failed);
  auto matched = docs_->patch(c, "a", pk("p"), ops, "", ok.value().etag);
  ASSERT_TRUE(matched.ok()) << matched.error().message;
  EXPECT_EQ(matched.value().document.at("n"), 3);
  EXPECT_ERR(docs_->patch(c, "missing", pk("p"), ops), DocErrc::not_found);
  EXPECT_ERR(docs_->patch(c, "a", pk("other"), ops), DocErrc::not_found);
  EXPECT_ERR(docs_->patch({"db", "nope"}, "a", pk("p"), ops), DocErrc::not_found);
}

// --- transactional batch and bulk ------------------------------------------------------------

namespace {
api::BatchOperation bop(api::BatchOperation::Type t, std::string id, std::string_view body = "{}") {
  api::BatchOperation o;
  o.type = t;
  o.id = std::move(id);
  o.body = obj(body);
  return o;
}
api::BatchOperation bpatch(std::string id, std::string_view ops) {
  api::BatchOperation o;
  o.type = api::BatchOperation::Type::patch;
  o.id = std::move(id);
  o.patch.operations = patch_ops(ops);
  return o;
}
std::vector<int> statuses(const std::vector<api::BatchOperationResult>& r) {
  std::vector<int> out;
  for (auto& x : r) out.push_back(x.status);
  return out;
}
using T = api::BatchOperation::Type;
}  // namespace

TEST_P(DocumentStoreConformance, TransactionalBatchRunsEveryOperationInOrder) {
  auto c = make_container("batch");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"old","pk":"p","v":1})")).ok());
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"doomed","pk":"p"})")).ok());
  int64_t before = container_lsn(*docs_, c);
  auto r = docs_->batch(c, pk("p"), {bop(T::create, "", R"({"id":"new","pk":"p","v":1})"), bop(T::upsert, "", R"({"id":"old","pk":"p","v":2})"),
                                     bpatch("new", R"([{"op":"incr","path":"/v","value":41}])"), bop(T::read, "new"), bop(T::remove, "doomed"),
                                     bop(T::replace, "old", R"({"id":"old","pk":"p","v":3})"), bop(T::upsert, "", R"({"id":"fresh","pk":"p"})")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(statuses(r.value()), (std::vector<int>{201, 200, 200, 200, 204, 200, 201}));
  EXPECT_EQ(r.value()[3].item->document.at("v"), 42);  // the read sees the batch's own writes
  EXPECT_EQ(r.value()[5].item->document.at("v"), 3);
  // Every write took its own LSN, in order.
  EXPECT_EQ(container_lsn(*docs_, c), before + 6);
  EXPECT_EQ(r.value()[0].item->lsn, before + 1);
  EXPECT_EQ(r.value()[6].item->lsn, before + 6);
  EXPECT_ERR(docs_->read(c, "doomed", pk("p")), DocErrc::not_found);
  EXPECT_EQ(docs_->read(c, "old", pk("p")).value().document.at("v"), 3);
  auto feed = docs_->changes(c);
  EXPECT_EQ(ids_of(std::vector<json::value>(feed.value().items.begin(), feed.value().items.end())), (std::set<std::string>{"new", "old", "fresh"}));
}

// The per-container counts /metrics shows follow creates, upserts that insert or replace,
// deletes, batches (a failed one counts nothing) and Effects writes, and survive a reopen.
TEST_P(DocumentStoreConformance, ItemCountsFollowEveryKindOfWrite) {
  auto a = make_container("counted-a");
  auto b = make_container("counted-b");
  auto count_of = [&](const api::ContainerRef& c) -> int64_t {
    auto r = docs_->item_counts();
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return -1;
    for (auto& e : r.value())
      if (e.ref == c) return e.items;
    return -1;
  };
  EXPECT_EQ(count_of(a), 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(docs_->create(a, obj(R"({"pk":"p","id":")" + std::to_string(i) + "\"}")).ok());
  ASSERT_TRUE(docs_->upsert(a, obj(R"({"id":"0","pk":"p","v":1})")).ok());  // replaces
  ASSERT_TRUE(docs_->upsert(a, obj(R"({"id":"9","pk":"p"})")).ok());        // inserts
  ASSERT_TRUE(docs_->replace(a, "1", obj(R"({"id":"1","pk":"p","v":2})")).ok());
  ASSERT_TRUE(docs_->remove(a, "2", pk("p")).ok());
  EXPECT_FALSE(docs_->remove(a, "2", pk("p")).ok());  // already gone: counts nothing
  EXPECT_EQ(count_of(a), 3);
  ASSERT_TRUE(docs_->batch(b, pk("q"), {bop(T::create, "", R"({"id":"x","pk":"q"})"), bop(T::create, "", R"({"id":"y","pk":"q"})"),
                                        bop(T::remove, "x")}).ok());
  auto failed = docs_->batch(b, pk("q"), {bop(T::create, "", R"({"id":"z","pk":"q"})"), bop(T::create, "", R"({"id":"y","pk":"q"})")});
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(statuses(failed.value()), (std::vector<int>{424, 409}));
  EXPECT_EQ(count_of(b), 1);
  reopen();
  EXPECT_EQ(count_of(a), 3);
  EXPECT_EQ(count_of(b), 1);
}

TEST_P(DocumentStoreConformance, FailedTransactionalBatchAppliesNothing) {
  auto c = make_container("batchfail");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"taken","pk":"p","v":1})")).ok());
  auto snapshot = docs_->read(c, "taken", pk("p")).value();
  int64_t before = container_lsn(*docs_, c);
  auto changes_before = docs_->changes(c).value().items.size();
  // Three operations succeed, the fourth conflicts: the failing one carries 409, the others
  // 424, and none of the three is kept.
  auto r = docs_->batch(c, pk("p"), {bop(T::create, "", R"({"id":"x","pk":"p"})"), bop(T::upsert, "", R"({"id":"taken","pk":"p","v":99})"),
                                     bop(T::remove, "taken"), bop(T::create, "", R"({"id":"x","pk":"p"})"), bop(T::create, "", R"({"id":"y","pk":"p"})")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(statuses(r.value()), (std::vector<int>{424, 424, 424, 409, 424}));
  ASSERT_TRUE(r.value()[3].error.has_value());
  EXPECT_EQ(r.value()[3].error->code, DocErrc::conflict);
  EXPECT_FALSE(r.value()[0].item.has_value());
  EXPECT_EQ(container_lsn(*docs_, c), before);
  EXPECT_ERR(docs_->read(c, "x", pk("p")), DocErrc::not_found);
  EXPECT_EQ(docs_->read(c, "taken", pk("p")).value().document, snapshot.document);
  EXPECT_EQ(docs_->changes(c).value().items.size(), changes_before);
  // Other failures roll back the same way: a bad patch, a stale If-Match, a missing item.
  auto stale = bop(T::replace, "taken", R"({"id":"taken","pk":"p"})");
  stale.if_match = "\"not-the-etag\"";
  for (auto& failing : std::vector<api::BatchOperation>{bpatch("taken", R"([{"op":"remove","path":"/nope"}])"), stale, bop(T::read, "missing")}) {
    auto f = docs_->batch(c, pk("p"), {bop(T::create, "", R"({"id":"z","pk":"p"})"), failing});
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f.value()[0].status, 424);
    EXPECT_GE(f.value()[1].status, 400);
    EXPECT_NE(f.value()[1].status, 424);
    EXPECT_ERR(docs_->read(c, "z", pk("p")), DocErrc::not_found);
  }
  EXPECT_EQ(container_lsn(*docs_, c), before);
}

TEST_P(DocumentStoreConformance, TransactionalBatchStaysInOnePartitionAndWithinLimits) {
  auto c = make_container("batchlim");
  auto other = bop(T::read, "a");
  other.partition_key = pk("q");
  auto r = docs_->batch(c, pk("p"), {bop(T::create, "", R"({"id":"a","pk":"p"})"), other});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, DocErrc::bad_request);
  EXPECT_NE(r.error().message.find("one logical partition"), std::string::npos) << r.error().message;
  // A body of another partition fails as its operation (400), the rest 424.
  auto body = docs_->batch(c, pk("p"), {bop(T::create, "", R"({"id":"a","pk":"p"})"), bop(T::create, "", R"({"id":"b","pk":"q"})")});
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(statuses(body.value()), (std::vector<int>{424, 400}));
  std::vector<api::BatchOperation> many;
  for (int i = 0; i < 101; ++i) many.push_back(bop(T::create, "", R"({"id":"i)" + std::to_string(i) + R"(","pk":"p"})"));
  auto too_many = docs_->batch(c, pk("p"), many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("at most 100"), std::string::npos);
  many.pop_back();
  auto hundred = docs_->batch(c, pk("p"), many);
  ASSERT_TRUE(hundred.ok()) << hundred.error().message;
  EXPECT_EQ(hundred.value().size(), 100u);
  EXPECT_EQ(docs_->feed(c, {.max_item_count = 1000}).value().items.size(), 100u);
  EXPECT_ERR(docs_->batch(c, std::nullopt, {bop(T::read, "i1")}), DocErrc::bad_request);
  EXPECT_ERR(docs_->batch(c, pk("p"), {}), DocErrc::bad_request);
  EXPECT_ERR(docs_->batch({"db", "nope"}, pk("p"), {bop(T::read, "i1")}), DocErrc::not_found);
}

TEST_P(DocumentStoreConformance, BulkRunsEachOperationOnItsOwn) {
  auto c = make_container("bulk");
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"dup","pk":"b"})")).ok());
  auto read_a = bop(T::read, "a");
  read_a.partition_key = pk("a");
  auto no_pk = bop(T::remove, "a");  // bulk reads, deletes and patches name their partition
  api::BatchOptions bulk{.atomic = false, .continue_on_error = true};
  auto r = docs_->batch(c, std::nullopt, {bop(T::create, "", R"({"id":"a","pk":"a"})"), bop(T::create, "", R"({"id":"dup","pk":"b"})"),
                                          bop(T::create, "", R"({"id":"c","pk":"c"})"), read_a, no_pk}, bulk);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(statuses(r.value()), (std::vector<int>{201, 409, 201, 200, 400}));
  EXPECT_TRUE(docs_->read(c, "a", pk("a")).ok());
  EXPECT_TRUE(docs_->read(c, "c", pk("c")).ok());
  // Without continue-on-error: what ran before the failure stays, the rest is not run (424).
  api::BatchOptions stop{.atomic = false, .continue_on_error = false};
  auto s = docs_->batch(c, std::nullopt, {bop(T::create, "", R"({"id":"d","pk":"d"})"), bop(T::create, "", R"({"id":"dup","pk":"b"})"),
                                          bop(T::create, "", R"({"id":"e","pk":"e"})")}, stop);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(statuses(s.value()), (std::vector<int>{201, 409, 424}));
  EXPECT_TRUE(docs_->read(c, "d", pk("d")).ok());
  EXPECT_ERR(docs_->read(c, "e", pk("e")), DocErrc::not_found);
}

// --- unique keys -----------------------------------------------------------------------------

TEST_P(DocumentStoreConformance, UniqueKeysAreEnforcedPerLogicalPartition) {
  auto c = make_container("users", "/tenant", obj(R"({"uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/email"]},{"paths":["/first","/last"]}]}})"));
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"u1","tenant":"t1","email":"a@x","first":"Ada","last":"L"})")).ok());
  auto dup = docs_->create(c, obj(R"({"id":"u2","tenant":"t1","email":"a@x"})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, DocErrc::conflict);
  EXPECT_NE(dup.error().message.find("/email"), std::string::npos) << dup.error().message;
  EXPECT_NE(dup.error().message.find("u1"), std::string::npos) << dup.error().message;
  // Another logical partition has its own values.
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"u2","tenant":"t2","email":"a@x","first":"Ada","last":"L"})")).ok());
  // Composite key: both values together.
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"u3","tenant":"t1","email":"b@x","first":"Ada","last":"M"})")).ok());
  auto both = docs_->create(c, obj(R"({"id":"u4","tenant":"t1","email":"c@x","first":"Ada","last":"L"})"));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("(/first, /last)"), std::string::npos) << both.error().message;
  // A missing value is null, and null is a value: only one item may lack it.
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"n1","tenant":"t1","first":"N","last":"1"})")).ok());
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"n2","tenant":"t1","first":"N","last":"2"})")), DocErrc::conflict);
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"n3","tenant":"t1","email":null,"first":"N","last":"3"})")), DocErrc::conflict);
  // 1 and 1.0 are one value.
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"num1","tenant":"t3","email":1})")).ok());
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"num2","tenant":"t3","email":1.0})")), DocErrc::conflict);
  // An item keeps its own values through replace and upsert; taking another's is a conflict.
  EXPECT_TRUE(docs_->replace(c, "u1", obj(R"({"id":"u1","tenant":"t1","email":"a@x","first":"Ada","last":"L","v":2})")).ok());
  EXPECT_ERR(docs_->replace(c, "u3", obj(R"({"id":"u3","tenant":"t1","email":"a@x","first":"Ada","last":"M"})")), DocErrc::conflict);
  EXPECT_ERR(docs_->upsert(c, obj(R"({"id":"u3","tenant":"t1","email":"a@x","first":"Ada","last":"M"})")), DocErrc::conflict);
  EXPECT_ERR(docs_->patch(c, "u3", pk("t1"), R"([{"op":"set","path":"/email","value":"a@x"}])"), DocErrc::conflict);
  // A value given up is free: by replace, patch, delete.
  ASSERT_TRUE(docs_->patch(c, "u1", pk("t1"), R"([{"op":"set","path":"/email","value":"z@x"}])").ok());
  EXPECT_TRUE(docs_->patch(c, "u3", pk("t1"), R"([{"op":"set","path":"/email","value":"a@x"}])").ok());
  ASSERT_TRUE(docs_->remove(c, "u3", pk("t1")).ok());
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"u5","tenant":"t1","email":"a@x"})")).ok());
  // A batch that would break a key applies nothing.
  auto b = docs_->batch(c, pk("t1"), {bop(T::create, "", R"({"id":"b1","tenant":"t1","email":"new@x","first":"B","last":"1"})"),
                                      bop(T::create, "", R"({"id":"b2","tenant":"t1","email":"new@x","first":"B","last":"2"})")});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(statuses(b.value()), (std::vector<int>{424, 409}));
  EXPECT_ERR(docs_->read(c, "b1", pk("t1")), DocErrc::not_found);
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"b3","tenant":"t1","email":"new@x","first":"B","last":"3"})")).ok());
  // Enforced after a reopen too (the entries are stored, not rebuilt).
  reopen();
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"b4","tenant":"t1","email":"new@x"})")), DocErrc::conflict);
}

TEST_P(DocumentStoreConformance, UniqueKeysAreFreedByExpiryAndPolicyErrorsAreNamed) {
  auto c = make_container("uttl", "/pk", obj(R"({"defaultTtl":10,"uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/code"]}]}})"));
  ASSERT_TRUE(docs_->create(c, obj(R"({"id":"a","pk":"p","code":"X"})")).ok());
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"b","pk":"p","code":"X"})")), DocErrc::conflict);
  clock_.advance_seconds(11);
  EXPECT_TRUE(docs_->create(c, obj(R"({"id":"b","pk":"p","code":"X"})")).ok());
  EXPECT_ERR(docs_->create(c, obj(R"({"id":"c","pk":"p","code":"X"})")), DocErrc::conflict);

  for (std::string policy : {R"({"uniqueKeys":"x"})", R"({"uniqueKeys":[{"paths":[]}]})", R"({"uniqueKeys":[{"paths":["email"]}]})",
                             R"({"uniqueKeys":[{"paths":["/a/*"]}]})", R"({"other":1})"}) {
    auto spec = api::ContainerSpec::from_json(obj(R"({"id":"bad","partitionKey":{"paths":["/pk"]},"uniqueKeyPolicy":)" + policy + "}"));
    ASSERT_TRUE(spec.ok()) << policy;
    auto r = docs_->create_container("db", spec.value());
    ASSERT_FALSE(r.ok()) << policy;
    EXPECT_EQ(r.error().code, DocErrc::bad_request);
    EXPECT_NE(r.error().message.find("uniqueKeyPolicy"), std::string::npos) << r.error().message;
  }
}

}  // namespace nimbus::conformance
