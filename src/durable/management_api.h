#pragma once
// The Durable Functions HTTP management API on the function port, under
// /runtime/webhooks/durabletask (../shared/reference/durable.md §1): start, status (with
// history), list with filters and continuation, raise event, terminate, suspend, resume,
// restart, purge one or by filter. Status codes, Location/Retry-After headers and
// runtimeStatus strings as Azure answers them; rewind answers 501 (not built).
//
// Auth: Azure wants the durabletask_extension system key; Nimbus accepts the master key (as
// `code` in the query, as Azure's generated URLs carry it, or x-functions-key). --no-auth
// opens it like the rest of the host.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/invocation.h"
#include "durable/engine.h"
#include "security/keys.h"

namespace nimbus::durable {

inline constexpr std::string_view kWebhookBase = "/runtime/webhooks/durabletask";

class ManagementApi {
 public:
  ManagementApi(Engine& engine, const security::KeyStore* keys, std::string hub)
      : engine_(engine), keys_(keys), hub_(std::move(hub)) {}

  static bool owns(std::string_view path) {
    return path == kWebhookBase || (path.starts_with(kWebhookBase) &&
                                    path.size() > kWebhookBase.size() &&
                                    path[kWebhookBase.size()] == '/');
  }
  // Refused on its headers (no key), or nothing when the body may be read.
  std::optional<api::HttpResponseData> admit(const api::HttpRequestData& req) const;
  boost::asio::awaitable<api::HttpResponseData> handle(api::HttpRequestData& req);

  // What a durableClient input binding hands a custom handler: Azure's client payload
  // (taskHubName, creationUrls, managementUrls with INSTANCEID placeholders, baseUrl,
  // requiredQueryStringParameters). `base` is "http://host:port".
  static std::string client_payload(std::string_view base, std::string_view code,
                                    std::string_view hub);
  // The JSON of a start answer / create_check_status_response: id and management URLs.
  static std::string management_urls(std::string_view base, std::string_view code,
                                     std::string_view id);

 private:
  boost::asio::awaitable<api::HttpResponseData> status(const api::HttpRequestData& req,
                                                       const std::string& id);
  boost::asio::awaitable<api::HttpResponseData> list(const api::HttpRequestData& req);
  boost::asio::awaitable<api::HttpResponseData> purge(const api::HttpRequestData& req,
                                                      const std::string& id);
  std::string code() const;

  Engine& engine_;
  const security::KeyStore* keys_;
  std::string hub_;
};

}  // namespace nimbus::durable
