#include "common/completion_inbox.h"

#include <gtest/gtest.h>

#include <thread>

namespace nimbus {
namespace {

// A consumer thread stand-in: what the inbox posts is queued here and run by run_posted().
struct Poster {
  std::vector<std::function<void()>> queued;
  CompletionInbox::Post post() {
    return [this](std::function<void()> f) { queued.push_back(std::move(f)); };
  }
  size_t run_posted() {
    auto now = std::move(queued);
    queued.clear();
    for (auto& f : now) f();
    return now.size();
  }
};

TEST(CompletionInbox, OutsideABurstTheFirstDeliveryPostsOneDrainForAllThatJoinIt) {
  Poster consumer;
  CompletionInbox inbox(consumer.post());
  std::vector<int> ran;
  for (int i = 0; i < 3; ++i) inbox.deliver([&ran, i] { ran.push_back(i); });
  EXPECT_EQ(consumer.queued.size(), 1u);
  EXPECT_TRUE(ran.empty());
  EXPECT_EQ(consumer.run_posted(), 1u);
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
  inbox.deliver([&ran] { ran.push_back(3); });  // after the drain ran: a new one
  EXPECT_EQ(consumer.run_posted(), 1u);
  EXPECT_EQ(ran.back(), 3);
}

// The case the burst exists for: the consumer drains part of a batch while the loop is still
// delivering; without the burst the rest posted a second drain (a second wake-up).
TEST(CompletionInbox, ABurstPostsOneDrainAtItsEndEvenWhenTheConsumerDrainsMidway) {
  Poster consumer;
  CompletionInbox inbox(consumer.post());
  std::vector<int> ran;
  inbox.deliver([&ran] { ran.push_back(0); });  // before the burst: posted at once
  ASSERT_EQ(consumer.queued.size(), 1u);
  {
    CompletionBurst burst;
    EXPECT_EQ(CompletionBurst::current(), &burst);
    inbox.deliver([&ran] { ran.push_back(1); });  // joins the queued drain
    consumer.run_posted();                          // the consumer drains 0 and 1 midway
    EXPECT_EQ(ran, (std::vector<int>{0, 1}));
    for (int i = 2; i < 10; ++i) inbox.deliver([&ran, i] { ran.push_back(i); });
    EXPECT_TRUE(consumer.queued.empty()) << "posted inside the burst";
  }
  EXPECT_EQ(CompletionBurst::current(), nullptr);
  EXPECT_EQ(consumer.queued.size(), 1u);  // one drain for the eight
  consumer.run_posted();
  EXPECT_EQ(ran.size(), 10u);
  EXPECT_EQ(ran.back(), 9);
  // A burst that delivered nothing, or whose items a queued drain took, posts nothing more.
  {
    CompletionBurst empty;
  }
  EXPECT_TRUE(consumer.queued.empty());
}

TEST(CompletionInbox, BurstsNestAndEachInboxDrainsOncePerBurst) {
  Poster a_thread, b_thread;
  CompletionInbox a(a_thread.post()), b(b_thread.post());
  int count = 0;
  {
    CompletionBurst outer;
    a.deliver([&count] { ++count; });
    {
      CompletionBurst inner;
      EXPECT_EQ(CompletionBurst::current(), &inner);
      b.deliver([&count] { ++count; });
      b.deliver([&count] { ++count; });
      a.deliver([&count] { ++count; });  // deferred to the outer burst, where a's drain waits
    }
    EXPECT_EQ(b_thread.queued.size(), 1u);  // the inner burst ended
    EXPECT_TRUE(a_thread.queued.empty());
    EXPECT_EQ(CompletionBurst::current(), &outer);
  }
  EXPECT_EQ(a_thread.queued.size(), 1u);
  a_thread.run_posted();
  b_thread.run_posted();
  EXPECT_EQ(count, 4);
}

// A burst belongs to its thread: another thread's delivery is not deferred into it.
TEST(CompletionInbox, ABurstOnOneThreadDoesNotDeferAnotherThreadsDeliveries) {
  std::mutex mu;
  std::vector<std::function<void()>> queued;
  CompletionInbox inbox([&](std::function<void()> f) {
    std::lock_guard lk(mu);
    queued.push_back(std::move(f));
  });
  CompletionBurst burst;
  std::thread([&] {
    EXPECT_EQ(CompletionBurst::current(), nullptr);
    inbox.deliver([] {});
  }).join();
  std::lock_guard lk(mu);
  EXPECT_EQ(queued.size(), 1u);
}

}  // namespace
}  // namespace nimbus
