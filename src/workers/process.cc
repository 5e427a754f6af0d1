#include "workers/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

extern char** environ;

namespace nimbus::workers {

namespace {
std::string resolve_on_path(const std::string& exe) {
  if (exe.find('/') != std::string::npos) return exe;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + exe;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}
}  // namespace

pid_t spawn_process(const SpawnSpec& spec, std::string& error) {
  std::string exe = resolve_on_path(spec.executable);
  if (exe.empty() || ::access(exe.c_str(), X_OK) != 0) {
    error = "\"" + spec.executable + "\" was not found or is not executable; install it or fix "
            "the path";
    return -1;
  }
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed.
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) env[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string arg0 = spec.executable;
  argv.push_back(arg0.data());
  std::vector<std::string> args = spec.args;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork failed: ") + std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the host died before prctl took effect
    ::setpgid(0, 0);  // own process group, so a handler's children die with it
    // stdout/stderr first: fd3 may be one of their pipe numbers' targets, never the reverse
    // (0..2 are open in the host, so the pipes are above them).
    if (spec.stdout_fd >= 0) ::dup2(spec.stdout_fd, 1);
    if (spec.stderr_fd >= 0) ::dup2(spec.stderr_fd, 2);
    if (spec.fd3 >= 0) {
      if (spec.fd3 == 3) {
        ::fcntl(3, F_SETFD, 0);
      } else {
        ::dup2(spec.fd3, 3);
      }
    }
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

namespace {
// /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold ')' and spaces, so the
// fields are read after the last ')'. False when the process is gone or the line is odd.
struct Stat {
  char state = 0;
  pid_t ppid = 0, pgid = 0;
};
bool read_stat(const char* pid_dir, Stat& out) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%s/stat", pid_dir);
  FILE* f = std::fopen(path, "r");
  if (!f) return false;
  char buf[512];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');
  if (!close) return false;
  int pp, pg;
  if (std::sscanf(close + 1, " %c %d %d", &out.state, &pp, &pg) != 3) return false;
  out.ppid = pp;
  out.pgid = pg;
  return true;
}
}  // namespace

bool process_exited(pid_t pid) {
  Stat st;
  return !read_stat(std::to_string(pid).c_str(), st) || st.state == 'Z' || st.state == 'X';
}

std::vector<ChildProcess> children_of(pid_t parent) {
  std::vector<ChildProcess> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    Stat st;
    if (read_stat(e->d_name, st) && st.ppid == parent)
      out.push_back({static_cast<pid_t>(std::atoi(e->d_name)), st.pgid});
  }
  ::closedir(d);
  return out;
}

bool OutputCapture::Pipes::open(std::string& error) {
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    error = std::string("pipe failed: ") + std::strerror(errno);
    close_all();
    return false;
  }
  return true;
}

void OutputCapture::Pipes::close_child_ends() {
  for (int* fd : {&out[1], &err[1]})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

void OutputCapture::Pipes::close_all() {
  close_child_ends();
  for (int* fd : {&out[0], &err[0]})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

struct OutputCapture::State {
  int open_streams = 2;
};

namespace {
boost::asio::awaitable<void> pump(std::shared_ptr<OutputCapture::State> state,
                                  boost::asio::posix::stream_descriptor in, Logger& log,
                                  std::string worker, const char* stream, LogLevel level);
}  // namespace

std::shared_ptr<OutputCapture> OutputCapture::start(boost::asio::io_context& io, Logger& log,
                                                    std::string worker, Pipes& pipes) {
  pipes.close_child_ends();
  auto capture = std::make_shared<OutputCapture>();
  capture->state_ = std::make_shared<State>();
  // The level says which stream: stderr is the error stream (functions-host.md §5).
  std::pair<int*, std::pair<const char*, LogLevel>> streams[] = {
      {&pipes.out[0], {"stdout", LogLevel::information}},
      {&pipes.err[0], {"stderr", LogLevel::warning}}};
  for (auto& [fd, what] : streams) {
    boost::asio::posix::stream_descriptor in(io, *fd);
    *fd = -1;
    boost::asio::co_spawn(io, pump(capture->state_, std::move(in), log, worker, what.first, what.second),
                          log_if_thrown(log, "Host.Workers", "reading a worker's output failed"));
  }
  return capture;
}

namespace {
boost::asio::awaitable<void> pump(std::shared_ptr<OutputCapture::State> state,
                                  boost::asio::posix::stream_descriptor in, Logger& log,
                                  std::string worker, const char* stream, LogLevel level) {
  // Counted down however the coroutine ends, so drained() never waits for a dead stream.
  struct Close {
    OutputCapture::State& s;
    ~Close() { --s.open_streams; }
  } close{*state};
  LineSplitter lines(OutputCapture::kMaxLine);
  auto emit = [&](std::string_view line, bool truncated) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    boost::json::object fields{{"worker", worker}, {"stream", stream}};
    if (truncated) fields["truncated"] = true;
    log.log(level, "Worker.Output", line, std::move(fields));
  };
  std::vector<char> buf(16 * 1024);
  for (;;) {
    boost::system::error_code ec;
    size_t n = co_await in.async_read_some(boost::asio::buffer(buf),
                                           boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (n > 0) lines.feed(std::string_view(buf.data(), n), emit);
    if (ec) break;
  }
  lines.finish(emit);
}
}  // namespace

boost::asio::awaitable<void> OutputCapture::drained(std::chrono::milliseconds max) {
  auto state = state_;
  auto give_up = std::chrono::steady_clock::now() + max;
  boost::asio::steady_timer tick(co_await boost::asio::this_coro::executor);
  while (state->open_streams > 0 && std::chrono::steady_clock::now() < give_up) {
    tick.expires_after(std::chrono::milliseconds(5));
    boost::system::error_code ec;
    co_await tick.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
}

ProcessReaper::ProcessReaper(boost::asio::io_context& io) : signals_(io, SIGCHLD) {
  // Descendants that leave a worker's process group (setsid, double fork) become the host's
  // children when their parent dies, instead of init's, so kill_strays() can find them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  arm();
}

ProcessReaper::~ProcessReaper() {
  watchers_.clear();
  for (pid_t pid : std::set<pid_t>(live_)) terminate(pid);
  // Killed processes' own children re-parent to the host as they die: sweep until none is
  // left (bounded: a process in uninterruptible sleep may take a while).
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    kill_strays();
    int status;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) live_.erase(pid);
    if (pid < 0 && errno == ECHILD) break;  // no children at all
    if (std::chrono::steady_clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void ProcessReaper::watch(pid_t pid, std::function<void(int)> on_exit) {
  live_.insert(pid);
  watchers_[pid] = std::move(on_exit);
  // The child may already have exited; its SIGCHLD is queued on signals_, but be sure.
  boost::asio::post(signals_.get_executor(), [this] { reap_exited(); });
}

bool ProcessReaper::terminate(pid_t pid) {
  if (pid <= 0 || !live_.count(pid)) return false;  // reaped: the pid may be someone else's
  ::kill(-pid, SIGKILL);  // the group it leads: what it forked dies with it
  ::kill(pid, SIGKILL);
  return true;
}

void ProcessReaper::kill_strays() {
  for (const auto& c : children_of(::getpid())) {
    if (live_.count(c.pid)) continue;
    // A child of the host, unreaped (so its pid and group id are still its own).
    if (c.pgid == c.pid) ::kill(-c.pid, SIGKILL);
    ::kill(c.pid, SIGKILL);
  }
}

void ProcessReaper::reap_exited() {
  bool reaped = false;
  for (;;) {
    // Look before reaping: while an exited worker is an unreaped zombie its pid is still
    // its group's id, so killing the group cannot hit anyone else.
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    pid_t pid = info.si_pid;
    if (live_.count(pid)) ::kill(-pid, SIGKILL);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) != pid) break;
    reaped = true;
    live_.erase(pid);
    auto it = watchers_.find(pid);
    if (it == watchers_.end()) continue;
    auto cb = std::move(it->second);
    watchers_.erase(it);
    cb(status);
  }
  // Whatever a dead process left behind is now the host's child: end it.
  if (reaped) kill_strays();
}

void ProcessReaper::arm() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    reap_exited();
    arm();
  });
}

std::string ProcessReaper::describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "stopped";
}

}  // namespace nimbus::workers
