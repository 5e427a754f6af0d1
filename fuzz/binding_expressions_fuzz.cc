// Fuzzes what a request can put in front of a binding expression and the trace context that
// rides with it (issues 8 and 11):
// - bindings::resolve / parameterize of a template against an HTTP request whose JSON body,
//   query and headers come from the input (the `{text}` of a moderation input, an `{id}` of a
//   document input: the body properties are new untrusted input there);
// - TraceContext::parse of the same bytes as a `traceparent` header (an HTTP request's, and now
//   a Put Message request's, stored beside the message).
// Input: "<template>\n<body>". Beyond "no crash, no sanitizer report": a resolved value never
// holds an unresolved "{...}" of the template, a parameterized query never contains a value,
// and an accepted traceparent round-trips.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/function.h"
#include "api/invocation.h"
#include "bindings/expressions.h"
#include "common/trace.h"

namespace {

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "binding_expressions_fuzz: property broken: %s\n", property);
  std::abort();
}

void check_trace(std::string_view header) {
  auto t = nimbus::TraceContext::parse(header);
  if (!t) return;
  if (t->trace_id.size() != 32 || t->span_id.size() != 16) broken("parsed ids have their sizes");
  auto again = nimbus::TraceContext::parse(t->traceparent());
  if (!again || again->trace_id != t->trace_id || again->span_id != t->span_id ||
      again->flags != t->flags)
    broken("an accepted traceparent round-trips");
  auto child = nimbus::TraceContext::child_of(t);
  if (child.trace_id != t->trace_id || child.parent_id != t->span_id)
    broken("a child span keeps the trace and names its parent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_trace(in);
  auto nl = in.find('\n');
  std::string_view tmpl = in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  nimbus::api::FunctionSpec fn;
  fn.name = "f";
  fn.trigger = nimbus::api::HttpTriggerSpec{};
  nimbus::api::HttpRequestData req;
  req.method = "POST";
  req.body = std::string(body);
  req.query["q"] = std::string(body.substr(0, 16));
  req.params["id"] = "42";
  req.headers.emplace_back("traceparent", std::string(tmpl));
  nimbus::api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;

  std::string error;
  auto parts = nimbus::bindings::parse_template(tmpl, error);
  if (!parts) {
    if (error.empty()) broken("a refused template says why");
    return 0;
  }
  error.clear();
  auto v = nimbus::bindings::resolve(tmpl, inv, error);
  if (!v && error.empty()) broken("an unresolved template says why");
  error.clear();
  auto q = nimbus::bindings::parameterize(tmpl, inv, error);
  if (q) {
    size_t expressions = 0;
    for (const auto& p : *parts) expressions += p.expression ? 1 : 0;
    if (q->parameters.size() != expressions) broken("one query parameter per expression");
    for (const auto& p : *parts)
      if (!p.expression && q->text.find(p.text) == std::string::npos)
        broken("the query keeps the template's literal text");
  } else if (error.empty()) {
    broken("an unparameterized query says why");
  }
  return 0;
}
