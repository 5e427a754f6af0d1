// nimbus-queue-loadgen: a lean load generator for the queue REST API. Raw HTTP/1.1 keep-alive
// connections, every request SharedKey-signed as an SDK would sign it, no SDK overhead, so the
// figure measures the server and not the client. One thread, C connections, each sending its
// next request when the previous answer arrived (closed loop).
//
//   nimbus-queue-loadgen put   --port P --queue Q [--connections 64] [--count 20000] [--size 64]
//   nimbus-queue-loadgen drain --port P --queue Q [--connections 8]  [--max-seconds 120]
//
// put: creates Q if missing, sends --count puts; prints puts/s and latency p50/p99.
// drain: get 32 (visibility 300 s) + delete each, until the queue is empty or --max-seconds;
// prints messages/s, get and delete latency p50/p99. Output is one JSON line per run.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "common/ids.h"
#include "queue/queue_protocol.h"
#include "queue/queue_xml.h"
#include "queue/shared_key.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace nimbus;
using Clock = std::chrono::steady_clock;

namespace {

struct Config {
  std::string mode, host = "127.0.0.1", queue = "bench";
  std::string port = "10001";
  int connections = 64;
  long count = 20000;
  size_t size = 64;
  double max_seconds = 120;
  std::string account = std::string(queue::kDevAccountName);
  std::string key;
};

struct Stats {
  std::vector<double> put_us, get_us, del_us;
  long done = 0, errors = 0, deleted = 0;
};

class Signer {
 public:
  explicit Signer(const Config& c) : c_(c) {}
  void sign(bhttp::request<bhttp::string_body>& req) {
    auto now = std::chrono::system_clock::now();
    auto sec = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (sec != date_sec_) {
      date_sec_ = sec;
      date_ = nimbus::rfc1123(sec * 1000);
    }
    req.set("x-ms-date", date_);
    req.set("x-ms-version", "2025-05-05");
    api::Headers h{{"x-ms-date", date_}, {"x-ms-version", "2025-05-05"}};
    if (!req.body().empty()) {
      h.emplace_back("Content-Length", std::to_string(req.body().size()));
      h.emplace_back("Content-Type", "application/xml");
      req.set(bhttp::field::content_type, "application/xml");
    }
    std::string_view target = req.target();
    auto q = target.find('?');
    std::string sts = queue::shared_key_string_to_sign(
        std::string(req.method_string()), h, c_.account, target.substr(0, q),
        q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    req.set(bhttp::field::authorization,
            "SharedKey " + c_.account + ":" + queue::hmac_sha256_base64(c_.key, sts));
    req.prepare_payload();
  }

 private:
  const Config& c_;
  long long date_sec_ = -1;
  std::string date_;
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

asio::awaitable<void> connection(const Config& c, Signer& signer, Stats& st, long& next,
                                 Clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  beast::tcp_stream stream(ex);
  co_await stream.async_connect(co_await resolver.async_resolve(c.host, c.port, asio::use_awaitable),
                                asio::use_awaitable);
  stream.socket().set_option(asio::ip::tcp::no_delay(true));
  beast::flat_buffer buf;
  std::string base = "/" + c.account + "/" + c.queue + "/messages";
  std::string body = "<QueueMessage><MessageText>" + std::string(c.size, 'x') +
                     "</MessageText></QueueMessage>";
  auto exchange = [&](bhttp::request<bhttp::string_body>& req, std::vector<double>& lat)
      -> asio::awaitable<bhttp::response<bhttp::string_body>> {
    signer.sign(req);
    auto t0 = Clock::now();
    co_await bhttp::async_write(stream, req, asio::use_awaitable);
    bhttp::response<bhttp::string_body> res;
    co_await bhttp::async_read(stream, buf, res, asio::use_awaitable);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    co_return res;
  };
  if (c.mode == "put") {
    while (next < c.count && Clock::now() < deadline) {
      ++next;
      bhttp::request<bhttp::string_body> req(bhttp::verb::post, base, 11);
      req.set(bhttp::field::host, c.host + ":" + c.port);
      req.body() = body;
      auto res = co_await exchange(req, st.put_us);
      if (res.result_int() == 201) ++st.done;
      else ++st.errors;
    }
    co_return;
  }
  // drain
  int empty_rounds = 0;
  while (Clock::now() < deadline && empty_rounds < 3) {
    bhttp::request<bhttp::string_body> req(bhttp::verb::get,
                                           base + "?numofmessages=32&visibilitytimeout=300", 11);
    req.set(bhttp::field::host, c.host + ":" + c.port);
    auto res = co_await exchange(req, st.get_us);
    if (res.result_int() != 200) {
      ++st.errors;
      continue;
    }
    auto doc = queue::parse_xml(res.body());
    if (!doc.root || doc.root->children.empty()) {
      ++empty_rounds;
      continue;
    }
    empty_rounds = 0;
    for (auto& m : doc.root->children) {
      auto id = m.child("MessageId");
      auto pop = m.child("PopReceipt");
      if (!id || !pop) continue;
      bhttp::request<bhttp::string_body> del(
          bhttp::verb::delete_, base + "/" + id->text + "?popreceipt=" + pop->text, 11);
      del.set(bhttp::field::host, c.host + ":" + c.port);
      auto dres = co_await exchange(del, st.del_us);
      if (dres.result_int() == 204) ++st.deleted;
      else ++st.errors;
    }
  }
}

int run(Config c) {
  if (!base64_decode(queue::kDevAccountKey, c.key)) return 1;
  asio::io_context io(1);
  Signer signer(c);
  Stats st;
  long next = 0;
  // Create the queue (201 or 204 both fine).
  {
    asio::io_context io0;
    asio::ip::tcp::resolver r(io0);
    beast::tcp_stream s(io0);
    s.connect(r.resolve(c.host, c.port));
    bhttp::request<bhttp::string_body> req(bhttp::verb::put, "/" + c.account + "/" + c.queue, 11);
    req.set(bhttp::field::host, c.host + ":" + c.port);
    signer.sign(req);
    bhttp::write(s, req);
    beast::flat_buffer b;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, b, res);
    if (res.result_int() != 201 && res.result_int() != 204) {
      std::cerr << "loadgen: creating queue " << c.queue << " answered " << res.result_int() << "\n"
                << res.body() << "\n";
      return 1;
    }
  }
  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::milliseconds(static_cast<long>(c.max_seconds * 1000));
  for (int i = 0; i < c.connections; ++i)
    asio::co_spawn(io, connection(c, signer, st, next, deadline), [&](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::cerr << "loadgen: connection failed: " << ex.what() << "\n";
          ++st.errors;
        }
      }
    });
  io.run();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  char line[512];
  if (c.mode == "put") {
    std::snprintf(line, sizeof line,
                  "{\"mode\":\"put\",\"connections\":%d,\"size\":%zu,\"puts\":%ld,\"errors\":%ld,"
                  "\"seconds\":%.3f,\"puts_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}",
                  c.connections, c.size, st.done, st.errors, secs, st.done / secs,
                  pct(st.put_us, 0.5) / 1000, pct(st.put_us, 0.99) / 1000);
  } else {
    std::snprintf(line, sizeof line,
                  "{\"mode\":\"drain\",\"connections\":%d,\"deleted\":%ld,\"errors\":%ld,"
                  "\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"get_p50_ms\":%.3f,\"get_p99_ms\":%.3f,"
                  "\"delete_p50_ms\":%.3f,\"delete_p99_ms\":%.3f}",
                  c.connections, st.deleted, st.errors, secs, st.deleted / secs,
                  pct(st.get_us, 0.5) / 1000, pct(st.get_us, 0.99) / 1000,
                  pct(st.del_us, 0.5) / 1000, pct(st.del_us, 0.99) / 1000);
  }
  std::cout << line << std::endl;
  return st.errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  if (argc < 2) {
    std::cerr << "usage: nimbus-queue-loadgen put|drain --port P --queue Q [--connections N] "
                 "[--count N] [--size BYTES] [--max-seconds S]\n";
    return 2;
  }
  c.mode = argv[1];
  if (c.mode != "put" && c.mode != "drain") {
    std::cerr << "loadgen: mode must be put or drain, not " << c.mode << "\n";
    return 2;
  }
  if (c.mode == "drain") c.connections = 8;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--port") c.port = v;
    else if (a == "--host") c.host = v;
    else if (a == "--queue") c.queue = v;
    else if (a == "--connections") c.connections = std::max(1, std::atoi(v.c_str()));
    else if (a == "--count") c.count = std::atol(v.c_str());
    else if (a == "--size") c.size = static_cast<size_t>(std::atol(v.c_str()));
    else if (a == "--max-seconds") c.max_seconds = std::atof(v.c_str());
    else {
      std::cerr << "loadgen: unknown option " << a << "\n";
      return 2;
    }
  }
  return run(c);
}
