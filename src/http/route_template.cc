#include "http/route_template.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace nimbus::http {

namespace {

const std::set<std::string, std::less<>> kConstraints = {"int",   "long",  "bool",   "alpha",
                                                         "guid",  "double", "float", "decimal"};

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

bool satisfies(const std::string& constraint, const std::string& v) {
  if (constraint.empty()) return true;
  if (constraint == "int" || constraint == "long") {
    long long x;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size()) return false;
    return constraint == "long" || (x >= INT32_MIN && x <= INT32_MAX);
  }
  if (constraint == "bool") return ascii_iequals(v, "true") || ascii_iequals(v, "false");
  if (constraint == "alpha")
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
      return std::isalpha(static_cast<unsigned char>(c));
    });
  if (constraint == "guid") {
    if (v.size() != 36) return false;
    for (size_t i = 0; i < 36; ++i) {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash ? v[i] != '-' : !std::isxdigit(static_cast<unsigned char>(v[i]))) return false;
    }
    return true;
  }
  // double, float, decimal
  if (v.empty()) return false;
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  return end == v.c_str() + v.size();
}

int rank(const RouteSegment& s) {
  switch (s.kind) {
    case RouteSegment::Kind::literal: return 0;
    case RouteSegment::Kind::param: return s.optional ? 3 : (s.constraint.empty() ? 2 : 1);
    case RouteSegment::Kind::catch_all: return 4;
  }
  return 5;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<RouteTemplate> RouteTemplate::parse(std::string_view text, std::string& error) {
  RouteTemplate t;
  const std::string original(text);  // as written, for error messages
  while (!text.empty() && text.front() == '/') text.remove_prefix(1);
  while (!text.empty() && text.back() == '/') text.remove_suffix(1);
  if (text.find('?') != std::string_view::npos && text.find('{') == std::string_view::npos) {
    error = "\"" + original + "\" contains '?'; a route has no query string";
    return std::nullopt;
  }
  std::set<std::string> names;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t slash = text.find('/', start);
    std::string_view seg =
        text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    RouteSegment s;
    if (seg.empty()) {
      error = "\"" + original + "\" has an empty segment (\"//\"); remove the extra '/'";
      return std::nullopt;
    }
    if (seg.front() == '{') {
      if (seg.back() != '}' || seg.find('}') != seg.size() - 1) {
        error = "\"" + original + "\": segment \"" + std::string(seg) +
                "\" must be exactly one {parameter}; mixing text and parameters in one segment "
                "is not supported";
        return std::nullopt;
      }
      std::string_view inner = seg.substr(1, seg.size() - 2);
      if (!inner.empty() && inner.front() == '*') {
        s.kind = RouteSegment::Kind::catch_all;
        inner.remove_prefix(1);
        if (!inner.empty() && inner.front() == '*') inner.remove_prefix(1);  // {**path}
      } else {
        s.kind = RouteSegment::Kind::param;
      }
      if (!inner.empty() && inner.back() == '?') {
        s.optional = true;
        inner.remove_suffix(1);
      }
      auto colon = inner.find(':');
      std::string_view name = inner.substr(0, colon);
      if (colon != std::string_view::npos) {
        s.constraint = std::string(inner.substr(colon + 1));
        if (!kConstraints.count(s.constraint)) {
          error = "\"" + original + "\": constraint \"" + s.constraint +
                  "\" is not supported; use int, long, bool, alpha, guid, double, float or decimal";
          return std::nullopt;
        }
      }
      if (name.find('=') != std::string_view::npos) {
        error = "\"" + original + "\": default values (\"{" + std::string(inner) +
                "}\") are not supported; use an optional parameter {name?}";
        return std::nullopt;
      }
      if (!valid_name(name)) {
        error = "\"" + original + "\": \"" + std::string(name) +
                "\" is not a parameter name; use letters, digits and '_'";
        return std::nullopt;
      }
      s.text = std::string(name);
      if (!names.insert(s.text).second) {
        error = "\"" + original + "\": parameter \"" + s.text + "\" appears twice; rename one";
        return std::nullopt;
      }
    } else {
      if (seg.find_first_of("{}") != std::string_view::npos) {
        error = "\"" + original + "\": segment \"" + std::string(seg) +
                "\" has an unbalanced brace; write {name}";
        return std::nullopt;
      }
      s.text = std::string(seg);
    }
    t.segments_.push_back(std::move(s));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (size_t i = 0; i < t.segments_.size(); ++i) {
    const auto& s = t.segments_[i];
    bool last = i + 1 == t.segments_.size();
    if (s.kind == RouteSegment::Kind::catch_all && !last) {
      error = "\"" + original + "\": the catch-all {*" + s.text + "} must be the last segment";
      return std::nullopt;
    }
    if (s.optional && !last) {
      error = "\"" + original + "\": the optional parameter {" + s.text +
              "?} must be the last segment";
      return std::nullopt;
    }
  }
  return t;
}

bool RouteTemplate::match(const std::vector<std::string>& segs,
                          std::map<std::string, std::string>& params) const {
  std::map<std::string, std::string> out;
  size_t i = 0;
  for (; i < segments_.size(); ++i) {
    const auto& s = segments_[i];
    if (s.kind == RouteSegment::Kind::catch_all) {
      std::string rest;
      for (size_t j = i; j < segs.size(); ++j) {
        if (j > i) rest.push_back('/');
        rest += segs[j];
      }
      if (!rest.empty()) out[s.text] = rest;
      params = std::move(out);
      return true;
    }
    if (i >= segs.size()) {
      if (s.optional) break;
      return false;
    }
    if (s.kind == RouteSegment::Kind::literal) {
      if (!ascii_iequals(s.text, segs[i])) return false;
    } else {
      if (!satisfies(s.constraint, segs[i])) return false;
      out[s.text] = segs[i];
    }
  }
  if (segs.size() > segments_.size()) return false;
  params = std::move(out);
  return true;
}

bool RouteTemplate::more_specific_than(const RouteTemplate& other) const {
  size_t n = std::min(segments_.size(), other.segments_.size());
  for (size_t i = 0; i < n; ++i) {
    int a = rank(segments_[i]), b = rank(other.segments_[i]);
    if (a != b) return a < b;
  }
  return segments_.size() > other.segments_.size();
}

bool split_path(std::string_view path, std::vector<std::string>& out) {
  out.clear();
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    if (i >= path.size()) break;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    // Copied in runs between percent escapes (usually one run), not a byte at a time.
    std::string& seg = out.emplace_back();
    size_t run = i;
    for (size_t k = path.find('%', i); k < j; k = path.find('%', k)) {
      int hi = k + 2 < j ? hexval(path[k + 1]) : -1;
      int lo = k + 2 < j ? hexval(path[k + 2]) : -1;
      if (hi < 0 || lo < 0) {
        out.pop_back();  // a refused path leaves only whole segments behind, never a partial one
        return false;
      }
      seg.append(path.data() + run, k - run);
      seg.push_back(static_cast<char>(hi * 16 + lo));
      k += 3;
      run = k;
    }
    seg.append(path.data() + run, j - run);
    i = j;
  }
  return true;
}

}  // namespace nimbus::http
