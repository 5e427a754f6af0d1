#pragma once
// A scripted api::Invoker for unit tests of the dispatcher and the triggers: records every
// invocation, answers with `answer` (success by default), optionally takes `delay`, and can
// hold every invocation until the test releases them (to fill a concurrency limit on purpose).
//
// Ownership: borrows the executor, which must outlive it. Thread-safety: none; use it from
// the one thread that runs the test's io_context.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "api/invoker.h"

namespace nimbus::fakes {

class FakeInvoker final : public api::Invoker {
 public:
  explicit FakeInvoker(boost::asio::any_io_executor ex) : ex_(ex), gate_(ex) {
    gate_.expires_at(boost::asio::steady_timer::time_point::max());
  }

  // The result of each invocation; the default answers success with no outputs.
  std::function<api::InvocationResult(const api::Invocation&)> answer;
  // How long each invocation takes (after any hold).
  std::chrono::milliseconds delay{0};

  // While held, invocations wait until release().
  void hold() {
    held_ = true;
    gate_.expires_at(boost::asio::steady_timer::time_point::max());
  }
  void release() {
    held_ = false;
    gate_.cancel();
  }

  int calls() const { return static_cast<int>(seen_.size()); }
  int running() const { return running_; }
  int max_running() const { return max_running_; }
  // (trigger, function name, queue message text or HTTP path) of every invocation, in order.
  struct Seen {
    std::string trigger, function, input;
  };
  const std::vector<Seen>& seen() const { return seen_; }

  boost::asio::awaitable<api::InvocationResult> invoke(api::Invocation& inv) override {
    seen_.push_back({inv.trigger_label(), inv.function->name,
                     inv.queue()  ? inv.queue()->text
                     : inv.http() ? inv.http()->path
                                  : std::string()});
    ++running_;
    max_running_ = std::max(max_running_, running_);
    while (held_) {
      boost::system::error_code ec;
      co_await gate_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    if (delay.count() > 0) {
      boost::asio::steady_timer t(ex_, delay);
      boost::system::error_code ec;
      co_await t.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    --running_;
    co_return answer ? answer(inv) : api::InvocationResult{};
  }

 private:
  boost::asio::any_io_executor ex_;
  boost::asio::steady_timer gate_;
  bool held_ = false;
  int running_ = 0, max_running_ = 0;
  std::vector<Seen> seen_;
};

}  // namespace nimbus::fakes
