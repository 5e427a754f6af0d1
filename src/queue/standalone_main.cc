// nimbus-queue-server: only the queue service, for end-to-end tests and benchmarks that must
// not depend on the full host. `nimbus start` serves the same QueueService next to the
// functions host.
//
//   nimbus-queue-server [--host 127.0.0.1] [--port 10001] [--data DIR] [--sync full|normal|off]
//                       [--commit-window MICROSECONDS]
//                       [--accounts name:key[:key2][;...]] [--log-level Information]
//                       [--allow-insecure-network] [--tls | --cert FILE --key FILE]
//   nimbus-queue-server queue <command> ...   (the `nimbus queue` CLI)
//
// --tls serves HTTPS on the same port too, with a self-signed localhost certificate generated
// into DIR/tls (or the --cert/--key pair).
// Prints "nimbus-queue-server listening on http://HOST:PORT" on stdout once it accepts
// connections (with --port 0 the system picks the port). SIGINT/SIGTERM stop it after every
// acknowledged operation is committed.
//
// The development account's key is published in every Azure tool's documentation, so it
// authenticates nobody: served on an address other machines can reach, it hands every queue
// to anyone on the network. The server refuses that unless --allow-insecure-network says the
// network is trusted (exit 2, naming the fixes).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "common/ids.h"
#include "http/http_server.h"
#include "queue/async_queue_store.h"
#include "queue/queue_cli.h"
#include "queue/queue_service.h"
#include "queue/shared_key.h"
#include "security/tls_cert.h"
#include "storage/sqlite/sqlite_queue_store.h"

namespace {

int usage(const std::string& error) {
  std::cerr << "nimbus-queue-server: " << error
            << "\nusage: nimbus-queue-server [--host 127.0.0.1] [--port 10001] [--data DIR]\n"
               "                           [--sync full|normal|off] [--accounts name:key[;...]]\n"
               "                           [--commit-window MICROSECONDS]\n"
               "                           [--log-level Trace|Debug|Information|Warning|Error]\n"
               "                           [--allow-insecure-network]\n"
               "                           [--tls | --cert FILE --key FILE]\n";
  return 2;
}

// The account that still uses the published development key, or nullptr.
const nimbus::queue::StorageAccount* published_key_account(const nimbus::queue::AccountSet& set) {
  std::string dev_key;
  nimbus::base64_decode(nimbus::queue::kDevAccountKey, dev_key);
  for (const auto& a : set.accounts())
    for (const auto& k : a.keys)
      if (k == dev_key) return &a;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nimbus;
  // `nimbus-queue-server queue ...` is the same CLI as `nimbus queue ...`, so it can be tested
  // without the full host.
  if (argc > 1 && std::string(argv[1]) == "queue") return queue::run_cli(argc - 1, argv + 1);
  std::string host = "127.0.0.1", data = ".nimbus-data", accounts_spec, sync_text = "full";
  std::string level_text = "Information";
  long port = 10001;
  long window_us = -1;  // the engine's default
  bool allow_insecure_network = false;
  bool tls = false;
  std::string cert_file, key_file;
  if (const char* env = std::getenv("NIMBUS_QUEUE_ACCOUNTS")) accounts_spec = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--host") {
      if (!value(host)) return usage("--host needs an address, e.g. --host 127.0.0.1");
    } else if (a == "--port") {
      if (!value(v)) return usage("--port needs a number, e.g. --port 10001");
      char* end = nullptr;
      port = std::strtol(v.c_str(), &end, 10);
      if (*end || port < 0 || port > 65535)
        return usage("--port " + v + " is not a port number (0..65535)");
    } else if (a == "--data") {
      if (!value(data)) return usage("--data needs a directory");
    } else if (a == "--sync") {
      if (!value(sync_text)) return usage("--sync needs full, normal or off");
    } else if (a == "--commit-window") {
      if (!value(v)) return usage("--commit-window needs microseconds, e.g. --commit-window 4000");
      char* end = nullptr;
      window_us = std::strtol(v.c_str(), &end, 10);
      if (*end || v.empty() || window_us < 0 || window_us > 1000000)
        return usage("--commit-window " + v + " is not a number of microseconds (0..1000000)");
    } else if (a == "--accounts") {
      if (!value(accounts_spec)) return usage("--accounts needs name:key[;name2:key2]");
    } else if (a == "--log-level") {
      if (!value(level_text)) return usage("--log-level needs a level name");
    } else if (a == "--tls") {
      tls = true;
    } else if (a == "--cert") {
      if (!value(cert_file)) return usage("--cert needs a PEM certificate file");
      tls = true;
    } else if (a == "--key") {
      if (!value(key_file)) return usage("--key needs a PEM private key file");
      tls = true;
    } else if (a == "--allow-insecure-network") {
      allow_insecure_network = true;
    } else if (a == "--help" || a == "-h") {
      return usage("serves the Azure Queue Storage API on one SQLite file");
    } else {
      return usage("unknown argument " + a);
    }
  }
  LogLevel level;
  if (!parse_log_level(level_text, level)) return usage("--log-level " + level_text + " is not a level");
  Logger log(level);

  storage::SqliteQueueStore::Options so;
  if (!storage::SqliteQueueStore::parse_sync(sync_text, so.sync))
    return usage("--sync " + sync_text + " is not full, normal or off");
  if (window_us >= 0) so.commit_window = std::chrono::microseconds(window_us);
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (ec) return usage("cannot create data directory " + data + ": " + ec.message());
  so.path = (std::filesystem::path(data) / "nimbus.db").string();

  queue::AccountSet accounts = queue::AccountSet::development();
  if (!accounts_spec.empty()) {
    std::string error;
    auto parsed = queue::AccountSet::parse(accounts_spec, error);
    if (!parsed) return usage("--accounts: " + error);
    accounts = std::move(*parsed);
  }

  const queue::StorageAccount* published = published_key_account(accounts);
  if (published && !nimbus::http::is_loopback_address(host)) {
    if (!allow_insecure_network)
      return usage("refusing to serve account \"" + published->name +
                   "\" with the published development key on --host " + host +
                   ", which is not a loopback address: that key is in every Azure tool's "
                   "documentation, so anyone who can reach this address could read and write "
                   "every queue. Give your own key with --accounts name:base64key (or "
                   "NIMBUS_QUEUE_ACCOUNTS), or bind --host 127.0.0.1, or pass "
                   "--allow-insecure-network if this network is trusted");
    std::cerr << "nimbus-queue-server: WARNING: serving account \"" << published->name
              << "\" with the published development key on " << host
              << " (--allow-insecure-network): anyone who can reach this address can read and "
                 "write every queue\n";
    log.warn("Queue.Server",
             "the published development key is served on a non-loopback address "
             "(--allow-insecure-network)",
             {{"address", host}, {"account", published->name}});
  }

  boost::asio::io_context io(1);
  std::string error;
  auto store =
      storage::SqliteQueueStore::open(so, error, storage::SqliteQueueStore::Callers::api_clients);
  if (!store) {
    // Exit 2, like every other refusal to start: nothing was served.
    std::cerr << "nimbus-queue-server: " << error << "\n";
    return 2;
  }
  queue::AsyncQueueStore async_store(*store, io.get_executor());
  queue::QueueService service(async_store, std::move(accounts), log);
  http::HttpServer::Options ho;
  ho.address = host;
  ho.port = static_cast<uint16_t>(port);
  ho.max_body = queue::QueueService::kMaxRequestBody;
  if (tls) {
    // HTTPS beside HTTP on the same port (bearer tokens and spr=https SAS need it): the
    // given pair, else a self-signed localhost certificate kept in <data>/tls.
    if (cert_file.empty() != key_file.empty())
      return usage("--cert and --key go together (or give neither for a generated certificate)");
    if (cert_file.empty()) {
      auto generated = security::ensure_self_signed(data, error);
      if (!generated) return usage("--tls: " + error);
      cert_file = generated->files.certificate;
      key_file = generated->files.key;
    }
    ho.tls_certificate_file = cert_file;
    ho.tls_key_file = key_file;
  }
  http::HttpServer server(
      io, ho, [&service](api::HttpRequestData& req) { return service.handle(req); }, log);
  if (!server.listen(error)) {
    std::cerr << "nimbus-queue-server: " << error << "\n";
    return 1;
  }
  server.start();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    io.stop();
  });
  log.info("Queue.Server", "listening",
           {{"address", host}, {"port", server.port()}, {"db", so.path}, {"sync", sync_text}});
  if (tls)
    std::printf("nimbus-queue-server listening on http://%s:%u and https://%s:%u (certificate %s)\n",
                host.c_str(), server.port(), host.c_str(), server.port(), cert_file.c_str());
  else
    std::printf("nimbus-queue-server listening on http://%s:%u\n", host.c_str(), server.port());
  std::fflush(stdout);
  io.run();
  store.reset();  // finishes every submitted operation before exit
  return 0;
}
