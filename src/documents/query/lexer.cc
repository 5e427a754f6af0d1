#include "documents/query/lexer.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

namespace nimbus::docsql {

namespace {

struct KwName {
  std::string_view name;
  Kw kw;
};
constexpr KwName kKeywords[] = {
    {"SELECT", Kw::select}, {"FROM", Kw::from},       {"WHERE", Kw::where},
    {"AND", Kw::and_},      {"OR", Kw::or_},          {"NOT", Kw::not_},
    {"IN", Kw::in},         {"BETWEEN", Kw::between}, {"VALUE", Kw::value},
    {"AS", Kw::as},         {"TOP", Kw::top},         {"DISTINCT", Kw::distinct},
    {"ORDER", Kw::order},   {"BY", Kw::by},           {"ASC", Kw::asc},
    {"DESC", Kw::desc},     {"OFFSET", Kw::offset},   {"LIMIT", Kw::limit},
    {"GROUP", Kw::group},   {"JOIN", Kw::join},       {"ROOT", Kw::root},
    {"TRUE", Kw::true_},    {"FALSE", Kw::false_},    {"NULL", Kw::null_},
    {"UNDEFINED", Kw::undefined}, {"EXISTS", Kw::exists}, {"ARRAY", Kw::array},
    {"LIKE", Kw::like},     {"ESCAPE", Kw::escape},
};

Kw keyword_of(std::string_view w) {
  if (w.size() > 9) return Kw::none;
  char up[10];
  for (size_t i = 0; i < w.size(); ++i) up[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[i])));
  std::string_view u(up, w.size());
  for (const auto& k : kKeywords)
    if (u == k.name) return k.kw;
  return Kw::none;
}

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int hex4(std::string_view s, size_t i) {
  if (i + 4 > s.size()) return -1;
  int v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

std::string token_display(std::string_view text) {
  if (text.size() <= 40) return std::string(text);
  return std::string(text.substr(0, 37)) + "...";
}

Expected<Token> Lexer::next() {
  // Skip whitespace and `--` line comments.
  for (;;) {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n'))
      ++i_;
    if (i_ + 1 < s_.size() && s_[i_] == '-' && s_[i_ + 1] == '-') {
      while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      continue;
    }
    break;
  }
  Token t;
  t.pos = static_cast<uint32_t>(i_);
  if (i_ >= s_.size()) {
    t.kind = Tok::end;
    return t;
  }
  const size_t start = i_;
  char c = s_[i_];
  auto fail = [&](size_t pos, std::string_view tok, std::string msg) -> Expected<Token> {
    return QueryError{ErrorCode::syntax, pos, token_display(tok), std::move(msg)};
  };

  if (ident_start(c)) {
    while (i_ < s_.size() && ident_char(s_[i_])) ++i_;
    t.text = s_.substr(start, i_ - start);
    t.kw = keyword_of(t.text);
    t.kind = t.kw == Kw::none ? Tok::ident : Tok::keyword;
    return t;
  }
  if (c == '@') {
    ++i_;
    while (i_ < s_.size() && ident_char(s_[i_])) ++i_;
    t.text = s_.substr(start, i_ - start);
    if (t.text.size() == 1) return fail(start, "@", "a parameter name must follow '@' (e.g. @id)");
    t.kind = Tok::param;
    return t;
  }
  if (std::isdigit(static_cast<unsigned char>(c)) ||
      (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
    bool is_int = true;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ < s_.size() && s_[i_] == '.') {
      is_int = false;
      ++i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      size_t save = i_;
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
        is_int = false;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      } else {
        i_ = save;
      }
    }
    if (i_ < s_.size() && ident_char(s_[i_])) {
      while (i_ < s_.size() && ident_char(s_[i_])) ++i_;
      return fail(start, s_.substr(start, i_ - start), "a number must not run into letters");
    }
    t.text = s_.substr(start, i_ - start);
    t.kind = Tok::number;
    const char* b = t.text.data();
    const char* e = b + t.text.size();
    if (is_int) {
      int64_t n = 0;
      auto r = std::from_chars(b, e, n);
      if (r.ec == std::errc() && r.ptr == e) {
        t.num = n;
        return t;
      }
    }
    double d = 0;
    auto r = std::from_chars(b, e, d);
    if (r.ec != std::errc() || r.ptr != e || !std::isfinite(d))
      return fail(start, t.text, "number out of range (beyond a 64-bit double)");
    t.num = d;
    return t;
  }
  if (c == '\'' || c == '"') {
    const char q = c;
    ++i_;
    std::string out;
    for (;;) {
      if (i_ >= s_.size())
        return fail(start, s_.substr(start, i_ - start),
                    std::string("unterminated string: add the closing ") + q);
      char d = s_[i_];
      if (d == q) {
        ++i_;
        break;
      }
      if (d == '\\') {
        if (i_ + 1 >= s_.size())
          return fail(start, s_.substr(start, i_ - start),
                      std::string("unterminated string: add the closing ") + q);
        char e = s_[i_ + 1];
        size_t esc = i_;
        i_ += 2;
        switch (e) {
          case '\'': out.push_back('\''); break;
          case '"': out.push_back('"'); break;
          case '\\': out.push_back('\\'); break;
          case '/': out.push_back('/'); break;
          case 'b': out.push_back('\b'); break;
          case 'f': out.push_back('\f'); break;
          case 'n': out.push_back('\n'); break;
          case 'r': out.push_back('\r'); break;
          case 't': out.push_back('\t'); break;
          case 'u': {
            int h = hex4(s_, i_);
            if (h < 0)
              return fail(esc, s_.substr(esc, std::min<size_t>(6, s_.size() - esc)),
                          "invalid \\u escape: expected four hex digits");
            i_ += 4;
            uint32_t cp = static_cast<uint32_t>(h);
            if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 1 < s_.size() && s_[i_] == '\\' &&
                s_[i_ + 1] == 'u') {
              int lo = hex4(s_, i_ + 2);
              if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(lo) - 0xDC00);
                i_ += 6;
              }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate
            append_utf8(out, cp);
            break;
          }
          default:
            return fail(esc, s_.substr(esc, 2),
                        "invalid escape in string: use \\' \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX");
        }
        continue;
      }
      out.push_back(d);
      ++i_;
    }
    t.kind = Tok::string;
    t.text = s_.substr(start, i_ - start);
    t.str = std::move(out);
    return t;
  }
  // Symbols, longest first.
  static constexpr std::string_view kTwo[] = {"!=", "<>", "<=", ">=", "||", "??"};
  if (i_ + 1 < s_.size()) {
    std::string_view two = s_.substr(i_, 2);
    for (auto s : kTwo)
      if (two == s) {
        i_ += 2;
        t.kind = Tok::symbol;
        t.text = two;
        return t;
      }
  }
  if (std::strchr(",.[](){}:*+-/%=<>?", c) != nullptr && c != '\0') {
    ++i_;
    t.kind = Tok::symbol;
    t.text = s_.substr(start, 1);
    return t;
  }
  // One whole UTF-8 character in the message.
  size_t n = 1;
  while (start + n < s_.size() && (static_cast<unsigned char>(s_[start + n]) & 0xC0) == 0x80 && n < 4) ++n;
  return fail(start, s_.substr(start, n), "unexpected character");
}

}  // namespace nimbus::docsql
