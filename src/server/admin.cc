#include "server/admin.h"

#include <boost/asio.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <set>

#include "http/http_server.h"
#include "server/moderation_inputs.h"
#include "triggers/http_trigger.h"

namespace json = boost::json;
using boost::asio::awaitable;

namespace nimbus::server {

namespace {
constexpr const char* kVersion = "0.1.0";
}

// One row per endpoint: how its path matches, the methods it takes, whether it needs the
// master key, and its handler.
struct AdminRoutes::Route {
  std::string_view path;
  bool prefix;  // path is a prefix ("/admin/functions/" + name)
  std::initializer_list<std::string_view> methods;
  bool open;  // answered without a key (Azure: ping; Nimbus: /metrics, on loopback by default)
  awaitable<api::HttpResponseData> (*handle)(AdminRoutes&, api::HttpRequestData&);
};

const AdminRoutes::Route* AdminRoutes::find(const api::HttpRequestData& req, bool& path_known) {
  static const Route kRoutes[] = {
      {"/metrics", false, {"GET", "HEAD"}, true,
       [](AdminRoutes& a, api::HttpRequestData&) { return a.metrics(); }},
      {"/admin/host/ping", false, {"GET", "POST", "HEAD"}, true,
       [](AdminRoutes& a, api::HttpRequestData&) -> awaitable<api::HttpResponseData> {
         co_return a.ping();
       }},
      {"/admin/host/status", false, {"GET", "HEAD"}, false,
       [](AdminRoutes& a, api::HttpRequestData&) -> awaitable<api::HttpResponseData> {
         co_return a.status();
       }},
      {"/admin/functions/", true, {"POST"}, false,
       [](AdminRoutes& a, api::HttpRequestData& r) -> awaitable<api::HttpResponseData> {
         co_return a.run_function(r);
       }},
  };
  path_known = false;
  for (const auto& r : kRoutes) {
    bool match = r.prefix ? req.path.starts_with(r.path) && req.path.size() > r.path.size()
                          : req.path == r.path;
    if (!match) continue;
    path_known = true;
    for (auto m : r.methods)
      if (req.method == m) return &r;
  }
  return nullptr;
}

std::optional<api::HttpResponseData> AdminRoutes::admit(const api::HttpRequestData& req) const {
  bool known = false;
  const Route* r = find(req, known);
  if (!r)
    return known ? http::json_error(405, "MethodNotAllowed",
                                    req.method + " is not allowed on " + req.path)
                 : http::json_error(404, "NotFound", "no admin endpoint at " + req.path);
  if (r->open || !c_.keys ||
      c_.keys->authorize(api::AuthLevel::admin, triggers::presented_key(req)))
    return std::nullopt;
  return http::json_error(401, "Unauthorized",
                          "admin endpoints need the master key in x-functions-key (see "
                          "`nimbus keys list`)");
}

awaitable<api::HttpResponseData> AdminRoutes::handle(api::HttpRequestData& req) {
  if (auto refused = admit(req)) co_return std::move(*refused);
  bool known = false;
  co_return co_await find(req, known)->handle(*this, req);
}

awaitable<api::HttpResponseData> AdminRoutes::metrics() {
  std::string text = c_.metrics.render() + observability::Metrics::render_process() +
                     "# HELP nimbus_build_info Nimbus version.\n# TYPE nimbus_build_info gauge\n"
                     "nimbus_build_info{version=\"" + kVersion + "\"} 1\n";
  if (c_.documents) text += c_.documents->render_metrics();
  if (c_.docs) text += co_await document_counts();
  if (c_.store) {
    // Depth and age of the oldest message of every queue a trigger listens on, and of its
    // poison queue (where failed messages wait for someone to look).
    std::string depth =
        "# HELP nimbus_queue_depth Approximate number of messages in a triggered queue.\n"
        "# TYPE nimbus_queue_depth gauge\n";
    std::string age =
        "# HELP nimbus_queue_oldest_message_age_seconds Age of the oldest message in a "
        "triggered queue.\n# TYPE nimbus_queue_oldest_message_age_seconds gauge\n";
    std::set<std::string> seen;
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    std::vector<std::string> queues;
    for (const auto& fn : c_.app->functions) {
      if (!fn.queue() || !seen.insert(fn.queue()->queue).second) continue;
      queues.push_back(fn.queue()->queue);
      queues.push_back(fn.queue()->queue + "-poison");
    }
    for (const auto& name : queues) {
      api::QueueRef ref{c_.queue_account, name};
      auto props = co_await c_.store->get_queue_properties(ref);
      auto head = co_await c_.store->peek_messages(ref, 1);
      int64_t count = props ? props.value().approximate_message_count : 0;
      double oldest = head && !head.value().empty()
                          ? static_cast<double>(now - head.value()[0].insertion_time) / 1000.0
                          : 0.0;
      depth += "nimbus_queue_depth{queue=\"" + name + "\"} " + std::to_string(count) + "\n";
      age += "nimbus_queue_oldest_message_age_seconds{queue=\"" + name + "\"} " +
             std::to_string(oldest) + "\n";
    }
    text += depth + age;
  }
  if (c_.moderation) {
    // The re-review backlog is read at scrape time from the store's writer thread (the
    // awaitable store call), never on this I/O thread; a queue that does not exist yet is 0.
    int64_t backlog = 0;
    if (c_.store) {
      // A named QueueRef, not a braced temporary in the co_await: GCC 12 destroys such
      // temporaries twice (a double free that corrupted the heap here).
      api::QueueRef ref{c_.queue_account, c_.app->moderation.rereview_queue};
      auto props = co_await c_.store->get_queue_properties(ref);
      if (props) backlog = props.value().approximate_message_count;
    }
    text += ModerationInputs::render_metrics(c_.moderation->metrics(), backlog);
  }
  co_return api::HttpResponseData{200, {{"Content-Type", "text/plain; version=0.0.4"}},
                                  std::move(text)};
}

// Documents in every container of the store, from the count each write keeps with its
// container (one row per container: a scrape costs nothing at any number of items). An item
// past its TTL counts until the sweep removes it.
awaitable<std::string> AdminRoutes::document_counts() {
  auto& store = c_.docs->store();
  auto counts = co_await c_.docs->call<std::vector<api::ContainerItems>>(
      [&](auto cb) { store.item_counts(std::move(cb)); });
  if (!counts || counts.value().empty()) co_return std::string();
  std::string out =
      "# HELP nimbus_documents Documents stored in a container.\n"
      "# TYPE nimbus_documents gauge\n";
  // Ids may hold '"' (Cosmos forbids only / \ ? #): escaped as the exposition format says.
  auto label = [](std::string_view v) {
    std::string s;
    for (char ch : v) {
      if (ch == '\\' || ch == '"') s += '\\';
      if (ch == '\n') {
        s += "\\n";
        continue;
      }
      s += ch;
    }
    return s;
  };
  for (const auto& c : counts.value())
    out += "nimbus_documents{database=\"" + label(c.ref.database) + "\",container=\"" +
           label(c.ref.container) + "\"} " + std::to_string(c.items) + "\n";
  co_return out;
}

api::HttpResponseData AdminRoutes::ping() { return {200, {{"Cache-Control", "no-store"}}, ""}; }

api::HttpResponseData AdminRoutes::status() {
  json::array errors;
  for (const auto& e : c_.app->function_errors) errors.emplace_back(e);
  double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - c_.started).count();
  json::object status{{"id", std::filesystem::path(c_.app->root).filename().string()},
                      {"state", "Running"},
                      {"version", kVersion},
                      {"versionDetails", std::string("Nimbus ") + kVersion},
                      {"processUptime", static_cast<int64_t>(uptime * 1000)},
                      {"functions", c_.app->functions.size()},
                      {"errors", std::move(errors)}};
  return {200, {{"Content-Type", "application/json"}}, json::serialize(status)};
}

// Azure's "run a non-HTTP function manually": {"input": "<message text>"}, 202 Accepted.
api::HttpResponseData AdminRoutes::run_function(api::HttpRequestData& req) {
  std::string name = req.path.substr(std::string_view("/admin/functions/").size());
  const api::FunctionSpec* fn = nullptr;
  for (const auto& f : c_.app->functions)
    if (!f.disabled && boost::beast::iequals(f.name, name)) fn = &f;
  if (!fn) return http::json_error(404, "NotFound", "no enabled function named \"" + name + "\"");
  if (fn->http())
    return http::json_error(400, "BadRequest",
                            "\"" + fn->name + "\" is HTTP-triggered; call its route instead");
  // A timer's run takes no input (Azure sends {"input": ""} for one and ignores it).
  if (fn->timer()) {
    if (!c_.timer_trigger) return http::json_error(503, "Unavailable", "no timer is running");
    if (auto e = c_.timer_trigger->run_once(*fn); !e.empty())
      return http::json_error(409, "Conflict", e);
    return {202, {}, ""};
  }
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  const json::value* input =
      !ec && body.is_object() ? body.as_object().if_contains("input") : nullptr;
  if (!input || !input->is_string())
    return http::json_error(400, "BadRequest", "the body must be {\"input\": \"<message text>\"}");
  if (fn->documents()) {
    if (!c_.change_feed_trigger)
      return http::json_error(503, "Unavailable", "this host has no document store");
    if (auto e = c_.change_feed_trigger->run_once(*fn, input->as_string(), c_.app); !e.empty())
      return http::json_error(400, "BadRequest", e);
    return {202, {}, ""};
  }
  if (!c_.queue_trigger) return http::json_error(503, "Unavailable", "this host has no queue store");
  c_.queue_trigger->run_once(*fn, std::string(input->as_string()), c_.app);
  return {202, {}, ""};
}

}  // namespace nimbus::server
