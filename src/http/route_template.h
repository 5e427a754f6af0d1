#pragma once
// Azure Functions route templates: literal segments, "{id}", "{id:int}", "{id?}", "{*rest}".
// Literals match case-insensitively, as ASP.NET routing does. Immutable after parse; safe to
// share between threads.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ascii.h"  // ascii_iequals: route literals compare in ASCII case

namespace nimbus::http {

struct RouteSegment {
  enum class Kind { literal, param, catch_all };
  Kind kind = Kind::literal;
  std::string text;        // literal text, or the parameter name
  std::string constraint;  // "", "int", "long", "bool", "alpha", "guid", "double", "float"
  bool optional = false;
};

class RouteTemplate {
 public:
  // Parses a template without leading '/'. On failure returns nullopt and sets `error` to a
  // message that says what is wrong and how to write it instead.
  static std::optional<RouteTemplate> parse(std::string_view text, std::string& error);

  // Matches already-split, percent-decoded path segments; fills `params` on success.
  bool match(const std::vector<std::string>& segments,
             std::map<std::string, std::string>& params) const;

  // Orders templates so that the more specific is tried first (literal > constrained > plain
  // parameter > optional > catch-all, segment by segment).
  bool more_specific_than(const RouteTemplate& other) const;

  // The names of its parameters ("id" for "items/{id:int}"), in order.
  std::vector<std::string> parameter_names() const {
    std::vector<std::string> out;
    for (const auto& s : segments_)
      if (s.kind != RouteSegment::Kind::literal) out.push_back(s.text);
    return out;
  }

 private:
  std::vector<RouteSegment> segments_;
};

// Splits "/a/b%20c/" into {"a", "b c"}; false when a percent escape is malformed.
bool split_path(std::string_view path, std::vector<std::string>& out);

}  // namespace nimbus::http
