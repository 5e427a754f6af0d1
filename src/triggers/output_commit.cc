#include "triggers/output_commit.h"

#include <boost/asio.hpp>

namespace nimbus::triggers {

boost::asio::awaitable<bool> commit_outputs(runtime::EffectsCommitter* effects,
                                            const api::Invocation& inv, api::InvocationResult& r,
                                            const bindings::OutputOptions& options, Logger* log) {
  if (r.outcome != api::Outcome::succeeded || r.outputs.empty()) co_return false;
  auto fail = [&](std::string error) {
    r.outcome = api::Outcome::failed;
    r.error = std::move(error);
    return true;
  };
  if (!effects) co_return fail("this host has no store for output bindings");
  api::Effects fx;
  if (auto e = bindings::add_output_writes(inv, r.outputs, options, fx); !e.empty())
    co_return fail(e + "; no output was written");
  auto done = co_await effects->commit(std::move(fx));
  if (done) co_return false;
  const auto& e = done.error();
  if (e.code == api::QueueErrc::storage_failure || e.code == api::QueueErrc::unavailable) {
    // The detail names the database file: for the operator's log, not the HTTP client.
    if (log)
      log->error("Host.Bindings", "outputs could not be written: " + e.message,
                 {{"function", inv.function->name},
                  {"invocationId", inv.id},
                  {"outputs", static_cast<int64_t>(r.outputs.size())}});
    co_return fail("outputs could not be written (the store failed); no output was written; "
                   "retry, and see the host log for the cause");
  }
  co_return fail("output failed: " + e.message + "; no output was written");
}

}  // namespace nimbus::triggers
