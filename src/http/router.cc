#include "http/router.h"

#include <algorithm>

namespace nimbus::http {

Router::Router(std::string prefix, const std::vector<api::FunctionSpec>& functions) {
  split_path(prefix, prefix_);
  for (const auto& fn : functions) {
    if (!fn.http() || fn.disabled) continue;
    std::string error;
    auto t = RouteTemplate::parse(fn.http()->route, error);
    if (!t) continue;  // the loader already refused such functions
    entries_.push_back({std::move(*t), &fn});
  }
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.route.more_specific_than(b.route);
  });
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch out;
  // The segments go into a per-thread scratch vector whose capacity stays (no allocation per
  // request; the router itself is shared and immutable).
  thread_local std::vector<std::string> segs;
  if (segs.capacity() > 64) std::vector<std::string>().swap(segs);  // not a huge path's
  if (!split_path(path, segs)) {
    out.kind = RouteMatch::Kind::bad_path;
    return out;
  }
  if (segs.size() < prefix_.size()) return out;
  for (size_t i = 0; i < prefix_.size(); ++i) {
    if (!ascii_iequals(segs[i], prefix_[i])) return out;
  }
  segs.erase(segs.begin(), segs.begin() + static_cast<long>(prefix_.size()));
  for (const auto& e : entries_) {
    std::map<std::string, std::string> params;
    if (!e.route.match(segs, params)) continue;
    const auto& methods = e.function->http()->methods;
    bool allowed = methods.empty() ||
                   std::find(methods.begin(), methods.end(), method) != methods.end() ||
                   // HEAD is served wherever GET is, as HTTP servers conventionally do.
                   (method == "HEAD" &&
                    std::find(methods.begin(), methods.end(), "GET") != methods.end());
    if (allowed) {
      out.kind = RouteMatch::Kind::found;
      out.function = e.function;
      out.params = std::move(params);
      out.allowed.clear();
      return out;
    }
    out.kind = RouteMatch::Kind::method_not_allowed;
    for (const auto& m : methods)
      if (std::find(out.allowed.begin(), out.allowed.end(), m) == out.allowed.end())
        out.allowed.push_back(m);
  }
  return out;
}

}  // namespace nimbus::http
