#pragma once
// Effects: one invocation's changes to the world as ONE value, committed atomically — LevelDB's
// WriteBatch in spirit. An optional acknowledgement (consuming the input that triggered the
// work: today deleting or dead-lettering a queue message by its pop receipt; later advancing a
// change-feed lease or consuming orchestration events) plus writes of any kind (today a queue
// put, a document upsert or delete; later a history append, a timer row).
//
// Why one value: "work and its effects commit together" (DESIGN.md). A message is completed
// with its outputs, or neither; a batch of HTTP outputs lands whole or not at all. Backends
// apply an Effects inside one transaction (and group-commit many of them with one fsync).
//
// Commit notices: after a commit, the store tells one listener what became available (a queue
// has visible messages at t; a container's items changed up to an LSN; later a timer due), so
// pushed triggers wake without polling. One notice type for every domain.
//
// Contract for implementations (checked by tests/conformance):
// - commit() applies everything or nothing: a failing acknowledgement (message gone, stale pop
//   receipt) or any invalid write leaves the store unchanged and comes back as the error.
// - A completion with a value means the effects are durable under the backend's durability
//   setting. Completions and notices run on a backend-owned thread, must be quick and must not
//   block; nothing throws across this interface; methods are thread-safe.
// Errors use the store's closed set of codes (QueueErrc, shared by every domain for now): a
// document write's DocErrc comes back as invalid_argument (bad_request, not_found, conflict,
// precondition_failed) or message_too_large (too_large), its message unchanged.
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/document_store.h"
#include "api/durable_store.h"
#include "api/queue_store.h"

namespace nimbus::api {

// --- acknowledgements: what consuming the triggering input means ---

// Deletes a queue message the caller holds (its current pop receipt). With `dead_letter`,
// the message's original text is put to that queue (created when missing, default TTL) in the
// same transaction: how a poisoned message moves to "<queue>-poison".
struct QueueAck {
  QueueRef queue;
  std::string id;
  std::string pop_receipt;
  std::optional<QueueRef> dead_letter;
};
// Advances a change-feed lease: replaces the lease document `lease` (its id and partition key
// `partition_key`, in `container`) only if its _etag is still `if_match`. Another writer (a
// second host, a hand edit) having changed it fails the whole commit with
// pop_receipt_mismatch, the same "you no longer hold this" as a stale pop receipt; a deleted
// lease fails with message_not_found. So a batch's outputs commit exactly with the lease
// moving past it, never twice for one lease position.
struct LeaseAdvance {
  ContainerRef container;
  boost::json::object lease;
  PartitionKey partition_key;
  std::string if_match;
};
// EpisodeAck and ActivityAck (api/durable_store.h) consume an orchestration episode's inbox
// events and an activity's work item.
using Acknowledgement = std::variant<QueueAck, LeaseAdvance, EpisodeAck, ActivityAck>;

// --- writes ---

// Puts a message; unlike the REST Put Message, a missing queue is created (as the Functions
// queue output binding does).
struct QueuePut {
  NewMessage message;
};
// Creates or replaces an item (the cosmosDB output binding's semantics). The container must
// exist. `partition_key` absent: taken from the document; present: the document must agree.
struct DocumentUpsert {
  ContainerRef container;
  boost::json::object document;
  std::optional<PartitionKey> partition_key;
};
// Deletes an item; a missing item is not_found (and nothing in the Effects is applied).
struct DocumentDelete {
  ContainerRef container;
  std::string id;
  PartitionKey partition_key;
};
// OrchestrationStart, OrchestrationEvent and ActivityTask: api/durable_store.h.
using Write = std::variant<QueuePut, DocumentUpsert, DocumentDelete, OrchestrationStart,
                           OrchestrationEvent, ActivityTask>;
// What a document write left: the item's id, its new _etag ("" after a delete) and the LSN the
// write took.
struct DocumentReceipt {
  std::string id;
  std::string etag;
  int64_t lsn = 0;
  bool created = false;
};
// What a durable write left: the inbox or work-item sequence number (0 when an event was
// dropped because its instance does not exist).
struct DurableReceipt {
  int64_t seq = 0;
};
using WriteReceipt = std::variant<MessageReceipt, DocumentReceipt, DurableReceipt>;

struct Effects {
  std::optional<Acknowledgement> ack;
  std::vector<Write> writes;

  bool empty() const { return !ack && writes.empty(); }
  Effects& acknowledge(QueueAck a) {
    ack = std::move(a);
    return *this;
  }
  Effects& acknowledge(LeaseAdvance a) {
    ack = std::move(a);
    return *this;
  }
  Effects& acknowledge(EpisodeAck a) {
    ack = std::move(a);
    return *this;
  }
  Effects& acknowledge(ActivityAck a) {
    ack = std::move(a);
    return *this;
  }
  Effects& put(NewMessage m) {
    writes.emplace_back(QueuePut{std::move(m)});
    return *this;
  }
  Effects& upsert(ContainerRef c, boost::json::object document,
                  std::optional<PartitionKey> pk = std::nullopt) {
    writes.emplace_back(DocumentUpsert{std::move(c), std::move(document), std::move(pk)});
    return *this;
  }
};

struct CommitReceipt {
  std::vector<WriteReceipt> writes;          // one per write, in order
  std::optional<MessageReceipt> dead_letter;  // the acknowledgement's dead-letter put, if any
  std::optional<DocumentReceipt> lease;       // a LeaseAdvance's new lease _etag and LSN
};

// --- commit notices ---

// Messages of `queue` are (or will be, at `visible_at`) available to a get.
struct QueueVisible {
  QueueRef queue;
  UnixMillis visible_at = 0;
};
// Items of `container` changed; `lsn` is the highest LSN the commit wrote there (one notice
// per container per commit). Change-feed readers continue from their own continuation.
struct DocumentChanged {
  ContainerRef container;
  int64_t lsn = 0;
};
// OrchestrationReady and ActivityReady: api/durable_store.h.
using CommitNotice =
    std::variant<QueueVisible, DocumentChanged, OrchestrationReady, ActivityReady>;
// The notice is handed over: the listener may move from it (a durable notice carries inbox
// event and activity input text, which is moved on to the durable engine, not copied).
using NoticeListener = std::function<void(CommitNotice&&)>;

// The unit-of-change side of a storage engine: every domain's writes commit through it.
class EffectsStore {
 public:
  virtual ~EffectsStore() = default;
  // Everything in `effects` in ONE transaction, or nothing (see the contract above).
  virtual void commit(Effects effects, QueueCallback<CommitReceipt> done) = 0;
  // Replaces the listener told after every commit (nullptr removes it). One notice per queue
  // per commit (the earliest time something in it becomes visible) and one per changed
  // container (its highest LSN). Set it before traffic.
  virtual void set_notice_listener(NoticeListener listener) = 0;
};

}  // namespace nimbus::api
