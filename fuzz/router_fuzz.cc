// Fuzzes the route matcher: RouteTemplate::parse on templates from the input, split_path and
// Router::match on a method and path from the input, against a fixed app's routes (literals,
// constraints, optional and catch-all parameters) and against a router built from the fuzzed
// templates. Input, one field per line:
//   line 1: method   line 2: path (percent-encoded, as in the request target)
//   lines 3..: route templates (at most 8), as function.json "route" would hold them
// Beyond "no crash, no sanitizer report", it checks what callers rely on; a broken property
// aborts with a message naming it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/app_spec.h"
#include "http/route_template.h"
#include "http/router.h"

namespace {

using nimbus::api::FunctionSpec;
using nimbus::http::RouteMatch;
using nimbus::http::RouteTemplate;
using nimbus::http::Router;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "router_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

FunctionSpec http_fn(std::string name, std::string route, std::vector<std::string> methods) {
  FunctionSpec f;
  f.name = std::move(name);
  f.trigger_name = "req";
  f.trigger = nimbus::api::HttpTriggerSpec{nimbus::api::AuthLevel::function, std::move(methods),
                                           std::move(route)};
  f.outputs.push_back({"$return", nimbus::api::HttpOutputSpec{}});
  return f;
}

// An app with one of every kind of segment, so the fixed router's ordering is exercised too.
const std::vector<FunctionSpec>& fixed_functions() {
  static const std::vector<FunctionSpec> fns = [] {
    std::vector<FunctionSpec> v;
    v.push_back(http_fn("hello", "hello", {}));
    v.push_back(http_fn("product", "products/{category:alpha}/{id:int?}", {"GET"}));
    v.push_back(http_fn("productLong", "products/{category}/{id:long}", {"GET", "DELETE"}));
    v.push_back(http_fn("orders", "orders/{id:guid}", {"GET", "PUT"}));
    v.push_back(http_fn("ordersAny", "orders/{id}", {"POST"}));
    v.push_back(http_fn("flags", "flags/{on:bool}/{ratio:double}", {}));
    v.push_back(http_fn("prices", "prices/{p:decimal}/{q:float}", {}));
    v.push_back(http_fn("files", "files/{*path}", {"GET"}));
    v.push_back(http_fn("docs", "docs/{**rest}", {}));
    v.push_back(http_fn("opt", "opt/{name?}", {"GET"}));
    v.push_back(http_fn("root", "", {"GET"}));
    FunctionSpec disabled = http_fn("disabled", "hello", {});
    disabled.disabled = true;
    v.push_back(std::move(disabled));
    FunctionSpec queue;
    queue.name = "work";
    queue.trigger = nimbus::api::QueueTriggerSpec{"work-items"};
    v.push_back(std::move(queue));
    return v;
  }();
  return fns;
}

void check_match(const RouteMatch& m, bool path_ok) {
  switch (m.kind) {
    case RouteMatch::Kind::found:
      CHECK(path_ok);
      CHECK(m.function != nullptr);
      CHECK(m.allowed.empty());
      CHECK(!m.function->disabled);
      break;
    case RouteMatch::Kind::method_not_allowed:
      CHECK(path_ok);
      CHECK(!m.allowed.empty());
      break;
    case RouteMatch::Kind::bad_path:
      CHECK(!path_ok);
      break;
    case RouteMatch::Kind::not_found:
      CHECK(path_ok);
      break;
  }
  // Route values come from non-empty path segments (catch-alls are omitted when empty).
  for (const auto& [name, value] : m.params) {
    CHECK(!name.empty());
    CHECK(!value.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  while (!in.empty() && lines.size() < 10) {
    size_t nl = in.find('\n');
    lines.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  std::string_view method = lines.size() > 0 ? lines[0] : std::string_view("GET");
  std::string_view path = lines.size() > 1 ? lines[1] : std::string_view("/");

  std::vector<std::string> segs;
  bool path_ok = nimbus::http::split_path(path, segs);
  for (const auto& s : segs) CHECK(!s.empty());

  static const Router fixed("api", fixed_functions());
  check_match(fixed.match(method, path), path_ok);

  // Fuzzed templates: parse each, match it alone, then route among all of them.
  std::vector<FunctionSpec> fns;
  std::vector<RouteTemplate> parsed;
  for (size_t i = 2; i < lines.size(); ++i) {
    std::string error;
    auto t = RouteTemplate::parse(lines[i], error);
    if (!t) {
      CHECK(!error.empty());
      continue;
    }
    CHECK(!t->more_specific_than(*t));
    for (const auto& other : parsed)
      CHECK(!(t->more_specific_than(other) && other.more_specific_than(*t)));
    // Matching a template on its own agrees with a router that holds only it.
    std::map<std::string, std::string> params;
    bool matched = path_ok && t->match(segs, params);
    // The router keeps pointers to its functions: they must outlive it.
    const std::vector<FunctionSpec> one = {http_fn("f" + std::to_string(i), std::string(lines[i]), {})};
    Router alone("", one);
    RouteMatch m = alone.match(method, path);
    check_match(m, path_ok);
    CHECK(matched == (m.kind == RouteMatch::Kind::found));
    if (matched) CHECK(m.params == params);
    parsed.push_back(std::move(*t));
    fns.push_back(http_fn("f" + std::to_string(i), std::string(lines[i]),
                          i % 2 ? std::vector<std::string>{"GET"} : std::vector<std::string>{}));
  }
  if (!fns.empty()) {
    Router router("api/v1", fns);
    check_match(router.match(method, path), path_ok);
  }
  return 0;
}
