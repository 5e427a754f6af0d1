#pragma once
// How many connections of a server sent a request in the current or the previous 50 ms: about
// how many clients have a request in flight or are about to send one. The storage engine's
// group commit waits for that many outside clients (SqliteEngine::Op::patient) instead of
// learning the concurrency from what arrives together, which an SDK that is itself the
// bottleneck (64 connections, requests sent one at a time) hides.
// Approximate by design: connections are remembered in a small table by number, so two that
// share a slot within one period count twice; a client whose HTTP agent moves requests between
// its idle connections counts more than once too (the engine halves the count for that).
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace nimbus::http {

class ActiveClients {
 public:
  // `connection`: the server's number for the connection (never 0). Any thread.
  size_t note(uint64_t connection, std::chrono::steady_clock::time_point now) {
    auto period = static_cast<uint64_t>(now.time_since_epoch() / std::chrono::milliseconds(50));
    std::lock_guard lk(mu_);
    if (period != period_) {
      previous_ = period == period_ + 1 ? current_ : 0;
      current_ = 0;
      period_ = period;
    }
    Slot& s = slots_[connection % slots_.size()];
    if (s.connection != connection || s.period != period) {
      s = {connection, period};
      ++current_;
    }
    return current_ > previous_ ? current_ : previous_;
  }

 private:
  struct Slot {
    uint64_t connection = 0, period = 0;
  };
  std::mutex mu_;  // a server may run on several I/O threads
  uint64_t period_ = 0;
  size_t current_ = 0, previous_ = 0;
  std::array<Slot, 512> slots_{};
};

}  // namespace nimbus::http
