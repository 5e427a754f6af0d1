#pragma once
// The HTTP/1.1 front door (Boost.Beast): keep-alive connections, limits checked while
// parsing, and a JSON error for every request it cannot hand on: 400 malformed, 413 body over
// the limit, 431 headers over the limit. Everything else goes to one handler.
// Beast stays inside http_server.cc. Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "api/invocation.h"
#include "common/log.h"

namespace nimbus::http {

class HttpServer {
 public:
  using Handler = std::function<boost::asio::awaitable<api::HttpResponseData>(api::HttpRequestData&)>;
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 7071;
    size_t max_body = 100u << 20;
    size_t max_headers = 32u << 10;
    std::chrono::seconds idle_timeout{120};
  };
  HttpServer(boost::asio::io_context& io, Options options, Handler handler, Logger& log);
  ~HttpServer();
  // Binds; false with `error` naming the address and the fix.
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

}  // namespace nimbus::http
