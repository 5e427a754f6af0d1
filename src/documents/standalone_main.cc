// nimbus-docs-server: only the Cosmos DB NoSQL endpoint (cosmos_service.h) on one SQLite
// file, for end-to-end tests and benchmarks that must not depend on the full host.
//
//   nimbus-docs-server [--host 127.0.0.1] [--port 8081] [--data DIR] [--sync full|normal|off]
//                      [--key BASE64KEY]... [--no-auth] [--log-level Information]
//                      [--allow-insecure-network] [--cert FILE --key-file FILE | --no-tls]
//
// The port serves plain HTTP and HTTPS alike (the first byte of a connection tells which), as
// the emulator's clients expect https://localhost:8081. The certificate is --cert/--key-file,
// or one generated into DIR/tls/ (self-signed for localhost; see src/security/tls_cert.h).
// Prints "nimbus-docs-server listening on http://HOST:PORT and https://HOST:PORT (certificate
// FILE)" on stdout once it accepts connections (--port 0: the system picks); with --no-tls
// the line ends after the http address. SIGINT/SIGTERM stop it after every acknowledged
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
#include "security/tls_cert.h"
#include "storage/sqlite/sqlite_document_store.h"

namespace {

int usage(const std::string& error) {
  std::cerr << "nimbus-docs-server: " << error
            << "\nusage: nimbus-docs-server [--host 127.0.0.1] [--port 8081] [--data DIR]\n"
               "                          [--sync full|normal|off] [--key BASE64KEY]...\n"
               "                          [--no-auth] [--log-level Information]\n"
               "                          [--allow-insecure-network]\n"
               "                          [--cert FILE --key-file FILE | --no-tls]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nimbus;
  std::string host = "127.0.0.1", data = ".nimbus-data", sync_text = "full",
              level_text = "Information";
  long port = 8081;
  bool no_auth = false, allow_insecure_network = false, no_tls = false;
  std::string cert_file, key_file;
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
    } else if (a == "--cert") {
      if (!value(cert_file) || cert_file.empty())
        return usage("--cert needs a PEM certificate file, e.g. --cert cert.pem --key-file key.pem");
    } else if (a == "--key-file") {
      // Not --key: that one is the account's master key (base64), as the emulator names it.
      if (!value(key_file) || key_file.empty())
        return usage("--key-file needs the certificate's PEM private key file");
    } else if (a == "--no-tls") {
      no_tls = true;
    } else if (a == "--allow-insecure-network") {
      allow_insecure_network = true;
    } else if (a == "--help" || a == "-h") {
      return usage("serves the Cosmos DB NoSQL API on one SQLite file");
    } else {
      return usage("unknown argument " + a);
    }
  }
  if (cert_file.empty() != key_file.empty())
    return usage(std::string(cert_file.empty() ? "--key-file" : "--cert") + " given without " +
                 (cert_file.empty() ? "--cert" : "--key-file") +
                 ": give the certificate and its key together, or neither to use the one "
                 "generated in DATA/tls/");
  if (no_tls && !cert_file.empty())
    return usage("--no-tls and --cert contradict each other; drop one");
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

  // The certificate: the user's, or the generated one (made now when missing or expired).
  bool generated_cert = false;
  if (!no_tls && cert_file.empty()) {
    std::string error;
    auto made = security::ensure_self_signed(data, error);
    if (!made) return usage("TLS certificate: " + error + " (or --no-tls for plain HTTP only)");
    cert_file = made->files.certificate;
    key_file = made->files.key;
    generated_cert = true;
    // A first certificate is routine; replacing one is worth a warning: clients that
    // trusted the old file must be given the new one.
    if (made->generated)
      log.log(made->replaced ? LogLevel::warning : LogLevel::information, "Documents.Server",
              made->replaced ? "replaced the self-signed TLS certificate (" + made->why +
                                   "); clients must trust the new file"
                             : std::string("generated a self-signed TLS certificate"),
              {{"certificate", cert_file}, {"notAfter", made->not_after}});
  }

  boost::asio::io_context io(1);
  std::string error;
  auto store = storage::SqliteDocumentStore::open(
      so, error, storage::SqliteDocumentStore::Callers::api_clients);
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
  ho.tls_certificate_file = cert_file;
  ho.tls_key_file = key_file;
  http::HttpServer server(
      io, ho, [&service](api::HttpRequestData& req) { return service.handle(req); }, log,
      [&service](api::HttpRequestData& req) { return service.admit(req); });
  if (!server.listen(error)) {
    std::cerr << "nimbus-docs-server: " << error
              << (cert_file.empty() || generated_cert ? "" : " (--cert / --key-file)") << "\n";
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
            {"auth", !no_auth}, {"certificate", cert_file}});
  if (!cert_file.empty())
    log.info("Documents.Server",
             "https clients must trust the certificate: Node NODE_EXTRA_CA_CERTS=" + cert_file +
                 " (or an https.Agent with ca), curl --cacert " + cert_file +
                 "; clients that cannot may use http:// on the same port",
             {{"certificate", cert_file}});
  // One line on stdout that scripts wait for; the http address first, as before TLS.
  std::string hostport = host + ":" + std::to_string(server.port());
  if (cert_file.empty())
    std::printf("nimbus-docs-server listening on http://%s\n", hostport.c_str());
  else
    std::printf("nimbus-docs-server listening on http://%s and https://%s (certificate %s)\n",
                hostport.c_str(), hostport.c_str(), cert_file.c_str());
  std::fflush(stdout);
  io.run();
  // What the group commit did over the run (operations per transaction is the figure that
  // moves the writer's CPU per operation; bench/documents/crud_cpu.mjs reads this line).
  auto& engine = store->engine();
  log.info("Documents.Server", "stopped",
           {{"commits", engine.commit_count()}, {"windowed", engine.windowed_count()},
            {"inlineReads", engine.inline_read_count()}});
  store.reset();  // finishes every submitted operation before exit
  return 0;
}
