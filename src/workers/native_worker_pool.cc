#include "workers/native_worker_pool.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "workers/frame_io.h"
#include "workers/scope_exit.h"

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

namespace nimbus::workers {

namespace {
constexpr auto kReadyTimeout = std::chrono::seconds(10);
constexpr auto kMaxBackoff = std::chrono::seconds(10);
// A running invocation older than this makes its worker the last choice for new work.
constexpr auto kSlowHead = std::chrono::milliseconds(20);
}  // namespace

// One invocation sent to a worker and not yet answered. Workers answer in order, so the
// front of Worker::pending is the one running; the others have not started.
struct NativeWorkerPool::Pending {
  explicit Pending(asio::io_context& io) : wake(io) {}
  enum class State { waiting, answered, lost, requeue } state = State::waiting;
  asio::steady_timer wake;  // expires at the deadline; cancelled when the state changes
  api::InvocationResult answer;  // answered: the worker's result, read by the reader
  std::string protocol_error;    // answered: what broke the protocol, if anything did
  bool abandoned = false;  // its caller gave up (deadline); the answer is dropped
  void settle(State s) {
    state = s;
    wake.cancel();
  }
};

struct NativeWorkerPool::Worker {
  explicit Worker(asio::io_context& io) : sock(io) {}
  int slot = 0;
  pid_t pid = -1;
  LocalSocket sock;
  bool cold = true;
  bool retired = false;
  bool timed_out = false;  // retired because the running invocation passed its deadline
  std::deque<std::shared_ptr<Pending>> pending;
  Clock::time_point head_since;  // when the front of `pending` started running
  std::string outbuf;  // frames waiting for the writer
  bool writing = false;
  std::shared_ptr<OutputCapture> output;  // its stdout/stderr, logged as Worker.Output
  std::string label;  // "native-<slot>/pid <pid>", made once: every result carries it
  const std::string& name() const { return label; }
};

struct NativeWorkerPool::Waiter {
  explicit Waiter(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  bool listed = false;  // in waiters_
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
      reaper_.terminate(w->pid);
      boost::system::error_code ec;
      w->sock.close(ec);
    }
  wake_waiters(waiters_.size());
}

awaitable<std::shared_ptr<NativeWorkerPool::Worker>> NativeWorkerPool::launch(
    int slot, json::array* functions, std::string& error) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    error = std::string("socketpair failed: ") + std::strerror(errno);
    co_return nullptr;
  }
  OutputCapture::Pipes pipes;
  if (!pipes.open(error)) {
    ::close(fds[0]);
    ::close(fds[1]);
    co_return nullptr;
  }
  SpawnSpec spec;
  spec.executable = opt_.worker_exe;
  spec.args = {opt_.library};
  spec.env = opt_.env;
  spec.cwd = opt_.cwd;
  spec.fd3 = fds[1];
  spec.stdout_fd = pipes.out[1];
  spec.stderr_fd = pipes.err[1];
  pid_t pid = spawn_process(spec, error);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    pipes.close_all();
    co_return nullptr;
  }
  auto w = std::make_shared<Worker>(io_);
  w->slot = slot;
  w->pid = pid;
  w->label = "native-" + std::to_string(slot) + "/pid " + std::to_string(pid);
  w->sock.assign(asio::local::stream_protocol(), fds[0]);
  w->output = OutputCapture::start(io_, log_, w->name(), pipes);
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
  timer.async_wait([this, pid](const boost::system::error_code& ec) {
    if (!ec) reaper_.terminate(pid);
  });
  Frame ready;
  std::string e = co_await read_frame(w->sock, ready, 0);
  timer.cancel();
  if (!e.empty() || ready.header["type"] != "ready" ||
      !ready.header.contains("functions") || !ready.header["functions"].is_array()) {
    error = "worker for " + opt_.library + " did not start (" +
            (e.empty() ? "no ready message" : e) +
            "); its output above says why";
    w->retired = true;
    reaper_.terminate(pid);
    // Its last words (stderr) are logged before the error that points at them.
    co_await w->output->drained(std::chrono::milliseconds(500));
    co_return nullptr;
  }
  if (functions) *functions = ready.header["functions"].as_array();
  live_[static_cast<size_t>(slot)] = w;
  asio::co_spawn(io_, reader(w), log_if_thrown(log_, "Host.Workers", "worker reader failed"));
  log_.log(LogLevel::debug, "Host.Workers", "worker ready", {{"worker", w->name()}});
  co_return w;
}

awaitable<std::optional<json::array>> NativeWorkerPool::start(std::string& error) {
  json::array functions;
  for (int slot = 0; slot < opt_.count; ++slot) {
    auto w = co_await launch(slot, slot == 0 ? &functions : nullptr, error);
    if (!w) co_return std::nullopt;
  }
  co_return functions;
}

awaitable<std::optional<json::array>> NativeWorkerPool::reload(std::string& error) {
  json::array functions;
  bool ok = true, reported = false;
  for (int slot = 0; slot < opt_.count && !stopping_; ++slot) {
    auto old = live_[static_cast<size_t>(slot)];
    std::string e;
    // launch installs the new worker in live_ only once it has reported ready.
    auto w = co_await launch(slot, reported ? nullptr : &functions, e);
    if (!w) {
      if (ok) error = e;
      ok = false;
      continue;
    }
    reported = true;
    failures_[static_cast<size_t>(slot)] = 0;
    wake_waiters(static_cast<size_t>(opt_.pipeline_depth));
    if (old && old != w)
      asio::co_spawn(io_, retire_when_idle(std::move(old)),
                     log_if_thrown(log_, "Host.Workers", "retiring a worker failed"));
  }
  if (!ok) co_return std::nullopt;
  co_return functions;
}

awaitable<void> NativeWorkerPool::retire_when_idle(std::shared_ptr<Worker> w) {
  // No new invocation reaches it (it left live_); each queued one ends by its deadline.
  asio::steady_timer t(io_);
  while (!w->retired && !w->pending.empty() && !stopping_) {
    t.expires_after(std::chrono::milliseconds(10));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (w->retired) co_return;
  w->retired = true;  // so its end is no crash: the reaper logs it at debug level
  reaper_.terminate(w->pid);
  boost::system::error_code ec;
  w->sock.close(ec);
  log_.log(LogLevel::debug, "Host.Workers", "worker replaced", {{"worker", w->name()}});
}

std::shared_ptr<NativeWorkerPool::Worker> NativeWorkerPool::pick() {
  // Least-loaded worker with room. A worker whose running invocation has gone on for a while
  // (possibly hung) is passed over while another has room, so fewer invocations queue behind
  // a slow one.
  auto now = Clock::now();
  std::shared_ptr<Worker> best;
  bool best_slow = true;
  for (auto& w : live_) {
    if (!w || w->retired || static_cast<int>(w->pending.size()) >= opt_.pipeline_depth) continue;
    bool slow = !w->pending.empty() && now - w->head_since > kSlowHead;
    if (!best || (best_slow && !slow) ||
        (slow == best_slow && w->pending.size() < best->pending.size())) {
      best = w;
      best_slow = slow;
    }
  }
  return best;
}

awaitable<std::shared_ptr<NativeWorkerPool::Worker>> NativeWorkerPool::acquire(
    Clock::time_point deadline) {
  // No barging: while others wait, a newcomer queues behind them, so a freed slot goes to
  // the oldest waiter (bounded tail latency under load).
  if (waiters_.empty())
    if (auto w = pick()) co_return w;
  bool first = true;
  for (;;) {
    if (stopping_ || Clock::now() >= deadline) co_return nullptr;
    auto waiter = std::make_shared<Waiter>(io_);
    waiter->timer.expires_at(deadline);
    // A waiter woken without a slot to take (a restart wakes several) keeps its place.
    if (first) waiters_.push_back(waiter);
    else waiters_.push_front(waiter);
    waiter->listed = true;
    first = false;
    // However the wait ends (deadline, an exception, a destroyed frame), a waiter still
    // listed is removed, so no later wake-up is spent on it.
    ScopeExit unlist([&] {
      if (waiter->listed) std::erase(waiters_, waiter);
    });
    boost::system::error_code ec;
    co_await waiter->timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (!ec) co_return nullptr;  // deadline
    if (auto w = pick()) co_return w;
  }
}

void NativeWorkerPool::wake_waiters(size_t slots) {
  // One waiter per freed slot, oldest first; waking everyone would make every answer cost
  // O(waiters) under load.
  while (slots-- > 0 && !waiters_.empty()) {
    waiters_.front()->listed = false;
    waiters_.front()->timer.cancel();
    waiters_.pop_front();
  }
}

void NativeWorkerPool::send(const std::shared_ptr<Worker>& w, std::string_view frame) {
  w->outbuf.append(frame);
  if (!w->writing)
    asio::co_spawn(io_, writer(w), log_if_thrown(log_, "Host.Workers", "worker writer failed"));
}

awaitable<void> NativeWorkerPool::writer(std::shared_ptr<Worker> w) {
  // Frames queued while a write is in flight go out together in the next one. The flag is
  // reset however this ends (any exception included), or no frame would ever be sent again.
  w->writing = true;
  ScopeExit done([&] { w->writing = false; });
  while (!w->outbuf.empty() && !w->retired) {
    std::string bytes;
    bytes.swap(w->outbuf);
    if (!co_await write_bytes(w->sock, bytes)) {
      retire(w, "write to worker failed");
      break;
    }
  }
}

awaitable<void> NativeWorkerPool::reader(std::shared_ptr<Worker> w) {
  // Buffered: one read may carry several answers (the worker batches its writes), so frames
  // are cut from the buffer rather than read with two syscalls each.
  std::string in;
  size_t pos = 0;
  std::vector<char> chunk(64 * 1024);
  for (;;) {
    uint32_t hl = 0, bl = 0;
    bool have_prefix = in.size() - pos >= 8;
    if (have_prefix && !decode_prefix(reinterpret_cast<const unsigned char*>(in.data() + pos), hl,
                                      bl, opt_.max_body)) {
      retire(w, "worker sent a frame with sizes out of range");
      break;
    }
    if (!have_prefix || in.size() - pos < 8 + size_t(hl) + bl) {
      in.erase(0, pos);
      pos = 0;
      boost::system::error_code ec;
      size_t n = co_await w->sock.async_read_some(asio::buffer(chunk),
                                                  asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      in.append(chunk.data(), n);
      continue;
    }
    // Read straight into the fields a result has: no JSON document per invocation.
    ResultHeader header;
    std::string malformed;
    if (!read_result_header(std::string_view(in).substr(pos + 8, hl), header, malformed)) {
      retire(w, malformed);
      break;
    }
    std::string_view body = std::string_view(in).substr(pos + 8 + hl, bl);
    pos += 8 + size_t(hl) + bl;
    if (w->pending.empty()) {
      retire(w, "worker sent a frame nobody asked for");
      break;
    }
    auto p = std::move(w->pending.front());
    w->pending.pop_front();
    w->head_since = Clock::now();
    if (!p->abandoned) {
      // A broken answer sets protocol_error; invoke() fails the invocation and retires the
      // worker, as for any protocol error.
      result_from_header(std::move(header), std::string(body), p->answer, p->protocol_error);
      p->settle(Pending::State::answered);
    }
    failures_[static_cast<size_t>(w->slot)] = 0;
    wake_waiters(1);
  }
  // The worker is gone (crash, kill, protocol error). Only the front invocation had started;
  // it is lost with the worker. The rest never ran: their callers try another worker.
  if (!w->retired) retire(w, "crashed");
  bool front = true;
  for (auto& p : w->pending) {
    p->settle(front ? Pending::State::lost : Pending::State::requeue);
    front = false;
  }
  w->pending.clear();
}

void NativeWorkerPool::retire(const std::shared_ptr<Worker>& w, const std::string& why) {
  if (w->retired) return;
  w->retired = true;
  reaper_.terminate(w->pid);
  boost::system::error_code ec;
  w->sock.close(ec);  // the reader wakes and settles the pending invocations
  // A worker a reload replaced (no longer in live_) is not restarted: its slot has one.
  bool current = live_[static_cast<size_t>(w->slot)] == w;
  if (current) live_[static_cast<size_t>(w->slot)].reset();
  metrics_.worker_crashed("native");
  log_.warn("Host.Workers", "worker retired: " + why, {{"worker", w->name()}});
  if (!stopping_ && current)
    asio::co_spawn(io_, restart(w->slot), log_if_thrown(log_, "Host.Workers", "worker restart failed"));
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
      wake_waiters(static_cast<size_t>(opt_.pipeline_depth));
      co_return;
    }
    log_.error("Host.Workers", "worker restart failed: " + error, {{"slot", slot}});
    n = ++failures_[static_cast<size_t>(slot)];
  }
}

awaitable<api::InvocationResult> NativeWorkerPool::invoke(api::Invocation& inv) {
  api::InvocationResult result;
  std::string frame;
  // A timer's TimerInfo is the frame's body (JSON), as a custom handler's Data.<name> is.
  const std::string timer_body = inv.timer() ? inv.timer()->to_json() : std::string();
  encode_invoke_frame(inv,
                      inv.http()    ? std::string_view(inv.http()->body)
                      : inv.queue() ? std::string_view(inv.queue()->text)
                      : inv.documents() ? std::string_view(inv.documents()->documents)
                      : inv.orchestration() ? std::string_view(inv.orchestration()->request)
                      : inv.activity() ? std::string_view(inv.activity()->input)
                      : inv.timer() ? std::string_view(timer_body)
                                    : std::string_view(),
                      frame);
  for (;;) {
    auto w = co_await acquire(inv.deadline);
    if (!w) {
      result.outcome = Clock::now() >= inv.deadline ? api::Outcome::timed_out
                                                    : api::Outcome::unavailable;
      result.error = "no native worker could take the invocation before the deadline";
      co_return result;
    }
    result.cold_start = w->cold;
    w->cold = false;
    result.worker = w->name();
    auto p = std::make_shared<Pending>(io_);
    p->wake.expires_at(inv.deadline);
    if (w->pending.empty()) w->head_since = Clock::now();
    w->pending.push_back(p);
    send(w, frame);
    boost::system::error_code ec;
    co_await p->wake.async_wait(asio::redirect_error(use_awaitable, ec));

    switch (p->state) {
      case Pending::State::waiting:
        // Deadline. If ours is the running invocation, the worker is presumed hung: SIGKILL
        // (the invocations queued behind it run elsewhere). Otherwise drop our answer.
        p->abandoned = true;
        if (!w->pending.empty() && w->pending.front() == p) {
          w->timed_out = true;
          retire(w, "timed out running " + inv.function->name);
        }
        result.outcome = api::Outcome::timed_out;
        result.error = "function did not finish before its timeout";
        co_return result;
      case Pending::State::requeue:
        continue;  // never started on that worker
      case Pending::State::lost:
        result.outcome = w->timed_out ? api::Outcome::timed_out : api::Outcome::worker_crashed;
        result.error = w->timed_out ? "function did not finish before its timeout; worker killed"
                                    : "worker process died during the invocation";
        co_return result;
      case Pending::State::answered: {
        api::InvocationResult answer = std::move(p->answer);
        answer.cold_start = result.cold_start;
        answer.worker = std::move(result.worker);
        if (!p->protocol_error.empty()) {
          answer.outcome = api::Outcome::bad_response;
          answer.error = p->protocol_error;
          retire(w, p->protocol_error);
        }
        co_return answer;
      }
    }
  }
}

}  // namespace nimbus::workers
