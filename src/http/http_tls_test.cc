// HTTPS and plain HTTP on one port (HttpServer::Options::tls_*): a real server on an
// ephemeral port with a certificate generated for the test, its io_context on a thread of its
// own; blocking clients (OpenSSL's C API for TLS) whose every read has a bound, so a server
// that hangs fails the test instead of stalling it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "http/http_server.h"
#include "testing/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using nimbus::http::HttpServer;

struct Pair {
  std::string cert, key;
};

// A self-signed certificate for localhost with its key, written to `p` (the http module may
// not use security/tls_cert.h, which makes the real one; this is the least a TLS server
// needs). False on any failure.
bool write_test_certificate(const Pair& p) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  bool ok = key && x && X509_set_version(x, X509_VERSION_3) == 1 &&
            ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(x), -3600) && X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
            X509_set_pubkey(x, key) == 1;
  X509_NAME* name = ok ? X509_get_subject_name(x) : nullptr;
  ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0) == 1 &&
       X509_set_issuer_name(x, name) == 1;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"}}) {
    X509_EXTENSION* ext = ok ? X509V3_EXT_conf_nid(nullptr, &ctx, nid, value) : nullptr;
    ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
  }
  ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
  FILE* kf = ok ? std::fopen(p.key.c_str(), "w") : nullptr;
  ok = kf && PEM_write_PrivateKey(kf, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (kf) std::fclose(kf);
  FILE* cf = ok ? std::fopen(p.cert.c_str(), "w") : nullptr;
  ok = cf && PEM_write_X509(cf, x) == 1;
  if (cf) std::fclose(cf);
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

// One certificate for every test of this file (generating takes milliseconds, but once is
// enough), removed with its directory at exit.
const Pair& test_certificate() {
  static nimbus::fakes::TempDir dir("nimbus-tls-test-");
  static Pair pair = [] {
    Pair p{dir.path() + "/cert.pem", dir.path() + "/key.pem"};
    EXPECT_TRUE(write_test_certificate(p));
    return p;
  }();
  return pair;
}

class TlsServer {
 public:
  explicit TlsServer(std::chrono::seconds idle = 30s) {
    HttpServer::Options o;
    o.port = 0;
    o.idle_timeout = idle;
    o.limits = limits_;
    o.tls_certificate_file = test_certificate().cert;
    o.tls_key_file = test_certificate().key;
    server_ = std::make_unique<HttpServer>(
        io_, o,
        [this](nimbus::api::HttpRequestData& r)
            -> boost::asio::awaitable<nimbus::api::HttpResponseData> {
          ++handled;
          // The scheme the server says the request came over, and the body, echoed back.
          co_return nimbus::api::HttpResponseData{
              200, {}, std::string(r.header("x-forwarded-proto")) + " " + r.path + " " + r.body};
        },
        log_);
    std::string error;
    EXPECT_TRUE(server_->listen(error)) << error;
    port_ = server_->port();
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TlsServer() {
    boost::asio::post(io_, [this] { server_->stop(); });
    auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until && open_connections() != 0)
      std::this_thread::sleep_for(10ms);
    work_.reset();
    io_.stop();
    thread_.join();
  }
  size_t open_connections() {
    std::promise<size_t> open;
    boost::asio::post(io_, [&] { open.set_value(limits_->connections); });
    return open.get_future().get();
  }
  uint16_t port() const { return port_; }

  // A blocking TCP connection whose reads give up after 20 s.
  int connect() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }

  std::atomic<int> handled{0};

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  nimbus::Logger log_{nimbus::LogLevel::none};
  std::shared_ptr<nimbus::http::HostLimits> limits_ = std::make_shared<nimbus::http::HostLimits>();
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// A TLS client: verifies the server against `ca` (the test certificate) and the name
// "localhost" unless `trust` is false, in which case it trusts nothing (as a client without
// the certificate would).
class TlsClient {
 public:
  TlsClient(int fd, bool trust = true) : fd_(fd) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (trust) SSL_CTX_load_verify_locations(ctx_, test_certificate().cert.c_str(), nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set1_host(ssl_, "localhost");
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  // Empty when the handshake succeeded, else OpenSSL's reason.
  std::string handshake() {
    if (SSL_connect(ssl_) == 1) return {};
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    ERR_clear_error();
    return buf;
  }
  bool send(std::string_view s) {
    return SSL_write(ssl_, s.data(), static_cast<int>(s.size())) == static_cast<int>(s.size());
  }
  // Reads one response framed by Content-Length (the server always sends one); empty when
  // the connection ended first.
  std::string response() {
    std::string out;
    for (;;) {
      size_t end = out.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t at = out.find("Content-Length: ");
        size_t len = at == std::string::npos ? 0 : std::stoul(out.substr(at + 16));
        if (out.size() >= end + 4 + len) return out.substr(0, end + 4 + len);
      }
      char buf[4096];
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return {};
      out.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// Sends `s` whole on a plain socket.
bool plain_send(int fd, std::string_view s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// Reads one plain response framed by Content-Length, bounded by SO_RCVTIMEO; what arrived
// when the peer closed (or the bound passed) first.
std::string plain_read(int fd) {
  std::string out;
  for (;;) {
    size_t end = out.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t at = out.find("Content-Length: ");
      size_t len = at == std::string::npos ? 0 : std::stoul(out.substr(at + 16));
      if (out.size() >= end + 4 + len) return out;
    }
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// True when the server closes `fd` (reads end) within the bound.
bool closed_by_server(int fd, std::chrono::seconds bound = 20s) {
  auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
  return false;
}

}  // namespace

TEST(HttpTls, PlainAndTlsOnOnePortEachToldItsScheme) {
  TlsServer s;
  int plain = s.connect();
  // A client's own X-Forwarded-Proto is replaced by what the connection was.
  ASSERT_TRUE(plain_send(plain, "GET /p HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n\r\n"));
  std::string r = plain_read(plain);
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\nhttp /p "), std::string::npos) << r;
  ::close(plain);

  TlsClient tls(s.connect());
  ASSERT_EQ(tls.handshake(), "");
  ASSERT_TRUE(tls.send("POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"));
  r = tls.response();
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\nhttps /t hello"), std::string::npos) << r;
  EXPECT_EQ(s.handled, 2);
}

TEST(HttpTls, KeepAliveOverTls) {
  TlsServer s;
  TlsClient tls(s.connect());
  ASSERT_EQ(tls.handshake(), "");
  for (int i = 0; i < 5; ++i) {
    std::string path = "/k" + std::to_string(i);
    ASSERT_TRUE(tls.send("GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    std::string r = tls.response();
    ASSERT_NE(r.find("\r\n\r\nhttps " + path), std::string::npos) << i << ": " << r;
    EXPECT_EQ(r.find("Connection: close"), std::string::npos) << r;
  }
  EXPECT_EQ(s.handled, 5);
  EXPECT_EQ(s.open_connections(), 1u);  // all five on the one connection
  // Connection: close is honoured over TLS too, with a clean close_notify.
  ASSERT_TRUE(tls.send("GET /last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  std::string r = tls.response();
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_EQ(tls.response(), "");  // then the stream ends
}

TEST(HttpTls, GarbageHandshakeClosesThatConnectionOnly) {
  TlsServer s;
  // A connection that stays open over TLS while the bad ones come and go.
  TlsClient good(s.connect());
  ASSERT_EQ(good.handshake(), "");

  // A handshake record header followed by bytes that are no ClientHello.
  int bad = s.connect();
  std::string junk = std::string("\x16\x03\x01\x00\x20", 5) + std::string(32, '\xee');
  ASSERT_TRUE(plain_send(bad, junk));
  EXPECT_TRUE(closed_by_server(bad));
  ::close(bad);

  // A client that trusts no one aborts the handshake itself, at once (no hang).
  {
    TlsClient untrusting(s.connect(), false);
    auto started = std::chrono::steady_clock::now();
    std::string why = untrusting.handshake();
    EXPECT_NE(why.find("certificate verify failed"), std::string::npos) << why;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  }

  // Plain HTTP on the port still works, and so does the TLS connection opened before.
  int plain = s.connect();
  ASSERT_TRUE(plain_send(plain, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_NE(plain_read(plain).find("HTTP/1.1 200"), std::string::npos);
  ::close(plain);
  ASSERT_TRUE(good.send("GET /still HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  EXPECT_NE(good.response().find("https /still"), std::string::npos);
}

TEST(HttpTls, AStalledHandshakeIsCutOffAtTheHeadDeadline) {
  TlsServer s(1s);
  int fd = s.connect();
  // The first byte of a handshake record, then nothing: the server must not wait forever.
  ASSERT_TRUE(plain_send(fd, "\x16"));
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(fd));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  ::close(fd);
  // And a connection that never sends a byte at all.
  fd = s.connect();
  EXPECT_TRUE(closed_by_server(fd));
  ::close(fd);
  EXPECT_EQ(s.handled, 0);
}

TEST(HttpTls, BadCertificateFilesFailListenNamingTheFile) {
  boost::asio::io_context io;
  nimbus::Logger log{nimbus::LogLevel::none};
  auto handler = [](nimbus::api::HttpRequestData&)
      -> boost::asio::awaitable<nimbus::api::HttpResponseData> {
    co_return nimbus::api::HttpResponseData{};
  };
  auto listen_error = [&](std::string cert, std::string key) {
    HttpServer::Options o;
    o.port = 0;
    o.tls_certificate_file = cert;
    o.tls_key_file = key;
    HttpServer server(io, o, handler, log);
    std::string error;
    EXPECT_FALSE(server.listen(error));
    return error;
  };
  const auto& good = test_certificate();
  std::string e = listen_error("/nonexistent/cert.pem", good.key);
  EXPECT_NE(e.find("/nonexistent/cert.pem"), std::string::npos) << e;
  e = listen_error(good.cert, "/nonexistent/key.pem");
  EXPECT_NE(e.find("/nonexistent/key.pem"), std::string::npos) << e;
  e = listen_error(good.cert, "");
  EXPECT_NE(e.find("both"), std::string::npos) << e;
  // Another pair's key.
  nimbus::fakes::TempDir dir;
  Pair other{dir.path() + "/c.pem", dir.path() + "/k.pem"};
  ASSERT_TRUE(write_test_certificate(other));
  e = listen_error(good.cert, other.key);
  EXPECT_NE(e.find("is not the private key"), std::string::npos) << e;
}
