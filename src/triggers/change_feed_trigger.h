#pragma once
// Fires cosmosDBTrigger functions from a container's change feed, pushed rather than polled:
// the engine's commit notice for the container (api::DocumentChanged) wakes the listener at
// once; feedPollDelay is only the safety-net poll (Azure polls every 5 s).
//
// Per function, one lease: a document in the lease container (`<prefix>nimbus_<db>_<container>
// ..0`, partition key /id) whose ContinuationToken is the last LSN the function completed. A
// batch is the next changes after it (latest versions, _lsn order, at most
// maxItemsPerInvocation), one invocation at a time, in order. Success commits the batch's
// output bindings and the lease's advance as ONE api::Effects (LeaseAdvance, If-Match on the
// lease's _etag): after a crash the batch either ran with its outputs and the lease moved, or
// neither, so it is delivered again. A failed batch is retried, never skipped silently: with a
// retry policy (function.json or host.json "retry") as it says, and when its maxRetryCount is
// spent the lease moves on with an error in the log and the "skipped" metric; without one,
// forever, backing off from 1 s to 60 s (Azure checkpoints a failed batch and loses it).
//
// No lease container and createLeaseContainerIfNotExists false, or no monitored container:
// the function waits (logging why and the fix; the first write to the container wakes it)
// and starts once they exist. "From now" is from when the function started: a container
// created after that is read from its beginning, so its first writes are not lost.
// Threading: the host's single I/O thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <list>
#include <memory>
#include <string>

#include "api/effects.h"
#include "bindings/outputs.h"
#include "common/log.h"
#include "config/app_spec.h"
#include "documents/async_document_store.h"
#include "observability/metrics.h"
#include "runtime/dispatcher.h"
#include "runtime/effects_committer.h"

namespace nimbus::triggers {

class ChangeFeedTrigger {
 public:
  ChangeFeedTrigger(boost::asio::io_context& io, documents::AsyncDocumentStore& store,
                    runtime::EffectsCommitter& effects, runtime::Dispatcher& dispatcher,
                    const config::AppSpec& app, bindings::OutputOptions outputs,
                    observability::Metrics& metrics, Logger& log);
  ~ChangeFeedTrigger();
  // A batch's documents are cut at this many bytes of JSON (at least one document each), so
  // an invocation's payload stays small whatever maxItemsPerInvocation says.
  static constexpr size_t kMaxBatchBytes = 4u << 20;
  // "" when every enabled cosmosDBTrigger function can run; otherwise why not, for the host to
  // refuse to start: two functions sharing one lease (same lease container, prefix and
  // monitored container) would take each other's batches, so Azure requires distinct
  // leaseContainerPrefix values.
  static std::string check(const config::AppSpec& app);
  // One listener per enabled cosmosDBTrigger function.
  void start();
  void stop();
  // From the engine's commit notices, on the I/O thread: wakes the listeners of a container.
  void notify(const api::CommitNotice& notice);
  // Batches being processed (and manual runs).
  int in_flight() const;
  // POST /admin/functions/{name}: runs `fn` once with `documents` (a JSON object or an array
  // of objects) as its batch, outside the feed (no lease, no retries); its outputs commit.
  // "" when started, else what is wrong with the input. `keep` holds `fn` alive until the
  // run is done (the app it belongs to may be replaced by --watch).
  std::string run_once(const api::FunctionSpec& fn, std::string_view documents,
                       std::shared_ptr<const void> keep = nullptr);

  // The id of a function's lease document (Azure's lease ids hold the account and resource
  // ids; ours the names, so a user can find it in the lease container).
  static std::string lease_id(const api::DocumentTriggerSpec& t);

 private:
  struct Listener;
  boost::asio::awaitable<void> run(std::shared_ptr<Listener> l);
  // Finds the containers and reads (or creates) the lease; false with `why` when it cannot yet.
  boost::asio::awaitable<bool> acquire(Listener& l, std::string& why);
  boost::asio::awaitable<int> fetch(std::shared_ptr<Listener> l, runtime::Admission::Permit batch);
  boost::asio::awaitable<void> process(std::shared_ptr<Listener> l, api::ChangeFeedPage page,
                                       runtime::Admission::Permit permit);
  // The batch's completion; true when the batch is done with (committed, skipped, or the lease
  // was lost), false when it must be retried.
  boost::asio::awaitable<bool> settle(Listener& l, const api::ChangeFeedPage& page,
                                      const api::Invocation& inv, api::InvocationResult& result,
                                      int attempt);
  // Commits the lease's move to `lsn` with `fx`'s writes.
  boost::asio::awaitable<api::QueueResult<api::CommitReceipt>> advance(Listener& l, int64_t lsn,
                                                                       api::Effects fx);
  void report_lag(Listener& l);

  boost::asio::io_context& io_;
  documents::AsyncDocumentStore& store_;
  runtime::EffectsCommitter& effects_;
  runtime::Dispatcher& dispatcher_;
  const config::AppSpec& app_;
  bindings::OutputOptions outputs_;
  observability::Metrics& metrics_;
  Logger& log_;
  std::string owner_;  // this host, written into the leases it holds
  std::list<std::shared_ptr<Listener>> listeners_;
  int manual_in_flight_ = 0;
};

}  // namespace nimbus::triggers
