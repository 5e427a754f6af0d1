#include "config/loader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "api/document_store.h"
#include "api/queue_store.h"
#include "bindings/expressions.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/json_util.h"
#include "http/route_template.h"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace nimbus::config {

using api::Binding;
using api::FunctionSpec;
using api::RetryPolicy;

namespace {

constexpr const char* kHostJson = "host.json";

// host.json top-level keys the Azure host recognises (functions-host.md §2). Those Nimbus does
// not implement yet are warned about once at start; unknown keys are warned about as unknown.
const std::set<std::string, std::less<>> kAzureHostKeys = {
    "version", "functionTimeout", "retry", "functions", "http", "watchDirectories", "watchFiles",
    "queues", "serviceBus", "eventHub", "singleton", "logging", "aggregator", "healthMonitor",
    "extensionBundle", "managedDependencies", "customHandler", "httpWorker", "extensions",
    "concurrency", "sendCanceledInvocationsToWorker", "metadataProviderTimeout", "telemetryMode"};

// Keys accepted without a warning because they have no effect on a local host
// (extensionBundle: bindings are built in, nothing is downloaded).
const std::set<std::string, std::less<>> kHarmlessHostKeys = {"extensionBundle"};

const std::set<std::string, std::less<>> kHttpMethods = {"GET",     "POST", "PUT",   "DELETE",
                                                         "PATCH",   "HEAD", "OPTIONS", "TRACE"};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string err(const std::string& file, const std::string& path, const std::string& msg) {
  return file + ": " + path + ": " + msg;
}

std::string quoted(const json::value& v) { return json::serialize(v); }

bool is_executable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// Reads a TimeSpan field; returns "" or an error.
std::string timespan_field(const json::object& obj, std::string_view key, const std::string& file,
                           const std::string& path, std::chrono::milliseconds& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->value().is_string())
    return err(file, path, "must be a TimeSpan string like \"00:05:00\", not " +
                               std::string(json_kind(it->value())));
  auto d = parse_timespan(it->value().as_string());
  if (!d)
    return err(file, path,
               quoted(it->value()) + " is not a TimeSpan; write \"hh:mm:ss\", e.g. \"00:05:00\"");
  out = *d;
  return {};
}

std::string int64_field(const json::object& obj, std::string_view key,
                               const std::string& file, const std::string& path, int64_t min,
                               int64_t max, int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->value().is_int64() && !it->value().is_uint64())
    return err(file, path, "must be an integer, not " + std::string(json_kind(it->value())));
  int64_t v = it->value().is_int64() ? it->value().as_int64()
                                     : static_cast<int64_t>(it->value().as_uint64());
  if (v < min || v > max)
    return err(file, path,
               std::to_string(v) + " is out of range; use " + std::to_string(min) + ".." +
                   std::to_string(max));
  out = v;
  return {};
}

// The same for an int setting: `out` keeps its value when the key is absent.
std::string int_field(const json::object& obj, std::string_view key, const std::string& file,
                      const std::string& path, int64_t min, int64_t max, int& out) {
  int64_t v = out;
  std::string e = int64_field(obj, key, file, path, min, max, v);
  if (e.empty()) out = static_cast<int>(v);
  return e;
}

// A delay before a message is seen again becomes its visibility timeout, and a queue hides a
// message for at most 7 days (the Queue service's limit), so longer delays are refused here
// rather than failing every retry later in the store.
constexpr std::chrono::milliseconds kMaxQueueDelay = std::chrono::hours(24 * 7);
std::string at_most_7_days(const std::string& file, const std::string& path,
                           std::chrono::milliseconds value) {
  if (value <= kMaxQueueDelay) return {};
  return err(file, path, "must be at most \"7.00:00:00\" (the longest a queue message can stay "
                         "hidden)");
}

// "retry": {"strategy", "maxRetryCount", "delayInterval" | "minimumInterval"+"maximumInterval"}
std::string parse_retry(const json::value& v, const std::string& file, const std::string& path,
                        RetryPolicy& out) {
  if (!v.is_object()) return err(file, path, "must be an object with \"strategy\"");
  const auto& o = v.as_object();
  auto* strategy = o.if_contains("strategy");
  if (!strategy || !strategy->is_string())
    return err(file, path + ".strategy", "is required: \"fixedDelay\" or \"exponentialBackoff\"");
  if (strategy->as_string() == "fixedDelay")
    out.strategy = RetryPolicy::Strategy::fixed_delay;
  else if (strategy->as_string() == "exponentialBackoff")
    out.strategy = RetryPolicy::Strategy::exponential_backoff;
  else
    return err(file, path + ".strategy",
               quoted(*strategy) + " is not a strategy; use \"fixedDelay\" or \"exponentialBackoff\"");
  if (!o.contains("maxRetryCount"))
    return err(file, path + ".maxRetryCount", "is required (-1 retries forever)");
  if (auto e = int_field(o, "maxRetryCount", file, path + ".maxRetryCount", -1, 1000000,
                         out.max_retry_count);
      !e.empty())
    return e;
  if (out.strategy == RetryPolicy::Strategy::fixed_delay) {
    if (!o.contains("delayInterval"))
      return err(file, path + ".delayInterval", "is required for fixedDelay, e.g. \"00:00:05\"");
    if (auto e = timespan_field(o, "delayInterval", file, path + ".delayInterval", out.delay); !e.empty())
      return e;
    if (auto e = at_most_7_days(file, path + ".delayInterval", out.delay); !e.empty()) return e;
  } else {
    for (const char* k : {"minimumInterval", "maximumInterval"})
      if (!o.contains(k))
        return err(file, path + "." + k, "is required for exponentialBackoff, e.g. \"00:00:10\"");
    if (auto e = timespan_field(o, "minimumInterval", file, path + ".minimumInterval", out.minimum); !e.empty())
      return e;
    if (auto e = timespan_field(o, "maximumInterval", file, path + ".maximumInterval", out.maximum); !e.empty())
      return e;
    if (out.maximum < out.minimum)
      return err(file, path + ".maximumInterval", "must not be shorter than minimumInterval");
    if (auto e = at_most_7_days(file, path + ".maximumInterval", out.maximum); !e.empty()) return e;
  }
  return {};
}

std::string parse_queues_extension(const json::object& q, const std::string& file, AppSpec& app) {
  const std::string path = "extensions.queues";
  auto& opt = app.queues;
  if (auto e = int_field(q, "batchSize", file, path + ".batchSize", 1, 32, opt.batch_size);
      !e.empty())
    return e;
  if (auto e = int_field(q, "newBatchThreshold", file, path + ".newBatchThreshold", 0, 10000,
                         opt.new_batch_threshold);
      !e.empty())
    return e;
  if (auto e = int_field(q, "maxDequeueCount", file, path + ".maxDequeueCount", 1, 1000,
                         opt.max_dequeue_count);
      !e.empty())
    return e;
  if (auto e = timespan_field(q, "visibilityTimeout", file, path + ".visibilityTimeout",
                              opt.visibility_timeout);
      !e.empty())
    return e;
  if (auto e = at_most_7_days(file, path + ".visibilityTimeout", opt.visibility_timeout); !e.empty())
    return e;
  if (auto e = timespan_field(q, "maxPollingInterval", file, path + ".maxPollingInterval",
                              opt.max_polling_interval);
      !e.empty())
    return e;
  if (opt.max_polling_interval < std::chrono::milliseconds(100))
    return err(file, path + ".maxPollingInterval", "must be at least \"00:00:00.1\"");
  if (auto* enc = q.if_contains("messageEncoding")) {
    if (!enc->is_string() || (enc->as_string() != "base64" && enc->as_string() != "none"))
      return err(file, path + ".messageEncoding",
                 (enc->is_string() ? quoted(*enc) : std::string("this value")) +
                     " is not an encoding; use \"base64\" or \"none\"");
    opt.base64 = enc->as_string() == "base64";
  }
  for (const auto& kv : q)
    if (kv.key() != "batchSize" && kv.key() != "newBatchThreshold" && kv.key() != "maxDequeueCount" &&
        kv.key() != "visibilityTimeout" && kv.key() != "maxPollingInterval" &&
        kv.key() != "messageEncoding")
      app.warnings.push_back(file + ": " + path + "." + std::string(kv.key()) +
                             ": unknown key, ignored");
  return {};
}

std::string parse_custom_handler(const json::object& ch, const std::string& path, AppSpec& app) {
  const std::string file = kHostJson;
  CustomHandlerSpec spec;
  auto desc_it = ch.find("description");
  if (desc_it == ch.end() || !desc_it->value().is_object())
    return err(file, json_path_key(path, "description"),
               "is required: an object with \"defaultExecutablePath\"");
  const auto& desc = desc_it->value().as_object();
  const std::string dpath = json_path_key(path, "description");
  auto exe = desc.find("defaultExecutablePath");
  if (exe == desc.end() || !exe->value().is_string() || exe->value().as_string().empty())
    return err(file, json_path_key(dpath, "defaultExecutablePath"),
               "is required: the handler executable, relative to the app folder or on PATH");
  std::string exe_name(exe->value().as_string());
  for (const char* key : {"arguments", "workerArguments"}) {
    auto a = desc.find(key);
    if (a == desc.end()) continue;
    if (!a->value().is_array())
      return err(file, json_path_key(dpath, key), "must be an array of strings");
    size_t i = 0;
    for (const auto& v : a->value().as_array()) {
      if (!v.is_string())
        return err(file, json_path_index(json_path_key(dpath, key), i),
                   "must be a string, not " + std::string(json_kind(v)));
      spec.arguments.emplace_back(v.as_string());
      ++i;
    }
  }
  if (auto wp = desc.find("defaultWorkerPath"); wp != desc.end()) {
    if (!wp->value().is_string())
      return err(file, json_path_key(dpath, "defaultWorkerPath"), "must be a string");
    if (!wp->value().as_string().empty()) {
      // Azure's order: executable, arguments, worker path, worker arguments.
      auto wa = desc.find("workerArguments");
      size_t n_worker_args = wa != desc.end() ? wa->value().as_array().size() : 0;
      spec.arguments.insert(spec.arguments.end() - static_cast<long>(n_worker_args),
                            std::string(wp->value().as_string()));
    }
  }
  fs::path wd = app.root;
  if (auto w = desc.find("workingDirectory"); w != desc.end()) {
    if (!w->value().is_string())
      return err(file, json_path_key(dpath, "workingDirectory"), "must be a string");
    fs::path p(std::string(w->value().as_string()));
    wd = p.is_absolute() ? p : fs::path(app.root) / p;
    std::error_code ec;
    if (!fs::is_directory(wd, ec))
      return err(file, json_path_key(dpath, "workingDirectory"),
                 quoted(w->value()) + " is not a directory; create it or fix the path");
  }
  spec.working_directory = fs::weakly_canonical(wd).string();
  // Relative to the app root if that file exists, else a command on PATH (as Azure does).
  fs::path candidate = fs::path(app.root) / exe_name;
  if (fs::path(exe_name).is_absolute()) candidate = exe_name;
  std::error_code ec;
  if (fs::exists(candidate, ec)) {
    if (!is_executable_file(candidate))
      return err(file, json_path_key(dpath, "defaultExecutablePath"),
                 "\"" + exe_name + "\" is not executable; run chmod +x on it");
    spec.executable = fs::weakly_canonical(candidate).string();
  } else if (exe_name.find('/') != std::string::npos) {
    return err(file, json_path_key(dpath, "defaultExecutablePath"),
               "\"" + exe_name + "\" does not exist in the app folder; build it or fix the path");
  } else {
    spec.executable = exe_name;  // resolved on PATH at spawn time
  }
  if (auto f = ch.find("enableForwardingHttpRequest"); f != ch.end()) {
    if (!f->value().is_bool())
      return err(file, json_path_key(path, "enableForwardingHttpRequest"),
                 "must be true or false");
    spec.forwarding = f->value().as_bool();
  }
  if (ch.contains("enableProxyingHttpRequest"))
    app.warnings.push_back(std::string(kHostJson) + ": " +
                           json_path_key(path, "enableProxyingHttpRequest") +
                           ": not supported yet; requests use the default (or forwarding) mode");
  app.custom_handler = std::move(spec);
  return {};
}

std::string parse_nimbus_section(const json::object& nb, AppSpec& app) {
  const std::string file = kHostJson;
  for (const auto& kv : nb) {
    std::string key(kv.key());
    std::string path = "nimbus." + key;
    if (key == "native") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      const auto& n = kv.value().as_object();
      NativeSpec spec;
      auto lib = n.find("library");
      if (lib == n.end() || !lib->value().is_string())
        return err(file, path + ".library",
                   "is required: the app's shared library, e.g. \"bin/libhello.so\"");
      fs::path p(std::string(lib->value().as_string()));
      if (!p.is_absolute()) p = fs::path(app.root) / p;
      std::error_code ec;
      if (!fs::is_regular_file(p, ec))
        return err(file, path + ".library",
                   quoted(lib->value()) + " does not exist (" + p.lexically_normal().string() +
                       "); build the app first: `cmake -S . -B build && cmake --build build` "
                       "in an app made by `nimbus init` (its README.md), `make build` for the "
                       "examples; or fix the path");
      spec.library = fs::weakly_canonical(p).string();
      if (auto e = int_field(n, "workerCount", file, path + ".workerCount", 1, 256,
                             spec.worker_count);
          !e.empty())
        return e;
      if (auto e = int_field(n, "pipelineDepth", file, path + ".pipelineDepth", 1, 64,
                             spec.pipeline_depth);
          !e.empty())
        return e;
      if (auto ip = n.find("inProcess"); ip != n.end()) {
        if (!ip->value().is_bool()) return err(file, path + ".inProcess", "must be true or false");
        spec.in_process = ip->value().as_bool();
      }
      for (const auto& k : n)
        if (k.key() != "library" && k.key() != "workerCount" && k.key() != "inProcess" &&
            k.key() != "pipelineDepth")
          app.warnings.push_back(file + ": " + path + "." + std::string(k.key()) +
                                 ": unknown key, ignored");
      app.native = std::move(spec);
    } else if (key == "customHandler") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      const auto& c = kv.value().as_object();
      int count = 1;
      if (auto e = int_field(c, "processCount", file, path + ".processCount", 1, 64, count);
          !e.empty())
        return e;
      if (app.custom_handler) app.custom_handler->process_count = count;
      std::chrono::milliseconds st{30000};
      if (auto e = timespan_field(c, "startupTimeout", file, path + ".startupTimeout", st);
          !e.empty())
        return e;
      if (app.custom_handler) app.custom_handler->startup_timeout = st;
      int conns = 8, depth = 8;
      if (auto e = int_field(c, "connectionsPerProcess", file, path + ".connectionsPerProcess",
                             1, 1024, conns);
          !e.empty())
        return e;
      if (auto e = int_field(c, "pipelineDepth", file, path + ".pipelineDepth", 1, 64, depth);
          !e.empty())
        return e;
      if (app.custom_handler) {
        app.custom_handler->connections_per_process = conns;
        app.custom_handler->pipeline_depth = depth;
      }
      for (const auto& k : c)
        if (k.key() != "processCount" && k.key() != "startupTimeout" &&
            k.key() != "connectionsPerProcess" && k.key() != "pipelineDepth")
          app.warnings.push_back(file + ": " + path + "." + std::string(k.key()) +
                                 ": unknown key, ignored (known: processCount, startupTimeout, "
                                 "connectionsPerProcess, pipelineDepth)");
    } else if (key == "http") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      const auto& h = kv.value().as_object();
      int64_t body = static_cast<int64_t>(app.max_request_body);
      if (auto e = int64_field(h, "maxRequestBodySize", file, path + ".maxRequestBodySize",
                                      0, int64_t(1) << 40, body);
          !e.empty())
        return e;
      app.max_request_body = static_cast<size_t>(body);
      int64_t hdr = static_cast<int64_t>(app.max_request_headers);
      if (auto e = int64_field(h, "maxRequestHeadersSize", file,
                                      path + ".maxRequestHeadersSize", 1024, 1 << 20, hdr);
          !e.empty())
        return e;
      app.max_request_headers = static_cast<size_t>(hdr);
      int64_t conns = static_cast<int64_t>(app.max_connections);
      if (auto e = int64_field(h, "maxConnections", file, path + ".maxConnections", 0, 1 << 20,
                               conns);
          !e.empty())
        return e;
      app.max_connections = static_cast<size_t>(conns);
      int64_t buffered = static_cast<int64_t>(app.max_buffered_request_bytes);
      if (auto e = int64_field(h, "maxBufferedRequestBytes", file,
                               path + ".maxBufferedRequestBytes", 0, int64_t(1) << 40, buffered);
          !e.empty())
        return e;
      app.max_buffered_request_bytes = static_cast<size_t>(buffered);
      if (app.max_buffered_request_bytes && app.max_buffered_request_bytes < app.max_request_body)
        return err(file, path + ".maxBufferedRequestBytes",
                   "must be at least maxRequestBodySize (" + std::to_string(app.max_request_body) +
                       "), or no request of the largest allowed size could ever be read");
    } else if (key == "queueService") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      const auto& q = kv.value().as_object();
      if (auto* en = q.if_contains("enabled")) {
        if (!en->is_bool()) return err(file, path + ".enabled", "must be true or false");
        app.queue_service.enabled = en->as_bool();
      }
      if (auto e = int_field(q, "port", file, path + ".port", 0, 65535, app.queue_service.port);
          !e.empty())
        return e;
      if (auto* acc = q.if_contains("accounts")) {
        if (!acc->is_string())
          return err(file, path + ".accounts",
                     "must be a string \"name:base64key[;name2:key2]\" (or \"%SETTING%\")");
        app.queue_service.accounts = std::string(acc->as_string());
      }
    } else if (key == "documentService") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      const auto& d = kv.value().as_object();
      for (const auto& dk : d) {
        std::string dp = path + "." + std::string(dk.key());
        if (dk.key() == "enabled") {
          if (!dk.value().is_bool()) return err(file, dp, "must be true or false");
          app.document_service.enabled = dk.value().as_bool();
        } else if (dk.key() == "port") {
          if (auto e = int_field(d, "port", file, dp, 0, 65535, app.document_service.port);
              !e.empty())
            return e;
        } else if (dk.key() == "key") {
          if (!dk.value().is_string() || dk.value().as_string().empty())
            return err(file, dp, "must be the account key (base64), or \"%SETTING%\"");
          app.document_service.key = std::string(dk.value().as_string());
        } else if (dk.key() == "certificate" || dk.key() == "certificateKey") {
          // PEM files for the endpoint's HTTPS, relative to the app folder; checked here so a
          // typo is named with its key instead of failing at the first handshake.
          bool is_cert = dk.key() == "certificate";
          const char* what = is_cert ? "a PEM certificate file" : "the certificate's PEM private key file";
          if (!dk.value().is_string() || dk.value().as_string().empty())
            return err(file, dp, std::string("must be the path of ") + what +
                                     " (relative to the app folder), or leave both certificate "
                                     "and certificateKey out to use the one generated in "
                                     "<data>/tls/");
          fs::path p(std::string(dk.value().as_string()));
          if (!p.is_absolute() && !app.root.empty()) p = fs::path(app.root) / p;
          std::error_code ec;
          if (!fs::is_regular_file(p, ec))
            return err(file, dp, quoted(dk.value()) + " (" + p.string() + ") is not a file; give " +
                                     what + ", relative to the app folder");
          (is_cert ? app.document_service.certificate : app.document_service.certificate_key) =
              p.string();
        } else {
          app.warnings.push_back(file + ": " + dp + ": unknown key, ignored (known: enabled, "
                                                    "port, key, certificate, certificateKey)");
        }
      }
      if (app.document_service.certificate.empty() != app.document_service.certificate_key.empty())
        return err(file, path + (app.document_service.certificate.empty() ? ".certificate"
                                                                          : ".certificateKey"),
                   "is missing: give certificate and certificateKey together, or neither to use "
                   "the certificate generated in <data>/tls/");
    } else if (key == "queues") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      if (auto e = timespan_field(kv.value().as_object(), "leaseDuration", file,
                                  path + ".leaseDuration", app.queues.lease);
          !e.empty())
        return e;
      if (app.queues.lease < std::chrono::seconds(1))
        return err(file, path + ".leaseDuration", "must be at least \"00:00:01\"");
    } else if (key == "durable") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      const auto& d = kv.value().as_object();
      if (auto e = timespan_field(d, "retention", file, path + ".retention", app.durable.retention);
          !e.empty())
        return e;
      if (auto e = int64_field(d, "maxHistoryBytes", file, path + ".maxHistoryBytes", 1 << 16,
                               1ll << 32, app.durable.max_history_bytes);
          !e.empty())
        return e;
    } else if (key == "moderation") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      for (const auto& mk : kv.value().as_object()) {
        std::string mp = path + "." + std::string(mk.key());
        if (mk.key() == "reReviewQueue") {
          if (!mk.value().is_string() || !api::is_valid_queue_name(mk.value().as_string()))
            return err(file, mp,
                       quoted(mk.value()) + " is not a queue name; use 3-63 lower-case letters, "
                                            "digits and single hyphens, e.g. \"moderation-rereview\"");
          app.moderation.rereview_queue = std::string(mk.value().as_string());
        } else if (mk.key() == "attemptTimeout" || mk.key() == "totalBudget" ||
                   mk.key() == "breakerOpenFor") {
          auto& out = mk.key() == "attemptTimeout" ? app.moderation.attempt_timeout
                      : mk.key() == "totalBudget"  ? app.moderation.total_budget
                                                   : app.moderation.breaker_open_for;
          if (auto e = timespan_field(kv.value().as_object(), mk.key(), file, mp, out); !e.empty())
            return e;
          if (out.count() <= 0)
            return err(file, mp, "must be longer than zero, e.g. \"00:00:01.5\"");
        } else if (mk.key() == "maxAttempts" || mk.key() == "breakerFailureThreshold") {
          int64_t v = 0;
          if (auto e = int64_field(kv.value().as_object(), mk.key(), file, mp, 1,
                                   mk.key() == "maxAttempts" ? 10 : 1000, v);
              !e.empty())
            return e;
          (mk.key() == "maxAttempts" ? app.moderation.max_attempts
                                     : app.moderation.breaker_failures) = static_cast<int>(v);
        } else {
          app.warnings.push_back(file + ": " + mp +
                                 ": unknown key, ignored (known: reReviewQueue, attemptTimeout, "
                                 "totalBudget, maxAttempts, breakerFailureThreshold, "
                                 "breakerOpenFor)");
        }
      }
      if (app.moderation.attempt_timeout.count() && app.moderation.total_budget.count() &&
          app.moderation.total_budget < app.moderation.attempt_timeout)
        return err(file, path + ".totalBudget",
                   "is shorter than attemptTimeout; the budget covers every attempt and wait");
    } else if (key == "storage") {
      if (!kv.value().is_object()) return err(file, path, "must be an object");
      if (auto* sync = kv.value().as_object().if_contains("synchronous")) {
        if (!sync->is_string() || (sync->as_string() != "full" && sync->as_string() != "normal"))
          return err(file, path + ".synchronous",
                     "use \"full\" (fsync at every commit, survives power loss) or \"normal\"");
        app.synchronous_full = sync->as_string() == "full";
      }
    } else {
      app.warnings.push_back(file + ": " + path + ": unknown Nimbus key, ignored");
    }
  }
  return {};
}

}  // namespace

std::string apply_host_json(const json::value& doc, AppSpec& app) {
  const std::string file = kHostJson;
  if (!doc.is_object()) return file + ": the document must be a JSON object";
  const auto& obj = doc.as_object();
  auto ver = obj.find("version");
  if (ver == obj.end())
    return err(file, "version", "is required; add \"version\": \"2.0\"");
  if (!ver->value().is_string() || ver->value().as_string() != "2.0")
    return err(file, "version", quoted(ver->value()) + " is not supported; use \"2.0\"");

  if (auto e = timespan_field(obj, "functionTimeout", file, "functionTimeout",
                              app.function_timeout);
      !e.empty())
    return e;
  if (app.function_timeout < std::chrono::seconds(1))
    return err(file, "functionTimeout", "must be at least \"00:00:01\" (or \"-1\" for no limit)");
  // Deadlines are steady_clock time points (nanoseconds): a year is far inside their range.
  if (app.function_timeout != std::chrono::milliseconds::max() &&
      app.function_timeout > std::chrono::hours(24 * 365))
    return err(file, "functionTimeout",
               "must be at most \"365.00:00:00\"; use \"-1\" for no limit");

  // customHandler wins over the legacy httpWorker section.
  const json::value* ch = obj.if_contains("customHandler");
  bool legacy = false;
  if (!ch) {
    ch = obj.if_contains("httpWorker");
    legacy = ch != nullptr;
  }
  if (ch) {
    if (!ch->is_object())
      return err(file, legacy ? "httpWorker" : "customHandler", "must be an object");
    if (auto e = parse_custom_handler(ch->as_object(), legacy ? "httpWorker" : "customHandler",
                                      app);
        !e.empty())
      return e;
  }

  if (auto* ext = obj.if_contains("extensions")) {
    if (!ext->is_object()) return err(file, "extensions", "must be an object");
    for (const auto& kv : ext->as_object()) {
      std::string path = "extensions." + std::string(kv.key());
      if (kv.key() == "http") {
        if (!kv.value().is_object()) return err(file, path, "must be an object");
        const auto& http = kv.value().as_object();
        for (const auto& h : http) {
          std::string hp = path + "." + std::string(h.key());
          if (h.key() == "routePrefix") {
            if (!h.value().is_string())
              return err(file, hp, "must be a string, e.g. \"api\" or \"\"");
            std::string p(h.value().as_string());
            while (!p.empty() && p.front() == '/') p.erase(p.begin());
            while (!p.empty() && p.back() == '/') p.pop_back();
            app.route_prefix = p;
          } else if (h.key() == "maxConcurrentRequests") {
            if (auto e = int_field(http, "maxConcurrentRequests", file, hp, -1, 1 << 20,
                                   app.max_concurrent_requests);
                !e.empty())
              return e;
          } else {
            app.warnings.push_back(file + ": " + hp + ": not supported by Nimbus yet, ignored");
          }
        }
      } else if (kv.key() == "queues") {
        if (!kv.value().is_object()) return err(file, path, "must be an object");
        if (auto e = parse_queues_extension(kv.value().as_object(), file, app); !e.empty()) return e;
      } else if (kv.key() == "durableTask") {
        if (!kv.value().is_object()) return err(file, path, "must be an object");
        const auto& d = kv.value().as_object();
        for (const auto& f : d) {
          std::string fp = path + "." + std::string(f.key());
          if (f.key() == "hubName") {
            if (!f.value().is_string() || f.value().as_string().empty())
              return err(file, fp, "must be a non-empty string, e.g. \"MyTaskHub\"");
            app.durable.hub_name = f.value().as_string();
          } else if (f.key() == "maxConcurrentActivityFunctions") {
            if (auto e = int_field(d, f.key(), file, fp, 1, 100000, app.durable.max_concurrent_activities); !e.empty())
              return e;
          } else if (f.key() == "maxConcurrentOrchestratorFunctions") {
            if (auto e = int_field(d, f.key(), file, fp, 1, 100000, app.durable.max_concurrent_orchestrations); !e.empty())
              return e;
          } else if (f.key() != "storageProvider" && f.key() != "tracing") {
            app.warnings.push_back(file + ": " + fp + ": not supported by Nimbus yet, ignored");
          }
        }
      } else {
        app.warnings.push_back(file + ": " + path + ": not supported by Nimbus yet, ignored");
      }
    }
  }

  if (auto* rt = obj.if_contains("retry")) {
    RetryPolicy policy;
    if (auto e = parse_retry(*rt, file, "retry", policy); !e.empty()) return e;
    app.retry = policy;
  }

  if (auto* fs = obj.if_contains("functions")) {
    if (!fs->is_array())
      return err(file, "functions",
                 "must be an array of function names, e.g. [\"hello\", \"orders\"]");
    for (size_t i = 0; i < fs->as_array().size(); ++i) {
      const auto& v = fs->as_array()[i];
      if (!v.is_string() || v.as_string().empty())
        return err(file, "functions[" + std::to_string(i) + "]",
                   quoted(v) + " is not a function name; use the function's folder name");
      app.only_functions.emplace_back(v.as_string());
    }
  }

  if (auto* lg = obj.if_contains("logging")) {
    if (!lg->is_object()) return err(file, "logging", "must be an object");
    for (const auto& kv : lg->as_object()) {
      std::string path = "logging." + std::string(kv.key());
      if (kv.key() == "logLevel") {
        if (!kv.value().is_object()) return err(file, path, "must be an object");
        for (const auto& l : kv.value().as_object()) {
          std::string lp = path + "." + std::string(l.key());
          if (!l.value().is_string())
            return err(file, lp, "must be a level name such as \"Information\"");
          LogLevel level;
          if (!parse_log_level(l.value().as_string(), level))
            return err(file, lp,
                       quoted(l.value()) +
                           " is not a log level; use Trace, Debug, Information, Warning, Error, "
                           "Critical or None");
          if (l.key() == "default")
            app.log_level = level;
          else
            app.warnings.push_back(file + ": " + lp +
                                   ": per-category log levels are not supported yet; only "
                                   "logging.logLevel.default applies");
        }
      } else {
        app.warnings.push_back(file + ": " + path + ": not supported by Nimbus yet, ignored");
      }
    }
  }

  if (auto* nb = obj.if_contains("nimbus")) {
    if (!nb->is_object()) return err(file, "nimbus", "must be an object");
    if (auto e = parse_nimbus_section(nb->as_object(), app); !e.empty()) return e;
  }

  for (const auto& kv : obj) {
    std::string_view k = kv.key();
    if (k == "version" || k == "functionTimeout" || k == "customHandler" || k == "httpWorker" || k == "retry" ||
        k == "functions" || k == "extensions" || k == "logging" || k == "nimbus" || kHarmlessHostKeys.count(k))
      continue;
    if (kAzureHostKeys.count(k))
      app.warnings.push_back(file + ": " + std::string(k) +
                             ": not supported by Nimbus yet, ignored");
    else
      app.warnings.push_back(file + ": " + std::string(k) +
                             ": unknown key, ignored (check the spelling)");
  }
  // Both may be set: the native library's functions (orchestrators, say) and function.json
  // functions run by the custom handler (activities in any language) form one app.
  return {};
}

void apply_local_settings(const json::value& doc, AppSpec& app) {
  const std::string file = "local.settings.json";
  if (!doc.is_object()) {
    app.warnings.push_back(file + ": must be a JSON object; settings ignored");
    return;
  }
  const auto& obj = doc.as_object();
  if (auto* values = obj.if_contains("Values")) {
    if (!values->is_object()) {
      app.warnings.push_back(file + ": Values: must be an object of strings; settings ignored");
    } else {
      std::map<std::string, std::string> out;
      bool ok = true;
      for (const auto& kv : values->as_object()) {
        if (!kv.value().is_string()) {
          // Core Tools drops the whole file in this case; we name the culprit instead.
          app.warnings.push_back(file + ": Values." + std::string(kv.key()) + ": must be a " +
                                 "string, not " + json_kind(kv.value()) +
                                 "; quote the value. All Values are ignored until fixed");
          ok = false;
          break;
        }
        out[std::string(kv.key())] = std::string(kv.value().as_string());
      }
      if (ok) app.values = std::move(out);
    }
  }
  if (auto* host = obj.if_contains("Host"); host && host->is_object()) {
    if (auto* port = host->as_object().if_contains("LocalHttpPort")) {
      if (port->is_int64() && port->as_int64() > 0 && port->as_int64() < 65536)
        app.local_http_port = static_cast<int>(port->as_int64());
      else
        app.warnings.push_back(file + ": Host.LocalHttpPort: must be a port number 1..65535; "
                                      "ignored");
    }
    // As Core Tools: allowed origins for the function port, checked when the host starts.
    if (auto* cors = host->as_object().if_contains("CORS")) {
      if (cors->is_string())
        app.cors = std::string(cors->as_string());
      else
        app.warnings.push_back(file + ": Host.CORS: must be a string such as "
                                      "\"http://localhost:3000\" or \"*\"; ignored");
    }
    if (auto* cred = host->as_object().if_contains("CORSCredentials")) {
      if (cred->is_bool())
        app.cors_credentials = cred->as_bool();
      else
        app.warnings.push_back(file + ": Host.CORSCredentials: must be true or false; ignored");
    }
  }
}

namespace {
// "%Name%" takes the value of app setting Name (then the environment), as Azure resolves
// binding expressions; "" when the setting does not exist.
std::optional<std::string> resolve_setting(const std::string& value,
                                           const std::map<std::string, std::string>& settings) {
  if (value.size() < 3 || value.front() != '%' || value.back() != '%') return value;
  std::string name = value.substr(1, value.size() - 2);
  if (auto it = settings.find(name); it != settings.end()) return it->second;
  if (const char* env = std::getenv(name.c_str())) return std::string(env);
  return std::nullopt;
}

// --- `connection`: which service a binding talks to ---
// Azure resolves a binding's `connection` to an app setting (then "AzureWebJobs<name>") that
// holds a connection string, or to "<name>__serviceUri"-style settings for identity-based
// connections. Nimbus serves queues and documents itself and never reaches a cloud account, so
// a connection that points anywhere else would silently go to the wrong place: it is refused
// at start, naming the function's file, the binding, the setting and the fix.

std::optional<std::string> setting_value(const std::string& name,
                                         const std::map<std::string, std::string>& settings) {
  for (const std::string& n : {name, "AzureWebJobs" + name}) {
    if (auto it = settings.find(n); it != settings.end()) return it->second;
    if (const char* env = std::getenv(n.c_str())) return std::string(env);
  }
  return std::nullopt;
}

// "Key=value;Key=value" with case-insensitive keys, as storage and Cosmos connection strings.
std::map<std::string, std::string> connection_parts(std::string_view cs) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < cs.size()) {
    size_t end = cs.find(';', i);
    if (end == std::string_view::npos) end = cs.size();
    std::string_view part = cs.substr(i, end - i);
    if (auto eq = part.find('='); eq != std::string_view::npos)
      out[lower(std::string(part.substr(0, eq)))] = std::string(part.substr(eq + 1));
    i = end + 1;
  }
  return out;
}

// Whether a URL's host is this machine ("http://127.0.0.1:10001/devstoreaccount1").
bool loopback_url(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view rest = url.substr(scheme + 3);
  std::string_view host = rest.substr(0, rest.find_first_of("/"));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.find(']') - 1);
  else host = host.substr(0, host.find(':'));
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

enum class Service { queues, documents };

std::string check_connection(const json::object& bo, const std::string& bp,
                             const std::map<std::string, std::string>& settings,
                             const std::string& display, Service service) {
  const char* keys[] = {"connection", "connectionStringSetting", "leaseConnection"};
  bool named = false;
  for (const char* key : keys) named = named || bo.contains(key);
  // No connection on a queue binding: Azure uses AzureWebJobsStorage, so that setting, when
  // present, must point here too.
  const json::object implicit{{"connection", "AzureWebJobsStorage"}};
  const json::object& b = !named && service == Service::queues ? implicit : bo;
  for (const char* key : keys) {
    auto* v = b.if_contains(key);
    if (!v) continue;
    if (!v->is_string()) return err(display, bp + "." + key, "must be a string (an app setting name)");
    std::string name(v->as_string());
    if (name.empty()) continue;
    std::string where = bp + "." + key;
    std::string fix = service == Service::queues
                          ? "set it to \"UseDevelopmentStorage=true\" (the built-in queue service), or "
                            "remove \"" + std::string(key) + "\" to use it"
                          : "set it to \"AccountEndpoint=https://localhost:8081/;AccountKey=...\" (the "
                            "built-in document service), or remove \"" + std::string(key) + "\" to use it";
    auto value = setting_value(name, settings);
    if (!value) {
      // Identity-based connections: "<name>__queueServiceUri", "<name>__accountEndpoint".
      for (const char* suffix : {"__queueServiceUri", "__serviceUri", "__accountEndpoint"})
        if (auto uri = setting_value(name + suffix, settings)) {
          if (loopback_url(*uri)) return {};
          return err(display, where,
                     "\"" + name + "\" connects to " + *uri + " (setting " + name + suffix +
                         "), a service Nimbus does not reach: it serves this binding itself; " +
                         fix);
        }
      if (service == Service::queues && name == "AzureWebJobsStorage") return {};
      return err(display, where,
                 "\"" + name + "\" names an app setting that does not exist; add it to "
                 "local.settings.json Values, or remove \"" + std::string(key) +
                     "\" to use the built-in " +
                     (service == Service::queues ? "queue" : "document") + " service");
    }
    std::string v_lower = lower(*value);
    auto parts = connection_parts(*value);
    bool local = false;
    if (service == Service::queues) {
      auto ep = parts.find("queueendpoint");
      auto account = parts.find("accountname");
      local = v_lower.find("usedevelopmentstorage=true") != std::string::npos ||
              (ep != parts.end() ? loopback_url(ep->second)
                                 : account != parts.end() && account->second == "devstoreaccount1");
    } else {
      auto ep = parts.find("accountendpoint");
      local = ep != parts.end() && loopback_url(ep->second);
    }
    if (!local)
      return err(display, where,
                 "\"" + name + "\" (app setting) is a connection string for a service Nimbus "
                 "does not reach; Nimbus serves this binding itself; " + fix);
  }
  return {};
}

// The queue a queueTrigger or queue output names, settings resolved. A trigger's queue must
// be a queue name; an output's may hold binding expressions ({id}), checked once the trigger
// is known and resolved per invocation.
std::string queue_name_field(const json::object& bo, const std::string& bp,
                             const std::map<std::string, std::string>& settings,
                             const std::string& display, bool allow_expressions,
                             std::string& out) {
  auto* q = bo.if_contains("queueName");
  if (!q || !q->is_string() || q->as_string().empty())
    return err(display, bp + ".queueName", "is required: the queue's name, e.g. \"orders\"");
  auto resolved = resolve_setting(std::string(q->as_string()), settings);
  if (!resolved)
    return err(display, bp + ".queueName",
               quoted(*q) + " names an app setting that does not exist; add it to "
                            "local.settings.json Values");
  bool templated = allow_expressions && resolved->find_first_of("{}") != std::string::npos;
  if (!templated && !api::is_valid_queue_name(*resolved))
    return err(display, bp + ".queueName",
               "\"" + *resolved + "\" is not a queue name; use 3-63 lower-case letters, digits "
                                   "and single hyphens, not at either end");
  if (auto e = check_connection(bo, bp, settings, display, Service::queues); !e.empty()) return e;
  out = *resolved;
  return {};
}

// One row per binding type Nimbus knows: its direction, whether it is the trigger, and how
// its properties become part of the FunctionSpec. A new trigger or output is a new row.
struct BindingContext {
  const json::object& bo;
  const std::string& bp;  // JSON path of the binding, for errors
  const std::string& display;
  const std::string& function_name;
  const std::map<std::string, std::string>& settings;
  const std::string& binding_name;
};
using BindingParser = std::string (*)(const BindingContext&, FunctionSpec&);

std::string parse_http_trigger(const BindingContext& c, FunctionSpec& fn) {
  api::HttpTriggerSpec http;
  if (auto* a = c.bo.if_contains("authLevel")) {
    std::string level = a->is_string() ? std::string(a->as_string()) : std::string();
    for (char& ch : level) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (level == "anonymous") http.auth = api::AuthLevel::anonymous;
    else if (level == "function") http.auth = api::AuthLevel::function;
    else if (level == "admin") http.auth = api::AuthLevel::admin;
    else
      return err(c.display, c.bp + ".authLevel",
                 quoted(*a) + " is not an auth level; use anonymous, function or admin");
  }
  if (auto* m = c.bo.if_contains("methods")) {
    if (!m->is_array())
      return err(c.display, c.bp + ".methods", "must be an array such as [\"get\"]");
    size_t j = 0;
    for (const auto& mv : m->as_array()) {
      std::string mp = json_path_index(c.bp + ".methods", j++);
      if (!mv.is_string()) return err(c.display, mp, "must be a string such as \"get\"");
      std::string method = upper(std::string(mv.as_string()));
      if (!kHttpMethods.count(method))
        return err(c.display, mp,
                   quoted(mv) + " is not an HTTP method; use GET, POST, PUT, DELETE, PATCH, "
                                "HEAD, OPTIONS or TRACE");
      if (std::find(http.methods.begin(), http.methods.end(), method) == http.methods.end())
        http.methods.push_back(method);
    }
  }
  http.route = c.function_name;
  if (auto* r = c.bo.if_contains("route")) {
    if (!r->is_string())
      return err(c.display, c.bp + ".route", "must be a string such as \"items/{id}\"");
    http.route = std::string(r->as_string());
  }
  std::string route_error;
  if (!http::RouteTemplate::parse(http.route, route_error))
    return err(c.display, c.bp + ".route", route_error);
  fn.trigger = std::move(http);
  return {};
}

std::string parse_queue_trigger(const BindingContext& c, FunctionSpec& fn) {
  api::QueueTriggerSpec q;
  if (auto e = queue_name_field(c.bo, c.bp, c.settings, c.display, false, q.queue); !e.empty())
    return e;
  fn.trigger = std::move(q);
  return {};
}

std::string parse_http_output(const BindingContext& c, FunctionSpec& fn) {
  if (!fn.http_output().empty())
    return err(c.display, c.bp, "is a second http output; a function has at most one");
  fn.outputs.push_back({c.binding_name, api::HttpOutputSpec{}});
  return {};
}

std::string parse_queue_output(const BindingContext& c, FunctionSpec& fn) {
  api::QueueOutputSpec q;
  if (auto e = queue_name_field(c.bo, c.bp, c.settings, c.display, true, q.queue); !e.empty())
    return e;
  fn.outputs.push_back({c.binding_name, std::move(q)});
  return {};
}

// A string property of a binding, app settings resolved ("%Name%"); the first of `keys`
// present wins (later keys are the v3 extension's older names). Required unless `fallback`.
std::string string_field(const BindingContext& c, std::vector<const char*> keys, const char* what,
                         std::string& out, const std::string* fallback = nullptr) {
  for (const char* k : keys) {
    auto* v = c.bo.if_contains(k);
    if (!v) continue;
    if (!v->is_string() || v->as_string().empty())
      return err(c.display, c.bp + "." + k, "must be a non-empty string");
    auto resolved = resolve_setting(std::string(v->as_string()), c.settings);
    if (!resolved)
      return err(c.display, c.bp + "." + k,
                 quoted(*v) + " names an app setting that does not exist; add it to "
                              "local.settings.json Values");
    out = *resolved;
    return std::string();
  }
  if (fallback) {
    out = *fallback;
    return std::string();
  }
  return err(c.display, c.bp + "." + keys.front(), std::string("is required: ") + what);
}

// `connection` of a document binding: the built-in document service (see check_connection).
std::string connection_field(const BindingContext& c) {
  return check_connection(c.bo, c.bp, c.settings, c.display, Service::documents);
}

// function.json "cosmosDB" out: databaseName and containerName (collectionName in the v3
// extension).
std::string parse_document_output(const BindingContext& c, FunctionSpec& fn) {
  api::DocumentOutputSpec d;
  if (auto e = string_field(c, {"databaseName"}, "the database's id", d.database); !e.empty())
    return e;
  if (auto e = string_field(c, {"containerName", "collectionName"}, "the container's id",
                            d.container);
      !e.empty())
    return e;
  if (auto e = connection_field(c); !e.empty()) return e;
  if (auto* create = c.bo.if_contains("createIfNotExists")) {
    if (!create->is_bool())
      return err(c.display, c.bp + ".createIfNotExists", "must be true or false");
    d.create_if_not_exists = create->as_bool();
  }
  std::string none;
  if (auto e = string_field(c, {"partitionKey"}, "", d.partition_key_path, &none); !e.empty())
    return e;
  if (d.create_if_not_exists && (d.partition_key_path.size() < 2 || d.partition_key_path[0] != '/'))
    return err(c.display, c.bp + ".partitionKey",
               "is required with createIfNotExists: the path the new container is partitioned "
               "on, e.g. \"/customerId\"");
  fn.outputs.push_back({c.binding_name, std::move(d)});
  return {};
}

// function.json "cosmosDB" in: one document by id (+ partitionKey), or the rows of sqlQuery.
std::string parse_document_input(const BindingContext& c, FunctionSpec& fn) {
  api::DocumentInputSpec d;
  std::string none;
  if (auto e = string_field(c, {"databaseName"}, "the database's id", d.database); !e.empty())
    return e;
  if (auto e = string_field(c, {"containerName", "collectionName"}, "the container's id",
                            d.container);
      !e.empty())
    return e;
  if (auto e = connection_field(c); !e.empty()) return e;
  if (auto e = string_field(c, {"id"}, "", d.id, &none); !e.empty()) return e;
  if (auto e = string_field(c, {"partitionKey"}, "", d.partition_key, &none); !e.empty()) return e;
  if (auto e = string_field(c, {"sqlQuery"}, "", d.sql_query, &none); !e.empty()) return e;
  if (!d.id.empty() && !d.sql_query.empty())
    return err(c.display, c.bp + ".sqlQuery",
               "cannot be used with id; read one document by id, or query with sqlQuery");
  if (d.id.empty() && d.sql_query.empty())
    return err(c.display, c.bp + ".id",
               "is required (with partitionKey), or give sqlQuery instead, e.g. "
               "\"SELECT * FROM c WHERE c.customer = {customer}\"");
  if (!d.id.empty() && d.partition_key.empty())
    return err(c.display, c.bp + ".partitionKey",
               "is required with id: the item's partition key value, e.g. \"{customer}\"");
  if (fn.input(c.binding_name))
    return err(c.display, c.bp + ".name",
               "\"" + c.binding_name + "\" names another input binding too; give each its own name");
  fn.inputs.push_back({c.binding_name, std::move(d)});
  return {};
}

// function.json "cosmosDBTrigger" (extension 4.x names; v3's collectionName,
// leaseCollectionName, leaseCollectionPrefix, createLeaseCollectionIfNotExists too).
std::string parse_document_trigger(const BindingContext& c, FunctionSpec& fn) {
  api::DocumentTriggerSpec t;
  if (auto e = string_field(c, {"databaseName"}, "the monitored container's database", t.database);
      !e.empty())
    return e;
  if (auto e = string_field(c, {"containerName", "collectionName"}, "the monitored container",
                            t.container);
      !e.empty())
    return e;
  if (auto e = connection_field(c); !e.empty()) return e;
  if (auto e = string_field(c, {"leaseDatabaseName"}, "", t.lease_database, &t.database); !e.empty())
    return e;
  std::string leases = "leases", none;
  if (auto e = string_field(c, {"leaseContainerName", "leaseCollectionName"}, "", t.lease_container,
                            &leases);
      !e.empty())
    return e;
  if (auto e = string_field(c, {"leaseContainerPrefix", "leaseCollectionPrefix"}, "",
                            t.lease_prefix, &none);
      !e.empty())
    return e;
  for (const char* k : {"createLeaseContainerIfNotExists", "createLeaseCollectionIfNotExists",
                        "startFromBeginning"}) {
    auto* v = c.bo.if_contains(k);
    if (!v) continue;
    if (!v->is_bool()) return err(c.display, c.bp + "." + k, "must be true or false");
    (std::string_view(k) == "startFromBeginning" ? t.start_from_beginning
                                                  : t.create_lease_container) = v->as_bool();
  }
  if (auto* v = c.bo.if_contains("startFromTime")) {
    auto ms = v->is_string() ? parse_iso8601_ms(v->as_string()) : std::nullopt;
    if (!ms)
      return err(c.display, c.bp + ".startFromTime",
                 quoted(*v) + " is not an ISO 8601 time; use e.g. \"2026-11-29T14:00:00Z\"");
    if (t.start_from_beginning)
      return err(c.display, c.bp + ".startFromTime",
                 "cannot be used with startFromBeginning; keep one of them");
    t.start_from_time_ms = *ms;
  }
  auto positive_int = [&](const char* k, int64_t max, int64_t& out) -> std::string {
    auto* v = c.bo.if_contains(k);
    if (!v) return {};
    if (!v->is_int64() || v->as_int64() < 1 || v->as_int64() > max)
      return err(c.display, c.bp + "." + k,
                 quoted(*v) + " must be a whole number from 1 to " + std::to_string(max));
    out = v->as_int64();
    return {};
  };
  int64_t items = t.max_items_per_invocation, poll = t.feed_poll_delay.count();
  // A batch is one invocation's payload: bounded so it stays far below the worker frame limit.
  if (auto e = positive_int("maxItemsPerInvocation", api::kMaxMaxItemCount, items); !e.empty())
    return e;
  if (auto e = positive_int("feedPollDelay", 3'600'000, poll); !e.empty()) return e;
  t.max_items_per_invocation = static_cast<int>(items);
  t.feed_poll_delay = std::chrono::milliseconds(poll);
  for (const std::string* id : {&t.database, &t.container, &t.lease_database, &t.lease_container})
    if (auto e = api::check_resource_id(*id); !e.empty())
      return err(c.display, c.bp, "\"" + *id + "\" " + e);
  if (t.lease_database == t.database && t.lease_container == t.container)
    return err(c.display, c.bp + ".leaseContainerName",
               "names the monitored container itself; leases need a container of their own "
               "(default \"leases\")");
  fn.trigger = std::move(t);
  return {};
}

std::string parse_orchestration_trigger(const BindingContext& c, FunctionSpec& fn) {
  fn.trigger = api::OrchestrationTriggerSpec{};
  return {};
}

std::string parse_activity_trigger(const BindingContext& c, FunctionSpec& fn) {
  fn.trigger = api::ActivityTriggerSpec{};
  return {};
}

// function.json "timerTrigger": schedule (NCRONTAB or TimeSpan, "%Setting%" allowed),
// runOnStartup, useMonitor. The schedule is parsed here so a bad one is refused at load with
// the file, the binding's path, the expression and what is wrong.
std::string parse_timer_trigger(const BindingContext& c, FunctionSpec& fn) {
  api::TimerTriggerSpec t;
  std::string text;
  if (auto e = string_field(c, {"schedule"},
                            "an NCRONTAB expression such as \"0 */5 * * * *\" or a TimeSpan such "
                            "as \"00:05:00\"",
                            text);
      !e.empty())
    return e;
  // Schedules are evaluated in UTC only; a time zone Nimbus would ignore must not shift every
  // occurrence silently.
  std::string tz;
  if (auto it = c.settings.find("WEBSITE_TIME_ZONE"); it != c.settings.end()) tz = it->second;
  else if (const char* env = std::getenv("WEBSITE_TIME_ZONE")) tz = env;
  if (!tz.empty())
    return err(c.display, c.bp + ".schedule",
               "WEBSITE_TIME_ZONE is set (\"" + tz + "\"), but Nimbus evaluates timer schedules "
               "in UTC only; remove the setting and write the schedule in UTC");
  std::string why;
  auto schedule = TimerSchedule::parse(text, why);
  if (!schedule) {
    auto* raw = c.bo.if_contains("schedule");
    std::string shown = raw && raw->is_string() && std::string_view(raw->as_string()) != text
                            ? quoted(*raw) + " (= \"" + text + "\")"
                            : "\"" + text + "\"";
    return err(c.display, c.bp + ".schedule", shown + " " + why);
  }
  t.schedule = std::move(*schedule);
  for (const char* k : {"runOnStartup", "useMonitor"}) {
    auto* v = c.bo.if_contains(k);
    if (!v) continue;
    if (!v->is_bool()) return err(c.display, c.bp + "." + k, "must be true or false");
  }
  if (auto* v = c.bo.if_contains("runOnStartup")) t.run_on_startup = v->as_bool();
  if (auto* v = c.bo.if_contains("useMonitor"))
    t.use_monitor = v->as_bool();
  else
    t.use_monitor = t.schedule.shortest_period(TimerSchedule::TimePoint(
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()))) >=
                    std::chrono::minutes(1);
  fn.trigger = std::move(t);
  return {};
}

std::string parse_durable_client(const BindingContext& c, FunctionSpec& fn) {
  api::DurableClientInputSpec d;
  if (auto* v = c.bo.if_contains("taskHub"); v && v->is_string()) d.task_hub = v->as_string();
  fn.inputs.push_back({c.binding_name, std::move(d)});
  return {};
}

// function.json "moderation" in: `text` is a binding template ("{text}", "{queueTrigger}")
// the host moderates before the call; without `text` the input is the moderator's health.
// The template's syntax is checked here, its names once the trigger is known
// (check_binding_expressions).
std::string parse_moderation_input(const BindingContext& c, FunctionSpec& fn) {
  api::ModerationInputSpec m;
  if (auto* v = c.bo.if_contains("text")) {
    if (!v->is_string() || v->as_string().empty())
      return err(c.display, c.bp + ".text",
                 quoted(*v) + " must be a non-empty string: the content to moderate as a binding "
                              "expression such as \"{text}\" (a JSON body's or message's property) "
                              "or \"{queueTrigger}\"; leave text out to get the moderator's health");
    std::string why;
    if (!bindings::parse_template(v->as_string(), why))
      return err(c.display, c.bp + ".text", quoted(*v) + " " + why);
    m.text = std::string(v->as_string());
  }
  if (fn.input(c.binding_name))
    return err(c.display, c.bp + ".name",
               "\"" + c.binding_name + "\" names another input binding too; give each its own name");
  fn.inputs.push_back({c.binding_name, std::move(m)});
  return {};
}

struct BindingType {
  const char* type;
  const char* what;  // for errors: "a queue output binding"
  const char* direction;
  bool trigger;
  BindingParser parse;
};

constexpr BindingType kBindingTypes[] = {
    {"httpTrigger", "an httpTrigger binding", "in", true, parse_http_trigger},
    {"queueTrigger", "a queueTrigger binding", "in", true, parse_queue_trigger},
    {"http", "an http output binding", "out", false, parse_http_output},
    {"queue", "a queue output binding", "out", false, parse_queue_output},
    {"cosmosDBTrigger", "a cosmosDBTrigger binding", "in", true, parse_document_trigger},
    {"cosmosDB", "a cosmosDB input binding", "in", false, parse_document_input},
    {"cosmosDB", "a cosmosDB output binding", "out", false, parse_document_output},
    {"orchestrationTrigger", "an orchestrationTrigger binding", "in", true,
     parse_orchestration_trigger},
    {"activityTrigger", "an activityTrigger binding", "in", true, parse_activity_trigger},
    {"timerTrigger", "a timerTrigger binding", "in", true, parse_timer_trigger},
    {"durableClient", "a durableClient binding", "in", false, parse_durable_client},
    // The v1 name of durableClient.
    {"orchestrationClient", "an orchestrationClient binding", "in", false, parse_durable_client},
    {"moderation", "a moderation input binding", "in", false, parse_moderation_input},
};

std::string supported_types(bool triggers) {
  std::string out;
  for (const auto& t : kBindingTypes)
    if (!triggers || t.trigger) out += std::string(out.empty() ? "" : ", ") + t.type;
  return out;
}

// Binding properties with binding expressions (queue names, document ids, partition keys,
// queries), checked once the trigger is known.
std::string check_binding_expressions(const FunctionSpec& fn, const std::string& display) {
  std::vector<std::string> params;
  if (auto* h = fn.http()) {
    std::string ignored;
    if (auto t = http::RouteTemplate::parse(h->route, ignored)) params = t->parameter_names();
  }
  for (const auto& o : fn.outputs) {
    const auto* q = std::get_if<api::QueueOutputSpec>(&o.spec);
    if (!q) continue;
    if (auto e = bindings::check_template(q->queue, fn, params); !e.empty())
      return display + ": output binding \"" + o.name + "\": queueName \"" + q->queue + "\" " + e;
  }
  for (const auto& in : fn.inputs) {
    if (const auto* m = std::get_if<api::ModerationInputSpec>(&in.spec); m && m->text) {
      if (auto e = bindings::check_template(*m->text, fn, params); !e.empty())
        return display + ": input binding \"" + in.name + "\": text \"" + *m->text + "\" " + e;
      continue;
    }
    const auto* dp = std::get_if<api::DocumentInputSpec>(&in.spec);
    if (!dp) continue;
    const auto& d = *dp;
    for (auto [key, value] : {std::pair<const char*, const std::string*>{"id", &d.id},
                              {"partitionKey", &d.partition_key},
                              {"sqlQuery", &d.sql_query}})
      if (auto e = bindings::check_template(*value, fn, params); !e.empty())
        return display + ": input binding \"" + in.name + "\": " + key + " \"" + *value + "\" " + e;
  }
  return {};
}
}  // namespace

bool is_valid_function_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || !std::isalpha(static_cast<unsigned char>(name[0])))
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

std::optional<FunctionSpec> parse_function(const std::string& name, const json::value& doc,
                                           const std::string& display, std::string& error,
                                           const std::map<std::string, std::string>& settings) {
  auto fail = [&](const std::string& path, const std::string& msg) {
    error = err(display, path, msg);
    return std::nullopt;
  };
  if (!doc.is_object()) {
    error = display + ": the document must be a JSON object with a \"bindings\" array";
    return std::nullopt;
  }
  // Names go into routes, handler request lines ("POST /<name>") and log fields: Azure's rule
  // (a letter, then letters, digits, '_' or '-', at most 128) keeps them inert there.
  if (!is_valid_function_name(name)) {
    error = display + ": \"" + name + "\" is not a valid function name; start with a letter and "
            "use only letters, digits, '_' and '-' (at most 128 characters), then rename it";
    return std::nullopt;
  }
  const auto& obj = doc.as_object();
  FunctionSpec fn;
  fn.name = name;
  if (auto* d = obj.if_contains("disabled")) {
    if (!d->is_bool()) return fail("disabled", "must be true or false");
    fn.disabled = d->as_bool();
  }
  auto* bindings = obj.if_contains("bindings");
  if (!bindings) return fail("bindings", "is required: an array of trigger and output bindings");
  if (!bindings->is_array()) return fail("bindings", "must be an array");
  size_t i = 0;
  int triggers = 0;
  for (const auto& b : bindings->as_array()) {
    std::string bp = json_path_index("bindings", i++);
    if (!b.is_object()) return fail(bp, "must be an object with type, direction and name");
    const auto& bo = b.as_object();
    Binding binding;
    binding.raw = bo;
    for (const char* key : {"type", "direction", "name"}) {
      auto* v = bo.if_contains(key);
      if (!v) return fail(bp + "." + key, "is required");
      if (!v->is_string() || v->as_string().empty())
        return fail(bp + "." + key, "must be a non-empty string");
    }
    binding.type = std::string(bo.at("type").as_string());
    binding.direction = std::string(bo.at("direction").as_string());
    binding.name = std::string(bo.at("name").as_string());
    if (binding.direction != "in" && binding.direction != "out" && binding.direction != "inout")
      return fail(bp + ".direction",
                  quoted(bo.at("direction")) + " is not a direction; use \"in\" or \"out\"");
    const BindingType* type = nullptr;
    // A type may have a row per direction (cosmosDB in and out): the matching one, else any,
    // so the direction error below names what the type allows.
    for (const auto& t : kBindingTypes)
      if (binding.type == t.type && (!type || binding.direction == t.direction)) type = &t;
    if (!type) {
      bool is_trigger = binding.type.size() > 7 &&
                        binding.type.compare(binding.type.size() - 7, 7, "Trigger") == 0;
      return fail(bp + ".type", "\"" + binding.type +
                                    (is_trigger ? "\" is not supported by Nimbus yet; supported "
                                                  "triggers: " + supported_types(true)
                                                : "\" is not a known binding type; supported: " +
                                                      supported_types(false)));
    }
    if (binding.direction != type->direction)
      return fail(bp + ".direction", std::string(type->what) + " must have direction \"" +
                                         type->direction + "\"");
    if (type->trigger) {
      if (++triggers > 1)
        return fail("bindings", "has more than one trigger; a function has exactly one");
      fn.trigger_name = binding.name;
    } else if (binding.direction == "out" && fn.output(binding.name)) {
      return fail(bp + ".name", "\"" + binding.name +
                                    "\" names another output binding too; give each its own name");
    }
    BindingContext ctx{bo, bp, display, name, settings, binding.name};
    if (auto e = type->parse(ctx, fn); !e.empty()) {
      error = e;
      return std::nullopt;
    }
    fn.bindings.push_back(std::move(binding));
  }
  if (auto* rt = obj.if_contains("retry")) {
    RetryPolicy policy;
    if (auto e = parse_retry(*rt, display, "retry", policy); !e.empty()) {
      error = e;
      return std::nullopt;
    }
    fn.retry = policy;
  }
  if (triggers == 0) return fail("bindings", "needs exactly one trigger binding (e.g. httpTrigger)");
  if (auto e = check_binding_expressions(fn, display); !e.empty()) {
    error = e;
    return std::nullopt;
  }
  return fn;
}

LoadResult load_app(const std::string& app_dir) {
  std::error_code ec;
  fs::path root = fs::absolute(app_dir, ec);
  if (ec || !fs::is_directory(root, ec))
    return {std::nullopt, app_dir + ": is not a directory; pass the folder that holds host.json"};
  root = fs::weakly_canonical(root);
  AppSpec app;
  app.root = root.string();
  fs::path host = root / kHostJson;
  if (!fs::exists(host, ec))
    return {std::nullopt, app_dir + "/host.json: not found; an app folder needs a host.json "
                                    "with {\"version\": \"2.0\"}"};
  auto host_doc = read_json_file(host.string(), kHostJson);
  if (!host_doc.value) return {std::nullopt, host_doc.error};
  if (auto e = apply_host_json(*host_doc.value, app); !e.empty()) return {std::nullopt, e};

  fs::path settings = root / "local.settings.json";
  if (fs::exists(settings, ec)) {
    auto doc = read_json_file(settings.string(), "local.settings.json");
    if (doc.value)
      apply_local_settings(*doc.value, app);
    else
      app.warnings.push_back(doc.error + "; settings ignored");
  }

  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (entry.is_directory() && fs::exists(entry.path() / "function.json")) dirs.push_back(entry);
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    std::string name = dir.filename().string();
    std::string display = name + "/function.json";
    auto doc = read_json_file((dir / "function.json").string(), display);
    if (!doc.value) {
      app.function_errors.push_back(doc.error);
      continue;
    }
    std::string error;
    auto fn = parse_function(name, *doc.value, display, error, app.values);
    if (!fn) {
      app.function_errors.push_back(error);
      continue;
    }
    if (app.native && !app.custom_handler) {
      app.function_errors.push_back(display + ": a native app declares its functions in code; "
                                              "this function.json is ignored (add "
                                              "\"customHandler\" to host.json to run it beside "
                                              "the library)");
      continue;
    }
    if (!app.custom_handler) {
      app.function_errors.push_back(
          display + ": no worker to run it; add \"customHandler\" to host.json (see "
                    "examples/hello-node)");
      continue;
    }
    if (fn->orchestrator()) {
      // Orchestrators replay their history in the worker; only the native SDK has the replay
      // executor today. Handlers in other languages will drive the same engine through the
      // Durable Task gRPC protocol.
      app.function_errors.push_back(
          display + ": orchestrationTrigger functions run in native C++ apps for now "
                    "(app.orchestrator in <nimbus/durable.h>; see examples/durable-fanout); "
                    "activityTrigger and durableClient functions run in custom handlers too");
      continue;
    }
    fn->runtime = api::Runtime::custom_handler;
    app.functions.push_back(std::move(*fn));
  }
  if (!app.custom_handler && !app.native)
    app.warnings.push_back("host.json: no \"customHandler\" and no \"nimbus.native\" section; the "
                           "app has no functions to run");
  return {std::move(app), {}};
}

}  // namespace nimbus::config
