// The gap between one activity's end and the next one's start in a sequence: the activity
// Stamp returns when it started and ended (Unix µs, the worker's clock); the orchestrator Seq
// {"steps": S} runs S of them in sequence and returns every pair. bench/durable/gap.mjs reads
// them back and reports the gaps.
#include <nimbus/durable.h>

#include <chrono>
#include <string>

namespace {
long long now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

NIMBUS_APP(app) {
  app.activity("Stamp", [](const std::string&, nimbus::Context&) {
    long long start = now_us();
    return "[" + std::to_string(start) + "," + std::to_string(now_us()) + "]";
  });
  app.orchestrator("Seq", [](nimbus::durable::OrchestrationContext& ctx)
                              -> nimbus::durable::Orchestration {
    auto at = ctx.input().find(':');
    long long steps = at == std::string::npos ? 5 : std::stoll(ctx.input().substr(at + 1));
    std::string out = "[";
    for (long long i = 0; i < steps; ++i) {
      if (i) out += ",";
      out += co_await ctx.call_activity("Stamp", "null");
    }
    co_return out + "]";
  });
}
