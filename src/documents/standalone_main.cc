// nimbus-docs-server: only the Cosmos DB NoSQL endpoint (cosmos_service.h) on one SQLite
// file, for end-to-end tests and benchmarks that must not depend on the full host.
//
//   nimbus-docs-server [--host 127.0.0.1] [--port 8081] [--data DIR] [--sync full|normal|off]
//                      [--key BASE64KEY]... [--no-auth] [--log-level Information]
//                      [--allow-insecure-network]
//
// Prints "nimbus-docs-server listening on http://HOST:PORT" on stdout once it accepts
// connections (--port 0: the system picks). SIGINT/SIGTERM stop it after every acknowledged
// operation is committed. The default key is the emulator's published one, so serving it (or
// --no-auth) on a non-loopback address needs --allow-insecure-network.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "documents/async_document_store.h"
#include "documents/cosmos_auth.h"
#include "documents/cosmos_service.h"
#include "http/http_server.h"
#include "storage/sqlite/sqlite_document_store.h"

namespace {

int usage(const std::string& error) {
  std::cerr << "nimbus-docs-server: " << error
            << "\nusage: nimbus-docs-server [--host 127.0.0.1] [--port 8081] [--data DIR]\n"
               "                          [--sync full|normal|off] [--key BASE64KEY]...\n"
               "                          [--no-auth] [--log-level Information]\n"
               "                          [--allow-insecure-network]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nimbus;
  std::string host = "127.0.0.1", data = ".nimbus-data", sync_text = "full",
              level_text = "Information";
  long port = 8081;
  bool no_auth = false, allow_insecure_network = false;
  std::vector<std::string> keys;
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
      if (!value(v)) return usage("--port needs a number, e.g. --port 8081");
      char* end = nullptr;
      port = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || port < 0 || port > 65535)
        return usage("--port " + v + " is not a port number (0..65535)");
    } else if (a == "--data") {
      if (!value(data)) return usage("--data needs a directory");
    } else if (a == "--sync") {
      if (!value(sync_text)) return usage("--sync needs full, normal or off");
    } else if (a == "--key") {
      if (!value(v)) return usage("--key needs a base64 master key");
      keys.push_back(v);
    } else if (a == "--no-auth") {
      no_auth = true;
    } else if (a == "--log-level") {
      if (!value(level_text)) return usage("--log-level needs a level name");
    } else if (a == "--allow-insecure-network") {
      allow_insecure_network = true;
    } else if (a == "--help" || a == "-h") {
      return usage("serves the Cosmos DB NoSQL API on one SQLite file");
    } else {
      return usage("unknown argument " + a);
    }
  }
  LogLevel level;
  if (!parse_log_level(level_text, level)) return usage("--log-level " + level_text + " is not a level");
  Logger log(level);

  documents::CosmosService::Options opts;
  opts.auth = !no_auth;
  if (!keys.empty()) {
    std::string error;
    auto parsed = documents::MasterKeys::parse(keys, error);
    if (!parsed) return usage("--key: " + error);
    opts.keys = std::move(*parsed);
  }
  bool published = keys.empty() || no_auth;
  if (published && !nimbus::http::is_loopback_address(host)) {
    if (!allow_insecure_network)
      return usage("refusing to serve " + std::string(no_auth ? "without authentication (--no-auth)"
                                                              : "the emulator's published key") +
                   " on --host " + host +
                   ", which is not a loopback address: anyone who can reach it could read and "
                   "write every document. Give your own key with --key, or bind --host "
                   "127.0.0.1, or pass --allow-insecure-network if this network is trusted");
  }
  if (no_auth) {
    std::cerr << "nimbus-docs-server: WARNING: --no-auth: every request is accepted without a "
                 "signature\n";
    log.warn("Documents.Server", "authentication is off (--no-auth)", {{"address", host}});
  }

  storage::SqliteDocumentStore::Options so;
  if (!storage::SqliteEngine::parse_sync(sync_text, so.sync))
    return usage("--sync " + sync_text + " is not full, normal or off");
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (ec) return usage("cannot create data directory " + data + ": " + ec.message());
  so.path = (std::filesystem::path(data) / "nimbus.db").string();

  boost::asio::io_context io(1);
  std::string error;
  auto store = storage::SqliteDocumentStore::open(so, error);
  if (!store) {
    std::cerr << "nimbus-docs-server: " << error << "\n";
    return 2;
  }
  documents::AsyncDocumentStore async_store(*store, io.get_executor());
  documents::CosmosService service(async_store, std::move(opts), log);
  http::HttpServer::Options ho;
  ho.address = host;
  ho.port = static_cast<uint16_t>(port);
  ho.max_body = documents::CosmosService::kMaxHttpBody;
  http::HttpServer server(
      io, ho, [&service](api::HttpRequestData& req) { return service.handle(req); }, log,
      [&service](api::HttpRequestData& req) { return service.admit(req); });
  if (!server.listen(error)) {
    std::cerr << "nimbus-docs-server: " << error << "\n";
    return 1;
  }
  server.start();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    io.stop();
  });
  log.info("Documents.Server", "listening",
           {{"address", host}, {"port", server.port()}, {"db", so.path}, {"sync", sync_text},
            {"auth", !no_auth}});
  std::printf("nimbus-docs-server listening on http://%s:%u\n", host.c_str(), server.port());
  std::fflush(stdout);
  io.run();
  store.reset();  // finishes every submitted operation before exit
  return 0;
}
