#pragma once
// Keeps the lease on one pulled item (a queue message today; a change-feed lease or a durable
// work item later) alive while it is processed: every `period` it calls `renew`, which pushes
// the item's invisibility out again (and records any new token, e.g. a pop receipt).
//
// Why a class: the renewal must be stopped, and any renewal already in flight awaited, before
// the item's completion commits; otherwise a renewal racing the commit changes the token the
// commit presents. stop() gives exactly that: when it returns, no renewal runs or will run.
//
// Ownership: `renew` may capture references to the caller's frame; the caller must co_await
// stop() before that frame ends (the destructor asserts it). Thread-safety: one I/O thread.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>

namespace nimbus::runtime {

class LeaseKeeper {
 public:
  using Renew = std::function<boost::asio::awaitable<void>()>;
  // Told when `renew` threw (a bug): renewal stops and the lease lapses, so the item is
  // delivered again; nothing is lost, but the caller should log it.
  using OnError = std::function<void(std::exception_ptr)>;

  LeaseKeeper(boost::asio::any_io_executor ex, std::chrono::milliseconds period, Renew renew,
              OnError on_error = {});
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Starts renewing (first renewal after one period).
  void start();
  // Stops renewing; returns once no renewal is running. Safe to call more than once.
  boost::asio::awaitable<void> stop();
  // Renewals completed so far (tests).
  int renewals() const { return state_->renewals; }

 private:
  struct State {
    explicit State(boost::asio::any_io_executor ex) : tick(ex), finished(ex) {}
    boost::asio::steady_timer tick;      // the wait between renewals
    boost::asio::steady_timer finished;  // cancelled when the loop has ended
    bool stopping = false;
    bool running = false;
    int renewals = 0;
  };
  static boost::asio::awaitable<void> loop(std::shared_ptr<State> s,
                                           std::chrono::milliseconds period, Renew renew);

  boost::asio::any_io_executor ex_;
  std::chrono::milliseconds period_;
  Renew renew_;
  OnError on_error_;
  std::shared_ptr<State> state_;
};

}  // namespace nimbus::runtime
