#pragma once
// The queue domain's set of tables on the storage engine (SqliteEngine): the schema, the row
// operations the queue store's operations are made of, and the queue parts of an api::Effects
// (QueueAck, QueuePut) that the engine's commit applies.
//
// Tables: queue_queues (one row per queue: account, name, metadata, ACL), queue_messages (one
// row per message, indexed on (qid, visible, seq, expires) so Get and Peek walk the head of the
// index at any depth), queue_service (service properties per account). A message id carries
// its row id plus a random salt, so Delete/Update find the row by primary key.
//
// Threading: every function here runs on the engine's writer thread, inside its batch
// transaction, with the batch's SqliteDb. SQLite failures throw SqlError (the engine rolls the
// batch back); expected failures are api::QueueError values.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/effects.h"
#include "storage/sqlite/sqlite_db.h"

namespace nimbus::storage::queue_tables {

extern const char* const kSchema;
// Brings a data directory made by an earlier version up to kSchema (adds missing columns).
void migrate(SqliteDb& db);

api::QueueError err(api::QueueErrc code, std::string message);
std::string describe(const api::QueueRef& q);
// Every write path checks the name, so nothing (an output binding, a poison move) can create a
// queue the REST API cannot address.
std::optional<api::QueueError> check_name(const api::QueueRef& q);
// Metadata goes back out as HTTP headers: names are identifiers, values printable ASCII.
std::optional<api::QueueError> check_metadata(const api::QueueMetadata& md);
api::QueueError queue_not_found(const api::QueueRef& q);

std::string format_message_id(uint64_t salt, uint64_t seq);
bool parse_message_id(std::string_view id, uint64_t& salt, uint64_t& seq);
std::string format_pop_receipt(uint64_t pop);
std::string metadata_to_json(const api::QueueMetadata& md);
api::QueueMetadata metadata_from_json(std::string_view text);
std::string acl_to_json(const std::vector<api::SignedIdentifier>& acl);
std::vector<api::SignedIdentifier> acl_from_json(std::string_view text);
// Azure compares metadata names case-insensitively; order does not matter.
bool same_metadata(const api::QueueMetadata& a, const api::QueueMetadata& b);

// --- rows ---
std::optional<int64_t> find_queue(SqliteDb& db, const api::QueueRef& q);
// Every message of one queue (Clear Messages, and the first half of Delete Queue).
void delete_messages(SqliteDb& db, int64_t qid);
// The queue's id, creating the queue when missing (output bindings, dead letters).
int64_t ensure_queue(SqliteDb& db, const api::QueueRef& q);
// Name, size, TTL and delay of a message to be put.
std::optional<api::QueueError> validate(const api::NewMessage& m);
// Inserts and records a QueueVisible notice for the batch.
api::MessageReceipt insert(SqliteDb& db, int64_t qid, const api::NewMessage& m);
struct Located {
  int64_t seq;
  std::string body;
  std::string trace;
};
// Finds an unexpired message of `qid` by id and checks its pop receipt.
std::variant<Located, api::QueueError> locate(SqliteDb& db, int64_t qid,
                                              const api::QueueRef& queue, std::string_view id,
                                              std::string_view pop_receipt);
void delete_row(SqliteDb& db, int64_t seq);
// Expired messages are invisible at once; this deletes a bounded number of their rows.
void sweep_expired(SqliteDb& db, UnixMillis now);

// --- the queue parts of api::Effects ---
// Checks that need no reads, done for every part before anything is written.
std::optional<api::QueueError> check(const api::QueueAck& ack);
std::optional<api::QueueError> check(const api::QueuePut& put);
// Deletes (and dead-letters) the acknowledged message; its dead-letter receipt when moved.
std::variant<std::optional<api::MessageReceipt>, api::QueueError> apply(SqliteDb& db,
                                                                        const api::QueueAck& ack);
api::MessageReceipt apply(SqliteDb& db, const api::QueuePut& put);

}  // namespace nimbus::storage::queue_tables
