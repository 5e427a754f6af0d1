#include "workers/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <boost/asio/post.hpp>
#include <filesystem>

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

bool process_exited(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return true;
  char buf[512];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // Format: "pid (comm) S ..."; comm may contain ')' so look for the last one.
  const char* close = std::strrchr(buf, ')');
  return !close || close[1] == '\0' || close[2] == 'Z' || close[2] == 'X';
}

ProcessReaper::ProcessReaper(boost::asio::io_context& io) : signals_(io, SIGCHLD) { arm(); }

void ProcessReaper::watch(pid_t pid, std::function<void(int)> on_exit) {
  watchers_[pid] = std::move(on_exit);
  // The child may already have exited before we watched it; reap it now if so.
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) {
    auto cb = std::move(watchers_[pid]);
    watchers_.erase(pid);
    boost::asio::post(signals_.get_executor(), [cb = std::move(cb), status] { cb(status); });
  }
}

void ProcessReaper::arm() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      auto it = watchers_.find(pid);
      if (it == watchers_.end()) continue;
      auto cb = std::move(it->second);
      watchers_.erase(it);
      cb(status);
    }
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
