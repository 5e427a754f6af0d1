#include "runtime/dispatcher.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "common/ids.h"

namespace nimbus::runtime {

using Clock = std::chrono::steady_clock;

boost::asio::awaitable<api::InvocationResult> Dispatcher::dispatch(api::Invocation& inv,
                                                                   Completion complete) {
  if (inv.id.empty()) inv.id = new_uuid();
  if (inv.trace.trace_id.empty()) inv.trace = TraceContext::child_of(std::nullopt);
  auto start = Clock::now();
  if (inv.deadline == Clock::time_point{}) {
    // "-1" (no limit) still needs a finite deadline for timers: one year will do.
    auto timeout = options_.function_timeout == std::chrono::milliseconds::max()
                       ? std::chrono::milliseconds(std::chrono::hours(24 * 365))
                       : options_.function_timeout;
    inv.deadline = start + timeout;
  }
  metrics_.invocation_started();
  api::InvocationResult result;
  // 1. Admission. Pulled kinds were admitted by their listener before the fetch.
  Admission::Permit permit;
  if (!is_pulled(inv)) permit = http_admission_.try_acquire();
  auto it = invokers_.find(inv.function->name);
  if (!is_pulled(inv) && !permit) {
    result.outcome = api::Outcome::throttled;
    result.error = "more than extensions.http.maxConcurrentRequests (" +
                   std::to_string(options_.max_concurrent_requests) +
                   ") HTTP invocations in flight; retry later";
  } else if (it == invokers_.end()) {
    // 2. Filters.
    result.outcome = api::Outcome::unavailable;
    result.error = "function has no worker bound";
  } else {
    // 3. Inputs, then invoke.
    std::string input_error;
    if (!inv.function->inputs.empty()) {
      if (!load_inputs_)
        input_error = "this host has no document store for the function's input bindings";
      else
        try {
          input_error = co_await load_inputs_(inv);
        } catch (...) {
          input_error = "internal error while reading inputs: " +
                        exception_message(std::current_exception());
        }
    }
    if (!input_error.empty()) {
      result.outcome = api::Outcome::failed;
      result.error = input_error;
      result.input_failed = true;
      result.bad_request = inv.input_from_request_missing;
    } else {
      // Invoked here rather than in a coroutine of its own: one frame less per invocation.
      ++in_flight_;
      try {
        result = co_await it->second->invoke(inv);
      } catch (...) {
        // A bug in an invoker must not take the host down (nor leak the in-flight count,
        // which admission and the shutdown drain read); it fails this invocation.
        result = {};
        result.outcome = api::Outcome::bad_response;
        result.error = "internal error: " + exception_message(std::current_exception());
      }
      --in_flight_;
    }
  }
  permit.release();
  // 4. The trigger's completion: effects committed, the outcome as committed.
  if (complete) {
    try {
      co_await complete(inv, result);
    } catch (...) {
      result.outcome = api::Outcome::failed;
      result.error = "internal error while committing: " +
                     exception_message(std::current_exception());
    }
  }
  // 5. Observers.
  observe(inv, result, std::chrono::duration<double>(Clock::now() - start).count());
  co_return result;
}

void Dispatcher::observe(const api::Invocation& inv, const api::InvocationResult& result,
                         double seconds) {
  const char* status = api::outcome_name(result.outcome);
  metrics_.invocation_finished(inv.function->name, inv.trigger_label(), status, seconds);
  bool ok = result.outcome == api::Outcome::succeeded;
  // A durable orchestration runs one orchestrator episode per step and one activity per task
  // (a fan-out of 10,000 is ~10,000 invocations): their successes are logged at Debug, so an
  // app's log is not flooded with lines that say nothing went wrong, and the host does not
  // spend a JSON record and a write per activity on them. Failures stay at Error, every
  // invocation is still counted in the metrics above, and user log lines stay at Information.
  bool durable = inv.orchestration() || inv.activity();
  LogLevel level = !ok ? LogLevel::error : durable ? LogLevel::debug : LogLevel::information;
  if (!result.logs.empty() && log_.enabled(LogLevel::information)) {
    std::string user_category = "Function." + inv.function->name + ".User";
    for (const auto& line : result.logs)
      log_.info(user_category, line, {{"invocationId", inv.id}, {"traceId", inv.trace.trace_id}});
  }
  // Build the log record only when it will be written: this runs once per invocation.
  if (!log_.enabled(level)) return;
  boost::json::object fields{{"invocationId", inv.id},
                             {"traceId", inv.trace.trace_id},
                             {"spanId", inv.trace.span_id},
                             {"function", inv.function->name},
                             {"trigger", inv.trigger_label()},
                             {"status", status},
                             {"durationUs", static_cast<int64_t>(seconds * 1e6)},
                             {"coldStart", result.cold_start},
                             {"worker", result.worker}};
  if (!inv.trace.parent_id.empty()) fields["parentSpanId"] = inv.trace.parent_id;
  if (ok) {
    if (inv.http()) fields["httpStatus"] = result.response.status;
    log_.log(level, "Function." + inv.function->name, "invocation finished",
             std::move(fields));
  } else {
    fields["error"] = result.error;
    log_.error("Function." + inv.function->name, "invocation failed", std::move(fields));
  }
}

}  // namespace nimbus::runtime
