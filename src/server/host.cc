#include "server/host.h"

#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include "common/allocator.h"
#include "common/log.h"
#include "config/loader.h"
#include "http/http_server.h"
#include "http/router.h"
#include "observability/metrics.h"
#include "documents/async_document_store.h"
#include "durable/engine.h"
#include "durable/management_api.h"
#include "http/cors.h"
#include "documents/cosmos_service.h"
#include "security/tls_cert.h"
#include "queue/async_queue_store.h"
#include "server/admin.h"
#include "server/app_watcher.h"
#include "server/moderation_inputs.h"
#include "queue/queue_service.h"
#include "storage/sqlite/sqlite_document_store.h"
#include "storage/sqlite/sqlite_durable_store.h"
#include "storage/sqlite/sqlite_engine.h"
#include "storage/sqlite/sqlite_queue_store.h"
#include "storage/sqlite/timer_tables.h"
#include "triggers/change_feed_trigger.h"
#include "triggers/document_inputs.h"
#include "triggers/queue_trigger.h"
#include "triggers/timer_trigger.h"
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

// How long SIGTERM waits for accepted work to finish before stopping anyway.
constexpr auto kDrainTimeout = std::chrono::seconds(10);
// Queue triggers and output bindings use the development account's queues (what
// AzureWebJobsStorage = "UseDevelopmentStorage=true" names in Azure's tooling).
constexpr const char* kTriggerAccount = "devstoreaccount1";

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

std::string route_url(const config::AppSpec& app, const api::FunctionSpec& fn,
                      const std::string& address, uint16_t port) {
  std::string url = "http://" + address + ":" + std::to_string(port) + "/";
  if (!app.route_prefix.empty()) url += app.route_prefix + "/";
  return url + fn.http()->route;
}

// A host.json value that may be "%Setting%": resolved from app settings, then the environment.
std::string setting(const config::AppSpec& app, std::string spec) {
  if (spec.size() > 2 && spec.front() == '%' && spec.back() == '%') {
    std::string name = spec.substr(1, spec.size() - 2);
    auto it = app.values.find(name);
    const char* env = std::getenv(name.c_str());
    spec = it != app.values.end() ? it->second : env ? env : "";
  }
  return spec;
}

// What serves function requests for one version of the app (`nimbus start --watch` makes a
// new one for each applied change and swaps it in for new requests): the app, its router and
// its HTTP trigger. A request runs on the version that admitted it, which it holds
// (HttpRequestData::function_owner) until it is answered.
struct Serving {
  Serving(std::shared_ptr<const config::AppSpec> a, const security::KeyStore* keys,
          runtime::Dispatcher& dispatcher, runtime::EffectsCommitter* effects,
          bindings::OutputOptions outputs, Logger& log)
      : app(std::move(a)),
        router(app->route_prefix, app->functions),
        http(router, keys, dispatcher, effects, std::move(outputs), &log) {}
  Serving(const Serving&) = delete;

  const std::shared_ptr<const config::AppSpec> app;
  const http::Router router;
  triggers::HttpTrigger http;
};

// The host, phase by phase. configure() runs before the I/O loop; start() runs on it, so
// workers report their functions before the router exists and no request races the function
// list. Once the app is complete it is frozen (app_): everything that serves requests reads
// that one immutable snapshot, which --watch replaces with a new one (reload()).
// Threading: one I/O thread; nothing here takes a lock.
class Host {
 public:
  explicit Host(const StartOptions& options)
      : options_(options), started_(std::chrono::steady_clock::now()), io_(1), reaper_(io_) {}

  int run() {
    // Before the first record: text for a person at a terminal, JSON for pipes and CI.
    bool tty = ::isatty(2) == 1;
    bool text = options_.log_format == "text" || (options_.log_format.empty() && tty);
    log_.set_format(text ? LogFormat::text : LogFormat::json, text && tty);
    if (int code = configure(); code != 0) return code;
    boost::asio::co_spawn(io_, start(), [this](std::exception_ptr e) {
      if (e) fail("start-up failed: " + exception_message(e));
    });
    stop_signals_.async_wait([this](auto ec, int sig) { on_signal(ec, sig); });
    ::signal(SIGPIPE, SIG_IGN);
    io_.run();
    shutdown();
    return exit_code_;
  }

 private:
  // A start-up failure goes to the structured log and, plainly, to the person at the terminal.
  void report(const std::string& msg) {
    log_.error("Host.Startup", msg);
    // The text console already showed it as a line of its own.
    if (log_.format() == LogFormat::json) std::cerr << "nimbus: " << msg << "\n";
  }
  void fail(const std::string& msg, int code = 1) {
    report(msg);
    exit_code_ = code;
    io_.stop();
  }

  // Phase 1 (before the loop): the app folder, the data directory, the network policy, keys.
  int configure() {
    auto loaded = config::load_app(options_.app_dir);
    if (!loaded.app) {
      report(loaded.fatal);
      return 2;
    }
    draft_ = std::move(*loaded.app);
    log_.set_level(draft_.log_level);
    for (const auto& w : draft_.warnings) log_.warn("Host.Startup", w);
    data_dir_ = options_.data_dir.empty()
                    ? (std::filesystem::path(draft_.root) / ".nimbus-data").string()
                    : options_.data_dir;
    if (std::string error = prepare_data_dir(data_dir_, log_); !error.empty()) {
      report(error);
      return 2;
    }
    boost::system::error_code ec;
    asio::ip::make_address(options_.address, ec);
    if (ec) {
      report("--host " + options_.address + ": not an IP address; use e.g. 127.0.0.1");
      return 2;
    }
    if (std::string refusal = network_refusal(); !refusal.empty()) {
      report(refusal);
      return 2;
    }
    std::string origins = options_.cors.empty() ? draft_.cors : options_.cors;
    if (!origins.empty()) {
      std::string error;
      cors_ = http::CorsPolicy::parse(origins, options_.cors_credentials || draft_.cors_credentials,
                                      error);
      if (!cors_) {
        report(std::string(options_.cors.empty() ? "local.settings.json: Host.CORS: "
                                                 : "--cors: ") + error);
        return 2;
      }
    }
    if (options_.no_auth) {
      log_.warn("Host.Startup",
                "AUTHORIZATION IS OFF (--no-auth): every function is callable without a key. "
                "Use this for local development only.");
    } else {
      std::string error;
      keys_ = security::KeyStore::load_or_create(data_dir_, error);
      if (!keys_) {
        report(error);
        return 2;
      }
    }
    // One budget of buffered request bodies and one connection cap for all of the ports.
    limits_ = std::make_shared<http::HostLimits>();
    limits_->max_connections = draft_.max_connections ? draft_.max_connections
                                                      : http::default_max_connections();
    limits_->body_budget = draft_.max_buffered_request_bytes
                               ? draft_.max_buffered_request_bytes
                               : std::max<size_t>(size_t(256) << 20, draft_.max_request_body);
    return 0;
  }

  // The published development key and --no-auth are for a machine's own loopback: on any
  // other address they would hand the queues and every function to the network.
  std::string network_refusal() {
    if (http::is_loopback_address(options_.address)) return "";
    if (!options_.allow_insecure_network) {
      if (options_.no_auth)
        return "--no-auth on " + options_.address +
               " would let anyone on the network call every function; listen on 127.0.0.1, "
               "drop --no-auth, or add --allow-insecure-network";
      if (draft_.queue_service.enabled)
        return "the queue service accepts the published development key (devstoreaccount1), "
               "so serving it on " + options_.address + " opens its queues to the network; "
               "listen on 127.0.0.1, set nimbus.queueService.enabled to false in host.json, or "
               "add --allow-insecure-network";
      if (draft_.document_service.enabled && draft_.document_service.key.empty())
        return "the document service accepts the Cosmos DB emulator's published key, so "
               "serving it on " + options_.address + " opens its documents to the network; "
               "listen on 127.0.0.1, set nimbus.documentService.key (or enabled: false) in "
               "host.json, or add --allow-insecure-network";
    }
    log_.warn("Host.Startup",
              "listening on " + options_.address + ", not loopback: " +
                  (options_.allow_insecure_network
                       ? "--allow-insecure-network is set; traffic is plain HTTP"
                       : "traffic is plain HTTP (TLS is not served yet)"));
    return "";
  }

  // Phases 2-7, on the I/O thread.
  awaitable<void> start() {
    std::string error;
    if (!co_await start_workers(error)) co_return fail(error);
    // Logged before --functions is checked: a name it refuses may be a function that failed.
    for (const auto& e : draft_.function_errors) log_.error("Host.Startup", e);
    if (!select_functions(draft_, error)) co_return fail(error, 2);
    app_ = std::make_shared<const config::AppSpec>(std::move(draft_));
    boot_app_ = app_;
    if (!open_store(error)) co_return fail(error, 2);  // like every refusal on bad input
    if (!start_queue_service(error)) co_return fail(error);
    if (!start_document_service(error)) co_return fail(error);
    co_await create_containers(*app_);
    if (!start_moderation(error)) co_return fail(error, 2);
    bind_functions();
    if (!start_queue_trigger(error)) co_return fail(error);
    start_timer_trigger();
    if (!serve(error)) co_return fail(error);
    start_watch();
  }

  // Phase 2: worker processes (or the in-process library); native functions join the app.
  awaitable<bool> start_workers(std::string& error) {
    std::optional<json::array> native_functions;
    if (draft_.native && draft_.native->in_process) {
      in_process_ = std::make_unique<workers::InProcessInvoker>();
      native_functions = in_process_->load(draft_.native->library, error);
      log_.warn("Host.Startup",
                "native functions run inside the host (nimbus.native.inProcess): a crash in "
                "them stops the host and functionTimeout is not enforced");
    } else if (draft_.native) {
      workers::NativeWorkerPool::Options o{options_.worker_exe,       draft_.native->library,
                                           draft_.native->worker_count,
                                           draft_.native->pipeline_depth, draft_.values,
                                           draft_.root, draft_.max_request_body};
      native_pool_ = std::make_unique<workers::NativeWorkerPool>(io_, o, reaper_, metrics_, log_);
      native_functions = co_await native_pool_->start(error);
    }
    if (draft_.native && !native_functions) co_return false;
    if (native_functions) {
      std::string lib = std::filesystem::path(draft_.native->library).filename().string();
      for (const auto& f : *native_functions) {
        const auto& fo = f.as_object();
        std::string name(fo.at("name").as_string());
        std::string ferr;
        auto spec = config::parse_function(name, fo, lib + ": function \"" + name + "\"", ferr,
                                           draft_.values);
        if (!spec) {
          draft_.function_errors.push_back(ferr);
          continue;
        }
        spec->runtime = api::Runtime::native;
        bool taken = false;
        for (const auto& other : draft_.functions) taken = taken || other.name == name;
        if (taken) {
          draft_.function_errors.push_back(
              lib + ": function \"" + name + "\" is also defined by " + name +
              "/function.json; give one of them another name");
          continue;
        }
        draft_.functions.push_back(std::move(*spec));
      }
    }
    if (draft_.custom_handler) {
      workers::CustomHandlerPool::Options o{*draft_.custom_handler, draft_.values, draft_.root,
                                            draft_.max_request_body};
      handler_pool_ = std::make_unique<workers::CustomHandlerPool>(io_, o, reaper_, metrics_, log_);
      if (!co_await handler_pool_->start(error)) co_return false;
    }
    co_return true;
  }

  // Phase 2b: --functions. The others are dropped from the app before it is frozen, so no
  // trigger, route or listing sees them (as Azure's host.json "functions" list, which Core
  // Tools' --functions sets); they are named once in the log. Runs after the workers because
  // a native library reports its functions only then.
  bool select_functions(config::AppSpec& app, std::string& error) {
    // --functions overrides host.json "functions" (as in Core Tools).
    const bool from_flag = !options_.functions.empty();
    const auto& wanted = from_flag ? options_.functions : app.only_functions;
    const std::string source = from_flag ? "--functions" : "host.json: functions";
    if (wanted.empty()) return true;
    auto is = [](std::string_view a, std::string_view b) { return boost::beast::iequals(a, b); };
    std::string unknown, known, skipped;
    for (const auto& want : wanted) {
      bool found = false;
      for (const auto& fn : app.functions) found = found || is(fn.name, want);
      if (!found) unknown += (unknown.empty() ? "" : ", ") + want;
    }
    if (!unknown.empty()) {
      for (const auto& fn : app.functions) known += (known.empty() ? "" : ", ") + fn.name;
      error = source + ": no function named " + unknown + " in " + app.root +
              (known.empty() ? " (it has no functions)" : " (its functions: " + known + ")") +
              "; check the spelling or the function's definition";
      return false;
    }
    json::array skipped_names;
    std::erase_if(app.functions, [&](const api::FunctionSpec& fn) {
      for (const auto& want : wanted)
        if (is(fn.name, want)) return false;
      skipped += (skipped.empty() ? "" : ", ") + fn.name;
      skipped_names.emplace_back(fn.name);
      return true;
    });
    if (!skipped.empty())
      log_.info("Host.Startup", source + ": not running " + skipped,
                {{"skipped", std::move(skipped_names)}});
    return true;
  }

  static bool needs_store(const api::FunctionSpec& fn) {
    return fn.queue() || fn.documents() || !fn.inputs.empty() || fn.has_store_outputs() ||
           fn.orchestrator() || fn.activity() ||
           (fn.timer() && fn.timer()->use_monitor && !fn.disabled);
  }

  // Phase 3: one database, one writer, every table set: the queue service, queue triggers and
  // output bindings all commit through it.
  bool open_store(std::string& error) {
    bool wanted = app_->queue_service.enabled || app_->document_service.enabled;
    for (const auto& fn : app_->functions) wanted = wanted || needs_store(fn);
    if (!wanted) return true;
    storage::SqliteEngine::Options so;
    so.path = (std::filesystem::path(data_dir_) / "nimbus.db").string();
    so.sync = app_->synchronous_full ? storage::SqliteEngine::Sync::full
                                     : storage::SqliteEngine::Sync::normal;
    engine_ = storage::SqliteEngine::open(so, error);
    if (!engine_) return false;
    queue_store_ = std::make_unique<storage::SqliteQueueStore>(*engine_);
    async_store_ = std::make_unique<queue::AsyncQueueStore>(*queue_store_, io_.get_executor());
    // The queue REST service's clients get the patient commit window; the triggers, admin
    // and bindings use the store above.
    service_queue_store_ = std::make_unique<storage::SqliteQueueStore>(
        *engine_, storage::SqliteQueueStore::Callers::api_clients);
    service_async_store_ =
        std::make_unique<queue::AsyncQueueStore>(*service_queue_store_, io_.get_executor());
    effects_ = std::make_unique<runtime::EffectsCommitter>(*engine_, io_.get_executor());
    doc_store_ = std::make_unique<storage::SqliteDocumentStore>(*engine_);
    async_docs_ = std::make_unique<documents::AsyncDocumentStore>(*doc_store_, io_.get_executor());
    // The Cosmos DB endpoint's clients get the patient commit window, as the queue service's.
    service_doc_store_ = std::make_unique<storage::SqliteDocumentStore>(
        *engine_, storage::SqliteDocumentStore::Callers::api_clients);
    service_async_docs_ =
        std::make_unique<documents::AsyncDocumentStore>(*service_doc_store_, io_.get_executor());
    return true;
  }

  // Phase 4b: the Cosmos DB NoSQL endpoint over the document store (same engine).
  bool start_document_service(std::string& error) {
    if (!app_->document_service.enabled) return true;
    documents::CosmosService::Options o;
    if (std::string key = setting(*app_, app_->document_service.key); !key.empty()) {
      auto keys = documents::MasterKeys::parse({key}, error);
      if (!keys) {
        error = "host.json: nimbus.documentService.key: " + error;
        return false;
      }
      o.keys = std::move(*keys);
    }
    o.auth = !options_.no_auth;
    doc_service_ =
        std::make_unique<documents::CosmosService>(*service_async_docs_, std::move(o), log_);
    int port = options_.docs_port >= 0 ? options_.docs_port : app_->document_service.port;
    http::HttpServer::Options so{options_.address, static_cast<uint16_t>(port),
                                 documents::CosmosService::kMaxHttpBody,
                                 app_->max_request_headers};
    so.limits = limits_;
    // HTTPS on the same port, as the emulator's clients expect.
    if (!use_tls_certificate(so, "document service", error)) return false;
    doc_server_ = std::make_unique<http::HttpServer>(
        io_, so, [this](api::HttpRequestData& r) { return doc_service_->handle(r); }, log_,
        [this](api::HttpRequestData& r) { return doc_service_->admit(r); });
    if (!doc_server_->listen(error)) {
      bool tls_error = error.rfind("TLS ", 0) == 0;  // listen() names certificate errors so
      error = "document service: " + error +
              (tls_error ? " (host.json nimbus.documentService.certificate / certificateKey)"
                         : " (or --docs-port, or set nimbus.documentService.enabled to false in "
                           "host.json)");
      return false;
    }
    doc_server_->start();
    std::string hostport = options_.address + ":" + std::to_string(doc_server_->port());
    log_.notice("Host.Startup",
                "Document service (Cosmos DB NoSQL API) listening on http://" + hostport +
                    "/ and https://" + hostport + "/",
                {{"docsPort", doc_server_->port()}, {"certificate", so.tls_certificate_file}});
    log_.notice("Host.Startup",
                "TLS certificate of the document and queue ports (" + tls_origin_ + "): " +
                    so.tls_certificate_file + "; https clients trust it with NODE_EXTRA_CA_CERTS=" +
                    so.tls_certificate_file + " (Node), curl --cacert " +
                    so.tls_certificate_file + ", or use http:// on the same port");
    return true;
  }

  // The certificate the document and queue ports serve HTTPS with (plain HTTP stays on the
  // same ports): host.json's nimbus.documentService.certificate/certificateKey, or one
  // generated (self-signed for localhost, 127.0.0.1 and ::1) into the data directory, resolved
  // once for both.
  bool use_tls_certificate(http::HttpServer::Options& so, const char* service, std::string& error) {
    if (tls_cert_.empty()) {
      tls_origin_ = "host.json nimbus.documentService.certificate";
      tls_cert_ = app_->document_service.certificate;
      tls_key_ = app_->document_service.certificate_key;
      if (tls_cert_.empty()) {
        auto made = security::ensure_self_signed(data_dir_, error);
        if (!made) {
          error = std::string(service) + ": " + error +
                  " (or set nimbus.documentService.certificate and certificateKey in host.json)";
          return false;
        }
        tls_cert_ = made->files.certificate;
        tls_key_ = made->files.key;
        tls_origin_ = "self-signed, in the data directory";
        if (made->generated)  // a replacement is a warning: clients must trust the new file
          log_.log(made->replaced ? LogLevel::warning : LogLevel::information, "Host.Startup",
                   made->replaced ? "replaced the host's self-signed TLS certificate (" +
                                        made->why + "); clients must trust the new file"
                                  : std::string("generated a self-signed TLS certificate"),
                   {{"certificate", tls_cert_}, {"notAfter", made->not_after}});
      }
    }
    so.tls_certificate_file = tls_cert_;
    so.tls_key_file = tls_key_;
    return true;
  }

  // Phase 4c: containers that cosmosDB output bindings ask for (createIfNotExists), made
  // before any function runs. A failure is logged; the binding's writes then fail naming it.
  awaitable<void> create_containers(const config::AppSpec& app) {
    if (!async_docs_) co_return;
    auto& store = async_docs_->store();
    for (const auto& fn : app.functions)
      for (const auto& o : fn.outputs) {
        const auto* d = std::get_if<api::DocumentOutputSpec>(&o.spec);
        if (!d || !d->create_if_not_exists || fn.disabled) continue;
        co_await async_docs_->call<api::DatabaseInfo>(
            [&](auto cb) { store.create_database(d->database, std::nullopt, std::move(cb)); });
        api::ContainerSpec spec;
        spec.id = d->container;
        spec.partition_key_paths = {d->partition_key_path};
        auto r = co_await async_docs_->call<api::ContainerInfo>(
            [&](auto cb) { store.create_container(d->database, spec, std::move(cb)); });
        if (r)
          log_.info("Host.Startup", "created container for a cosmosDB output binding",
                    {{"function", fn.name}, {"database", d->database},
                     {"container", d->container}, {"partitionKey", d->partition_key_path}});
        else if (r.error().code != api::DocErrc::conflict)
          log_.error("Host.Startup", "cannot create container " + d->database + "/" +
                                         d->container + ": " + r.error().message,
                     {{"function", fn.name}});
      }
  }

  // Phase 4: the Azure-Queue-compatible REST service.
  bool start_queue_service(std::string& error) {
    if (!app_->queue_service.enabled) return true;
    // devstoreaccount1 always (triggers and bindings use it), plus configured accounts.
    queue::AccountSet accounts = queue::AccountSet::development();
    if (std::string spec = setting(*app_, app_->queue_service.accounts); !spec.empty()) {
      auto extra = queue::AccountSet::parse(spec, error);
      if (!extra) {
        error = "host.json: nimbus.queueService.accounts: " + error;
        return false;
      }
      for (const auto& a : extra->accounts())
        if (!accounts.find(a.name)) accounts.add(a);
    }
    queue_service_ =
        std::make_unique<queue::QueueService>(*service_async_store_, std::move(accounts), log_);
    int port = options_.queue_port >= 0 ? options_.queue_port : app_->queue_service.port;
    http::HttpServer::Options qo{options_.address, static_cast<uint16_t>(port),
                                 queue::QueueService::kMaxRequestBody, app_->max_request_headers};
    qo.limits = limits_;
    // HTTPS on the same port too (the SDKs' DefaultEndpointsProtocol=https, and what bearer
    // tokens will need), with the host's one certificate.
    if (!use_tls_certificate(qo, "queue service", error)) return false;
    queue_server_ = std::make_unique<http::HttpServer>(
        io_, qo, [this](api::HttpRequestData& req) { return queue_service_->handle(req); }, log_);
    if (!queue_server_->listen(error)) {
      error = "queue service: " + error +
              " (or --queue-port, or set nimbus.queueService.enabled to false in host.json)";
      return false;
    }
    queue_server_->start();
    log_.notice("Host.Startup",
                "Queue service listening on http://" + options_.address + ":" +
                    std::to_string(queue_server_->port()) + "/" + kTriggerAccount +
                    " and https://" + options_.address + ":" +
                    std::to_string(queue_server_->port()) + "/" + kTriggerAccount,
                {{"queuePort", queue_server_->port()}});
    return true;
  }

  // What every trigger's output bindings write with: the trigger account, the message
  // encoding, and the app's orchestrators (for ctx.start_new).
  bindings::OutputOptions output_options() const {
    bindings::OutputOptions o{kTriggerAccount, app_->queues.base64, {}};
    if (engine_)
      o.orchestrator_exists = [app = app_](std::string_view name) {
        for (const auto& f : app->functions)
          if (f.name == name && f.orchestrator() && !f.disabled) return true;
        return false;
      };
    return o;
  }

  // Phase 4b: the app's one moderator, made only when an enabled function has a moderation
  // input (a moderator with no user costs nothing, but its settings could still refuse a start).
  // Settings come from local.settings.json Values, then the environment, as for host.json
  // "%Setting%" values. GEMINI_API_KEY absent: the local rules answer.
  bool start_moderation(std::string& error) {
    bool wanted = false;
    for (const auto& fn : app_->functions)
      for (const auto& in : fn.inputs)
        wanted = wanted || (!fn.disabled && std::holds_alternative<api::ModerationInputSpec>(in.spec));
    if (!wanted) return true;
    auto lookup = [app = app_](std::string_view name) -> std::optional<std::string> {
      if (auto it = app->values.find(std::string(name)); it != app->values.end()) return it->second;
      if (const char* env = std::getenv(std::string(name).c_str())) return std::string(env);
      return std::nullopt;
    };
    std::string why;
    auto settings = ai::settings_from_app(lookup, &why);
    if (!settings) {
      error = "moderation input bindings: app setting " + why +
              " (local.settings.json Values or the environment)";
      return false;
    }
    const auto& mo = app_->moderation;
    if (mo.attempt_timeout.count()) settings->retry.attempt_timeout = mo.attempt_timeout;
    if (mo.total_budget.count()) settings->retry.total_budget = mo.total_budget;
    if (mo.max_attempts) settings->retry.max_attempts = mo.max_attempts;
    if (mo.breaker_failures) settings->breaker.failure_threshold = mo.breaker_failures;
    if (mo.breaker_open_for.count()) settings->breaker.open_for = mo.breaker_open_for;
    // A budget shorter than one default attempt shortens the attempt too.
    settings->retry.attempt_timeout = std::min(settings->retry.attempt_timeout,
                                               settings->retry.total_budget);
    std::string provider = settings->gemini ? "gemini" : "local-rules";
    json::object fields{{"provider", provider}};
    if (settings->gemini) {
      fields["endpoint"] = settings->gemini->endpoint;  // never the key
      fields["model"] = settings->gemini->model;
    }
    log_.info("Host.Moderation",
              settings->gemini ? "moderation inputs use Gemini"
                               : "moderation inputs use the local rules (GEMINI_API_KEY is not set)",
              std::move(fields));
    moderation_ = std::make_unique<ModerationInputs>(ai::make_moderator(io_, *settings),
                                                     std::move(provider), log_);
    return true;
  }

  // Phase 5: every enabled function to its invoker; the router and the HTTP trigger.
  void bind_functions() {
    dispatcher_ = std::make_unique<runtime::Dispatcher>(
        runtime::Dispatcher::Options{app_->function_timeout, app_->max_concurrent_requests},
        metrics_, log_);
    bind_invokers(*app_);
    if (async_docs_) doc_inputs_ = std::make_unique<triggers::DocumentInputs>(*async_docs_);
    dispatcher_->set_input_loader([this](api::Invocation& inv) -> awaitable<std::string> {
      inv.inputs.clear();
      inv.input_from_request_missing = false;
      if (doc_inputs_)
        if (auto e = co_await doc_inputs_->load(inv); !e.empty()) co_return e;
      if (moderation_)
        if (auto e = co_await moderation_->load(inv); !e.empty()) co_return e;
      for (const auto& in : inv.function->inputs) {
        const auto* d = std::get_if<api::DurableClientInputSpec>(&in.spec);
        if (!d) continue;
        std::string base = inv.http() && !inv.http()->host.empty()
                               ? "http://" + inv.http()->host
                               : "http://127.0.0.1:" + std::to_string(server_ ? server_->port() : 0);
        inv.inputs.push_back({in.name, durable::ManagementApi::client_payload(
                                           base, keys_ ? keys_->master_key() : "",
                                           d->task_hub.empty() ? app_->durable.hub_name : d->task_hub)});
      }
      co_return "";
    });
    serving_ = make_serving(app_);
  }

  // Every enabled function of `app` to the worker pool that runs its kind. The dispatcher's
  // map only grows: a name --watch removed stays bound to the same shared pool, harmless
  // (nothing routes to it) and safe for an invocation of it still in flight.
  void bind_invokers(const config::AppSpec& app) {
    for (const auto& fn : app.functions) {
      if (fn.disabled) continue;
      api::Invoker* inv = fn.runtime == api::Runtime::custom_handler
                              ? static_cast<api::Invoker*>(handler_pool_.get())
                          : in_process_ ? static_cast<api::Invoker*>(in_process_.get())
                                        : static_cast<api::Invoker*>(native_pool_.get());
      dispatcher_->bind(fn.name, inv);
    }
  }

  std::shared_ptr<const Serving> make_serving(std::shared_ptr<const config::AppSpec> app) {
    return std::make_shared<Serving>(std::move(app), keys_ ? &*keys_ : nullptr, *dispatcher_,
                                     effects_.get(), output_options(), log_);
  }

  // Phase 6: pushed queue triggers, woken by the store's commit notices.
  bool start_queue_trigger(std::string& error) {
    if (!async_store_) return true;
    if (error = triggers::QueueTrigger::check(*app_); !error.empty()) return false;
    if (error = triggers::ChangeFeedTrigger::check(*app_); !error.empty()) return false;
    queue_trigger_ = std::make_unique<triggers::QueueTrigger>(
        io_, *async_store_, *effects_, *dispatcher_, *app_, kTriggerAccount, metrics_, log_);
    queue_trigger_->set_output_options(output_options());
    change_feed_trigger_ = std::make_unique<triggers::ChangeFeedTrigger>(
        io_, *async_docs_, *effects_, *dispatcher_, *app_,
        output_options(), metrics_, log_);
    durable_store_ = std::make_unique<storage::SqliteDurableStore>(*engine_);
    durable_ = std::make_unique<durable::Engine>(io_, *durable_store_, *effects_, *dispatcher_,
                                                 *app_, output_options(), metrics_, log_);
    durable_api_ = std::make_unique<durable::ManagementApi>(*durable_, keys_ ? &*keys_ : nullptr,
                                                            app_->durable.hub_name);
    effects_->set_notice_listener([this](api::CommitNotice&& n) {
      queue_trigger_->notify(n);
      change_feed_trigger_->notify(n);
      durable_->notify(std::move(n));  // last: it takes the notice's texts
    });
    durable_->start();
    queue_trigger_->start();
    change_feed_trigger_->start();
    return true;
  }

  // Phase 6b: one timer per timerTrigger function; the schedule status lives in the store
  // when one is open (useMonitor needs it, so open_store opens one for such functions).
  void start_timer_trigger() {
    bool any = false;
    for (const auto& fn : app_->functions) any = any || (fn.timer() && !fn.disabled);
    if (!any) return;
    if (engine_) timer_store_ = std::make_unique<storage::SqliteTimerStore>(*engine_);
    timer_trigger_ = std::make_unique<triggers::TimerTrigger>(
        io_, timer_store_.get(), effects_.get(), *dispatcher_, *app_, output_options(), log_);
    timer_trigger_->start();
  }

  // A request the function port answered without running a function: counted by status and
  // logged (method, path, status, the error code of the answer), so refusals are visible.
  void refused(const api::HttpResponseData& r, const api::HttpRequestData* req) {
    if (r.status < 400) return;  // a CORS preflight answered at admission is no refusal
    metrics_.http_refused(r.status);
    if (!log_.enabled(LogLevel::information)) return;
    json::object fields{{"status", r.status}};
    if (req) {
      fields["method"] = req->method;
      fields["path"] = req->path;
    }
    boost::system::error_code ec;
    json::value body = json::parse(r.body, ec);
    if (!ec && body.is_object())
      if (auto* e = body.as_object().if_contains("error"); e && e->is_object())
        if (auto* code = e->as_object().if_contains("code")) fields["code"] = *code;
    log_.info("Host.Http", "request refused", std::move(fields));
  }

  // Phase 7: the function port (functions and the admin route table).
  bool serve(std::string& error) {
    admin_ = std::make_unique<AdminRoutes>(AdminRoutes::Context{
        app_, keys_ ? &*keys_ : nullptr, metrics_, async_store_.get(), queue_trigger_.get(),
        change_feed_trigger_.get(), doc_service_.get(), async_docs_.get(), kTriggerAccount,
        started_, timer_trigger_.get(), moderation_.get()});
    int port = options_.port >= 0            ? options_.port
               : app_->local_http_port != 0 ? app_->local_http_port
                                            : 7071;
    http::HttpServer::Options so{options_.address, static_cast<uint16_t>(port),
                                 app_->max_request_body, app_->max_request_headers};
    so.limits = limits_;
    so.on_refused = [this](const api::HttpResponseData& r, const api::HttpRequestData* req) {
      refused(r, req);
    };
    server_ = std::make_unique<http::HttpServer>(
        io_, so,
        [this](api::HttpRequestData& req) -> awaitable<api::HttpResponseData> {
          if (AdminRoutes::owns(req.path)) co_return co_await admin_->handle(req);
          if (durable_api_ && durable::ManagementApi::owns(req.path))
            co_return co_await durable_api_->handle(req);
          // The version of the app that admitted the request (or the running one), held until
          // it is answered: --watch may swap in another meanwhile.
          std::shared_ptr<const Serving> serving =
              req.function ? std::static_pointer_cast<const Serving>(req.function_owner) : serving_;
          if (!serving) serving = serving_;
          api::HttpResponseData res = co_await serving->http.handle(req);
          if (cors_) cors_->decorate(req, res);
          if (res.status == 429) refused(res, &req);  // throttled before it ran
          co_return res;
        },
        log_,
        // Refusals that need only the headers, so no body is read for them; CORS preflights
        // are answered here too, before routing (a route need not allow OPTIONS).
        [this](api::HttpRequestData& req) -> std::optional<api::HttpResponseData> {
          if (AdminRoutes::owns(req.path)) return admin_->admit(req);
          if (durable_api_ && durable::ManagementApi::owns(req.path)) return durable_api_->admit(req);
          if (cors_)
            if (auto pre = cors_->preflight(req)) return pre;
          auto refused = serving_->http.admit(req);
          if (!refused) req.function_owner = serving_;
          if (refused && cors_) cors_->decorate(req, *refused);
          return refused;
        });
    if (!server_->listen(error)) return false;
    server_->start();
    uint16_t bound = server_->port();
    log_functions(bound);
    for (const auto& fn : app_->functions) log_function_ready(fn);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - started_)
                  .count();
    log_.notice("Host.Startup",
                "Nimbus listening on http://" + options_.address + ":" + std::to_string(bound),
                {{"port", bound},
                 {"functions", app_->functions.size()},
                 {"startupUs", us},
                 {"dataDir", data_dir_},
                 {"auth", !options_.no_auth},
                 {"allocator", allocator_name()}});
    return true;
  }

  // One record per function: its trigger and where it is reached (at start, and for each
  // function --watch adds or changes).
  void log_function_ready(const api::FunctionSpec& fn) {
    if (fn.disabled) return;
    uint16_t bound = server_->port();
    json::object fields{{"function", fn.name}, {"trigger", api::trigger_kind_name(fn.trigger_kind())}};
    if (const auto* h = fn.http()) {
      fields["methods"] = h->methods.empty() ? json::value("ALL") : json::value_from(h->methods);
      fields["authLevel"] = api::auth_level_name(h->auth);
      fields["url"] = route_url(*app_, fn, options_.address, bound);
    } else if (const auto* q = fn.queue()) {
      fields["queue"] = q->queue;
    } else if (const auto* d = fn.documents()) {
      fields["database"] = d->database;
      fields["container"] = d->container;
    } else if (const auto* t = fn.timer()) {
      fields["schedule"] = t->schedule.text();
      fields["runOnStartup"] = t->run_on_startup;
      fields["useMonitor"] = t->use_monitor;
    } else if (fn.orchestrator()) {
      fields["start"] = "POST http://" + options_.address + ":" + std::to_string(bound) +
                        std::string(durable::kWebhookBase) + "/orchestrators/" + fn.name;
    }
    log_.info("Host.Startup", "function ready", std::move(fields));
  }

  // The function list as Core Tools prints it at start (the text console renders it as an
  // indented list): each function's name and its URL or trigger source.
  void log_functions(uint16_t port) {
    json::array list;
    for (const auto& fn : app_->functions) {
      if (fn.disabled) continue;
      std::string detail;
      if (const auto* h = fn.http()) {
        std::string methods;
        for (const auto& m : h->methods) methods += (methods.empty() ? "" : ",") + m;
        detail = (methods.empty() ? "ALL" : methods) + " " +
                 route_url(*app_, fn, options_.address, port);
      } else if (const auto* q = fn.queue()) {
        detail = "queueTrigger: " + q->queue;
      } else if (const auto* d = fn.documents()) {
        detail = "cosmosDBTrigger: " + d->database + "/" + d->container;
      } else if (const auto* t = fn.timer()) {
        detail = "timerTrigger: " + t->schedule.text();
      } else if (fn.orchestrator()) {
        detail = "orchestrationTrigger";
      } else if (fn.activity()) {
        detail = "activityTrigger";
      } else {
        detail = api::trigger_kind_name(fn.trigger_kind());
      }
      list.push_back(json::object{{"name", fn.name}, {"detail", std::move(detail)}});
    }
    log_.notice("Host.Startup", "Functions:", {{"functions", std::move(list)}});
  }

  // --watch (phase 8): saved changes to the app folder, sorted by what they affect.
  void start_watch() {
    if (!options_.watch) return;
    AppWatcher::Options o;
    o.root = app_->root;
    o.library = app_->native ? app_->native->library : "";
    o.handler_files = app_->custom_handler.has_value();
    o.data_dir = data_dir_;
    watcher_ = std::make_unique<AppWatcher>(io_, o, log_);
    watcher_->start([this](AppChanges c) { return reload(std::move(c)); });
    log_.info("Host.Reload",
              "--watch: reloading on saved changes to " + app_->root +
                  (app_->custom_handler ? " (the custom handler's files restart its processes)"
                   : app_->native       ? " (" + app_->native->library +
                                        " restarts the native workers)"
                                        : ""));
  }

  // A valid change of the app spec, worked out before anything runs: the next version of the
  // app, what it starts and stops, and what it keeps from the running one because only a
  // restart of `nimbus start` can change it.
  struct SpecChange {
    std::shared_ptr<config::AppSpec> app;
    std::vector<std::string> added, removed, changed;
    std::vector<std::string> start_listening;  // queue functions of `app`, by name
    std::vector<std::string> stop_listening;   // the running versions of these functions
    std::vector<std::string> restart_needed;             // "<what>: <why>", the old one kept
    bool settings_changed = false;                       // local.settings.json Values
  };

  // Loads host.json, every function.json and local.settings.json again and checks the result
  // as a start would (plus --functions and the queue trigger's checks). An error is logged,
  // naming the file and the fix, and nothing is returned: the running app keeps serving.
  std::optional<SpecChange> plan_spec_change(const AppChanges& c) {
    std::string files;
    for (const auto& f : c.spec) files += (files.empty() ? "" : ", ") + f;
    auto loaded = config::load_app(options_.app_dir);
    std::vector<std::string> errors;
    if (!loaded.app) errors.push_back(loaded.fatal);
    else errors = loaded.app->function_errors;
    if (loaded.app)
      for (const auto& w : loaded.app->warnings) log_.warn("Host.Reload", w);
    SpecChange plan;
    if (errors.empty()) {
      plan.app = std::make_shared<config::AppSpec>(std::move(*loaded.app));
      auto& next = *plan.app;
      // A native library's functions are in no file: they are carried over (the library's
      // own changes are reloaded on its own, below).
      for (const auto& fn : app_->functions) {
        if (fn.runtime != api::Runtime::native) continue;
        bool taken = false;
        for (const auto& other : next.functions) taken = taken || other.name == fn.name;
        if (taken)
          errors.push_back(fn.name + "/function.json: function \"" + fn.name +
                           "\" is also defined by the native library; give one of them "
                           "another name");
        else
          next.functions.push_back(fn);
      }
      std::string error;
      if (!select_functions(next, error)) errors.push_back(error);
      else if (error = triggers::QueueTrigger::check(next); !error.empty()) errors.push_back(error);
    }
    for (const auto& e : errors)
      log_.error("Host.Reload",
                 "reload failed: " + e + ". Still serving the app as it was before " + files +
                     " changed; fix the file and save it again",
                 {{"changed", json::value_from(c.spec)}});
    if (!errors.empty()) return std::nullopt;
    keep_fixed_settings(plan);
    diff_functions(plan);
    return plan;
  }

  // Host-wide settings that need a restart (ports, limits, storage, worker set-up, trigger
  // options the running triggers were built with) keep their running values, each named.
  void keep_fixed_settings(SpecChange& plan) {
    auto& next = *plan.app;
    const auto& was = *app_;
    auto keep = [&](const char* what, auto& now, const auto& old) {
      if (now == old) return;
      now = old;
      plan.restart_needed.push_back(std::string(what) + ": it is read once, at start");
    };
    keep("host.json customHandler", next.custom_handler, was.custom_handler);
    keep("host.json nimbus.native", next.native, was.native);
    keep("host.json functionTimeout", next.function_timeout, was.function_timeout);
    keep("host.json nimbus.http maxRequestBodySize", next.max_request_body, was.max_request_body);
    keep("host.json nimbus.http maxRequestHeaderSize", next.max_request_headers,
         was.max_request_headers);
    keep("host.json nimbus.http maxConnections", next.max_connections, was.max_connections);
    keep("host.json nimbus.http maxBufferedRequestBytes", next.max_buffered_request_bytes,
         was.max_buffered_request_bytes);
    keep("host.json extensions.http.maxConcurrentRequests", next.max_concurrent_requests,
         was.max_concurrent_requests);
    keep("host.json extensions.queues", next.queues, was.queues);
    keep("host.json extensions.durableTask / nimbus.durable", next.durable, was.durable);
    keep("host.json nimbus.queueService (the queue port and accounts)", next.queue_service,
         was.queue_service);
    keep("host.json nimbus.documentService (the document port, key and certificate)",
         next.document_service, was.document_service);
    keep("host.json nimbus.moderation", next.moderation, was.moderation);
    keep("host.json retry", next.retry, was.retry);
    keep("host.json nimbus.storage (the storage backend)", next.synchronous_full,
         was.synchronous_full);
    keep("local.settings.json Host.LocalHttpPort (the function port)", next.local_http_port,
         was.local_http_port);
    keep("local.settings.json Host.CORS", next.cors, was.cors);
    keep("local.settings.json Host.CORSCredentials", next.cors_credentials, was.cors_credentials);
    plan.settings_changed = next.values != was.values;
    if (plan.settings_changed && in_process_) {
      next.values = was.values;
      plan.settings_changed = false;
      plan.restart_needed.push_back(
          "local.settings.json Values: nimbus.native.inProcess runs the functions inside the "
          "host, whose environment is set at start");
    }
  }

  // Function by function: HTTP and queue functions are applied live (a new router; queue
  // listeners started and stopped). Change-feed, timer and durable functions run on triggers
  // built once at start: a change to one keeps it as it runs now, with "restart needed".
  void diff_functions(SpecChange& plan) {
    auto& next = *plan.app;
    auto find = [](const config::AppSpec& app, const std::string& name) -> const api::FunctionSpec* {
      for (const auto& fn : app.functions)
        if (fn.name == name) return &fn;
      return nullptr;
    };
    auto running = [](const api::FunctionSpec* fn) { return fn && !fn->disabled; };
    std::set<std::string> names;
    for (const config::AppSpec* app : {app_.get(), static_cast<const config::AppSpec*>(&next)})
      for (const auto& fn : app->functions) names.insert(fn.name);
    for (const auto& name : names) {
      const auto* was = find(*app_, name);
      const auto* now = find(next, name);
      if (was && now && *was == *now) continue;
      std::string why;
      for (const auto* fn : {was, now}) {
        if (!running(fn) || fn->http() || fn->queue()) continue;
        why = std::string(api::trigger_kind_name(fn->trigger_kind())) +
              "-triggered functions are started once, at start";
      }
      if (running(now) && why.empty()) {
        if ((now->queue() || needs_store(*now)) && !engine_)
          why = "it needs the store, which this host did not open at start";
        for (const auto& in : now->inputs)
          if (std::holds_alternative<api::ModerationInputSpec>(in.spec) && !moderation_)
            why = "its moderation input needs the moderator, made only at start";
      }
      if (!why.empty()) {
        plan.restart_needed.push_back("function \"" + name + "\": " + why);
        std::erase_if(next.functions, [&](const api::FunctionSpec& fn) { return fn.name == name; });
        if (was) next.functions.push_back(*was);
        continue;
      }
      (!was ? plan.added : !now ? plan.removed : plan.changed).push_back(name);
      if (running(was) && was->queue()) plan.stop_listening.push_back(name);
      if (running(now) && now->queue()) plan.start_listening.push_back(name);
    }
  }

  // Applies a planned change: what the new version needs starts first (containers, worker
  // bindings, queue listeners), then it takes new requests; requests and messages already
  // running finish on the version they started on, and the listeners it no longer has stop.
  awaitable<void> apply_spec_change(SpecChange plan) {
    std::shared_ptr<const config::AppSpec> next = plan.app;
    co_await create_containers(*next);
    bind_invokers(*next);
    auto find = [&](const std::string& name) -> const api::FunctionSpec* {
      for (const auto& fn : next->functions)
        if (fn.name == name) return &fn;
      return nullptr;
    };
    if (queue_trigger_)
      for (const auto& name : plan.start_listening) queue_trigger_->start_function(*find(name), next);
    serving_ = make_serving(next);
    app_ = next;
    admin_->set_app(next);
    log_.set_level(next->log_level);
    // By name: an unchanged function's listener runs the copy of an earlier version.
    if (queue_trigger_)
      for (const auto& name : plan.stop_listening) {
        bool restarted = std::count(plan.start_listening.begin(), plan.start_listening.end(), name);
        queue_trigger_->stop_function(name, restarted ? find(name) : nullptr);
      }
    for (const auto& fn : next->functions)
      for (const auto* list : {&plan.added, &plan.changed})
        if (std::find(list->begin(), list->end(), fn.name) != list->end()) log_function_ready(fn);
  }

  // What a change restarts or applies. The app spec (host.json, function.json,
  // local.settings.json) is loaded and checked in full first; an invalid one is logged and
  // the running app keeps serving. Then worker processes: a custom handler's files (or
  // changed settings) restart its processes, the native library the native workers, new
  // processes first and the old ones once idle. Then a valid spec change is applied
  // (apply_spec_change), so new routes reach the new code.
  awaitable<void> reload(AppChanges c) {
    if (draining_) co_return;
    auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
          .count();
    };
    json::array changed;
    for (const auto* list : {&c.spec, &c.library, &c.handler})
      for (const auto& f : *list) changed.emplace_back(f);
    std::optional<SpecChange> plan;
    if (!c.spec.empty()) plan = plan_spec_change(c);
    bool settings = plan && plan->settings_changed;
    if (settings) {
      if (handler_pool_) handler_pool_->set_env(plan->app->values);
      if (native_pool_) native_pool_->set_env(plan->app->values);
    }
    std::string restarted, error;
    if ((!c.library.empty() || (settings && native_pool_)) && in_process_) {
      log_.warn("Host.Reload",
                "restart needed for " + c.describe() + ": nimbus.native.inProcess loaded it "
                "into the host; stop and start nimbus to load the new build",
                {{"changed", json::value_from(c.library)}, {"restartNeeded", true}});
    } else if (!c.library.empty() || (settings && native_pool_)) {
      if (native_pool_) {
        auto functions = co_await native_pool_->reload(error);
        if (!functions) {
          log_.error("Host.Reload",
                     "reload failed: " + error + "; the previous workers keep serving. Fix the "
                     "library and build it again",
                     {{"changed", json::value_from(c.library)}});
        } else {
          restarted = "native workers";
          std::set<std::string> now, before;
          for (const auto& f : *functions)
            if (const auto* o = f.if_object())
              if (const auto* name = o->if_contains("name"); name && name->is_string())
                now.insert(std::string(name->get_string()));
          for (const auto& fn : app_->functions)
            if (fn.runtime == api::Runtime::native) before.insert(fn.name);
          if (now != before)
            log_.warn("Host.Reload",
                      "restart needed for the native library's functions: the new library "
                      "declares a different set of functions, and the running host keeps the "
                      "ones it started with; stop and start nimbus to apply them",
                      {{"restartNeeded", true}});
        }
      }
    }
    if ((!c.handler.empty() || settings) && handler_pool_) {
      if (co_await handler_pool_->reload(error)) {
        restarted += std::string(restarted.empty() ? "" : " and ") + "custom handler processes";
      } else {
        log_.error("Host.Reload",
                   "reload failed: " + error + "; the previous handler processes keep serving "
                   "where no new one started. Fix the handler and save it again",
                   {{"changed", json::value_from(changed)}});
      }
    }
    json::object fields{{"changed", std::move(changed)}};
    std::string applied;
    if (plan) {
      for (const auto& r : plan->restart_needed)
        log_.warn("Host.Reload",
                  "restart needed for " + r + "; the running host keeps it as it was (stop and "
                  "start nimbus to apply it)",
                  {{"restartNeeded", true}});
      auto names = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& n : v) out += (out.empty() ? "" : ", ") + n;
        return out;
      };
      using Names = std::pair<const char*, const std::vector<std::string>*>;
      for (auto [what, list] : {Names{"added", &plan->added}, Names{"removed", &plan->removed},
                                Names{"changed", &plan->changed}}) {
        if (list->empty()) continue;
        applied += std::string(applied.empty() ? "" : "; ") + what + " " + names(*list);
        fields[what] = json::value_from(*list);
      }
      if (plan->settings_changed) applied += std::string(applied.empty() ? "" : "; ") + "settings";
      if (applied.empty() && plan->restart_needed.empty())
        log_.info("Host.Reload", c.describe() + " changed; nothing to apply (the app is the same)");
      co_await apply_spec_change(std::move(*plan));
    }
    if (restarted.empty() && applied.empty()) co_return;
    if (!restarted.empty()) fields["restarted"] = restarted;
    fields["durationMs"] = ms();
    log_.info("Host.Reload",
              "reloaded: " + c.describe() + " changed; " +
                  (applied.empty() ? "" : "applied " + applied) +
                  (!applied.empty() && !restarted.empty() ? "; " : "") +
                  (restarted.empty() ? "" : "restarted the " + restarted) + " in " +
                  std::to_string(ms()) + " ms",
              std::move(fields));
  }

  // SIGINT/SIGTERM: stop taking work, let what was accepted finish (bounded), then stop. A
  // second signal stops at once. Queue messages still running when the drain gives up are not
  // lost: they reappear when their lease ends.
  void on_signal(const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (draining_) {
      log_.warn("Host.Shutdown", "second signal: stopping now", {{"signal", sig}});
      io_.stop();
      return;
    }
    draining_ = true;
    log_.info("Host.Shutdown", "draining", {{"signal", sig}});
    if (watcher_) watcher_->stop();
    if (server_) server_->stop();
    if (queue_server_) queue_server_->stop();
    if (doc_server_) doc_server_->stop();
    if (queue_trigger_) queue_trigger_->stop();
    if (change_feed_trigger_) change_feed_trigger_->stop();
    if (timer_trigger_) timer_trigger_->stop();
    if (durable_) durable_->stop();
    stop_signals_.async_wait([this](auto ec, int sig) { on_signal(ec, sig); });
    asio::co_spawn(io_, drain(), log_if_thrown(log_, "Host.Shutdown", "drain failed"));
  }

  awaitable<void> drain() {
    auto give_up = std::chrono::steady_clock::now() + kDrainTimeout;
    asio::steady_timer tick(io_);
    auto busy = [&] {
      return (dispatcher_ && dispatcher_->in_flight() > 0) ||
             (queue_trigger_ && queue_trigger_->in_flight() > 0) ||
             (change_feed_trigger_ && change_feed_trigger_->in_flight() > 0) ||
             (timer_trigger_ && timer_trigger_->in_flight() > 0) ||
             (durable_ && durable_->in_flight() > 0) ||
             (moderation_ && moderation_->in_flight() > 0) ||
             (server_ && server_->busy() > 0) || (queue_server_ && queue_server_->busy() > 0) ||
             (doc_server_ && doc_server_->busy() > 0);
    };
    while (busy() && std::chrono::steady_clock::now() < give_up) {
      tick.expires_after(std::chrono::milliseconds(10));
      co_await tick.async_wait(asio::use_awaitable);
    }
    log_.info("Host.Shutdown", busy() ? "drain timed out; stopping" : "drained; stopping");
    io_.stop();
  }

  // After the loop: workers stopped; the store finishes what was submitted (acknowledged work
  // is already durable) before the objects its completions would touch go away.
  void shutdown() {
    if (native_pool_) native_pool_->stop();
    if (handler_pool_) handler_pool_->stop();
    if (effects_) effects_->set_notice_listener(nullptr);
    queue_trigger_.reset();
    change_feed_trigger_.reset();
    timer_trigger_.reset();
    timer_store_.reset();
    durable_api_.reset();
    durable_.reset();
    // Before the io_context it runs on (a member declared earlier, destroyed later).
    moderation_.reset();
    doc_server_.reset();
    doc_service_.reset();
    service_async_docs_.reset();
    service_doc_store_.reset();
    async_docs_.reset();
    doc_store_.reset();
    service_queue_store_.reset();
    queue_store_.reset();
    engine_.reset();
  }

  const StartOptions& options_;
  const std::chrono::steady_clock::time_point started_;
  Logger log_;
  config::AppSpec draft_;                       // being completed until start_workers()
  std::shared_ptr<const config::AppSpec> app_;  // then frozen: what serves requests reads
  // The app as started: the change-feed, timer and durable triggers run its functions for the
  // host's life, and every trigger reads its host-wide options (--watch keeps those).
  std::shared_ptr<const config::AppSpec> boot_app_;
  std::string data_dir_;
  std::optional<security::KeyStore> keys_;
  std::shared_ptr<http::HostLimits> limits_;
  int exit_code_ = 0;
  bool draining_ = false;

  asio::io_context io_;
  asio::signal_set stop_signals_{io_, SIGINT, SIGTERM};
  workers::ProcessReaper reaper_;
  observability::Metrics metrics_;
  std::unique_ptr<workers::NativeWorkerPool> native_pool_;
  std::unique_ptr<workers::InProcessInvoker> in_process_;
  std::unique_ptr<workers::CustomHandlerPool> handler_pool_;
  std::unique_ptr<storage::SqliteEngine> engine_;
  std::unique_ptr<storage::SqliteQueueStore> queue_store_;
  std::unique_ptr<queue::AsyncQueueStore> async_store_;
  std::unique_ptr<storage::SqliteQueueStore> service_queue_store_;
  std::unique_ptr<queue::AsyncQueueStore> service_async_store_;
  std::unique_ptr<runtime::EffectsCommitter> effects_;
  std::unique_ptr<queue::QueueService> queue_service_;
  std::unique_ptr<storage::SqliteDocumentStore> doc_store_;
  std::unique_ptr<documents::AsyncDocumentStore> async_docs_;
  std::unique_ptr<storage::SqliteDocumentStore> service_doc_store_;
  std::unique_ptr<documents::AsyncDocumentStore> service_async_docs_;
  std::unique_ptr<documents::CosmosService> doc_service_;
  std::unique_ptr<http::HttpServer> doc_server_;
  std::unique_ptr<http::HttpServer> queue_server_;
  std::unique_ptr<runtime::Dispatcher> dispatcher_;
  std::shared_ptr<const Serving> serving_;  // the router and HTTP trigger of app_
  std::unique_ptr<triggers::QueueTrigger> queue_trigger_;
  std::unique_ptr<triggers::ChangeFeedTrigger> change_feed_trigger_;
  std::unique_ptr<triggers::DocumentInputs> doc_inputs_;
  std::unique_ptr<ModerationInputs> moderation_;
  std::unique_ptr<storage::SqliteTimerStore> timer_store_;
  std::unique_ptr<triggers::TimerTrigger> timer_trigger_;
  std::unique_ptr<storage::SqliteDurableStore> durable_store_;
  std::unique_ptr<durable::Engine> durable_;
  std::unique_ptr<durable::ManagementApi> durable_api_;
  std::optional<http::CorsPolicy> cors_;
  std::string tls_cert_, tls_key_, tls_origin_;  // use_tls_certificate()
  std::unique_ptr<AdminRoutes> admin_;
  std::unique_ptr<AppWatcher> watcher_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace

int run_host(const StartOptions& options) { return Host(options).run(); }

}  // namespace nimbus::server
