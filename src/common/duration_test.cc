#include "common/duration.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using nimbus::parse_timespan;

TEST(TimeSpan, ParsesHostJsonForms) {
  EXPECT_EQ(parse_timespan("00:05:00"), 5min);
  EXPECT_EQ(parse_timespan("00:00:01.5"), 1500ms);
  EXPECT_EQ(parse_timespan("1.02:00:00"), 26h);
  EXPECT_EQ(parse_timespan("-1"), std::chrono::milliseconds::max());
}

TEST(TimeSpan, RejectsMalformed) {
  for (const char* bad : {"", "5", "00:60:00", "aa:bb:cc", "00:00", "-00:00:01", "00:00:01.",
                          "1.2.00:00:00"})
    EXPECT_FALSE(parse_timespan(bad).has_value()) << bad;
}

TEST(TimeSpan, DaysUpToDotNetMaxWithoutOverflow) {
  EXPECT_EQ(parse_timespan("200000.00:00:00"), std::chrono::hours(24) * 200000);
  EXPECT_EQ(parse_timespan("10675199.00:00:00"), std::chrono::hours(24) * 10675199LL);
  // Past TimeSpan.MaxValue the milliseconds would overflow int64 (UB): refused instead.
  for (const char* big : {"10675200.00:00:00", "9999999999.00:00:00", "99999999999999999999.00:00:00"})
    EXPECT_FALSE(parse_timespan(big).has_value()) << big;
}
