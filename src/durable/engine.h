#pragma once
// The durable orchestration engine: event-sourced, pushed, one episode at a time per instance.
//
// An instance is a row, a history and an inbox in the store (api/durable_store.h). An episode
// loads the instance's visible inbox (and its history, unless cached from its last episode),
// runs the orchestrator through the dispatcher (the SDK replays the history and answers new
// actions), turns the actions into events and writes, and commits everything as ONE
// api::Effects: inbox consumed + history appended + instance row (EpisodeAck) + activity work
// items + timers (inbox events visible later) + starts of sub-orchestrations + events to other
// instances. Nothing polls: the store's commit notices (OrchestrationReady, ActivityReady) hand
// new work to this engine as soon as it is durable; timers wait on one Asio timer armed at the
// earliest due time. At start, recover() re-reads every work item and every instance with
// inbox events, so nothing stays Pending after a crash.
//
// Activities run at least once: a work item is deleted in the same commit that delivers its
// result; a crash before that commit runs it again. The result of an instance whose history is
// cached here is delivered by its next episode, in that episode's commit (EpisodeAck::
// tasks_done), saving a commit per step; otherwise it commits alone (ActivityAck +
// taskCompleted into the inbox). User failures
// (a throw, a timeout) become taskFailed, which the orchestrator's retry options may retry;
// infrastructure failures (a worker crashed, none available) re-run the activity after a
// backoff, because they say nothing about the activity.
//
// Terminate, suspend and resume are carried out here, not by the SDK: a terminate ends the
// instance without running user code; while suspended, events stay in the inbox.
//
// Threading: the host's single I/O thread (notices arrive there through EffectsCommitter).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "api/durable_store.h"
#include "api/effects.h"
#include "bindings/outputs.h"
#include "common/log.h"
#include "config/app_spec.h"
#include "observability/metrics.h"
#include "runtime/admission.h"
#include "runtime/dispatcher.h"
#include "runtime/effects_committer.h"

namespace nimbus::durable {

// How a management operation ended, with an HTTP-shaped status the API answers.
struct OpResult {
  int status = 202;     // 202 accepted, 400, 404, 409, 410
  std::string message;  // for errors
  std::string instance_id;
};

class Engine {
 public:
  Engine(boost::asio::io_context& io, api::DurableStore& store, runtime::EffectsCommitter& effects,
         runtime::Dispatcher& dispatcher, const config::AppSpec& app,
         bindings::OutputOptions outputs, observability::Metrics& metrics, Logger& log);
  ~Engine();

  // Whether the app has orchestrators or activities (else the engine stays idle).
  bool enabled() const { return enabled_; }
  // Re-reads durable work left by a previous run and starts the retention sweep.
  void start();
  void stop();
  // Commit notices, on the I/O thread.
  void notify(api::CommitNotice&& notice);
  // Episodes and activities running now.
  int in_flight() const { return running_episodes_ + running_activities_; }

  // --- the management operations (HTTP API, CLI, durableClient) ---
  // `instance_id` "" = a new random id; `start_at` 0 = now.
  boost::asio::awaitable<OpResult> start_new(std::string orchestrator, std::string instance_id,
                                             std::string input, api::UnixMillis start_at = 0);
  boost::asio::awaitable<OpResult> raise_event(std::string instance_id, std::string event,
                                               std::string data);
  boost::asio::awaitable<OpResult> terminate(std::string instance_id, std::string reason);
  boost::asio::awaitable<OpResult> suspend(std::string instance_id, std::string reason);
  boost::asio::awaitable<OpResult> resume(std::string instance_id, std::string reason);
  // Runs a terminal instance again with its input, as a new instance (new_id) or in place.
  boost::asio::awaitable<OpResult> restart(std::string instance_id, bool new_id);
  api::DurableStore& store() { return store_; }

 private:
  struct Slot;
  void mark_ready(const std::string& id);
  void pump();
  boost::asio::awaitable<void> run_instance(std::shared_ptr<runtime::Admission> gate,
                                            std::string id, runtime::Admission::Permit permit);
  // One episode; true when it must run again at once (its cache was stale, a commit was
  // refused); events that arrive meanwhile mark the slot dirty instead.
  boost::asio::awaitable<bool> episode(const std::string& id, Slot& slot);
  // Drops the instance's cache, first committing the activity results waiting in it.
  void forget(const std::string& id, Slot& slot);
  // Commits one activity result on its own (work item deleted + inbox event): true when done
  // (or nothing left to do), false to retry.
  boost::asio::awaitable<bool> commit_result(int64_t task, std::string instance_id,
                                             std::string event, api::Effects fx);
  // commit_result until it holds, with the activity backoff (a result flushed by forget).
  boost::asio::awaitable<void> flush_result(int64_t task, std::string instance_id,
                                            std::string event);
  void enqueue_activity(api::ActivityReady a);
  boost::asio::awaitable<void> run_activity(std::shared_ptr<runtime::Admission> gate,
                                            api::ActivityReady a, runtime::Admission::Permit permit);
  void add_timer(const std::string& id, api::UnixMillis at);
  void arm_timer();
  boost::asio::awaitable<void> retention_loop();
  boost::asio::awaitable<OpResult> control(std::string instance_id, const char* kind,
                                           std::string reason);
  const api::FunctionSpec* function(std::string_view name, bool orchestrator) const;

  boost::asio::io_context& io_;
  api::DurableStore& store_;
  runtime::EffectsCommitter& effects_;
  runtime::Dispatcher& dispatcher_;
  const config::AppSpec& app_;
  bindings::OutputOptions outputs_;
  observability::Metrics& metrics_;
  Logger& log_;
  bool enabled_ = false;
  bool stopped_ = false;

  // Shared with the coroutines holding their permits, so a permit released while the host
  // tears down (frames destroyed with the io_context) never writes into a freed gate.
  std::shared_ptr<runtime::Admission> episode_gate_;
  std::shared_ptr<runtime::Admission> activity_gate_;
  std::unordered_map<std::string, std::unique_ptr<Slot>> slots_;
  std::deque<std::string> ready_;  // instances waiting for an episode permit
  std::deque<api::ActivityReady> activities_;  // work items waiting for a permit
  std::multimap<api::UnixMillis, std::string> timers_;
  boost::asio::steady_timer timer_;
  api::UnixMillis timer_armed_for_ = 0;
  boost::asio::steady_timer retention_timer_;
  int running_episodes_ = 0;
  int running_activities_ = 0;
  // Shared with coroutines still running at destruction, so they can tell.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace nimbus::durable
