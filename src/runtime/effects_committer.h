#pragma once
// The commit stage of the invocation pipeline: an invocation's api::Effects committed through
// the storage engine as an Asio awaitable, and the engine's commit notices delivered on the
// I/O thread.
//
// Why: api::EffectsStore completes on the engine's writer thread (group commit); coroutines on
// the host's I/O thread must resume there, never on the writer thread. Notices are re-posted
// the same way, so trigger code never runs on the writer thread. What the writer hands over
// while the I/O thread is busy is run together, in order, from one post.
//
// Ownership: borrows the store and the executor; both must outlive this object and every
// coroutine using it. Thread-safety: completions and notices always arrive on `executor`.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "api/effects.h"

namespace nimbus::runtime {

class EffectsCommitter {
 public:
  EffectsCommitter(api::EffectsStore& store, boost::asio::any_io_executor executor);

  // All of `effects` in one transaction, or nothing (api/effects.h).
  boost::asio::awaitable<api::QueueResult<api::CommitReceipt>> commit(api::Effects effects);
  // `listener` runs on the executor after each commit (nullptr removes it).
  void set_notice_listener(api::NoticeListener listener);

 private:
  struct Mailbox;
  api::EffectsStore& store_;
  // Shared with the callbacks the store holds, which may run after this object is gone.
  std::shared_ptr<Mailbox> mailbox_;
};

}  // namespace nimbus::runtime
