#pragma once
// Host metrics in the Prometheus text format: invocations by function, trigger and status, a
// duration histogram per function, in-flight invocations, worker starts and crashes.
// Thread-safe: counters sit behind one mutex, held for a few map operations per invocation.
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace nimbus::observability {

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  void invocation_started() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void invocation_finished(const std::string& function, const std::string& trigger,
                           const std::string& status, double seconds);
  void worker_started(const std::string& kind);
  void worker_crashed(const std::string& kind);
  // Queue-triggered messages by outcome: "processed", "failed" (will retry), "poisoned".
  void queue_message(const std::string& function, const std::string& queue,
                     const std::string& outcome);
  // Change-feed batches of a cosmosDBTrigger function by outcome: "processed", "failed" (will
  // retry), "skipped" (retries spent; logged as an error).
  void change_feed_batch(const std::string& function, const std::string& outcome);
  // How far a function's lease is behind its container: the container's highest LSN seen in a
  // commit notice less the lease's position (0 when caught up).
  void change_feed_lag(const std::string& function, int64_t lsns);
  // Requests the function port answered without running a function (401, 404, 405, 413,
  // 429, 431, 503, ...), by status.
  void http_refused(int status);
  // Durable orchestrations that reached a final status ("Completed", "Failed", "Terminated"),
  // by orchestrator; and activity work items by outcome: "completed", "failed" (the
  // orchestrator sees a failed task), "rerun" (infrastructure failure: run again).
  void orchestration_finished(const std::string& orchestrator, const std::string& status);
  void activity_item(const std::string& activity, const std::string& outcome);
  std::string render() const;
  // The standard process_* metrics of this process (Prometheus client conventions):
  // CPU seconds, resident and virtual memory, open and maximum file descriptors, start time;
  // read from /proc at each scrape.
  static std::string render_process();

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  // Transparent comparators: the per-invocation lookups allocate nothing once a key exists.
  // Keys compare as tuples of views: clang (libstdc++ 12) has no tuple<string> < tuple<view>.
  struct KeyLess {
    using is_transparent = void;
    using View = std::tuple<std::string_view, std::string_view, std::string_view>;
    template <class T>
    static View view(const T& t) {
      return {std::get<0>(t), std::get<1>(t), std::get<2>(t)};
    }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return view(a) < view(b);
    }
  };
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t, KeyLess> invocations_;
  std::map<std::string, Histogram, std::less<>> durations_;
  std::map<std::string, uint64_t> worker_starts_, worker_crashes_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> queue_messages_;
  std::map<std::pair<std::string, std::string>, uint64_t> change_feed_batches_;
  std::map<std::string, int64_t> change_feed_lag_;
  std::map<int, uint64_t> http_refused_;
  std::map<std::pair<std::string, std::string>, uint64_t> orchestrations_, activities_;
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace nimbus::observability
