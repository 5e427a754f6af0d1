// nimbus: the command line. `nimbus start APP_DIR` serves an app; `nimbus keys list` shows
// its keys. Parsing only; the host itself is wired in host.cc.
#include <unistd.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include "documents/docs_cli.h"
#include "durable/durable_cli.h"
#include "queue/queue_cli.h"
#include "security/keys.h"
#include "server/host.h"
#include "server/scaffold.h"

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  nimbus start APP_DIR [--port N] [--queue-port N] [--docs-port N] [--host ADDR] [--data DIR]\n"
    "               [--cors ORIGINS] [--cors-credentials] [--no-auth] [--allow-insecure-network]\n"
    "               [--watch] [--log-format text|json] [--functions NAME...]\n"
    "      Serve an Azure Functions app folder (host.json, <fn>/function.json) or a native app.\n"
    "      --port     HTTP port (default: local.settings.json Host.LocalHttpPort, else 7071)\n"
    "      --queue-port  Azure-Queue-compatible service port (default 10001; 0 picks a free one)\n"
    "      --docs-port   Cosmos DB NoSQL API port (default 8081; 0 picks a free one)\n"
    "      --host     address to listen on (default 127.0.0.1)\n"
    "      --data     data directory for keys and state (default APP_DIR/.nimbus-data)\n"
    "      --cors     allowed browser origins, comma-separated or '*' (default:\n"
    "                 local.settings.json Host.CORS; off when neither is set)\n"
    "      --cors-credentials  allow credentials in cross-origin calls (Host.CORSCredentials)\n"
    "      --no-auth  accept every request without a key (local development only)\n"
    "      --allow-insecure-network  allow --no-auth and the queue service's published\n"
    "                 development key on a --host that is not loopback (refused otherwise)\n"
    "      --watch    reload on saved changes: a custom handler's files or the native library\n"
    "                 restart the workers (accepted requests finish first, none fail);\n"
    "                 host.json, function.json and local.settings.json changes are checked\n"
    "                 and applied live (errors keep the running app; what needs a restart,\n"
    "                 such as ports, is logged and kept)\n"
    "      --log-format text|json  text: a readable console with the function list; json:\n"
    "                 one JSON object a line (default: text on a terminal, json otherwise)\n"
    "      --functions  run only the functions named (space- or comma-separated; put it\n"
    "                 after APP_DIR); an unknown name is refused\n"
    "  nimbus init DIR --worker native|node|python\n"
    "      Create an app folder with one HTTP function, hello (DIR must be new or empty).\n"
    "  nimbus new NAME --template http|queue [--queue QUEUE] [DIR]\n"
    "      Add a function to the app in DIR (default .) and print the code to add for it.\n"
    "  nimbus keys list [--data DIR | APP_DIR]\n"
    "      Show the master key and host keys.\n"
    "  nimbus queue list|create|put|peek|get|delete|clear ...\n"
    "      Work with the queues of a running host (`nimbus queue --help` for details).\n"
    "  nimbus docs databases|containers|create-database|create-container|get|put|delete|query ...\n"
    "      Work with the documents of a running host (`nimbus docs --help` for details).\n"
    "  nimbus durable start|status|list|raise|terminate|suspend|resume|restart|purge ...\n"
    "      Start and manage orchestrations of a running host (`nimbus durable --help`).\n";

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  return std::filesystem::path(buf).parent_path().string();
}

int usage_error(const std::string& msg) {
  std::cerr << "nimbus: " << msg << "\n\n" << kUsage;
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? 64 : 0;
  }
  std::string cmd = argv[1];
  if (cmd == "version" || cmd == "--version") {
    std::cout << "nimbus 0.1.0\n";
    return 0;
  }
  if (cmd == "start") {
    nimbus::server::StartOptions o;
    o.worker_exe = self_dir() + "/nimbus-worker";
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
      // A port number 0..65535 (0: any free port) into `out`, or a usage error.
      auto port = [&](int& out) -> bool {
        const char* v = value();
        char* end = nullptr;
        long p = v ? std::strtol(v, &end, 10) : -1;
        if (!v || *end || p < 0 || p > 65535) return false;
        out = static_cast<int>(p);
        return true;
      };
      if (a == "--port") {
        if (!port(o.port)) return usage_error("--port needs a number 0..65535 (0 picks a free port)");
      } else if (a == "--queue-port") {
        if (!port(o.queue_port))
          return usage_error("--queue-port needs a number 0..65535 (0 picks a free port)");
      } else if (a == "--docs-port") {
        if (!port(o.docs_port))
          return usage_error("--docs-port needs a number 0..65535 (0 picks a free port)");
      } else if (a == "--data") {
        const char* v = value();
        if (!v) return usage_error("--data needs a directory");
        o.data_dir = v;
      } else if (a == "--host") {
        const char* v = value();
        if (!v) return usage_error("--host needs an address such as 127.0.0.1");
        o.address = v;
      } else if (a == "--cors") {
        const char* v = value();
        if (!v) return usage_error("--cors needs origins, e.g. --cors http://localhost:3000 or --cors '*'");
        o.cors = v;
      } else if (a == "--cors-credentials") {
        o.cors_credentials = true;
      } else if (a == "--watch") {
        o.watch = true;
      } else if (a == "--log-format") {
        const char* v = value();
        if (!v || (std::strcmp(v, "text") && std::strcmp(v, "json")))
          return usage_error(std::string("--log-format ") + (v ? v : "(missing)") +
                             ": not a log format; use --log-format text or --log-format json");
        o.log_format = v;
      } else if (a == "--no-auth") {
        o.no_auth = true;
      } else if (a == "--allow-insecure-network") {
        o.allow_insecure_network = true;
      } else if (a == "--functions") {
        // As Core Tools: the names follow as separate arguments (commas also separate).
        size_t before = o.functions.size();
        for (; i + 1 < argc && argv[i + 1][0] != '-'; ++i)
          for (std::string_view rest = argv[i + 1]; !rest.empty();) {
            size_t comma = rest.find(',');
            if (comma != 0) o.functions.emplace_back(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
          }
        if (o.functions.size() == before)
          return usage_error("--functions needs one or more function names, e.g. --functions hello orders");
      } else if (!a.empty() && a[0] == '-') {
        return usage_error("unknown option " + a);
      } else if (o.app_dir.empty()) {
        o.app_dir = a;
      } else {
        return usage_error("more than one APP_DIR given (" + o.app_dir + ", " + a + ")");
      }
    }
    if (o.app_dir.empty())
      return usage_error(o.functions.empty()
                             ? "start needs APP_DIR, the folder with host.json"
                             : "start needs APP_DIR, the folder with host.json, before --functions");
    return nimbus::server::run_host(o);
  }
  if (cmd == "init") return nimbus::server::run_init(argc - 1, argv + 1, self_dir());
  if (cmd == "new") return nimbus::server::run_new(argc - 1, argv + 1);
  if (cmd == "queue") return nimbus::queue::run_cli(argc - 1, argv + 1);
  if (cmd == "docs") return nimbus::documents::run_docs_cli(argc - 1, argv + 1);
  if (cmd == "durable") return nimbus::durable::run_durable_cli(argc - 1, argv + 1);
  if (cmd == "keys") {
    if (argc < 3 || std::string(argv[2]) != "list") return usage_error("keys needs: list");
    std::string data;
    for (int i = 3; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--data" && i + 1 < argc) data = argv[++i];
      else if (a[0] != '-') data = (std::filesystem::path(a) / ".nimbus-data").string();
      else return usage_error("unknown option " + a);
    }
    if (data.empty()) data = ".nimbus-data";
    std::string error;
    auto keys = nimbus::security::KeyStore::load(data, error);
    if (!keys) {
      std::cerr << "nimbus: " << error
                << "\n(keys are created by the first `nimbus start`; pass the same --data)\n";
      return 1;
    }
    std::cout << "master   _master  " << keys->master_key() << "\n";
    for (const auto& [name, value] : keys->host_keys())
      std::cout << "host     " << name << "  " << value << "\n";
    return 0;
  }
  return usage_error("unknown command " + cmd);
}
