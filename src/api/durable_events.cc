#include "api/durable_events.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/ids.h"

namespace nimbus::api::durable_events {

namespace json = boost::json;
using nimbus::durable::OrchestrationStatus;

namespace {

constexpr const char* kKinds[] = {
    "orchestratorStarted",   "executionStarted",         "executionCompleted",
    "taskScheduled",         "taskCompleted",            "taskFailed",
    "subOrchestrationInstanceCreated", "subOrchestrationInstanceCompleted",
    "subOrchestrationInstanceFailed",  "timerCreated",   "timerFired",
    "eventSent",             "eventRaised"};
constexpr const char* kActions[] = {"scheduleTask", "createSubOrchestration", "createTimer",
                                    "sendEvent", "completeOrchestration"};

std::string_view str(const json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return v->as_string();
  return {};
}
int64_t num(const json::object& o, std::string_view key, int64_t fallback) {
  if (auto* v = o.if_contains(key)) {
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    // A double out of int64's range (1e300, or 1e999, which parses as infinity) is not a
    // value of these fields; converting it is undefined behaviour (durable_events_fuzz).
    if (v->is_double()) {
      double d = v->as_double();
      return d >= -0x1p63 && d < 0x1p63 ? static_cast<int64_t>(d) : fallback;
    }
  }
  return fallback;
}
void put(json::object& o, std::string_view key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

}  // namespace

const char* kind_name(EventKind k) { return kKinds[static_cast<size_t>(k)]; }
const char* action_name(Action::Kind k) { return kActions[static_cast<size_t>(k)]; }

json::object failure_object(const Failure& f) {
  return json::object{{"errorType", f.error_type}, {"errorMessage", f.error_message}};
}
Failure failure_from(const json::value& v) {
  Failure f;
  if (auto* o = v.if_object()) {
    f.error_type = std::string(str(*o, "errorType"));
    f.error_message = std::string(str(*o, "errorMessage"));
  }
  return f;
}

json::object to_object(const HistoryEvent& e) {
  json::object o;
  o["kind"] = kind_name(e.kind);
  o["eventId"] = e.event_id;
  o["ts"] = e.timestamp_ms;
  put(o, "name", e.name);
  put(o, "input", e.input);
  put(o, "result", e.result);
  if (e.task_scheduled_id >= 0) o["taskScheduledId"] = e.task_scheduled_id;
  if (e.fire_at_ms) o["fireAt"] = e.fire_at_ms;
  put(o, "instanceId", e.instance_id);
  put(o, "executionId", e.execution_id);
  if (e.kind == EventKind::execution_completed) o["status"] = static_cast<int>(e.status);
  if (!e.failure.empty()) o["failure"] = failure_object(e.failure);
  return o;
}

namespace {
// A JSON string as json::serialize writes it: text without a quote, a backslash or a control
// character is copied as it is, anything else goes through the serializer.
void append_string(std::string& out, std::string_view v) {
  bool plain = true;
  for (unsigned char c : v)
    if (c == '"' || c == '\\' || c < 0x20) {
      plain = false;
      break;
    }
  if (plain) {
    out += '"';
    out += v;
    out += '"';
  } else {
    out += json::serialize(json::string(v));
  }
}
void append_field(std::string& out, std::string_view key, std::string_view v) {
  out += ",\"";
  out += key;
  out += "\":";
  append_string(out, v);
}
void append_field(std::string& out, std::string_view key, int64_t v) {
  out += ",\"";
  out += key;
  out += "\":";
  out += std::to_string(v);
}
}  // namespace

// The text json::serialize(to_object(e)) gives, written directly: the host makes one per
// activity result and per history event of an episode, and building the object first cost
// an allocation per field (durable_events_test checks both forms agree).
std::string to_json(const HistoryEvent& e) {
  std::string out;
  out.reserve(96 + e.name.size() + e.input.size() + e.result.size() + e.instance_id.size() +
              e.execution_id.size());
  out += "{\"kind\":\"";
  out += kind_name(e.kind);
  out += "\",\"eventId\":";
  out += std::to_string(e.event_id);
  append_field(out, "ts", e.timestamp_ms);
  if (!e.name.empty()) append_field(out, "name", e.name);
  if (!e.input.empty()) append_field(out, "input", e.input);
  if (!e.result.empty()) append_field(out, "result", e.result);
  if (e.task_scheduled_id >= 0) append_field(out, "taskScheduledId", e.task_scheduled_id);
  if (e.fire_at_ms) append_field(out, "fireAt", e.fire_at_ms);
  if (!e.instance_id.empty()) append_field(out, "instanceId", e.instance_id);
  if (!e.execution_id.empty()) append_field(out, "executionId", e.execution_id);
  if (e.kind == EventKind::execution_completed)
    append_field(out, "status", static_cast<int64_t>(e.status));
  if (!e.failure.empty()) {
    out += ",\"failure\":";
    out += json::serialize(failure_object(e.failure));
  }
  out += '}';
  return out;
}

bool from_json(const json::value& v, HistoryEvent& out, std::string& error) {
  auto* o = v.if_object();
  if (!o) {
    error = "a history event must be a JSON object";
    return false;
  }
  auto kind = str(*o, "kind");
  bool found = false;
  for (size_t i = 0; i < std::size(kKinds); ++i)
    if (kind == kKinds[i]) {
      out.kind = static_cast<EventKind>(i);
      found = true;
    }
  if (!found) {
    error = "unknown history event kind '" + std::string(kind) + "'";
    return false;
  }
  out.event_id = static_cast<int>(num(*o, "eventId", -1));
  out.timestamp_ms = num(*o, "ts", 0);
  out.name = std::string(str(*o, "name"));
  out.input = std::string(str(*o, "input"));
  out.result = std::string(str(*o, "result"));
  out.task_scheduled_id = static_cast<int>(num(*o, "taskScheduledId", -1));
  out.fire_at_ms = num(*o, "fireAt", 0);
  out.instance_id = std::string(str(*o, "instanceId"));
  out.execution_id = std::string(str(*o, "executionId"));
  out.status = static_cast<OrchestrationStatus>(num(*o, "status", 0));
  if (auto* f = o->if_contains("failure")) out.failure = failure_from(*f);
  return true;
}

bool from_json(std::string_view text, HistoryEvent& out, std::string& error) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) {
    error = "a history event is not JSON: " + ec.message();
    return false;
  }
  return from_json(v, out, error);
}

json::object to_object(const Action& a) {
  json::object o;
  o["kind"] = action_name(a.kind);
  o["id"] = a.id;
  put(o, "name", a.name);
  put(o, "input", a.input);
  put(o, "instanceId", a.instance_id);
  if (a.fire_at_ms) o["fireAt"] = a.fire_at_ms;
  if (a.kind == Action::Kind::complete_orchestration) {
    o["status"] = static_cast<int>(a.status);
    put(o, "result", a.result);
    if (!a.failure.empty()) o["failure"] = failure_object(a.failure);
    if (!a.carryover_events.empty()) {
      json::array c;
      for (const auto& e : a.carryover_events) c.push_back(to_object(e));
      o["carryover"] = std::move(c);
    }
  }
  return o;
}

bool from_json(const json::value& v, Action& out, std::string& error) {
  auto* o = v.if_object();
  if (!o) {
    error = "an action must be a JSON object";
    return false;
  }
  auto kind = str(*o, "kind");
  bool found = false;
  for (size_t i = 0; i < std::size(kActions); ++i)
    if (kind == kActions[i]) {
      out.kind = static_cast<Action::Kind>(i);
      found = true;
    }
  if (!found) {
    error = "unknown action kind '" + std::string(kind) + "'";
    return false;
  }
  out.id = static_cast<int>(num(*o, "id", 0));
  out.name = std::string(str(*o, "name"));
  out.input = std::string(str(*o, "input"));
  out.instance_id = std::string(str(*o, "instanceId"));
  out.fire_at_ms = num(*o, "fireAt", 0);
  out.status = static_cast<OrchestrationStatus>(num(*o, "status", 1));
  out.result = std::string(str(*o, "result"));
  if (auto* f = o->if_contains("failure")) out.failure = failure_from(*f);
  if (auto* c = o->if_contains("carryover"); c && c->is_array())
    for (const auto& e : c->as_array()) {
      HistoryEvent ev;
      if (!from_json(e, ev, error)) return false;
      out.carryover_events.push_back(std::move(ev));
    }
  return true;
}

std::string encode_request(std::string_view instance_id, std::string_view execution_id,
                           const std::vector<std::string>& past,
                           const std::vector<std::string>& fresh) {
  std::string out = "{\"instanceId\":";
  out += json::serialize(json::string(instance_id));
  out += ",\"executionId\":";
  out += json::serialize(json::string(execution_id));
  auto list = [&](const char* key, const std::vector<std::string>& events) {
    out += ",\"";
    out += key;
    out += "\":[";
    for (size_t i = 0; i < events.size(); ++i) {
      if (i) out += ',';
      out += events[i];
    }
    out += ']';
  };
  list("past", past);
  list("new", fresh);
  out += '}';
  return out;
}

bool decode_request(std::string_view text, OrchestratorRequest& out, std::string& error) {
  // A worker decodes one request per episode, the whole history each time (see
  // decode_response).
  unsigned char buf[4096];
  json::monotonic_resource mr(buf, sizeof buf);
  boost::system::error_code ec;
  auto v = json::parse(text, ec, &mr);
  if (ec || !v.is_object()) {
    error = "an orchestrator request must be a JSON object";
    return false;
  }
  const auto& o = v.as_object();
  out.instance_id = std::string(str(o, "instanceId"));
  out.execution_id = std::string(str(o, "executionId"));
  for (auto [key, list] : {std::pair{"past", &out.past_events}, std::pair{"new", &out.new_events}}) {
    auto* a = o.if_contains(key);
    if (!a || !a->is_array()) {
      error = std::string("an orchestrator request needs the array '") + key + "'";
      return false;
    }
    for (const auto& e : a->as_array()) {
      // Terminate, suspend and resume are carried out by the host; they stay in the history
      // (the management API shows them) but are not events the SDK replays.
      if (auto* o = e.if_object()) {
        auto kind = str(*o, "kind");
        if (kind == "executionSuspended" || kind == "executionResumed" ||
            kind == "executionTerminated")
          continue;
      }
      HistoryEvent ev;
      if (!from_json(e, ev, error)) return false;
      list->push_back(std::move(ev));
    }
  }
  return true;
}

std::string encode_response(const OrchestratorResponse& r) {
  json::array actions;
  for (const auto& a : r.actions) actions.push_back(to_object(a));
  json::object o{{"actions", std::move(actions)}};
  put(o, "customStatus", r.custom_status);
  return json::serialize(o);
}

bool decode_response(std::string_view text, OrchestratorResponse& out, std::string& error) {
  // The host decodes one answer per episode: the parsed tree lives in one buffer (on the
  // stack while it fits) instead of an allocation per value.
  unsigned char buf[4096];
  json::monotonic_resource mr(buf, sizeof buf);
  boost::system::error_code ec;
  auto v = json::parse(text, ec, &mr);
  if (ec || !v.is_object()) {
    error = "an orchestrator response must be a JSON object";
    return false;
  }
  const auto& o = v.as_object();
  auto* a = o.if_contains("actions");
  if (!a || !a->is_array()) {
    error = "an orchestrator response needs the array 'actions'";
    return false;
  }
  for (const auto& x : a->as_array()) {
    Action act;
    if (!from_json(x, act, error)) return false;
    out.actions.push_back(std::move(act));
  }
  out.custom_status = std::string(str(o, "customStatus"));
  return true;
}

std::string new_execution_id() {
  static const char* hex = "0123456789abcdef";
  std::string bytes = random_bytes(16), out;
  for (unsigned char c : bytes) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

OrchestrationStart start_write(std::string name, std::string instance_id, std::string input,
                               std::string parent, UnixMillis now, UnixMillis start_at) {
  OrchestrationStart w;
  HistoryEvent e;
  e.kind = EventKind::execution_started;
  e.timestamp_ms = now;
  e.name = name;
  e.input = input;
  e.instance_id = instance_id;
  e.execution_id = new_execution_id();
  w.started = to_json(e);
  w.instance.id = std::move(instance_id);
  w.instance.name = std::move(name);
  w.instance.execution_id = e.execution_id;
  w.instance.input = std::move(input);
  w.instance.parent = std::move(parent);
  w.start_at = start_at;
  return w;
}

}  // namespace nimbus::api::durable_events
