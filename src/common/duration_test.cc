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
