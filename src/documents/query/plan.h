#pragma once
// What a store and the REST layer learn from a bound Query without running it:
//  - query_plan(): the answer to the JS SDK's query-plan request
//    (x-ms-cosmos-is-query-plan-request: True), a PartitionedQueryExecutionInfo with one
//    query range covering the whole key space. Field names follow the SDK's
//    src/request/ErrorResponse.ts (PartitionedQueryExecutionInfo, QueryInfo, QueryRange).
//  - index_hints(): the sargable conjuncts of WHERE (path = value, path IN (...), range
//    comparisons, BETWEEN) on paths of the FROM document, so a store can answer from an index
//    instead of scanning, and whether the partition key is fixed to one value. The hints are
//    candidates only: the executor re-checks the whole WHERE on every document.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "documents/query/ast.h"

namespace nimbus::docsql {

// `params`: the request's parameters ({"@name": value}); a hybrid plan (ORDER BY RANK) writes
// its search terms and counts from them (the rest of a plan names parameters as written).
boost::json::object query_plan(const Query& query, const boost::json::object& params = {});

// text: FullTextContains / FullTextContainsAll on the path; `values` are the tokens (strings,
// analyzed by common/fulltext.h) that a matching text must all hold.
enum class PredOp { eq, in, lt, le, gt, ge, text };

// One sargable conjunct: the document path (property names; array indexes as decimal
// strings, e.g. ["tags","0"]), the operator and its constant(s) (parameters already
// substituted). For `in`, values holds every listed constant; else exactly one value. A
// BETWEEN gives two predicates (ge and le). Values compare with Cosmos semantics: a document
// whose value at `path` has another type than the constant does not match.
struct IndexPredicate {
  std::vector<std::string> path;
  PredOp op = PredOp::eq;
  std::vector<boost::json::value> values;
};

struct OrderHint {
  std::vector<std::string> path;
  bool descending = false;
};

// ORDER BY [RANK] VectorDistance(<document path>, <constant vector> [, <bool> [, {literal
// options}]]) (either argument order): the documents' similarity to a fixed vector, which a
// store holding the path's vectors may compute without reading the documents.
struct VectorOrderHint {
  std::vector<std::string> path;
  std::vector<double> query;
  enum class Distance { cosine, dot_product, euclidean } distance = Distance::cosine;
  bool descending = true;  // the larger values first (cosine and dot product by default)
  // Where a document without a score (no vector, or one of another length) sorts: last for
  // ORDER BY RANK and for a descending ORDER BY; first for an ascending ORDER BY (undefined
  // sorts before every number).
  bool unscored_last = true;
};

struct IndexHints {
  std::vector<IndexPredicate> predicates;  // all must hold (AND)
  // Set when WHERE fixes the partition key path to one value (an eq predicate on it).
  std::optional<boost::json::value> partition_key;
  // A single ORDER BY key on a document path (a store with an ordered index may feed the
  // documents in this order; the executor sorts anyway).
  std::optional<OrderHint> order;
  // ORDER BY [RANK] VectorDistance over a document path (with `take`, as `order`). ORDER BY
  // RANK of any other score sets nothing at all: FullTextScore's statistics and RRF's ranks
  // need every document.
  std::optional<VectorOrderHint> vector_order;
  // False when the query has no FROM document iteration a store can narrow (e.g. FROM x IN
  // c.arr still filters documents, so hints apply; no FROM at all: nothing to read).
  bool reads_documents = true;
  // Set with `order` (or `vector_order`) when the answer is the first rows in that order and nothing else:
  // TOP n / OFFSET s LIMIT m (parameters resolved), no GROUP BY, aggregate, DISTINCT or JOIN,
  // FROM binding the document itself. `take` is the most rows the answer holds after `skip`.
  // A store that feeds documents in index order may stop once the answer is full and every
  // document not fed sorts strictly after the last one fed (the executor still sorts and
  // re-checks WHERE, so feeding more is always correct).
  std::optional<int64_t> take;
  int64_t skip = 0;
  // `SELECT VALUE COUNT(<literal>) FROM c` with nothing else (no WHERE, JOIN, TOP, OFFSET,
  // DISTINCT, GROUP BY, FROM path): the answer is [number of documents], so a store may count
  // rows instead of reading them: the answer is [that number].
  bool count_only = false;
};

// partition_key_path: the container's partition key path as in its definition ("/pk",
// "/a/b"); empty when none. Parameters unknown to `params` make a predicate unusable (it is
// dropped, never guessed); execute() reports the missing parameter.
IndexHints index_hints(const Query& query, const boost::json::object& params,
                       std::string_view partition_key_path);

}  // namespace nimbus::docsql
