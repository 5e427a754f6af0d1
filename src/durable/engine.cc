#include "durable/engine.h"

#include "runtime/store_call.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <chrono>

#include "api/durable_events.h"
#include "common/ids.h"

namespace nimbus::durable {

namespace asio = boost::asio;
namespace json = boost::json;
namespace ev = api::durable_events;
using asio::awaitable;
using std::chrono::milliseconds;

namespace {

constexpr const char* kCategory = "Host.Durable";
// Inbox events one episode takes at most (a fan-in of more completes over several episodes).
constexpr int kMaxInbox = 2000;
// Backoff of an episode or activity that could not run (worker crashed, none available).
constexpr milliseconds kFirstRetry{100};
constexpr milliseconds kMaxRetry{30000};

api::UnixMillis now_ms() { return unix_now_ms(); }

milliseconds backoff(int attempt) {
  auto d = kFirstRetry * (1 << std::min(attempt, 9));
  return std::min(d, kMaxRetry);
}

// The kind of a stored event without decoding the rest.
std::string_view kind_of(const json::object& o) {
  if (auto* k = o.if_contains("kind"); k && k->is_string()) return k->as_string();
  return {};
}

// The event telling a sub-orchestration's parent how it ended, addressed from the instance
// row's `parent` ({"instanceId","executionId","taskScheduledId"}); nothing for a top-level one.
std::optional<api::OrchestrationEvent> to_parent(const std::string& parent,
                                                 nimbus::durable::HistoryEvent e) {
  if (parent.empty()) return std::nullopt;
  boost::system::error_code ec;
  auto p = json::parse(parent, ec);
  if (ec || !p.is_object()) return std::nullopt;
  const auto& o = p.as_object();
  e.task_scheduled_id = static_cast<int>(o.at("taskScheduledId").to_number<int64_t>());
  e.execution_id = std::string(o.at("executionId").as_string());
  return api::OrchestrationEvent{std::string(o.at("instanceId").as_string()), ev::to_json(e)};
}

// Events only the host makes: terminate, suspend, resume (they never reach the SDK).
std::string control_event(const char* kind, const std::string& reason, api::UnixMillis now) {
  json::object o{{"kind", kind}, {"eventId", -1}, {"ts", now}};
  if (!reason.empty()) o["input"] = reason;
  return json::serialize(o);
}

// Inbox keys below zero are activity results not yet committed (Slot::pending): their work
// items are deleted by the episode's own commit instead of being consumed from the inbox.
api::EpisodeAck with_direct_results(api::EpisodeAck ack) {
  std::erase_if(ack.consumed, [&](int64_t seq) {
    if (seq >= 0) return false;
    ack.tasks_done.push_back(-seq);
    return true;
  });
  return ack;
}

}  // namespace

struct Engine::Slot {
  bool queued = false;   // in ready_
  bool running = false;  // an episode loop is on it
  bool dirty = false;    // a notice arrived while running: look again
  // The history of the current execution, kept from the last episode (so an episode reads
  // only the inbox); dropped when anything looks off.
  bool cached = false;
  std::string execution_id;
  std::vector<std::string> history;
  int64_t history_bytes = 0;
  bool warned = false;
  int failures = 0;  // consecutive episodes that could not run
  std::string fail_with;  // the next episode fails the instance with this
  // The inbox as this engine knows it: rows from loads and from commit notices (which carry
  // the rows they added), minus what its own episodes consumed. `complete` says it holds every
  // visible row (a load that was not cut short, kept up by notices), so with a cached history
  // an episode needs no read at all. A timer that comes due, a failed commit or a stale cache
  // clears it, and the next episode reads the store again.
  //
  // An activity result for a cached instance is not committed on its own: it waits here under
  // the key -(work item seq) ("direct") and the next episode commits it with its own effects
  // (EpisodeAck::tasks_done deletes the work item), which saves one commit per step. Until
  // then its work item is still in the store, so a crash runs the activity again (at least
  // once, as before). Whatever drops the cache first commits the waiting results the old way
  // (Engine::forget).
  std::map<int64_t, std::string> pending;
  bool complete = false;
  api::InstanceState instance;  // as of the last load or commit

  void forget() {
    cached = false;
    complete = false;
    pending.clear();
    history.clear();
    history_bytes = 0;
  }
};

Engine::Engine(asio::io_context& io, api::DurableStore& store, runtime::EffectsCommitter& effects,
               runtime::Dispatcher& dispatcher, const config::AppSpec& app,
               bindings::OutputOptions outputs, observability::Metrics& metrics, Logger& log)
    : io_(io),
      store_(store),
      effects_(effects),
      dispatcher_(dispatcher),
      app_(app),
      outputs_(std::move(outputs)),
      metrics_(metrics),
      log_(log),
      episode_gate_(std::make_shared<runtime::Admission>(app.durable.max_concurrent_orchestrations)),
      activity_gate_(std::make_shared<runtime::Admission>(app.durable.max_concurrent_activities)),
      timer_(io),
      retention_timer_(io) {
  for (const auto& f : app.functions)
    if (!f.disabled && (f.orchestrator() || f.activity())) enabled_ = true;
}

Engine::~Engine() {
  *alive_ = false;
  stop();
}

const api::FunctionSpec* Engine::function(std::string_view name, bool orchestrator) const {
  for (const auto& f : app_.functions)
    if (!f.disabled && f.name == name && (orchestrator ? f.orchestrator() : f.activity()))
      return &f;
  return nullptr;
}

void Engine::start() {
  if (!enabled_) return;
  auto alive = alive_;
  store_.recover([this, alive](api::QueueResult<api::DurableRecovery> r) {
    asio::post(io_, [this, alive, r = std::move(r)]() mutable {
      if (!*alive || stopped_) return;
      if (!r) {
        log_.error(kCategory, "could not read durable work left by the last run: " +
                                  r.error().message + "; restart the host to try again");
        return;
      }
      auto& rec = r.value();
      if (!rec.tasks.empty() || !rec.ready.empty())
        log_.info(kCategory, "resuming durable work",
                  {{"activities", rec.tasks.size()}, {"instances", rec.ready.size()}});
      for (auto& t : rec.tasks) enqueue_activity(std::move(t));
      for (auto& i : rec.ready) notify(api::CommitNotice(std::move(i)));
    });
  });
  asio::co_spawn(io_, retention_loop(), asio::detached);
}

void Engine::stop() {
  stopped_ = true;
  timer_.cancel();
  retention_timer_.cancel();
}

void Engine::notify(api::CommitNotice&& notice) {
  if (!enabled_ || stopped_) return;
  if (auto* r = std::get_if<api::OrchestrationReady>(&notice)) {
    api::UnixMillis now = now_ms();
    auto& slot = slots_[r->instance_id];
    if (!slot) slot = std::make_unique<Slot>();
    for (auto& e : r->events) {
      if (e.visible_at <= now)
        slot->pending.emplace(e.seq, std::move(e.event));
      else
        add_timer(r->instance_id, e.visible_at);  // read from the store when it comes due
    }
    if (r->visible_at <= now) mark_ready(r->instance_id);
  } else if (auto* a = std::get_if<api::ActivityReady>(&notice)) {
    enqueue_activity(std::move(*a));
  }
}

// --- scheduling ---

void Engine::forget(const std::string& id, Slot& slot) {
  // Activity results waiting for this instance's next episode are committed on their own, as
  // they would have been without the cache: the inbox takes them, and a notice brings them
  // back. A work item already completed meanwhile answers message_not_found: dropped.
  for (auto it = slot.pending.begin(); it != slot.pending.end() && it->first < 0;) {
    asio::co_spawn(io_, flush_result(-it->first, id, std::move(it->second)), asio::detached);
    it = slot.pending.erase(it);
  }
  slot.forget();
}

awaitable<void> Engine::flush_result(int64_t task, std::string instance_id, std::string event) {
  auto alive = alive_;
  // Retried like an activity's own commit: the result exists only here now.
  for (int attempt = 0; *alive && !stopped_; ++attempt) {
    if (co_await commit_result(task, instance_id, event, {})) co_return;
    if (!*alive) co_return;
    asio::steady_timer wait(io_, backoff(attempt));
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

awaitable<bool> Engine::commit_result(int64_t task, std::string instance_id, std::string event,
                                      api::Effects fx) {
  auto alive = alive_;
  fx.acknowledge(api::ActivityAck{task});
  fx.writes.emplace_back(api::OrchestrationEvent{instance_id, std::move(event)});
  auto r = co_await effects_.commit(std::move(fx));
  if (!*alive || r) co_return true;
  // Already completed (a duplicate run) or its instance is gone: nothing to do.
  if (r.error().code == api::QueueErrc::message_not_found) co_return true;
  log_.warn(kCategory, "could not commit an activity result: " + r.error().message,
            {{"instanceId", instance_id}, {"task", task}});
  co_return false;
}

void Engine::mark_ready(const std::string& id) {
  auto& slot = slots_[id];
  if (!slot) slot = std::make_unique<Slot>();
  if (slot->running) {
    slot->dirty = true;
    return;
  }
  if (slot->queued) return;
  slot->queued = true;
  ready_.push_back(id);
  pump();
}

void Engine::pump() {
  while (!stopped_ && !ready_.empty()) {
    auto permit = episode_gate_->try_acquire(1);
    if (!permit) break;
    std::string id = std::move(ready_.front());
    ready_.pop_front();
    auto& slot = *slots_[id];
    slot.queued = false;
    slot.running = true;
    ++running_episodes_;
    asio::co_spawn(io_, run_instance(episode_gate_, std::move(id), std::move(permit)),
                   asio::detached);
  }
  while (!stopped_ && !activities_.empty()) {
    auto permit = activity_gate_->try_acquire(1);
    if (!permit) break;
    auto a = std::move(activities_.front());
    activities_.pop_front();
    ++running_activities_;
    asio::co_spawn(io_, run_activity(activity_gate_, std::move(a), std::move(permit)),
                   asio::detached);
  }
}

void Engine::enqueue_activity(api::ActivityReady a) {
  activities_.push_back(std::move(a));
  pump();
}

void Engine::add_timer(const std::string& id, api::UnixMillis at) {
  timers_.emplace(at, id);
  arm_timer();
}

void Engine::arm_timer() {
  if (timers_.empty() || stopped_) return;
  api::UnixMillis first = timers_.begin()->first;
  if (timer_armed_for_ && timer_armed_for_ <= first) return;
  timer_armed_for_ = first;
  timer_.expires_after(milliseconds(std::max<api::UnixMillis>(0, first - now_ms())));
  auto alive = alive_;
  timer_.async_wait([this, alive](boost::system::error_code ec) {
    if (!*alive) return;
    if (ec == asio::error::operation_aborted && !stopped_) {
      // Re-armed for an earlier time: that wait owns the timer now.
      return;
    }
    timer_armed_for_ = 0;
    if (stopped_) return;
    api::UnixMillis now = now_ms();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      std::string id = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      // A row that became visible is not in `pending`: read the inbox.
      if (auto it = slots_.find(id); it != slots_.end()) it->second->complete = false;
      mark_ready(id);
    }
    arm_timer();
  });
}

// --- episodes ---

awaitable<void> Engine::run_instance(std::shared_ptr<runtime::Admission> gate, std::string id,
                                     runtime::Admission::Permit permit) {
  auto alive = alive_;
  // Start after the handlers already queued: the results of an instance's other activities
  // often come in the same read from the worker, and then one episode takes them all instead
  // of one episode taking the first and replaying the history again for the rest.
  co_await asio::post(io_, asio::use_awaitable);
  if (!*alive) co_return;
  for (;;) {
    Slot* slot = slots_[id].get();
    slot->dirty = false;
    bool again = co_await episode(id, *slot);
    if (!*alive) co_return;
    slot = slots_[id].get();
    if (stopped_) break;
    if (!again && !slot->dirty) break;
    // Let other instances have the permit between episodes of a busy one.
    if (!ready_.empty()) {
      slot->running = false;
      --running_episodes_;
      permit.release();
      mark_ready(id);
      pump();
      co_return;
    }
  }
  auto it = slots_.find(id);
  if (it != slots_.end()) {
    it->second->running = false;
    // An instance that is not cached and not waiting needs no slot.
    if (!it->second->cached && !it->second->queued && !it->second->dirty) slots_.erase(it);
  }
  --running_episodes_;
  permit.release();
  pump();
}

awaitable<bool> Engine::episode(const std::string& id, Slot& slot_ref) {
  auto alive = alive_;
  Slot* slot = &slot_ref;
  // 1. The visible inbox and the instance: from memory when the history is cached and the
  //    inbox known complete, else read (with the history when not cached).
  api::Episode ep;
  if (slot->cached && slot->complete) {
    if (slot->pending.empty()) co_return false;
    ep.instance = slot->instance;
    for (const auto& [seq, event] : slot->pending) {
      if (static_cast<int>(ep.inbox.size()) == kMaxInbox) break;
      ep.inbox.push_back({seq, event});
    }
  } else {
    const bool with_history = !slot->cached;
    auto loaded = co_await runtime::store_call<api::Episode>(io_.get_executor(), [&](auto cb) {
      store_.load_episode(id, with_history, kMaxInbox, std::move(cb));
    });
    if (!*alive || stopped_) co_return false;
    slot = slots_[id].get();
    if (!loaded) {
      forget(id, *slot);
      if (loaded.error().code == api::QueueErrc::queue_not_found) co_return false;  // purged
      log_.warn(kCategory, "could not load orchestration instance: " + loaded.error().message,
                {{"instanceId", id}});
      co_return false;
    }
    ep = std::move(loaded.value());
    const bool cut_short = static_cast<int>(ep.inbox.size()) >= kMaxInbox;
    if (ep.next_visible && !cut_short) add_timer(id, ep.next_visible);
    if (with_history) {
      slot->history = std::move(ep.history);
      slot->execution_id = ep.instance.execution_id;
      slot->history_bytes = 0;
      for (const auto& e : slot->history) slot->history_bytes += static_cast<int64_t>(e.size());
      slot->cached = true;
    } else if (slot->execution_id != ep.instance.execution_id) {
      // The instance was replaced (restart, continue-as-new elsewhere): read it again.
      forget(id, *slot);
      co_return true;
    }
    // Rows announced by notices while the read ran are kept: the union is the inbox.
    for (auto& item : ep.inbox) slot->pending.emplace(item.seq, std::move(item.event));
    slot->complete = !cut_short;
    slot->instance = ep.instance;
    ep.inbox.clear();
    for (const auto& [seq, event] : slot->pending) {
      if (static_cast<int>(ep.inbox.size()) == kMaxInbox) break;
      ep.inbox.push_back({seq, event});
    }
    if (cut_short) slot->dirty = true;  // more is waiting: another episode right after
  }
  // More known than one episode takes (kMaxInbox): another episode right after this one.
  if (slot->pending.size() > ep.inbox.size()) slot->dirty = true;
  if (ep.inbox.empty()) co_return false;
  auto& inst = ep.instance;

  const api::UnixMillis now = now_ms();
  api::EpisodeAck ack;
  ack.instance_id = id;
  ack.execution_id = inst.execution_id;
  ack.status = inst.status;
  ack.output = inst.output;
  ack.custom_status = inst.custom_status;
  ack.failure = inst.failure;

  // 2. Sort the inbox: control events are carried out here; events of an older execution (a
  //    late activity result after continue-as-new) are consumed and dropped.
  std::vector<std::string> fresh;  // delivered to the orchestrator
  std::vector<int64_t> deliver_seqs;
  bool terminate = false, suspended = inst.status == api::RuntimeStatus::suspended;
  std::string terminate_reason;
  std::vector<std::string> control_history;
  for (auto& item : ep.inbox) {
    // An activity result held in memory (a negative key: Slot::pending) was made by this
    // host for this execution (a continue-as-new flushes the old execution's, see
    // build_and_commit): nothing to look up in it, so no parse per activity.
    if (item.seq < 0 && !api::is_terminal(inst.status)) {
      deliver_seqs.push_back(item.seq);
      fresh.push_back(std::move(item.event));
      continue;
    }
    boost::system::error_code ec;
    auto v = json::parse(item.event, ec);
    if (ec || !v.is_object()) {
      ack.consumed.push_back(item.seq);  // unreadable: nothing can ever use it
      continue;
    }
    const auto& o = v.as_object();
    auto kind = kind_of(o);
    if (auto* x = o.if_contains("executionId"); x && x->is_string() &&
        kind != "executionStarted" && x->as_string() != inst.execution_id) {
      ack.consumed.push_back(item.seq);
      continue;
    }
    if (kind == "executionTerminated") {
      terminate = true;
      if (auto* r = o.if_contains("input"); r && r->is_string()) terminate_reason = r->as_string();
      ack.consumed.push_back(item.seq);
      control_history.push_back(item.event);
    } else if (kind == "executionSuspended") {
      ack.consumed.push_back(item.seq);
      if (!suspended && !api::is_terminal(inst.status)) control_history.push_back(item.event);
      suspended = true;
    } else if (kind == "executionResumed") {
      ack.consumed.push_back(item.seq);
      if (suspended) control_history.push_back(item.event);
      suspended = false;
    } else if (api::is_terminal(inst.status)) {
      ack.consumed.push_back(item.seq);  // nothing more happens to a finished instance
    } else {
      deliver_seqs.push_back(item.seq);
      fresh.push_back(std::move(item.event));
    }
  }
  if (terminate && !api::is_terminal(inst.status)) {
    // Consume everything; the instance ends without running user code.
    for (auto s : deliver_seqs) ack.consumed.push_back(s);
    ack.history = std::move(control_history);
    nimbus::durable::HistoryEvent done;
    done.kind = ev::EventKind::execution_completed;
    done.timestamp_ms = now;
    done.status = nimbus::durable::OrchestrationStatus::terminated;
    done.result = terminate_reason.empty() ? "" : json::serialize(json::string(terminate_reason));
    ack.history.push_back(ev::to_json(done));
    ack.status = api::RuntimeStatus::terminated;
    ack.output = done.result;
    api::Effects fx;
    // The parent, if any, sees a failed sub-orchestration.
    nimbus::durable::HistoryEvent f;
    f.kind = ev::EventKind::sub_orchestration_failed;
    f.timestamp_ms = now;
    f.failure = {"Terminated", "sub-orchestration '" + id + "' was terminated" +
                                   (terminate_reason.empty() ? "" : ": " + terminate_reason)};
    if (auto w = to_parent(inst.parent, std::move(f))) fx.writes.emplace_back(std::move(*w));
    fx.acknowledge(with_direct_results(std::move(ack)));
    auto r = co_await effects_.commit(std::move(fx));
    if (!*alive) co_return false;
    slot = slots_[id].get();
    forget(id, *slot);  // finished (or refused): nothing to keep
    if (r) {
      metrics_.orchestration_finished(inst.name, "Terminated");
      log_.info(kCategory, "orchestration terminated", {{"instanceId", id}, {"reason", terminate_reason}});
    }
    co_return !r;
  }
  if (suspended || fresh.empty() || api::is_terminal(inst.status)) {
    // Only control events (or nothing deliverable): record them; deliverable events of a
    // suspended instance stay in the inbox until it resumes.
    if (ack.consumed.empty()) co_return false;
    ack.history = std::move(control_history);
    if (!api::is_terminal(inst.status))
      ack.status = suspended ? api::RuntimeStatus::suspended : api::RuntimeStatus::running;
    api::Effects fx;
    auto appended = ack.history;
    auto consumed = ack.consumed;
    auto status = ack.status;
    fx.acknowledge(with_direct_results(std::move(ack)));
    auto r = co_await effects_.commit(std::move(fx));
    if (!*alive) co_return false;
    slot = slots_[id].get();
    if (!r) {
      forget(id, *slot);
      co_return true;
    }
    for (auto seq : consumed) slot->pending.erase(seq);
    slot->instance.status = status;
    for (auto& e : appended) {
      slot->history_bytes += static_cast<int64_t>(e.size());
      slot->history.push_back(std::move(e));
    }
    // Resumed with events waiting: go again.
    co_return !suspended && !fresh.empty();
  }

  // 3. Run the orchestrator.
  const api::FunctionSpec* fn = function(inst.name, true);
  nimbus::durable::OrchestratorResponse response;
  std::string run_error;
  std::string started_event = ev::to_json([&] {
    nimbus::durable::HistoryEvent s;
    s.kind = ev::EventKind::orchestrator_started;
    s.timestamp_ms = now;
    return s;
  }());
  fresh.insert(fresh.begin(), started_event);
  if (slot->history_bytes > app_.durable.max_history_bytes / 4 && !slot->warned) {
    slot->warned = true;
    log_.warn(kCategory, "orchestration history is large; consider continue_as_new",
              {{"instanceId", id}, {"bytes", slot->history_bytes},
               {"limit", app_.durable.max_history_bytes}});
  }
  if (slot->history_bytes > app_.durable.max_history_bytes) {
    run_error = "the history of orchestration instance '" + id + "' holds " +
                std::to_string(slot->history_bytes) + " bytes, over nimbus.durable.maxHistoryBytes (" +
                std::to_string(app_.durable.max_history_bytes) +
                "); an eternal or very long orchestration should call continue_as_new to start "
                "over with a fresh history";
  }
  if (!fn && run_error.empty())
    run_error = "orchestrator '" + inst.name + "' is not a function of this app (or is disabled)";

  api::OrchestrationData data;
  data.instance_id = id;
  bool committed = false;
  bool retry = false;
  bool conflict = false;
  if (!slot->fail_with.empty()) run_error = std::exchange(slot->fail_with, {});
  auto build_and_commit = [&](api::InvocationResult* result) -> awaitable<void> {
    if (result && run_error.empty()) {
      if (result->outcome == api::Outcome::succeeded) {
        std::string derr;
        if (!ev::decode_response(result->response.body, response, derr))
          run_error = "the orchestrator's answer is not an episode result: " + derr;
      } else if (result->outcome == api::Outcome::failed) {
        run_error = result->error;
      } else {
        retry = true;  // crashed, timed out, unavailable: the episode runs again
        co_return;
      }
    }
    api::Effects fx;
    for (auto s : deliver_seqs) ack.consumed.push_back(s);
    ack.history = std::move(control_history);
    // build_and_commit runs once per episode: nothing reads `fresh` after this.
    for (auto& e : fresh) ack.history.push_back(std::move(e));
    ack.custom_status = response.custom_status.empty() ? ack.custom_status : response.custom_status;
    ack.status = api::RuntimeStatus::running;
    if (!run_error.empty()) {
      response.actions.clear();
      nimbus::durable::Action fail;
      fail.kind = nimbus::durable::Action::Kind::complete_orchestration;
      fail.id = -1;
      fail.status = nimbus::durable::OrchestrationStatus::failed;
      fail.failure = {"OrchestrationError", run_error};
      response.actions.push_back(std::move(fail));
    }
    std::string final_status;
    for (auto& a : response.actions) {
      nimbus::durable::HistoryEvent h;
      h.event_id = a.id;
      h.timestamp_ms = now;
      using K = nimbus::durable::Action::Kind;
      switch (a.kind) {
        case K::schedule_task: {
          h.kind = ev::EventKind::task_scheduled;
          h.name = a.name;
          h.input = a.input;
          fx.writes.emplace_back(api::ActivityTask{id, inst.execution_id, a.id, a.name,
                                                   a.input.empty() ? "null" : a.input});
          break;
        }
        case K::create_timer: {
          h.kind = ev::EventKind::timer_created;
          h.fire_at_ms = a.fire_at_ms;
          nimbus::durable::HistoryEvent fired;
          fired.kind = ev::EventKind::timer_fired;
          fired.task_scheduled_id = a.id;
          fired.fire_at_ms = a.fire_at_ms;
          fired.execution_id = inst.execution_id;
          fired.timestamp_ms = a.fire_at_ms;
          fx.writes.emplace_back(api::OrchestrationEvent{id, ev::to_json(fired), a.fire_at_ms});
          break;
        }
        case K::create_sub_orchestration: {
          std::string child = a.instance_id;
          if (child.empty()) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "%04x", a.id & 0xffff);
            child = inst.execution_id + ":" + buf;
          }
          h.kind = ev::EventKind::sub_orchestration_created;
          h.name = a.name;
          h.input = a.input;
          h.instance_id = child;
          json::object p{{"instanceId", id},
                         {"executionId", inst.execution_id},
                         {"taskScheduledId", a.id}};
          fx.writes.emplace_back(ev::start_write(a.name, child, a.input.empty() ? "null" : a.input,
                                                 json::serialize(p), now));
          break;
        }
        case K::send_event: {
          h.kind = ev::EventKind::event_sent;
          h.instance_id = a.instance_id;
          h.name = a.name;
          h.input = a.input;
          nimbus::durable::HistoryEvent raised;
          raised.kind = ev::EventKind::event_raised;
          raised.name = a.name;
          raised.input = a.input;
          raised.timestamp_ms = now;
          fx.writes.emplace_back(api::OrchestrationEvent{a.instance_id, ev::to_json(raised)});
          break;
        }
        case K::complete_orchestration: {
          using S = nimbus::durable::OrchestrationStatus;
          if (a.status == S::continued_as_new) {
            ack.reset_history = true;
            ack.history.clear();
            ack.new_execution_id = ev::new_execution_id();
            ack.input = a.result.empty() ? "null" : a.result;
            ack.status = api::RuntimeStatus::running;
            ack.output.clear();
            nimbus::durable::HistoryEvent st;
            st.kind = ev::EventKind::execution_started;
            st.timestamp_ms = now;
            st.name = inst.name;
            st.input = *ack.input;
            st.instance_id = id;
            st.execution_id = ack.new_execution_id;
            fx.writes.emplace_back(api::OrchestrationEvent{id, ev::to_json(st)});
            for (auto& c : a.carryover_events) {
              c.execution_id = ack.new_execution_id;
              fx.writes.emplace_back(api::OrchestrationEvent{id, ev::to_json(c)});
            }
            final_status = "ContinuedAsNew";
            continue;  // no history event: the history starts over
          }
          h.kind = ev::EventKind::execution_completed;
          h.status = a.status == S::failed ? S::failed : S::completed;
          h.result = a.result;
          h.failure = a.failure;
          ack.status = a.status == S::failed ? api::RuntimeStatus::failed
                                             : api::RuntimeStatus::completed;
          ack.output = a.result;
          ack.failure = a.failure.empty() ? "" : json::serialize(ev::failure_object(a.failure));
          final_status = api::runtime_status_name(ack.status);
          nimbus::durable::HistoryEvent back;
          back.kind = a.status == S::failed ? ev::EventKind::sub_orchestration_failed
                                            : ev::EventKind::sub_orchestration_completed;
          back.timestamp_ms = now;
          back.result = a.result;
          back.failure = a.failure;
          if (auto w = to_parent(inst.parent, std::move(back))) fx.writes.emplace_back(std::move(*w));
          break;
        }
      }
      ack.history.push_back(ev::to_json(h));
    }
    auto appended = ack.history;
    bool reset = ack.reset_history;
    std::string new_exec = ack.new_execution_id;
    auto status = ack.status;
    auto consumed = ack.consumed;
    std::optional<std::string> new_input = ack.input;
    std::string output = ack.output, custom_status = ack.custom_status, failure = ack.failure;
    fx.acknowledge(with_direct_results(std::move(ack)));
    auto r = co_await effects_.commit(std::move(fx));
    if (!*alive) co_return;
    Slot* s = slots_[id].get();
    if (!r) {
      forget(id, *s);
      if (r.error().code == api::QueueErrc::queue_already_exists) {
        // A sub-orchestration id already running: the episode cannot commit as asked, and
        // retrying would fail the same way forever, so the next episode fails the instance
        // with the reason.
        s->fail_with = r.error().message;
        conflict = true;
      } else if (r.error().code == api::QueueErrc::pop_receipt_mismatch) {
        conflict = true;  // the instance changed under us: read it again
      } else {
        retry = true;
      }
      co_return;
    }
    committed = true;
    for (auto seq : consumed) s->pending.erase(seq);
    s->instance.status = status;
    s->instance.output = std::move(output);
    s->instance.custom_status = std::move(custom_status);
    s->instance.failure = std::move(failure);
    if (new_input) s->instance.input = *new_input;
    if (reset) {
      // Results still held for the old execution leave memory the way a dropped cache sends
      // them (committed into the inbox, where the next episode drops them as stale): every
      // held result belongs to the cached execution, which lets the episode skip parsing it.
      for (auto it = s->pending.begin(); it != s->pending.end() && it->first < 0;) {
        asio::co_spawn(io_, flush_result(-it->first, id, std::move(it->second)), asio::detached);
        it = s->pending.erase(it);
      }
      s->history = std::move(appended);
      s->execution_id = new_exec;
      s->instance.execution_id = new_exec;
      s->history_bytes = 0;
      s->warned = false;
    } else {
      for (auto& e : appended) {
        s->history_bytes += static_cast<int64_t>(e.size());
        s->history.push_back(std::move(e));
      }
    }
    if (api::is_terminal(status)) {
      forget(id, *s);
      s->history.shrink_to_fit();
      metrics_.orchestration_finished(inst.name, final_status);
    }
  };

  if (!run_error.empty() || !fn) {
    co_await build_and_commit(nullptr);
  } else {
    data.request = ev::encode_request(id, inst.execution_id, slot->history, fresh);
    api::Invocation inv;
    inv.function = fn;
    inv.input = &data;
    auto complete = [&](api::Invocation&, api::InvocationResult& r) -> awaitable<void> {
      co_await build_and_commit(&r);
      if (retry) {
        // Reported as what happened to the worker; the episode runs again.
      } else if (!committed) {
        r.outcome = api::Outcome::failed;
        if (r.error.empty()) r.error = "the episode's effects could not be committed";
      }
    };
    co_await dispatcher_.dispatch(inv, complete);
  }
  if (!*alive || stopped_) co_return false;
  slot = slots_[id].get();
  if (conflict) co_return true;
  if (retry) {
    ++slot->failures;
    auto delay = backoff(slot->failures);
    log_.warn(kCategory, "orchestration episode could not run; trying again",
              {{"instanceId", id}, {"retryInMs", delay.count()}});
    forget(id, *slot);
    add_timer(id, now_ms() + delay.count());
    co_return false;
  }
  slot->failures = 0;
  // Events that arrived meanwhile (or past kMaxInbox) set the slot dirty; nothing else to do.
  co_return false;
}

// --- activities ---

awaitable<void> Engine::run_activity(std::shared_ptr<runtime::Admission> gate,
                                     api::ActivityReady a, runtime::Admission::Permit permit) {
  auto alive = alive_;
  const api::FunctionSpec* fn = function(a.item.name, false);
  api::ActivityData data;
  data.instance_id = a.item.instance_id;
  data.task_id = a.item.task_id;
  data.input = a.item.input;
  for (int attempt = 0; !stopped_; ++attempt) {
    bool done = false;
    auto finish = [&](const std::string* result, const nimbus::durable::Failure* failure,
                      api::Effects fx) -> awaitable<bool> {
      nimbus::durable::HistoryEvent e;
      e.timestamp_ms = now_ms();
      e.task_scheduled_id = a.item.task_id;
      e.execution_id = a.item.execution_id;
      if (result) {
        e.kind = ev::EventKind::task_completed;
        e.result = result->empty() ? "null" : *result;
      } else {
        e.kind = ev::EventKind::task_failed;
        e.failure = *failure;
      }
      // The instance's history is cached here: hand the result to its next episode, which
      // commits it (Slot::pending). Not when the result carries output-binding writes, which
      // must commit with it.
      if (fx.writes.empty() && !stopped_) {
        auto it = slots_.find(a.item.instance_id);
        if (it != slots_.end() && it->second->cached &&
            it->second->execution_id == a.item.execution_id) {
          it->second->pending.emplace(-a.task, ev::to_json(e));
          metrics_.activity_item(a.item.name, result ? "completed" : "failed");
          mark_ready(a.item.instance_id);
          co_return true;
        }
      }
      bool ok = co_await commit_result(a.task, a.item.instance_id, ev::to_json(e), std::move(fx));
      if (ok && *alive) metrics_.activity_item(a.item.name, result ? "completed" : "failed");
      co_return ok;
    };
    if (!fn) {
      nimbus::durable::Failure f{"ActivityNotFound",
                                 "activity '" + a.item.name +
                                     "' is not a function of this app (or is disabled)"};
      done = co_await finish(nullptr, &f, {});
    } else {
      api::Invocation inv;
      inv.function = fn;
      inv.input = &data;
      auto complete = [&](api::Invocation& inv, api::InvocationResult& r) -> awaitable<void> {
        switch (r.outcome) {
          case api::Outcome::succeeded: {
            api::Effects fx;
            if (auto e = bindings::add_output_writes(inv, r.outputs, outputs_, fx); !e.empty()) {
              r.outcome = api::Outcome::failed;
              r.error = e;
              nimbus::durable::Failure f{"OutputBindingError", e};
              done = co_await finish(nullptr, &f, {});
            } else {
              done = co_await finish(&r.response.body, nullptr, std::move(fx));
            }
            break;
          }
          case api::Outcome::failed:
          case api::Outcome::timed_out: {
            nimbus::durable::Failure f{r.outcome == api::Outcome::timed_out ? "TimeoutError"
                                                                             : "ActivityFailed",
                                       r.error};
            done = co_await finish(nullptr, &f, {});
            break;
          }
          default:
            metrics_.activity_item(a.item.name, "rerun");
            break;  // the worker failed, not the activity: run it again
        }
      };
      co_await dispatcher_.dispatch(inv, complete);
    }
    if (!*alive) co_return;
    if (done) break;
    asio::steady_timer wait(io_, backoff(attempt));
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive) co_return;
  }
  --running_activities_;
  permit.release();
  pump();
}

// --- retention ---

awaitable<void> Engine::retention_loop() {
  auto alive = alive_;
  for (;;) {
    // Every minute, or twice per retention period when that is shorter (tests use seconds).
    auto every = std::clamp<milliseconds>(app_.durable.retention / 2, milliseconds(100),
                                          std::chrono::minutes(1));
    retention_timer_.expires_after(every);
    boost::system::error_code ec;
    co_await retention_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive || stopped_) co_return;
    api::InstanceQuery q;
    q.completed_before = now_ms() - app_.durable.retention.count();
    auto n = co_await runtime::store_call<int64_t>(
        io_.get_executor(), [&](auto cb) { store_.purge_matching(q, std::move(cb)); });
    if (!*alive || stopped_) co_return;
    if (n && n.value() > 0)
      log_.info(kCategory, "purged finished orchestrations past their retention",
                {{"instances", n.value()}});
  }
}

// --- management ---


awaitable<OpResult> Engine::start_new(std::string orchestrator, std::string instance_id,
                                      std::string input, api::UnixMillis start_at) {
  if (!function(orchestrator, true))
    co_return OpResult{400,
                       "orchestrator '" + orchestrator +
                           "' is not an orchestrator function of this app; check the name "
                           "(case matters) and that it is not disabled",
                       {}};
  if (instance_id.empty()) instance_id = ev::new_execution_id();
  if (input.empty()) input = "null";
  api::Effects fx;
  fx.writes.emplace_back(ev::start_write(orchestrator, instance_id, input, "", now_ms(), start_at));
  auto r = co_await effects_.commit(std::move(fx));
  if (!r) {
    int status = r.error().code == api::QueueErrc::queue_already_exists ? 409
                 : r.error().code == api::QueueErrc::invalid_argument ? 400
                                                                      : 503;
    co_return OpResult{status, r.error().message, instance_id};
  }
  co_return OpResult{202, {}, instance_id};
}

awaitable<OpResult> Engine::control(std::string instance_id, const char* kind, std::string reason) {
  auto inst = co_await runtime::store_call<api::InstanceState>(
      io_.get_executor(), [&](auto cb) { store_.get_instance(instance_id, std::move(cb)); });
  if (!inst) {
    if (inst.error().code == api::QueueErrc::queue_not_found)
      co_return OpResult{404, inst.error().message, instance_id};
    co_return OpResult{503, inst.error().message, instance_id};
  }
  if (api::is_terminal(inst.value().status))
    co_return OpResult{410, "orchestration instance '" + instance_id + "' is already " +
                                api::runtime_status_name(inst.value().status),
                       instance_id};
  api::Effects fx;
  fx.writes.emplace_back(api::OrchestrationEvent{instance_id, control_event(kind, reason, now_ms()),
                                                 0, true});
  auto r = co_await effects_.commit(std::move(fx));
  if (!r) co_return OpResult{r.error().code == api::QueueErrc::queue_not_found ? 404 : 503,
                             r.error().message, instance_id};
  co_return OpResult{202, {}, instance_id};
}

awaitable<OpResult> Engine::raise_event(std::string instance_id, std::string event,
                                        std::string data) {
  auto inst = co_await runtime::store_call<api::InstanceState>(
      io_.get_executor(), [&](auto cb) { store_.get_instance(instance_id, std::move(cb)); });
  if (!inst)
    co_return OpResult{inst.error().code == api::QueueErrc::queue_not_found ? 404 : 503,
                       inst.error().message, instance_id};
  if (api::is_terminal(inst.value().status))
    co_return OpResult{410, "orchestration instance '" + instance_id + "' is already " +
                                api::runtime_status_name(inst.value().status) +
                                "; events to finished instances are not delivered",
                       instance_id};
  nimbus::durable::HistoryEvent e;
  e.kind = ev::EventKind::event_raised;
  e.timestamp_ms = now_ms();
  e.name = std::move(event);
  e.input = data.empty() ? "null" : std::move(data);
  api::Effects fx;
  fx.writes.emplace_back(api::OrchestrationEvent{instance_id, ev::to_json(e), 0, true});
  auto r = co_await effects_.commit(std::move(fx));
  if (!r) co_return OpResult{r.error().code == api::QueueErrc::queue_not_found ? 404 : 503,
                             r.error().message, instance_id};
  co_return OpResult{202, {}, instance_id};
}

awaitable<OpResult> Engine::terminate(std::string instance_id, std::string reason) {
  co_return co_await control(std::move(instance_id), "executionTerminated", std::move(reason));
}
awaitable<OpResult> Engine::suspend(std::string instance_id, std::string reason) {
  co_return co_await control(std::move(instance_id), "executionSuspended", std::move(reason));
}
awaitable<OpResult> Engine::resume(std::string instance_id, std::string reason) {
  co_return co_await control(std::move(instance_id), "executionResumed", std::move(reason));
}

awaitable<OpResult> Engine::restart(std::string instance_id, bool new_id) {
  auto inst = co_await runtime::store_call<api::InstanceState>(
      io_.get_executor(), [&](auto cb) { store_.get_instance(instance_id, std::move(cb)); });
  if (!inst)
    co_return OpResult{inst.error().code == api::QueueErrc::queue_not_found ? 404 : 503,
                       inst.error().message, instance_id};
  if (!new_id && !api::is_terminal(inst.value().status))
    co_return OpResult{409, "orchestration instance '" + instance_id + "' is " +
                                api::runtime_status_name(inst.value().status) +
                                "; restart it in place once it has finished, or restart it with "
                                "restartWithNewInstanceId=true",
                       instance_id};
  // Read the original input from the execution's start (the row holds the latest execution's).
  std::string name = inst.value().name, input = inst.value().input;
  std::string id = new_id ? std::string() : instance_id;  // not a ?: temporary in co_await
  co_return co_await start_new(std::move(name), std::move(id), std::move(input));
}

}  // namespace nimbus::durable
