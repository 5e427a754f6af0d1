#include "runtime/effects_committer.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace asio = boost::asio;

namespace nimbus::runtime {

// Completions and notices handed over by the writer thread, run on the executor in the order
// they were handed over. One post per burst instead of one per item: a group commit of many
// operations (a fan-out's thousands of work items) hands over thousands of items at once, and
// each post from another thread costs a lock, an operation object and often a wake-up of the
// I/O thread.
struct EffectsCommitter::Mailbox {
  explicit Mailbox(asio::any_io_executor ex) : executor(std::move(ex)) {}
  asio::any_io_executor executor;
  std::mutex mu;
  std::vector<std::function<void()>> items;  // guarded by mu
  bool scheduled = false;                    // a drain is posted and has not taken the items yet

  static void push(const std::shared_ptr<Mailbox>& m, std::function<void()> item) {
    {
      std::lock_guard lk(m->mu);
      m->items.push_back(std::move(item));
      if (m->scheduled) return;
      m->scheduled = true;
    }
    asio::post(m->executor, [m] { drain(m); });
  }

  static void drain(const std::shared_ptr<Mailbox>& m) {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard lk(m->mu);
      batch.swap(m->items);
      m->scheduled = false;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      try {
        batch[i]();
      } catch (...) {
        // The rest still run, ahead of anything handed over since, in a drain of their own;
        // the exception goes on to the io_context as it did when every item was its own post.
        bool post = false;
        {
          std::lock_guard lk(m->mu);
          m->items.insert(m->items.begin(), std::make_move_iterator(batch.begin() + i + 1),
                          std::make_move_iterator(batch.end()));
          post = !m->items.empty() && !m->scheduled;
          if (post) m->scheduled = true;
        }
        if (post) asio::post(m->executor, [m] { drain(m); });
        throw;
      }
    }
  }
};

EffectsCommitter::EffectsCommitter(api::EffectsStore& store, asio::any_io_executor executor)
    : store_(store), mailbox_(std::make_shared<Mailbox>(std::move(executor))) {}

asio::awaitable<api::QueueResult<api::CommitReceipt>> EffectsCommitter::commit(
    api::Effects effects) {
  using Result = api::QueueResult<api::CommitReceipt>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result)>(
      [this, fx = std::move(effects)](auto handler) mutable {
        // std::function needs a copyable callable; the handler is move-only.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        store_.commit(std::move(fx), [h, m = mailbox_](Result r) {
          Mailbox::push(m, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        });
      },
      asio::use_awaitable);
}

void EffectsCommitter::set_notice_listener(api::NoticeListener listener) {
  if (!listener) {
    store_.set_notice_listener(nullptr);
    return;
  }
  auto shared = std::make_shared<api::NoticeListener>(std::move(listener));
  store_.set_notice_listener([m = mailbox_, shared](api::CommitNotice&& n) {
    Mailbox::push(m, [shared, n = std::move(n)]() mutable { (*shared)(std::move(n)); });
  });
}

}  // namespace nimbus::runtime
