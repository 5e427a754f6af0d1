#pragma once
// The conformance suite every api::DurableStore backend must pass, with the api::EffectsStore
// of the same backend (the durable Effects parts: OrchestrationStart, OrchestrationEvent,
// ActivityTask, EpisodeAck, ActivityAck, and their commit notices). A backend test file
// provides a DurableStoreBackend and instantiates the suite:
//   INSTANTIATE_TEST_SUITE_P(Backends, DurableStoreConformance, ::testing::Values(&kSqlite),
//                            [](const auto& i) { return std::string(i.param->name); });
// The suite drives the store synchronously through SyncDurable, on a FakeClock.
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/durable_store.h"
#include "api/effects.h"
#include "api/queue_store.h"
#include "queue_store_conformance.h"  // FakeClock

namespace nimbus::conformance {

struct DurableStoreBackend {
  const char* name;
  // Opens the store kept in `dir` (fresh, or the same dir again to check durability).
  std::function<std::unique_ptr<api::DurableStore>(const std::string& dir, FakeClock& clock)> open;
  // The EffectsStore that commits for `store`, and a queue store on the same engine (to see
  // that a queue put in a failed Effects did not land).
  std::function<api::EffectsStore&(api::DurableStore& store)> effects;
  std::function<std::unique_ptr<api::QueueStore>(api::DurableStore& store)> queues;
};

// Blocking adapters over the callback interface: one call, one result.
class SyncDurable {
 public:
  SyncDurable(api::DurableStore& s, api::EffectsStore& e) : s_(s), e_(e) {}

  template <class T, class Submit>
  static api::QueueResult<T> wait(Submit&& submit) {
    std::promise<api::QueueResult<T>> p;
    auto f = p.get_future();
    submit([&p](api::QueueResult<T> r) { p.set_value(std::move(r)); });
    return f.get();
  }

  api::QueueResult<api::CommitReceipt> commit(api::Effects fx) {
    return wait<api::CommitReceipt>([&](auto cb) { e_.commit(std::move(fx), cb); });
  }
  api::QueueResult<api::InstanceState> get(std::string id) {
    return wait<api::InstanceState>([&](auto cb) { s_.get_instance(id, cb); });
  }
  api::QueueResult<api::Episode> episode(std::string id, bool with_history = true,
                                         int max_inbox = 100) {
    return wait<api::Episode>([&](auto cb) { s_.load_episode(id, with_history, max_inbox, cb); });
  }
  api::QueueResult<std::vector<std::string>> history(std::string id) {
    return wait<std::vector<std::string>>([&](auto cb) { s_.get_history(id, cb); });
  }
  api::QueueResult<api::InstancePage> list(api::InstanceQuery q) {
    return wait<api::InstancePage>([&](auto cb) { s_.list_instances(q, cb); });
  }
  api::QueueResult<int64_t> purge(std::vector<std::string> ids) {
    return wait<int64_t>([&](auto cb) { s_.purge(ids, cb); });
  }
  api::QueueResult<int64_t> purge_matching(api::InstanceQuery q) {
    return wait<int64_t>([&](auto cb) { s_.purge_matching(q, cb); });
  }
  api::QueueResult<api::DurableRecovery> recover() {
    return wait<api::DurableRecovery>([&](auto cb) { s_.recover(cb); });
  }

 private:
  api::DurableStore& s_;
  api::EffectsStore& e_;
};

// Collects commit notices (they arrive on the backend's thread, before the commit completes).
class NoticeLog {
 public:
  void operator()(const api::CommitNotice& n) {
    std::lock_guard lk(mu_);
    notices_.push_back(n);
  }
  std::vector<api::CommitNotice> take() {
    std::lock_guard lk(mu_);
    return std::exchange(notices_, {});
  }

 private:
  std::mutex mu_;
  std::vector<api::CommitNotice> notices_;
};

class DurableStoreConformance : public ::testing::TestWithParam<const DurableStoreBackend*> {
 protected:
  void SetUp() override;
  void TearDown() override;
  void reopen();  // closes the store and opens the same data again
  api::EffectsStore& effects() { return GetParam()->effects(*store_); }
  SyncDurable& sync() { return *sync_; }
  api::QueueResult<api::CommitReceipt> commit(api::Effects fx) { return sync_->commit(std::move(fx)); }

  // Starts instance `id` (execution "<id>-e1" unless given) and returns its started event's
  // inbox sequence number (0 when the commit failed: the test has failed then).
  int64_t start(const std::string& id, const std::string& execution = "",
                api::UnixMillis start_at = 0);
  // Delivers `event` to `id`'s inbox; returns the receipt's sequence number.
  int64_t send(const std::string& id, const std::string& event, api::UnixMillis visible_at = 0);
  // Commits one episode of `id` (current execution) consuming everything visible now and
  // setting `status` (completed time follows from it).
  void finish_episode(const std::string& id, api::RuntimeStatus status,
                      std::vector<std::string> history = {}, std::string output = "");
  api::UnixMillis now() const { return clock_.now.load(); }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<api::DurableStore> store_;
  std::unique_ptr<SyncDurable> sync_;
};

}  // namespace nimbus::conformance
