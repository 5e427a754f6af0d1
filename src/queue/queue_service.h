#pragma once
// The Azure Queue Storage REST API (path-style /{account}/{queue}[/messages[/{id}]] and
// host-style), so unmodified Azure SDK clients and tools work against Nimbus's durable store.
// One handler for every request of the queue endpoint: it routes, verifies the SharedKey
// signature, validates names, parameters and XML exactly as the service does, runs the
// operation on the store and answers with the service's status codes, headers and XML.
//
// Wiring (src/server/): construct with the async store facade, the accepted accounts and the
// host Logger, and pass `handle` as the HttpServer handler of the queue listener (port 10001),
// with HttpServer::Options::max_body of at least kMaxRequestBody.
// Ownership: borrows the store facade and the logger; owns the account table.
// Thread-safety: handle() runs on the I/O thread; it never blocks (store work is posted).
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "api/invocation.h"
#include "common/log.h"
#include "queue/async_queue_store.h"
#include "queue/shared_key.h"

namespace nimbus::queue {

class QueueService {
 public:
  // Bodies above this are refused with 413 before parsing (a 64 KiB message fully escaped as
  // XML character references stays below it).
  static constexpr size_t kMaxRequestBody = 1u << 20;

  QueueService(AsyncQueueStore& store, AccountSet accounts, Logger& log);
  ~QueueService();

  boost::asio::awaitable<api::HttpResponseData> handle(api::HttpRequestData& req);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimbus::queue
