#include "triggers/http_trigger.h"

#include <boost/asio.hpp>

#include "http/http_server.h"
#include "triggers/output_commit.h"

namespace nimbus::triggers {

std::string_view presented_key(const api::HttpRequestData& req) {
  auto h = req.header("x-functions-key");
  if (!h.empty()) return h;
  auto it = req.query.find("code");
  return it == req.query.end() ? std::string_view() : std::string_view(it->second);
}

std::optional<api::HttpResponseData> HttpTrigger::admit(api::HttpRequestData& req) const {
  auto m = router_.match(req.method, req.path);
  switch (m.kind) {
    case http::RouteMatch::Kind::bad_path:
      return http::json_error(400, "BadRequest",
                              "path \"" + req.path + "\" has a malformed percent-escape");
    case http::RouteMatch::Kind::not_found:
      return http::json_error(404, "NotFound",
                              "no function is routed at " + req.method + " " + req.path);
    case http::RouteMatch::Kind::method_not_allowed: {
      std::string allow;
      for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
      auto r = http::json_error(405, "MethodNotAllowed",
                                req.method + " is not allowed on " + req.path + "; use " + allow);
      r.headers.emplace_back("Allow", allow);
      return r;
    }
    case http::RouteMatch::Kind::found:
      break;
  }
  const auto& fn = *m.function;
  const auto& auth = fn.http()->auth;
  if (keys_ && !keys_->authorize(auth, presented_key(req)))
    return http::json_error(
        401, "Unauthorized",
        std::string("function \"") + fn.name + "\" needs a" +
            (auth == api::AuthLevel::admin ? "n admin (master)" : " function") +
            " key: send it in the x-functions-key header or the code query parameter (see "
            "`nimbus keys list`)");
  req.params = std::move(m.params);
  req.function = &fn;
  return std::nullopt;
}

boost::asio::awaitable<api::HttpResponseData> HttpTrigger::handle(api::HttpRequestData& req) const {
  if (!req.function)
    if (auto refused = admit(req)) co_return std::move(*refused);
  const auto& fn = *req.function;
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  inv.trace = TraceContext::child_of(TraceContext::parse(req.header("traceparent")));
  // The completion: outputs are durable (all or none) before the response goes out, and a
  // failure to write them fails the invocation, so its log line and metrics say so too.
  bool output_failed = false;
  auto complete = [&](api::Invocation& inv,
                      api::InvocationResult& r) -> boost::asio::awaitable<void> {
    // Most HTTP functions return no outputs: skip commit_outputs's coroutine frame for them.
    if (r.outputs.empty()) co_return;
    output_failed = co_await commit_outputs(effects_, inv, r, outputs_, log_);
  };
  auto result = co_await dispatcher_.dispatch(inv, complete);
  if (output_failed) co_return http::json_error(500, "OutputBindingFailed", result.error, inv.id);
  switch (result.outcome) {
    case api::Outcome::succeeded:
      co_return std::move(result.response);
    case api::Outcome::failed:
      // The input stage failed before user code ran: the host's own message names the binding
      // and the expression (no user data, no secrets), so the caller can fix the request.
      if (result.input_failed)
        co_return http::json_error(result.bad_request ? 400 : 500,
                                   result.bad_request ? "BadRequest" : "InputBindingFailed",
                                   result.error, inv.id);
      // What user code threw may hold anything (a connection string, a stack); like Azure,
      // the client learns only that it failed, and the log has the error under this id.
      co_return http::json_error(500, "FunctionFailed",
                                 "the function failed; the host log has its error under this "
                                 "invocation id",
                                 inv.id);
    case api::Outcome::timed_out:
      co_return http::json_error(504, "FunctionTimeout", result.error, inv.id);
    case api::Outcome::worker_crashed:
      co_return http::json_error(502, "WorkerCrashed", result.error, inv.id);
    case api::Outcome::bad_response:
      co_return http::json_error(502, "BadWorkerResponse", result.error, inv.id);
    case api::Outcome::unavailable:
      co_return http::json_error(503, "WorkerUnavailable", result.error, inv.id);
    case api::Outcome::throttled: {
      auto r = http::json_error(429, "TooManyRequests", result.error, inv.id);
      r.headers.emplace_back("Retry-After", "1");
      co_return r;
    }
  }
  co_return http::json_error(500, "InternalError", "unknown outcome", inv.id);
}

}  // namespace nimbus::triggers
