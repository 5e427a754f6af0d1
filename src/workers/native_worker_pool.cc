#include "workers/native_worker_pool.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "workers/frame_io.h"

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

namespace nimbus::workers {

namespace {
constexpr auto kReadyTimeout = std::chrono::seconds(10);
constexpr auto kMaxBackoff = std::chrono::seconds(10);
}  // namespace

struct NativeWorkerPool::Worker {
  Worker(asio::io_context& io) : sock(io) {}
  int slot = 0;
  pid_t pid = -1;
  LocalSocket sock;
  bool cold = true;
  bool retired = false;
  bool timed_out = false;
  std::string name() const { return "native-" + std::to_string(slot) + "/pid " + std::to_string(pid); }
};

struct NativeWorkerPool::Waiter {
  explicit Waiter(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::shared_ptr<Worker> worker;
};

NativeWorkerPool::NativeWorkerPool(asio::io_context& io, Options options, ProcessReaper& reaper,
                                   observability::Metrics& metrics, Logger& log)
    : io_(io), opt_(std::move(options)), reaper_(reaper), metrics_(metrics), log_(log) {
  failures_.assign(static_cast<size_t>(opt_.count), 0);
  live_.resize(static_cast<size_t>(opt_.count));
}

NativeWorkerPool::~NativeWorkerPool() { stop(); }

void NativeWorkerPool::stop() {
  stopping_ = true;
  for (auto& w : live_)
    if (w && !w->retired) {
      w->retired = true;
      reaper_.forget(w->pid);
      ::kill(w->pid, SIGKILL);
      boost::system::error_code ec;
      w->sock.close(ec);
    }
  for (auto& waiter : waiters_) waiter->timer.cancel();
}

awaitable<std::shared_ptr<NativeWorkerPool::Worker>> NativeWorkerPool::launch(
    int slot, json::array* functions, std::string& error) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    error = std::string("socketpair failed: ") + std::strerror(errno);
    co_return nullptr;
  }
  SpawnSpec spec;
  spec.executable = opt_.worker_exe;
  spec.args = {opt_.library};
  spec.env = opt_.env;
  spec.cwd = opt_.cwd;
  spec.fd3 = fds[1];
  pid_t pid = spawn_process(spec, error);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    co_return nullptr;
  }
  auto w = std::make_shared<Worker>(io_);
  w->slot = slot;
  w->pid = pid;
  w->sock.assign(asio::local::stream_protocol(), fds[0]);
  metrics_.worker_started("native");
  std::weak_ptr<Worker> weak = w;
  reaper_.watch(pid, [this, weak](int status) {
    auto w = weak.lock();
    if (!w) return;
    if (!w->retired)
      retire(w, "exited unexpectedly (" + ProcessReaper::describe_status(status) + ")");
    else
      log_.log(LogLevel::debug, "Host.Workers", "worker process ended",
               {{"worker", w->name()}, {"status", ProcessReaper::describe_status(status)}});
  });

  // A worker that does not report ready in time is killed; the read then fails.
  asio::steady_timer timer(io_, kReadyTimeout);
  timer.async_wait([w](const boost::system::error_code& ec) {
    if (!ec) ::kill(w->pid, SIGKILL);
  });
  Frame ready;
  std::string e = co_await read_frame(w->sock, ready, 0);
  timer.cancel();
  if (!e.empty() || ready.header["type"] != "ready" ||
      !ready.header.contains("functions") || !ready.header["functions"].is_array()) {
    error = "worker for " + opt_.library + " did not start (" +
            (e.empty() ? "no ready message" : e) +
            "); its stderr above says why";
    w->retired = true;
    ::kill(pid, SIGKILL);
    co_return nullptr;
  }
  if (functions) *functions = ready.header["functions"].as_array();
  live_[static_cast<size_t>(slot)] = w;
  log_.log(LogLevel::debug, "Host.Workers", "worker ready", {{"worker", w->name()}});
  co_return w;
}

awaitable<std::optional<json::array>> NativeWorkerPool::start(std::string& error) {
  json::array functions;
  for (int slot = 0; slot < opt_.count; ++slot) {
    auto w = co_await launch(slot, slot == 0 ? &functions : nullptr, error);
    if (!w) co_return std::nullopt;
    release(w);
  }
  co_return functions;
}

awaitable<std::shared_ptr<NativeWorkerPool::Worker>> NativeWorkerPool::acquire(
    Clock::time_point deadline) {
  while (!idle_.empty()) {
    auto w = idle_.front();
    idle_.pop_front();
    if (!w->retired) co_return w;
  }
  auto waiter = std::make_shared<Waiter>(io_);
  waiter->timer.expires_at(deadline);
  waiters_.push_back(waiter);
  boost::system::error_code ec;
  co_await waiter->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  if (!waiter->worker) std::erase(waiters_, waiter);
  co_return std::move(waiter->worker);
}

void NativeWorkerPool::release(std::shared_ptr<Worker> w) {
  if (w->retired || stopping_) return;
  while (!waiters_.empty()) {
    auto waiter = waiters_.front();
    waiters_.pop_front();
    if (waiter->timer.expiry() <= Clock::now()) continue;  // gave up already
    waiter->worker = std::move(w);
    waiter->timer.cancel();
    return;
  }
  idle_.push_back(std::move(w));
}

void NativeWorkerPool::retire(const std::shared_ptr<Worker>& w, const std::string& why) {
  if (w->retired) return;
  w->retired = true;
  ::kill(w->pid, SIGKILL);
  boost::system::error_code ec;
  w->sock.close(ec);
  std::erase(idle_, w);
  metrics_.worker_crashed("native");
  log_.warn("Host.Workers", "worker retired: " + why, {{"worker", w->name()}});
  if (!stopping_) asio::co_spawn(io_, restart(w->slot), asio::detached);
}

awaitable<void> NativeWorkerPool::restart(int slot) {
  // Backoff: the first failure restarts at once, then 100 ms doubling up to 10 s. A slot's
  // count resets when its worker completes an invocation.
  int n = ++failures_[static_cast<size_t>(slot)];
  for (;;) {
    if (n > 1) {
      auto delay = std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(100) * (1 << std::min(n - 2, 10)), kMaxBackoff);
      asio::steady_timer t(io_, delay);
      boost::system::error_code ec;
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (stopping_) co_return;
    std::string error;
    auto w = co_await launch(slot, nullptr, error);
    if (w) {
      release(w);
      co_return;
    }
    log_.error("Host.Workers", "worker restart failed: " + error, {{"slot", slot}});
    n = ++failures_[static_cast<size_t>(slot)];
  }
}

awaitable<api::InvocationResult> NativeWorkerPool::invoke(api::Invocation& inv) {
  api::InvocationResult result;
  auto w = co_await acquire(inv.deadline);
  if (!w) {
    result.outcome = Clock::now() >= inv.deadline ? api::Outcome::timed_out
                                                  : api::Outcome::unavailable;
    result.error = "no native worker became free before the deadline";
    co_return result;
  }
  result.cold_start = w->cold;
  w->cold = false;
  result.worker = w->name();

  std::string out;
  encode_frame(invoke_header(inv),
               inv.http ? std::string_view(inv.http->body)
                        : inv.queue ? std::string_view(inv.queue->text) : std::string_view(),
               out);
  // Past the deadline the worker is presumed hung: SIGKILL makes the pending read fail.
  asio::steady_timer timer(io_, inv.deadline);
  timer.async_wait([w](const boost::system::error_code& ec) {
    if (!ec && !w->retired) {
      w->timed_out = true;
      ::kill(w->pid, SIGKILL);
    }
  });
  Frame frame;
  // (No co_await inside ?: — GCC 12 miscompiles it.)
  std::string e = "write failed";
  bool written = co_await write_bytes(w->sock, out);
  if (written) e = co_await read_frame(w->sock, frame, opt_.max_body);
  timer.cancel();
  if (w->timed_out) {
    result.outcome = api::Outcome::timed_out;
    result.error = "function did not finish before its timeout; worker killed";
    retire(w, "timed out running " + inv.function->name);
    co_return result;
  }
  if (!e.empty()) {
    result.outcome = api::Outcome::worker_crashed;
    result.error = "worker process died during the invocation (" + e + ")";
    retire(w, "crashed running " + inv.function->name);
    co_return result;
  }
  std::string protocol_error;
  if (!result_from_frame(frame, result, protocol_error)) {
    result.outcome = api::Outcome::bad_response;
    result.error = protocol_error;
    retire(w, protocol_error);
    co_return result;
  }
  failures_[static_cast<size_t>(w->slot)] = 0;
  release(std::move(w));
  co_return result;
}

}  // namespace nimbus::workers
