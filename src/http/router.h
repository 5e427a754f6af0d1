#pragma once
// Maps (method, path) to a function. Built once at start from the app's functions; read-only after,
// so lookups need no lock. Knows nothing of sockets: the HTTP server asks, the router answers.
#include <map>
#include <string>
#include <vector>

#include "api/function.h"
#include "http/route_template.h"

namespace nimbus::http {

struct RouteMatch {
  enum class Kind { found, not_found, method_not_allowed, bad_path } kind = Kind::not_found;
  const api::FunctionSpec* function = nullptr;
  std::map<std::string, std::string> params;
  std::vector<std::string> allowed;  // for method_not_allowed: the Allow header's methods
};

class Router {
 public:
  // `prefix` is host.json extensions.http.routePrefix without slashes ("" for none).
  Router(std::string prefix, const std::vector<api::FunctionSpec>& functions);
  // `path` is the request target's path, still percent-encoded, without the query.
  RouteMatch match(std::string_view method, std::string_view path) const;

 private:
  struct Entry {
    RouteTemplate route;
    const api::FunctionSpec* function;
  };
  std::vector<std::string> prefix_;
  std::vector<Entry> entries_;  // most specific first
};

}  // namespace nimbus::http
