// Durable orchestrations in C++ (examples/durable-fanout/README.md): a fan-out/fan-in, a chain,
// and the two ways to start them from your own functions.
#include <nimbus/durable.h>

#include <string>
#include <vector>

namespace {

// The activities and orchestrators pass small JSON values; this app reads one number field
// without a JSON library to stay dependency-free ("{"n": 12}" -> 12).
long long number_field(const std::string& json, const std::string& key, long long fallback) {
  auto at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return fallback;
  at = json.find(':', at);
  if (at == std::string::npos) return fallback;
  try {
    return std::stoll(json.substr(at + 1));
  } catch (...) {
    return fallback;
  }
}

}  // namespace

NIMBUS_APP(app) {
  // Square(k) = k * k. Activities take and return JSON text.
  app.activity("Square", [](const std::string& input, nimbus::Context&) {
    long long k = std::stoll(input);
    return std::to_string(k * k);
  });

  // FanOut {"n": N}: Square(1..N) in parallel, then the sum -> {"sum": Σk²}.
  app.orchestrator("FanOut", [](nimbus::durable::OrchestrationContext& ctx)
                                 -> nimbus::durable::Orchestration {
    long long n = number_field(ctx.input(), "n", 10);
    std::vector<nimbus::durable::Task<std::string>> tasks;
    for (long long k = 1; k <= n; ++k) tasks.push_back(ctx.call_activity("Square", std::to_string(k)));
    std::vector<std::string> squares = co_await nimbus::durable::when_all(tasks);
    long long sum = 0;
    for (const auto& s : squares) sum += std::stoll(s);
    co_return "{\"sum\":" + std::to_string(sum) + "}";
  });

  // Chain {"steps": S}: Square called S times in sequence (2, then its square...; kept small by
  // squaring the step number instead), returning the last value.
  app.orchestrator("Chain", [](nimbus::durable::OrchestrationContext& ctx)
                                -> nimbus::durable::Orchestration {
    long long steps = number_field(ctx.input(), "steps", 5);
    std::string last = "null";
    for (long long i = 1; i <= steps; ++i) last = co_await ctx.call_activity("Square", std::to_string(i));
    co_return last;
  });

  // An HTTP starter: POST /api/fanout/{n} starts FanOut and answers 202 with the status URLs.
  // The start commits with the invocation (ctx.start_new), as a durableClient output would.
  app.http("StartFanOut", {.route = "fanout/{n:int}", .methods = {"POST"},
                           .auth = nimbus::AuthLevel::anonymous},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             std::string id = ctx.start_new("FanOut", "{\"n\":" + std::string(req.param("n")) + "}");
             return nimbus::durable::create_check_status_response(req, id);
           });

  // A queue starter: each message {"n": N} on "fanout-requests" starts FanOut, exactly when the
  // message is completed (the start and the message's deletion are one commit).
  app.queue("QueueFanOut", {.queue = "fanout-requests"},
            [](const nimbus::QueueMessage& msg, nimbus::Context& ctx) {
              ctx.start_new("FanOut", msg.text);
            });
}
