#pragma once
// The wire rules of the Azure Queue Storage REST API that do not need a network: routing a
// path to (account, queue, message), queue-name rules, query-parameter ranges, RFC 1123
// dates, XML bodies in and out, and the one mapping from failures to status + error code.
// Kept apart from queue_service.cc so all of it is unit-tested without sockets.
// Pure functions; thread-safe.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/invocation.h"
#include "api/queue_store.h"
#include "common/ids.h"  // rfc1123

namespace nimbus::queue {

// A failure as the client sees it: status, x-ms-error-code, message, and the extra elements
// Azure adds for some codes (QueryParameterName, MinimumAllowed, ...).
struct ServiceError {
  int status = 400;
  std::string code;
  std::string message;
  std::vector<std::pair<std::string, std::string>> details;
};

ServiceError error_from_store(const api::QueueError& e);
// <?xml ...?><Error><Code/><Message/>details</Error>, Message ending with RequestId and Time.
std::string error_xml(const ServiceError& e, std::string_view request_id, std::string_view time);

struct Route {
  enum class Kind { service, queue, messages, message };
  Kind kind = Kind::service;
  std::string account;
  std::string queue;       // decoded
  std::string message_id;  // decoded
};
// Path-style (/account/queue/messages/id) unless `host` is <account>.<anything> and not an IP
// address or localhost, which is host-style (/queue/messages/id). nullopt with `error` for
// paths with too many segments or bad percent-encoding.
std::optional<Route> parse_route(std::string_view raw_path, std::string_view host,
                                 std::string& error);

// CORS rules of the queue service (Set Queue Service Properties, <Cors><CorsRule>...), applied
// as the service applies them: a preflight (OPTIONS) is answered from the first rule that
// allows its origin, method and every requested header, else 403 CorsPreflightFailure; an
// actual request from an allowed origin gets Access-Control-Allow-Origin and the rule's
// exposed headers. Lists are comma-separated; "*" matches anything; a header entry ending in
// "*" is a prefix ("x-ms-meta-*"); names compare case-insensitively, origins exactly.
struct CorsRule {
  std::vector<std::string> origins, methods, allowed_headers, exposed_headers;
  int max_age_seconds = 0;
  bool any_origin() const;
};
std::vector<CorsRule> cors_rules(std::string_view service_properties_xml);
// The first rule allowing `origin`, `method` and (for a preflight) every header in
// `requested_headers` (a comma-separated list); nullptr when none does.
const CorsRule* match_cors(const std::vector<CorsRule>& rules, std::string_view origin,
                           std::string_view method, std::string_view requested_headers = {});

// 3..63 of [a-z0-9-], starting and ending with a letter or digit, no "--". nullopt when valid.
std::optional<ServiceError> check_queue_name(std::string_view name);

// An integer query parameter: `fallback` when absent, else it must parse (else 400
// InvalidQueryParameterValue) and lie in [min, max] (else 400 OutOfRangeQueryParameterValue).
std::variant<int64_t, ServiceError> int_param(const std::map<std::string, std::string>& query,
                                              std::string_view name, int64_t min, int64_t max,
                                              std::optional<int64_t> fallback);

// When the request carries Content-MD5, the body must hash to it: 400 InvalidMd5 for a value
// that is not base64 of 16 bytes, 400 Md5Mismatch (as Azure) for a body that differs — the
// header is signed, the body is not, so this is what binds a signed request to its body.
std::optional<ServiceError> check_content_md5(const api::Headers& headers, std::string_view body);

// Dates as "Fri, 09 Oct 2009 21:04:30 GMT": nimbus::rfc1123 (common/ids.h).
api::UnixMillis now_ms();

// --- XML bodies ---
// <QueueMessage><MessageText>..</MessageText></QueueMessage>; the text, or a ServiceError
// (InvalidXmlDocument, RequestBodyTooLarge for text over 64 KiB).
std::variant<std::string, ServiceError> parse_queue_message_body(std::string_view body);
std::variant<std::vector<api::SignedIdentifier>, ServiceError> parse_signed_identifiers(
    std::string_view body);

std::string put_message_xml(const api::MessageReceipt& r);
std::string messages_xml(const std::vector<api::QueueMessage>& messages, bool peek);
std::string signed_identifiers_xml(const std::vector<api::SignedIdentifier>& acl);
std::string list_queues_xml(std::string_view service_endpoint, const api::ListQueuesOptions& o,
                            bool prefix_given, bool marker_given, bool max_given,
                            const api::QueueListing& listing);
std::string default_service_properties_xml();
std::string service_stats_xml(api::UnixMillis now);

}  // namespace nimbus::queue
