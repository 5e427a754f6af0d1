#pragma once
// Starting, capturing, stopping and reaping child processes (worker processes and custom
// handlers).
//
// Containment: every spawned process leads its own process group; the host is a child
// subreaper, so a descendant that escapes the group (setsid, double fork) is re-parented to
// the host when its parent dies instead of to init. Whenever a child of the host ends, and
// when the ProcessReaper is destroyed, the group of an exited worker is killed (before its
// leader is reaped, so the group id cannot have been reused) and every child of the host
// that is not a live worker is killed and reaped. A pid is signalled only while the reaper
// knows it has not been reaped (no pid-reuse accidents).
//
// Output: a child's stdout and stderr are pipes the host reads on its I/O thread; each line
// becomes one host log record (category Worker.Output, fields worker and stream), so user
// code cannot forge host records or write terminal escapes to the host's stream.
//
// Threading: the host runs one I/O thread; ProcessReaper callbacks and output capture run on it.
#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/log.h"
#include "workers/line_splitter.h"

namespace nimbus::workers {

struct SpawnSpec {
  std::string executable;  // absolute, or a command looked up on PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to (and overriding) the host's environment
  std::string cwd;                         // empty: the host's
  int fd3 = -1;                            // becomes the child's fd 3 when >= 0
  int stdout_fd = -1;                      // becomes the child's stdout when >= 0
  int stderr_fd = -1;                      // becomes the child's stderr when >= 0
};

// Forks and execs; the child gets SIGKILL when the host dies, so no worker outlives it.
// Returns the pid, or -1 with `error` naming the executable and the reason.
pid_t spawn_process(const SpawnSpec& spec, std::string& error);

// True when `pid` has exited (a zombie not yet reaped, or gone). Lets a caller that sees a
// broken connection tell a dead process from a misbehaving one before SIGCHLD is handled.
bool process_exited(pid_t pid);

// The children of process `parent` (from /proc/*/stat), with their process groups.
struct ChildProcess {
  pid_t pid;
  pid_t pgid;
};
std::vector<ChildProcess> children_of(pid_t parent);

// A child's stdout and stderr, read through pipes and logged line by line.
class OutputCapture {
 public:
  static constexpr size_t kMaxLine = 16 * 1024;
  // Pipes for spawn: set spec.stdout_fd/stderr_fd from these, then call start() after spawn.
  struct Pipes {
    int out[2] = {-1, -1};
    int err[2] = {-1, -1};
    bool open(std::string& error);
    void close_child_ends();
    void close_all();
  };
  // Starts reading the host ends of `pipes` (ownership moves here). `worker` names the
  // process in every record.
  static std::shared_ptr<OutputCapture> start(boost::asio::io_context& io, Logger& log,
                                              std::string worker, Pipes& pipes);
  // Waits until both streams reached end of file (the process and everything that inherited
  // them have exited), or `max` passed: lets a start-up error say "see its output above"
  // after that output was logged.
  boost::asio::awaitable<void> drained(std::chrono::milliseconds max);

  struct State;  // shared with the two reading coroutines

 private:
  std::shared_ptr<State> state_;
};

// Reaps exited children on SIGCHLD, tells whoever watches the pid, and keeps every process a
// worker started from outliving it (see the file comment).
class ProcessReaper {
 public:
  explicit ProcessReaper(boost::asio::io_context& io);
  // Kills what is left (live workers' groups and strays) and reaps it.
  ~ProcessReaper();
  ProcessReaper(const ProcessReaper&) = delete;
  ProcessReaper& operator=(const ProcessReaper&) = delete;
  // Registers a spawned process as live. `on_exit` gets the raw wait status.
  void watch(pid_t pid, std::function<void(int status)> on_exit);
  // Drops the callback; the pid stays known as live until it is reaped.
  void forget(pid_t pid) { watchers_.erase(pid); }
  // SIGKILLs the process and its group if it has not been reaped yet (true); otherwise does
  // nothing (false): the pid may already belong to another process.
  bool terminate(pid_t pid);
  // SIGKILLs every child of the host that is not a live worker (and its group when it leads
  // one). The reaper reaps them when SIGCHLD arrives.
  void kill_strays();
  static std::string describe_status(int status);

 private:
  void arm();
  void reap_exited();
  boost::asio::signal_set signals_;
  std::map<pid_t, std::function<void(int)>> watchers_;
  std::set<pid_t> live_;  // spawned and not yet reaped: the only pids ever signalled
};

}  // namespace nimbus::workers
