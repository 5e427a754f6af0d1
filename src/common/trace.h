#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header,
// "00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>". Every invocation is a span: it
// keeps the caller's trace id (or starts a trace) and gets a span id of its own, which it
// passes on (to custom handlers as the `traceparent` request header, to native code in the
// invoke frame) and writes on its log lines.
#include <optional>
#include <string>
#include <string_view>

namespace nimbus {

struct TraceContext {
  std::string trace_id;   // 32 lower-case hex digits, not all zero
  std::string span_id;    // 16 lower-case hex digits, not all zero: this span
  std::string parent_id;  // the caller's span ("" when this span started the trace)
  std::string flags = "01";

  // "00-<trace_id>-<span_id>-<flags>": what this span hands to the work it calls.
  std::string traceparent() const;
  // The same, appended to `out` (a request head being written: no string of its own).
  void append_traceparent(std::string& out) const;
  // Parses a traceparent header as the spec says a receiver must: version 00 exactly four
  // fields; a higher version at least those fields (later ones ignored); lower-case hex;
  // all-zero ids and version ff refused. nullopt when the header is invalid (start a trace).
  static std::optional<TraceContext> parse(std::string_view header);
  // A new span: a child of `parent` (its trace id and flags, parent_id = its span) or, with no
  // valid parent, the first span of a new trace.
  static TraceContext child_of(const std::optional<TraceContext>& parent);
};

}  // namespace nimbus
