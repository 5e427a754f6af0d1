#include "http/active_clients.h"

#include <gtest/gtest.h>

namespace nimbus::http {
namespace {

using std::chrono::milliseconds;
using Time = std::chrono::steady_clock::time_point;

Time at(int ms) { return Time(milliseconds(ms)); }

TEST(ActiveClients, CountsEachConnectionOncePerPeriod) {
  ActiveClients a;
  EXPECT_EQ(a.note(1, at(1000)), 1u);
  EXPECT_EQ(a.note(1, at(1001)), 1u);
  EXPECT_EQ(a.note(2, at(1002)), 2u);
  EXPECT_EQ(a.note(3, at(1003)), 3u);
  EXPECT_EQ(a.note(2, at(1004)), 3u);
}

TEST(ActiveClients, ThePreviousPeriodKeepsTheCountUntilTheNewOneCatchesUp) {
  ActiveClients a;
  for (uint64_t c = 1; c <= 8; ++c) a.note(c, at(1000));
  // The next 50 ms period: one connection so far, but eight were active a moment ago.
  EXPECT_EQ(a.note(1, at(1060)), 8u);
  for (uint64_t c = 2; c <= 9; ++c) a.note(c, at(1061));
  EXPECT_EQ(a.note(9, at(1062)), 9u);
}

TEST(ActiveClients, ForgetsClientsAfterTwoQuietPeriods) {
  ActiveClients a;
  for (uint64_t c = 1; c <= 64; ++c) a.note(c, at(1000));
  EXPECT_EQ(a.note(1, at(1200)), 1u);
}

TEST(ActiveClients, ConnectionsSharingASlotCountTwiceNotLess) {
  ActiveClients a;
  // 1 and 513 share a slot of the 512: each return counts again, never undercounts.
  EXPECT_EQ(a.note(1, at(1000)), 1u);
  EXPECT_EQ(a.note(513, at(1001)), 2u);
  EXPECT_GE(a.note(1, at(1002)), 2u);
}

}  // namespace
}  // namespace nimbus::http
