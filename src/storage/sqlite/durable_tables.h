#pragma once
// The durable-orchestration domain's tables on the storage engine (SqliteEngine): instances,
// their histories, their inboxes (events visible from a time; timers are inbox events) and
// activity work items; the durable parts of an api::Effects (OrchestrationStart,
// OrchestrationEvent, ActivityTask, EpisodeAck, ActivityAck) and their commit notices
// (OrchestrationReady, ActivityReady).
//
// Tables: durable_instances (one row per instance, by id), durable_history ((instance, seq):
// the current execution's events, a few per row: a JSON array of events, or one event
// object (every row of files written before 2026-11-30); seq = the number of the row's first event,
// from 0), durable_inbox (seq: FIFO per instance, with a
// visible time), durable_tasks (seq: activity work items, deleted when their result commits).
//
// Threading: every function runs on the engine's writer thread inside its batch transaction.
// SQLite failures throw SqlError; expected failures are api::QueueError values.
#include <optional>
#include <variant>

#include "api/effects.h"
#include "storage/sqlite/sqlite_db.h"

namespace nimbus::storage::durable_tables {

// The inbox and work-item numbers (see durable_tables.cc): open_next_seq reads where they
// stand, once, with the file locked; save_next_seq writes them in each transaction, before
// its COMMIT, if any were given out.
void open_next_seq(SqliteDb& db);
void save_next_seq(SqliteDb& db);

extern const char* const kSchema;

std::optional<api::InstanceState> find_instance(SqliteDb& db, std::string_view id);
std::vector<std::string> read_history(SqliteDb& db, std::string_view id);
api::Episode load_episode(SqliteDb& db, std::string_view id, bool with_history, int max_inbox);
api::InstancePage list(SqliteDb& db, const api::InstanceQuery& q);
// Deletes one instance's rows whatever its status (the caller checks).
void delete_instance(SqliteDb& db, std::string_view id);
api::DurableRecovery recover(SqliteDb& db);

// --- the durable parts of api::Effects ---
std::optional<api::QueueError> check(const api::OrchestrationStart& w);
std::optional<api::QueueError> check(const api::OrchestrationEvent& w);
std::optional<api::QueueError> check(const api::ActivityTask& w);
std::optional<api::QueueError> check(const api::EpisodeAck& a);
std::optional<api::QueueError> check(const api::ActivityAck& a);
std::variant<api::WriteReceipt, api::QueueError> apply(SqliteDb& db, const api::OrchestrationStart& w);
std::variant<api::WriteReceipt, api::QueueError> apply(SqliteDb& db, const api::OrchestrationEvent& w);
std::variant<api::WriteReceipt, api::QueueError> apply(SqliteDb& db, const api::ActivityTask& w);
std::optional<api::QueueError> apply(SqliteDb& db, const api::EpisodeAck& a);
std::optional<api::QueueError> apply(SqliteDb& db, const api::ActivityAck& a);

}  // namespace nimbus::storage::durable_tables
