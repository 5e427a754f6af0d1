#pragma once
// The document store as Asio awaitables, for coroutines on the host's I/O thread (the same
// pattern as queue/async_queue_store.h, which documents may not include).
//
// Why: api::DocumentStore completes on the backend's writer thread (group commit); the Cosmos
// REST handler runs on the single I/O thread and must resume there. Each call submits to the
// store and resumes the coroutine on `executor`. Completions arrive in bursts (one group
// commit completes many operations), so they go through one inbox (common/completion_inbox.h):
// one drain, one wake-up of the I/O thread, per burst.
//
// Ownership: borrows the store and the executor; both outlive this object and every coroutine
// using it. Thread-safety: completions always run on `executor`; call from coroutines there.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>

#include "api/document_store.h"
#include "common/completion_inbox.h"

namespace nimbus::documents {

class AsyncDocumentStore {
 public:
  template <class T>
  using Task = boost::asio::awaitable<api::DocResult<T>>;

  AsyncDocumentStore(api::DocumentStore& store, boost::asio::any_io_executor executor);

  api::DocumentStore& store() { return store_; }

  // Runs `resume` on the executor, batched with the other completions of the same burst.
  // Any thread.
  void deliver(std::function<void()> resume) { inbox_.deliver(std::move(resume)); }

  // Calls `submit(callback)` (which starts one store operation with that callback) and resumes
  // with its result on the executor:
  //   auto r = co_await async.call<api::Item>([&](auto cb) { store.read_item(..., cb); });
  template <class T, class Submit>
  Task<T> call(Submit submit) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                       void(api::DocResult<T>)>(
        [this, submit = std::move(submit)](auto handler) mutable {
          // std::function needs a copyable callable; the handler is move-only.
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          submit(api::DocCallback<T>([h, this](api::DocResult<T> result) {
            auto r = std::make_shared<api::DocResult<T>>(std::move(result));
            deliver([h, r] { (*h)(std::move(*r)); });
          }));
        },
        boost::asio::use_awaitable);
  }

 private:
  api::DocumentStore& store_;
  CompletionInbox inbox_;
};

}  // namespace nimbus::documents
