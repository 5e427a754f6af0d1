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
//     app.change_feed("audit", {.database = "shop", .container = "orders",
//                               .create_lease_container = true},
//                     [](const nimbus::DocumentBatch& batch, nimbus::Context& ctx) {
//                       for (const auto& doc : batch.documents) ctx.log(doc);
//                     });
//     app.timer("cleanup", {.schedule = "0 */5 * * * *"},  // NCRONTAB, UTC: every 5 minutes
//               [](const nimbus::TimerInfo& timer, nimbus::Context& ctx) {
//                 if (timer.is_past_due) ctx.log("running late");
//               });
//     // Durable orchestrations (coroutines; include <nimbus/durable.h>):
//     app.orchestrator("Hello", [](nimbus::durable::OrchestrationContext& ctx)
//                                   -> nimbus::durable::Orchestration {
//       std::string a = co_await ctx.call_activity("Greet", ctx.input());
//       co_return a;
//     });
//     app.activity("Greet", [](const std::string& input, nimbus::Context& ctx) {
//       return input;  // JSON text in, JSON text out
//     });
//   }
//
// The host loads the library into `nimbus-worker` processes (or, opt-in, into itself), asks
// each for its functions and routes invocations to them. A handler runs on one thread at a
// time per worker process; it may throw, and the exception fails that invocation only.
// This header is the only stable API; it depends on the standard library alone.
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nimbus/durable_types.h"

namespace nimbus {

// 7: moderation_inputs (every options struct grew)
inline constexpr int kSdkVersion = 7;

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

// A batch of a container's change feed as a cosmosDBTrigger function receives it: the latest
// version of each changed document, in the order of their changes, each as JSON text (an
// object with its system properties _rid, _etag, _ts, _lsn). `json` is the whole batch as one
// JSON array, for code that parses it in one go.
struct DocumentBatch {
  std::vector<std::string> documents;
  std::string json;
};

// One occurrence of a timer function's schedule (Azure's TimerInfo). Times are ISO 8601 UTC,
// "" when unknown (no schedule status without use_monitor, or the first run ever).
struct TimerInfo {
  bool is_past_due = false;  // late: missed while the host was down, or a run overran it
  std::string last;          // ScheduleStatus.Last: the occurrence that ran before
  std::string next;          // ScheduleStatus.Next: the occurrence this run stands for
  std::string last_updated;  // ScheduleStatus.LastUpdated
  std::string json;          // the whole TimerInfo as JSON, as custom handlers get it
};

namespace detail {
// Appends `s` as a JSON string literal (quotes, backslashes and control characters escaped):
// the SDK builds the little JSON it writes (ctx.start_new, create_check_status_response)
// without a JSON library.
inline void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}
}  // namespace detail

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
  // The value of the input binding `binding` (declared in the function's options), read
  // before the function ran, as JSON text: a document, "null" when no item has that id, the
  // array of a query's rows, or a moderation verdict. Empty when the function declares no such
  // input.
  const std::string& input(std::string_view binding) const {
    for (const auto& [name, value] : inputs_)
      if (name == binding) return value;
    return empty_;
  }
  // Set by the worker before the handler runs.
  void set_input(std::string binding, std::string json) {
    inputs_.emplace_back(std::move(binding), std::move(json));
  }
  // This invocation's W3C trace context ("00-<trace id>-<span id>-<flags>"): send it as the
  // `traceparent` header of outgoing calls so they join the caller's trace.
  const std::string& traceparent() const { return traceparent_; }
  void set_traceparent(std::string t) { traceparent_ = std::move(t); }

  // Starts an orchestration (the durable client of a native function): committed with the
  // invocation's outputs, so a queue-triggered starter starts it exactly when its message is
  // completed, and not at all when the function fails. `input` is JSON text; an empty
  // `instance_id` gets a new random one. Returns the instance id. The orchestrator must be a
  // function of this app; starting an instance id that is still running fails the invocation.
  std::string start_new(std::string_view orchestrator, std::string input = "null",
                        std::string instance_id = "") {
    if (instance_id.empty()) instance_id = random_id();
    std::string v = "{\"name\":";
    detail::append_json_string(v, orchestrator);
    v += ",\"instanceId\":";
    detail::append_json_string(v, instance_id);
    v += ",\"input\":";
    v += input.empty() ? std::string("null") : input;
    v += "}";
    outputs_.emplace_back(kStartsBinding, std::move(v));
    return instance_id;
  }
  // The output binding name start_new() writes under (reserved).
  static constexpr const char* kStartsBinding = "$orchestrations";

 private:
  std::string invocation_id_;
  std::string function_name_;
  std::vector<std::string> logs_;
  std::vector<std::pair<std::string, std::string>> outputs_;
  std::vector<std::pair<std::string, std::string>> inputs_;
  std::string traceparent_;
  std::string empty_;

  // 32 hex digits from the OS's random source (instance ids need not be UUIDs; Azure's are
  // 32 hex digits too).
  static std::string random_id() {
    static const char* hex = "0123456789abcdef";
    std::random_device rd;
    std::string id;
    for (int i = 0; i < 4; ++i) {
      uint32_t r = rd();
      for (int j = 0; j < 8; ++j, r >>= 4) id += hex[r & 15];
    }
    return id;
  }
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&, Context&)>;
// Throwing fails the invocation: the message is retried, then moved to <queue>-poison.
using QueueHandler = std::function<void(const QueueMessage&, Context&)>;
// Throwing fails the batch: it is retried (never skipped silently), as the trigger's docs say.
using ChangeFeedHandler = std::function<void(const DocumentBatch&, Context&)>;
// Throwing fails that run only; the next occurrence runs as scheduled (no retry, as in Azure).
using TimerHandler = std::function<void(const TimerInfo&, Context&)>;
// An activity of durable orchestrations: JSON text in (the orchestrator's input for it), JSON
// text out (its result; "" means null). Throwing fails the activity: the orchestrator sees a
// failed task, which its retry options may retry. Runs at least once per scheduling.
using ActivityHandler = std::function<std::string(const std::string& input, Context&)>;
// An orchestrator after the SDK's replay executor wrapped it (nimbus/durable.h builds these
// from coroutines): one episode, history in, new actions out. Must be deterministic.
using OrchestratorHandler =
    std::function<void(const durable::OrchestratorRequest&, durable::OrchestratorResponse&)>;

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
  // When set, the host creates the database and container at start (if missing), partitioned
  // on this path, e.g. "/author" (the binding's createIfNotExists + partitionKey).
  std::string create_with_partition_key;
};

// A document input binding: read from `database`/`container` before the function runs and
// given as ctx.input(name). Either one item by `id` and `partition_key`, or the rows of
// `sql_query`. All may hold binding expressions ("{id}", "{Query.customer}"); in the query each
// becomes a parameter, never text.
struct DocumentInput {
  std::string name;
  std::string database;
  std::string container;
  std::string id;
  std::string partition_key;
  std::string sql_query;
};

// A moderation input binding: before the function runs, the host moderates `text` with the
// app's moderator (Gemini when GEMINI_API_KEY is set, else the local rules; retries, a circuit
// breaker, fail-open) and ctx.input(name) is the verdict as JSON:
//   {"status":"approved"|"rejected"|"pending-review","categories":[{"name","score",..}],
//    "provider","reason","latencyMs","attempts","failOpen"}
// `text` is a binding expression such as "{text}" (a property of an HTTP request's JSON body, a
// JSON queue message or an activity's JSON input), "{queueTrigger}", "{Query.q}". When its
// value is missing the invocation fails before the function runs. Empty `text`: ctx.input(name)
// is the moderator's health instead, {"provider":"gemini"|"local-rules",
// "breaker":"closed"|"open"|"half-open","healthy":bool}.
struct ModerationInput {
  std::string name;
  std::string text;
};

struct HttpOptions {
  std::string route;                 // template such as "items/{id:int}"; default: the name
  std::vector<std::string> methods;  // empty: every method
  AuthLevel auth = AuthLevel::function;  // Azure's default
  std::vector<QueueOutput> outputs;
  std::vector<DocumentOutput> document_outputs;
  std::vector<DocumentInput> document_inputs;
  std::vector<ModerationInput> moderation_inputs;
};

struct QueueOptions {
  std::string queue;  // the queue to listen on
  std::vector<QueueOutput> outputs;
  std::vector<DocumentOutput> document_outputs;
  std::vector<DocumentInput> document_inputs;
  std::vector<ModerationInput> moderation_inputs;
};

// A cosmosDBTrigger: the change feed of `database`/`container` of the built-in document
// store, with the position kept in a lease document of `lease_container` (partition key /id;
// created when missing if `create_lease_container`). Several functions on one container need
// distinct `lease_prefix`es. With no lease yet: only new changes, or every item
// (`start_from_beginning`), or those written at or after `start_from_time` (ISO 8601 UTC).
struct ChangeFeedOptions {
  std::string database;
  std::string container;
  std::string lease_container = "leases";
  std::string lease_database;  // default: database
  std::string lease_prefix;
  bool create_lease_container = false;
  bool start_from_beginning = false;
  std::string start_from_time;
  int max_items_per_invocation = 100;
  std::vector<QueueOutput> outputs;
  std::vector<DocumentOutput> document_outputs;
  std::vector<DocumentInput> document_inputs;
  std::vector<ModerationInput> moderation_inputs;
};

// A timerTrigger: `schedule` is NCRONTAB with seconds ("0 */5 * * * *"), five fields, or a
// TimeSpan ("00:05:00"); "%Setting%" reads it from an app setting. Always UTC. One run at a
// time. `run_on_startup` also runs it when the host starts. `use_monitor` keeps the schedule
// status in the store so an occurrence missed while the host was down runs once at start with
// is_past_due; unset means Azure's default: on when the schedule's period is a minute or more.
struct TimerOptions {
  std::string schedule;
  bool run_on_startup = false;
  int use_monitor = -1;  // -1: default, 0: off, 1: on
  std::vector<QueueOutput> outputs;
  std::vector<DocumentOutput> document_outputs;
  std::vector<DocumentInput> document_inputs;
  std::vector<ModerationInput> moderation_inputs;
};

// An activity's bindings: outputs commit with the activity's result, atomically.
struct ActivityOptions {
  std::vector<QueueOutput> outputs;
  std::vector<DocumentOutput> document_outputs;
  std::vector<DocumentInput> document_inputs;
  std::vector<ModerationInput> moderation_inputs;
};

class App {
 public:
  struct Function {
    std::string name;
    HttpOptions http;
    HttpHandler handler;  // set for HTTP functions
    QueueOptions queue;
    QueueHandler queue_handler;  // set for queue functions
    ChangeFeedOptions change_feed;
    ChangeFeedHandler change_feed_handler;  // set for change-feed functions
    OrchestratorHandler orchestrator_handler;  // set for orchestrators
    ActivityOptions activity;
    ActivityHandler activity_handler;  // set for activities
    TimerOptions timer;
    TimerHandler timer_handler;  // set for timer functions
  };

  App& http(std::string name, HttpOptions options, HttpHandler handler) {
    Function f;
    f.name = std::move(name);
    f.http = std::move(options);
    f.handler = std::move(handler);
    functions_.push_back(std::move(f));
    return *this;
  }
  App& queue(std::string name, QueueOptions options, QueueHandler handler) {
    Function f;
    f.name = std::move(name);
    f.queue = std::move(options);
    f.queue_handler = std::move(handler);
    functions_.push_back(std::move(f));
    return *this;
  }
  App& change_feed(std::string name, ChangeFeedOptions options, ChangeFeedHandler handler) {
    Function f;
    f.name = std::move(name);
    f.change_feed = std::move(options);
    f.change_feed_handler = std::move(handler);
    functions_.push_back(std::move(f));
    return *this;
  }
  // An orchestrator written as a coroutine (defined in nimbus/durable.h; include it).
  template <class F>
  App& orchestrator(std::string name, F coroutine_function);
  // An orchestrator already wrapped by a replay executor.
  App& orchestrator_handler(std::string name, OrchestratorHandler handler) {
    Function f;
    f.name = std::move(name);
    f.orchestrator_handler = std::move(handler);
    functions_.push_back(std::move(f));
    return *this;
  }
  App& activity(std::string name, ActivityOptions options, ActivityHandler handler) {
    Function f;
    f.name = std::move(name);
    f.activity = std::move(options);
    f.activity_handler = std::move(handler);
    functions_.push_back(std::move(f));
    return *this;
  }
  App& activity(std::string name, ActivityHandler handler) {
    return activity(std::move(name), {}, std::move(handler));
  }
  App& timer(std::string name, TimerOptions options, TimerHandler handler) {
    Function f;
    f.name = std::move(name);
    f.timer = std::move(options);
    f.timer_handler = std::move(handler);
    functions_.push_back(std::move(f));
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
// The body is an ordinary C++ function that the extern "C" entry point calls: GCC 12 emits
// the clones of a coroutine lambda (an orchestrator) written directly inside an extern "C"
// function under one symbol, which the assembler rejects ("symbol ... is already defined").
#define NIMBUS_APP(app_var)                                                              \
  static void nimbus_define_app_body(::nimbus::App&);                                    \
  extern "C" __attribute__((visibility("default"))) int nimbus_sdk_version() {           \
    return ::nimbus::kSdkVersion;                                                        \
  }                                                                                      \
  extern "C" __attribute__((visibility("default"))) void nimbus_define_app(::nimbus::App& \
                                                                               app) {    \
    nimbus_define_app_body(app);                                                         \
  }                                                                                      \
  static void nimbus_define_app_body(::nimbus::App& app_var)
