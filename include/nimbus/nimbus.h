#pragma once
// Nimbus native function SDK. An app is a shared library that defines its functions in code:
//
//   #include <nimbus/nimbus.h>
//   NIMBUS_APP(app) {
//     app.http("hello", {.route = "hello/{name?}", .methods = {"GET"},
//                        .auth = nimbus::AuthLevel::anonymous},
//              [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
//                ctx.log("saying hello");
//                return nimbus::HttpResponse::json(200, R"({"hello":"world"})");
//              });
//     app.queue("process", {.queue = "orders", .outputs = {{"done", "orders-done"}}},
//               [](const nimbus::QueueMessage& msg, nimbus::Context& ctx) {
//                 ctx.output("done", msg.text);  // written with the completion
//               });
//   }
//
// The host loads the library into `nimbus-worker` processes (or, opt-in, into itself), asks
// each for its functions and routes invocations to them. A handler runs on one thread at a
// time per worker process; it may throw, and the exception fails that invocation only.
// This header is the only stable API; it depends on the standard library alone.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nimbus {

inline constexpr int kSdkVersion = 3;

enum class AuthLevel { anonymous, function, admin };

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // upper-case
  std::string url;     // as received: path and query
  std::string path;    // without the query string
  std::map<std::string, std::string> query;   // decoded
  std::map<std::string, std::string> params;  // route parameters
  Headers headers;                            // names as sent
  std::string body;

  // First header with this name (case-insensitive), or "".
  std::string_view header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() != name.size()) continue;
      bool eq = true;
      for (size_t i = 0; i < k.size() && eq; ++i)
        eq = (k[i] | 0x20) == (name[i] | 0x20);
      if (eq) return v;
    }
    return {};
  }
  std::string_view param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string_view() : std::string_view(it->second);
  }
  std::string_view query_value(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string_view() : std::string_view(it->second);
  }
};

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;

  static HttpResponse text(int status, std::string body) {
    return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
  }
  static HttpResponse json(int status, std::string body) {
    return {status, {{"Content-Type", "application/json"}}, std::move(body)};
  }
};

// A queue message as a queueTrigger function receives it (the metadata Azure passes too).
// `text` is the decoded content (base64 undone unless host.json messageEncoding is "none").
struct QueueMessage {
  std::string id;
  std::string text;
  int64_t dequeue_count = 0;
  std::string insertion_time;  // ISO 8601, UTC
  std::string expiration_time;
  std::string next_visible_time;
  std::string pop_receipt;
};

// Per-invocation context: ids, the function's log lines (attached to the invocation's log
// record) and the values it gives its declared output bindings.
class Context {
 public:
  Context(std::string invocation_id, std::string function_name)
      : invocation_id_(std::move(invocation_id)), function_name_(std::move(function_name)) {}
  const std::string& invocation_id() const { return invocation_id_; }
  const std::string& function_name() const { return function_name_; }
  void log(std::string message) { logs_.push_back(std::move(message)); }
  const std::vector<std::string>& logs() const { return logs_; }
  // Gives one value to the output binding `binding`, declared in the function's options
  // (a queue output: one message). Call it again for more. Written only if the invocation
  // succeeds, all together; for a queue-triggered function in the same transaction that
  // completes the trigger message. A binding the function does not declare fails the
  // invocation with an error naming it.
  void output(std::string binding, std::string value) {
    outputs_.emplace_back(std::move(binding), std::move(value));
  }
  const std::vector<std::pair<std::string, std::string>>& outputs() const { return outputs_; }

 private:
  std::string invocation_id_;
  std::string function_name_;
  std::vector<std::string> logs_;
  std::vector<std::pair<std::string, std::string>> outputs_;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&, Context&)>;
// Throwing fails the invocation: the message is retried, then moved to <queue>-poison.
using QueueHandler = std::function<void(const QueueMessage&, Context&)>;

// A queue output binding: values given to `name` (ctx.output) are messages for `queue`. The
// queue name may hold binding expressions resolved per invocation: a route parameter
// ("{kind}"), "{Query.x}", "{Headers.x}"; for queue triggers "{Id}" or a property of a JSON
// message; "{rand-guid}", "{DateTime}" anywhere.
struct QueueOutput {
  std::string name;
  std::string queue;
};

// A document output binding: each value given to `name` is a JSON object (or an array of
// them) upserted into `database`/`container` of the built-in document store, committed with
// the invocation's other outputs. A document without an "id" gets a new one.
struct DocumentOutput {
  std::string name;
  std::string database;
  std::string container;
};

struct HttpOptions {
  std::string route;                 // template such as "items/{id:int}"; default: the name
  std::vector<std::string> methods;  // empty: every method
  AuthLevel auth = AuthLevel::function;  // Azure's default
  std::vector<QueueOutput> outputs;
  std::vector<DocumentOutput> document_outputs;
};

struct QueueOptions {
  std::string queue;  // the queue to listen on
  std::vector<QueueOutput> outputs;
  std::vector<DocumentOutput> document_outputs;
};

class App {
 public:
  struct Function {
    std::string name;
    HttpOptions http;
    HttpHandler handler;  // set for HTTP functions
    QueueOptions queue;
    QueueHandler queue_handler;  // set for queue functions
  };

  App& http(std::string name, HttpOptions options, HttpHandler handler) {
    functions_.push_back({std::move(name), std::move(options), std::move(handler), {}, {}});
    return *this;
  }
  App& queue(std::string name, QueueOptions options, QueueHandler handler) {
    functions_.push_back({std::move(name), {}, {}, std::move(options), std::move(handler)});
    return *this;
  }
  const std::vector<Function>& functions() const { return functions_; }
  const Function* find(std::string_view name) const {
    for (const auto& f : functions_)
      if (f.name == name) return &f;
    return nullptr;
  }

 private:
  std::vector<Function> functions_;
};

}  // namespace nimbus

// Defines the app's entry points. The host checks nimbus_sdk_version() before calling
// nimbus_define_app(), so a library built against another SDK is refused with a clear error.
#define NIMBUS_APP(app_var)                                                              \
  extern "C" __attribute__((visibility("default"))) int nimbus_sdk_version() {           \
    return ::nimbus::kSdkVersion;                                                        \
  }                                                                                      \
  extern "C" __attribute__((visibility("default"))) void nimbus_define_app(::nimbus::App& \
                                                                               app_var)
