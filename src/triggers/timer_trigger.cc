#include "triggers/timer_trigger.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "runtime/store_call.h"
#include "triggers/output_commit.h"

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using std::chrono::milliseconds;

namespace nimbus::triggers {

namespace {

constexpr const char* kCategory = "Host.Triggers.Timer";

using TimePoint = TimerSchedule::TimePoint;

TimePoint now_utc() {
  return std::chrono::time_point_cast<milliseconds>(std::chrono::system_clock::now());
}
api::UnixMillis ms(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint at(api::UnixMillis v) { return TimePoint(milliseconds(v)); }
std::string utc(api::UnixMillis v) { return v ? format_utc(at(v)) : std::string(); }

}  // namespace

struct TimerTrigger::Timer {
  explicit Timer(asio::any_io_executor ex) : wait(ex) {}
  const api::FunctionSpec* fn = nullptr;
  const api::TimerTriggerSpec* spec = nullptr;
  asio::system_timer wait;  // until the next occurrence, or a manual run
  api::TimerStatus status;  // as last read or written (kept in memory without the monitor)
  int manual_pending = 0;
  bool running = false;
  bool stopped = false;
};

TimerTrigger::TimerTrigger(asio::io_context& io, api::TimerStore* store,
                           runtime::EffectsCommitter* effects, runtime::Dispatcher& dispatcher,
                           const config::AppSpec& app, bindings::OutputOptions outputs,
                           Logger& log)
    : io_(io),
      store_(store),
      effects_(effects),
      dispatcher_(dispatcher),
      app_(app),
      outputs_(std::move(outputs)),
      log_(log) {}

TimerTrigger::~TimerTrigger() { stop(); }

void TimerTrigger::start() {
  for (const auto& fn : app_.functions) {
    const auto* spec = fn.timer();
    if (fn.disabled || !spec) continue;
    auto t = std::make_shared<Timer>(io_.get_executor());
    t->fn = &fn;
    t->spec = spec;
    t->status.function = fn.name;
    timers_.push_back(t);
    asio::co_spawn(io_, run(t),
                   log_if_thrown(log_, kCategory, "timer of " + fn.name + " stopped"));
  }
}

void TimerTrigger::stop() {
  for (auto& t : timers_) {
    t->stopped = true;
    t->wait.cancel();
  }
}

int TimerTrigger::in_flight() const {
  int n = 0;
  for (const auto& t : timers_) n += (t->running ? 1 : 0) + (t->stopped ? 0 : t->manual_pending);
  return n;
}

std::string TimerTrigger::run_once(const api::FunctionSpec& fn) {
  for (auto& t : timers_) {
    // By name: `fn` may be from an app --watch reloaded, its timer from the app at start.
    if (t->fn->name != fn.name) continue;
    if (t->stopped) return "the host is shutting down";
    ++t->manual_pending;
    t->wait.cancel();  // wakes the loop; a run in progress finishes first
    return "";
  }
  return "\"" + fn.name + "\" is not a running timerTrigger function";
}

awaitable<api::QueueResult<std::optional<api::TimerStatus>>> TimerTrigger::read_status(
    const std::string& function) {
  return runtime::store_call<std::optional<api::TimerStatus>>(
      io_.get_executor(),
      [store = store_, function](auto done) { store->get_status(function, done); });
}

awaitable<api::QueueResult<void>> TimerTrigger::write_status(api::TimerStatus status) {
  return runtime::store_call<void>(io_.get_executor(), [store = store_, status](auto done) {
    store->put_status(status, done);
  });
}

awaitable<void> TimerTrigger::run(std::shared_ptr<Timer> t) {
  const auto& schedule = t->spec->schedule;
  const bool monitor = t->spec->use_monitor && store_;
  TimePoint now = now_utc();
  bool past_due = false;
  if (monitor) {
    auto stored = co_await read_status(t->fn->name);
    if (!stored) {
      // Without its status the function cannot tell a missed occurrence; it still runs on
      // schedule rather than not at all.
      log_.error(kCategory,
                 "cannot read the schedule status (" + stored.error().message +
                     "); a run missed while the host was down is not detected this time",
                 {{"function", t->fn->name}});
    } else if (stored.value()) {
      t->status = *stored.value();
      past_due = t->status.next != 0 && t->status.next <= ms(now);
    }
  }
  auto next = schedule.next(now);
  json::array upcoming;
  for (auto o : schedule.next_n(now, 5)) upcoming.emplace_back(format_utc(o));
  // Built before the fields take `upcoming` (argument order is unspecified).
  std::string listed;
  for (const auto& u : upcoming) listed += (listed.empty() ? "" : ", ") + std::string(u.as_string());
  std::string message = "The next " + std::to_string(upcoming.size()) + " occurrences of the '" +
                        t->fn->name + "' schedule (" +
                        (schedule.is_interval() ? "TimeSpan" : "Cron") + ": '" + schedule.text() +
                        "') will be: " + listed + " (UTC)";
  log_.info(kCategory, message,
            {{"function", t->fn->name},
             {"schedule", schedule.text()},
             {"useMonitor", monitor},
             {"runOnStartup", t->spec->run_on_startup},
             {"next", std::move(upcoming)}});
  if (past_due)
    log_.warn(kCategory, "the occurrence due at " + utc(t->status.next) +
                             " was missed while the host was down; running it now (IsPastDue)",
              {{"function", t->fn->name}, {"due", utc(t->status.next)}});
  if (past_due || t->spec->run_on_startup) {
    // One run for both reasons, as Azure does. It stands for the missed occurrence when there
    // is one, so the status moves on from it.
    co_await invoke(*t, past_due ? t->status.next : ms(now), past_due, false);
    now = now_utc();
    next = schedule.next(now);
  } else if (monitor && (t->status.next == 0 || t->status.next < ms(now)) && next) {
    // First start (or a status from a schedule that was since changed): remember what is due,
    // so a host that is down at that moment runs it at its next start.
    t->status.next = ms(*next);
    t->status.last_updated = ms(now);
    if (auto w = co_await write_status(t->status); !w)
      log_.error(kCategory, "cannot write the schedule status: " + w.error().message,
                 {{"function", t->fn->name}});
  }
  // Whether the loop slept since the last run: an occurrence found due without sleeping came
  // during that run, so it runs late (IsPastDue).
  bool waited = false;
  while (!t->stopped) {
    if (t->manual_pending > 0) {
      --t->manual_pending;
      co_await invoke(*t, 0, false, true);
      waited = false;
      continue;
    }
    if (!next) {
      log_.warn(kCategory, "the schedule has no further occurrence; the timer stops",
                {{"function", t->fn->name}});
      co_return;
    }
    now = now_utc();
    if (*next <= now) {
      // Due (or overdue because the previous run overran it): run it, then arm the one after.
      // Occurrences that passed during an overrun fold into this single late run.
      bool late = !waited || now - *next >= milliseconds(1000);
      TimePoint due = *next;
      for (int guard = 0; guard < 100000; ++guard) {
        auto after = schedule.next(due);
        if (!after || *after > now) break;
        due = *after;
        late = true;
      }
      co_await invoke(*t, ms(due), late, false);
      next = schedule.next(due);
      waited = false;
      continue;
    }
    t->wait.expires_at(std::chrono::time_point_cast<std::chrono::system_clock::duration>(*next));
    boost::system::error_code ec;
    co_await t->wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    waited = true;
  }
}

awaitable<void> TimerTrigger::invoke(Timer& t, api::UnixMillis scheduled, bool past_due,
                                     bool manual) {
  t.running = true;
  auto data = std::make_shared<api::TimerData>();
  data->is_past_due = past_due;
  if (t.spec->use_monitor && store_) {
    data->last = utc(t.status.last);
    data->next = utc(scheduled ? scheduled : t.status.next);
    data->last_updated = utc(t.status.last_updated);
  }
  api::Invocation inv;
  inv.function = t.fn;
  inv.input = static_cast<const api::TimerData*>(data.get());
  inv.manual = manual;
  auto complete = [this](api::Invocation& inv, api::InvocationResult& r) -> awaitable<void> {
    co_await commit_outputs(effects_, inv, r, outputs_, &log_);
  };
  co_await dispatcher_.dispatch(inv, complete);
  // The occurrence ran (or failed: timers do not retry without a retry policy, as in Azure);
  // the status moves on either way, so a failing function is not re-run as past due.
  if (scheduled && !manual) {
    TimePoint now = now_utc();
    t.status.last = scheduled;
    auto next = t.spec->schedule.next(std::max(at(scheduled), now));
    t.status.next = next ? ms(*next) : 0;
    t.status.last_updated = ms(now);
    if (t.spec->use_monitor && store_)
      if (auto w = co_await write_status(t.status); !w)
        log_.error(kCategory, "cannot write the schedule status: " + w.error().message,
                   {{"function", t.fn->name}});
  }
  t.running = false;
}

}  // namespace nimbus::triggers
