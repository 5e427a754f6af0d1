#include "workers/native_protocol.h"

#include "api/durable_events.h"

#include <boost/json.hpp>
#include <cstring>

namespace json = boost::json;

namespace nimbus::workers {

namespace {
void put_u32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out.append(b, 4);
}
uint32_t get_u32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
const char* auth_name(AuthLevel a) {
  switch (a) {
    case AuthLevel::anonymous: return "anonymous";
    case AuthLevel::function: return "function";
    case AuthLevel::admin: return "admin";
  }
  return "function";
}
json::array headers_json(const Headers& h) {
  json::array a;
  a.reserve(h.size());
  for (const auto& [k, v] : h) a.push_back(json::array{json::string(k), json::string(v)});
  return a;
}
json::array logs_json(const Context& ctx) {
  json::array a;
  for (const auto& l : ctx.logs()) a.emplace_back(l);
  return a;
}
std::string str(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::map<std::string, std::string> str_map(const json::object& o, std::string_view key) {
  std::map<std::string, std::string> m;
  if (auto* v = o.if_contains(key); v && v->is_object())
    for (const auto& kv : v->as_object())
      if (kv.value().is_string()) m[std::string(kv.key())] = std::string(kv.value().as_string());
  return m;
}
}  // namespace

void encode_frame(const json::object& header, std::string_view body, std::string& out) {
  std::string h = json::serialize(header);
  put_u32(out, static_cast<uint32_t>(h.size()));
  put_u32(out, static_cast<uint32_t>(body.size()));
  out += h;
  out.append(body.data(), body.size());
}

bool decode_prefix(const unsigned char* p, uint32_t& header_len, uint32_t& body_len,
                   uint64_t max_body) {
  header_len = get_u32(p);
  body_len = get_u32(p + 4);
  return header_len > 0 && header_len <= kMaxFrameHeader && body_len <= max_body;
}

bool decode_header(std::string_view text, json::object& out) {
  // Both ends are ours: strings carry bytes (a %FF route parameter, a Latin-1 log line, a
  // binary queue message), which Boost.JSON's serializer writes as they are; accept them back
  // the same way, so every string round-trips byte for byte.
  json::parse_options bytes;
  bytes.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, bytes);
  if (ec || !v.is_object()) return false;
  out = std::move(v.as_object());
  return true;
}

json::array describe_functions(const App& app) {
  json::array out;
  auto outputs_of = [](const auto& o, json::array& bindings) {
    for (const auto& q : o.outputs)
      bindings.push_back(json::object{
          {"type", "queue"}, {"direction", "out"}, {"name", q.name}, {"queueName", q.queue}});
    for (const auto& d : o.document_outputs) {
      json::object b{{"type", "cosmosDB"},          {"direction", "out"},
                     {"name", d.name},              {"databaseName", d.database},
                     {"containerName", d.container}};
      if (!d.create_with_partition_key.empty()) {
        b["createIfNotExists"] = true;
        b["partitionKey"] = d.create_with_partition_key;
      }
      bindings.push_back(std::move(b));
    }
    for (const auto& d : o.document_inputs) {
      json::object b{{"type", "cosmosDB"},          {"direction", "in"},
                     {"name", d.name},              {"databaseName", d.database},
                     {"containerName", d.container}};
      if (!d.id.empty()) b["id"] = d.id;
      if (!d.partition_key.empty()) b["partitionKey"] = d.partition_key;
      if (!d.sql_query.empty()) b["sqlQuery"] = d.sql_query;
      bindings.push_back(std::move(b));
    }
    for (const auto& m : o.moderation_inputs) {
      json::object b{{"type", "moderation"}, {"direction", "in"}, {"name", m.name}};
      if (!m.text.empty()) b["text"] = m.text;  // none: the moderator's health
      bindings.push_back(std::move(b));
    }
  };
  for (const auto& f : app.functions()) {
    json::array bindings;
    if (f.queue_handler) {
      bindings.push_back(json::object{{"type", "queueTrigger"}, {"direction", "in"},
                                      {"name", "message"}, {"queueName", f.queue.queue}});
      outputs_of(f.queue, bindings);
    } else if (f.orchestrator_handler) {
      bindings.push_back(json::object{
          {"type", "orchestrationTrigger"}, {"direction", "in"}, {"name", "context"}});
    } else if (f.activity_handler) {
      bindings.push_back(
          json::object{{"type", "activityTrigger"}, {"direction", "in"}, {"name", "input"}});
      outputs_of(f.activity, bindings);
    } else if (f.timer_handler) {
      json::object t{{"type", "timerTrigger"},
                     {"direction", "in"},
                     {"name", "timer"},
                     {"schedule", f.timer.schedule},
                     {"runOnStartup", f.timer.run_on_startup}};
      if (f.timer.use_monitor >= 0) t["useMonitor"] = f.timer.use_monitor > 0;
      bindings.push_back(std::move(t));
      outputs_of(f.timer, bindings);
    } else if (f.change_feed_handler) {
      // Reported as function.json would say it, so the host checks it with the same loader.
      const auto& c = f.change_feed;
      json::object t{{"type", "cosmosDBTrigger"},
                     {"direction", "in"},
                     {"name", "documents"},
                     {"databaseName", c.database},
                     {"containerName", c.container},
                     {"leaseContainerName", c.lease_container},
                     {"createLeaseContainerIfNotExists", c.create_lease_container},
                     {"startFromBeginning", c.start_from_beginning},
                     {"maxItemsPerInvocation", c.max_items_per_invocation}};
      if (!c.lease_database.empty()) t["leaseDatabaseName"] = c.lease_database;
      if (!c.lease_prefix.empty()) t["leaseContainerPrefix"] = c.lease_prefix;
      if (!c.start_from_time.empty()) t["startFromTime"] = c.start_from_time;
      bindings.push_back(std::move(t));
      outputs_of(c, bindings);
    } else {
      json::object trigger{{"type", "httpTrigger"},
                           {"direction", "in"},
                           {"name", "req"},
                           {"authLevel", auth_name(f.http.auth)}};
      if (!f.http.route.empty()) trigger["route"] = f.http.route;
      if (!f.http.methods.empty()) {
        json::array m;
        for (const auto& x : f.http.methods) m.emplace_back(x);
        trigger["methods"] = std::move(m);
      }
      bindings.push_back(std::move(trigger));
      bindings.push_back(json::object{{"type", "http"}, {"direction", "out"}, {"name", "$return"}});
      outputs_of(f.http, bindings);
    }
    out.push_back(json::object{{"name", f.name}, {"bindings", std::move(bindings)}});
  }
  return out;
}

namespace {
json::object invoke_header_without_inputs(const api::Invocation& inv);
}  // namespace

json::object invoke_header(const api::Invocation& inv) {
  json::object h = invoke_header_without_inputs(inv);
  if (!inv.trace.trace_id.empty()) h["traceparent"] = inv.trace.traceparent();
  if (!inv.inputs.empty()) {
    json::object in;
    for (const auto& v : inv.inputs) in[v.binding] = v.json;
    h["inputs"] = std::move(in);
  }
  return h;
}

namespace {
json::object invoke_header_without_inputs(const api::Invocation& inv) {
  if (inv.orchestration())  // the episode request is the frame's body
    return json::object{{"type", "invoke"}, {"id", inv.id}, {"function", inv.function->name},
                        {"trigger", "orchestration"}};
  if (inv.activity())  // the input is the frame's body
    return json::object{{"type", "invoke"}, {"id", inv.id}, {"function", inv.function->name},
                        {"trigger", "activity"}, {"instanceId", inv.activity()->instance_id}};
  if (inv.timer())  // TimerInfo JSON is the frame's body
    return json::object{{"type", "invoke"}, {"id", inv.id}, {"function", inv.function->name},
                        {"trigger", "timer"}};
  if (inv.documents())  // the batch itself is the frame's body
    return json::object{{"type", "invoke"}, {"id", inv.id}, {"function", inv.function->name},
                        {"trigger", "cosmosDB"}};
  if (inv.queue()) {
    const auto& m = *inv.queue();
    return json::object{{"type", "invoke"}, {"id", inv.id}, {"function", inv.function->name},
                        {"trigger", "queue"},
                        {"message", json::object{{"id", m.id},
                                                 {"dequeueCount", m.dequeue_count},
                                                 {"insertionTime", m.insertion_time},
                                                 {"expirationTime", m.expiration_time},
                                                 {"nextVisibleTime", m.next_visible_time},
                                                 {"popReceipt", m.pop_receipt}}}};
  }
  const auto& r = *inv.http();
  json::object q, p;
  for (const auto& [k, v] : r.query) q[k] = v;
  for (const auto& [k, v] : r.params) p[k] = v;
  json::array h;
  h.reserve(r.headers.size());
  for (const auto& [k, v] : r.headers) h.push_back(json::array{json::string(k), json::string(v)});
  return json::object{{"type", "invoke"},         {"id", inv.id},   {"function", inv.function->name},
                      {"method", r.method},       {"target", r.target}, {"path", r.path},
                      {"query", std::move(q)},    {"params", std::move(p)},
                      {"headers", std::move(h)}};
}
}  // namespace

HttpRequest request_from_invoke(const json::object& header, std::string body) {
  HttpRequest req;
  req.method = str(header, "method");
  req.url = str(header, "target");
  req.path = str(header, "path");
  req.query = str_map(header, "query");
  req.params = str_map(header, "params");
  if (auto* h = header.if_contains("headers"); h && h->is_array())
    for (const auto& pair : h->as_array())
      if (pair.is_array() && pair.as_array().size() == 2 && pair.as_array()[0].is_string() &&
          pair.as_array()[1].is_string())
        req.headers.emplace_back(std::string(pair.as_array()[0].as_string()),
                                 std::string(pair.as_array()[1].as_string()));
  req.body = std::move(body);
  return req;
}

QueueMessage message_from_invoke(const json::object& header, std::string body) {
  QueueMessage m;
  if (auto* v = header.if_contains("message"); v && v->is_object()) {
    const auto& o = v->as_object();
    m.id = str(o, "id");
    m.insertion_time = str(o, "insertionTime");
    m.expiration_time = str(o, "expirationTime");
    m.next_visible_time = str(o, "nextVisibleTime");
    m.pop_receipt = str(o, "popReceipt");
    if (auto* d = o.if_contains("dequeueCount"); d && d->is_int64()) m.dequeue_count = d->as_int64();
  }
  m.text = std::move(body);
  return m;
}

json::object result_header(const HttpResponse& res, const Context& ctx) {
  json::object h{{"type", "result"},
                 {"status", res.status},
                 {"headers", headers_json(res.headers)},
                 {"logs", logs_json(ctx)}};
  if (!ctx.outputs().empty()) {
    json::array o;
    for (const auto& [binding, value] : ctx.outputs())
      o.push_back(json::array{json::string(binding), json::string(value)});
    h["outputs"] = std::move(o);
  }
  return h;
}

json::object error_header(const std::string& message, const Context& ctx) {
  return json::object{{"type", "error"}, {"message", message}, {"logs", logs_json(ctx)}};
}

bool result_from_frame(Frame& frame, api::InvocationResult& out, std::string& error) {
  const auto& h = frame.header;
  if (auto* logs = h.if_contains("logs"); logs && logs->is_array())
    for (const auto& l : logs->as_array())
      if (l.is_string()) out.logs.emplace_back(l.as_string());
  std::string type = str(h, "type");
  if (type == "error") {
    out.outcome = api::Outcome::failed;
    out.error = str(h, "message");
    return true;
  }
  if (type != "result") {
    error = "worker sent a frame of type \"" + type + "\" where a result was expected";
    return false;
  }
  auto* status = h.if_contains("status");
  if (!status || !status->is_int64() || status->as_int64() < 100 || status->as_int64() > 999) {
    error = "worker result has no valid \"status\"";
    return false;
  }
  out.outcome = api::Outcome::succeeded;
  out.response.status = static_cast<int>(status->as_int64());
  if (auto* o = h.if_contains("outputs"); o && o->is_array())
    for (const auto& pair : o->as_array())
      if (pair.is_array() && pair.as_array().size() == 2 && pair.as_array()[0].is_string() &&
          pair.as_array()[1].is_string())
        out.outputs.push_back({std::string(pair.as_array()[0].as_string()),
                               std::string(pair.as_array()[1].as_string())});
  if (auto* hs = h.if_contains("headers"); hs && hs->is_array())
    for (const auto& pair : hs->as_array())
      if (pair.is_array() && pair.as_array().size() == 2 && pair.as_array()[0].is_string() &&
          pair.as_array()[1].is_string())
        out.response.headers.emplace_back(std::string(pair.as_array()[0].as_string()),
                                          std::string(pair.as_array()[1].as_string()));
  out.response.body = std::move(frame.body);
  return true;
}

bool run_function(const App::Function& fn, const json::object& header, std::string body,
                  Context& ctx, HttpResponse& res, std::string& error) {
  if (auto* t = header.if_contains("traceparent"); t && t->is_string())
    ctx.set_traceparent(std::string(t->as_string()));
  if (auto* in = header.if_contains("inputs"); in && in->is_object())
    for (const auto& kv : in->as_object())
      if (kv.value().is_string()) ctx.set_input(std::string(kv.key()), std::string(kv.value().as_string()));
  if (fn.queue_handler)
    return run_queue_function(fn, message_from_invoke(header, std::move(body)), ctx, res, error);
  if (fn.change_feed_handler) return run_change_feed_function(fn, std::move(body), ctx, res, error);
  if (fn.orchestrator_handler) return run_orchestrator(fn, body, res, error);
  if (fn.activity_handler) return run_activity_function(fn, body, ctx, res, error);
  if (fn.timer_handler) return run_timer_function(fn, body, ctx, res, error);
  return run_http_function(fn, request_from_invoke(header, std::move(body)), ctx, res, error);
}

namespace {
// The one try/catch around user code: an exception fails the invocation, nothing else.
template <class F>
bool guarded(F&& call, std::string& error) {
  try {
    call();
    return true;
  } catch (const std::exception& e) {
    error = std::string("function threw: ") + e.what();
  } catch (...) {
    error = "function threw a non-standard exception";
  }
  return false;
}
}  // namespace

bool run_http_function(const App::Function& fn, const HttpRequest& req, Context& ctx,
                       HttpResponse& res, std::string& error) {
  return guarded([&] { res = fn.handler(req, ctx); }, error);
}

bool run_queue_function(const App::Function& fn, const QueueMessage& msg, Context& ctx,
                        HttpResponse& res, std::string& error) {
  return guarded([&] {
    fn.queue_handler(msg, ctx);
    res.status = 200;
  }, error);
}

bool run_change_feed_function(const App::Function& fn, std::string documents, Context& ctx,
                              HttpResponse& res, std::string& error) {
  DocumentBatch batch;
  boost::system::error_code ec;
  json::value v = json::parse(documents, ec);
  if (ec || !v.is_array()) {
    error = "the host sent a change-feed batch that is not a JSON array";
    return false;
  }
  batch.documents.reserve(v.as_array().size());
  for (const auto& d : v.as_array()) batch.documents.push_back(json::serialize(d));
  batch.json = std::move(documents);
  return guarded([&] {
    fn.change_feed_handler(batch, ctx);
    res.status = 200;
  }, error);
}

bool run_orchestrator(const App::Function& fn, std::string_view request, HttpResponse& res,
                      std::string& error) {
  durable::OrchestratorRequest req;
  if (!api::durable_events::decode_request(request, req, error)) {
    error = "the host sent an orchestration episode this worker cannot read: " + error;
    return false;
  }
  durable::OrchestratorResponse out;
  // The SDK's executor turns orchestrator exceptions into a failed completion itself; a throw
  // here is the executor's own failure.
  if (!guarded([&] { fn.orchestrator_handler(req, out); }, error)) return false;
  res.status = 200;
  res.body = api::durable_events::encode_response(out);
  return true;
}

bool run_timer_function(const App::Function& fn, std::string timer_info, Context& ctx,
                        HttpResponse& res, std::string& error) {
  TimerInfo info;
  boost::system::error_code ec;
  json::value v = json::parse(timer_info, ec);
  if (ec || !v.is_object()) {
    error = "the host sent a TimerInfo that is not a JSON object";
    return false;
  }
  const auto& o = v.as_object();
  if (auto* p = o.if_contains("IsPastDue"); p && p->is_bool()) info.is_past_due = p->as_bool();
  if (auto* st = o.if_contains("ScheduleStatus"); st && st->is_object()) {
    info.last = str(st->as_object(), "Last");
    info.next = str(st->as_object(), "Next");
    info.last_updated = str(st->as_object(), "LastUpdated");
  }
  info.json = std::move(timer_info);
  return guarded([&] {
    fn.timer_handler(info, ctx);
    res.status = 200;
  }, error);
}

bool run_activity_function(const App::Function& fn, const std::string& input, Context& ctx,
                           HttpResponse& res, std::string& error) {
  return guarded([&] {
    res.body = fn.activity_handler(input, ctx);
    res.status = 200;
  }, error);
}

}  // namespace nimbus::workers
