#pragma once
// The one shape every trigger gives the dispatcher, and the one shape every invoker returns.
// Triggers fill an Invocation; runtime::Dispatcher adds id, deadline, logs and metrics; an
// Invoker (native worker, in-process, custom handler) runs it. Plain data, no locking.
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "config/app_spec.h"

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
  const config::FunctionSpec* function = nullptr;
  Headers headers;
  std::string body;
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

struct Invocation {
  std::string id;
  const config::FunctionSpec* function = nullptr;
  std::string trigger;  // "http", "queue"
  HttpRequestData* http = nullptr;           // input of HTTP-triggered functions
  const QueueMessageData* queue = nullptr;   // input of queue-triggered functions
  std::chrono::steady_clock::time_point deadline;
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
  bool cold_start = false;  // first invocation served by this worker process
  std::string worker;       // e.g. "native-2/pid 1234"
  // Queue output binding messages (queue name, text), written only on success.
  std::vector<std::pair<std::string, std::string>> queue_outputs;
};

}  // namespace nimbus::api
