#pragma once
// The input stage for "moderation" input bindings, and the app's one moderator behind it.
// Before a function with such a binding runs, its text template is resolved from the trigger
// data and moderated (ai::async_moderate: retries, circuit breaker, fail-open); the verdict JSON
// (ai::to_json) becomes the binding's input value, so every language gets the same verdict
// without a provider client of its own. A binding without text gets the moderator's health
// ({"provider","breaker","healthy"}). A fail-open verdict is logged as a warning (category
// Host.Moderation: function, binding, reason; never the content, never the API key).
//
// Owns the ai::Moderator. It runs on the host's io_context and must be destroyed before it and
// not while a moderation is in flight: the host waits for in_flight() == 0 when draining and
// calls abandon_if_busy() before destroying it.
// Threading: the host's single I/O thread, except metrics(), which is safe from any thread.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "ai/moderator.h"
#include "api/invocation.h"
#include "common/log.h"

namespace nimbus::server {

class ModerationInputs {
 public:
  // `provider` is what health reports: "gemini" or "local-rules".
  ModerationInputs(std::unique_ptr<ai::Moderator> moderator, std::string provider, Logger& log)
      : moderator_(std::move(moderator)), provider_(std::move(provider)), log_(log) {}
  ~ModerationInputs();

  // Fills inv.inputs for the function's moderation bindings; "" on success, else why the
  // function cannot run (a text expression with no value, naming the binding).
  boost::asio::awaitable<std::string> load(api::Invocation& inv);

  // {"provider":"gemini"|"local-rules","breaker":"closed"|"open"|"half-open","healthy":bool}
  std::string health_json() const;
  ai::ModerationMetrics metrics() const { return moderator_->metrics(); }
  const std::string& provider() const { return provider_; }
  int in_flight() const { return in_flight_; }

  // Prometheus text for the moderator's metrics and the re-review backlog (messages waiting in
  // host.json nimbus.moderation.reReviewQueue).
  static std::string render_metrics(const ai::ModerationMetrics& m, int64_t rereview_backlog);

 private:
  std::unique_ptr<ai::Moderator> moderator_;
  std::string provider_;
  Logger& log_;
  int in_flight_ = 0;
};

}  // namespace nimbus::server
