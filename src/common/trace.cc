#include "common/trace.h"

#include "common/ids.h"

#include <cstdint>
#include <random>
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

// Trace and span ids must be unique, not unguessable (W3C trace context): as new_uuid does,
// a per-thread generator seeded once from the CSPRNG, instead of two RAND_bytes calls per
// invocation (a few percent of the host's CPU with durable activities, perf).
std::string random_hex(size_t bytes) {
  thread_local std::mt19937_64 gen = [] {
    std::string seed = random_bytes(sizeof(uint64_t) * 4);
    std::seed_seq seq(seed.begin(), seed.end());
    return std::mt19937_64(seq);
  }();
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (;;) {
    out.clear();
    for (size_t i = 0; i < bytes; i += 8) {
      uint64_t r = gen();
      for (size_t k = 0; k < 8 && i + k < bytes; ++k, r >>= 8) {
        auto b = static_cast<unsigned char>(r & 0xff);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
      }
    }
    if (!all_zero(out)) return out;
  }
}

}  // namespace

std::string TraceContext::traceparent() const {
  return "00-" + trace_id + "-" + span_id + "-" + flags;
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
    t.trace_id = random_hex(16);
  }
  t.span_id = random_hex(8);
  return t;
}

}  // namespace nimbus
