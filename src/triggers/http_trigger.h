#pragma once
// Turns an HTTP request into an invocation: route, method, key check, then the dispatcher;
// and the result back into an HTTP response (502/504 and friends carry the invocation id).
// A request without a valid key never reaches user code.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <optional>

#include "api/invocation.h"
#include "http/router.h"
#include "bindings/outputs.h"
#include "runtime/dispatcher.h"
#include "runtime/effects_committer.h"
#include "security/keys.h"

namespace nimbus::triggers {

class HttpTrigger {
 public:
  // `keys` null means authorization is off (--no-auth). `effects` commits output bindings
  // (null: the app has none, and a function that gives one a value fails).
  HttpTrigger(const http::Router& router, const security::KeyStore* keys,
              runtime::Dispatcher& dispatcher, runtime::EffectsCommitter* effects = nullptr,
              bindings::OutputOptions outputs = {}, Logger* log = nullptr)
      : router_(router),
        keys_(keys),
        dispatcher_(dispatcher),
        effects_(effects),
        outputs_(std::move(outputs)),
        log_(log) {}
  // Route, method and key, on the headers alone (HttpServer calls it before reading the
  // body): an error answer, or nothing with req.function and req.params set.
  std::optional<api::HttpResponseData> admit(api::HttpRequestData& req) const;
  boost::asio::awaitable<api::HttpResponseData> handle(api::HttpRequestData& req) const;

 private:
  const http::Router& router_;
  const security::KeyStore* keys_;
  runtime::Dispatcher& dispatcher_;
  runtime::EffectsCommitter* effects_;
  bindings::OutputOptions outputs_;
  Logger* log_;
};

// The key a request presents: the x-functions-key header beats the ?code= query parameter.
std::string_view presented_key(const api::HttpRequestData& req);

}  // namespace nimbus::triggers
