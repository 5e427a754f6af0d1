#include "queue/queue_service.h"

#include <boost/asio/use_awaitable.hpp>
#include <climits>

#include "common/ids.h"
#include "common/trace.h"
#include "queue/bearer.h"
#include "queue/queue_protocol.h"
#include "queue/sas.h"
#include "queue/queue_xml.h"

namespace asio = boost::asio;
using asio::awaitable;

namespace nimbus::queue {

namespace {

constexpr std::string_view kDefaultVersion = "2025-05-05";

bool iprefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

bool valid_metadata_name(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

std::string_view raw_query_of(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::string_view query_value(const api::HttpRequestData& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string_view() : std::string_view(it->second);
}

// The response under construction: status, headers and body, plus the request's identity.
struct Reply {
  api::HttpResponseData data;
  std::string request_id;
  // Why a request failed on our side (storage path, SQLite error): for the host log only,
  // never for the client.
  std::string internal_detail;
};

}  // namespace

struct QueueService::Impl {
  AsyncQueueStore& store;
  AccountSet accounts;
  Logger& log;

  Impl(AsyncQueueStore& s, AccountSet a, Logger& l) : store(s), accounts(std::move(a)), log(l) {}

  awaitable<api::HttpResponseData> handle(api::HttpRequestData& req);
  awaitable<void> dispatch(api::HttpRequestData& req, const Route& route, Reply& reply);
  awaitable<void> service_op(api::HttpRequestData& req, const Route& route, Reply& reply);
  awaitable<void> queue_op(api::HttpRequestData& req, const Route& route, Reply& reply);
  awaitable<void> messages_op(api::HttpRequestData& req, const Route& route, Reply& reply);
  awaitable<void> message_op(api::HttpRequestData& req, const Route& route, Reply& reply);
  // CORS (queue_protocol.h: cors_rules / match_cors) from the account's service properties.
  awaitable<std::vector<CorsRule>> rules_of(const std::string& account);
  awaitable<void> preflight(api::HttpRequestData& req, const Route& route, Reply& reply);
  awaitable<void> cors_headers(api::HttpRequestData& req, const Route& route, Reply& reply);
};

QueueService::QueueService(AsyncQueueStore& store, AccountSet accounts, Logger& log)
    : impl_(std::make_unique<Impl>(store, std::move(accounts), log)) {}
QueueService::~QueueService() = default;

awaitable<api::HttpResponseData> QueueService::handle(api::HttpRequestData& req) {
  return impl_->handle(req);
}

namespace {

void fail(Reply& reply, const ServiceError& e) {
  reply.data.status = e.status;
  reply.data.headers.emplace_back("x-ms-error-code", e.code);
  reply.data.headers.emplace_back("Content-Type", "application/xml");
  reply.data.body = error_xml(e, reply.request_id, iso8601_now_ms());
}

void fail(Reply& reply, const api::QueueError& e) {
  if (e.code == api::QueueErrc::storage_failure) {
    // The store's message names the database file and the SQLite error: useful to the
    // operator, a disclosure to a client. The client gets the request id to quote instead.
    reply.internal_detail = e.message;
    fail(reply, ServiceError{500, "InternalError",
                             "The server encountered an internal error. Please retry the request; "
                             "if it keeps failing, give the operator the RequestId below.",
                             {}});
    return;
  }
  fail(reply, error_from_store(e));
}

ServiceError bad(int status, std::string code, std::string message) {
  return ServiceError{status, std::move(code), std::move(message), {}};
}

void xml(Reply& reply, int status, std::string body) {
  reply.data.status = status;
  reply.data.headers.emplace_back("Content-Type", "application/xml");
  reply.data.body = std::move(body);
}

ServiceError unsupported(const api::HttpRequestData& req, std::string_view what) {
  return bad(405, "UnsupportedHttpVerb",
             "The resource doesn't support the specified HTTP verb. " + req.method + " " +
                 std::string(what) + " is not a queue service operation.");
}

// x-ms-meta-* headers; a ServiceError for names that are not C# identifiers.
std::variant<api::QueueMetadata, ServiceError> metadata_of(const api::HttpRequestData& req) {
  api::QueueMetadata md;
  size_t total = 0;
  for (auto& [name, value] : req.headers) {
    if (!iprefix(name, "x-ms-meta-")) continue;
    std::string key = name.substr(10);
    if (!valid_metadata_name(key)) {
      auto e = bad(400, "InvalidMetadata",
                   "The metadata specified is invalid. It has characters that are not permitted. "
                   "Header \"" + name + "\": metadata names must be C# identifiers "
                   "(letters, digits, '_', not starting with a digit).");
      e.details.emplace_back("MetadataName", key);
      return e;
    }
    // Metadata travels back as HTTP header values, which are ASCII: a value we could not hand
    // back intact is refused rather than stored. (Azure answers non-ASCII header values with
    // 400; the exact error code there is InvalidHeaderValue as far as we know.)
    for (unsigned char c : value) {
      if (c >= 0x80 || (c < 0x20 && c != '\t') || c == 0x7F) {
        auto e = bad(400, "InvalidHeaderValue",
                     "The value for one of the HTTP headers is not in the correct format. Header "
                     "\"" + name + "\" has a non-ASCII or control character; metadata values "
                     "must be printable ASCII (percent- or base64-encode other text).");
        e.details.emplace_back("HeaderName", name);
        return e;
      }
    }
    total += key.size() + value.size();
    md.emplace_back(std::move(key), value);
  }
  if (total > 8192)
    return bad(400, "MetadataTooLarge",
               "The size of the specified metadata exceeds the maximum size permitted (8 KiB).");
  return md;
}

template <class T>
bool take(std::variant<T, ServiceError>&& v, T& out, Reply& reply) {
  if (auto* e = std::get_if<ServiceError>(&v)) {
    fail(reply, *e);
    return false;
  }
  out = std::move(std::get<T>(v));
  return true;
}

}  // namespace

awaitable<api::HttpResponseData> QueueService::Impl::handle(api::HttpRequestData& req) {
  if (req.active_clients != 0) store.store().note_active_clients(req.active_clients);
  Reply reply;
  reply.request_id = new_uuid();
  std::string_view version = find_header(req.headers, "x-ms-version");
  try {
    std::string error;
    auto route = parse_route(req.path, req.host, error);
    // "<account>-secondary": the read-only secondary location of a read-access geo-redundant
    // account. Here it is the same data (so always "live", replicated up to now); requests
    // are signed with the account's own name and key, over the path as sent.
    bool secondary = false;
    if (route && !accounts.find(route->account) && route->account.ends_with("-secondary") &&
        accounts.find(route->account.substr(0, route->account.size() - 10))) {
      route->account.resize(route->account.size() - 10);
      secondary = true;
    }
    if (route && req.method == "OPTIONS") {
      co_await preflight(req, *route, reply);
    } else if (!route) {
      fail(reply, bad(400, "InvalidUri",
                      "The requested URI does not represent any resource on the server. " + error +
                          "."));
    } else if (!accounts.find(route->account)) {
      // Whatever the credential: an account this service does not hold is a missing resource
      // (Azure cannot even resolve its host name; Azurite and our reference answer 404).
      std::string held;
      for (const auto& a : accounts.accounts()) held += (held.empty() ? "" : ", ") + a.name;
      fail(reply, bad(404, "ResourceNotFound",
                      "The specified resource does not exist. The account \"" + route->account +
                          "\" is not configured on this queue service (it holds " + held +
                          "); address one of those, or add the account to the service's "
                          "accounts setting."));
    } else if (req.body.size() > kMaxRequestBody) {
      auto e = bad(413, "RequestBodyTooLarge",
                   "The request body is too large and exceeds the maximum permissible limit of " +
                       std::to_string(kMaxRequestBody) + " bytes.");
      e.details.emplace_back("MaxLimit", std::to_string(kMaxRequestBody));
      fail(reply, e);
    } else if (auto query = parse_query(raw_query_of(req.target));
               auto* qe = std::get_if<QueryError>(&query)) {
      auto e = bad(400, "InvalidQueryParameterValue",
                   "Value for one of the query parameters specified in the request URI is "
                   "invalid. " + qe->message + ".");
      e.details.emplace_back("QueryParameterName", qe->name);
      fail(reply, e);
    } else {
      auto& pairs = std::get<std::vector<QueryPair>>(query);
      std::string_view authz = find_header(req.headers, "authorization");
      bool bearer = iprefix(authz, "bearer") && (authz.size() == 6 || authz[6] == ' ');
      std::optional<SasToken> sas;
      if (authz.empty()) sas = sas_token(pairs);
      bool authorized = false;
      if (bearer || sas) {
        // Neither a token nor a SAS signs the other parameters (Azure's design): every pair
        // that is not a SAS field runs.
        req.query.clear();
        for (auto& p : pairs)
          if (!is_sas_field(p.name)) req.query.emplace(std::move(p.name), std::move(p.value));
        QueueOp op = classify_operation(req.method, route->kind, req.query);
        int64_t now = now_ms();
        if (bearer) {
          BearerDecision d = verify_bearer(authz, route->account, req.secure, now);
          if (!d.ok) {
            fail(reply, d.error);
            if (!d.www_authenticate.empty())
              reply.data.headers.emplace_back("WWW-Authenticate", d.www_authenticate);
          } else if (op == QueueOp::get_queue_acl || op == QueueOp::set_queue_acl) {
            // Azure keeps stored access policies (which mint SAS grants) to the key holder.
            auto e = bad(403, "AuthenticationFailed",
                         "Server failed to authenticate the request. Make sure the value of "
                         "Authorization header is formed correctly including the signature.");
            e.details.emplace_back("AuthenticationErrorDetail",
                                   std::string(op_name(op)) +
                                       " is not permitted with a bearer token; sign it with "
                                       "SharedKey (the account key).");
            fail(reply, e);
          } else {
            authorized = true;
          }
        } else {
          SasRequest sr{route->account,
                        route->kind == Route::Kind::service ? std::string_view() : route->queue,
                        op, req.secure, req.remote_address, now};
          SasDecision d = verify_sas_signature(accounts, *sas, sr);
          bool store_failed = false;
          if (d.ok) {
            std::vector<api::SignedIdentifier> acl;
            const api::SignedIdentifier* policy = nullptr;
            if (!sas->account() && !sas->si.empty()) {
              // The stored policy is read only after the signature proved the key holder made
              // this SAS: an unsigned request costs no store access.
              // A named argument: GCC 12 destroys a braced temporary in a co_await
              // expression twice (free(): invalid size).
              api::QueueRef queue_ref{route->account, route->queue};
              auto r = co_await store.get_queue_acl(queue_ref);
              if (r) {
                acl = std::move(r.value());
                for (const auto& id : acl)
                  if (id.id == sas->si) policy = &id;
              } else if (r.error().code != api::QueueErrc::queue_not_found &&
                         r.error().code != api::QueueErrc::invalid_argument) {
                fail(reply, r.error());
                store_failed = true;
              }
            }
            if (!store_failed) d = authorize_sas(*sas, policy, sr);
          }
          if (store_failed) {
          } else if (!d.ok) {
            fail(reply, d.error);
          } else {
            authorized = true;
          }
        }
      } else {
        AuthDecision auth = verify_shared_key(accounts, route->account, req, now_ms());
        if (auth.code == AuthDecision::no_credentials) {
          fail(reply, bad(403, "AuthorizationFailure", auth.message));
        } else if (auth.code != AuthDecision::ok) {
          fail(reply, bad(403, "AuthenticationFailed", auth.message));
        } else {
          // Run exactly the parameters the signature covered (the HTTP layer's map keeps the
          // first of repeated names and decodes '+'; ours matches the signer byte for byte).
          req.query.clear();
          for (auto& p : pairs)
            if (query_pair_signed(p, auth.empty_values_signed))
              req.query.emplace(std::move(p.name), std::move(p.value));
          authorized = true;
        }
      }
      if (!authorized) {
      } else if (auto md5 = check_content_md5(req.headers, req.body)) {
        fail(reply, *md5);
      } else if (secondary && req.method != "GET" && req.method != "HEAD") {
        // The code Azure uses for a write to the secondary is not in our reference; this one
        // is the closest documented 403. Unsure: see tests/e2e/queue_sdk.test.mjs.
        fail(reply, bad(403, "AuthorizationFailure",
                        "This request is not authorized to perform this operation. The secondary "
                        "location (" + route->account + "-secondary) is read-only; send " +
                            req.method + " to /" + route->account + "."));
      } else {
        co_await dispatch(req, *route, reply);
      }
    }
  } catch (const std::exception& ex) {
    // A bug, not a client error: answer 500 and keep serving.
    log.error("Queue.Service", "request failed with an internal error",
              {{"method", req.method}, {"target", req.target}, {"error", ex.what()},
               {"requestId", reply.request_id}});
    reply.data = {};
    fail(reply, bad(500, "InternalError",
                    "The server encountered an internal error. Please retry the request."));
  }
  if (req.method != "OPTIONS" && !req.header("origin").empty()) {
    try {
      std::string error;
      if (auto r = parse_route(req.path, req.host, error)) co_await cors_headers(req, *r, reply);
    } catch (const std::exception&) {
      // No CORS headers: the browser blocks the answer, nothing else changes.
    }
  }
  auto& h = reply.data.headers;
  h.emplace_back("x-ms-request-id", reply.request_id);
  h.emplace_back("x-ms-version", version.empty() ? kDefaultVersion : version);
  h.emplace_back("Date", rfc1123(now_ms()));
  h.emplace_back("Server", "Nimbus-Queue");
  if (auto cid = find_header(req.headers, "x-ms-client-request-id"); !cid.empty())
    h.emplace_back("x-ms-client-request-id", std::string(cid));
  if (reply.data.status >= 500) {
    if (!reply.internal_detail.empty())
      log.error("Queue.Service", "request failed: " + reply.internal_detail,
                {{"method", req.method}, {"target", req.target}, {"status", reply.data.status},
                 {"requestId", reply.request_id}});
    else
      log.warn("Queue.Service", "request failed",
               {{"method", req.method}, {"target", req.target}, {"status", reply.data.status},
                {"requestId", reply.request_id}});
  }
  co_return std::move(reply.data);
}

awaitable<std::vector<CorsRule>> QueueService::Impl::rules_of(const std::string& account) {
  std::string base = account;
  if (!accounts.find(base) && base.ends_with("-secondary")) base.resize(base.size() - 10);
  if (!accounts.find(base)) co_return std::vector<CorsRule>{};
  auto props = co_await store.get_service_properties(base);
  co_return props ? cors_rules(props.value()) : std::vector<CorsRule>{};
}

awaitable<void> QueueService::Impl::preflight(api::HttpRequestData& req, const Route& route,
                                              Reply& reply) {
  std::string origin(req.header("origin"));
  std::string method(req.header("access-control-request-method"));
  std::string headers(req.header("access-control-request-headers"));
  auto refuse = [&](std::string why) {
    fail(reply, bad(403, "CorsPreflightFailure",
                    "CORS not enabled or no matching rule found for this request. " + why));
  };
  if (origin.empty() || method.empty()) {
    // Azure answers a preflight without its two headers 400, not 403 (CORS support for the
    // Azure Storage services, "Preflight request").
    fail(reply, bad(400, "InvalidHeaderValue",
                    "A required CORS header is not present. A preflight needs " +
                        std::string(origin.empty() ? "an Origin" : "an Access-Control-Request-Method") +
                        " header."));
    co_return;
  }
  auto rules = co_await rules_of(route.account);
  const CorsRule* rule = match_cors(rules, origin, method, headers);
  if (!rule) {
    refuse("No CORS rule of the service properties allows origin " + origin + ", method " +
           method + (headers.empty() ? "" : " and headers " + headers) +
           "; add one with Set Queue Service Properties.");
    co_return;
  }
  reply.data.status = 200;
  auto& h = reply.data.headers;
  h.emplace_back("Access-Control-Allow-Origin", rule->any_origin() ? "*" : origin);
  if (!rule->any_origin()) h.emplace_back("Access-Control-Allow-Credentials", "true");
  h.emplace_back("Access-Control-Allow-Methods", method);
  if (!headers.empty()) h.emplace_back("Access-Control-Allow-Headers", headers);
  h.emplace_back("Access-Control-Max-Age", std::to_string(rule->max_age_seconds));
  h.emplace_back("Vary", "Origin");
}

awaitable<void> QueueService::Impl::cors_headers(api::HttpRequestData& req, const Route& route,
                                                 Reply& reply) {
  std::string origin(req.header("origin"));
  auto rules = co_await rules_of(route.account);
  const CorsRule* rule = match_cors(rules, origin, req.method);
  auto& h = reply.data.headers;
  // Vary as Azure's table in "CORS support for the Azure Storage services" sets it: the
  // answer depends on Origin unless the matching rule allows every origin. With rules but no
  // match, only Vary. (A request without Origin gets no CORS headers here; the table's row for
  // that case is read differently by Azurite, whose suite expects no Vary: we follow it.)
  if (!rule) {
    if (!rules.empty()) h.emplace_back("Vary", "Origin");
    co_return;
  }
  h.emplace_back("Access-Control-Allow-Origin", rule->any_origin() ? "*" : origin);
  if (!rule->any_origin()) h.emplace_back("Access-Control-Allow-Credentials", "true");
  std::string exposed;
  for (const auto& e : rule->exposed_headers) exposed += (exposed.empty() ? "" : ",") + e;
  if (!exposed.empty()) h.emplace_back("Access-Control-Expose-Headers", exposed);
  if (!rule->any_origin()) h.emplace_back("Vary", "Origin");
}

awaitable<void> QueueService::Impl::dispatch(api::HttpRequestData& req, const Route& route,
                                             Reply& reply) {
  if (route.kind == Route::Kind::service) {
    co_await service_op(req, route, reply);
    co_return;
  }
  if (auto e = check_queue_name(route.queue)) {
    fail(reply, *e);
    co_return;
  }
  switch (route.kind) {
    case Route::Kind::queue: co_await queue_op(req, route, reply); break;
    case Route::Kind::messages: co_await messages_op(req, route, reply); break;
    case Route::Kind::message: co_await message_op(req, route, reply); break;
    case Route::Kind::service: break;
  }
}

awaitable<void> QueueService::Impl::service_op(api::HttpRequestData& req, const Route& route,
                                               Reply& reply) {
  std::string_view comp = query_value(req, "comp");
  std::string_view restype = query_value(req, "restype");
  if (req.method == "GET" && comp == "list") {
    api::ListQueuesOptions o;
    bool prefix_given = req.query.count("prefix") > 0;
    bool marker_given = req.query.count("marker") > 0;
    bool max_given = req.query.count("maxresults") > 0;
    o.prefix = std::string(query_value(req, "prefix"));
    o.marker = std::string(query_value(req, "marker"));
    int64_t max = 5000;
    if (!take(int_param(req.query, "maxresults", 1, INT_MAX, 5000), max, reply)) co_return;
    o.max_results = static_cast<int>(std::min<int64_t>(max, 5000));
    std::string_view include = query_value(req, "include");
    if (!include.empty() && include != "metadata") {
      auto e = bad(400, "InvalidQueryParameterValue",
                   "Value for one of the query parameters specified in the request URI is "
                   "invalid. include=\"" + std::string(include) + "\"; the only value is metadata.");
      e.details.emplace_back("QueryParameterName", "include");
      e.details.emplace_back("QueryParameterValue", std::string(include));
      fail(reply, e);
      co_return;
    }
    o.include_metadata = include == "metadata";
    auto r = co_await store.list_queues(route.account, o);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    // The scheme the client used (the server sets X-Forwarded-Proto when it also serves TLS).
    std::string scheme = req.header("x-forwarded-proto") == "https" ? "https" : "http";
    std::string endpoint = scheme + "://" + req.host + "/" + route.account + "/";
    xml(reply, 200, list_queues_xml(endpoint, o, prefix_given, marker_given, max_given, r.value()));
    co_return;
  }
  if (restype == "service" && comp == "properties") {
    if (req.method == "GET") {
      auto r = co_await store.get_service_properties(route.account);
      if (!r) {
        fail(reply, r.error());
        co_return;
      }
      std::string doc = r.value();
      if (doc.empty()) doc = default_service_properties_xml();
      xml(reply, 200, std::move(doc));
      co_return;
    }
    if (req.method == "PUT") {
      auto parsed = parse_xml(req.body);
      if (!parsed.root || parsed.root->name != "StorageServiceProperties") {
        fail(reply, bad(400, "InvalidXmlDocument",
                        "XML specified is not syntactically valid. Send a "
                        "<StorageServiceProperties> document" +
                            (parsed.root ? std::string(".") : "; " + parsed.error + ".")));
        co_return;
      }
      auto r = co_await store.set_service_properties(route.account, req.body);
      if (!r) {
        fail(reply, r.error());
        co_return;
      }
      reply.data.status = 202;
      co_return;
    }
  }
  if (req.method == "GET" && restype == "service" && comp == "stats") {
    xml(reply, 200, service_stats_xml(now_ms()));
    co_return;
  }
  auto e = bad(400, "InvalidQueryParameterValue",
               "Value for one of the query parameters specified in the request URI is invalid. " +
                   req.method + " on the account needs ?comp=list, "
                   "?restype=service&comp=properties or ?restype=service&comp=stats.");
  e.details.emplace_back("QueryParameterName", "comp");
  e.details.emplace_back("QueryParameterValue", std::string(comp));
  fail(reply, e);
}

awaitable<void> QueueService::Impl::queue_op(api::HttpRequestData& req, const Route& route,
                                             Reply& reply) {
  api::QueueRef q{route.account, route.queue};
  std::string_view comp = query_value(req, "comp");
  bool read = req.method == "GET" || req.method == "HEAD";
  if (comp.empty() && req.method == "PUT") {
    api::QueueMetadata md;
    if (!take(metadata_of(req), md, reply)) co_return;
    auto r = co_await store.create_queue(q, std::move(md));
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = r.value() == api::CreateQueueOutcome::created ? 201 : 204;
    co_return;
  }
  if (comp.empty() && req.method == "DELETE") {
    auto r = co_await store.delete_queue(q);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = 204;
    co_return;
  }
  if (comp == "metadata" && read) {
    auto r = co_await store.get_queue_properties(q);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = 200;
    reply.data.headers.emplace_back("x-ms-approximate-messages-count",
                                    std::to_string(r.value().approximate_message_count));
    for (auto& [k, v] : r.value().metadata) reply.data.headers.emplace_back("x-ms-meta-" + k, v);
    co_return;
  }
  if (comp == "metadata" && req.method == "PUT") {
    api::QueueMetadata md;
    if (!take(metadata_of(req), md, reply)) co_return;
    auto r = co_await store.set_queue_metadata(q, std::move(md));
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = 204;
    co_return;
  }
  if (comp == "acl" && read) {
    auto r = co_await store.get_queue_acl(q);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    xml(reply, 200, signed_identifiers_xml(r.value()));
    co_return;
  }
  if (comp == "acl" && req.method == "PUT") {
    std::vector<api::SignedIdentifier> acl;
    if (!take(parse_signed_identifiers(req.body), acl, reply)) co_return;
    auto r = co_await store.set_queue_acl(q, std::move(acl));
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = 204;
    co_return;
  }
  fail(reply, unsupported(req, comp.empty() ? "on a queue" : "on a queue with comp=" + std::string(comp)));
}

awaitable<void> QueueService::Impl::messages_op(api::HttpRequestData& req, const Route& route,
                                                Reply& reply) {
  api::QueueRef q{route.account, route.queue};
  if (req.method == "POST") {
    api::NewMessage m;
    m.queue = q;
    if (!take(int_param(req.query, "messagettl", -1, INT64_MAX, api::kDefaultMessageTtlSeconds),
              m.ttl_seconds, reply))
      co_return;
    // Any positive TTL is allowed; one that reaches past 9999-12-31T23:59:59Z (the latest
    // ExpirationTime the service writes) is a message that never expires.
    constexpr int64_t kLastSecond = 253402300799;  // 9999-12-31T23:59:59Z
    int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    if (m.ttl_seconds > kLastSecond - now_s) m.ttl_seconds = api::kMessageTtlForever;
    if (m.ttl_seconds == 0) {
      auto e = bad(400, "OutOfRangeQueryParameterValue",
                   "One of the query parameters specified in the request URI is outside the "
                   "permissible range. messagettl=0; use -1 (never expires) or a number of "
                   "seconds >= 1.");
      e.details.emplace_back("QueryParameterName", "messagettl");
      e.details.emplace_back("QueryParameterValue", "0");
      e.details.emplace_back("MinimumAllowed", "1");
      fail(reply, e);
      co_return;
    }
    if (!take(int_param(req.query, "visibilitytimeout", 0, api::kMaxVisibilitySeconds, 0),
              m.visibility_delay_seconds, reply))
      co_return;
    if (m.ttl_seconds != api::kMessageTtlForever && m.visibility_delay_seconds >= m.ttl_seconds) {
      auto e = bad(400, "OutOfRangeQueryParameterValue",
                   "One of the query parameters specified in the request URI is outside the "
                   "permissible range. visibilitytimeout=" +
                       std::to_string(m.visibility_delay_seconds) +
                       " must be smaller than messagettl=" + std::to_string(m.ttl_seconds) + ".");
      e.details.emplace_back("QueryParameterName", "visibilitytimeout");
      e.details.emplace_back("QueryParameterValue", std::to_string(m.visibility_delay_seconds));
      e.details.emplace_back("MinimumAllowed", "0");
      e.details.emplace_back("MaximumAllowed", std::to_string(m.ttl_seconds - 1));
      fail(reply, e);
      co_return;
    }
    if (!take(parse_queue_message_body(req.body), m.text, reply)) co_return;
    // A producer's W3C trace context (the Azure SDKs send it when tracing is on) is kept with
    // the message, so the function the message triggers continues the producer's trace. An
    // invalid header is ignored, as the spec tells receivers.
    if (auto tp = TraceContext::parse(req.header("traceparent"))) m.traceparent = tp->traceparent();
    auto r = co_await store.put_message(std::move(m));
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    xml(reply, 201, put_message_xml(r.value()));
    co_return;
  }
  if (req.method == "GET") {
    int64_t n = 1;
    if (!take(int_param(req.query, "numofmessages", 1, api::kMaxMessagesPerGet, 1), n, reply))
      co_return;
    std::string_view peek = query_value(req, "peekonly");
    if (peek == "true" || peek == "True" || peek == "TRUE") {
      auto r = co_await store.peek_messages(q, static_cast<int>(n));
      if (!r) {
        fail(reply, r.error());
        co_return;
      }
      xml(reply, 200, messages_xml(r.value(), true));
      co_return;
    }
    int64_t vt = 30;
    if (!take(int_param(req.query, "visibilitytimeout", 1, api::kMaxVisibilitySeconds, 30), vt, reply))
      co_return;
    auto r = co_await store.get_messages(q, static_cast<int>(n), vt);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    xml(reply, 200, messages_xml(r.value(), false));
    co_return;
  }
  if (req.method == "DELETE") {
    auto r = co_await store.clear_messages(q);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = 204;
    co_return;
  }
  fail(reply, unsupported(req, "on /messages"));
}

awaitable<void> QueueService::Impl::message_op(api::HttpRequestData& req, const Route& route,
                                               Reply& reply) {
  api::QueueRef q{route.account, route.queue};
  auto pop_it = req.query.find("popreceipt");
  if ((req.method == "DELETE" || req.method == "PUT") && pop_it == req.query.end()) {
    auto e = bad(400, "MissingRequiredQueryParameter",
                 "A query parameter that's mandatory for this request is not specified. Add "
                 "popreceipt=<the pop receipt from Get Messages or Put Message>.");
    e.details.emplace_back("QueryParameterName", "popreceipt");
    fail(reply, e);
    co_return;
  }
  if (req.method == "DELETE") {
    auto r = co_await store.delete_message(q, route.message_id, pop_it->second);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = 204;
    co_return;
  }
  if (req.method == "PUT") {
    int64_t vt = 0;
    if (!take(int_param(req.query, "visibilitytimeout", 0, api::kMaxVisibilitySeconds, std::nullopt),
              vt, reply))
      co_return;
    std::optional<std::string> text;
    bool has_body = false;
    for (char c : req.body)
      if (!(c == ' ' || c == '\n' || c == '\r' || c == '\t')) has_body = true;
    if (has_body) {
      std::string t;
      if (!take(parse_queue_message_body(req.body), t, reply)) co_return;
      text = std::move(t);
    }
    auto r = co_await store.update_message(q, route.message_id, pop_it->second, std::move(text), vt);
    if (!r) {
      fail(reply, r.error());
      co_return;
    }
    reply.data.status = 204;
    reply.data.headers.emplace_back("x-ms-popreceipt", r.value().pop_receipt);
    reply.data.headers.emplace_back("x-ms-time-next-visible", rfc1123(r.value().time_next_visible));
    co_return;
  }
  fail(reply, unsupported(req, "on a message"));
}

}  // namespace nimbus::queue
