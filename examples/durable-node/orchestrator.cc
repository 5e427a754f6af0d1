// The orchestrator of examples/durable-node: fan out to the Node activity Square, fan in.
#include <nimbus/durable.h>

#include <string>
#include <vector>

NIMBUS_APP(app) {
  app.orchestrator("FanOut", [](nimbus::durable::OrchestrationContext& ctx)
                                 -> nimbus::durable::Orchestration {
    // {"n": N}; parsed by hand to stay free of a JSON library.
    const std::string& in = ctx.input();
    auto colon = in.find(':');
    long long n = colon == std::string::npos ? 10 : std::stoll(in.substr(colon + 1));
    std::vector<nimbus::durable::Task<std::string>> tasks;
    for (long long k = 1; k <= n; ++k) tasks.push_back(ctx.call_activity("Square", std::to_string(k)));
    long long sum = 0;
    for (const auto& s : co_await nimbus::durable::when_all(tasks)) sum += std::stoll(s);
    co_return "{\"sum\":" + std::to_string(sum) + "}";
  });
}
