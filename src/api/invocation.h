#pragma once
// The one shape every trigger gives the dispatcher, and the one shape every invoker returns.
// Triggers fill an Invocation; runtime::Dispatcher adds id, deadline, logs and metrics; an
// Invoker (native worker, in-process, custom handler) runs it. Plain data, no locking.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "api/function.h"
#include "common/trace.h"

namespace nimbus::api {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequestData {
  std::string method;  // upper-case
  std::string target;  // path and query as received
  std::string path;    // percent-encoded path
  std::string host;    // Host header, for building absolute URLs
  std::map<std::string, std::string> query;  // decoded; the first value wins for repeated names
  std::map<std::string, std::string> params;  // route parameters, set by the router
  // The function the router matched when the request was admitted on its headers (before
  // its body was read); null until then.
  const FunctionSpec* function = nullptr;
  // Keeps *function alive while the request runs: the version of the app that admitted it
  // (`nimbus start --watch` may replace the running app meanwhile). Null when not needed.
  std::shared_ptr<const void> function_owner;
  Headers headers;
  std::string body;
  // Set by the HTTP server from the connection, never from what the client sent: whether it
  // came over TLS and the peer's IP address (an IPv4-mapped IPv6 peer as plain IPv4). Shared
  // access signatures restrict both (`spr`, `sip`); a bearer token is accepted only over TLS.
  bool secure = false;
  std::string remote_address;
  // Set by the HTTP server: how many of its connections sent a request lately, this one
  // included (http/active_clients.h); 0 when not from a connection. A service passes it to
  // its store as advice for group commit.
  size_t active_clients = 0;
  // Set by a service's admit step once it verified the request's signature on the head, so
  // the handler does not verify it again; never from anything the client sent.
  bool authenticated = false;
  std::string_view header(std::string_view name) const;
};

struct HttpResponseData {
  int status = 200;
  Headers headers;
  std::string body;
};

// A queue message handed to a queueTrigger function. Times are ISO 8601 UTC strings, as the
// custom handler protocol carries them.
struct QueueMessageData {
  std::string id;
  std::string text;  // decoded content
  int64_t dequeue_count = 0;
  std::string insertion_time, expiration_time, next_visible_time, pop_receipt;
};
// (The message's traceparent is not here: the queue trigger makes the invocation's span a
// child of it, Invocation::trace.)

// A batch of a container's change feed handed to a cosmosDBTrigger function: the latest
// version of each changed item, in _lsn order, as JSON text of an array of objects (both
// worker protocols carry it as text, so it is serialized once).
struct DocumentBatchData {
  std::string documents;  // "[{...},{...}]"
  size_t count = 0;
  int64_t first_lsn = 0, last_lsn = 0;
};

// One episode of an orchestration: the OrchestratorRequest as JSON text
// (api/durable_events.h); the worker answers the OrchestratorResponse as the response body.
struct OrchestrationData {
  std::string instance_id;
  std::string request;
};
// One activity work item: its input JSON text in; the result JSON text comes back as the
// response body.
struct ActivityData {
  std::string instance_id;
  int task_id = 0;
  std::string input;
};

// One occurrence of a timerTrigger schedule: Azure's TimerInfo. Times are ISO 8601 UTC
// strings ("" when unknown: no status kept, or the first run ever).
struct TimerData {
  std::string last, next, last_updated;  // ScheduleStatus
  bool is_past_due = false;  // the occurrence is late (missed while down, or a run overran)
  bool adjust_for_dst = false;  // Schedule.AdjustForDST: always false, schedules are UTC
  // TimerInfo as Azure serializes it: {"Schedule":{..},"ScheduleStatus":{..}|null,"IsPastDue"}
  std::string to_json() const;
};

// The triggering input, one alternative per trigger kind (api::TriggerKind, same order).
using TriggerInput =
    std::variant<HttpRequestData*, const QueueMessageData*, const DocumentBatchData*,
                 const OrchestrationData*, const ActivityData*, const TimerData*>;

// The value of one input binding, read before the function runs: JSON text (a document, the
// array of a query's rows, or null when a document does not exist).
struct InputValue {
  std::string binding;
  std::string json;
};

struct Invocation {
  std::string id;
  const FunctionSpec* function = nullptr;
  TriggerInput input{static_cast<HttpRequestData*>(nullptr)};
  // Run by hand (POST /admin/functions/{name}) rather than by its trigger: logged and counted
  // as "manual"; admitted like any pulled trigger.
  bool manual = false;
  std::chrono::steady_clock::time_point deadline;
  // Filled by the dispatcher's input stage, one per FunctionSpec::inputs, in order.
  std::vector<InputValue> inputs;
  // Set by the input stage when an input failed because the trigger data lacks a value a
  // binding expression names (a missing query parameter, body property or message property):
  // the caller's mistake, so an HTTP trigger answers 400 naming it instead of 500.
  bool input_from_request_missing = false;
  // This invocation's span (W3C trace context): the HTTP trigger continues the caller's
  // traceparent; the dispatcher starts a trace for anything that comes without one.
  TraceContext trace;

  TriggerKind kind() const { return static_cast<TriggerKind>(input.index()); }
  HttpRequestData* http() const {
    auto* p = std::get_if<HttpRequestData*>(&input);
    return p ? *p : nullptr;
  }
  const QueueMessageData* queue() const {
    auto* p = std::get_if<const QueueMessageData*>(&input);
    return p ? *p : nullptr;
  }
  const DocumentBatchData* documents() const {
    auto* p = std::get_if<const DocumentBatchData*>(&input);
    return p ? *p : nullptr;
  }
  const OrchestrationData* orchestration() const {
    auto* p = std::get_if<const OrchestrationData*>(&input);
    return p ? *p : nullptr;
  }
  const ActivityData* activity() const {
    auto* p = std::get_if<const ActivityData*>(&input);
    return p ? *p : nullptr;
  }
  const TimerData* timer() const {
    auto* p = std::get_if<const TimerData*>(&input);
    return p ? *p : nullptr;
  }
  // The label logs and metrics use: "http", "queue", "cosmosDB", "orchestration", "activity",
  // "timer" or "manual".
  const char* trigger_label() const { return manual ? "manual" : trigger_kind_name(kind()); }
};

// One item for an output binding: a queue message's text (later a document's JSON).
struct OutputValue {
  std::string binding;
  std::string data;
  bool operator==(const OutputValue&) const = default;
};

enum class Outcome {
  succeeded,       // user code ran and answered
  failed,          // user code ran and reported failure (threw, non-2xx from a handler)
  timed_out,       // the deadline passed
  worker_crashed,  // the worker process died or the connection broke mid-invocation
  bad_response,    // the worker answered something that is not the protocol
  unavailable,     // no worker could be had before the deadline
  throttled,       // over the concurrency limit; try again later
};
const char* outcome_name(Outcome o);

struct InvocationResult {
  Outcome outcome = Outcome::succeeded;
  HttpResponseData response;  // the HTTP output, when the function has one
  std::vector<std::string> logs;
  std::string error;  // for anything but succeeded: what went wrong, for the log and the body
  // The failure was in the input stage (the function did not run): `error` is the host's own
  // text naming the binding, safe to show; `bad_request` when the trigger data was at fault.
  bool input_failed = false;
  bool bad_request = false;
  bool cold_start = false;  // first invocation served by this worker process
  std::string worker;       // e.g. "native-2/pid 1234"
  // Values the function gave its output bindings (other than the HTTP response), one entry
  // per item, keyed by binding name; turned into store writes by bindings/outputs.h and
  // committed only on success.
  std::vector<OutputValue> outputs;
};

}  // namespace nimbus::api
