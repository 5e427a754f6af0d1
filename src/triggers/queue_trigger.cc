#include "triggers/queue_trigger.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "common/ids.h"
#include "queue/queue_xml.h"
#include "runtime/lease_keeper.h"

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

// The output binding encodes as the trigger decodes (messageEncoding).
api::NewMessage output_message(const std::string& account, const std::string& queue,
                               const std::string& text, bool base64) {
  api::NewMessage m;
  m.queue = {account, queue};
  m.text = base64 ? base64_encode(text) : text;
  return m;
}

// Azure's limit on "<queue>-poison" leaves 56 characters for a trigger queue's name.
std::string poison_name_error(const config::FunctionSpec& fn) {
  std::string poison = fn.queue_name + "-poison";
  if (api::is_valid_queue_name(poison)) return "";
  return "function \"" + fn.name + "\": queueTrigger queueName \"" + fn.queue_name + "\" has " +
         std::to_string(fn.queue_name.size()) + " characters, so its poison queue \"" + poison +
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

std::string check_queue_output(const std::string& queue, const std::string& text, bool base64) {
  if (!api::is_valid_queue_name(queue))
    return "queue output names queue \"" + queue +
           "\", which is not a valid queue name; use 3-63 lower-case letters, digits and "
           "single hyphens, not at either end";
  size_t size = base64 ? (text.size() + 2) / 3 * 4 : text.size();
  if (size > api::kMaxMessageBytes)
    return "queue output to \"" + queue + "\" is " + std::to_string(size) + " bytes" +
           (base64 ? " after base64 encoding" : "") + ", over the " +
           std::to_string(api::kMaxMessageBytes) +
           "-byte message limit; store large payloads elsewhere and enqueue a reference";
  size_t bad = 0;
  if (!base64 && !queue::is_xml_text(text, &bad))
    return "queue output to \"" + queue + "\" has a byte or character XML cannot carry at byte " +
           std::to_string(bad) +
           " (not UTF-8, or a control character other than tab/LF/CR); the queue REST API "
           "could not return it. Send UTF-8 text, or set extensions.queues.messageEncoding "
           "to \"base64\"";
  return "";
}

std::string QueueTrigger::check(const config::AppSpec& app) {
  std::string out;
  for (const auto& fn : app.functions) {
    if (fn.disabled || fn.trigger_type != "queueTrigger") continue;
    if (auto e = poison_name_error(fn); !e.empty()) out += (out.empty() ? "" : "; ") + e;
  }
  return out;
}

struct QueueTrigger::Listener {
  Listener(asio::io_context& io, int capacity) : wake(io), permits(capacity) {}
  const config::FunctionSpec* fn = nullptr;
  api::QueueRef queue;
  asio::steady_timer wake;
  bool wake_pending = false;                 // a notification arrived while not sleeping
  api::UnixMillis next_visible = INT64_MAX;  // earliest delayed message we were told about
  int in_flight = 0;
  int threshold = 8;
  bool stopped = false;
  // The function's own admission: batchSize + newBatchThreshold permits. A batch is fetched
  // only with batchSize free permits, and each fetched message carries one until settled, so
  // no limit ever refuses a message after its delivery attempt was spent.
  runtime::Admission permits;
  void poke() {
    wake_pending = true;
    wake.cancel();
  }
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
      metrics_(metrics),
      log_(log) {}

QueueTrigger::~QueueTrigger() { stop(); }

void QueueTrigger::start() {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const auto& fn : app_.functions) {
    if (fn.disabled || fn.trigger_type != "queueTrigger") continue;
    if (auto e = poison_name_error(fn); !e.empty()) {
      log_.error("Host.Triggers.Queue", e + "; the function is not started",
                 {{"function", fn.name}, {"queue", fn.queue_name}});
      continue;
    }
    // Azure: newBatchThreshold defaults to batchSize / 2 * processor count.
    int threshold = app_.queues.new_batch_threshold >= 0 ? app_.queues.new_batch_threshold
                                                        : app_.queues.batch_size / 2 * cores;
    auto l = std::make_shared<Listener>(io_, app_.queues.batch_size + threshold);
    l->fn = &fn;
    l->queue = {account_, fn.queue_name};
    l->threshold = threshold;
    listeners_.push_back(l);
    asio::co_spawn(io_, run(l),
                   log_if_thrown(log_, "Host.Triggers.Queue", "listener for " + fn.name + " stopped"));
  }
}

void QueueTrigger::stop() {
  for (auto& l : listeners_) {
    l->stopped = true;
    l->wake.cancel();
  }
}

int QueueTrigger::in_flight() const {
  int n = manual_in_flight_;
  for (const auto& l : listeners_) n += l->in_flight;
  return n;
}

void QueueTrigger::run_once(const config::FunctionSpec& fn, std::string input) {
  ++manual_in_flight_;
  asio::co_spawn(
      io_,
      [this, &fn, input = std::move(input)]() -> awaitable<void> {
        auto now = unix_now();
        api::QueueMessageData data{new_uuid(), input, 1, iso8601_ms(now),
                                   iso8601_ms(now), iso8601_ms(now), ""};
        api::Invocation inv;
        inv.function = &fn;
        inv.trigger = "manual";
        inv.queue = &data;
        auto result = co_await dispatcher_.dispatch(inv);
        if (result.outcome == api::Outcome::succeeded && !result.queue_outputs.empty()) {
          std::string error = co_await write_queue_outputs(effects_, account_, app_.queues.base64,
                                                           result.queue_outputs, &log_);
          if (!error.empty())
            log_.error("Host.Triggers.Queue", error, {{"function", fn.name}, {"invocationId", inv.id}});
        }
        --manual_in_flight_;
      },
      log_if_thrown(log_, "Host.Triggers.Queue", "manual run of " + fn.name + " failed"));
}

void QueueTrigger::notify(const api::CommitNotice& notice) {
  const auto* visible = std::get_if<api::QueueVisible>(&notice);
  if (!visible || visible->queue.account != account_) return;
  api::UnixMillis visible_at = visible->visible_at;
  api::UnixMillis now = unix_now();
  for (auto& l : listeners_) {
    if (l->queue.name != visible->queue.name) continue;
    if (visible_at <= now) {
      l->poke();
    } else if (visible_at < l->next_visible) {
      l->next_visible = visible_at;
      l->wake.cancel();  // re-plan the sleep around the earlier wake-up
    }
  }
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
  milliseconds idle{100};
  while (!l->stopped) {
    l->wake_pending = false;
    bool fetched_any = false;
    // Admission before the fetch: permits for a whole batch, or no fetch at all.
    if (auto batch = l->permits.try_acquire(opt.batch_size)) {
      auto got = co_await store_.get_messages(l->queue, opt.batch_size, whole_seconds(opt.lease));
      if (got) {
        fetched_any = !got.value().empty();
        for (auto& m : got.value())
          asio::co_spawn(io_, process(l, std::move(m), batch.split(1)),
                         log_if_thrown(log_, "Host.Triggers.Queue", "message handling failed"));
      } else {
        log_.warn("Host.Triggers.Queue", "fetch failed: " + got.error().message,
                  {{"queue", l->queue.name}});
      }
    }  // permits of the batch that found no message are returned here
    if (fetched_any) {
      idle = milliseconds(100);
      continue;  // more may be waiting: fetch again as soon as capacity allows
    }
    if (l->wake_pending) continue;
    // Sleep until poked, until a delayed message is due, or for the polling back-off.
    milliseconds sleep = idle;
    if (l->next_visible != INT64_MAX) {
      milliseconds due(std::max<int64_t>(0, l->next_visible - unix_now()));
      if (due <= sleep) {
        sleep = due;
        l->next_visible = INT64_MAX;
      }
    }
    if (l->permits.available() < opt.batch_size)
      sleep = opt.max_polling_interval;  // a completion pokes
    l->wake.expires_after(sleep);
    boost::system::error_code ec;
    co_await l->wake.async_wait(asio::redirect_error(use_awaitable, ec));
    if (!ec) idle = std::min(idle * 2, opt.max_polling_interval);
  }
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
  inv.trigger = "queue";
  inv.queue = &data;
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
  l->poke();
}

awaitable<void> QueueTrigger::settle(Listener& l, const api::QueueMessage& msg,
                                     const std::string& pop, const api::Invocation& inv,
                                     api::InvocationResult& result) {
  const auto& opt = app_.queues;
  const auto& fn = *l.fn;
  if (result.outcome == api::Outcome::succeeded) {
    // Outputs that can never be written fail the attempt, so it counts towards poison
    // instead of completing-and-failing on every delivery forever.
    std::vector<api::NewMessage> outputs;
    for (const auto& [queue, text] : result.queue_outputs) {
      if (auto e = check_queue_output(queue, text, opt.base64); !e.empty()) {
        result.outcome = api::Outcome::failed;
        result.error = "output binding failed: " + e;
        break;
      }
      outputs.push_back(output_message(account_, queue, text, opt.base64));
    }
    if (result.outcome == api::Outcome::succeeded) {
      // The deletion and the outputs: one unit of change.
      api::Effects fx;
      fx.acknowledge({l.queue, msg.id, pop, std::nullopt});
      for (auto& m : outputs) fx.put(std::move(m));
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

awaitable<std::string> write_queue_outputs(
    runtime::EffectsCommitter& effects, std::string account, bool base64,
    const std::vector<std::pair<std::string, std::string>>& outputs, Logger* log) {
  if (outputs.empty()) co_return "";
  // All or nothing: check every output before writing any, then one Effects commit.
  api::Effects fx;
  fx.writes.reserve(outputs.size());
  for (const auto& [queue, text] : outputs) {
    if (auto e = check_queue_output(queue, text, base64); !e.empty())
      co_return e + "; no queue output was written";
    fx.put(output_message(account, queue, text, base64));
  }
  auto r = co_await effects.commit(std::move(fx));
  if (r) co_return "";
  const auto& e = r.error();
  if (e.code == api::QueueErrc::storage_failure || e.code == api::QueueErrc::unavailable) {
    // The detail names the database file: for the operator's log, not the HTTP client.
    if (log)
      log->error("Host.Bindings.Queue", "queue outputs could not be written: " + e.message,
                 {{"queues", static_cast<int64_t>(outputs.size())}});
    co_return "queue outputs could not be written (the queue store failed); no queue output "
              "was written; retry, and see the host log for the cause";
  }
  co_return "queue output failed: " + e.message + "; no queue output was written";
}

}  // namespace nimbus::triggers
