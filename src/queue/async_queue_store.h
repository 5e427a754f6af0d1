#pragma once
// The queue store as Asio awaitables, for coroutines on the host's I/O thread.
//
// Why: api::QueueStore completes on the backend's own thread (that is how group commit works);
// coroutines on the single I/O thread must resume on that thread, never on the store thread.
// Each method submits to the store and resumes the calling coroutine on the executor given
// here. Completions arrive in bursts (a group commit completes all its operations at once), so
// they go through one inbox (common/completion_inbox.h): one wake-up of the I/O thread
// resumes them all.
//
// Ownership: borrows the store and the executor; both must outlive this object and every
// coroutine using it. Thread-safety: call from coroutines on `executor` (any thread may call,
// but completions always arrive on `executor`).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "api/queue_store.h"
#include "common/completion_inbox.h"

namespace nimbus::queue {

class AsyncQueueStore {
 public:
  template <class T>
  using Task = boost::asio::awaitable<api::QueueResult<T>>;

  AsyncQueueStore(api::QueueStore& store, boost::asio::any_io_executor executor);

  // Runs `resume` on the executor, batched with the other completions of the same burst.
  // Any thread.
  void deliver(std::function<void()> resume) { inbox_.deliver(std::move(resume)); }

  api::QueueStore& store() { return store_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

  Task<api::CreateQueueOutcome> create_queue(api::QueueRef queue, api::QueueMetadata metadata);
  Task<void> delete_queue(api::QueueRef queue);
  Task<api::QueueListing> list_queues(std::string account, api::ListQueuesOptions options);
  Task<api::QueueProperties> get_queue_properties(api::QueueRef queue);
  Task<void> set_queue_metadata(api::QueueRef queue, api::QueueMetadata metadata);
  Task<std::vector<api::SignedIdentifier>> get_queue_acl(api::QueueRef queue);
  Task<void> set_queue_acl(api::QueueRef queue, std::vector<api::SignedIdentifier> acl);
  Task<std::string> get_service_properties(std::string account);
  Task<void> set_service_properties(std::string account, std::string document);
  Task<api::MessageReceipt> put_message(api::NewMessage message);
  Task<std::vector<api::QueueMessage>> get_messages(api::QueueRef queue, int count,
                                                    int64_t visibility_timeout_seconds);
  Task<std::vector<api::QueueMessage>> peek_messages(api::QueueRef queue, int count);
  Task<void> delete_message(api::QueueRef queue, std::string id, std::string pop_receipt);
  Task<api::UpdateReceipt> update_message(api::QueueRef queue, std::string id,
                                          std::string pop_receipt, std::optional<std::string> text,
                                          int64_t visibility_timeout_seconds);
  Task<void> clear_messages(api::QueueRef queue);
  // Completing, dead-lettering and output writes are api::Effects commits: see
  // runtime::EffectsCommitter. Commit notices come from there too.

 private:
  api::QueueStore& store_;
  boost::asio::any_io_executor executor_;
  CompletionInbox inbox_;
};

}  // namespace nimbus::queue
