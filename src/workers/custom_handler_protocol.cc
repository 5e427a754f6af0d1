#include "workers/custom_handler_protocol.h"

#include <array>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>

#include <boost/json.hpp>
#include <charconv>
#include <optional>

#include "common/ids.h"
#include "common/json_util.h"
#include "common/log.h"

namespace json = boost::json;
using namespace std::string_view_literals;

namespace nimbus::workers {

namespace {

// ASCII only (header names), without a locale call per character.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) return false;
  }
  return true;
}

bool is_binary_content(std::string_view content_type) {
  auto starts = [&](std::string_view p) {
    return content_type.size() >= p.size() && iequals(content_type.substr(0, p.size()), p);
  };
  return starts("application/octet-stream") || starts("multipart/");
}

std::string clip(std::string_view s, size_t n = 500) {
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "...";
}

// Request bytes are not always UTF-8 (%FF in a route, a Latin-1 header); the payload is JSON
// for programs whose parsers insist on UTF-8, so invalid bytes become U+FFFD, as Azure's
// .NET host decodes them.
json::string text(std::string_view s) { return json::string(valid_utf8(s)); }

// statusCode as Azure accepts it: an integer (number or numeric string) 100..599.
std::optional<int> status_code(const json::value& v) {
  int64_t code = -1;
  if (v.is_int64()) {
    code = v.as_int64();
  } else if (v.is_uint64()) {
    code = -1;  // above INT64_MAX
  } else if (v.is_double()) {
    double d = v.as_double();
    if (d >= 100 && d <= 599 && d == static_cast<double>(static_cast<int64_t>(d)))
      code = static_cast<int64_t>(d);
  } else if (v.is_string()) {
    std::string_view t = v.as_string();
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), code);
    if (ec != std::errc() || end != t.data() + t.size() || t.empty()) code = -1;
  }
  if (code < 100 || code > 599) return std::nullopt;
  return static_cast<int>(code);
}

}  // namespace

bool is_hop_by_hop(std::string_view h) {
  for (std::string_view x : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                             "te", "trailer", "upgrade", "content-length"})
    if (iequals(h, x)) return true;
  return false;
}

json::object sys_metadata(const api::Invocation& inv) {
  return json::object{{"MethodName", inv.function->name},
                      {"UtcNow", iso8601_now_ms()},
                      {"RandGuid", new_uuid()}};
}

// Input bindings join Data by name. As Azure's HTTP worker converts values (functions-host.md
// §5): a JSON object (one document) stays an object, null stays null, anything else (a
// query's array of rows) is passed as its JSON text.
void add_inputs(json::object& data, const api::Invocation& inv) {
  for (const auto& in : inv.inputs) {
    boost::system::error_code ec;
    json::value v = json::parse(in.json, ec);
    if (!ec && (v.is_object() || v.is_null()))
      data[in.binding] = std::move(v);
    else
      data[in.binding] = in.json;
  }
}

// Queue trigger: Data.<name> is the message text; Metadata carries the message's properties.
std::string build_queue_invocation_body(const api::Invocation& inv) {
  const auto& m = *inv.queue();
  json::object data;
  data[inv.function->trigger_name] = text(m.text);
  add_inputs(data, inv);
  json::object metadata{{"DequeueCount", m.dequeue_count},
                        {"Id", m.id},
                        {"InsertionTime", m.insertion_time},
                        {"ExpirationTime", m.expiration_time},
                        {"NextVisibleTime", m.next_visible_time},
                        {"PopReceipt", m.pop_receipt},
                        {"sys", sys_metadata(inv)}};
  return json::serialize(json::object{{"Data", std::move(data)}, {"Metadata", std::move(metadata)}});
}

// cosmosDBTrigger: Data.<name> is the batch as a JSON string holding the array of documents.
// Why a string: Azure's HTTP worker passes a binding value that is not a single JSON object
// as its serialized JSON (functions-host.md §5), and the Cosmos trigger's value is a list.
// That reading of the host's conversion is ours, not a documented example; handlers written
// for either shape work if they accept both (Array.isArray(x) ? x : JSON.parse(x)).
std::string build_documents_invocation_body(const api::Invocation& inv) {
  json::object data;
  data[inv.function->trigger_name] = inv.documents()->documents;
  add_inputs(data, inv);
  json::object metadata{{"sys", sys_metadata(inv)}};
  return json::serialize(json::object{{"Data", std::move(data)}, {"Metadata", std::move(metadata)}});
}

// activityTrigger: Data.<name> is the activity's input as a JSON value (custom handlers get
// no durable support on Azure; this shape is Nimbus's: what the orchestrator passed, parsed),
// and the handler's ReturnValue is the result.
std::string build_activity_invocation_body(const api::Invocation& inv) {
  json::object data;
  boost::system::error_code ec;
  json::value input = json::parse(inv.activity()->input, ec);
  data[inv.function->trigger_name] = ec ? json::value(inv.activity()->input) : std::move(input);
  add_inputs(data, inv);
  json::object metadata{{"instanceId", inv.activity()->instance_id}, {"sys", sys_metadata(inv)}};
  return json::serialize(json::object{{"Data", std::move(data)}, {"Metadata", std::move(metadata)}});
}

// timerTrigger: Data.<name> is Azure's TimerInfo object, {"Schedule":{"AdjustForDST":false},
// "ScheduleStatus":{"Last","Next","LastUpdated"} (null without useMonitor),"IsPastDue":bool}.
std::string build_timer_invocation_body(const api::Invocation& inv) {
  json::object data;
  data[inv.function->trigger_name] = json::parse(inv.timer()->to_json());
  add_inputs(data, inv);
  json::object metadata{{"sys", sys_metadata(inv)}};
  return json::serialize(json::object{{"Data", std::move(data)}, {"Metadata", std::move(metadata)}});
}

// The DOM builder: kept for requests with non-ASCII names, where two names may turn into the
// same text once invalid bytes become U+FFFD and must then merge as JSON object keys do.
std::string build_http_invocation_body_dom(const api::Invocation& inv) {
  const auto& r = *inv.http();
  json::object query, params, headers;
  for (const auto& [k, v] : r.query) query[valid_utf8(k)] = text(v);
  for (const auto& [k, v] : r.params) params[valid_utf8(k)] = text(v);
  for (const auto& [k, v] : r.headers) {
    auto& slot = headers[valid_utf8(k)];
    if (!slot.is_array()) slot = json::array();
    slot.as_array().emplace_back(text(v));
  }
  json::object req{{"Url", text("http://" + r.host + r.target)},
                   {"Method", text(r.method)},
                   {"Query", std::move(query)},
                   {"Headers", std::move(headers)},
                   {"Params", params},
                   {"Identities", json::array()}};
  // Body: raw text, or base64 for binary content types, as Azure sends it.
  if (is_binary_content(r.header("content-type")))
    req["Body"] = base64_encode(r.body);
  else
    req["Body"] = text(r.body);
  // Metadata carries route parameters and sys, as Azure's trigger binding data does; the
  // request itself is only in Data (functions-host.md §5).
  json::object metadata = std::move(params);
  metadata["sys"] = sys_metadata(inv);
  json::object data;
  data[inv.function->trigger_name.empty() ? "req" : inv.function->trigger_name] = std::move(req);
  add_inputs(data, inv);
  return json::serialize(json::object{{"Data", std::move(data)}, {"Metadata", std::move(metadata)}});
}

namespace {
// Eight bytes at a time: every string of a payload passes here before it is written.
bool is_ascii(std::string_view s) {
  size_t i = 0;
  for (uint64_t w; i + 8 <= s.size(); i += 8) {
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) return false;
  }
  for (; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  return true;
}

// Appends s as a JSON string, escaped as Boost.JSON escapes it; bytes that are not UTF-8
// become U+FFFD (valid_utf8), as in the DOM builder. `utf8`: s is known to be valid UTF-8.
// The common string (ASCII, nothing to escape: ids, names, header values) is checked in one
// pass, eight bytes at a time, and written as '"' s '"' with one append, which is what
// append_json_string writes for it; any other string takes the two passes as before.
bool plain_ascii(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto zero = [](uint64_t x) { return (x - kOnes) & ~x; };
  uint64_t bad = 0;
  size_t i = 0;
  auto check = [&](uint64_t w) {
    // Flags a byte >= 0x80, below 0x20, '"' or '\\' (a borrow can flag a byte above a flagged
    // one, never one without reason: the test only says "some byte is flagged").
    bad |= (w | ((w - kOnes * 0x20) & ~w) | zero(w ^ (kOnes * '"')) | zero(w ^ (kOnes * '\\'))) &
           kHigh;
  };
  for (uint64_t w; i + 8 <= s.size(); i += 8) {
    std::memcpy(&w, s.data() + i, 8);
    check(w);
  }
  if (i < s.size()) {
    char tail[8];
    std::memset(tail, 'a', 8);
    std::memcpy(tail, s.data() + i, s.size() - i);
    uint64_t w;
    std::memcpy(&w, tail, 8);
    check(w);
  }
  return bad == 0;
}

void put_string(std::string& out, std::string_view s, bool utf8 = false) {
  if (plain_ascii(s)) {
    size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* p = out.data() + at;
    p[0] = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
    return;
  }
  if (!utf8 && !is_ascii(s)) {
    append_json_string(out, valid_utf8(s));
    return;
  }
  append_json_string(out, s);
}

// UtcNow as iso8601_now_ms() writes it ("2026-11-29T17:20:01.123Z"), with the date and time
// of the current second formatted once per second instead of per invocation.
void put_utc_now(std::string& out) {
  thread_local int64_t cached_sec = INT64_MIN;
  thread_local char prefix[24];  // "YYYY-MM-DDTHH:MM:SS"
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  int64_t sec = ms / 1000;
  if (sec != cached_sec) {
    std::string full = iso8601_ms(sec * 1000);  // "...:SS.000Z"
    size_t dot = full.find('.');
    if (dot == std::string::npos || dot >= sizeof prefix) {
      put_string(out, iso8601_now_ms());
      return;
    }
    std::memcpy(prefix, full.data(), dot);
    prefix[dot] = '\0';
    cached_sec = sec;
  }
  int frac = static_cast<int>(ms % 1000);
  out.push_back('"');
  out.append(prefix);
  out.push_back('.');
  out.push_back(static_cast<char>('0' + frac / 100));
  out.push_back(static_cast<char>('0' + frac / 10 % 10));
  out.push_back(static_cast<char>('0' + frac % 10));
  out.append("Z\"");
}

void put_key(std::string& out, std::string_view k) {
  put_string(out, k);
  out.push_back(':');
}

// {"k":"v",...} from a map whose keys are unique (ASCII keys stay unique as JSON keys).
void put_map(std::string& out, const std::map<std::string, std::string>& m, std::string_view skip = {}) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!skip.empty() && k == skip) continue;
    if (!first) out.push_back(',');
    first = false;
    put_key(out, k);
    put_string(out, v);
  }
}
}  // namespace

// The HTTP payload written straight into one buffer, no DOM: the same JSON value the DOM
// builder makes (object keys unique, headers grouped by name into arrays in first-seen order,
// a repeated key's last value) for names that are ASCII, which is every real request.
std::string build_invocation_body(const api::Invocation& inv) {
  if (inv.queue()) return build_queue_invocation_body(inv);
  if (inv.documents()) return build_documents_invocation_body(inv);
  if (inv.activity()) return build_activity_invocation_body(inv);
  if (inv.timer()) return build_timer_invocation_body(inv);
  const auto& r = *inv.http();
  if (!inv.inputs.empty()) return build_http_invocation_body_dom(inv);  // read from a store anyway
  for (const auto& [k, v] : r.query)
    if (!is_ascii(k)) return build_http_invocation_body_dom(inv);
  for (const auto& [k, v] : r.params)
    if (!is_ascii(k)) return build_http_invocation_body_dom(inv);
  for (const auto& [k, v] : r.headers)
    if (!is_ascii(k)) return build_http_invocation_body_dom(inv);
  bool binary = is_binary_content(r.header("content-type"));
  std::string out;
  out.reserve(384 + r.target.size() + r.host.size() + 2 * r.body.size() + 64 * r.headers.size());
  out.append("{\"Data\":{"sv);
  put_key(out, inv.function->trigger_name.empty() ? std::string_view("req")
                                                  : std::string_view(inv.function->trigger_name));
  out.append("{\"Url\":"sv);
  {
    // Joined in a per-thread scratch string, escaped as one (no allocation per invocation).
    thread_local std::string url;
    url.assign("http://").append(r.host).append(r.target);
    put_string(out, url);
    if (url.capacity() > 4096) std::string().swap(url);  // do not keep a huge target around
  }
  out.append(",\"Method\":"sv);
  put_string(out, r.method);
  out.append(",\"Query\":"sv);
  put_map(out, r.query);
  out.append("},\"Headers\":{"sv);
  // Grouped by exact name, first-seen order, as the DOM's headers[k].push_back did.
  const size_t n = r.headers.size();
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    const auto& name = r.headers[i].first;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = r.headers[j].first == name;
    if (seen) continue;
    if (!first) out.push_back(',');
    first = false;
    put_key(out, name);
    out.push_back('[');
    put_string(out, r.headers[i].second);
    for (size_t j = i + 1; j < n; ++j)
      if (r.headers[j].first == name) {
        out.push_back(',');
        put_string(out, r.headers[j].second);
      }
    out.push_back(']');
  }
  out.append("},\"Params\":"sv);
  put_map(out, r.params);
  out.append("},\"Identities\":[],\"Body\":"sv);
  if (binary) {
    out.push_back('"');
    out.append(base64_encode(r.body));
    out.push_back('"');
  } else {
    put_string(out, r.body);
  }
  out.append("}},\"Metadata\":"sv);
  // Route parameters and sys (a parameter named "sys" is replaced by sys, as in the DOM).
  put_map(out, r.params, "sys");
  if (out.back() != '{') out.push_back(',');
  out.append("\"sys\":{\"MethodName\":"sv);
  put_string(out, inv.function->name);
  out.append(",\"UtcNow\":"sv);
  put_utc_now(out);
  out.append(",\"RandGuid\":\""sv);
  append_uuid(out);  // hex digits and dashes: nothing to escape
  out.append("\"}}}"sv);
  return out;
}

namespace {
// 1e999 parses as infinity and would be written back as "Infinity", which is not JSON: a
// function's answer or queue message must not turn into text no JSON reader accepts.
bool has_non_finite(const json::value& v) {
  if (v.is_double()) return !std::isfinite(v.as_double());
  if (v.is_array()) {
    for (const auto& x : v.as_array())
      if (has_non_finite(x)) return true;
  } else if (v.is_object()) {
    for (const auto& kv : v.as_object())
      if (has_non_finite(kv.value())) return true;
  }
  return false;
}
}  // namespace

void map_invocation_response(const api::FunctionSpec& fn, int status, std::string_view body,
                             api::InvocationResult& out, std::string& detail) {
  if (map_usual_answer(fn, status, body, out)) return;
  map_invocation_response_dom(fn, status, body, out, detail);
}

void map_invocation_response_dom(const api::FunctionSpec& fn, int status, std::string_view body,
                                 api::InvocationResult& out, std::string& detail) {
  // Strings are carried as the bytes the handler sent: a handler that writes Latin-1 text
  // gets it through, not a parse failure (log lines escape what is not UTF-8).
  json::parse_options lenient;
  lenient.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  // The answer's DOM lives in one arena (a stack buffer first): no allocation per value.
  alignas(16) unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  json::storage_ptr sp(&mr);
  json::value doc = json::parse(body, ec, sp, lenient);
  // Logs are kept even when the invocation failed: they explain why.
  if (!ec && doc.is_object())
    if (auto* logs = doc.as_object().if_contains("Logs"); logs && logs->is_array())
      for (const auto& l : logs->as_array())
        out.logs.push_back(l.is_string() ? std::string(l.as_string()) : json::serialize(l));
  if (status < 200 || status > 299) {
    out.outcome = api::Outcome::failed;
    out.error = "handler answered HTTP " + std::to_string(status);
    detail = out.error + ": " + clip(body);
    return;
  }
  if (ec || !doc.is_object()) {
    out.outcome = api::Outcome::bad_response;
    out.error = "handler answer is not a JSON object {Outputs, Logs, ReturnValue}";
    detail = out.error + ": " + clip(body);
    return;
  }
  if (has_non_finite(doc)) {
    out.outcome = api::Outcome::bad_response;
    out.error = "handler answer holds a number outside the range JSON can carry (such as 1e999)";
    detail = out.error + ": " + clip(body);
    return;
  }
  const auto& obj = doc.as_object();
  out.outcome = api::Outcome::succeeded;
  // Declared output bindings other than the HTTP response, by name ("$return" is
  // ReturnValue): a string is one item, an array several, anything else its JSON text.
  // Outputs the function does not declare are ignored, as Azure's host ignores them.
  const json::object* outputs = nullptr;
  if (auto* o = obj.if_contains("Outputs"); o && o->is_object()) outputs = &o->as_object();
  auto named = [&](std::string_view name) -> const json::value* {
    if (name == "$return") return obj.if_contains("ReturnValue");
    return outputs ? outputs->if_contains(name) : nullptr;
  };
  for (const auto& b : fn.outputs) {
    if (std::holds_alternative<api::HttpOutputSpec>(b.spec)) continue;
    const json::value* v = named(b.name);
    if (!v || v->is_null()) continue;
    auto add = [&](const json::value& x) {
      out.outputs.push_back(
          {b.name, x.is_string() ? std::string(x.as_string()) : json::serialize(x)});
    };
    if (v->is_array())
      for (const auto& x : v->as_array()) add(x);
    else
      add(*v);
  }
  if (fn.activity()) {
    // The activity's result: ReturnValue as JSON (absent: null).
    const json::value* rv = obj.if_contains("ReturnValue");
    out.response.body = rv ? json::serialize(*rv) : "null";
    return;
  }
  if (!fn.http()) return;
  std::string http_output(fn.http_output());
  if (http_output.empty()) {
    out.response.status = 204;
    return;
  }
  const json::value* res = named(http_output);
  if (!res || res->is_null()) {
    out.response.status = 204;
    return;
  }
  json::value parsed(sp);
  if (res->is_string()) {
    // Handlers often return the response object as a JSON string.
    parsed = json::parse(res->as_string(), ec, sp, lenient);
    if (!ec && parsed.is_object() && !has_non_finite(parsed)) res = &parsed;
  }
  if (!res->is_object()) {
    out.response.status = 200;
    out.response.body = res->is_string() ? std::string(res->as_string()) : json::serialize(*res);
    return;
  }
  const auto& r = res->as_object();
  int code = 200;
  const json::value* sc = r.if_contains("statusCode");
  const char* sc_name = sc ? "statusCode" : "status";
  if (!sc) sc = r.if_contains("status");
  if (sc) {
    auto valid = status_code(*sc);
    if (!valid) {
      out.outcome = api::Outcome::bad_response;
      out.error = "handler output \"" + http_output + "\" has an invalid " + sc_name +
                  "; use an integer 100..599";
      detail = out.error + " (it sent " + clip(json::serialize(*sc), 100) + ")";
      return;
    }
    code = *valid;
  }
  out.response.status = code;
  bool has_content_type = false;
  if (auto* h = r.if_contains("headers"); h && h->is_object()) {
    for (const auto& kv : h->as_object()) {
      if (is_hop_by_hop(kv.key())) continue;
      std::string v = kv.value().is_string() ? std::string(kv.value().as_string())
                                             : json::serialize(kv.value());
      if (iequals(kv.key(), "content-type")) has_content_type = true;
      out.response.headers.emplace_back(std::string(kv.key()), std::move(v));
    }
  }
  if (auto* b = r.if_contains("body"); b && !b->is_null()) {
    if (b->is_string()) {
      out.response.body = std::string(b->as_string());
    } else {
      out.response.body = json::serialize(*b);
      if (!has_content_type) out.response.headers.emplace_back("Content-Type", "application/json");
    }
  }
}

}  // namespace nimbus::workers
