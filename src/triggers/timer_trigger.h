#pragma once
// Fires timerTrigger functions at each occurrence of their schedule (UTC), one timer per
// function, through the dispatcher.
//
// One run at a time per function: the next occurrence is armed only after a run finished. A
// run that overlaps the next occurrence delays it: it runs at once when the run ends, past
// due, and occurrences missed in between are folded into that one run (never two at once,
// never a backlog). Manual runs (POST /admin/functions/{name}) join the same line.
//
// useMonitor: the schedule status (last, next, last updated) is kept in the store
// (api::TimerStore) and written after each scheduled run. At start, a stored `next` that is
// already past means the host was down at that occurrence: the function runs once, at once,
// with IsPastDue true (one run however many were missed, as Azure's ScheduleMonitor does).
// runOnStartup runs once at start too (the same single run when both apply).
// The function sees the status as it was before its run: Last = the previous run's
// occurrence, Next = the occurrence being run (Azure's TimerInfo.ScheduleStatus).
// Threading: the host's single I/O thread; store completions are posted back to it.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <list>
#include <memory>
#include <string>

#include "api/timer_store.h"
#include "bindings/outputs.h"
#include "common/log.h"
#include "config/app_spec.h"
#include "runtime/dispatcher.h"
#include "runtime/effects_committer.h"

namespace nimbus::triggers {

class TimerTrigger {
 public:
  // `store` null: no function uses the monitor, so nothing is persisted; `effects` null: no
  // store, so functions with output bindings fail their runs (as HTTP ones do).
  TimerTrigger(boost::asio::io_context& io, api::TimerStore* store,
               runtime::EffectsCommitter* effects, runtime::Dispatcher& dispatcher,
               const config::AppSpec& app, bindings::OutputOptions outputs, Logger& log);
  ~TimerTrigger();
  // One timer per enabled timerTrigger function; logs each one's next 5 occurrences.
  void start();
  void stop();
  // Runs now, and queued manual runs.
  int in_flight() const;
  // POST /admin/functions/{name}: runs `fn` once, after any run in progress, with IsPastDue
  // false; the schedule status is not changed. "" when queued, else why not.
  std::string run_once(const api::FunctionSpec& fn);

 private:
  struct Timer;
  boost::asio::awaitable<void> run(std::shared_ptr<Timer> t);
  // One invocation; `scheduled` is the occurrence it stands for (0 for a manual run).
  boost::asio::awaitable<void> invoke(Timer& t, api::UnixMillis scheduled, bool past_due,
                                      bool manual);
  boost::asio::awaitable<api::QueueResult<std::optional<api::TimerStatus>>> read_status(
      const std::string& function);
  boost::asio::awaitable<api::QueueResult<void>> write_status(api::TimerStatus status);

  boost::asio::io_context& io_;
  api::TimerStore* store_;
  runtime::EffectsCommitter* effects_;
  runtime::Dispatcher& dispatcher_;
  const config::AppSpec& app_;
  bindings::OutputOptions outputs_;
  Logger& log_;
  std::list<std::shared_ptr<Timer>> timers_;
};

}  // namespace nimbus::triggers
