#pragma once
// Durable orchestration state as the storage engine keeps it: per instance a row, a history
// (the committed events of its current execution), an inbox (events delivered to it, each
// visible from a time: timers are inbox events visible at their fire time) and the activity
// work items it scheduled. The Effects parts that change them (api/effects.h) and the reads
// the engine and the management API make (DurableStore) are here; the engine's rules (replay,
// actions to events) are in src/durable/.
//
// Events are JSON text in Nimbus's own form (src/durable/history.h builds and reads them):
// {"kind":"taskCompleted","eventId":-1,"ts":<ms>,...}. The store treats them as opaque.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/queue_store.h"

namespace nimbus::api {

// Durable Task's OrchestrationStatus numbers; names as the HTTP API spells runtimeStatus.
enum class RuntimeStatus {
  running = 0,
  completed = 1,
  continued_as_new = 2,
  failed = 3,
  canceled = 4,
  terminated = 5,
  pending = 6,
  suspended = 7,
};
const char* runtime_status_name(RuntimeStatus s);  // "Running", "Completed", ...
// Case-insensitive, as the HTTP API's runtimeStatus filter is.
std::optional<RuntimeStatus> parse_runtime_status(std::string_view name);
inline bool is_terminal(RuntimeStatus s) {
  return s == RuntimeStatus::completed || s == RuntimeStatus::failed ||
         s == RuntimeStatus::terminated || s == RuntimeStatus::canceled;
}

struct InstanceState {
  std::string id;
  std::string name;          // the orchestrator function
  std::string execution_id;  // changes on continue-as-new
  RuntimeStatus status = RuntimeStatus::pending;
  std::string input;          // JSON text of the current execution's input ("" = none)
  std::string output;         // JSON text ("" = none)
  std::string custom_status;  // JSON text ("" = none)
  std::string failure;        // JSON text {"errorType","errorMessage"} ("" = none)
  std::string parent;         // JSON {"instanceId","executionId","taskScheduledId"} ("" = none)
  UnixMillis created = 0, updated = 0, completed = 0;
  int64_t history_events = 0;  // events in the current execution's history
};

// --- Effects parts (api/effects.h holds them in its variants) ---

// Creates an instance (status pending) and delivers its executionStarted (`started`, event
// JSON) to its inbox, visible at `start_at` (0: now). An existing instance that is not
// terminal fails the commit with queue_already_exists ("instance exists"); a terminal one is
// replaced (its history and inbox dropped), as Durable Functions' default reuse policy does.
struct OrchestrationStart {
  InstanceState instance;  // id, name, execution_id, input, parent
  std::string started;     // the executionStarted event
  UnixMillis start_at = 0;
};
// Delivers one event to an instance's inbox, visible at `visible_at` (0: now). When the
// instance does not exist the event is dropped (a sendEvent to nobody, a late timer of a
// purged instance), unless `require_instance`, which fails the commit with queue_not_found.
struct OrchestrationEvent {
  std::string instance_id;
  std::string event;
  UnixMillis visible_at = 0;
  bool require_instance = false;
};
// An activity work item scheduled by an orchestration episode.
struct ActivityTask {
  std::string instance_id;
  std::string execution_id;
  int task_id = 0;  // the taskScheduled event's id
  std::string name;
  std::string input;  // JSON text
};

// The acknowledgement of one orchestration episode: consumes the inbox rows it processed,
// appends its events to the history (after dropping it for continue-as-new) and updates the
// instance row. Fails the commit with pop_receipt_mismatch when the instance's execution is no
// longer `execution_id` (purged, restarted, replaced), so an episode never commits twice.
struct EpisodeAck {
  std::string instance_id;
  std::string execution_id;
  std::vector<int64_t> consumed;  // inbox sequence numbers
  // Activity work items whose results this episode delivers straight from memory (never put in
  // the inbox): deleted in the same commit. One already gone fails the Effects with
  // pop_receipt_mismatch (a duplicate run delivered it already).
  std::vector<int64_t> tasks_done;
  bool reset_history = false;
  std::vector<std::string> history;  // appended in order
  // The instance row after the episode.
  RuntimeStatus status = RuntimeStatus::running;
  std::string new_execution_id;  // continue-as-new; "" keeps it
  std::optional<std::string> input;  // continue-as-new's new input
  std::string output, custom_status, failure;
};
// Consumes an activity work item (its result travels as an OrchestrationEvent in the same
// Effects). A work item already consumed fails with message_not_found: a duplicate run.
struct ActivityAck {
  int64_t task = 0;  // the work item's sequence number
};

// --- commit notices ---

// An instance has inbox events, visible from `visible_at`.
// `events` are the inbox rows this commit added for the instance (sequence number, visible
// time, event), in order, so an engine holding the instance's state in memory can run its next
// episode without reading the inbox back.
struct InboxAddition {
  int64_t seq = 0;
  UnixMillis visible_at = 0;
  std::string event;
};
struct OrchestrationReady {
  std::string instance_id;
  UnixMillis visible_at = 0;
  std::vector<InboxAddition> events;
};
// A new activity work item (everything needed to run it, so no read is needed).
struct ActivityReady {
  int64_t task = 0;
  ActivityTask item;
};

// --- reads ---

struct InboxEvent {
  int64_t seq = 0;
  std::string event;
};
struct Episode {
  InstanceState instance;
  std::vector<std::string> history;  // empty unless asked for
  std::vector<InboxEvent> inbox;      // visible now, oldest first (at most a bound)
  UnixMillis next_visible = 0;        // the earliest inbox event not yet visible (0: none)
};
struct InstanceQuery {
  std::vector<RuntimeStatus> statuses;  // empty: any
  UnixMillis created_from = 0, created_to = 0;  // 0: unbounded
  UnixMillis completed_before = 0;  // 0: unbounded (retention purges use it)
  std::string id_prefix;
  int top = 100;
  std::string after;  // continuation: ids greater than this
};
struct InstancePage {
  std::vector<InstanceState> instances;
  std::string continuation;  // "" when done
};
struct DurableRecovery {
  std::vector<ActivityReady> tasks;
  std::vector<OrchestrationReady> ready;  // one per instance with inbox events
};

class DurableStore {
 public:
  virtual ~DurableStore() = default;
  virtual void get_instance(std::string id, QueueCallback<InstanceState> done) = 0;
  // The instance, its history when `with_history`, and its visible inbox (at most `max_inbox`).
  virtual void load_episode(std::string id, bool with_history, int max_inbox,
                            QueueCallback<Episode> done) = 0;
  virtual void get_history(std::string id, QueueCallback<std::vector<std::string>> done) = 0;
  virtual void list_instances(InstanceQuery query, QueueCallback<InstancePage> done) = 0;
  // Deletes terminal instances (by id, or all matching the query): rows, history, inbox and
  // work items. Returns how many.
  virtual void purge(std::vector<std::string> ids, QueueCallback<int64_t> done) = 0;
  virtual void purge_matching(InstanceQuery query, QueueCallback<int64_t> done) = 0;
  // At start: every activity work item and every instance with inbox events.
  virtual void recover(QueueCallback<DurableRecovery> done) = 0;
};

}  // namespace nimbus::api
