#include "runtime/lease_keeper.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>

namespace asio = boost::asio;

namespace nimbus::runtime {

LeaseKeeper::LeaseKeeper(asio::any_io_executor ex, std::chrono::milliseconds period, Renew renew,
                         OnError on_error)
    : ex_(ex),
      period_(period),
      renew_(std::move(renew)),
      on_error_(std::move(on_error)),
      state_(std::make_shared<State>(ex)) {}

LeaseKeeper::~LeaseKeeper() {
  assert(!state_->running && "co_await LeaseKeeper::stop() before destroying it");
}

void LeaseKeeper::start() {
  if (state_->running || state_->stopping) return;
  state_->running = true;
  // The loop's only exits are a stop or a renewal that threw; both end `running`.
  asio::co_spawn(ex_, loop(state_, period_, renew_),
                 [s = state_, on_error = on_error_](std::exception_ptr e) {
                   s->running = false;
                   s->finished.cancel();
                   if (e && on_error) on_error(e);
                 });
}

asio::awaitable<void> LeaseKeeper::loop(std::shared_ptr<State> s, std::chrono::milliseconds period,
                                        Renew renew) {
  while (!s->stopping) {
    s->tick.expires_after(period);
    boost::system::error_code ec;
    co_await s->tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (s->stopping) break;
    co_await renew();
    ++s->renewals;
  }
}

asio::awaitable<void> LeaseKeeper::stop() {
  auto s = state_;
  s->stopping = true;
  s->tick.cancel();
  while (s->running) {
    s->finished.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await s->finished.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace nimbus::runtime
