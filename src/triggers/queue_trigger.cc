#include "triggers/queue_trigger.h"

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "common/ids.h"

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

}  // namespace

struct QueueTrigger::Listener {
  explicit Listener(asio::io_context& io) : wake(io) {}
  const config::FunctionSpec* fn = nullptr;
  api::QueueRef queue;
  asio::steady_timer wake;
  bool wake_pending = false;                 // a notification arrived while not sleeping
  api::UnixMillis next_visible = INT64_MAX;  // earliest delayed message we were told about
  int in_flight = 0;
  int threshold = 8;
  bool stopped = false;
  void poke() {
    wake_pending = true;
    wake.cancel();
  }
};

QueueTrigger::QueueTrigger(asio::io_context& io, queue::AsyncQueueStore& store,
                           runtime::Dispatcher& dispatcher, const config::AppSpec& app,
                           std::string account, observability::Metrics& metrics, Logger& log)
    : io_(io),
      store_(store),
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
    auto l = std::make_shared<Listener>(io_);
    l->fn = &fn;
    l->queue = {account_, fn.queue_name};
    // Azure: newBatchThreshold defaults to batchSize / 2 * processor count.
    l->threshold = app_.queues.new_batch_threshold >= 0 ? app_.queues.new_batch_threshold
                                                       : app_.queues.batch_size / 2 * cores;
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
          std::string error = co_await write_queue_outputs(store_, account_, app_.queues.base64,
                                                           result.queue_outputs);
          if (!error.empty())
            log_.error("Host.Triggers.Queue", error, {{"function", fn.name}, {"invocationId", inv.id}});
        }
        --manual_in_flight_;
      },
      log_if_thrown(log_, "Host.Triggers.Queue", "manual run of " + fn.name + " failed"));
}

void QueueTrigger::notify(const std::string& queue, api::UnixMillis visible_at) {
  api::UnixMillis now = unix_now();
  for (auto& l : listeners_) {
    if (l->queue.name != queue || l->queue.account != account_) continue;
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
    if (l->in_flight <= l->threshold) {
      auto got = co_await store_.get_messages(l->queue, opt.batch_size, whole_seconds(opt.lease));
      if (got) {
        fetched_any = !got.value().empty();
        for (auto& m : got.value())
          asio::co_spawn(io_, process(l, std::move(m)),
                         log_if_thrown(log_, "Host.Triggers.Queue", "message handling failed"));
      } else {
        log_.warn("Host.Triggers.Queue", "fetch failed: " + got.error().message,
                  {{"queue", l->queue.name}});
      }
    }
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
    if (l->in_flight > l->threshold) sleep = opt.max_polling_interval;  // a completion pokes
    l->wake.expires_after(sleep);
    boost::system::error_code ec;
    co_await l->wake.async_wait(asio::redirect_error(use_awaitable, ec));
    if (!ec) idle = std::min(idle * 2, opt.max_polling_interval);
  }
}

awaitable<void> QueueTrigger::process(std::shared_ptr<Listener> l, api::QueueMessage msg) {
  ++l->in_flight;
  const auto& opt = app_.queues;
  const auto& fn = *l->fn;
  std::string pop = msg.pop_receipt;

  // Lease renewal runs beside the invocation: at half-time it pushes the message's visibility
  // out again. Each renewal issues a new pop receipt; completion uses the latest. When the
  // invocation ends, the renewal is cancelled and awaited, so `pop` is settled after it.
  auto renew = [&]() -> awaitable<void> {
    co_await asio::this_coro::throw_if_cancelled(false);
    asio::steady_timer t(io_);
    for (;;) {
      t.expires_after(opt.lease / 2);
      boost::system::error_code ec;
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      auto r = co_await store_.update_message(l->queue, msg.id, pop, std::nullopt,
                                              whole_seconds(opt.lease));
      if (r)
        pop = r.value().pop_receipt;
      else
        log_.warn("Host.Triggers.Queue", "lease renewal failed: " + r.error().message,
                  {{"function", fn.name}, {"messageId", msg.id}});
      if ((co_await asio::this_coro::cancellation_state).cancelled() !=
          asio::cancellation_type::none)
        co_return;
    }
  };

  api::QueueMessageData data{msg.id, {}, msg.dequeue_count, iso8601_ms(msg.insertion_time),
                             iso8601_ms(msg.expiration_time), iso8601_ms(msg.time_next_visible),
                             msg.pop_receipt};
  api::Invocation inv;
  inv.function = &fn;
  inv.trigger = "queue";
  inv.queue = &data;
  api::InvocationResult result;
  if (opt.base64 && !base64_decode(msg.text, data.text)) {
    // As in Azure, undecodable content fails the attempt; it ends in the poison queue.
    inv.id = new_uuid();
    result.outcome = api::Outcome::failed;
    result.error = "message " + msg.id + " is not valid base64; producers must base64-encode "
                   "(or set extensions.queues.messageEncoding to \"none\" in host.json)";
    log_.error("Function." + fn.name, "invocation failed",
               {{"invocationId", inv.id}, {"function", fn.name}, {"trigger", "queue"},
                {"status", "failed"}, {"error", result.error}});
  } else {
    if (!opt.base64) data.text = msg.text;
    using namespace asio::experimental::awaitable_operators;
    auto first = co_await (dispatcher_.dispatch(inv) || renew());
    result = std::get<0>(std::move(first));  // renew() only ends when cancelled
  }

  if (result.outcome == api::Outcome::succeeded) {
    std::vector<api::NewMessage> outputs;
    for (const auto& [queue, text] : result.queue_outputs)
      outputs.push_back(output_message(account_, queue, text, opt.base64));
    auto r = co_await store_.complete_message(l->queue, msg.id, pop, std::move(outputs));
    if (r) {
      metrics_.queue_message(fn.name, l->queue.name, "processed");
    } else {
      // Lost the lease (e.g. it expired during a long stall): the message runs again.
      log_.warn("Host.Triggers.Queue",
                "could not complete the message; it will be delivered again: " + r.error().message,
                {{"function", fn.name}, {"messageId", msg.id}, {"invocationId", inv.id}});
    }
  } else if (msg.dequeue_count >= opt.max_dequeue_count) {
    auto r = co_await store_.move_to_poison(l->queue, msg.id, pop);
    metrics_.queue_message(fn.name, l->queue.name, "poisoned");
    log_.error("Host.Triggers.Queue",
               "Message has reached MaxDequeueCount of " + std::to_string(opt.max_dequeue_count) +
                   ". Moving message to queue '" + l->queue.name + "-poison'",
               {{"function", fn.name}, {"messageId", msg.id}, {"invocationId", inv.id},
                {"error", result.error},
                {"moved", static_cast<bool>(r)}});
  } else {
    const auto* retry = fn.retry ? &*fn.retry : app_.retry ? &*app_.retry : nullptr;
    milliseconds delay = retry ? retry->delay_after(static_cast<int>(msg.dequeue_count))
                               : opt.visibility_timeout;
    auto r = co_await store_.update_message(l->queue, msg.id, pop, std::nullopt,
                                            whole_seconds(delay));
    metrics_.queue_message(fn.name, l->queue.name, "failed");
    if (!r)
      log_.warn("Host.Triggers.Queue", "could not release the failed message: " + r.error().message,
                {{"function", fn.name}, {"messageId", msg.id}});
  }
  --l->in_flight;
  l->poke();
}

namespace {
awaitable<std::string> put_one(queue::AsyncQueueStore& store, api::NewMessage m) {
  auto r = co_await store.put_message(m);
  if (!r && r.error().code == api::QueueErrc::queue_not_found) {
    // Output bindings create their queue, as Azure's do.
    co_await store.create_queue(m.queue, {});
    r = co_await store.put_message(m);
  }
  if (!r) co_return "queue output to \"" + m.queue.name + "\" failed: " + r.error().message;
  co_return "";
}
}  // namespace

awaitable<std::string> write_queue_outputs(
    queue::AsyncQueueStore& store, std::string account, bool base64,
    const std::vector<std::pair<std::string, std::string>>& outputs) {
  // All puts are submitted at once so they share group commits; we resume when the last
  // one is durable.
  struct State {
    explicit State(const asio::any_io_executor& ex) : all_done(ex) {}
    size_t remaining = 0;
    std::string error;
    asio::steady_timer all_done;
  };
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<State>(ex);
  state->remaining = outputs.size();
  state->all_done.expires_at(asio::steady_timer::time_point::max());
  for (const auto& [queue, text] : outputs)
    asio::co_spawn(ex, put_one(store, output_message(account, queue, text, base64)),
                   [state](std::exception_ptr e, std::string error) {
                     if (e) error = "queue output failed with an internal error";
                     if (!error.empty() && state->error.empty()) state->error = error;
                     if (--state->remaining == 0) state->all_done.cancel();
                   });
  if (state->remaining > 0) {
    boost::system::error_code ec;
    co_await state->all_done.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  co_return state->error;
}

}  // namespace nimbus::triggers
