#pragma once
// .NET TimeSpan strings as host.json uses them: "hh:mm:ss[.fff]", "d.hh:mm:ss", and "-1"
// for "no limit".
#include <chrono>
#include <optional>
#include <string_view>

namespace nimbus {

// Parses a TimeSpan; nullopt when malformed. "-1" yields milliseconds::max().
std::optional<std::chrono::milliseconds> parse_timespan(std::string_view text);

}  // namespace nimbus
