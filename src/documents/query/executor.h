#pragma once
// Runs a bound Query (parser.h) over documents pulled from a DocumentSource and returns the
// final rows in order, with WHERE, JOIN, projection, GROUP BY + aggregates, DISTINCT,
// ORDER BY, TOP and OFFSET/LIMIT applied, with Cosmos DB semantics (undefined is not null,
// comparisons across types are undefined, WHERE keeps a row only when the predicate is exactly
// true). Documents are evaluated in place (paths are pointers into them, not copies); the only
// copies are the result rows and the ORDER BY / GROUP BY keys.
//
// The executor re-checks every predicate on every document it is given, so a store may feed it
// index candidates (index_hints.h) instead of the whole container. Memory is bounded by
// Limits::max_buffered_rows (rows held for ORDER BY / DISTINCT, groups for GROUP BY); going
// over is an error, never a crash. Stateless: one Query may be executed by many threads at
// once, each with its own source.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <vector>

#include "documents/query/ast.h"
#include "documents/query/expected.h"

namespace nimbus::docsql {

// Pull source of documents. next() returns the next document or nullptr at the end; the
// pointer must stay valid until the following call to next() (the executor copies what it
// keeps).
class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  virtual const boost::json::object* next() = 0;
};

// A source over documents held in memory (tests, small containers).
class VectorSource : public DocumentSource {
 public:
  explicit VectorSource(const std::vector<boost::json::object>& docs) : docs_(docs) {}
  const boost::json::object* next() override { return i_ < docs_.size() ? &docs_[i_++] : nullptr; }

 private:
  const std::vector<boost::json::object>& docs_;
  size_t i_ = 0;
};

struct Limits {
  // Rows buffered for ORDER BY and DISTINCT, plus groups for GROUP BY.
  size_t max_buffered_rows = 1'000'000;
};

struct ExecStats {
  size_t documents_read = 0;  // documents pulled from the source
  size_t rows_matched = 0;    // FROM/JOIN rows for which WHERE was true
};

// Parameters: a JSON object keyed by the name as written in the query, with the '@'
// ({"@id": "a1"}), which is the REST body's parameters array turned into an object.
// Errors: an @name used by the query but absent (ErrorCode::parameter, at its position); a
// TOP/OFFSET/LIMIT parameter that is not a non-negative integer; limit_exceeded.
Expected<std::vector<boost::json::value>> execute(const Query& query,
                                                  const boost::json::object& params,
                                                  DocumentSource& source,
                                                  const Limits& limits = {},
                                                  ExecStats* stats = nullptr);

// Evaluates the WHERE clause alone on one document (true only when it is exactly true; a query
// without WHERE matches everything). For a store re-checking candidates or a PATCH condition
// ("FROM c WHERE ..."). Queries with JOIN match when any JOIN row matches.
Expected<bool> matches(const Query& query, const boost::json::object& params,
                       const boost::json::object& document);

}  // namespace nimbus::docsql
