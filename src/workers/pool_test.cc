// Both worker pools driven directly (no host, no HTTP server), with real processes: a
// nimbus-worker loading the test app, and the misbehaving Node custom handler.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <cstdlib>
#include <optional>
#include <set>

#include "workers/custom_handler_pool.h"
#include "workers/native_worker_pool.h"

namespace asio = boost::asio;
using namespace nimbus;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Runs `co` on `io` until it finishes or `deadline` passes.
template <class T>
std::optional<T> run(asio::io_context& io, asio::awaitable<T> co,
                     std::chrono::seconds deadline = std::chrono::seconds(20)) {
  std::optional<T> out;
  asio::co_spawn(io, std::move(co), [&](std::exception_ptr e, T v) {
    if (!e) out = std::move(v);
  });
  auto give_up = std::chrono::steady_clock::now() + deadline;
  while (!out && std::chrono::steady_clock::now() < give_up) {
    if (io.stopped()) io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return out;
}

api::FunctionSpec http_function(const std::string& name) {
  api::FunctionSpec fn;
  fn.name = name;
  fn.trigger_name = "req";
  fn.trigger = api::HttpTriggerSpec{api::AuthLevel::anonymous, {}, name};
  fn.outputs = {{"res", api::HttpOutputSpec{}}};
  return fn;
}

struct Call {
  api::HttpRequestData req;
  api::Invocation inv;
  Call(const api::FunctionSpec& fn, std::string query_queue = "", std::string body = "") {
    req.method = "POST";
    req.path = req.target = "/api/" + fn.name;
    req.host = "127.0.0.1";
    if (!query_queue.empty()) req.query["queue"] = query_queue;
    req.body = std::move(body);
    inv.id = "00000000-0000-0000-0000-000000000001";
    inv.function = &fn;
    inv.input = &req;
    inv.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  }
};

struct Env {
  asio::io_context io;
  workers::ProcessReaper reaper{io};
  observability::Metrics metrics;
  Logger log{LogLevel::none};
};

}  // namespace

TEST(NativeWorkerPool, ReportsFunctionsWithTheirOutputBindingsAndCarriesNamedOutputs) {
  if (env("NIMBUS_WORKER_BIN").empty()) GTEST_SKIP() << "run through ctest (needs nimbus-worker)";
  Env e;
  workers::NativeWorkerPool pool(e.io,
                                 {env("NIMBUS_WORKER_BIN"), env("NIMBUS_TEST_APP"), 1, 4, {}, "/", 1 << 20},
                                 e.reaper, e.metrics, e.log);
  std::string error;
  auto functions = run(e.io, pool.start(error));
  ASSERT_TRUE(functions && *functions) << error;
  bool declared = false;
  for (const auto& f : **functions) {
    if (f.at("name") != "enqueue") continue;
    for (const auto& b : f.at("bindings").as_array())
      declared = declared || (b.at("type") == "queue" && b.at("name") == "out" &&
                              b.at("queueName") == "{Query.queue}");
  }
  EXPECT_TRUE(declared) << "the worker reports the queue output it declares";
  auto fn = http_function("enqueue");
  std::string bytes("\xff\x00\xc3(", 4);  // not UTF-8, with a NUL: outputs carry bytes
  Call c(fn, "somewhere", bytes);
  auto r = run(e.io, pool.invoke(c.inv));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, api::Outcome::succeeded) << r->error;
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0], (api::OutputValue{"out", bytes}));
  pool.stop();
}

TEST(NativeWorkerPool, ACrashFailsOnlyThatInvocationAndTheSlotComesBack) {
  if (env("NIMBUS_WORKER_BIN").empty()) GTEST_SKIP() << "run through ctest (needs nimbus-worker)";
  Env e;
  workers::NativeWorkerPool pool(e.io,
                                 {env("NIMBUS_WORKER_BIN"), env("NIMBUS_TEST_APP"), 1, 1, {}, "/", 1 << 20},
                                 e.reaper, e.metrics, e.log);
  std::string error;
  auto functions = run(e.io, pool.start(error));
  ASSERT_TRUE(functions && *functions) << error;
  auto crash = http_function("forkcrash");
  Call c(crash);
  c.req.query["pidfile"] = "/dev/null";
  auto r = run(e.io, pool.invoke(c.inv));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, api::Outcome::worker_crashed) << r->error;
  // The one slot restarts (with backoff) and serves the next invocation.
  auto ok = http_function("ok");
  Call again(ok);
  auto r2 = run(e.io, pool.invoke(again.inv));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->outcome, api::Outcome::succeeded) << r2->error;
  EXPECT_TRUE(r2->cold_start) << "served by the restarted process";
  pool.stop();
}

TEST(CustomHandlerPool, SpreadsOverItsProcessesAndReplacesOneThatDies) {
  if (env("NIMBUS_ROOT").empty()) GTEST_SKIP() << "run through ctest (needs the test apps)";
  Env e;
  config::CustomHandlerSpec spec;
  spec.executable = "node";
  spec.arguments = {"handler.js"};
  spec.working_directory = env("NIMBUS_ROOT") + "/tests/apps/faulty-node";
  spec.process_count = 2;
  workers::CustomHandlerPool pool(e.io, {spec, {}, spec.working_directory, 1 << 20}, e.reaper,
                                  e.metrics, e.log);
  std::string error;
  auto started = run(e.io, pool.start(error));
  ASSERT_TRUE(started && *started) << error;
  auto ok = http_function("ok");
  std::set<std::string> pids;
  for (int i = 0; i < 4; ++i) {
    Call c(ok);
    auto r = run(e.io, pool.invoke(c.inv));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->outcome, api::Outcome::succeeded) << r->error;
    pids.insert(r->response.body);
  }
  EXPECT_EQ(pids.size(), 2u) << "round-robin over processCount processes";
  auto crash = http_function("crash");
  Call c(crash);
  auto r = run(e.io, pool.invoke(c.inv));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, api::Outcome::worker_crashed) << r->error;
  // Every later call succeeds: the survivor serves while the dead process is replaced.
  for (int i = 0; i < 4; ++i) {
    Call again(ok);
    auto r2 = run(e.io, pool.invoke(again.inv));
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->outcome, api::Outcome::succeeded) << r2->error;
  }
  pool.stop();
}
