#pragma once
// The validated form of an Azure-style function app folder: host.json, <fn>/function.json,
// local.settings.json, plus functions a native worker reports. Plain data, immutable once the
// host starts; safe to read from any thread.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/function.h"
#include "common/log.h"

namespace nimbus::config {

// host.json extensions.queues, plus Nimbus's lease (Azure fixes it at 10 minutes).
struct QueueTriggerOptions {
  int batch_size = 16;
  int new_batch_threshold = -1;  // -1: batch_size / 2 * cores, as Azure computes it
  int max_dequeue_count = 5;
  std::chrono::milliseconds visibility_timeout{0};
  bool base64 = true;  // messageEncoding "base64" (default) or "none"
  std::chrono::milliseconds max_polling_interval{2000};  // Azure's local-development value
  // How long a dequeued message stays hidden; renewed at half-time while the function runs.
  // After a host crash, its messages reappear once the lease ends.
  std::chrono::milliseconds lease{30000};
  bool operator==(const QueueTriggerOptions&) const = default;
};

// Durable orchestrations: host.json extensions.durableTask and nimbus.durable.
struct DurableOptions {
  std::string hub_name = "TestHubName";  // extensions.durableTask.hubName (Azure's local default)
  // maxConcurrentActivityFunctions / maxConcurrentOrchestratorFunctions: Azure's default is
  // 10 x cores. Here an episode or activity in flight is mostly waiting for a worker or a
  // group commit, and a small limit left 2,000 concurrent chains queueing for permits (64:
  // 182 five-step chains/s; 1,000: 486/s, same machine and run), so the default is high.
  int max_concurrent_activities = 1000;
  int max_concurrent_orchestrations = 1000;
  // nimbus.durable.retention: terminal instances are purged this long after they ended.
  std::chrono::milliseconds retention{std::chrono::hours(24 * 7)};
  // nimbus.durable.maxHistoryBytes: an execution whose history grows past this fails with an
  // error that names continue-as-new (a warning is logged once at a quarter of it).
  int64_t max_history_bytes = 64ll << 20;
  bool operator==(const DurableOptions&) const = default;
};

// The built-in Azure-Queue-compatible service (host.json nimbus.queueService).
struct QueueServiceSpec {
  bool enabled = true;
  int port = 10001;
  // More storage accounts besides devstoreaccount1, in Azurite's AZURITE_ACCOUNTS form
  // "name:base64key[:base64key2];name2:key"; "%Setting%" reads it from an app setting.
  std::string accounts;
  bool operator==(const QueueServiceSpec&) const = default;
};

// The built-in Cosmos DB NoSQL endpoint over the document store (host.json
// nimbus.documentService). `key` empty: the emulator's well-known key.
struct DocumentServiceSpec {
  bool enabled = true;
  int port = 8081;  // the emulator's
  std::string key;  // base64 account key, or "%Setting%"
  // HTTPS on the same port (absolute paths of PEM files). Both empty: a self-signed
  // certificate generated in <data>/tls/.
  std::string certificate;
  std::string certificate_key;
  bool operator==(const DocumentServiceSpec&) const = default;
};

// host.json nimbus.moderation: where fail-open verdicts are meant to be re-reviewed. The host
// reports the queue's depth as nimbus_moderation_rereview_backlog; the app writes to it.
// The resilience knobs override src/ai's defaults (3 attempts, 1.5 s each, 3 s in all; the
// breaker opens after 5 consecutive failed calls for 5 s); zero means "the default".
struct ModerationOptions {
  std::string rereview_queue = "moderation-rereview";  // reReviewQueue
  std::chrono::milliseconds attempt_timeout{0};        // attemptTimeout (TimeSpan)
  std::chrono::milliseconds total_budget{0};           // totalBudget (TimeSpan)
  int max_attempts = 0;                                // maxAttempts
  int breaker_failures = 0;                            // breakerFailureThreshold
  std::chrono::milliseconds breaker_open_for{0};       // breakerOpenFor (TimeSpan)
  bool operator==(const ModerationOptions&) const = default;
};

struct CustomHandlerSpec {
  std::string executable;  // resolved: absolute path, or a bare command looked up on PATH
  std::vector<std::string> arguments;
  std::string working_directory;  // absolute
  bool forwarding = false;        // enableForwardingHttpRequest
  int process_count = 1;          // Nimbus extension: a pool instead of exactly one process
  // Nimbus extensions: connections opened to each process before invocations are pipelined
  // (sent behind others on a connection that is answering), and how many may wait on one
  // connection. 1 connection-depth: no pipelining. See workers/custom_handler_pool.h.
  int connections_per_process = 8;
  int pipeline_depth = 8;
  std::chrono::milliseconds startup_timeout{30000};
  bool operator==(const CustomHandlerSpec&) const = default;
};

struct NativeSpec {
  std::string library;  // absolute path of the app's shared library
  int worker_count = 2;
  // Invocations queued per worker connection (1: one at a time). Deeper queues cut wake-ups
  // under load; a hung function delays those queued behind it until functionTimeout, when
  // they run on another worker.
  int pipeline_depth = 16;
  bool in_process = false;  // opt-in: run user code inside the host for maximum speed
  bool operator==(const NativeSpec&) const = default;
};

struct AppSpec {
  std::string root;  // absolute app directory
  std::string route_prefix = "api";
  std::chrono::milliseconds function_timeout{std::chrono::minutes(5)};
  LogLevel log_level = LogLevel::information;
  std::optional<CustomHandlerSpec> custom_handler;
  std::optional<NativeSpec> native;
  size_t max_request_body = 100u * 1024 * 1024;
  size_t max_request_headers = 32u * 1024;
  // nimbus.http.maxConnections: open connections across the host's ports (0: derived from the
  // file-descriptor limit). nimbus.http.maxBufferedRequestBytes: request bodies held in memory
  // at once (0: the larger of 256 MiB and maxRequestBodySize).
  size_t max_connections = 0;
  size_t max_buffered_request_bytes = 0;
  int max_concurrent_requests = -1;  // extensions.http.maxConcurrentRequests (-1 = unbounded)
  QueueTriggerOptions queues;
  DurableOptions durable;
  QueueServiceSpec queue_service;
  DocumentServiceSpec document_service;
  ModerationOptions moderation;
  std::optional<api::RetryPolicy> retry;  // host.json "retry"
  // host.json "functions": the only functions to run (names, case-insensitive); empty: all.
  // `nimbus start --functions` overrides it, as Core Tools' flag does.
  std::vector<std::string> only_functions;
  bool synchronous_full = true;      // nimbus.storage.synchronous: FULL (default) or NORMAL
  std::map<std::string, std::string> values;  // local.settings.json Values: workers' env only
  int local_http_port = 0;                    // local.settings.json Host.LocalHttpPort, 0 = unset
  std::string cors;                           // local.settings.json Host.CORS ("" = off)
  bool cors_credentials = false;              // local.settings.json Host.CORSCredentials
  std::vector<api::FunctionSpec> functions;
  std::vector<std::string> warnings;          // reported once at start
  std::vector<std::string> function_errors;   // functions refused, one message each
};

}  // namespace nimbus::config
