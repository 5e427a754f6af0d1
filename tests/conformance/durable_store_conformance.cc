// The durable store conformance suite: every observable rule of api::DurableStore and of the
// durable Effects parts, checked on a fake clock. See durable_store_conformance.h for how a
// backend joins.
#include "durable_store_conformance.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

namespace nimbus::conformance {

using api::QueueErrc;
using api::RuntimeStatus;

void DurableStoreConformance::SetUp() {
  char tmpl[] = "/tmp/nimbus-durable-conformance-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  store_ = GetParam()->open(dir_, clock_);
  ASSERT_NE(store_, nullptr);
  sync_ = std::make_unique<SyncDurable>(*store_, effects());
}

void DurableStoreConformance::TearDown() {
  if (store_) effects().set_notice_listener(nullptr);
  sync_.reset();
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void DurableStoreConformance::reopen() {
  sync_.reset();
  store_.reset();
  store_ = GetParam()->open(dir_, clock_);
  ASSERT_NE(store_, nullptr);
  sync_ = std::make_unique<SyncDurable>(*store_, effects());
}

namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message
#define EXPECT_OK(r) EXPECT_TRUE((r).ok()) << (r).error().message
#define EXPECT_ERR(expr, errc)                                  \
  do {                                                          \
    auto r_ = (expr);                                           \
    ASSERT_FALSE(r_.ok()) << #expr " succeeded";                \
    EXPECT_EQ(r_.error().code, errc) << r_.error().message;     \
  } while (0)

std::string started_event(const std::string& id) {
  return R"({"kind":"executionStarted","eventId":-1,"name":"Flow","instanceId":")" + id + "\"}";
}
std::string raised(const std::string& name) {
  return R"({"kind":"eventRaised","eventId":-1,"name":")" + name + "\"}";
}
std::string hist(int n) { return R"({"kind":"taskScheduled","eventId":)" + std::to_string(n) + "}"; }

api::OrchestrationStart start_write(const std::string& id, const std::string& execution,
                                    api::UnixMillis start_at = 0) {
  api::OrchestrationStart w;
  w.instance.id = id;
  w.instance.name = "Flow";
  w.instance.execution_id = execution;
  w.instance.input = "\"in-" + id + "\"";
  w.started = started_event(id);
  w.start_at = start_at;
  return w;
}

api::EpisodeAck ack(const std::string& id, const std::string& execution,
                    std::vector<int64_t> consumed, std::vector<std::string> history = {},
                    RuntimeStatus status = RuntimeStatus::running) {
  api::EpisodeAck a;
  a.instance_id = id;
  a.execution_id = execution;
  a.consumed = std::move(consumed);
  a.history = std::move(history);
  a.status = status;
  return a;
}

api::ActivityTask task(const std::string& id, const std::string& execution, int task_id,
                       const std::string& name = "Square") {
  return {id, execution, task_id, name, std::to_string(task_id)};
}

api::Effects with(std::vector<api::Write> writes) {
  api::Effects fx;
  fx.writes = std::move(writes);
  return fx;
}

int64_t seq_of(const api::CommitReceipt& r, size_t i) {
  return std::get<api::DurableReceipt>(r.writes.at(i)).seq;
}

std::vector<int64_t> seqs(const api::Episode& e) {
  std::vector<int64_t> out;
  for (const auto& i : e.inbox) out.push_back(i.seq);
  return out;
}
std::vector<std::string> events(const api::Episode& e) {
  std::vector<std::string> out;
  for (const auto& i : e.inbox) out.push_back(i.event);
  return out;
}

const api::QueueRef kOutQueue{"devstoreaccount1", "side-effects"};

std::set<std::string> ids(const std::vector<api::InstanceState>& v) {
  std::set<std::string> out;
  for (const auto& s : v) out.insert(s.id);
  return out;
}

bool same_task(const api::ActivityTask& a, const api::ActivityTask& b) {
  return a.instance_id == b.instance_id && a.execution_id == b.execution_id &&
         a.task_id == b.task_id && a.name == b.name && a.input == b.input;
}

}  // namespace

int64_t DurableStoreConformance::start(const std::string& id, const std::string& execution,
                                       api::UnixMillis start_at) {
  auto r = commit(with({start_write(id, execution.empty() ? id + "-e1" : execution, start_at)}));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? seq_of(r.value(), 0) : 0;
}

int64_t DurableStoreConformance::send(const std::string& id, const std::string& event,
                                      api::UnixMillis visible_at) {
  auto r = commit(with({api::OrchestrationEvent{id, event, visible_at, false}}));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? seq_of(r.value(), 0) : 0;
}

void DurableStoreConformance::finish_episode(const std::string& id, RuntimeStatus status,
                                             std::vector<std::string> history,
                                             std::string output) {
  auto ep = sync().episode(id, false);
  ASSERT_OK(ep);
  auto a = ack(id, ep.value().instance.execution_id, seqs(ep.value()), std::move(history), status);
  a.output = std::move(output);
  api::Effects fx;
  fx.acknowledge(std::move(a));
  ASSERT_OK(commit(std::move(fx)));
}

// --- starting ----------------------------------------------------------------------------------

TEST_P(DurableStoreConformance, StartCreatesAPendingInstanceWithItsStartedEventVisibleNow) {
  auto w = start_write("order-1", "exec-1");
  w.instance.parent = R"({"instanceId":"p","executionId":"pe","taskScheduledId":2})";
  auto r = commit(with({w}));
  ASSERT_OK(r);
  ASSERT_EQ(r.value().writes.size(), 1u);
  int64_t seq = seq_of(r.value(), 0);
  EXPECT_GT(seq, 0);

  auto s = sync().get("order-1");
  ASSERT_OK(s);
  EXPECT_EQ(s.value().id, "order-1");
  EXPECT_EQ(s.value().name, "Flow");
  EXPECT_EQ(s.value().execution_id, "exec-1");
  EXPECT_EQ(s.value().status, RuntimeStatus::pending);
  EXPECT_EQ(s.value().input, "\"in-order-1\"");
  EXPECT_EQ(s.value().parent, w.instance.parent);
  EXPECT_EQ(s.value().output, "");
  EXPECT_EQ(s.value().created, now());
  EXPECT_EQ(s.value().updated, now());
  EXPECT_EQ(s.value().completed, 0);
  EXPECT_EQ(s.value().history_events, 0);

  auto ep = sync().episode("order-1");
  ASSERT_OK(ep);
  EXPECT_EQ(seqs(ep.value()), std::vector<int64_t>{seq});
  EXPECT_EQ(events(ep.value()), std::vector<std::string>{started_event("order-1")});
  EXPECT_TRUE(ep.value().history.empty());
  EXPECT_EQ(ep.value().next_visible, 0);
  EXPECT_TRUE(sync().history("order-1").value().empty());
}

TEST_P(DurableStoreConformance, StartAtLaterIsInvisibleUntilItsTimeAndReportedAsNextVisible) {
  api::UnixMillis at = now() + 60'000;
  int64_t seq = start("later", "", at);
  auto ep = sync().episode("later");
  ASSERT_OK(ep);
  EXPECT_TRUE(ep.value().inbox.empty());
  EXPECT_EQ(ep.value().next_visible, at);
  EXPECT_EQ(ep.value().instance.status, RuntimeStatus::pending);

  clock_.now = at - 1;
  EXPECT_TRUE(sync().episode("later").value().inbox.empty());
  clock_.now = at;
  ep = sync().episode("later");
  EXPECT_EQ(seqs(ep.value()), std::vector<int64_t>{seq});
  EXPECT_EQ(ep.value().next_visible, 0);

  // A start time in the past means now.
  start("past", "", now() - 5'000);
  EXPECT_EQ(sync().episode("past").value().inbox.size(), 1u);
}

TEST_P(DurableStoreConformance, LoadEpisodeOfAMissingInstanceIsNotFound) {
  EXPECT_ERR(sync().get("nobody"), QueueErrc::queue_not_found);
  EXPECT_ERR(sync().episode("nobody"), QueueErrc::queue_not_found);
  EXPECT_ERR(sync().history("nobody"), QueueErrc::queue_not_found);
}

TEST_P(DurableStoreConformance, StartingANonTerminalInstanceAgainFailsAndChangesNothing) {
  for (RuntimeStatus st : {RuntimeStatus::pending, RuntimeStatus::running,
                           RuntimeStatus::suspended, RuntimeStatus::continued_as_new}) {
    std::string id = std::string("busy-") + api::runtime_status_name(st);
    start(id);
    if (st != RuntimeStatus::pending) finish_episode(id, st, {hist(1)});
    send(id, raised("kept"), now() + 1000);
    auto before = sync().episode(id).value();

    // The refused start comes with a queue put and a work item: neither may land.
    api::Effects fx = with({start_write(id, "other-exec"), task(id, "other-exec", 1)});
    fx.put({kOutQueue, "must not land"});
    EXPECT_ERR(commit(std::move(fx)), QueueErrc::queue_already_exists);

    auto after = sync().episode(id).value();
    EXPECT_EQ(after.instance.execution_id, id + "-e1") << id;
    EXPECT_EQ(after.instance.status, st) << id;
    EXPECT_EQ(after.history, before.history) << id;
    EXPECT_EQ(seqs(after), seqs(before)) << id;
    EXPECT_EQ(after.next_visible, before.next_visible) << id;
  }
  auto queues = GetParam()->queues(*store_);
  EXPECT_ERR(SyncQueueStore(*queues).props(kOutQueue), QueueErrc::queue_not_found);
  EXPECT_TRUE(sync().recover().value().tasks.empty());
}

TEST_P(DurableStoreConformance, StartingATerminalInstanceReplacesItAndDropsHistoryInboxAndTasks) {
  for (RuntimeStatus st : {RuntimeStatus::completed, RuntimeStatus::failed,
                           RuntimeStatus::terminated, RuntimeStatus::canceled}) {
    std::string id = std::string("done-") + api::runtime_status_name(st);
    start(id);
    // Leave a late inbox event (a timer) and an unfinished work item behind.
    auto ep = sync().episode(id).value();
    api::Effects fx = with({task(id, id + "-e1", 1),
                            api::OrchestrationEvent{id, raised("timer"), now() + 60'000, false}});
    auto a = ack(id, id + "-e1", seqs(ep), {hist(1), hist(2)}, st);
    a.output = "\"out\"";
    a.failure = R"({"errorType":"E","errorMessage":"m"})";
    a.custom_status = "\"cs\"";
    fx.acknowledge(std::move(a));
    ASSERT_OK(commit(std::move(fx)));
    ASSERT_EQ(sync().get(id).value().status, st);

    clock_.advance_seconds(1);
    int64_t seq = start(id, id + "-e2");
    ASSERT_GT(seq, 0) << id;
    auto s = sync().get(id).value();
    EXPECT_EQ(s.execution_id, id + "-e2");
    EXPECT_EQ(s.status, RuntimeStatus::pending);
    EXPECT_EQ(s.output, "");
    EXPECT_EQ(s.failure, "");
    EXPECT_EQ(s.custom_status, "");
    EXPECT_EQ(s.completed, 0);
    EXPECT_EQ(s.history_events, 0);
    EXPECT_EQ(s.created, now());
    auto after = sync().episode(id).value();
    EXPECT_TRUE(after.history.empty()) << id;
    EXPECT_EQ(seqs(after), std::vector<int64_t>{seq}) << id;
    EXPECT_EQ(after.next_visible, 0) << id << ": the old execution's timer is gone";
  }
  EXPECT_TRUE(sync().recover().value().tasks.empty()) << "the old executions' work items are gone";
}

// --- episodes ----------------------------------------------------------------------------------

TEST_P(DurableStoreConformance, EpisodeAckConsumesExactlyTheListedEventsAndAppendsHistoryInOrder) {
  int64_t s0 = start("flow");
  int64_t s1 = send("flow", raised("one"));
  int64_t s2 = send("flow", raised("two"));
  EXPECT_LT(s0, s1);
  EXPECT_LT(s1, s2);
  EXPECT_EQ(seqs(sync().episode("flow").value()), (std::vector<int64_t>{s0, s1, s2}));

  clock_.advance_seconds(2);
  auto a = ack("flow", "flow-e1", {s0, s1}, {hist(1), hist(2), hist(3)});
  a.custom_status = R"({"step":1})";
  api::Effects fx;
  fx.acknowledge(std::move(a));
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  EXPECT_TRUE(r.value().writes.empty());

  auto ep = sync().episode("flow").value();
  EXPECT_EQ(seqs(ep), std::vector<int64_t>{s2});
  EXPECT_EQ(ep.history, (std::vector<std::string>{hist(1), hist(2), hist(3)}));
  EXPECT_EQ(ep.instance.status, RuntimeStatus::running);
  EXPECT_EQ(ep.instance.history_events, 3);
  EXPECT_EQ(ep.instance.custom_status, R"({"step":1})");
  EXPECT_EQ(ep.instance.updated, now());
  EXPECT_EQ(ep.instance.completed, 0);
  EXPECT_LT(ep.instance.created, now());
  EXPECT_TRUE(sync().episode("flow", false).value().history.empty()) << "history only when asked";

  clock_.advance_seconds(3);
  a = ack("flow", "flow-e1", {s2}, {hist(4)}, RuntimeStatus::completed);
  a.output = "42";
  a.custom_status = R"({"step":2})";
  fx = {};
  fx.acknowledge(std::move(a));
  ASSERT_OK(commit(std::move(fx)));
  auto s = sync().get("flow").value();
  EXPECT_EQ(s.status, RuntimeStatus::completed);
  EXPECT_EQ(s.output, "42");
  EXPECT_EQ(s.custom_status, R"({"step":2})");
  EXPECT_EQ(s.completed, now());
  EXPECT_EQ(s.updated, now());
  EXPECT_EQ(s.history_events, 4);
  EXPECT_EQ(sync().history("flow").value(),
            (std::vector<std::string>{hist(1), hist(2), hist(3), hist(4)}));
  EXPECT_TRUE(sync().episode("flow").value().inbox.empty());
}

TEST_P(DurableStoreConformance, EpisodeAckRecordsAFailureAndItsCompletedTime) {
  start("bad");
  clock_.advance_seconds(1);
  auto ep = sync().episode("bad").value();
  auto a = ack("bad", "bad-e1", seqs(ep), {hist(1)}, RuntimeStatus::failed);
  a.failure = R"({"errorType":"std::runtime_error","errorMessage":"boom"})";
  api::Effects fx;
  fx.acknowledge(std::move(a));
  ASSERT_OK(commit(std::move(fx)));
  auto s = sync().get("bad").value();
  EXPECT_EQ(s.status, RuntimeStatus::failed);
  EXPECT_EQ(s.failure, R"({"errorType":"std::runtime_error","errorMessage":"boom"})");
  EXPECT_EQ(s.output, "");
  EXPECT_EQ(s.completed, now());
}

TEST_P(DurableStoreConformance, ContinueAsNewResetsHistoryWithTheNewExecutionIdAndInput) {
  int64_t s0 = start("loop");
  api::Effects fx;
  fx.acknowledge(ack("loop", "loop-e1", {s0}, {hist(1), hist(2)}));
  ASSERT_OK(commit(std::move(fx)));
  int64_t carried = send("loop", raised("carried"));

  auto a = ack("loop", "loop-e1", {carried}, {hist(10)});
  a.reset_history = true;
  a.new_execution_id = "loop-e2";
  a.input = "\"round 2\"";
  fx = {};
  fx.acknowledge(std::move(a));
  ASSERT_OK(commit(std::move(fx)));
  auto s = sync().get("loop").value();
  EXPECT_EQ(s.execution_id, "loop-e2");
  EXPECT_EQ(s.input, "\"round 2\"");
  EXPECT_EQ(s.history_events, 1);
  EXPECT_EQ(s.status, RuntimeStatus::running);
  EXPECT_EQ(sync().history("loop").value(), std::vector<std::string>{hist(10)});

  // The old execution's episodes no longer commit; the new one's append after the reset.
  fx = {};
  fx.acknowledge(ack("loop", "loop-e1", {}, {hist(99)}));
  EXPECT_ERR(commit(std::move(fx)), QueueErrc::pop_receipt_mismatch);
  fx = {};
  fx.acknowledge(ack("loop", "loop-e2", {}, {hist(11)}));
  ASSERT_OK(commit(std::move(fx)));
  EXPECT_EQ(sync().history("loop").value(), (std::vector<std::string>{hist(10), hist(11)}));
  EXPECT_EQ(sync().get("loop").value().input, "\"round 2\"") << "no input given: it is kept";
}

TEST_P(DurableStoreConformance, StaleExecutionFailsTheWholeEffectsWithNothingApplied) {
  int64_t s0 = start("flow");
  start("other");
  NoticeLog heard;
  effects().set_notice_listener(std::ref(heard));
  for (std::string stale : {"wrong-exec", ""}) {
    api::Effects fx = with({task("flow", "flow-e1", 1),
                            api::OrchestrationEvent{"other", raised("x"), 0, false},
                            start_write("new-one", "n1")});
    fx.put({kOutQueue, "must not land"});
    fx.acknowledge(ack("flow", stale, {s0}, {hist(1)}, RuntimeStatus::completed));
    EXPECT_ERR(commit(std::move(fx)), QueueErrc::pop_receipt_mismatch);
  }
  // An episode of an instance that does not exist is as stale.
  api::Effects fx = with({task("ghost", "g1", 1)});
  fx.acknowledge(ack("ghost", "g1", {}));
  EXPECT_ERR(commit(std::move(fx)), QueueErrc::pop_receipt_mismatch);
  EXPECT_TRUE(heard.take().empty()) << "a failed commit tells nobody";

  auto ep = sync().episode("flow").value();
  EXPECT_EQ(seqs(ep), std::vector<int64_t>{s0});
  EXPECT_TRUE(ep.history.empty());
  EXPECT_EQ(ep.instance.status, RuntimeStatus::pending);
  EXPECT_EQ(sync().episode("other").value().inbox.size(), 1u);
  EXPECT_ERR(sync().get("new-one"), QueueErrc::queue_not_found);
  EXPECT_ERR(sync().get("ghost"), QueueErrc::queue_not_found);
  EXPECT_TRUE(sync().recover().value().tasks.empty());
  auto queues = GetParam()->queues(*store_);
  EXPECT_ERR(SyncQueueStore(*queues).props(kOutQueue), QueueErrc::queue_not_found);
}

TEST_P(DurableStoreConformance, ConsumingAnAlreadyConsumedEventFailsTheWholeEffects) {
  int64_t s0 = start("flow");
  int64_t s1 = send("flow", raised("one"));
  int64_t theirs = start("neighbour");
  api::Effects fx;
  fx.acknowledge(ack("flow", "flow-e1", {s0}, {hist(1)}));
  ASSERT_OK(commit(std::move(fx)));

  // The same episode committed twice; one listing a consumed event after a live one (the
  // live one must come back); one listing another instance's event.
  for (auto consumed : {std::vector<int64_t>{s0}, std::vector<int64_t>{s1, s0},
                        std::vector<int64_t>{theirs}}) {
    api::Effects again = with({task("flow", "flow-e1", 7)});
    again.put({kOutQueue, "must not land"});
    again.acknowledge(ack("flow", "flow-e1", consumed, {hist(2)}, RuntimeStatus::completed));
    EXPECT_ERR(commit(std::move(again)), QueueErrc::pop_receipt_mismatch);
  }
  auto ep = sync().episode("flow").value();
  EXPECT_EQ(seqs(ep), std::vector<int64_t>{s1});
  EXPECT_EQ(ep.history, std::vector<std::string>{hist(1)});
  EXPECT_EQ(ep.instance.status, RuntimeStatus::running);
  EXPECT_EQ(ep.instance.history_events, 1);
  EXPECT_EQ(seqs(sync().episode("neighbour").value()), std::vector<int64_t>{theirs});
  EXPECT_TRUE(sync().recover().value().tasks.empty());
  auto queues = GetParam()->queues(*store_);
  EXPECT_ERR(SyncQueueStore(*queues).props(kOutQueue), QueueErrc::queue_not_found);
}

TEST_P(DurableStoreConformance, LoadEpisodeReturnsAtMostMaxInboxAndSaysMoreIsWaiting) {
  std::vector<int64_t> all{start("many")};
  for (int i = 0; i < 4; ++i) all.push_back(send("many", raised(std::to_string(i))));
  auto ep = sync().episode("many", false, 2).value();
  EXPECT_EQ(seqs(ep), (std::vector<int64_t>{all[0], all[1]})) << "oldest first";
  EXPECT_NE(ep.next_visible, 0);
  EXPECT_LE(ep.next_visible, now()) << "the rest is visible already";
}

// --- activities --------------------------------------------------------------------------------

TEST_P(DurableStoreConformance, ActivityAckOfACompletedWorkItemIsNotFoundAndAppliesNothing) {
  int64_t s0 = start("flow");
  api::Effects fx = with({task("flow", "flow-e1", 1)});
  fx.acknowledge(ack("flow", "flow-e1", {s0}, {hist(1)}));
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  int64_t t = seq_of(r.value(), 0);
  EXPECT_GT(t, 0);
  auto rec = sync().recover().value();
  ASSERT_EQ(rec.tasks.size(), 1u);
  EXPECT_EQ(rec.tasks[0].task, t);
  EXPECT_TRUE(same_task(rec.tasks[0].item, task("flow", "flow-e1", 1)));

  // The result travels as an inbox event in the same Effects.
  auto done = [&] {
    api::Effects d = with({api::OrchestrationEvent{"flow", R"({"kind":"taskCompleted"})", 0, false}});
    d.put({kOutQueue, "result side effect"});
    d.acknowledge(api::ActivityAck{t});
    return d;
  };
  ASSERT_OK(commit(done()));
  EXPECT_EQ(sync().episode("flow").value().inbox.size(), 1u);
  EXPECT_TRUE(sync().recover().value().tasks.empty());
  auto queues = GetParam()->queues(*store_);
  SyncQueueStore q(*queues);
  EXPECT_EQ(q.props(kOutQueue).value().approximate_message_count, 1);

  // A duplicate run of the same work item: nothing of it lands.
  EXPECT_ERR(commit(done()), QueueErrc::message_not_found);
  EXPECT_EQ(sync().episode("flow").value().inbox.size(), 1u);
  EXPECT_EQ(q.props(kOutQueue).value().approximate_message_count, 1);
  api::Effects never;
  never.acknowledge(api::ActivityAck{t + 1000});
  EXPECT_ERR(commit(std::move(never)), QueueErrc::message_not_found);
}

// An episode may deliver an activity result straight from the engine's memory: its work item is
// deleted by the episode's own commit (tasks_done), with the history it appends. A work item
// already gone (a duplicate run delivered it) fails the whole Effects with nothing applied.
TEST_P(DurableStoreConformance, EpisodeAckDeletesTheWorkItemsItDeliversOrFailsWholeIfOneIsGone) {
  int64_t s0 = start("direct");
  api::Effects fx = with({task("direct", "direct-e1", 1), task("direct", "direct-e1", 2)});
  fx.acknowledge(ack("direct", "direct-e1", {s0}, {hist(1)}));
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  int64_t t1 = seq_of(r.value(), 0), t2 = seq_of(r.value(), 1);
  ASSERT_EQ(sync().recover().value().tasks.size(), 2u);

  auto a = ack("direct", "direct-e1", {}, {hist(2)});
  a.tasks_done = {t1};
  api::Effects ep;
  ep.acknowledge(std::move(a));
  ASSERT_OK(commit(std::move(ep)));
  auto left = sync().recover().value().tasks;
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].task, t2);
  EXPECT_EQ(sync().history("direct").value().size(), 2u);

  // t1 again (with t2): refused whole; t2 stays, the history does not grow.
  auto again = ack("direct", "direct-e1", {}, {hist(3)});
  again.tasks_done = {t2, t1};
  api::Effects dup;
  dup.acknowledge(std::move(again));
  EXPECT_ERR(commit(std::move(dup)), QueueErrc::pop_receipt_mismatch);
  EXPECT_EQ(sync().recover().value().tasks.size(), 1u);
  EXPECT_EQ(sync().history("direct").value().size(), 2u);
}

// Work-item numbers are what a duplicate run acknowledges: a number given out once must never
// name another work item later, or the duplicate would consume (and answer for) the new one.
TEST_P(DurableStoreConformance, WorkItemAndInboxNumbersAreNeverReusedAfterTheyAreConsumed) {
  int64_t s0 = start("flow");
  auto r = commit(with({task("flow", "flow-e1", 1)}));
  ASSERT_OK(r);
  int64_t t1 = seq_of(r.value(), 0);
  api::Effects fx;
  fx.acknowledge(api::ActivityAck{t1});
  ASSERT_OK(commit(std::move(fx)));
  fx = {};
  fx.acknowledge(ack("flow", "flow-e1", {s0}));
  ASSERT_OK(commit(std::move(fx)));

  r = commit(with({task("flow", "flow-e1", 2)}));
  ASSERT_OK(r);
  int64_t t2 = seq_of(r.value(), 0);
  EXPECT_NE(t2, t1);
  int64_t s1 = send("flow", raised("next"));
  EXPECT_NE(s1, s0);

  // The duplicate run of work item 1 and the stale episode that consumed s0 are refused, and
  // the new work item and event stay.
  fx = {};
  fx.acknowledge(api::ActivityAck{t1});
  EXPECT_ERR(commit(std::move(fx)), QueueErrc::message_not_found);
  fx = {};
  fx.acknowledge(ack("flow", "flow-e1", {s0}));
  EXPECT_ERR(commit(std::move(fx)), QueueErrc::pop_receipt_mismatch);
  ASSERT_EQ(sync().recover().value().tasks.size(), 1u);
  EXPECT_EQ(sync().recover().value().tasks[0].item.task_id, 2);
  EXPECT_EQ(seqs(sync().episode("flow").value()), std::vector<int64_t>{s1});

  // Nor after a reopen.
  fx = {};
  fx.acknowledge(api::ActivityAck{t2});
  ASSERT_OK(commit(std::move(fx)));
  fx = {};
  fx.acknowledge(ack("flow", "flow-e1", {s1}));
  ASSERT_OK(commit(std::move(fx)));
  reopen();
  r = commit(with({task("flow", "flow-e1", 3)}));
  ASSERT_OK(r);
  EXPECT_GT(seq_of(r.value(), 0), t2);
  EXPECT_GT(send("flow", raised("after reopen")), s1);
}

// --- events ------------------------------------------------------------------------------------

TEST_P(DurableStoreConformance, EventToAMissingInstanceIsDroppedUnlessTheInstanceIsRequired) {
  auto r = commit(with({api::OrchestrationEvent{"ghost", raised("hello"), 0, false}}));
  ASSERT_OK(r);
  EXPECT_EQ(seq_of(r.value(), 0), 0);
  EXPECT_ERR(sync().get("ghost"), QueueErrc::queue_not_found);
  EXPECT_TRUE(sync().recover().value().ready.empty());

  api::Effects fx = with({start_write("bystander", "b1"),
                          api::OrchestrationEvent{"ghost", raised("hello"), 0, true}});
  fx.put({kOutQueue, "must not land"});
  EXPECT_ERR(commit(std::move(fx)), QueueErrc::queue_not_found);
  EXPECT_ERR(sync().get("bystander"), QueueErrc::queue_not_found);
  auto queues = GetParam()->queues(*store_);
  EXPECT_ERR(SyncQueueStore(*queues).props(kOutQueue), QueueErrc::queue_not_found);

  // Required and present: delivered.
  start("real");
  r = commit(with({api::OrchestrationEvent{"real", raised("hi"), 0, true}}));
  ASSERT_OK(r);
  EXPECT_GT(seq_of(r.value(), 0), 0);
}

TEST_P(DurableStoreConformance, DelayedEventsBecomeVisibleAtTheirTimeInOrder) {
  int64_t s0 = start("timers");
  api::UnixMillis t0 = now();
  int64_t late = send("timers", raised("late"), t0 + 30'000);
  int64_t soon = send("timers", raised("soon"), t0 + 10'000);
  auto ep = sync().episode("timers").value();
  EXPECT_EQ(seqs(ep), std::vector<int64_t>{s0});
  EXPECT_EQ(ep.next_visible, t0 + 10'000) << "the earliest of the invisible ones";
  clock_.now = t0 + 10'000;
  ep = sync().episode("timers").value();
  EXPECT_EQ(seqs(ep), (std::vector<int64_t>{s0, soon}));
  EXPECT_EQ(ep.next_visible, t0 + 30'000);
  clock_.now = t0 + 30'000;
  ep = sync().episode("timers").value();
  EXPECT_EQ(seqs(ep), (std::vector<int64_t>{s0, late, soon})) << "in sequence order";
  EXPECT_EQ(ep.next_visible, 0);
}

TEST_P(DurableStoreConformance, InvalidInstanceIdsAreRefusedByEveryPartWithNothingApplied) {
  std::vector<std::string> bad{"",        std::string(101, 'x'), "a/b", "a?b", "a#b", "a\\b",
                               "tab\there", "nl\n",               std::string("nul\0x", 5),
                               "del\x7f"};
  start("fine");
  for (const auto& id : bad) {
    auto with_put = [](api::Effects fx) {
      fx.put({kOutQueue, "must not land"});
      return fx;
    };
    EXPECT_ERR(commit(with_put(with({start_write(id, "e")}))), QueueErrc::invalid_argument);
    EXPECT_ERR(commit(with_put(with({api::OrchestrationEvent{id, raised("x"), 0, false}}))),
               QueueErrc::invalid_argument);
    EXPECT_ERR(commit(with_put(with({task(id, "e", 1)}))), QueueErrc::invalid_argument);
    api::Effects fx = with_put(with({api::OrchestrationEvent{"fine", raised("x"), 0, false}}));
    fx.acknowledge(ack(id, "e", {}));
    EXPECT_ERR(commit(std::move(fx)), QueueErrc::invalid_argument);
  }
  EXPECT_EQ(sync().episode("fine").value().inbox.size(), 1u);
  auto queues = GetParam()->queues(*store_);
  EXPECT_ERR(SyncQueueStore(*queues).props(kOutQueue), QueueErrc::queue_not_found);
  // The longest id allowed, and characters URLs carry escaped, are fine.
  start(std::string(100, 'x'));
  start("spaces and ünïcode:1");
  EXPECT_OK(sync().get(std::string(100, 'x')));
}

TEST_P(DurableStoreConformance, StartWithoutAnOrchestratorNameIsInvalid) {
  auto w = start_write("nameless", "e");
  w.instance.name.clear();
  EXPECT_ERR(commit(with({w})), QueueErrc::invalid_argument);
  EXPECT_ERR(sync().get("nameless"), QueueErrc::queue_not_found);
}

// --- notices -----------------------------------------------------------------------------------

TEST_P(DurableStoreConformance, NoticesAreOnePerInstanceAtTheEarliestTimeAndOnePerWorkItem) {
  start("a");
  NoticeLog heard;
  effects().set_notice_listener(std::ref(heard));
  api::UnixMillis t0 = now();
  auto r = commit(with({api::OrchestrationEvent{"a", raised("late"), t0 + 20'000, false},
                        api::OrchestrationEvent{"a", raised("soon"), t0 + 5'000, false},
                        start_write("b", "b1", t0 + 7'000),
                        api::OrchestrationEvent{"b", raised("later"), t0 + 9'000, false},
                        api::OrchestrationEvent{"ghost", raised("dropped"), 0, false},
                        task("a", "a-e1", 1), task("a", "a-e1", 2, "Cube")}));
  ASSERT_OK(r);
  std::map<std::string, std::vector<api::UnixMillis>> ready;
  std::vector<api::ActivityReady> work;
  for (const auto& n : heard.take()) {
    if (auto* o = std::get_if<api::OrchestrationReady>(&n)) ready[o->instance_id].push_back(o->visible_at);
    if (auto* a = std::get_if<api::ActivityReady>(&n)) work.push_back(*a);
  }
  EXPECT_EQ(ready, (std::map<std::string, std::vector<api::UnixMillis>>{
                       {"a", {t0 + 5'000}}, {"b", {t0 + 7'000}}}));
  ASSERT_EQ(work.size(), 2u);
  std::sort(work.begin(), work.end(), [](auto& x, auto& y) { return x.task < y.task; });
  EXPECT_EQ(work[0].task, seq_of(r.value(), 5));
  EXPECT_EQ(work[1].task, seq_of(r.value(), 6));
  EXPECT_TRUE(same_task(work[0].item, task("a", "a-e1", 1)));
  EXPECT_TRUE(same_task(work[1].item, task("a", "a-e1", 2, "Cube")));

  // An event visible now is announced at now; an acknowledgement alone announces nothing.
  send("a", raised("now"));
  auto n = heard.take();
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(std::get<api::OrchestrationReady>(n[0]).visible_at, now());
  api::Effects fx;
  fx.acknowledge(ack("a", "a-e1", {}));
  ASSERT_OK(commit(std::move(fx)));
  EXPECT_TRUE(heard.take().empty());
}

// --- listing and purging -----------------------------------------------------------------------

TEST_P(DurableStoreConformance, ListInstancesFiltersByStatusCreatedTimeIdPrefixAndCompletion) {
  api::UnixMillis t0 = now();
  std::map<std::string, RuntimeStatus> want{{"a-1", RuntimeStatus::completed},
                                            {"a-2", RuntimeStatus::running},
                                            {"b-1", RuntimeStatus::failed},
                                            {"b-2", RuntimeStatus::pending},
                                            {"c-1", RuntimeStatus::terminated}};
  for (const auto& [id, st] : want) {  // map order: a-1 at t0, a-2 at t0+1s, ...
    start(id);
    clock_.advance_seconds(1);
  }
  std::map<std::string, api::UnixMillis> completed;
  for (const auto& [id, st] : want) {
    if (st == RuntimeStatus::pending) continue;
    clock_.advance_seconds(10);
    finish_episode(id, st);
    if (api::is_terminal(st)) completed[id] = now();
  }
  auto list = [&](api::InstanceQuery q) {
    auto r = sync().list(q);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.value().continuation, "");
    return ids(r.value().instances);
  };
  using Ids = std::set<std::string>;
  EXPECT_EQ(list({}), (Ids{"a-1", "a-2", "b-1", "b-2", "c-1"}));
  auto all = sync().list({}).value().instances;
  for (const auto& s : all) {
    EXPECT_EQ(s.status, want[s.id]) << s.id;
    EXPECT_EQ(s.name, "Flow");
  }

  api::InstanceQuery q;
  q.statuses = {RuntimeStatus::completed, RuntimeStatus::pending};
  EXPECT_EQ(list(q), (Ids{"a-1", "b-2"}));
  q = {};
  q.created_from = t0 + 1000;
  q.created_to = t0 + 3000;
  EXPECT_EQ(list(q), (Ids{"a-2", "b-1", "b-2"})) << "both bounds inclusive";
  q = {};
  q.created_from = t0 + 1;
  EXPECT_EQ(list(q), (Ids{"a-2", "b-1", "b-2", "c-1"}));
  q = {};
  q.created_to = t0 + 999;
  EXPECT_EQ(list(q), (Ids{"a-1"}));
  q = {};
  q.id_prefix = "b-";
  EXPECT_EQ(list(q), (Ids{"b-1", "b-2"}));
  q.id_prefix = "a";
  EXPECT_EQ(list(q), (Ids{"a-1", "a-2"}));
  q.id_prefix = "zzz";
  EXPECT_EQ(list(q), Ids{});
  q = {};
  q.completed_before = completed["b-1"];
  EXPECT_EQ(list(q), (Ids{"a-1"})) << "strictly before, and only finished instances";
  q.completed_before = completed["c-1"] + 1;
  EXPECT_EQ(list(q), (Ids{"a-1", "b-1", "c-1"}));
  // Filters combine.
  q = {};
  q.id_prefix = "b";
  q.statuses = {RuntimeStatus::failed, RuntimeStatus::running};
  q.created_to = t0 + 2000;
  EXPECT_EQ(list(q), (Ids{"b-1"}));
}

TEST_P(DurableStoreConformance, ListInstancesPagesReturnEveryInstanceExactlyOnce) {
  api::Effects fx;
  for (int i = 0; i < 25; ++i) fx.writes.emplace_back(start_write("p-" + std::to_string(100 + i), "e"));
  ASSERT_OK(commit(std::move(fx)));
  for (int i = 0; i < 25; i += 3) finish_episode("p-" + std::to_string(100 + i), RuntimeStatus::completed);
  start("q-1");
  for (int top : {1, 5, 7, 25, 100}) {
    for (bool only_completed : {false, true}) {
      api::InstanceQuery q;
      q.top = top;
      q.id_prefix = "p-";
      if (only_completed) q.statuses = {RuntimeStatus::completed};
      std::multiset<std::string> seen;
      int pages = 0;
      do {
        auto page = sync().list(q);
        ASSERT_OK(page);
        EXPECT_LE(static_cast<int>(page.value().instances.size()), top);
        for (const auto& s : page.value().instances) seen.insert(s.id);
        q.after = page.value().continuation;
        ASSERT_LT(++pages, 100) << "the continuation does not advance";
      } while (!q.after.empty());
      size_t want = only_completed ? 9 : 25;
      EXPECT_EQ(seen.size(), want) << "top " << top;
      EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), want) << "top " << top;
      EXPECT_EQ(seen.count("q-1"), 0u);
    }
  }
}

TEST_P(DurableStoreConformance, PurgeDeletesOnlyTerminalInstancesWithTheirHistoryInboxAndTasks) {
  for (std::string id : {"done", "fail", "run", "pend"}) start(id);
  finish_episode("run", RuntimeStatus::running, {hist(1)});
  // "done" leaves a timer and a work item behind when it completes.
  auto ep = sync().episode("done").value();
  api::Effects fx = with({task("done", "done-e1", 1),
                          api::OrchestrationEvent{"done", raised("timer"), now() + 60'000, false}});
  fx.acknowledge(ack("done", "done-e1", seqs(ep), {hist(1)}, RuntimeStatus::completed));
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  int64_t done_task = seq_of(r.value(), 0);
  finish_episode("fail", RuntimeStatus::failed);

  auto n = sync().purge({"done", "fail", "run", "pend", "ghost", "done"});
  ASSERT_OK(n);
  EXPECT_EQ(n.value(), 2);
  for (std::string id : {"done", "fail"}) {
    EXPECT_ERR(sync().get(id), QueueErrc::queue_not_found);
    EXPECT_ERR(sync().history(id), QueueErrc::queue_not_found);
  }
  EXPECT_OK(sync().get("run"));
  EXPECT_EQ(sync().history("run").value(), std::vector<std::string>{hist(1)});
  EXPECT_OK(sync().get("pend"));
  auto rec = sync().recover().value();
  EXPECT_TRUE(rec.tasks.empty());
  for (const auto& x : rec.ready) EXPECT_NE(x.instance_id, "done");

  // What the purged instance's stragglers meet: dropped events, refused acknowledgements.
  r = commit(with({api::OrchestrationEvent{"done", raised("late"), 0, false}}));
  ASSERT_OK(r);
  EXPECT_EQ(seq_of(r.value(), 0), 0);
  fx = {};
  fx.acknowledge(api::ActivityAck{done_task});
  EXPECT_ERR(commit(std::move(fx)), QueueErrc::message_not_found);
  EXPECT_EQ(sync().purge({}).value(), 0);
}

TEST_P(DurableStoreConformance, PurgeMatchingHonoursTheFiltersAndOnlyEverDeletesTerminal) {
  api::UnixMillis t0 = now();
  for (std::string id : {"a-done", "a-run", "a-fail", "b-done", "b-term", "b-pend"}) {
    start(id);
    clock_.advance_seconds(1);
  }
  finish_episode("a-done", RuntimeStatus::completed);
  finish_episode("a-run", RuntimeStatus::running);
  finish_episode("a-fail", RuntimeStatus::failed);
  clock_.advance_seconds(100);
  finish_episode("b-done", RuntimeStatus::completed);
  finish_episode("b-term", RuntimeStatus::terminated);
  auto exists = [&](const std::string& id) { return sync().get(id).ok(); };

  api::InstanceQuery q;
  q.statuses = {RuntimeStatus::running, RuntimeStatus::pending};
  EXPECT_EQ(sync().purge_matching(q).value(), 0) << "non-terminal statuses purge nothing";
  q = {};
  q.id_prefix = "a-";
  q.statuses = {RuntimeStatus::failed, RuntimeStatus::running};
  EXPECT_EQ(sync().purge_matching(q).value(), 1);
  EXPECT_FALSE(exists("a-fail"));
  EXPECT_TRUE(exists("a-run"));
  EXPECT_TRUE(exists("a-done"));
  q = {};
  q.completed_before = t0 + 50'000;
  EXPECT_EQ(sync().purge_matching(q).value(), 1);
  EXPECT_FALSE(exists("a-done"));
  EXPECT_TRUE(exists("b-done"));
  q = {};
  q.created_from = t0 + 4'000;
  EXPECT_EQ(sync().purge_matching(q).value(), 1);
  EXPECT_FALSE(exists("b-term"));
  EXPECT_TRUE(exists("b-done"));
  EXPECT_EQ(sync().purge_matching({}).value(), 1);
  EXPECT_FALSE(exists("b-done"));
  EXPECT_EQ(ids(sync().list({}).value().instances), (std::set<std::string>{"a-run", "b-pend"}));
}

// The management API repeats purge_matching until it returns 0 (a backend may bound one call):
// the repetition must reach every terminal match however many non-terminal instances the
// filter also matches.
TEST_P(DurableStoreConformance, RepeatedPurgeMatchingReachesTerminalInstancesBehindManyRunning) {
  api::Effects fx;
  for (int i = 0; i < 1100; ++i) fx.writes.emplace_back(start_write("a-" + std::to_string(10000 + i), "e"));
  ASSERT_OK(commit(std::move(fx)));
  for (std::string id : {"z-1", "z-2", "z-3"}) {
    start(id);
    finish_episode(id, RuntimeStatus::completed);
  }
  api::InstanceQuery q;
  q.statuses = {RuntimeStatus::pending, RuntimeStatus::completed};
  int64_t total = 0;
  for (int i = 0; i < 100; ++i) {
    auto n = sync().purge_matching(q);
    ASSERT_OK(n);
    total += n.value();
    if (n.value() == 0) break;
  }
  EXPECT_EQ(total, 3);
  EXPECT_ERR(sync().get("z-1"), QueueErrc::queue_not_found);
  EXPECT_OK(sync().get("a-10000"));
}

// --- recovery and durability -------------------------------------------------------------------

TEST_P(DurableStoreConformance, RecoverReturnsEveryWorkItemAndOneReadyEntryPerInstanceWithInbox) {
  api::UnixMillis t0 = now();
  int64_t a0 = start("a");
  start("b", "", t0 + 4'000);
  int64_t c0 = start("c");
  api::Effects fx = with({api::OrchestrationEvent{"a", raised("t30"), t0 + 30'000, false},
                          api::OrchestrationEvent{"a", raised("t10"), t0 + 10'000, false},
                          task("a", "a-e1", 1), task("a", "a-e1", 2)});
  fx.acknowledge(ack("a", "a-e1", {a0}));
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  fx = with({task("c", "c-e1", 1)});
  fx.acknowledge(ack("c", "c-e1", {c0}));
  auto rc = commit(std::move(fx));
  ASSERT_OK(rc);

  auto rec = sync().recover();
  ASSERT_OK(rec);
  std::map<std::string, api::UnixMillis> ready;
  for (const auto& x : rec.value().ready) {
    EXPECT_EQ(ready.count(x.instance_id), 0u) << x.instance_id << " twice";
    ready[x.instance_id] = x.visible_at;
  }
  EXPECT_EQ(ready, (std::map<std::string, api::UnixMillis>{{"a", t0 + 10'000}, {"b", t0 + 4'000}}))
      << "c has no inbox events";
  std::map<int64_t, api::ActivityTask> tasks;
  for (const auto& t : rec.value().tasks) tasks[t.task] = t.item;
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_TRUE(same_task(tasks[seq_of(r.value(), 2)], task("a", "a-e1", 1)));
  EXPECT_TRUE(same_task(tasks[seq_of(r.value(), 3)], task("a", "a-e1", 2)));
  EXPECT_TRUE(same_task(tasks[seq_of(rc.value(), 0)], task("c", "c-e1", 1)));
}

TEST_P(DurableStoreConformance, EverythingSurvivesClosingAndReopening) {
  api::UnixMillis t0 = now();
  int64_t s0 = start("live");
  api::Effects fx = with({task("live", "live-e1", 1, "Work"),
                          api::OrchestrationEvent{"live", raised("timer"), t0 + 60'000, false}});
  auto a = ack("live", "live-e1", {s0}, {hist(1), hist(2)});
  a.custom_status = R"({"phase":"waiting"})";
  fx.acknowledge(std::move(a));
  auto r = commit(std::move(fx));
  ASSERT_OK(r);
  int64_t timer = seq_of(r.value(), 1);
  start("finished");
  clock_.advance_seconds(5);
  finish_episode("finished", RuntimeStatus::completed, {hist(1)}, "\"result\"");
  auto live_before = sync().get("live").value();
  auto finished_before = sync().get("finished").value();

  reopen();
  auto same_state = [](const api::InstanceState& x, const api::InstanceState& y) {
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.execution_id, y.execution_id);
    EXPECT_EQ(x.status, y.status);
    EXPECT_EQ(x.input, y.input);
    EXPECT_EQ(x.output, y.output);
    EXPECT_EQ(x.custom_status, y.custom_status);
    EXPECT_EQ(x.failure, y.failure);
    EXPECT_EQ(x.parent, y.parent);
    EXPECT_EQ(x.created, y.created);
    EXPECT_EQ(x.updated, y.updated);
    EXPECT_EQ(x.completed, y.completed);
    EXPECT_EQ(x.history_events, y.history_events);
  };
  same_state(sync().get("live").value(), live_before);
  same_state(sync().get("finished").value(), finished_before);
  EXPECT_EQ(sync().history("live").value(), (std::vector<std::string>{hist(1), hist(2)}));
  EXPECT_EQ(sync().history("finished").value(), std::vector<std::string>{hist(1)});
  auto ep = sync().episode("live").value();
  EXPECT_TRUE(ep.inbox.empty());
  EXPECT_EQ(ep.next_visible, t0 + 60'000);
  auto rec = sync().recover().value();
  ASSERT_EQ(rec.tasks.size(), 1u);
  EXPECT_TRUE(same_task(rec.tasks[0].item, task("live", "live-e1", 1, "Work")));
  ASSERT_EQ(rec.ready.size(), 1u);
  EXPECT_EQ(rec.ready[0].instance_id, "live");
  EXPECT_EQ(rec.ready[0].visible_at, t0 + 60'000);
  EXPECT_EQ(ids(sync().list({}).value().instances), (std::set<std::string>{"finished", "live"}));

  // The reopened store goes on where it left off.
  clock_.now = t0 + 60'000;
  EXPECT_EQ(seqs(sync().episode("live").value()), std::vector<int64_t>{timer});
  fx = {};
  fx.acknowledge(api::ActivityAck{rec.tasks[0].task});
  EXPECT_OK(commit(std::move(fx)));
  fx = {};
  fx.acknowledge(ack("live", "live-e1", {timer}, {hist(3)}, RuntimeStatus::completed));
  EXPECT_OK(commit(std::move(fx)));
  EXPECT_EQ(sync().purge({"live", "finished"}).value(), 2);
}

}  // namespace nimbus::conformance
