#pragma once
// A store call (callback on the storage engine's writer thread: durable and timer stores) as an
// awaitable that resumes on `ex`, the host's I/O thread. Not a coroutine itself on purpose: GCC 12 destroys
// the by-value captures of an async_initiate lambda made inside a coroutine twice, so callers
// pass `submit` lambdas that capture by reference and this plain function owns the copies.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "api/queue_store.h"

namespace nimbus::runtime {

template <class T, class Submit>
boost::asio::awaitable<api::QueueResult<T>> store_call(boost::asio::any_io_executor ex,
                                                       Submit submit) {
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(api::QueueResult<T>)>(
      [ex, submit = std::move(submit)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        submit([h, ex](api::QueueResult<T> r) {
          auto rr = std::make_shared<api::QueueResult<T>>(std::move(r));
          asio::post(ex, [h, rr] { (*h)(std::move(*rr)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace nimbus::runtime
