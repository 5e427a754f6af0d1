#pragma once
// Timer schedules as Azure Functions' timerTrigger reads them: NCRONTAB expressions of six
// fields "{second} {minute} {hour} {day} {month} {day-of-week}" (five fields: seconds are 0),
// or a TimeSpan ("00:05:00": every 5 minutes).
//
// NCRONTAB semantics (what Azure's host evaluates, not Vixie cron's):
// - each field: `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from a to the
//   field's end), and comma lists of these; months JAN..DEC and days SUN..SAT by name, any case;
// - day-of-week 0..6 with 0 = Sunday (7 is refused, as NCrontab refuses it);
// - day and day-of-week BOTH have to match (Vixie cron fires when either does): "0 0 0 13 * FRI"
//   is only Friday the 13th.
// All times are UTC: Nimbus does not implement WEBSITE_TIME_ZONE (the loader says so).
// Plain data, no I/O; safe to share between threads once parsed.
#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nimbus {

class TimerSchedule {
 public:
  using Clock = std::chrono::system_clock;
  using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;

  // nullopt with `error` saying which field is wrong and why (text fit to follow "schedule
  // \"...\": ").
  static std::optional<TimerSchedule> parse(std::string_view text, std::string& error);

  // The first occurrence strictly after `after`, or nullopt when there is none in the next
  // 8 years (e.g. "0 0 0 30 2 *", February 30th).
  std::optional<TimePoint> next(TimePoint after) const;
  // The next `n` occurrences after `after` (fewer when the schedule runs out).
  std::vector<TimePoint> next_n(TimePoint after, int n) const;
  // The shortest gap between the occurrences of the next day after `after` (a TimeSpan: its
  // interval). Azure's useMonitor default is on when this is at least a minute.
  std::chrono::milliseconds shortest_period(TimePoint after) const;

  bool is_interval() const { return interval_.count() > 0; }
  std::chrono::milliseconds interval() const { return interval_; }
  const std::string& text() const { return text_; }
  bool operator==(const TimerSchedule&) const = default;

 private:
  std::string text_;
  std::chrono::milliseconds interval_{0};  // > 0: a TimeSpan schedule
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
};

// "2026-11-29T22:43:59.000Z"
std::string format_utc(TimerSchedule::TimePoint t);
// Reads what format_utc writes (and the same without milliseconds); nullopt otherwise.
std::optional<TimerSchedule::TimePoint> parse_utc(std::string_view text);

}  // namespace nimbus
