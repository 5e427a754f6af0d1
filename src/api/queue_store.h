#pragma once
// The durable queue store: every queue operation the Azure-Queue-compatible service, the queue
// trigger and the queue output binding need, as one interface that each storage backend
// (SQLite now, PostgreSQL later) implements and tests/conformance/ checks.
//
// Why callbacks: backends batch many operations into one transaction and one fsync (group
// commit). A caller submits an operation and is completed later, so the interface is
// asynchronous without naming any executor; src/queue/async_queue_store.h turns it into Asio
// awaitables for the I/O thread.
//
// Contract for every implementation:
// - Each operation is atomic. A completion with a value means the effect is durable under the
//   backend's durability setting (default: survives kill -9 and power loss).
// - Completions run on a backend-owned thread, exactly once each, possibly after the call
//   returned; they must be quick and must not block (post elsewhere instead).
// - Expected failures come back as QueueError values; nothing throws across this interface.
// - Methods are thread-safe: any thread may submit at any time until the store is destroyed;
//   operations submitted after shutdown began complete with QueueErrc::unavailable.
// Times are Unix milliseconds (UTC). Message text is opaque bytes (the REST layer stores the
// decoded MessageText, which is UTF-8).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace nimbus::api {

// The closed set of store failures. The REST layer maps each to one status and error code
// (src/queue/queue_errors.cc); the trigger treats unavailable/storage_failure as retryable.
enum class QueueErrc {
  queue_not_found,
  queue_already_exists,  // create with different metadata
  message_not_found,     // no such id in this queue, or it expired
  pop_receipt_mismatch,  // the message exists but was dequeued again or updated since
  invalid_argument,      // a value outside the documented range, an invalid queue name or
                         // metadata (the message names it)
  message_too_large,     // text over kMaxMessageBytes
  unavailable,           // the store is shutting down
  storage_failure,       // the backend failed (disk full, I/O error); nothing was applied
};
const char* queue_errc_name(QueueErrc code);

struct QueueError {
  QueueErrc code;
  std::string message;  // for people: what, where, how to fix
};

// A value or a QueueError. Small on purpose: no exceptions, no monadic helpers.
template <class T>
class QueueResult {
 public:
  QueueResult(T value) : v_(std::move(value)) {}
  QueueResult(QueueError error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const QueueError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, QueueError> v_;
};

template <>
class QueueResult<void> {
 public:
  QueueResult() = default;
  QueueResult(QueueError error) : error_(std::move(error)) {}
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const QueueError& error() const { return *error_; }

 private:
  std::optional<QueueError> error_;
};

template <class T>
using QueueCallback = std::function<void(QueueResult<T>)>;

using UnixMillis = int64_t;

inline constexpr size_t kMaxMessageBytes = 64 * 1024;
inline constexpr int64_t kDefaultMessageTtlSeconds = 7 * 24 * 3600;
inline constexpr int64_t kMessageTtlForever = -1;
inline constexpr int64_t kMaxVisibilitySeconds = 7 * 24 * 3600;
inline constexpr int kMaxMessagesPerGet = 32;
// ExpirationTime reported for messages put with ttl -1 (9999-12-31T23:59:59Z, as Azure does).
inline constexpr UnixMillis kNeverExpires = 253402300799000;

// Queues are scoped by storage account, as in Azure: the same name in two accounts is two
// queues.
struct QueueRef {
  std::string account;
  std::string name;
  bool operator==(const QueueRef&) const = default;
};

// x-ms-meta-* pairs: names as given (Azure preserves case but compares case-insensitively).
using QueueMetadata = std::vector<std::pair<std::string, std::string>>;

struct ListQueuesOptions {
  std::string prefix;
  std::string marker;  // a NextMarker from an earlier page, or empty
  int max_results = 5000;
  bool include_metadata = false;
};
struct QueueInfo {
  std::string name;
  QueueMetadata metadata;  // empty unless include_metadata
};
struct QueueListing {
  std::vector<QueueInfo> queues;
  std::string next_marker;  // empty on the last page
};

struct QueueProperties {
  QueueMetadata metadata;
  int64_t approximate_message_count = 0;  // excludes expired messages
};

// A stored access policy (Set Queue ACL). Times are kept as the client sent them.
struct SignedIdentifier {
  std::string id;
  std::string start;
  std::string expiry;
  std::string permission;
  bool operator==(const SignedIdentifier&) const = default;
};

struct NewMessage {
  QueueRef queue;
  std::string text;
  int64_t ttl_seconds = kDefaultMessageTtlSeconds;  // >= 1, or kMessageTtlForever
  int64_t visibility_delay_seconds = 0;             // 0..7 days, and < ttl
  // The W3C traceparent of the work that put the message ("" when none): kept beside the
  // text, never in it, so the invocation the message triggers continues that trace.
  std::string traceparent;
};

// What Put Message answers.
struct MessageReceipt {
  std::string id;
  UnixMillis insertion_time = 0;
  UnixMillis expiration_time = 0;
  UnixMillis time_next_visible = 0;
  std::string pop_receipt;
};

// A message as Get (with a fresh pop_receipt) or Peek (pop_receipt empty) returns it.
struct QueueMessage {
  std::string id;
  UnixMillis insertion_time = 0;
  UnixMillis expiration_time = 0;
  UnixMillis time_next_visible = 0;
  std::string pop_receipt;
  int64_t dequeue_count = 0;
  std::string text;
  std::string traceparent;  // as put (NewMessage::traceparent); not part of the REST answers
};

struct UpdateReceipt {
  std::string pop_receipt;
  UnixMillis time_next_visible = 0;
};

enum class CreateQueueOutcome {
  created,         // 201
  already_exists,  // existed with identical metadata: 204
};


class QueueStore {
 public:
  virtual ~QueueStore() = default;

  // --- queues ---
  virtual void create_queue(QueueRef queue, QueueMetadata metadata,
                            QueueCallback<CreateQueueOutcome> done) = 0;
  // Deletes the queue and all its messages.
  virtual void delete_queue(QueueRef queue, QueueCallback<void> done) = 0;
  // Queues of one account, by name, from `marker` (inclusive) on.
  virtual void list_queues(std::string account, ListQueuesOptions options,
                           QueueCallback<QueueListing> done) = 0;
  virtual void get_queue_properties(QueueRef queue, QueueCallback<QueueProperties> done) = 0;
  virtual void set_queue_metadata(QueueRef queue, QueueMetadata metadata,
                                  QueueCallback<void> done) = 0;
  virtual void get_queue_acl(QueueRef queue,
                             QueueCallback<std::vector<SignedIdentifier>> done) = 0;
  virtual void set_queue_acl(QueueRef queue, std::vector<SignedIdentifier> acl,
                             QueueCallback<void> done) = 0;
  // Service properties of an account as an opaque document (the REST layer's XML); empty
  // when never set.
  virtual void get_service_properties(std::string account, QueueCallback<std::string> done) = 0;
  virtual void set_service_properties(std::string account, std::string document,
                                      QueueCallback<void> done) = 0;

  // --- messages ---
  virtual void put_message(NewMessage message, QueueCallback<MessageReceipt> done) = 0;
  // Up to `count` (1..32) visible, unexpired messages, oldest first; each gets a new pop
  // receipt, dequeue_count + 1 and time_next_visible = now + visibility_timeout (1..7 days).
  virtual void get_messages(QueueRef queue, int count, int64_t visibility_timeout_seconds,
                            QueueCallback<std::vector<QueueMessage>> done) = 0;
  // Like get_messages without changing anything (pop_receipt empty).
  virtual void peek_messages(QueueRef queue, int count,
                             QueueCallback<std::vector<QueueMessage>> done) = 0;
  virtual void delete_message(QueueRef queue, std::string id, std::string pop_receipt,
                              QueueCallback<void> done) = 0;
  // New visibility (0..7 days from now) and optionally new text; always a new pop receipt.
  virtual void update_message(QueueRef queue, std::string id, std::string pop_receipt,
                              std::optional<std::string> text, int64_t visibility_timeout_seconds,
                              QueueCallback<UpdateReceipt> done) = 0;
  virtual void clear_messages(QueueRef queue, QueueCallback<void> done) = 0;

  // --- work and its effects commit together ---
  // Each of these is an api::Effects commit (api/effects.h) of the backend's storage engine,
  // kept here for the REST layer, the CLI and the conformance suite.
  // In ONE transaction: delete (queue, id, pop_receipt) and put every output (output queues
  // are created when missing, as the Functions output binding does). If the delete fails
  // (message_not_found, pop_receipt_mismatch) nothing is written. Receipts in output order.
  virtual void complete_message(QueueRef queue, std::string id, std::string pop_receipt,
                                std::vector<NewMessage> outputs,
                                QueueCallback<std::vector<MessageReceipt>> done) = 0;
  // In ONE transaction: put every message, or none if any is invalid (bad queue name, too
  // large, bad ttl/delay: that error comes back and nothing is written). Queues are created
  // when missing, as the Functions output binding does. Receipts in input order.
  virtual void put_messages(std::vector<NewMessage> messages,
                            QueueCallback<std::vector<MessageReceipt>> done) = 0;
  // In ONE transaction: delete (queue, id, pop_receipt) and put its original text to
  // "<queue>-poison" (created when missing) with the default TTL. invalid_argument when
  // "<queue>-poison" would not be a valid queue name (queue names over 56 characters).
  virtual void move_to_poison(QueueRef queue, std::string id, std::string pop_receipt,
                              QueueCallback<MessageReceipt> done) = 0;

  // Advice from a service in front of the store: about how many outside clients (connections)
  // sent requests lately. A store may size its group commits by it; ignoring it is correct.
  virtual void note_active_clients(size_t /*clients*/) {}
};

// Azure queue names: 3-63 characters of [a-z0-9-], no leading, trailing or double '-'.
// One rule for the REST service, function.json bindings, the CLI and every store write
// (creating, putting, completing with outputs, moving to "<queue>-poison").
inline bool is_valid_queue_name(std::string_view n) {
  if (n.size() < 3 || n.size() > 63 || n.front() == '-' || n.back() == '-') return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    if (c == '-' && n[i + 1] == '-') return false;
  }
  return true;
}

inline const char* queue_errc_name(QueueErrc code) {
  switch (code) {
    case QueueErrc::queue_not_found: return "queue_not_found";
    case QueueErrc::queue_already_exists: return "queue_already_exists";
    case QueueErrc::message_not_found: return "message_not_found";
    case QueueErrc::pop_receipt_mismatch: return "pop_receipt_mismatch";
    case QueueErrc::invalid_argument: return "invalid_argument";
    case QueueErrc::message_too_large: return "message_too_large";
    case QueueErrc::unavailable: return "unavailable";
    case QueueErrc::storage_failure: return "storage_failure";
  }
  return "unknown";
}

}  // namespace nimbus::api
