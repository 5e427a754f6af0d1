#include "server/host.h"

#include <signal.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "common/log.h"
#include "config/loader.h"
#include "http/http_server.h"
#include "http/router.h"
#include "observability/metrics.h"
#include "runtime/dispatcher.h"
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

// Admin endpoints as in Azure: ping is anonymous, status needs the master key.
// /metrics is anonymous: the host listens on loopback by default.
awaitable<api::HttpResponseData> admin_route(api::HttpRequestData& req, bool& handled,
                                             const security::KeyStore* keys,
                                             observability::Metrics& metrics,
                                             const config::AppSpec& app,
                                             std::chrono::steady_clock::time_point started) {
  handled = true;
  if (req.path == "/metrics" && (req.method == "GET" || req.method == "HEAD"))
    co_return api::HttpResponseData{
        200, {{"Content-Type", "text/plain; version=0.0.4"}}, metrics.render()};
  if (req.path == "/admin/host/ping" && (req.method == "GET" || req.method == "POST" ||
                                         req.method == "HEAD"))
    co_return api::HttpResponseData{200, {{"Cache-Control", "no-store"}}, ""};
  if (req.path == "/admin/host/status" && (req.method == "GET" || req.method == "HEAD")) {
    if (keys && !keys->authorize(config::AuthLevel::admin, triggers::presented_key(req)))
      co_return http::json_error(401, "Unauthorized",
                                 "admin endpoints need the master key in x-functions-key (see "
                                 "`nimbus keys list`)");
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
  auto loaded = config::load_app(options.app_dir);
  if (!loaded.app) {
    log.error("Host.Startup", loaded.fatal);
    std::cerr << "nimbus: " << loaded.fatal << "\n";
    return 2;
  }
  config::AppSpec& app = *loaded.app;
  log.set_level(app.log_level);
  for (const auto& w : app.warnings) log.warn("Host.Startup", w);

  std::string data_dir = options.data_dir.empty()
                             ? (std::filesystem::path(app.root) / ".nimbus-data").string()
                             : options.data_dir;
  std::optional<security::KeyStore> keys;
  if (options.no_auth) {
    log.warn("Host.Startup",
             "AUTHORIZATION IS OFF (--no-auth): every function is callable without a key. Use "
             "this for local development only.");
  } else {
    std::string error;
    keys = security::KeyStore::load_or_create(data_dir, error);
    if (!keys) {
      log.error("Host.Startup", error);
      std::cerr << "nimbus: " << error << "\n";
      return 2;
    }
  }

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
  int exit_code = 0;

  auto fail = [&](const std::string& msg) {
    log.error("Host.Startup", msg);
    std::cerr << "nimbus: " << msg << "\n";
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
                                           app.native->worker_count, app.values, app.root,
                                           app.max_request_body};
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
    for (const auto& fn : app.functions) {
      if (fn.disabled) continue;
      api::Invoker* inv = fn.runtime == config::Runtime::custom_handler
                              ? static_cast<api::Invoker*>(handler_pool.get())
                              : in_process ? static_cast<api::Invoker*>(in_process.get())
                                           : static_cast<api::Invoker*>(native_pool.get());
      dispatcher.bind(fn.name, inv);
    }
    router = std::make_unique<http::Router>(app.route_prefix, app.functions);
    http_trigger = std::make_unique<triggers::HttpTrigger>(*router, keys ? &*keys : nullptr,
                                                           dispatcher);
    int port = options.port >= 0 ? options.port : app.local_http_port ? app.local_http_port : 7071;
    http::HttpServer::Options so{options.address, static_cast<uint16_t>(port),
                                 app.max_request_body, app.max_request_headers};
    server = std::make_unique<http::HttpServer>(
        io, so,
        [&](api::HttpRequestData& req) -> awaitable<api::HttpResponseData> {
          bool handled = false;
          if (req.path.starts_with("/admin/") || req.path == "/metrics") {
            auto r = co_await admin_route(req, handled, keys ? &*keys : nullptr, metrics, app,
                                          started);
            if (handled) co_return r;
          }
          co_return co_await http_trigger->handle(req);
        },
        log);
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
    log.info("Host.Startup",
             "Nimbus listening on http://" + options.address + ":" + std::to_string(bound),
             {{"port", bound}, {"functions", app.functions.size()}, {"startupUs", ms},
              {"dataDir", data_dir}, {"auth", !options.no_auth}});
  };
  asio::co_spawn(io, startup(), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      fail(std::string("start-up failed: ") + ex.what());
    }
  });

  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log.info("Host.Shutdown", "stopping", {{"signal", sig}});
    if (server) server->stop();
    if (native_pool) native_pool->stop();
    if (handler_pool) handler_pool->stop();
    io.stop();
  });
  ::signal(SIGPIPE, SIG_IGN);
  io.run();
  if (native_pool) native_pool->stop();
  if (handler_pool) handler_pool->stop();
  return exit_code;
}

}  // namespace nimbus::server
