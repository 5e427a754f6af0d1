#pragma once
// Runs a callable when the scope ends, however it ends (return, co_return, any exception,
// a destroyed coroutine frame): for flags and registrations that must never leak.
#include <utility>

namespace nimbus::workers {

template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

}  // namespace nimbus::workers
