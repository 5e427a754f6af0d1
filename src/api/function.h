#pragma once
// What a function is, once validated: its trigger (one of a closed set of kinds) and its
// output bindings, keyed by binding name. The loader builds these from function.json (custom
// handlers) or from what a native worker reports; the router, the triggers, the dispatcher
// and both worker protocols read them. Plain data, immutable once the host starts.
//
// A new trigger kind (change feed, timer, orchestration, activity) is one more alternative in
// TriggerSpec and a row in the loader's binding table; a new output kind (documents) one more
// alternative in OutputSpec and one converter in bindings/outputs.cc.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "common/ncrontab.h"

namespace nimbus::api {

enum class AuthLevel { anonymous, function, admin };
const char* auth_level_name(AuthLevel level);

enum class Runtime { custom_handler, native };

// host.json / function.json "retry": how long a failed queue message waits before its next
// attempt. The attempt count is the message's dequeue count, so it survives restarts.
struct RetryPolicy {
  enum class Strategy { fixed_delay, exponential_backoff } strategy = Strategy::fixed_delay;
  int max_retry_count = 0;  // -1: forever (still bounded by maxDequeueCount for queues)
  std::chrono::milliseconds delay{0};                // fixedDelay
  std::chrono::milliseconds minimum{0}, maximum{0};  // exponentialBackoff
  // Delay before attempt `attempt + 1` after `attempt` failures (attempt >= 1).
  std::chrono::milliseconds delay_after(int attempt) const;
  bool operator==(const RetryPolicy&) const = default;
};

// --- triggers ---

struct HttpTriggerSpec {
  AuthLevel auth = AuthLevel::function;  // Azure's default when authLevel is absent
  std::vector<std::string> methods;      // upper-case; empty = every method
  std::string route;                     // template without the route prefix
  bool operator==(const HttpTriggerSpec&) const = default;
};

struct QueueTriggerSpec {
  std::string queue;  // the queue it listens on (app settings resolved)
  bool operator==(const QueueTriggerSpec&) const = default;
};

// A container's change feed (function.json "cosmosDBTrigger"): batches of changed documents
// (latest versions, in _lsn order), with the position kept in a lease document of
// `lease_database`/`lease_container`, so a restart resumes after the last completed batch.
struct DocumentTriggerSpec {
  std::string database;
  std::string container;
  std::string lease_database;             // leaseDatabaseName; default: database
  std::string lease_container = "leases";  // leaseContainerName
  std::string lease_prefix;               // leaseContainerPrefix: several functions, one feed
  bool create_lease_container = false;    // createLeaseContainerIfNotExists (Azure: false)
  // Where a function with no lease yet starts: new changes only (Azure's default), the
  // beginning, or changes at or after a time (startFromTime, epoch ms).
  bool start_from_beginning = false;
  std::optional<int64_t> start_from_time_ms;
  int max_items_per_invocation = 100;     // maxItemsPerInvocation (Azure's target: 100)
  // feedPollDelay: accepted and used only as the safety-net poll; writes are pushed.
  std::chrono::milliseconds feed_poll_delay{5000};
  bool operator==(const DocumentTriggerSpec&) const = default;
};

// A durable orchestrator (function.json "orchestrationTrigger"; native SDK
// app.orchestrator): run by the durable engine one episode at a time per instance.
struct OrchestrationTriggerSpec {
  bool operator==(const OrchestrationTriggerSpec&) const = default;
};
// A durable activity ("activityTrigger"; app.activity): run for each work item an
// orchestration schedules, its JSON input in, its JSON result out.
struct ActivityTriggerSpec {
  bool operator==(const ActivityTriggerSpec&) const = default;
};

// function.json "timerTrigger" (native SDK app.timer): fires at each occurrence of its
// schedule, UTC, one run at a time. `schedule` is parsed at load (settings resolved), so a
// bad expression never reaches the trigger.
struct TimerTriggerSpec {
  TimerSchedule schedule;
  bool run_on_startup = false;  // runOnStartup (Azure: false)
  // useMonitor: the schedule status (last, next) is kept in the store, so an occurrence missed
  // while the host was down runs once at start, past due. Azure's default: on when the
  // schedule's period is at least a minute.
  bool use_monitor = true;
  bool operator==(const TimerTriggerSpec&) const = default;
};

using TriggerSpec = std::variant<HttpTriggerSpec, QueueTriggerSpec, DocumentTriggerSpec,
                                 OrchestrationTriggerSpec, ActivityTriggerSpec, TimerTriggerSpec>;
// TriggerSpec's alternatives, in order.
enum class TriggerKind { http, queue, document, orchestration, activity, timer };
// "http", "queue", "cosmosDB", "orchestration", "activity", "timer"
const char* trigger_kind_name(TriggerKind kind);

// --- output bindings ---

// The HTTP response of an HTTP-triggered function ("res" or "$return").
struct HttpOutputSpec {
  bool operator==(const HttpOutputSpec&) const = default;
};

// Messages written to `queue` when the invocation succeeds. `queue` may hold binding
// expressions ("{id}", "{Query.kind}", "{rand-guid}") resolved per invocation from its
// trigger data (api/binding_data.h); the resolved name is validated at write time.
struct QueueOutputSpec {
  std::string queue;
  bool operator==(const QueueOutputSpec&) const = default;
};

// Documents upserted into a container of the built-in document store (function.json type
// "cosmosDB", direction "out"): a value is one JSON object, or an array of them.
struct DocumentOutputSpec {
  std::string database;
  std::string container;
  // createIfNotExists: the host creates the database and container at start, partitioned on
  // `partition_key_path` (the binding's partitionKey, e.g. "/author"), when they are missing.
  bool create_if_not_exists = false;
  std::string partition_key_path;
  bool operator==(const DocumentOutputSpec&) const = default;
};

using OutputSpec = std::variant<HttpOutputSpec, QueueOutputSpec, DocumentOutputSpec>;

struct OutputBinding {
  std::string name;  // binding name, or "$return"
  OutputSpec spec;
  bool operator==(const OutputBinding&) const = default;
};

// --- input bindings ---

// Documents read from the built-in store before the function runs (function.json "cosmosDB",
// direction "in"): one item by `id` and `partition_key`, or the rows of `sql_query`. All three
// may hold binding expressions ("{id}", "{Query.customer}"); in `sql_query` each expression
// becomes a query parameter, never text spliced into the query.
struct DocumentInputSpec {
  std::string database;
  std::string container;
  std::string id;
  std::string partition_key;
  std::string sql_query;
  bool operator==(const DocumentInputSpec&) const = default;
};

// function.json "durableClient" (direction "in"): a custom handler receives the management
// API's URLs and keys (Azure's client payload), so its code starts and manages orchestrations
// over HTTP.
struct DurableClientInputSpec {
  std::string task_hub;  // taskHub, echoed in the payload
  bool operator==(const DurableClientInputSpec&) const = default;
};

// function.json "moderation" (direction "in"): the host moderates `text` (a binding template,
// "{text}" from an HTTP body or a queue message) with the app's one moderator before the
// function runs, and passes the verdict JSON (ai::to_json: status, categories, provider, reason,
// latencyMs, attempts, failOpen). No text: the moderator's health instead ({provider, breaker,
// healthy}), for status endpoints.
struct ModerationInputSpec {
  std::optional<std::string> text;
  bool operator==(const ModerationInputSpec&) const = default;
};

using InputSpec = std::variant<DocumentInputSpec, DurableClientInputSpec, ModerationInputSpec>;

struct InputBinding {
  std::string name;
  InputSpec spec;
  bool operator==(const InputBinding&) const = default;
};

// A binding object as written in function.json, kept for protocol fields Nimbus passes on.
struct Binding {
  std::string type;
  std::string direction;  // "in", "out", "inout"
  std::string name;
  boost::json::object raw;
  bool operator==(const Binding&) const = default;
};

// Specs compare by value (operator==): `nimbus start --watch` restarts only what a reload
// changed.
struct FunctionSpec {
  std::string name;
  Runtime runtime = Runtime::custom_handler;
  std::string trigger_name;  // the trigger binding's name, e.g. "req"
  TriggerSpec trigger;
  std::vector<InputBinding> inputs;
  std::vector<OutputBinding> outputs;
  std::optional<RetryPolicy> retry;  // function.json "retry", overriding host.json's
  std::vector<Binding> bindings;
  bool disabled = false;

  TriggerKind trigger_kind() const { return static_cast<TriggerKind>(trigger.index()); }
  const HttpTriggerSpec* http() const { return std::get_if<HttpTriggerSpec>(&trigger); }
  const QueueTriggerSpec* queue() const { return std::get_if<QueueTriggerSpec>(&trigger); }
  const DocumentTriggerSpec* documents() const { return std::get_if<DocumentTriggerSpec>(&trigger); }
  bool orchestrator() const { return std::holds_alternative<OrchestrationTriggerSpec>(trigger); }
  bool activity() const { return std::holds_alternative<ActivityTriggerSpec>(trigger); }
  const TimerTriggerSpec* timer() const { return std::get_if<TimerTriggerSpec>(&trigger); }
  const InputBinding* input(std::string_view binding) const {
    for (const auto& i : inputs)
      if (i.name == binding) return &i;
    return nullptr;
  }
  const OutputBinding* output(std::string_view binding) const {
    for (const auto& o : outputs)
      if (o.name == binding) return &o;
    return nullptr;
  }
  // The HTTP output's binding name, or "" when the function has none.
  std::string_view http_output() const {
    for (const auto& o : outputs)
      if (std::holds_alternative<HttpOutputSpec>(o.spec)) return o.name;
    return {};
  }
  bool has_store_outputs() const {
    for (const auto& o : outputs)
      if (!std::holds_alternative<HttpOutputSpec>(o.spec)) return true;
    return false;
  }
  bool operator==(const FunctionSpec&) const = default;
};

}  // namespace nimbus::api
