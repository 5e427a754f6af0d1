#include "bindings/expressions.h"

#include <boost/json.hpp>
#include <cctype>
#include <charconv>

#include "common/ascii.h"
#include "common/ids.h"

namespace json = boost::json;

namespace nimbus::bindings {

namespace {

bool istarts(std::string_view s, std::string_view prefix) {
  return s.size() > prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

constexpr std::string_view kGlobal[] = {"rand-guid", "DateTime", "sys.MethodName", "sys.UtcNow",
                                        "sys.RandGuid"};
constexpr std::string_view kQueueMetadata[] = {"queueTrigger",   "Id",
                                               "DequeueCount",   "InsertionTime",
                                               "ExpirationTime", "NextVisibleTime",
                                               "PopReceipt"};

std::optional<std::string> global_value(std::string_view name, const api::Invocation& inv) {
  if (ascii_iequals(name, "rand-guid") || ascii_iequals(name, "sys.RandGuid")) return new_uuid();
  if (ascii_iequals(name, "DateTime") || ascii_iequals(name, "sys.UtcNow")) return iso8601_now_ms();
  if (ascii_iequals(name, "sys.MethodName")) return inv.function->name;
  return std::nullopt;
}

// A top-level scalar property of `text` when it is a JSON object (a queue message, an HTTP
// body, an activity's input): strings as they are, numbers and booleans as JSON writes them.
// Objects, arrays and null have no single text form, so they count as absent.
std::optional<std::string> json_property(std::string_view text, std::string_view name) {
  // Cheap rejection first: most bodies and messages that are not objects never get parsed.
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') return std::nullopt;
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  for (const auto& kv : doc.as_object()) {
    if (!ascii_iequals(kv.key(), name)) continue;
    const auto& v = kv.value();
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_double()) {
      // The shortest text that reads back as the same number ("2.5"), not Boost.JSON's "2.5E0".
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v.as_double());
      return std::string(buf, r.ptr);
    }
    if (v.is_number() || v.is_bool()) return json::serialize(v);
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> http_value(std::string_view name, const api::HttpRequestData& r) {
  if (istarts(name, "Query.")) {
    auto key = name.substr(6);
    for (const auto& [k, v] : r.query)
      if (ascii_iequals(k, key)) return v;
    return std::nullopt;
  }
  if (istarts(name, "Headers.")) {
    auto v = r.header(name.substr(8));
    if (v.data() == nullptr && v.empty()) return std::nullopt;
    return std::string(v);
  }
  for (const auto& [k, v] : r.params)
    if (ascii_iequals(k, name)) return v;
  // Route parameters win over the body, as in Azure; then a JSON object body's properties.
  return json_property(r.body, name);
}

std::optional<std::string> queue_value(std::string_view name, const api::QueueMessageData& m) {
  if (ascii_iequals(name, "queueTrigger")) return m.text;
  if (ascii_iequals(name, "Id")) return m.id;
  if (ascii_iequals(name, "DequeueCount")) return std::to_string(m.dequeue_count);
  if (ascii_iequals(name, "InsertionTime")) return m.insertion_time;
  if (ascii_iequals(name, "ExpirationTime")) return m.expiration_time;
  if (ascii_iequals(name, "NextVisibleTime")) return m.next_visible_time;
  if (ascii_iequals(name, "PopReceipt")) return m.pop_receipt;
  // A JSON object message: its top-level scalar properties.
  return json_property(m.text, name);
}

}  // namespace

std::optional<std::vector<TemplatePart>> parse_template(std::string_view tmpl, std::string& error) {
  std::vector<TemplatePart> parts;
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t open = tmpl.find_first_of("{}", i);
    if (open == std::string_view::npos) {
      parts.push_back({false, std::string(tmpl.substr(i))});
      break;
    }
    if (tmpl[open] == '}') {
      error = "has a '}' at character " + std::to_string(open) + " without a '{' before it";
      return std::nullopt;
    }
    if (open > i) parts.push_back({false, std::string(tmpl.substr(i, open - i))});
    size_t close = tmpl.find_first_of("{}", open + 1);
    if (close == std::string_view::npos || tmpl[close] == '{') {
      error = "has a '{' at character " + std::to_string(open) +
              " that is not closed; write a binding expression as {name}";
      return std::nullopt;
    }
    if (close == open + 1) {
      error = "has an empty binding expression {} at character " + std::to_string(open);
      return std::nullopt;
    }
    parts.push_back({true, std::string(tmpl.substr(open + 1, close - open - 1))});
    i = close + 1;
  }
  return parts;
}

std::string check_template(std::string_view tmpl, const api::FunctionSpec& fn,
                           const std::vector<std::string>& route_params) {
  std::string error;
  auto parts = parse_template(tmpl, error);
  if (!parts) return error;
  for (const auto& p : *parts) {
    if (!p.expression) continue;
    bool known = false;
    for (auto g : kGlobal) known = known || ascii_iequals(p.text, g);
    std::string offered = "{rand-guid}, {DateTime}, {sys.MethodName}";
    if (fn.http()) {
      known = known || istarts(p.text, "Query.") || istarts(p.text, "Headers.");
      for (const auto& r : route_params) known = known || ascii_iequals(p.text, r);
      offered += ", {Query.<name>}, {Headers.<name>}";
      for (const auto& r : route_params) offered += ", {" + r + "}";
      // Any other name may be a property of a JSON body: only known when the request comes.
      known = true;
    } else if (fn.queue() || fn.activity()) {
      // Any other name may be a property of a JSON message or activity input: only known when
      // it arrives.
      known = true;
    }
    if (!known)
      return "uses {" + p.text + "}, which this function's trigger does not provide; use " +
             offered;
  }
  return "";
}

std::optional<std::string> resolve(std::string_view tmpl, const api::Invocation& inv,
                                   std::string& error) {
  if (tmpl.find_first_of("{}") == std::string_view::npos) return std::string(tmpl);
  auto parts = parse_template(tmpl, error);
  if (!parts) return std::nullopt;
  std::string out;
  for (const auto& p : *parts) {
    if (!p.expression) {
      out += p.text;
      continue;
    }
    std::optional<std::string> v = global_value(p.text, inv);
    if (!v && inv.http()) v = http_value(p.text, *inv.http());
    if (!v && inv.queue()) v = queue_value(p.text, *inv.queue());
    if (!v && inv.activity()) v = json_property(inv.activity()->input, p.text);
    if (!v) {
      error = "binding expression {" + p.text + "} has no value for this invocation" +
              (inv.http()    ? " (no such route parameter, query parameter or header, and the "
                               "body is not a JSON object with that top-level string, number or "
                               "boolean property)"
               : inv.queue() ? " (no such message property; the message must be a JSON object "
                               "with that top-level property)"
               : inv.activity() ? " (the activity's input must be a JSON object with that "
                                  "top-level string, number or boolean property)"
                                : "");
      return std::nullopt;
    }
    out += *v;
  }
  return out;
}

std::optional<ParameterizedQuery> parameterize(std::string_view tmpl, const api::Invocation& inv,
                                               std::string& error) {
  auto parts = parse_template(tmpl, error);
  if (!parts) return std::nullopt;
  ParameterizedQuery q;
  for (const auto& p : *parts) {
    if (!p.expression) {
      q.text += p.text;
      continue;
    }
    auto value = resolve("{" + p.text + "}", inv, error);
    if (!value) return std::nullopt;
    std::string name = "@_p" + std::to_string(q.parameters.size());
    q.text += name;
    q.parameters.emplace_back(std::move(name), std::move(*value));
  }
  return q;
}

}  // namespace nimbus::bindings
