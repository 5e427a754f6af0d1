// Table-driven tests of the Cosmos DB SQL engine: every testdata/*.json file holds shared
// documents and cases {name, query, params?, docs?, expect: [rows in order] | error:
// {position, token, code?}, note?}. Plus tests of the query plan, the index hints, limits and
// the no-throw guarantee on hostile input.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>

#include "documents/query/query.h"
#include "documents/query/value.h"

namespace nimbus::docsql {
namespace {

namespace json = boost::json;

json::value load(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::vector<json::object> as_docs(const json::value& v) {
  std::vector<json::object> docs;
  if (v.is_array())
    for (const auto& d : v.get_array()) docs.push_back(d.as_object());
  return docs;
}

json::value rows_json(const std::vector<json::value>& rows) {
  return json::value(json::array(rows.begin(), rows.end()));
}

// Runs one case; returns a failure description or "".
std::string run_case(const json::object& c, const std::vector<json::object>& shared_docs) {
  std::string query(c.at("query").as_string());
  json::object params;
  if (auto* p = c.if_contains("params")) params = p->as_object();
  std::vector<json::object> docs = shared_docs;
  if (auto* d = c.if_contains("docs")) docs = as_docs(*d);
  Limits limits;
  if (auto* l = c.if_contains("max_buffered_rows")) limits.max_buffered_rows = l->to_number<size_t>();

  auto q = parse_query(query);
  std::optional<QueryError> err;
  std::vector<json::value> rows;
  if (!q) {
    err = q.error();
  } else {
    VectorSource src(docs);
    auto r = execute(**q, params, src, limits);
    if (!r)
      err = r.error();
    else
      rows = std::move(r.value());
  }
  if (auto* e = c.if_contains("error")) {
    if (!err) return "expected an error, got rows " + json::serialize(rows_json(rows));
    const auto& eo = e->as_object();
    std::string got = "got " + err->to_string() + " [" + error_code_name(err->code) + "]";
    if (auto* p = eo.if_contains("position"))
      if (p->to_number<int64_t>() != static_cast<int64_t>(err->position)) return "wrong position: " + got;
    if (auto* t = eo.if_contains("token"))
      if (t->as_string() != err->token) return "wrong token: " + got;
    if (auto* k = eo.if_contains("code"))
      if (k->as_string() != error_code_name(err->code)) return "wrong code: " + got;
    if (err->message.empty()) return "empty message: " + got;
    return "";
  }
  if (err) return "unexpected error: " + err->to_string();
  const auto& want = c.at("expect").as_array();
  bool same = want.size() == rows.size();
  for (size_t i = 0; same && i < rows.size(); ++i) same = deep_equal(want[i], rows[i]);
  if (!same)
    return "rows differ\n  want " + json::serialize(want) + "\n  got  " +
           json::serialize(rows_json(rows));
  return "";
}

TEST(DocSqlTable, AllCases) {
  std::filesystem::path dir(NIMBUS_DOCSQL_TESTDATA);
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.path().extension() == ".json") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  size_t total = 0;
  for (const auto& f : files) {
    json::value data = load(f);
    auto docs = as_docs(data.as_object().contains("docs") ? data.at("docs") : json::value());
    for (const auto& c : data.at("cases").as_array()) {
      const auto& co = c.as_object();
      ++total;
      std::string why = run_case(co, docs);
      EXPECT_EQ(why, "") << f.filename().string() << " / " << co.at("name").as_string()
                         << "\n  query: " << co.at("query").as_string();
    }
  }
  std::printf("docsql table: %zu cases in %zu files\n", total, files.size());
  EXPECT_GE(total, 150u);
}

std::shared_ptr<const Query> must_parse(std::string_view text) {
  auto q = parse_query(text);
  EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error().to_string());
  return q.ok() ? q.value() : nullptr;
}

TEST(DocSqlPlan, SimpleQueryPlanShape) {
  auto q = must_parse("SELECT * FROM c WHERE c.a = 1");
  ASSERT_TRUE(q);
  json::object plan = query_plan(*q);
  EXPECT_EQ(plan.at("partitionedQueryExecutionInfoVersion").as_int64(), 2);
  const auto& info = plan.at("queryInfo").as_object();
  EXPECT_EQ(info.at("distinctType").as_string(), "None");
  EXPECT_TRUE(info.at("top").is_null());
  EXPECT_TRUE(info.at("offset").is_null());
  EXPECT_TRUE(info.at("limit").is_null());
  EXPECT_TRUE(info.at("orderBy").as_array().empty());
  EXPECT_TRUE(info.at("aggregates").as_array().empty());
  EXPECT_FALSE(info.at("hasSelectValue").as_bool());
  const auto& r = plan.at("queryRanges").as_array().at(0).as_object();
  EXPECT_EQ(r.at("min").as_string(), "");
  EXPECT_EQ(r.at("max").as_string(), "FF");
  EXPECT_TRUE(r.at("isMinInclusive").as_bool());
  EXPECT_FALSE(r.at("isMaxInclusive").as_bool());
}

TEST(DocSqlPlan, OrderTopOffsetDistinct) {
  auto q = must_parse("SELECT DISTINCT TOP 5 c.a FROM c ORDER BY c.a DESC, c[\"b c\"]");
  ASSERT_TRUE(q);
  json::object plan1 = query_plan(*q);
  const auto& info = plan1.at("queryInfo").as_object();
  EXPECT_EQ(info.at("distinctType").as_string(), "Ordered");
  EXPECT_EQ(info.at("top").as_int64(), 5);
  EXPECT_EQ(json::serialize(info.at("orderBy")), R"(["Descending","Ascending"])");
  EXPECT_EQ(json::serialize(info.at("orderByExpressions")), R"(["c.a","c[\"b c\"]"])");

  auto q2 = must_parse("SELECT DISTINCT VALUE c.a FROM c OFFSET 10 LIMIT 20");
  ASSERT_TRUE(q2);
  json::object plan2 = query_plan(*q2);
  const auto& i2 = plan2.at("queryInfo").as_object();
  EXPECT_EQ(i2.at("distinctType").as_string(), "Unordered");
  EXPECT_EQ(i2.at("offset").as_int64(), 10);
  EXPECT_EQ(i2.at("limit").as_int64(), 20);
  EXPECT_TRUE(i2.at("hasSelectValue").as_bool());
}

// What a client does with a hybrid plan (the JS SDK's HybridQueryExecutionContext), done here
// with the engine itself: the statistics query, its numbers put into each component query's
// placeholders, the component queries, RRF over their rows (k = 60, equal scores share a
// rank, weights from the plan), then skip and take. The order must be the one the engine gives
// the ORDER BY RANK query directly.
std::vector<std::string> run_hybrid_plan(const json::object& plan, const std::vector<json::object>& docs,
                                         const json::object& params = {}) {
  const auto& h = plan.at("hybridSearchQueryInfo").as_object();
  auto run = [&](const std::string& text) {
    auto q = parse_query(text);
    EXPECT_TRUE(q) << text << "\n" << (q ? "" : q.error().message);
    VectorSource src(docs);
    auto r = execute(**q, params, src);
    EXPECT_TRUE(r) << text;
    return r ? r.value() : std::vector<json::value>{};
  };
  auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
  };
  std::vector<json::value> stats;
  if (h.at("requiresGlobalStatistics").as_bool()) stats = run(std::string(h.at("globalStatisticsQuery").as_string()));
  const auto& components = h.at("componentQueryInfos").as_array();
  std::map<std::string, json::array> scores;  // _rid -> componentScores
  std::map<std::string, json::value> payloads;
  std::vector<bool> ascending;
  for (const auto& c : components) {
    const auto& info = c.as_object();
    ascending.push_back(info.at("orderBy").at(0).as_string() == "Ascending");
    std::string text(info.at("rewrittenQuery").as_string());
    text = replace_all(text, "{documentdb-formattableorderbyquery-filter}", "true");
    if (!stats.empty()) {
      const auto& s = stats.at(0).as_object();
      text = replace_all(text, "{documentdb-formattablehybridsearchquery-totaldocumentcount}", json::serialize(s.at("documentCount")));
      const auto& ft = s.at("fullTextStatistics").as_array();
      for (size_t i = 0; i < ft.size(); ++i) {
        text = replace_all(text, "{documentdb-formattablehybridsearchquery-totalwordcount-" + std::to_string(i) + "}",
                           json::serialize(ft[i].at("totalWordCount")));
        text = replace_all(text, "{documentdb-formattablehybridsearchquery-hitcountsarray-" + std::to_string(i) + "}",
                           json::serialize(ft[i].at("hitCounts")));
      }
    }
    for (const auto& row : run(text)) {
      std::string rid(row.at("_rid").as_string());
      scores[rid] = row.at("payload").at("componentScores").as_array();
      payloads[rid] = row.at("payload").at("payload");
    }
  }
  std::vector<std::string> rids;
  for (const auto& [rid, _] : scores) rids.push_back(rid);
  std::map<std::string, double> fused;
  const auto& weights = h.at("componentWeights").as_array();
  for (size_t i = 0; i < components.size(); ++i) {
    std::vector<std::string> order = rids;
    std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      double x = scores[a].at(i).to_number<double>(), y = scores[b].at(i).to_number<double>();
      return ascending[i] ? x < y : x > y;
    });
    double w = weights.empty() ? 1 : weights.at(i).to_number<double>();
    int rank = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      if (k == 0 || scores[order[k]].at(i) != scores[order[k - 1]].at(i)) ++rank;
      fused[order[k]] += w / (60.0 + rank);
    }
  }
  std::stable_sort(rids.begin(), rids.end(), [&](const std::string& a, const std::string& b) { return fused[a] > fused[b]; });
  std::vector<std::string> ids;
  for (const auto& rid : rids) ids.emplace_back(payloads[rid].at("id").as_string());
  if (!h.at("skip").is_null()) ids.erase(ids.begin(), ids.begin() + std::min<size_t>(ids.size(), h.at("skip").to_number<size_t>()));
  if (!h.at("take").is_null() && ids.size() > h.at("take").to_number<size_t>()) ids.resize(h.at("take").to_number<size_t>());
  return ids;
}

TEST(DocSqlPlan, HybridPlansGiveTheOrderOfTheDirectQuery) {
  std::vector<json::object> docs;
  const char* bodies[] = {"The red bicycle is fast", "red red red cars", "A blue bicycle with red bells",
                          "Nothing to see here", "red bicycle, red bicycle", "bicycles and more bicycles"};
  for (int i = 0; i < 6; ++i)
    docs.push_back(json::object{{"id", std::string(1, static_cast<char>('a' + i))},
                                {"_rid", "r" + std::to_string(i)},
                                {"body", bodies[i]},
                                {"v", json::array{std::cos(i * 0.5), std::sin(i * 0.5)}}});
  const char* queries[] = {
      "SELECT TOP 4 c.id FROM c ORDER BY RANK FullTextScore(c.body, 'red', 'bicycle')",
      "SELECT TOP 5 * FROM c WHERE FullTextContains(c.body, 'red') ORDER BY RANK FullTextScore(c.body, ['bicycle'])",
      "SELECT c.id FROM c ORDER BY RANK RRF(FullTextScore(c.body, 'red'), VectorDistance(c.v, [0, 1])) OFFSET 1 LIMIT 4",
      "SELECT TOP 6 c.id FROM c ORDER BY RANK RRF(VectorDistance(c.v, [1, 0]), FullTextScore(c.body, 'bicycle'), [1, -2])",
      "SELECT TOP 6 c.id FROM c ORDER BY RANK RRF(FullTextScore(c.body, 'red'), FullTextScore(c.body, 'bicycle'), "
      "VectorDistance(c.v, [1, 0], false, {distanceFunction: 'euclidean'}))",
  };
  // Terms and counts given as parameters are written into the plan (the client cannot resolve
  // them); duplicate terms after analysis count once, as in the direct query.
  json::object params{{"@n", 3}, {"@t", json::array{"red", "bicycles", "bicycle"}}};
  {
    const char* text = "SELECT TOP @n c.id FROM c WHERE - -c.x = 0 OR NOT IS_DEFINED(c.x) ORDER BY RANK FullTextScore(c.body, @t)";
    auto q = must_parse(text);
    ASSERT_TRUE(q);
    json::object plan = query_plan(*q, params);
    EXPECT_EQ(plan.at("hybridSearchQueryInfo").at("take"), 3);
    VectorSource src(docs);
    auto rows = execute(*q, params, src);
    ASSERT_TRUE(rows);
    std::vector<std::string> direct;
    for (const auto& r : rows.value()) direct.emplace_back(r.at("id").as_string());
    EXPECT_EQ(direct.size(), 3u);
    EXPECT_EQ(run_hybrid_plan(plan, docs, params), direct) << json::serialize(plan);
  }
  for (const char* text : queries) {
    auto q = must_parse(text);
    ASSERT_TRUE(q) << text;
    json::object plan = query_plan(*q);
    ASSERT_TRUE(plan.contains("hybridSearchQueryInfo")) << text;
    EXPECT_FALSE(plan.contains("queryInfo")) << text;  // the .NET SDK refuses a plan with both
    std::vector<std::string> direct;
    VectorSource src(docs);
    auto rows = execute(*q, json::object{}, src);
    ASSERT_TRUE(rows) << text;
    for (const auto& r : rows.value()) direct.emplace_back(r.at("id").as_string());
    EXPECT_EQ(run_hybrid_plan(plan, docs), direct) << text << "\n" << json::serialize(plan);
  }
}

TEST(DocSqlPlan, AggregatesAndGroupBy) {
  auto q = must_parse("SELECT VALUE COUNT(1) FROM c");
  ASSERT_TRUE(q);
  json::object plan3 = query_plan(*q);
  const auto& info = plan3.at("queryInfo").as_object();
  EXPECT_EQ(json::serialize(info.at("aggregates")), R"(["Count"])");

  auto g = must_parse("SELECT c.city, AVG(c.age) AS a, MAX(c.age) m FROM c GROUP BY c.city");
  ASSERT_TRUE(g);
  json::object plan4 = query_plan(*g);
  const auto& gi = plan4.at("queryInfo").as_object();
  EXPECT_EQ(json::serialize(gi.at("groupByExpressions")), R"(["c.city"])");
  EXPECT_EQ(json::serialize(gi.at("groupByAliases")), R"(["city","a","m"])");
  EXPECT_EQ(json::serialize(gi.at("groupByAliasToAggregateType")),
            R"({"city":null,"a":"Average","m":"Max"})");
}

IndexHints hints(std::string_view text, const json::object& params = {},
                 std::string_view pk = "/pk") {
  auto q = must_parse(text);
  if (!q) return {};
  return index_hints(*q, params, pk);
}

TEST(DocSqlHints, EqualityAndPartitionKey) {
  auto h = hints("SELECT * FROM c WHERE c.pk = 'p1' AND c.a.b = @v AND c.x > 3",
                 json::object{{"@v", 7}});
  ASSERT_EQ(h.predicates.size(), 3u);
  EXPECT_EQ(h.predicates[0].path, (std::vector<std::string>{"pk"}));
  EXPECT_EQ(h.predicates[0].op, PredOp::eq);
  EXPECT_EQ(h.predicates[0].values[0], json::value("p1"));
  EXPECT_EQ(h.predicates[1].path, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(h.predicates[1].values[0], json::value(7));
  EXPECT_EQ(h.predicates[2].op, PredOp::gt);
  ASSERT_TRUE(h.partition_key.has_value());
  EXPECT_EQ(*h.partition_key, json::value("p1"));
}

TEST(DocSqlHints, FlippedRangeInBetweenNested) {
  auto h = hints("SELECT * FROM c WHERE 5 <= c.n AND c.s IN ('a', 'b') AND c.d BETWEEN 1 AND 9",
                 {}, "/a/b");
  ASSERT_EQ(h.predicates.size(), 4u);
  EXPECT_EQ(h.predicates[0].op, PredOp::ge);
  EXPECT_EQ(h.predicates[1].op, PredOp::in);
  EXPECT_EQ(h.predicates[1].values.size(), 2u);
  EXPECT_EQ(h.predicates[2].op, PredOp::ge);
  EXPECT_EQ(h.predicates[3].op, PredOp::le);
  EXPECT_EQ(h.predicates[3].values[0], json::value(9));
  EXPECT_FALSE(h.partition_key.has_value());

  auto nested = hints("SELECT * FROM c WHERE c.a.b = 'k' AND c['x y'][2] = true", {}, "/a/b");
  ASSERT_EQ(nested.predicates.size(), 2u);
  EXPECT_EQ(nested.predicates[1].path, (std::vector<std::string>{"x y", "2"}));
  ASSERT_TRUE(nested.partition_key.has_value());
  EXPECT_EQ(*nested.partition_key, json::value("k"));
}

TEST(DocSqlHints, NotSargable) {
  // OR, NOT, functions, paths on JOIN aliases, unknown parameters and path-to-path compares.
  auto h = hints(
      "SELECT c FROM c JOIN t IN c.tags WHERE (c.a = 1 OR c.b = 2) AND NOT c.c = 3 AND "
      "LOWER(c.d) = 'x' AND t = 'red' AND c.e = @missing AND c.f = c.g AND c.h NOT IN (1)");
  EXPECT_TRUE(h.predicates.empty());
  EXPECT_FALSE(h.partition_key.has_value());
  auto iter = hints("SELECT * FROM x IN c.items WHERE x.a = 1");
  EXPECT_TRUE(iter.predicates.empty());
  auto rootalias = hints("SELECT * FROM root r WHERE r.id = 'a' ORDER BY r.ts DESC", {}, "/id");
  ASSERT_EQ(rootalias.predicates.size(), 1u);
  ASSERT_TRUE(rootalias.partition_key.has_value());
  ASSERT_TRUE(rootalias.order.has_value());
  EXPECT_EQ(rootalias.order->path, (std::vector<std::string>{"ts"}));
  EXPECT_TRUE(rootalias.order->descending);
  // The whole document is no index path (found by cosmos_sql_fuzz).
  auto whole = hints("SELECT * FROM c WHERE c = '2' AND c IN (1) AND c BETWEEN 1 AND 2 ORDER BY c");
  EXPECT_TRUE(whole.predicates.empty());
  EXPECT_FALSE(whole.order.has_value());
  auto none = hints("SELECT VALUE 1");
  EXPECT_FALSE(none.reads_documents);
}

// take/skip: set only when the answer is the first rows in the single ORDER BY order and
// nothing else; count_only only for SELECT VALUE COUNT(<literal>) FROM c alone.
TEST(DocSqlHints, TakeSkipAndCountOnly) {
  auto top = hints("SELECT TOP 10 * FROM c WHERE c.kind = 'a' ORDER BY c.score DESC");
  ASSERT_TRUE(top.order.has_value());
  ASSERT_TRUE(top.take.has_value());
  EXPECT_EQ(*top.take, 10);
  EXPECT_EQ(top.skip, 0);
  auto window = hints("SELECT c.id FROM c ORDER BY c.n OFFSET @o LIMIT @l", json::object{{"@o", 7}, {"@l", 3}});
  ASSERT_TRUE(window.take.has_value());
  EXPECT_EQ(*window.take, 3);
  EXPECT_EQ(window.skip, 7);
  // Unresolvable or refused counts, shapes whose rows are not documents in order: no take.
  EXPECT_FALSE(hints("SELECT TOP @t * FROM c ORDER BY c.n").take.has_value());
  EXPECT_FALSE(hints("SELECT TOP @t * FROM c ORDER BY c.n", json::object{{"@t", -1}}).take.has_value());
  EXPECT_FALSE(hints("SELECT TOP 3 * FROM c").take.has_value());
  EXPECT_FALSE(hints("SELECT * FROM c ORDER BY c.n").take.has_value());
  EXPECT_FALSE(hints("SELECT DISTINCT TOP 3 c.n FROM c ORDER BY c.n").take.has_value());
  EXPECT_FALSE(hints("SELECT TOP 3 c.n FROM c JOIN t IN c.tags ORDER BY c.n").take.has_value());
  EXPECT_FALSE(hints("SELECT TOP 3 * FROM c ORDER BY c.a, c.b").take.has_value());

  EXPECT_TRUE(hints("SELECT VALUE COUNT(1) FROM c").count_only);
  EXPECT_TRUE(hints("SELECT VALUE COUNT('x') FROM root r").count_only);
  EXPECT_FALSE(hints("SELECT COUNT(1) FROM c").count_only);
  EXPECT_FALSE(hints("SELECT VALUE COUNT(c.id) FROM c").count_only);
  EXPECT_FALSE(hints("SELECT VALUE COUNT(undefined) FROM c").count_only);
  EXPECT_FALSE(hints("SELECT VALUE COUNT(1) FROM c WHERE c.a = 1").count_only);
  EXPECT_FALSE(hints("SELECT VALUE COUNT(1) FROM c JOIN t IN c.tags").count_only);
  EXPECT_FALSE(hints("SELECT VALUE COUNT(1) FROM c.a x").count_only);
  EXPECT_FALSE(hints("SELECT VALUE COUNT(1) FROM x IN c.tags").count_only);
  EXPECT_FALSE(hints("SELECT VALUE COUNT(1) FROM c GROUP BY c.a").count_only);
  EXPECT_FALSE(hints("SELECT TOP 0 VALUE COUNT(1) FROM c").count_only);
}

TEST(DocSqlHints, VectorOrderNamesThePathTheVectorAndTheDirection) {
  auto top = hints("SELECT TOP 3 c.id FROM c ORDER BY VectorDistance(c.emb, [0.5, -1, 2])");
  ASSERT_TRUE(top.vector_order.has_value());
  EXPECT_EQ(top.vector_order->path, (std::vector<std::string>{"emb"}));
  EXPECT_EQ(top.vector_order->query, (std::vector<double>{0.5, -1, 2}));
  EXPECT_EQ(top.vector_order->distance, VectorOrderHint::Distance::cosine);
  EXPECT_TRUE(top.vector_order->descending);  // the most similar first
  EXPECT_TRUE(top.vector_order->unscored_last);
  EXPECT_FALSE(top.order.has_value());
  EXPECT_EQ(*top.take, 3);
  // A parameter, the other argument order, Euclidean (nearest first: ascending, so a document
  // without a score, undefined, sorts first), OFFSET LIMIT.
  auto eu = hints("SELECT c.id FROM c ORDER BY VectorDistance(@v, c.a.b, false, {'distanceFunction': 'Euclidean'}) OFFSET 2 LIMIT 5",
                  json::object{{"@v", json::array{1, 2}}});
  ASSERT_TRUE(eu.vector_order.has_value());
  EXPECT_EQ(eu.vector_order->path, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(eu.vector_order->distance, VectorOrderHint::Distance::euclidean);
  EXPECT_FALSE(eu.vector_order->descending);
  EXPECT_FALSE(eu.vector_order->unscored_last);
  EXPECT_EQ(eu.skip, 2);
  // RANK: most similar first and unscored last whatever the function.
  auto rank = hints("SELECT TOP 2 c.id FROM c ORDER BY RANK VectorDistance(c.e, [1, 0], false, {'distanceFunction': 'euclidean'})");
  ASSERT_TRUE(rank.vector_order.has_value());
  EXPECT_FALSE(rank.vector_order->descending);
  EXPECT_TRUE(rank.vector_order->unscored_last);
  EXPECT_TRUE(rank.predicates.empty());
  // A lone VectorDistance needs no statistics: WHERE narrows its documents as it does ORDER
  // BY's (a fixed partition key reads one partition, not best-first rounds over the container).
  auto ranked_in = hints("SELECT TOP 2 c.id FROM c WHERE c.pk = 'p1' AND c.n > 3 ORDER BY RANK VectorDistance(c.e, [1, 0])", {}, "/pk");
  ASSERT_TRUE(ranked_in.vector_order.has_value());
  EXPECT_EQ(ranked_in.predicates.size(), 2u);
  ASSERT_TRUE(ranked_in.partition_key.has_value());
  EXPECT_EQ(*ranked_in.partition_key, json::value("p1"));
  ASSERT_TRUE(ranked_in.take.has_value());
  EXPECT_EQ(*ranked_in.take, 2);
  // Without TOP no vector hint, and WHERE narrows as it does ORDER BY's.
  auto unbounded = hints("SELECT c.id FROM c WHERE c.pk = 'p1' ORDER BY RANK VectorDistance(c.e, [1, 0])", {}, "/pk");
  EXPECT_FALSE(unbounded.vector_order.has_value());
  EXPECT_TRUE(unbounded.partition_key.has_value());
  // FullTextScore's statistics cover every document, whatever WHERE keeps.
  auto scored = hints("SELECT TOP 2 c.id FROM c WHERE c.pk = 'p1' ORDER BY RANK FullTextScore(c.t, 'a')", {}, "/pk");
  EXPECT_TRUE(scored.predicates.empty());
  EXPECT_FALSE(scored.partition_key.has_value());
  // Nothing a store could serve from its vectors.
  EXPECT_FALSE(hints("SELECT c.id FROM c ORDER BY VectorDistance(c.e, [1, 0])").vector_order.has_value());  // no TOP
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c ORDER BY VectorDistance(c.e, c.f)").vector_order.has_value());
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c ORDER BY VectorDistance(c.e, [1, 'x'])").vector_order.has_value());
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c ORDER BY VectorDistance(c.e, @v)").vector_order.has_value());  // unknown
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c ORDER BY VectorDistance(c.e, [1], false, @o)").vector_order.has_value());
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c ORDER BY VectorDistance(c.e, [1], false, {'distanceFunction': 'manhattan'})").vector_order.has_value());
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c ORDER BY RANK RRF(VectorDistance(c.e, [1]), VectorDistance(c.f, [1]))").vector_order.has_value());
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c ORDER BY RANK FullTextScore(c.t, 'a')").vector_order.has_value());
  EXPECT_FALSE(hints("SELECT TOP 2 c.id FROM c JOIN t IN c.tags ORDER BY VectorDistance(c.e, [1])").vector_order.has_value());
}

TEST(DocSqlHints, HintsAreCandidatesExecutorRechecks) {
  // A store that trusted only the index would return the string "5"; the executor refuses it.
  auto q = must_parse("SELECT VALUE c.id FROM c WHERE c.n >= 5 AND c.n < 7");
  ASSERT_TRUE(q);
  std::vector<json::object> docs = {json::object{{"id", "a"}, {"n", 5}},
                                    json::object{{"id", "b"}, {"n", "5"}},
                                    json::object{{"id", "c"}, {"n", 7}}};
  VectorSource src(docs);
  auto r = execute(*q, {}, src);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0], json::value("a"));
}

TEST(DocSqlExec, MatchesForConditions) {
  auto q2 = must_parse("SELECT * FROM c WHERE c.a > @x");
  ASSERT_TRUE(q2);
  auto m = matches(*q2, json::object{{"@x", 1}}, json::object{{"a", 2}});
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(*m);
  auto n = matches(*q2, json::object{{"@x", 5}}, json::object{{"a", 2}});
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(*n);
  auto missing = matches(*q2, {}, json::object{{"a", 2}});
  EXPECT_FALSE(missing.ok());
}

// A container's vectorEmbeddingPolicy gives VectorDistance over its paths the function when the
// query names none (the service's rule): a Euclidean embedding is measured as a distance and
// ORDER BY it without a direction gives the nearest first; a function the query names wins;
// other paths and other aliases keep cosine.
TEST(DocSqlContainer, VectorDistanceTakesThePolicysFunction) {
  ContainerDefinitions defs;
  defs.vector_functions.push_back({{"e"}, "euclidean"});
  defs.vector_functions.push_back({{"n", "d"}, "dotproduct"});
  std::vector<json::object> docs{json::object{{"id", "1"}, {"e", json::array{0, 3}}, {"n", json::object{{"d", json::array{1, 2}}}}},
                                 json::object{{"id", "2"}, {"e", json::array{4, 0}}, {"n", json::object{{"d", json::array{3, 0}}}}}};
  auto rows = [&](std::string_view text) {
    auto q = parse_query(text, {}, &defs);
    EXPECT_TRUE(q.ok()) << text << ": " << (q.ok() ? "" : q.error().to_string());
    VectorSource src(docs);
    auto r = execute(*q.value(), {}, src);
    EXPECT_TRUE(r.ok()) << text;
    return json::serialize(json::array(r.value().begin(), r.value().end()));
  };
  EXPECT_EQ(rows("SELECT VALUE VectorDistance(c.e, [0, 0]) FROM c"), "[3,4]");
  EXPECT_EQ(rows("SELECT VALUE c.id FROM c ORDER BY VectorDistance(c.e, [4, 1])"), R"(["2","1"])");
  EXPECT_EQ(rows("SELECT VALUE VectorDistance([1, 1], c.n.d) FROM c"), "[3,3]");
  EXPECT_EQ(rows("SELECT VALUE VectorDistance(c.e, [0, 1], false, {distanceFunction: 'cosine'}) FROM c"), "[1,0]");
  EXPECT_EQ(rows("SELECT VALUE ROUND(VectorDistance(c.e, [0, 1], true) * 1000) FROM c"), "[2000,4123]");
  EXPECT_EQ(rows("SELECT VALUE VectorDistance(x, [0, 1]) FROM c JOIN x IN [c.e]"), "[1,0]");
  // A hybrid plan's _VectorScore takes the policy's function too, higher meaning nearer.
  EXPECT_EQ(rows("SELECT VALUE _VectorScore(c.e, [0, 0]) FROM c"), "[-3,-4]");
  auto q = parse_query("SELECT TOP 1 c.id FROM c ORDER BY RANK RRF(VectorDistance(c.e, [4, 1]), VectorDistance(c.e, [4, 1]))", {}, &defs);
  ASSERT_TRUE(q.ok());
  EXPECT_NE(json::serialize(query_plan(*q.value())).find("ORDER BY _VectorScore(c.e, [4, 1], false, {distanceFunction: \\\"euclidean\\\"}) DESC"),
            std::string::npos) << json::serialize(query_plan(*q.value()));
}

// Computed properties: a reference through the FROM alias (dotted or bracketed, under any
// alias name) becomes the definition's expression; an output column keeps the property's
// name; SELECT * and other aliases' properties are left alone; bad definitions are named.
TEST(DocSqlComputed, ReferencesBecomeTheDefinitionsExpression) {
  auto def = parse_computed_property("SELECT VALUE LOWER(x.name) FROM x");
  ASSERT_TRUE(def.ok()) << def.error().to_string();
  ContainerDefinitions cps;
  cps.computed.push_back({"lower", def.value()});
  std::vector<json::object> docs{json::object{{"id", "1"}, {"name", "Beta"}, {"tags", json::array{json::object{{"lower", "own"}}}}},
                                 json::object{{"id", "2"}, {"name", "alpha"}}};
  auto rows = [&](std::string_view text) {
    auto q = parse_query(text, {}, &cps);
    EXPECT_TRUE(q.ok()) << text << ": " << (q.ok() ? "" : q.error().to_string());
    VectorSource src(docs);
    auto r = execute(*q.value(), {}, src);
    EXPECT_TRUE(r.ok());
    return json::serialize(json::array(r.value().begin(), r.value().end()));
  };
  EXPECT_EQ(rows("SELECT c.id, c.lower FROM c ORDER BY c.lower"), R"([{"id":"2","lower":"alpha"},{"id":"1","lower":"beta"}])");
  EXPECT_EQ(rows("SELECT VALUE r.id FROM root r WHERE r[\"lower\"] = 'beta'"), R"(["1"])");
  EXPECT_EQ(rows("SELECT * FROM c WHERE c.id = '2'"), R"([{"id":"2","name":"alpha"}])");
  EXPECT_EQ(rows("SELECT VALUE t.lower FROM c JOIN t IN c.tags"), R"(["own"])");
  EXPECT_EQ(rows("SELECT c.lower, COUNT(1) AS n FROM c GROUP BY c.lower"), R"([{"lower":"beta","n":1},{"lower":"alpha","n":1}])");
  for (const char* bad : {"SELECT LOWER(c.a) FROM c", "SELECT VALUE c.a FROM c WHERE c.b = 1", "SELECT VALUE COUNT(1) FROM c",
                          "SELECT VALUE c.a FROM c ORDER BY c.a", "SELECT VALUE t FROM c JOIN t IN c.tags", "SELECT VALUE @p FROM c",
                          "SELECT VALUE c.a FROM c IN c.arr", "SELECT TOP 1 VALUE c.a FROM c", "SELECT DISTINCT VALUE c.a FROM c"})
    EXPECT_FALSE(parse_computed_property(bad).ok()) << bad;
}

TEST(DocSqlExec, StatsAndEarlyStop) {
  auto q = must_parse("SELECT TOP 2 VALUE c.i FROM c");
  ASSERT_TRUE(q);
  std::vector<json::object> docs;
  for (int i = 0; i < 100; ++i) docs.push_back(json::object{{"i", i}});
  VectorSource src(docs);
  ExecStats st;
  auto r = execute(*q, {}, src, {}, &st);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
  EXPECT_LE(st.documents_read, 3u);  // TOP without ORDER BY stops reading early
}

TEST(DocSqlExec, OrderByTopKeepsBoundedBufferAndIsCorrect) {
  auto q = must_parse("SELECT TOP 3 VALUE c.i FROM c ORDER BY c.k DESC, c.i");
  ASSERT_TRUE(q);
  std::vector<json::object> docs;
  for (int i = 0; i < 1000; ++i) docs.push_back(json::object{{"i", i}, {"k", i % 7}});
  VectorSource src(docs);
  Limits l;
  l.max_buffered_rows = 200;  // far below 1000: TOP keeps the buffer small
  auto r = execute(*q, {}, src, l);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(json::serialize(rows_json(*r)), "[6,13,20]");
}

TEST(DocSqlLimits, HostileInputNeverCrashes) {
  // Deep nesting of every recursive construct.
  for (std::string open : {"(", "[", "- ", "NOT ", "ABS(", "{a:", "c[", "1 ?? "}) {
    std::string s = "SELECT VALUE ";
    for (int i = 0; i < 20000; ++i) s += open;
    auto q = parse_query(s);
    ASSERT_FALSE(q.ok()) << open;
    EXPECT_EQ(q.error().code, ErrorCode::too_deep) << open << ": " << q.error().to_string();
  }
  // A long flat chain: bounded by tree height.
  std::string chain = "SELECT VALUE 1";
  for (int i = 0; i < 50000; ++i) chain += "+1";
  auto c = parse_query(chain);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::too_deep);
  // A chain within the bound runs.
  std::string ok_chain = "SELECT VALUE 1";
  for (int i = 0; i < 1000; ++i) ok_chain += "+1";
  auto oc = parse_query(ok_chain);
  ASSERT_TRUE(oc.ok()) << oc.error().to_string();
  std::vector<json::object> none;
  VectorSource src(none);
  auto r = execute(**oc, {}, src);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0], json::value(1001));
}

TEST(DocSqlLimits, QueryOver256KB) {
  std::string s = "SELECT * FROM c WHERE c.a = '" + std::string(300 * 1024, 'x') + "'";
  auto q = parse_query(s);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code, ErrorCode::too_long);
  // Exactly at the limit is accepted.
  std::string at = "SELECT VALUE '";
  at += std::string(256 * 1024 - at.size() - 1, 'y') + "'";
  ASSERT_EQ(at.size(), 256u * 1024u);
  EXPECT_TRUE(parse_query(at).ok());
}

TEST(DocSqlLimits, BufferedRowsLimitIsAnError) {
  std::vector<json::object> docs;
  for (int i = 0; i < 50; ++i) docs.push_back(json::object{{"i", i}, {"g", i}});
  Limits l;
  l.max_buffered_rows = 10;
  for (const char* text : {"SELECT * FROM c ORDER BY c.i", "SELECT DISTINCT VALUE c.i FROM c",
                           "SELECT c.g, COUNT(1) AS n FROM c GROUP BY c.g"}) {
    auto q = must_parse(text);
    ASSERT_TRUE(q);
    VectorSource src(docs);
    auto r = execute(*q, {}, src, l);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::limit_exceeded) << text;
  }
}

TEST(DocSqlValue, OrderCompareIsATotalOrderAcrossTypes) {
  std::vector<json::value> vs = {json::parse("{\"a\":1}"), json::parse("[1]"), json::value("s"),
                                 json::value(2.5), json::value(1), json::value(true),
                                 json::value(false), json::value(nullptr)};
  std::vector<Val> vals;
  vals.push_back(Val());
  for (auto& v : vs) vals.push_back(Val::ref(&v));
  std::sort(vals.begin(), vals.end(), [](const Val& a, const Val& b) { return order_compare(a, b) < 0; });
  std::vector<Type> types;
  for (auto& v : vals) types.push_back(v.type());
  EXPECT_EQ(types, (std::vector<Type>{Type::undefined, Type::null, Type::boolean, Type::boolean,
                                      Type::number, Type::number, Type::string, Type::array,
                                      Type::object}));
  EXPECT_FALSE(vals[2].boolv());
  EXPECT_EQ(vals[4].num(), 1);
}

}  // namespace
}  // namespace nimbus::docsql
