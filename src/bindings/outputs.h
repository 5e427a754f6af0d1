#pragma once
// Output bindings: turns what a function gave its named outputs (api::InvocationResult::
// outputs) into writes of one api::Effects, one converter per binding type (queue messages,
// documents). Every value is checked before anything is written, so a function learns
// which binding failed and how to fix it, and the commit stays all or nothing.
#include <functional>
#include <string>
#include <vector>

#include "api/effects.h"
#include "api/invocation.h"

namespace nimbus::bindings {

struct OutputOptions {
  std::string queue_account;  // the built-in store's account queue bindings write to
  bool base64 = true;         // extensions.queues.messageEncoding: outputs encode as triggers decode
  // Whether the app has an orchestrator of this name: orchestration starts (a native
  // function's ctx.start_new, binding "$orchestrations") are checked against it. Empty: the
  // host runs no orchestrations, so starts fail the invocation.
  std::function<bool(std::string_view)> orchestrator_exists;
};

// The output binding name a native function's ctx.start_new writes under (nimbus.h's
// Context::kStartsBinding): each value starts an orchestration in the same commit.
inline constexpr const char* kOrchestrationStarts = "$orchestrations";

// Adds one write per value in `outputs` to `fx`. "" on success; otherwise why (naming the
// binding, the resolved target and the fix) and `fx` may be partly filled: do not commit it.
// A value for a binding the function does not declare is an error (native functions name
// their outputs; custom handlers' undeclared Outputs are ignored before this point).
std::string add_output_writes(const api::Invocation& inv, const std::vector<api::OutputValue>& outputs,
                              const OutputOptions& options, api::Effects& fx);

// Why one queue message cannot be written ("" when it can): the rules the store enforces.
std::string check_queue_output(const std::string& queue, const std::string& text, bool base64);

}  // namespace nimbus::bindings
