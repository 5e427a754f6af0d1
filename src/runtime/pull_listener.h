#pragma once
// The loop every pulled trigger runs (queue messages today; change-feed batches and durable
// work items next): take admission permits for a batch, fetch at most that many items, hand
// each its own permit, and sleep until there is reason to fetch again. Extracted from the
// queue trigger so the next pulled triggers are a fetch function, not another loop.
//
// Why pushed and polled both: the store's commit notices wake the loop at once (poke(), or
// due_at() for work that becomes visible later, which re-plans the sleep without a fetch);
// the poll that grows from min_idle to max_idle is only the safety net for work no notice announced (a lease that expired after
// a crash).
//
// Admission: `capacity` permits (batchSize + newBatchThreshold for queues). A fetch happens
// only when `batch` permits are free, and each fetched item keeps one until its owner drops
// it, so a limit never refuses an item after its delivery attempt was spent.
//
// Ownership: the fetch function may capture the owner; the owner must call stop() and keep
// itself alive until run() has returned. Threading: one I/O thread, no locks.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>

#include "runtime/admission.h"

namespace nimbus::runtime {

class PullListener {
 public:
  struct Options {
    int batch = 16;     // items per fetch, and permits a fetch needs
    int capacity = 24;  // permits in all: items in flight at most
    std::chrono::milliseconds max_idle{2000};  // the longest sleep without a notice
    std::chrono::milliseconds min_idle{100};   // the first poll after an empty fetch
  };
  // Fetches up to batch.count() items, giving each a permit (batch.split(1)) and starting its
  // processing without awaiting it; returns how many it fetched (0: nothing there, or the
  // fetch failed, which the fetch function reports itself). Permits it keeps return to the
  // gate when `batch` is destroyed.
  using Fetch = std::function<boost::asio::awaitable<int>(Admission::Permit batch)>;

  PullListener(boost::asio::any_io_executor ex, Options options, Fetch fetch);

  // Runs until stop(). Fetches again at once after a fetch that found items.
  boost::asio::awaitable<void> run();
  // New work is available now (a commit notice, a finished item freeing permits).
  void poke();
  // Work becomes available at `unix_ms` (a delayed message): wake then, not before.
  void due_at(int64_t unix_ms);
  void stop();

  const Admission& permits() const { return permits_; }
  int fetches() const { return fetches_; }

 private:
  Options opt_;
  Fetch fetch_;
  boost::asio::steady_timer wake_;
  Admission permits_;
  bool poked_ = false;           // a poke arrived while not sleeping
  int64_t next_due_ = INT64_MAX;  // earliest due time announced
  bool stopped_ = false;
  int fetches_ = 0;
};

}  // namespace nimbus::runtime
