// The pull loop on its own, with a scripted fetch: admission before every fetch, push wakes,
// delayed work and the idle back-off.
#include "runtime/pull_listener.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <deque>

#include "testing/run_until.h"

namespace asio = boost::asio;
using namespace nimbus;

namespace {

// A source of items the test fills; items "run" until the test finishes them.
struct Source {
  asio::io_context io;
  int available = 0;                           // items waiting to be fetched
  std::deque<runtime::Admission::Permit> running;  // fetched, not finished
  std::vector<int> batch_sizes;                 // permits each fetch was given
  std::unique_ptr<runtime::PullListener> loop;

  explicit Source(runtime::PullListener::Options o) {
    loop = std::make_unique<runtime::PullListener>(
        io.get_executor(), o, [this](runtime::Admission::Permit batch) -> asio::awaitable<int> {
          batch_sizes.push_back(batch.count());
          int n = std::min(available, batch.count());
          available -= n;
          for (int i = 0; i < n; ++i) running.push_back(batch.split(1));
          co_return n;
        });
    asio::co_spawn(io, loop->run(), asio::detached);
  }
  ~Source() {
    loop->stop();
    running.clear();
    io.run_for(std::chrono::milliseconds(20));
  }
  void finish(int n) {
    for (int i = 0; i < n && !running.empty(); ++i) running.pop_front();
    loop->poke();  // as a settled item does
  }
};

}  // namespace

TEST(PullListener, NeverFetchesWithoutAWholeBatchOfPermits) {
  Source s({4, 6, std::chrono::milliseconds(2000)});
  s.available = 20;
  s.loop->poke();
  // 4 fetched, then 2 permits left: below a batch, so no fetch however much is waiting.
  ASSERT_TRUE(fakes::run_until(s.io, [&] { return s.running.size() == 4; }));
  s.io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(s.running.size(), 4u);
  EXPECT_EQ(s.loop->permits().in_use(), 4);
  for (int b : s.batch_sizes) EXPECT_EQ(b, 4) << "every fetch held a whole batch";
  // Finishing items pokes; with 6 - 2 = 4 free permits the next batch comes at once.
  s.finish(2);
  ASSERT_TRUE(fakes::run_until(s.io, [&] { return s.running.size() == 6; }));
  EXPECT_LE(s.loop->permits().in_use(), 6);
}

TEST(PullListener, APokeWakesItBeforeTheIdlePollAndDelayedWorkWakesItWhenDue) {
  // Polls far apart (10 s, then 30 s), so only a poke or the due time can explain a fetch.
  Source s({4, 8, std::chrono::seconds(30), std::chrono::seconds(10)});
  // Let it go idle (the first fetch finds nothing), then announce work.
  ASSERT_TRUE(fakes::run_until(s.io, [&] { return s.loop->fetches() >= 1; }));
  int before = s.loop->fetches();
  s.available = 1;
  s.loop->poke();
  ASSERT_TRUE(fakes::run_until(s.io, [&] { return s.running.size() == 1; },
                               std::chrono::seconds(2)))
      << "a poke fetches at once";
  EXPECT_GT(s.loop->fetches(), before);
  // Work announced for 300 ms from now is fetched then, without another poke, and announcing
  // it costs no fetch.
  ASSERT_TRUE(fakes::run_until(s.io, [&] { return s.batch_sizes.size() >= 3; }))
      << "the fetch after a successful one";
  s.io.run_for(std::chrono::milliseconds(20));
  int idle_fetches = s.loop->fetches();
  s.available = 1;
  auto due = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count() + 300;
  s.loop->due_at(due);
  s.io.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(s.loop->fetches(), idle_fetches) << "due_at re-plans the sleep; it does not fetch";
  EXPECT_EQ(s.running.size(), 1u);
  ASSERT_TRUE(fakes::run_until(s.io, [&] { return s.running.size() == 2; },
                               std::chrono::seconds(5)));
  // The due fetch, and at most the one that follows any fetch that found items.
  EXPECT_LE(s.loop->fetches(), idle_fetches + 2);
}
