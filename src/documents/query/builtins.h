#pragma once
// The built-in scalar functions (IS_DEFINED, CONTAINS, SUBSTRING, ARRAY_CONTAINS, ROUND ...).
// Each takes evaluated arguments and returns a Val; a wrong argument type yields undefined
// (as the service does), never an error. Argument counts are checked at bind time from
// min_args/max_args. Strings are UTF-8; lengths and positions count Unicode code points.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fulltext.h"
#include "documents/query/ast.h"
#include "documents/query/value.h"

namespace nimbus::docsql {

struct Builtin {
  const char* name;  // upper case
  unsigned char min_args;
  unsigned char max_args;
  Val (*fn)(Val* args, size_t n);
};

// The search phrases (fulltext.h) of a string or an array of strings, analyzed; nullopt for
// anything else.
std::optional<std::vector<fulltext::Phrase>> fulltext_terms(const Val& v);

// Whether `e` calls the built-in of this upper-case name (FULLTEXTSCORE, RRF, ...).
bool is_call_to(const Expr& e, std::string_view upper_name);

// Whether VectorDistance's options ({"distanceFunction": ...}, key in any letter case) name the
// Euclidean distance, whose nearest vectors have the smallest values.
bool euclidean_options(const Val& options);

// Case-insensitive lookup; nullptr for an unknown name.
const Builtin* find_builtin(std::string_view name);

}  // namespace nimbus::docsql
