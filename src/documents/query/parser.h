#pragma once
// Parser and binder for the Cosmos DB NoSQL SQL dialect: text -> bound Query (ast.h).
// Recursive descent with one token of lookahead; every error is a QueryError with the
// 0-based position and the token. Binding resolves aliases to slots, checks built-in names and
// argument counts, places aggregates, and checks GROUP BY rules, so an executed query can only
// fail on parameters and resource limits. Hostile input is bounded: the text length
// (max_length, 256 KB like the service's maxSqlQueryInputLength), the nesting depth of
// parentheses, brackets, calls and unary operators (max_depth), and the height of the tree
// (max_height, which also bounds long operator chains such as 1+1+...+1), so neither the
// parser nor the evaluator can overflow the stack.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "documents/query/ast.h"
#include "documents/query/expected.h"

namespace nimbus::docsql {

struct ParseOptions {
  size_t max_length = 256 * 1024;
  int max_depth = 256;
  int max_height = 2048;
};

// A container's computed property: its name and its definition, a query of the form
// `SELECT VALUE <expr> FROM <alias>` (parse_computed_property).
struct ComputedProperty {
  std::string name;
  std::shared_ptr<const Query> definition;
};

// What a query needs of its container's definition.
struct ContainerDefinitions {
  // Its computed properties. A reference `<from alias>.<name>` (or `<alias>["name"]`) to one
  // becomes a copy of its expression over the query's document, so the rest of the engine
  // (and the index planner, which then sees no plain path) never knows; an output column
  // keeps the property's name.
  std::vector<ComputedProperty> computed;
  // Its vectorEmbeddingPolicy: each embedding's path (property names) and distance function
  // ("cosine", "dotproduct", "euclidean"). VectorDistance over such a path without a
  // distanceFunction of its own measures with this one, and ORDER BY it without a direction
  // orders the most similar first by it, as the service does.
  std::vector<std::pair<std::vector<std::string>, std::string>> vector_functions;
};

Expected<std::shared_ptr<const Query>> parse_query(std::string_view text,
                                                   const ParseOptions& options = {},
                                                   const ContainerDefinitions* container = nullptr);

// A computed property's query, checked as the service checks it: `SELECT VALUE <expr> FROM
// <alias>` over the whole item, without WHERE, JOIN, ORDER BY, GROUP BY, TOP, OFFSET, DISTINCT,
// aggregates or parameters.
Expected<std::shared_ptr<const Query>> parse_computed_property(std::string_view text);

// The scores of a bound ORDER BY RANK query (q.rank): its FullTextScore or VectorDistance,
// or each of RRF's, and RRF's array of weights when given (nullptr otherwise).
struct RankParts {
  std::vector<const Expr*> scores;
  const Expr* weights = nullptr;
  bool fused = false;  // RRF
};
RankParts rank_parts(const Query& q);

// SQL text of an expression, canonical (keywords upper case, minimal parentheses around
// nested operators): used for GROUP BY matching and the query plan's expression lists.
std::string expr_text(const Expr& e);

}  // namespace nimbus::docsql
