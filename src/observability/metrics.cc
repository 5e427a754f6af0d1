#include "observability/metrics.h"

#include <sstream>

namespace nimbus::observability {

namespace {
// Label values escape backslash, quote and newline (Prometheus text format).
std::string esc(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}
}  // namespace

void Metrics::invocation_finished(const std::string& function, const std::string& trigger,
                                  const std::string& status, double seconds) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  auto key = std::make_tuple(std::string_view(function), std::string_view(trigger),
                             std::string_view(status));
  auto it = invocations_.find(key);
  if (it == invocations_.end()) it = invocations_.emplace(std::make_tuple(function, trigger, status), 0).first;
  ++it->second;
  auto hit = durations_.find(std::string_view(function));
  if (hit == durations_.end()) hit = durations_.emplace(function, Histogram{}).first;
  auto& h = hit->second;
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::worker_started(const std::string& kind) {
  std::lock_guard lock(mu_);
  ++worker_starts_[kind];
}

void Metrics::worker_crashed(const std::string& kind) {
  std::lock_guard lock(mu_);
  ++worker_crashes_[kind];
}

void Metrics::queue_message(const std::string& function, const std::string& queue,
                            const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++queue_messages_[{function, queue, outcome}];
}

void Metrics::change_feed_batch(const std::string& function, const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++change_feed_batches_[{function, outcome}];
}

void Metrics::change_feed_lag(const std::string& function, int64_t lsns) {
  std::lock_guard lock(mu_);
  change_feed_lag_[function] = lsns;
}

std::string Metrics::render() const {
  std::ostringstream o;
  std::lock_guard lock(mu_);
  o << "# HELP nimbus_invocations_total Function invocations by outcome.\n"
       "# TYPE nimbus_invocations_total counter\n";
  for (const auto& [k, v] : invocations_)
    o << "nimbus_invocations_total{function=\"" << esc(std::get<0>(k)) << "\",trigger=\""
      << esc(std::get<1>(k)) << "\",status=\"" << esc(std::get<2>(k)) << "\"} " << v << "\n";
  o << "# HELP nimbus_invocation_duration_seconds Invocation duration, dispatch to result.\n"
       "# TYPE nimbus_invocation_duration_seconds histogram\n";
  for (const auto& [fn, h] : durations_) {
    for (size_t i = 0; i < kBuckets.size(); ++i)
      o << "nimbus_invocation_duration_seconds_bucket{function=\"" << esc(fn) << "\",le=\""
        << kBuckets[i] << "\"} " << h.buckets[i] << "\n";
    o << "nimbus_invocation_duration_seconds_bucket{function=\"" << esc(fn) << "\",le=\"+Inf\"} "
      << h.count << "\n";
    o << "nimbus_invocation_duration_seconds_sum{function=\"" << esc(fn) << "\"} " << h.sum
      << "\n";
    o << "nimbus_invocation_duration_seconds_count{function=\"" << esc(fn) << "\"} " << h.count
      << "\n";
  }
  o << "# HELP nimbus_invocations_in_flight Invocations dispatched and not yet finished.\n"
       "# TYPE nimbus_invocations_in_flight gauge\n"
       "nimbus_invocations_in_flight "
    << in_flight_.load(std::memory_order_relaxed) << "\n";
  o << "# HELP nimbus_worker_starts_total Worker processes started.\n"
       "# TYPE nimbus_worker_starts_total counter\n";
  for (const auto& [k, v] : worker_starts_)
    o << "nimbus_worker_starts_total{kind=\"" << esc(k) << "\"} " << v << "\n";
  o << "# HELP nimbus_worker_crashes_total Worker processes that exited or were killed while "
       "serving.\n"
       "# TYPE nimbus_worker_crashes_total counter\n";
  for (const auto& [k, v] : worker_crashes_)
    o << "nimbus_worker_crashes_total{kind=\"" << esc(k) << "\"} " << v << "\n";
  o << "# HELP nimbus_queue_messages_total Queue-triggered messages by outcome.\n"
       "# TYPE nimbus_queue_messages_total counter\n";
  for (const auto& [k, v] : queue_messages_)
    o << "nimbus_queue_messages_total{function=\"" << esc(std::get<0>(k)) << "\",queue=\""
      << esc(std::get<1>(k)) << "\",outcome=\"" << esc(std::get<2>(k)) << "\"} " << v << "\n";
  if (!change_feed_batches_.empty() || !change_feed_lag_.empty()) {
    o << "# HELP nimbus_change_feed_batches_total cosmosDBTrigger batches by outcome.\n"
         "# TYPE nimbus_change_feed_batches_total counter\n";
    for (const auto& [k, v] : change_feed_batches_)
      o << "nimbus_change_feed_batches_total{function=\"" << esc(k.first) << "\",outcome=\""
        << esc(k.second) << "\"} " << v << "\n";
    o << "# HELP nimbus_change_feed_lag_lsn Changes a cosmosDBTrigger lease is behind its "
         "container.\n# TYPE nimbus_change_feed_lag_lsn gauge\n";
    for (const auto& [f, v] : change_feed_lag_)
      o << "nimbus_change_feed_lag_lsn{function=\"" << esc(f) << "\"} " << v << "\n";
  }
  return o.str();
}

}  // namespace nimbus::observability
