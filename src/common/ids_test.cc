#include "common/ids.h"

#include <gtest/gtest.h>

namespace nimbus {
namespace {

bool lower_hex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

TEST(NewUuid, IsAVersion4Rfc4122UuidInLowerCase) {
  std::string previous;
  for (int i = 0; i < 1000; ++i) {
    std::string u = new_uuid();
    ASSERT_EQ(u.size(), 36u) << u;
    for (size_t dash : {8u, 13u, 18u, 23u}) EXPECT_EQ(u[dash], '-') << u;
    std::string digits = u.substr(0, 8) + u.substr(9, 4) + u.substr(14, 4) + u.substr(19, 4) +
                         u.substr(24);
    EXPECT_TRUE(lower_hex(digits)) << u;
    EXPECT_EQ(u[14], '4') << u;                                    // version 4
    EXPECT_NE(std::string_view("89ab").find(u[19]), std::string_view::npos) << u;  // variant
    EXPECT_NE(u, previous);
    previous = u;
  }
}

TEST(NewUuid, AppendUuidAddsOneAfterWhatIsThere) {
  std::string out = "id=";
  append_uuid(out);
  ASSERT_EQ(out.size(), 3u + 36u);
  EXPECT_EQ(out.substr(0, 3), "id=");
  EXPECT_EQ(out[3 + 14], '4');
  EXPECT_EQ(out[3 + 8], '-');
}

TEST(UniqueHex, HasTwoDigitsPerByteAndIsNeverAllZero) {
  for (size_t bytes : {1u, 8u, 16u, 20u}) {
    std::string a = unique_hex(bytes), b = unique_hex(bytes);
    EXPECT_EQ(a.size(), 2 * bytes);
    EXPECT_TRUE(lower_hex(a)) << a;
    EXPECT_NE(a.find_first_not_of('0'), std::string::npos) << a;
    if (bytes >= 8) EXPECT_NE(a, b);
  }
}

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
