#include "runtime/effects_committer.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

namespace asio = boost::asio;

namespace nimbus::runtime {

asio::awaitable<api::QueueResult<api::CommitReceipt>> EffectsCommitter::commit(
    api::Effects effects) {
  using Result = api::QueueResult<api::CommitReceipt>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result)>(
      [this, fx = std::move(effects)](auto handler) mutable {
        // std::function needs a copyable callable; the handler is move-only.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        store_.commit(std::move(fx), [h, ex = executor_](Result r) {
          asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
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
  store_.set_notice_listener([ex = executor_, shared](const api::CommitNotice& n) {
    asio::post(ex, [shared, n] { (*shared)(n); });
  });
}

}  // namespace nimbus::runtime
