#pragma once
// CORS for the function port, as Azure Functions Core Tools applies it: allowed origins from
// local.settings.json `Host.CORS` (comma-separated, or "*") or `nimbus start --cors`, and
// `Host.CORSCredentials` / `--cors-credentials`.
//
// - A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin
//   is answered 204 here, before routing, with Allow-Origin, Allow-Methods (the requested one),
//   Allow-Headers (the requested ones), Max-Age and Vary; from another origin it is 403 with no
//   CORS headers, so the browser blocks the call.
// - Any other request from an allowed origin gets Access-Control-Allow-Origin (the origin
//   itself, or "*" when every origin is allowed without credentials), Vary: Origin and, with
//   credentials, Access-Control-Allow-Credentials: true. Requests from other origins are
//   served unchanged (the browser enforces CORS; the server only declares it).
// Origins compare case-insensitively on scheme and host, exactly on the port, as the Fetch
// standard serializes them. "*" with credentials echoes the request's origin, because browsers
// refuse a literal "*" together with credentials.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/invocation.h"

namespace nimbus::http {

class CorsPolicy {
 public:
  // `origins`: "*" or a comma-separated list ("https://a.example, http://localhost:3000").
  // nullopt (with `error` naming the bad origin and the fix) when an entry is not an origin.
  static std::optional<CorsPolicy> parse(std::string_view origins, bool credentials,
                                         std::string& error);

  bool allows(std::string_view origin) const;
  // The answer to a preflight, or nullopt when `req` is not one.
  std::optional<api::HttpResponseData> preflight(const api::HttpRequestData& req) const;
  // Adds the CORS headers an actual response needs (none when the origin is not allowed).
  void decorate(const api::HttpRequestData& req, api::HttpResponseData& res) const;

  bool any() const { return any_; }
  bool credentials() const { return credentials_; }
  const std::vector<std::string>& origins() const { return origins_; }

 private:
  bool any_ = false;
  bool credentials_ = false;
  std::vector<std::string> origins_;  // normalized: lower-case scheme and host
};

}  // namespace nimbus::http
