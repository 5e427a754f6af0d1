#include "ai/resilience.h"

#include <algorithm>
#include <boost/json/array.hpp>

namespace nimbus::ai {

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::timeout: return "timeout";
    case FailureKind::rate_limited: return "rate-limited";
    case FailureKind::server_error: return "server-error";
    case FailureKind::client_error: return "client-error";
    case FailureKind::malformed: return "malformed";
    case FailureKind::network: return "network";
  }
  return "network";
}

bool is_retryable(FailureKind kind) {
  // A 4xx other than 429 or an answer we cannot read will fail the same way again.
  return kind != FailureKind::client_error && kind != FailureKind::malformed;
}

milliseconds backoff_delay(const RetryConfig& c, int retry, double unit,
                           std::optional<milliseconds> retry_after) {
  int64_t cap = std::max<int64_t>(0, c.max_delay.count());
  int64_t ceiling = std::max<int64_t>(0, c.base_delay.count());
  // Doubling stops at the cap, so a large retry number cannot overflow.
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  unit = std::clamp(unit, 0.0, 1.0);
  int64_t half = ceiling / 2;
  int64_t d = half + static_cast<int64_t>(static_cast<double>(ceiling - half) * unit);
  d = std::min(d, ceiling);
  if (retry_after) d = std::max(d, std::min(retry_after->count(), cap));
  return milliseconds(d);
}

std::string_view to_string(BreakerState s) {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half-open";
  }
  return "closed";
}

bool CircuitBreaker::allow(Clock::time_point now) {
  if (state_ == BreakerState::open) {
    if (now - opened_at_ < config_.open_for) return false;
    state_ = BreakerState::half_open;
    probes_in_flight_ = 0;
  }
  if (state_ == BreakerState::half_open) {
    if (probes_in_flight_ >= std::max(1, config_.half_open_probes)) return false;
    ++probes_in_flight_;
  }
  return true;
}

void CircuitBreaker::on_success(Clock::time_point) {
  if (state_ == BreakerState::half_open) {
    state_ = BreakerState::closed;
    probes_in_flight_ = 0;
  }
  // A call admitted before the breaker opened proves little about now: an open breaker stays
  // open until its own probe succeeds.
  if (state_ == BreakerState::closed) consecutive_failures_ = 0;
}

void CircuitBreaker::on_failure(Clock::time_point now) {
  if (state_ == BreakerState::half_open) {
    open(now);
    return;
  }
  if (state_ == BreakerState::open) return;
  if (++consecutive_failures_ >= std::max(1, config_.failure_threshold)) open(now);
}

void CircuitBreaker::open(Clock::time_point now) {
  state_ = BreakerState::open;
  opened_at_ = now;
  probes_in_flight_ = 0;
  ++opens_;
}

milliseconds CircuitBreaker::retry_in(Clock::time_point now) const {
  if (state_ != BreakerState::open) return milliseconds(0);
  auto left = std::chrono::duration_cast<milliseconds>(opened_at_ + config_.open_for - now);
  return std::max(left, milliseconds(0));
}

boost::json::object to_json(const ModerationMetrics& m) {
  boost::json::object failures;
  for (size_t i = 0; i < kFailureKinds; ++i)
    failures[to_string(static_cast<FailureKind>(i))] = m.failures[i];
  boost::json::array buckets;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < m.latency.counts.size(); ++i) {
    cumulative += m.latency.counts[i];
    boost::json::object b{{"count", cumulative}};
    if (i < LatencyHistogram::kBoundsMs.size()) b["le"] = LatencyHistogram::kBoundsMs[i];
    else b["le"] = "+Inf";
    buckets.push_back(std::move(b));
  }
  return boost::json::object{
      {"calls", m.calls},
      {"approved", m.approved},
      {"rejected", m.rejected},
      {"pendingReview", m.pending_review},
      {"attempts", m.attempts},
      {"retries", m.retries},
      {"failures", std::move(failures)},
      {"failOpen", m.fail_open},
      {"shortCircuited", m.short_circuited},
      {"breakerState", to_string(m.breaker_state)},
      {"breakerOpens", m.breaker_opens},
      {"latencyMs", {{"buckets", std::move(buckets)}, {"count", m.latency.total},
                     {"sum", m.latency.sum_ms}}}};
}

void LatencyHistogram::record(milliseconds latency) {
  int64_t ms = std::max<int64_t>(0, latency.count());
  size_t i = 0;
  while (i < kBoundsMs.size() && ms > kBoundsMs[i]) ++i;
  ++counts[i];
  ++total;
  sum_ms += ms;
}

}  // namespace nimbus::ai
