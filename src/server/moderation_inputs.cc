#include "server/moderation_inputs.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>

#include "ai/moderation_async.h"
#include "bindings/expressions.h"

namespace json = boost::json;
using boost::asio::awaitable;

namespace nimbus::server {

ModerationInputs::~ModerationInputs() {
  // A moderation still in flight holds references into the moderator from coroutine frames
  // owned by the io_context; destroying it under them would be a use after free. Only a drain
  // that gave up gets here with one in flight, and the process is about to exit: leave it.
  if (in_flight_ > 0) (void)moderator_.release();
}

awaitable<std::string> ModerationInputs::load(api::Invocation& inv) {
  for (const auto& in : inv.function->inputs) {
    const auto* m = std::get_if<api::ModerationInputSpec>(&in.spec);
    if (!m) continue;
    if (!m->text) {
      inv.inputs.push_back({in.name, health_json()});
      continue;
    }
    std::string error;
    auto text = bindings::resolve(*m->text, inv, error);
    if (!text) {
      inv.input_from_request_missing = true;
      co_return "input binding \"" + in.name + "\" (moderation): text \"" + *m->text + "\": " +
                error;
    }
    ++in_flight_;
    ai::ModerationVerdict v;
    try {
      v = co_await ai::async_moderate(*moderator_, std::move(*text));
    } catch (...) {
      --in_flight_;
      throw;
    }
    --in_flight_;
    if (v.fail_open)
      log_.warn("Host.Moderation", "moderation failed open: the content is let through as "
                                   "pending-review",
                {{"function", inv.function->name},
                 {"binding", in.name},
                 {"invocationId", inv.id},
                 {"provider", v.provider},
                 {"attempts", v.attempts},
                 {"reason", v.reason}});
    inv.inputs.push_back({in.name, json::serialize(ai::to_json(v))});
  }
  co_return std::string();
}

std::string ModerationInputs::health_json() const {
  // healthy: a moderation now would reach the provider. An open breaker whose cool-down has
  // passed lets the next call through as a probe, so it counts as healthy: otherwise a caller
  // that waits for health before moderating (the reference app's re-review sweep) would wait
  // for ever, since only a call moves the breaker on.
  auto m = moderator_->metrics();
  bool healthy = m.breaker_state != ai::BreakerState::open || ai::Clock::now() >= m.probe_at;
  return json::serialize(json::object{{"provider", provider_},
                                      {"breaker", ai::to_string(m.breaker_state)},
                                      {"healthy", healthy}});
}

std::string ModerationInputs::render_metrics(const ai::ModerationMetrics& m,
                                             int64_t rereview_backlog) {
  std::string t;
  auto n = [](uint64_t v) { return std::to_string(v); };
  auto head = [&](const char* name, const char* type, const char* help) {
    t += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  head("nimbus_moderation_calls_total", "counter", "Moderations answered, by verdict.");
  t += "nimbus_moderation_calls_total{outcome=\"approved\"} " + n(m.approved) + "\n";
  t += "nimbus_moderation_calls_total{outcome=\"rejected\"} " + n(m.rejected) + "\n";
  t += "nimbus_moderation_calls_total{outcome=\"pending_review\"} " + n(m.pending_review) + "\n";
  head("nimbus_moderation_fail_open_total", "counter",
       "Moderations answered pending-review because the provider could not answer.");
  t += "nimbus_moderation_fail_open_total " + n(m.fail_open) + "\n";
  head("nimbus_moderation_failures_total", "counter", "Failed provider calls, by kind.");
  for (size_t i = 0; i < ai::kFailureKinds; ++i) {
    // "server-error" -> "server_error": label values spelled like the outcome labels.
    std::string kind(ai::to_string(static_cast<ai::FailureKind>(i)));
    std::replace(kind.begin(), kind.end(), '-', '_');
    t += "nimbus_moderation_failures_total{kind=\"" + kind + "\"} " + n(m.failures[i]) + "\n";
  }
  head("nimbus_moderation_retries_total", "counter", "Provider calls retried.");
  t += "nimbus_moderation_retries_total " + n(m.retries) + "\n";
  head("nimbus_moderation_short_circuited_total", "counter",
       "Moderations the open circuit breaker answered without calling the provider.");
  t += "nimbus_moderation_short_circuited_total " + n(m.short_circuited) + "\n";
  head("nimbus_moderation_breaker_state", "gauge",
       "The provider's circuit breaker: 0 closed, 1 half-open, 2 open.");
  int state = m.breaker_state == ai::BreakerState::closed      ? 0
              : m.breaker_state == ai::BreakerState::half_open ? 1
                                                               : 2;
  t += "nimbus_moderation_breaker_state " + std::to_string(state) + "\n";
  head("nimbus_moderation_breaker_opens_total", "counter", "Times the circuit breaker opened.");
  t += "nimbus_moderation_breaker_opens_total " + n(m.breaker_opens) + "\n";
  head("nimbus_moderation_latency_seconds", "histogram",
       "Whole moderations, retries and waits included.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < m.latency.counts.size(); ++i) {
    cumulative += m.latency.counts[i];
    // Seconds as Prometheus writes them ("0.005", "2.5"), not JSON's exponent form.
    char le[32] = "+Inf";
    if (i < ai::LatencyHistogram::kBoundsMs.size())
      std::snprintf(le, sizeof le, "%g",
                    static_cast<double>(ai::LatencyHistogram::kBoundsMs[i]) / 1000.0);
    t += std::string("nimbus_moderation_latency_seconds_bucket{le=\"") + le + "\"} " +
         n(cumulative) + "\n";
  }
  char sum[48];
  std::snprintf(sum, sizeof sum, "%.3f", static_cast<double>(m.latency.sum_ms) / 1000.0);
  t += std::string("nimbus_moderation_latency_seconds_sum ") + sum + "\n";
  t += "nimbus_moderation_latency_seconds_count " + n(m.latency.total) + "\n";
  head("nimbus_moderation_rereview_backlog", "gauge",
       "Messages waiting in the re-review queue (host.json nimbus.moderation.reReviewQueue).");
  t += "nimbus_moderation_rereview_backlog " + std::to_string(rereview_backlog) + "\n";
  return t;
}

}  // namespace nimbus::server
