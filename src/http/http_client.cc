#include "http/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>

namespace nimbus::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (boost::beast::iequals(k, name)) return v;
  return {};
}

std::optional<ClientResponse> send_request(const std::string& host, const std::string& port,
                                           const std::string& method, const std::string& target,
                                           const api::Headers& headers, std::string body,
                                           std::string& error, bool* network) {
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, port));
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
    req.set(bhttp::field::host, host + ":" + port);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    bhttp::write(stream, req);
    boost::beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u << 20);
    bhttp::read(stream, buf, parser);
    auto res = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (auto& h : res) out.headers.emplace_back(std::string(h.name_string()), std::string(h.value()));
    return out;
  } catch (const boost::system::system_error& e) {
    error = e.code().message();
    if (network) *network = true;
  } catch (const std::exception& e) {
    error = e.what();
    if (network) *network = false;
  }
  return std::nullopt;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace nimbus::http
