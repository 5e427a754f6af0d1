#include "durable/management_api.h"

#include "runtime/store_call.h"

#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "api/durable_events.h"
#include "common/ids.h"
#include "http/http_server.h"
#include "http/route_template.h"
#include "triggers/http_trigger.h"

namespace nimbus::durable {

namespace asio = boost::asio;
namespace json = boost::json;
namespace ev = api::durable_events;
using asio::awaitable;

namespace {

// `body` is JSON text already.
api::HttpResponseData json_answer(int status, std::string body) {
  api::HttpResponseData r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  r.body = std::move(body);
  return r;
}
api::HttpResponseData json_answer(int status, const json::value& body) {
  return json_answer(status, json::serialize(body));
}

api::HttpResponseData error(int status, std::string_view code, std::string message) {
  return http::json_error(status, code, message);
}

// Payloads are JSON text; an unreadable one (never expected) is shown as a string.
json::value payload(const std::string& text) {
  if (text.empty()) return nullptr;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(text) : v;
}

bool flag(const api::HttpRequestData& req, const char* name) {
  auto it = req.query.find(name);
  return it != req.query.end() && (it->second == "true" || it->second == "True" || it->second == "1");
}

std::string query_value(const api::HttpRequestData& req, const char* name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

std::string base_url(const api::HttpRequestData& req) {
  return "http://" + (req.host.empty() ? std::string("127.0.0.1") : req.host);
}

std::string pascal(std::string_view kind) {
  std::string s(kind);
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// A history event as Azure's showHistory lists it (EventType, Timestamp, FunctionName, ...).
json::object history_entry(const std::string& stored, bool with_output) {
  json::object out;
  boost::system::error_code ec;
  auto v = json::parse(stored, ec);
  if (ec || !v.is_object()) return out;
  const auto& o = v.as_object();
  auto s = [&](const char* k) -> std::string {
    auto* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  auto n = [&](const char* k) -> int64_t {
    auto* x = o.if_contains(k);
    return x && x->is_int64() ? x->as_int64() : 0;
  };
  std::string kind = s("kind");
  out["EventType"] = pascal(kind);
  if (int64_t id = n("eventId"); o.if_contains("eventId") && id >= 0) out["EventId"] = id;
  out["Timestamp"] = iso8601_ms(n("ts"));
  if (!s("name").empty()) out["FunctionName"] = s("name");
  if (auto* t = o.if_contains("taskScheduledId"); t && t->is_int64())
    out["TaskScheduledId"] = t->as_int64();
  if (n("fireAt")) out["FireAt"] = iso8601_ms(n("fireAt"));
  if (!s("instanceId").empty() && kind != "executionStarted") out["InstanceId"] = s("instanceId");
  if (kind == "executionCompleted")
    out["OrchestrationStatus"] =
        api::runtime_status_name(static_cast<api::RuntimeStatus>(n("status")));
  if (with_output) {
    if (!s("input").empty()) out["Input"] = payload(s("input"));
    if (!s("result").empty()) out["Result"] = payload(s("result"));
  }
  if (auto* f = o.if_contains("failure"); f && f->is_object()) {
    out["Reason"] = f->as_object().if_contains("errorType") ? f->as_object().at("errorType")
                                                            : json::value(nullptr);
    out["Details"] = f->as_object().if_contains("errorMessage")
                         ? f->as_object().at("errorMessage")
                         : json::value(nullptr);
  }
  return out;
}

json::object instance_json(const api::InstanceState& s, bool show_input) {
  json::object o{{"name", s.name},
                 {"instanceId", s.id},
                 {"runtimeStatus", api::runtime_status_name(s.status)},
                 {"customStatus", payload(s.custom_status)},
                 {"output", payload(s.output)},
                 {"createdTime", iso8601_ms(s.created)},
                 {"lastUpdatedTime", iso8601_ms(s.updated)}};
  if (show_input) o["input"] = payload(s.input);
  if (s.status == api::RuntimeStatus::failed && !s.failure.empty()) {
    // Azure puts the failure's message in output for a failed orchestration.
    auto f = payload(s.failure);
    if (f.is_object() && f.as_object().if_contains("errorMessage"))
      o["output"] = f.as_object().at("errorMessage");
  }
  return o;
}

std::optional<int64_t> time_param(const api::HttpRequestData& req, const char* name,
                                  std::string& bad) {
  auto v = query_value(req, name);
  if (v.empty()) return 0;
  auto t = parse_iso8601_ms(v);
  if (!t) bad = std::string(name) + "=" + v + " is not an ISO 8601 time; use e.g. 2026-11-29T00:00:00Z";
  return t;
}

// runtimeStatus=Running,Completed -> statuses; false with `bad` naming the unknown one.
bool statuses(const api::HttpRequestData& req, std::vector<api::RuntimeStatus>& out,
              std::string& bad) {
  std::string v = query_value(req, "runtimeStatus");
  size_t pos = 0;
  while (pos <= v.size() && !v.empty()) {
    size_t comma = v.find(',', pos);
    std::string one = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!one.empty()) {
      auto s = api::parse_runtime_status(one);
      if (!s) {
        bad = "runtimeStatus '" + one +
              "' is not a status; use Pending, Running, Completed, Failed, Terminated, "
              "Suspended or Canceled";
        return false;
      }
      out.push_back(*s);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return true;
}

// The filters list and bulk purge share: createdTimeFrom/To and runtimeStatus. "" or what is
// wrong with them.
std::string read_filter(const api::HttpRequestData& req, api::InstanceQuery& q) {
  std::string bad;
  auto from = time_param(req, "createdTimeFrom", bad);
  auto to = time_param(req, "createdTimeTo", bad);
  if (!bad.empty() || !statuses(req, q.statuses, bad)) return bad;
  q.created_from = *from;
  q.created_to = *to;
  return {};
}

}  // namespace

std::string ManagementApi::code() const { return keys_ ? keys_->master_key() : std::string(); }

std::string ManagementApi::management_urls(std::string_view base, std::string_view code,
                                           std::string_view id) {
  std::string inst = std::string(base) + std::string(kWebhookBase) + "/instances/" + std::string(id);
  std::string q = code.empty() ? "" : "code=" + std::string(code);
  auto with = [&](std::string url, std::string extra) {
    std::string params = extra;
    if (!q.empty()) params += (params.empty() ? "" : "&") + q;
    return params.empty() ? url : url + "?" + params;
  };
  json::object o{{"id", id},
                 {"statusQueryGetUri", with(inst, "")},
                 {"sendEventPostUri", with(inst + "/raiseEvent/{eventName}", "")},
                 {"terminatePostUri", with(inst + "/terminate", "reason={text}")},
                 {"purgeHistoryDeleteUri", with(inst, "")},
                 {"rewindPostUri", with(inst + "/rewind", "reason={text}")},
                 {"restartPostUri", with(inst + "/restart", "")},
                 {"suspendPostUri", with(inst + "/suspend", "reason={text}")},
                 {"resumePostUri", with(inst + "/resume", "reason={text}")}};
  return json::serialize(o);
}

std::string ManagementApi::client_payload(std::string_view base, std::string_view code,
                                          std::string_view hub) {
  std::string b = std::string(base) + std::string(kWebhookBase);
  std::string q = code.empty() ? "" : "code=" + std::string(code);
  auto urls = json::parse(management_urls(base, code, "INSTANCEID")).as_object();
  json::object o{
      {"taskHubName", hub},
      {"creationUrls",
       json::object{{"createNewInstancePostUri",
                     b + "/orchestrators/{functionName}[/{instanceId}]" + (q.empty() ? "" : "?" + q)},
                    {"createAndWaitOnNewInstancePostUri",
                     b + "/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}"
                         "&pollingInterval={intervalInSeconds}" +
                         (q.empty() ? "" : "&" + q)}}},
      {"managementUrls", std::move(urls)},
      {"baseUrl", b},
      {"requiredQueryStringParameters", q},
      {"rpcBaseUrl", nullptr}};
  return json::serialize(o);
}

std::optional<api::HttpResponseData> ManagementApi::admit(const api::HttpRequestData& req) const {
  if (!keys_) return std::nullopt;
  std::string code = query_value(req, "code");
  if (keys_->authorize(api::AuthLevel::admin, code) ||
      keys_->authorize(api::AuthLevel::admin, triggers::presented_key(req)))
    return std::nullopt;
  return error(401, "Unauthorized",
               "the durable management API needs the master key as ?code= or in "
               "x-functions-key (see `nimbus keys list`)");
}

awaitable<api::HttpResponseData> ManagementApi::handle(api::HttpRequestData& req) {
  if (auto refused = admit(req)) co_return std::move(*refused);
  std::vector<std::string> seg;
  if (!http::split_path(std::string_view(req.path).substr(kWebhookBase.size()), seg))
    co_return error(400, "BadRequest", "the path holds a malformed percent escape");
  const std::string& m = req.method;
  auto body_json = [&](std::string& input, std::string& bad) {
    if (req.body.empty()) {
      input = "null";
      return true;
    }
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec) {
      bad = "the request body is not JSON (" + ec.message() +
            "); send the input as JSON, e.g. {\"n\": 10} or \"text\"";
      return false;
    }
    input = json::serialize(v);
    return true;
  };

  if (!seg.empty() && seg[0] == "orchestrators" && (seg.size() == 2 || seg.size() == 3)) {
    if (m != "POST") co_return error(405, "MethodNotAllowed", "start an orchestration with POST");
    std::string input, bad;
    if (!body_json(input, bad)) co_return error(400, "BadRequest", bad);
    // Arguments as named locals: GCC 12 mishandles temporaries made by ?: inside co_await.
    std::string name = seg[1];
    std::string instance = seg.size() == 3 ? seg[2] : std::string();
    auto r = co_await engine_.start_new(std::move(name), std::move(instance), std::move(input));
    if (r.status != 202) co_return error(r.status, r.status == 409 ? "Conflict" : "BadRequest", r.message);
    auto res = json_answer(202, management_urls(base_url(req), code(), r.instance_id));
    std::string loc = base_url(req) + std::string(kWebhookBase) + "/instances/" + r.instance_id;
    if (!code().empty()) loc += "?code=" + code();
    res.headers.emplace_back("Location", loc);
    res.headers.emplace_back("Retry-After", "10");
    co_return res;
  }
  if (!seg.empty() && seg[0] == "instances") {
    if (seg.size() == 1) {
      if (m == "GET") co_return co_await list(req);
      if (m == "DELETE") co_return co_await purge(req, "");
      co_return error(405, "MethodNotAllowed", "use GET to list instances or DELETE to purge");
    }
    const std::string& id = seg[1];
    if (seg.size() == 2) {
      if (m == "GET") co_return co_await status(req, id);
      if (m == "DELETE") co_return co_await purge(req, id);
      co_return error(405, "MethodNotAllowed", "use GET for the status or DELETE to purge");
    }
    if (m != "POST")
      co_return error(405, "MethodNotAllowed", req.method + " is not allowed on " + req.path);
    OpResult r;
    const std::string& op = seg[2];
    std::string reason = query_value(req, "reason");
    if (op == "raiseEvent" && seg.size() == 4) {
      std::string data, bad;
      if (!body_json(data, bad)) co_return error(400, "BadRequest", bad);
      r = co_await engine_.raise_event(id, seg[3], data);
    } else if (seg.size() != 3) {
      co_return error(404, "NotFound", "no durable endpoint at " + req.path);
    } else if (op == "terminate") {
      r = co_await engine_.terminate(id, reason);
    } else if (op == "suspend") {
      r = co_await engine_.suspend(id, reason);
    } else if (op == "resume") {
      r = co_await engine_.resume(id, reason);
    } else if (op == "restart") {
      std::string v = query_value(req, "restartWithNewInstanceId");
      bool new_id = v.empty() || v == "true" || v == "True";
      r = co_await engine_.restart(id, new_id);
      if (r.status == 202) {
        auto res = json_answer(202, management_urls(base_url(req), code(), r.instance_id));
        res.headers.emplace_back("Location", base_url(req) + std::string(kWebhookBase) +
                                                 "/instances/" + r.instance_id);
        co_return res;
      }
    } else if (op == "rewind") {
      co_return error(501, "NotImplemented",
                      "rewind is not built in Nimbus yet; restart the instance instead "
                      "(POST .../restart)");
    } else {
      co_return error(404, "NotFound", "no durable endpoint at " + req.path);
    }
    if (r.status == 202) {
      api::HttpResponseData res;
      res.status = 202;
      co_return res;
    }
    const char* c = r.status == 404 ? "NotFound" : r.status == 410 ? "Gone"
                    : r.status == 409 ? "Conflict" : r.status == 400 ? "BadRequest"
                                                                      : "ServiceUnavailable";
    co_return error(r.status, c, r.message);
  }
  co_return error(404, "NotFound",
                  "no durable endpoint at " + req.path +
                      "; see /runtime/webhooks/durabletask/orchestrators/{name} and "
                      "/runtime/webhooks/durabletask/instances/{id}");
}

awaitable<api::HttpResponseData> ManagementApi::status(const api::HttpRequestData& req,
                                                       const std::string& id) {
  auto ex = co_await asio::this_coro::executor;
  auto& store = engine_.store();
  auto inst = co_await runtime::store_call<api::InstanceState>(ex,
      [&](auto cb) { store.get_instance(id, std::move(cb)); });
  if (!inst) {
    if (inst.error().code == api::QueueErrc::queue_not_found)
      co_return error(404, "NotFound", inst.error().message);
    co_return error(503, "ServiceUnavailable", inst.error().message);
  }
  const auto& s = inst.value();
  std::string show_input = query_value(req, "showInput");
  json::object o = instance_json(s, show_input != "false" && show_input != "False");
  if (flag(req, "showHistory")) {
    auto h = co_await runtime::store_call<std::vector<std::string>>(ex,
        [&](auto cb) { store.get_history(id, std::move(cb)); });
    json::array events;
    if (h)
      for (const auto& e : h.value()) events.push_back(history_entry(e, flag(req, "showHistoryOutput")));
    o["historyEvents"] = std::move(events);
  }
  int code = 200;
  switch (s.status) {
    case api::RuntimeStatus::completed: code = 200; break;
    case api::RuntimeStatus::failed:
      code = flag(req, "returnInternalServerErrorOnFailure") ? 500 : 400;
      break;
    case api::RuntimeStatus::terminated:
    case api::RuntimeStatus::canceled: code = 400; break;
    default: code = 202; break;
  }
  auto res = json_answer(code, o);
  if (code == 202) {
    res.headers.emplace_back("Location", base_url(req) + req.target);
    res.headers.emplace_back("Retry-After", "10");
  }
  co_return res;
}

awaitable<api::HttpResponseData> ManagementApi::list(const api::HttpRequestData& req) {
  auto ex = co_await asio::this_coro::executor;
  api::InstanceQuery q;
  if (std::string bad = read_filter(req, q); !bad.empty()) co_return error(400, "BadRequest", bad);
  q.id_prefix = query_value(req, "instanceIdPrefix");
  if (auto t = query_value(req, "top"); !t.empty()) {
    char* end = nullptr;
    long v = std::strtol(t.c_str(), &end, 10);
    if (*end || v < 1 || v > 1000)
      co_return error(400, "BadRequest", "top=" + t + " must be a whole number from 1 to 1000");
    q.top = static_cast<int>(v);
  }
  q.after = std::string(req.header("x-ms-continuation-token"));
  auto& store = engine_.store();
  auto page = co_await runtime::store_call<api::InstancePage>(ex,
      [&](auto cb) { store.list_instances(q, std::move(cb)); });
  if (!page) co_return error(503, "ServiceUnavailable", page.error().message);
  json::array out;
  bool show_input = flag(req, "showInput");
  for (const auto& s : page.value().instances) out.push_back(instance_json(s, show_input));
  auto res = json_answer(200, out);
  if (!page.value().continuation.empty())
    res.headers.emplace_back("x-ms-continuation-token", page.value().continuation);
  co_return res;
}

awaitable<api::HttpResponseData> ManagementApi::purge(const api::HttpRequestData& req,
                                                      const std::string& id) {
  auto ex = co_await asio::this_coro::executor;
  auto& store = engine_.store();
  int64_t deleted = 0;
  if (!id.empty()) {
    auto inst = co_await runtime::store_call<api::InstanceState>(ex,
        [&](auto cb) { store.get_instance(id, std::move(cb)); });
    if (!inst) co_return error(404, "NotFound", inst.error().message);
    if (!api::is_terminal(inst.value().status))
      co_return error(404, "NotFound",
                      "orchestration instance '" + id + "' is " +
                          api::runtime_status_name(inst.value().status) +
                          "; only finished instances are purged (terminate it first)");
    auto n = co_await runtime::store_call<int64_t>(ex,
        [&](auto cb) { store.purge({id}, std::move(cb)); });
    if (!n) co_return error(503, "ServiceUnavailable", n.error().message);
    deleted = n.value();
  } else {
    api::InstanceQuery q;
    if (std::string bad = read_filter(req, q); !bad.empty()) co_return error(400, "BadRequest", bad);
    // Bounded batches, repeated until one deletes nothing.
    for (int i = 0; i < 100000; ++i) {
      auto n = co_await runtime::store_call<int64_t>(ex,
          [&](auto cb) { store.purge_matching(q, std::move(cb)); });
      if (!n) co_return error(503, "ServiceUnavailable", n.error().message);
      deleted += n.value();
      if (n.value() == 0) break;
    }
  }
  if (deleted == 0) co_return error(404, "NotFound", "no finished instance matched");
  co_return json_answer(200, json::object{{"instancesDeleted", deleted}});
}

}  // namespace nimbus::durable
