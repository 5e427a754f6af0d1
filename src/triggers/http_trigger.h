#pragma once
// Turns an HTTP request into an invocation: route, method, key check, then the dispatcher;
// and the result back into an HTTP response (502/504 and friends carry the invocation id).
// A request without a valid key never reaches user code.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>

#include "api/invocation.h"
#include "http/router.h"
#include "runtime/dispatcher.h"
#include "security/keys.h"

namespace nimbus::triggers {

class HttpTrigger {
 public:
  // `keys` null means authorization is off (--no-auth).
  HttpTrigger(const http::Router& router, const security::KeyStore* keys,
              runtime::Dispatcher& dispatcher)
      : router_(router), keys_(keys), dispatcher_(dispatcher) {}
  boost::asio::awaitable<api::HttpResponseData> handle(api::HttpRequestData& req);

 private:
  const http::Router& router_;
  const security::KeyStore* keys_;
  runtime::Dispatcher& dispatcher_;
};

// The key a request presents: the x-functions-key header beats the ?code= query parameter.
std::string_view presented_key(const api::HttpRequestData& req);

}  // namespace nimbus::triggers
