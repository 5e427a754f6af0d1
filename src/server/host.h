#pragma once
// Wiring: the only place that names concrete classes. Loads the app, starts its workers,
// builds router, dispatcher and triggers, serves HTTP until SIGINT/SIGTERM.
#include <string>
#include <vector>

namespace nimbus::server {

struct StartOptions {
  std::string app_dir;
  std::string data_dir;  // default: <app_dir>/.nimbus-data
  std::string address = "127.0.0.1";
  int port = -1;  // -1: local.settings.json Host.LocalHttpPort, else 7071; 0: any free port
  bool no_auth = false;
  // Allows --no-auth and the development-key queue service on a non-loopback address.
  bool allow_insecure_network = false;
  int queue_port = -1;  // -1: host.json nimbus.queueService.port (10001); 0: any free port
  int docs_port = -1;   // -1: host.json nimbus.documentService.port (8081); 0: any free port
  std::string worker_exe;  // nimbus-worker beside the nimbus binary
  // --cors ORIGINS / --cors-credentials: override local.settings.json Host.CORS(Credentials).
  std::string cors;
  bool cors_credentials = false;
  // --functions a b: run only these (case-insensitive, as Azure's function names); empty: all.
  std::vector<std::string> functions;
  // --watch: poll the app folder and reload what changed (see FileWatcher in host.cc).
  bool watch = false;
  // --log-format: "json" or "text"; "" picks text when stderr is a terminal, else json.
  std::string log_format;
};

// Runs the host; returns the process exit code.
int run_host(const StartOptions& options);

}  // namespace nimbus::server
