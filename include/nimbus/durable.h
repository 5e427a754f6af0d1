#pragma once
// Nimbus durable orchestrations for native apps: orchestrators are C++20 coroutines.
//
//   #include <nimbus/durable.h>
//   namespace df = nimbus::durable;
//   NIMBUS_APP(app) {
//     app.orchestrator("Approval", [](df::OrchestrationContext& ctx) -> df::Orchestration {
//       df::RetryOptions retry{.first_retry_interval = std::chrono::seconds(5),
//                              .backoff_coefficient = 2.0, .max_number_of_attempts = 3};
//       std::string order = co_await ctx.call_activity("Prepare", ctx.input(), &retry);
//       // Fan out, fan in: every task is scheduled before the first await.
//       std::vector<df::Task<std::string>> parts;
//       for (int i = 0; i < 10; ++i) parts.push_back(ctx.call_activity("Part", order));
//       std::vector<std::string> results = co_await df::when_all(parts);
//       // Human interaction: an external event raced against a durable timer.
//       df::Task<std::string> approval = ctx.wait_for_external_event("Approved");
//       df::Task<void> deadline = ctx.create_timer(std::chrono::hours(24));
//       if (co_await df::when_any(approval, deadline) == 1) co_return R"("timed out")";
//       ctx.set_custom_status(R"("approved")");
//       co_return co_await approval;  // JSON text; "" would mean no output (null)
//     });
//     app.activity("Prepare", [](const std::string& input, nimbus::Context&) { return input; });
//     app.http("start", {.route = "start"}, [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
//       return df::create_check_status_response(req, ctx.start_new("Approval", req.body));
//     });
//   }
//
// How it runs. The host calls the orchestrator once per episode with the instance's history
// (durable_types.h). The executor replays the coroutine from its start against the committed
// events (is_replaying() is true meanwhile), then feeds it the new events and answers the
// actions it has not issued before. So an orchestrator must be deterministic: take time from
// ctx.now(), ids from ctx.new_guid(), do I/O only in activities, wait only on this SDK's tasks
// (never on threads, sleeps or other awaitables), and touch no mutable global state.
//
// Rules worth knowing:
// - Every ctx call that schedules work (activity, sub-orchestration, timer, send_event) takes
//   the next action id 1, 2, 3... in call order; the history must show the same kinds and
//   names at the same ids, or the instance fails with a "NonDeterminismError".
// - Awaiting a failed task throws TaskFailed (failure() holds the error type and message);
//   an exception that leaves the orchestrator fails the instance with its type and what().
// - Helper coroutines may return Task<std::string> or Task<void> and take the context; they
//   start at once (like the tasks the context returns) and can be awaited or combined.
// - The coroutine frame of an orchestrator still waiting at the end of an episode is
//   destroyed then (its locals' destructors run); the next episode replays it from the start.
// - Orchestrators end with `co_return <JSON text>;` (`co_return "";` for null output). Falling
//   off the end of a coroutine without co_return is undefined behaviour in C++.
// - GCC 12 rejects a braced temporary inside a co_await expression ("array used as
//   initializer"): name the vector first, then `co_await when_all(tasks)`.
//
// Header-only, standard library only (plus <cxxabi.h> when present, for exception type names).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define NIMBUS_DURABLE_HAVE_CXXABI 1
#endif

#include "nimbus/nimbus.h"

namespace nimbus::durable {

class OrchestrationContext;

// Thrown when an awaited activity or sub-orchestration failed (after its retries, if any).
// failure() is the failure as the host reported it (the activity's exception type and what()).
class TaskFailed : public std::runtime_error {
 public:
  TaskFailed(const std::string& what, Failure failure)
      : std::runtime_error(what), failure_(std::move(failure)) {}
  const Failure& failure() const noexcept { return failure_; }

 private:
  Failure failure_;
};

// Retries of a failed activity or sub-orchestration, done by the SDK alone: after attempt n
// fails, a durable timer of first_retry_interval * backoff_coefficient^(n-1) (at most
// max_retry_interval), then the call is scheduled again. No retry once max_number_of_attempts
// calls were made, or once retry_timeout has passed since the first call (by ctx.now()).
struct RetryOptions {
  std::chrono::milliseconds first_retry_interval{0};
  double backoff_coefficient = 1.0;
  std::chrono::milliseconds max_retry_interval = std::chrono::milliseconds::max();
  int max_number_of_attempts = 1;  // 1 = no retry
  std::chrono::milliseconds retry_timeout = std::chrono::milliseconds::max();
};

namespace detail {

// The shared completion slot behind every task. Completions run the continuations in the
// order they were attached; a continuation typically resumes a waiting coroutine.
struct TaskState {
  bool done = false;
  std::string value;         // JSON text result ("" for timers)
  std::exception_ptr error;  // set when the task failed
  std::vector<std::function<void()>> continuations;

  void then(std::function<void()> f) {
    if (done)
      f();
    else
      continuations.push_back(std::move(f));
  }
  void complete(std::string v) {
    if (done) return;
    value = std::move(v);
    finish();
  }
  void fail(std::exception_ptr e) {
    if (done) return;
    error = std::move(e);
    finish();
  }

 private:
  void finish() {
    done = true;
    auto run = std::move(continuations);
    continuations.clear();
    for (auto& f : run) f();
  }
};
using StatePtr = std::shared_ptr<TaskState>;

// The context of the episode running on this thread: coroutine promises register their frames
// and states with it, so it can destroy them when the episode ends.
inline thread_local OrchestrationContext* current_context = nullptr;

inline std::string lower_ascii(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

inline std::string type_name(const std::type_info& t) {
#ifdef NIMBUS_DURABLE_HAVE_CXXABI
  int status = 0;
  char* s = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  if (s) {
    std::string r(s);
    std::free(s);
    return r;
  }
#endif
  return t.name();
}

// The error type and message of an exception in flight, for a failed orchestration.
inline Failure failure_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return {type_name(typeid(x)), x.what()};
  } catch (...) {
    return {"unknown", "an exception that is not a std::exception"};
  }
}

StatePtr new_state();                              // defined after OrchestrationContext
void adopt_frame(std::coroutine_handle<> frame);  // likewise

template <class T>
class Promise;

}  // namespace detail

// An awaitable result of the orchestration context (or of a helper coroutine): T is
// std::string (JSON text) or void (timers). Copies share one result; awaiting a completed
// task again gives the same result (or throws again).
template <class T = std::string>
class Task {
  static_assert(std::is_same_v<T, std::string> || std::is_void_v<T>,
                "durable tasks carry JSON text (std::string) or nothing (void)");

 public:
  using promise_type = detail::Promise<Task<T>>;
  using value_type = T;

  Task() = default;  // no task; only for containers and later assignment
  explicit Task(detail::StatePtr state) : state_(std::move(state)) {}

  bool is_done() const { return state_ && state_->done; }
  bool is_failed() const { return is_done() && state_->error != nullptr; }

  bool await_ready() const noexcept { return state_->done; }
  void await_suspend(std::coroutine_handle<> waiter) const {
    state_->then([waiter] { waiter.resume(); });
  }
  T await_resume() const {
    if (state_->error) std::rethrow_exception(state_->error);
    if constexpr (!std::is_void_v<T>) return state_->value;
  }

  const detail::StatePtr& state() const { return state_; }

 private:
  detail::StatePtr state_;
};

// The return type of an orchestrator function: `Orchestration f(OrchestrationContext&)`,
// ending with `co_return <JSON text>;`.
class Orchestration {
 public:
  using promise_type = detail::Promise<Orchestration>;
  explicit Orchestration(detail::StatePtr state) : state_(std::move(state)) {}
  const detail::StatePtr& state() const { return state_; }

 private:
  detail::StatePtr state_;
};

namespace detail {

// Shared by orchestrators and helper coroutines: they start eagerly (so a helper's first
// actions are issued when it is called, like the context's own tasks), report their outcome
// through a TaskState, and stay suspended at the end until the episode destroys every frame.
struct PromiseBase {
  StatePtr state = new_state();
  std::string result;
  std::exception_ptr error;

  std::suspend_never initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
      // Completing here, with the frame suspended, lets continuations resume waiters safely.
      auto& p = h.promise();
      if (p.error)
        p.state->fail(p.error);
      else
        p.state->complete(std::move(p.result));
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() { error = std::current_exception(); }
};

template <class R>
class Promise : public PromiseBase {
 public:
  R get_return_object() {
    adopt_frame(std::coroutine_handle<Promise>::from_promise(*this));
    return R(state);
  }
  void return_value(std::string v) { result = std::move(v); }
};

template <>
class Promise<Task<void>> : public PromiseBase {
 public:
  Task<void> get_return_object() {
    adopt_frame(std::coroutine_handle<Promise>::from_promise(*this));
    return Task<void>(state);
  }
  void return_void() {}
};

// The awaiter of when_all: ready once every task is done.
template <class T>
class WhenAll {
 public:
  explicit WhenAll(std::vector<StatePtr> states) : states_(std::move(states)) {}
  bool await_ready() const noexcept {
    for (const auto& s : states_)
      if (!s->done) return false;
    return true;
  }
  void await_suspend(std::coroutine_handle<> waiter) {
    auto left = std::make_shared<size_t>(0);
    for (const auto& s : states_)
      if (!s->done) ++*left;
    for (const auto& s : states_)
      if (!s->done)
        s->then([left, waiter] {
          if (--*left == 0) waiter.resume();
        });
  }
  auto await_resume() const {
    // Like Task.WhenAll: all done first, then the failure of the lowest-index failed task.
    for (const auto& s : states_)
      if (s->error) std::rethrow_exception(s->error);
    if constexpr (!std::is_void_v<T>) {
      std::vector<std::string> out;
      out.reserve(states_.size());
      for (const auto& s : states_) out.push_back(s->value);
      return out;
    }
  }

 private:
  std::vector<StatePtr> states_;
};

// The awaiter of when_any: the index of the first task to complete (successfully or not).
class WhenAny {
 public:
  explicit WhenAny(std::vector<StatePtr> states) : states_(std::move(states)) {
    // Would wait forever: better a clear failure of the orchestration.
    if (states_.empty()) throw std::invalid_argument("when_any needs at least one task");
  }
  bool await_ready() const noexcept { return first_done() < states_.size(); }
  void await_suspend(std::coroutine_handle<> waiter) {
    auto fired = std::make_shared<bool>(false);
    for (size_t i = 0; i < states_.size(); ++i)
      states_[i]->then([this, fired, waiter, i] {
        if (*fired) return;  // a later completion of a task that lost the race
        *fired = true;
        winner_ = i;
        waiter.resume();
      });
  }
  size_t await_resume() const { return winner_ < states_.size() ? winner_ : first_done(); }

 private:
  size_t first_done() const {
    size_t i = 0;
    while (i < states_.size() && !states_[i]->done) ++i;
    return i;
  }
  std::vector<StatePtr> states_;
  size_t winner_ = static_cast<size_t>(-1);
};

}  // namespace detail

// Waits for every task; gives their results in order (Task<void>: nothing). If any failed,
// throws, once all are done, the failure of the first failed task in the vector.
template <class T>
detail::WhenAll<T> when_all(const std::vector<Task<T>>& tasks) {
  std::vector<detail::StatePtr> states;
  states.reserve(tasks.size());
  for (const auto& t : tasks) states.push_back(t.state());
  return detail::WhenAll<T>(std::move(states));
}

// Races tasks of any kinds: `size_t i = co_await when_any(event, timer);` gives the index of
// the first to complete (the lowest index if several already were). It never throws: await
// the winner itself for its result or failure. The losers keep running: a durable timer still
// fires later, unobserved; an event wait still takes the next event of its name while its task
// is held (drop the task to give up the wait).
template <class... Ts>
detail::WhenAny when_any(const Task<Ts>&... tasks) {
  return detail::WhenAny(std::vector<detail::StatePtr>{tasks.state()...});
}
template <class T>
detail::WhenAny when_any(const std::vector<Task<T>>& tasks) {
  std::vector<detail::StatePtr> states;
  for (const auto& t : tasks) states.push_back(t.state());
  return detail::WhenAny(std::move(states));
}

template <class F>
void execute(F& orchestrator, const OrchestratorRequest& request, OrchestratorResponse& response);

// What an orchestrator sees of its instance, and how it schedules work. Lives for one
// episode; all calls must come from the orchestrator's coroutines, on the episode's thread.
class OrchestrationContext {
 public:
  using Clock = std::chrono::system_clock;

  const std::string& instance_id() const { return instance_id_; }
  const std::string& execution_id() const { return execution_id_; }
  // The orchestration's input, JSON text ("" when it has none).
  const std::string& input() const { return input_; }
  // The replay clock: the timestamp of the orchestrator_started event of the episode being
  // replayed or run, so it reads the same on every replay.
  Clock::time_point now() const {
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::milliseconds(now_ms_)));
  }
  // True while the executor replays committed history (e.g. to skip duplicate logging).
  bool is_replaying() const { return replaying_; }

  // A UUID (version 5 layout: SHA-1 of a fixed namespace and a name) named by instance id,
  // now() as ISO 8601 and a per-replay counter, the recipe of the Durable Task SDKs (rule 2 of
  // the reference): the same on every replay, different between calls and instances.
  std::string new_guid();

  Task<std::string> call_activity(std::string name, std::string input = "null",
                                  const RetryOptions* retry = nullptr) {
    Action a;
    a.kind = Action::Kind::schedule_task;
    a.name = std::move(name);
    a.input = std::move(input);
    return retry ? with_retry(std::move(a), *retry) : Task<std::string>(issue(std::move(a)));
  }
  // An empty instance_id lets the host pick a deterministic one from this instance.
  Task<std::string> call_sub_orchestrator(std::string name, std::string input = "null",
                                          std::string instance_id = "",
                                          const RetryOptions* retry = nullptr) {
    Action a;
    a.kind = Action::Kind::create_sub_orchestration;
    a.name = std::move(name);
    a.input = std::move(input);
    a.instance_id = std::move(instance_id);
    return retry ? with_retry(std::move(a), *retry) : Task<std::string>(issue(std::move(a)));
  }
  Task<void> create_timer(Clock::time_point fire_at) {
    Action a;
    a.kind = Action::Kind::create_timer;
    a.fire_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       fire_at.time_since_epoch())
                       .count();
    return Task<void>(issue(std::move(a)));
  }
  template <class Rep, class Period>
  Task<void> create_timer(std::chrono::duration<Rep, Period> delay) {
    return create_timer(now() + std::chrono::duration_cast<Clock::duration>(delay));
  }
  // The next event raised to this instance under `name` (case-insensitive), JSON text. Events
  // that arrived before anyone waited are kept and handed out in arrival order; an event goes
  // to the oldest wait whose task still exists (a dropped task gives up its wait).
  Task<std::string> wait_for_external_event(std::string_view name);
  // Fire and forget: raises an event on another instance.
  void send_event(std::string instance_id, std::string name, std::string input = "null") {
    Action a;
    a.kind = Action::Kind::send_event;
    a.instance_id = std::move(instance_id);
    a.name = std::move(name);
    a.input = std::move(input);
    issue(std::move(a));
  }
  // JSON text shown as the instance's customStatus; the last value set wins.
  void set_custom_status(std::string json) { custom_status_ = std::move(json); }
  // Ends this execution and starts a new one with `new_input` and fresh history; with
  // `preserve_unprocessed_events`, events not yet consumed by a wait carry over to it. The
  // orchestrator should co_return next (its value is ignored); later calls are ignored.
  void continue_as_new(std::string new_input, bool preserve_unprocessed_events = false);

  OrchestrationContext(const OrchestrationContext&) = delete;
  OrchestrationContext& operator=(const OrchestrationContext&) = delete;
  ~OrchestrationContext();

 private:
  template <class F>
  friend void execute(F&, const OrchestratorRequest&, OrchestratorResponse&);
  friend detail::StatePtr detail::new_state();
  friend void detail::adopt_frame(std::coroutine_handle<>);

  explicit OrchestrationContext(const OrchestratorRequest& request)
      : request_(request),
        instance_id_(request.instance_id),
        execution_id_(request.execution_id) {}

  using Start = std::function<Orchestration(OrchestrationContext&)>;
  void run(const Start& start, OrchestratorResponse& response);
  void process(const HistoryEvent& e, const Start& start);
  void start_orchestrator(const Start& start);
  void matched(const HistoryEvent& e, Action::Kind kind);
  void completed(const HistoryEvent& e, Action::Kind kind);
  void event_raised(const HistoryEvent& e);
  void nondeterminism(std::string message);
  void finish_with(Action complete);

  detail::StatePtr make_state() {
    auto s = std::make_shared<detail::TaskState>();
    states_.push_back(s);
    return s;
  }
  detail::StatePtr issue(Action a);
  Task<std::string> with_retry(Action a, const RetryOptions& retry);

  const OrchestratorRequest& request_;
  std::string instance_id_;
  std::string execution_id_;
  std::string input_;
  int64_t now_ms_ = 0;
  bool replaying_ = true;
  bool started_ = false;
  int next_id_ = 1;
  int guid_counter_ = 0;
  std::string custom_status_;

  // Actions issued this episode that the history has not confirmed (yet): the new ones.
  std::map<int, Action> unconfirmed_;
  // Tasks waiting for a completion event, by action id.
  struct Open {
    Action::Kind kind;
    std::string name;
    detail::StatePtr state;
  };
  std::map<int, Open> open_;
  std::map<std::string, std::deque<detail::StatePtr>> event_waiters_;  // by lower-case name
  std::vector<HistoryEvent> unconsumed_events_;                          // in arrival order

  bool finished_ = false;  // completed, continued as new or failed: nothing more runs
  bool preserve_events_ = false;
  Action complete_;           // when finished_ without failure_
  bool failed_ = false;       // the single failed completion replaces every other action
  Failure failure_;

  // Everything the coroutines hold, released when the episode ends (see the destructor).
  std::vector<std::coroutine_handle<>> frames_;
  std::vector<std::weak_ptr<detail::TaskState>> states_;
};

// ---- implementation ----

namespace detail {

inline StatePtr new_state() {
  if (!current_context)
    throw std::logic_error("durable tasks can only be created while an orchestration runs");
  return current_context->make_state();
}

inline void adopt_frame(std::coroutine_handle<> frame) {
  // Checked by new_state() already: the promise's state is created before this runs.
  current_context->frames_.push_back(frame);
}

inline std::string action_kind_name(Action::Kind k) {
  switch (k) {
    case Action::Kind::schedule_task: return "schedule_task";
    case Action::Kind::create_sub_orchestration: return "create_sub_orchestration";
    case Action::Kind::create_timer: return "create_timer";
    case Action::Kind::send_event: return "send_event";
    case Action::Kind::complete_orchestration: return "complete_orchestration";
  }
  return "action";
}

inline std::string event_kind_name(EventKind k) {
  switch (k) {
    case EventKind::orchestrator_started: return "orchestrator_started";
    case EventKind::execution_started: return "execution_started";
    case EventKind::execution_completed: return "execution_completed";
    case EventKind::task_scheduled: return "task_scheduled";
    case EventKind::task_completed: return "task_completed";
    case EventKind::task_failed: return "task_failed";
    case EventKind::sub_orchestration_created: return "sub_orchestration_created";
    case EventKind::sub_orchestration_completed: return "sub_orchestration_completed";
    case EventKind::sub_orchestration_failed: return "sub_orchestration_failed";
    case EventKind::timer_created: return "timer_created";
    case EventKind::timer_fired: return "timer_fired";
    case EventKind::event_sent: return "event_sent";
    case EventKind::event_raised: return "event_raised";
  }
  return "event";
}

inline std::string describe(const Action& a) {
  std::string s = action_kind_name(a.kind);
  if (a.kind != Action::Kind::create_timer) s += " '" + a.name + "'";
  return s + " (id " + std::to_string(a.id) + ")";
}

inline std::string describe(const HistoryEvent& e) {
  std::string s = event_kind_name(e.kind);
  if (e.kind != EventKind::timer_created) s += " '" + e.name + "'";
  return s + " (event id " + std::to_string(e.event_id) + ")";
}

// SHA-1 (FIPS 180-4), only for name-based UUIDs; not for security.
inline std::array<unsigned char, 20> sha1(std::string_view data) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(data);
  uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  m += static_cast<char>(0x80);
  while (m.size() % 64 != 56) m += '\0';
  for (int i = 7; i >= 0; --i) m += static_cast<char>((bits >> (i * 8)) & 0xff);
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i)
      w[i] = static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i])) << 24 |
             static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 1])) << 16 |
             static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 2])) << 8 |
             static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 3]));
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<unsigned char, 20> out{};
  for (int i = 0; i < 20; ++i) out[i] = static_cast<unsigned char>(h[i / 4] >> (24 - 8 * (i % 4)));
  return out;
}

// Unix milliseconds as ISO 8601 UTC with milliseconds ("2026-01-02T03:04:05.678Z").
inline std::string iso8601_ms(int64_t ms) {
  using namespace std::chrono;
  auto tp = sys_time<milliseconds>(milliseconds(ms));
  auto day = floor<days>(tp);
  year_month_day ymd(day);
  auto t = tp - day;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(duration_cast<hours>(t).count()),
                int(duration_cast<minutes>(t).count() % 60),
                int(duration_cast<seconds>(t).count() % 60), int(t.count() % 1000));
  return buf;
}

}  // namespace detail

inline std::string OrchestrationContext::new_guid() {
  // The namespace the Durable Task SDKs use for deterministic GUIDs.
  static constexpr unsigned char ns[16] = {0x9e, 0x95, 0x29, 0x58, 0x5e, 0x33, 0x4d, 0xaf,
                                           0x82, 0x7f, 0x2f, 0xa1, 0x29, 0x37, 0xb8, 0x75};
  std::string name = instance_id_ + "_" + detail::iso8601_ms(now_ms_) + "_" +
                     std::to_string(guid_counter_++);
  auto hash = detail::sha1(std::string(reinterpret_cast<const char*>(ns), 16) + name);
  hash[6] = static_cast<unsigned char>((hash[6] & 0x0f) | 0x50);  // version 5
  hash[8] = static_cast<unsigned char>((hash[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[hash[i] >> 4];
    out += hex[hash[i] & 15];
  }
  return out;
}

inline detail::StatePtr OrchestrationContext::issue(Action a) {
  // After the orchestration finished nothing more is sent; the task simply never completes.
  if (finished_) return make_state();
  a.id = next_id_++;
  auto state = make_state();
  if (a.kind != Action::Kind::send_event) open_[a.id] = Open{a.kind, a.name, state};
  unconfirmed_.emplace(a.id, std::move(a));
  return state;
}

inline Task<std::string> OrchestrationContext::with_retry(Action a, const RetryOptions& retry) {
  // One call of the orchestrator's, made of attempts and timers between them. Every step is
  // taken while an event is processed, so replays issue the same actions at the same ids.
  struct Retrying {
    Action action;
    RetryOptions options;
    int attempts = 0;
    int64_t first_ms = 0;
    detail::StatePtr result;
  };
  auto r = std::make_shared<Retrying>();
  r->action = std::move(a);
  r->options = retry;
  r->first_ms = now_ms_;
  r->result = make_state();
  // A named lambda holding itself through a shared_ptr would leak; pass it explicitly.
  struct Attempt {
    static void start(OrchestrationContext* ctx, std::shared_ptr<Retrying> r) {
      ++r->attempts;
      auto t = ctx->issue(r->action);
      detail::TaskState* raw = t.get();  // the continuation runs only while t lives
      t->then([ctx, r, raw] {
        if (!raw->error) return r->result->complete(raw->value);
        const RetryOptions& o = r->options;
        double delay = static_cast<double>(o.first_retry_interval.count()) *
                       std::pow(o.backoff_coefficient, r->attempts - 1);
        delay = std::min(delay, static_cast<double>(o.max_retry_interval.count()));
        delay = std::min(delay, 1e15);  // keeps the cast below defined
        bool out_of_attempts = r->attempts >= o.max_number_of_attempts;
        bool out_of_time = ctx->now_ms_ - r->first_ms >= o.retry_timeout.count();
        if (out_of_attempts || out_of_time) return r->result->fail(raw->error);
        Action timer;
        timer.kind = Action::Kind::create_timer;
        timer.fire_at_ms = ctx->now_ms_ + static_cast<int64_t>(delay);
        ctx->issue(std::move(timer))->then([ctx, r] { start(ctx, r); });
      });
    }
  };
  Attempt::start(this, r);
  return Task<std::string>(r->result);
}

inline Task<std::string> OrchestrationContext::wait_for_external_event(std::string_view name) {
  auto state = make_state();
  if (finished_) return Task<std::string>(state);  // keeps the events for carry-over
  std::string key = detail::lower_ascii(name);
  for (auto it = unconsumed_events_.begin(); it != unconsumed_events_.end(); ++it) {
    if (detail::lower_ascii(it->name) == key) {
      std::string input = std::move(it->input);
      unconsumed_events_.erase(it);
      state->complete(std::move(input));
      return Task<std::string>(state);
    }
  }
  event_waiters_[key].push_back(state);
  return Task<std::string>(state);
}

inline void OrchestrationContext::continue_as_new(std::string new_input, bool preserve) {
  if (finished_) return;
  Action a;
  a.kind = Action::Kind::complete_orchestration;
  a.status = OrchestrationStatus::continued_as_new;
  a.result = std::move(new_input);
  preserve_events_ = preserve;
  finish_with(std::move(a));
}

inline void OrchestrationContext::finish_with(Action complete) {
  finished_ = true;
  complete_ = std::move(complete);
}

inline void OrchestrationContext::nondeterminism(std::string message) {
  finished_ = true;
  failed_ = true;
  failure_ = {"NonDeterminismError", std::move(message)};
}

inline void OrchestrationContext::start_orchestrator(const Start& start) {
  std::optional<Orchestration> root;
  try {
    root.emplace(start(*this));
  } catch (...) {  // thrown before the coroutine existed (e.g. by a non-coroutine wrapper)
    finished_ = failed_ = true;
    failure_ = detail::failure_of(std::current_exception());
    return;
  }
  detail::TaskState* raw = root->state().get();
  root->state()->then([this, raw] {
    if (finished_) return;  // after continue_as_new the returned value is ignored
    if (raw->error) {
      finished_ = failed_ = true;
      failure_ = detail::failure_of(raw->error);
      return;
    }
    Action a;
    a.kind = Action::Kind::complete_orchestration;
    a.status = OrchestrationStatus::completed;
    a.result = raw->value;
    finish_with(std::move(a));
  });
}

inline void OrchestrationContext::matched(const HistoryEvent& e, Action::Kind kind) {
  auto it = unconfirmed_.find(e.event_id);
  if (it == unconfirmed_.end())
    return nondeterminism("the history has " + detail::describe(e) +
                          ", which the orchestrator did not issue");
  const Action& a = it->second;
  if (a.kind != kind || (kind != Action::Kind::create_timer && a.name != e.name))
    return nondeterminism("the orchestrator issued " + detail::describe(a) +
                          " where the history has " + detail::describe(e));
  unconfirmed_.erase(it);
}

inline void OrchestrationContext::completed(const HistoryEvent& e, Action::Kind kind) {
  auto it = open_.find(e.task_scheduled_id);
  if (it == open_.end()) return;  // not a task of this replay's (a duplicate delivery)
  if (it->second.kind != kind) {
    Action a;
    a.kind = it->second.kind;
    a.name = it->second.name;
    a.id = it->first;
    return nondeterminism("the history has " + detail::event_kind_name(e.kind) + " for id " +
                          std::to_string(e.task_scheduled_id) + ", but the orchestrator issued " +
                          detail::describe(a));
  }
  Open open = std::move(it->second);
  open_.erase(it);
  if (finished_) return;
  switch (e.kind) {
    case EventKind::task_failed:
    case EventKind::sub_orchestration_failed: {
      std::string what = e.kind == EventKind::task_failed ? "activity '" : "sub-orchestration '";
      what += open.name + "' failed: " + e.failure.error_message;
      open.state->fail(std::make_exception_ptr(TaskFailed(what, e.failure)));
      break;
    }
    case EventKind::timer_fired: open.state->complete(""); break;
    default: open.state->complete(e.result); break;
  }
}

inline void OrchestrationContext::event_raised(const HistoryEvent& e) {
  if (!finished_) {
    auto it = event_waiters_.find(detail::lower_ascii(e.name));
    if (it != event_waiters_.end()) {
      auto& waiters = it->second;
      // A wait whose task the orchestrator no longer holds (say, one that lost a when_any
      // against a timer in an earlier loop turn) can never be observed: giving it the event
      // would lose the event. Only this queue holds such a task. Deterministic, as the
      // code's lifetimes are the same on every replay.
      while (!waiters.empty() && waiters.front().use_count() == 1) waiters.pop_front();
      if (!waiters.empty()) {
        auto state = std::move(waiters.front());
        waiters.pop_front();
        state->complete(e.input);
        return;
      }
    }
  }
  unconsumed_events_.push_back(e);
}

inline void OrchestrationContext::process(const HistoryEvent& e, const Start& start) {
  using K = Action::Kind;
  switch (e.kind) {
    case EventKind::orchestrator_started: now_ms_ = e.timestamp_ms; break;
    case EventKind::execution_started:
      if (started_) break;
      started_ = true;
      input_ = e.input;
      if (instance_id_.empty()) instance_id_ = e.instance_id;
      if (execution_id_.empty()) execution_id_ = e.execution_id;
      start_orchestrator(start);
      break;
    case EventKind::execution_completed: break;
    case EventKind::task_scheduled: matched(e, K::schedule_task); break;
    case EventKind::sub_orchestration_created: matched(e, K::create_sub_orchestration); break;
    case EventKind::timer_created: matched(e, K::create_timer); break;
    case EventKind::event_sent: matched(e, K::send_event); break;
    case EventKind::task_completed:
    case EventKind::task_failed: completed(e, K::schedule_task); break;
    case EventKind::sub_orchestration_completed:
    case EventKind::sub_orchestration_failed: completed(e, K::create_sub_orchestration); break;
    case EventKind::timer_fired: completed(e, K::create_timer); break;
    case EventKind::event_raised: event_raised(e); break;
  }
}

inline void OrchestrationContext::run(const Start& start, OrchestratorResponse& response) {
  replaying_ = true;
  for (const auto& e : request_.past_events) {
    if (failed_) break;
    process(e, start);
  }
  replaying_ = false;
  for (const auto& e : request_.new_events) {
    if (failed_) break;
    process(e, start);
  }

  response.actions.clear();
  response.custom_status = custom_status_;
  if (failed_) {
    Action a;
    a.kind = Action::Kind::complete_orchestration;
    a.id = -1;  // rule 8
    a.status = OrchestrationStatus::failed;
    a.failure = failure_;
    response.actions.push_back(std::move(a));
    return;
  }
  for (auto& [id, a] : unconfirmed_) response.actions.push_back(std::move(a));
  if (finished_) {
    complete_.id = next_id_;
    if (complete_.status == OrchestrationStatus::continued_as_new && preserve_events_)
      complete_.carryover_events = std::move(unconsumed_events_);
    response.actions.push_back(std::move(complete_));
  }
}

inline OrchestrationContext::~OrchestrationContext() {
  // Frames first: their locals release the tasks. Then the continuations of tasks still
  // pending, which hold resume handles of the destroyed frames and may hold each other.
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) it->destroy();
  for (auto& w : states_)
    if (auto s = w.lock()) s->continuations.clear();
}

// Runs one episode of `orchestrator` (a callable `Orchestration(OrchestrationContext&)`).
template <class F>
void execute(F& orchestrator, const OrchestratorRequest& request, OrchestratorResponse& response) {
  OrchestrationContext ctx(request);
  struct Current {  // restores the caller's context, should episodes ever nest
    OrchestrationContext* saved = detail::current_context;
    explicit Current(OrchestrationContext* c) { detail::current_context = c; }
    ~Current() { detail::current_context = saved; }
  } current(&ctx);
  ctx.run([&orchestrator](OrchestrationContext& c) -> Orchestration { return orchestrator(c); },
          response);
}

// The 202 answer of an HTTP starter, as Azure Durable Functions gives it: Location and
// Retry-After headers and the management URLs of the instance (http://<Host header>).
inline HttpResponse create_check_status_response(const HttpRequest& request,
                                                 const std::string& instance_id) {
  auto encode = [](std::string_view s) {  // a path segment
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
    return out;
  };
  auto json = [](std::string_view s) {
    std::string out;
    ::nimbus::detail::append_json_string(out, s);
    return out;
  };
  std::string host(request.header("Host"));
  if (host.empty()) host = "localhost";
  std::string base = "http://" + host + "/runtime/webhooks/durabletask/instances/" +
                     encode(instance_id);
  std::string body = "{\"id\":" + json(instance_id) + ",\"statusQueryGetUri\":" + json(base) +
                     ",\"sendEventPostUri\":" + json(base + "/raiseEvent/{eventName}") +
                     ",\"terminatePostUri\":" + json(base + "/terminate?reason={text}") +
                     ",\"purgeHistoryDeleteUri\":" + json(base) +
                     ",\"suspendPostUri\":" + json(base + "/suspend?reason={text}") +
                     ",\"resumePostUri\":" + json(base + "/resume?reason={text}") + "}";
  HttpResponse r = HttpResponse::json(202, std::move(body));
  r.headers.emplace_back("Location", base);
  r.headers.emplace_back("Retry-After", "10");
  return r;
}

}  // namespace nimbus::durable

namespace nimbus {

template <class F>
App& App::orchestrator(std::string name, F coroutine_function) {
  return orchestrator_handler(
      std::move(name),
      [fn = std::move(coroutine_function)](const durable::OrchestratorRequest& request,
                                           durable::OrchestratorResponse& response) mutable {
        durable::execute(fn, request, response);
      });
}

}  // namespace nimbus
