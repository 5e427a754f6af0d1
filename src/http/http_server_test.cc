#include "http/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/url/parse.hpp>

#include "http/ready_read.h"
#include "http/request_head.h"

using nimbus::http::parse_request;

TEST(HttpParse, ParsesARequestWithItsQueryAndBody) {
  auto r = parse_request(
      "POST /api/x/1?a=1&a=2&b=%20 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", 32768,
      1024);
  ASSERT_EQ(r.status, 0) << r.error;
  EXPECT_EQ(r.request.method, "POST");
  EXPECT_EQ(r.request.path, "/api/x/1");
  EXPECT_EQ(r.request.query.at("a"), "1");  // the first of repeated names
  EXPECT_EQ(r.request.query.at("b"), " ");
  EXPECT_EQ(r.request.host, "h");
  EXPECT_EQ(r.request.body, "hi");
}

// A plain path skips the URL parser; it must be taken exactly where Boost.URL takes the
// target, with the same path. Every printable byte, alone, doubled and between segments.
TEST(HttpParse, PlainPathsParseAsTheUrlParserParsesThem) {
  std::vector<std::string> targets = {"/", "//", "/api/hello/bench", "/a//b/", "/%41", "/a?",
                                      "/a?b=1", "/a#f", "a", "*", "/\x7f", "/\x80"};
  for (int c = 0x21; c < 0x7f; ++c) {
    std::string ch(1, static_cast<char>(c));
    targets.push_back("/" + ch);
    targets.push_back("/x" + ch + ch + "/y");
  }
  for (const auto& t : targets) {
    auto r = parse_request("GET " + t + " HTTP/1.1\r\nHost: h\r\n\r\n", 32768, 1024);
    auto url = boost::urls::parse_origin_form(t);
    if (!url) {
      EXPECT_NE(r.status, 0) << t;
      continue;
    }
    ASSERT_EQ(r.status, 0) << t << ": " << r.error;
    EXPECT_EQ(r.request.path, std::string(url->encoded_path())) << t;
  }
}

// A plain path with a plain query skips the URL parser too; its path and query must be what
// Boost.URL makes of the target, including its edges (empty pieces and keys, '=' in values,
// '?' in the query, '+', escapes).
TEST(HttpParse, PlainQueriesParseAsTheUrlParserParsesThem) {
  std::vector<std::string> targets = {
      "/a?b=1", "/a?b=1&b=2&c", "/a?b", "/a?b=", "/a?=1", "/a?b=1&&c=2", "/a?&b=1", "/a?b=1&",
      "/a?b=1=2", "/a?b=x?y", "/a?b=/c:d@e", "/a?b=1+2", "/a?b=%20", "/a?b=1#f", "/a?", "/a??",
      "/a?b=1&c=2&d=3&e", "/devstoreaccount1/q/messages?visibilitytimeout=0&messagettl=60",
      "/a?b=!$'()*,;", "/a%41?b=1", "/a?b=\x7f", "/a?b=1 2", "/a?B=1&b=2"};
  for (int c = 0x21; c < 0x7f; ++c) targets.push_back("/q?k" + std::string(1, static_cast<char>(c)) + "=v");
  for (const auto& t : targets) {
    auto r = parse_request("GET " + t + " HTTP/1.1\r\nHost: h\r\n\r\n", 32768, 1024);
    auto url = boost::urls::parse_origin_form(t);
    if (!url) {
      EXPECT_NE(r.status, 0) << t;
      continue;
    }
    ASSERT_EQ(r.status, 0) << t << ": " << r.error;
    EXPECT_EQ(r.request.path, std::string(url->encoded_path())) << t;
    std::map<std::string, std::string> want;
    if (url->has_query())
      for (auto p : url->params()) want.emplace(std::string(p.key), std::string(p.value));
    EXPECT_EQ(r.request.query, want) << t;
  }
}

// Beast's field storage throws std::length_error for a field over 65,533 bytes; in a server
// that throw escapes io_context::run and ends the host. Every such field must be a 431.
TEST(HttpParse, OversizedTrailerFieldIsA431NotAThrow) {
  for (size_t size : {65000u + 1, 65536u, 70000u, 200000u}) {
    std::string req =
        "POST /api/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
        "X-Trailer: " + std::string(size, 'a') + "\r\n\r\n";
    auto r = parse_request(req, 32768, 1 << 20);
    EXPECT_EQ(r.status, 431) << size << ": " << r.error;
  }
}

TEST(HttpParse, OversizedHeaderFieldIsA431EvenUnderAHighHeaderLimit) {
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(70000, 'b') + "\r\n\r\n";
  auto r = parse_request(req, 1 << 20, 1024);
  EXPECT_EQ(r.status, 431) << r.error;
}

TEST(HttpParse, BadInputsGetTheServersAnswers) {
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 32768, 100).status, 413);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nX: " + std::string(40000, 'x') + "\r\n\r\n", 32768,
                          100).status,
            431);
  EXPECT_EQ(parse_request("NOT HTTP\r\n\r\n", 32768, 100).status, 400);
  EXPECT_EQ(parse_request("", 32768, 100).status, 400);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nHost:", 32768, 100).status, 400);
  EXPECT_EQ(parse_request("GET http://evil/ HTTP/1.1\r\n\r\n", 32768, 100).status, 400);
}

// ---- The lean head reader (request_head.h) and Beast behind it. Every case is parsed both
// ways (parse_request with the lean reader, and Beast alone): a head the lean reader takes
// must come out as Beast reads it; one it declines is Beast's to answer, unchanged.
namespace {
struct Both {
  nimbus::http::ParsedRequest lean, beast;
};
Both parse_both(const std::string& in, size_t piece = 0, size_t max_headers = 32768,
                size_t max_body = 1 << 20) {
  return {parse_request(in, max_headers, max_body, piece, true),
          parse_request(in, max_headers, max_body, piece, false)};
}
void expect_same(const Both& b, const std::string& what) {
  EXPECT_EQ(b.lean.status, b.beast.status) << what;
  EXPECT_EQ(b.lean.error, b.beast.error) << what;
  if (b.lean.status != 0 || b.beast.status != 0) return;
  const auto& x = b.lean.request;
  const auto& y = b.beast.request;
  EXPECT_EQ(x.method, y.method) << what;
  EXPECT_EQ(x.target, y.target) << what;
  EXPECT_EQ(x.path, y.path) << what;
  EXPECT_EQ(x.host, y.host) << what;
  EXPECT_EQ(x.query, y.query) << what;
  EXPECT_EQ(x.headers, y.headers) << what;
  EXPECT_EQ(x.body, y.body) << what;
  EXPECT_EQ(b.lean.version, b.beast.version) << what;
  EXPECT_EQ(b.lean.keep_alive, b.beast.keep_alive) << what;
}
// The head of a point read as @azure/cosmos sends it (values shortened).
const std::string kSdkRead =
    "GET /dbs/db/colls/c/docs/item-1 HTTP/1.1\r\n"
    "accept: application/json\r\n"
    "authorization: type%3Dmaster%26ver%3D1.0%26sig%3Dabc%2Bdef%3D\r\n"
    "cache-control: no-cache\r\n"
    "x-ms-consistency-level: Session\r\n"
    "x-ms-date: Mon, 30 Nov 2026 12:00:00 GMT\r\n"
    "x-ms-documentdb-partitionkey: [\"pk\"]\r\n"
    "x-ms-version: 2020-07-15\r\n"
    "user-agent: azsdk-js-cosmos/4.0.0 core-rest-pipeline/1.0 Node/v20 OS/(x64-Linux)\r\n"
    "x-ms-client-request-id: 2f0f8a47-8d0b-4d0e-9b4c-6e0f7f6a0c11\r\n"
    "Accept-Encoding: gzip,deflate\r\n"
    "Host: 127.0.0.1:8081\r\n"
    "Connection: keep-alive\r\n\r\n";
}  // namespace

TEST(LeanHead, TakesTheUsualShapeAsBeastReadsIt) {
  const std::string inputs[] = {
      kSdkRead,
      "POST /dbs/db/colls/c/docs HTTP/1.1\r\nHost: h\r\ncontent-type: application/json\r\n"
      "Content-Length: 13\r\n\r\n{\"id\":\"a b\"}\n",
      "PUT /devstoreaccount1/q/messages?visibilitytimeout=0&messagettl=60 HTTP/1.1\r\nHost: h"
      "\r\nContent-Length: 3\r\nx-ms-meta:\t tab\tinside  \r\nEmpty:\r\n\r\nabc",
      "DELETE /a HTTP/1.1\r\nHOST:h1\r\nhost:  h2 \r\nConnection: close\r\n\r\n",
      "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n",
      "OPTIONS /a HTTP/1.1\r\nOrigin: http://x\r\n\r\n",
      "PATCH /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
      "GET /g HTTP/1.0\r\n\r\n",
      "GET /g HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
      "GET /g HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
      "GET /%41?x=%20&x=2 HTTP/1.1\r\nX-Utf8: caf\xc3\xa9\r\n\r\n",
      "GET * HTTP/1.1\r\n\r\n",  // taken, then refused as a target (400) by both
  };
  for (const auto& in : inputs) {
    auto b = parse_both(in);
    EXPECT_TRUE(b.lean.lean) << in;
    expect_same(b, in);
    for (size_t piece : {1u, 3u, 17u, 100u}) {
      auto s = parse_both(in, piece);
      EXPECT_TRUE(s.lean.lean) << piece << ": " << in;
      expect_same(s, std::to_string(piece) + ": " + in);
    }
  }
  auto r = parse_request(kSdkRead, 32768, 1024);
  EXPECT_EQ(r.request.host, "127.0.0.1:8081");
  EXPECT_EQ(r.request.headers.size(), 12u);
  EXPECT_TRUE(r.keep_alive);
  auto h10 = parse_request("GET /g HTTP/1.0\r\n\r\n", 32768, 1024);
  EXPECT_EQ(h10.version, 10u);
  EXPECT_FALSE(h10.keep_alive);
}

// Request smuggling shapes and everything else outside the lean shape: declined (Beast
// answers as it always did), whatever Beast then makes of it.
TEST(LeanHead, DeclinesEverythingElseAndBeastAnswers) {
  struct Case {
    std::string in;
    int beast_status;  // what Beast answers: the lean reader must not change it
  };
  const std::string get = "GET /a HTTP/1.1\r\nHost: h\r\n";
  const Case cases[] = {
      {"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", 0},
      {"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0},
      {"POST /a HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 0},
      {"POST /a HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 3 3\r\n\r\nabc", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc", 0},
      {"POST /a HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\nabc", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\nabc", 413},
      {"POST /a HTTP/1.1\r\nContent-Length:\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc", 400},
      {"GET /a HTTP/1.1\r\nHost : h\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\nHo(st: h\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\nHo\x80st: h\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\n: h\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\nX\r\n\r\n", 400},
      {get + std::string("X: a\0b\r\n\r\n", 10), 400},
      {get + "X: a\rb\r\n\r\n", 400},
      {get + "X: a\x7f\r\n\r\n", 400},
      {get + "X: a\nY: b\r\n\r\n", 400},
      {"GET /a HTTP/1.1\nHost: h\n\n", 400},
      {get + "\n", 400},
      {get + "X: a\r\n b\r\n\r\n", 0},  // obs-fold: Beast folds it
      {get + " X: a\r\n\r\n", 0},  // Host's value continued: "h X: a"
      {get + "Expect: 100-continue\r\n\r\n", 0},
      {get + "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0},
      {get + "Connection: keep-alive, close\r\n\r\n", 0},
      {get + "Connection: TE\r\n\r\n", 0},
      {get + "Proxy-Connection: close\r\n\r\n", 0},
      {"get /a HTTP/1.1\r\n\r\n", 0},
      {"PROPFIND /a HTTP/1.1\r\n\r\n", 0},
      {"GET  /a HTTP/1.1\r\n\r\n", 400},
      {"GET /a  HTTP/1.1\r\n\r\n", 400},
      {"GET /a b HTTP/1.1\r\n\r\n", 400},
      {"GET /a\tb HTTP/1.1\r\n\r\n", 400},
      {"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400},
      {"GET /a HTTP/1.2\r\n\r\n", 400},
      {"GET /a HTTP/2.0\r\n\r\n", 400},
      {"GET /a http/1.1\r\n\r\n", 400},
      {"GET /a HTTP/1.1 \r\n\r\n", 400},
      {"\r\nGET /a HTTP/1.1\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\n", 400},  // incomplete: the lean reader waits, then Beast ends it
  };
  for (const auto& c : cases) {
    for (size_t piece : {0u, 1u, 5u, 64u}) {
      auto b = parse_both(c.in, piece);
      EXPECT_FALSE(b.lean.lean) << piece << ": " << c.in;
      expect_same(b, std::to_string(piece) + ": " + c.in);
      EXPECT_EQ(b.beast.status, c.beast_status) << piece << ": " << c.in;
    }
  }
  // More fields than the lean reader keeps: declined, read by Beast.
  std::string many = "GET /a HTTP/1.1\r\n";
  for (int i = 0; i < 60; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  auto b = parse_both(many + "\r\n");
  EXPECT_FALSE(b.lean.lean);
  expect_same(b, "many fields");
  EXPECT_EQ(b.beast.request.headers.size(), 60u);
}

// Declining or waiting changes nothing the session holds; a head is taken only when it is
// whole, within the header limit (its blank line included), and with a body within the limit.
TEST(LeanHead, WaitsForTheWholeHeadAndKeepsToTheLimits) {
  using nimbus::http::LeanHead;
  using nimbus::http::read_lean_head;
  std::string head = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  LeanHead h;
  for (size_t n = 0; n < head.size(); ++n)
    ASSERT_EQ(read_lean_head(h, std::string_view(head).substr(0, n), 32768, 100),
              LeanHead::State::reading) << n;
  ASSERT_EQ(read_lean_head(h, head + "hello", 32768, 100), LeanHead::State::accepted);
  EXPECT_EQ(h.size, head.size());
  EXPECT_EQ(h.content_length, 5u);
  nimbus::api::HttpRequestData data;
  nimbus::http::take_lean_head(h, head, data);
  EXPECT_EQ(data.method, "POST");
  EXPECT_EQ(data.target, "/a");
  EXPECT_EQ(data.host, "h");
  // Garbage is declined at its first byte, not after waiting for a line end.
  LeanHead g;
  EXPECT_EQ(read_lean_head(g, "\x16\x03\x01", 32768, 100), LeanHead::State::declined);
  LeanHead p;
  EXPECT_EQ(read_lean_head(p, "POS", 32768, 100), LeanHead::State::reading);
  // The limits: a head of exactly the limit is taken, one byte more is Beast's (431).
  auto fresh = [&](size_t header_limit, uint64_t body_limit) {
    LeanHead x;
    return read_lean_head(x, head, header_limit, body_limit);
  };
  EXPECT_EQ(fresh(head.size(), 100), LeanHead::State::accepted);
  EXPECT_EQ(fresh(head.size() - 1, 100), LeanHead::State::declined);
  EXPECT_EQ(fresh(32768, 4), LeanHead::State::declined);
  for (size_t limit : {head.size() - 1, head.size(), head.size() + 1}) {
    auto b = parse_both(head + "hello", 0, limit, 100);
    expect_same(b, "limit " + std::to_string(limit));
    auto s = parse_both(head + "hello", 7, limit, 100);
    expect_same(s, "limit " + std::to_string(limit));
  }
  auto over = parse_both(head + "hello", 0, 32768, 4);
  EXPECT_FALSE(over.lean.lean);
  EXPECT_EQ(over.lean.status, 413);
  // A body cut short is the same partial message both ways.
  auto cut = parse_both(head + "hel");
  EXPECT_TRUE(cut.lean.lean);
  expect_same(cut, "cut body");
  EXPECT_EQ(cut.lean.status, 400);
}

// ---- The server on a socket: deadlines, admission order, partial writes. A real HttpServer
// on an ephemeral port, its io_context on a thread of its own; plain blocking clients. Every
// wait is on a condition with a generous bound, never a sleep-then-assert.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <boost/asio/executor_work_guard.hpp>
#include <thread>

namespace {

using namespace std::chrono_literals;
using nimbus::http::HttpServer;

class LiveServer {
 public:
  explicit LiveServer(std::chrono::seconds idle, HttpServer::Admit admit = {},
                      size_t reply_size = 2) {
    HttpServer::Options o;
    o.port = 0;
    o.idle_timeout = idle;
    o.limits = limits_;
    server_ = std::make_unique<HttpServer>(
        io_, o,
        [this, reply_size](nimbus::api::HttpRequestData& r)
            -> boost::asio::awaitable<nimbus::api::HttpResponseData> {
          ++handled;
          last_body = r.body;
          last_headers = r.headers;
          // "/crlf": a handler whose headers try to add lines of their own (CR and LF at
          // every position of a 16-byte step, in names too) and to set the framing.
          if (r.target == "/crlf") {
            nimbus::api::Headers h{{"X-Seen", "a\r\nX-Injected: 1"}};
            for (size_t at : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 40u})
              h.emplace_back("X-At-" + std::to_string(at),
                             std::string(at, 'v') + "\n" + std::string(40 - at, 'w') + "\r");
            h.emplace_back("X-Na\r\nme", "");
            h.emplace_back("content-length", "999");
            h.emplace_back("Connection", "close");
            h.emplace_back("Transfer-Encoding", "chunked");
            co_return nimbus::api::HttpResponseData{200, std::move(h),
                                                    std::string(reply_size, 'k')};
          }
          co_return nimbus::api::HttpResponseData{200, {{"X-Seen", r.method}},
                                                  std::string(reply_size, 'k')};
        },
        log_, std::move(admit));
    std::string error;
    EXPECT_TRUE(server_->listen(error)) << error;
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  // Stops accepting and waits (bounded) until every connection has ended, so no session
  // outlives the server it belongs to.
  ~LiveServer() {
    boost::asio::post(io_, [this] { server_->stop(); });
    auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
      std::promise<size_t> open;
      boost::asio::post(io_, [&] { open.set_value(limits_->connections); });
      if (open.get_future().get() == 0) break;
      std::this_thread::sleep_for(10ms);
    }
    std::promise<void> flushed;  // the sessions' last timer waits let go
    boost::asio::post(io_, [&] { flushed.set_value(); });
    flushed.get_future().get();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return port_ ? port_ : (port_ = server_->port()); }

  int connect() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }

  std::atomic<int> handled{0};
  std::string last_body;
  nimbus::api::Headers last_headers;

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  nimbus::Logger log_{nimbus::LogLevel::none};
  std::shared_ptr<nimbus::http::HostLimits> limits_ = std::make_shared<nimbus::http::HostLimits>();
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  mutable uint16_t port_ = 0;
};

bool send_all(int fd, std::string_view s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// Reads what arrives within `wait`; `closed` tells whether the peer ended the connection.
std::string read_for(int fd, std::chrono::milliseconds wait, bool* closed = nullptr) {
  std::string out;
  auto until = std::chrono::steady_clock::now() + wait;
  if (closed) *closed = false;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Reads until `pred(received)` holds or the peer closes, within a bound.
template <class Pred>
std::string read_until(int fd, Pred pred, bool* closed = nullptr,
                       std::chrono::seconds bound = 20s) {
  std::string out;
  auto until = std::chrono::steady_clock::now() + bound;
  if (closed) *closed = false;
  while (!pred(out) && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

size_t count(const std::string& s, std::string_view what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// Sends `step` every 100 ms until the server closes the connection (or the bound passes);
// true when the server closed it.
bool trickle_until_closed(int fd, std::string_view step, std::chrono::seconds bound = 30s) {
  auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (!send_all(fd, step)) return true;  // reset or shut down
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[4096];
      if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
    }
  }
  return false;
}

}  // namespace

// A client that trickles a head, a byte of a field at a time, is cut off by the head's
// deadline (absolute, not per read), and its request never reaches the handler.
TEST(HttpServerLive, TricklingAHeadIsCutOffByTheDeadline) {
  LiveServer s(1s);
  int fd = s.connect();
  ASSERT_TRUE(send_all(fd, "GET /slow HTTP/1.1\r\nHost: h\r\n"));
  EXPECT_TRUE(trickle_until_closed(fd, "X-a: b\r\n"));
  EXPECT_EQ(s.handled.load(), 0);
  ::close(fd);
}

// The same for a body: the head is admitted, the body trickles, the deadline ends it.
TEST(HttpServerLive, TricklingABodyIsCutOffByTheDeadline) {
  LiveServer s(1s);
  int fd = s.connect();
  ASSERT_TRUE(send_all(fd, "POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n"));
  EXPECT_TRUE(trickle_until_closed(fd, "b"));
  EXPECT_EQ(s.handled.load(), 0);
  ::close(fd);
}

// An idle keep-alive connection is closed after the idle timeout.
TEST(HttpServerLive, IdleKeepAliveConnectionIsClosed) {
  LiveServer s(1s);
  int fd = s.connect();
  ASSERT_TRUE(send_all(fd, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"));
  bool closed = false;
  auto r = read_until(fd, [](const std::string& r) { return r.find("kk") != std::string::npos; });
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  read_until(fd, [](const std::string&) { return false; }, &closed);
  EXPECT_TRUE(closed);
  ::close(fd);
}

TEST(HttpServerLive, CrAndLfAreDroppedFromAnswerHeaders) {
  LiveServer s(30s);
  int fd = s.connect();
  ASSERT_TRUE(send_all(fd, "GET /crlf HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = read_until(fd, [](const std::string& r) { return r.find("kk") != std::string::npos; });
  EXPECT_NE(r.find("\r\nX-Seen: aX-Injected: 1\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("\r\nX-Injected"), std::string::npos) << r;
  for (size_t at : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 40u})
    EXPECT_NE(r.find("\r\nX-At-" + std::to_string(at) + ": " + std::string(at, 'v') +
                     std::string(40 - at, 'w') + "\r\n"),
              std::string::npos)
        << at << ": " << r;
  EXPECT_NE(r.find("\r\nX-Name: \r\n"), std::string::npos) << r;
  // The framing is the server's: its own Content-Length, no handler Connection or chunking.
  auto head = r.substr(0, r.find("\r\n\r\n") + 4);
  EXPECT_NE(head.find("\r\nContent-Length: "), std::string::npos) << head;
  EXPECT_EQ(head.find("999"), std::string::npos) << head;
  EXPECT_EQ(head.find("Connection"), std::string::npos) << head;
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4) << head;
  ::close(fd);
}

// Head and body in separate packets (as the storage SDK sends them), then a second request
// pipelined behind a third in one packet: every body arrives whole, every request is answered
// in order on the one connection, and the handler sees the headers but not Expect.
TEST(HttpServerLive, SplitHeadAndBodyAndPipelinedRequests) {
  LiveServer s(30s);
  int fd = s.connect();
  ASSERT_TRUE(send_all(fd, "PUT /q HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nContent-Length: 5\r\n\r\n"));
  read_for(fd, 50ms);
  ASSERT_TRUE(send_all(fd, "hello"));
  auto r = read_until(fd, [](const std::string& r) { return count(r, "kk") == 1; });
  EXPECT_EQ(count(r, "HTTP/1.1 200"), 1u) << r;
  EXPECT_EQ(s.last_body, "hello");
  ASSERT_TRUE(send_all(fd,
                       "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                       "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "2\r\nxy\r\n1\r\nz\r\n0\r\nX-Trailer: t\r\n\r\n"));
  r = read_until(fd, [](const std::string& r) { return count(r, "kk") == 2; });
  EXPECT_EQ(count(r, "HTTP/1.1 200"), 2u) << r;
  EXPECT_EQ(s.handled.load(), 3);
  EXPECT_EQ(s.last_body, "xyz");
  bool trailer = false;
  for (auto& [k, v] : s.last_headers) trailer = trailer || k == "X-Trailer";
  EXPECT_FALSE(trailer);  // trailers are not handed on
  ::close(fd);
}

// 100-continue is sent only after admission; a refused head gets its answer and no 100, and
// the body is never read.
TEST(HttpServerLive, ContinueOnlyAfterAdmission) {
  LiveServer s(30s, [](nimbus::api::HttpRequestData& r) -> std::optional<nimbus::api::HttpResponseData> {
    if (r.path == "/no") return nimbus::api::HttpResponseData{401, {}, "no"};
    return std::nullopt;
  });
  int fd = s.connect();
  ASSERT_TRUE(send_all(fd, "POST /no HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  bool closed = false;
  auto r = read_until(fd, [](const std::string&) { return false; }, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_EQ(r.find("100 Continue"), std::string::npos) << r;
  ::close(fd);

  fd = s.connect();
  ASSERT_TRUE(send_all(fd, "POST /yes HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  r = read_until(fd, [](const std::string& r) { return r.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(r, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(send_all(fd, "body"));
  r = read_until(fd, [](const std::string& r) { return r.find("kk") != std::string::npos; });
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_EQ(s.last_body, "body");
  for (auto& [k, v] : s.last_headers) EXPECT_NE(k, "Expect");
  ::close(fd);
}

// A head over the limit is a 431 on the socket too.
TEST(HttpServerLive, OversizedHeadIsA431) {
  LiveServer s(30s);
  int fd = s.connect();
  send_all(fd, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(40000, 'x') + "\r\n\r\n");
  bool closed = false;
  auto r = read_until(fd, [](const std::string&) { return false; }, &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r.substr(0, 100);
  EXPECT_EQ(s.handled.load(), 0);
  ::close(fd);
}

// An answer larger than the socket takes at once is written in full while the client reads
// slowly (the asynchronous rest of a write), and the connection stays usable.
TEST(HttpServerLive, LargeAnswerIsWrittenInFull) {
  const size_t size = 8u << 20;
  LiveServer s(30s, {}, size);
  int fd = s.connect();
  ASSERT_TRUE(send_all(fd, "GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /big HTTP/1.1\r\nHost: h\r\n\r\n"));
  // Not reading for a moment fills the socket buffers, so the server's write cannot finish
  // at once (its asynchronous rest is what this test is about); no timing is asserted.
  std::this_thread::sleep_for(200ms);
  auto r = read_until(fd, [&](const std::string& r) { return r.size() >= 2 * size + 100; },
                      nullptr, 60s);
  EXPECT_EQ(r.size(), 2 * (size + r.find("\r\n\r\n") + 4));
  EXPECT_EQ(count(r, "HTTP/1.1 200"), 2u);
  EXPECT_EQ(count(r, "Content-Length: " + std::to_string(size)), 2u);
  ::close(fd);
}

// The session's reading code (the head first, then the body, from a capped buffer filled a
// piece at a time) parses what the whole-buffer parse does, for every piece size.
TEST(HttpParse, PiecewiseReadingAgreesWithTheWholeParse) {
  const std::string inputs[] = {
      "POST /api/x/1?a=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 11\r\n\r\nhello world",
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n"
      "X-T: 1\r\n\r\n",
      "GET /g HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
      "GET /g HTTP/1.0\r\n\r\n"};
  for (const auto& in : inputs) {
    auto whole = parse_request(in, 32768, 1024);
    ASSERT_EQ(whole.status, 0) << whole.error;
    for (size_t piece : {1u, 2u, 7u, 64u, 4096u}) {
      auto split = parse_request(in, 32768, 1024, piece);
      ASSERT_EQ(split.status, 0) << piece << ": " << split.error;
      EXPECT_EQ(split.request.method, whole.request.method);
      EXPECT_EQ(split.request.path, whole.request.path);
      EXPECT_EQ(split.request.headers, whole.request.headers);
      EXPECT_EQ(split.request.body, whole.request.body);
    }
  }
  // Errors keep their answers when read in pieces too.
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 32768, 100, 3).status, 413);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nX: " + std::string(40000, 'x') + "\r\n\r\n", 32768,
                          100, 1000).status,
            431);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab", 32768, 100, 1).status, 400);
  EXPECT_EQ(parse_request("", 32768, 100, 5).status, 400);
}

// The handler never sees Expect (the server answers it) nor trailers, and sees each header
// once, in order.
TEST(HttpParse, HeadersAreHandedOnOnceWithoutExpect) {
  auto r = parse_request("PUT /q HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nX-A: 1\r\nx-a: 2\r\n"
                         "Content-Length: 0\r\n\r\n",
                         32768, 100);
  ASSERT_EQ(r.status, 0) << r.error;
  nimbus::api::Headers want{{"Host", "h"}, {"X-A", "1"}, {"x-a", "2"}, {"Content-Length", "0"}};
  EXPECT_EQ(r.request.headers, want);
}

// async_read_ready (ready_read.h): after a read that drained the socket the next one waits for
// the epoll event instead of trying first; it must still see every byte that arrives later,
// a full buffer's rest, the end of the stream, and a cancellation.
TEST(ReadyRead, SeesLaterBytesFullBuffersEndAndCancel) {
  namespace asio = boost::asio;
  using asio::ip::tcp;
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  server.non_blocking(true);
  nimbus::http::ReadyReactor reactor(server);
  std::vector<std::string> reads;
  boost::system::error_code cancelled, last;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        char buf[64];
        boost::system::error_code ec;
        auto read = [&]() -> asio::awaitable<void> {
          size_t n = co_await nimbus::http::async_read_ready(
              reactor, server, asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
          reads.emplace_back(buf, n);
        };
        asio::write(client, asio::buffer("ab", 2));
        co_await read();  // short: the socket is drained
        // Written only after the next read waits (a zero-delay timer runs after it started).
        asio::steady_timer later(io, std::chrono::milliseconds(0));
        later.async_wait([&](auto) { asio::write(client, asio::buffer("cd", 2)); });
        co_await read();
        asio::write(client, asio::buffer(std::string(100, 'x')));
        co_await read();  // 64 of 100: the buffer is full, the rest is read at once
        co_await read();
        asio::steady_timer cancel(io, std::chrono::milliseconds(0));
        cancel.async_wait([&](auto) { server.cancel(); });
        co_await read();
        cancelled = ec;
        client.shutdown(tcp::socket::shutdown_send);
        co_await read();
        last = ec;
        finished = true;
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));  // a bound, not a timing assertion: a lost event hangs
  ASSERT_TRUE(finished);
  ASSERT_EQ(reads.size(), 6u);
  EXPECT_EQ(reads[0], "ab");
  EXPECT_EQ(reads[1], "cd");
  EXPECT_EQ(reads[2], std::string(64, 'x'));
  EXPECT_EQ(reads[3], std::string(36, 'x'));
  EXPECT_EQ(cancelled, boost::asio::error::operation_aborted);
  EXPECT_EQ(last, boost::asio::error::eof);
}
