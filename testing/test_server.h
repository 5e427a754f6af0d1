#pragma once
// A real http::HttpServer on an ephemeral loopback port, driven on the test's own thread, and
// a plain blocking client: for unit tests of request handling (admission, route tables,
// status codes) through the actual parser and connection code, without a host process.
//
// request() writes raw bytes and reads until the server closes or a whole response with a
// Content-Length has arrived, running the server's io_context between reads, so one thread
// serves and asks. Thread-safety: none; one test thread.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "http/http_server.h"

namespace nimbus::fakes {

class TestServer {
 public:
  TestServer(http::HttpServer::Handler handler, http::HttpServer::Admit admit = {}) {
    http::HttpServer::Options o;
    o.port = 0;
    server_ = std::make_unique<http::HttpServer>(io_, o, std::move(handler), log_, std::move(admit));
    std::string error;
    ok_ = server_->listen(error);
    error_ = error;
    if (ok_) server_->start();
  }
  ~TestServer() {
    server_->stop();
    io_.run_for(std::chrono::milliseconds(20));
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  uint16_t port() const { return server_->port(); }

  // Sends `raw` (a whole HTTP/1.1 request) on a new connection; returns the raw response, or
  // "" when none came within `deadline`.
  std::string request(const std::string& raw,
                      std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size())) {
      auto give_up = std::chrono::steady_clock::now() + deadline;
      while (std::chrono::steady_clock::now() < give_up && !complete(out)) {
        io_.restart();
        io_.run_for(std::chrono::milliseconds(2));
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) continue;
        char buf[16384];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
    ::close(fd);
    return out;
  }
  // The status code of a raw response ("HTTP/1.1 404 ..."), or 0.
  static int status(const std::string& response) {
    return response.size() > 12 ? std::atoi(response.c_str() + 9) : 0;
  }

 private:
  static bool complete(const std::string& r) {
    auto end = r.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    auto cl = r.find("Content-Length: ");
    if (cl == std::string::npos || cl > end) return true;  // no body expected
    return r.size() >= end + 4 + std::stoul(r.substr(cl + 16));
  }
  boost::asio::io_context io_;
  Logger log_{LogLevel::none};
  std::unique_ptr<http::HttpServer> server_;
  bool ok_ = false;
  std::string error_;
};

}  // namespace nimbus::fakes
