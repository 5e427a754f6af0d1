// The Gemini provider over HTTP/1.1 (TLS unless GEMINI_ENDPOINT says http): one connection per
// call, the whole call (resolve to last byte) bounded by the attempt's timeout.
#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include "ai/gemini_codec.h"
#include "ai/moderator.h"

namespace nimbus::ai {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;

// Large enough for any moderation answer, small enough that a runaway body cannot hurt.
constexpr size_t kBodyLimit = 1 << 20;

std::string error_message(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto* e = v.as_object().if_contains("error"); e && e->is_object())
      if (auto* m = e->as_object().if_contains("message"); m && m->is_string())
        return std::string(m->as_string());
  return body.substr(0, 200);
}

class GeminiProvider final : public Provider {
 public:
  GeminiProvider(asio::io_context& io, GeminiSettings s, Endpoint e)
      : io_(io), settings_(std::move(s)), endpoint_(std::move(e)),
        ssl_(asio::ssl::context::tls_client) {
    ssl_.set_default_verify_paths();
    if (!settings_.ca_file.empty()) {
      boost::system::error_code ec;
      ssl_.load_verify_file(settings_.ca_file, ec);
      if (ec)
        throw std::invalid_argument("GEMINI_CA_FILE \"" + settings_.ca_file +
                                    "\" cannot be loaded (" + ec.message() +
                                    "); name a readable PEM certificate or unset it");
    }
    ssl_.set_verify_mode(asio::ssl::verify_peer);
    target_ = endpoint_.base_path + gemini_path(settings_.model);
  }

  std::string_view name() const override { return "gemini"; }

  void call(std::string text, milliseconds timeout,
            std::function<void(ProviderOutcome)> done) override {
    asio::co_spawn(io_, run(std::move(text), timeout),
                   [done = std::move(done)](std::exception_ptr ep, ProviderOutcome o) {
                     if (ep) {
                       o = {};
                       o.failure = FailureKind::network;
                       try {
                         std::rethrow_exception(ep);
                       } catch (const std::exception& e) {
                         o.detail = e.what();
                       }
                     }
                     done(std::move(o));
                   });
  }

 private:
  template <class Stream>
  awaitable<ProviderOutcome> exchange(Stream& stream, http::request<http::string_body>& req) {
    ProviderOutcome o;
    boost::system::error_code ec;
    auto tok = asio::redirect_error(asio::use_awaitable, ec);
    co_await http::async_write(stream, req, tok);
    if (ec) co_return transport_failure(ec, "sending the request");
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    co_await http::async_read(stream, buf, parser, tok);
    if (ec) co_return transport_failure(ec, "reading the answer");
    auto& res = parser.get();
    o.http_status = static_cast<int>(res.result_int());
    if (o.http_status == 200) {
      auto parsed = parse_gemini_response(res.body());
      if (!parsed.ok) {
        o.failure = FailureKind::malformed;
        o.detail = std::move(parsed.error);
      } else {
        o.verdict = std::move(parsed.verdict);
      }
      co_return o;
    }
    o.detail = "HTTP " + std::to_string(o.http_status) + ": " + error_message(res.body());
    if (o.http_status == 429) {
      o.failure = FailureKind::rate_limited;
      auto ra = res[http::field::retry_after];
      int64_t secs = 0;
      bool digits = !ra.empty() && ra.size() < 6;
      for (char c : ra) digits = digits && c >= '0' && c <= '9', secs = secs * 10 + (c - '0');
      if (digits) o.retry_after = milliseconds(secs * 1000);
    } else if (o.http_status >= 500 || o.http_status == 408) {
      o.failure = o.http_status == 504 || o.http_status == 408 ? FailureKind::timeout
                                                                : FailureKind::server_error;
    } else {
      o.failure = FailureKind::client_error;
      if (o.http_status == 401 || o.http_status == 403)
        o.detail += " (check the app setting GEMINI_API_KEY)";
      else if (o.http_status == 404)
        o.detail += " (check GEMINI_MODEL and GEMINI_ENDPOINT)";
    }
    co_return o;
  }

  static ProviderOutcome transport_failure(boost::system::error_code ec, std::string_view during) {
    ProviderOutcome o;
    o.failure = ec == beast::error::timeout ? FailureKind::timeout : FailureKind::network;
    o.detail = std::string(during) + ": " + ec.message();
    return o;
  }

  awaitable<ProviderOutcome> run(std::string text, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    boost::system::error_code ec;
    auto tok = asio::redirect_error(asio::use_awaitable, ec);
    auto ex = co_await asio::this_coro::executor;

    http::request<http::string_body> req{http::verb::post, target_, 11};
    req.set(http::field::host, endpoint_.host);
    req.set(http::field::content_type, "application/json");
    req.set("x-goog-api-key", settings_.api_key);
    req.body() = gemini_request_body(text);
    req.prepare_payload();

    // The resolver has no timeout of its own: a timer cancels it at the deadline.
    tcp::resolver resolver(ex);
    asio::steady_timer guard(ex, deadline);
    auto alive = std::make_shared<bool>(true);
    guard.async_wait([&resolver, alive](boost::system::error_code e) {
      if (!e && *alive) resolver.cancel();
    });
    auto results = co_await resolver.async_resolve(endpoint_.host, endpoint_.port, tok);
    *alive = false;
    guard.cancel();
    if (ec) {
      ProviderOutcome o;
      o.failure = Clock::now() >= deadline ? FailureKind::timeout : FailureKind::network;
      o.detail = "resolving " + endpoint_.host + ": " + ec.message();
      co_return o;
    }

    if (!endpoint_.tls) {
      beast::tcp_stream stream(ex);
      stream.expires_at(deadline);
      co_await stream.async_connect(results, tok);
      if (ec) co_return transport_failure(ec, "connecting to " + endpoint_.host);
      auto o = co_await exchange(stream, req);
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return o;
    }
    beast::ssl_stream<beast::tcp_stream> stream(ex, ssl_);
    // SNI carries names only (RFC 6066): an address literal is sent without it.
    boost::system::error_code not_ip;
    asio::ip::make_address(endpoint_.host, not_ip);
    if (not_ip && !SSL_set_tlsext_host_name(stream.native_handle(), endpoint_.host.c_str())) {
      ProviderOutcome o;
      o.detail = "TLS: the host name " + endpoint_.host + " cannot be sent as SNI";
      co_return o;
    }
    stream.set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
    beast::get_lowest_layer(stream).expires_at(deadline);
    co_await beast::get_lowest_layer(stream).async_connect(results, tok);
    if (ec) co_return transport_failure(ec, "connecting to " + endpoint_.host);
    co_await stream.async_handshake(asio::ssl::stream_base::client, tok);
    if (ec) co_return transport_failure(ec, "TLS handshake with " + endpoint_.host);
    auto o = co_await exchange(stream, req);
    // No graceful TLS shutdown: the answer is complete and waiting for close_notify only adds
    // a round trip (and a hang if the peer never sends it).
    beast::get_lowest_layer(stream).socket().close(ec);
    co_return o;
  }

  asio::io_context& io_;
  GeminiSettings settings_;
  Endpoint endpoint_;
  asio::ssl::context ssl_;
  std::string target_;
};

}  // namespace

std::unique_ptr<Provider> make_gemini_provider(asio::io_context& io, GeminiSettings settings) {
  std::string error;
  auto ep = parse_endpoint(settings.endpoint, &error);
  if (!ep) throw std::invalid_argument(error);
  return std::make_unique<GeminiProvider>(io, std::move(settings), std::move(*ep));
}

}  // namespace nimbus::ai
