// Fuzzes timer schedules: TimerSchedule::parse on the input as function.json "schedule" would
// hold it (NCRONTAB or TimeSpan), then next-occurrence computation on what it accepts.
// Beyond "no crash, no sanitizer report", it checks what the timer trigger relies on; a broken
// property aborts with a message naming it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/ncrontab.h"

namespace {

using nimbus::TimerSchedule;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "ncrontab_fuzz: property broken: %s\n", property);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256) return 0;  // schedules are short; longer inputs only slow the search
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto s = TimerSchedule::parse(text, error);
  if (!s) {
    if (error.empty()) broken("a refused schedule has an error message");
    return 0;
  }
  if (!error.empty()) broken("an accepted schedule has no error");
  // Occurrences strictly increase, are whole seconds for NCRONTAB, and the same schedule
  // parsed again gives the same occurrences (the trigger re-parses after a restart).
  using namespace std::chrono;
  const TimerSchedule::TimePoint starts[] = {
      TimerSchedule::TimePoint(milliseconds(0)),
      TimerSchedule::TimePoint(milliseconds(1798761599500)),  // 2026-12-31T23:59:59.500Z
      TimerSchedule::TimePoint(milliseconds(4107542399000)),  // 2100-02-28T23:59:59Z
  };
  std::string again_error;
  auto again = TimerSchedule::parse(text, again_error);
  if (!again) broken("parsing is deterministic");
  for (auto start : starts) {
    auto a = s->next_n(start, 4);
    auto b = again->next_n(start, 4);
    if (a != b) broken("the same schedule gives the same occurrences");
    if (start.time_since_epoch().count() == 0 && a.empty())
      broken("an accepted schedule occurs (parse refuses one that never does)");
    auto prev = start;
    for (auto t : a) {
      if (t <= prev) broken("occurrences strictly increase");
      if (!s->is_interval() && t.time_since_epoch().count() % 1000 != 0)
        broken("NCRONTAB occurrences fall on whole seconds");
      auto round = nimbus::parse_utc(nimbus::format_utc(t));
      if (!round || *round != t) broken("format_utc reads back with parse_utc");
      prev = t;
    }
  }
  auto p = s->shortest_period(starts[0]);
  if (p.count() <= 0) broken("the shortest period is positive");
  return 0;
}
