#include "runtime/pull_listener.h"

#include <boost/asio.hpp>

namespace nimbus::runtime {

namespace {
int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

PullListener::PullListener(boost::asio::any_io_executor ex, Options options, Fetch fetch)
    : opt_(options), fetch_(std::move(fetch)), wake_(ex), permits_(options.capacity) {}

void PullListener::poke() {
  poked_ = true;
  wake_.cancel();
}

void PullListener::due_at(int64_t unix_ms) {
  if (unix_ms <= unix_now_ms()) return poke();
  if (unix_ms >= next_due_) return;
  next_due_ = unix_ms;
  wake_.cancel();  // re-plan the sleep around the earlier wake-up
}

void PullListener::stop() {
  stopped_ = true;
  wake_.cancel();
}

boost::asio::awaitable<void> PullListener::run() {
  using std::chrono::milliseconds;
  milliseconds idle = opt_.min_idle;
  bool replan_only = false;  // woken only to re-plan the sleep (due_at): no fetch
  while (!stopped_) {
    if (!replan_only) {
      poked_ = false;
      int fetched = 0;
      // Admission before the fetch: permits for a whole batch, or no fetch at all.
      if (auto batch = permits_.try_acquire(opt_.batch)) {
        ++fetches_;
        fetched = co_await fetch_(std::move(batch));
      }
      if (stopped_) break;
      if (fetched > 0) {
        idle = opt_.min_idle;
        continue;  // more may be waiting: fetch again as soon as capacity allows
      }
      if (poked_) continue;
    }
    replan_only = false;
    // Sleep until poked, until announced work is due, or for the polling back-off; while
    // the batch's permits are busy, a finishing item pokes, so only the safety net remains.
    milliseconds sleep = permits_.available() < opt_.batch ? opt_.max_idle : idle;
    if (next_due_ != INT64_MAX) {
      milliseconds due(std::max<int64_t>(0, next_due_ - unix_now_ms()));
      if (due <= sleep) {
        sleep = due;
        next_due_ = INT64_MAX;
      }
    }
    wake_.expires_after(sleep);
    boost::system::error_code ec;
    co_await wake_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (!ec)
      idle = std::min(idle * 2, opt_.max_idle);  // the poll or the due time: fetch
    else if (!poked_)
      replan_only = true;  // cancelled by due_at() or stop()
  }
}

}  // namespace nimbus::runtime
