#pragma once
// async_read_ready: async_read_some for a plain TCP socket that skips the read it knows would
// find nothing. Asio (1.26) tries every read at once ("speculatively") whenever an earlier read
// left data or the socket had an event, so after a short read (the kernel's receive queue
// drained) the next read is a recv() that returns EAGAIN before the reactor waits: about two
// empty recv() calls per custom-handler request, one on the client's connection, one on the
// handler's. This read tells the reactor when it drained the socket (a read shorter than its
// buffer, as nginx's `ready` flag does), so the next read waits for the epoll event without a
// system call; any event on the socket (data, FIN, error) makes the next read try at once again.
// Edge-triggered epoll reports data that arrives after the drain, so nothing is missed.
// Measured: bench/README.md, branch chfast3.
//
// It uses two pieces of Asio's reactor that are not its public interface (reactor_op, and the
// socket's per-descriptor reactor data), kept in this one header; a static_assert below stops
// the build if the reactor is not epoll.
#include <sys/socket.h>

#include <cerrno>
#include <new>
#include <type_traits>
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>

namespace nimbus::http {

namespace ready_read_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

static_assert(std::is_same_v<asio::detail::reactor, asio::detail::epoll_reactor>,
              "async_read_ready relies on the epoll reactor's speculative-read flag");

// The socket's reactor registration (basic_socket::impl_ is protected: reached through a
// pointer to member taken in a derived class, which the language allows).
struct SocketAccess : tcp::socket {
  static auto& impl(tcp::socket& s) { return (s.*(&SocketAccess::impl_)).get_implementation(); }
};

template <class Handler>
class RecvOp : public asio::detail::reactor_op {
 public:
  RecvOp(int fd, asio::mutable_buffer buf, Handler&& h)
      : reactor_op(boost::system::error_code(), &RecvOp::do_perform, &RecvOp::do_complete),
        fd_(fd), buf_(buf), handler_(std::move(h)) {}

  // One non-blocking recv: not_done on EAGAIN (the reactor waits for the next event); a read
  // shorter than the buffer drained the socket (done_and_exhausted: the reactor skips the
  // speculative attempt of the next read until an event comes).
  static status do_perform(reactor_op* base) {
    auto* o = static_cast<RecvOp*>(base);
    for (;;) {
      ssize_t n = ::recv(o->fd_, o->buf_.data(), o->buf_.size(), 0);
      if (n > 0) {
        o->bytes_transferred_ = static_cast<size_t>(n);
        return static_cast<size_t>(n) < o->buf_.size() ? done_and_exhausted : done;
      }
      if (n == 0) {
        o->ec_ = asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->ec_ = boost::system::error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // Its memory comes from the thread's recycling cache, as Asio's own operations' does.
  using Allocator = asio::recycling_allocator<RecvOp>;
  static RecvOp* make(int fd, asio::mutable_buffer buf, Handler&& h) {
    Allocator a;
    RecvOp* p = a.allocate(1);
    return new (p) RecvOp(fd, buf, std::move(h));
  }

  // Run by the scheduler (owner set), or destroyed unrun when the io_context is (owner null).
  static void do_complete(void* owner, asio::detail::operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* o = static_cast<RecvOp*>(base);
    Handler h(std::move(o->handler_));
    boost::system::error_code ec = o->ec_;
    size_t n = o->bytes_transferred_;
    // The operation's memory goes before the handler runs (it may start another read).
    o->~RecvOp();
    Allocator().deallocate(o, 1);
    if (owner) std::move(h)(ec, n);
  }

 private:
  int fd_;
  asio::mutable_buffer buf_;
  Handler handler_;
};

}  // namespace ready_read_detail

// The reactor of a socket's io_context, looked up once per connection (use_service locks the
// context's service registry and walks it: ~1 % of the host's time when done per read).
class ReadyReactor {
 public:
  explicit ReadyReactor(boost::asio::ip::tcp::socket& s)
      : reactor_(&boost::asio::use_service<boost::asio::detail::reactor>(
            boost::asio::query(s.get_executor(), boost::asio::execution::context))) {}
  boost::asio::detail::reactor& get() const { return *reactor_; }

 private:
  boost::asio::detail::reactor* reactor_;
};

// Reads some bytes into `buf` (not empty) from a non-blocking, plain TCP socket whose
// io_context's reactor is `r`; completes as async_read_some does (eof at the end of the
// stream; operation_aborted when the socket is cancelled or closed).
template <class Token>
auto async_read_ready(const ReadyReactor& r, boost::asio::ip::tcp::socket& s,
                      boost::asio::mutable_buffer buf, Token&& token) {
  namespace d = ready_read_detail;
  return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
      [](auto handler, boost::asio::detail::reactor* reactor, boost::asio::ip::tcp::socket* s,
         boost::asio::mutable_buffer buf) {
        using H = std::decay_t<decltype(handler)>;
        auto* op = d::RecvOp<H>::make(s->native_handle(), buf, std::move(handler));
        reactor->start_op(boost::asio::detail::reactor::read_op, s->native_handle(),
                          d::SocketAccess::impl(*s).reactor_data_, op, false, true);
      },
      token, &r.get(), &s, buf);
}

}  // namespace nimbus::http
