#pragma once
// The pure parts of the resilience layer: the circuit breaker, the retry/backoff policy and the
// metrics. No clocks or randomness of their own (callers pass `now` and a uniform number), so
// the unit tests drive them exactly; resilient_moderator.cc applies them with Asio timers.
#include <array>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nimbus::ai {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Why one provider call failed. Retryable: timeout, rate_limited, server_error, network.
enum class FailureKind { timeout, rate_limited, server_error, client_error, malformed, network };
inline constexpr size_t kFailureKinds = 6;
std::string_view to_string(FailureKind kind);
bool is_retryable(FailureKind kind);

struct RetryConfig {
  int max_attempts = 3;                 // provider calls per moderation, first one included
  milliseconds base_delay{100};         // first retry waits 50..100 ms
  milliseconds max_delay{1000};         // no single wait is longer
  milliseconds attempt_timeout{1500};   // one call, connect to last byte
  milliseconds total_budget{3000};      // the whole moderation, waits included; then fail-open
};

// The wait before retry number `retry` (1 = the first retry): "equal jitter", uniformly in
// [ceiling/2, ceiling] with ceiling = min(max_delay, base_delay * 2^(retry-1)), so waits grow,
// never exceed max_delay, and concurrent callers spread out. `unit` is uniform in [0, 1).
// A 429's Retry-After raises the wait to at most max_delay.
milliseconds backoff_delay(const RetryConfig& config, int retry, double unit,
                           std::optional<milliseconds> retry_after = std::nullopt);

enum class BreakerState { closed, open, half_open };
std::string_view to_string(BreakerState state);

struct BreakerConfig {
  int failure_threshold = 5;     // consecutive failed calls that open it
  milliseconds open_for{5000};   // cool-down before half-open probes
  int half_open_probes = 1;      // calls let through at once while half-open
};

// closed --N consecutive failures--> open --open_for elapsed, next allow()--> half_open
// half_open --a probe succeeds--> closed;  half_open --a probe fails--> open (cool-down again)
class CircuitBreaker {
 public:
  explicit CircuitBreaker(BreakerConfig config = {}) : config_(config) {}

  // Whether a call may go now. While half-open this takes one of the probe slots, which the
  // call's on_success/on_failure returns.
  bool allow(Clock::time_point now);
  void on_success(Clock::time_point now);
  void on_failure(Clock::time_point now);

  BreakerState state() const { return state_; }
  int consecutive_failures() const { return consecutive_failures_; }
  uint64_t opens() const { return opens_; }
  // How long until an open breaker lets a probe through (0 when not open).
  milliseconds retry_in(Clock::time_point now) const;
  const BreakerConfig& config() const { return config_; }

 private:
  void open(Clock::time_point now);

  BreakerConfig config_;
  BreakerState state_ = BreakerState::closed;
  int consecutive_failures_ = 0;
  int probes_in_flight_ = 0;
  uint64_t opens_ = 0;
  Clock::time_point opened_at_{};
};

struct LatencyHistogram {
  // Upper bounds in ms; counts has one more slot for "above the last bound".
  static constexpr std::array<int64_t, 10> kBoundsMs{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
  std::array<uint64_t, kBoundsMs.size() + 1> counts{};
  uint64_t total = 0;
  int64_t sum_ms = 0;
  void record(milliseconds latency);
};

// A snapshot the host can render (Prometheus text, the admin API) without knowing this module.
struct ModerationMetrics {
  uint64_t calls = 0;            // moderations asked for
  uint64_t approved = 0, rejected = 0, pending_review = 0;
  uint64_t attempts = 0;         // provider calls made
  uint64_t retries = 0;
  std::array<uint64_t, kFailureKinds> failures{};  // per FailureKind, per provider call
  uint64_t fail_open = 0;        // moderations answered pending-review because the provider could not
  uint64_t short_circuited = 0;  // moderations the open breaker answered without a call
  BreakerState breaker_state = BreakerState::closed;
  // While open: when the next call may go through as a probe. A snapshot is only refreshed by
  // calls, so a reader with no calls of its own (the health input) needs this to see that the
  // cool-down is over.
  Clock::time_point probe_at{};
  uint64_t breaker_opens = 0;
  LatencyHistogram latency;      // whole moderations, retries and waits included

  uint64_t failures_of(FailureKind kind) const { return failures[static_cast<size_t>(kind)]; }
};

// {"calls", "approved", ..., "failures": {"timeout": n, ...}, "breakerState": "half-open",
//  "latencyMs": {"buckets": [{"le": 5, "count": n}, ..., {"le": "+Inf", ...}], "count", "sum"}}
// with cumulative bucket counts, as Prometheus histograms have them, so rendering is a loop.
boost::json::object to_json(const ModerationMetrics& metrics);

}  // namespace nimbus::ai
