#include "http/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace nimbus::http {

api::HttpResponseData json_error(int status, std::string_view code, std::string_view message,
                                 std::string_view invocation_id) {
  json::object err{{"code", code}, {"message", message}};
  if (!invocation_id.empty()) err["invocationId"] = invocation_id;
  return {status, {{"Content-Type", "application/json"}},
          json::serialize(json::object{{"error", std::move(err)}})};
}

struct HttpServer::Impl {
  Impl(asio::io_context& io, Options o, Handler h, Logger& l)
      : io(io), opt(std::move(o)), handler(std::move(h)), log(l), acceptor(io) {}
  asio::io_context& io;
  Options opt;
  Handler handler;
  Logger& log;
  tcp::acceptor acceptor;
  bool stopped = false;
  int busy = 0;

  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket sock);
};

HttpServer::HttpServer(asio::io_context& io, Options options, Handler handler, Logger& log)
    : impl_(std::make_unique<Impl>(io, std::move(options), std::move(handler), log)) {}
HttpServer::~HttpServer() = default;

bool HttpServer::listen(std::string& error) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(impl_->opt.address, ec);
  if (ec) {
    error = "--host " + impl_->opt.address + ": not an IP address; use e.g. 127.0.0.1";
    return false;
  }
  tcp::endpoint ep(addr, impl_->opt.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + impl_->opt.address + ":" + std::to_string(impl_->opt.port) +
            " (" + ec.message() + "); choose another port with --port";
    return false;
  }
  return true;
}

uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

int HttpServer::busy() const { return impl_->busy; }

void HttpServer::start() {
  asio::co_spawn(impl_->io, impl_->accept_loop(),
                 log_if_thrown(impl_->log, "Host.Http", "accept loop ended"));
}

void HttpServer::stop() {
  impl_->stopped = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

awaitable<void> HttpServer::Impl::accept_loop() {
  while (!stopped) {
    boost::system::error_code ec;
    tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || stopped) co_return;
      // EMFILE and friends: say so, pause, go on; the host must not stop serving.
      log.warn("Host.Http", "accept failed: " + ec.message());
      asio::steady_timer t(io, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io, session(std::move(sock)),
                   log_if_thrown(log, "Host.Http", "connection ended by an internal error"));
  }
}

namespace {

// Writes a response into one buffer: status line, headers, Content-Length, body. One write
// per response is cheaper than Beast's scatter-gather serializer, which showed at the top of
// the host's profile. CR and LF are dropped from user-supplied header names and values so a
// function cannot split the response.
void append_clean(std::string& out, std::string_view text) {
  for (char c : text)
    if (c != '\r' && c != '\n') out.push_back(c);
}

std::string serialize_response(const api::HttpResponseData& r, unsigned version, bool keep_alive,
                               bool head) {
  std::string out;
  out.reserve(128 + r.body.size());
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(r.status);
  out.push_back(' ');
  out += bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
  out += "\r\n";
  for (const auto& [k, v] : r.headers) {
    if (beast::iequals(k, "content-length") || beast::iequals(k, "transfer-encoding") ||
        beast::iequals(k, "connection"))
      continue;  // framing is ours to decide
    append_clean(out, k);
    out += ": ";
    append_clean(out, v);
    out += "\r\n";
  }
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) out += "Connection: close\r\n";
  // 1xx, 204 and 304 carry no body and no Content-Length (RFC 9110 §8.6).
  bool bodiless = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  if (!bodiless) {
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  if (!bodiless && !head) out += r.body;  // HEAD keeps the GET answer's Content-Length
  return out;
}

}  // namespace

awaitable<void> HttpServer::Impl::session(tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buf;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(opt.max_body);
    parser.header_limit(static_cast<uint32_t>(opt.max_headers));
    stream.expires_after(opt.idle_timeout);
    boost::system::error_code ec;
    co_await bhttp::async_read(stream, buf, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
          ec == beast::error::timeout || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted)
        co_return;
      api::HttpResponseData err;
      if (ec == bhttp::error::body_limit)
        err = json_error(413, "RequestBodyTooLarge",
                         "request body exceeds the limit of " + std::to_string(opt.max_body) +
                             " bytes; send less or raise nimbus.http.maxRequestBodySize in "
                             "host.json");
      else if (ec == bhttp::error::header_limit)
        err = json_error(431, "RequestHeaderFieldsTooLarge",
                         "request headers exceed the limit of " + std::to_string(opt.max_headers) +
                             " bytes; send fewer or smaller headers, or raise "
                             "nimbus.http.maxRequestHeadersSize in host.json");
      else
        err = json_error(400, "BadRequest", "malformed HTTP request: " + ec.message());
      std::string bytes = serialize_response(err, 11, false, false);
      stream.expires_after(std::chrono::seconds(5));
      co_await asio::async_write(stream, asio::buffer(bytes), asio::redirect_error(use_awaitable, ec));
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    auto req = parser.release();
    ++busy;
    bool keep_alive = req.keep_alive();
    unsigned version = req.version();
    bool head = req.method() == bhttp::verb::head;

    api::HttpRequestData data;
    data.method = std::string(req.method_string());
    data.target = std::string(req.target());
    api::HttpResponseData response;
    auto url = boost::urls::parse_origin_form(data.target);
    if (!url) {
      response = json_error(400, "BadRequest",
                            "request target \"" + data.target + "\" is not a valid path");
    } else {
      data.path = std::string(url->encoded_path());
      for (auto p : url->params())
        data.query.emplace(std::string(p.key), std::string(p.value));  // first value wins
      data.headers.reserve(static_cast<size_t>(std::distance(req.begin(), req.end())));
      for (const auto& h : req) {
        data.headers.emplace_back(std::string(h.name_string()), std::string(h.value()));
        if (h.name() == bhttp::field::host) data.host = std::string(h.value());
      }
      if (data.host.empty()) data.host = opt.address + ":" + std::to_string(opt.port);
      data.body = std::move(req.body());
      stream.expires_never();
      response = co_await handler(data);
    }
    keep_alive = keep_alive && !stopped;  // while draining, each answer closes its connection
    std::string bytes = serialize_response(response, version, keep_alive, head);
    stream.expires_after(std::chrono::seconds(30));
    co_await asio::async_write(stream, asio::buffer(bytes), asio::redirect_error(use_awaitable, ec));
    --busy;
    if (ec || !keep_alive) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

}  // namespace nimbus::http
