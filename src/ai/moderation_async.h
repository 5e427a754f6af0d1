#pragma once
// The awaitable form of Moderator::moderate for the host's coroutines:
//   ModerationVerdict v = co_await nimbus::ai::async_moderate(moderator, text);
// Kept out of moderator.h so that header stays Asio-free.
#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ai/moderator.h"

namespace nimbus::ai {

template <class Token = boost::asio::use_awaitable_t<>>
auto async_moderate(Moderator& moderator, std::string text, Token&& token = {}) {
  return boost::asio::async_initiate<Token, void(ModerationVerdict)>(
      [&moderator](auto handler, std::string t) {
        // std::function needs a copyable callable; the awaitable's handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        moderator.moderate(std::move(t), [shared](ModerationVerdict v) {
          std::move (*shared)(std::move(v));
        });
      },
      token, std::move(text));
}

}  // namespace nimbus::ai
