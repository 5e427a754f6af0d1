#include "http/cors.h"

#include <algorithm>
#include <cctype>

namespace nimbus::http {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// "HTTPS://App.Example:8443" -> "https://app.example:8443"; "" when `s` is not an origin
// (scheme "://" host [":" port], an optional trailing "/", nothing else; IPv6 hosts in
// brackets).
std::string normalize(std::string_view s) {
  if (s.ends_with("/")) s.remove_suffix(1);
  auto sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return "";
  std::string_view scheme = s.substr(0, sep), rest = s.substr(sep + 3);
  std::string_view host = rest, port;
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return "";
    host = rest.substr(0, close + 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && (after[0] != ':' || after.size() == 1)) return "";
    if (!after.empty()) port = after.substr(1);
  } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return "";
  }
  if (host.empty()) return "";
  for (char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return "";
  for (char c : host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '?' || c == '#' || c == '@') return "";
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return "";
  std::string out;
  for (char c : std::string(scheme) + "://" + std::string(host))
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (!port.empty()) out += ":" + std::string(port);
  return out;
}

}  // namespace

std::optional<CorsPolicy> CorsPolicy::parse(std::string_view origins, bool credentials,
                                            std::string& error) {
  CorsPolicy p;
  p.credentials_ = credentials;
  size_t i = 0;
  while (i <= origins.size()) {
    size_t end = origins.find(',', i);
    if (end == std::string_view::npos) end = origins.size();
    std::string entry = trim(origins.substr(i, end - i));
    i = end + 1;
    if (entry.empty()) continue;
    if (entry == "*") {
      p.any_ = true;
      continue;
    }
    std::string n = normalize(entry);
    if (n.empty()) {
      error = "\"" + entry + "\" is not an origin; write scheme://host[:port] with no path, "
              "e.g. http://localhost:3000, or * for any origin";
      return std::nullopt;
    }
    p.origins_.push_back(std::move(n));
  }
  if (!p.any_ && p.origins_.empty()) {
    error = "lists no origin; give scheme://host[:port] entries separated by commas, or *";
    return std::nullopt;
  }
  return p;
}

bool CorsPolicy::allows(std::string_view origin) const {
  if (origin.empty()) return false;
  if (any_) return true;
  std::string n = normalize(origin);
  return !n.empty() && std::find(origins_.begin(), origins_.end(), n) != origins_.end();
}

std::optional<api::HttpResponseData> CorsPolicy::preflight(const api::HttpRequestData& req) const {
  std::string_view origin = req.header("origin");
  std::string_view method = req.header("access-control-request-method");
  if (req.method != "OPTIONS" || origin.empty() || method.empty()) return std::nullopt;
  api::HttpResponseData res;
  if (!allows(origin)) {
    res.status = 403;
    res.headers = {{"Vary", "Origin"}};
    return res;
  }
  res.status = 204;
  decorate(req, res);
  res.headers.emplace_back("Access-Control-Allow-Methods", std::string(method));
  if (auto h = req.header("access-control-request-headers"); !h.empty())
    res.headers.emplace_back("Access-Control-Allow-Headers", std::string(h));
  res.headers.emplace_back("Access-Control-Max-Age", "86400");
  return res;
}

void CorsPolicy::decorate(const api::HttpRequestData& req, api::HttpResponseData& res) const {
  std::string_view origin = req.header("origin");
  if (!allows(origin)) return;
  bool echo = credentials_ || !any_;
  res.headers.emplace_back("Access-Control-Allow-Origin", echo ? std::string(origin) : "*");
  if (echo) res.headers.emplace_back("Vary", "Origin");
  if (credentials_) res.headers.emplace_back("Access-Control-Allow-Credentials", "true");
}

}  // namespace nimbus::http
