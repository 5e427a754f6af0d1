#pragma once
// The syntax tree of one Cosmos DB NoSQL query, as the parser builds it and the binder
// annotates it (alias slots, built-in functions, aggregate indexes, GROUP BY key matches).
// A Query owns its whole tree; a prepared Query is immutable and may be executed by many
// threads at once.
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nimbus::docsql {

struct Builtin;

enum class ExprKind : uint8_t {
  literal,    // lit (null, bool, number, string)
  undefined,  // the `undefined` literal
  param,      // name = "@x"
  alias,      // name = alias; slot after binding
  property,   // kids[0].name
  index,      // kids[0][kids[1]]
  unary,      // op kids[0]
  binary,     // kids[0] op kids[1]
  ternary,    // kids[0] ? kids[1] : kids[2]
  coalesce,   // kids[0] ?? kids[1]
  in,         // kids[0] [NOT] IN (kids[1..])
  between,    // kids[0] [NOT] BETWEEN kids[1] AND kids[2]
  call,       // builtin(kids...)
  aggregate,  // agg(kids[0])
  object,     // {keys[i]: kids[i]}
  array,      // [kids...]
};

enum class Op : uint8_t {
  none, neg, plus, not_, add, sub, mul, div, mod, concat,
  eq, ne, lt, le, gt, ge, and_, or_,
};

enum class AggKind : uint8_t { count, sum, avg, min, max, countif };  // COUNTIF: rows where it is true

struct Expr {
  ExprKind kind = ExprKind::literal;
  Op op = Op::none;
  bool negated = false;        // NOT IN, NOT BETWEEN
  uint32_t pos = 0;            // where the expression starts in the query text
  uint32_t height = 1;         // tree height, bounded by the parser (deep trees overflow stacks)
  int slot = -1;               // alias: binding slot
  int agg_index = -1;          // aggregate: index into the query's accumulators
  int group_key = -1;          // in a grouped SELECT: this subtree is GROUP BY key #group_key
  AggKind agg = AggKind::count;
  const Builtin* fn = nullptr;  // call
  std::string name;            // param / alias / property / function name as written
  boost::json::value lit;      // literal
  std::vector<std::string> keys;  // object construction
  std::vector<std::unique_ptr<Expr>> kids;
};
using ExprPtr = std::unique_ptr<Expr>;

struct SelectItem {
  ExprPtr expr;
  std::string name;  // output property (alias, last path segment, or $1, $2 ...)
};

// FROM / JOIN source. `FROM c` / `FROM root r` / `FROM c.a.b x`: bind the alias to the path
// (iterate = false). `FROM x IN c.arr`, `JOIN x IN c.arr`: bind it to each element.
struct FromSource {
  std::string alias;
  uint32_t alias_pos = 0;
  bool iterate = false;
  // The source path: for FROM, relative to the document (the container name is dropped, so
  // `FROM c IN c.arr` has path ["arr"]); for JOIN, an expression over earlier aliases.
  ExprPtr expr;                 // JOIN: bound expression; FROM: unused (path below)
  std::vector<ExprPtr> path;    // FROM: property / index steps as literal kids (strings/ints)
};

struct OrderKey {
  ExprPtr expr;
  bool descending = false;
  bool direction_given = false;  // ASC or DESC written
};

// TOP n / OFFSET n / LIMIT n: an integer literal or a parameter resolved at execution.
struct CountSpec {
  bool present = false;
  int64_t value = 0;
  std::string param;  // non-empty: "@name"
  uint32_t pos = 0;
};

struct Query {
  std::string text;
  bool distinct = false;
  bool select_star = false;
  bool select_value = false;
  CountSpec top, offset, limit;
  std::vector<SelectItem> select;  // select_value: exactly one, name unused
  bool has_from = false;
  FromSource from;
  std::vector<FromSource> joins;
  ExprPtr where;
  std::vector<ExprPtr> group_by;
  std::vector<OrderKey> order_by;
  // ORDER BY RANK: order_by holds one key, FullTextScore(...), VectorDistance(...) or
  // RRF(...); best first, no direction. A FullTextScore's statistics and RRF's ranks need
  // every matching row.
  bool rank = false;
  // Filled by the binder.
  int slot_count = 0;                 // 1 + joins.size() when has_from
  std::vector<const Expr*> aggregates;  // every aggregate call in SELECT, by agg_index
  bool grouped = false;               // GROUP BY or aggregates in SELECT
  std::vector<std::string> params_used;  // distinct "@names" in the query
  std::vector<uint32_t> params_pos;
};

}  // namespace nimbus::docsql
