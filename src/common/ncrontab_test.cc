// NCRONTAB and TimeSpan schedules: a table of expressions with their next occurrences, and a
// table of bad ones with what the error has to say.
#include "common/ncrontab.h"

#include <gtest/gtest.h>

namespace nimbus {
namespace {

TimerSchedule::TimePoint at(const char* utc) {
  auto t = parse_utc(utc);
  EXPECT_TRUE(t) << utc;
  return t ? *t : TimerSchedule::TimePoint{};
}

struct Good {
  const char* schedule;
  const char* after;
  std::vector<const char*> next;  // the next occurrences, in order
};

TEST(Ncrontab, NextOccurrences) {
  const Good cases[] = {
      {"*/1 * * * * *", "2026-01-01T00:00:00.000Z",
       {"2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z"}},
      // From a fractional second: the next whole second.
      {"* * * * * *", "2026-01-01T00:00:00.500Z", {"2026-01-01T00:00:01.000Z"}},
      {"0 */5 * * * *", "2026-01-01T00:03:10.000Z",
       {"2026-01-01T00:05:00.000Z", "2026-01-01T00:10:00.000Z"}},
      {"0 0 * * * *", "2026-01-01T23:59:59.000Z", {"2026-01-02T00:00:00.000Z"}},
      {"0 30 9 * * MON-FRI", "2026-11-27T10:00:00.000Z",  // a Friday, after 9:30
       {"2026-11-30T09:30:00.000Z", "2026-12-01T09:30:00.000Z"}},
      {"0 30 9 * * 1-5", "2026-11-28T00:00:00.000Z", {"2026-11-30T09:30:00.000Z"}},
      {"0 0 12 1 JAN,jul *", "2026-02-01T00:00:00.000Z",
       {"2026-07-01T12:00:00.000Z", "2027-01-01T12:00:00.000Z"}},
      {"5,10-12 0 0 * * *", "2026-01-01T00:00:00.000Z",
       {"2026-01-01T00:00:05.000Z", "2026-01-01T00:00:10.000Z", "2026-01-01T00:00:11.000Z",
        "2026-01-01T00:00:12.000Z", "2026-01-02T00:00:05.000Z"}},
      {"10/20 * * * * *", "2026-01-01T00:00:00.000Z",  // "a/n": a, a+n, ... to the end
       {"2026-01-01T00:00:10.000Z", "2026-01-01T00:00:30.000Z", "2026-01-01T00:00:50.000Z",
        "2026-01-01T00:01:10.000Z"}},
      {"0-30/15 0 0 1 * *", "2026-01-01T00:00:00.000Z",
       {"2026-01-01T00:00:15.000Z", "2026-01-01T00:00:30.000Z", "2026-02-01T00:00:00.000Z"}},
      // Day AND day-of-week (NCrontab), not OR (Vixie cron): Friday the 13th only.
      {"0 0 0 13 * FRI", "2026-01-01T00:00:00.000Z",
       {"2026-02-13T00:00:00.000Z", "2026-03-13T00:00:00.000Z", "2026-11-13T00:00:00.000Z"}},
      {"0 0 0 29 2 *", "2026-01-01T00:00:00.000Z", {"2028-02-29T00:00:00.000Z"}},
      {"0 0 0 31 * *", "2026-04-01T00:00:00.000Z", {"2026-05-31T00:00:00.000Z"}},
      {"0 0 0 * * 0", "2026-11-29T00:00:00.000Z", {"2026-12-06T00:00:00.000Z"}},  // Sunday = 0
      {"0 0 0 * * sun", "2026-11-28T00:00:00.000Z", {"2026-11-29T00:00:00.000Z"}},
      // Five fields: the classic form, at second 0.
      {"*/15 * * * *", "2026-01-01T00:00:01.000Z", {"2026-01-01T00:15:00.000Z"}},
      {"  0  0  1  *  *  *  ", "2026-01-01T00:00:00.000Z", {"2026-01-01T01:00:00.000Z"}},
      {"59 59 23 31 12 *", "2026-12-31T23:59:59.000Z", {"2027-12-31T23:59:59.000Z"}},
      // TimeSpans: an interval after the given time.
      {"00:05:00", "2026-01-01T00:00:00.250Z",
       {"2026-01-01T00:05:00.250Z", "2026-01-01T00:10:00.250Z"}},
      {"1.00:00:00", "2026-01-01T00:00:00.000Z", {"2026-01-02T00:00:00.000Z"}},
  };
  for (const auto& c : cases) {
    std::string error;
    auto s = TimerSchedule::parse(c.schedule, error);
    ASSERT_TRUE(s) << c.schedule << ": " << error;
    auto got = s->next_n(at(c.after), static_cast<int>(c.next.size()));
    ASSERT_EQ(got.size(), c.next.size()) << c.schedule;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(format_utc(got[i]), c.next[i]) << c.schedule << " after " << c.after << " #" << i;
  }
}

struct Bad {
  const char* schedule;
  const char* says;  // a part of the error
};

TEST(Ncrontab, RefusesBadExpressionsSayingWhy) {
  const Bad cases[] = {
      {"", "is empty"},
      {"   ", "is empty"},
      {"* * * *", "has 4 fields; NCRONTAB needs 6"},
      {"* * * * * * *", "has 7 fields"},
      {"60 * * * * *", "field 1 (second) \"60\": 60 is out of range 0-59"},
      {"0 60 * * * *", "field 2 (minute) \"60\": 60 is out of range 0-59"},
      {"0 0 24 * * *", "field 3 (hour) \"24\": 24 is out of range 0-23"},
      {"0 0 0 0 * *", "field 4 (day) \"0\": 0 is out of range 1-31"},
      {"0 0 0 32 * *", "field 4 (day) \"32\""},
      {"0 0 0 * 13 *", "field 5 (month) \"13\": 13 is out of range 1-12"},
      {"0 0 0 * * 7", "7 is out of range 0-6 (Sunday is 0)"},
      {"0 0 0 * FOO *", "\"FOO\" is not a number or a name (JAN..DEC)"},
      {"0 0 0 * * MONDAY", "\"MONDAY\" is not a number or a name (SUN..SAT)"},
      {"0 0 MON * * *", "field 3 (hour) \"MON\": \"MON\" is not a number"},
      {"*/0 * * * * *", "step 0 never advances"},
      {"*/ * * * * *", "step \"\" is not a positive number"},
      {"*/x * * * * *", "step \"x\" is not a positive number"},
      {"*/61 * * * * *", "step 61 is larger than the field's range 0-59"},
      {"30-10 * * * * *", "range 30-10 runs backwards"},
      {"1,,2 * * * * *", "an empty item in the list \"1,,2\""},
      {"1, * * * * *", "an empty item"},
      {"-5 * * * * *", "a number is missing"},
      {"? * * * * *", "\"?\" is not a number"},
      {"L * * * * *", "\"L\" is not a number"},
      {"0 0 0 30 2 *", "never occurs (no month has that day)"},
      {"0 0 0 31 4,6,9,11 *", "never occurs"},
      {"00:00:00", "is not a TimeSpan of a positive interval"},
      {"00:61:00", "is not a TimeSpan"},
      {"5555550.0:0:31", "more than 36500 days (100 years)"},
      {"36500.00:00:01", "more than 36500 days"},
      {"-1", "has 1 fields"},
      {"five minutes", "has 2 fields"},
  };
  for (const auto& c : cases) {
    std::string error;
    auto s = TimerSchedule::parse(c.schedule, error);
    EXPECT_FALSE(s) << "\"" << c.schedule << "\" was accepted";
    EXPECT_NE(error.find(c.says), std::string::npos)
        << "\"" << c.schedule << "\": " << error << "\n  should say: " << c.says;
  }
}

TEST(Ncrontab, ShortestPeriodDecidesUseMonitor) {
  std::string e;
  auto t = at("2026-01-01T00:00:00.000Z");
  EXPECT_EQ(TimerSchedule::parse("*/1 * * * * *", e)->shortest_period(t), std::chrono::seconds(1));
  EXPECT_EQ(TimerSchedule::parse("0 */5 * * * *", e)->shortest_period(t), std::chrono::minutes(5));
  // Irregular: 0 and 10 past, then 50 minutes to the next hour.
  EXPECT_EQ(TimerSchedule::parse("0 0,10 * * * *", e)->shortest_period(t), std::chrono::minutes(10));
  EXPECT_EQ(TimerSchedule::parse("00:00:30", e)->shortest_period(t), std::chrono::seconds(30));
}

TEST(Ncrontab, UtcTextRoundTrips) {
  auto t = at("2026-11-29T22:43:59.123Z");
  EXPECT_EQ(format_utc(t), "2026-11-29T22:43:59.123Z");
  EXPECT_EQ(format_utc(at("2026-11-29T22:43:59Z")), "2026-11-29T22:43:59.000Z");
  EXPECT_FALSE(parse_utc("2026-11-29 22:43:59"));
  EXPECT_FALSE(parse_utc("2026-02-30T00:00:00Z"));
}

}  // namespace
}  // namespace nimbus
