#pragma once
// Opt-in (host.json nimbus.native.inProcess): runs a native app's functions inside the host on
// its I/O thread, for maximum speed. No isolation: a crash takes the host down and a hang
// cannot be interrupted, so the function timeout is not enforced. Use only for trusted, fast
// functions.
#include <boost/json/array.hpp>
#include <optional>

#include "api/invoker.h"
#include "nimbus/nimbus.h"

namespace nimbus::workers {

class InProcessInvoker final : public api::Invoker {
 public:
  ~InProcessInvoker() override;
  // Loads the library and defines the app; returns its functions (function.json form).
  std::optional<boost::json::array> load(const std::string& library, std::string& error);
  boost::asio::awaitable<api::InvocationResult> invoke(api::Invocation& inv) override;

 private:
  void* handle_ = nullptr;
  App app_;
  bool cold_ = true;
};

}  // namespace nimbus::workers
