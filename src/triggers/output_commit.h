#pragma once
// The completion of triggers whose input needs no acknowledgement (HTTP, manual runs): the
// invocation's output binding values become one api::Effects (bindings/outputs.h) and commit
// together, all or none. A value that cannot be written, or a failed commit, turns a
// successful result into a failed one with an error fit for the HTTP client (storage details
// go to the log only), so logs and metrics report the outcome as committed.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>

#include "api/invocation.h"
#include "bindings/outputs.h"
#include "common/log.h"
#include "runtime/effects_committer.h"

namespace nimbus::triggers {

// Returns true when `r` was turned into a failure because its outputs could not be written.
// `effects` null: the host has no store, so any output fails the invocation.
boost::asio::awaitable<bool> commit_outputs(runtime::EffectsCommitter* effects,
                                            const api::Invocation& inv, api::InvocationResult& r,
                                            const bindings::OutputOptions& options, Logger* log);

}  // namespace nimbus::triggers
