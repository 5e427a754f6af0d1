// The lean reader of a handler's answer (custom_handler_head.h) and the Beast parser behind it
// (custom_handler_answer_parser.h): every accepted case is read by both, whole and a byte at a
// time, and must agree on everything the pool consumes; every declined case is declined
// before the lean reader has taken anything.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "workers/custom_handler_answer_parser.h"
#include "workers/custom_handler_head.h"

using namespace nimbus::workers;
namespace bhttp = boost::beast::http;

namespace {
constexpr uint64_t kBodyLimit = 1 << 20;

LeanAnswer::State lean(std::string_view bytes, LeanAnswer& a, uint64_t body_limit = kBodyLimit,
                       size_t step = 0) {
  a.reset();
  if (step == 0) return read_lean_answer(a, bytes, kMaxAnswerHeader, body_limit, kMaxReadBuffer);
  for (size_t n = step;; n += step) {
    auto st = read_lean_answer(a, bytes.substr(0, std::min(n, bytes.size())), kMaxAnswerHeader,
                               body_limit, kMaxReadBuffer);
    if (st != LeanAnswer::State::reading || n >= bytes.size()) return st;
  }
}

// Beast, as read_answer feeds it the whole text: the parser and the bytes it took.
size_t beast(std::string_view bytes, AnswerParser& p, boost::system::error_code& ec) {
  p.body_limit(kBodyLimit);
  p.header_limit(kMaxAnswerHeader);
  p.eager(true);
  size_t used = p.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  return used;
}

void expect_same(std::string_view bytes) {
  SCOPED_TRACE(std::string(bytes));
  LeanAnswer a;
  ASSERT_EQ(lean(bytes, a), LeanAnswer::State::accepted);
  LeanAnswer b;
  ASSERT_EQ(lean(bytes, b, kBodyLimit, 1), LeanAnswer::State::accepted);
  EXPECT_EQ(a.size(), b.size());
  AnswerParser p(true);
  boost::system::error_code ec;
  size_t used = beast(bytes, p, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(p.is_done());
  EXPECT_EQ(used, a.size());
  EXPECT_EQ(p.status, a.status);
  EXPECT_EQ(p.keep_alive(), a.keep_alive());
  EXPECT_FALSE(p.need_eof());
  EXPECT_EQ(p.body, a.body(bytes));
  ASSERT_EQ(p.fields.size(), a.fields);
  for (size_t i = 0; i < a.fields; ++i) {
    EXPECT_EQ(p.fields[i].first, lean_field_name(a, bytes, i));
    EXPECT_EQ(p.fields[i].second, lean_field_value(a, bytes, i));
  }
  std::string_view connection =
      a.connection >= 0 ? lean_field_value(a, bytes, static_cast<size_t>(a.connection)) : "";
  EXPECT_EQ(p.connection, connection);
}

void expect_declined(std::string_view bytes, uint64_t body_limit = kBodyLimit) {
  SCOPED_TRACE(std::string(bytes.substr(0, 200)));
  LeanAnswer a;
  EXPECT_EQ(lean(bytes, a, body_limit), LeanAnswer::State::declined);
  EXPECT_EQ(lean(bytes, a, body_limit, 1), LeanAnswer::State::declined);
}
}  // namespace

TEST(LeanAnswer, TakesTheUsualAnswerAsBeastReadsIt) {
  // Node's http module, as examples/hello-node/handler.js answers.
  std::string body = R"({"Outputs":{"res":{"statusCode":200,"body":"hi"}},"Logs":[],"ReturnValue":null})";
  expect_same("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              "Date: Mon, 30 Nov 2026 12:00:00 GMT\r\nConnection: keep-alive\r\n"
              "Keep-Alive: timeout=5\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body);
  expect_same("HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello");
  expect_same("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n");
  expect_same("HTTP/1.1 599 any text! (at all)\r\ncontent-length:3\r\n\r\nabc");
  expect_same("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  expect_same("HTTP/1.1 200 OK\r\nconnection:\tKEEP-ALIVE \r\nContent-Length: 2\r\n\r\nok");
  // OWS around values, an empty value, obs-text in a value, a tab inside one.
  expect_same("HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Ows: \t v a\tl \t\r\nX-Bytes: \xc3\xa9t\xc3\xa9\r\n"
              "Content-Length:  1\t\r\n\r\nx");
  // Chunked as Node sends `res.end(text)` after `writeHead`: one chunk of data, the last chunk.
  expect_same("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
              "Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n" +
              [&] {
                char size[16];
                std::snprintf(size, sizeof size, "%zx", body.size());
                return std::string(size);
              }() + "\r\n" + body + "\r\n0\r\n\r\n");
  expect_same("HTTP/1.1 200 OK\r\ntransfer-encoding:  CHUNKED\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n");
  expect_same("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  expect_same("HTTP/1.1 500 Oops\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
              "1f\r\n" + std::string(31, 'e') + "\r\n0\r\n\r\n");
  // What follows the answer is left in the buffer (the pool then drops the connection).
  LeanAnswer a;
  std::string extra = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1";
  ASSERT_EQ(lean(extra, a), LeanAnswer::State::accepted);
  EXPECT_EQ(a.size(), extra.size() - 8);
}

TEST(LeanAnswer, DeclinesEverythingElse) {
  const std::string cl = "Content-Length: 2\r\n";
  expect_declined("HTTP/1.1 200 OK\r\n" + cl + cl + "\r\nok");  // two lengths, even equal
  expect_declined("HTTP/1.1 200 OK\r\n" + cl + "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  // Chunked: one data chunk at most, plain sizes, no extension, no trailer.
  const std::string te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  expect_declined(te + "2\r\nok\r\n1\r\n!\r\n0\r\n\r\n");
  expect_declined(te + "2;x=y\r\nok\r\n0\r\n\r\n");
  expect_declined(te + "2 \r\nok\r\n0\r\n\r\n");
  expect_declined(te + "02\r\nok\r\n0\r\n\r\n");
  expect_declined(te + "2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n");
  expect_declined(te + "2\r\nok\r\n00\r\n\r\n");
  expect_declined(te + "2\r\nokk\r\n0\r\n\r\n");
  expect_declined(te + "2\nok\r\n0\r\n\r\n");
  expect_declined(te + "123456789\r\n");
  expect_declined(te + "41\r\n" + std::string(65, 'x') + "\r\n0\r\n\r\n", 64);
  expect_declined("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  expect_declined("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  expect_declined("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n" + cl + "\r\nok");  // obs-fold
  expect_declined("HTTP/1.1 200 OK\n" + cl + "\r\nok");                  // bare LF
  expect_declined("HTTP/1.1 200 OK\r\nX: a\nY: b\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nX: a\rY: b\r\n" + cl + "\r\nok");  // bare CR
  expect_declined("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
  expect_declined("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
  expect_declined("HTTP/1.1 204 No Content\r\n\r\n");
  expect_declined("HTTP/1.1 304 Not Modified\r\n" + cl + "\r\n");
  expect_declined("HTTP/1.1 600 Nope\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.0 200 OK\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nX: y\r\n\r\nto the end");  // no length: read to EOF
  expect_declined("HTTP/1.1 200\r\n" + cl + "\r\nok");             // no SP after the status
  expect_declined("HTTP/1.1 200 O\tK\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 \xc3\xa9\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 2x0 OK\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nContent-Length: 02\r\n\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nConnection: keep-alive, upgrade\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: close\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nProxy-Connection: close\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nUpgrade: h2c\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nBad Name: x\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\n: x\r\n" + cl + "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nX: a\x7f\r\n" + cl + "\r\nok");
  expect_declined("garbage");
  expect_declined("HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n" + std::string(65, 'x'), 64);
  // Oversized: a head past the header limit, an answer past the read buffer.
  expect_declined("HTTP/1.1 200 OK\r\nX: " + std::string(kMaxAnswerHeader, 'a') + "\r\n" + cl +
                  "\r\nok");
  expect_declined("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kMaxReadBuffer) +
                  "\r\n\r\n");
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (size_t i = 0; i <= LeanAnswer::kMaxFields; ++i) many += "X: y\r\n";
  expect_declined(many + cl + "\r\nok");
}

TEST(LeanAnswer, WaitsForTheWholeAnswer) {
  std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  LeanAnswer a;
  a.reset();
  for (size_t n = 1; n < text.size(); ++n)
    ASSERT_EQ(read_lean_answer(a, std::string_view(text).substr(0, n), kMaxAnswerHeader,
                               kBodyLimit, kMaxReadBuffer),
              LeanAnswer::State::reading)
        << n;
  EXPECT_EQ(read_lean_answer(a, text, kMaxAnswerHeader, kBodyLimit, kMaxReadBuffer),
            LeanAnswer::State::accepted);
  EXPECT_EQ(a.body(text), "hello");
  // A head that stops before its end is still being read, and one past the limit declined.
  std::string head = "HTTP/1.1 200 OK\r\nX: " + std::string(kMaxAnswerHeader - 100, 'a');
  a.reset();
  EXPECT_EQ(read_lean_answer(a, head, kMaxAnswerHeader, kBodyLimit, kMaxReadBuffer),
            LeanAnswer::State::reading);
  head += std::string(200, 'a');
  EXPECT_EQ(read_lean_answer(a, head, kMaxAnswerHeader, kBodyLimit, kMaxReadBuffer),
            LeanAnswer::State::declined);
}
