#include "workers/native_protocol.h"

#include "api/durable_events.h"
#include "common/json_util.h"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cstring>

namespace json = boost::json;

namespace nimbus::workers {

namespace {
void set_u32(char* b, uint32_t v) {
  b[0] = static_cast<char>(v);
  b[1] = static_cast<char>(v >> 8);
  b[2] = static_cast<char>(v >> 16);
  b[3] = static_cast<char>(v >> 24);
}
void put_u32(std::string& out, uint32_t v) {
  char b[4];
  set_u32(b, v);
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

const json::object* decode_header(std::string_view text, json::value& out) {
  // Both ends are ours: strings carry bytes (a %FF route parameter, a Latin-1 log line, a
  // binary queue message), which both ends write as they are; accept them back the same way,
  // so every string round-trips byte for byte.
  json::parse_options bytes;
  bytes.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  out = json::parse(text, ec, out.storage(), bytes);  // same storage: moved, not copied
  return ec || !out.is_object() ? nullptr : &out.as_object();
}

bool decode_header(std::string_view text, json::object& out) {
  json::value v;
  if (!decode_header(text, v)) return false;
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
// Strings carry bytes, not necessarily UTF-8; the reader parses with allow_invalid_utf8, so
// they round-trip.
void put_string(std::string& out, std::string_view s) { append_json_string(out, s); }

// Writes a JSON object's members as text into `out`: frame headers are written once per
// invocation on both ends, and a json::object for them cost an allocation per member.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  // Writes one of this file's own keys (plain ASCII names, nothing to escape); the caller
  // writes the member's value into the returned string.
  std::string& field(std::string_view k) {
    out_ += first_ ? "\"" : ",\"";
    first_ = false;
    out_ += k;
    out_ += "\":";
    return out_;
  }
  // The same for a key from user data (parameter and binding names): escaped.
  std::string& key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    put_string(out_, k);
    out_ += ':';
    return out_;
  }
  void str(std::string_view k, std::string_view v) { put_string(field(k), v); }
  void num(std::string_view k, int64_t v) { field(k) += std::to_string(v); }
  void end() { out_ += '}'; }

 private:
  std::string& out_;
  bool first_ = true;
};

// [[k,v],..]: headers and outputs, pairs of strings.
void put_pairs(std::string& out, const std::vector<std::pair<std::string, std::string>>& pairs) {
  out += '[';
  for (size_t i = 0; i < pairs.size(); ++i) {
    out += i ? ",[" : "[";
    put_string(out, pairs[i].first);
    out += ',';
    put_string(out, pairs[i].second);
    out += ']';
  }
  out += ']';
}

void put_map(std::string& out, const std::map<std::string, std::string>& m) {
  ObjectWriter o(out);
  for (const auto& [k, v] : m) put_string(o.key(k), v);
  o.end();
}

void put_logs(std::string& out, const Context& ctx) {
  out += '[';
  for (size_t i = 0; i < ctx.logs().size(); ++i) {
    if (i) out += ',';
    put_string(out, ctx.logs()[i]);
  }
  out += ']';
}

// Appends the frame prefix and the header `write` writes into `out`, then `body`: the header
// is written in place and its length filled in after.
template <class Write>
void encode_text_frame(std::string& out, std::string_view body, Write&& write) {
  size_t prefix = out.size();
  out.reserve(prefix + 8 + 256 + body.size());  // most headers are under 256 bytes
  out.append(8, '\0');
  write(out);
  set_u32(out.data() + prefix, static_cast<uint32_t>(out.size() - prefix - 8));
  set_u32(out.data() + prefix + 4, static_cast<uint32_t>(body.size()));
  out.append(body.data(), body.size());
}
}  // namespace

void encode_invoke_frame(const api::Invocation& inv, std::string_view body, std::string& out) {
  encode_text_frame(out, body, [&](std::string& text) {
    ObjectWriter h(text);
    h.str("type", "invoke");
    h.str("id", inv.id);
    h.str("function", inv.function->name);
    if (inv.orchestration()) {  // the episode request is the frame's body
      h.str("trigger", "orchestration");
    } else if (inv.activity()) {  // the input is the frame's body
      h.str("trigger", "activity");
      h.str("instanceId", inv.activity()->instance_id);
    } else if (inv.timer()) {  // TimerInfo JSON is the frame's body
      h.str("trigger", "timer");
    } else if (inv.documents()) {  // the batch itself is the frame's body
      h.str("trigger", "cosmosDB");
    } else if (inv.queue()) {
      const auto& m = *inv.queue();
      h.str("trigger", "queue");
      ObjectWriter msg(h.field("message"));
      msg.str("id", m.id);
      msg.num("dequeueCount", m.dequeue_count);
      msg.str("insertionTime", m.insertion_time);
      msg.str("expirationTime", m.expiration_time);
      msg.str("nextVisibleTime", m.next_visible_time);
      msg.str("popReceipt", m.pop_receipt);
      msg.end();
    } else {
      const auto& r = *inv.http();
      h.str("method", r.method);
      h.str("target", r.target);
      h.str("path", r.path);
      put_map(h.field("query"), r.query);
      put_map(h.field("params"), r.params);
      put_pairs(h.field("headers"), r.headers);
    }
    if (!inv.trace.trace_id.empty()) h.str("traceparent", inv.trace.traceparent());
    if (!inv.inputs.empty()) {
      // A repeated binding name (a durableClient's is not checked against the others) is
      // read back as its last value, as json::object's assignment kept it before.
      ObjectWriter in(h.field("inputs"));
      for (const auto& v : inv.inputs) put_string(in.key(v.binding), v.json);
      in.end();
    }
    h.end();
  });
}

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

void encode_result_frame(const HttpResponse& res, const Context& ctx, std::string& out) {
  encode_text_frame(out, res.body, [&](std::string& text) {
    ObjectWriter h(text);
    h.str("type", "result");
    h.num("status", res.status);
    put_pairs(h.field("headers"), res.headers);
    put_logs(h.field("logs"), ctx);
    if (!ctx.outputs().empty()) put_pairs(h.field("outputs"), ctx.outputs());
    h.end();
  });
}

void encode_error_frame(std::string_view message, const Context& ctx, std::string& out) {
  encode_text_frame(out, {}, [&](std::string& text) {
    ObjectWriter h(text);
    h.str("type", "error");
    h.str("message", message);
    put_logs(h.field("logs"), ctx);
    h.end();
  });
}

bool read_result_header(std::string_view text, ResultHeader& out, std::string& error) {
  // Parsed into a stack buffer (a usual header is well under it), so reading allocates
  // nothing but the strings kept; the one leniency both ends of this protocol share: strings
  // may hold any bytes.
  unsigned char arena[2048];
  json::monotonic_resource mr(arena, sizeof arena);
  json::parse_options po;
  po.allow_invalid_utf8 = true;
  json::parser p(&mr, po);
  boost::system::error_code ec;
  size_t used = p.write_some(text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  json::value v;
  if (!ec) v = p.release();
  if (ec || !v.is_object()) {
    error = "worker sent a frame header that is not a JSON object (" +
            (ec ? ec.message() : std::string("a JSON ") + (v.is_array() ? "array" : "scalar")) +
            " at byte " + std::to_string(used) + ")";
    return false;
  }
  const json::object& o = v.get_object();
  auto text_of = [&](const char* key, std::string& into) {
    if (auto* x = o.if_contains(key); x && x->is_string()) into.assign(x->get_string());
  };
  text_of("type", out.type);
  text_of("message", out.message);
  if (auto* s = o.if_contains("status"); s && s->is_int64()) out.status = s->get_int64();
  if (auto* l = o.if_contains("logs"); l && l->is_array())
    for (const auto& x : l->get_array())
      if (x.is_string()) out.logs.emplace_back(x.get_string());
  // [[string, string], ..]: other elements are skipped.
  auto pairs = [&](const char* key, std::vector<std::pair<std::string, std::string>>& into) {
    auto* a = o.if_contains(key);
    if (!a || !a->is_array()) return;
    for (const auto& x : a->get_array()) {
      auto* two = x.if_array();
      if (two && two->size() == 2 && (*two)[0].is_string() && (*two)[1].is_string())
        into.emplace_back(std::string((*two)[0].get_string()), std::string((*two)[1].get_string()));
    }
  };
  pairs("headers", out.headers);
  pairs("outputs", out.outputs);
  return true;
}

bool result_from_header(ResultHeader h, std::string body, api::InvocationResult& out,
                        std::string& error) {
  out.logs = std::move(h.logs);
  if (h.type == "error") {
    out.outcome = api::Outcome::failed;
    out.error = std::move(h.message);
    return true;
  }
  if (h.type != "result") {
    error = "worker sent a frame of type \"" + h.type + "\" where a result was expected";
    return false;
  }
  if (!h.status || *h.status < 100 || *h.status > 999) {
    error = "worker result has no valid \"status\"";
    return false;
  }
  out.outcome = api::Outcome::succeeded;
  out.response.status = static_cast<int>(*h.status);
  for (auto& [binding, value] : h.outputs) out.outputs.push_back({std::move(binding), std::move(value)});
  out.response.headers = std::move(h.headers);
  out.response.body = std::move(body);
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
