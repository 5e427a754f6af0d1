#include "api/invocation.h"

namespace nimbus::api {

std::string_view HttpRequestData::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < k.size() && eq; ++i)
      eq = std::tolower(static_cast<unsigned char>(k[i])) ==
           std::tolower(static_cast<unsigned char>(name[i]));
    if (eq) return v;
  }
  return {};
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::succeeded: return "succeeded";
    case Outcome::failed: return "failed";
    case Outcome::timed_out: return "timed_out";
    case Outcome::worker_crashed: return "worker_crashed";
    case Outcome::bad_response: return "bad_response";
    case Outcome::unavailable: return "unavailable";
    case Outcome::throttled: return "throttled";
  }
  return "unknown";
}

}  // namespace nimbus::api
