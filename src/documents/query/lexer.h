#pragma once
// Tokenizer for the Cosmos DB NoSQL SQL dialect. Positions are 0-based byte offsets into the
// query text; string literals are unescaped here (\' \" \\ \/ \b \f \n \r \t \uXXXX with
// surrogate pairs); numbers are read as int64 when integral and in range, else double, and a
// number beyond double range is an error. Keywords are case-insensitive.
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "documents/query/expected.h"

namespace nimbus::docsql {

enum class Tok : uint8_t { end, ident, keyword, number, string, param, symbol };

enum class Kw : uint8_t {
  none, select, from, where, and_, or_, not_, in, between, value, as, top, distinct, order, by,
  asc, desc, offset, limit, group, join, root, true_, false_, null_, undefined, exists, array,
  like, escape,
};

struct Token {
  Tok kind = Tok::end;
  Kw kw = Kw::none;
  uint32_t pos = 0;
  std::string_view text;     // as written (for strings: including quotes)
  std::string str;           // string literal contents, unescaped
  boost::json::value num;    // number literal
  bool is(std::string_view sym) const { return kind == Tok::symbol && text == sym; }
  bool is(Kw k) const { return kind == Tok::keyword && kw == k; }
};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}
  // The next token, or the error for the text at the current position.
  Expected<Token> next();

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// Text of a token for error messages, shortened to 40 characters.
std::string token_display(std::string_view text);

}  // namespace nimbus::docsql
