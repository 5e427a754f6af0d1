#include "documents/query/executor.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "documents/query/builtins.h"
#include "common/fulltext.h"
#include "documents/query/parser.h"
#include "documents/query/value.h"

namespace nimbus::docsql {

namespace {

struct Env {
  Val* slots = nullptr;
  const json::object* params = nullptr;
  const Val* keys = nullptr;  // grouped final phase: GROUP BY key values
  const Val* aggs = nullptr;  // grouped final phase: aggregate results
};

Val eval(const Expr& e, const Env& env);

Val property_of(const Val& base, std::string_view name) {
  const json::object* o = base.object();
  if (!o) return Val();
  const json::value* p = o->if_contains(name);
  if (!p) return Val();
  return base.owned() ? Val::own(*p) : Val::ref(p);
}

Val element_of(const Val& base, const Val& idx) {
  if (const json::string* s = idx.str()) return property_of(base, *s);
  const json::array* a = base.array();
  if (!a || idx.type() != Type::number) return Val();
  double d = idx.num();
  if (d < 0 || d != std::floor(d) || d >= static_cast<double>(a->size())) return Val();
  const json::value* p = &(*a)[static_cast<size_t>(d)];
  return base.owned() ? Val::own(*p) : Val::ref(p);
}

// Truth value of a logical operand: 1 true, 0 false, -1 undefined (anything not a boolean).
int truth(const Val& v) {
  if (v.type() != Type::boolean) return -1;
  return v.boolv() ? 1 : 0;
}

Val eval_binary(const Expr& e, const Env& env) {
  if (e.op == Op::and_) {
    Val l = eval(*e.kids[0], env);
    int a = truth(l);
    if (a == 0) return Val::boolean(false);
    int b = truth(eval(*e.kids[1], env));
    if (b == 0) return Val::boolean(false);
    if (a == 1 && b == 1) return Val::boolean(true);
    return Val();
  }
  if (e.op == Op::or_) {
    int a = truth(eval(*e.kids[0], env));
    if (a == 1) return Val::boolean(true);
    int b = truth(eval(*e.kids[1], env));
    if (b == 1) return Val::boolean(true);
    if (a == 0 && b == 0) return Val::boolean(false);
    return Val();
  }
  Val l = eval(*e.kids[0], env);
  Val r = eval(*e.kids[1], env);
  switch (e.op) {
    case Op::eq:
    case Op::ne: {
      auto eq = sql_equal(l, r);
      if (!eq) return Val();
      return Val::boolean(e.op == Op::eq ? *eq : !*eq);
    }
    case Op::lt:
    case Op::le:
    case Op::gt:
    case Op::ge: {
      auto c = sql_compare(l, r);
      if (!c) return Val();
      bool b = e.op == Op::lt ? *c < 0 : e.op == Op::le ? *c <= 0 : e.op == Op::gt ? *c > 0 : *c >= 0;
      return Val::boolean(b);
    }
    case Op::concat: {
      const json::string* a = l.str();
      const json::string* b = r.str();
      if (!a || !b) return Val();
      json::string s;
      s.reserve(a->size() + b->size());
      s.append(*a);
      s.append(*b);
      return Val::own(json::value(std::move(s)));
    }
    default: break;
  }
  if (l.type() != Type::number || r.type() != Type::number) return Val();
  // Integer arithmetic stays exact where it can (int64 operands, no overflow).
  const json::value* lj = l.jv();
  const json::value* rj = r.jv();
  if (lj->is_int64() && rj->is_int64() && e.op != Op::div) {
    int64_t x = lj->get_int64(), y = rj->get_int64(), z = 0;
    bool ok = true;
    switch (e.op) {
      case Op::add: ok = !__builtin_add_overflow(x, y, &z); break;
      case Op::sub: ok = !__builtin_sub_overflow(x, y, &z); break;
      case Op::mul: ok = !__builtin_mul_overflow(x, y, &z); break;
      case Op::mod:
        if (y == 0) return Val();
        if (y == -1) { z = 0; break; }
        z = x % y;
        break;
      default: ok = false;
    }
    if (ok) return Val::own(json::value(z));
  }
  double x = l.num(), y = r.num();
  switch (e.op) {
    case Op::add: return Val::number(x + y);
    case Op::sub: return Val::number(x - y);
    case Op::mul: return Val::number(x * y);
    case Op::div: return Val::number(x / y);  // x/0 is not finite: undefined
    case Op::mod: return Val::number(std::fmod(x, y));
    default: return Val();
  }
}

Val eval(const Expr& e, const Env& env) {
  if (e.group_key >= 0 && env.keys) return env.keys[e.group_key].view();
  switch (e.kind) {
    case ExprKind::literal: return Val::ref(&e.lit);
    case ExprKind::undefined: return Val();
    case ExprKind::param: return Val::ref(env.params->if_contains(e.name));
    case ExprKind::alias: return env.slots[e.slot].view();
    case ExprKind::property: return property_of(eval(*e.kids[0], env), e.name);
    case ExprKind::index: {
      Val base = eval(*e.kids[0], env);
      return element_of(base, eval(*e.kids[1], env));
    }
    case ExprKind::unary: {
      Val x = eval(*e.kids[0], env);
      if (e.op == Op::not_) {
        int t = truth(x);
        return t < 0 ? Val() : Val::boolean(t == 0);
      }
      if (x.type() != Type::number) return Val();
      if (e.op == Op::plus) return x;
      const json::value* j = x.jv();
      if (j->is_int64() && j->get_int64() != INT64_MIN) return Val::own(json::value(-j->get_int64()));
      return Val::number(-x.num());
    }
    case ExprKind::binary: return eval_binary(e, env);
    // Unsure: the docs do not say what a non-boolean condition does; like WHERE, only true
    // picks the first branch.
    case ExprKind::ternary:
      return eval(*e.kids[0], env).is_true() ? eval(*e.kids[1], env) : eval(*e.kids[2], env);
    case ExprKind::coalesce: {
      Val l = eval(*e.kids[0], env);
      if (l.defined()) return l;
      return eval(*e.kids[1], env);
    }
    case ExprKind::in: {
      // x IN (a, b) is x = a OR x = b with the logical operators' three values (unsure: the
      // docs do not spell out IN across types; this follows the equality and OR tables), and
      // NOT IN is its negation.
      Val x = eval(*e.kids[0], env);
      if (!x.defined()) return Val();
      bool unknown = false;
      for (size_t i = 1; i < e.kids.size(); ++i) {
        auto eq = sql_equal(x, eval(*e.kids[i], env));
        if (!eq)
          unknown = true;
        else if (*eq)
          return Val::boolean(!e.negated);
      }
      if (unknown) return Val();
      return Val::boolean(e.negated);
    }
    case ExprKind::between: {
      Val x = eval(*e.kids[0], env);
      auto lo = sql_compare(x, eval(*e.kids[1], env));
      if (!lo) return Val();
      auto hi = sql_compare(x, eval(*e.kids[2], env));
      if (!hi) return Val();
      bool in = *lo >= 0 && *hi <= 0;
      return Val::boolean(e.negated ? !in : in);
    }
    case ExprKind::call: {
      size_t n = e.kids.size();
      if (n <= 4) {
        Val args[4];
        for (size_t i = 0; i < n; ++i) args[i] = eval(*e.kids[i], env);
        return e.fn->fn(args, n);
      }
      std::vector<Val> args(n);
      for (size_t i = 0; i < n; ++i) args[i] = eval(*e.kids[i], env);
      return e.fn->fn(args.data(), n);
    }
    case ExprKind::aggregate:
      if (!env.aggs) return Val();
      return env.aggs[e.agg_index].view();
    case ExprKind::object: {
      json::object o;
      o.reserve(e.kids.size());
      for (size_t i = 0; i < e.kids.size(); ++i) {
        Val v = eval(*e.kids[i], env);
        if (v.defined()) o.insert_or_assign(e.keys[i], v.take());
      }
      return Val::own(json::value(std::move(o)));
    }
    case ExprKind::array: {
      // Unsure: undefined elements are left out (the docs do not show this case).
      json::array a;
      a.reserve(e.kids.size());
      for (const auto& k : e.kids) {
        Val v = eval(*k, env);
        if (v.defined()) a.push_back(v.take());
      }
      return Val::own(json::value(std::move(a)));
    }
  }
  return Val();
}

// --- aggregation ---------------------------------------------------------------------------

struct Acc {
  double sum = 0;
  int64_t count = 0;
  bool invalid = false;
  Val best;  // MIN/MAX, owned
};

void accumulate(AggKind k, Acc& a, const Val& v) {
  if (!v.defined()) return;  // aggregates skip undefined
  switch (k) {
    case AggKind::count: ++a.count; return;
    case AggKind::countif:
      if (v.is_true()) ++a.count;
      return;
    case AggKind::sum:
    case AggKind::avg:
      if (v.type() != Type::number) {
        a.invalid = true;  // SUM/AVG over a non-number is undefined
        return;
      }
      a.sum += v.num();
      ++a.count;
      return;
    case AggKind::min:
    case AggKind::max: {
      Type t = v.type();
      if (t == Type::array || t == Type::object) {
        a.invalid = true;  // unsure: MIN/MAX over arrays/objects; we answer undefined
        return;
      }
      if (!a.best.defined()) {
        a.best = Val::own(v.to_json());
        return;
      }
      int c = order_compare(v, a.best);
      if (k == AggKind::min ? c < 0 : c > 0) a.best = Val::own(v.to_json());
      return;
    }
  }
}

Val finish(AggKind k, const Acc& a) {
  switch (k) {
    case AggKind::count:
    case AggKind::countif: return Val::number(static_cast<double>(a.count));
    // Unsure: SUM over no values; we answer 0 like the service's VALUE SUM over an empty set.
    case AggKind::sum: return a.invalid ? Val() : Val::number(a.sum);
    case AggKind::avg: return a.invalid || a.count == 0 ? Val() : Val::number(a.sum / static_cast<double>(a.count));
    case AggKind::min:
    case AggKind::max: return a.invalid ? Val() : a.best.view();
  }
  return Val();
}

struct Group {
  std::vector<Val> keys;
  std::vector<Acc> accs;
};

struct Buffered {
  std::vector<Val> keys;  // ORDER BY keys, owned
  json::value row;
  size_t seq = 0;
  // ORDER BY RANK: per FullTextScore its text's token count then each term's count; per
  // VectorDistance its value (NaN when undefined). Scored once every row is in (finalize).
  std::vector<uint32_t> counts;
  std::vector<double> similarities;
};

// One score ORDER BY RANK ranks by: a FullTextScore or a VectorDistance.
struct RankPart {
  const Expr* call = nullptr;
  bool text = false;
  std::vector<fulltext::Phrase> terms;  // text: the search phrases, analyzed
  fulltext::CorpusStats corpus;     // text: over every row scored
  bool descending = true;           // vector: most similar first (Euclidean: ascending)
  double weight = 1;
  bool reversed = false;            // RRF: a negative weight ranks this score worst first
  fulltext::TermCounts last;        // text: the current document's counts (corpus pass)
};

// The RRF constant k in sum(weight / (k + rank)), as the service and its SDKs use.
constexpr double kRrfK = 60;

QueryError limit_error(size_t limit, const char* what) {
  return QueryError{ErrorCode::limit_exceeded, 0, "",
                    std::string("the query needs more than ") + std::to_string(limit) + " " + what +
                        " in memory: add a filter, TOP or OFFSET/LIMIT, or raise the limit"};
}

class Run {
 public:
  Run(const Query& q, const json::object& params, const Limits& limits)
      : q_(q), limits_(limits), slots_(static_cast<size_t>(std::max(1, q.slot_count))) {
    env_.slots = slots_.data();
    env_.params = &params;
  }

  std::optional<QueryError> resolve_counts() {
    for (size_t i = 0; i < q_.params_used.size(); ++i)
      if (!env_.params->if_contains(q_.params_used[i]))
        return QueryError{ErrorCode::parameter, q_.params_pos[i], q_.params_used[i],
                          "parameter " + q_.params_used[i] +
                              " has no value: add it to the request's parameters"};
    auto one = [&](const CountSpec& c, const char* what, int64_t& out) -> std::optional<QueryError> {
      if (!c.present) return std::nullopt;
      if (c.param.empty()) {
        out = c.value;
        return std::nullopt;
      }
      const json::value* v = env_.params->if_contains(c.param);
      double d = v && v->is_number() ? as_double(*v) : -1;
      if (!v || !v->is_number() || d < 0 || d != std::floor(d) || d > 9.0e15)
        return QueryError{ErrorCode::parameter, c.pos, c.param,
                          std::string(what) + " parameter " + c.param +
                              " must be a non-negative integer"};
      out = static_cast<int64_t>(d);
      return std::nullopt;
    };
    if (auto e = one(q_.top, "TOP", top_)) return e;
    if (auto e = one(q_.offset, "OFFSET", offset_)) return e;
    if (auto e = one(q_.limit, "LIMIT", limit_)) return e;
    // How many rows the query can return at most after OFFSET (-1: unbounded).
    take_ = -1;
    if (top_ >= 0) take_ = top_;
    if (limit_ >= 0) take_ = take_ < 0 ? limit_ : std::min(take_, limit_);
    skip_ = std::max<int64_t>(0, offset_);
    if (!q_.order_by.empty() && !q_.rank && !q_.distinct && take_ >= 0)
      keep_ = static_cast<size_t>(skip_ + take_);
    if (q_.rank) return prepare_rank();
    return std::nullopt;
  }

  // ORDER BY RANK's parts, their search terms and weights (constants: literals, parameters).
  std::optional<QueryError> prepare_rank() {
    RankParts parts = rank_parts(q_);
    fused_ = parts.fused;
    for (const Expr* c : parts.scores) {
      RankPart part;
      part.call = c;
      part.text = is_call_to(*c, "FULLTEXTSCORE");
      if (part.text) {
        for (size_t i = 1; i < c->kids.size(); ++i) {
          auto terms = fulltext_terms(eval(*c->kids[i], env_));
          if (!terms)
            return QueryError{ErrorCode::parameter, c->kids[i]->pos, expr_text(*c->kids[i]),
                              "FullTextScore's search terms must be strings: give " +
                                  expr_text(*c->kids[i]) + " a string (or an array of strings)"};
          for (auto& t : *terms)
            if (std::find(part.terms.begin(), part.terms.end(), t) == part.terms.end())
              part.terms.push_back(std::move(t));
        }
        if (part.terms.size() > fulltext::kMaxScoreTerms)
          return QueryError{ErrorCode::semantic, c->pos, c->name,
                            "FullTextScore takes at most " + std::to_string(fulltext::kMaxScoreTerms) +
                                " search terms, got " + std::to_string(part.terms.size()) +
                                ": keep the most telling ones"};
        part.corpus.hits.assign(part.terms.size(), 0);
      } else if (c->kids.size() >= 4) {
        part.descending = !euclidean_options(eval(*c->kids[3], env_));
      }
      rank_.push_back(std::move(part));
    }
    if (parts.weights) {
      // A literal array of numbers, one per score (the binder checked it). A negative weight
      // ranks that score the other way round (worst first), with the weight's size.
      Val w = eval(*parts.weights, env_);
      const json::array* a = w.array();
      for (size_t i = 0; a && i < a->size() && i < rank_.size(); ++i) {
        if (!(*a)[i].is_number()) continue;
        double x = (*a)[i].to_number<double>();
        rank_[i].weight = std::fabs(x);
        if (x < 0) rank_[i].reversed = true;
      }
    }
    return std::nullopt;
  }

  std::optional<QueryError> run(DocumentSource& src, ExecStats& st) {
    if (!q_.has_from) {
      on_row();
    } else {
      while (!done_ && !err_) {
        const json::object* doc = src.next();
        if (!doc) break;
        ++st.documents_read;
        enumerate_doc(*doc);
      }
    }
    st.rows_matched = matched_;
    if (err_) return err_;
    return finalize();
  }

  std::vector<json::value> rows;

  // One document's FROM/JOIN rows; calls on_row for each (used by matches() too).
  template <class F>
  void for_each_row(const json::object& doc, F&& f) {
    Val v = Val::obj(&doc);
    for (const auto& step : q_.from.path) {
      v = element_of(v, Val::ref(&step->lit));
      if (!v.defined()) return;
    }
    if (q_.from.iterate) {
      const json::array* a = v.array();
      if (!a) return;
      for (const auto& e : *a) {
        slots_[0] = Val::ref(&e);
        joins(1, f);
        if (done_ || err_) return;
      }
    } else {
      slots_[0] = v;
      joins(1, f);
    }
  }

  Env& env() { return env_; }

 private:
  const Query& q_;
  const Limits& limits_;
  std::vector<Val> slots_;
  Env env_;
  int64_t top_ = -1, offset_ = -1, limit_ = -1, take_ = -1, skip_ = 0;
  size_t keep_ = 0;  // ORDER BY with a bound: rows worth keeping (0: all)
  bool done_ = false;
  std::optional<QueryError> err_;
  size_t matched_ = 0;
  size_t seq_ = 0;
  int64_t emitted_ = 0, skipped_ = 0;
  std::unordered_map<std::string, size_t> seen_;  // DISTINCT
  std::string scratch_;
  std::vector<Buffered> buffer_;
  std::optional<Buffered> worst_;  // with keep_: rows not below this cannot make the cut
  std::unordered_map<std::string, size_t> group_index_;
  std::vector<Group> groups_;
  std::vector<RankPart> rank_;  // ORDER BY RANK's scores
  bool fused_ = false;          // ORDER BY RANK RRF(...)

  template <class F>
  void joins(size_t level, F& f) {
    if (level > q_.joins.size()) {
      f();
      return;
    }
    const FromSource& j = q_.joins[level - 1];
    Val src = eval(*j.expr, env_);
    const json::array* a = src.array();
    if (!a) return;
    for (const auto& e : *a) {
      slots_[level] = Val::ref(&e);
      joins(level + 1, f);
      if (done_ || err_) return;
    }
  }

  void enumerate_doc(const json::object& doc) {
    for_each_row(doc, [this] {
      if (q_.rank) add_to_corpus();
      on_row();
    });
  }

  // ORDER BY RANK: FullTextScore's statistics cover every document read, whatever WHERE keeps
  // (the service measures its BM25 statistics over the whole container; JOIN and FROM ... IN
  // are refused with RANK, so a document is one row).
  void add_to_corpus() {
    for (auto& part : rank_) {
      if (!part.text) continue;
      Val text = eval(*part.call->kids[0], env_);
      const json::string* s = text.str();
      part.last = s ? fulltext::count_terms(*s, part.terms) : fulltext::TermCounts{};
      part.last.tf.resize(part.terms.size(), 0);
      part.corpus.documents += 1;
      part.corpus.total_words += part.last.length;
      for (size_t i = 0; i < part.last.tf.size(); ++i)
        if (part.last.tf[i]) part.corpus.hits[i] += 1;
    }
  }

  bool less(const Buffered& a, const Buffered& b) const {
    for (size_t i = 0; i < q_.order_by.size(); ++i) {
      int c = order_compare(a.keys[i], b.keys[i]);
      if (q_.order_by[i].descending) c = -c;
      if (c) return c < 0;
    }
    return a.seq < b.seq;
  }

  std::optional<json::value> project() {
    if (q_.select_star) {
      const Val& v = slots_[0];
      if (!v.defined()) return std::nullopt;
      return v.to_json();
    }
    if (q_.select_value) {
      Val v = eval(*q_.select[0].expr, env_);
      if (!v.defined()) return std::nullopt;
      return v.take();
    }
    json::object o;
    o.reserve(q_.select.size());
    for (const auto& item : q_.select) {
      Val v = eval(*item.expr, env_);
      if (v.defined()) o.insert_or_assign(item.name, v.take());
    }
    return json::value(std::move(o));
  }

  // Streams a final row through DISTINCT, OFFSET and TOP/LIMIT.
  void emit(json::value row) {
    if (q_.distinct) {
      scratch_.clear();
      canonical(row, scratch_);
      if (seen_.count(scratch_)) return;
      if (seen_.size() >= limits_.max_buffered_rows) {
        err_ = limit_error(limits_.max_buffered_rows, "distinct rows");
        return;
      }
      seen_.emplace(scratch_, 0);
    }
    if (skipped_ < skip_) {
      ++skipped_;
      return;
    }
    if (take_ >= 0 && emitted_ >= take_) {
      done_ = true;
      return;
    }
    rows.push_back(std::move(row));
    ++emitted_;
    if (take_ >= 0 && emitted_ >= take_) done_ = true;
  }

  void on_row() {
    if (q_.where && !eval(*q_.where, env_).is_true()) return;
    ++matched_;
    if (q_.grouped) {
      group_row();
      return;
    }
    if (q_.order_by.empty()) {
      if (auto row = project()) emit(std::move(*row));
      return;
    }
    if (q_.rank) {
      rank_row();
      return;
    }
    Buffered b;
    b.keys.reserve(q_.order_by.size());
    for (const auto& k : q_.order_by) {
      Val v = eval(*k.expr, env_);
      b.keys.push_back(v.owned() ? std::move(v) : (v.defined() ? Val::own(v.to_json()) : Val()));
    }
    b.seq = seq_++;
    if (keep_ && worst_ && !less(b, *worst_)) return;  // cannot make the cut
    auto row = project();
    if (!row) return;
    b.row = std::move(*row);
    if (keep_ == 0 && buffer_.size() >= limits_.max_buffered_rows) {
      err_ = limit_error(limits_.max_buffered_rows, "rows for ORDER BY");
      return;
    }
    buffer_.push_back(std::move(b));
    if (keep_ && buffer_.size() >= std::max<size_t>(2 * keep_, 64)) trim();
  }

  // ORDER BY RANK: what each part needs of this row to score it once all rows are in.
  void rank_row() {
    Buffered b;
    b.seq = seq_++;
    for (auto& part : rank_) {
      if (!part.text) {
        Val v = eval(*part.call, env_);
        b.similarities.push_back(v.type() == Type::number ? v.num() : std::nan(""));
        continue;
      }
      b.counts.push_back(part.last.length);
      b.counts.insert(b.counts.end(), part.last.tf.begin(), part.last.tf.end());
    }
    auto row = project();
    if (!row) return;
    b.row = std::move(*row);
    if (buffer_.size() >= limits_.max_buffered_rows) {
      err_ = QueryError{ErrorCode::limit_exceeded, 0, "",
                        "ORDER BY RANK ranks every matching item and this query matches more than " +
                            std::to_string(limits_.max_buffered_rows) +
                            ": narrow it with a WHERE filter (TOP does not bound the ranking)"};
      return;
    }
    buffer_.push_back(std::move(b));
  }

  // ORDER BY RANK over the buffered rows: FullTextScore alone orders by its BM25 score
  // against the statistics of every row scored; RRF adds weight / (60 + rank) over its parts,
  // each part ranked best first with equal scores sharing a rank (as the service's SDKs fuse
  // component results). A row a part cannot score (no vector) ranks after all that it can.
  void finish_rank() {
    size_t n = buffer_.size();
    std::vector<double> final_score(n, 0);
    std::vector<std::vector<double>> part_scores(rank_.size(), std::vector<double>(n));
    for (size_t r = 0; r < n; ++r) {
      size_t at = 0, vec = 0;
      for (size_t p = 0; p < rank_.size(); ++p) {
        const RankPart& part = rank_[p];
        if (!part.text) {
          part_scores[p][r] = buffer_[r].similarities[vec++];
          continue;
        }
        fulltext::TermCounts c;
        c.length = buffer_[r].counts[at++];
        c.tf.assign(buffer_[r].counts.begin() + static_cast<long>(at),
                    buffer_[r].counts.begin() + static_cast<long>(at + part.terms.size()));
        at += part.terms.size();
        part_scores[p][r] = fulltext::bm25(c, part.corpus);
      }
    }
    if (!fused_) {
      final_score = part_scores[0];
      if (!rank_[0].text && !rank_[0].descending)  // Euclidean: the nearest first
        for (auto& x : final_score) x = -x;
      for (auto& x : final_score)
        if (std::isnan(x)) x = -HUGE_VAL;  // no vector: after every scored row
    } else {
      std::vector<size_t> order(n);
      for (size_t p = 0; p < rank_.size(); ++p) {
        const auto& sc = part_scores[p];
        bool desc = (rank_[p].text || rank_[p].descending) != rank_[p].reversed;
        for (size_t i = 0; i < n; ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          bool na = std::isnan(sc[a]), nb = std::isnan(sc[b]);
          if (na || nb) return !na && nb;
          return desc ? sc[a] > sc[b] : sc[a] < sc[b];
        });
        double rank = 0;
        for (size_t i = 0; i < n; ++i) {
          size_t r = order[i];
          if (i == 0 || !(sc[r] == sc[order[i - 1]] || (std::isnan(sc[r]) && std::isnan(sc[order[i - 1]]))))
            ++rank;
          final_score[r] += rank_[p].weight / (kRrfK + rank);
        }
      }
    }
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return final_score[a] > final_score[b]; });
    for (size_t r : order) {
      emit(std::move(buffer_[r].row));
      if (err_ || done_) break;
    }
  }

  // Keeps the keep_ smallest rows of the buffer.
  void trim() {
    auto cmp = [this](const Buffered& a, const Buffered& b) { return less(a, b); };
    if (buffer_.size() > keep_) {
      std::nth_element(buffer_.begin(), buffer_.begin() + static_cast<long>(keep_ - 1), buffer_.end(), cmp);
      buffer_.resize(keep_);
    }
    auto w = std::max_element(buffer_.begin(), buffer_.end(), cmp);
    if (w != buffer_.end() && buffer_.size() == keep_) {
      Buffered copy;
      copy.keys = w->keys;
      copy.seq = w->seq;
      worst_ = std::move(copy);
    }
  }

  void group_row() {
    scratch_.clear();
    std::vector<Val> keys;
    keys.reserve(q_.group_by.size());
    for (const auto& g : q_.group_by) {
      keys.push_back(eval(*g, env_));
      canonical(keys.back(), scratch_);
      scratch_.push_back('\x1f');
    }
    size_t gi;
    auto it = group_index_.find(scratch_);
    if (it == group_index_.end()) {
      if (groups_.size() >= limits_.max_buffered_rows) {
        err_ = limit_error(limits_.max_buffered_rows, "groups");
        return;
      }
      Group g;
      for (auto& k : keys) g.keys.push_back(k.defined() ? Val::own(k.to_json()) : Val());
      g.accs.resize(q_.aggregates.size());
      gi = groups_.size();
      groups_.push_back(std::move(g));
      group_index_.emplace(scratch_, gi);
    } else {
      gi = it->second;
    }
    Group& g = groups_[gi];
    for (size_t i = 0; i < q_.aggregates.size(); ++i) {
      const Expr* a = q_.aggregates[i];
      accumulate(a->agg, g.accs[i], eval(*a->kids[0], env_));
    }
  }

  std::optional<QueryError> finalize() {
    if (q_.grouped) {
      // Aggregates without GROUP BY answer one row even over no documents.
      if (groups_.empty() && q_.group_by.empty()) {
        Group g;
        g.accs.resize(q_.aggregates.size());
        groups_.push_back(std::move(g));
      }
      // Groups come out in the order they were first seen (unsure: the service's order of
      // groups is unspecified).
      std::vector<Val> aggs(q_.aggregates.size());
      for (auto& g : groups_) {
        for (size_t i = 0; i < aggs.size(); ++i) aggs[i] = finish(q_.aggregates[i]->agg, g.accs[i]);
        env_.keys = g.keys.data();
        env_.aggs = aggs.data();
        if (auto row = project()) emit(std::move(*row));
        if (err_ || done_) break;
      }
      env_.keys = nullptr;
      env_.aggs = nullptr;
      return err_;
    }
    if (q_.rank) {
      finish_rank();
      return err_;
    }
    if (!q_.order_by.empty()) {
      auto cmp = [this](const Buffered& a, const Buffered& b) { return less(a, b); };
      if (keep_) trim();
      std::sort(buffer_.begin(), buffer_.end(), cmp);
      for (auto& b : buffer_) {
        emit(std::move(b.row));
        if (err_ || done_) break;
      }
    }
    return err_;
  }
};

}  // namespace

Expected<std::vector<json::value>> execute(const Query& query, const json::object& params,
                                           DocumentSource& source, const Limits& limits,
                                           ExecStats* stats) {
  ExecStats local;
  ExecStats& st = stats ? *stats : local;
  Run run(query, params, limits);
  if (auto e = run.resolve_counts()) return *e;
  if (auto e = run.run(source, st)) return *e;
  return std::move(run.rows);
}

Expected<bool> matches(const Query& query, const json::object& params,
                       const json::object& document) {
  Run run(query, params, Limits{});
  for (size_t i = 0; i < query.params_used.size(); ++i)
    if (!params.if_contains(query.params_used[i]))
      return QueryError{ErrorCode::parameter, query.params_pos[i], query.params_used[i],
                        "parameter " + query.params_used[i] + " has no value"};
  bool any = false;
  run.for_each_row(document, [&] {
    if (!query.where || eval(*query.where, run.env()).is_true()) any = true;
  });
  return any;
}

}  // namespace nimbus::docsql
