// Fuzzes the custom handler response mapping (map_invocation_response in
// src/workers/custom_handler_protocol.h): a handler process's HTTP answer, status and body,
// mapped for functions with every kind of output (http "$return", a named http output, none,
// queue outputs by name and "$return", a queue trigger).
// Input: an optional first line with the decimal status ("200\n{...}"); without one, the whole
// input is the body and the status is 200.
// Properties checked beyond "no crash, no sanitizer report":
//   - a non-2xx status always fails the invocation;
//   - success means an HTTP status in 100..599 for HTTP functions;
//   - queue messages go only to declared output queues;
//   - anything but success carries an error message;
//   - the one-pass reader of the usual answer (custom_handler_answer.cc) and the DOM mapping
//     give the same result, outputs and detail for every input.
#include <boost/json.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/invocation.h"
#include "workers/custom_handler_protocol.h"

namespace {

using namespace nimbus;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "custom_handler_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

// queues: (binding name, queue name) pairs.
api::FunctionSpec fn(std::string name, std::string trigger, std::string http_output,
                     std::vector<std::pair<std::string, std::string>> queues) {
  api::FunctionSpec f;
  f.name = std::move(name);
  bool http = trigger == "httpTrigger";
  if (http)
    f.trigger = api::HttpTriggerSpec{};
  else
    f.trigger = api::QueueTriggerSpec{"work"};
  f.trigger_name = http ? "req" : "myQueueItem";
  if (!http_output.empty()) f.outputs.push_back({std::move(http_output), api::HttpOutputSpec{}});
  for (auto& [binding, queue] : queues)
    f.outputs.push_back({std::move(binding), api::QueueOutputSpec{std::move(queue)}});
  return f;
}

const std::vector<api::FunctionSpec>& functions() {
  static const std::vector<api::FunctionSpec> fns = {
      fn("httpReturn", "httpTrigger", "$return", {}),
      fn("httpRes", "httpTrigger", "res", {{"out", "orders"}, {"audit", "audit-log"}}),
      fn("httpNone", "httpTrigger", "", {{"$return", "results"}}),
      fn("queueWork", "queueTrigger", "", {{"out", "next"}, {"$return", "done"}}),
  };
  return fns;
}

// Every JSON text the mapping writes must parse: a number out of double range (1e999) once
// came back from Boost.JSON as infinity and went out as `Infinity` (now a 502).
bool check_written_json() { return true; }

// Strings keep the bytes the handler sent (not UTF-8 included, by design: see
// map_invocation_response), so written JSON is read back accepting such bytes; what must
// never appear is text that is not JSON at all (such as `Infinity`).
bool parses(std::string_view text) {
  boost::json::parse_options bytes;
  bytes.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  (void)boost::json::parse(text, ec, {}, bytes);
  return !ec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  int status = 200;
  if (size_t nl = body.find('\n'); nl != std::string_view::npos && nl > 0 && nl <= 11) {
    int s = 0;
    auto [end, ec] = std::from_chars(body.data(), body.data() + nl, s);
    if (ec == std::errc() && end == body.data() + nl) {
      status = s;
      body.remove_prefix(nl + 1);
    }
  }
  for (const auto& f : functions()) {
    api::InvocationResult out;
    std::string detail;
    workers::map_invocation_response(f, status, body, out, detail);
    if (status < 200 || status > 299) CHECK(out.outcome == api::Outcome::failed);
    if (out.outcome == api::Outcome::succeeded) {
      if (f.http())
        CHECK(out.response.status >= 100 && out.response.status <= 599);
      for (const auto& [name, value] : out.response.headers) CHECK(!workers::is_hop_by_hop(name));
      // A body the mapping serialized itself (it then adds the JSON content type) is JSON.
      if (check_written_json() && !out.response.headers.empty() &&
          out.response.headers.back().first == "Content-Type" &&
          out.response.headers.back().second == "application/json")
        CHECK(parses(out.response.body));
    } else {
      CHECK(!out.error.empty());
    }
    {
      api::InvocationResult dom;
      std::string dom_detail;
      workers::map_invocation_response_dom(f, status, body, dom, dom_detail);
      CHECK(out.outcome == dom.outcome && out.error == dom.error && out.logs == dom.logs);
      CHECK(out.response.status == dom.response.status &&
            out.response.headers == dom.response.headers && out.response.body == dom.response.body);
      CHECK(out.outputs == dom.outputs && detail == dom_detail);
    }
    // Declared store outputs only. (A bad_response can carry outputs mapped before the http
    // output was found malformed; callers write them only on success, so that is not checked.)
    for (const auto& o : out.outputs) {
      const auto* b = f.output(o.binding);
      CHECK(b && !std::holds_alternative<api::HttpOutputSpec>(b->spec));
    }
  }
  return 0;
}
