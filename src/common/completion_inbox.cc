#include "common/completion_inbox.h"

namespace nimbus {

thread_local CompletionBurst* CompletionBurst::current_ = nullptr;

CompletionBurst::~CompletionBurst() {
  current_ = outer_;  // what the calls deliver is no longer deferred into this burst
  for (auto& call : ends_) {
    // Only an allocation can fail here; the inbox then holds its items for the next delivery
    // to post (post_drain leaves no flag set), and the other inboxes still get theirs.
    try {
      call();
    } catch (...) {
    }
  }
}

CompletionInbox::CompletionInbox(Post post) : state_(std::make_shared<State>()) {
  state_->post = std::move(post);
}

void CompletionInbox::deliver(std::function<void()> resume) {
  {
    std::lock_guard lk(state_->mu);
    state_->items.push_back(std::move(resume));
    if (state_->drain_posted || state_->drain_deferred) return;  // it joins that drain
    if (auto* burst = CompletionBurst::current()) {
      burst->at_end([state = state_] { post_drain(state); });
      state_->drain_deferred = true;  // only once the burst has taken the call
      return;
    }
    state_->drain_posted = true;
  }
  post_or_clear(state_);
}

void CompletionInbox::post_or_clear(const std::shared_ptr<State>& state) {
  try {
    state->post([state] { drain(state); });
  } catch (...) {
    // Not posted (an allocation failed): no drain is coming, so the next delivery posts one.
    std::lock_guard lk(state->mu);
    state->drain_posted = false;
    throw;
  }
}

void CompletionInbox::post_drain(const std::shared_ptr<State>& state) {
  {
    std::lock_guard lk(state->mu);
    state->drain_deferred = false;
    // A drain queued before the burst takes these too; one that ran meanwhile may have.
    if (state->drain_posted || state->items.empty()) return;
    state->drain_posted = true;
  }
  post_or_clear(state);
}

void CompletionInbox::drain(const std::shared_ptr<State>& state) {
  std::vector<std::function<void()>> items;
  {
    std::lock_guard lk(state->mu);
    items.swap(state->items);
    state->drain_posted = false;
  }
  // Each resumes a coroutine until its next suspension (usually the response write).
  for (auto& resume : items) resume();
}

}  // namespace nimbus
