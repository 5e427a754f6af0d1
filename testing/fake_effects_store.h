#pragma once
// An in-memory api::EffectsStore for unit tests of the triggers' completions: keeps every
// committed Effects in order, can be told to fail the next commits with a given error (as a
// full disk or a lost lease would), and completes at once on the calling thread.
//
// It is a recorder, not a second store implementation: what a commit does to queues is the
// conformance suite's business (tests/conformance); these tests check what a trigger asks
// the store to commit, and what it does with the answer. Thread-safety: none.
#include <optional>
#include <vector>

#include "api/effects.h"

namespace nimbus::fakes {

class FakeEffectsStore final : public api::EffectsStore {
 public:
  std::vector<api::Effects> committed;
  // When set, every commit fails with this error and nothing is recorded.
  std::optional<api::QueueError> fail_with;
  int attempts = 0;

  void commit(api::Effects effects, api::QueueCallback<api::CommitReceipt> done) override {
    ++attempts;
    if (fail_with) return done(api::QueueResult<api::CommitReceipt>(*fail_with));
    api::CommitReceipt receipt;
    receipt.writes.resize(effects.writes.size());
    committed.push_back(std::move(effects));
    done(std::move(receipt));
  }
  void set_notice_listener(api::NoticeListener listener) override { listener_ = std::move(listener); }

 private:
  api::NoticeListener listener_;
};

}  // namespace nimbus::fakes
