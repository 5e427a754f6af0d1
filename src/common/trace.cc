#include "common/trace.h"

#include "common/ids.h"

#include <cstdint>
#include <string>

namespace nimbus {

namespace {

bool lower_hex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

std::string TraceContext::traceparent() const {
  std::string out;
  append_traceparent(out);
  return out;
}

void TraceContext::append_traceparent(std::string& out) const {
  out.reserve(out.size() + 6 + trace_id.size() + span_id.size() + flags.size());
  out.append("00-", 3).append(trace_id).append(1, '-').append(span_id).append(1, '-').append(flags);
}

std::optional<TraceContext> TraceContext::parse(std::string_view h) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
  if (h.size() < 55) return std::nullopt;
  std::string_view version = h.substr(0, 2);
  if (!lower_hex(version, 2) || version == "ff") return std::nullopt;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  if (version == "00" ? h.size() != 55 : (h.size() > 55 && h[55] != '-')) return std::nullopt;
  TraceContext t;
  t.trace_id = std::string(h.substr(3, 32));
  t.span_id = std::string(h.substr(36, 16));
  t.flags = std::string(h.substr(53, 2));
  if (!lower_hex(t.trace_id, 32) || !lower_hex(t.span_id, 16) || !lower_hex(t.flags, 2) ||
      all_zero(t.trace_id) || all_zero(t.span_id))
    return std::nullopt;
  return t;
}

TraceContext TraceContext::child_of(const std::optional<TraceContext>& parent) {
  TraceContext t;
  if (parent) {
    t.trace_id = parent->trace_id;
    t.parent_id = parent->span_id;
    // Only the sampled bit (the lowest) is defined; pass it on and clear the rest.
    bool sampled = std::stoi(parent->flags, nullptr, 16) & 1;
    t.flags = sampled ? "01" : "00";
  } else {
    t.trace_id = unique_hex(16);  // unique, not secret (W3C trace context)
  }
  t.span_id = unique_hex(8);
  return t;
}

}  // namespace nimbus
