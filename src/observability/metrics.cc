#include "observability/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

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

void Metrics::orchestration_finished(const std::string& orchestrator, const std::string& status) {
  std::lock_guard lock(mu_);
  ++orchestrations_[{orchestrator, status}];
}

void Metrics::activity_item(const std::string& activity, const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++activities_[{activity, outcome}];
}

void Metrics::http_refused(int status) {
  std::lock_guard lock(mu_);
  ++http_refused_[status];
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
  o << "# HELP nimbus_http_refused_total Requests answered without running a function, by "
       "status.\n# TYPE nimbus_http_refused_total counter\n";
  for (const auto& [status, v] : http_refused_)
    o << "nimbus_http_refused_total{status=\"" << status << "\"} " << v << "\n";
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
  if (!orchestrations_.empty()) {
    o << "# HELP nimbus_orchestrations_total Durable orchestrations that reached a final "
         "status.\n# TYPE nimbus_orchestrations_total counter\n";
    for (const auto& [k, v] : orchestrations_)
      o << "nimbus_orchestrations_total{orchestrator=\"" << esc(k.first) << "\",status=\""
        << esc(k.second) << "\"} " << v << "\n";
  }
  if (!activities_.empty()) {
    o << "# HELP nimbus_activity_items_total Durable activity work items by outcome "
         "(rerun: run again after a worker failure).\n"
         "# TYPE nimbus_activity_items_total counter\n";
    for (const auto& [k, v] : activities_)
      o << "nimbus_activity_items_total{activity=\"" << esc(k.first) << "\",outcome=\""
        << esc(k.second) << "\"} " << v << "\n";
  }
  return o.str();
}

std::string Metrics::render_process() {
  std::ostringstream o;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // /proc/self/stat: the fields after the command name (which may hold spaces) start at
  // state (field 3); utime and stime are fields 14 and 15, starttime 22, vsize 23, rss 24.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream f(line.substr(close + 2));
    std::vector<std::string> v;
    for (std::string x; f >> x;) v.push_back(x);
    auto field = [&](int n) { return n - 3 < static_cast<int>(v.size()) ? std::stod(v[n - 3]) : 0.0; };
    double boot = 0;
    std::ifstream st("/proc/stat");
    for (std::string l; std::getline(st, l);)
      if (l.rfind("btime ", 0) == 0) boot = std::stod(l.substr(6));
    o << "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
         "# TYPE process_cpu_seconds_total counter\n"
      << "process_cpu_seconds_total " << (field(14) + field(15)) / ticks << "\n"
      << "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
         "# TYPE process_resident_memory_bytes gauge\n"
      << "process_resident_memory_bytes " << static_cast<uint64_t>(field(24) * page) << "\n"
      << "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
         "# TYPE process_virtual_memory_bytes gauge\n"
      << "process_virtual_memory_bytes " << static_cast<uint64_t>(field(23)) << "\n"
      << "# HELP process_start_time_seconds Start time of the process since the epoch in seconds.\n"
         "# TYPE process_start_time_seconds gauge\n"
      << "process_start_time_seconds " << static_cast<uint64_t>(boot + field(22) / ticks) << "\n";
  }
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++fds;
    closedir(d);
    --fds;  // the descriptor opendir itself holds
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  o << "# HELP process_open_fds Number of open file descriptors.\n"
       "# TYPE process_open_fds gauge\n"
    << "process_open_fds " << fds << "\n"
    << "# HELP process_max_fds Maximum number of open file descriptors.\n"
       "# TYPE process_max_fds gauge\n"
    << "process_max_fds " << lim.rlim_cur << "\n";
  return o.str();
}

}  // namespace nimbus::observability
