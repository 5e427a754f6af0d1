#include "runtime/dispatcher.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <optional>

#include "testing/fake_invoker.h"
#include "testing/run_until.h"

namespace asio = boost::asio;
using namespace nimbus;

namespace {

// An invoker whose user code path throws something that is not a std::exception.
struct ThrowingInvoker : api::Invoker {
  asio::awaitable<api::InvocationResult> invoke(api::Invocation&) override {
    throw 42;
    co_return api::InvocationResult{};
  }
};

struct OkInvoker : api::Invoker {
  asio::awaitable<api::InvocationResult> invoke(api::Invocation&) override {
    co_return api::InvocationResult{};
  }
};

api::InvocationResult run(runtime::Dispatcher& d, const api::FunctionSpec& fn) {
  asio::io_context io;
  api::InvocationResult out;
  api::HttpRequestData req;
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await d.dispatch(inv); },
                 asio::detached);
  io.run();
  return out;
}

}  // namespace

TEST(Dispatcher, NonStandardExceptionFailsTheInvocationAndReleasesItsSlot) {
  observability::Metrics metrics;
  Logger log(LogLevel::none);
  runtime::Dispatcher d({std::chrono::minutes(5), 1}, metrics, log);
  api::FunctionSpec bad, good;
  bad.name = "bad";
  good.name = "good";
  ThrowingInvoker throwing;
  OkInvoker ok;
  d.bind("bad", &throwing);
  d.bind("good", &ok);
  auto r = run(d, bad);
  EXPECT_EQ(r.outcome, api::Outcome::bad_response);
  EXPECT_NE(r.error.find("unknown exception"), std::string::npos) << r.error;
  EXPECT_EQ(d.in_flight(), 0);
  // With a limit of one, a leaked slot would throttle every later call.
  EXPECT_EQ(run(d, good).outcome, api::Outcome::succeeded);
}

// ---- admission per trigger kind ----

namespace {

struct Pipeline {
  asio::io_context io;
  observability::Metrics metrics;
  Logger log{LogLevel::none};
  std::unique_ptr<runtime::Dispatcher> dispatcher;
  std::unique_ptr<fakes::FakeInvoker> invoker;
  api::FunctionSpec fn;
  api::HttpRequestData request;
  api::QueueMessageData message;

  explicit Pipeline(int http_limit) {
    dispatcher = std::make_unique<runtime::Dispatcher>(
        runtime::Dispatcher::Options{std::chrono::minutes(5), http_limit}, metrics, log);
    invoker = std::make_unique<fakes::FakeInvoker>(io.get_executor());
    fn.name = "work";
    dispatcher->bind("work", invoker.get());
  }
  // Starts one dispatch; its result lands in `out` when it finishes.
  void start(const char* trigger, std::optional<api::InvocationResult>& out,
             runtime::Dispatcher::Completion complete = {}) {
    asio::co_spawn(
        io,
        [this, trigger, &out, complete]() -> asio::awaitable<void> {
          api::Invocation inv;
          inv.function = &fn;
          if (std::string_view(trigger) == "http")
            inv.input = &request;
          else
            inv.input = &message;
          out = co_await dispatcher->dispatch(inv, complete);
        },
        asio::detached);
  }
};

}  // namespace

TEST(Dispatcher, HttpLimitRefusesHttpOverTheLimitButNeverPulledInvocations) {
  Pipeline p(1);
  p.invoker->hold();
  std::optional<api::InvocationResult> http1, http2, queue1, queue2;
  p.start("http", http1);
  ASSERT_TRUE(fakes::run_until(p.io, [&] { return p.invoker->running() == 1; }));
  p.start("http", http2);
  ASSERT_TRUE(fakes::run_until(p.io, [&] { return http2.has_value(); }));
  EXPECT_EQ(http2->outcome, api::Outcome::throttled);
  EXPECT_NE(http2->error.find("maxConcurrentRequests"), std::string::npos) << http2->error;
  // Queue invocations were admitted by their listener; the HTTP limit does not apply.
  p.start("queue", queue1);
  p.start("queue", queue2);
  ASSERT_TRUE(fakes::run_until(p.io, [&] { return p.invoker->running() == 3; }));
  EXPECT_EQ(p.dispatcher->http_admission().in_use(), 1);
  p.invoker->release();
  ASSERT_TRUE(fakes::run_until(p.io, [&] { return http1 && queue1 && queue2; }));
  EXPECT_EQ(http1->outcome, api::Outcome::succeeded);
  EXPECT_EQ(queue1->outcome, api::Outcome::succeeded);
  EXPECT_EQ(queue2->outcome, api::Outcome::succeeded);
  EXPECT_EQ(p.dispatcher->http_admission().in_use(), 0);
  EXPECT_EQ(p.dispatcher->in_flight(), 0);
  EXPECT_EQ(p.invoker->calls(), 3) << "the throttled request never reached the invoker";
}

TEST(Dispatcher, ObserversReportTheOutcomeTheCompletionCommitted) {
  Pipeline p(-1);
  std::optional<api::InvocationResult> out;
  bool completed = false;
  p.start("queue", out, [&](api::Invocation&, api::InvocationResult& r) -> asio::awaitable<void> {
    completed = true;
    r.outcome = api::Outcome::failed;
    r.error = "outputs could not be written";
    co_return;
  });
  ASSERT_TRUE(fakes::run_until(p.io, [&] { return out.has_value(); }));
  EXPECT_TRUE(completed);
  EXPECT_EQ(out->outcome, api::Outcome::failed);
  auto text = p.metrics.render();
  EXPECT_NE(text.find("nimbus_invocations_total{function=\"work\",trigger=\"queue\",status=\"failed\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("status=\"succeeded\""), std::string::npos) << text;
}

// Orchestrator episodes and activities are many (one per step, one per task): a success says
// "invocation finished" only at Debug; a failure still says "invocation failed" at Error; other
// triggers keep their Information line.
TEST(Dispatcher, DurableSuccessesLogAtDebugFailuresAtError) {
  auto logged = [](LogLevel level, bool activity, bool fail) {
    FILE* f = std::tmpfile();
    EXPECT_NE(f, nullptr);
    {
      asio::io_context io;
      observability::Metrics metrics;
      Logger log(level, fileno(f));
      runtime::Dispatcher d({std::chrono::minutes(5), -1}, metrics, log);
      fakes::FakeInvoker invoker(io.get_executor());
      if (fail)
        invoker.answer = [](const api::Invocation&) {
          api::InvocationResult r;
          r.outcome = api::Outcome::failed;
          r.error = "boom";
          return r;
        };
      api::FunctionSpec fn;
      fn.name = "work";
      d.bind("work", &invoker);
      api::ActivityData act;
      api::QueueMessageData msg;
      api::Invocation inv;
      inv.function = &fn;
      if (activity) inv.input = &act;
      else inv.input = &msg;
      bool done = false;
      asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        co_await d.dispatch(inv);
        done = true;
      }, asio::detached);
      EXPECT_TRUE(fakes::run_until(io, [&] { return done; }));
    }
    std::string text;
    std::rewind(f);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
    return text;
  };
  EXPECT_EQ(logged(LogLevel::information, true, false).find("invocation finished"), std::string::npos);
  EXPECT_NE(logged(LogLevel::debug, true, false).find("invocation finished"), std::string::npos);
  auto failed = logged(LogLevel::information, true, true);
  EXPECT_NE(failed.find("\"level\":\"Error\""), std::string::npos) << failed;
  EXPECT_NE(failed.find("invocation failed"), std::string::npos) << failed;
  EXPECT_NE(logged(LogLevel::information, false, false).find("invocation finished"), std::string::npos);
}

TEST(Admission, PermitsAreTakenWholeSplitAndReturnedOnDestruction) {
  runtime::Admission gate(4);
  auto batch = gate.try_acquire(3);
  ASSERT_TRUE(batch);
  EXPECT_FALSE(gate.try_acquire(2)) << "only one permit is left";
  EXPECT_EQ(gate.in_use(), 3);
  {
    auto one = batch.split(1);
    EXPECT_EQ(one.count(), 1);
    EXPECT_EQ(batch.count(), 2);
    EXPECT_EQ(gate.in_use(), 3);
  }
  EXPECT_EQ(gate.in_use(), 2);
  runtime::Admission::Permit moved = std::move(batch);
  EXPECT_EQ(gate.in_use(), 2);
  moved.release();
  EXPECT_EQ(gate.in_use(), 0);
  runtime::Admission unbounded;
  EXPECT_TRUE(unbounded.try_acquire(1000));
}
