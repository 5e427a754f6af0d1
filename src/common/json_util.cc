#include "common/json_util.h"

#include <boost/json/stream_parser.hpp>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nimbus {

JsonFileResult parse_json_text(std::string_view text, const std::string& display) {
  boost::json::stream_parser parser;
  boost::system::error_code ec;
  size_t used = parser.write_some(text.data(), text.size(), ec);
  if (!ec && used < text.size()) {
    // write_some stops after a complete value; anything but whitespace after it is an error.
    size_t i = used;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i < text.size()) {
      used = i;
      ec = boost::json::error::extra_data;
    }
  }
  if (!ec) parser.finish(ec);
  if (ec) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < used && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::ostringstream msg;
    msg << display << ": line " << line << ", column " << col << ": invalid JSON ("
        << ec.message() << "); fix the JSON syntax";
    return {std::nullopt, msg.str()};
  }
  return {parser.release(), {}};
}

JsonFileResult read_json_file(const std::string& path, const std::string& display) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {std::nullopt, display + ": cannot be read; check that the file exists"};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_json_text(ss.str(), display);
}

std::string json_path_key(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : base + "." + std::string(key);
}

std::string json_path_index(const std::string& base, size_t index) {
  return base + "[" + std::to_string(index) + "]";
}

const char* json_kind(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "a value";
}

namespace {

// What a byte needs in a JSON string: nothing (false) or an escape ('"', '\\', below 0x20).
constexpr std::array<bool, 256> kEscaped = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<size_t>(c)] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

// True when none of the 8 bytes at p needs an escape: none is below 0x20, '"' or '\\' (the
// classic "has a byte less than n" and "has a zero byte" tests, the latter on the word
// xor'ed with the quote and the backslash).
inline bool plain_word(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto has_zero = [](uint64_t x) { return (x - ones) & ~x & highs; };
  uint64_t below_space = (w - ones * 0x20) & ~w & highs;
  return (below_space | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'))) == 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Most strings have nothing to escape: checked eight bytes at a time, then copied whole.
  size_t plain = 0;
  while (plain + 8 <= s.size() && plain_word(s.data() + plain)) plain += 8;
  while (plain < s.size() && !kEscaped[static_cast<unsigned char>(s[plain])]) ++plain;
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = plain; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!kEscaped[c]) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace nimbus
