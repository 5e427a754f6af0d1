#pragma once
// Drives an io_context until a condition holds or a deadline passes: the way unit tests wait,
// never sleep-then-assert. Returns whether the condition held.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

namespace nimbus::fakes {

inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto give_up = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    if (io.stopped()) io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace nimbus::fakes
