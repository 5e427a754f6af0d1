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

// The Node custom handler of tests/apps/<app>, started by `node handler.js` in its folder.
config::CustomHandlerSpec node_handler(const std::string& app) {
  config::CustomHandlerSpec spec;
  spec.executable = "node";
  spec.arguments = {"handler.js"};
  spec.working_directory = env("NIMBUS_ROOT") + "/tests/apps/" + app;
  return spec;
}

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
  auto spec = node_handler("faulty-node");
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

// Many invocations at once on a process limited to one connection of its own: past it they
// are pipelined, each gets its own answer, and a hung one fails only those behind it. The
// waiters live in coroutine frames and are handed the connection by posted completions, so
// this is worth a sanitizer run: make unit-asan builds no Asio module, so it was run in a
// full -DNIMBUS_SANITIZE=ON build by hand (clean, 2026-11-30).
TEST(CustomHandlerPool, PipelinesQuickInvocationsAndAHangFailsOnlyThoseBehindIt) {
  if (env("NIMBUS_ROOT").empty()) GTEST_SKIP() << "run through ctest (needs the test apps)";
  Env e;
  auto spec = node_handler("pipeline-node");
  spec.connections_per_process = 1;
  spec.pipeline_depth = 8;
  workers::CustomHandlerPool pool(e.io, {spec, {}, spec.working_directory, 1 << 20}, e.reaper,
                                  e.metrics, e.log);
  std::string error;
  auto started = run(e.io, pool.start(error));
  ASSERT_TRUE(started && *started) << error;
  auto echo = http_function("echo");
  auto stats = http_function("stats");
  auto call = [&](const api::FunctionSpec& fn, std::string v, bool hang = false,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto c = std::make_unique<Call>(fn);
    c->req.method = "GET";
    c->req.params["v"] = std::move(v);
    if (hang) c->req.query["hang"] = "1";
    c->inv.deadline = std::chrono::steady_clock::now() + timeout;
    return c;
  };
  // Runs every call at once; returns their results in order.
  auto all = [&](std::vector<std::unique_ptr<Call>>& calls) {
    std::vector<std::optional<api::InvocationResult>> out(calls.size());
    size_t done = 0;
    for (size_t i = 0; i < calls.size(); ++i)
      asio::co_spawn(e.io, pool.invoke(calls[i]->inv),
                     [&, i](std::exception_ptr ex, api::InvocationResult r) {
                       if (!ex) out[i] = std::move(r);
                       ++done;
                     });
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (done < calls.size() && std::chrono::steady_clock::now() < give_up) {
      if (e.io.stopped()) e.io.restart();
      e.io.run_for(std::chrono::milliseconds(5));
    }
    return out;
  };
  for (int i = 0; i < 3; ++i) {  // the function's pace: it answers quickly
    auto c = call(echo, "warm");
    auto r = run(e.io, pool.invoke(c->inv));
    ASSERT_TRUE(r && r->outcome == api::Outcome::succeeded) << (r ? r->error : "no result");
  }
  auto reset = call(stats, "");
  reset->req.query["reset"] = "1";
  ASSERT_TRUE(run(e.io, pool.invoke(reset->inv)));

  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 40; ++i) calls.push_back(call(echo, "v" + std::to_string(i)));
  auto results = all(calls);
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i]) << i;
    EXPECT_EQ(results[i]->outcome, api::Outcome::succeeded) << results[i]->error;
    EXPECT_EQ(results[i]->response.body, "{\"v\":\"v" + std::to_string(i) + "\"}")
        << "each invocation gets the answer to its own request";
  }
  auto s = call(stats, "");
  auto st = run(e.io, pool.invoke(s->inv));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->response.body.find("\"maxQueued\":1,"), std::string::npos)
      << "some request was pipelined: " << st->response.body;

  // An invocation whose deadline passed before it reached the pool touches no connection:
  // those pipelined where it would have gone are answered.
  std::vector<std::unique_ptr<Call>> late;
  for (int i = 0; i < 20; ++i) late.push_back(call(echo, "l" + std::to_string(i)));
  late[10]->inv.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  auto late_results = all(late);
  for (size_t i = 0; i < late_results.size(); ++i) {
    ASSERT_TRUE(late_results[i]) << i;
    if (i == 10) {
      EXPECT_EQ(late_results[i]->outcome, api::Outcome::timed_out) << late_results[i]->error;
      continue;
    }
    EXPECT_EQ(late_results[i]->outcome, api::Outcome::succeeded) << i << ": " << late_results[i]->error;
  }

  // Nothing joins a connection whose waiters have a later deadline: a short invocation's
  // timeout would close the connection under the long one in front of it.
  std::vector<std::unique_ptr<Call>> mixed;
  mixed.push_back(call(echo, "long", true, std::chrono::milliseconds(1500)));
  for (int i = 0; i < 10; ++i)
    mixed.push_back(call(echo, "s" + std::to_string(i), false, std::chrono::milliseconds(500)));
  auto mixed_results = all(mixed);
  ASSERT_TRUE(mixed_results[0]);
  EXPECT_EQ(mixed_results[0]->outcome, api::Outcome::timed_out)
      << "the long one fails at its own deadline: " << mixed_results[0]->error;
  for (size_t i = 1; i < mixed_results.size(); ++i) {
    ASSERT_TRUE(mixed_results[i]) << i;
    EXPECT_EQ(mixed_results[i]->outcome, api::Outcome::succeeded) << mixed_results[i]->error;
  }

  // A function counts as quick for a second after a quick answer: the wait above outlasted
  // that, so one call makes it quick again.
  auto rewarm = call(echo, "rewarm");
  ASSERT_TRUE(run(e.io, pool.invoke(rewarm->inv)));
  std::vector<std::unique_ptr<Call>> hung;
  hung.push_back(call(echo, "hung", true, std::chrono::seconds(1)));
  for (int i = 0; i < 20; ++i) hung.push_back(call(echo, "h" + std::to_string(i)));
  auto after_hang = all(hung);
  ASSERT_TRUE(after_hang[0]);
  EXPECT_EQ(after_hang[0]->outcome, api::Outcome::timed_out) << after_hang[0]->error;
  int behind = 0;
  for (size_t i = 1; i < after_hang.size(); ++i) {
    ASSERT_TRUE(after_hang[i]) << i;
    if (after_hang[i]->outcome == api::Outcome::succeeded) {
      EXPECT_EQ(after_hang[i]->response.body, "{\"v\":\"h" + std::to_string(i - 1) + "\"}");
      continue;
    }
    ++behind;
    EXPECT_EQ(after_hang[i]->outcome, api::Outcome::bad_response) << after_hang[i]->error;
    EXPECT_EQ(after_hang[i]->error, "handler connection failed before this invocation's answer");
  }
  EXPECT_GT(behind, 0) << "the burst joined the hung request's connection";
  EXPECT_LT(behind, 8) << "no more than pipelineDepth - 1 behind it";
  auto later = call(echo, "later");
  auto r = run(e.io, pool.invoke(later->inv));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, api::Outcome::succeeded) << r->error;
  pool.stop();
}
