#pragma once
// Starting and reaping child processes (worker processes and custom handlers).
// Threading: the host runs one I/O thread; ProcessReaper callbacks run on it.
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace nimbus::workers {

struct SpawnSpec {
  std::string executable;  // absolute, or a command looked up on PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to (and overriding) the host's environment
  std::string cwd;                         // empty: the host's
  int fd3 = -1;                            // becomes the child's fd 3 when >= 0
};

// Forks and execs; the child gets SIGKILL when the host dies, so no worker outlives it.
// Returns the pid, or -1 with `error` naming the executable and the reason.
pid_t spawn_process(const SpawnSpec& spec, std::string& error);

// True when `pid` has exited (a zombie not yet reaped, or gone). Lets a caller that sees a
// broken connection tell a dead process from a misbehaving one before SIGCHLD is handled.
bool process_exited(pid_t pid);

// Reaps exited children on SIGCHLD and tells whoever watches the pid.
class ProcessReaper {
 public:
  explicit ProcessReaper(boost::asio::io_context& io);
  // `on_exit` gets the raw wait status.
  void watch(pid_t pid, std::function<void(int status)> on_exit);
  void forget(pid_t pid) { watchers_.erase(pid); }
  static std::string describe_status(int status);

 private:
  void arm();
  boost::asio::signal_set signals_;
  std::map<pid_t, std::function<void(int)>> watchers_;
};

}  // namespace nimbus::workers
