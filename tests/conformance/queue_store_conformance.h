#pragma once
// The conformance suite every api::QueueStore backend must pass, with the api::EffectsStore
// (the unit of change: atomic Effects commits and commit notices) of the same backend. A
// backend test file provides a QueueStoreBackend (how to open a fresh store on a fake clock,
// how to reopen the same data, and the EffectsStore behind a store) and instantiates the suite:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, QueueStoreConformance, ::testing::Values(&kSqliteBackend),
//                            [](auto& i) { return i.param->name; });
// The suite drives the store synchronously through SyncQueueStore below.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

#include "api/effects.h"
#include "api/queue_store.h"

namespace nimbus::conformance {

// A wall clock the test steps by hand, so visibility and expiry are checked exactly.
struct FakeClock {
  std::atomic<api::UnixMillis> now{1'750'000'000'000};
  void advance_seconds(double s) { now += static_cast<api::UnixMillis>(s * 1000); }
};

struct QueueStoreBackend {
  const char* name;
  // Opens the store kept in `dir` (created fresh by the suite), reading time from `clock`.
  std::function<std::unique_ptr<api::QueueStore>(const std::string& dir, FakeClock& clock)> open;
  // The EffectsStore that commits for `store` (the backend's storage engine).
  std::function<api::EffectsStore&(api::QueueStore& store)> effects;
};

// Blocking adapters over the callback interface: one call, one result.
class SyncQueueStore {
 public:
  explicit SyncQueueStore(api::QueueStore& s) : s_(s) {}

  template <class T, class Submit>
  static api::QueueResult<T> wait(Submit&& submit) {
    std::promise<api::QueueResult<T>> p;
    auto f = p.get_future();
    submit([&p](api::QueueResult<T> r) { p.set_value(std::move(r)); });
    return f.get();
  }

  api::QueueResult<api::CreateQueueOutcome> create(api::QueueRef q, api::QueueMetadata md = {}) {
    return wait<api::CreateQueueOutcome>([&](auto cb) { s_.create_queue(q, md, cb); });
  }
  api::QueueResult<void> delete_queue(api::QueueRef q) {
    return wait<void>([&](auto cb) { s_.delete_queue(q, cb); });
  }
  api::QueueResult<api::QueueListing> list(std::string account, api::ListQueuesOptions o = {}) {
    return wait<api::QueueListing>([&](auto cb) { s_.list_queues(account, o, cb); });
  }
  api::QueueResult<api::QueueProperties> props(api::QueueRef q) {
    return wait<api::QueueProperties>([&](auto cb) { s_.get_queue_properties(q, cb); });
  }
  api::QueueResult<void> set_metadata(api::QueueRef q, api::QueueMetadata md) {
    return wait<void>([&](auto cb) { s_.set_queue_metadata(q, md, cb); });
  }
  api::QueueResult<std::vector<api::SignedIdentifier>> get_acl(api::QueueRef q) {
    return wait<std::vector<api::SignedIdentifier>>([&](auto cb) { s_.get_queue_acl(q, cb); });
  }
  api::QueueResult<void> set_acl(api::QueueRef q, std::vector<api::SignedIdentifier> acl) {
    return wait<void>([&](auto cb) { s_.set_queue_acl(q, acl, cb); });
  }
  api::QueueResult<std::string> get_service(std::string account) {
    return wait<std::string>([&](auto cb) { s_.get_service_properties(account, cb); });
  }
  api::QueueResult<void> set_service(std::string account, std::string doc) {
    return wait<void>([&](auto cb) { s_.set_service_properties(account, doc, cb); });
  }
  api::QueueResult<api::MessageReceipt> put(api::QueueRef q, std::string text,
                                            int64_t ttl = api::kDefaultMessageTtlSeconds,
                                            int64_t delay = 0) {
    api::NewMessage m{q, std::move(text), ttl, delay};
    return wait<api::MessageReceipt>([&](auto cb) { s_.put_message(m, cb); });
  }
  api::QueueResult<std::vector<api::QueueMessage>> get(api::QueueRef q, int n = 1,
                                                       int64_t vt = 30) {
    return wait<std::vector<api::QueueMessage>>([&](auto cb) { s_.get_messages(q, n, vt, cb); });
  }
  api::QueueResult<std::vector<api::QueueMessage>> peek(api::QueueRef q, int n = 1) {
    return wait<std::vector<api::QueueMessage>>([&](auto cb) { s_.peek_messages(q, n, cb); });
  }
  api::QueueResult<void> del(api::QueueRef q, std::string id, std::string pop) {
    return wait<void>([&](auto cb) { s_.delete_message(q, id, pop, cb); });
  }
  api::QueueResult<api::UpdateReceipt> update(api::QueueRef q, std::string id, std::string pop,
                                              std::optional<std::string> text, int64_t vt) {
    return wait<api::UpdateReceipt>([&](auto cb) { s_.update_message(q, id, pop, text, vt, cb); });
  }
  api::QueueResult<void> clear(api::QueueRef q) {
    return wait<void>([&](auto cb) { s_.clear_messages(q, cb); });
  }
  api::QueueResult<std::vector<api::MessageReceipt>> complete(api::QueueRef q, std::string id,
                                                              std::string pop,
                                                              std::vector<api::NewMessage> out) {
    return wait<std::vector<api::MessageReceipt>>(
        [&](auto cb) { s_.complete_message(q, id, pop, out, cb); });
  }
  api::QueueResult<std::vector<api::MessageReceipt>> put_all(std::vector<api::NewMessage> ms) {
    return wait<std::vector<api::MessageReceipt>>([&](auto cb) { s_.put_messages(ms, cb); });
  }
  api::QueueResult<api::MessageReceipt> poison(api::QueueRef q, std::string id, std::string pop) {
    return wait<api::MessageReceipt>([&](auto cb) { s_.move_to_poison(q, id, pop, cb); });
  }
  static api::QueueResult<api::CommitReceipt> commit(api::EffectsStore& e, api::Effects fx) {
    return wait<api::CommitReceipt>([&](auto cb) { e.commit(fx, cb); });
  }

 private:
  api::QueueStore& s_;
};

class QueueStoreConformance : public ::testing::TestWithParam<const QueueStoreBackend*> {
 protected:
  void SetUp() override;
  void TearDown() override;
  void reopen();  // closes the store and opens the same data again
  int64_t count(const api::QueueRef& q) { return sync().props(q).value().approximate_message_count; }
  SyncQueueStore& sync() { return *sync_; }
  api::EffectsStore& effects() { return GetParam()->effects(*store_); }
  api::QueueResult<api::CommitReceipt> commit(api::Effects fx) {
    return SyncQueueStore::commit(effects(), std::move(fx));
  }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<api::QueueStore> store_;
  std::unique_ptr<SyncQueueStore> sync_;
  const api::QueueRef q_{"devstoreaccount1", "orders"};
};

}  // namespace nimbus::conformance
