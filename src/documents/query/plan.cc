#include "documents/query/plan.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <boost/json/serialize.hpp>

#include "common/ascii.h"
#include "common/fulltext.h"
#include "documents/query/builtins.h"
#include "documents/query/parser.h"
#include "documents/query/value.h"

namespace nimbus::docsql {

namespace json = boost::json;

namespace {

const char* aggregate_type(AggKind k) {
  switch (k) {
    case AggKind::count: return "Count";
    case AggKind::sum: return "Sum";
    case AggKind::avg: return "Average";
    case AggKind::min: return "Min";
    case AggKind::max: return "Max";
    case AggKind::countif: return "CountIf";
  }
  return "Count";
}

json::value count_value(const CountSpec& c) {
  if (!c.present) return nullptr;
  if (!c.param.empty()) return nullptr;  // unsure: the service substitutes the parameter
  return c.value;
}

// The one query range of a container: the whole key space.
json::array full_range() {
  return json::array{json::object{{"min", ""}, {"max", "FF"}, {"isMinInclusive", true}, {"isMaxInclusive", false}}};
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// `FROM c` or `FROM root["a"]["b"] x` as the query wrote it (JOIN and FROM ... IN are refused
// with ORDER BY RANK).
std::string from_text(const Query& q) {
  std::string out = q.from.alias;
  if (!q.from.path.empty()) {
    out = "root";
    for (const auto& step : q.from.path) out += "[" + json::serialize(step->lit) + "]";
    out += " " + q.from.alias;
  }
  return out;
}

// TOP / OFFSET / LIMIT, from the query or its parameters, as the executor resolves them
// (nullopt: absent, or a parameter it would refuse).
std::optional<int64_t> literal_count(const CountSpec& c, const json::object& params) {
  if (!c.present) return std::nullopt;
  if (c.param.empty()) return c.value;
  const json::value* v = params.if_contains(c.param);
  if (!v || !v->is_number()) return std::nullopt;
  double d = v->to_number<double>();
  if (d < 0 || d != std::floor(d) || d > 9.0e15) return std::nullopt;
  return static_cast<int64_t>(d);
}

// The plan of an ORDER BY RANK query, in the gateway's "classic" shape (the JS SDK 4.9.3 reads
// it; so does the .NET one): the client runs globalStatisticsQuery on every range and sums
// documentCount and each FullTextScore's {totalWordCount, hitCounts}, puts the sums into each
// component query's placeholders, runs one component query per score (rows {_rid,
// orderByItems, payload: {payload, componentScores}} ordered by that score), fuses them with
// RRF (k = 60) and applies skip / take. The texts follow the gateway's samples; only the order
// of rows is ever visible. Unsure: the gateway's partitionedQueryExecutionInfoVersion here.
json::object hybrid_plan(const Query& q, const json::object& params) {
  static const std::string kDocs = "{documentdb-formattablehybridsearchquery-totaldocumentcount}";
  RankParts rank = rank_parts(q);
  const std::vector<const Expr*>& parts = rank.scores;
  const Expr* weights = rank.weights;
  struct Part {
    std::string score;
    bool ascending = false;
    std::string fallback;  // the score of a row it cannot score: ranks after every other
  };
  std::vector<Part> scored;
  std::vector<std::string> statistics;
  json::array component_weights;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Expr& p = *parts[i];
    Part part;
    if (is_call_to(p, "FULLTEXTSCORE")) {
      std::string text = expr_text(*p.kids[0]);
      // The terms as the executor scores them: each analyzed (parameters resolved), written
      // back as its tokens, each phrase once.
      std::vector<std::string> terms;
      auto add_term = [&](const json::value& v) {
        std::string phrase;
        for (const auto& t : fulltext::analyze(v.get_string())) phrase += (phrase.empty() ? "" : " ") + t;
        std::string quoted = json::serialize(json::value(json::string(phrase)));
        if (std::find(terms.begin(), terms.end(), quoted) == terms.end()) terms.push_back(std::move(quoted));
      };
      auto add_arg = [&](const Expr& t) {
        const json::value* c = t.kind == ExprKind::literal ? &t.lit : t.kind == ExprKind::param ? params.if_contains(t.name) : nullptr;
        if (c && c->is_string()) return add_term(*c);
        if (c && c->is_array()) {
          for (const auto& e : c->get_array())
            if (e.is_string()) add_term(e);
          return;
        }
        terms.push_back(expr_text(t));  // unresolved: the component query reports it
      };
      for (size_t k = 1; k < p.kids.size(); ++k) {
        const Expr& t = *p.kids[k];
        if (t.kind == ExprKind::array) {
          for (const auto& e : t.kids) add_arg(*e);
        } else {
          add_arg(t);
        }
      }
      std::string n = std::to_string(statistics.size());
      part.score = "_FullTextScore(" + text + ", [" + join(terms, ", ") + "], " + kDocs +
                   ", {documentdb-formattablehybridsearchquery-totalwordcount-" + n +
                   "}, {documentdb-formattablehybridsearchquery-hitcountsarray-" + n + "})";
      std::vector<std::string> hits;
      for (const auto& t : terms) hits.push_back("COUNTIF(FullTextContains(" + text + ", " + t + "))");
      statistics.push_back("{\"totalWordCount\": SUM(_FullTextWordCount(" + text + ")), \"hitCounts\": [" +
                           join(hits, ", ") + "]}");
    } else {
      std::vector<std::string> args;
      for (const auto& k : p.kids) args.push_back(expr_text(*k));
      // _VectorScore is higher-is-better whatever the distance function (the Euclidean
      // distance negated), so the component orders it descending without knowing the
      // container's vectorEmbeddingPolicy, which our server applies when it runs the query.
      part.score = "_VectorScore(" + join(args, ", ") + ")";
    }
    double w = 1;
    if (weights && i < weights->kids.size()) {
      const Expr* e = weights->kids[i].get();
      bool negative = false;
      while (e->kind == ExprKind::unary && e->op == Op::neg) {
        negative = !negative;
        e = e->kids[0].get();
      }
      w = e->kind == ExprKind::literal && e->lit.is_number() ? as_double(e->lit) : 1;
      if (negative) w = -w;
    }
    if (w < 0) part.ascending = !part.ascending;
    if (weights) component_weights.push_back(std::fabs(w));
    part.fallback = is_call_to(p, "FULLTEXTSCORE") ? "-1" : part.ascending ? "1.79769e+308" : "-1.79769e+308";
    scored.push_back(std::move(part));
  }

  std::string alias = q.from.alias, from = from_text(q);
  std::string payload;
  if (q.select_star) {
    payload = alias;
  } else if (q.select_value) {
    payload = expr_text(*q.select[0].expr);
  } else {
    std::vector<std::string> fields;
    for (const auto& item : q.select)
      fields.push_back(json::serialize(json::value(json::string(item.name))) + ": " + expr_text(*item.expr));
    payload = "{" + join(fields, ", ") + "}";
  }
  std::vector<std::string> component_scores;
  for (const auto& p : scored) component_scores.push_back("(" + p.score + " ?? " + p.fallback + ")");
  std::string filter = "({documentdb-formattableorderbyquery-filter})";
  std::string where = q.where ? "(" + expr_text(*q.where) + ") AND " + filter : filter;

  // skip / take from OFFSET and TOP or LIMIT; each component keeps max(120, 2 (skip + take))
  // rows, as the gateway's plans do. Counts given as parameters are unknown to the plan.
  std::optional<int64_t> top = literal_count(q.top, params), offset = literal_count(q.offset, params),
                         limit = literal_count(q.limit, params);
  std::optional<int64_t> take = top ? top : limit;
  int64_t skip = offset.value_or(0);
  json::value component_top = nullptr;
  // Capped at 2^31 - 1 (the gateway's own counts are 32-bit; huge TOPs must not overflow here).
  if (take)
    component_top = static_cast<int64_t>(std::clamp(2.0 * (static_cast<double>(skip) + static_cast<double>(*take)), 120.0, 2147483647.0));

  json::array components;
  for (const auto& p : scored) {
    std::string text = "SELECT " +
                       (component_top.is_null() ? std::string() : "TOP " + json::serialize(component_top) + " ") +
                       alias + "._rid, [{\"item\": " + p.score + "}] AS orderByItems, {\"payload\": " + payload +
                       ", \"componentScores\": [" + join(component_scores, ", ") + "]} AS payload\nFROM " + from +
                       "\nWHERE " + where + "\nORDER BY " + p.score + (p.ascending ? " ASC" : " DESC");
    json::object info;
    info["distinctType"] = "None";
    info["top"] = component_top;
    info["offset"] = nullptr;
    info["limit"] = nullptr;
    info["orderBy"] = json::array{json::string(p.ascending ? "Ascending" : "Descending")};
    info["orderByExpressions"] = json::array{json::string(p.score)};
    info["groupByExpressions"] = json::array{};
    info["groupByAliases"] = json::array{};
    info["aggregates"] = json::array{};
    info["groupByAliasToAggregateType"] = json::object{};
    info["rewrittenQuery"] = text;
    info["hasSelectValue"] = false;
    info["hasNonStreamingOrderBy"] = true;
    components.push_back(std::move(info));
  }

  json::object hybrid;
  hybrid["globalStatisticsQuery"] = "SELECT COUNT(1) AS documentCount, [" + join(statistics, ", ") +
                                    "] AS fullTextStatistics\nFROM " + from;
  hybrid["componentQueryInfos"] = std::move(components);
  hybrid["componentWithoutPayloadQueryInfos"] = json::array{};
  hybrid["projectionQueryInfo"] = nullptr;
  hybrid["componentWeights"] = std::move(component_weights);
  hybrid["skip"] = offset ? json::value(*offset) : json::value(nullptr);
  hybrid["take"] = take ? json::value(*take) : json::value(nullptr);
  hybrid["requiresGlobalStatistics"] = !statistics.empty();

  json::object plan;
  plan["partitionedQueryExecutionInfoVersion"] = 2;
  plan["hybridSearchQueryInfo"] = std::move(hybrid);
  plan["queryRanges"] = full_range();
  return plan;
}

}  // namespace

json::object query_plan(const Query& q, const json::object& params) {
  if (q.rank) return hybrid_plan(q, params);
  json::object info;
  // Unsure: the gateway says "Ordered" when DISTINCT rows arrive sorted (ORDER BY present) and
  // "Unordered" otherwise; that is our rule.
  info["distinctType"] = !q.distinct ? "None" : q.order_by.empty() ? "Unordered" : "Ordered";
  info["top"] = count_value(q.top);
  info["offset"] = count_value(q.offset);
  info["limit"] = count_value(q.limit);
  json::array order_by, order_exprs;
  for (const auto& k : q.order_by) {
    order_by.push_back(json::string(k.descending ? "Descending" : "Ascending"));
    order_exprs.push_back(json::string(expr_text(*k.expr)));
  }
  info["orderBy"] = std::move(order_by);
  info["orderByExpressions"] = std::move(order_exprs);
  json::array group_exprs;
  for (const auto& g : q.group_by) group_exprs.push_back(json::string(expr_text(*g)));
  info["groupByExpressions"] = std::move(group_exprs);
  json::array aliases;
  json::object alias_to_agg;
  if (!q.group_by.empty() && !q.select_value) {
    for (const auto& item : q.select) {
      aliases.push_back(json::string(item.name));
      const Expr& e = *item.expr;
      alias_to_agg[item.name] =
          e.kind == ExprKind::aggregate ? json::value(aggregate_type(e.agg)) : json::value(nullptr);
    }
  }
  info["groupByAliases"] = std::move(aliases);
  // `aggregates` lists the aggregate of SELECT VALUE <agg> without GROUP BY (the SDK's
  // streaming aggregate pipeline); other aggregate shapes travel in groupByAliasToAggregateType.
  json::array aggs;
  if (q.select_value && q.group_by.empty() && !q.select.empty() &&
      q.select[0].expr->kind == ExprKind::aggregate)
    aggs.push_back(json::string(aggregate_type(q.select[0].expr->agg)));
  info["aggregates"] = std::move(aggs);
  info["groupByAliasToAggregateType"] = std::move(alias_to_agg);
  // Unsure: the gateway rewrites ORDER BY and aggregate queries into the shape its SDK merges
  // (orderByItems/payload). Nimbus runs every query whole on its single range, so the client
  // only needs the plan when it insists (forceQueryPlan); we hand back the original query text,
  // which our server answers with final rows.
  info["rewrittenQuery"] = json::string(q.text);
  info["hasSelectValue"] = q.select_value;
  info["hasNonStreamingOrderBy"] = false;
  info["dCountInfo"] = nullptr;

  json::object plan;
  plan["partitionedQueryExecutionInfoVersion"] = 2;
  plan["queryInfo"] = std::move(info);
  plan["queryRanges"] = full_range();
  return plan;
}

namespace {

// A path on the FROM document: the FROM source's own path steps, then the property/index
// steps of the expression. Only when FROM binds the document itself (no IN iteration).
bool doc_path(const Query& q, const Expr& e, std::vector<std::string>& out) {
  if (e.kind == ExprKind::alias) {
    if (e.slot != 0 || q.from.iterate) return false;
    for (const auto& step : q.from.path) {
      if (step->lit.is_string())
        out.emplace_back(step->lit.get_string());
      else
        out.push_back(number_text(as_double(step->lit)));
    }
    return true;
  }
  if (e.kind == ExprKind::property) {
    if (!doc_path(q, *e.kids[0], out)) return false;
    out.push_back(e.name);
    return true;
  }
  if (e.kind == ExprKind::index) {
    const Expr& i = *e.kids[1];
    if (i.kind != ExprKind::literal || !i.lit.is_int64() || i.lit.get_int64() < 0) return false;
    if (!doc_path(q, *e.kids[0], out)) return false;
    out.push_back(std::to_string(i.lit.get_int64()));
    return true;
  }
  return false;
}

// A constant: a literal or a given parameter (no undefined).
const json::value* constant(const Expr& e, const json::object& params) {
  if (e.kind == ExprKind::literal) return &e.lit;
  if (e.kind == ExprKind::param) return params.if_contains(e.name);
  return nullptr;
}

PredOp flip(PredOp op) {
  switch (op) {
    case PredOp::lt: return PredOp::gt;
    case PredOp::le: return PredOp::ge;
    case PredOp::gt: return PredOp::lt;
    case PredOp::ge: return PredOp::le;
    default: return op;
  }
}

void conjuncts(const Expr& e, std::vector<const Expr*>& out) {
  if (e.kind == ExprKind::binary && e.op == Op::and_ && e.group_key < 0) {
    conjuncts(*e.kids[0], out);
    conjuncts(*e.kids[1], out);
    return;
  }
  out.push_back(&e);
}

void sargable(const Query& q, const Expr& e, const json::object& params, IndexHints& h) {
  if (is_call_to(e, "FULLTEXTCONTAINS") || is_call_to(e, "FULLTEXTCONTAINSALL")) {
    // Every token of every phrase must be in the text (a superset of the matches: the
    // executor checks that each phrase's words follow each other).
    IndexPredicate p;
    if (!doc_path(q, *e.kids[0], p.path) || p.path.empty()) return;
    p.op = PredOp::text;
    for (size_t i = 1; i < e.kids.size(); ++i) {
      const json::value* c = constant(*e.kids[i], params);
      if (!c || !c->is_string()) return;
      for (auto& t : fulltext::analyze(c->get_string())) p.values.emplace_back(t);
    }
    if (p.values.empty()) return;
    h.predicates.push_back(std::move(p));
    return;
  }
  if (e.kind == ExprKind::binary) {
    PredOp op;
    switch (e.op) {
      case Op::eq: op = PredOp::eq; break;
      case Op::lt: op = PredOp::lt; break;
      case Op::le: op = PredOp::le; break;
      case Op::gt: op = PredOp::gt; break;
      case Op::ge: op = PredOp::ge; break;
      default: return;
    }
    IndexPredicate p;
    const json::value* c = nullptr;
    if (doc_path(q, *e.kids[0], p.path) && (c = constant(*e.kids[1], params))) {
      p.op = op;
    } else {
      p.path.clear();
      if (!doc_path(q, *e.kids[1], p.path) || !(c = constant(*e.kids[0], params))) return;
      p.op = flip(op);
    }
    if (p.path.empty()) return;  // the whole document (`WHERE c = 1`) is no index path
    p.values.push_back(*c);
    h.predicates.push_back(std::move(p));
    return;
  }
  if (e.kind == ExprKind::in && !e.negated) {
    IndexPredicate p;
    if (!doc_path(q, *e.kids[0], p.path) || p.path.empty()) return;
    p.op = PredOp::in;
    for (size_t i = 1; i < e.kids.size(); ++i) {
      const json::value* c = constant(*e.kids[i], params);
      if (!c) return;
      p.values.push_back(*c);
    }
    h.predicates.push_back(std::move(p));
    return;
  }
  if (e.kind == ExprKind::between && !e.negated) {
    std::vector<std::string> path;
    if (!doc_path(q, *e.kids[0], path) || path.empty()) return;
    const json::value* lo = constant(*e.kids[1], params);
    const json::value* hi = constant(*e.kids[2], params);
    if (!lo || !hi) return;
    h.predicates.push_back(IndexPredicate{path, PredOp::ge, {*lo}});
    h.predicates.push_back(IndexPredicate{std::move(path), PredOp::le, {*hi}});
  }
}

std::vector<std::string> split_pk(std::string_view p) {
  std::vector<std::string> out;
  while (!p.empty()) {
    if (p.front() == '/') {
      p.remove_prefix(1);
      continue;
    }
    size_t n = p.find('/');
    out.emplace_back(p.substr(0, n));
    if (n == std::string_view::npos) break;
    p.remove_prefix(n);
  }
  return out;
}

}  // namespace

namespace {

// VectorDistance(<doc path>, <constant vector> [, <anything> [, {literal options}]]) in either
// argument order, as VectorOrderHint describes it; nullopt for any other expression.
std::optional<VectorOrderHint> vector_order(const Query& q, const Expr& e, const json::object& params) {
  if (!is_call_to(e, "VECTORDISTANCE") || e.kids.size() < 2) return std::nullopt;
  VectorOrderHint v;
  const Expr* other = nullptr;
  if (doc_path(q, *e.kids[0], v.path) && !v.path.empty()) {
    other = e.kids[1].get();
  } else {
    v.path.clear();
    if (!doc_path(q, *e.kids[1], v.path) || v.path.empty()) return std::nullopt;
    other = e.kids[0].get();
  }
  auto number = [&](const Expr& k) -> std::optional<double> {
    if (k.kind == ExprKind::literal && k.lit.is_number()) return k.lit.to_number<double>();
    if (k.kind == ExprKind::unary && k.op == Op::neg && k.kids[0]->kind == ExprKind::literal && k.kids[0]->lit.is_number())
      return -k.kids[0]->lit.to_number<double>();
    return std::nullopt;
  };
  if (other->kind == ExprKind::array) {
    for (const auto& k : other->kids) {
      auto x = number(*k);
      if (!x) return std::nullopt;
      v.query.push_back(*x);
    }
  } else if (const json::value* c = constant(*other, params); c && c->is_array()) {
    for (const auto& x : c->get_array()) {
      if (!x.is_number()) return std::nullopt;
      v.query.push_back(x.to_number<double>());
    }
  } else {
    return std::nullopt;
  }
  if (v.query.empty()) return std::nullopt;
  // The distance function: cosine unless literal options name another (a query bound to its
  // container carries the vectorEmbeddingPolicy's); options the hint cannot read: no hint.
  if (e.kids.size() >= 4) {
    const Expr& o = *e.kids[3];
    if (o.kind != ExprKind::object) return std::nullopt;
    for (size_t i = 0; i < o.keys.size() && i < o.kids.size(); ++i) {
      if (!ascii_iequals(o.keys[i], "distanceFunction")) continue;
      const Expr& f = *o.kids[i];
      if (f.kind != ExprKind::literal || !f.lit.is_string()) return std::nullopt;
      std::string_view name = f.lit.get_string();
      if (ascii_iequals(name, "cosine")) v.distance = VectorOrderHint::Distance::cosine;
      else if (ascii_iequals(name, "dotproduct")) v.distance = VectorOrderHint::Distance::dot_product;
      else if (ascii_iequals(name, "euclidean")) v.distance = VectorOrderHint::Distance::euclidean;
      else return std::nullopt;
    }
  }
  return v;
}

// TOP n / OFFSET s LIMIT m resolved as the executor resolves them, into h.take and h.skip;
// one it would refuse leaves `take` unset (the executor reports the error).
void bounded_answer(const Query& q, const json::object& params, IndexHints& h) {
  if (!q.top.present && !q.limit.present) return;
  auto top = literal_count(q.top, params), offset = literal_count(q.offset, params),
       limit = literal_count(q.limit, params);
  bool resolved = (!q.top.present || top) && (!q.offset.present || offset) && (!q.limit.present || limit);
  if (!resolved) return;
  int64_t take = top ? *top : *limit;
  if (limit) take = std::min(take, *limit);
  h.take = take;
  h.skip = offset ? *offset : 0;
}

}  // namespace

IndexHints index_hints(const Query& q, const json::object& params, std::string_view pk_path) {
  IndexHints h;
  h.reads_documents = q.has_from;
  if (!q.has_from) return h;
  // ORDER BY RANK of FullTextScore or RRF reads every document: FullTextScore's statistics
  // cover the whole container (or the partition the request names), whatever WHERE keeps, and
  // RRF ranks every matching row. A lone VectorDistance needs
  // no statistics, so it is planned as ORDER BY is: WHERE's predicates and partition key may
  // narrow the documents, or its best documents come from a store's vectors.
  if (q.rank) {
    RankParts parts = rank_parts(q);
    if (!parts.fused && parts.scores.size() == 1 && !q.grouped && !q.distinct && q.joins.empty() &&
        !q.from.iterate && q.from.path.empty())
      h.vector_order = vector_order(q, *parts.scores[0], params);
    if (!h.vector_order) return h;
    // Most similar first, whatever the query says; no score: after every scored row.
    h.vector_order->descending = h.vector_order->distance != VectorOrderHint::Distance::euclidean;
    h.vector_order->unscored_last = true;
  }
  if (q.where) {
    std::vector<const Expr*> parts;
    conjuncts(*q.where, parts);
    for (const Expr* e : parts) sargable(q, *e, params, h);
  }
  auto pk = split_pk(pk_path);
  if (!pk.empty()) {
    for (const auto& p : h.predicates) {
      if (p.path != pk) continue;
      if (p.op == PredOp::eq || (p.op == PredOp::in && p.values.size() == 1)) {
        h.partition_key = p.values[0];
        break;
      }
    }
  }
  if (!q.rank && q.order_by.size() == 1) {
    OrderHint o;
    if (doc_path(q, *q.order_by[0].expr, o.path) && !o.path.empty()) {
      o.descending = q.order_by[0].descending;
      h.order = std::move(o);
    } else if (auto v = vector_order(q, *q.order_by[0].expr, params)) {
      v->descending = q.order_by[0].descending;
      v->unscored_last = v->descending;
      h.vector_order = std::move(v);
    }
  }
  // A bounded answer in ORDER BY order (see IndexHints::take).
  if ((h.order || h.vector_order) && !q.grouped && !q.distinct && q.joins.empty() && !q.from.iterate)
    bounded_answer(q, params, h);
  if (h.vector_order && (!h.take || !q.from.path.empty())) h.vector_order.reset();
  // SELECT VALUE COUNT(1) FROM c: COUNT of a literal counts every row, and with nothing but
  // FROM c every document is one row.
  if (q.select_value && q.select.size() == 1 && q.select[0].expr->kind == ExprKind::aggregate &&
      q.select[0].expr->agg == AggKind::count && q.select[0].expr->kids.size() == 1 &&
      q.select[0].expr->kids[0]->kind == ExprKind::literal && !q.where && q.joins.empty() &&
      !q.from.iterate && q.from.path.empty() && q.group_by.empty() && !q.distinct &&
      !q.top.present && !q.offset.present && !q.limit.present && q.order_by.empty())
    h.count_only = true;
  return h;
}

}  // namespace nimbus::docsql
