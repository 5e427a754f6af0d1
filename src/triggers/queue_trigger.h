#pragma once
// Fires queueTrigger functions, pushed rather than polled: the store tells us when a commit
// made messages available and the listener fetches at once; a slow poll (growing to
// extensions.queues.maxPollingInterval) is only the safety net.
//
// Per function (as Azure's QueueListener): fetch up to batchSize, run them in parallel, fetch
// again when in-flight drops to newBatchThreshold, so at most batchSize + newBatchThreshold
// run at once (the per-function concurrency cap that levels load). That cap is the function's
// admission (runtime::Admission): permits are taken before a fetch, never after, so no limit
// (extensions.http.maxConcurrentRequests applies to HTTP only) can spend a message's delivery
// attempt without running it. A dequeued message stays
// hidden for the lease, renewed at half-time while its function runs. Success completes the
// message and writes its queue outputs as one api::Effects (one transaction); failure makes it visible
// again after the retry policy's delay (or visibilityTimeout). Outputs that cannot be written
// (over 64 KiB, an invalid queue name, text XML cannot carry) fail the attempt like a throw.
// Every attempt counts: at maxDequeueCount, or after 1 + retry.maxRetryCount failed attempts
// when a retry policy sets one, the message moves to <queue>-poison.
// Threading: the host's single I/O thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>

#include "api/queue_store.h"
#include "bindings/outputs.h"
#include "config/app_spec.h"
#include "queue/async_queue_store.h"
#include "common/log.h"
#include "observability/metrics.h"
#include "runtime/admission.h"
#include "runtime/dispatcher.h"
#include "runtime/effects_committer.h"

namespace nimbus::triggers {

class QueueTrigger {
 public:
  // `store` fetches and renews leases; `effects` commits each message's completion (deletion
  // or dead-lettering plus its outputs) as one api::Effects.
  QueueTrigger(boost::asio::io_context& io, queue::AsyncQueueStore& store,
               runtime::EffectsCommitter& effects, runtime::Dispatcher& dispatcher,
               const config::AppSpec& app, std::string account, observability::Metrics& metrics,
               Logger& log);
  ~QueueTrigger();
  // "" when every enabled queueTrigger function can run; otherwise why not (naming the
  // function, its queueName and the fix), for the host to refuse to start. Today: a queue
  // whose "<queue>-poison" would be over 63 characters.
  static std::string check(const config::AppSpec& app);
  // Starts one listener per enabled queueTrigger function (skipping, with an error in the log,
  // any that check() refuses).
  void start();
  // `nimbus start --watch` applying a new app: a listener for `fn` (an enabled queueTrigger
  // function of that app, which `keep` holds alive as long as the listener or a message it
  // runs needs it); and stopping the listeners of the function `name` (but the one running
  // `except`, its new version): they fetch no more, while the messages they are running
  // finish (or, failing, are released for redelivery as always).
  void start_function(const api::FunctionSpec& fn, std::shared_ptr<const void> keep);
  void stop_function(const std::string& name, const api::FunctionSpec* except = nullptr);
  // The output options of every function it runs (the host adds its orchestrators, so a
  // queue-triggered ctx.start_new commits with the message's completion).
  void set_output_options(bindings::OutputOptions o) { outputs_ = std::move(o); }
  void stop();
  // From the engine's commit notices, re-posted to the I/O thread: wakes the listeners of a
  // queue of the trigger's account that has (or will have, at visible_at) visible messages.
  void notify(const api::CommitNotice& notice);
  // Messages fetched and not yet completed, released or poisoned (and manual runs).
  int in_flight() const;
  // Azure's "run a non-HTTP function manually" (POST /admin/functions/{name}): invokes `fn`
  // once with `input` as the message text, outside the queue (no retries, no poison), and
  // writes its queue outputs. Fire-and-forget; the result is in the log and metrics.
  // `keep` holds `fn` alive until the run is done (the app it belongs to may be replaced).
  void run_once(const api::FunctionSpec& fn, std::string input,
                std::shared_ptr<const void> keep = nullptr);

 private:
  struct Listener;
  boost::asio::awaitable<void> run(std::shared_ptr<Listener> l);
  // The listener's fetch (runtime::PullListener): up to batch.count() messages, each started
  // with one permit of the batch.
  boost::asio::awaitable<int> fetch(std::shared_ptr<Listener> l, runtime::Admission::Permit batch);
  boost::asio::awaitable<void> process(std::shared_ptr<Listener> l, api::QueueMessage msg,
                                       runtime::Admission::Permit permit);
  // The message's completion: success commits the deletion and the outputs; failure releases
  // it for a retry or moves it to the poison queue. May turn `result` into a failure.
  boost::asio::awaitable<void> settle(Listener& l, const api::QueueMessage& msg,
                                      const std::string& pop, const api::Invocation& inv,
                                      api::InvocationResult& result);

  boost::asio::io_context& io_;
  queue::AsyncQueueStore& store_;
  runtime::EffectsCommitter& effects_;
  runtime::Dispatcher& dispatcher_;
  const config::AppSpec& app_;
  std::string account_;
  bindings::OutputOptions outputs_;
  observability::Metrics& metrics_;
  Logger& log_;
  std::list<std::shared_ptr<Listener>> listeners_;
  int manual_in_flight_ = 0;
};

}  // namespace nimbus::triggers
