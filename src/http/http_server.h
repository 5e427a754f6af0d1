#pragma once
// The HTTP/1.1 front door (Boost.Beast): keep-alive connections, limits checked while
// parsing, and a JSON error for every request it cannot hand on: 400 malformed, 413 body over
// the limit, 431 headers over the limit, 503 when the host's connection cap or its budget of
// buffered request bodies is used up.
//
// A request is read in two steps: headers first, then `admit` decides (route, method, key)
// before a byte of the body is read, so a caller without a key never makes the host buffer
// 100 MB; `Expect: 100-continue` is answered only after admission. The body is then read
// into memory against a host-wide budget (BodyBudget) shared by every server of the host.
// Optionally HTTPS on the same port (Options::tls_*). Beast and Asio's SSL stream stay inside
// http_server.cc. Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "api/invocation.h"
#include "common/log.h"

namespace nimbus::http {

// What every server of one host shares: the bytes of request bodies held in memory at once,
// and the open connections. A request whose body would exceed the budget is answered 503
// (before its body is read when Content-Length says so, mid-body for chunked ones); a
// connection beyond the cap is answered 503 and closed. Single-threaded (the I/O thread).
struct HostLimits {
  size_t body_budget = 256u << 20;
  size_t body_used = 0;
  size_t max_connections = 1024;
  size_t connections = 0;
  bool take_body(size_t n) {
    if (n > body_budget - body_used) return false;
    body_used += n;
    return true;
  }
  void give_body(size_t n) { body_used -= n; }
};

class HttpServer {
 public:
  using Handler = std::function<boost::asio::awaitable<api::HttpResponseData>(api::HttpRequestData&)>;
  // Called with the request's method, target, path, query and headers (no body yet). An
  // answer here is sent without reading the body, and the connection then closes. It may
  // also fill fields of the request (route parameters, the matched function) for `Handler`.
  using Admit = std::function<std::optional<api::HttpResponseData>(api::HttpRequestData&)>;
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 7071;
    size_t max_body = 100u << 20;
    size_t max_headers = 32u << 10;
    std::chrono::seconds idle_timeout{120};
    std::shared_ptr<HostLimits> limits;  // null: limits of this server's own (defaults)
    // TLS on the same port as plain HTTP: a connection whose first byte starts a TLS
    // handshake record (0x16; no HTTP method starts with it) is served over TLS 1.2+ with
    // this PEM certificate (chain) and private key; any other stays plain HTTP. Both empty:
    // plain HTTP only. When set, every request carries `X-Forwarded-Proto: https` or `http`
    // as its connection was (a client's own such header is replaced), so a handler can build
    // absolute URLs with the scheme the client used.
    std::string tls_certificate_file;
    std::string tls_key_file;
    // Told of every answer the server gives without calling the handler (a head or body it
    // cannot read, a bad target, an admit refusal, a body over the budget), with the request
    // when its head was read (else null); on the I/O thread, before the answer is written.
    // The host counts and logs them.
    std::function<void(const api::HttpResponseData& answer, const api::HttpRequestData* request)>
        on_refused;
  };
  HttpServer(boost::asio::io_context& io, Options options, Handler handler, Logger& log,
             Admit admit = {});
  ~HttpServer();
  // Loads the TLS certificate (if any), then binds; false with `error` naming the address or
  // the certificate file and the fix.
  bool listen(std::string& error);
  uint16_t port() const;
  void start();
  // Stops accepting; requests already read are answered, then their connections close.
  void stop();
  // Requests read and not yet answered.
  int busy() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A JSON error body {"error": {"code", "message", ...extra}}: one shape for every error the
// host itself answers.
api::HttpResponseData json_error(int status, std::string_view code, std::string_view message,
                                 std::string_view invocation_id = {});

// Raises the soft file-descriptor limit to the hard one (once, at start) and returns the
// connection cap that leaves a reserve of descriptors for workers, the store and logs.
size_t default_max_connections();

// Whether `host` is an address no other machine can reach: a loopback IP (an IPv4-mapped one
// included) or "localhost". Another host name is not trusted to stay loopback.
bool is_loopback_address(const std::string& host);

// Parses one complete HTTP/1.1 request from `bytes` with the server's own parser and
// limits, as a session would: the request, or the status (400/413/431) and message the
// server would answer. For the fuzz target and unit tests; sessions read from sockets.
// `piece` > 0 delivers the bytes `piece` at a time through the session's own reading code
// (its capped buffer, the head first, then the body); 0 offers them all at once.
// `lean` = false reads with Beast's parser alone (the reference the lean reader is held to).
struct ParsedRequest {
  int status = 0;  // 0: parsed; else the error status
  std::string error;
  api::HttpRequestData request;
  unsigned version = 0;     // 11 or 10, when parsed
  bool keep_alive = false;  // whether the connection would stay open, when parsed
  bool lean = false;        // the lean reader took the head (request_head.h)
};
ParsedRequest parse_request(std::string_view bytes, size_t max_headers, size_t max_body,
                            size_t piece = 0, bool lean = true);

}  // namespace nimbus::http
