#include "common/ncrontab.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "common/ascii.h"
#include "common/duration.h"

namespace nimbus {

namespace {

using namespace std::chrono;

struct Field {
  const char* name;
  int min, max;
  const char* const* names;  // indexed from `min`, or null
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

const Field kFields[] = {
    {"second", 0, 59, nullptr}, {"minute", 0, 59, nullptr},    {"hour", 0, 23, nullptr},
    {"day", 1, 31, nullptr},    {"month", 1, 12, kMonthNames}, {"day-of-week", 0, 6, kDayNames},
};

// A number or (month, day-of-week) a name; -1 with `error` set otherwise.
int value_of(std::string_view v, const Field& f, std::string& error) {
  if (v.empty()) {
    error = "a number is missing";
    return -1;
  }
  if (std::isdigit(static_cast<unsigned char>(v[0]))) {
    int n = 0;
    for (char c : v) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || n > 1000) {
        error = "\"" + std::string(v) + "\" is not a number";
        return -1;
      }
      n = n * 10 + (c - '0');
    }
    if (n < f.min || n > f.max) {
      error = std::to_string(n) + " is out of range " + std::to_string(f.min) + "-" +
              std::to_string(f.max);
      if (f.names == kDayNames && n == 7) error += " (Sunday is 0)";
      return -1;
    }
    return n;
  }
  if (f.names)
    for (int i = 0; i <= f.max - f.min; ++i)
      if (ascii_iequals(v, f.names[i])) return f.min + i;
  error = "\"" + std::string(v) + "\" is not a number" +
          (f.names ? std::string(" or a name (") + f.names[0] + ".." + f.names[f.max - f.min] + ")"
                   : std::string());
  return -1;
}

// One field's comma list into `bits` (index = value); "" or what is wrong.
template <size_t N>
std::string parse_field(std::string_view text, const Field& f, std::bitset<N>& bits) {
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    if (item.empty()) return "an empty item in the list \"" + std::string(text) + "\"";
    int step = 1;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      std::string_view s = item.substr(slash + 1);
      item = item.substr(0, slash);
      has_step = true;
      if (s.empty() || s.size() > 4 || !std::all_of(s.begin(), s.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
          }))
        return "step \"" + std::string(s) + "\" is not a positive number";
      step = std::stoi(std::string(s));
      if (step == 0) return "step 0 never advances; use 1 or more";
      if (step > f.max - f.min + 1 && step > 1)
        return "step " + std::to_string(step) + " is larger than the field's range " +
               std::to_string(f.min) + "-" + std::to_string(f.max);
    }
    int lo, hi;
    std::string error;
    if (item == "*") {
      lo = f.min;
      hi = f.max;
    } else if (size_t dash = item.find('-'); dash != std::string_view::npos) {
      lo = value_of(item.substr(0, dash), f, error);
      if (lo < 0) return error;
      hi = value_of(item.substr(dash + 1), f, error);
      if (hi < 0) return error;
      if (lo > hi)
        return "range " + std::string(item) + " runs backwards; write the lower bound first";
    } else {
      lo = value_of(item, f, error);
      if (lo < 0) return error;
      hi = has_step ? f.max : lo;  // "a/n": from a to the end of the field, every n
    }
    for (int v = lo; v <= hi; v += step) bits.set(static_cast<size_t>(v));
    if (comma == std::string_view::npos) return "";
    start = comma + 1;
  }
}

int days_in_month(int y, int m) {
  return static_cast<int>(
      static_cast<unsigned>(year_month_day_last(year(y) / month(static_cast<unsigned>(m)) / last).day()));
}

}  // namespace

std::optional<TimerSchedule> TimerSchedule::parse(std::string_view text, std::string& error) {
  TimerSchedule s;
  s.text_ = std::string(text);
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\t') ++j;
    if (j > i) parts.push_back(text.substr(i, j - i));
    i = j;
  }
  if (parts.empty()) {
    error = "is empty; write an NCRONTAB expression such as \"0 */5 * * * *\" (every 5 minutes) "
            "or a TimeSpan such as \"00:05:00\"";
    return std::nullopt;
  }
  // A TimeSpan: one word with a colon ("hh:mm:ss", "d.hh:mm:ss").
  if (parts.size() == 1 && text.find(':') != std::string_view::npos) {
    auto t = parse_timespan(parts[0]);
    if (!t || *t == milliseconds::max() || t->count() <= 0) {
      error = "is not a TimeSpan of a positive interval; write \"hh:mm:ss\" (\"00:05:00\": every "
              "5 minutes) or an NCRONTAB expression";
      return std::nullopt;
    }
    // A TimeSpan may reach 29,000 years, which puts the next occurrence past year 9999, where
    // neither .NET's DateTime (Azure throws) nor our timestamps go. Over a century is a typo in
    // the days part in any case (found by ncrontab_fuzz: "5555550.0:0:31").
    if (*t > days(36500)) {
      error = "is a TimeSpan of more than 36500 days (100 years); a timer that fires less than once "
              "a century is almost surely a slip in the days part (\"d.hh:mm:ss\")";
      return std::nullopt;
    }
    s.interval_ = *t;
    return s;
  }
  if (parts.size() != 6 && parts.size() != 5) {
    error = "has " + std::to_string(parts.size()) +
            " fields; NCRONTAB needs 6: {second} {minute} {hour} {day} {month} {day-of-week}, "
            "e.g. \"0 */5 * * * *\"";
    return std::nullopt;
  }
  // Five fields are the classic form without seconds: at second 0.
  if (parts.size() == 5) parts.insert(parts.begin(), "0");
  std::string e;
  for (size_t i = 0; i < 6 && e.empty(); ++i) {
    const Field& f = kFields[i];
    switch (i) {
      case 0: e = parse_field(parts[i], f, s.seconds_); break;
      case 1: e = parse_field(parts[i], f, s.minutes_); break;
      case 2: e = parse_field(parts[i], f, s.hours_); break;
      case 3: e = parse_field(parts[i], f, s.days_); break;
      case 4: e = parse_field(parts[i], f, s.months_); break;
      case 5: e = parse_field(parts[i], f, s.weekdays_); break;
    }
    if (!e.empty()) {
      error = "field " + std::to_string(i + 1) + " (" + f.name + ") \"" + std::string(parts[i]) +
              "\": " + e;
      return std::nullopt;
    }
  }
  // A schedule that never fires (February 30th) is a mistake worth refusing at load.
  if (!s.next(TimePoint(milliseconds(0)))) {
    bool any_day = false;
    for (int m = 1; m <= 12; ++m)
      for (int d = 1; d <= 31; ++d)
        any_day = any_day || (s.months_[m] && s.days_[d] && d <= days_in_month(2028, m));
    error = any_day ? "never occurs (no day matches both the day and the day-of-week fields)"
                    : "never occurs (no month has that day)";
    return std::nullopt;
  }
  return s;
}

std::optional<TimerSchedule::TimePoint> TimerSchedule::next(TimePoint after) const {
  if (is_interval()) return after + interval_;
  // Field by field from the next whole second: a field that does not match skips to the start
  // of the next unit of that field, so the loop runs a few hundred times at most per year.
  sys_seconds t = floor<seconds>(after) + seconds(1);
  const auto limit = t + days(366 * 8);
  while (t < limit) {
    auto day = floor<days>(t);
    year_month_day ymd(day);
    hh_mm_ss<seconds> hms(t - day);
    int mo = static_cast<int>(static_cast<unsigned>(ymd.month()));
    int d = static_cast<int>(static_cast<unsigned>(ymd.day()));
    if (!months_[mo]) {
      auto ym = ymd.year() / ymd.month() + months(1);
      t = sys_days(ym / 1);
      continue;
    }
    if (!days_[d] || !weekdays_[weekday(day).c_encoding()]) {
      t = day + days(1);
      continue;
    }
    if (!hours_[hms.hours().count()]) {
      t = day + hms.hours() + hours(1);
      continue;
    }
    if (!minutes_[hms.minutes().count()]) {
      t = day + hms.hours() + hms.minutes() + minutes(1);
      continue;
    }
    if (!seconds_[hms.seconds().count()]) {
      t += seconds(1);
      continue;
    }
    return time_point_cast<milliseconds>(t);
  }
  return std::nullopt;
}

std::vector<TimerSchedule::TimePoint> TimerSchedule::next_n(TimePoint after, int n) const {
  std::vector<TimePoint> out;
  for (int i = 0; i < n; ++i) {
    auto t = next(after);
    if (!t) break;
    out.push_back(*t);
    after = *t;
  }
  return out;
}

milliseconds TimerSchedule::shortest_period(TimePoint after) const {
  if (is_interval()) return interval_;
  milliseconds shortest = milliseconds::max();
  auto prev = next(after);
  if (!prev) return shortest;
  auto end = *prev + days(1);
  // Bounded: at most one day of occurrences, and a few thousand of them at most.
  for (int i = 0; i < 5000; ++i) {
    auto t = next(*prev);
    if (!t) break;
    shortest = std::min(shortest, *t - *prev);
    if (*t > end || shortest <= seconds(1)) break;
    prev = t;
  }
  return shortest;
}

std::string format_utc(TimerSchedule::TimePoint t) {
  auto day = floor<days>(t);
  year_month_day ymd(day);
  hh_mm_ss<milliseconds> hms(t - day);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  return buf;
}

std::optional<TimerSchedule::TimePoint> parse_utc(std::string_view text) {
  int y, mo, d, h, mi, s, ms = 0;
  char z = 0;
  std::string str(text);
  int n = std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z);
  if (n != 8) {
    ms = 0;
    n = std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z);
    if (n != 7) return std::nullopt;
  }
  if (z != 'Z') return std::nullopt;
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0) return std::nullopt;
  return time_point_cast<milliseconds>(sys_days(ymd)) + hours(h) + minutes(mi) + seconds(s) +
         milliseconds(ms);
}

}  // namespace nimbus
