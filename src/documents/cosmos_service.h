#pragma once
// The Cosmos DB NoSQL REST API (gateway mode, name-based links) over api::DocumentStore, so
// the unmodified `@azure/cosmos` client works against Nimbus: the account document,
// databases, containers, /pkranges (one range), items (create, upsert, read, replace, delete
// with If-Match / If-None-Match, PATCH with conditions, transactional batch and bulk), read
// feed with paging, SQL queries (run whole on the server by documents::DocsqlQuery; the
// query-plan request is answered with docsql::query_plan) and the LatestVersion change feed
// (A-IM: Incremental feed; etag continuations; 304 when nothing is new). Master-key signatures
// are verified (cosmos_auth.h) unless auth is off.
//
// Every answer is JSON (errors `{"code","message"}` with the store's status) and carries
// x-ms-request-charge, x-ms-activity-id; items carry etag and x-ms-session-token; feeds
// x-ms-item-count and x-ms-continuation.
//
// Wiring: construct with an AsyncDocumentStore on the I/O thread's executor and pass `handle`
// as the HttpServer handler and `admit` as its Admit (Options::max_body = kMaxHttpBody).
// Ownership: borrows the store facade and the logger. Thread-safety: handle() runs on the I/O
// thread and never blocks (store work completes through the facade).
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "api/invocation.h"
#include "common/log.h"
#include "documents/async_document_store.h"
#include "documents/cosmos_auth.h"

namespace nimbus::documents {

class CosmosService {
 public:
  // Bodies above this are refused with 413 before parsing (an item is at most 2 MiB).
  static constexpr size_t kMaxRequestBody = 4u << 20;
  // What to give HttpServer::Options::max_body: bodies up to this reach the handler, which
  // answers those over kMaxRequestBody with the service's 413 {code, message}; larger ones get
  // the HTTP server's own 413.
  static constexpr size_t kMaxHttpBody = 16u << 20;

  struct Options {
    MasterKeys keys = MasterKeys::emulator();
    bool auth = true;  // false: every request is accepted unsigned (--no-auth)
    // The scheme the listener serves; the account document advertises scheme://Host/ so the
    // SDK's endpoint discovery keeps using the address it was given.
    std::string scheme = "http";
  };

  CosmosService(AsyncDocumentStore& store, Options options, Logger& log);
  ~CosmosService();

  boost::asio::awaitable<api::HttpResponseData> handle(api::HttpRequestData& req);

  // For HttpServer's `admit` (headers only, before the body is read): the 400/401/403 answer
  // to a request whose path or signature is bad, so an unsigned caller never makes the host
  // buffer a body; nullopt to go on. handle() checks again (the signature never covers the
  // body, so both decide alike).
  std::optional<api::HttpResponseData> admit(api::HttpRequestData& req);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimbus::documents
