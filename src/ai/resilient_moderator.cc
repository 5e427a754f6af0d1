// The resilience layer: per-attempt timeout, bounded retries with backoff and jitter, the
// circuit breaker, fail-open, metrics. Runs on one io_context thread; only the metrics
// snapshot is shared with other threads (under a mutex).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "ai/local_rules.h"
#include "ai/moderation_async.h"
#include "ai/moderator.h"

namespace nimbus::ai {
namespace {

namespace asio = boost::asio;
using asio::awaitable;

// How long past its timeout a provider may take to report before the attempt counts as
// timed out anyway (the provider's own timer should always win this race).
constexpr milliseconds kGrace{50};

class LocalProvider final : public Provider {
 public:
  explicit LocalProvider(asio::io_context& io) : io_(io) {}
  std::string_view name() const override { return "local-rules"; }
  void call(std::string text, milliseconds, std::function<void(ProviderOutcome)> done) override {
    // Posted, not called inline: callers may rely on `done` never running inside call().
    asio::post(io_, [text = std::move(text), done = std::move(done)] {
      ProviderOutcome o;
      o.verdict = moderate_locally(text);
      done(std::move(o));
    });
  }

 private:
  asio::io_context& io_;
};

// One provider call as an awaitable that completes by the provider's callback or by a guard
// timer at timeout + grace, whichever is first; the loser is ignored.
template <class Token>
auto async_attempt(Provider& provider, asio::any_io_executor ex, std::string text,
                   milliseconds timeout, Token&& token) {
  return asio::async_initiate<Token, void(ProviderOutcome)>(
      [&provider, ex, timeout](auto handler, std::string t) {
        using Handler = decltype(handler);
        struct State {
          explicit State(asio::any_io_executor e) : guard(e) {}
          std::optional<Handler> handler;
          asio::steady_timer guard;
        };
        auto st = std::make_shared<State>(ex);
        st->handler.emplace(std::move(handler));
        auto finish = [st](ProviderOutcome o) {
          if (!st->handler) return;
          auto h = std::move(*st->handler);
          st->handler.reset();
          st->guard.cancel();
          auto hex = asio::get_associated_executor(h, st->guard.get_executor());
          asio::post(hex, [h = std::move(h), o = std::move(o)]() mutable { std::move(h)(std::move(o)); });
        };
        st->guard.expires_after(timeout + kGrace);
        st->guard.async_wait([finish, timeout](boost::system::error_code ec) {
          if (ec) return;
          ProviderOutcome o;
          o.failure = FailureKind::timeout;
          o.detail = "no answer within " + std::to_string(timeout.count()) + " ms";
          finish(std::move(o));
        });
        provider.call(std::move(t), timeout, finish);
      },
      token, std::move(text));
}

class ResilientModerator final : public Moderator {
 public:
  ResilientModerator(asio::io_context& io, std::unique_ptr<Provider> p, RetryConfig r,
                     BreakerConfig b, uint64_t seed)
      : io_(io), provider_(std::move(p)), retry_(r), breaker_(b),
        rng_(seed ? seed : static_cast<uint64_t>(Clock::now().time_since_epoch().count())) {}

  void moderate(std::string text, std::function<void(ModerationVerdict)> done) override {
    asio::co_spawn(io_, run(std::move(text)),
                   [this, done = std::move(done)](std::exception_ptr ep, ModerationVerdict v) {
                     if (ep) {
                       // Only a bug gets here (allocation failure at worst); fail open too.
                       v = {};
                       v.provider = std::string(provider_->name());
                       v.fail_open = true;
                       v.reason = "fail-open: internal error in the moderation layer";
                       std::lock_guard lock(mu_);
                       ++metrics_.fail_open;
                       ++metrics_.pending_review;
                     }
                     done(std::move(v));
                   });
  }

  ModerationMetrics metrics() const override {
    std::lock_guard lock(mu_);
    return metrics_;
  }

 private:
  awaitable<ModerationVerdict> run(std::string text) {
    auto start = Clock::now();
    auto deadline = start + retry_.total_budget;
    auto ex = co_await asio::this_coro::executor;
    {
      std::lock_guard lock(mu_);
      ++metrics_.calls;
    }
    int attempts = 0;
    std::optional<ProviderOutcome> last;
    bool short_circuit = false;
    std::optional<ModerationVerdict> answer;

    while (attempts < std::max(1, retry_.max_attempts)) {
      auto now = Clock::now();
      auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
      if (left <= milliseconds(0)) break;
      if (!breaker_.allow(now)) {
        short_circuit = true;
        break;
      }
      ++attempts;
      auto timeout = std::min(retry_.attempt_timeout, left);
      ProviderOutcome o = co_await async_attempt(*provider_, ex, text, timeout, asio::use_awaitable);
      {
        std::lock_guard lock(mu_);
        ++metrics_.attempts;
        if (!o.verdict) ++metrics_.failures[static_cast<size_t>(o.failure)];
      }
      if (o.verdict) {
        breaker_.on_success(Clock::now());
        answer = std::move(o.verdict);
        break;
      }
      breaker_.on_failure(Clock::now());
      bool retry = is_retryable(o.failure);
      last = std::move(o);
      if (!retry || attempts >= retry_.max_attempts) break;
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      auto wait = backoff_delay(retry_, attempts, unit(rng_), last->retry_after);
      // A wait that would end past the budget cannot lead to an answer in time.
      if (Clock::now() + wait >= deadline) break;
      asio::steady_timer t(ex, wait);
      co_await t.async_wait(asio::use_awaitable);
      std::lock_guard lock(mu_);
      ++metrics_.retries;
    }

    ModerationVerdict v;
    if (answer) {
      v = std::move(*answer);
    } else {
      v.status = VerdictStatus::pending_review;
      v.fail_open = true;
      v.provider = std::string(provider_->name());
      if (short_circuit && !last) {
        v.reason = "fail-open: circuit breaker open after " +
                   std::to_string(breaker_.config().failure_threshold) +
                   " consecutive provider failures; next probe in " +
                   std::to_string(breaker_.retry_in(Clock::now()).count()) +
                   " ms; the content is accepted and needs re-review";
      } else if (last) {
        v.reason = "fail-open: " + std::string(to_string(last->failure)) + " (" + last->detail +
                   ") after " + std::to_string(attempts) + " attempt(s)" +
                   (short_circuit ? ", then the circuit breaker opened" : "") +
                   "; the content is accepted and needs re-review";
      } else {
        v.reason = "fail-open: the moderation budget of " +
                   std::to_string(retry_.total_budget.count()) +
                   " ms ran out; the content is accepted and needs re-review";
      }
    }
    v.attempts = attempts;
    v.latency = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    std::lock_guard lock(mu_);
    if (v.fail_open) ++metrics_.fail_open;
    if (short_circuit && attempts == 0) ++metrics_.short_circuited;
    switch (v.status) {
      case VerdictStatus::approved: ++metrics_.approved; break;
      case VerdictStatus::rejected: ++metrics_.rejected; break;
      case VerdictStatus::pending_review: ++metrics_.pending_review; break;
    }
    metrics_.latency.record(v.latency);
    metrics_.breaker_state = breaker_.state();
    auto now = Clock::now();
    metrics_.probe_at = now + breaker_.retry_in(now);
    metrics_.breaker_opens = breaker_.opens();
    co_return v;
  }

  asio::io_context& io_;
  std::unique_ptr<Provider> provider_;
  RetryConfig retry_;
  CircuitBreaker breaker_;  // touched only on the io thread
  std::mt19937_64 rng_;
  mutable std::mutex mu_;
  ModerationMetrics metrics_;
};

}  // namespace

std::unique_ptr<Provider> make_local_provider(asio::io_context& io) {
  return std::make_unique<LocalProvider>(io);
}

std::unique_ptr<Moderator> make_resilient_moderator(asio::io_context& io,
                                                    std::unique_ptr<Provider> provider,
                                                    RetryConfig retry, BreakerConfig breaker,
                                                    uint64_t jitter_seed) {
  return std::make_unique<ResilientModerator>(io, std::move(provider), retry, breaker, jitter_seed);
}

std::unique_ptr<Moderator> make_moderator(asio::io_context& io, const ModerationSettings& s) {
  auto provider = s.gemini ? make_gemini_provider(io, *s.gemini) : make_local_provider(io);
  return make_resilient_moderator(io, std::move(provider), s.retry, s.breaker);
}

struct BlockingModerator::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<Moderator> moderator;
  std::thread thread;
};

BlockingModerator::BlockingModerator(const ModerationSettings& settings)
    : impl_(std::make_unique<Impl>()) {
  impl_->moderator = make_moderator(impl_->io, settings);
  impl_->thread = std::thread([io = &impl_->io] { io->run(); });
}

BlockingModerator::~BlockingModerator() {
  // Let calls in flight finish (each is bounded by the budget), then stop.
  impl_->work.reset();
  impl_->thread.join();
}

ModerationVerdict BlockingModerator::moderate(std::string text) {
  auto promise = std::make_shared<std::promise<ModerationVerdict>>();
  auto future = promise->get_future();
  asio::post(impl_->io, [this, promise, text = std::move(text)]() mutable {
    impl_->moderator->moderate(std::move(text),
                               [promise](ModerationVerdict v) { promise->set_value(std::move(v)); });
  });
  return future.get();
}

ModerationMetrics BlockingModerator::metrics() const { return impl_->moderator->metrics(); }

}  // namespace nimbus::ai
