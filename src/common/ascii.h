#pragma once
// Case-insensitive comparison in ASCII only: for protocol tokens and fixed names (header names,
// route literals, log levels, cron month and day names, binding expression names), which are
// ASCII, several on paths that run per request, where
// std::tolower would be a locale call per character.
#include <string_view>

namespace nimbus {

inline bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) return false;
  }
  return true;
}

}  // namespace nimbus
