#include "http/http_server.h"

#include "http/active_clients.h"
#include "http/ready_read.h"
#include "http/request_head.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstring>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <openssl/err.h>
#include <openssl/x509.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::string_view_literals;

namespace nimbus::http {

api::HttpResponseData json_error(int status, std::string_view code, std::string_view message,
                                 std::string_view invocation_id) {
  json::object err{{"code", code}, {"message", message}};
  if (!invocation_id.empty()) err["invocationId"] = invocation_id;
  return {status, {{"Content-Type", "application/json"}},
          json::serialize(json::object{{"error", std::move(err)}})};
}

bool is_loopback_address(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(host, ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

size_t default_max_connections() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  size_t fds = rl.rlim_cur == RLIM_INFINITY ? size_t(1) << 20 : static_cast<size_t>(rl.rlim_cur);
  // Keep a quarter (at most 256) for worker sockets and pipes, the database and its WAL,
  // handler connections and the log; past ~64k connections the host is out of its depth.
  size_t reserve = std::min<size_t>(256, fds / 4);
  return std::min<size_t>(fds - reserve, 65536);
}

namespace {

// Beast's fields hold a name or value of at most 65,533 bytes and throw std::length_error
// beyond (basic_fields::new_element). Trailer fields of a chunked body are not counted
// against header_limit, and a header limit above 64 KiB would let one huge header through,
// so that throw would escape io_context::run and end the host. This parser refuses such a
// field with header_limit (431) instead.
constexpr size_t kMaxField = 65000;

// Beast's basic_parser with callbacks that write straight into the api::HttpRequestData the
// handler gets: method, target and each header field once (no Beast field list to copy
// from), the body appended as it arrives. Fields after the head (a chunked body's trailers)
// are checked against the field size guard and dropped, as before: functions see the head.
class RequestParser : public bhttp::basic_parser<true> {
 public:
  api::HttpRequestData data;
  bhttp::verb verb = bhttp::verb::unknown;
  unsigned version = 11;
  bool expect_continue = false;  // the first Expect field is 100-continue

 private:
  bool seen_expect_ = false;
  void on_request_impl(bhttp::verb method, beast::string_view method_str,
                       beast::string_view target, int v, beast::error_code&) override {
    verb = method;
    data.method.assign(method_str.data(), method_str.size());
    data.target.assign(target.data(), target.size());
    version = static_cast<unsigned>(v);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = bhttp::error::bad_method;  // never called for a request parser
  }
  void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code& ec) override {
    if (name_string.size() > kMaxField || value.size() > kMaxField) {
      ec = bhttp::error::header_limit;
      return;
    }
    if (is_header_done()) return;  // a trailer
    if (name == bhttp::field::expect) {
      // Answered by the server after admission; never handed on (a proxied handler would
      // answer it again).
      if (!seen_expect_) expect_continue = beast::iequals(value, "100-continue");
      seen_expect_ = true;
      return;
    }
    if (name == bhttp::field::host) data.host.assign(value.data(), value.size());
    data.headers.emplace_back(std::string(name_string.data(), name_string.size()),
                              std::string(value.data(), value.size()));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
    // Called on the first body byte, after admission and the budget's reservation.
    if (length) data.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    data.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    data.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

// One request being read: the lean reader (request_head.h) takes the head when it has the
// usual shape, and then the Content-Length body; when it declines, Beast's parser reads the
// same bytes as it always has. Beast is never offered a byte while the lean reader still
// waits for the rest of a head: Beast consumes a complete request line at once, which the
// lean reader could not then take over.
struct RequestReader {
  RequestParser beast;
  LeanHead lean;
  size_t header_limit = 0;
  uint64_t body_limit = 0;
  uint64_t remaining = 0;  // lean: body bytes still to come
  size_t beast_offset = 0;  // what Beast consumed of the buffer while the lean reader waits

  RequestReader(size_t max_headers, uint64_t max_body, bool use_lean = true)
      : header_limit(max_headers), body_limit(max_body) {
    beast.header_limit(static_cast<uint32_t>(max_headers));
    beast.body_limit(max_body);
    if (!use_lean) lean.state = LeanHead::State::declined;
  }
  bool lean_taken() const { return lean.state == LeanHead::State::accepted; }
  bool lean_waiting() const { return lean.state == LeanHead::State::reading; }
  api::HttpRequestData& data() { return beast.data; }
  bool header_done() const { return lean_taken() || beast.is_header_done(); }
  bool done() const { return lean_taken() ? remaining == 0 : beast.is_done(); }
  bool got_some() const { return beast.got_some(); }
  unsigned version() const { return lean_taken() ? (lean.http11 ? 11 : 10) : beast.version; }
  bool head_method() const { return lean_taken() ? lean.head_method : beast.verb == bhttp::verb::head; }
  bool expect_continue() const { return !lean_taken() && beast.expect_continue; }
  boost::optional<std::uint64_t> content_length() const {
    if (!lean_taken()) return beast.content_length();
    if (!lean.has_content_length) return boost::none;
    return lean.content_length;
  }
  bool keep_alive() const { return lean_taken() ? lean.keep_alive() : beast.keep_alive(); }
  // Tries the lean reader on what has arrived; true when it took the head (and consumed it
  // from `bytes` by `consumed`).
  bool try_lean(std::string_view bytes, size_t& consumed) {
    consumed = 0;
    if (!lean_waiting()) return false;
    if (read_lean_head(lean, bytes, header_limit, body_limit) != LeanHead::State::accepted)
      return false;
    if (beast.got_some()) {
      // Beast read along while the head arrived (feed): what its callbacks wrote goes.
      beast.data.method.clear();
      beast.data.target.clear();
      beast.data.host.clear();
      beast.data.headers.clear();
    }
    take_lean_head(lean, bytes, beast.data);
    consumed = lean.size;
    remaining = lean.has_content_length ? lean.content_length : 0;
    return true;
  }
  // Lean body bytes: appended as Beast's body callbacks append them; the reservation on the
  // first byte, as on_body_init_impl makes it (after admission and the budget).
  size_t lean_body(std::string_view bytes) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(remaining, bytes.size()));
    if (n == 0) return 0;
    auto& body = beast.data.body;
    if (body.empty()) body.reserve(static_cast<size_t>(lean.content_length));
    body.append(bytes.data(), n);
    remaining -= n;
    return n;
  }
};

std::string_view readable(const beast::flat_buffer& buf) {
  auto d = buf.data();
  return {static_cast<const char*>(d.data()), d.size()};
}

// The first CR or LF in [p, end), or end: 16 bytes a step where SSE2 is (every x86-64).
const char* find_cr_lf(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf))))
      return p + std::countr_zero(static_cast<unsigned>(m));
  }
#endif
  for (; p < end; ++p)
    if (*p == '\r' || *p == '\n') return p;
  return end;
}

// Writes a response into one buffer: status line, headers, Content-Length, body. One write
// per response is cheaper than Beast's scatter-gather serializer, which showed at the top of
// the host's profile. CR and LF are dropped from user-supplied header names and values so a
// function cannot split the response.
// The head is written through a cursor into room sized once for it: a string append per
// piece (four per header) was ~60 instructions each, and a byte loop looked for CR and LF in
// every name and value (together ~2,700 of a point read's ~4,000 serializing instructions).
struct HeadWriter {
  char* w;
  void put(std::string_view s) {
    std::memcpy(w, s.data(), s.size());
    w += s.size();
  }
  void put_clean(std::string_view s) {
    const char* p = s.data();
    const char* end = p + s.size();
    for (;;) {  // copied in runs between the dropped bytes (usually one run)
      const char* q = find_cr_lf(p, end);
      std::memcpy(w, p, static_cast<size_t>(q - p));
      w += q - p;
      if (q == end) return;
      p = q + 1;
    }
  }
  void put_number(size_t n) { w = std::to_chars(w, w + 24, n).ptr; }
};

// Large bodies are not copied: the caller writes them after the head (see kCopyBody).
constexpr size_t kCopyBody = 64u << 10;

// Appends the response to `out` (a connection's buffer, reused across its requests, so a
// small answer costs no allocation of its own).
void serialize_response_into(std::string& out, const api::HttpResponseData& r, unsigned version,
                             bool keep_alive, bool head, bool with_body = true) {
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
  // 1xx, 204 and 304 carry no body and no Content-Length (RFC 9110 §8.6).
  bool bodiless = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  bool body_here = !bodiless && !head && with_body;  // HEAD keeps the GET's Content-Length
  // At most what the head can take: status line, every header whole, the framing fields.
  size_t bound = 9 + 24 + 1 + reason.size() + 2 + 24 + 16 + 24 + 2 + 2;
  for (const auto& [k, v] : r.headers) bound += k.size() + v.size() + 4;
  size_t start = out.size();
  out.reserve(start + bound + (body_here ? r.body.size() : 0));
  out.resize(start + bound);
  HeadWriter h{out.data() + start};
  h.put(version == 10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv);
  h.put_number(static_cast<size_t>(r.status));
  h.put(" "sv);
  h.put({reason.data(), reason.size()});
  h.put("\r\n"sv);
  for (const auto& [k, v] : r.headers) {
    if (beast::iequals(k, "content-length") || beast::iequals(k, "transfer-encoding") ||
        beast::iequals(k, "connection"))
      continue;  // framing is ours to decide
    h.put_clean(k);
    h.put(": "sv);
    h.put_clean(v);
    h.put("\r\n"sv);
  }
  if (version == 10 && keep_alive) h.put("Connection: keep-alive\r\n"sv);
  if (version != 10 && !keep_alive) h.put("Connection: close\r\n"sv);
  if (!bodiless) {
    h.put("Content-Length: "sv);
    h.put_number(r.body.size());
    h.put("\r\n"sv);
  }
  h.put("\r\n"sv);
  out.resize(static_cast<size_t>(h.w - out.data()));
  if (body_here) out += r.body;
}

std::string serialize_response(const api::HttpResponseData& r, unsigned version, bool keep_alive,
                               bool head, bool with_body = true) {
  std::string out;
  serialize_response_into(out, r, version, keep_alive, head, with_body);
  return out;
}

// The answer to a read that failed: 413, 431 or 400 naming the cause; nothing for a
// connection that merely ended.
std::optional<api::HttpResponseData> read_error_response(const boost::system::error_code& ec,
                                                         size_t max_body, size_t max_headers) {
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
      ec == beast::error::timeout || ec == asio::error::connection_reset ||
      ec == asio::error::operation_aborted || ec == bhttp::error::partial_message)
    return std::nullopt;
  // A TLS record that did not decrypt, or a peer gone without close_notify: no HTTP answer
  // can reach it over that connection.
  if (ec.category() == asio::error::get_ssl_category() || ec == ssl::error::stream_truncated)
    return std::nullopt;
  if (ec == bhttp::error::body_limit)
    return json_error(413, "RequestBodyTooLarge",
                      "request body exceeds the limit of " + std::to_string(max_body) +
                          " bytes; send less or raise nimbus.http.maxRequestBodySize in host.json");
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
    return json_error(431, "RequestHeaderFieldsTooLarge",
                      "request headers (or chunked trailers) exceed the limit of " +
                          std::to_string(max_headers) +
                          " bytes, or one field exceeds 65000 bytes; send fewer or smaller "
                          "fields, or raise nimbus.http.maxRequestHeadersSize in host.json");
  return json_error(400, "BadRequest", "malformed HTTP request: " + ec.message());
}

// Path and query of a parsed head's target; false when the target is not a valid
// origin-form path (the caller answers 400).
// The usual target is a plain path: '/' and path characters (RFC 3986 pchar: unreserved,
// sub-delims, ':' and '@'), with no percent-escape and no query. Such a target is a valid
// origin form and is its own encoded path, so it needs no URL parser (Boost.URL's grammar
// was ~4 % of the host's user time per custom-handler request; bench/README.md, branch chfast).
bool is_plain_path_char(unsigned char c) {
  bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  if (!ok) {
    switch (c) {
      case '/': case '-': case '.': case '_': case '~': case '!': case '$': case '&':
      case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
      case ':': case '@':
        ok = true;
        break;
      default:
        break;
    }
  }
  return ok;
}

bool is_plain_path(std::string_view t) {
  if (t.empty() || t[0] != '/') return false;
  for (unsigned char c : t)
    if (!is_plain_path_char(c)) return false;
  return true;
}

// A query the URL parser is not needed for: non-empty '&'-separated pieces, each a non-empty
// key with an optional '=' value, of path characters, '/' and '?' only: no percent-escape and
// no '+' (which Boost.URL's params read as a space), so every key and value is its own
// decoding. Boost.URL (parse_origin_form and its params) was ~2,600 of the ~4,400
// instructions parse_target took per SDK queue put (bench/README.md, branch httpparse); a
// unit test and the fuzz target hold the two to the same path and query.
bool is_plain_query(std::string_view q) {
  size_t piece = 0;  // where the current piece starts
  for (size_t i = 0; i <= q.size(); ++i) {
    if (i == q.size() || q[i] == '&') {
      if (i == piece || q[piece] == '=') return false;  // an empty piece, an empty key
      piece = i + 1;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(q[i]);
    if (c == '+' || !(c == '?' || is_plain_path_char(c))) return false;
  }
  return true;
}

bool parse_target(api::HttpRequestData& data) {
  if (is_plain_path(data.target)) {
    data.path = data.target;
    return true;
  }
  std::string_view t = data.target;
  if (size_t q = t.find('?'); q != std::string_view::npos && is_plain_path(t.substr(0, q)) &&
                              is_plain_query(t.substr(q + 1))) {
    data.path.assign(t.data(), q);
    std::string_view rest = t.substr(q + 1);
    for (;;) {
      size_t amp = rest.find('&');
      std::string_view piece = rest.substr(0, amp);
      size_t eq = piece.find('=');
      std::string_view key = piece.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
      data.query.emplace(std::string(key), std::string(value));  // first value wins
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    return true;
  }
  auto url = boost::urls::parse_origin_form(data.target);
  if (!url) return false;
  data.path = std::string(url->encoded_path());
  if (url->has_query())
    for (auto p : url->params())
      data.query.emplace(std::string(p.key), std::string(p.value));  // first value wins
  return true;
}

api::HttpResponseData bad_target(const api::HttpRequestData& data) {
  return json_error(400, "BadRequest", "request target \"" + data.target + "\" is not a valid path");
}

// Which scheme the request came over, for handlers that build absolute URLs (the Cosmos
// account document): set by the server on TLS-capable listeners only, replacing what a
// client sent, so the value always describes this connection.
void set_forwarded_proto(api::Headers& headers, bool tls) {
  std::erase_if(headers, [](const auto& h) { return beast::iequals(h.first, "x-forwarded-proto"); });
  headers.emplace_back("X-Forwarded-Proto", tls ? "https" : "http");
}

api::HttpResponseData over_budget(std::string_view what) {
  auto r = json_error(503, "ServerBusy",
                      std::string(what) +
                          "; retry shortly, or raise nimbus.http.maxBufferedRequestBytes / "
                          "nimbus.http.maxConnections in host.json");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace

// Beast's parser over `bytes` until the head (header_only) or the whole message is done or
// more bytes are needed; returns how many it consumed; `ec` is set on a parse error.
size_t feed_beast(RequestParser& p, std::string_view bytes, bool header_only,
                  boost::system::error_code& ec) {
  auto done = [&] { return header_only ? p.is_header_done() : p.is_done(); };
  size_t used = 0;
  while (used < bytes.size() && !done()) {
    // Within a chunked body the unparsed bytes start at a chunk boundary, and every way to
    // finish from there ("0\r\n\r\n" at least) is 5 bytes or more. Beast asserts on a final
    // chunk header offered again in under 5 bytes ("0\r\n", then "0\r\nX" when a socket
    // delivers the rest a byte at a time); fewer than 5 bytes wait for more.
    if (p.chunked() && p.is_header_done() && bytes.size() - used < 5) break;
    size_t n = p.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == bhttp::error::need_more) {
      ec = {};
      break;
    }
    if (ec || n == 0) break;
  }
  return used;
}

// What a session does with the bytes it has: parses them, consuming what was parsed, until
// the head (header_only) or the whole message is done or more bytes are needed; `ec` is set
// on a parse error. The session and parse_request (so the fuzz target) share it.
void feed(RequestReader& r, beast::flat_buffer& buf, bool header_only,
          boost::system::error_code& ec) {
  if (r.lean_waiting() && buf.size() > 0) {
    size_t head = 0;
    if (r.try_lean(readable(buf), head)) {
      buf.consume(head);  // what Beast read along is part of it
      r.beast_offset = 0;
    } else if (r.lean_waiting()) {
      // An incomplete head, of the lean shape so far. Beast reads along as it always has,
      // but its bytes stay in the buffer (Beast takes a complete request line at once, and
      // the lean reader needs the head whole); should the lean reader decline, Beast goes on
      // from where it is, having seen the bytes exactly as they arrived.
      r.beast_offset += feed_beast(r.beast, readable(buf).substr(r.beast_offset), header_only, ec);
      if (!ec && !r.beast.is_header_done()) return;
      r.lean.state = LeanHead::State::declined;  // Beast finished or refused the head
      buf.consume(r.beast_offset);
      r.beast_offset = 0;
      if (ec) return;
    } else {
      buf.consume(r.beast_offset);  // declined: Beast goes on from where it is
      r.beast_offset = 0;
    }
  }
  if (r.lean_taken()) {
    if (!header_only) buf.consume(r.lean_body(readable(buf)));
    return;
  }
  buf.consume(feed_beast(r.beast, readable(buf), header_only, ec));
}

// The end of the input, as Beast's read maps it: before a byte, a closed connection; within
// a message, a truncated one.
void end_of_input(RequestReader& r, beast::flat_buffer& buf, bool header_only,
                  boost::system::error_code& ec) {
  ec = {};
  if (r.lean_waiting()) {
    // The rest of the head is not coming; Beast has seen every byte of it already.
    r.lean.state = LeanHead::State::declined;
    buf.consume(r.beast_offset);
    r.beast_offset = 0;
  }
  if (r.lean_taken()) {
    if (!header_only && !r.done()) ec = bhttp::error::partial_message;
    return;
  }
  RequestParser& p = r.beast;
  if (!p.got_some()) {
    ec = bhttp::error::end_of_stream;
    return;
  }
  p.put_eof(ec);
  if (!ec && !(header_only ? p.is_header_done() : p.is_done())) ec = bhttp::error::partial_message;
}

// The buffer of unparsed bytes a session holds at most: a head, or a chunk header with its
// trailers (body bytes pass straight into the body). The cap stops a client streaming an
// endless trailer into memory.
size_t buffer_cap(size_t max_headers) { return std::max<size_t>(max_headers, 64u << 10) + (64u << 10); }

ParsedRequest parse_request(std::string_view bytes, size_t max_headers, size_t max_body,
                            size_t piece, bool lean) {
  ParsedRequest out;
  RequestReader reader(max_headers, max_body, lean);
  RequestParser& parser = reader.beast;
  boost::system::error_code ec;
  size_t head = 0;
  if (piece == 0 && reader.try_lean(bytes, head)) {
    // All the input at once: the body is what follows the head, or the message is short.
    bytes.remove_prefix(head);
    reader.lean_body(bytes);
    if (!reader.done()) ec = bhttp::error::partial_message;
  } else if (piece == 0) {
    reader.lean.state = LeanHead::State::declined;
    parser.eager(true);
    size_t off = 0;
    while (!parser.is_done() && off < bytes.size()) {
      size_t n = parser.put(asio::buffer(bytes.data() + off, bytes.size() - off), ec);
      off += n;
      if (ec == bhttp::error::need_more) {
        // All the input was offered: more is needed than there is. Offering the same bytes
        // again breaks Beast's resume state (it asserts), as a socket read never would.
        ec = {};
        break;
      }
      if (ec) break;
    }
    if (!ec && !parser.is_done() && !parser.got_some()) ec = bhttp::error::partial_message;
    if (!ec && !parser.is_done()) {
      parser.put_eof(ec);
      if (!ec && !parser.is_done()) ec = bhttp::error::partial_message;
    }
  } else {
    // As a session reads: `piece` bytes per read into its capped buffer, the head first
    // (the parser stops there, as for admission), then the body eagerly.
    size_t cap = buffer_cap(max_headers);
    beast::flat_buffer buf(cap);
    size_t off = 0;
    for (bool header_only : {true, false}) {
      if (!header_only) parser.eager(true);
      for (;;) {
        feed(reader, buf, header_only, ec);
        if (ec || (header_only ? reader.header_done() : reader.done())) break;
        if (buf.size() >= cap) {
          ec = bhttp::error::buffer_overflow;
          break;
        }
        if (off == bytes.size()) {
          end_of_input(reader, buf, header_only, ec);
          break;
        }
        size_t n = std::min({piece, bytes.size() - off, cap - buf.size()});
        auto space = buf.prepare(n);
        std::memcpy(space.data(), bytes.data() + off, n);
        buf.commit(n);
        off += n;
      }
      if (ec) break;
    }
    if (ec == bhttp::error::end_of_stream) ec = bhttp::error::partial_message;  // empty input
  }
  out.lean = reader.lean_taken();
  if (ec) {
    auto r = read_error_response(ec, max_body, max_headers);
    out.status = r ? r->status : 400;
    out.error = r ? r->body : ec.message();
    return out;
  }
  out.version = reader.version();
  out.keep_alive = reader.keep_alive();
  out.request = std::move(parser.data);
  if (!parse_target(out.request)) {
    out.status = 400;
    out.error = bad_target(out.request).body;
    return out;
  }
  return out;
}

struct HttpServer::Impl {
  Impl(asio::io_context& io, Options o, Handler h, Logger& l, Admit a)
      : io(io), opt(std::move(o)), handler(std::move(h)), admit(std::move(a)), log(l),
        acceptor(io) {
    if (!opt.limits) opt.limits = std::make_shared<HostLimits>();
    default_host = opt.address + ":" + std::to_string(opt.port);
  }
  asio::io_context& io;
  Options opt;
  Handler handler;
  Admit admit;
  Logger& log;
  tcp::acceptor acceptor;
  bool stopped = false;
  int busy = 0;
  int spare_fd = -1;    // closed to accept (and refuse) one connection when out of descriptors
  int lingering = 0;    // refused connections still being closed gracefully
  bool warned_fds = false;
  bool warned_handshake = false;  // the first failed TLS handshake is a warning, later ones debug
  std::unique_ptr<ssl::context> tls;  // null: plain HTTP only

  std::string default_host;  // Host of a request that names none

  struct Conn;
  std::atomic<uint64_t> connections_opened{0};  // numbers connections for active_clients
  ActiveClients active_clients;
  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket sock);
  // Reading a message is a loop in the session itself (a coroutine per read would allocate
  // its frame per request): need_read parses what the buffer holds and says whether more bytes
  // are needed; read_done keeps the bytes read or maps the end of the input.
  static bool need_read(Conn& c, RequestReader& r, bool header_only,
                        boost::system::error_code& ec);
  static asio::mutable_buffer read_space(Conn& c);
  static void read_done(Conn& c, RequestReader& r, bool header_only, size_t n,
                        boost::system::error_code& ec);
  bool write_now(Conn& c, std::string_view head, std::string_view body, size_t& written,
                 boost::system::error_code& ec);
  awaitable<void> write_rest(Conn& c, std::string_view head, std::string_view body,
                             size_t written, std::chrono::seconds limit,
                             boost::system::error_code& ec);
  awaitable<void> write(Conn& c, std::string_view head, std::string_view body,
                        std::chrono::seconds limit, boost::system::error_code& ec);
  void refuse(tcp::socket sock, bool linger);
  awaitable<void> linger_close(tcp::socket sock);
  bool load_tls(std::string& error);
  awaitable<bool> maybe_start_tls(Conn& c);
  awaitable<void> close_output(Conn& c);
};

HttpServer::HttpServer(asio::io_context& io, Options options, Handler handler, Logger& log,
                       Admit admit)
    : impl_(std::make_unique<Impl>(io, std::move(options), std::move(handler), log,
                                   std::move(admit))) {}
HttpServer::~HttpServer() {
  if (impl_->spare_fd >= 0) ::close(impl_->spare_fd);
}

bool HttpServer::listen(std::string& error) {
  if (!impl_->load_tls(error)) return false;
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
  impl_->spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return true;
}

// The certificate is loaded once, before binding, so a wrong path or a key that does not
// match fails the start with the file's name instead of every handshake later.
bool HttpServer::Impl::load_tls(std::string& error) {
  const auto& cert = opt.tls_certificate_file;
  const auto& key = opt.tls_key_file;
  if (cert.empty() && key.empty()) return true;
  if (cert.empty() || key.empty()) {
    error = "TLS needs both a certificate and its private key (only " +
            std::string(cert.empty() ? "the key " + key : "the certificate " + cert) +
            " was given); give both, or neither for plain HTTP";
    return false;
  }
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  // TLS 1.2 and 1.3 only: what every supported client speaks; older versions have known
  // breaks. Renegotiation is off (OpenSSL 3 refuses client-initiated renegotiation).
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) {
    error = "TLS certificate " + cert + " cannot be loaded (" + ec.message() +
            "); give a PEM certificate file";
    return false;
  }
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  // OpenSSL checks the pair while loading the key; its "key values mismatch" is said plainly.
  if (ec && ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    error = "TLS key " + key + " is not the private key of the certificate " + cert +
            "; give the matching pair";
    return false;
  }
  if (ec) {
    error = "TLS key " + key + " cannot be loaded (" + ec.message() +
            "); give the certificate's PEM private key, without a passphrase";
    return false;
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    error = "TLS key " + key + " is not the private key of the certificate " + cert +
            "; give the matching pair";
    return false;
  }
  tls = std::move(ctx);
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

// A connection over the cap gets a 503 written without waiting (the socket's send buffer is
// empty) and is closed. Closing with the request unread would send a reset that can destroy
// the 503 before the client reads it, so a bounded number are closed gracefully: our side
// shut, the request drained for up to two seconds. Not when out of descriptors: lingering
// would hold the very descriptor the next refusal needs. A TLS client gets the same plain
// bytes, which it reports as a handshake failure: refusing before any TLS work is what keeps
// a flood of connections cheap.
void HttpServer::Impl::refuse(tcp::socket sock, bool linger) {
  std::string bytes = serialize_response(
      over_budget("the host has " + std::to_string(opt.limits->max_connections) +
                  " open connections, its limit"),
      11, false, false);
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  sock.write_some(asio::buffer(bytes), ec);
  sock.shutdown(tcp::socket::shutdown_send, ec);
  if (!linger || lingering >= 64) return;  // out of descriptors, or a flood: close at once
  ++lingering;
  asio::co_spawn(io, linger_close(std::move(sock)),
                 log_if_thrown(log, "Host.Http", "closing a refused connection failed"));
}

awaitable<void> HttpServer::Impl::linger_close(tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  stream.expires_after(std::chrono::seconds(2));
  char sink[4096];
  boost::system::error_code ec;
  for (int i = 0; i < 16 && !ec; ++i)
    co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(use_awaitable, ec));
  --lingering;
}

awaitable<void> HttpServer::Impl::accept_loop() {
  auto& limits = *opt.limits;
  while (!stopped) {
    boost::system::error_code ec;
    tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || stopped) co_return;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
        // Out of descriptors: give back the spare one, take the waiting connection, answer
        // it 503 and close it, then keep the spare again; a client always hears why.
        if (spare_fd >= 0) ::close(spare_fd);
        tcp::socket extra = acceptor.accept(ec);
        if (!ec) refuse(std::move(extra), false);
        spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (!ec) {
          if (!warned_fds) log.warn("Host.Http", "out of file descriptors: refusing connections "
                                                 "with 503; raise the limit (ulimit -n) or lower "
                                                 "nimbus.http.maxConnections");
          warned_fds = true;
          continue;
        }
      }
      // Other accept errors: say so, pause, go on; the host must not stop serving.
      log.warn("Host.Http", "accept failed: " + ec.message());
      asio::steady_timer t(io, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (limits.connections >= limits.max_connections) {
      refuse(std::move(sock), true);
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    ++limits.connections;
    asio::co_spawn(io, session(std::move(sock)), [this](std::exception_ptr e) {
      --opt.limits->connections;
      if (e) log.error("Host.Http", "connection ended by an internal error: " + exception_message(e));
    });
  }
}

// One connection: its socket, its buffer of unparsed bytes, and its deadline. The deadline
// is a time point the session moves as it goes (a stored value, no timer operation): set when
// a request's head is awaited (idle timeout), again when its body is (idle timeout), and when
// an answer cannot be written at once (30 s). One timer per connection, armed when it opens,
// checks it: when the timer fires past the deadline, the socket is shut down and its pending
// operation cancelled; before it, the timer waits again until the deadline. The deadline is
// absolute for each phase, so a client trickling a byte at a time is cut off all the same.
// While the handler runs there is no deadline (the function's own timeout applies).
struct HttpServer::Impl::Conn {
  using Clock = std::chrono::steady_clock;
  Conn(tcp::socket s, size_t cap)
      : sock(std::move(s)), reactor(sock), timer(sock.get_executor()), buf(cap), cap(cap) {}
  tcp::socket sock;
  ReadyReactor reactor;  // for async_read_ready
  asio::steady_timer timer;
  beast::flat_buffer buf;
  size_t cap;
  Clock::time_point deadline = Clock::time_point::max();
  bool in_handler = false;
  bool closed = false;  // the session ended: the timer's last wait only lets go
  std::string out;      // the answer being written; its capacity is reused
  // Over TLS: the stream on `sock` (declared after it, so destroyed first). The timer still
  // shuts down and cancels `sock` itself, which ends the stream's pending operation too.
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;

  // A later deadline only moves the value; an earlier one than the timer's (rare: a write
  // that could not complete at once) re-arms it.
  void expire_at(Clock::time_point t) {
    deadline = t;
    if (t < timer.expiry()) timer.expires_at(t);  // the aborted wait re-arms (watch)
  }
  static void watch(std::shared_ptr<Conn> c, std::chrono::seconds idle) {
    auto* self = c.get();
    self->timer.async_wait([c = std::move(c), idle](const boost::system::error_code& ec) mutable {
      if (c->closed) return;
      if (!ec) {
        auto now = Clock::now();
        if (c->in_handler) {
          c->timer.expires_at(now + idle);
        } else if (now >= c->deadline) {
          // Past the deadline: pending reads and writes end now, and later ones at once.
          boost::system::error_code ignored;
          c->sock.shutdown(tcp::socket::shutdown_both, ignored);
          c->sock.cancel(ignored);
          return;
        } else {
          c->timer.expires_at(c->deadline);
        }
      }
      // Fired early, or re-armed by expire_at (operation_aborted): wait again.
      watch(std::move(c), idle);
    });
  }
};

// Parses what the buffer holds; true when the head (header_only) or the message is still
// incomplete and the socket must be read. False when done or on an error (ec).
bool HttpServer::Impl::need_read(Conn& c, RequestReader& r, bool header_only,
                                 boost::system::error_code& ec) {
  feed(r, c.buf, header_only, ec);
  if (ec || (header_only ? r.header_done() : r.done())) return false;
  if (c.buf.size() >= c.cap) {
    ec = bhttp::error::buffer_overflow;  // a head (or trailers) beyond the buffer: 431
    return false;
  }
  return true;
}

// Room for the next read: what the capped buffer has left, at most 64 KiB.
asio::mutable_buffer HttpServer::Impl::read_space(Conn& c) {
  return c.buf.prepare(std::min<size_t>(c.cap - c.buf.size(), 64u << 10));
}

void HttpServer::Impl::read_done(Conn& c, RequestReader& r, bool header_only, size_t n,
                                 boost::system::error_code& ec) {
  // A TLS peer that closes without close_notify ends its stream "truncated"; after a
  // complete request that is an ordinary end of a keep-alive connection.
  if (ec == asio::error::eof || (c.tls && ec == ssl::error::stream_truncated)) {
    end_of_input(r, c.buf, header_only, ec);
    return;
  }
  if (!ec) c.buf.commit(n);
}

// Writes head and body: at once when the socket takes them (the usual case: no suspension,
// no deadline, and no coroutine frame: write_now is a plain call), else the rest
// asynchronously under a deadline of `limit` (write_rest).
bool HttpServer::Impl::write_now(Conn& c, std::string_view head, std::string_view body,
                                 size_t& written, boost::system::error_code& ec) {
  written = 0;
  // The SSL stream has no non-blocking write of its own to try first: every answer is
  // written asynchronously under the deadline (it usually completes without waiting).
  if (c.tls) return false;
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()),
                                         asio::buffer(body.data(), body.size())};
  written = c.sock.write_some(bufs, ec);  // non-blocking socket
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    written = 0;
  }
  return ec || written == head.size() + body.size();
}

awaitable<void> HttpServer::Impl::write_rest(Conn& c, std::string_view head,
                                             std::string_view body, size_t written,
                                             std::chrono::seconds limit,
                                             boost::system::error_code& ec) {
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()),
                                         asio::buffer(body.data(), body.size())};
  c.expire_at(Conn::Clock::now() + limit);
  if (c.tls) {
    co_await asio::async_write(*c.tls, bufs, asio::redirect_error(use_awaitable, ec));
    co_return;
  }
  beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(bufs);
  rest.consume(written);
  co_await asio::async_write(c.sock, rest, asio::redirect_error(use_awaitable, ec));
}

awaitable<void> HttpServer::Impl::write(Conn& c, std::string_view head, std::string_view body,
                                        std::chrono::seconds limit,
                                        boost::system::error_code& ec) {
  size_t written = 0;
  if (write_now(c, head, body, written, ec)) co_return;
  co_await write_rest(c, head, body, written, limit, ec);
}

awaitable<void> HttpServer::Impl::session(tcp::socket sock) {
  auto conn = std::make_shared<Conn>(std::move(sock), buffer_cap(opt.max_headers));
  Conn& c = *conn;
  const uint64_t connection_number = ++connections_opened;
  boost::system::error_code ec;
  c.sock.non_blocking(true, ec);
  c.deadline = Conn::Clock::now() + opt.idle_timeout;
  c.timer.expires_at(c.deadline);
  Conn::watch(conn, opt.idle_timeout);
  struct End {
    Conn& c;
    ~End() {
      c.closed = true;
      boost::system::error_code ignored;
      c.timer.cancel();
      c.sock.close(ignored);
    }
  } end{c};
  if (tls && !co_await maybe_start_tls(c)) co_return;
  // The peer, once per connection: what handlers that restrict by address (SAS `sip`) see.
  std::string peer_address;
  {
    boost::system::error_code pec;
    auto peer = c.sock.remote_endpoint(pec);
    if (!pec) {
      auto a = peer.address();
      if (a.is_v6() && a.to_v6().is_v4_mapped())
        a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
      peer_address = a.to_string();
    }
  }
  auto& limits = *opt.limits;
  // Bytes of the budget this connection holds; given back on every way out.
  size_t reserved = 0;
  struct Release {
    HostLimits& l;
    size_t& n;
    ~Release() { l.give_body(n); }
  } release{limits, reserved};
  // Answers and closes: for errors and refusals whose body (if any) was not read.
  const api::HttpRequestData* current = nullptr;  // the request whose head was read
  auto answer_and_close = [&](const api::HttpResponseData& r, unsigned version,
                              bool head) -> awaitable<void> {
    if (opt.on_refused) opt.on_refused(r, current);
    // The body will not be read: its reservation goes back now, not after the write, or
    // bodies refused together would all hold theirs while each is answered.
    limits.give_body(reserved);
    reserved = 0;
    c.out.clear();
    serialize_response_into(c.out, r, version, false, head);
    boost::system::error_code wec;
    co_await write(c, c.out, {}, std::chrono::seconds(5), wec);
    co_await close_output(c);
  };
  // The socket read the session awaits: TLS through the stream, a plain socket skipping the
  // read that would find nothing (ready_read.h). Not a coroutine: it returns the operation.
  auto read_op = [&c, &ec](asio::mutable_buffer space) -> awaitable<size_t> {
    if (c.tls) return c.tls->async_read_some(space, asio::redirect_error(use_awaitable, ec));
    return async_read_ready(c.reactor, c.sock, space, asio::redirect_error(use_awaitable, ec));
  };
  for (;;) {
    RequestReader parser(opt.max_headers, opt.max_body);
    c.expire_at(Conn::Clock::now() + opt.idle_timeout);
    current = nullptr;
    while (!ec && need_read(c, parser, true, ec)) {
      size_t n = co_await read_op(read_space(c));
      read_done(c, parser, true, n, ec);
    }
    if (ec) {
      if (auto err = read_error_response(ec, opt.max_body, opt.max_headers))
        co_await answer_and_close(*err, 11, false);
      co_return;
    }
    unsigned version = parser.version();
    bool head = parser.head_method();
    api::HttpRequestData& data = parser.data();
    current = &data;
    if (!parse_target(data)) co_return co_await answer_and_close(bad_target(data), version, head);
    if (data.host.empty()) data.host = default_host;
    if (tls) set_forwarded_proto(data.headers, c.tls != nullptr);
    data.secure = c.tls != nullptr;
    data.remote_address = peer_address;
    data.active_clients = active_clients.note(connection_number, Conn::Clock::now());

    // Admission on the headers alone: route, method and key are known before the body.
    if (admit)
      if (auto refused = admit(data)) co_return co_await answer_and_close(*refused, version, head);

    // The body: reserve what Content-Length announces before reading a byte of it.
    auto announced = parser.content_length();
    if (announced && *announced > opt.max_body)
      co_return co_await answer_and_close(*read_error_response(bhttp::error::body_limit,
                                                               opt.max_body, opt.max_headers),
                                          version, head);
    if (announced && *announced > 0) {
      if (!limits.take_body(*announced))
        co_return co_await answer_and_close(
            over_budget("the host is buffering as many request bodies as "
                        "nimbus.http.maxBufferedRequestBytes allows"),
            version, head);
      reserved = *announced;
    }
    parser.beast.eager(true);
    if (!parser.done()) {
      // Expect: 100-continue is answered only now, after admission and the budget.
      if (version >= 11 && parser.expect_continue()) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await write(c, kContinue, {}, std::chrono::seconds(30), ec);
        if (ec) co_return;
      }
      c.expire_at(Conn::Clock::now() + opt.idle_timeout);
      while (!ec && !parser.done()) {
        // Parse what the buffer holds (each byte once: Beast must not be offered the same
        // bytes again), check the budget, then read more if the body is not complete.
        bool more = need_read(c, parser, false, ec);
        // Chunked: grow the reservation as the body grows.
        size_t have = data.body.size();
        if (!ec && !announced && have > reserved) {
          if (!limits.take_body(have - reserved))
            co_return co_await answer_and_close(
                over_budget("the host is buffering as many request bodies as "
                            "nimbus.http.maxBufferedRequestBytes allows"),
                version, head);
          reserved = have;
        }
        if (!more) continue;  // done, or an error: the loop ends
        size_t n = co_await read_op(read_space(c));
        read_done(c, parser, false, n, ec);
      }
      if (ec) {
        if (auto err = read_error_response(ec, opt.max_body, opt.max_headers))
          co_await answer_and_close(*err, version, head);
        co_return;
      }
    }
    bool keep_alive = parser.keep_alive();

    ++busy;
    struct Busy {
      int& n;
      ~Busy() { --n; }
    } busy_guard{busy};
    c.in_handler = true;
    api::HttpResponseData response = co_await handler(data);
    c.in_handler = false;
    std::string().swap(data.body);  // the request's memory goes before the answer is written
    limits.give_body(reserved);
    reserved = 0;
    keep_alive = keep_alive && !stopped;  // while draining, each answer closes its connection
    // Small answers go out as one buffer (one write, cheapest); a large body is written
    // after its head without copying it (bodies up to maxRequestBodySize would double).
    bool copy = response.body.size() <= kCopyBody;
    c.out.clear();
    serialize_response_into(c.out, response, version, keep_alive, head, copy);
    bool separate_body = !copy && !head && response.status >= 200 && response.status != 204 &&
                         response.status != 304;
    std::string_view body_out =
        separate_body ? std::string_view(response.body) : std::string_view();
    if (size_t written = 0; !write_now(c, c.out, body_out, written, ec))
      co_await write_rest(c, c.out, body_out, written, std::chrono::seconds(30), ec);
    // Small answers keep the buffer for the next one; a large one's memory goes now, so an
    // idle keep-alive connection holds at most a few KiB of it.
    if (c.out.capacity() > (16u << 10)) std::string().swap(c.out);
    if (ec || !keep_alive) {
      if (!ec) co_await close_output(c);
      co_return;
    }
  }
}

}  // namespace nimbus::http

namespace nimbus::http {

// On a TLS-capable listener: waits (under the head's deadline, which the session set) for the
// connection's first byte and peeks at it without consuming it. 0x16 opens a TLS handshake
// record; every HTTP request starts with a method's letter. False when the connection
// ended, or its handshake failed; the failure closes that connection only.
awaitable<bool> HttpServer::Impl::maybe_start_tls(Conn& c) {
  boost::system::error_code ec;
  co_await c.sock.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return false;
  unsigned char first = 0;
  size_t n = c.sock.receive(asio::buffer(&first, 1), tcp::socket::message_peek, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    // Readable but nothing to peek (a spurious wakeup): let the plain reader wait for it
    // and take it as HTTP. A TLS client always sends its ClientHello at once, so this path
    // only ever meets plain clients.
    co_return true;
  }
  if (ec || n == 0) co_return false;
  if (first != 0x16) co_return true;
  c.tls = std::make_unique<ssl::stream<tcp::socket&>>(c.sock, *tls);
  co_await c.tls->async_handshake(ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
  if (!ec) co_return true;
  // Clients that do not trust the certificate abort here (alert "unknown ca" / "bad
  // certificate"); so do scanners. The first failure is worth a warning with the fix, the
  // rest would only flood the log.
  boost::system::error_code ignored;
  auto peer = c.sock.remote_endpoint(ignored);
  std::string why = ec == asio::error::operation_aborted || ec == asio::error::shut_down
                        ? std::string("no handshake before the deadline")
                        : ec.message();
  boost::json::object fields{{"peer", peer.address().to_string() + ":" + std::to_string(peer.port())},
                             {"error", why}};
  if (!warned_handshake) {
    warned_handshake = true;
    log.warn("Host.Http",
             "TLS handshake failed; the connection is closed. If the client does not trust the "
             "certificate, give it the certificate file (NODE_EXTRA_CA_CERTS, curl --cacert). "
             "Later failures are logged at Debug",
             std::move(fields));
  } else {
    log.log(LogLevel::debug, "Host.Http", "TLS handshake failed", std::move(fields));
  }
  co_return false;
}

// Ends our side of the connection: over TLS a close_notify first (bounded, as an error
// answer's write is), so the client sees a clean end rather than a truncated stream.
awaitable<void> HttpServer::Impl::close_output(Conn& c) {
  boost::system::error_code ec;
  if (c.tls) {
    c.expire_at(Conn::Clock::now() + std::chrono::seconds(5));
    co_await c.tls->async_shutdown(asio::redirect_error(use_awaitable, ec));
  }
  c.sock.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace nimbus::http
