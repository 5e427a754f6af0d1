#include "workers/in_process_invoker.h"

#include <dlfcn.h>

#include <boost/json.hpp>

#include "workers/native_protocol.h"

namespace nimbus::workers {

InProcessInvoker::~InProcessInvoker() {
  // The library stays loaded: its code may still be referenced by app_'s handlers until
  // app_ is destroyed, and unloading at exit gains nothing.
}

std::optional<boost::json::array> InProcessInvoker::load(const std::string& library,
                                                         std::string& error) {
  handle_ = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    error = "cannot load " + library + ": " + ::dlerror();
    return std::nullopt;
  }
  auto version = reinterpret_cast<int (*)()>(::dlsym(handle_, "nimbus_sdk_version"));
  auto define = reinterpret_cast<void (*)(App&)>(::dlsym(handle_, "nimbus_define_app"));
  if (!version || !define) {
    error = library + " does not define an app; add NIMBUS_APP(app) { ... } to it";
    return std::nullopt;
  }
  if (version() != kSdkVersion) {
    error = library + " was built against another SDK version; rebuild the app";
    return std::nullopt;
  }
  define(app_);
  return describe_functions(app_);
}

boost::asio::awaitable<api::InvocationResult> InProcessInvoker::invoke(api::Invocation& inv) {
  api::InvocationResult result;
  result.worker = "in-process";
  result.cold_start = cold_;
  cold_ = false;
  const App::Function* fn = app_.find(inv.function->name);
  if (!fn) {
    result.outcome = api::Outcome::failed;
    result.error = "no function named \"" + inv.function->name + "\" in this app";
    co_return result;
  }
  // Straight from the invocation to SDK types: no protocol encoding on this path.
  Context ctx(inv.id, inv.function->name);
  for (const auto& in : inv.inputs) ctx.set_input(in.binding, in.json);
  if (!inv.trace.trace_id.empty()) ctx.set_traceparent(inv.trace.traceparent());
  HttpResponse res;
  std::string error;
  bool ok;
  if (inv.queue()) {
    const auto& m = *inv.queue();
    ok = run_queue_function(*fn, {m.id, m.text, m.dequeue_count, m.insertion_time,
                                  m.expiration_time, m.next_visible_time, m.pop_receipt},
                            ctx, res, error);
  } else if (inv.documents()) {
    ok = run_change_feed_function(*fn, inv.documents()->documents, ctx, res, error);
  } else if (inv.orchestration()) {
    ok = run_orchestrator(*fn, inv.orchestration()->request, res, error);
  } else if (inv.activity()) {
    ok = run_activity_function(*fn, inv.activity()->input, ctx, res, error);
  } else if (inv.timer()) {
    ok = run_timer_function(*fn, inv.timer()->to_json(), ctx, res, error);
  } else {
    auto& r = *inv.http();
    ok = run_http_function(*fn, {r.method, r.target, r.path, r.query, r.params, r.headers,
                                 std::move(r.body)},
                           ctx, res, error);
  }
  result.logs = ctx.logs();
  for (const auto& [binding, value] : ctx.outputs()) result.outputs.push_back({binding, value});
  if (!ok) {
    result.outcome = api::Outcome::failed;
    result.error = error;
    co_return result;
  }
  result.response = {res.status, std::move(res.headers), std::move(res.body)};
  co_return result;
}

}  // namespace nimbus::workers
