#pragma once
// The one path every invocation takes, whatever its trigger, as a pipeline:
//   admission (per trigger kind) -> filters (a worker is bound) -> inputs (input bindings
//   read) -> invoke -> the trigger's
//   completion (its effects committed) -> observers (one structured log line, metrics).
// Triggers build an api::Invocation and call dispatch(); they never talk to workers themselves.
//
// Admission per trigger kind:
// - pushed triggers ("http") take a permit of their kind's gate inside dispatch(); without one
//   the invocation is refused at once as Outcome::throttled (the HTTP trigger answers 429).
//   extensions.http.maxConcurrentRequests sizes the HTTP gate and nothing else.
// - pulled triggers ("queue", and the manual run of a queue function) are admitted by their
//   listener, which takes permits BEFORE fetching (runtime::Admission), so a limit never costs
//   a delivery attempt. dispatch() never throttles them.
//
// The completion, when given, runs after the invoker answered and before the observers, so
// logs and metrics report the committed outcome (e.g. an output that could not be written
// turns a success into a failure).
// Threading: the host's single I/O thread.
#include <chrono>
#include <functional>
#include <map>

#include "api/invoker.h"
#include "common/log.h"
#include "observability/metrics.h"
#include "runtime/admission.h"

namespace nimbus::runtime {

class Dispatcher {
 public:
  // The trigger's completion: commits the invocation's effects and may change the result
  // (outcome, error) to what was committed. Must not throw.
  using Completion =
      std::function<boost::asio::awaitable<void>(api::Invocation&, api::InvocationResult&)>;

  struct Options {
    std::chrono::milliseconds function_timeout{std::chrono::minutes(5)};  // host.json
    int max_concurrent_requests = -1;  // extensions.http.maxConcurrentRequests; -1: unbounded
  };
  Dispatcher(Options options, observability::Metrics& metrics, Logger& log)
      : options_(options),
        metrics_(metrics),
        log_(log),
        http_admission_(options.max_concurrent_requests) {}
  // The input stage: reads a function's input bindings into inv.inputs before it runs; returns
  // "" or why the function cannot run (the invocation then fails without running).
  using InputLoader = std::function<boost::asio::awaitable<std::string>(api::Invocation&)>;
  void bind(const std::string& function, api::Invoker* invoker) { invokers_[function] = invoker; }
  void set_input_loader(InputLoader loader) { load_inputs_ = std::move(loader); }
  // Invocations running now, of every trigger kind.
  int in_flight() const { return in_flight_; }
  // The gate of pushed HTTP invocations (extensions.http.maxConcurrentRequests).
  const Admission& http_admission() const { return http_admission_; }

  // Whether invocations of this trigger kind are admitted by their listener (pulled) rather
  // than by dispatch() (pushed).
  static bool is_pulled(const api::Invocation& inv) {
    return inv.manual || inv.kind() != api::TriggerKind::http;
  }

  // Fills inv.id and inv.deadline when empty. Never throws; every failure is a result.
  boost::asio::awaitable<api::InvocationResult> dispatch(api::Invocation& inv,
                                                         Completion complete = {});

 private:
  void observe(const api::Invocation& inv, const api::InvocationResult& result, double seconds);

  Options options_;
  observability::Metrics& metrics_;
  Logger& log_;
  std::map<std::string, api::Invoker*> invokers_;
  InputLoader load_inputs_;
  Admission http_admission_;
  int in_flight_ = 0;
};

}  // namespace nimbus::runtime
