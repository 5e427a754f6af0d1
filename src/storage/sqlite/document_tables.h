#pragma once
// The document domain's set of tables on the storage engine (SqliteEngine): the schema, every
// item operation as row changes, the typed path index, TTL, the change feed, and the document
// parts of an api::Effects (DocumentUpsert, DocumentDelete) that the engine's commit applies.
//
// Tables:
// - doc_databases (one row per database), doc_containers (one row per container: its
//   definition as JSON and its LSN counter, so every item write takes the next LSN in the
//   same transaction that writes the item);
// - doc_items (one row per live item: container, canonical partition key text, id, LSN,
//   modified time, expiry, etag, the stored JSON with system properties); unique on
//   (cid, pk, id) — which is also the partition scan — and indexed on (cid, lsn) for the
//   change feed;
// - doc_index (cid, path, typed value, item): every scalar at every indexed path of every
//   item, so an equality or range filter reads index entries instead of the container. Values
//   are encoded so that memcmp order is Cosmos order within a type (type tag, then an
//   order-preserving number or the UTF-8 bytes), and a range never crosses into another type.
//   Entries are derived from the stored body and the container's index policy alone, so they
//   are removed by recomputing them from the old body (no second index on item).
// - doc_unique (cid, pk, unique key number, value tuple, item): the container's
//   uniqueKeyPolicy per logical partition; the primary key makes the check one lookup; entries
//   are derived from the body like doc_index entries. doc_unique_built (cid) marks containers
//   whose rows are complete; for one of an older version the first checked write builds them
//   (derived rows only: the one write before a check that may still refuse the operation).
// - doc_changes (cid, lsn, n, kind, time, previous LSN, ttl flag, pk, id, body): every change
//   of a container with a changeFeedPolicy, for the AllVersionsAndDeletes change feed;
//   doc_changes_trimmed (cid, lsn) the last LSN whose changes are gone (retention, or the
//   policy switched on later), below which a continuation is refused. New tables only: an
//   older build ignores them (and keeps no changes while it runs).
//
// Threading: every function runs on the engine's writer thread inside its batch transaction.
// SQLite failures throw SqlError (the engine rolls the batch back); expected failures are
// api::DocError values. Every operation checks everything before its first write, so a
// failing operation changes nothing even though it shares the batch transaction.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/document_store.h"
#include "api/effects.h"
#include "storage/sqlite/sqlite_db.h"

namespace nimbus::storage::document_tables {

extern const char* const kSchema;

// Rid and etag pieces shared with access_tables.cc: a rid is the base64 of big-endian ids
// ('/' as '-', since rids appear in _self paths); an etag is a quoted random UUID.
std::string rid_of(std::string_view raw);
std::string be32(uint32_t v);
std::string be64(uint64_t v);
std::string db_rid(int64_t dbid);
std::string quoted_uuid();

using api::DocResult;

// Database and container operations.
DocResult<api::DatabaseInfo> create_database(SqliteDb& db, const std::string& id,
                                             const std::optional<api::Throughput>& throughput);
DocResult<api::DatabaseInfo> read_database(SqliteDb& db, const std::string& id);
DocResult<std::vector<api::DatabaseInfo>> list_databases(SqliteDb& db);
DocResult<void> delete_database(SqliteDb& db, const std::string& id);
DocResult<api::ContainerInfo> create_container(SqliteDb& db, const std::string& database,
                                               const api::ContainerSpec& spec);
DocResult<api::ContainerInfo> read_container(SqliteDb& db, const api::ContainerRef& ref);
DocResult<std::vector<api::ContainerInfo>> list_containers(SqliteDb& db,
                                                           const std::string& database);
DocResult<void> delete_container(SqliteDb& db, const api::ContainerRef& ref);
DocResult<std::vector<api::OfferInfo>> list_offers(SqliteDb& db);
DocResult<api::OfferInfo> read_offer(SqliteDb& db, const std::string& id);
DocResult<api::OfferInfo> replace_offer(SqliteDb& db, const std::string& id, const api::Throughput& t,
                                        const std::optional<std::string>& if_match);
DocResult<api::ContainerInfo> replace_container(SqliteDb& db, const api::ContainerRef& ref,
                                                const api::ContainerSpec& spec, bool has_partition_key,
                                                bool has_unique_key_policy, const std::optional<std::string>& if_match);

// Item operations (see api::DocumentStore for their meaning).
enum class WriteMode { create, upsert, replace };
DocResult<api::Item> write_item(SqliteDb& db, WriteMode mode, const api::ContainerRef& ref,
                                const std::optional<api::PartitionKey>& pk,
                                const boost::json::object& body, const std::string* replace_id,
                                const std::optional<std::string>& if_match);
DocResult<api::Item> read_item(SqliteDb& db, const api::ContainerRef& ref, const std::string& id,
                               const api::PartitionKey& pk, api::ItemForm form = api::ItemForm::parsed);
DocResult<int64_t> delete_partition(SqliteDb& db, const api::ContainerRef& ref, const api::PartitionKey& pk);
DocResult<int64_t> delete_item(SqliteDb& db, const api::ContainerRef& ref, const std::string& id,
                               const api::PartitionKey& pk,
                               const std::optional<std::string>& if_match);
// Partial update: the operations on the current item (If-Match and the condition checked
// first), then a replace of that version (unique keys, size, LSN as for any write).
DocResult<api::Item> patch_item(SqliteDb& db, const api::ContainerRef& ref, const std::string& id,
                                const api::PartitionKey& pk, const api::PatchSpec& patch,
                                const std::optional<std::string>& if_match);
// A transactional batch (all or nothing, under a savepoint inside the engine's transaction) or
// a bulk request (each operation on its own); see api::DocumentStore::execute_batch.
DocResult<std::vector<api::BatchOperationResult>> execute_batch(
    SqliteDb& db, const api::ContainerRef& ref, const std::optional<api::PartitionKey>& pk,
    const std::vector<api::BatchOperation>& ops, const api::BatchOptions& options);
// Exposed for unit tests: the patch operations applied to `doc` in order (no store access). On
// failure `doc` is partly changed and the error names the operation, its path and the fix.
std::optional<api::DocError> apply_patch(boost::json::object& doc,
                                         const std::vector<api::PatchOperation>& ops,
                                         const std::string& item);
DocResult<api::Page> read_feed(SqliteDb& db, const api::ContainerRef& ref,
                               const api::FeedOptions& options);
DocResult<api::Page> query(SqliteDb& db, const api::ContainerRef& ref,
                           const api::DocumentQuery& query, const api::FeedOptions& options);
DocResult<api::ChangeFeedPage> read_change_feed(SqliteDb& db, const api::ContainerRef& ref,
                                                const api::ChangeFeedOptions& options);

// Rows of a container, live and expired, and its index entries (tests: index maintenance and
// TTL purge are observable without a second connection).
struct RowCounts {
  int64_t items = 0;
  int64_t index_entries = 0;
  int64_t unique_entries = 0;  // doc_unique rows
  int64_t counted_items = 0;   // doc_containers.items, kept by every write
};
DocResult<RowCounts> row_counts(SqliteDb& db, const api::ContainerRef& ref);
std::vector<api::ContainerItems> item_counts(SqliteDb& db);
// Brings an older file's document tables to the current format: the item count column
// (counted once) and, before format 2, `_lsn` taken out of every stored body.
void migrate(SqliteDb& db, int64_t format);

// Deletes up to `limit` expired items (and their index entries) in its own transaction; call
// between batches. Expiry takes no LSN (LatestVersion never shows deletes), except in a
// container that keeps its changes, where it is a delete of the all-versions feed. Also drops
// changes older than their container's retention.
void sweep_expired(SqliteDb& db, api::UnixMillis now, int limit = 2000);

// Checks of an item body that need no reads: id, nesting depth, finite numbers, ttl type.
std::optional<api::DocError> check_body(const boost::json::object& body);

// --- the document parts of api::Effects ---
std::optional<api::QueueError> check(const api::DocumentUpsert& w);
std::optional<api::QueueError> check(const api::DocumentDelete& w);
std::variant<api::WriteReceipt, api::QueueError> apply(SqliteDb& db, const api::DocumentUpsert& w);
std::variant<api::WriteReceipt, api::QueueError> apply(SqliteDb& db, const api::DocumentDelete& w);
// A change-feed lease's advance (api::LeaseAdvance): a replace under If-Match. A changed lease
// is pop_receipt_mismatch, a missing one message_not_found (the trigger's "lost the lease").
std::optional<api::QueueError> check(const api::LeaseAdvance& a);
std::variant<api::DocumentReceipt, api::QueueError> apply(SqliteDb& db, const api::LeaseAdvance& a);

// Exposed for unit tests: the order-preserving typed encoding of an index value (nullopt for
// objects and arrays, which are not index values) and the stored path of a property path.
std::optional<std::string> encode_index_value(const boost::json::value& v);
std::string encode_path(const std::vector<std::string>& components);

}  // namespace nimbus::storage::document_tables
