#pragma once
// The document store: databases, containers and JSON items with the semantics of the Cosmos DB
// NoSQL API (partition keys, ETags, system properties, TTL, a per-container LSN and its change
// feed), as one interface that each storage backend (SQLite now, PostgreSQL later) implements
// and tests/conformance/document_store_conformance.* checks. The Cosmos REST service
// (src/documents/), the cosmosDB bindings and the change-feed trigger use it.
//
// Why callbacks: as api/queue_store.h — backends batch many operations into one transaction and
// one fsync (group commit); a caller submits and is completed later, on a backend-owned thread.
//
// Why queries come as an interface (DocumentQuery) and not as SQL text: the SQL engine lives in
// src/documents/ (nimbus_docsql), which storage may not depend on. The document service parses
// the text once and hands the store a prepared query that can (a) say which index predicates it
// implies and (b) run itself over the candidate documents the store feeds it (re-checking the
// whole WHERE). The store never interprets SQL; any superset of the matching documents is
// correct input, so the index is a pure optimization.
//
// Contract for every implementation:
// - Each operation is atomic; a completion with a value means the effect is durable under the
//   backend's durability setting.
// - Completions run on a backend-owned thread, exactly once, must be quick and must not block.
//   A point read (read_item) may instead complete on the calling thread before the call
//   returns (the SQLite backend reads at once when its writer is idle): a caller must not
//   hold a lock across the call that its callback takes.
// - Expected failures are DocError values (the closed set below, one Cosmos status each);
//   nothing throws across this interface. Methods are thread-safe.
// - Every write of an item (create, replace, upsert, patch, delete, each write of a batch;
//   expiry excluded) takes the next value of its container's LSN (monotonically increasing,
//   never reused, starting at 1). The store maintains `_rid`, `_self`, `_etag`, `_ts` (epoch
//   seconds) and `_attachments`; values a client sends for them (and for `_lsn`) are ignored.
//   As on the service, an item's LSN shows as `_lsn` only in the change feed: item answers
//   and queries carry it in `Item::lsn` (the session token), not in the body, so a replaced
//   item reads back as it was sent plus `_etag`/`_ts`.
// - Expired items (container defaultTtl, item `ttl`) are invisible at once and purged later.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace nimbus::api {

// The closed set of document store failures; each maps to one Cosmos status and `code` (the
// REST layer does the mapping in one place).
enum class DocErrc {
  bad_request,          // 400 BadRequest: an invalid id, body, partition key, option or query
  not_found,            // 404 NotFound: no such database, container or item (or it expired)
  conflict,             // 409 Conflict: the id exists already (in the logical partition)
  precondition_failed,  // 412 PreconditionFailed: If-Match does not match the current _etag
  too_large,            // 413 RequestEntityTooLarge: an item over kMaxItemBytes
  unavailable,          // 503 ServiceUnavailable: the store is shutting down; retry
  storage_failure,      // 500 InternalServerError: the backend failed; nothing was applied
};

inline const char* doc_errc_name(DocErrc c) {
  switch (c) {
    case DocErrc::bad_request: return "BadRequest";
    case DocErrc::not_found: return "NotFound";
    case DocErrc::conflict: return "Conflict";
    case DocErrc::precondition_failed: return "PreconditionFailed";
    case DocErrc::too_large: return "RequestEntityTooLarge";
    case DocErrc::unavailable: return "ServiceUnavailable";
    case DocErrc::storage_failure: return "InternalServerError";
  }
  return "InternalServerError";
}

inline int doc_errc_status(DocErrc c) {
  switch (c) {
    case DocErrc::bad_request: return 400;
    case DocErrc::not_found: return 404;
    case DocErrc::conflict: return 409;
    case DocErrc::precondition_failed: return 412;
    case DocErrc::too_large: return 413;
    case DocErrc::unavailable: return 503;
    case DocErrc::storage_failure: return 500;
  }
  return 500;
}

struct DocError {
  DocErrc code;
  std::string message;  // for people: what, where, how to fix
};

// A value or a DocError (the same small shape as QueueResult).
template <class T>
class DocResult {
 public:
  DocResult(T value) : v_(std::move(value)) {}
  DocResult(DocError error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const DocError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, DocError> v_;
};

template <>
class DocResult<void> {
 public:
  DocResult() = default;
  DocResult(DocError error) : error_(std::move(error)) {}
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const DocError& error() const { return *error_; }

 private:
  std::optional<DocError> error_;
};

template <class T>
using DocCallback = std::function<void(DocResult<T>)>;

// Documented service limits (Cosmos DB "service quotas").
inline constexpr size_t kMaxItemBytes = 2 * 1024 * 1024;    // serialized item, with system props
// How the service's answer to a request or item over that size begins (the SDK's bulk tests
// match it); Nimbus's own sentence follows.
inline constexpr std::string_view kTooLargeLead = "Message: {\"Errors\":[\"Request size is too large\"]}\r\n";
inline constexpr size_t kMaxIdLength = 255;                  // characters of an id
inline constexpr size_t kMaxPartitionKeyBytes = 2048;        // serialized partition key value
// Nesting depth of an item (objects and arrays). The service's own limit is not documented;
// ours keeps every recursive walk (index, validation, the SQL engine) far from the stack's end.
inline constexpr int kMaxItemDepth = 128;
inline constexpr int kDefaultMaxItemCount = 100;  // a page when the client asks for -1 / none
inline constexpr int kMaxMaxItemCount = 1000;

struct ContainerRef {
  std::string database;
  std::string container;
  bool operator==(const ContainerRef&) const = default;
};

// A logical partition key value: one JSON value per partition key path, as the
// x-ms-documentdb-partitionkey header carries it (`["v"]`, `[null]`, `["a","b"]`). An empty
// object `{}` stands for "undefined" (the item has no value at that path), as the SDK's
// `[{}]` does.
using PartitionKey = boost::json::array;

// Rules for item ids: a non-empty string of at most 255 characters without '/', '\\' or '#'
// (they would change which resource a path names). The service also takes '?' and a
// trailing space in item ids: the SDK's own id-encoding tests create, read, replace and delete
// "Disallowed?Chars" and "Test   " through the compute gateway, and its item check refuses
// only / \\ #. Returns an empty string when valid, else what is wrong (for a message naming
// the id).
inline std::string check_item_id(std::string_view id) {
  if (id.empty()) return "is empty; give a non-empty id";
  if (id.size() > kMaxIdLength)
    return "is " + std::to_string(id.size()) + " characters long; ids hold at most 255";
  for (char c : id)
    if (c == '/' || c == '\\' || c == '#')
      return std::string("contains '") + c + "', which ids may not contain (/ \\ #); " +
             "replace or encode it";
  return "";
}

// Database and container ids (Cosmos "resource ids"): an item id's rules, and neither '?' nor
// a trailing space.
inline std::string check_resource_id(std::string_view id) {
  if (auto e = check_item_id(id); !e.empty()) return e;
  if (id.find('?') != std::string_view::npos)
    return "contains '?', which database and container ids may not contain; replace or encode it";
  if (id.back() == ' ') return "ends with a space, which ids may not; trim it";
  return "";
}

// --- databases and containers ---

struct DatabaseInfo {
  // The resource as the REST API returns it: id, _rid, _self, _etag, _ts, _colls, _users.
  boost::json::object resource;
};

// Provisioned throughput, as a create's x-ms-offer-throughput (manual) or
// x-ms-cosmos-offer-autopilot-settings (autoscale) header gives it; exactly one is > 0.
// Nimbus enforces no request-unit budget: offers are kept so that what the SDK does with
// them (readOffer, offer.replace, create with throughput or maxThroughput) works as on the
// service, and a script that scales a container does not fail here.
struct Throughput {
  int64_t manual = 0;         // RU/s: at least 400, a multiple of 100
  int64_t autoscale_max = 0;  // RU/s: at least 1,000, a multiple of 1,000
  // Empty when valid, else what is wrong and the fix.
  std::string check() const;
};

// An offer (`/offers/{id}`): one per container with its own throughput (a container created
// without throughput in a database without shared throughput gets 400 RU/s, as on the
// service) and one per database created with shared throughput. Deleted with its owner.
struct OfferInfo {
  // {id, _rid, _self "offers/{id}/", _etag, _ts, offerVersion "V2", offerType "Invalid",
  //  resource (the owner's _self), offerResourceId (the owner's _rid), content}
  boost::json::object resource;
};

// --- users and permissions (the service's access control) ---
//
// A user (`/dbs/{db}/users/{id}`) is a name that permissions hang on; a permission
// (`.../users/{id}/permissions/{pid}`) grants "Read" or "All" on one container or item of the
// same database, optionally on one logical partition (`resourcePartitionKey`). A client that
// holds a permission's resource token may do what it grants and nothing else. Deleting a user
// deletes its permissions; deleting a database deletes its users.

// A user or a permission as the REST API returns it. User: {id, _rid, _self, _etag, _ts,
// _permissions}. Permission: {id, permissionMode, resource (as given), resourcePartitionKey
// (when given), _rid, _self, _etag, _ts}; the service adds `_token`.
struct AccessInfo {
  boost::json::object resource;
  int64_t permission = 0;  // permissions: the number a resource token names (never reused)
  bool created = false;    // a write that created it (201), not replaced one (200)
};

// How a write of a user or a permission treats an existing one: create (conflict when the id
// exists), upsert (create or replace the one with the body's id), replace (the one named by
// `id`, which the body's id may rename; not_found when missing).
enum class AccessWrite { create, upsert, replace };

// What one permission grants, for checking a request made with its resource token.
struct PermissionGrant {
  std::string database;
  std::string mode;  // "Read" or "All"
  // The resource as a name link: "dbs/d/colls/c" or "dbs/d/colls/c/docs/id" (a permission
  // given by _self links is resolved when written, so requests by name can be matched).
  std::string link;
  // The canonical JSON array of the granted logical partition (as x-ms-documentdb-partitionkey
  // carries it); empty: every partition.
  std::string partition_key;
};

// The longest change feed retention a container may ask for. The service documents none that
// we could verify; a week bounds what the store keeps per write.
inline constexpr int64_t kMaxChangeFeedRetentionMinutes = 7 * 24 * 60;
// The most dimensions a vector embedding may declare (the service documents 4,096 for its
// flat index and more for others; the policy is checked, not enforced on items).
inline constexpr int64_t kMaxVectorDimensions = 4096;

struct ContainerSpec {
  std::string id;
  // "/pk", nested "/a/b", or several for hierarchical keys (kind "MultiHash"). Empty: the
  // container is not partitioned (every item in one partition).
  std::vector<std::string> partition_key_paths;
  std::string partition_key_kind = "Hash";
  int partition_key_version = 2;
  // Absent: items never expire. -1: TTL on, items expire only with their own `ttl`. n > 0:
  // items expire n seconds after their last write unless their `ttl` says otherwise.
  std::optional<int64_t> default_ttl;
  // Kept as given (with defaults filled in); excludedPaths / includedPaths / indexingMode
  // "none" decide what the index holds.
  boost::json::object indexing_policy;
  // {"uniqueKeys": [{"paths": ["/email"]}, ...]}: enforced per logical partition by the
  // store (conflict naming the key); a missing value counts as null, as the service does.
  boost::json::object unique_key_policy;
  // geospatialConfig.type: "Geography" or "Geometry" (checked against the spatial indexes'
  // bounding boxes). The ST_ functions always measure Geography (documents/query/spatial.h).
  std::string geospatial_type = "Geography";

  // vectorEmbeddingPolicy as given (checked): the embeddings VectorDistance queries compare;
  // it cannot change once the container exists.
  boost::json::object vector_embedding_policy;

  // fullTextPolicy as given (checked): {defaultLanguage, fullTextPaths: [{path, language}]}.
  // The full-text functions analyze text with common/fulltext.h. Each path of
  // indexingPolicy.fullTextIndexes also gets index rows of its text's tokens, which answer
  // FullTextContains filters; the policy's languages change nothing (one analysis for all).
  boost::json::object full_text_policy;

  // changeFeedPolicy.retentionDuration: for how many minutes every change (each version, each
  // delete) is kept for the all-versions-and-deletes change feed; 0: none is kept, that mode is
  // refused, and writes cost nothing extra.
  int64_t change_feed_retention_minutes = 0;

  // Computed properties, (name, query) as given: `SELECT VALUE <expr> FROM c`. Queries read
  // `c.<name>` as the expression over the item; they are never stored in items nor shown by
  // `SELECT *`, and are never served from the index (a filter on one scans).
  std::vector<std::pair<std::string, std::string>> computed_properties;
  // Create only, not part of the definition: the container's own offer (absent: none when
  // its database has shared throughput, else 400 RU/s).
  std::optional<Throughput> throughput;

  // The REST body of a create (`{id, partitionKey:{paths,kind,version}, defaultTtl?,
  // indexingPolicy?, uniqueKeyPolicy?}`), checked: what is wrong is named, with the fix.
  static DocResult<ContainerSpec> from_json(const boost::json::object& body);
};

struct ContainerInfo {
  ContainerSpec spec;
  // The resource as the REST API returns it: the spec's fields (partitionKey included) plus
  // _rid, _self, _etag, _ts, _docs, _sprocs, _triggers, _udfs, _conflicts.
  boost::json::object resource;
  // Its item rows (read_container only; -1 elsewhere), expired ones not yet purged included:
  // the documentsCount of x-ms-resource-usage.
  int64_t items = -1;
};

// --- items ---

// An item as stored: the body with its system properties.
enum class ItemForm { parsed, text };

struct ContainerItems {
  ContainerRef ref;
  int64_t items = 0;
};

struct Item {
  boost::json::object document;  // empty when read in ItemForm::text
  // The document as stored (its JSON text, system properties included) when the store had it
  // at hand: after a create, upsert or replace (not in a batch's results) and on a read in
  // ItemForm::text. Callers that only send the item on (the Cosmos endpoint) answer with it
  // instead of serializing `document` again.
  std::string text;
  std::string etag;  // == document["_etag"]
  int64_t lsn = 0;   // its last write's LSN (not in `document`: see the header comment)
  bool created = false;  // upsert: true when it inserted (201), false when it replaced (200)
  // Its container's _rid, when the store had it at hand (point reads and writes): the REST
  // layer's x-ms-content-path, without which the SDK keeps no session token.
  std::string container_rid;
};

// What a query's run cost (the REST layer's x-ms-documentdb-query-metrics): documents read
// and their stored size, whether an index chose them, and the time the store spent. A query
// re-runs whole for each page, so these are per page. Every read counts: an index walk that
// gives way to a scan (too few rows) leaves its reads in the count beside the scan's.
struct QueryStats {
  int64_t retrieved_documents = 0;
  int64_t retrieved_bytes = 0;
  bool from_index = false;  // candidates from doc_index (an equality, IN or range, or ORDER BY)
  double execution_ms = 0;
};

struct Page {
  std::vector<boost::json::value> items;  // documents (read feed) or result rows (query)
  std::string continuation;               // empty on the last page; opaque to callers
  QueryStats stats;                       // queries only
};

struct FeedOptions {
  int max_item_count = -1;  // -1 or 0: the default page size; else 1..kMaxMaxItemCount
  std::string continuation;  // from an earlier Page of the same request, or empty
  // Restricts the read or query to one logical partition (the x-ms-documentdb-partitionkey
  // header); absent: the whole container.
  std::optional<PartitionKey> partition_key;
};

// What a store asks of a prepared query (see the header comment for why this is abstract).
struct IndexPredicate {
  // text: the string at `path` holds every token in `values` (strings already analyzed by
  // common/fulltext.h), which a store with a full-text index on the path can answer.
  enum class Op { eq, in, lt, le, gt, ge, text };
  std::vector<std::string> path;  // property names; array indexes as decimal strings
  Op op = Op::eq;
  std::vector<boost::json::value> values;  // one, every listed value for `in`, tokens for `text`
};
struct QueryHints {
  std::vector<IndexPredicate> predicates;  // all must hold; typed (another type never matches)
  std::optional<boost::json::value> partition_key;  // WHERE fixes the (single) key path to this
  bool reads_documents = true;  // false: the query reads no documents at all (SELECT 1)
  // A single ORDER BY key on a document path. With `take` set, the answer is the first
  // `skip + take` rows in that order and nothing else (TOP / OFFSET LIMIT; no GROUP BY,
  // aggregate, DISTINCT or JOIN): a store may feed documents in that order and stop once run()
  // answers `take` rows and every document not fed sorts strictly after the last one fed.
  std::optional<std::vector<std::string>> order_path;
  bool order_descending = false;
  // ORDER BY [RANK] VectorDistance(<document path>, <fixed vector>) with `take` set: the answer
  // is the first `skip + take` rows by the documents' similarity to `query`, so a store holding
  // the path's vectors may feed the documents best first and stop as with order_path. A
  // document without a score (no vector there, or one of another length) sorts after every
  // scored one when `unscored_last`, before them otherwise.
  struct VectorOrder {
    std::vector<std::string> path;
    std::vector<double> query;
    enum class Distance { cosine, dot_product, euclidean } distance = Distance::cosine;
    bool descending = true;  // larger values first
    bool unscored_last = true;
  };
  std::optional<VectorOrder> vector_order;
  std::optional<int64_t> take;
  int64_t skip = 0;
  // The query is `SELECT VALUE COUNT(<literal>) FROM c` and nothing else: its answer is
  // [the number of documents in scope], which a store may count without reading bodies.
  bool count_only = false;
  // Each document's rows depend on that document alone and come out in input order (no ORDER
  // BY, GROUP BY, aggregate, DISTINCT, TOP, OFFSET or LIMIT): a store may run the query one
  // document at a time and page by document position instead of re-running it per page.
  bool streams = false;
  // ORDER BY one document path (order_path) and nothing that needs the whole input at once
  // (no GROUP BY, aggregate, DISTINCT, JOIN, iteration, TOP, OFFSET or LIMIT): each document
  // yields at most one row, whose sort key is its value at order_path. A store may feed the
  // documents in that order and page by position instead of re-running the query per page
  // (the SQLite store does so over a whole container when no index candidates or partition
  // key narrow the query).
  bool order_streams = false;
};

class DocumentQuery {
 public:
  virtual ~DocumentQuery() = default;
  // The sargable conjuncts of the query for a container with this partition key path ("" when
  // none or hierarchical).
  virtual QueryHints hints(std::string_view partition_key_path) const = 0;
  // Runs the whole query over `next()` (nullptr ends the input; a pointer stays valid until
  // the next call) and returns the final rows in order; a failure is a bad_request naming the
  // position in the query.
  virtual DocResult<std::vector<boost::json::value>> run(
      const std::function<const boost::json::object*()>& next) const = 0;
  // The same query bound to its container's definition (ContainerSpec): each reference to a
  // computed property becomes its expression, and VectorDistance over an embedding's path
  // without a distance function of its own measures with the vectorEmbeddingPolicy's.
  virtual DocResult<std::shared_ptr<const DocumentQuery>> for_container(const ContainerSpec& spec) const = 0;
  // What makes two queries the same query (its text and parameter values): a store that keeps
  // an answer between pages serves it only to the query it was computed for.
  virtual std::string identity() const = 0;
};

// --- change feed (LatestVersion) ---

struct ChangeFeedStart {
  enum class Kind {
    beginning,  // every item, from the first LSN
    now,        // only what is written after this request
    lsn,        // after `lsn` (a continuation: what an earlier page returned)
    time,       // items last written at or after `time_ms`
  };
  Kind kind = Kind::beginning;
  int64_t lsn = 0;
  int64_t time_ms = 0;
};

struct ChangeFeedOptions {
  ChangeFeedStart start;
  // AllVersionsAndDeletes (`A-IM: Full-Fidelity Feed`): every change kept within the
  // container's changeFeedPolicy retention, deletes included, as
  // {current?, metadata: {operationType, lsn, crts, previousImageLSN?, timeToLiveExpired?,
  // id?, partitionKey?}}. Only `now` and `lsn` starts; bad_request for the others, for a
  // container without the policy, and for a continuation older than what is kept.
  bool all_versions = false;
  int max_item_count = -1;
  std::optional<PartitionKey> partition_key;  // one logical partition; absent: the container
};

struct ChangeFeedPage {
  // The latest version of each item changed after the start, in ascending `_lsn`; each
  // carries its `_lsn` (only here, as on the service). All versions: each change, as above.
  std::vector<boost::json::object> items;
  // Where the next request continues (ChangeFeedStart::Kind::lsn): the LSN covered so far.
  int64_t continuation_lsn = 0;
  bool not_modified = false;  // nothing new: the REST layer answers 304
};

// --- partial update (PATCH) ---

// At most this many operations in one patch (the service's documented limit).
inline constexpr size_t kMaxPatchOperations = 10;

// One operation of a partial update, as the service defines them ("Partial document update in
// Azure Cosmos DB"; JSON-Patch paths, `~0` = '~' and `~1` = '/' in property names):
// - add: creates or replaces a property; into an array at an index <= its length (shifting
//   the rest) or at "-" (append); an index beyond the length is bad_request.
// - set: as add, except that an array index < length overwrites that element.
// - replace: the path must exist (else bad_request); overwrites it.
// - remove: the path must exist (else bad_request); an array element shifts the rest back.
// - incr: adds the number `value` to the number at the path, or creates it with `value`;
//   a non-number there is bad_request.
// - move: removes the value at `from` (which must exist) and adds it at `path`.
// The id, the partition key and the store's own properties (_rid, _etag, ...) cannot change.
struct PatchOperation {
  enum class Op { add, set, replace, remove, incr, move };
  Op op = Op::set;
  std::string path;
  std::string from;          // move only
  boost::json::value value;  // add, set, replace, incr
};

struct PatchSpec {
  std::vector<PatchOperation> operations;  // 1..kMaxPatchOperations, applied in order
  // The patch's `condition` ("FROM c WHERE ..."), prepared by the caller; null: none. The
  // patch applies only if it selects the current item; else precondition_failed.
  std::shared_ptr<const DocumentQuery> condition;
  std::string condition_text;  // for messages
};

// --- transactional batch and bulk ---

inline constexpr size_t kMaxBatchOperations = 100;  // per request, as the service allows

struct BatchOperation {
  enum class Type { create, upsert, read, replace, remove, patch };
  Type type = Type::create;
  std::string id;  // read, replace, remove, patch (create/upsert take the body's id)
  // The operation's own partition key. Transactional batch: absent, or the batch's own.
  // Bulk: required for read, remove and patch; create/upsert/replace take the body's when
  // absent.
  std::optional<PartitionKey> partition_key;
  boost::json::object body;  // create, upsert, replace
  PatchSpec patch;           // patch
  std::optional<std::string> if_match;       // replace, remove, patch, upsert
  std::optional<std::string> if_none_match;  // read: the current _etag answers 304
};

struct BatchOperationResult {
  // The HTTP status of this operation: 200/201/204/304 when it succeeded; the DocError's status
  // when it failed; 424 FailedDependency for the others of a failed transactional batch (or
  // those a bulk without continue-on-error did not run).
  int status = 0;
  std::optional<Item> item;       // create, upsert, replace, read, patch that succeeded
  std::optional<DocError> error;  // the failure, or why it was not applied (424)
};

struct BatchOptions {
  // true: a transactional batch: one logical partition (`partition_key` required), all
  // operations or none, in one store transaction. false: bulk: each operation on its own.
  bool atomic = true;
  bool continue_on_error = true;  // bulk only: false stops at the first failure (rest 424)
};

class DocumentStore {
 public:
  virtual ~DocumentStore() = default;

  // --- databases ---
  // 409 if it exists; `throughput`: the database's shared offer (none when absent).
  virtual void create_database(std::string id, std::optional<Throughput> throughput,
                               DocCallback<DatabaseInfo> done) = 0;
  virtual void read_database(std::string id, DocCallback<DatabaseInfo> done) = 0;
  virtual void list_databases(DocCallback<std::vector<DatabaseInfo>> done) = 0;
  // Deletes the database with its containers and their items.
  virtual void delete_database(std::string id, DocCallback<void> done) = 0;

  // --- containers ---
  virtual void create_container(std::string database, ContainerSpec spec,
                                DocCallback<ContainerInfo> done) = 0;  // 409 if it exists
  virtual void read_container(ContainerRef ref, DocCallback<ContainerInfo> done) = 0;
  virtual void list_containers(std::string database,
                               DocCallback<std::vector<ContainerInfo>> done) = 0;
  virtual void delete_container(ContainerRef ref, DocCallback<void> done) = 0;
  // Replaces what may change of a container's definition: defaultTtl (every item's expiry is
  // recomputed from its last write) and indexingPolicy (the index is rebuilt). The id, the
  // partition key and the unique keys cannot change (bad_request naming the field); a body
  // without partitionKey or uniqueKeyPolicy keeps the container's; `if_match` other than the
  // container's _etag is precondition_failed. Done in the one write transaction: a container
  // of many items holds the writer while its index is rebuilt.
  virtual void replace_container(ContainerRef ref, ContainerSpec spec, bool has_partition_key,
                                 bool has_unique_key_policy, std::optional<std::string> if_match,
                                 DocCallback<ContainerInfo> done) = 0;

  // --- items ---
  // `partition_key` absent: taken from the body (an output binding); present: the body must
  // agree with it (bad_request otherwise, as the service answers a header/body mismatch).
  virtual void create_item(ContainerRef ref, std::optional<PartitionKey> partition_key,
                           boost::json::object body, DocCallback<Item> done) = 0;
  virtual void upsert_item(ContainerRef ref, std::optional<PartitionKey> partition_key,
                           boost::json::object body, DocCallback<Item> done) = 0;
  // `if_match`: the _etag the caller read; a different current _etag is precondition_failed.
  virtual void replace_item(ContainerRef ref, std::string id,
                            std::optional<PartitionKey> partition_key, boost::json::object body,
                            std::optional<std::string> if_match, DocCallback<Item> done) = 0;
  // `form`: text leaves Item::document empty and hands over only Item::text (no parse), for a
  // caller that sends the item on unchanged.
  virtual void read_item(ContainerRef ref, std::string id, PartitionKey partition_key,
                         ItemForm form, DocCallback<Item> done) = 0;
  virtual void delete_item(ContainerRef ref, std::string id, PartitionKey partition_key,
                           std::optional<std::string> if_match, DocCallback<void> done) = 0;
  // Deletes every item of one logical partition (the SDK's deleteAllItemsForPartitionKey) in
  // one transaction; answers how many live items it deleted (expired, not yet purged rows go
  // too, uncounted), 0 when none. The service deletes them in the
  // background; here they are gone when the answer comes.
  virtual void delete_partition(ContainerRef ref, PartitionKey partition_key,
                                DocCallback<int64_t> done) = 0;
  // Every live item (or those of one partition), a page at a time, in a stable order.
  virtual void read_feed(ContainerRef ref, FeedOptions options, DocCallback<Page> done) = 0;
  // Runs a prepared query; rows come back a page at a time.
  virtual void query(ContainerRef ref, std::shared_ptr<const DocumentQuery> query,
                     FeedOptions options, DocCallback<Page> done) = 0;
  virtual void read_change_feed(ContainerRef ref, ChangeFeedOptions options,
                                DocCallback<ChangeFeedPage> done) = 0;

  // --- appended: partial update, batch, bulk (issue 9, item 2) ---
  // Applies `patch` to the current item atomically: not_found when it is missing,
  // precondition_failed when `if_match` differs or the condition does not select it,
  // bad_request for an invalid operation (naming it), conflict for a unique key; the item takes
  // the next LSN (the change feed shows it) and is returned.
  virtual void patch_item(ContainerRef ref, std::string id, PartitionKey partition_key,
                          PatchSpec patch, std::optional<std::string> if_match,
                          DocCallback<Item> done) = 0;
  // Runs up to kMaxBatchOperations operations in order (see BatchOptions). A result per
  // operation, in order; the DocResult itself fails only for the request as a whole (no such
  // container, too many operations, an operation of another partition in a transactional
  // batch). A failed transactional batch changes nothing: its failing operation carries its
  // error and the others 424.
  virtual void execute_batch(ContainerRef ref, std::optional<PartitionKey> partition_key,
                             std::vector<BatchOperation> operations, BatchOptions options,
                             DocCallback<std::vector<BatchOperationResult>> done) = 0;

  // --- offers ---
  virtual void list_offers(DocCallback<std::vector<OfferInfo>> done) = 0;
  virtual void read_offer(std::string id, DocCallback<OfferInfo> done) = 0;  // 404 if none
  // Changes an offer's throughput (manual or autoscale, either way round); `if_match` other
  // than its _etag is precondition_failed.
  virtual void replace_offer(std::string id, Throughput throughput,
                             std::optional<std::string> if_match, DocCallback<OfferInfo> done) = 0;

  // --- users and permissions (see AccessInfo) ---
  // `body` is the REST body ({"id"} for a user; {"id", "permissionMode", "resource",
  // "resourcePartitionKey"?} for a permission); what is wrong is bad_request naming it.
  // `if_match` other than the current _etag is precondition_failed (replace and upsert).
  virtual void write_user(std::string database, AccessWrite how, std::string id,
                          boost::json::object body, std::optional<std::string> if_match,
                          DocCallback<AccessInfo> done) = 0;
  virtual void read_user(std::string database, std::string id, DocCallback<AccessInfo> done) = 0;
  virtual void list_users(std::string database, DocCallback<std::vector<AccessInfo>> done) = 0;
  virtual void delete_user(std::string database, std::string id, DocCallback<void> done) = 0;
  virtual void write_permission(std::string database, std::string user, AccessWrite how,
                                std::string id, boost::json::object body,
                                std::optional<std::string> if_match,
                                DocCallback<AccessInfo> done) = 0;
  virtual void read_permission(std::string database, std::string user, std::string id,
                               DocCallback<AccessInfo> done) = 0;
  virtual void list_permissions(std::string database, std::string user,
                                DocCallback<std::vector<AccessInfo>> done) = 0;
  virtual void delete_permission(std::string database, std::string user, std::string id,
                                 DocCallback<void> done) = 0;
  // What permission number `permission` grants now; not_found once it, its user or its
  // database is gone (a resource token outlives none of them).
  virtual void read_grant(int64_t permission, DocCallback<PermissionGrant> done) = 0;

  // Every container with the number of items it holds (an expired item counts until the TTL
  // sweep removes it), read from a count each write keeps: O(containers), for /metrics.
  virtual void item_counts(DocCallback<std::vector<ContainerItems>> done) = 0;

  // Advice from a service in front of the store: about how many outside clients (connections)
  // sent requests lately. A store may size its group commits by it; ignoring it is correct.
  virtual void note_active_clients(size_t /*clients*/) {}
};

}  // namespace nimbus::api
