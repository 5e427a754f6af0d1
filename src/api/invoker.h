#pragma once
// Runs invocations of user code. One implementation per worker kind; the dispatcher is the
// only caller. Implementations must be safe to call from several I/O threads at once and must
// return by inv.deadline (with Outcome::timed_out) whatever the user code does.
#include <boost/asio/awaitable.hpp>

#include "api/invocation.h"

namespace nimbus::api {

class Invoker {
 public:
  virtual ~Invoker() = default;
  virtual boost::asio::awaitable<InvocationResult> invoke(Invocation& inv) = 0;
};

}  // namespace nimbus::api
