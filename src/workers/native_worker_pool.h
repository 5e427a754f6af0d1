#pragma once
// Runs a native app's functions in `nimbus-worker` processes: a fixed number of slots, each
// holding one process that runs one invocation at a time over a socketpair. Up to
// `pipeline_depth` invocations are queued on a worker's connection (least-loaded worker
// first), so under load a worker reads and answers several per wake-up. A crash, hang (past
// the deadline: SIGKILL) or protocol violation retires that process and fails only the
// invocation it was running; the ones queued behind it had not started and move to another
// worker. The slot restarts with exponential backoff while the other slots keep serving.
// Threading: everything here runs on the host's single I/O thread; no locks.
#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <deque>
#include <memory>
#include <optional>

#include "api/invoker.h"
#include "common/log.h"
#include "observability/metrics.h"
#include "workers/process.h"

namespace nimbus::workers {

class NativeWorkerPool final : public api::Invoker {
 public:
  struct Options {
    std::string worker_exe;  // path of nimbus-worker
    std::string library;
    int count = 2;
    int pipeline_depth = 16;
    std::map<std::string, std::string> env;  // app settings
    std::string cwd;                         // app root
    uint64_t max_body = 100u << 20;
  };
  NativeWorkerPool(boost::asio::io_context& io, Options options, ProcessReaper& reaper,
                   observability::Metrics& metrics, Logger& log);
  ~NativeWorkerPool() override;

  // Starts every slot; returns the functions the app defines (function.json form).
  boost::asio::awaitable<std::optional<boost::json::array>> start(std::string& error);
  boost::asio::awaitable<api::InvocationResult> invoke(api::Invocation& inv) override;
  // `nimbus start --watch` after the library changed: starts a fresh worker for each slot
  // (loading the library anew) and, once it reports ready, sends new invocations to it; the
  // worker it replaces finishes the invocations queued on it, then is stopped, so none fails.
  // A slot whose new worker does not start keeps its old one (nullopt, with `error`). Returns
  // the functions the new library reports.
  boost::asio::awaitable<std::optional<boost::json::array>> reload(std::string& error);
  // The app settings (local.settings.json Values) the next reload() starts processes with.
  void set_env(std::map<std::string, std::string> env) { opt_.env = std::move(env); }
  void stop();

 private:
  struct Worker;
  struct Waiter;
  struct Pending;
  boost::asio::awaitable<std::shared_ptr<Worker>> launch(int slot, boost::json::array* functions,
                                                         std::string& error);
  std::shared_ptr<Worker> pick();
  boost::asio::awaitable<std::shared_ptr<Worker>> acquire(
      std::chrono::steady_clock::time_point deadline);
  void wake_waiters(size_t slots);
  void send(const std::shared_ptr<Worker>& w, std::string_view frame);
  boost::asio::awaitable<void> writer(std::shared_ptr<Worker> w);
  boost::asio::awaitable<void> reader(std::shared_ptr<Worker> w);
  void retire(const std::shared_ptr<Worker>& w, const std::string& why);
  boost::asio::awaitable<void> restart(int slot);
  boost::asio::awaitable<void> retire_when_idle(std::shared_ptr<Worker> w);

  boost::asio::io_context& io_;
  Options opt_;
  ProcessReaper& reaper_;
  observability::Metrics& metrics_;
  Logger& log_;
  std::deque<std::shared_ptr<Waiter>> waiters_;  // invocations waiting for a free slot
  std::vector<int> failures_;  // consecutive failures per slot, for backoff
  std::vector<std::shared_ptr<Worker>> live_;     // index = slot; null while restarting
  bool stopping_ = false;
};

}  // namespace nimbus::workers
