#include "http/http_server.h"

#include <gtest/gtest.h>

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
