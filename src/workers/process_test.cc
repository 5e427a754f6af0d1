// ProcessReaper containment: pids are signalled only until reaped, and whatever a dead worker
// leaves behind (in its group or in a new session) is killed.
#include "workers/process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <fstream>

#include "common/log.h"

using namespace nimbus;
using namespace std::chrono_literals;

namespace {
// Runs `io` until `done()` or the deadline.
template <class F>
bool run_until(boost::asio::io_context& io, F done, std::chrono::milliseconds max = 5000ms) {
  auto give_up = std::chrono::steady_clock::now() + max;
  while (!done() && std::chrono::steady_clock::now() < give_up) {
    io.restart();
    io.run_for(10ms);
  }
  return done();
}

bool sleeper_alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return cmd == std::string("sleep\0" "283\0", 10);
}

pid_t spawn_sh(const std::string& script, std::string& error) {
  workers::SpawnSpec spec;
  spec.executable = "sh";
  spec.args = {"-c", script};
  return workers::spawn_process(spec, error);
}

pid_t read_pid(const std::string& file, boost::asio::io_context& io) {
  pid_t pid = 0;
  run_until(io, [&] {
    std::ifstream f(file);
    return static_cast<bool>(f >> pid) && pid > 0;
  });
  return pid;
}
}  // namespace

TEST(ProcessReaper, NeverSignalsAReapedPid) {
  boost::asio::io_context io;
  workers::ProcessReaper reaper(io);
  std::string error;
  pid_t pid = spawn_sh("exit 3", error);
  ASSERT_GT(pid, 0) << error;
  int status = -1;
  reaper.watch(pid, [&](int s) { status = s; });
  ASSERT_TRUE(run_until(io, [&] { return status != -1; }));
  EXPECT_EQ(workers::ProcessReaper::describe_status(status), "exited with code 3");
  EXPECT_FALSE(reaper.terminate(pid)) << "a reaped pid may be another process by now";
}

TEST(ProcessReaper, KillsWhatAnExitedWorkerLeftInItsGroupOrANewSession) {
  boost::asio::io_context io;
  workers::ProcessReaper reaper(io);
  char dir[] = "/tmp/nimbus-reaper-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string in_group = std::string(dir) + "/group", in_session = std::string(dir) + "/session";
  std::string error;
  // Both children are started before the parent exits: one in its process group, one in a
  // session of its own (which the group kill cannot reach).
  pid_t pid = spawn_sh("sleep 283 & echo $! > " + in_group + "; setsid sleep 283 & echo $! > " +
                           in_session + "; sleep 0.2; exit 1",
                       error);
  ASSERT_GT(pid, 0) << error;
  bool exited = false;
  reaper.watch(pid, [&](int) { exited = true; });
  pid_t a = read_pid(in_group, io), b = read_pid(in_session, io);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  ASSERT_TRUE(run_until(io, [&] { return sleeper_alive(a) && sleeper_alive(b); }));
  ASSERT_TRUE(run_until(io, [&] { return exited; }));
  EXPECT_TRUE(run_until(io, [&] { return !sleeper_alive(a) && !sleeper_alive(b); }))
      << "sleep 283 left running: " << a << " " << b;
}

TEST(ProcessReaper, DestructionEndsLiveWorkersAndTheirChildren) {
  char dir[] = "/tmp/nimbus-reaper-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string file = std::string(dir) + "/pid";
  pid_t child = 0, worker = 0;
  {
    boost::asio::io_context io;
    workers::ProcessReaper reaper(io);
    std::string error;
    worker = spawn_sh("setsid sleep 283 & echo $! > " + file + "; exec sleep 283", error);
    ASSERT_GT(worker, 0) << error;
    reaper.watch(worker, [](int) {});
    child = read_pid(file, io);
    ASSERT_GT(child, 0);
    ASSERT_TRUE(run_until(io, [&] { return sleeper_alive(child) && sleeper_alive(worker); }));
  }
  EXPECT_FALSE(sleeper_alive(worker));
  EXPECT_FALSE(sleeper_alive(child));
}
