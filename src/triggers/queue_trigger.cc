#include "triggers/queue_trigger.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "common/ids.h"
#include "runtime/lease_keeper.h"
#include "runtime/pull_listener.h"
#include "triggers/output_commit.h"

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace nimbus::triggers {

namespace {

api::UnixMillis unix_now() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t whole_seconds(milliseconds d) {
  return std::max<int64_t>(0, (d.count() + 999) / 1000);
}

// Azure's limit on "<queue>-poison" leaves 56 characters for a trigger queue's name.
std::string poison_name_error(const api::FunctionSpec& fn) {
  const std::string& queue = fn.queue()->queue;
  std::string poison = queue + "-poison";
  if (api::is_valid_queue_name(poison)) return "";
  return "function \"" + fn.name + "\": queueTrigger queueName \"" + queue + "\" has " +
         std::to_string(queue.size()) + " characters, so its poison queue \"" + poison +
         "\" would have " + std::to_string(poison.size()) +
         ", over the 63-character limit, and failed messages could not be kept; use a queue "
         "name of at most 56 characters";
}

// A store failure the attempt cannot be blamed for: the message is no longer ours.
bool lost_lease(const api::QueueError& e) {
  return e.code == api::QueueErrc::message_not_found ||
         e.code == api::QueueErrc::pop_receipt_mismatch;
}

}  // namespace

std::string QueueTrigger::check(const config::AppSpec& app) {
  std::string out;
  for (const auto& fn : app.functions) {
    if (fn.disabled || !fn.queue()) continue;
    if (auto e = poison_name_error(fn); !e.empty()) out += (out.empty() ? "" : "; ") + e;
  }
  return out;
}

struct QueueTrigger::Listener {
  const api::FunctionSpec* fn = nullptr;
  std::shared_ptr<const void> keep;  // what keeps *fn alive (null: the trigger's own app)
  bool stopped = false;              // by stop_function(): finishing what it runs
  api::QueueRef queue;
  int in_flight = 0;
  int threshold = 8;
  // The fetch loop and the function's own admission: batchSize + newBatchThreshold permits.
  // Built right after the listener, since its fetch refers back to it.
  std::optional<runtime::PullListener> loop;
};

QueueTrigger::QueueTrigger(asio::io_context& io, queue::AsyncQueueStore& store,
                           runtime::EffectsCommitter& effects, runtime::Dispatcher& dispatcher, const config::AppSpec& app,
                           std::string account, observability::Metrics& metrics, Logger& log)
    : io_(io),
      store_(store),
      effects_(effects),
      dispatcher_(dispatcher),
      app_(app),
      account_(std::move(account)),
      outputs_{account_, app.queues.base64, {}},
      metrics_(metrics),
      log_(log) {}

QueueTrigger::~QueueTrigger() { stop(); }

void QueueTrigger::start() {
  for (const auto& fn : app_.functions)
    if (!fn.disabled && fn.queue()) start_function(fn, nullptr);
}

void QueueTrigger::start_function(const api::FunctionSpec& fn, std::shared_ptr<const void> keep) {
  if (auto e = poison_name_error(fn); !e.empty()) {
    log_.error("Host.Triggers.Queue", e + "; the function is not started",
               {{"function", fn.name}, {"queue", fn.queue()->queue}});
    return;
  }
  // Listeners stopped earlier whose last message is done are forgotten here.
  listeners_.remove_if([](const auto& l) { return l->stopped && l->in_flight == 0; });
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Azure: newBatchThreshold defaults to batchSize / 2 * processor count.
  int threshold = app_.queues.new_batch_threshold >= 0 ? app_.queues.new_batch_threshold
                                                      : app_.queues.batch_size / 2 * cores;
  runtime::PullListener::Options o{app_.queues.batch_size, app_.queues.batch_size + threshold,
                                   app_.queues.max_polling_interval};
  // The fetch captures the listener weakly: the listener owns the loop that calls it.
  auto l = std::make_shared<Listener>();
  l->loop.emplace(io_.get_executor(), o,
                  [this, w = std::weak_ptr<Listener>(l)](
                      runtime::Admission::Permit batch) -> awaitable<int> {
                    auto l = w.lock();
                    co_return l ? co_await fetch(l, std::move(batch)) : 0;
                  });
  l->fn = &fn;
  l->keep = std::move(keep);
  l->queue = {account_, fn.queue()->queue};
  l->threshold = threshold;
  listeners_.push_back(l);
  asio::co_spawn(io_, run(l),
                 log_if_thrown(log_, "Host.Triggers.Queue", "listener for " + fn.name + " stopped"));
}

void QueueTrigger::stop_function(const std::string& name, const api::FunctionSpec* except) {
  for (auto& l : listeners_)
    if (l->fn->name == name && l->fn != except && !l->stopped) {
      l->stopped = true;
      l->loop->stop();
      log_.info("Host.Triggers.Queue", "stopped listening",
                {{"function", name}, {"queue", l->queue.name}, {"inFlight", l->in_flight}});
    }
}

void QueueTrigger::stop() {
  for (auto& l : listeners_) l->loop->stop();
}

int QueueTrigger::in_flight() const {
  int n = manual_in_flight_;
  for (const auto& l : listeners_) n += l->in_flight;
  return n;
}

void QueueTrigger::run_once(const api::FunctionSpec& fn, std::string input,
                            std::shared_ptr<const void> keep) {
  ++manual_in_flight_;
  asio::co_spawn(
      io_,
      [this, &fn, input = std::move(input), keep = std::move(keep)]() -> awaitable<void> {
        auto now = unix_now();
        api::QueueMessageData data{new_uuid(), input, 1, iso8601_ms(now),
                                   iso8601_ms(now), iso8601_ms(now), ""};
        api::Invocation inv;
        inv.function = &fn;
        inv.input = &data;
        inv.manual = true;
        // Its outputs commit as the completion (all or none), so the log reports the outcome
        // as committed.
        auto complete = [this](api::Invocation& inv,
                               api::InvocationResult& r) -> awaitable<void> {
          co_await commit_outputs(&effects_, inv, r, outputs_, &log_);
        };
        co_await dispatcher_.dispatch(inv, complete);
        --manual_in_flight_;
      },
      log_if_thrown(log_, "Host.Triggers.Queue", "manual run of " + fn.name + " failed"));
}

void QueueTrigger::notify(const api::CommitNotice& notice) {
  const auto* visible = std::get_if<api::QueueVisible>(&notice);
  if (!visible || visible->queue.account != account_) return;
  for (auto& l : listeners_)
    if (!l->stopped && l->queue.name == visible->queue.name) l->loop->due_at(visible->visible_at);
}

awaitable<void> QueueTrigger::run(std::shared_ptr<Listener> l) {
  const auto& opt = app_.queues;
  // The queue is created when missing, so the listener can start before any producer.
  auto created = co_await store_.create_queue(l->queue, {});
  if (!created && created.error().code != api::QueueErrc::queue_already_exists)
    log_.warn("Host.Triggers.Queue", "cannot create queue: " + created.error().message,
              {{"queue", l->queue.name}});
  log_.info("Host.Triggers.Queue", "listening",
            {{"function", l->fn->name}, {"queue", l->queue.name},
             {"batchSize", opt.batch_size}, {"newBatchThreshold", l->threshold}});
  co_await l->loop->run();
}

awaitable<int> QueueTrigger::fetch(std::shared_ptr<Listener> l, runtime::Admission::Permit batch) {
  const auto& opt = app_.queues;
  auto got = co_await store_.get_messages(l->queue, batch.count(), whole_seconds(opt.lease));
  if (!got) {
    log_.warn("Host.Triggers.Queue", "fetch failed: " + got.error().message,
              {{"queue", l->queue.name}});
    co_return 0;
  }
  for (auto& m : got.value())
    asio::co_spawn(io_, process(l, std::move(m), batch.split(1)),
                   log_if_thrown(log_, "Host.Triggers.Queue", "message handling failed"));
  co_return static_cast<int>(got.value().size());
}

awaitable<void> QueueTrigger::process(std::shared_ptr<Listener> l, api::QueueMessage msg,
                                      runtime::Admission::Permit permit) {
  ++l->in_flight;
  const auto& opt = app_.queues;
  const auto& fn = *l->fn;
  std::string pop = msg.pop_receipt;

  // Lease renewal runs beside the invocation: at half-time it pushes the message's visibility
  // out again. Each renewal issues a new pop receipt; the completion stops the keeper (and
  // awaits a renewal in flight) first, so it presents the latest receipt.
  runtime::LeaseKeeper lease(
      io_.get_executor(), opt.lease / 2,
      [&]() -> awaitable<void> {
        auto r = co_await store_.update_message(l->queue, msg.id, pop, std::nullopt,
                                                whole_seconds(opt.lease));
        if (r)
          pop = r.value().pop_receipt;
        else
          log_.warn("Host.Triggers.Queue", "lease renewal failed: " + r.error().message,
                    {{"function", fn.name}, {"messageId", msg.id}});
      },
      [this, &fn](std::exception_ptr e) {
        log_.error("Host.Triggers.Queue", "lease renewal stopped: " + exception_message(e),
                   {{"function", fn.name}});
      });
  lease.start();

  api::QueueMessageData data{msg.id, {}, msg.dequeue_count, iso8601_ms(msg.insertion_time),
                             iso8601_ms(msg.expiration_time), iso8601_ms(msg.time_next_visible),
                             msg.pop_receipt};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &data;
  // A message put by a traced invocation (an output binding) or with a traceparent header
  // continues that trace; otherwise the dispatcher starts one.
  if (!msg.traceparent.empty()) inv.trace = TraceContext::child_of(TraceContext::parse(msg.traceparent));
  // The trigger's completion, run by the dispatcher before it logs: the outcome it reports is
  // the one committed here.
  auto complete = [&](api::Invocation& inv, api::InvocationResult& result) -> awaitable<void> {
    co_await lease.stop();
    co_await settle(*l, msg, pop, inv, result);
  };
  if (opt.base64 && !base64_decode(msg.text, data.text)) {
    // As in Azure, undecodable content fails the attempt; it ends in the poison queue.
    inv.id = new_uuid();
    api::InvocationResult result;
    result.outcome = api::Outcome::failed;
    result.error = "message " + msg.id + " is not valid base64; producers must base64-encode "
                   "(or set extensions.queues.messageEncoding to \"none\" in host.json)";
    log_.error("Function." + fn.name, "invocation failed",
               {{"invocationId", inv.id}, {"function", fn.name}, {"trigger", "queue"},
                {"status", "failed"}, {"error", result.error}});
    co_await complete(inv, result);
  } else {
    if (!opt.base64) data.text = msg.text;
    co_await dispatcher_.dispatch(inv, complete);
  }
  co_await lease.stop();  // already stopped by the completion; a no-op then
  permit.release();
  --l->in_flight;
  l->loop->poke();
}

awaitable<void> QueueTrigger::settle(Listener& l, const api::QueueMessage& msg,
                                     const std::string& pop, const api::Invocation& inv,
                                     api::InvocationResult& result) {
  const auto& opt = app_.queues;
  const auto& fn = *l.fn;
  if (result.outcome == api::Outcome::succeeded) {
    // Outputs that can never be written fail the attempt, so it counts towards poison
    // instead of completing-and-failing on every delivery forever.
    // The deletion and the outputs: one unit of change.
    api::Effects fx;
    if (auto e = bindings::add_output_writes(inv, result.outputs, outputs_, fx); !e.empty()) {
      result.outcome = api::Outcome::failed;
      result.error = e;
    }
    if (result.outcome == api::Outcome::succeeded) {
      fx.acknowledge({l.queue, msg.id, pop, std::nullopt});
      auto r = co_await effects_.commit(std::move(fx));
      if (r) {
        metrics_.queue_message(fn.name, l.queue.name, "processed");
        co_return;
      }
      if (lost_lease(r.error())) {
        // Lost the lease (e.g. it expired during a long stall): the message runs again.
        log_.warn("Host.Triggers.Queue",
                  "could not complete the message; it will be delivered again: " +
                      r.error().message,
                  {{"function", fn.name}, {"messageId", msg.id}, {"invocationId", inv.id}});
        co_return;
      }
      // The outputs could not be written (nothing was, and the message is still ours): a
      // failed attempt like any other.
      result.outcome = api::Outcome::failed;
      result.error = "could not complete the message and write its outputs: " + r.error().message;
    }
  }

  const auto* retry = fn.retry ? &*fn.retry : app_.retry ? &*app_.retry : nullptr;
  // Attempts so far, this one included: the store counts every delivery.
  int64_t attempts = msg.dequeue_count;
  bool retries_spent = retry && retry->max_retry_count >= 0 &&
                       attempts >= 1 + static_cast<int64_t>(retry->max_retry_count);
  if (attempts >= opt.max_dequeue_count || retries_spent) {
    api::Effects fx;
    fx.acknowledge({l.queue, msg.id, pop, api::QueueRef{account_, l.queue.name + "-poison"}});
    auto r = co_await effects_.commit(std::move(fx));
    metrics_.queue_message(fn.name, l.queue.name, "poisoned");
    std::string why = attempts >= opt.max_dequeue_count
                          ? "Message has reached MaxDequeueCount of " +
                                std::to_string(opt.max_dequeue_count) + "."
                          : "Message has failed " + std::to_string(attempts) +
                                " attempts (1 + retry.maxRetryCount of " +
                                std::to_string(retry->max_retry_count) + ").";
    log_.error("Host.Triggers.Queue",
               why + " Moving message to queue '" + l.queue.name + "-poison'",
               {{"function", fn.name}, {"messageId", msg.id}, {"invocationId", inv.id},
                {"error", result.error}, {"moved", static_cast<bool>(r)},
                {"moveError", r ? std::string() : r.error().message}});
  } else {
    milliseconds delay = retry ? retry->delay_after(static_cast<int>(attempts))
                               : opt.visibility_timeout;
    auto r = co_await store_.update_message(l.queue, msg.id, pop, std::nullopt,
                                            whole_seconds(delay));
    metrics_.queue_message(fn.name, l.queue.name, "failed");
    if (!r)
      log_.warn("Host.Triggers.Queue", "could not release the failed message: " + r.error().message,
                {{"function", fn.name}, {"messageId", msg.id}});
  }
}

}  // namespace nimbus::triggers
