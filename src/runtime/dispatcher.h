#pragma once
// The one path every invocation takes, whatever its trigger: id, deadline, concurrency limit,
// the invoker, then exactly one structured log line and the metrics. Triggers build an
// api::Invocation and call dispatch(); they never talk to workers themselves.
// Threading: the host's single I/O thread.
#include <map>

#include "api/invoker.h"
#include "common/log.h"
#include "observability/metrics.h"

namespace nimbus::runtime {

class Dispatcher {
 public:
  Dispatcher(const config::AppSpec& app, observability::Metrics& metrics, Logger& log)
      : app_(app), metrics_(metrics), log_(log) {}
  void bind(const std::string& function, api::Invoker* invoker) { invokers_[function] = invoker; }
  int in_flight() const { return in_flight_; }

  // Fills inv.id and inv.deadline when empty. Never throws; every failure is a result.
  boost::asio::awaitable<api::InvocationResult> dispatch(api::Invocation& inv);

 private:
  const config::AppSpec& app_;
  observability::Metrics& metrics_;
  Logger& log_;
  std::map<std::string, api::Invoker*> invokers_;
  int in_flight_ = 0;
};

}  // namespace nimbus::runtime
