#pragma once
// Errors as values for the Cosmos DB SQL engine (src/documents/query). Nothing in this library
// throws across its API: parse, bind, plan and execute return Expected<T>, which holds either
// the value or a QueryError naming what went wrong, where (0-based character offset into the
// query text) and which token. The REST layer maps every code to HTTP 400 except
// limit_exceeded (which it may map to 413/429 as it sees fit).
#include <cstddef>
#include <string>
#include <utility>
#include <variant>

namespace nimbus::docsql {

enum class ErrorCode {
  syntax,                 // the text is not SQL we understand (what was expected is in message)
  unknown_function,       // a function name that is not a built-in
  bad_argument_count,     // a built-in or aggregate called with the wrong number of arguments
  unresolved_identifier,  // a name that is no alias in FROM/JOIN
  semantic,               // well-formed but not allowed (aggregate in WHERE, SELECT * with JOIN, ...)
  parameter,              // @name not given, or TOP/OFFSET/LIMIT parameter not a valid integer
  too_long,               // query text over the length limit (256 KB by default)
  too_deep,               // nesting deeper than the limit
  limit_exceeded,         // execution needed more rows in memory than Limits allows
};

const char* error_code_name(ErrorCode c);

struct QueryError {
  ErrorCode code = ErrorCode::syntax;
  size_t position = 0;  // 0-based offset into the query text
  std::string token;    // the offending token's text ("" at the end of the query)
  std::string message;  // what was found and what was expected

  // "Syntax error at position 14 near 'FORM': expected FROM, WHERE, ... or the end of the query"
  std::string to_string() const;
};

// A minimal expected<T, QueryError> (std::expected is C++23 and g++ 12 lacks it).
template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Expected(QueryError error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const QueryError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, QueryError> v_;
};

}  // namespace nimbus::docsql
