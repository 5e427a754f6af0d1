#include "api/invocation.h"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>

#include "common/ascii.h"

namespace nimbus::api {

std::string_view HttpRequestData::header(std::string_view name) const {
  // Header names are ASCII tokens; ascii_iequals makes no locale call per character (the
  // document service looks up about a dozen headers per request).
  for (const auto& [k, v] : headers)
    if (ascii_iequals(k, name)) return v;
  return {};
}

std::string TimerData::to_json() const {
  namespace json = boost::json;
  json::object o;
  o["Schedule"] = json::object{{"AdjustForDST", adjust_for_dst}};
  // Azure gives ScheduleStatus null when no status is kept (useMonitor false).
  if (last.empty() && next.empty() && last_updated.empty())
    o["ScheduleStatus"] = nullptr;
  else
    o["ScheduleStatus"] = json::object{{"Last", last}, {"Next", next}, {"LastUpdated", last_updated}};
  o["IsPastDue"] = is_past_due;
  return json::serialize(o);
}

const char* auth_level_name(AuthLevel level) {
  switch (level) {
    case AuthLevel::anonymous: return "anonymous";
    case AuthLevel::function: return "function";
    case AuthLevel::admin: return "admin";
  }
  return "function";
}

const char* trigger_kind_name(TriggerKind kind) {
  switch (kind) {
    case TriggerKind::http: return "http";
    case TriggerKind::queue: return "queue";
    case TriggerKind::document: return "cosmosDB";
    case TriggerKind::orchestration: return "orchestration";
    case TriggerKind::activity: return "activity";
    case TriggerKind::timer: return "timer";
  }
  return "unknown";
}

std::chrono::milliseconds RetryPolicy::delay_after(int attempt) const {
  if (strategy == Strategy::fixed_delay) return delay;
  // minimum * 2^(attempt-1), capped at maximum.
  auto d = minimum;
  for (int i = 1; i < attempt && d < maximum; ++i) d *= 2;
  return std::min(d, maximum);
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
