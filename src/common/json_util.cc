#include "common/json_util.h"

#include <boost/json/stream_parser.hpp>
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

}  // namespace nimbus
