#pragma once
// The host's own HTTP endpoints, as one route table: /metrics, /admin/host/ping (open),
// /admin/host/status and POST /admin/functions/{name} (master key). admit() checks a request
// on its headers alone (before its body is read); handle() answers routes of the table.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string_view>

#include "api/invocation.h"
#include "documents/async_document_store.h"
#include "documents/cosmos_service.h"
#include "config/app_spec.h"
#include "observability/metrics.h"
#include "queue/async_queue_store.h"
#include "security/keys.h"
#include "triggers/change_feed_trigger.h"
#include "triggers/queue_trigger.h"
#include "triggers/timer_trigger.h"

namespace nimbus::server {

class ModerationInputs;  // server/moderation_inputs.h

class AdminRoutes {
 public:
  struct Context {
    std::shared_ptr<const config::AppSpec> app;  // the running app; --watch replaces it
    const security::KeyStore* keys;  // null: --no-auth
    observability::Metrics& metrics;
    queue::AsyncQueueStore* store;           // null: the host has no store
    triggers::QueueTrigger* queue_trigger;   // null: no queue-triggered functions can run
    triggers::ChangeFeedTrigger* change_feed_trigger;  // null: the host has no store
    const documents::CosmosService* documents;         // null: no document service
    documents::AsyncDocumentStore* docs;               // null: the host has no document store
    std::string queue_account;               // whose queues /metrics reports
    std::chrono::steady_clock::time_point started;
    triggers::TimerTrigger* timer_trigger = nullptr;  // null: no timerTrigger functions run
    const ModerationInputs* moderation = nullptr;  // null: no function moderates
  };
  explicit AdminRoutes(Context c) : c_(std::move(c)) {}
  // `nimbus start --watch` applied a new version of the app.
  void set_app(std::shared_ptr<const config::AppSpec> app) { c_.app = std::move(app); }

  // Whether this request is for the host rather than a function.
  static bool owns(std::string_view path) {
    return path.starts_with("/admin/") || path == "/metrics";
  }
  // An answer for a request refused on its headers (unknown route or method, no master
  // key), or nothing when its body may be read.
  std::optional<api::HttpResponseData> admit(const api::HttpRequestData& req) const;
  boost::asio::awaitable<api::HttpResponseData> handle(api::HttpRequestData& req);

 private:
  struct Route;
  static const Route* find(const api::HttpRequestData& req, bool& path_known);
  boost::asio::awaitable<api::HttpResponseData> metrics();
  boost::asio::awaitable<std::string> document_counts();
  api::HttpResponseData ping();
  api::HttpResponseData status();
  api::HttpResponseData run_function(api::HttpRequestData& req);
  Context c_;
};

}  // namespace nimbus::server
