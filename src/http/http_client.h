#pragma once
// A blocking HTTP/1.1 client for the command-line tools (`nimbus queue`, `nimbus docs`,
// `nimbus durable`): one request on a fresh connection, 30 s deadline. Not for the host's I/O
// thread, which never blocks.
#include <optional>
#include <string>
#include <string_view>

#include "api/invocation.h"

namespace nimbus::http {

struct ClientResponse {
  int status = 0;
  std::string body;
  api::Headers headers;
  std::string header(std::string_view name) const;  // first value, case-insensitive; ""
};

// nullopt with `error` (the cause, without the address) when no answer came; `network` says
// whether the connection itself failed (as opposed to an answer that could not be read).
std::optional<ClientResponse> send_request(const std::string& host, const std::string& port,
                                           const std::string& method, const std::string& target,
                                           const api::Headers& headers, std::string body,
                                           std::string& error, bool* network = nullptr);

// Percent-encodes everything but RFC 3986's unreserved characters (a query value or a path
// segment).
std::string url_encode(std::string_view s);

}  // namespace nimbus::http
