#include "server/host.h"

#include <signal.h>

#include <boost/asio.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include "common/log.h"
#include "config/loader.h"
#include "http/http_server.h"
#include "http/router.h"
#include "observability/metrics.h"
#include "queue/async_queue_store.h"
#include "queue/queue_service.h"
#include "storage/sqlite/sqlite_engine.h"
#include "storage/sqlite/sqlite_queue_store.h"
#include "triggers/queue_trigger.h"
#include "runtime/dispatcher.h"
#include "runtime/effects_committer.h"
#include "security/keys.h"
#include "triggers/http_trigger.h"
#include "workers/custom_handler_pool.h"
#include "workers/in_process_invoker.h"
#include "workers/native_worker_pool.h"
#include "workers/process.h"

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;

namespace nimbus::server {

namespace {

constexpr const char* kVersion = "0.1.0";
// How long SIGTERM waits for accepted work to finish before stopping anyway.
constexpr auto kDrainTimeout = std::chrono::seconds(10);
// Queue triggers and output bindings use the development account's queues (what
// AzureWebJobsStorage = "UseDevelopmentStorage=true" names in Azure's tooling).
constexpr const char* kTriggerAccount = "devstoreaccount1";

// Queue depth and age of the oldest message for every queue a trigger listens on.
awaitable<std::string> queue_gauges(queue::AsyncQueueStore& store, const config::AppSpec& app) {
  std::string depth =
      "# HELP nimbus_queue_depth Approximate number of messages in a triggered queue.\n"
      "# TYPE nimbus_queue_depth gauge\n";
  std::string age =
      "# HELP nimbus_queue_oldest_message_age_seconds Age of the oldest message in a triggered "
      "queue.\n# TYPE nimbus_queue_oldest_message_age_seconds gauge\n";
  std::set<std::string> seen;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& fn : app.functions) {
    if (fn.trigger_type != "queueTrigger" || !seen.insert(fn.queue_name).second) continue;
    api::QueueRef ref{kTriggerAccount, fn.queue_name};
    auto props = co_await store.get_queue_properties(ref);
    auto head = co_await store.peek_messages(ref, 1);
    int64_t count = props ? props.value().approximate_message_count : 0;
    double oldest = head && !head.value().empty()
                        ? static_cast<double>(now - head.value()[0].insertion_time) / 1000.0
                        : 0.0;
    depth += "nimbus_queue_depth{queue=\"" + fn.queue_name + "\"} " + std::to_string(count) + "\n";
    age += "nimbus_queue_oldest_message_age_seconds{queue=\"" + fn.queue_name + "\"} " +
           std::to_string(oldest) + "\n";
  }
  co_return depth + age;
}

// Admin endpoints as in Azure: ping is anonymous, status needs the master key.
// /metrics is anonymous: the host listens on loopback by default.
// POST /admin/functions/{name} {"input": "..."}: run a non-HTTP function once (Azure's manual
// run), 202 Accepted. Master key only, like every admin route but ping.
api::HttpResponseData run_function_manually(api::HttpRequestData& req, const config::AppSpec& app,
                                            triggers::QueueTrigger* queue_trigger) {
  std::string name = req.path.substr(std::string_view("/admin/functions/").size());
  const config::FunctionSpec* fn = nullptr;
  for (const auto& f : app.functions)
    if (!f.disabled && boost::beast::iequals(f.name, name)) fn = &f;
  if (!fn)
    return http::json_error(404, "NotFound", "no enabled function named \"" + name + "\"");
  if (fn->trigger_type == "httpTrigger")
    return http::json_error(400, "BadRequest",
                            "\"" + fn->name + "\" is HTTP-triggered; call its route instead");
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  const json::value* input = !ec && body.is_object() ? body.as_object().if_contains("input") : nullptr;
  if (!input || !input->is_string())
    return http::json_error(400, "BadRequest",
                            "the body must be {\"input\": \"<message text>\"}");
  if (!queue_trigger)
    return http::json_error(503, "Unavailable", "this host has no queue store");
  queue_trigger->run_once(*fn, std::string(input->as_string()));
  return {202, {}, ""};
}

bool is_open_admin_path(const api::HttpRequestData& req) {
  return req.path == "/metrics" || req.path == "/admin/host/ping";
}

api::HttpResponseData admin_unauthorized() {
  return http::json_error(401, "Unauthorized",
                          "admin endpoints need the master key in x-functions-key (see "
                          "`nimbus keys list`)");
}

// Admin routes but ping and /metrics need the master key: checked on the headers, before a
// body is read.
std::optional<api::HttpResponseData> admin_admit(const api::HttpRequestData& req,
                                                 const security::KeyStore* keys) {
  if (is_open_admin_path(req) || !keys ||
      keys->authorize(config::AuthLevel::admin, triggers::presented_key(req)))
    return std::nullopt;
  return admin_unauthorized();
}

awaitable<api::HttpResponseData> admin_route(api::HttpRequestData& req, bool& handled,
                                             const security::KeyStore* keys,
                                             observability::Metrics& metrics,
                                             queue::AsyncQueueStore* store,
                                             triggers::QueueTrigger* queue_trigger,
                                             const config::AppSpec& app,
                                             std::chrono::steady_clock::time_point started) {
  handled = true;
  if (req.path == "/metrics" && (req.method == "GET" || req.method == "HEAD")) {
    std::string text = metrics.render();
    if (store) text += co_await queue_gauges(*store, app);
    co_return api::HttpResponseData{200, {{"Content-Type", "text/plain; version=0.0.4"}},
                                    std::move(text)};
  }
  if (req.path == "/admin/host/ping" && (req.method == "GET" || req.method == "POST" ||
                                         req.method == "HEAD"))
    co_return api::HttpResponseData{200, {{"Cache-Control", "no-store"}}, ""};
  bool is_admin = !keys || keys->authorize(config::AuthLevel::admin, triggers::presented_key(req));
  auto unauthorized = admin_unauthorized;
  if (req.path.starts_with("/admin/functions/") && req.method == "POST")
    co_return is_admin ? run_function_manually(req, app, queue_trigger) : unauthorized();
  if (req.path == "/admin/host/status" && (req.method == "GET" || req.method == "HEAD")) {
    if (!is_admin) co_return unauthorized();
    json::array errors;
    for (const auto& e : app.function_errors) errors.emplace_back(e);
    double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    json::object status{{"id", std::filesystem::path(app.root).filename().string()},
                        {"state", "Running"},
                        {"version", kVersion},
                        {"versionDetails", std::string("Nimbus ") + kVersion},
                        {"processUptime", static_cast<int64_t>(uptime * 1000)},
                        {"functions", app.functions.size()},
                        {"errors", std::move(errors)}};
    co_return api::HttpResponseData{
        200, {{"Content-Type", "application/json"}}, json::serialize(status)};
  }
  handled = false;
  co_return api::HttpResponseData{};
}

bool is_loopback(const std::string& address) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(address, ec);
  return !ec && a.is_loopback();
}

// Creates the data directory 0700 (it holds keys and the database); an existing one that
// others can read is used, with a warning that says how to close it.
std::string prepare_data_dir(const std::string& dir, Logger& log) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool created = fs::create_directories(dir, ec);
  if (ec)
    return dir + ": cannot create the data directory (" + ec.message() +
           "); pass a writable --data DIR";
  if (created) {
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    return {};
  }
  auto loose = [](fs::perms p) {
    return (p & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none;
  };
  if (loose(fs::status(dir, ec).permissions()))
    log.warn("Host.Startup", dir + ": the data directory is readable by other users; it holds "
                                   "keys and queued data: chmod 700 " + dir);
  for (const char* name : {"keys.json", "nimbus.db"}) {
    fs::path file = fs::path(dir) / name;
    if (fs::exists(file, ec) && loose(fs::status(file, ec).permissions()))
      log.warn("Host.Startup", file.string() + " is readable by other users: chmod 600 " +
                                   file.string());
  }
  return {};
}

std::string route_url(const config::AppSpec& app, const config::FunctionSpec& fn,
                      const std::string& address, uint16_t port) {
  std::string url = "http://" + address + ":" + std::to_string(port) + "/";
  if (!app.route_prefix.empty()) url += app.route_prefix + "/";
  return url + fn.http.route;
}

}  // namespace

int run_host(const StartOptions& options) {
  auto started = std::chrono::steady_clock::now();
  Logger log;
  // A start-up failure goes to the structured log and, plainly, to the person at the terminal.
  auto report = [&](const std::string& msg) {
    log.error("Host.Startup", msg);
    std::cerr << "nimbus: " << msg << "\n";
  };
  auto loaded = config::load_app(options.app_dir);
  if (!loaded.app) {
    report(loaded.fatal);
    return 2;
  }
  config::AppSpec& app = *loaded.app;
  log.set_level(app.log_level);
  for (const auto& w : app.warnings) log.warn("Host.Startup", w);

  std::string data_dir = options.data_dir.empty()
                             ? (std::filesystem::path(app.root) / ".nimbus-data").string()
                             : options.data_dir;
  if (std::string error = prepare_data_dir(data_dir, log); !error.empty()) {
    report(error);
    return 2;
  }
  {
    boost::system::error_code ec;
    asio::ip::make_address(options.address, ec);
    if (ec) {
      report("--host " + options.address + ": not an IP address; use e.g. 127.0.0.1");
      return 2;
    }
  }
  // The published development key and --no-auth are for a machine's own loopback: on any
  // other address they would hand the queues and every function to the network.
  if (!is_loopback(options.address) && !options.allow_insecure_network) {
    if (options.no_auth) {
      report("--no-auth on " + options.address + " would let anyone on the network call every "
             "function; listen on 127.0.0.1, drop --no-auth, or add --allow-insecure-network");
      return 2;
    }
    if (app.queue_service.enabled) {
      report("the queue service accepts the published development key (devstoreaccount1), so "
             "serving it on " + options.address + " opens its queues to the network; listen on "
             "127.0.0.1, set nimbus.queueService.enabled to false in host.json, or add "
             "--allow-insecure-network");
      return 2;
    }
  }
  if (!is_loopback(options.address))
    log.warn("Host.Startup",
             "listening on " + options.address + ", not loopback: " +
                 (options.allow_insecure_network ? "--allow-insecure-network is set; "
                                                   "traffic is plain HTTP"
                                                 : "traffic is plain HTTP (TLS is not served yet)"));
  std::optional<security::KeyStore> keys;
  if (options.no_auth) {
    log.warn("Host.Startup",
             "AUTHORIZATION IS OFF (--no-auth): every function is callable without a key. Use "
             "this for local development only.");
  } else {
    std::string error;
    keys = security::KeyStore::load_or_create(data_dir, error);
    if (!keys) {
      report(error);
      return 2;
    }
  }

  // One budget of buffered request bodies and one connection cap for all of the host's ports.
  auto limits = std::make_shared<http::HostLimits>();
  limits->max_connections = app.max_connections ? app.max_connections
                                                : http::default_max_connections();
  limits->body_budget = app.max_buffered_request_bytes
                            ? app.max_buffered_request_bytes
                            : std::max<size_t>(size_t(256) << 20, app.max_request_body);

  asio::io_context io(1);
  workers::ProcessReaper reaper(io);
  observability::Metrics metrics;
  runtime::Dispatcher dispatcher(app, metrics, log);
  std::unique_ptr<workers::NativeWorkerPool> native_pool;
  std::unique_ptr<workers::InProcessInvoker> in_process;
  std::unique_ptr<workers::CustomHandlerPool> handler_pool;
  std::unique_ptr<http::Router> router;
  std::unique_ptr<triggers::HttpTrigger> http_trigger;
  std::unique_ptr<http::HttpServer> server;
  std::unique_ptr<storage::SqliteEngine> engine;  // one database, one writer: every table set
  std::unique_ptr<storage::SqliteQueueStore> queue_store;
  std::unique_ptr<queue::AsyncQueueStore> async_store;
  std::unique_ptr<runtime::EffectsCommitter> effects;
  std::unique_ptr<queue::QueueService> queue_service;
  std::unique_ptr<http::HttpServer> queue_server;
  std::unique_ptr<triggers::QueueTrigger> queue_trigger;
  int exit_code = 0;

  auto fail = [&](const std::string& msg) {
    report(msg);
    exit_code = 1;
    io.stop();
  };

  // Start-up runs as a coroutine on the I/O thread: workers report their functions before the
  // router exists, so no request can race the function list.
  auto startup = [&]() -> awaitable<void> {
    std::optional<json::array> native_functions;
    std::string error;
    if (app.native && app.native->in_process) {
      in_process = std::make_unique<workers::InProcessInvoker>();
      native_functions = in_process->load(app.native->library, error);
      log.warn("Host.Startup",
               "native functions run inside the host (nimbus.native.inProcess): a crash in them "
               "stops the host and functionTimeout is not enforced");
    } else if (app.native) {
      workers::NativeWorkerPool::Options o{options.worker_exe, app.native->library,
                                           app.native->worker_count, app.native->pipeline_depth,
                                           app.values, app.root, app.max_request_body};
      native_pool = std::make_unique<workers::NativeWorkerPool>(io, o, reaper, metrics, log);
      native_functions = co_await native_pool->start(error);
    }
    if (app.native && !native_functions) co_return fail(error);
    if (native_functions) {
      std::string lib = std::filesystem::path(app.native->library).filename().string();
      for (const auto& f : *native_functions) {
        const auto& fo = f.as_object();
        std::string name(fo.at("name").as_string());
        std::string ferr;
        auto spec = config::parse_function(name, fo, lib + ": function \"" + name + "\"", ferr);
        if (!spec) {
          app.function_errors.push_back(ferr);
          continue;
        }
        spec->runtime = config::Runtime::native;
        app.functions.push_back(std::move(*spec));
      }
    }
    if (app.custom_handler) {
      workers::CustomHandlerPool::Options o{*app.custom_handler, app.values, app.root,
                                            app.max_request_body};
      handler_pool = std::make_unique<workers::CustomHandlerPool>(io, o, reaper, metrics, log);
      if (!co_await handler_pool->start(error)) co_return fail(error);
    }
    for (const auto& e : app.function_errors) log.error("Host.Startup", e);

    // The durable store behind queues (service, triggers, output bindings).
    bool needs_store = app.queue_service.enabled;
    for (const auto& fn : app.functions)
      needs_store = needs_store || fn.trigger_type == "queueTrigger" || !fn.queue_outputs.empty();
    if (needs_store) {
      storage::SqliteEngine::Options so;
      so.path = (std::filesystem::path(data_dir) / "nimbus.db").string();
      so.sync = app.synchronous_full ? storage::SqliteEngine::Sync::full
                                     : storage::SqliteEngine::Sync::normal;
      engine = storage::SqliteEngine::open(so, error);
      if (!engine) {
        fail(error);
        exit_code = 2;  // like every other refusal to start on bad input
        co_return;
      }
      queue_store = std::make_unique<storage::SqliteQueueStore>(*engine);
      async_store = std::make_unique<queue::AsyncQueueStore>(*queue_store, io.get_executor());
      effects = std::make_unique<runtime::EffectsCommitter>(*engine, io.get_executor());
    }
    if (app.queue_service.enabled) {
      // devstoreaccount1 always (triggers and bindings use it), plus configured accounts:
      // host.json nimbus.queueService.accounts, "%Setting%" resolved from app settings.
      queue::AccountSet accounts = queue::AccountSet::development();
      std::string spec = app.queue_service.accounts;
      if (spec.size() > 2 && spec.front() == '%' && spec.back() == '%') {
        auto it = app.values.find(spec.substr(1, spec.size() - 2));
        const char* env = std::getenv(spec.substr(1, spec.size() - 2).c_str());
        spec = it != app.values.end() ? it->second : env ? env : "";
      }
      if (!spec.empty()) {
        auto extra = queue::AccountSet::parse(spec, error);
        if (!extra) co_return fail("host.json: nimbus.queueService.accounts: " + error);
        for (const auto& a : extra->accounts())
          if (!accounts.find(a.name)) accounts.add(a);
      }
      queue_service = std::make_unique<queue::QueueService>(*async_store, std::move(accounts), log);
      int qport = options.queue_port >= 0 ? options.queue_port : app.queue_service.port;
      http::HttpServer::Options qo{options.address, static_cast<uint16_t>(qport),
                                   queue::QueueService::kMaxRequestBody, app.max_request_headers};
      qo.limits = limits;
      queue_server = std::make_unique<http::HttpServer>(
          io, qo, [&](api::HttpRequestData& req) { return queue_service->handle(req); }, log);
      if (!queue_server->listen(error))
        co_return fail("queue service: " + error +
                       " (or --queue-port, or set nimbus.queueService.enabled to false in host.json)");
      queue_server->start();
      log.notice("Host.Startup",
               "Queue service listening on http://" + options.address + ":" +
                   std::to_string(queue_server->port()) + "/" + kTriggerAccount,
               {{"queuePort", queue_server->port()}});
    }
    for (const auto& fn : app.functions) {
      if (fn.disabled) continue;
      api::Invoker* inv = fn.runtime == config::Runtime::custom_handler
                              ? static_cast<api::Invoker*>(handler_pool.get())
                              : in_process ? static_cast<api::Invoker*>(in_process.get())
                                           : static_cast<api::Invoker*>(native_pool.get());
      dispatcher.bind(fn.name, inv);
    }
    router = std::make_unique<http::Router>(app.route_prefix, app.functions);
    triggers::HttpTrigger::OutputWriter write_outputs;
    if (async_store)
      write_outputs = [&](const std::vector<std::pair<std::string, std::string>>& outputs) {
        return triggers::write_queue_outputs(*effects, kTriggerAccount, app.queues.base64,
                                             outputs, &log);
      };
    http_trigger = std::make_unique<triggers::HttpTrigger>(*router, keys ? &*keys : nullptr,
                                                           dispatcher, std::move(write_outputs));
    if (async_store) {
      if (auto e = triggers::QueueTrigger::check(app); !e.empty()) co_return fail(e);
      queue_trigger = std::make_unique<triggers::QueueTrigger>(
          io, *async_store, *effects, dispatcher, app, kTriggerAccount, metrics, log);
      effects->set_notice_listener([&](const api::CommitNotice& n) { queue_trigger->notify(n); });
      queue_trigger->start();
    }
    int port = options.port >= 0 ? options.port : app.local_http_port ? app.local_http_port : 7071;
    http::HttpServer::Options so{options.address, static_cast<uint16_t>(port),
                                 app.max_request_body, app.max_request_headers};
    so.limits = limits;
    server = std::make_unique<http::HttpServer>(
        io, so,
        [&](api::HttpRequestData& req) -> awaitable<api::HttpResponseData> {
          bool handled = false;
          if (req.path.starts_with("/admin/") || req.path == "/metrics") {
            auto r = co_await admin_route(req, handled, keys ? &*keys : nullptr, metrics,
                                          async_store.get(), queue_trigger.get(), app, started);
            if (handled) co_return r;
          }
          co_return co_await http_trigger->handle(req);
        },
        log,
        // Refusals that need only the headers, so no body is read for them.
        [&](api::HttpRequestData& req) -> std::optional<api::HttpResponseData> {
          if (req.path.starts_with("/admin/") || req.path == "/metrics")
            return admin_admit(req, keys ? &*keys : nullptr);
          return http_trigger->admit(req);
        });
    if (!server->listen(error)) co_return fail(error);
    server->start();
    uint16_t bound = server->port();
    for (const auto& fn : app.functions)
      if (!fn.disabled)
        log.info("Host.Startup", "function ready",
                 {{"function", fn.name},
                  {"methods", fn.http.methods.empty() ? json::value("ALL")
                                                      : json::value(json::value_from(fn.http.methods))},
                  {"authLevel", config::auth_level_name(fn.http.auth)},
                  {"url", route_url(app, fn, options.address, bound)}});
    auto ms = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
    log.notice("Host.Startup",
             "Nimbus listening on http://" + options.address + ":" + std::to_string(bound),
             {{"port", bound}, {"functions", app.functions.size()}, {"startupUs", ms},
              {"dataDir", data_dir}, {"auth", !options.no_auth}});
  };
  asio::co_spawn(io, startup(), [&](std::exception_ptr e) {
    if (e) fail("start-up failed: " + exception_message(e));
  });

  // SIGINT/SIGTERM: stop taking work, let what was accepted finish (bounded), then stop.
  // A second signal stops at once. Queue messages still running when the drain gives up
  // are not lost: they reappear when their lease ends.
  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  bool draining = false;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (draining) {
          log.warn("Host.Shutdown", "second signal: stopping now", {{"signal", sig}});
          io.stop();
          return;
        }
        draining = true;
        log.info("Host.Shutdown", "draining", {{"signal", sig}});
        if (server) server->stop();
        if (queue_server) queue_server->stop();
        if (queue_trigger) queue_trigger->stop();
        stop_signals.async_wait(on_signal);
        asio::co_spawn(io, [&]() -> awaitable<void> {
          auto give_up = std::chrono::steady_clock::now() + kDrainTimeout;
          asio::steady_timer tick(io);
          auto busy = [&] {
            return dispatcher.in_flight() > 0 || (queue_trigger && queue_trigger->in_flight() > 0) ||
                   (server && server->busy() > 0) || (queue_server && queue_server->busy() > 0);
          };
          while (busy() && std::chrono::steady_clock::now() < give_up) {
            tick.expires_after(std::chrono::milliseconds(10));
            co_await tick.async_wait(asio::use_awaitable);
          }
          log.info("Host.Shutdown", busy() ? "drain timed out; stopping" : "drained; stopping");
          io.stop();
        }, log_if_thrown(log, "Host.Shutdown", "drain failed"));
      };
  stop_signals.async_wait(on_signal);
  ::signal(SIGPIPE, SIG_IGN);
  io.run();
  if (native_pool) native_pool->stop();
  if (handler_pool) handler_pool->stop();
  // The store finishes what was submitted (acknowledged work is already durable) before the
  // objects that its completions would touch go away.
  if (effects) effects->set_notice_listener(nullptr);
  queue_trigger.reset();
  queue_store.reset();
  engine.reset();
  return exit_code;
}

}  // namespace nimbus::server
