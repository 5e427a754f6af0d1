#pragma once
// Turns an HTTP request into an invocation: route, method, key check, then the dispatcher;
// and the result back into an HTTP response (502/504 and friends carry the invocation id).
// A request without a valid key never reaches user code.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>

#include "api/invocation.h"
#include "http/router.h"
#include "runtime/dispatcher.h"
#include "security/keys.h"

namespace nimbus::triggers {

class HttpTrigger {
 public:
  // Writes a function's queue output messages; returns "" or an error. Empty: no queues.
  using OutputWriter = std::function<boost::asio::awaitable<std::string>(
      const std::vector<std::pair<std::string, std::string>>&)>;
  // `keys` null means authorization is off (--no-auth).
  HttpTrigger(const http::Router& router, const security::KeyStore* keys,
              runtime::Dispatcher& dispatcher, OutputWriter write_outputs = {})
      : router_(router),
        keys_(keys),
        dispatcher_(dispatcher),
        write_outputs_(std::move(write_outputs)) {}
  // Route, method and key, on the headers alone (HttpServer calls it before reading the
  // body): an error answer, or nothing with req.function and req.params set.
  std::optional<api::HttpResponseData> admit(api::HttpRequestData& req) const;
  boost::asio::awaitable<api::HttpResponseData> handle(api::HttpRequestData& req);

 private:
  const http::Router& router_;
  const security::KeyStore* keys_;
  runtime::Dispatcher& dispatcher_;
  OutputWriter write_outputs_;
};

// The key a request presents: the x-functions-key header beats the ?code= query parameter.
std::string_view presented_key(const api::HttpRequestData& req);

}  // namespace nimbus::triggers
