#pragma once
// Async frame reads and writes on the host side of the native worker socket. Header-only so
// both the worker pool and tests can use it; included only from Asio translation units.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "workers/native_protocol.h"

namespace nimbus::workers {

using LocalSocket = boost::asio::local::stream_protocol::socket;

// Reads one frame. Returns "" on success, else what went wrong ("eof" when the peer closed).
inline boost::asio::awaitable<std::string> read_frame(LocalSocket& sock, Frame& frame,
                                                      uint64_t max_body) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  unsigned char prefix[8];
  co_await asio::async_read(sock, asio::buffer(prefix), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec == asio::error::eof ? "eof" : ec.message();
  uint32_t hl, bl;
  if (!decode_prefix(prefix, hl, bl, max_body)) co_return "frame sizes out of range";
  std::string header(hl, '\0');
  frame.body.resize(bl);
  std::array<asio::mutable_buffer, 2> bufs{asio::buffer(header), asio::buffer(frame.body)};
  co_await asio::async_read(sock, bufs, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec == asio::error::eof ? "eof" : ec.message();
  if (!decode_header(header, frame.header)) co_return "frame header is not a JSON object";
  co_return "";
}

inline boost::asio::awaitable<bool> write_bytes(LocalSocket& sock, const std::string& bytes) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  co_await asio::async_write(sock, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

}  // namespace nimbus::workers
