// Fuzzes the Cosmos DB SQL engine (src/documents/query): parse_query on the input as query
// text; when it parses, query_plan, index_hints and execute against a few fixed documents with
// fixed parameters (small resource limits), and matches() on each document. Beyond "no crash,
// no sanitizer report, no exception", it checks what callers rely on; a broken property aborts
// with a message naming it:
//  - a refused query has a message and a position within the text (or at its end);
//  - the plan has the fields the JS SDK reads (for ORDER BY RANK, a hybrid plan whose
//    statistics and component queries, placeholders filled in, parse); binding the query to a
//    container's vector policy never refuses it; index hints name document paths only;
//  - execution either answers rows or a parameter / limit error, and with the same input gives
//    the same rows (the engine is deterministic);
//  - every row is finite JSON (Boost.JSON would write Infinity, which no reader accepts).
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "documents/query/query.h"

namespace {

namespace json = boost::json;
using namespace nimbus::docsql;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "cosmos_sql_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

const std::vector<json::object>& documents() {
  static const std::vector<json::object> docs = [] {
    const char* texts[] = {
        R"({"id":"1","pk":"a","name":"Ann","age":30,"tags":["x","y"],"addr":{"zip":"0150","geo":{"lat":59.9}},"ok":true,"n":null})",
        R"({"id":"2","pk":"b","name":"bob","age":"25","tags":[],"kids":[{"name":"K","pets":[{"n":1},{"n":2}]}],"ok":false})",
        R"({"id":"3","pk":"a","age":1e300,"big":-9223372036854775808,"u":18446744073709551615,"arr":[[1,2],{"a":[3]}],"s":"h\u00e9llo \ud83d\ude00"})",
        R"({"id":"4"})",
    };
    std::vector<json::object> v;
    for (const char* t : texts) v.push_back(json::parse(t).as_object());
    return v;
  }();
  return docs;
}

const json::object& parameters() {
  static const json::object p = json::parse(
      R"({"@a":1,"@b":"x","@c":null,"@d":[1,2],"@e":{"k":"v"},"@n":2,"@o":0,"@l":3,"@f":1.5,"@pk":"a"})")
                                    .as_object();
  return p;
}

bool finite(const json::value& v, int depth = 0) {
  if (depth > 200) return true;
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (!finite(e, depth + 1)) return false;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (!finite(kv.value(), depth + 1)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseOptions opts;
  opts.max_length = 4096;  // keep single inputs fast; the length check itself is covered
  auto q = parse_query(text, opts);
  if (!q) {
    const QueryError& e = q.error();
    CHECK(!e.message.empty());
    CHECK(e.position <= text.size() || e.code == ErrorCode::too_long);
    CHECK(e.token.size() <= 40);
    return 0;
  }
  const Query& query = **q;

  json::object plan = query_plan(query);
  CHECK(plan.contains("queryRanges"));
  if (query.rank) {
    // A hybrid plan: the client sends its statistics and component queries back to us, with
    // the placeholders filled in; each must parse.
    CHECK(!plan.contains("queryInfo"));
    const json::object& h = plan.at("hybridSearchQueryInfo").as_object();
    std::vector<std::string> texts{std::string(h.at("globalStatisticsQuery").as_string())};
    for (const auto& c : h.at("componentQueryInfos").as_array())
      texts.emplace_back(c.at("rewrittenQuery").as_string());
    CHECK(texts.size() >= 2);
    for (std::string t : texts) {
      for (auto [from, to] : {std::pair<std::string, std::string>{"{documentdb-formattableorderbyquery-filter}", "true"},
                              {"{documentdb-formattablehybridsearchquery-totaldocumentcount}", "4"}})
        for (size_t at; (at = t.find(from)) != std::string::npos;) t.replace(at, from.size(), to);
      for (int i = 0; i < 8; ++i)
        for (auto [from, to] : {std::pair<std::string, std::string>{"{documentdb-formattablehybridsearchquery-totalwordcount-" + std::to_string(i) + "}", "9"},
                                {"{documentdb-formattablehybridsearchquery-hitcountsarray-" + std::to_string(i) + "}", "[1,2,3,4,5,6,7,8]"}})
          for (size_t at; (at = t.find(from)) != std::string::npos;) t.replace(at, from.size(), to);
      ParseOptions big;  // the plan's texts repeat the scores: longer than the input
      auto part = parse_query(t, big);
      if (!part) std::fprintf(stderr, "%s\n%s\n", t.c_str(), part.error().to_string().c_str());
      CHECK(part.ok());
    }
  } else {
    const json::object& info = plan.at("queryInfo").as_object();
    CHECK(info.contains("distinctType") && info.contains("orderBy") && info.contains("rewrittenQuery"));
    CHECK(info.at("orderBy").as_array().size() == query.order_by.size());
  }
  (void)json::serialize(plan);

  // Bound to a container with vector embeddings, the query still parses (a distance function
  // is written into VectorDistance's options; nothing is refused for it).
  {
    ContainerDefinitions defs;
    defs.vector_functions.push_back({{"tags"}, "euclidean"});
    defs.vector_functions.push_back({{"addr", "geo"}, "dotproduct"});
    auto bound = parse_query(text, opts, &defs);
    CHECK(bound.ok());
    (void)json::serialize(query_plan(**bound));
  }

  IndexHints h = index_hints(query, parameters(), "/pk");
  for (const auto& p : h.predicates) {
    CHECK(!p.path.empty());
    CHECK(!p.values.empty());
    CHECK(p.op == PredOp::in || p.op == PredOp::text || p.values.size() == 1);
  }

  Limits limits;
  limits.max_buffered_rows = 64;
  std::string first;
  for (int round = 0; round < 2; ++round) {
    VectorSource src(documents());
    auto r = execute(query, parameters(), src, limits);
    std::string got;
    if (!r) {
      CHECK(r.error().code == ErrorCode::parameter || r.error().code == ErrorCode::limit_exceeded);
      CHECK(!r.error().message.empty());
      got = "error";
    } else {
      for (const auto& row : *r) {
        CHECK(finite(row));
        got += json::serialize(row);
        got.push_back('\n');
      }
    }
    if (round == 0)
      first = std::move(got);
    else
      CHECK(first == got);
  }
  for (const auto& d : documents()) (void)matches(query, parameters(), d);
  return 0;
}
