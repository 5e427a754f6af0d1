#include "common/duration.h"

#include <cctype>
#include <charconv>

namespace nimbus {

namespace {
bool parse_uint(std::string_view s, long long& out) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}
}  // namespace

std::optional<std::chrono::milliseconds> parse_timespan(std::string_view text) {
  if (text == "-1") return std::chrono::milliseconds::max();
  long long days = 0;
  // Split "d.hh:mm:ss.fff": a '.' before the first ':' separates days.
  auto first_colon = text.find(':');
  if (first_colon == std::string_view::npos) return std::nullopt;
  auto day_dot = text.substr(0, first_colon).find('.');
  if (day_dot != std::string_view::npos) {
    // .NET's TimeSpan.MaxValue has 10,675,199 days; beyond that the milliseconds below would
    // overflow a signed 64-bit count.
    if (!parse_uint(text.substr(0, day_dot), days) || days > 10675199) return std::nullopt;
    text.remove_prefix(day_dot + 1);
  }
  auto c1 = text.find(':');
  auto c2 = text.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  long long h, m, s, frac_ms = 0;
  std::string_view sec = text.substr(c2 + 1);
  auto dot = sec.find('.');
  if (dot != std::string_view::npos) {
    std::string_view frac = sec.substr(dot + 1);
    if (frac.empty() || frac.size() > 7) return std::nullopt;
    long long f;
    if (!parse_uint(frac, f)) return std::nullopt;
    for (size_t i = frac.size(); i < 3; ++i) f *= 10;
    for (size_t i = 3; i < frac.size(); ++i) f /= 10;
    frac_ms = f;
    sec = sec.substr(0, dot);
  }
  if (!parse_uint(text.substr(0, c1), h) || !parse_uint(text.substr(c1 + 1, c2 - c1 - 1), m) ||
      !parse_uint(sec, s))
    return std::nullopt;
  if (h > 23 || m > 59 || s > 59) return std::nullopt;
  long long total = (((days * 24 + h) * 60 + m) * 60 + s) * 1000 + frac_ms;
  return std::chrono::milliseconds(total);
}

}  // namespace nimbus
