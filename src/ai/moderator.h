#pragma once
// Moderation as a platform capability: a Provider answers or fails; a Moderator (the
// resilience layer around one provider) always answers, failing open to pending-review.
// Asio-free on purpose (io_context is only forward-declared): the host, bindings and tests
// include this; moderation_async.h adds the awaitable form for code that already uses Asio.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ai/resilience.h"
#include "ai/verdict.h"

namespace boost::asio {
class io_context;
}

namespace nimbus::ai {

struct ProviderOutcome {
  std::optional<ModerationVerdict> verdict;  // set on success
  FailureKind failure = FailureKind::network;  // when no verdict
  int http_status = 0;                       // 0: no HTTP answer
  std::string detail;                        // what went wrong, for the fail-open reason
  std::optional<milliseconds> retry_after;   // a 429's Retry-After
};

// One attempt at a verdict. `done` is called exactly once, on the io_context the provider was
// made with; a provider should honour `timeout` itself (the resilience layer also stops
// waiting shortly after it, so a provider that does not cannot stall a moderation).
class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  virtual void call(std::string text, milliseconds timeout,
                    std::function<void(ProviderOutcome)> done) = 0;
};

class Moderator {
 public:
  virtual ~Moderator() = default;
  // Calls `done` exactly once on the moderator's io_context with a verdict; never throws for
  // provider trouble (the verdict is then pending-review with fail_open set and the reason).
  virtual void moderate(std::string text, std::function<void(ModerationVerdict)> done) = 0;
  // Safe from any thread.
  virtual ModerationMetrics metrics() const = 0;
};

struct GeminiSettings {
  std::string api_key;
  std::string endpoint = "https://generativelanguage.googleapis.com";
  std::string model{"gemini-2.0-flash"};
  // A PEM certificate the endpoint may also chain to (a private gateway, the TLS test
  // double); the system trust store is always used as well. Empty: the system store only.
  std::string ca_file;
};

struct ModerationSettings {
  std::optional<GeminiSettings> gemini;  // none: the local rules answer
  RetryConfig retry;
  BreakerConfig breaker;
};

// From app settings: GEMINI_API_KEY (absent or empty: local rules), GEMINI_ENDPOINT (http://
// or https://host[:port][/base]), GEMINI_MODEL, GEMINI_CA_FILE. Returns nullopt with *error naming the setting
// and the fix when a value is unusable.
std::optional<ModerationSettings> settings_from_app(
    const std::function<std::optional<std::string>(std::string_view)>& lookup, std::string* error);

struct Endpoint {
  bool tls = true;
  std::string host;
  std::string port;       // "443"/"80" when the URL has none
  std::string base_path;  // "" or "/prefix" without a trailing slash
};
std::optional<Endpoint> parse_endpoint(std::string_view url, std::string* error);

// Providers and moderators run on `io` (the host's single I/O thread); they must be destroyed
// before it, and not while a call is in flight.
std::unique_ptr<Provider> make_gemini_provider(boost::asio::io_context& io, GeminiSettings settings);
std::unique_ptr<Provider> make_local_provider(boost::asio::io_context& io);
// `jitter_seed` makes backoff waits reproducible in tests; 0 seeds from the clock.
std::unique_ptr<Moderator> make_resilient_moderator(boost::asio::io_context& io,
                                                    std::unique_ptr<Provider> provider,
                                                    RetryConfig retry, BreakerConfig breaker,
                                                    uint64_t jitter_seed = 0);
// Gemini when settings.gemini is set, else the local rules; both behind the resilience layer.
std::unique_ptr<Moderator> make_moderator(boost::asio::io_context& io,
                                          const ModerationSettings& settings);

// For native worker code with no event loop: owns an io_context on a thread of its own.
// moderate() blocks the caller until the verdict (bounded by retry.total_budget plus a
// moment); callable from several threads at once.
class BlockingModerator {
 public:
  explicit BlockingModerator(const ModerationSettings& settings);
  ~BlockingModerator();
  BlockingModerator(const BlockingModerator&) = delete;
  BlockingModerator& operator=(const BlockingModerator&) = delete;
  ModerationVerdict moderate(std::string text);
  ModerationMetrics metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimbus::ai
