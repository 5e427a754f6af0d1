#include "runtime/dispatcher.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

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

api::InvocationResult run(runtime::Dispatcher& d, const config::FunctionSpec& fn) {
  asio::io_context io;
  api::InvocationResult out;
  api::Invocation inv;
  inv.function = &fn;
  inv.trigger = "http";
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await d.dispatch(inv); },
                 asio::detached);
  io.run();
  return out;
}

}  // namespace

TEST(Dispatcher, NonStandardExceptionFailsTheInvocationAndReleasesItsSlot) {
  config::AppSpec app;
  app.max_concurrent_requests = 1;
  observability::Metrics metrics;
  Logger log(LogLevel::none);
  runtime::Dispatcher d(app, metrics, log);
  config::FunctionSpec bad, good;
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
