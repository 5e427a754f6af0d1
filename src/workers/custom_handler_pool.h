#pragma once
// Runs a custom-handler app (any language) exactly as the Azure Functions host does: starts the
// handler with FUNCTIONS_CUSTOMHANDLER_PORT and friends, waits until GET / answers, then POSTs
// /<FunctionName> with {Data, Metadata} and maps {Outputs, Logs, ReturnValue} back; or, in
// forwarding mode, passes the HTTP request through. Beyond Azure: a pool of processes
// (host.json nimbus.customHandler.processCount) served round-robin, each restarted with
// backoff when it exits. A timed-out invocation closes its connection; the process keeps
// serving the others (it may be handling many requests at once).
//
// Pipelining (Nimbus extension; host.json nimbus.customHandler.connectionsPerProcess, default
// 8, and pipelineDepth, default 8; depth 1 turns it off). Each invocation gets a connection of
// its own until a process has connectionsPerProcess of them busy. Past that, an invocation is
// sent behind the requests on a busy connection (HTTP/1.1 pipelining; answers come back in
// order) when all of these hold, else it gets a connection of its own as before:
//   - the default mode: the host alone frames the request (forwarded ones are never pipelined);
//   - its function answers quickly: one of its answers in the last second took under 5 ms;
//   - every request on that connection is of such a function, the connection answered (or
//     took its first request) in the last 5 ms, has given a keep-alive answer before, holds
//     fewer than pipelineDepth requests, and none with a later deadline (so the first
//     deadline to pass on a connection is its first waiter's).
// Pipelined requests of one loop turn leave in one write. Measured: bench/README.md (the
// handler's CPU per request falls by a fifth; Nimbus then matches nginx's proxied rate).
// The price: a pipelined invocation waits for the answers before its own. If one of those
// hangs, the ones behind it fail when it times out (502, "handler connection failed before
// this invocation's answer"), since their requests were sent and may have run; they are never
// sent again (nor is a batch whose write failed: it fails with its connection). The 5 ms
// rules keep slow functions and stalled connections out of it.
// Threading: the host's single I/O thread; no locks.
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <memory>
#include <string>
#include <unordered_map>

#include "api/invoker.h"
#include "config/app_spec.h"
#include "common/log.h"
#include "observability/metrics.h"
#include "workers/process.h"

namespace nimbus::workers {

class CustomHandlerPool final : public api::Invoker {
 public:
  struct Options {
    config::CustomHandlerSpec spec;
    std::map<std::string, std::string> env;  // app settings (local.settings.json Values)
    std::string app_root;
    uint64_t max_body = 100u << 20;
  };
  CustomHandlerPool(boost::asio::io_context& io, Options options, ProcessReaper& reaper,
                    observability::Metrics& metrics, Logger& log);
  ~CustomHandlerPool() override;

  // Starts every process and waits for readiness; false (with `error`) if none comes up.
  boost::asio::awaitable<bool> start(std::string& error);
  boost::asio::awaitable<api::InvocationResult> invoke(api::Invocation& inv) override;
  // `nimbus start --watch`: starts a fresh process for each slot and, once it answers GET /,
  // routes new invocations to it; the process it replaces finishes what it is running, then
  // is stopped. So no accepted invocation fails. A slot whose new process does not come up
  // keeps its old one (false, with `error`); the others stay replaced. Returns after every
  // slot has its new process (the old ones drain in the background).
  boost::asio::awaitable<bool> reload(std::string& error);
  // The app settings (local.settings.json Values) the next reload() starts processes with.
  void set_env(std::map<std::string, std::string> env) { opt_.env = std::move(env); }
  void stop();

 private:
  struct Process;
  struct Conn;
  struct Waiter;
  struct Pace;
  void enter(const std::shared_ptr<Conn>& c, Waiter& w,
             std::chrono::steady_clock::time_point now);
  void release(Conn& c);
  void leave(Conn& c, Waiter& w);
  void fail_conn(Conn& c);
  void wake(Waiter& w);
  void flush(const std::shared_ptr<Conn>& c);
  std::shared_ptr<Conn> pipeline_target(const Process& p,
                                        std::chrono::steady_clock::time_point deadline,
                                        std::chrono::steady_clock::time_point now);
  void on_sweep(boost::system::error_code ec);
  boost::asio::awaitable<std::shared_ptr<Process>> launch(int slot, std::string& error);
  boost::asio::awaitable<void> restart(int slot);
  boost::asio::awaitable<void> retire_when_idle(std::shared_ptr<Process> p);
  std::shared_ptr<Process> pick();
  boost::asio::awaitable<std::shared_ptr<Process>> wait_for_process(
      std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<bool> died(std::shared_ptr<Process> p);
  boost::asio::awaitable<boost::system::error_code> connect(Conn& c, uint16_t port);
  static void write_head(std::string& head, api::Invocation& inv, const Process& p, bool forward,
                         size_t body_size);
  static std::array<boost::asio::const_buffer, 2> request_buffers(const Conn& c,
                                                                   const std::string& body);
  void fail_invocation(api::InvocationResult& result, const api::Invocation& inv,
                       const Process& p, api::Outcome outcome, std::string cause,
                       std::string detail);

  boost::asio::io_context& io_;
  Options opt_;
  ProcessReaper& reaper_;
  observability::Metrics& metrics_;
  Logger& log_;
  std::vector<std::shared_ptr<Process>> procs_;  // index = slot; null while restarting
  std::vector<int> failures_;
  size_t next_ = 0;
  bool stopping_ = false;
  std::vector<std::shared_ptr<Conn>> busy_;  // connections with requests in flight
  boost::asio::steady_timer sweep_;          // cancels those past their deadline
  bool sweeping_ = false;
  std::unordered_map<std::string, Pace> paces_;  // by function name
};

}  // namespace nimbus::workers
