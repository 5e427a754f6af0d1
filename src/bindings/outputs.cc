#include "bindings/outputs.h"

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
  fx.put(std::move(m));
  return "";
}

}  // namespace

std::string add_output_writes(const api::Invocation& inv,
                              const std::vector<api::OutputValue>& outputs,
                              const OutputOptions& options, api::Effects& fx) {
  fx.writes.reserve(fx.writes.size() + outputs.size());
  for (const auto& value : outputs) {
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
