#include "queue/bearer.h"

#include <boost/json.hpp>
#include <cmath>

#include "common/ids.h"

namespace nimbus::queue {

namespace {

namespace json = boost::json;

// Azure AD token issuers (v1 "sts" and v2 "login" forms) of the public, China, US Government
// and Germany clouds, plus the pre-production one Azurite's own tests sign with.
constexpr std::string_view kIssuerPrefixes[] = {
    "https://sts.windows.net/",           "https://login.microsoftonline.com/",
    "https://sts.chinacloudapi.cn/",      "https://login.chinacloudapi.cn/",
    "https://login.partner.microsoftonline.cn/",
    "https://sts.microsoftonline.de/",    "https://login.microsoftonline.de/",
    "https://login.microsoftonline.us/",  "https://sts.windows-ppe.net/",
    "https://login.windows-ppe.net/",
};
// The storage resource in its three spellings; then per-account queue endpoints of each cloud.
constexpr std::string_view kStorageAudiences[] = {
    "https://storage.azure.com", "https://storage.azure.com/",
    "e406a681-f3d4-42a8-90b6-c2b029497af1"};
constexpr std::string_view kQueueSuffixes[] = {
    ".queue.core.windows.net", ".queue.core.chinacloudapi.cn", ".queue.core.usgovcloudapi.net",
    ".queue.core.cloudapi.de"};

bool base64url_decode(std::string_view in, std::string& out) {
  std::string s(in);
  for (char& c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/') return false;  // not base64url
  }
  while (s.size() % 4) s += '=';
  return base64_decode(s, out);
}

std::optional<int64_t> seconds(const json::value* v, bool& bad) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v->get_uint64());
  if (v->is_double() && std::isfinite(v->get_double()) && std::fabs(v->get_double()) < 1e15)
    return static_cast<int64_t>(v->get_double());
  bad = true;
  return std::nullopt;
}

// Letters, digits, '-' and '.': a tenant id safe to put into a header.
std::string tenant_of(const JwtClaims& c) {
  std::string t = c.tid;
  if (t.empty()) {
    for (auto prefix : kIssuerPrefixes)
      if (c.iss.starts_with(prefix)) {
        std::string_view rest = std::string_view(c.iss).substr(prefix.size());
        while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
        t = std::string(rest.substr(0, rest.find('/')));
        break;
      }
  }
  bool safe = !t.empty() && t.size() <= 64;
  for (char ch : t)
    safe = safe && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.');
  return safe ? t : "common";
}

BearerDecision unauthorized(const JwtClaims* c, std::string detail) {
  BearerDecision d;
  d.ok = false;
  d.error = ServiceError{401, "InvalidAuthenticationInfo",
                         "Server failed to authenticate the request. Please refer to the "
                         "information in the www-authenticate header.",
                         {}};
  d.error.details.emplace_back("AuthenticationErrorDetail", std::move(detail));
  d.www_authenticate = "Bearer authorization_uri=https://login.microsoftonline.com/" +
                       (c ? tenant_of(*c) : std::string("common")) +
                       "/oauth2/authorize resource_id=https://storage.azure.com";
  return d;
}

}  // namespace

std::optional<JwtClaims> decode_jwt(std::string_view token, std::string& error) {
  size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) {
    error = "the token is not a JWT (header.payload.signature)";
    return std::nullopt;
  }
  size_t d2 = token.find('.', d1 + 1);
  std::string_view payload = token.substr(d1 + 1, d2 == std::string_view::npos ? d2 : d2 - d1 - 1);
  if (d2 != std::string_view::npos && token.find('.', d2 + 1) != std::string_view::npos) {
    error = "the token has more than three dot-separated parts (a JWE is not accepted)";
    return std::nullopt;
  }
  std::string text;
  if (payload.empty() || !base64url_decode(payload, text)) {
    error = "the JWT payload is not base64url";
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    error = "the JWT payload is not a JSON object";
    return std::nullopt;
  }
  const auto& o = v.get_object();
  JwtClaims c;
  auto str = [&](const char* name, std::string& out) {
    if (auto* p = o.if_contains(name)) {
      if (!p->is_string()) return false;
      out = std::string(p->get_string());
    }
    return true;
  };
  if (!str("iss", c.iss) || !str("tid", c.tid)) {
    error = "the JWT claims iss and tid must be strings";
    return std::nullopt;
  }
  if (auto* a = o.if_contains("aud")) {
    if (a->is_string()) {
      c.aud.emplace_back(a->get_string());
    } else if (a->is_array()) {
      for (const auto& e : a->get_array()) {
        if (!e.is_string()) {
          error = "the JWT claim aud must be a string or an array of strings";
          return std::nullopt;
        }
        c.aud.emplace_back(e.get_string());
      }
    } else {
      error = "the JWT claim aud must be a string or an array of strings";
      return std::nullopt;
    }
  }
  bool bad = false;
  c.nbf = seconds(o.if_contains("nbf"), bad);
  c.exp = seconds(o.if_contains("exp"), bad);
  c.iat = seconds(o.if_contains("iat"), bad);
  if (bad) {
    error = "the JWT claims nbf, exp and iat must be numbers (seconds since 1970)";
    return std::nullopt;
  }
  return c;
}

BearerDecision verify_bearer(std::string_view authorization, std::string_view account,
                             bool https, int64_t now_ms) {
  std::string_view token = authorization.size() > 7 ? authorization.substr(7) : std::string_view();
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (!https) {
    // A bearer token sent in clear text is readable by anyone on the path; Azure and the
    // SDKs refuse it, so do we (the token is not even looked at).
    BearerDecision d;
    d.ok = false;
    d.error = ServiceError{403, "AuthenticationFailed",
                           "Server failed to authenticate the request. Make sure the value of "
                           "Authorization header is formed correctly including the signature.",
                           {}};
    d.error.details.emplace_back(
        "AuthenticationErrorDetail",
        "Authentication scheme Bearer is not allowed with HTTP. Send the request over https:// "
        "to this port, or sign it with SharedKey or a SAS.");
    return d;
  }
  std::string error;
  auto claims = decode_jwt(token, error);
  if (!claims)
    return unauthorized(nullptr, "The bearer token could not be read: " + error +
                                     ". Send an Azure AD access token for "
                                     "https://storage.azure.com/.default.");
  const JwtClaims& c = *claims;
  if (!c.exp)
    return unauthorized(&c, "Lifetime validation failed. The token has no exp claim.");
  int64_t now_s = now_ms / 1000;
  if (c.nbf && now_s < *c.nbf)
    return unauthorized(&c, "Lifetime validation failed. The token is not yet valid (nbf " +
                                rfc1123(*c.nbf * 1000) + ", now " + rfc1123(now_ms) + ").");
  if (now_s >= *c.exp)
    return unauthorized(&c, "Lifetime validation failed. The token is expired (exp " +
                                rfc1123(*c.exp * 1000) + ", now " + rfc1123(now_ms) +
                                "); get a new token.");
  bool iss_ok = false;
  for (auto prefix : kIssuerPrefixes) iss_ok = iss_ok || c.iss.starts_with(prefix);
  if (!iss_ok)
    return unauthorized(&c, "Issuer validation failed. The token's issuer \"" + c.iss +
                                "\" is not an Azure AD issuer (https://sts.windows.net/<tenant>/ "
                                "or https://login.microsoftonline.com/<tenant>/v2.0).");
  bool aud_ok = false;
  for (const auto& aud : c.aud) {
    for (auto a : kStorageAudiences) aud_ok = aud_ok || aud == a;
    std::string_view rest = aud;
    if (rest.ends_with('/')) rest.remove_suffix(1);
    if (rest.starts_with("https://")) {
      rest.remove_prefix(8);
      for (auto suffix : kQueueSuffixes)
        aud_ok = aud_ok || (rest.ends_with(suffix) &&
                            rest.substr(0, rest.size() - suffix.size()) == account);
    }
  }
  if (!aud_ok) {
    std::string got = c.aud.empty() ? std::string("none") : "\"" + c.aud.front() + "\"";
    return unauthorized(&c, "Audience validation failed. The token's audience " + got +
                                " is not https://storage.azure.com nor https://" +
                                std::string(account) +
                                ".queue.core.windows.net; request the token for scope "
                                "https://storage.azure.com/.default.");
  }
  return {};
}

}  // namespace nimbus::queue
