#include "workers/custom_handler_pool.h"

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <optional>

#include <boost/asio.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/ready_read.h"
#include "workers/custom_handler_answer_parser.h"
#include "workers/custom_handler_head.h"
#include "workers/custom_handler_protocol.h"
#include "workers/scope_exit.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::string_view_literals;

namespace nimbus::workers {

namespace {
constexpr auto kReadyPoll = std::chrono::milliseconds(25);  // Azure polls GET / every 25 ms
constexpr auto kMaxBackoff = std::chrono::seconds(10);
// The fields of every request to a handler that never change, as written (write_head).
constexpr std::string_view kFixedFields =
    "X-Azure-Functions-HostVersion: 4.0.0-nimbus\r\n"
    "User-Agent: Azure-Functions-Host/4.0.0-nimbus\r\n"
    "Content-Length: ";

uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return a.local_endpoint().port();
}

// One read of the handler's answer into `buf` (the socket's own async_read_some, or the ready
// read when a reactor is given). Not a coroutine: it returns the read's own awaitable, so no
// frame is allocated for it.
template <class Stream>
awaitable<size_t> read_some(Stream& s, beast::flat_buffer& buf, size_t room,
                            const http::ReadyReactor* reactor, boost::system::error_code& ec) {
  auto space = buf.prepare(std::min(std::max<size_t>(512, buf.capacity() - buf.size()), room));
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    if (reactor)  // a read that would find nothing is skipped (http/ready_read.h)
      return http::async_read_ready(*reactor, s, space, asio::redirect_error(use_awaitable, ec));
  }
  return s.async_read_some(space, asio::redirect_error(use_awaitable, ec));
}

// Reads the handler's final answer. With `lean`, the lean reader (custom_handler_head.h) looks
// at the bytes first: an answer it accepts is left whole at the start of `buf` (the caller
// reads it there and consumes lean->size() bytes); one it declines is parsed by Beast from the
// same bytes, as before. Otherwise (and after a decline) the answer is read into `parser`
// (re-created after each interim 1xx answer, which carries no body and is not the answer).
// `head`: the request was HEAD, so the answer has no body whatever its Content-Length says
// (the lean reader declines it). The stream's own async_read_some feeds the
// parser from `buf`, as Beast's http::async_read does, without its two layers of composed
// operations per read (each with its own work tracking); measured, see bench/README.md
// (branch chfast). End of stream, buffer bound and errors are mapped as Beast maps them.
template <class Stream>
awaitable<boost::system::error_code> read_answer(Stream& s, beast::flat_buffer& buf,
                                                 std::optional<AnswerParser>& parser,
                                                 uint64_t body_limit, bool head,
                                                 bool keep_fields,
                                                 const http::ReadyReactor* reactor = nullptr,
                                                 LeanAnswer* lean = nullptr) {
  boost::system::error_code ec;
  bool eof = false;  // seen while the lean reader waited: Beast's loop takes it from here
  if (lean) {
    lean->reset();
    if (head) lean->state = LeanAnswer::State::declined;  // no body whatever the length says
    while (lean->state == LeanAnswer::State::reading) {
      if (buf.size() > 0) {
        auto bytes = buf.cdata();
        auto st = read_lean_answer(
            *lean, std::string_view(static_cast<const char*>(bytes.data()), bytes.size()),
            kMaxAnswerHeader, body_limit, kMaxReadBuffer);
        if (st == LeanAnswer::State::accepted) co_return ec;
        if (st == LeanAnswer::State::declined) break;
      }
      size_t room = std::min<size_t>(buf.max_size() - buf.size(), 65536);
      if (room == 0) {
        lean->state = LeanAnswer::State::declined;
        break;
      }
      size_t n = co_await read_some(s, buf, room, reactor, ec);
      if (ec == asio::error::eof) {
        lean->state = LeanAnswer::State::declined;
        if (buf.size() == 0) co_return bhttp::error::end_of_stream;
        ec = {};
        eof = true;
        break;
      }
      if (ec) {
        lean->state = LeanAnswer::State::declined;
        co_return ec;
      }
      buf.commit(n);
    }
  }
  for (int interim = 0;; ++interim) {
    parser.emplace(keep_fields);
    parser->body_limit(body_limit);
    parser->header_limit(kMaxAnswerHeader);
    parser->eager(true);
    if (head) parser->skip(true);
    while (!parser->is_done()) {
      // Within a chunked body, fewer than 5 unparsed bytes wait for more (as the HTTP server's
      // feed_beast does): every way to finish from a chunk boundary is at least "0\r\n\r\n",
      // and Beast asserts (reads past, without assertions) when a final chunk header it asked
      // more for is offered again in under 5 bytes. Found by custom_handler_answer_fuzz.
      bool short_chunk = parser->chunked() && parser->is_header_done() && buf.size() < 5;
      if (buf.size() > 0 && !short_chunk) {
        size_t used = parser->put(buf.data(), ec);
        buf.consume(used);
        if (ec && ec != bhttp::error::need_more) co_return ec;
        bool need_more = ec == bhttp::error::need_more;
        ec = {};
        if (!need_more && used > 0) continue;  // progress: parse the rest first
      }
      size_t room = std::min<size_t>(buf.max_size() - buf.size(), 65536);
      if (room == 0) co_return bhttp::error::buffer_overflow;
      size_t n = 0;
      if (eof)
        ec = asio::error::eof;  // the stream ended while the lean reader waited
      else
        n = co_await read_some(s, buf, room, reactor, ec);
      if (ec == asio::error::eof) {
        if (!parser->got_some()) co_return bhttp::error::end_of_stream;
        ec = {};
        parser->put_eof(ec);  // completes an answer framed by the close, else partial_message
        co_return ec;
      }
      if (ec) co_return ec;
      buf.commit(n);
    }
    unsigned status = parser->status;
    if (status >= 200 || status == 101) co_return ec;  // 101: the caller refuses it
    if (interim == kMaxInterim) co_return bhttp::error::bad_status;
  }
}

// What the socket did not take at once (a large forwarded body), written asynchronously; a
// coroutine of its own, so its state is not part of invoke()'s frame, allocated per call.
awaitable<size_t> write_rest(tcp::socket& s, std::array<asio::const_buffer, 2> request,
                             size_t written, boost::system::error_code& ec) {
  beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(request);
  rest.consume(written);
  co_return co_await asio::async_write(s, rest, asio::redirect_error(use_awaitable, ec));
}

// An idle keep-alive connection may be reused only if the handler neither closed it nor sent
// anything since its last answer (bytes there mean the framing is in doubt).
bool idle_connection_usable(tcp::socket& s) {
  char c;
  ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Connection-specific headers: hop-by-hop, those the Connection header names, and Expect
// (the host has read the whole body already; a forwarded Expect makes the handler send a
// 100 Continue the client never asked this connection for).
bool forwardable(std::string_view name, std::string_view connection) {
  if (is_hop_by_hop(name) || beast::iequals(name, "expect") || beast::iequals(name, "host") ||
      beast::iequals(name, "proxy-authorization") || beast::iequals(name, "proxy-authenticate"))
    return false;
  for (auto token : bhttp::token_list(connection))
    if (beast::iequals(token, name)) return false;
  return true;
}

// What went wrong reading an answer: the cause for the client (no handler text), and the
// details for the log.
std::string read_failure(const boost::system::error_code& ec, uint64_t body_limit) {
  if (ec == bhttp::error::body_limit)
    return "handler answer exceeds the limit of " + std::to_string(body_limit) + " bytes";
  if (ec == bhttp::error::header_limit)
    return "handler answer's header section exceeds the limit of " +
           std::to_string(kMaxAnswerHeader) + " bytes";
  if (ec == bhttp::error::buffer_overflow)
    return "handler answer's chunk or trailer section exceeds the limit of " +
           std::to_string(kMaxReadBuffer) + " bytes";
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe)
    return "handler closed the connection before a complete answer";
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_status).category())
    return "handler answer is not valid HTTP";
  return "handler connection failed";
}
// An answer the lean reader accepted, read where it lies (the start of the connection's
// buffer) as invoke() reads the Beast parser's, then consumed: the default mode maps the body
// without a copy of it. Returns the mapping's detail for the log.
std::string take_lean_answer(const LeanAnswer& a, beast::flat_buffer& buf,
                             api::InvocationResult& result, const api::FunctionSpec& fn,
                             bool forward) {
  auto data = buf.cdata();
  std::string_view bytes(static_cast<const char*>(data.data()), data.size());
  std::string detail;
  if (forward) {
    result.outcome = api::Outcome::succeeded;
    result.response.status = static_cast<int>(a.status);
    std::string_view connection =
        a.connection >= 0 ? lean_field_value(a, bytes, static_cast<size_t>(a.connection)) : "";
    for (size_t i = 0; i < a.fields; ++i) {
      std::string_view name = lean_field_name(a, bytes, i);
      if (forwardable(name, connection))
        result.response.headers.emplace_back(std::string(name),
                                             std::string(lean_field_value(a, bytes, i)));
    }
    result.response.body.assign(a.body(bytes));
  } else {
    map_invocation_response(fn, static_cast<int>(a.status), a.body(bytes), result, detail);
  }
  buf.consume(a.size());
  return detail;
}
}  // namespace

// An invocation whose request is written on a connection and whose answer is not read yet.
// Answers come back in request order, so a connection keeps its waiters in that order: the
// first reads its answer from the socket; the others are suspended until it hands them the
// connection (or the connection fails under them).
struct CustomHandlerPool::Waiter {
  Clock::time_point deadline;
  bool fast = false;  // its function answers quickly (Pace): others may queue behind it
  std::optional<asio::any_completion_handler<void()>> resume;  // set while suspended
  // Woken while not first: its turn came, or the connection failed under it (its request
  // was sent, so it may have run: it is not sent again).
  enum class Woken : uint8_t { turn, failed } woken = Woken::turn;
};

// One keep-alive connection to a handler process: a plain socket (no per-operation timers:
// the pool's deadline sweep cancels a connection whose invocation ran out of time) and a read
// buffer kept across invocations.
struct CustomHandlerPool::Conn {
  explicit Conn(asio::io_context& io) : sock(io), reactor(sock) {}
  tcp::socket sock;
  http::ReadyReactor reactor;  // for the answer's reads (http/ready_read.h)
  beast::flat_buffer buf{kMaxReadBuffer};
  // The answer being read. Kept here, not in invoke()'s coroutine frame, which is allocated
  // per invocation (bench/README.md, branches spineperf and chlean).
  std::optional<AnswerParser> parser;
  // What the lean reader learned of the answer; when it accepted it, the answer is at the
  // start of buf and `parser` is not used.
  LeanAnswer lean;
  // The request's head, written here per invocation: the connection's string keeps its
  // capacity, so a head costs no allocation, and it leaves invoke()'s frame.
  std::string head;
  // Requests written and not yet answered, oldest first (see Waiter). Empty: the connection
  // is idle (in its process's idle list) or being connected.
  std::deque<Waiter*> waiters;
  int slow = 0;  // waiters that are not `fast`: while any is here, none joins
  Process* proc = nullptr;
  // It takes no further request while being connected or written (a request is written
  // whole before the next starts) and once it failed.
  bool open_for_more = false;
  bool broken = false;
  bool timed_out = false;     // the sweep cancelled it: a waiter on it ran out of time
  bool answered = false;      // it has given a keep-alive answer (so it takes pipelining)
  // Pipelined requests of this loop turn, written together by flush() (posted once): one
  // send, and one read for the handler, instead of one per request.
  std::string out;
  bool flush_posted = false;
  Clock::time_point progress;  // its last answer, or its first request after idling
  // The latest deadline of its waiters: one joins only with a deadline no earlier, so the
  // first deadline to pass on a connection is its first waiter's (a later waiter's timeout
  // would otherwise close the connection under those before it).
  Clock::time_point latest_deadline{};
  size_t busy_index = 0;  // its place in CustomHandlerPool::busy_ while it has waiters
};

struct CustomHandlerPool::Process {
  int slot = 0;
  pid_t pid = -1;
  uint16_t port = 0;
  bool alive = true;
  bool cold = true;
  int in_flight = 0;  // invocations using it (a reload stops it when this reaches 0)
  std::shared_ptr<OutputCapture> output;  // its stdout/stderr, logged as Worker.Output
  std::vector<std::shared_ptr<Conn>> idle;  // keep-alive connections
  int open = 0;  // connections with requests in flight (in CustomHandlerPool::busy_)
  std::string host_header;  // "127.0.0.1:<port>", once
  std::string cached_name;  // name(), once the pid is known
  std::string name() const {
    return "handler-" + std::to_string(slot) + "/pid " + std::to_string(pid);
  }
};

CustomHandlerPool::CustomHandlerPool(asio::io_context& io, Options options, ProcessReaper& reaper,
                                     observability::Metrics& metrics, Logger& log)
    : io_(io), opt_(std::move(options)), reaper_(reaper), metrics_(metrics), log_(log), sweep_(io) {
  procs_.resize(static_cast<size_t>(opt_.spec.process_count));
  failures_.assign(procs_.size(), 0);
}

CustomHandlerPool::~CustomHandlerPool() { stop(); }

void CustomHandlerPool::stop() {
  stopping_ = true;
  sweep_.cancel();
  for (auto& p : procs_)
    if (p && p->alive) {
      p->alive = false;
      reaper_.forget(p->pid);
      reaper_.terminate(p->pid);  // and its process group: handlers may fork
    }
}

awaitable<std::shared_ptr<CustomHandlerPool::Process>> CustomHandlerPool::launch(
    int slot, std::string& error) {
  auto p = std::make_shared<Process>();
  p->slot = slot;
  p->port = free_port();
  SpawnSpec spec;
  spec.executable = opt_.spec.executable;
  spec.args = opt_.spec.arguments;
  spec.env = opt_.env;
  std::string port = std::to_string(p->port);
  std::string worker_id = std::to_string(slot);
  spec.env["FUNCTIONS_CUSTOMHANDLER_PORT"] = port;
  spec.env["FUNCTIONS_HTTPWORKER_PORT"] = port;
  spec.env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] = worker_id;
  spec.env["FUNCTIONS_HTTPWORKER_ID"] = worker_id;
  spec.env["FUNCTIONS_APP_ROOT_PATH"] = opt_.app_root;
  // %VAR% in arguments expands from app settings, then the environment (as Azure does).
  for (auto& arg : spec.args) {
    size_t pos = 0;
    while ((pos = arg.find('%', pos)) != std::string::npos) {
      size_t end = arg.find('%', pos + 1);
      if (end == std::string::npos) break;
      std::string name = arg.substr(pos + 1, end - pos - 1);
      const char* env = std::getenv(name.c_str());
      auto it = spec.env.find(name);
      std::string value = it != spec.env.end() ? it->second : env ? env : "";
      if (it == spec.env.end() && !env) {
        pos = end + 1;
        continue;
      }
      arg.replace(pos, end - pos + 1, value);
      pos += value.size();
    }
  }
  spec.cwd = opt_.spec.working_directory;
  OutputCapture::Pipes pipes;
  if (!pipes.open(error)) co_return nullptr;
  spec.stdout_fd = pipes.out[1];
  spec.stderr_fd = pipes.err[1];
  p->pid = spawn_process(spec, error);
  if (p->pid < 0) {
    pipes.close_all();
    co_return nullptr;
  }
  p->host_header = "127.0.0.1:" + port;
  p->cached_name = p->name();
  p->output = OutputCapture::start(io_, log_, p->name(), pipes);
  metrics_.worker_started("custom_handler");
  std::weak_ptr<Process> weak = p;
  reaper_.watch(p->pid, [this, weak](int status) {
    auto p = weak.lock();
    if (!p || !p->alive) return;
    p->alive = false;
    p->idle.clear();
    metrics_.worker_crashed("custom_handler");
    log_.warn("Host.Workers",
              "custom handler exited unexpectedly (" + ProcessReaper::describe_status(status) + ")",
              {{"worker", p->name()}});
    // A process a reload already replaced is not restarted.
    if (!stopping_ && procs_[static_cast<size_t>(p->slot)] == p)
      asio::co_spawn(io_, restart(p->slot),
                     log_if_thrown(log_, "Host.Workers", "custom handler restart failed"));
  });

  // Readiness: any HTTP answer to GET / means ready; connection errors mean not yet.
  auto deadline = Clock::now() + opt_.spec.startup_timeout;
  asio::steady_timer pause(io_);
  while (p->alive && Clock::now() < deadline) {
    beast::tcp_stream s(io_);
    s.expires_after(std::chrono::seconds(2));
    boost::system::error_code ec;
    co_await s.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), p->port),
                             asio::redirect_error(use_awaitable, ec));
    if (!ec) {
      bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/", 11};
      req.set(bhttp::field::host, "127.0.0.1:" + port);
      co_await bhttp::async_write(s, req, asio::redirect_error(use_awaitable, ec));
      beast::flat_buffer buf(kMaxReadBuffer);
      std::optional<AnswerParser> res;
      if (!ec) ec = co_await read_answer(s, buf, res, opt_.max_body, false, false);
      if (!ec) {
        procs_[static_cast<size_t>(slot)] = p;
        log_.log(LogLevel::debug, "Host.Workers", "custom handler ready", {{"worker", p->name()}});
        co_return p;
      }
    }
    pause.expires_after(kReadyPoll);
    co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  error = "custom handler \"" + opt_.spec.executable + "\" " +
          (p->alive ? "did not answer GET / on port " + port + " within the startup timeout; it "
                      "must listen on FUNCTIONS_CUSTOMHANDLER_PORT"
                    : std::string("exited during start-up; its output above says why"));
  if (p->alive) {
    p->alive = false;
    reaper_.forget(p->pid);
    reaper_.terminate(p->pid);
  }
  // Its last words are logged before the error that points at them.
  co_await p->output->drained(std::chrono::milliseconds(500));
  co_return nullptr;
}

awaitable<bool> CustomHandlerPool::start(std::string& error) {
  for (int slot = 0; slot < static_cast<int>(procs_.size()); ++slot)
    if (!(co_await launch(slot, error))) co_return false;
  co_return true;
}

awaitable<bool> CustomHandlerPool::reload(std::string& error) {
  bool ok = true;
  for (int slot = 0; slot < static_cast<int>(procs_.size()) && !stopping_; ++slot) {
    auto old = procs_[static_cast<size_t>(slot)];
    std::string e;
    if (!co_await launch(slot, e)) {  // launch installs the new process only once it is ready
      if (ok) error = e;
      ok = false;
      continue;
    }
    failures_[static_cast<size_t>(slot)] = 0;
    if (old && old != procs_[static_cast<size_t>(slot)])
      asio::co_spawn(io_, retire_when_idle(std::move(old)),
                     log_if_thrown(log_, "Host.Workers", "retiring a custom handler failed"));
  }
  co_return ok;
}

awaitable<void> CustomHandlerPool::retire_when_idle(std::shared_ptr<Process> p) {
  // Each invocation on it ends by its own deadline (the sweep cancels late ones).
  asio::steady_timer t(io_);
  while (p->alive && p->in_flight > 0 && !stopping_) {
    t.expires_after(std::chrono::milliseconds(10));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (!p->alive) co_return;
  p->alive = false;
  p->idle.clear();
  reaper_.forget(p->pid);
  reaper_.terminate(p->pid);
  log_.log(LogLevel::debug, "Host.Workers", "custom handler replaced", {{"worker", p->name()}});
}

awaitable<void> CustomHandlerPool::restart(int slot) {
  procs_[static_cast<size_t>(slot)].reset();
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
    if (co_await launch(slot, error)) co_return;
    log_.error("Host.Workers", "custom handler restart failed: " + error, {{"slot", slot}});
    n = ++failures_[static_cast<size_t>(slot)];
  }
}

// Connections in use are watched by one timer for the whole pool instead of a timer per
// socket operation: every kSweep while any is in use, those past their invocation's deadline
// are cancelled (their pending connect, write or read ends with operation_aborted).
constexpr auto kSweep = std::chrono::milliseconds(25);
// How recently a busy connection must have answered to take a pipelined request (see
// pipeline_target). Under load a connection answers every fraction of a millisecond; a
// handler request that runs longer than this turns its connection away from new ones.
constexpr auto kProgressWindow = std::chrono::milliseconds(5);
// Whether a function answers quickly: one of its answers in the last kPaceMemory took under
// kProgressWindow (from its turn on the connection to its answer). Not an average: under load
// a quick function's answers also wait for the handler's CPU (a burst on fresh connections
// answers in tens of ms), and that wait is no reason to give each its own connection, while a
// function that waits on something (a timer, a remote call) never answers quickly. Never
// answered counts as slow, so a function proves itself before anything waits behind it.
constexpr auto kPaceMemory = std::chrono::seconds(1);
struct CustomHandlerPool::Pace {
  Clock::time_point quick{};  // its last quick answer
  bool fast(Clock::time_point now) const {
    return quick != Clock::time_point{} && now - quick < kPaceMemory;
  }
  void add(Clock::duration took, Clock::time_point now) {
    if (took < kProgressWindow) quick = now;
  }
};

// Pipelined requests up to this size are copied into the connection's batch (flush); larger
// ones are written from where they lie.
constexpr size_t kBatchMax = 16 * 1024;

// A connection's first waiter makes it busy (watched by the sweep); its last leaves it
// (release).
void CustomHandlerPool::enter(const std::shared_ptr<Conn>& c, Waiter& w, Clock::time_point now) {
  if (c->waiters.empty()) {
    c->busy_index = busy_.size();
    busy_.push_back(c);
    ++c->proc->open;
    c->progress = now;
    if (!sweeping_) {
      sweeping_ = true;
      sweep_.expires_after(kSweep);
      sweep_.async_wait([this](boost::system::error_code ec) { on_sweep(ec); });
    }
  }
  if (c->waiters.empty() || w.deadline > c->latest_deadline) c->latest_deadline = w.deadline;
  c->waiters.push_back(&w);
  if (!w.fast) ++c->slow;
}

// Takes `w` off the connection (it was answered, failed, or never written).
void CustomHandlerPool::leave(Conn& c, Waiter& w) {
  auto it = std::find(c.waiters.begin(), c.waiters.end(), &w);
  if (it == c.waiters.end()) return;
  c.waiters.erase(it);
  if (!w.fast) --c.slow;
}

void CustomHandlerPool::release(Conn& c) {
  size_t i = c.busy_index;
  if (i >= busy_.size() || busy_[i].get() != &c) return;
  --c.proc->open;
  busy_[i] = std::move(busy_.back());
  busy_[i]->busy_index = i;
  busy_.pop_back();
}

// The connection is finished: closed (the first waiter's pending read ends), and every waiter
// behind the first is woken to fail, since its request was sent and may have run.
void CustomHandlerPool::fail_conn(Conn& c) {
  c.broken = true;
  c.open_for_more = false;
  boost::system::error_code ignored;
  c.sock.close(ignored);
  c.out.clear();  // a batch not yet written goes nowhere
  auto waiters = std::move(c.waiters);
  c.waiters.clear();
  c.slow = 0;
  release(c);
  for (Waiter* w : waiters)
    if (w->resume) {
      w->woken = Waiter::Woken::failed;
      wake(*w);
    }
}

void CustomHandlerPool::wake(Waiter& w) {
  auto h = std::move(*w.resume);
  w.resume.reset();
  asio::post(io_, [h = std::move(h)]() mutable { std::move(h)(); });
}

// A connection an invocation may be pipelined on: of this process, open for more, proven
// keep-alive (it has answered), not too deep, no waiter on it with a later deadline, and
// answering: its last answer (or its first request) is under kProgressWindow old, so a
// request stuck in the handler stops others from joining it. The least deep wins.
std::shared_ptr<CustomHandlerPool::Conn> CustomHandlerPool::pipeline_target(
    const Process& p, Clock::time_point deadline, Clock::time_point now) {
  std::shared_ptr<Conn> best;
  size_t depth = static_cast<size_t>(opt_.spec.pipeline_depth);
  for (auto& c : busy_) {
    if (c->proc != &p || !c->open_for_more || !c->answered || c->slow > 0 ||
        c->waiters.size() >= depth || now - c->progress >= kProgressWindow ||
        deadline < c->latest_deadline)
      continue;
    if (c->flush_posted) return c;  // joins this turn's batch: no send of its own
    if (!best || c->waiters.size() < best->waiters.size()) best = c;
  }
  return best;
}

// Writes a connection's batch of pipelined requests (see Conn::out), posted by the first of
// them: it runs after the handlers of the loop's current turn, which may add more.
void CustomHandlerPool::flush(const std::shared_ptr<Conn>& c) {
  c->flush_posted = false;
  if (c->broken || c->out.empty()) {
    c->out.clear();
    return;
  }
  boost::system::error_code ec;
  size_t n = c->sock.write_some(asio::buffer(c->out), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    n = 0;
  }
  if (ec) {
    c->out.clear();
    // The batch was not sent, but the requests before it on the connection were; all fail
    // with it rather than the batch being sent again elsewhere (rare: the handler closed or
    // reset a connection that answered within the last few ms).
    fail_conn(*c);
    return;
  }
  if (n == c->out.size()) {
    c->out.clear();
    if (c->out.capacity() > 4 * kBatchMax) std::string().swap(c->out);
    return;
  }
  // The rest asynchronously; the connection takes no request until it is written.
  c->out.erase(0, n);
  c->open_for_more = false;
  asio::async_write(c->sock, asio::buffer(c->out), [this, c](boost::system::error_code e, size_t) {
    c->out.clear();
    if (e)
      fail_conn(*c);
    else if (!c->broken && !c->timed_out)
      c->open_for_more = true;
  });
}

void CustomHandlerPool::on_sweep(boost::system::error_code ec) {
  if (ec) return;  // cancelled: the pool is stopping (and may be gone); touch nothing
  sweeping_ = false;
  if (stopping_) return;
  auto now = Clock::now();
  std::vector<std::shared_ptr<Conn>> unread;
  for (auto& c : busy_) {
    if (!c->timed_out)
      for (Waiter* w : c->waiters)
        if (w->deadline <= now) {
          c->timed_out = true;
          c->open_for_more = false;
          boost::system::error_code ignored;
          c->sock.cancel(ignored);  // ends the first waiter's read, which fails the rest
          break;
        }
    // Cancelled, yet its first waiter is suspended, not reading (a hand-off that never came):
    // nothing would end the others' wait, so it fails here.
    if (c->timed_out && !c->waiters.empty() && c->waiters.front()->resume) unread.push_back(c);
  }
  for (auto& c : unread) fail_conn(*c);
  if (!busy_.empty()) {
    sweeping_ = true;
    sweep_.expires_after(kSweep);
    sweep_.async_wait([this](boost::system::error_code e) { on_sweep(e); });
  }
}

std::shared_ptr<CustomHandlerPool::Process> CustomHandlerPool::pick() {
  for (size_t i = 0; i < procs_.size(); ++i) {
    auto& p = procs_[(next_ + i) % procs_.size()];
    if (p && p->alive) {
      next_ = (next_ + i + 1) % procs_.size();
      return p;
    }
  }
  return nullptr;
}

// The rare waits of invoke() are coroutines of their own, so their timers are not part of
// the frame every invocation allocates.
awaitable<std::shared_ptr<CustomHandlerPool::Process>> CustomHandlerPool::wait_for_process(
    Clock::time_point deadline) {
  // While every process is restarting, wait for one (bounded by the deadline).
  std::shared_ptr<Process> p;
  asio::steady_timer wait(io_);
  while (!p && Clock::now() < deadline) {
    wait.expires_after(std::chrono::milliseconds(20));
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(use_awaitable, ec));
    p = pick();
  }
  co_return p;
}

awaitable<bool> CustomHandlerPool::died(std::shared_ptr<Process> p) {
  // The socket closes a moment before the exiting process turns into a zombie: give it up to
  // 100 ms to tell a crash from a handler that merely dropped the connection.
  bool dead = !p->alive || process_exited(p->pid);
  asio::steady_timer grace(io_);
  for (int i = 0; i < 5 && !dead; ++i) {
    grace.expires_after(std::chrono::milliseconds(20));
    boost::system::error_code ignored;
    co_await grace.async_wait(asio::redirect_error(use_awaitable, ignored));
    dead = !p->alive || process_exited(p->pid);
  }
  co_return dead;
}

// The request as the socket writes it: the head on the connection, then the body. Made where
// it is used, so no copy of it lives in invoke()'s frame.
std::array<asio::const_buffer, 2> CustomHandlerPool::request_buffers(const Conn& c,
                                                                      const std::string& body) {
  return {asio::buffer(c.head), asio::buffer(body)};
}

// The cause goes to the client; the details (what the handler sent, the socket error) only to
// the log, with the invocation id. A function, not a lambda holding five references in
// invoke()'s frame.
void CustomHandlerPool::fail_invocation(api::InvocationResult& result, const api::Invocation& inv,
                                        const Process& p, api::Outcome outcome, std::string cause,
                                        std::string detail) {
  result.outcome = outcome;
  log_.warn("Function." + inv.function->name, detail.empty() ? cause : cause + ": " + detail,
            {{"invocationId", inv.id}, {"worker", p.name()}});
  result.error = std::move(cause);
}

// A fresh connection to a handler process. A coroutine of its own: a reused connection (the
// common case) needs none, and its state stays out of invoke()'s frame.
awaitable<boost::system::error_code> CustomHandlerPool::connect(Conn& c, uint16_t port) {
  boost::system::error_code ec;
  co_await c.sock.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                                asio::redirect_error(use_awaitable, ec));
  // TCP_NODELAY: measured in one run against the same build without it (8 s wrk rounds,
  // bench/http_bench.py with the other build as baseline): 1.03-1.13x the rate, lower p99.
  if (!ec) c.sock.set_option(tcp::no_delay(true), ec);
  if (!ec) c.sock.non_blocking(true, ec);
  co_return ec;
}

// The request's head, as one buffer (cheaper than Beast's serializer on this hot path). Header
// names and values come from Beast's parser or from us, so they hold no CR/LF.
void CustomHandlerPool::write_head(std::string& head, api::Invocation& inv, const Process& p,
                                   bool forward, size_t body_size) {
  head.clear();
  auto header = [&](std::string_view k, std::string_view v) {
    head.append(k).append(": ", 2).append(v).append("\r\n", 2);
  };
  if (forward) {
    const auto& r = *inv.http();
    head.append(r.method).append(" ").append(r.target).append(" HTTP/1.1\r\n");
    std::string_view connection = r.header("connection");
    for (const auto& [k, v] : r.headers)
      if (forwardable(k, connection) && !beast::iequals(k, "traceparent") &&
          !beast::iequals(k, "tracestate"))
        header(k, v);
    // The caller's tracestate goes on with our span's traceparent (below).
    if (auto state = r.header("tracestate"); !state.empty()) header("tracestate", state);
  } else {
    // The fixed text between the variable parts is appended as one piece each (a third of
    // the appends of a field at a time; this head is written for every invocation).
    head.append("POST /"sv).append(inv.function->name);
    head.append(" HTTP/1.1\r\nContent-Type: application/json\r\n"sv);
  }
  head.append("Host: "sv).append(p.host_header);
  head.append("\r\nX-Azure-Functions-InvocationId: "sv).append(inv.id).append("\r\n"sv);
  // This invocation's span, so the handler's own calls join the caller's trace.
  if (!inv.trace.trace_id.empty()) {
    head.append("traceparent: "sv);
    inv.trace.append_traceparent(head);
    head.append("\r\n"sv);
  }
  head.append(kFixedFields);
  char length[24];
  auto [end, ec] = std::to_chars(length, length + sizeof length, body_size);
  head.append(length, static_cast<size_t>(end - length)).append("\r\n\r\n"sv);
}

awaitable<api::InvocationResult> CustomHandlerPool::invoke(api::Invocation& inv) {
  api::InvocationResult result;
  const auto& fn = *inv.function;
  auto p = pick();
  if (!p) p = co_await wait_for_process(inv.deadline);
  if (!p) {
    result.outcome = api::Outcome::unavailable;
    result.error = "no custom handler process is running; see the restart errors above";
    co_return result;
  }
  ++p->in_flight;
  ScopeExit done([&p] { --p->in_flight; });
  result.worker = p->cached_name;
  result.cold_start = p->cold;
  p->cold = false;

  // Forwarding mode passes the request through; the default mode wraps it (Azure semantics).
  bool forward = opt_.spec.forwarding && fn.http() &&
                 !fn.http_output().empty() && fn.bindings.size() == 2;
  bool head_request = forward && inv.http()->method == "HEAD";
  std::string body = forward ? std::move(inv.http()->body) : build_invocation_body(inv);
  Pace& pace = paces_[fn.name];


  if (Clock::now() >= inv.deadline) {  // before a connection is chosen: none is touched
    fail_invocation(result, inv, *p, api::Outcome::timed_out,
                    "handler did not answer before the function timeout", "");
    co_return result;
  }

  // A request is sent again only when the handler certainly never received it: the reused
  // connection's write failed before a single byte left. After a successful write it may have
  // run, so a failure then is the invocation's, never retried.
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Once the process has its share of connections busy, a place behind the requests of one
    // that is answering; else an idle connection; else a new one. Only the default mode
    // pipelines: there the host alone frames every request (a POST of JSON), so nothing a
    // caller sends can put a handler's answers out of step; a forwarded request carries the
    // caller's method, fields and body.
    std::shared_ptr<Conn> s;
    auto now = Clock::now();  // one reading for the choice of a connection
    bool fast = !forward && pace.fast(now);
    if (fast && p->open >= opt_.spec.connections_per_process)
      s = pipeline_target(*p, inv.deadline, now);
    while (!s && !p->idle.empty()) {
      auto c = std::move(p->idle.back());
      p->idle.pop_back();
      if (idle_connection_usable(c->sock)) s = std::move(c);
    }
    bool reused = s != nullptr;
    if (!s) {
      s = std::make_shared<Conn>(io_);
      s->proc = p.get();
    }
    Waiter me;
    me.deadline = inv.deadline;
    me.fast = fast;
    enter(s, me, now);
    // However invoke() ends, it leaves no pointer to `me` on the connection (alive here: held
    // by `s`, declared before, or by the idle list `s` moved it to).
    ScopeExit left([this, c = s.get(), &me] {
      if (std::find(c->waiters.begin(), c->waiters.end(), &me) != c->waiters.end()) {
        leave(*c, me);
        fail_conn(*c);  // a request in flight without its waiter: the framing is lost
      }
    });
    s->open_for_more = false;  // until this request is written whole
    auto timed_out = [&](const boost::system::error_code& e) {
      return e == beast::error::timeout || (s->timed_out && e == asio::error::operation_aborted);
    };
    boost::system::error_code ec;
    if (!reused) ec = co_await connect(*s, p->port);
    if (timed_out(ec)) {
      fail_invocation(result, inv, *p, api::Outcome::timed_out,
                      "handler did not answer before the function timeout", "");
      co_return result;
    }
    if (ec) {
      fail_invocation(result, inv, *p,
                      process_exited(p->pid) || !p->alive ? api::Outcome::worker_crashed
                                                          : api::Outcome::bad_response,
                      "handler refused the connection", ec.message());
      co_return result;
    }
    // The socket is non-blocking: the request (a few hundred bytes) usually leaves in this
    // one call, with no composed operation and no completion posted to the loop; only what
    // the socket does not take is written asynchronously.
    write_head(s->head, inv, *p, forward, body.size());
    size_t written = 0;
    if (!s->out.empty() ||
        (s->waiters.size() > 1 && s->head.size() + body.size() <= kBatchMax)) {
      // Pipelined: joins the connection's batch (a failure to write it fails the connection,
      // and so this invocation, below).
      s->out.append(s->head).append(body);
      if (!s->flush_posted) {
        s->flush_posted = true;
        asio::post(io_, [this, c = s] { flush(c); });
      }
      written = s->head.size() + body.size();
    } else {
      written = s->sock.write_some(request_buffers(*s, body), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
        written = 0;
      }
      if (!ec && written < s->head.size() + body.size())
        written += co_await write_rest(s->sock, request_buffers(*s, body), written, ec);
    }
    // The head is written: an idle connection does not keep a large forwarded one.
    if (s->head.capacity() > 4096) std::string().swap(s->head);
    if (ec && reused && written == 0 && attempt == 0 && !timed_out(ec) && !s->broken) {
      leave(*s, me);  // the last: nothing was written behind a request being written
      fail_conn(*s);  // the socket failed; those before this request fail too
      continue;
    }
    if (!ec && !s->broken && !s->timed_out) {
      s->open_for_more = true;
      if (s->waiters.front() != &me) {  // pipelined: wait for the answers before this one
        co_await asio::async_initiate<decltype(use_awaitable), void()>(
            [&me](auto handler) { me.resume.emplace(std::move(handler)); }, use_awaitable);
        if (me.woken == Waiter::Woken::failed) ec = asio::error::connection_aborted;
      }
    }
    auto turn = Clock::now();  // its answer is the next on the connection from here
    if (!ec && (s->broken || s->timed_out)) ec = asio::error::operation_aborted;
    if (!ec)
      ec = co_await read_answer(s->sock, s->buf, s->parser, opt_.max_body, head_request, forward,
                                &s->reactor, &s->lean);
    if (ec) {
      bool mine = !s->waiters.empty() && s->waiters.front() == &me;
      bool others = s->waiters.size() > (mine ? 1u : 0u);
      fail_conn(*s);
      if (Clock::now() >= inv.deadline || (timed_out(ec) && !others && mine))
        fail_invocation(result, inv, *p, api::Outcome::timed_out,
                        "handler did not answer before the function timeout", "");
      else if (!s->timed_out && co_await died(p))
        fail_invocation(result, inv, *p, api::Outcome::worker_crashed,
                        "handler process died during the invocation", "");
      else if (!mine || s->timed_out)
        fail_invocation(result, inv, *p, api::Outcome::bad_response,
                        "handler connection failed before this invocation's answer",
                        s->timed_out ? "an invocation pipelined on the same connection timed out"
                                     : "the connection failed with requests pipelined on it");
      else
        fail_invocation(result, inv, *p, api::Outcome::bad_response,
                        read_failure(ec, opt_.max_body), ec.message());
      co_return result;
    }
    leave(*s, me);
    s->progress = Clock::now();
    pace.add(s->progress - turn, s->progress);
    // The connection is handed on (next waiter, idle list) below; if mapping the answer
    // throws first, it fails instead, so no waiter behind waits for a hand-off forever.
    bool handed = false;
    ScopeExit hand_off([this, &s, &handed] {
      if (!handed) fail_conn(*s);
    });
    bool keep;
    if (s->lean.state == LeanAnswer::State::accepted) {
      std::string detail = take_lean_answer(s->lean, s->buf, result, fn, forward);
      if (!detail.empty())
        log_.warn("Function." + fn.name, detail, {{"invocationId", inv.id}, {"worker", p->name()}});
      keep = s->lean.keep_alive();
    } else {
      auto& res = *s->parser;
      if (res.status == 101) {
        handed = true;
        fail_conn(*s);
        fail_invocation(result, inv, *p, api::Outcome::bad_response,
                        "handler answer is not valid HTTP",
                        "101 Switching Protocols to a request that asked for no upgrade");
        co_return result;
      }
      keep = res.keep_alive() && !res.need_eof();
      if (forward) {
        result.outcome = api::Outcome::succeeded;
        result.response.status = static_cast<int>(res.status);
        for (auto& [name, value] : res.fields)
          if (forwardable(name, res.connection))
            result.response.headers.emplace_back(std::move(name), std::move(value));
        result.response.body = std::move(res.body);
      } else {
        std::string detail;
        map_invocation_response(fn, static_cast<int>(res.status), res.body, result, detail);
        if (!detail.empty())
          log_.warn("Function." + fn.name, detail,
                    {{"invocationId", inv.id}, {"worker", p->name()}});
      }
      s->parser.reset();  // an idle connection holds no answer (it may be large)
    }
    failures_[static_cast<size_t>(p->slot)] = 0;
    // The connection goes on only after a complete, clean keep-alive answer. Those waiting
    // behind an answer that closes it fail: the handler may have run their requests.
    handed = true;
    if (!keep || !p->alive || s->timed_out || s->broken) {
      fail_conn(*s);
    } else if (!s->waiters.empty()) {
      s->answered = true;
      // The next reads now; it is suspended unless it is still writing its own request
      // (a large one, written directly), after which it finds itself first and reads.
      if (Waiter* next = s->waiters.front(); next->resume) wake(*next);
    } else if (s->buf.size() == 0 && s->out.empty()) {
      // Idle only with nothing after the last answer (bytes there put the framing in doubt)
      // and no batch still being written (an answer can come before its request's body).
      s->answered = true;
      release(*s);
      p->idle.push_back(std::move(s));
    } else {
      fail_conn(*s);
    }
    co_return result;
  }
  fail_invocation(result, inv, *p, api::Outcome::bad_response, "handler connection failed",
                  "the write failed on a reused and on a fresh connection");
  co_return result;
}

}  // namespace nimbus::workers
