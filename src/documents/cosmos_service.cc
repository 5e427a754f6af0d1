#include "documents/cosmos_service.h"

#include <cstdio>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <exception>

#include "common/ids.h"
#include "documents/docsql_query.h"
#include "documents/query/query.h"

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;

namespace nimbus::documents {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool header_true(const api::HttpRequestData& req, std::string_view name) {
  return iequals(req.header(name), "true");
}

std::optional<std::string> if_match_of(const api::HttpRequestData& req) {
  std::string_view m = req.header("if-match");
  if (m.empty()) return std::nullopt;
  return std::string(m);
}

// A POST to a docs feed that docs_feed() answers as a query (or its query plan).
bool is_query_post(const api::HttpRequestData& req) {
  return header_true(req, "x-ms-cosmos-is-query-plan-request") || header_true(req, "x-ms-documentdb-isquery");
}

// The answer under construction.
struct Reply {
  // Room for every header an answer carries (an item's three and finish()'s four), so the
  // vector is not grown and its strings moved on the way.
  Reply() { data.headers.reserve(8); }
  api::HttpResponseData data;
  std::string activity_id = new_uuid();
  double charge = 1.0;
};

void json_body(Reply& r, int status, const json::value& body) {
  r.data.status = status;
  r.data.body = json::serialize(body);
}
// An object serialized as it is (through the json::value overload it would be copied first).
void json_body(Reply& r, int status, const json::object& body) {
  r.data.status = status;
  r.data.body = json::serialize(body);
}
// A database, container or offer answered whole, with its _etag as the etag header.
void resource_body(Reply& r, int status, const json::object& resource) {
  if (auto e = resource.if_contains("_etag"); e && e->is_string())
    r.data.headers.emplace_back("etag", std::string(e->as_string()));
  json_body(r, status, resource);
}

// A list, query or feed answer: {"_rid", "<name>": [...], "_count"} with x-ms-item-count, the
// one shape of every feed the service answers (a continuation is the caller's header).
void feed_body(Reply& r, std::string_view name, json::array items, std::string_view rid = "") {
  r.data.headers.emplace_back("x-ms-item-count", std::to_string(items.size()));
  json::object body{{"_rid", rid}, {"_count", items.size()}};
  body[name] = std::move(items);
  json_body(r, 200, body);
}

void fail(Reply& r, int status, std::string_view code, std::string message) {
  json::object o;
  o["code"] = code;
  o["message"] = message;
  json_body(r, status, o);
}

// A DocError as the service answers it. Storage failures name files and SQLite errors: the
// operator's business (logged), not the client's.
void fail(Reply& r, const api::DocError& e, Logger& log) {
  if (e.code == api::DocErrc::storage_failure) {
    log.error("Documents.Service", "storage failure", {{"detail", e.message}, {"activityId", r.activity_id}});
    fail(r, 500, "InternalServerError",
         "The server encountered an internal error; retry the request. If it keeps failing, "
         "give the operator the ActivityId " + r.activity_id + ".");
    return;
  }
  fail(r, api::doc_errc_status(e.code), api::doc_errc_name(e.code), e.message);
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::string unquoted(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return std::string(s.substr(1, s.size() - 2));
  return std::string(s);
}

// The JSON object body of a write; nullopt with `r` answered 400, naming the problem, otherwise.
std::optional<json::object> object_body(const std::string& body, Reply& r) {
  std::string error;
  if (body.empty()) {
    error = "The request body is empty; send a JSON object.";
    fail(r, 400, "BadRequest", error);
    return std::nullopt;
  }
  json::parse_options po;
  po.max_depth = api::kMaxItemDepth + 2;
  boost::system::error_code ec;
  // One arena per body, shared by every value in it and by copies made from it, freed when the
  // last of them goes (after the answer): a body of N values costs one or two allocations
  // instead of N, and its destruction frees nothing value by value. The store may take the
  // object across threads; it is used by one thread at a time.
  json::value v = json::parse(body, ec, json::make_shared_resource<json::monotonic_resource>(body.size() * 2 + 512), po);
  if (ec) {
    error = "The request body is not valid JSON (" + ec.message() + "); send a JSON object" +
            (ec == json::error::too_deep ? " nested at most " + std::to_string(api::kMaxItemDepth) + " levels deep" : "") + ".";
    fail(r, 400, "BadRequest", error);
    return std::nullopt;
  }
  if (!v.is_object()) {
    error = "The request body is a JSON " + std::string(v.is_array() ? "array" : "scalar") +
            "; send a JSON object.";
    fail(r, 400, "BadRequest", error);
    return std::nullopt;
  }
  return std::move(v.as_object());
}

// A container's computed properties, each query checked by the SQL engine (the store keeps
// them as text); false with `r` filled (400 naming the property) when one is not valid.
bool check_computed(const api::ContainerSpec& spec, Reply& r) {
  for (const auto& [name, text] : spec.computed_properties)
    if (auto q = docsql::parse_computed_property(text); !q) {
      fail(r, 400, "BadRequest", "Container \"" + spec.id + "\": computed property \"" + name + "\" (" + text.substr(0, 200) +
                                     "): " + q.error().to_string());
      return false;
    }
  return true;
}

// A create's throughput: x-ms-offer-throughput (manual RU/s) or
// x-ms-cosmos-offer-autopilot-settings ({"maxThroughput": n}, autoscale); neither: nullopt.
// False with `r` answered 400 when malformed or both are given.
bool throughput_of(const api::HttpRequestData& req, std::optional<api::Throughput>& out, Reply& r) {
  std::string_view manual = req.header("x-ms-offer-throughput");
  std::string_view autoscale = req.header("x-ms-cosmos-offer-autopilot-settings");
  if (manual.empty() && autoscale.empty()) return true;
  api::Throughput t;
  if (!manual.empty() && !autoscale.empty()) {
    fail(r, 400, "BadRequest",
         "x-ms-offer-throughput and x-ms-cosmos-offer-autopilot-settings were both given; "
         "give throughput or maxThroughput, not both");
    return false;
  }
  if (!manual.empty()) {
    auto [end, ec] = std::from_chars(manual.data(), manual.data() + manual.size(), t.manual);
    if (ec != std::errc() || end != manual.data() + manual.size() || t.manual <= 0) {
      fail(r, 400, "BadRequest", "x-ms-offer-throughput \"" + std::string(manual.substr(0, 40)) +
                                     "\" is not a whole number of RU/s; send e.g. 400");
      return false;
    }
  } else {
    boost::system::error_code ec;
    json::value v = json::parse(autoscale, ec);
    const json::value* max = !ec && v.is_object() ? v.as_object().if_contains("maxThroughput") : nullptr;
    if (!max || !max->is_int64() || max->as_int64() <= 0) {
      fail(r, 400, "BadRequest", "x-ms-cosmos-offer-autopilot-settings \"" + std::string(autoscale.substr(0, 80)) +
                                     "\" is not {\"maxThroughput\": n} with a whole number n; send e.g. {\"maxThroughput\":4000}");
      return false;
    }
    t.autoscale_max = max->as_int64();
  }
  out = t;
  return true;
}


// The patch condition as a query: the service takes "FROM c WHERE ..." (no SELECT); a full
// SELECT is accepted as given. The store applies the patch only when it yields a row.
api::DocResult<std::shared_ptr<const DocsqlQuery>> parse_condition(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  bool from_first = text.size() >= i + 4 && iequals(std::string_view(text).substr(i, 4), "from");
  std::string sql = from_first ? "SELECT VALUE 1 " + text : text;
  auto q = DocsqlQuery::parse(sql, {});
  if (!q)
    return api::DocError{api::DocErrc::bad_request,
                         "The patch condition \"" + text.substr(0, 200) + "\" is not a valid filter (" + q.error().message +
                             (from_first ? "; it runs as \"SELECT VALUE 1 " + text.substr(0, 60) + "...\"" : std::string()) +
                             "); write it as \"FROM c WHERE c.field = value\"."};
  return q;
}

// A patch body: {"operations": [...], "condition": "FROM c WHERE ..."} or the bare operations
// array (the SDK sends either). `where` names the body in messages ("The PATCH body",
// "Batch operation 3's resourceBody"). False with `error` set when it is not one.
bool parse_patch(const json::value& v, const std::string& where, api::PatchSpec& out, std::string& error) {
  const json::array* ops = v.if_array();
  if (const json::object* o = v.if_object()) {
    const json::value* a = o->if_contains("operations");
    ops = a ? a->if_array() : nullptr;
    if (!ops) {
      error = where + " has no \"operations\" array; send {\"operations\": [{\"op\": \"set\", \"path\": \"/x\", \"value\": 1}]}.";
      return false;
    }
    if (const json::value* c = o->if_contains("condition"); c && !c->is_null()) {
      if (!c->is_string()) {
        error = where + ": \"condition\" is not a string; send a filter such as \"FROM c WHERE c.status = 'open'\".";
        return false;
      }
      auto q = parse_condition(std::string(c->as_string()));
      if (!q) {
        error = q.error().message;
        return false;
      }
      out.condition = q.value();
      out.condition_text = std::string(c->as_string());
    }
  }
  if (!ops) {
    error = where + " is neither an operations array nor {\"operations\": [...], \"condition\": \"...\"}.";
    return false;
  }
  if (ops->empty() || ops->size() > api::kMaxPatchOperations) {
    error = where + " has " + std::to_string(ops->size()) +
            " operations; a patch holds 1 to 10, so split it into several patches.";
    return false;
  }
  using Op = api::PatchOperation::Op;
  for (size_t i = 0; i < ops->size(); ++i) {
    std::string at = where + ", operation " + std::to_string(i);
    const json::object* o = (*ops)[i].if_object();
    const json::value* name = o ? o->if_contains("op") : nullptr;
    const json::value* path = o ? o->if_contains("path") : nullptr;
    if (!name || !name->is_string() || !path || !path->is_string()) {
      error = at + " is not {\"op\": \"...\", \"path\": \"/...\", ...}; give both as strings.";
      return false;
    }
    api::PatchOperation p;
    std::string_view n = name->as_string();
    if (n == "add") p.op = Op::add;
    else if (n == "set") p.op = Op::set;
    else if (n == "replace") p.op = Op::replace;
    else if (n == "remove") p.op = Op::remove;
    else if (n == "incr") p.op = Op::incr;
    else if (n == "move") p.op = Op::move;
    else {
      error = at + ": op \"" + std::string(n.substr(0, 40)) + "\" is unknown; use add, set, replace, remove, incr or move.";
      return false;
    }
    p.path = std::string(path->as_string());
    if (p.op == Op::move) {
      const json::value* from = o->if_contains("from");
      if (!from || !from->is_string()) {
        error = at + ": move needs \"from\", the path of the value to move.";
        return false;
      }
      p.from = std::string(from->as_string());
    } else if (p.op != Op::remove) {
      const json::value* value = o->if_contains("value");
      if (!value) {
        error = at + ": " + std::string(n) + " needs a \"value\".";
        return false;
      }
      p.value = *value;
    }
    out.operations.push_back(std::move(p));
  }
  return true;
}

}  // namespace

struct CosmosService::Impl {
  AsyncDocumentStore& store;
  Options options;
  Logger& log;
  mutable std::mutex counts_mu;
  std::map<std::pair<std::string, int>, uint64_t> counts;  // (operation, status) -> answers

  void count(const api::HttpRequestData& req, const ResourceAddress& addr, int status) {
    std::string op = operation_of(req, addr);
    std::lock_guard lock(counts_mu);
    ++counts[{std::move(op), status}];
  }
  static std::string operation_of(const api::HttpRequestData& req, const ResourceAddress& a);

  Impl(AsyncDocumentStore& s, Options o, Logger& l) : store(s), options(std::move(o)), log(l) {}

  template <class T, class Submit>
  awaitable<api::DocResult<T>> call(Submit submit) {
    return store.call<T>(std::move(submit));
  }

  awaitable<void> dispatch(api::HttpRequestData& req, const ResourceAddress& addr, Reply& r);
  void account(const api::HttpRequestData& req, Reply& r);
  awaitable<void> databases(api::HttpRequestData& req, const std::vector<std::string>& s, Reply& r);
  awaitable<void> containers(api::HttpRequestData& req, const std::vector<std::string>& s, Reply& r);
  awaitable<void> offers(api::HttpRequestData& req, const std::vector<std::string>& s, Reply& r);
  awaitable<void> users(api::HttpRequestData& req, const std::vector<std::string>& s, Reply& r);
  awaitable<void> permissions(api::HttpRequestData& req, const std::vector<std::string>& s, Reply& r);
  // A resource token's request: false with `r` filled (401/403) unless its permission still
  // exists and grants this request.
  awaitable<bool> granted(const api::HttpRequestData& req, const ResourceAddress& addr, int64_t permission, Reply& r);
  // The lifetime a request asks its permissions' tokens to have, checked before anything is
  // written (a refused request changes nothing).
  std::optional<int64_t> token_seconds(const api::HttpRequestData& req, Reply& r);
  awaitable<void> docs_feed(api::HttpRequestData& req, const api::ContainerRef& ref, Reply& r);
  awaitable<void> doc(api::HttpRequestData& req, const api::ContainerRef& ref,
                      const std::string& id, Reply& r);
  awaitable<void> query(api::HttpRequestData& req, const api::ContainerRef& ref, Reply& r);
  std::shared_ptr<const DocsqlQuery> parse_query(const api::HttpRequestData& req, Reply& r);
  bool query_resources(const api::HttpRequestData& req, json::array& resources, Reply& r);
  // Databases, containers or offers (T: their Info, with `resource`): GET lists them all,
  // POST with isquery runs its SQL over them; answered as a feed under `name`.
  // `decorate` completes each resource (a permission's token).
  template <class T, class Submit>
  awaitable<void> resource_list(const api::HttpRequestData& req, const char* name, Submit submit, Reply& r,
                                std::function<void(T&)> decorate = {}) {
    auto l = co_await call<std::vector<T>>(std::move(submit));
    if (!l) {
      fail(r, l.error(), log);
      co_return;
    }
    json::array arr;
    for (auto& x : l.value()) {
      if (decorate) decorate(x);
      arr.push_back(std::move(x.resource));
    }
    if (req.method == "POST" && !query_resources(req, arr, r)) co_return;
    feed_body(r, name, std::move(arr));
  }
  awaitable<void> change_feed(api::HttpRequestData& req, const api::ContainerRef& ref, Reply& r);
  awaitable<void> batch(api::HttpRequestData& req, const api::ContainerRef& ref, Reply& r);

  // Reads x-ms-documentdb-partitionkey; false (and r filled with 400) when malformed.
  bool partition_key(const api::HttpRequestData& req, std::optional<api::PartitionKey>& out,
                     Reply& r);
  bool max_item_count(const api::HttpRequestData& req, int& out, Reply& r);
};

std::string CosmosService::Impl::operation_of(const api::HttpRequestData& req,
                                             const ResourceAddress& a) {
  const std::string& m = req.method;
  size_t n = a.segments.size();
  if (a.type == "docs") {
    bool item = n % 2 == 0;  // dbs/d/colls/c/docs/id
    if (item)
      return m == "GET" ? "read" : m == "PUT" ? "replace" : m == "PATCH" ? "patch"
             : m == "DELETE" ? "delete" : "docs." + m;
    if (m == "GET") return req.header("a-im").empty() ? "readFeed" : "changeFeed";
    if (m != "POST") return "docs." + m;
    if (header_true(req, "x-ms-cosmos-is-query-plan-request")) return "queryPlan";
    if (header_true(req, "x-ms-documentdb-isquery") ||
        req.header("content-type").starts_with("application/query+json"))
      return "query";
    if (header_true(req, "x-ms-cosmos-is-batch-request"))
      return header_true(req, "x-ms-cosmos-batch-atomic") ? "batch" : "bulk";
    return header_true(req, "x-ms-documentdb-is-upsert") ? "upsert" : "create";
  }
  if (n == 6 && a.segments[4] == "operations" && a.segments[5] == "partitionkeydelete" && m == "POST")
    return "deletePartition";
  std::string lower_method;
  for (char c : m) lower_method += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string resource = a.type == "dbs"    ? "database"
                         : a.type == "colls" ? "container"
                         : a.type.empty()    ? "account"
                                             : a.type;
  return resource + "." + lower_method;
}

std::string CosmosService::render_metrics() const {
  std::string out =
      "# HELP nimbus_document_operations_total Document service requests by operation and "
      "status.\n# TYPE nimbus_document_operations_total counter\n";
  std::lock_guard lock(impl_->counts_mu);
  for (const auto& [k, v] : impl_->counts)
    out += "nimbus_document_operations_total{operation=\"" + k.first + "\",status=\"" +
           std::to_string(k.second) + "\"} " + std::to_string(v) + "\n";
  return out;
}

CosmosService::CosmosService(AsyncDocumentStore& store, Options options, Logger& log)
    : impl_(std::make_unique<Impl>(store, std::move(options), log)) {}
CosmosService::~CosmosService() = default;

namespace {

// Path and signature checks (no body needed): false with `r` filled when refused. The
// signature is checked once per request: by admit() on the head when the HTTP server calls it
// (it marks the request), else here.
bool precheck(const api::HttpRequestData& req, const CosmosService::Options& options,
              ResourceAddress& addr, Reply& r, int64_t& permission) {
  permission = 0;
  std::string error;
  // The target, not the path: a '?' in an item's id is the id's (see resource_of_path).
  if (!resource_of_path(req.target, addr, error)) {
    fail(r, 400, "BadRequest", "The request path is invalid: " + error + ".");
    return false;
  }
  if (!options.auth || req.authenticated) return true;
  std::string_view date = req.header("x-ms-date");
  if (date.empty()) date = req.header("date");
  AuthVerdict v = verify_request(options.keys, req.method, addr, req.header("authorization"),
                                date, now_ms());
  if (v.code != AuthVerdict::ok) {
    fail(r, v.status, v.error_code, v.message);
    return false;
  }
  permission = v.permission;
  return true;
}

// Reads: GET and HEAD, and a POST that docs_feed() answers as a query (decided by the route
// and the headers as docs_feed decides, never by the headers alone: an isquery header on
// .../operations/partitionkeydelete does not make that a read).
bool is_read(const api::HttpRequestData& req, const ResourceAddress& addr) {
  if (req.method == "GET" || req.method == "HEAD") return true;
  const auto& s = addr.segments;
  bool docs_feed = s.size() == 5 && s[0] == "dbs" && s[2] == "colls" && s[4] == "docs";
  return req.method == "POST" && docs_feed && is_query_post(req);
}

// Whether `g` lets a request made with its resource token do this; empty when it does, else
// the 403 message. The request's resource (a feed's parent for a feed) must be the granted one
// or inside it; Read grants reads and queries only; a partition-scoped grant needs the
// request's x-ms-documentdb-partitionkey to name that partition for anything on items. The
// account (GET /) is open to any valid token: the SDK reads it before anything else.
// Not from the service's documentation: a grant on an item also lets its container (and
// /pkranges) be read, since the SDK reads the container's partition key before addressing the
// item; the documentation does not say what the service allows there.
std::string grant_refusal(const api::PermissionGrant& g, const api::HttpRequestData& req,
                          const ResourceAddress& addr) {
  const auto& s = addr.segments;
  if (s.empty()) return req.method == "GET" ? "" : "a resource token may only read the account (GET /)";
  std::string target;
  size_t n = s.size() % 2 == 0 ? s.size() : s.size() - 1;  // a feed: its parent
  for (size_t i = 0; i < n; ++i) target += (i ? "/" : "") + s[i];
  std::string described = "/" + addr.link + (s.size() % 2 == 0 ? "" : (addr.link.empty() ? "" : "/") + s.back());
  bool inside = target == g.link || (target.size() > g.link.size() && target.compare(0, g.link.size(), g.link) == 0 &&
                                     target[g.link.size()] == '/');
  bool container_of_item = !inside && g.link.size() > target.size() && g.link.compare(0, target.size(), target) == 0 &&
                           g.link.compare(target.size(), 6, "/docs/") == 0 && s.size() >= 4 && s[2] == "colls" &&
                           (s.size() == 4 || (s.size() == 5 && s[4] == "pkranges")) && req.method == "GET";
  if (!inside && !container_of_item)
    return "The resource token grants " + g.mode + " on " + g.link + " only; this request is " + req.method + " " +
           described + ". Use a token of a permission on that resource, or the account key.";
  if (g.mode != "All" && !is_read(req, addr))
    return "The resource token grants Read on " + g.link + "; " + req.method + " " + described +
           " changes data. Use a token of a permission with permissionMode \"All\".";
  if (!g.partition_key.empty()) {
    // A grant on one partition (or on one item, which binds its partition) may read the
    // container and its ranges, nothing else of it (not replace or delete it).
    if (s.size() == 4 || (s.size() == 5 && s[4] == "pkranges")) {
      if (req.method == "GET") return "";
      return "The resource token grants access to partition key " + g.partition_key + " of " + g.link + " only; " +
             req.method + " " + described + " is about the whole container. Use the account key.";
    }
    // Bulk carries a partition key per operation, not the request's: refused as a whole.
    if (header_true(req, "x-ms-cosmos-is-batch-request") && !header_true(req, "x-ms-cosmos-batch-atomic"))
      return "The resource token grants access to partition key " + g.partition_key + " of " + g.link +
             " only; a bulk request may touch any partition. Send the operations one at a time or as a "
             "transactional batch of that partition.";
    // Everything else below the container is about items of some partition (docs, batches,
    // operations/partitionkeydelete).
    std::string_view h = req.header("x-ms-documentdb-partitionkey");
    std::string asked;
    boost::system::error_code ec;
    json::value v = h.empty() ? json::value() : json::parse(h, ec);
    if (!h.empty() && !ec) asked = json::serialize(v);
    if (asked != g.partition_key)
      return "The resource token grants access to partition key " + g.partition_key + " of " + g.link + " only; " +
             (h.empty() ? std::string("this request names no partition key (send x-ms-documentdb-partitionkey ") +
                              g.partition_key + ")"
                        : "this request is for partition key " + std::string(h.substr(0, 200))) +
             ".";
  }
  return "";
}

void finish(Reply& r) {
  if (r.data.status != 204 && r.data.status != 304)
    r.data.headers.emplace_back("Content-Type", "application/json");
  char charge[32];
  std::snprintf(charge, sizeof charge, "%.2f", r.charge);
  r.data.headers.emplace_back("x-ms-request-charge", charge);
  r.data.headers.emplace_back("x-ms-activity-id", r.activity_id);
  r.data.headers.emplace_back("x-ms-gatewayversion", "version=2.14.0");
}

}  // namespace

std::optional<api::HttpResponseData> CosmosService::admit(api::HttpRequestData& req) {
  Reply r;
  ResourceAddress addr;
  int64_t permission = 0;
  if (precheck(req, impl_->options, addr, r, permission)) {
    // A resource token's grant is looked up in handle(), which verifies it again.
    if (permission == 0) req.authenticated = true;
    return std::nullopt;
  }
  finish(r);
  impl_->count(req, addr, r.data.status);
  return std::move(r.data);
}

awaitable<api::HttpResponseData> CosmosService::handle(api::HttpRequestData& req) {
  Impl& self = *impl_;
  if (req.active_clients != 0) self.store.store().note_active_clients(req.active_clients);
  Reply r;
  ResourceAddress addr;
  try {
    int64_t permission = 0;
    if (!precheck(req, self.options, addr, r, permission)) {
      // answered
    } else if (permission != 0 && !co_await self.granted(req, addr, permission, r)) {
      // answered
    } else if (req.body.size() > kMaxRequestBody) {
      fail(r, 413, "RequestEntityTooLarge",
           std::string(api::kTooLargeLead) + "The request body is " + std::to_string(req.body.size()) +
               " bytes; requests may carry at most " + std::to_string(kMaxRequestBody) +
               " bytes (an item at most " + std::to_string(api::kMaxItemBytes) + ").");
    } else {
      co_await self.dispatch(req, addr, r);
    }
  } catch (const std::exception& e) {
    self.log.error("Documents.Service", "request failed",
                   {{"error", e.what()}, {"path", req.path}, {"activityId", r.activity_id}});
    r.data.headers.clear();
    fail(r, 500, "InternalServerError",
         "The server failed while handling this request; retry it. If it keeps failing, give "
         "the operator the ActivityId " + r.activity_id + ".");
  }
  finish(r);
  self.count(req, addr, r.data.status);
  co_return std::move(r.data);
}

awaitable<void> CosmosService::Impl::dispatch(api::HttpRequestData& req,
                                              const ResourceAddress& addr, Reply& r) {
  const auto& s = addr.segments;
  auto not_found = [&] {
    std::string path = "/";
    for (size_t i = 0; i < s.size(); ++i) path += (i ? "/" : "") + s[i];
    fail(r, 404, "NotFound",
         "The path " + path + " names no resource of this endpoint; Cosmos DB paths are /dbs, "
         "/dbs/{db}/colls, /dbs/{db}/colls/{coll}/docs[/{id}], /dbs/{db}/colls/{coll}/pkranges and "
         "/dbs/{db}/users[/{user}/permissions].");
  };
  if (s.empty()) {
    if (req.method != "GET") {
      fail(r, 405, "MethodNotAllowed", req.method + " / is not supported; the account is read with GET /.");
      co_return;
    }
    account(req, r);
    co_return;
  }
  if (s[0] == "offers" && s.size() <= 2) {
    co_await offers(req, s, r);
    co_return;
  }
  if (s[0] != "dbs") {
    not_found();
    co_return;
  }
  if (s.size() <= 2) {
    co_await databases(req, s, r);
    co_return;
  }
  if (s[2] == "users") {
    if (s.size() <= 4) co_await users(req, s, r);
    else if (s[4] == "permissions" && s.size() <= 6) co_await permissions(req, s, r);
    else not_found();
    co_return;
  }
  if (s[2] != "colls") {
    not_found();
    co_return;
  }
  if (s.size() <= 4) {
    co_await containers(req, s, r);
    co_return;
  }
  api::ContainerRef ref{s[1], s[3]};
  if (s[4] == "operations") {
    if (s.size() != 6 || s[5] != "partitionkeydelete") {
      not_found();
      co_return;
    }
    // deleteAllItemsForPartitionKey: every item of the partition in the header, at once.
    if (req.method != "POST") {
      fail(r, 405, "MethodNotAllowed", req.method + " on .../operations/partitionkeydelete is not supported; use POST.");
      co_return;
    }
    std::optional<api::PartitionKey> pk;
    if (!partition_key(req, pk, r)) co_return;
    if (!pk) {
      fail(r, 400, "BadRequest",
           "Deleting a partition's items needs its partition key in x-ms-documentdb-partitionkey, e.g. [\"value\"].");
      co_return;
    }
    auto d = co_await call<int64_t>([&](auto cb) { store.store().delete_partition(ref, std::move(*pk), std::move(cb)); });
    if (!d) {
      fail(r, d.error(), log);
      co_return;
    }
    r.charge = 1.0 + static_cast<double>(d.value());
    r.data.status = 200;
    co_return;
  }
  if (s[4] == "pkranges" && s.size() == 5) {
    if (req.method != "GET") {
      fail(r, 405, "MethodNotAllowed", req.method + " on /pkranges is not supported; read it with GET.");
      co_return;
    }
    auto c = co_await call<api::ContainerInfo>(
        [&](auto cb) { store.store().read_container(ref, std::move(cb)); });
    if (!c) {
      fail(r, c.error(), log);
      co_return;
    }
    const auto& res = c.value().resource;
    std::string rid = res.contains("_rid") && res.at("_rid").is_string()
                          ? std::string(res.at("_rid").as_string())
                          : std::string();
    json::object range{{"id", "0"},
                       {"_rid", rid + "pkr0"},
                       {"_self", "dbs/" + ref.database + "/colls/" + ref.container + "/pkranges/0/"},
                       {"_etag", "\"00000000-0000-0000-0000-000000000000\""},
                       {"minInclusive", ""},
                       {"maxExclusive", "FF"},
                       {"ridPrefix", 0},
                       {"throughputFraction", 1},
                       {"status", "online"},
                       {"parents", json::array{}},
                       {"_ts", now_ms() / 1000}};
    feed_body(r, "PartitionKeyRanges", json::array{range}, rid);
    co_return;
  }
  if (s[4] == "conflicts" && s.size() == 5 && (req.method == "GET" || req.method == "POST")) {
    // Conflicts arise only between regions written at once; one store has none, so the feed
    // (and a query over it) is empty, as a single-region account's is.
    auto c = co_await call<api::ContainerInfo>(
        [&](auto cb) { store.store().read_container(ref, std::move(cb)); });
    if (!c) {
      fail(r, c.error(), log);
      co_return;
    }
    feed_body(r, "Conflicts", {});
    co_return;
  }
  if (s[4] != "docs") {
    fail(r, 400, "BadRequest",
         "/" + s[4] + " resources (stored procedures, triggers, UDFs, ...) are not "
         "supported by this endpoint yet; use /docs.");
    co_return;
  }
  if (s.size() == 5) {
    co_await docs_feed(req, ref, r);
  } else if (s.size() == 6) {
    co_await doc(req, ref, s[5], r);
  } else {
    not_found();
  }
}

void CosmosService::Impl::account(const api::HttpRequestData& req, Reply& r) {
  std::string host = req.host.empty() ? std::string("localhost") : req.host;
  // A listener serving http and https on one port says which this request came over.
  std::string_view proto = req.header("x-forwarded-proto");
  std::string scheme = proto == "https" || proto == "http" ? std::string(proto) : options.scheme;
  std::string endpoint = scheme + "://" + host + "/";
  json::object loc{{"name", "Nimbus"}, {"databaseAccountEndpoint", endpoint}};
  json::object body{
      // Not "localhost": the JS SDK ignores the location lists of an account with that id,
      // other SDKs do not; echoing the client's own scheme and host serves both.
      {"id", "nimbus"},
      {"_rid", "nimbus"},
      {"_self", ""},
      {"_etag", ""},
      {"_dbs", "//dbs/"},
      {"media", "//media/"},
      {"addresses", "//addresses/"},
      {"writableLocations", json::array{loc}},
      {"readableLocations", json::array{loc}},
      {"enableMultipleWriteLocations", false},
      {"userConsistencyPolicy", {{"defaultConsistencyLevel", "Session"}}},
      {"userReplicationPolicy", {{"asyncReplication", false}, {"minReplicaSetSize", 1}, {"maxReplicasetSize", 4}}},
      {"systemReplicationPolicy", {{"minReplicaSetSize", 1}, {"maxReplicasetSize", 4}}},
      {"readPolicy", {{"primaryReadCoefficient", 1}, {"secondaryReadCoefficient", 1}}},
      {"queryEngineConfiguration",
       "{\"maxSqlQueryInputLength\":262144,\"maxJoinsPerSqlQuery\":64,"
       "\"maxLogicalAndPerSqlQuery\":500,\"maxLogicalOrPerSqlQuery\":500,"
       "\"maxUdfRefPerSqlQuery\":10,\"maxInExpressionItemsCount\":16000,"
       "\"queryMaxInMemorySortDocumentCount\":500,\"maxQueryRequestTimeoutFraction\":0.9,"
       "\"sqlAllowNonFiniteNumbers\":false,\"sqlAllowAggregateFunctions\":true,"
       "\"sqlAllowSubQuery\":false,\"sqlAllowScalarSubQuery\":false,\"allowNewKeywords\":true,"
       "\"sqlAllowLike\":false,\"sqlAllowGroupByClause\":true,\"maxSpatialQueryCells\":12,"
       "\"spatialMaxGeometryPointCount\":256,\"sqlDisableQueryILOptimization\":false,"
       "\"sqlDisableFilterPlanOptimization\":false}"}};
  json_body(r, 200, body);
}

awaitable<void> CosmosService::Impl::databases(api::HttpRequestData& req,
                                               const std::vector<std::string>& s, Reply& r) {
  if (s.size() == 1) {
    if (req.method == "POST" && !header_true(req, "x-ms-documentdb-isquery")) {
      auto body = object_body(req.body, r);
      if (!body) co_return;
      auto it = body->find("id");
      if (it == body->end() || !it->value().is_string()) {
        fail(r, 400, "BadRequest", "The database body has no string \"id\"; send {\"id\": \"name\"}.");
        co_return;
      }
      std::string id(it->value().as_string());
      std::optional<api::Throughput> throughput;
      if (!throughput_of(req, throughput, r)) co_return;
      auto d = co_await call<api::DatabaseInfo>(
          [&](auto cb) { store.store().create_database(id, throughput, std::move(cb)); });
      if (!d) {
        fail(r, d.error(), log);
        co_return;
      }
      resource_body(r, 201, d.value().resource);
      co_return;
    }
    if (req.method == "GET" || req.method == "POST") {
      co_await resource_list<api::DatabaseInfo>(
          req, "Databases", [&](auto cb) { store.store().list_databases(std::move(cb)); }, r);
      co_return;
    }
    fail(r, 405, "MethodNotAllowed", req.method + " /dbs is not supported; use GET or POST.");
    co_return;
  }
  const std::string& id = s[1];
  if (req.method == "GET") {
    auto d = co_await call<api::DatabaseInfo>(
        [&](auto cb) { store.store().read_database(id, std::move(cb)); });
    if (!d) {
      fail(r, d.error(), log);
      co_return;
    }
    resource_body(r, 200, d.value().resource);
  } else if (req.method == "DELETE") {
    auto d = co_await call<void>([&](auto cb) { store.store().delete_database(id, std::move(cb)); });
    if (!d) {
      fail(r, d.error(), log);
      co_return;
    }
    r.data.status = 204;
  } else {
    fail(r, 405, "MethodNotAllowed", req.method + " /dbs/{db} is not supported; use GET or DELETE.");
  }
}

awaitable<void> CosmosService::Impl::containers(api::HttpRequestData& req,
                                                const std::vector<std::string>& s, Reply& r) {
  const std::string& db = s[1];
  if (s.size() == 3) {
    if (req.method == "POST" && !header_true(req, "x-ms-documentdb-isquery")) {
      auto body = object_body(req.body, r);
      if (!body) co_return;
      auto spec = api::ContainerSpec::from_json(*body);
      if (!spec) {
        fail(r, spec.error(), log);
        co_return;
      }
      if (!check_computed(spec.value(), r)) co_return;
      if (!throughput_of(req, spec.value().throughput, r)) co_return;
      auto c = co_await call<api::ContainerInfo>([&](auto cb) {
        store.store().create_container(db, std::move(spec.value()), std::move(cb));
      });
      if (!c) {
        fail(r, c.error(), log);
        co_return;
      }
      resource_body(r, 201, c.value().resource);
      co_return;
    }
    if (req.method == "GET" || req.method == "POST") {
      co_await resource_list<api::ContainerInfo>(
          req, "DocumentCollections", [&](auto cb) { store.store().list_containers(db, std::move(cb)); }, r);
      co_return;
    }
    fail(r, 405, "MethodNotAllowed", req.method + " /dbs/{db}/colls is not supported; use GET or POST.");
    co_return;
  }
  api::ContainerRef ref{db, s[3]};
  if (req.method == "GET") {
    auto c = co_await call<api::ContainerInfo>(
        [&](auto cb) { store.store().read_container(ref, std::move(cb)); });
    if (!c) {
      fail(r, c.error(), log);
      co_return;
    }
    // An index is rebuilt within its replace, so a read always finds it complete (the SDK
    // reads this to wait for an indexing policy change).
    r.data.headers.emplace_back("x-ms-documentdb-collection-index-transformation-progress", "100");
    // read({populateQuotaInfo: true}): the item count, the usual way to count a container's
    // documents without a query. Sizes are left out (not kept per container).
    // The quota is the emulator's (10 GB collections, in KB as the service counts them;
    // the SDK's offer test reads collectionSize from it): Nimbus sets no size limit itself.
    if (header_true(req, "x-ms-documentdb-populatequotainfo") && c.value().items >= 0) {
      r.data.headers.emplace_back("x-ms-resource-usage",
                                  "functions=0;storedProcedures=0;triggers=0;documentsCount=" +
                                      std::to_string(c.value().items));
      r.data.headers.emplace_back("x-ms-resource-quota",
                                  "functions=25;storedProcedures=100;triggers=25;documentSize=10240;"
                                  "documentsSize=10485760;documentsCount=-1;collectionSize=10485760");
    }
    resource_body(r, 200, c.value().resource);
  } else if (req.method == "DELETE") {
    auto d = co_await call<void>([&](auto cb) { store.store().delete_container(ref, std::move(cb)); });
    if (!d) {
      fail(r, d.error(), log);
      co_return;
    }
    r.data.status = 204;
  } else if (req.method == "PUT") {
    // defaultTtl and indexingPolicy may change; the store refuses the rest, naming it.
    auto body = object_body(req.body, r);
    if (!body) co_return;
    auto spec = api::ContainerSpec::from_json(*body);
    if (spec && !check_computed(spec.value(), r)) co_return;
    if (!spec) {
      fail(r, spec.error(), log);
      co_return;
    }
    auto given = [&](const char* k) { return body->contains(k) && !body->at(k).is_null(); };
    bool has_pk = given("partitionKey"), has_uk = given("uniqueKeyPolicy");
    std::optional<std::string> if_match = if_match_of(req);
    auto c = co_await call<api::ContainerInfo>([&](auto cb) {
      store.store().replace_container(ref, std::move(spec.value()), has_pk, has_uk, std::move(if_match), std::move(cb));
    });
    if (!c) {
      fail(r, c.error(), log);
      co_return;
    }
    resource_body(r, 200, c.value().resource);
  } else {
    fail(r, 405, "MethodNotAllowed",
         req.method + " /dbs/{db}/colls/{coll} is not supported; use GET, PUT or DELETE.");
  }
}

bool CosmosService::Impl::partition_key(const api::HttpRequestData& req,
                                        std::optional<api::PartitionKey>& out, Reply& r) {
  std::string_view h = req.header("x-ms-documentdb-partitionkey");
  out.reset();
  if (h.empty()) return true;
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = 16;
  json::value v = json::parse(h, ec, {}, po);
  if (ec || !v.is_array()) {
    fail(r, 400, "BadRequest",
         "The partition key header x-ms-documentdb-partitionkey is \"" +
             std::string(h.substr(0, 200)) +
             "\", which is not a JSON array; send the value as an array, e.g. [\"value\"], "
             "[5], [null] or [{}] for an item without the key.");
    return false;
  }
  out = std::move(v.as_array());
  return true;
}

bool CosmosService::Impl::max_item_count(const api::HttpRequestData& req, int& out, Reply& r) {
  out = -1;
  std::string_view h = req.header("x-ms-max-item-count");
  if (h.empty()) return true;
  long v = 0;
  bool neg = false;
  size_t i = 0;
  if (h[0] == '-') {
    neg = true;
    i = 1;
  }
  bool ok = i < h.size() && h.size() < 12;
  for (; ok && i < h.size(); ++i) {
    if (h[i] < '0' || h[i] > '9') ok = false;
    else v = v * 10 + (h[i] - '0');
  }
  if (neg) v = -v;
  if (!ok || v < -1 || v > api::kMaxMaxItemCount) {
    fail(r, 400, "BadRequest",
         "The header x-ms-max-item-count is \"" + std::string(h.substr(0, 40)) +
             "\"; give -1 (the server's page size) or a number from 1 to " +
             std::to_string(api::kMaxMaxItemCount) + ".");
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

namespace {

// The item as the store wrote or read it: its stored JSON when the store handed it over, so a
// point read or a write answers without parsing or serializing the document again.
// Takes the text: the item is the last thing a handler answers with.
void item_body(Reply& r, int status, api::Item& item) {
  r.data.status = status;
  r.data.body = item.text.empty() ? json::serialize(item.document) : std::move(item.text);
}

void item_headers(Reply& r, const api::Item& item, const api::ContainerRef& ref) {
  r.data.headers.emplace_back("etag", item.etag);
  r.data.headers.emplace_back("x-ms-session-token", "0:-1#" + std::to_string(item.lsn));
  r.data.headers.emplace_back("lsn", std::to_string(item.lsn));
  // The session token's owner, as the service names it: the SDK keeps a token only for a
  // response that says which container (by path and by _rid) it belongs to.
  if (!item.container_rid.empty()) {
    r.data.headers.emplace_back("x-ms-alt-content-path", "dbs/" + ref.database + "/colls/" + ref.container);
    r.data.headers.emplace_back("x-ms-content-path", item.container_rid);
  }
}

}  // namespace

awaitable<void> CosmosService::Impl::docs_feed(api::HttpRequestData& req,
                                               const api::ContainerRef& ref, Reply& r) {
  if (req.method == "POST") {
    if (is_query_post(req)) {
      co_await query(req, ref, r);
      co_return;
    }
    if (header_true(req, "x-ms-cosmos-is-batch-request")) {
      co_await batch(req, ref, r);
      co_return;
    }
    std::optional<api::PartitionKey> pk;
    if (!partition_key(req, pk, r)) co_return;
    auto body = object_body(req.body, r);
    if (!body) co_return;
    bool upsert = header_true(req, "x-ms-documentdb-is-upsert");
    auto item = co_await call<api::Item>([&](auto cb) {
      if (upsert)
        store.store().upsert_item(ref, std::move(pk), std::move(*body), std::move(cb));
      else
        store.store().create_item(ref, std::move(pk), std::move(*body), std::move(cb));
    });
    if (!item) {
      fail(r, item.error(), log);
      co_return;
    }
    item_headers(r, item.value(), ref);
    item_body(r, upsert && !item.value().created ? 200 : 201, item.value());
    co_return;
  }
  if (req.method != "GET") {
    fail(r, 405, "MethodNotAllowed",
         req.method + " /dbs/{db}/colls/{coll}/docs is not supported; use POST (create, upsert, "
         "query) or GET (read feed, change feed).");
    co_return;
  }
  if (!req.header("a-im").empty()) {
    co_await change_feed(req, ref, r);
    co_return;
  }
  api::FeedOptions fo;
  if (!partition_key(req, fo.partition_key, r) || !max_item_count(req, fo.max_item_count, r))
    co_return;
  fo.continuation = std::string(req.header("x-ms-continuation"));
  auto page = co_await call<api::Page>(
      [&](auto cb) { store.store().read_feed(ref, std::move(fo), std::move(cb)); });
  if (!page) {
    fail(r, page.error(), log);
    co_return;
  }
  json::array docs;
  for (auto& v : page.value().items) docs.push_back(std::move(v));
  if (!page.value().continuation.empty())
    r.data.headers.emplace_back("x-ms-continuation", page.value().continuation);
  feed_body(r, "Documents", std::move(docs));
}

// The query of a POST with x-ms-documentdb-isquery: {"query": "...", "parameters": [{"name":
// "@x", "value": ...}]} (a bare JSON string is accepted as the query text too), parsed and
// bound; nullptr with r filled with the 400 when it is not one.
std::shared_ptr<const DocsqlQuery> CosmosService::Impl::parse_query(const api::HttpRequestData& req,
                                                                   Reply& r) {
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  std::string text;
  json::object params;
  if (!ec && v.is_string()) {
    text = std::string(v.as_string());
  } else if (!ec && v.is_object() && v.as_object().contains("query") &&
             v.as_object().at("query").is_string()) {
    text = std::string(v.as_object().at("query").as_string());
    if (auto* p = v.as_object().if_contains("parameters")) {
      if (!p->is_array() && !p->is_null()) {
        fail(r, 400, "BadRequest",
             "The query's \"parameters\" is not an array; send [{\"name\": \"@x\", \"value\": 1}].");
        return nullptr;
      }
      if (p->is_array()) {
        for (const auto& e : p->as_array()) {
          const json::object* o = e.if_object();
          const json::value* name = o ? o->if_contains("name") : nullptr;
          if (!name || !name->is_string() || name->as_string().empty() ||
              name->as_string()[0] != '@') {
            fail(r, 400, "BadRequest",
                 "A query parameter " + json::serialize(e).substr(0, 200) +
                     " has no \"name\" starting with '@'; send {\"name\": \"@x\", \"value\": ...}.");
            return nullptr;
          }
          const json::value* value = o->if_contains("value");
          // A parameter without a value is undefined in the query: left out of the object.
          if (value) params[name->as_string()] = *value;
        }
      }
    }
  } else {
    fail(r, 400, "BadRequest",
         "The query body is not {\"query\": \"SELECT ...\", \"parameters\": [...]}" +
             std::string(ec ? " (" + ec.message() + ")" : "") + "; send the query as JSON.");
    return nullptr;
  }
  auto q = DocsqlQuery::parse(text, std::move(params));
  if (!q) {
    fail(r, q.error(), log);
    return nullptr;
  }
  return std::move(q.value());
}

// Throughput offers (see api::OfferInfo): GET /offers lists, POST /offers queries (the SDK's
// readOffer asks `SELECT * FROM root WHERE root.resource = "<owner _self>"`), GET and PUT
// /offers/{id} read and replace one. Nimbus enforces no RU budget; the numbers are kept.
awaitable<void> CosmosService::Impl::offers(api::HttpRequestData& req,
                                            const std::vector<std::string>& s, Reply& r) {
  if (s.size() == 1) {
    if (req.method != "GET" && req.method != "POST") {
      fail(r, 405, "MethodNotAllowed", req.method + " /offers is not supported; read with GET or query with POST.");
      co_return;
    }
    co_await resource_list<api::OfferInfo>(
        req, "Offers", [&](auto cb) { store.store().list_offers(std::move(cb)); }, r);
    co_return;
  }
  const std::string& id = s[1];
  api::DocResult<api::OfferInfo> o = api::DocError{api::DocErrc::bad_request, ""};
  if (req.method == "GET") {
    o = co_await call<api::OfferInfo>([&](auto cb) { store.store().read_offer(id, std::move(cb)); });
  } else if (req.method == "PUT") {
    // The offer as read, with a new content.offerThroughput or
    // content.offerAutopilotSettings.maxThroughput; its id and _rid must be this one's.
    auto body = object_body(req.body, r);
    if (!body) co_return;
    for (const char* k : {"id", "_rid"}) {
      const json::value* v = body->if_contains(k);
      if (v && !(v->is_string() && v->as_string() == id)) {
        fail(r, 400, "BadRequest", std::string("The offer's ") + k + " " + json::serialize(*v).substr(0, 80) +
                                       " is not the offer replaced (" + id + "); send the offer as read, changing only its content.");
        co_return;
      }
    }
    const json::value* content = body->if_contains("content");
    const json::object* c = content ? content->if_object() : nullptr;
    api::Throughput t;
    const json::value* autopilot = c ? c->if_contains("offerAutopilotSettings") : nullptr;
    const json::value* max = autopilot && autopilot->is_object() ? autopilot->as_object().if_contains("maxThroughput") : nullptr;
    const json::value* manual = c ? c->if_contains("offerThroughput") : nullptr;
    if (max && max->is_int64()) t.autoscale_max = max->as_int64();
    else if (manual && manual->is_int64()) t.manual = manual->as_int64();
    else {
      fail(r, 400, "BadRequest", "The offer has no content.offerThroughput or content.offerAutopilotSettings.maxThroughput "
                                 "as a whole number; send the offer as read with one of them changed.");
      co_return;
    }
    std::optional<std::string> if_match = if_match_of(req);
    o = co_await call<api::OfferInfo>([&](auto cb) { store.store().replace_offer(id, t, if_match, std::move(cb)); });
  } else {
    fail(r, 405, "MethodNotAllowed", req.method + " /offers/{id} is not supported; use GET or PUT.");
    co_return;
  }
  if (!o) {
    fail(r, o.error(), log);
    co_return;
  }
  resource_body(r, 200, o.value().resource);
}

// Users (/dbs/{db}/users[/{id}]) and their permissions (.../permissions[/{id}]): POST creates
// (upserts with x-ms-documentdb-is-upsert), GET lists or reads, POST with isquery queries the
// list, PUT replaces (and may rename: the body's id), DELETE deletes. A permission is answered
// with its resource token (`_token`), valid for x-ms-documentdb-expiry-seconds (the SDK's
// resourceTokenExpirySeconds), one hour by default.
awaitable<void> CosmosService::Impl::users(api::HttpRequestData& req, const std::vector<std::string>& s, Reply& r) {
  const std::string& db = s[1];
  auto answer = [&](api::DocResult<api::AccessInfo>& u, int ok) {
    if (!u) return fail(r, u.error(), log);
    resource_body(r, u.value().created ? 201 : ok, u.value().resource);
  };
  if (s.size() == 3) {
    if (req.method == "POST" && !header_true(req, "x-ms-documentdb-isquery")) {
      auto body = object_body(req.body, r);
      if (!body) co_return;
      auto how = header_true(req, "x-ms-documentdb-is-upsert") ? api::AccessWrite::upsert : api::AccessWrite::create;
      auto u = co_await call<api::AccessInfo>([&](auto cb) {
        store.store().write_user(db, how, "", std::move(*body), if_match_of(req), std::move(cb));
      });
      answer(u, 200);
    } else if (req.method == "GET" || req.method == "POST") {
      co_await resource_list<api::AccessInfo>(req, "Users", [&](auto cb) { store.store().list_users(db, std::move(cb)); }, r);
    } else {
      fail(r, 405, "MethodNotAllowed", req.method + " /dbs/{db}/users is not supported; use GET or POST.");
    }
    co_return;
  }
  const std::string& id = s[3];
  if (req.method == "GET") {
    auto u = co_await call<api::AccessInfo>([&](auto cb) { store.store().read_user(db, id, std::move(cb)); });
    answer(u, 200);
  } else if (req.method == "PUT") {
    auto body = object_body(req.body, r);
    if (!body) co_return;
    auto u = co_await call<api::AccessInfo>([&](auto cb) {
      store.store().write_user(db, api::AccessWrite::replace, id, std::move(*body), if_match_of(req), std::move(cb));
    });
    answer(u, 200);
  } else if (req.method == "DELETE") {
    auto d = co_await call<void>([&](auto cb) { store.store().delete_user(db, id, std::move(cb)); });
    if (!d) fail(r, d.error(), log);
    else r.data.status = 204;
  } else {
    fail(r, 405, "MethodNotAllowed", req.method + " /dbs/{db}/users/{user} is not supported; use GET, PUT or DELETE.");
  }
}

std::optional<int64_t> CosmosService::Impl::token_seconds(const api::HttpRequestData& req, Reply& r) {
  std::string_view h = req.header("x-ms-documentdb-expiry-seconds");
  if (h.empty()) return kResourceTokenDefaultSeconds;
  int64_t v = 0;
  bool ok = h.size() <= 6;
  for (size_t i = 0; ok && i < h.size(); ++i) {
    ok = h[i] >= '0' && h[i] <= '9';
    v = v * 10 + (h[i] - '0');
  }
  if (ok && v >= 1 && v <= kResourceTokenMaxSeconds) return v;
  fail(r, 400, "BadRequest",
       "x-ms-documentdb-expiry-seconds is \"" + std::string(h.substr(0, 40)) + "\"; a resource token lives 1 to " +
           std::to_string(kResourceTokenMaxSeconds) + " seconds (default " + std::to_string(kResourceTokenDefaultSeconds) + ").");
  return std::nullopt;
}

awaitable<void> CosmosService::Impl::permissions(api::HttpRequestData& req, const std::vector<std::string>& s,
                                                 Reply& r) {
  const std::string &db = s[1], &user = s[3];
  auto seconds = token_seconds(req, r);
  if (!seconds) co_return;
  const int64_t expires = now_ms() / 1000 + *seconds;
  auto add_token = [&](api::AccessInfo& p) { p.resource["_token"] = resource_token(options.keys, p.permission, expires); };
  auto answer = [&](api::DocResult<api::AccessInfo>& p, int ok) {
    if (!p) return fail(r, p.error(), log);
    add_token(p.value());
    resource_body(r, p.value().created ? 201 : ok, p.value().resource);
  };
  if (s.size() == 5) {
    if (req.method == "POST" && !header_true(req, "x-ms-documentdb-isquery")) {
      auto body = object_body(req.body, r);
      if (!body) co_return;
      auto how = header_true(req, "x-ms-documentdb-is-upsert") ? api::AccessWrite::upsert : api::AccessWrite::create;
      auto p = co_await call<api::AccessInfo>([&](auto cb) {
        store.store().write_permission(db, user, how, "", std::move(*body), if_match_of(req), std::move(cb));
      });
      answer(p, 200);
    } else if (req.method == "GET" || req.method == "POST") {
      co_await resource_list<api::AccessInfo>(
          req, "Permissions", [&](auto cb) { store.store().list_permissions(db, user, std::move(cb)); }, r,
          add_token);
    } else {
      fail(r, 405, "MethodNotAllowed", req.method + " /dbs/{db}/users/{user}/permissions is not supported; use GET or POST.");
    }
    co_return;
  }
  const std::string& id = s[5];
  if (req.method == "GET") {
    auto p = co_await call<api::AccessInfo>([&](auto cb) { store.store().read_permission(db, user, id, std::move(cb)); });
    answer(p, 200);
  } else if (req.method == "PUT") {
    auto body = object_body(req.body, r);
    if (!body) co_return;
    auto p = co_await call<api::AccessInfo>([&](auto cb) {
      store.store().write_permission(db, user, api::AccessWrite::replace, id, std::move(*body), if_match_of(req),
                                     std::move(cb));
    });
    answer(p, 200);
  } else if (req.method == "DELETE") {
    auto d = co_await call<void>([&](auto cb) { store.store().delete_permission(db, user, id, std::move(cb)); });
    if (!d) fail(r, d.error(), log);
    else r.data.status = 204;
  } else {
    fail(r, 405, "MethodNotAllowed",
         req.method + " /dbs/{db}/users/{user}/permissions/{id} is not supported; use GET, PUT or DELETE.");
  }
}

awaitable<bool> CosmosService::Impl::granted(const api::HttpRequestData& req, const ResourceAddress& addr,
                                             int64_t permission, Reply& r) {
  auto g = co_await call<api::PermissionGrant>([&](auto cb) { store.store().read_grant(permission, std::move(cb)); });
  if (!g) {
    if (g.error().code == api::DocErrc::not_found)
      fail(r, 401, "Unauthorized",
           "The permission this resource token was issued for was deleted (or its user or database was); "
           "ask for a token of an existing permission.");
    else
      fail(r, g.error(), log);
    co_return false;
  }
  if (std::string refusal = grant_refusal(g.value(), req, addr); !refusal.empty()) {
    fail(r, 403, "Forbidden", refusal);
    co_return false;
  }
  co_return true;
}

// A query over databases or containers (POST /dbs or /dbs/{db}/colls with isquery): the SQL
// runs over their resources as it would over items (the usual existence check is
// `SELECT * FROM root r WHERE r.id = @id`). Few enough to answer in one page.
bool CosmosService::Impl::query_resources(const api::HttpRequestData& req, json::array& resources,
                                          Reply& r) {
  auto q = parse_query(req, r);
  if (!q) return false;
  size_t at = 0;
  auto rows = q->run([&]() -> const json::object* {
    while (at < resources.size()) {
      if (const json::object* o = resources[at++].if_object()) return o;
    }
    return nullptr;
  });
  if (!rows) {
    fail(r, rows.error(), log);
    return false;
  }
  json::array out;
  out.reserve(rows.value().size());
  for (auto& v : rows.value()) out.push_back(std::move(v));
  resources = std::move(out);
  return true;
}

awaitable<void> CosmosService::Impl::query(api::HttpRequestData& req, const api::ContainerRef& ref,
                                           Reply& r) {
  bool plan_request = iequals(req.header("x-ms-cosmos-is-query-plan-request"), "true");
  auto q = parse_query(req, r);
  if (!q) co_return;
  if (plan_request) {
    json_body(r, 200, docsql::query_plan(q->query(), q->params()));
    co_return;
  }
  api::FeedOptions fo;
  if (!partition_key(req, fo.partition_key, r) || !max_item_count(req, fo.max_item_count, r))
    co_return;
  fo.continuation = std::string(req.header("x-ms-continuation"));
  std::shared_ptr<const api::DocumentQuery> prepared = q;
  auto page = co_await call<api::Page>([&](auto cb) {
    store.store().query(ref, std::move(prepared), std::move(fo), std::move(cb));
  });
  if (!page) {
    fail(r, page.error(), log);
    co_return;
  }
  json::array docs;
  for (auto& d : page.value().items) docs.push_back(std::move(d));
  r.charge = 2.0 + static_cast<double>(docs.size()) * 0.1;
  if (header_true(req, "x-ms-documentdb-populatequerymetrics")) {
    // Only what the store measures; the SDK reads an absent key as 0. The index's share:
    // of the documents an index chose, those that came out (0 for a scan).
    const auto& st = page.value().stats;
    size_t out_bytes = 0;
    for (const auto& d : docs) out_bytes += json::serialize(d).size();
    double ratio = st.from_index && st.retrieved_documents > 0
                       ? std::min(1.0, static_cast<double>(docs.size()) / static_cast<double>(st.retrieved_documents))
                       : 0.0;
    char metrics[320];
    std::snprintf(metrics, sizeof metrics,
                  "totalExecutionTimeInMs=%.2f;retrievedDocumentCount=%lld;retrievedDocumentSize=%lld;"
                  "outputDocumentCount=%zu;outputDocumentSize=%zu;indexUtilizationRatio=%.2f",
                  st.execution_ms, static_cast<long long>(st.retrieved_documents),
                  static_cast<long long>(st.retrieved_bytes), docs.size(), out_bytes, ratio);
    r.data.headers.emplace_back("x-ms-documentdb-query-metrics", metrics);
  }
  if (!page.value().continuation.empty())
    r.data.headers.emplace_back("x-ms-continuation", page.value().continuation);
  feed_body(r, "Documents", std::move(docs));
}

awaitable<void> CosmosService::Impl::change_feed(api::HttpRequestData& req,
                                                 const api::ContainerRef& ref, Reply& r) {
  std::string_view aim = req.header("a-im");
  api::ChangeFeedOptions co;
  // LatestVersion, or AllVersionsAndDeletes (its wire format version header is not checked:
  // 2021-09-15, the only one the SDKs send, is the shape served).
  co.all_versions = iequals(aim, "Full-Fidelity Feed");
  if (!co.all_versions && !iequals(aim, "Incremental feed")) {
    fail(r, 400, "BadRequest",
         "A-IM \"" + std::string(aim.substr(0, 60)) +
             "\" is not supported; send \"Incremental feed\" (the LatestVersion change feed) or "
             "\"Full-Fidelity Feed\" (AllVersionsAndDeletes, for containers with a changeFeedPolicy).");
    co_return;
  }
  if (!partition_key(req, co.partition_key, r) || !max_item_count(req, co.max_item_count, r))
    co_return;
  std::string_view inm = req.header("if-none-match");
  std::string_view ims = req.header("if-modified-since");
  if (!inm.empty()) {
    if (inm == "*") {
      co.start.kind = api::ChangeFeedStart::Kind::now;
    } else {
      std::string t = unquoted(inm);
      int64_t lsn = 0;
      bool ok = !t.empty() && t.size() < 19;
      for (char c : t) {
        if (c < '0' || c > '9') ok = false;
        else lsn = lsn * 10 + (c - '0');
      }
      if (!ok) {
        fail(r, 400, "BadRequest",
             "The change feed continuation (If-None-Match) \"" + std::string(inm.substr(0, 60)) +
                 "\" is not one this endpoint issued; send the etag of an earlier change feed "
                 "response, \"*\" for changes from now, or none to start from the beginning.");
        co_return;
      }
      co.start.kind = api::ChangeFeedStart::Kind::lsn;
      co.start.lsn = lsn;
    }
  } else if (!ims.empty()) {
    auto t = parse_rfc1123(ims);
    if (!t) {
      fail(r, 400, "BadRequest",
           "If-Modified-Since \"" + std::string(ims.substr(0, 60)) +
               "\" is not an RFC 1123 date; send e.g. \"" + rfc1123(now_ms()) + "\".");
      co_return;
    }
    co.start.kind = api::ChangeFeedStart::Kind::time;
    co.start.time_ms = *t;
  }
  auto page = co_await call<api::ChangeFeedPage>(
      [&](auto cb) { store.store().read_change_feed(ref, std::move(co), std::move(cb)); });
  if (!page) {
    fail(r, page.error(), log);
    co_return;
  }
  auto& p = page.value();
  r.data.headers.emplace_back("etag", quoted(std::to_string(p.continuation_lsn)));
  r.data.headers.emplace_back("x-ms-session-token", "0:-1#" + std::to_string(p.continuation_lsn));
  r.data.headers.emplace_back("lsn", std::to_string(p.continuation_lsn));
  if (p.not_modified) {
    r.data.status = 304;
    r.data.headers.emplace_back("x-ms-item-count", "0");
    co_return;
  }
  json::array docs;
  for (auto& d : p.items) docs.push_back(std::move(d));
  feed_body(r, "Documents", std::move(docs));
}

awaitable<void> CosmosService::Impl::doc(api::HttpRequestData& req, const api::ContainerRef& ref,
                                         const std::string& id, Reply& r) {
  std::optional<api::PartitionKey> pk;
  if (!partition_key(req, pk, r)) co_return;
  std::optional<std::string> if_match = if_match_of(req);
  if (req.method == "GET" || req.method == "DELETE") {
    // Reads and deletes address one logical partition; without the header the service
    // answers 400 too.
    if (!pk) {
      fail(r, 400, "BadRequest",
           "The partition key header x-ms-documentdb-partitionkey is missing; point reads and "
           "deletes name the item's partition key value, e.g. [\"value\"].");
      co_return;
    }
  }
  if (req.method == "GET") {
    auto item = co_await call<api::Item>(
        [&](auto cb) { store.store().read_item(ref, id, std::move(*pk), api::ItemForm::text, std::move(cb)); });
    if (!item) {
      fail(r, item.error(), log);
      co_return;
    }
    std::string_view inm = req.header("if-none-match");
    if (!inm.empty() && (inm == item.value().etag || inm == "*")) {
      item_headers(r, item.value(), ref);
      r.data.status = 304;
      co_return;
    }
    item_headers(r, item.value(), ref);
    item_body(r, 200, item.value());
  } else if (req.method == "PUT") {
    auto body = object_body(req.body, r);
    if (!body) co_return;
    auto item = co_await call<api::Item>([&](auto cb) {
      store.store().replace_item(ref, id, std::move(pk), std::move(*body), std::move(if_match),
                                 std::move(cb));
    });
    if (!item) {
      fail(r, item.error(), log);
      co_return;
    }
    item_headers(r, item.value(), ref);
    item_body(r, 200, item.value());
  } else if (req.method == "DELETE") {
    auto d = co_await call<void>([&](auto cb) {
      store.store().delete_item(ref, id, std::move(*pk), std::move(if_match), std::move(cb));
    });
    if (!d) {
      fail(r, d.error(), log);
      co_return;
    }
    r.data.status = 204;
  } else if (req.method == "PATCH") {
    if (!pk) {
      fail(r, 400, "BadRequest",
           "The partition key header x-ms-documentdb-partitionkey is missing; a patch names the "
           "item's partition key value, e.g. [\"value\"].");
      co_return;
    }
    boost::system::error_code ec;
    json::parse_options po;
    po.max_depth = api::kMaxItemDepth + 4;
    json::value v = req.body.empty() ? json::value() : json::parse(req.body, ec, {}, po);
    if (req.body.empty() || ec) {
      fail(r, 400, "BadRequest",
           "The PATCH body is " + (ec ? "not valid JSON (" + ec.message() + ")" : std::string("empty")) +
               "; send {\"operations\": [{\"op\": \"set\", \"path\": \"/x\", \"value\": 1}], "
               "\"condition\": \"FROM c WHERE ...\"} (condition optional).");
      co_return;
    }
    api::PatchSpec spec;
    std::string error;
    if (!parse_patch(v, "The PATCH body", spec, error)) {
      fail(r, 400, "BadRequest", error);
      co_return;
    }
    auto item = co_await call<api::Item>([&](auto cb) {
      store.store().patch_item(ref, id, std::move(*pk), std::move(spec), std::move(if_match),
                               std::move(cb));
    });
    if (!item) {
      fail(r, item.error(), log);
      co_return;
    }
    item_headers(r, item.value(), ref);
    item_body(r, 200, item.value());
  } else {
    fail(r, 405, "MethodNotAllowed",
         req.method + " on an item is not supported; use GET, PUT, PATCH or DELETE.");
  }
}


// Transactional batch (x-ms-cosmos-batch-atomic: True, one logical partition named by
// x-ms-documentdb-partitionkey) and bulk (atomic absent or false: `container.items.bulk()` and
// `executeBulkOperations` send each operation's own "partitionKey"). The body is the SDK's
// operations array: {operationType, id?, partitionKey? (a JSON string, e.g. "[\"a\"]"),
// resourceBody?, ifMatch?, ifNoneMatch?}. The answer is the array of per-operation results
// {statusCode, requestCharge, eTag?, resourceBody?} (the SDK's OperationResponse), with 200
// when every operation succeeded and 207 Multi-Status otherwise: a failed transactional batch
// carries the failing operation's status and 424 for all others (the SDK's BulkResponse reads
// the first non-424 failure of a 207).
awaitable<void> CosmosService::Impl::batch(api::HttpRequestData& req, const api::ContainerRef& ref,
                                           Reply& r) {
  api::BatchOptions bo;
  bo.atomic = header_true(req, "x-ms-cosmos-batch-atomic");
  std::string_view coe = req.header("x-ms-cosmos-batch-continue-on-error");
  bo.continue_on_error = coe.empty() || iequals(coe, "true");
  // A batch or bulk request carries at most 2 MB in all, as the service's does: a larger one is
  // refused whole (the SDK then fails each of its operations with this answer, as its bulk
  // tests expect), rather than each item being judged on its own.
  if (req.body.size() > api::kMaxItemBytes) {
    fail(r, 413, "RequestEntityTooLarge",
         std::string(api::kTooLargeLead) + "The batch request body is " +
             std::to_string(req.body.size()) + " bytes; a batch or bulk request carries at most " +
             std::to_string(api::kMaxItemBytes) + " bytes. Send fewer or smaller operations per request.");
    co_return;
  }
  std::optional<api::PartitionKey> pk;
  if (!partition_key(req, pk, r)) co_return;
  if (bo.atomic && !pk) {
    fail(r, 400, "BadRequest",
         "A transactional batch (x-ms-cosmos-batch-atomic: True) names its logical partition in "
         "x-ms-documentdb-partitionkey, e.g. [\"value\"]; every operation runs in it.");
    co_return;
  }
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = api::kMaxItemDepth + 4;
  json::value v = req.body.empty() ? json::value() : json::parse(req.body, ec, {}, po);
  if (req.body.empty() || ec || !v.is_array()) {
    fail(r, 400, "BadRequest",
         "The batch body is " + std::string(req.body.empty() ? "empty" : ec ? "not valid JSON (" + ec.message() + ")" : "not a JSON array") +
             "; send an array of operations, e.g. [{\"operationType\": \"Create\", "
             "\"resourceBody\": {\"id\": \"a\", ...}}].");
    co_return;
  }
  auto& arr = v.as_array();
  if (arr.empty() || arr.size() > api::kMaxBatchOperations) {
    fail(r, 400, "BadRequest",
         "The batch has " + std::to_string(arr.size()) +
             " operations; one request holds 1 to 100, so split it.");
    co_return;
  }
  using Type = api::BatchOperation::Type;
  std::vector<api::BatchOperation> ops;
  ops.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string at = "Batch operation " + std::to_string(i);
    auto bad_op = [&](const std::string& m) { fail(r, 400, "BadRequest", at + " " + m); };
    json::object* o = arr[i].if_object();
    json::value* t = o ? o->if_contains("operationType") : nullptr;
    if (!t || !t->is_string()) {
      bad_op("has no \"operationType\"; give Create, Upsert, Read, Replace, Delete or Patch.");
      co_return;
    }
    api::BatchOperation op;
    std::string_view tn = t->as_string();
    if (iequals(tn, "Create")) op.type = Type::create;
    else if (iequals(tn, "Upsert")) op.type = Type::upsert;
    else if (iequals(tn, "Read")) op.type = Type::read;
    else if (iequals(tn, "Replace")) op.type = Type::replace;
    else if (iequals(tn, "Delete")) op.type = Type::remove;
    else if (iequals(tn, "Patch")) op.type = Type::patch;
    else {
      bad_op("has operationType \"" + std::string(tn.substr(0, 40)) +
             "\"; use Create, Upsert, Read, Replace, Delete or Patch.");
      co_return;
    }
    if (json::value* id = o->if_contains("id"); id && !id->is_null()) {
      if (!id->is_string()) {
        bad_op("has an \"id\" that is not a string.");
        co_return;
      }
      op.id = std::string(id->as_string());
    }
    if (json::value* p = o->if_contains("partitionKey"); p && !p->is_null()) {
      // The SDK sends the key as a JSON string holding the array ("[\"a\"]").
      json::value parsed;
      if (p->is_string()) {
        boost::system::error_code pec;
        parsed = json::parse(p->as_string(), pec);
        if (pec) parsed = json::value();
      } else {
        parsed = *p;
      }
      if (!parsed.is_array()) {
        bad_op("has a \"partitionKey\" that is not a JSON array (or a string holding one), e.g. \"[\\\"value\\\"]\".");
        co_return;
      }
      op.partition_key = std::move(parsed.as_array());
    }
    for (const char* h : {"ifMatch", "ifNoneMatch"})
      if (json::value* e = o->if_contains(h); e && !e->is_null()) {
        if (!e->is_string()) {
          bad_op("has an \"" + std::string(h) + "\" that is not a string; give the item's _etag.");
          co_return;
        }
        (std::string_view(h) == "ifMatch" ? op.if_match : op.if_none_match) = std::string(e->as_string());
      }
    json::value* body = o->if_contains("resourceBody");
    if (op.type == Type::create || op.type == Type::upsert || op.type == Type::replace) {
      if (!body || !body->is_object()) {
        bad_op("(" + std::string(tn) + ") has no \"resourceBody\" object; send the item.");
        co_return;
      }
      op.body = std::move(body->as_object());
      if (op.type == Type::replace && op.id.empty())
        if (auto* bid = op.body.if_contains("id"); bid && bid->is_string()) op.id = std::string(bid->as_string());
    } else if (op.type == Type::patch) {
      std::string error;
      if (!body || !parse_patch(*body, at + "'s resourceBody", op.patch, error)) {
        fail(r, 400, "BadRequest", body ? error : at + " (Patch) has no \"resourceBody\"; send {\"operations\": [...]}.");
        co_return;
      }
    }
    if (op.type != Type::create && op.type != Type::upsert && op.id.empty()) {
      bad_op("(" + std::string(tn) + ") has no \"id\"; name the item.");
      co_return;
    }
    ops.push_back(std::move(op));
  }
  std::vector<Type> types;
  for (auto& op : ops) types.push_back(op.type);
  auto results = co_await call<std::vector<api::BatchOperationResult>>([&](auto cb) {
    store.store().execute_batch(ref, std::move(pk), std::move(ops), bo, std::move(cb));
  });
  if (!results) {
    fail(r, results.error(), log);
    co_return;
  }
  bool minimal = req.header("prefer").find("return=minimal") != std::string_view::npos;
  json::array out;
  bool all_ok = true;
  int64_t last_lsn = 0;
  for (size_t i = 0; i < results.value().size(); ++i) {
    auto& res = results.value()[i];
    json::object e;
    e["statusCode"] = res.status;
    e["requestCharge"] = res.status < 400 ? 1.0 : 0.0;
    if (res.item) {
      e["eTag"] = res.item->etag;
      last_lsn = std::max(last_lsn, res.item->lsn);
      // Prefer: return=minimal (contentResponseOnWriteEnabled: false) drops written bodies;
      // a read still answers its item.
      if (!minimal || types[i] == Type::read) e["resourceBody"] = std::move(res.item->document);
    }
    if (res.error) {
      e["subStatusCode"] = 0;
      e["message"] = res.error->code == api::DocErrc::storage_failure
                         ? "The server encountered an internal error; retry the request."
                         : res.error->message;
    }
    if (res.status >= 400) all_ok = false;
    out.push_back(std::move(e));
  }
  r.charge = static_cast<double>(out.size());
  if (last_lsn > 0)
    r.data.headers.emplace_back("x-ms-session-token", "0:-1#" + std::to_string(last_lsn));
  json_body(r, all_ok ? 200 : 207, out);
}

}  // namespace nimbus::documents
