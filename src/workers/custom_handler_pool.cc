#include "workers/custom_handler_pool.h"

#include <signal.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "workers/custom_handler_protocol.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace nimbus::workers {

namespace {
constexpr auto kReadyPoll = std::chrono::milliseconds(25);  // Azure polls GET / every 25 ms
constexpr auto kMaxBackoff = std::chrono::seconds(10);
constexpr const char* kHostVersion = "4.0.0-nimbus";

uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return a.local_endpoint().port();
}
}  // namespace

struct CustomHandlerPool::Process {
  int slot = 0;
  pid_t pid = -1;
  uint16_t port = 0;
  bool alive = true;
  bool cold = true;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle;  // keep-alive connections
  std::string name() const {
    return "handler-" + std::to_string(slot) + "/pid " + std::to_string(pid);
  }
};

CustomHandlerPool::CustomHandlerPool(asio::io_context& io, Options options, ProcessReaper& reaper,
                                     observability::Metrics& metrics, Logger& log)
    : io_(io), opt_(std::move(options)), reaper_(reaper), metrics_(metrics), log_(log) {
  procs_.resize(static_cast<size_t>(opt_.spec.process_count));
  failures_.assign(procs_.size(), 0);
}

CustomHandlerPool::~CustomHandlerPool() { stop(); }

void CustomHandlerPool::stop() {
  stopping_ = true;
  for (auto& p : procs_)
    if (p && p->alive) {
      p->alive = false;
      reaper_.forget(p->pid);
      ::kill(-p->pid, SIGKILL);  // the whole process group: handlers may fork
      ::kill(p->pid, SIGKILL);
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
  p->pid = spawn_process(spec, error);
  if (p->pid < 0) co_return nullptr;
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
    if (!stopping_)
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
      beast::flat_buffer buf;
      bhttp::response<bhttp::string_body> res;
      if (!ec) co_await bhttp::async_read(s, buf, res, asio::redirect_error(use_awaitable, ec));
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
    ::kill(-p->pid, SIGKILL);
    ::kill(p->pid, SIGKILL);
  }
  co_return nullptr;
}

awaitable<bool> CustomHandlerPool::start(std::string& error) {
  for (int slot = 0; slot < static_cast<int>(procs_.size()); ++slot)
    if (!(co_await launch(slot, error))) co_return false;
  co_return true;
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

awaitable<api::InvocationResult> CustomHandlerPool::invoke(api::Invocation& inv) {
  api::InvocationResult result;
  const auto& fn = *inv.function;
  auto p = pick();
  // While every process is restarting, wait for one (bounded by the deadline).
  asio::steady_timer wait(io_);
  while (!p && Clock::now() < inv.deadline) {
    wait.expires_after(std::chrono::milliseconds(20));
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(use_awaitable, ec));
    p = pick();
  }
  if (!p) {
    result.outcome = api::Outcome::unavailable;
    result.error = "no custom handler process is running; see the restart errors above";
    co_return result;
  }
  result.worker = p->name();
  result.cold_start = p->cold;
  p->cold = false;

  // Forwarding mode passes the request through; the default mode wraps it (Azure semantics).
  bool forward = opt_.spec.forwarding && fn.trigger_type == "httpTrigger" &&
                 !fn.http_output.empty() && fn.bindings.size() == 2;
  // The request is written as one buffer (cheaper than Beast's serializer on this hot path).
  // Header names and values come from Beast's parser or from us, so they hold no CR/LF.
  std::string body;
  std::string head;
  head.reserve(512);
  auto header = [&](std::string_view k, std::string_view v) {
    head.append(k).append(": ").append(v).append("\r\n");
  };
  if (forward) {
    const auto& r = *inv.http;
    head.append(r.method).append(" ").append(r.target).append(" HTTP/1.1\r\n");
    for (const auto& [k, v] : r.headers)
      if (!is_hop_by_hop(k) && !beast::iequals(k, "host")) header(k, v);
    body = std::move(inv.http->body);
  } else {
    head.append("POST /").append(fn.name).append(" HTTP/1.1\r\n");
    header("Content-Type", "application/json");
    body = build_invocation_body(inv);
  }
  header("Host", "127.0.0.1:" + std::to_string(p->port));
  header("X-Azure-Functions-InvocationId", inv.id);
  header("X-Azure-Functions-HostVersion", kHostVersion);
  header("User-Agent", std::string("Azure-Functions-Host/") + kHostVersion);
  header("Content-Length", std::to_string(body.size()));
  head.append("\r\n");
  std::array<asio::const_buffer, 2> request{asio::buffer(head), asio::buffer(body)};

  // A reused keep-alive connection may have been closed by the handler meanwhile: one retry
  // on a fresh connection when nothing of the answer had arrived.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<beast::tcp_stream> s;
    bool reused = false;
    if (!p->idle.empty()) {
      s = std::move(p->idle.back());
      p->idle.pop_back();
      reused = true;
    } else {
      s = std::make_unique<beast::tcp_stream>(io_);
    }
    s->expires_at(inv.deadline);
    boost::system::error_code ec;
    if (!reused)
      co_await s->async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), p->port),
                                asio::redirect_error(use_awaitable, ec));
    if (!ec) co_await asio::async_write(*s, request, asio::redirect_error(use_awaitable, ec));
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(opt_.max_body + (1u << 20));
    parser.header_limit(1u << 20);
    if (!ec) co_await bhttp::async_read(*s, buf, parser, asio::redirect_error(use_awaitable, ec));
    if (ec == beast::error::timeout) {
      result.outcome = api::Outcome::timed_out;
      result.error = "handler did not answer before the function timeout";
      co_return result;
    }
    if (ec) {
      if (reused && attempt == 0 && buf.size() == 0 && Clock::now() < inv.deadline) continue;
      // The socket closes a moment before the exiting process turns into a zombie: give it
      // up to 100 ms to tell a crash from a handler that merely dropped the connection.
      bool dead = !p->alive || process_exited(p->pid);
      for (int i = 0; i < 5 && !dead; ++i) {
        asio::steady_timer grace(io_, std::chrono::milliseconds(20));
        co_await grace.async_wait(asio::redirect_error(use_awaitable, ec));
        dead = !p->alive || process_exited(p->pid);
      }
      result.outcome = dead ? api::Outcome::worker_crashed : api::Outcome::bad_response;
      result.error = dead ? "handler process died during the invocation"
                          : "handler connection failed: " + ec.message();
      co_return result;
    }
    auto res = parser.release();
    if (res.keep_alive() && p->alive) {
      s->expires_never();
      p->idle.push_back(std::move(s));
    }
    if (forward) {
      result.outcome = api::Outcome::succeeded;
      result.response.status = static_cast<int>(res.result_int());
      for (const auto& h : res)
        if (!is_hop_by_hop(h.name_string()))
          result.response.headers.emplace_back(std::string(h.name_string()), std::string(h.value()));
      result.response.body = std::move(res.body());
    } else {
      map_invocation_response(fn, static_cast<int>(res.result_int()), res.body(), result);
    }
    failures_[static_cast<size_t>(p->slot)] = 0;
    co_return result;
  }
  result.outcome = api::Outcome::bad_response;
  result.error = "handler connection failed";
  co_return result;
}

}  // namespace nimbus::workers
