#pragma once
// JSON file reading with errors that name the file, line and column, plus small helpers for
// building the JSON paths ("bindings[0].methods[1]") that config errors cite.
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>

namespace nimbus {

struct JsonFileResult {
  std::optional<boost::json::value> value;
  std::string error;  // "<file>: line 3, column 14: <what>; fix the JSON syntax" when !value
};

// Reads and parses `path`; `display` is the name used in messages (e.g. "orders/function.json").
JsonFileResult read_json_file(const std::string& path, const std::string& display);
// Parses text, reporting line and column on failure.
JsonFileResult parse_json_text(std::string_view text, const std::string& display);

std::string json_path_key(const std::string& base, std::string_view key);
std::string json_path_index(const std::string& base, size_t index);
// Short human description of a JSON value's kind: "a string", "a number", ...
const char* json_kind(const boost::json::value& v);

// Appends `s` as a JSON string literal, escaped as Boost.JSON's serializer escapes it ('"',
// '\\' and the control characters; \b \f \n \r \t by name, the others as \u00xx) with
// every other byte copied as it is: whether bytes that are not UTF-8 may pass is the caller's
// call. For frames written once per invocation, where building a json::value cost an
// allocation per member (both worker protocols).
void append_json_string(std::string& out, std::string_view s);

}  // namespace nimbus
