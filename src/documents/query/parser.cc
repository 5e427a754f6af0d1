#include "documents/query/parser.h"

#include <boost/json/serialize.hpp>
#include <algorithm>
#include <cctype>
#include <optional>

#include "common/ascii.h"
#include "documents/query/builtins.h"
#include "documents/query/lexer.h"
#include "documents/query/value.h"

namespace nimbus::docsql {

const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::syntax: return "syntax";
    case ErrorCode::unknown_function: return "unknown_function";
    case ErrorCode::bad_argument_count: return "bad_argument_count";
    case ErrorCode::unresolved_identifier: return "unresolved_identifier";
    case ErrorCode::semantic: return "semantic";
    case ErrorCode::parameter: return "parameter";
    case ErrorCode::too_long: return "too_long";
    case ErrorCode::too_deep: return "too_deep";
    case ErrorCode::limit_exceeded: return "limit_exceeded";
  }
  return "?";
}

std::string QueryError::to_string() const {
  std::string s = code == ErrorCode::syntax ? "Syntax error" : "Query error";
  s += " at position " + std::to_string(position);
  if (!token.empty()) s += " near '" + token + "'";
  s += ": " + message;
  return s;
}

namespace {

std::optional<AggKind> aggregate_of(std::string_view name) {
  std::string u(name);
  for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u == "COUNT") return AggKind::count;
  if (u == "SUM") return AggKind::sum;
  if (u == "AVG") return AggKind::avg;
  if (u == "MIN") return AggKind::min;
  if (u == "MAX") return AggKind::max;
  if (u == "COUNTIF") return AggKind::countif;
  return std::nullopt;
}

const char* op_text(Op op) {
  switch (op) {
    case Op::neg: return "-";
    case Op::plus: return "+";
    case Op::not_: return "NOT ";
    case Op::add: return "+";
    case Op::sub: return "-";
    case Op::mul: return "*";
    case Op::div: return "/";
    case Op::mod: return "%";
    case Op::concat: return "||";
    case Op::eq: return "=";
    case Op::ne: return "!=";
    case Op::lt: return "<";
    case Op::le: return "<=";
    case Op::gt: return ">";
    case Op::ge: return ">=";
    case Op::and_: return "AND";
    case Op::or_: return "OR";
    default: return "?";
  }
}

bool simple_name(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

bool is_operator_node(const Expr& e) {
  switch (e.kind) {
    case ExprKind::binary:
    case ExprKind::ternary:
    case ExprKind::coalesce:
    case ExprKind::in:
    case ExprKind::between: return true;
    default: return false;
  }
}

void print(const Expr& e, std::string& out);
void print_sub(const Expr& e, std::string& out) {
  if (is_operator_node(e)) {
    out.push_back('(');
    print(e, out);
    out.push_back(')');
  } else {
    print(e, out);
  }
}

void print(const Expr& e, std::string& out) {
  switch (e.kind) {
    case ExprKind::literal:
      if (e.lit.is_number())
        out += number_text(as_double(e.lit));
      else
        out += boost::json::serialize(e.lit);
      break;
    case ExprKind::undefined: out += "undefined"; break;
    case ExprKind::param:
    case ExprKind::alias: out += e.name; break;
    case ExprKind::property:
      print_sub(*e.kids[0], out);
      if (simple_name(e.name)) {
        out.push_back('.');
        out += e.name;
      } else {
        out += "[" + boost::json::serialize(boost::json::value(boost::json::string(e.name))) + "]";
      }
      break;
    case ExprKind::index:
      print_sub(*e.kids[0], out);
      out.push_back('[');
      print(*e.kids[1], out);
      out.push_back(']');
      break;
    case ExprKind::unary: {
      out += op_text(e.op);
      // "- -x", never "--x": two dashes start a comment, which would swallow the rest of the
      // line when the text is parsed again (a hybrid plan's queries are).
      size_t at = out.size();
      print_sub(*e.kids[0], out);
      if (at < out.size() && at > 0 && (out[at] == '-' || out[at] == '+') && (out[at - 1] == '-' || out[at - 1] == '+'))
        out.insert(at, 1, ' ');
      break;
    }
    case ExprKind::binary:
      print_sub(*e.kids[0], out);
      out.push_back(' ');
      out += op_text(e.op);
      out.push_back(' ');
      print_sub(*e.kids[1], out);
      break;
    case ExprKind::ternary:
      print_sub(*e.kids[0], out);
      out += " ? ";
      print_sub(*e.kids[1], out);
      out += " : ";
      print_sub(*e.kids[2], out);
      break;
    case ExprKind::coalesce:
      print_sub(*e.kids[0], out);
      out += " ?? ";
      print_sub(*e.kids[1], out);
      break;
    case ExprKind::in:
      print_sub(*e.kids[0], out);
      out += e.negated ? " NOT IN (" : " IN (";
      for (size_t i = 1; i < e.kids.size(); ++i) {
        if (i > 1) out += ", ";
        print(*e.kids[i], out);
      }
      out.push_back(')');
      break;
    case ExprKind::between:
      print_sub(*e.kids[0], out);
      out += e.negated ? " NOT BETWEEN " : " BETWEEN ";
      print_sub(*e.kids[1], out);
      out += " AND ";
      print_sub(*e.kids[2], out);
      break;
    case ExprKind::call:
    case ExprKind::aggregate: {
      if (e.kind == ExprKind::call) {
        out += e.fn ? e.fn->name : e.name;
      } else {
        static const char* names[] = {"COUNT", "SUM", "AVG", "MIN", "MAX", "COUNTIF"};  // AggKind order
        out += names[static_cast<int>(e.agg)];
      }
      out.push_back('(');
      for (size_t i = 0; i < e.kids.size(); ++i) {
        if (i) out += ", ";
        print(*e.kids[i], out);
      }
      out.push_back(')');
      break;
    }
    case ExprKind::object:
      out.push_back('{');
      for (size_t i = 0; i < e.kids.size(); ++i) {
        if (i) out += ", ";
        if (simple_name(e.keys[i]))
          out += e.keys[i];
        else
          out += boost::json::serialize(boost::json::value(boost::json::string(e.keys[i])));
        out += ": ";
        print(*e.kids[i], out);
      }
      out.push_back('}');
      break;
    case ExprKind::array:
      out.push_back('[');
      for (size_t i = 0; i < e.kids.size(); ++i) {
        if (i) out += ", ";
        print(*e.kids[i], out);
      }
      out.push_back(']');
      break;
  }
}

// ------------------------------------------------------------------------------------------

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& o, const ContainerDefinitions* container)
      : text_(text), lex_(text), opt_(o), container_(container) {}

  Expected<std::shared_ptr<const Query>> run() {
    if (text_.size() > opt_.max_length)
      return QueryError{ErrorCode::too_long, opt_.max_length, "",
                        "the query is " + std::to_string(text_.size()) +
                            " bytes; the limit is " + std::to_string(opt_.max_length) +
                            " bytes: shorten it or pass large values as parameters"};
    auto q = std::make_shared<Query>();
    q->text = std::string(text_);
    if (!advance() || !parse_select(*q)) return *err_;
    substitute_computed(*q);
    apply_vector_policy(*q);
    if (!bind(*q)) return *err_;
    return std::shared_ptr<const Query>(std::move(q));
  }

 private:
  std::string_view text_;
  Lexer lex_;
  ParseOptions opt_;
  const ContainerDefinitions* container_;

  // A computed property's expression, copied for one reference at `pos`: its own FROM alias
  // renamed to the query's. Unbound (binding follows).
  static ExprPtr copy_expr(const Expr& e, const std::string& from, const std::string& to, uint32_t pos) {
    auto c = std::make_unique<Expr>();
    c->kind = e.kind;
    c->op = e.op;
    c->negated = e.negated;
    c->pos = pos;
    c->height = e.height;
    c->agg = e.agg;
    c->fn = e.fn;
    c->name = e.kind == ExprKind::alias && e.name == from ? to : e.name;
    c->lit = e.lit;
    c->keys = e.keys;
    for (const auto& k : e.kids) c->kids.push_back(copy_expr(*k, from, to, pos));
    return c;
  }

  void substitute_computed(Query& q) {
    if (!container_ || container_->computed.empty() || !q.has_from || q.from.iterate || !q.from.path.empty()) return;
    auto walk = [&](auto& self, ExprPtr& e) -> void {
      if (!e) return;
      if (e->kind == ExprKind::property && e->kids.size() == 1 && e->kids[0]->kind == ExprKind::alias &&
          e->kids[0]->name == q.from.alias) {
        for (const auto& cp : container_->computed)
          if (cp.name == e->name) {
            e = copy_expr(*cp.definition->select[0].expr, cp.definition->from.alias, q.from.alias, e->pos);
            return;
          }
      }
      for (auto& k : e->kids) self(self, k);
    };
    for (auto& item : q.select) walk(walk, item.expr);
    walk(walk, q.where);
    for (auto& g : q.group_by) walk(walk, g);
    for (auto& o : q.order_by) walk(walk, o.expr);
    for (auto& j : q.joins) walk(walk, j.expr);
  }
  // VectorDistance(<doc path>, ...) without a distanceFunction of its own, over a path the
  // container's vectorEmbeddingPolicy names: the policy's function is written into its options
  // (so evaluation, the query plan and ORDER BY's default direction all see it).
  void apply_vector_policy(Query& q) {
    if (!container_ || container_->vector_functions.empty() || !q.has_from || q.from.iterate ||
        !q.from.path.empty())
      return;
    auto path_of = [&](const Expr& e, std::vector<std::string>& out) {
      const Expr* x = &e;
      std::vector<std::string> rev;
      while (x->kind == ExprKind::property || (x->kind == ExprKind::index && x->kids[1]->kind == ExprKind::literal &&
                                               x->kids[1]->lit.is_string())) {
        rev.push_back(x->kind == ExprKind::property ? x->name : std::string(x->kids[1]->lit.get_string()));
        x = x->kids[0].get();
      }
      if (x->kind != ExprKind::alias || x->name != q.from.alias || rev.empty()) return false;
      out.assign(rev.rbegin(), rev.rend());
      return true;
    };
    auto function_for = [&](const Expr& call) -> const std::string* {
      for (size_t i = 0; i < 2 && i < call.kids.size(); ++i) {
        std::vector<std::string> path;
        if (!path_of(*call.kids[i], path)) continue;
        for (const auto& [p, fn] : container_->vector_functions)
          if (p == path) return &fn;
      }
      return nullptr;
    };
    auto walk = [&](auto& self, Expr& e) -> void {
      for (auto& k : e.kids) self(self, *k);
      if (e.kind != ExprKind::call || e.kids.size() < 2 ||
          !(ascii_iequals(e.name, "VectorDistance") || ascii_iequals(e.name, "_VectorScore")))
        return;
      const std::string* fn = function_for(e);
      if (!fn) return;
      if (e.kids.size() == 2) {
        auto brute = node(ExprKind::literal, e.pos);
        brute->lit = false;
        e.kids.push_back(std::move(brute));
      }
      if (e.kids.size() == 3) e.kids.push_back(node(ExprKind::object, e.pos));
      Expr& options = *e.kids[3];
      if (options.kind != ExprKind::object) return;  // a parameter: its own choice
      for (const auto& k : options.keys)
        if (ascii_iequals(k, "distanceFunction")) return;
      auto name = node(ExprKind::literal, e.pos);
      name->lit = boost::json::string(*fn);
      options.keys.push_back("distanceFunction");
      options.kids.push_back(std::move(name));
    };
    for (auto& item : q.select) walk(walk, *item.expr);
    if (q.where) walk(walk, *q.where);
    for (auto& o : q.order_by) {
      walk(walk, *o.expr);
      if (!o.direction_given) o.descending = most_similar_first_is_descending(*o.expr);
    }
  }

  // `ORDER BY VectorDistance(...)` without a direction orders the most similar first, as the
  // service does: descending for cosine similarity and dot product, ascending for the
  // Euclidean distance (read from a literal options object; cosine without one).
  static bool most_similar_first_is_descending(const Expr& e) {
    if (e.kind != ExprKind::call || !ascii_iequals(e.name, "VectorDistance")) return false;
    if (e.kids.size() < 4 || e.kids[3]->kind != ExprKind::object) return true;
    const Expr& o = *e.kids[3];
    for (size_t i = 0; i < o.keys.size() && i < o.kids.size(); ++i) {
      if (!ascii_iequals(o.keys[i], "distanceFunction")) continue;
      const Expr& v = *o.kids[i];
      return !(v.kind == ExprKind::literal && v.lit.is_string() && ascii_iequals(v.lit.as_string(), "euclidean"));
    }
    return true;
  }

  Token tok_;
  std::optional<QueryError> err_;
  int depth_ = 0;
  int unnamed_ = 0;

  // --- error helpers ---
  bool fail(ErrorCode code, uint32_t pos, std::string token, std::string msg) {
    if (!err_) err_ = QueryError{code, pos, token_display(token), std::move(msg)};
    return false;
  }
  std::string found() const {
    if (tok_.kind == Tok::end) return "the end of the query";
    return "'" + token_display(tok_.text) + "'";
  }
  bool expected(std::string_view what) {
    return fail(ErrorCode::syntax, tok_.pos, std::string(tok_.text),
                "expected " + std::string(what) + ", found " + found());
  }
  bool advance() {
    auto t = lex_.next();
    if (!t) {
      if (!err_) err_ = t.error();
      tok_ = Token{};
      tok_.pos = static_cast<uint32_t>(t.error().position);
      return false;
    }
    tok_ = std::move(t.value());
    return true;
  }
  bool accept(std::string_view sym) {
    if (!tok_.is(sym)) return false;
    return advance();
  }
  bool accept(Kw k) {
    if (!tok_.is(k)) return false;
    return advance();
  }
  bool expect(std::string_view sym) {
    if (!tok_.is(sym)) return expected("'" + std::string(sym) + "'");
    return advance();
  }

  ExprPtr node(ExprKind k, uint32_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->pos = pos;
    return e;
  }
  // Adds a child, keeping the height; false (with the error set) when the tree gets too tall.
  bool add(Expr& parent, ExprPtr kid) {
    parent.height = std::max(parent.height, kid->height + 1);
    parent.kids.push_back(std::move(kid));
    if (parent.height > static_cast<uint32_t>(opt_.max_height))
      return fail(ErrorCode::too_deep, parent.pos, "",
                  "expression too deeply nested (more than " + std::to_string(opt_.max_height) +
                      " levels): split it up");
    return true;
  }

  struct DepthGuard {
    Parser& p;
    bool ok;
    explicit DepthGuard(Parser& parser) : p(parser) {
      ok = ++p.depth_ <= p.opt_.max_depth;
      if (!ok)
        p.fail(ErrorCode::too_deep, p.tok_.pos, std::string(p.tok_.text),
               "nesting deeper than " + std::to_string(p.opt_.max_depth) +
                   " levels: simplify the query");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // --- clauses ---
  bool parse_count(CountSpec& c, const char* clause) {
    c.present = true;
    c.pos = tok_.pos;
    if (tok_.kind == Tok::param) {
      c.param = std::string(tok_.text);
      return advance();
    }
    if (tok_.kind == Tok::number && tok_.num.is_int64() && tok_.num.get_int64() >= 0) {
      c.value = tok_.num.get_int64();
      return advance();
    }
    return fail(ErrorCode::syntax, tok_.pos, std::string(tok_.text),
                std::string(clause) + " expects a non-negative integer or a parameter, found " +
                    found());
  }

  bool parse_select(Query& q) {
    if (!tok_.is(Kw::select)) return expected("SELECT");
    if (!advance()) return false;
    if (tok_.is(Kw::distinct)) {
      q.distinct = true;
      if (!advance()) return false;
    }
    if (tok_.is(Kw::top)) {
      if (!advance() || !parse_count(q.top, "TOP")) return false;
    }
    if (tok_.is("*")) {
      q.select_star = true;
      if (!advance()) return false;
    } else if (tok_.is(Kw::value)) {
      q.select_value = true;
      if (!advance()) return false;
      if (tok_.is("*"))
        return fail(ErrorCode::syntax, tok_.pos, "*",
                    "SELECT VALUE * is not valid: use SELECT * or SELECT VALUE c");
      SelectItem item;
      item.expr = parse_expr();
      if (!item.expr) return false;
      q.select.push_back(std::move(item));
    } else {
      for (;;) {
        SelectItem item;
        item.expr = parse_expr();
        if (!item.expr) return false;
        if (tok_.is(Kw::as)) {
          if (!advance()) return false;
          if (tok_.kind != Tok::ident) return expected("an alias after AS");
          item.name = std::string(tok_.text);
          if (!advance()) return false;
        } else if (tok_.kind == Tok::ident) {
          item.name = std::string(tok_.text);
          if (!advance()) return false;
        } else {
          item.name = default_name(*item.expr);
        }
        q.select.push_back(std::move(item));
        if (!tok_.is(",")) break;
        if (!advance()) return false;
      }
    }
    if (tok_.is(Kw::from)) {
      if (!advance() || !parse_from(q)) return false;
    }
    while (tok_.is(Kw::join)) {
      if (!q.has_from) return expected("FROM before JOIN");
      if (!advance() || !parse_join(q)) return false;
    }
    if (tok_.is(Kw::where)) {
      if (!advance()) return false;
      q.where = parse_expr();
      if (!q.where) return false;
    }
    if (tok_.is(Kw::group)) {
      if (!advance()) return false;
      if (!tok_.is(Kw::by)) return expected("BY after GROUP");
      if (!advance()) return false;
      for (;;) {
        auto e = parse_expr();
        if (!e) return false;
        q.group_by.push_back(std::move(e));
        if (!tok_.is(",")) break;
        if (!advance()) return false;
      }
    }
    if (tok_.is(Kw::order)) {
      if (!advance()) return false;
      if (!tok_.is(Kw::by)) return expected("BY after ORDER");
      if (!advance()) return false;
      // `ORDER BY RANK <FullTextScore(...) | RRF(...)>`: RANK is no keyword elsewhere (`ORDER BY
      // rank` is an alias), so it counts only when a function name follows it.
      if (tok_.kind == Tok::ident && ascii_iequals(tok_.text, "RANK")) {
        Lexer look = lex_;
        auto after = look.next();
        if (after && after.value().kind == Tok::ident) {
          if (!advance()) return false;
          OrderKey k;
          k.expr = parse_expr();
          if (!k.expr) return false;
          if (tok_.is(","))
            return fail(ErrorCode::syntax, tok_.pos, ",",
                        "ORDER BY RANK takes one scoring function: combine several with RRF(...)");
          if (tok_.is(Kw::asc) || tok_.is(Kw::desc))
            return fail(ErrorCode::syntax, tok_.pos, std::string(tok_.text),
                        "Specifying a sort order (ASC or DESC) in the ORDER BY RANK clause is not "
                        "allowed: it takes one scoring function, and the best scores come first");
          q.rank = true;
          q.order_by.push_back(std::move(k));
        }
      }
      for (; !q.rank;) {
        OrderKey k;
        k.expr = parse_expr();
        if (!k.expr) return false;
        if (tok_.is(Kw::desc)) {
          k.descending = true;
          k.direction_given = true;
          if (!advance()) return false;
        } else if (tok_.is(Kw::asc)) {
          k.direction_given = true;
          if (!advance()) return false;
        } else {
          k.descending = most_similar_first_is_descending(*k.expr);
        }
        q.order_by.push_back(std::move(k));
        if (!tok_.is(",")) break;
        if (!advance()) return false;
      }
    }
    if (tok_.is(Kw::offset)) {
      if (!advance() || !parse_count(q.offset, "OFFSET")) return false;
      if (!tok_.is(Kw::limit)) return expected("LIMIT after OFFSET (OFFSET n LIMIT m)");
      if (!advance() || !parse_count(q.limit, "LIMIT")) return false;
    } else if (tok_.is(Kw::limit)) {
      return fail(ErrorCode::syntax, tok_.pos, std::string(tok_.text),
                  "LIMIT needs OFFSET before it: write OFFSET 0 LIMIT n");
    }
    if (tok_.kind != Tok::end) {
      std::string what = "the end of the query";
      if (!q.has_from) what = "FROM, WHERE, ORDER BY or " + what;
      return expected(what);
    }
    return true;
  }

  std::string default_name(const Expr& e) {
    if (e.kind == ExprKind::property) return e.name;
    if (e.kind == ExprKind::alias) return e.name;
    return "$" + std::to_string(++unnamed_);
  }

  // container_expr := (ident | ROOT) ('.' name | '[' string|int ']')*
  bool parse_container_path(FromSource& f, std::string& last_name) {
    if (tok_.is("("))
      return fail(ErrorCode::semantic, tok_.pos, "(",
                  "subqueries are not supported in FROM: use FROM c WHERE ...");
    if (tok_.kind != Tok::ident && !tok_.is(Kw::root))
      return expected("a container name or alias");
    last_name = tok_.is(Kw::root) ? "root" : std::string(tok_.text);
    if (!advance()) return false;
    for (;;) {
      if (tok_.is(".")) {
        if (!advance()) return false;
        if (tok_.kind != Tok::ident && tok_.kind != Tok::keyword)
          return expected("a property name after '.'");
        auto step = node(ExprKind::literal, tok_.pos);
        step->lit = boost::json::string(tok_.text);
        last_name = std::string(tok_.text);
        f.path.push_back(std::move(step));
        if (!advance()) return false;
      } else if (tok_.is("[")) {
        if (!advance()) return false;
        auto step = node(ExprKind::literal, tok_.pos);
        if (tok_.kind == Tok::string) {
          step->lit = boost::json::string(tok_.str);
          last_name = tok_.str;
        } else if (tok_.kind == Tok::number && tok_.num.is_int64() && tok_.num.get_int64() >= 0) {
          step->lit = tok_.num;
          last_name.clear();
        } else {
          return expected("a property name string or an array index");
        }
        f.path.push_back(std::move(step));
        if (!advance() || !expect("]")) return false;
      } else {
        return true;
      }
    }
  }

  bool parse_from(Query& q) {
    q.has_from = true;
    FromSource& f = q.from;
    if (tok_.kind == Tok::ident) {
      // `alias IN container_expr` or a container expression starting with this name.
      Token first = tok_;
      if (!advance()) return false;
      if (tok_.is(Kw::in)) {
        if (!advance()) return false;
        f.alias = std::string(first.text);
        f.alias_pos = first.pos;
        f.iterate = true;
        std::string ignored;
        return parse_container_path(f, ignored);
      }
      // Re-enter the path parser with the name already read.
      std::string last_name(first.text);
      if (tok_.is(".") || tok_.is("[")) {
        // Build the rest of the path by parsing from a synthetic start.
        if (!parse_path_tail(f, last_name)) return false;
      }
      return parse_from_alias(f, last_name, first.pos);
    }
    std::string last_name;
    uint32_t pos = tok_.pos;
    if (!parse_container_path(f, last_name)) return false;
    return parse_from_alias(f, last_name, pos);
  }

  bool parse_path_tail(FromSource& f, std::string& last_name) {
    for (;;) {
      if (tok_.is(".")) {
        if (!advance()) return false;
        if (tok_.kind != Tok::ident && tok_.kind != Tok::keyword)
          return expected("a property name after '.'");
        auto step = node(ExprKind::literal, tok_.pos);
        step->lit = boost::json::string(tok_.text);
        last_name = std::string(tok_.text);
        f.path.push_back(std::move(step));
        if (!advance()) return false;
      } else if (tok_.is("[")) {
        if (!advance()) return false;
        auto step = node(ExprKind::literal, tok_.pos);
        if (tok_.kind == Tok::string) {
          step->lit = boost::json::string(tok_.str);
          last_name = tok_.str;
        } else if (tok_.kind == Tok::number && tok_.num.is_int64() && tok_.num.get_int64() >= 0) {
          step->lit = tok_.num;
          last_name.clear();
        } else {
          return expected("a property name string or an array index");
        }
        f.path.push_back(std::move(step));
        if (!advance() || !expect("]")) return false;
      } else {
        return true;
      }
    }
  }

  bool parse_from_alias(FromSource& f, const std::string& last_name, uint32_t pos) {
    if (tok_.is(Kw::as)) {
      if (!advance()) return false;
      if (tok_.kind != Tok::ident) return expected("an alias after AS");
    }
    if (tok_.kind == Tok::ident) {
      f.alias = std::string(tok_.text);
      f.alias_pos = tok_.pos;
      return advance();
    }
    if (last_name.empty())
      return fail(ErrorCode::syntax, tok_.pos, std::string(tok_.text),
                  "a FROM source ending in an array index needs an alias: FROM c.arr[0] x");
    f.alias = last_name;
    f.alias_pos = pos;
    return true;
  }

  bool parse_join(Query& q) {
    FromSource j;
    if (tok_.is("("))
      return fail(ErrorCode::semantic, tok_.pos, "(",
                  "subqueries are not supported in JOIN: use JOIN x IN c.array");
    if (tok_.kind != Tok::ident) return expected("an alias (JOIN x IN c.array)");
    j.alias = std::string(tok_.text);
    j.alias_pos = tok_.pos;
    if (!advance()) return false;
    if (!tok_.is(Kw::in)) return expected("IN (JOIN x IN c.array)");
    if (!advance()) return false;
    j.iterate = true;
    j.expr = parse_postfix();
    if (!j.expr) return false;
    q.joins.push_back(std::move(j));
    return true;
  }

  // --- expressions (lowest precedence first) ---
  ExprPtr parse_expr() {
    DepthGuard g(*this);
    if (!g.ok) return nullptr;
    uint32_t pos = tok_.pos;
    auto cond = parse_coalesce();
    if (!cond) return nullptr;
    if (!tok_.is("?")) return cond;
    if (!advance()) return nullptr;
    auto a = parse_expr();
    if (!a) return nullptr;
    if (!expect(":")) return nullptr;
    auto b = parse_expr();
    if (!b) return nullptr;
    auto e = node(ExprKind::ternary, pos);
    if (!add(*e, std::move(cond)) || !add(*e, std::move(a)) || !add(*e, std::move(b))) return nullptr;
    return e;
  }

  ExprPtr parse_coalesce() {
    uint32_t pos = tok_.pos;
    auto l = parse_or();
    if (!l) return nullptr;
    if (!tok_.is("??")) return l;
    if (!advance()) return nullptr;
    DepthGuard g(*this);
    if (!g.ok) return nullptr;
    auto r = parse_coalesce();  // right-associative
    if (!r) return nullptr;
    auto e = node(ExprKind::coalesce, pos);
    if (!add(*e, std::move(l)) || !add(*e, std::move(r))) return nullptr;
    return e;
  }

  ExprPtr binary(Op op, uint32_t pos, ExprPtr l, ExprPtr r) {
    auto e = node(ExprKind::binary, pos);
    e->op = op;
    if (!add(*e, std::move(l)) || !add(*e, std::move(r))) return nullptr;
    return e;
  }

  ExprPtr parse_or() {
    uint32_t pos = tok_.pos;
    auto l = parse_and();
    while (l && tok_.is(Kw::or_)) {
      if (!advance()) return nullptr;
      auto r = parse_and();
      if (!r) return nullptr;
      l = binary(Op::or_, pos, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parse_and() {
    uint32_t pos = tok_.pos;
    auto l = parse_not();
    while (l && tok_.is(Kw::and_)) {
      if (!advance()) return nullptr;
      auto r = parse_not();
      if (!r) return nullptr;
      l = binary(Op::and_, pos, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parse_not() {
    if (!tok_.is(Kw::not_)) return parse_compare();
    uint32_t pos = tok_.pos;
    if (!advance()) return nullptr;
    DepthGuard g(*this);
    if (!g.ok) return nullptr;
    auto x = parse_not();
    if (!x) return nullptr;
    auto e = node(ExprKind::unary, pos);
    e->op = Op::not_;
    if (!add(*e, std::move(x))) return nullptr;
    return e;
  }

  ExprPtr parse_compare() {
    uint32_t pos = tok_.pos;
    auto l = parse_concat();
    for (;;) {
      if (!l) return nullptr;
      Op op = Op::none;
      if (tok_.is("=")) op = Op::eq;
      else if (tok_.is("!=") || tok_.is("<>")) op = Op::ne;
      else if (tok_.is("<")) op = Op::lt;
      else if (tok_.is("<=")) op = Op::le;
      else if (tok_.is(">")) op = Op::gt;
      else if (tok_.is(">=")) op = Op::ge;
      if (op != Op::none) {
        if (!advance()) return nullptr;
        auto r = parse_concat();
        if (!r) return nullptr;
        l = binary(op, pos, std::move(l), std::move(r));
        continue;
      }
      bool negated = false;
      if (tok_.is(Kw::not_)) {
        // Only NOT IN / NOT BETWEEN may follow an operand.
        negated = true;
        if (!advance()) return nullptr;
        if (!tok_.is(Kw::in) && !tok_.is(Kw::between)) {
          expected("IN or BETWEEN after NOT");
          return nullptr;
        }
      }
      if (tok_.is(Kw::in)) {
        if (!advance()) return nullptr;
        if (!expect("(")) return nullptr;
        auto e = node(ExprKind::in, pos);
        e->negated = negated;
        if (!add(*e, std::move(l))) return nullptr;
        if (tok_.is(Kw::select)) {
          fail(ErrorCode::semantic, tok_.pos, std::string(tok_.text), "subqueries are not supported in IN");
          return nullptr;
        }
        for (;;) {
          auto x = parse_expr();
          if (!x || !add(*e, std::move(x))) return nullptr;
          if (tok_.is(",")) {
            if (!advance()) return nullptr;
            continue;
          }
          if (!expect(")")) return nullptr;
          break;
        }
        l = std::move(e);
        continue;
      }
      if (tok_.is(Kw::between)) {
        if (!advance()) return nullptr;
        auto lo = parse_concat();
        if (!lo) return nullptr;
        if (!tok_.is(Kw::and_)) {
          expected("AND in BETWEEN low AND high");
          return nullptr;
        }
        if (!advance()) return nullptr;
        auto hi = parse_concat();
        if (!hi) return nullptr;
        auto e = node(ExprKind::between, pos);
        e->negated = negated;
        if (!add(*e, std::move(l)) || !add(*e, std::move(lo)) || !add(*e, std::move(hi)))
          return nullptr;
        l = std::move(e);
        continue;
      }
      return l;
    }
  }

  // String concatenation `||` binds tighter than comparisons and looser than + and -.
  // (Unsure: the service's grammar may rank it differently; parenthesize when mixing.)
  ExprPtr parse_concat() {
    uint32_t pos = tok_.pos;
    auto l = parse_additive();
    while (l && tok_.is("||")) {
      if (!advance()) return nullptr;
      auto r = parse_additive();
      if (!r) return nullptr;
      l = binary(Op::concat, pos, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parse_additive() {
    uint32_t pos = tok_.pos;
    auto l = parse_multiplicative();
    while (l && (tok_.is("+") || tok_.is("-"))) {
      Op op = tok_.is("+") ? Op::add : Op::sub;
      if (!advance()) return nullptr;
      auto r = parse_multiplicative();
      if (!r) return nullptr;
      l = binary(op, pos, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parse_multiplicative() {
    uint32_t pos = tok_.pos;
    auto l = parse_unary();
    while (l && (tok_.is("*") || tok_.is("/") || tok_.is("%"))) {
      Op op = tok_.is("*") ? Op::mul : tok_.is("/") ? Op::div : Op::mod;
      if (!advance()) return nullptr;
      auto r = parse_unary();
      if (!r) return nullptr;
      l = binary(op, pos, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parse_unary() {
    if (tok_.is("-") || tok_.is("+")) {
      uint32_t pos = tok_.pos;
      Op op = tok_.is("-") ? Op::neg : Op::plus;
      if (!advance()) return nullptr;
      DepthGuard g(*this);
      if (!g.ok) return nullptr;
      auto x = parse_unary();
      if (!x) return nullptr;
      // Fold a negative number literal (so -5 is a literal, e.g. for index predicates).
      if (op == Op::neg && x->kind == ExprKind::literal && x->lit.is_number()) {
        if (x->lit.is_int64() && x->lit.get_int64() != INT64_MIN)
          x->lit = -x->lit.get_int64();
        else
          x->lit = make_number(-as_double(x->lit));
        x->pos = pos;
        return x;
      }
      auto e = node(ExprKind::unary, pos);
      e->op = op;
      if (!add(*e, std::move(x))) return nullptr;
      return e;
    }
    if (tok_.is(Kw::not_)) return parse_not();
    return parse_postfix();
  }

  ExprPtr parse_postfix() {
    auto e = parse_primary();
    for (;;) {
      if (!e) return nullptr;
      if (tok_.is(".")) {
        if (!advance()) return nullptr;
        if (tok_.kind != Tok::ident && tok_.kind != Tok::keyword) {
          expected("a property name after '.'");
          return nullptr;
        }
        auto p = node(ExprKind::property, e->pos);
        p->name = std::string(tok_.text);
        if (!add(*p, std::move(e)) || !advance()) return nullptr;
        e = std::move(p);
        continue;
      }
      if (tok_.is("[")) {
        uint32_t pos = e->pos;
        if (!advance()) return nullptr;
        auto idx = parse_expr();
        if (!idx) return nullptr;
        if (!expect("]")) return nullptr;
        if (idx->kind == ExprKind::literal && idx->lit.is_string()) {
          auto p = node(ExprKind::property, pos);
          p->name = std::string(idx->lit.get_string());
          if (!add(*p, std::move(e))) return nullptr;
          e = std::move(p);
        } else {
          auto p = node(ExprKind::index, pos);
          if (!add(*p, std::move(e)) || !add(*p, std::move(idx))) return nullptr;
          e = std::move(p);
        }
        continue;
      }
      return e;
    }
  }

  ExprPtr parse_call(Token name) {
    // tok_ is '('.
    if (!advance()) return nullptr;
    std::vector<ExprPtr> args;
    if (!tok_.is(")")) {
      for (;;) {
        if (tok_.is("*")) {
          fail(ErrorCode::syntax, tok_.pos, "*", "'*' is not an argument: use COUNT(1)");
          return nullptr;
        }
        auto a = parse_expr();
        if (!a) return nullptr;
        args.push_back(std::move(a));
        if (tok_.is(",")) {
          if (!advance()) return nullptr;
          continue;
        }
        break;
      }
    }
    if (!expect(")")) return nullptr;
    ExprPtr e;
    if (auto agg = aggregate_of(name.text)) {
      e = node(ExprKind::aggregate, name.pos);
      e->agg = *agg;
      e->name = std::string(name.text);
      if (args.size() != 1) {
        fail(ErrorCode::bad_argument_count, name.pos, std::string(name.text),
             std::string(name.text) + " takes exactly 1 argument, got " + std::to_string(args.size()));
        return nullptr;
      }
    } else {
      const Builtin* fn = find_builtin(name.text);
      if (!fn) {
        fail(ErrorCode::unknown_function, name.pos, std::string(name.text),
             "unknown function '" + std::string(name.text) +
                 "': it is not a built-in function (user-defined functions are not supported)");
        return nullptr;
      }
      if (args.size() < fn->min_args || args.size() > fn->max_args) {
        std::string want = fn->min_args == fn->max_args ? std::to_string(fn->min_args)
                           : fn->max_args == 255
                               ? "at least " + std::to_string(fn->min_args)
                               : std::to_string(fn->min_args) + " to " + std::to_string(fn->max_args);
        fail(ErrorCode::bad_argument_count, name.pos, std::string(name.text),
             std::string(fn->name) + " takes " + want + " argument" +
                 (fn->max_args == 1 ? "" : "s") + ", got " + std::to_string(args.size()));
        return nullptr;
      }
      e = node(ExprKind::call, name.pos);
      e->fn = fn;
      e->name = std::string(name.text);
    }
    for (auto& a : args)
      if (!add(*e, std::move(a))) return nullptr;
    return e;
  }

  ExprPtr parse_primary() {
    uint32_t pos = tok_.pos;
    switch (tok_.kind) {
      case Tok::number: {
        auto e = node(ExprKind::literal, pos);
        e->lit = tok_.num;
        if (!advance()) return nullptr;
        return e;
      }
      case Tok::string: {
        auto e = node(ExprKind::literal, pos);
        e->lit = boost::json::string(tok_.str);
        if (!advance()) return nullptr;
        return e;
      }
      case Tok::param: {
        auto e = node(ExprKind::param, pos);
        e->name = std::string(tok_.text);
        if (!advance()) return nullptr;
        return e;
      }
      case Tok::ident: {
        Token name = tok_;
        if (!advance()) return nullptr;
        if (tok_.is("(")) return parse_call(std::move(name));
        auto e = node(ExprKind::alias, pos);
        e->name = std::string(name.text);
        return e;
      }
      case Tok::keyword: {
        auto lit = [&](boost::json::value v) -> ExprPtr {
          auto e = node(ExprKind::literal, pos);
          e->lit = std::move(v);
          if (!advance()) return nullptr;
          return e;
        };
        switch (tok_.kw) {
          case Kw::true_: return lit(true);
          case Kw::false_: return lit(false);
          case Kw::null_: return lit(nullptr);
          case Kw::undefined: {
            auto e = node(ExprKind::undefined, pos);
            if (!advance()) return nullptr;
            return e;
          }
          case Kw::root: {
            // ROOT in expressions names the FROM document (`FROM root r` binds it as r).
            auto e = node(ExprKind::alias, pos);
            e->name = "root";
            if (!advance()) return nullptr;
            return e;
          }
          case Kw::exists:
          case Kw::array:
            fail(ErrorCode::semantic, pos, std::string(tok_.text),
                 "subqueries (EXISTS, ARRAY) are not supported");
            return nullptr;
          default:
            expected("an expression");
            return nullptr;
        }
      }
      case Tok::symbol: {
        if (tok_.is("(")) {
          if (!advance()) return nullptr;
          if (tok_.is(Kw::select)) {
            fail(ErrorCode::semantic, tok_.pos, std::string(tok_.text), "subqueries are not supported");
            return nullptr;
          }
          auto e = parse_expr();
          if (!e) return nullptr;
          if (!expect(")")) return nullptr;
          return e;
        }
        if (tok_.is("[")) {
          if (!advance()) return nullptr;
          auto e = node(ExprKind::array, pos);
          if (!tok_.is("]")) {
            for (;;) {
              auto x = parse_expr();
              if (!x || !add(*e, std::move(x))) return nullptr;
              if (tok_.is(",")) {
                if (!advance()) return nullptr;
                continue;
              }
              break;
            }
          }
          if (!expect("]")) return nullptr;
          return e;
        }
        if (tok_.is("{")) {
          if (!advance()) return nullptr;
          auto e = node(ExprKind::object, pos);
          if (!tok_.is("}")) {
            for (;;) {
              std::string key;
              if (tok_.kind == Tok::ident || tok_.kind == Tok::keyword) {
                key = std::string(tok_.text);
              } else if (tok_.kind == Tok::string) {
                key = tok_.str;
              } else {
                expected("a property name in the object");
                return nullptr;
              }
              if (std::find(e->keys.begin(), e->keys.end(), key) != e->keys.end()) {
                fail(ErrorCode::semantic, tok_.pos, std::string(tok_.text),
                     "duplicate property '" + key + "' in the object");
                return nullptr;
              }
              if (!advance() || !expect(":")) return nullptr;
              auto x = parse_expr();
              if (!x) return nullptr;
              e->keys.push_back(std::move(key));
              if (!add(*e, std::move(x))) return nullptr;
              if (tok_.is(",")) {
                if (!advance()) return nullptr;
                continue;
              }
              break;
            }
          }
          if (!expect("}")) return nullptr;
          return e;
        }
        expected("an expression");
        return nullptr;
      }
      case Tok::end:
        expected("an expression");
        return nullptr;
    }
    expected("an expression");
    return nullptr;
  }

  // --- binding ---
  enum class Ctx { select, where, order, group, join };

  std::vector<std::string> aliases_;

  bool bind_expr(Expr& e, Ctx ctx, int visible, Query& q, bool in_agg) {
    switch (e.kind) {
      case ExprKind::alias: {
        for (int i = 0; i < visible; ++i)
          if (aliases_[static_cast<size_t>(i)] == e.name) {
            e.slot = i;
            return true;
          }
        return fail(ErrorCode::unresolved_identifier, e.pos, e.name,
                    "identifier '" + e.name + "' could not be resolved" +
                        (visible ? ": use an alias from FROM or JOIN (" + alias_list(visible) + ")"
                                 : ": the query has no FROM clause"));
      }
      case ExprKind::param: {
        if (std::find(q.params_used.begin(), q.params_used.end(), e.name) == q.params_used.end()) {
          q.params_used.push_back(e.name);
          q.params_pos.push_back(e.pos);
        }
        return true;
      }
      case ExprKind::aggregate: {
        if (ctx != Ctx::select)
          return fail(ErrorCode::semantic, e.pos, e.name,
                      "aggregate " + e.name + " is only allowed in the SELECT list");
        if (in_agg)
          return fail(ErrorCode::semantic, e.pos, e.name, "aggregates cannot be nested");
        e.agg_index = static_cast<int>(q.aggregates.size());
        q.aggregates.push_back(&e);
        return bind_expr(*e.kids[0], ctx, visible, q, true);
      }
      default:
        for (auto& k : e.kids)
          if (!bind_expr(*k, ctx, visible, q, in_agg)) return false;
        return true;
    }
  }

  std::string alias_list(int visible) const {
    std::string s;
    for (int i = 0; i < visible; ++i) {
      if (i) s += ", ";
      s += aliases_[static_cast<size_t>(i)];
    }
    return s;
  }

  // In a grouped SELECT: every reference to an alias must sit inside a GROUP BY expression or
  // an aggregate.
  bool mark_groups(Expr& e, const std::vector<std::string>& keys) {
    if (e.kind == ExprKind::aggregate) return true;
    if (!keys.empty()) {
      std::string t = expr_text(e);
      for (size_t i = 0; i < keys.size(); ++i)
        if (keys[i] == t) {
          e.group_key = static_cast<int>(i);
          return true;
        }
    }
    if (e.kind == ExprKind::alias)
      return fail(ErrorCode::semantic, e.pos, e.name,
                  "'" + e.name + "' in SELECT must be part of the GROUP BY expressions or inside "
                  "an aggregate (COUNT, SUM, AVG, MIN, MAX)");
    for (auto& k : e.kids)
      if (!mark_groups(*k, keys)) return false;
    return true;
  }

  // FullTextScore and RRF only order ORDER BY RANK (their scores depend on every row). The
  // messages are the service's, with the fix after them.
  bool refuse_rank_functions(const Expr& e) {
    if (is_call_to(e, "FULLTEXTSCORE"))
      return fail(ErrorCode::semantic, e.pos, e.name,
                  "The FullTextScore function is only allowed in the ORDER BY RANK clause "
                  "(ORDER BY RANK FullTextScore(...), or inside its RRF(...)); to filter by words, "
                  "use FullTextContains, FullTextContainsAll or FullTextContainsAny");
    if (is_call_to(e, "RRF"))
      return fail(ErrorCode::semantic, e.pos, e.name,
                  "'RRF' is not a recognized built-in function name here: RRF(...) may only "
                  "follow ORDER BY RANK, and not inside another RRF");
    for (const auto& k : e.kids)
      if (!refuse_rank_functions(*k)) return false;
    return true;
  }

  // FullTextScore(<text>, <terms>...): each term a string (a literal, a parameter, or an array
  // of them, the older form FullTextScore(c.text, ['a', 'b'])).
  bool check_score(const Expr& s) {
    auto term = [](const Expr& t) {
      return t.kind == ExprKind::param || (t.kind == ExprKind::literal && t.lit.is_string());
    };
    for (size_t i = 1; i < s.kids.size(); ++i) {
      const Expr& t = *s.kids[i];
      bool ok = term(t) || (t.kind == ExprKind::array && !t.kids.empty() &&
                            std::all_of(t.kids.begin(), t.kids.end(), [&](const ExprPtr& k) { return term(*k); }));
      if (!ok)
        return fail(ErrorCode::semantic, t.pos, expr_text(t),
                    "The second through last arguments of the 'FullTextScore' function must be "
                    "literals of type string (or parameters, or one array of them), as in "
                    "FullTextScore(c.text, 'red', 'bicycle')");
    }
    return refuse_rank_functions(*s.kids[0]);
  }

  static bool number_literal(const Expr& e) {
    if (e.kind == ExprKind::unary && e.op == Op::neg) return number_literal(*e.kids[0]);
    return e.kind == ExprKind::literal && e.lit.is_number();
  }

  // ORDER BY RANK FullTextScore(...) | VectorDistance(...) | RRF(<two or more of them>
  // [, <literal array of weights, one per score>]).
  bool check_rank(const Query& q, const Expr& e) {
    if (!q.has_from || !q.from.path.empty())
      return fail(ErrorCode::semantic, e.pos, "RANK",
                  "ORDER BY RANK ranks the items of the container: write FROM c (over the whole "
                  "item, not a path inside it, and not without FROM)");
    if (!q.joins.empty())
      return fail(ErrorCode::semantic, q.joins[0].alias_pos, q.joins[0].alias,
                  "The JOIN operator is not allowed with the ORDER BY RANK clause");
    if (q.from.iterate)
      return fail(ErrorCode::semantic, q.from.alias_pos, q.from.alias,
                  "The FROM clause with the IN operator is not allowed with the ORDER BY RANK clause");
    const char* kNeedsScore =
        "The ORDER BY RANK clause must be followed by a VectorDistance and/or a FullTextScore "
        "function call (FullTextScore(...), VectorDistance(...), or RRF of two or more of them)";
    if (is_call_to(e, "FULLTEXTSCORE")) return check_score(e);
    if (is_call_to(e, "VECTORDISTANCE")) return refuse_rank_functions(e);
    if (!is_call_to(e, "RRF")) return fail(ErrorCode::semantic, e.pos, expr_text(e), kNeedsScore);
    size_t scores = 0;
    for (size_t i = 0; i < e.kids.size(); ++i) {
      const Expr& k = *e.kids[i];
      if (is_call_to(k, "FULLTEXTSCORE")) {
        if (!check_score(k)) return false;
        ++scores;
      } else if (is_call_to(k, "VECTORDISTANCE")) {
        if (!refuse_rank_functions(k)) return false;
        ++scores;
      } else if (i + 1 == e.kids.size() && i > 0 && k.kind == ExprKind::array) {
        if (k.kids.size() != scores || !std::all_of(k.kids.begin(), k.kids.end(), [](const ExprPtr& w) { return number_literal(*w); }))
          return fail(ErrorCode::semantic, k.pos, expr_text(k),
                      "The last parameter of the RRF function is an optional array of weights. "
                      "When present, it must be a literal array of numbers, one for each of the "
                      "component scores used for the RRF function (" + std::to_string(scores) + " here)");
      } else if (is_call_to(k, "RRF")) {
        return refuse_rank_functions(k);
      } else {
        return fail(ErrorCode::semantic, k.pos, expr_text(k), kNeedsScore);
      }
    }
    if (scores < 2) return fail(ErrorCode::semantic, e.pos, e.name, kNeedsScore);
    return true;
  }

  static uint32_t star_pos(const Query& q) {
    size_t p = q.text.find('*');
    return static_cast<uint32_t>(p == std::string::npos ? 0 : p);
  }

  bool bind(Query& q) {
    if (q.joins.size() > 64)
      return fail(ErrorCode::semantic, q.joins[64].alias_pos, q.joins[64].alias,
                  "too many JOINs (at most 64)");
    if (q.has_from) {
      aliases_.push_back(q.from.alias);
      for (auto& j : q.joins) {
        int visible = static_cast<int>(aliases_.size());
        if (std::find(aliases_.begin(), aliases_.end(), j.alias) != aliases_.end())
          return fail(ErrorCode::semantic, j.alias_pos, j.alias,
                      "alias '" + j.alias + "' is already defined: choose another name");
        if (!bind_expr(*j.expr, Ctx::join, visible, q, false)) return false;
        aliases_.push_back(j.alias);
      }
    }
    q.slot_count = static_cast<int>(aliases_.size());
    int n = q.slot_count;
    if (q.select_star) {
      if (!q.has_from)
        return fail(ErrorCode::semantic, star_pos(q), "*", "SELECT * needs a FROM clause");
      if (!q.joins.empty())
        return fail(ErrorCode::semantic, star_pos(q), "*",
                    "SELECT * is only valid with a single input set: with JOIN, list what to "
                    "project (SELECT c, t or SELECT VALUE c)");
    }
    for (auto& item : q.select)
      if (!bind_expr(*item.expr, Ctx::select, n, q, false)) return false;
    if (q.where && !bind_expr(*q.where, Ctx::where, n, q, false)) return false;
    for (auto& g : q.group_by)
      if (!bind_expr(*g, Ctx::group, n, q, false)) return false;
    for (auto& o : q.order_by)
      if (!bind_expr(*o.expr, Ctx::order, n, q, false)) return false;
    for (CountSpec* c : {&q.top, &q.offset, &q.limit})
      if (c->present && !c->param.empty() &&
          std::find(q.params_used.begin(), q.params_used.end(), c->param) == q.params_used.end()) {
        q.params_used.push_back(c->param);
        q.params_pos.push_back(c->pos);
      }
    if (!q.select_value && !q.select_star) {
      for (size_t i = 0; i < q.select.size(); ++i)
        for (size_t k = 0; k < i; ++k)
          if (q.select[i].name == q.select[k].name)
            return fail(ErrorCode::semantic, q.select[i].expr->pos, q.select[i].name,
                        "duplicate output property '" + q.select[i].name +
                            "': give one of them another alias with AS");
    }
    for (auto& item : q.select)
      if (!refuse_rank_functions(*item.expr)) return false;
    if (q.where && !refuse_rank_functions(*q.where)) return false;
    for (auto& g : q.group_by)
      if (!refuse_rank_functions(*g)) return false;
    for (auto& o : q.order_by)
      if (!(q.rank ? check_rank(q, *o.expr) : refuse_rank_functions(*o.expr))) return false;
    q.grouped = !q.group_by.empty() || !q.aggregates.empty();
    if (q.grouped && q.rank)
      return fail(ErrorCode::semantic, q.order_by[0].expr->pos, "RANK",
                  "ORDER BY RANK cannot be combined with GROUP BY or aggregates");
    if (q.grouped) {
      if (q.select_star)
        return fail(ErrorCode::semantic, star_pos(q), "*", "SELECT * cannot be used with GROUP BY");
      if (!q.order_by.empty() && !q.group_by.empty())
        return fail(ErrorCode::semantic, q.order_by[0].expr->pos, "ORDER BY",
                    "ORDER BY is not supported together with GROUP BY");
      // Aggregates without GROUP BY make one row, which no order changes: the service answers
      // `SELECT VALUE COUNT(c.k) FROM c ORDER BY c.k` (the SDK's own tests send it), so the
      // ORDER BY is checked as written, then dropped (from the plan too).
      q.order_by.clear();
      std::vector<std::string> keys;
      for (auto& g : q.group_by) keys.push_back(expr_text(*g));
      for (auto& item : q.select)
        if (!mark_groups(*item.expr, keys)) return false;
    }
    return true;
  }
};

}  // namespace

RankParts rank_parts(const Query& q) {
  RankParts r;
  const Expr& root = *q.order_by[0].expr;
  r.fused = is_call_to(root, "RRF");
  if (!r.fused) {
    r.scores.push_back(&root);
    return r;
  }
  for (const auto& k : root.kids) {
    if (k->kind == ExprKind::call) r.scores.push_back(k.get());
    else r.weights = k.get();
  }
  return r;
}

std::string expr_text(const Expr& e) {
  std::string out;
  print(e, out);
  return out;
}

Expected<std::shared_ptr<const Query>> parse_query(std::string_view text, const ParseOptions& options,
                                                   const ContainerDefinitions* container) {
  Parser p(text, options, container);
  return p.run();
}

Expected<std::shared_ptr<const Query>> parse_computed_property(std::string_view text) {
  auto q = parse_query(text);
  if (!q) return q;
  const Query& d = *q.value();
  const char* wrong = !d.select_value || d.select.size() != 1 ? "is not SELECT VALUE <expression>"
                      : !d.has_from || d.from.iterate || !d.from.path.empty() ? "does not read FROM the item itself (FROM c)"
                      : !d.joins.empty() ? "has a JOIN"
                      : d.where ? "has a WHERE clause"
                      : !d.group_by.empty() ? "has GROUP BY"
                      : !d.order_by.empty() ? "has ORDER BY"
                      : d.top.present || d.offset.present || d.limit.present ? "has TOP, OFFSET or LIMIT"
                      : d.distinct ? "has DISTINCT"
                      : !d.aggregates.empty() ? "has an aggregate"
                      : !d.params_used.empty() ? "has a parameter"
                      : nullptr;
  if (wrong)
    return QueryError{ErrorCode::semantic, 0, "",
                      std::string("a computed property's query ") + wrong +
                          "; write it as SELECT VALUE <expression over c> FROM c"};
  return q;
}

}  // namespace nimbus::docsql
