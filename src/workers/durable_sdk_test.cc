// The durable SDK's replay executor (include/nimbus/durable.h), driven the way the host drives
// it: episodes of [orchestrator_started, ...] over a growing history.
#include "nimbus/durable.h"

#include <gtest/gtest.h>

#include <regex>

#include <boost/json/serialize.hpp>

#include "api/durable_events.h"

namespace {

namespace df = nimbus::durable;
using df::Action;
using df::EventKind;
using df::HistoryEvent;
using df::Orchestration;
using df::OrchestrationContext;
using df::Task;
using std::chrono::milliseconds;

constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

HistoryEvent ev(EventKind kind) {
  HistoryEvent e;
  e.kind = kind;
  return e;
}
HistoryEvent orchestrator_started(int64_t ts) {
  auto e = ev(EventKind::orchestrator_started);
  e.timestamp_ms = ts;
  return e;
}
HistoryEvent execution_started(std::string input) {
  auto e = ev(EventKind::execution_started);
  e.name = "Orch";
  e.input = std::move(input);
  e.instance_id = "inst-1";
  e.execution_id = "exec-1";
  return e;
}
HistoryEvent task_scheduled(int id, std::string name) {
  auto e = ev(EventKind::task_scheduled);
  e.event_id = id;
  e.name = std::move(name);
  return e;
}
HistoryEvent task_completed(int id, std::string result) {
  auto e = ev(EventKind::task_completed);
  e.task_scheduled_id = id;
  e.result = std::move(result);
  return e;
}
HistoryEvent task_failed(int id, std::string type, std::string message) {
  auto e = ev(EventKind::task_failed);
  e.task_scheduled_id = id;
  e.failure = {std::move(type), std::move(message)};
  return e;
}
HistoryEvent timer_created(int id, int64_t fire_at) {
  auto e = ev(EventKind::timer_created);
  e.event_id = id;
  e.fire_at_ms = fire_at;
  return e;
}
HistoryEvent timer_fired(int id) {
  auto e = ev(EventKind::timer_fired);
  e.task_scheduled_id = id;
  return e;
}
HistoryEvent sub_completed(int id, std::string result) {
  auto e = ev(EventKind::sub_orchestration_completed);
  e.task_scheduled_id = id;
  e.result = std::move(result);
  return e;
}
HistoryEvent sub_failed(int id, std::string type, std::string message) {
  auto e = ev(EventKind::sub_orchestration_failed);
  e.task_scheduled_id = id;
  e.failure = {std::move(type), std::move(message)};
  return e;
}
HistoryEvent event_raised(std::string name, std::string input) {
  auto e = ev(EventKind::event_raised);
  e.name = std::move(name);
  e.input = std::move(input);
  return e;
}

// What the host does between episodes: the delivered events and the scheduling events of the
// returned actions become history.
struct Host {
  std::vector<HistoryEvent> history;
  int64_t clock = kT0;

  template <class F>
  df::OrchestratorResponse episode(F& fn, std::vector<HistoryEvent> events,
                                   int64_t step_ms = 1000) {
    events.insert(events.begin(), orchestrator_started(clock));
    clock += step_ms;
    df::OrchestratorRequest req;
    req.instance_id = "inst-1";
    req.execution_id = "exec-1";
    req.past_events = history;
    req.new_events = events;
    df::OrchestratorResponse resp;
    if constexpr (std::is_invocable_v<F&, const df::OrchestratorRequest&,
                                      df::OrchestratorResponse&>)
      fn(req, resp);  // an App's wrapped handler
    else
      df::execute(fn, req, resp);
    history.insert(history.end(), events.begin(), events.end());
    for (const auto& a : resp.actions) {
      HistoryEvent e;
      e.event_id = a.id;
      e.name = a.name;
      e.input = a.input;
      e.instance_id = a.instance_id;
      e.fire_at_ms = a.fire_at_ms;
      switch (a.kind) {
        case Action::Kind::schedule_task: e.kind = EventKind::task_scheduled; break;
        case Action::Kind::create_sub_orchestration:
          e.kind = EventKind::sub_orchestration_created;
          break;
        case Action::Kind::create_timer: e.kind = EventKind::timer_created; break;
        case Action::Kind::send_event: e.kind = EventKind::event_sent; break;
        case Action::Kind::complete_orchestration: continue;
      }
      history.push_back(std::move(e));
    }
    return resp;
  }
  template <class F>
  df::OrchestratorResponse start(F& fn, std::string input = "null") {
    return episode(fn, {execution_started(std::move(input))});
  }
};

const Action& only(const df::OrchestratorResponse& r) {
  EXPECT_EQ(r.actions.size(), 1u);
  return r.actions.at(0);
}
void expect_task(const Action& a, int id, const std::string& name, const std::string& input) {
  EXPECT_EQ(a.kind, Action::Kind::schedule_task);
  EXPECT_EQ(a.id, id);
  EXPECT_EQ(a.name, name);
  EXPECT_EQ(a.input, input);
}
void expect_completed(const Action& a, const std::string& result) {
  EXPECT_EQ(a.kind, Action::Kind::complete_orchestration);
  EXPECT_EQ(a.status, df::OrchestrationStatus::completed);
  EXPECT_EQ(a.result, result);
  EXPECT_TRUE(a.failure.empty()) << a.failure.error_type << ": " << a.failure.error_message;
}
void expect_failed(const df::OrchestratorResponse& r, const std::string& type,
                   const std::string& message_part) {
  ASSERT_EQ(r.actions.size(), 1u);
  const Action& a = r.actions[0];
  EXPECT_EQ(a.kind, Action::Kind::complete_orchestration);
  EXPECT_EQ(a.status, df::OrchestrationStatus::failed);
  EXPECT_EQ(a.id, -1);
  EXPECT_EQ(a.failure.error_type, type);
  EXPECT_NE(a.failure.error_message.find(message_part), std::string::npos)
      << a.failure.error_message;
}

TEST(DurableSdk, ChainRunsActivitiesInOrderAndCompletes) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::string a = co_await ctx.call_activity("A", ctx.input());
    std::string b = co_await ctx.call_activity("B", a);
    co_return "[" + a + "," + b + "]";
  };
  Host host;
  expect_task(only(host.start(fn, "\"in\"")), 1, "A", "\"in\"");
  expect_task(only(host.episode(fn, {task_completed(1, "\"a\"")})), 2, "B", "\"a\"");
  expect_completed(only(host.episode(fn, {task_completed(2, "\"b\"")})), R"(["a","b"])");
}

TEST(DurableSdk, OrchestratorWithoutAwaitsCompletesInTheFirstEpisode) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration { co_return ctx.input(); };
  Host host;
  auto r = host.start(fn, "42");
  expect_completed(only(r), "42");
  EXPECT_EQ(r.actions[0].id, 1);  // the next id, as the Durable Task SDKs number it
}

TEST(DurableSdk, DefaultActivityInputIsNull) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    co_return co_await ctx.call_activity("A");
  };
  Host host;
  expect_task(only(host.start(fn)), 1, "A", "null");
}

TEST(DurableSdk, FanOutFanInOfAHundred) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::vector<Task<std::string>> parts;
    for (int i = 0; i < 100; ++i) parts.push_back(ctx.call_activity("Part", std::to_string(i)));
    std::vector<std::string> results = co_await df::when_all(parts);
    long sum = 0;
    for (const auto& r : results) sum += std::stol(r);
    co_return std::to_string(sum) + ":" + results.front() + ":" + results.back();
  };
  Host host;
  auto r = host.start(fn);
  ASSERT_EQ(r.actions.size(), 100u);
  for (int i = 0; i < 100; ++i) expect_task(r.actions[i], i + 1, "Part", std::to_string(i));

  // Half complete (in reverse order): nothing new to do.
  std::vector<HistoryEvent> first, second;
  for (int id = 100; id > 50; --id) first.push_back(task_completed(id, std::to_string(id * 2)));
  for (int id = 1; id <= 50; ++id) second.push_back(task_completed(id, std::to_string(id * 2)));
  EXPECT_TRUE(host.episode(fn, first).actions.empty());
  expect_completed(only(host.episode(fn, second)), "10100:2:200");
}

TEST(DurableSdk, WhenAllThrowsTheFirstFailureAfterAllAreDone) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::vector<Task<std::string>> parts{ctx.call_activity("P"), ctx.call_activity("P"),
                                         ctx.call_activity("P")};
    try {
      co_await df::when_all(parts);
    } catch (const df::TaskFailed& e) {
      co_return "\"" + e.failure().error_message + "\"";
    }
    co_return "\"no failure\"";
  };
  Host host;
  EXPECT_EQ(host.start(fn).actions.size(), 3u);
  // Task 3 fails first, then task 2; task 1 is still running: no answer yet.
  EXPECT_TRUE(host.episode(fn, {task_failed(3, "E", "three"), task_failed(2, "E", "two")})
                  .actions.empty());
  expect_completed(only(host.episode(fn, {task_completed(1, "1")})), "\"two\"");
}

TEST(DurableSdk, WhenAllOfTimers) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::vector<Task<void>> timers{ctx.create_timer(milliseconds(10)),
                                   ctx.create_timer(milliseconds(20))};
    co_await df::when_all(timers);
    co_return "";
  };
  Host host;
  auto r = host.start(fn);
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(r.actions[1].fire_at_ms, kT0 + 20);
  EXPECT_TRUE(host.episode(fn, {timer_fired(2)}).actions.empty());
  expect_completed(only(host.episode(fn, {timer_fired(1)})), "");
}

// Human interaction: an approval event raced against a deadline.
auto approval_orchestrator = [](OrchestrationContext& ctx) -> Orchestration {
  Task<std::string> approval = ctx.wait_for_external_event("Approval");
  Task<void> deadline = ctx.create_timer(std::chrono::hours(1));
  size_t winner = co_await df::when_any(approval, deadline);
  if (winner == 1) co_return "\"timed out\"";
  co_return co_await approval;
};

TEST(DurableSdk, WhenAnyEventBeforeTimer) {
  Host host;
  auto r = host.start(approval_orchestrator);
  const Action& timer = only(r);
  EXPECT_EQ(timer.kind, Action::Kind::create_timer);
  EXPECT_EQ(timer.id, 1);
  EXPECT_EQ(timer.fire_at_ms, kT0 + 3'600'000);
  expect_completed(only(host.episode(approval_orchestrator, {event_raised("approval", "true")})),
                   "true");
}

TEST(DurableSdk, WhenAnyTimerBeforeEvent) {
  Host host;
  host.start(approval_orchestrator);
  expect_completed(only(host.episode(approval_orchestrator, {timer_fired(1)})), "\"timed out\"");
}

TEST(DurableSdk, WhenAnyBothInOneBatchTheFirstWins) {
  {
    Host host;
    host.start(approval_orchestrator);
    expect_completed(only(host.episode(approval_orchestrator,
                                       {timer_fired(1), event_raised("Approval", "true")})),
                     "\"timed out\"");
  }
  {
    Host host;
    host.start(approval_orchestrator);
    expect_completed(only(host.episode(approval_orchestrator,
                                       {event_raised("Approval", "true"), timer_fired(1)})),
                     "true");
  }
}

TEST(DurableSdk, WhenAnyOfAlreadyCompletedTasksGivesTheLowestIndex) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    auto a = ctx.wait_for_external_event("a");
    auto b = ctx.wait_for_external_event("b");
    co_await ctx.create_timer(milliseconds(5));
    // (Named: GCC 12 rejects an initializer-list temporary inside a co_await expression.)
    std::vector<Task<std::string>> both{a, b};
    size_t i = co_await df::when_any(both);
    co_return std::to_string(i);
  };
  Host host;
  host.start(fn);
  expect_completed(
      only(host.episode(fn, {event_raised("b", "1"), event_raised("a", "2"), timer_fired(1)})),
      "0");
}

TEST(DurableSdk, WhenAllOfNothingIsReadyWhenAnyOfNothingFails) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::vector<Task<std::string>> none;
    auto all = co_await df::when_all(none);
    if (ctx.input() == "any") co_await df::when_any(none);
    co_return std::to_string(all.size());
  };
  Host host;
  expect_completed(only(host.start(fn)), "0");
  Host other;
  expect_failed(other.start(fn, "any"), "std::invalid_argument", "at least one task");
}

TEST(DurableSdk, ExternalEventsAreBufferedInOrderAndMatchedCaseInsensitively) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    co_await ctx.create_timer(milliseconds(1));
    std::string a = co_await ctx.wait_for_external_event("Item");
    std::string b = co_await ctx.wait_for_external_event("ITEM");
    std::string c = co_await ctx.wait_for_external_event("item");
    co_return a + b + c;
  };
  Host host;
  host.start(fn);
  // Two arrive before anyone waits (the timer is still pending), one after.
  EXPECT_TRUE(host.episode(fn, {event_raised("item", "1"), event_raised("other", "x"),
                                event_raised("iTeM", "2")})
                  .actions.empty());
  EXPECT_TRUE(host.episode(fn, {timer_fired(1)}).actions.empty());
  expect_completed(only(host.episode(fn, {event_raised("Item", "3")})), "123");
}

TEST(DurableSdk, AnEventGoesToTheCurrentWaitNotToOneAbandonedAfterATimeout) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    for (int turn = 0;; ++turn) {
      Task<std::string> reply = ctx.wait_for_external_event("reply");
      Task<void> timeout = ctx.create_timer(milliseconds(100));
      if (co_await df::when_any(reply, timeout) == 0)
        co_return std::to_string(turn) + ":" + co_await reply;
    }
  };
  Host host;
  EXPECT_EQ(only(host.start(fn)).id, 1);
  EXPECT_EQ(only(host.episode(fn, {timer_fired(1)})).id, 2);  // turn 0 timed out
  EXPECT_EQ(only(host.episode(fn, {timer_fired(2)})).id, 3);  // turn 1 timed out
  expect_completed(only(host.episode(fn, {event_raised("reply", "\"hi\"")})), "2:\"hi\"");
}

TEST(DurableSdk, RetryFailsTwiceThenSucceedsWithBackoffTimers) {
  df::RetryOptions retry{.first_retry_interval = milliseconds(1000),
                         .backoff_coefficient = 2.0,
                         .max_number_of_attempts = 5};
  auto fn = [&retry](OrchestrationContext& ctx) -> Orchestration {
    co_return co_await ctx.call_activity("Flaky", "7", &retry);
  };
  Host host;
  expect_task(only(host.start(fn)), 1, "Flaky", "7");

  int64_t failed_at = host.clock;
  const Action t1 = only(host.episode(fn, {task_failed(1, "std::runtime_error", "no")}));
  EXPECT_EQ(t1.kind, Action::Kind::create_timer);
  EXPECT_EQ(t1.id, 2);
  EXPECT_EQ(t1.fire_at_ms, failed_at + 1000);

  expect_task(only(host.episode(fn, {timer_fired(2)})), 3, "Flaky", "7");

  failed_at = host.clock;
  const Action t2 = only(host.episode(fn, {task_failed(3, "std::runtime_error", "no")}));
  EXPECT_EQ(t2.kind, Action::Kind::create_timer);
  EXPECT_EQ(t2.id, 4);
  EXPECT_EQ(t2.fire_at_ms, failed_at + 2000);

  expect_task(only(host.episode(fn, {timer_fired(4)})), 5, "Flaky", "7");
  expect_completed(only(host.episode(fn, {task_completed(5, "\"ok\"")})), "\"ok\"");
}

TEST(DurableSdk, RetryGivesUpAfterMaxAttemptsWithTheLastFailure) {
  df::RetryOptions retry{.first_retry_interval = milliseconds(100),
                         .backoff_coefficient = 10.0,
                         .max_retry_interval = milliseconds(500),
                         .max_number_of_attempts = 3};
  auto fn = [&retry](OrchestrationContext& ctx) -> Orchestration {
    try {
      co_await ctx.call_activity("Flaky", "null", &retry);
    } catch (const df::TaskFailed& e) {
      co_return "\"" + e.failure().error_type + "/" + e.failure().error_message + "\"";
    }
    co_return "";
  };
  Host host;
  host.start(fn);
  int64_t at = host.clock;
  EXPECT_EQ(only(host.episode(fn, {task_failed(1, "E", "first")})).fire_at_ms, at + 100);
  host.episode(fn, {timer_fired(2)});
  at = host.clock;
  // 100 * 10 = 1000, capped at 500.
  EXPECT_EQ(only(host.episode(fn, {task_failed(3, "E", "second")})).fire_at_ms, at + 500);
  host.episode(fn, {timer_fired(4)});
  expect_completed(only(host.episode(fn, {task_failed(5, "E", "third")})), "\"E/third\"");
}

TEST(DurableSdk, RetryTimeoutStopsRetrying) {
  df::RetryOptions retry{.first_retry_interval = milliseconds(10),
                         .max_number_of_attempts = 10,
                         .retry_timeout = milliseconds(1500)};
  auto fn = [&retry](OrchestrationContext& ctx) -> Orchestration {
    co_return co_await ctx.call_activity("Flaky", "null", &retry);
  };
  Host host;
  host.start(fn);                                     // t0
  host.episode(fn, {task_failed(1, "E", "a")});       // t0+1s: retry
  host.episode(fn, {timer_fired(2)});                 // t0+2s
  auto r = host.episode(fn, {task_failed(3, "E", "b")});  // t0+3s: past the timeout
  expect_failed(r, "nimbus::durable::TaskFailed", "b");
}

TEST(DurableSdk, SubOrchestrationSucceeds) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::string a = co_await ctx.call_sub_orchestrator("Child", "1");
    std::string b = co_await ctx.call_sub_orchestrator("Child", "2", "child-2");
    co_return a + b;
  };
  Host host;
  const Action a1 = only(host.start(fn));
  EXPECT_EQ(a1.kind, Action::Kind::create_sub_orchestration);
  EXPECT_EQ(a1.name, "Child");
  EXPECT_EQ(a1.input, "1");
  EXPECT_EQ(a1.instance_id, "");
  const Action a2 = only(host.episode(fn, {sub_completed(1, "\"x\"")}));
  EXPECT_EQ(a2.id, 2);
  EXPECT_EQ(a2.instance_id, "child-2");
  expect_completed(only(host.episode(fn, {sub_completed(2, "\"y\"")})), "\"x\"\"y\"");
}

TEST(DurableSdk, SubOrchestrationFailureThrowsTaskFailed) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    try {
      co_await ctx.call_sub_orchestrator("Child");
    } catch (const df::TaskFailed& e) {
      EXPECT_NE(std::string(e.what()).find("sub-orchestration 'Child' failed"),
                std::string::npos);
      co_return "\"" + e.failure().error_type + "\"";
    }
    co_return "";
  };
  Host host;
  host.start(fn);
  expect_completed(only(host.episode(fn, {sub_failed(1, "std::logic_error", "bad")})),
                   "\"std::logic_error\"");
}

TEST(DurableSdk, UncaughtSubOrchestrationFailureFailsTheParent) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    co_return co_await ctx.call_sub_orchestrator("Child");
  };
  Host host;
  host.start(fn);
  expect_failed(host.episode(fn, {sub_failed(1, "X", "child broke")}),
                "nimbus::durable::TaskFailed", "child broke");
}

TEST(DurableSdk, ContinueAsNewWithoutCarryover) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    int n = std::stoi(ctx.input());
    co_await ctx.create_timer(milliseconds(10));
    ctx.continue_as_new(std::to_string(n + 1));
    co_return "ignored";
  };
  Host host;
  host.start(fn, "1");
  host.history.push_back(event_raised("e", "1"));  // an event nobody waited for
  auto r = host.episode(fn, {timer_fired(1)});
  const Action& a = only(r);
  EXPECT_EQ(a.kind, Action::Kind::complete_orchestration);
  EXPECT_EQ(a.status, df::OrchestrationStatus::continued_as_new);
  EXPECT_EQ(a.result, "2");
  EXPECT_TRUE(a.carryover_events.empty());
}

TEST(DurableSdk, ContinueAsNewCarriesOverUnconsumedEvents) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::string first = co_await ctx.wait_for_external_event("work");
    ctx.send_event("other", "ping", first);  // fire-and-forget actions go out with it
    ctx.continue_as_new(first, true);
    co_return "";
  };
  Host host;
  host.start(fn);
  auto r = host.episode(fn, {event_raised("work", "1"), event_raised("work", "2"),
                             event_raised("Other", "3")});
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(r.actions[0].kind, Action::Kind::send_event);
  EXPECT_EQ(r.actions[0].instance_id, "other");
  const Action& a = r.actions[1];
  EXPECT_EQ(a.status, df::OrchestrationStatus::continued_as_new);
  EXPECT_EQ(a.id, 2);
  EXPECT_EQ(a.result, "1");
  ASSERT_EQ(a.carryover_events.size(), 2u);
  EXPECT_EQ(a.carryover_events[0].kind, EventKind::event_raised);
  EXPECT_EQ(a.carryover_events[0].name, "work");
  EXPECT_EQ(a.carryover_events[0].input, "2");
  EXPECT_EQ(a.carryover_events[1].name, "Other");
  EXPECT_EQ(a.carryover_events[1].input, "3");
}

TEST(DurableSdk, CustomStatusIsTheLastValueSet) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    ctx.set_custom_status(R"({"step":1})");
    co_await ctx.call_activity("A");
    ctx.set_custom_status(R"({"step":2})");
    co_await ctx.call_activity("B");
    co_return "";
  };
  Host host;
  EXPECT_EQ(host.start(fn).custom_status, R"({"step":1})");
  EXPECT_EQ(host.episode(fn, {task_completed(1, "")}).custom_status, R"({"step":2})");
}

TEST(DurableSdk, NewGuidIsDeterministicAcrossReplays) {
  std::vector<std::string> seen;
  auto fn = [&seen](OrchestrationContext& ctx) -> Orchestration {
    seen.push_back(ctx.new_guid());
    seen.push_back(ctx.new_guid());
    co_await ctx.create_timer(milliseconds(1));
    seen.push_back(ctx.new_guid());  // later episode: another clock
    co_await ctx.create_timer(milliseconds(1));
    co_return "";
  };
  Host host;
  host.start(fn);
  ASSERT_EQ(seen.size(), 2u);
  auto first = seen;
  seen.clear();
  host.episode(fn, {timer_fired(1)});
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], first[0]);
  EXPECT_EQ(seen[1], first[1]);
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_NE(seen[2], seen[0]);
  auto third = seen[2];
  seen.clear();
  host.episode(fn, {timer_fired(2)});
  EXPECT_EQ(seen, (std::vector<std::string>{first[0], first[1], third}));
  std::regex v5("[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  for (const auto& g : seen) EXPECT_TRUE(std::regex_match(g, v5)) << g;
}

TEST(DurableSdk, Sha1AndIsoTimeHelpers) {
  auto h = df::detail::sha1("abc");
  std::string hex;
  for (unsigned char c : h) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  EXPECT_EQ(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  auto h2 = df::detail::sha1(std::string(1000, 'a'));  // several blocks
  EXPECT_NE(h2, h);
  EXPECT_EQ(df::detail::iso8601_ms(kT0 + 3'723'004), "2026-01-01T01:02:03.004Z");
  EXPECT_EQ(df::detail::iso8601_ms(0), "1970-01-01T00:00:00.000Z");
}

TEST(DurableSdk, NowFollowsTheReplayedEpisodesClock) {
  std::vector<int64_t> seen;
  auto fn = [&seen](OrchestrationContext& ctx) -> Orchestration {
    auto ms = [&] {
      return std::chrono::duration_cast<milliseconds>(ctx.now().time_since_epoch()).count();
    };
    seen.push_back(ms());
    co_await ctx.call_activity("A");
    seen.push_back(ms());
    co_await ctx.call_activity("A");
    co_return "";
  };
  Host host;
  host.start(fn);
  seen.clear();
  host.episode(fn, {task_completed(1, "")}, 5000);
  EXPECT_EQ(seen, (std::vector<int64_t>{kT0, kT0 + 1000}));
}

TEST(DurableSdk, IsReplayingIsTrueOnlyForPastEvents) {
  std::vector<bool> seen;
  auto fn = [&seen](OrchestrationContext& ctx) -> Orchestration {
    seen.push_back(ctx.is_replaying());
    co_await ctx.call_activity("A");
    seen.push_back(ctx.is_replaying());
    co_await ctx.call_activity("B");
    seen.push_back(ctx.is_replaying());
    co_return "";
  };
  Host host;
  host.start(fn);
  EXPECT_EQ(seen, std::vector<bool>{false});
  seen.clear();
  host.episode(fn, {task_completed(1, "")});
  EXPECT_EQ(seen, (std::vector<bool>{true, false}));
  seen.clear();
  host.episode(fn, {task_completed(2, "")});
  EXPECT_EQ(seen, (std::vector<bool>{true, true, false}));
}

TEST(DurableSdk, ResponseHoldsOnlyNewActions) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    auto a = ctx.call_activity("A");
    ctx.send_event("peer", "hello", "1");
    co_await a;
    auto b = ctx.call_activity("B");
    co_await ctx.create_timer(milliseconds(5));
    co_await b;
    co_return "";
  };
  Host host;
  auto r = host.start(fn);
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(r.actions[1].kind, Action::Kind::send_event);
  EXPECT_EQ(r.actions[1].name, "hello");
  EXPECT_EQ(r.actions[1].id, 2);
  r = host.episode(fn, {task_completed(1, "")});
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(r.actions[0].id, 3);
  EXPECT_EQ(r.actions[1].id, 4);
  EXPECT_TRUE(host.episode(fn, {timer_fired(4)}).actions.empty());
  expect_completed(only(host.episode(fn, {task_completed(3, "")})), "");
}

df::OrchestratorResponse run_once(auto& fn, std::vector<HistoryEvent> past,
                                  std::vector<HistoryEvent> fresh) {
  df::OrchestratorRequest req;
  req.instance_id = "inst-1";
  req.past_events = std::move(past);
  req.new_events = std::move(fresh);
  df::OrchestratorResponse resp;
  df::execute(fn, req, resp);
  return resp;
}

TEST(DurableSdk, NonDeterminismActivityNameChanged) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    co_await ctx.call_activity("B");
    co_return "";
  };
  auto r = run_once(fn, {orchestrator_started(kT0), execution_started(""), task_scheduled(1, "A")},
                    {orchestrator_started(kT0 + 1), task_completed(1, "")});
  expect_failed(r, "NonDeterminismError", "schedule_task 'B' (id 1)");
  EXPECT_NE(r.actions[0].failure.error_message.find("task_scheduled 'A' (event id 1)"),
            std::string::npos);
}

TEST(DurableSdk, NonDeterminismTimerInHistoryTaskInCode) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    co_await ctx.call_activity("A");
    co_return "";
  };
  auto r = run_once(fn,
                    {orchestrator_started(kT0), execution_started(""), timer_created(1, kT0 + 5)},
                    {orchestrator_started(kT0 + 1), timer_fired(1)});
  expect_failed(r, "NonDeterminismError", "timer_created (event id 1)");
  EXPECT_NE(r.actions[0].failure.error_message.find("schedule_task 'A' (id 1)"),
            std::string::npos);
}

TEST(DurableSdk, NonDeterminismHistoryEventNeverIssued) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    co_await ctx.call_activity("A");
    co_return "";
  };
  auto r = run_once(fn,
                    {orchestrator_started(kT0), execution_started(""), task_scheduled(1, "A"),
                     task_scheduled(2, "A")},
                    {orchestrator_started(kT0 + 1), event_raised("x", "")});
  expect_failed(r, "NonDeterminismError", "task_scheduled 'A' (event id 2)");
}

TEST(DurableSdk, NonDeterminismCompletionOfAnotherKind) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    co_await ctx.call_activity("A");
    co_return "";
  };
  auto r = run_once(fn, {orchestrator_started(kT0), execution_started(""), task_scheduled(1, "A")},
                    {orchestrator_started(kT0 + 1), timer_fired(1)});
  expect_failed(r, "NonDeterminismError", "timer_fired for id 1");
}

TEST(DurableSdk, DuplicateAndUnknownCompletionsAreIgnored) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    std::string a = co_await ctx.call_activity("A");
    std::string b = co_await ctx.call_activity("B");
    co_return a + b;
  };
  Host host;
  host.start(fn);
  expect_task(only(host.episode(fn, {task_completed(1, "1"), task_completed(1, "9"),
                                     task_completed(77, "9")})),
              2, "B", "null");
  expect_completed(only(host.episode(fn, {task_completed(2, "2")})), "12");
}

TEST(DurableSdk, SubOrchestrationRetry) {
  df::RetryOptions retry{.first_retry_interval = milliseconds(250), .max_number_of_attempts = 2};
  auto fn = [&retry](OrchestrationContext& ctx) -> Orchestration {
    co_return co_await ctx.call_sub_orchestrator("Child", "5", "", &retry);
  };
  Host host;
  EXPECT_EQ(only(host.start(fn)).kind, Action::Kind::create_sub_orchestration);
  int64_t at = host.clock;
  const Action timer = only(host.episode(fn, {sub_failed(1, "E", "once")}));
  EXPECT_EQ(timer.kind, Action::Kind::create_timer);
  EXPECT_EQ(timer.fire_at_ms, at + 250);
  const Action again = only(host.episode(fn, {timer_fired(2)}));
  EXPECT_EQ(again.kind, Action::Kind::create_sub_orchestration);
  EXPECT_EQ(again.id, 3);
  EXPECT_EQ(again.input, "5");
  expect_completed(only(host.episode(fn, {sub_completed(3, "\"done\"")})), "\"done\"");
}

TEST(DurableSdk, NothingRunsAfterTheOrchestratorReturned) {
  auto side = [](OrchestrationContext& ctx) -> Task<void> {
    co_await ctx.wait_for_external_event("late");
    ctx.call_activity("TooLate");
  };
  auto fn = [&side](OrchestrationContext& ctx) -> Orchestration {
    auto s = side(ctx);
    co_return co_await ctx.wait_for_external_event("first");
  };
  Host host;
  EXPECT_TRUE(host.start(fn).actions.empty());
  expect_completed(only(host.episode(fn, {event_raised("first", "1"), event_raised("late", "2")})),
                   "1");
}

TEST(DurableSdk, UncaughtExceptionFailsWithItsTypeAndMessage) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    ctx.send_event("peer", "dropped");  // the failure replaces every other action
    co_await ctx.call_activity("A");
    throw std::invalid_argument("bad input");
  };
  Host host;
  host.start(fn);
  expect_failed(host.episode(fn, {task_completed(2, "")}), "std::invalid_argument",
                "bad input");
}

TEST(DurableSdk, NonStdExceptionFailsAsUnknown) {
  auto fn = [](OrchestrationContext& ctx) -> Orchestration {
    if (ctx.input() == "1") throw 7;
    co_return "";
  };
  Host host;
  expect_failed(host.start(fn, "1"), "unknown", "not a std::exception");
}

struct Tracker {
  int* live;
  explicit Tracker(int* l) : live(l) { ++*live; }
  ~Tracker() { --*live; }
};

TEST(DurableSdk, SuspendedFramesAreDestroyedAtTheEndOfAnEpisode) {
  int live = 0;
  auto helper = [&live](OrchestrationContext& ctx) -> Task<std::string> {
    Tracker t(&live);
    co_return co_await ctx.wait_for_external_event("never");
  };
  auto fn = [&live, &helper](OrchestrationContext& ctx) -> Orchestration {
    Tracker t(&live);
    auto h = helper(ctx);
    std::vector<Task<std::string>> many;
    for (int i = 0; i < 3; ++i) many.push_back(ctx.call_activity("A"));
    co_await df::when_all(many);
    co_return co_await h;
  };
  Host host;
  EXPECT_EQ(host.start(fn).actions.size(), 3u);
  EXPECT_EQ(live, 0);
  host.episode(fn, {task_completed(2, "")});
  EXPECT_EQ(live, 0);
}

TEST(DurableSdk, HelperCoroutinesComposeLikeTasks) {
  auto step = [](OrchestrationContext& ctx, std::string item) -> Task<std::string> {
    std::string a = co_await ctx.call_activity("Fetch", item);
    co_return co_await ctx.call_activity("Store", a);
  };
  auto pause = [](OrchestrationContext& ctx) -> Task<void> {
    co_await ctx.create_timer(milliseconds(1));
  };
  auto fn = [&](OrchestrationContext& ctx) -> Orchestration {
    std::vector<Task<std::string>> chains{step(ctx, "1"), step(ctx, "2")};
    auto results = co_await df::when_all(chains);
    co_await pause(ctx);
    co_return results[0] + results[1];
  };
  Host host;
  auto r = host.start(fn);
  ASSERT_EQ(r.actions.size(), 2u);
  expect_task(r.actions[0], 1, "Fetch", "1");
  expect_task(r.actions[1], 2, "Fetch", "2");
  expect_task(only(host.episode(fn, {task_completed(2, "\"b\"")})), 3, "Store", "\"b\"");
  expect_task(only(host.episode(fn, {task_completed(1, "\"a\"")})), 4, "Store", "\"a\"");
  r = host.episode(fn, {task_completed(3, "\"B\""), task_completed(4, "\"A\"")});
  EXPECT_EQ(only(r).kind, Action::Kind::create_timer);
  expect_completed(only(host.episode(fn, {timer_fired(5)})), "\"A\"\"B\"");
}

TEST(DurableSdk, HelperCoroutineFailurePropagatesItsException) {
  auto helper = [](OrchestrationContext& ctx) -> Task<void> {
    co_await ctx.create_timer(milliseconds(1));
    throw std::out_of_range("helper");
  };
  auto fn = [&](OrchestrationContext& ctx) -> Orchestration {
    try {
      co_await helper(ctx);
    } catch (const std::out_of_range& e) {
      co_return std::string("\"") + e.what() + "\"";
    }
    co_return "";
  };
  Host host;
  host.start(fn);
  expect_completed(only(host.episode(fn, {timer_fired(1)})), "\"helper\"");
}

TEST(DurableSdk, TasksOutsideAnEpisodeAreRefused) {
  auto helper = []() -> Task<void> { co_return; };
  EXPECT_THROW(helper(), std::logic_error);
}

Orchestration free_orchestrator(OrchestrationContext& ctx) {
  co_await ctx.create_timer(milliseconds(1));
  co_return ctx.instance_id();
}

TEST(DurableSdk, AppOrchestratorTakesAFreeFunction) {
  nimbus::App app;
  app.orchestrator("Free", free_orchestrator);
  Host host;
  auto& handler = app.find("Free")->orchestrator_handler;
  host.start(handler);
  expect_completed(only(host.episode(handler, {timer_fired(1)})), "inst-1");
}

TEST(DurableSdk, AppOrchestratorWrapsTheCoroutine) {
  nimbus::App app;
  app.orchestrator("Echo", [](OrchestrationContext& ctx) -> Orchestration {
    co_return co_await ctx.call_activity("Upper", ctx.input());
  });
  const auto* f = app.find("Echo");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->orchestrator_handler);
  df::OrchestratorRequest req;
  req.instance_id = "i";
  req.new_events = {orchestrator_started(kT0), execution_started("\"x\"")};
  df::OrchestratorResponse resp;
  f->orchestrator_handler(req, resp);
  expect_task(only(resp), 1, "Upper", "\"x\"");
}

// An app defining an orchestrator as a lambda inside NIMBUS_APP, as the SDK's usage comment
// shows: GCC 12 failed to assemble that when the body was the extern "C" function itself.
}  // namespace
NIMBUS_APP(app) {
  namespace df = nimbus::durable;
  app.orchestrator("Inline", [](df::OrchestrationContext& ctx) -> df::Orchestration {
    co_return co_await ctx.call_activity("Step", ctx.input());
  });
}
namespace {

TEST(DurableSdk, OrchestratorLambdaInsideNimbusApp) {
  EXPECT_EQ(nimbus_sdk_version(), nimbus::kSdkVersion);
  nimbus::App app;
  nimbus_define_app(app);
  const auto* f = app.find("Inline");
  ASSERT_NE(f, nullptr);
  df::OrchestratorRequest req;
  req.new_events = {orchestrator_started(kT0), execution_started("1")};
  df::OrchestratorResponse resp;
  f->orchestrator_handler(req, resp);
  expect_task(only(resp), 1, "Step", "1");
}

TEST(DurableSdk, CheckStatusResponse) {
  nimbus::HttpRequest req;
  req.headers = {{"host", "example.test:7071"}};
  auto r = df::create_check_status_response(req, "abc 1");
  EXPECT_EQ(r.status, 202);
  const std::string base = "http://example.test:7071/runtime/webhooks/durabletask/instances/abc%201";
  auto header = [&](const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return std::string();
  };
  EXPECT_EQ(header("Location"), base);
  EXPECT_EQ(header("Retry-After"), "10");
  EXPECT_EQ(header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, "{\"id\":\"abc 1\",\"statusQueryGetUri\":\"" + base +
                        "\",\"sendEventPostUri\":\"" + base +
                        "/raiseEvent/{eventName}\",\"terminatePostUri\":\"" + base +
                        "/terminate?reason={text}\",\"purgeHistoryDeleteUri\":\"" + base +
                        "\",\"suspendPostUri\":\"" + base +
                        "/suspend?reason={text}\",\"resumePostUri\":\"" + base +
                        "/resume?reason={text}\"}");
}

// The host writes history events as text directly (to_json); it must be exactly the text of
// the JSON object form, escapes included, or stored histories would differ by path.
TEST(DurableEvents, ToJsonIsTheSerializedObjectForm) {
  namespace de = nimbus::api::durable_events;
  std::vector<HistoryEvent> events;
  auto done = ev(EventKind::task_completed);
  done.timestamp_ms = kT0;
  done.task_scheduled_id = 3;
  done.execution_id = "0123456789abcdef0123456789abcdef";
  done.result = "9";
  events.push_back(done);
  auto odd = ev(EventKind::event_raised);
  odd.event_id = 12;
  odd.name = "quote\" back\\slash \n\t\x01 del\x7f";
  odd.input = std::string("utf8 \xc3\xa9 and a raw \xff byte and nul ") + std::string(1, '\0');
  odd.instance_id = "/id?";
  events.push_back(odd);
  auto fin = ev(EventKind::execution_completed);
  fin.status = df::OrchestrationStatus::failed;
  fin.failure = {"std::runtime_error", "bad \"thing\""};
  fin.fire_at_ms = -5;
  events.push_back(fin);
  events.push_back(ev(EventKind::orchestrator_started));
  for (const auto& e : events)
    EXPECT_EQ(de::to_json(e), boost::json::serialize(de::to_object(e)));
}

}  // namespace
