#include "common/ids.h"

#include <gtest/gtest.h>

namespace nimbus {
namespace {

TEST(ParseIso8601, RoundTripsWhatIso8601MsWrites) {
  for (int64_t ms : {0LL, 1764426000123LL, 951782400000LL /* 2000-02-29 */, 4102444799999LL})
    EXPECT_EQ(parse_iso8601_ms(iso8601_ms(ms)), ms) << iso8601_ms(ms);
}

TEST(ParseIso8601, AcceptsWholeSecondsOffsetsAndNoZone) {
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:01"), 1000);  // no zone: UTC
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_iso8601_ms("1969-12-31T23:00:00-01:00"), 0);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:00.5Z"), 500);
}

TEST(ParseIso8601, RefusesWhatIsNotATime) {
  for (const char* bad : {"", "2026", "2026-13-01T00:00:00Z", "2026-01-01", "2026-01-01T25:00:00Z",
                          "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk", "yesterday",
                          "2026-01-01T00:00:00+0100"})
    EXPECT_FALSE(parse_iso8601_ms(bad).has_value()) << bad;
}

}  // namespace
}  // namespace nimbus
