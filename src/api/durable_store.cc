#include "api/durable_store.h"

#include <cctype>

namespace nimbus::api {

namespace {
constexpr const char* kNames[] = {"Running",    "Completed", "ContinuedAsNew", "Failed",
                                  "Canceled",   "Terminated", "Pending",       "Suspended"};
}

const char* runtime_status_name(RuntimeStatus s) {
  auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "Unknown";
}

std::optional<RuntimeStatus> parse_runtime_status(std::string_view name) {
  for (size_t i = 0; i < std::size(kNames); ++i) {
    std::string_view n = kNames[i];
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t j = 0; j < n.size() && eq; ++j)
      eq = std::tolower(static_cast<unsigned char>(n[j])) ==
           std::tolower(static_cast<unsigned char>(name[j]));
    if (eq) return static_cast<RuntimeStatus>(i);
  }
  return std::nullopt;
}

}  // namespace nimbus::api
