#include "bindings/outputs.h"

#include <boost/json.hpp>

#include "api/durable_events.h"
#include "bindings/expressions.h"
#include "common/ids.h"
#include "queue/queue_xml.h"

namespace nimbus::bindings {

std::string check_queue_output(const std::string& queue, const std::string& text, bool base64) {
  if (!api::is_valid_queue_name(queue))
    return "queue output names queue \"" + queue +
           "\", which is not a valid queue name; use 3-63 lower-case letters, digits and "
           "single hyphens, not at either end";
  size_t size = base64 ? (text.size() + 2) / 3 * 4 : text.size();
  if (size > api::kMaxMessageBytes)
    return "queue output to \"" + queue + "\" is " + std::to_string(size) + " bytes" +
           (base64 ? " after base64 encoding" : "") + ", over the " +
           std::to_string(api::kMaxMessageBytes) +
           "-byte message limit; store large payloads elsewhere and enqueue a reference";
  size_t bad = 0;
  if (!base64 && !queue::is_xml_text(text, &bad))
    return "queue output to \"" + queue + "\" has a byte or character XML cannot carry at byte " +
           std::to_string(bad) +
           " (not UTF-8, or a control character other than tab/LF/CR); the queue REST API "
           "could not return it. Send UTF-8 text, or set extensions.queues.messageEncoding "
           "to \"base64\"";
  return "";
}

namespace {

std::string queue_write(const api::Invocation& inv, const api::OutputBinding& b,
                        const api::QueueOutputSpec& spec, std::string text,
                        const OutputOptions& opt, api::Effects& fx) {
  std::string error;
  auto queue = resolve(spec.queue, inv, error);
  if (!queue) return "output binding \"" + b.name + "\" (queueName \"" + spec.queue + "\"): " + error;
  if (auto e = check_queue_output(*queue, text, opt.base64); !e.empty())
    return "output binding \"" + b.name + "\": " + e;
  api::NewMessage m;
  m.queue = {opt.queue_account, std::move(*queue)};
  m.text = opt.base64 ? base64_encode(text) : std::move(text);
  // The message carries this invocation's span, so the invocation it triggers joins the trace.
  if (!inv.trace.trace_id.empty()) m.traceparent = inv.trace.traceparent();
  fx.put(std::move(m));
  return "";
}

// One document per value, or one per element of an array value: upserted, so a retried
// invocation rewrites rather than duplicates. A document without an "id" gets a new UUID, as
// the Azure output binding does (its docs say the id is generated when absent; unverified for
// every extension version).
std::string document_writes(const api::OutputBinding& b, const api::DocumentOutputSpec& spec,
                            const std::string& text, api::Effects& fx) {
  auto where = "output binding \"" + b.name + "\" (container \"" + spec.database + "/" +
               spec.container + "\")";
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec)
    return where + ": the value is not JSON (" + ec.message() +
           "); give a JSON object, or an array of objects";
  auto add = [&](boost::json::value& doc) -> std::string {
    if (!doc.is_object())
      return where + ": a document must be a JSON object, not " +
             std::string(doc.is_array() ? "an array" : doc.is_string() ? "a string" : "a scalar");
    auto& o = doc.as_object();
    if (!o.contains("id")) o["id"] = new_uuid();
    fx.upsert({spec.database, spec.container}, std::move(o));
    return "";
  };
  if (v.is_array()) {
    for (auto& d : v.as_array())
      if (auto e = add(d); !e.empty()) return e;
    return "";
  }
  return add(v);
}

// A native function's ctx.start_new: {"name","instanceId","input"} (input: the JSON value).
std::string orchestration_start(const std::string& text, const OutputOptions& options,
                                api::Effects& fx) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  const boost::json::object* o = !ec ? v.if_object() : nullptr;
  auto field = [&](const char* k) -> std::string {
    if (!o) return {};
    auto* x = o->if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  std::string name = field("name"), id = field("instanceId");
  if (!o || name.empty() || id.empty())
    return "an orchestration start must be {\"name\",\"instanceId\",\"input\"}; use "
           "ctx.start_new(orchestrator, input)";
  if (!options.orchestrator_exists || !options.orchestrator_exists(name))
    return "ctx.start_new(\"" + name + "\"): no orchestrator of that name in this app; check the "
           "name (case matters)";
  std::string input = "null";
  if (auto* in = o->if_contains("input")) input = boost::json::serialize(*in);
  fx.writes.emplace_back(api::durable_events::start_write(name, id, input, "", unix_now_ms()));
  return "";
}

}  // namespace

std::string add_output_writes(const api::Invocation& inv,
                              const std::vector<api::OutputValue>& outputs,
                              const OutputOptions& options, api::Effects& fx) {
  fx.writes.reserve(fx.writes.size() + outputs.size());
  for (const auto& value : outputs) {
    if (value.binding == kOrchestrationStarts) {
      if (auto e = orchestration_start(value.data, options, fx); !e.empty()) return e;
      continue;
    }
    const api::OutputBinding* b = inv.function->output(value.binding);
    if (!b)
      return "the function gave a value to output binding \"" + value.binding +
             "\", which it does not declare; declare it (function.json bindings, or the native "
             "SDK's outputs option) or stop writing to it";
    std::string e = std::visit(
        [&](const auto& spec) -> std::string {
          using T = std::decay_t<decltype(spec)>;
          if constexpr (std::is_same_v<T, api::QueueOutputSpec>)
            return queue_write(inv, *b, spec, value.data, options, fx);
          else if constexpr (std::is_same_v<T, api::DocumentOutputSpec>)
            return document_writes(*b, spec, value.data, fx);
          else
            return "output binding \"" + b->name +
                   "\" is the HTTP response; it is the trigger's answer, not a store write";
        },
        b->spec);
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace nimbus::bindings
