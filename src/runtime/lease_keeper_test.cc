#include "runtime/lease_keeper.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "testing/run_until.h"

namespace asio = boost::asio;
using namespace nimbus;
using std::chrono::milliseconds;

TEST(LeaseKeeper, RenewsEveryPeriodUntilStopped) {
  asio::io_context io;
  int renewed = 0;
  runtime::LeaseKeeper lease(io.get_executor(), milliseconds(5), [&]() -> asio::awaitable<void> {
    ++renewed;
    co_return;
  });
  lease.start();
  ASSERT_TRUE(fakes::run_until(io, [&] { return renewed >= 3; }));
  bool stopped = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await lease.stop();
    stopped = true;
  }, asio::detached);
  ASSERT_TRUE(fakes::run_until(io, [&] { return stopped; }));
  int at_stop = renewed;
  // Several periods later, nothing more ran.
  asio::steady_timer later(io, milliseconds(30));
  bool waited = false;
  later.async_wait([&](auto) { waited = true; });
  ASSERT_TRUE(fakes::run_until(io, [&] { return waited; }));
  EXPECT_EQ(renewed, at_stop);
}

TEST(LeaseKeeper, StopWaitsForTheRenewalInFlight) {
  asio::io_context io;
  bool renewing = false;
  int finished = 0;
  runtime::LeaseKeeper lease(io.get_executor(), milliseconds(1), [&]() -> asio::awaitable<void> {
    renewing = true;
    asio::steady_timer slow(io, milliseconds(40));
    co_await slow.async_wait(asio::use_awaitable);
    renewing = false;
    ++finished;
  });
  lease.start();
  ASSERT_TRUE(fakes::run_until(io, [&] { return renewing; }));
  bool stopped = false, renewing_when_stopped = true;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await lease.stop();
    renewing_when_stopped = renewing;
    stopped = true;
  }, asio::detached);
  ASSERT_TRUE(fakes::run_until(io, [&] { return stopped; }));
  EXPECT_FALSE(renewing_when_stopped) << "stop() returned while a renewal was still running";
  EXPECT_EQ(finished, 1);
}

TEST(LeaseKeeper, StopBeforeStartAndTwiceIsHarmless) {
  asio::io_context io;
  int renewed = 0;
  runtime::LeaseKeeper lease(io.get_executor(), milliseconds(1), [&]() -> asio::awaitable<void> {
    ++renewed;
    co_return;
  });
  int stops = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await lease.stop();
    co_await lease.stop();
    lease.start();  // after stop: stays stopped
    ++stops;
  }, asio::detached);
  ASSERT_TRUE(fakes::run_until(io, [&] { return stops == 1; }));
  EXPECT_EQ(renewed, 0);
}
