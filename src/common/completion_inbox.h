#pragma once
// Completions handed from a store's threads to one consumer thread (the host's I/O thread), in
// bursts.
//
// Why: a group commit completes every operation of its batch in one loop on the engine's
// writer or sync thread, and each completion must resume a coroutine on the I/O thread.
// Posting each would wake that thread once per operation, so an inbox posts one drain for
// whatever gathers until the drain runs. That alone still woke the I/O thread about three
// times per batch of ~20 (it drained the first completions while the loop was still
// delivering the rest, so the next one posted again), each wake-up a system call on the
// delivering side and one on the I/O side. Inside a CompletionBurst (the engine's completion
// loops) the inbox posts its drain once, when the burst ends.
//
// Thread-safety: deliver() from any thread; the drain runs wherever `post` sends it. While a
// burst holds an inbox's drain, other threads' deliveries to that inbox wait for the burst's
// end too, so nothing inside a burst may block waiting on the consumer thread.
// Ownership: the state is shared with the posted drain, so a drain still queued when the
// inbox goes is harmless. No Asio here (common/ must not pull it in): the owner passes `post`.
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace nimbus {

// A loop on one thread that completes many operations in a row. Consumers that would wake
// another thread per completion may ask to be called once at its end instead (at_end). Bursts
// nest; the innermost one running on the thread is current().
class CompletionBurst {
 public:
  CompletionBurst() : outer_(current_) { current_ = this; }
  // Runs the at_end calls in the order they were asked for, outside the burst.
  ~CompletionBurst();
  CompletionBurst(const CompletionBurst&) = delete;
  CompletionBurst& operator=(const CompletionBurst&) = delete;

  static CompletionBurst* current() { return current_; }
  void at_end(std::function<void()> call) { ends_.push_back(std::move(call)); }

 private:
  static thread_local CompletionBurst* current_;
  CompletionBurst* outer_;
  std::vector<std::function<void()>> ends_;
};

class CompletionInbox {
 public:
  using Post = std::function<void(std::function<void()>)>;
  // `post(f)` must run f later on the consumer's thread (boost::asio::post to an executor).
  explicit CompletionInbox(Post post);

  // Runs `resume` on the consumer's thread, in one drain with the others of its burst.
  void deliver(std::function<void()> resume);

 private:
  struct State {
    Post post;
    std::mutex mu;
    std::vector<std::function<void()>> items;  // guarded by mu
    bool drain_posted = false;    // guarded by mu: a drain is queued and has not started
    bool drain_deferred = false;  // guarded by mu: a burst will post one at its end
  };
  static void post_drain(const std::shared_ptr<State>& state);
  static void post_or_clear(const std::shared_ptr<State>& state);
  static void drain(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
};

}  // namespace nimbus
