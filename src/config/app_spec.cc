#include "config/app_spec.h"

#include <algorithm>

namespace nimbus::config {

const char* auth_level_name(AuthLevel level) {
  switch (level) {
    case AuthLevel::anonymous: return "anonymous";
    case AuthLevel::function: return "function";
    case AuthLevel::admin: return "admin";
  }
  return "function";
}

std::chrono::milliseconds RetryPolicy::delay_after(int attempt) const {
  if (strategy == Strategy::fixed_delay) return delay;
  // minimum * 2^(attempt-1), capped at maximum.
  auto d = minimum;
  for (int i = 1; i < attempt && d < maximum; ++i) d *= 2;
  return std::min(d, maximum);
}

}  // namespace nimbus::config
