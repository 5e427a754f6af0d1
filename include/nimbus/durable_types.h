#pragma once
// The data an orchestration episode exchanges between the Nimbus host and the SDK's replay
// executor: the instance's history (events) and what the orchestrator wants done next
// (actions). The shapes mirror the Durable Task protocol's HistoryEvent and
// OrchestratorAction (../shared/reference/durable.md §2), so a gRPC front can map them one to
// one. Every payload (inputs, results, event data) is JSON text; "" means no value.
//
// Included by nimbus/nimbus.h (the App registry names these types) and nimbus/durable.h
// (the coroutine SDK). Standard library only.
#include <cstdint>
#include <string>
#include <vector>

namespace nimbus::durable {

// Durable Task's OrchestrationStatus, same numbers.
enum class OrchestrationStatus {
  running = 0,
  completed = 1,
  continued_as_new = 2,
  failed = 3,
  canceled = 4,
  terminated = 5,
  pending = 6,
  suspended = 7,
};

// Durable Task's TaskFailureDetails, the part Nimbus carries.
struct Failure {
  std::string error_type;     // e.g. "std::runtime_error", "TimeoutError", "NonDeterminismError"
  std::string error_message;
  bool empty() const { return error_type.empty() && error_message.empty(); }
};

// History event kinds the host delivers to the SDK (names as in the protocol's oneof).
// Terminate, suspend and resume are carried out by the host and never reach the SDK.
enum class EventKind {
  orchestrator_started,         // first event of every episode; timestamp = the replay clock
  execution_started,            // name, input, instance_id, execution_id
  execution_completed,          // status, result, failure
  task_scheduled,               // event_id = action id; name, input
  task_completed,               // task_scheduled_id, result
  task_failed,                  // task_scheduled_id, failure
  sub_orchestration_created,    // event_id = action id; name, input, instance_id (child)
  sub_orchestration_completed,  // task_scheduled_id, result
  sub_orchestration_failed,     // task_scheduled_id, failure
  timer_created,                // event_id = action id; fire_at_ms
  timer_fired,                  // task_scheduled_id = the timer's id; fire_at_ms
  event_sent,                   // event_id = action id; instance_id (target), name, input
  event_raised,                 // name, input
};

struct HistoryEvent {
  EventKind kind = EventKind::orchestrator_started;
  int event_id = -1;         // the action id for scheduling events; -1 for inbox events
  int64_t timestamp_ms = 0;  // Unix ms when the host recorded it
  std::string name;          // orchestrator, activity or event name
  std::string input;         // JSON text
  std::string result;        // JSON text
  int task_scheduled_id = -1;
  int64_t fire_at_ms = 0;
  std::string instance_id;
  std::string execution_id;
  OrchestrationStatus status = OrchestrationStatus::running;
  Failure failure;
};

struct Action {
  enum class Kind {
    schedule_task,             // id, name, input
    create_sub_orchestration,  // id, name, input, instance_id ("" = the host picks
                               // "<parent execution id>:<id in 4 hex digits>")
    create_timer,              // id, fire_at_ms
    send_event,                // id, instance_id (target), name, input
    complete_orchestration,    // status completed | failed | continued_as_new; result (the
                               // output, or the new input); failure; carryover_events
  };
  Kind kind = Kind::schedule_task;
  int id = 0;  // 1, 2, 3... in the order the orchestrator issued them, across replays
  std::string name;
  std::string input;
  std::string instance_id;
  int64_t fire_at_ms = 0;
  OrchestrationStatus status = OrchestrationStatus::completed;
  std::string result;
  Failure failure;
  std::vector<HistoryEvent> carryover_events;  // continue-as-new keeping unprocessed events
};

// One episode: the committed history of the current execution and the events delivered now
// (never empty; the first is always orchestrator_started).
struct OrchestratorRequest {
  std::string instance_id;
  std::string execution_id;
  std::vector<HistoryEvent> past_events;
  std::vector<HistoryEvent> new_events;
};

// The orchestrator's new actions (only those not already in the history) and its custom
// status (JSON text, "" for none). An orchestrator that threw, or no longer matches its
// history, answers one complete_orchestration action with status failed.
struct OrchestratorResponse {
  std::vector<Action> actions;
  std::string custom_status;
};

}  // namespace nimbus::durable
