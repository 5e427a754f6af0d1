// Orchestrations for the durable e2e tests: every replay rule and failure path the engine must
// honour, driven from tests/e2e/host_durable.test.mjs.
#include <nimbus/durable.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

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

std::string string_field(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return {};
  at = json.find('"', json.find(':', at));
  auto end = json.find('"', at + 1);
  return json.substr(at + 1, end - at - 1);
}

// Appends one line per activity run to $DURABLE_RUN_LOG (the fault tests count re-runs).
void record_run(const std::string& what) {
  const char* path = std::getenv("DURABLE_RUN_LOG");
  if (!path || !*path) return;
  if (FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "%s\n", what.c_str());
    std::fclose(f);
  }
}

}  // namespace

NIMBUS_APP(app) {
  app.activity("Square", [](const std::string& input, nimbus::Context&) {
    record_run("Square " + input);
    long long k = std::stoll(input);
    return std::to_string(k * k);
  });

  app.activity("Fail", [](const std::string& input, nimbus::Context&) -> std::string {
    throw std::runtime_error("Fail was asked to fail: " + input);
  });

  // Fails until it has run `times` times for this key (a file per key under $DURABLE_RUN_LOG's
  // folder counts the runs): retries with backoff must get it through.
  app.activity("Flaky", [](const std::string& input, nimbus::Context&) -> std::string {
    std::string key = string_field(input, "key");
    long long times = number_field(input, "times", 2);
    const char* log = std::getenv("DURABLE_RUN_LOG");
    std::string path = std::string(log ? log : "/tmp/durable") + "." + key;
    long long runs = 0;
    {
      std::ifstream in(path);
      in >> runs;
    }
    ++runs;
    std::ofstream(path) << runs;
    if (runs <= times) throw std::runtime_error("flaky run " + std::to_string(runs));
    return std::to_string(runs);
  });

  // {"flag": path}: the first run (no flag file yet) creates the file and kills its own worker
  // process mid-activity; the re-run returns "survived".
  app.activity("CrashOnce", [](const std::string& input, nimbus::Context&) -> std::string {
    std::string flag = string_field(input, "flag");
    if (!std::ifstream(flag).good()) {
      std::ofstream(flag) << "crashed";
      ::kill(::getpid(), SIGKILL);
    }
    return "\"survived\"";
  });

  // {"flag": path}: kills its worker during its first episode (creating the flag file first),
  // then runs CrashOnce with a second flag.
  app.orchestrator("CrashingEpisode", [](nimbus::durable::OrchestrationContext& ctx)
                                          -> nimbus::durable::Orchestration {
    std::string flag = string_field(ctx.input(), "flag");
    if (!std::ifstream(flag).good()) {
      std::ofstream(flag) << "crashed";
      ::kill(::getpid(), SIGKILL);
    }
    co_return co_await ctx.call_activity("CrashOnce", "{\"flag\":\"" + flag + ".activity\"}");
  });

  // A moderation input on an activity: the host moderates the input's "comment" property
  // before the activity runs (the local rules: the tests set no GEMINI_API_KEY) and the
  // verdict JSON is the activity's result.
  app.activity("ModerateComment", {.moderation_inputs = {{"verdict", "{comment}"}}},
               [](const std::string&, nimbus::Context& ctx) { return ctx.input("verdict"); });
  // {"comment": ...}: the verdict; an input without "comment" fails the activity before it
  // runs, which this returns as {"failed": <message>}.
  app.orchestrator("Moderated", [](nimbus::durable::OrchestrationContext& ctx)
                                    -> nimbus::durable::Orchestration {
    std::string failed;
    try {
      co_return co_await ctx.call_activity("ModerateComment", ctx.input());
    } catch (const nimbus::durable::TaskFailed& e) {
      failed = e.what();
    }
    std::string out = "{\"failed\":";
    nimbus::detail::append_json_string(out, failed);
    co_return out + "}";
  });

  app.orchestrator("FanOut", [](nimbus::durable::OrchestrationContext& ctx)
                                 -> nimbus::durable::Orchestration {
    long long n = number_field(ctx.input(), "n", 10);
    std::vector<nimbus::durable::Task<std::string>> tasks;
    for (long long k = 1; k <= n; ++k) tasks.push_back(ctx.call_activity("Square", std::to_string(k)));
    auto squares = co_await nimbus::durable::when_all(tasks);
    long long sum = 0;
    for (const auto& s : squares) sum += std::stoll(s);
    co_return "{\"sum\":" + std::to_string(sum) + "}";
  });

  // {"steps": S, "timerMs": T}: S activities in sequence with a T ms durable timer before each.
  app.orchestrator("TimerChain", [](nimbus::durable::OrchestrationContext& ctx)
                                     -> nimbus::durable::Orchestration {
    long long steps = number_field(ctx.input(), "steps", 5);
    long long timer_ms = number_field(ctx.input(), "timerMs", 0);
    long long total = 0;
    for (long long i = 1; i <= steps; ++i) {
      if (timer_ms > 0) co_await ctx.create_timer(ctx.now() + std::chrono::milliseconds(timer_ms));
      total += std::stoll(co_await ctx.call_activity("Square", std::to_string(i)));
    }
    co_return std::to_string(total);
  });

  // {"timeoutMs": T}: waits for the event "approval", raced against a durable timer.
  app.orchestrator("Approval", [](nimbus::durable::OrchestrationContext& ctx)
                                   -> nimbus::durable::Orchestration {
    long long timeout_ms = number_field(ctx.input(), "timeoutMs", 60000);
    ctx.set_custom_status("\"waiting\"");
    auto event = ctx.wait_for_external_event("approval");
    auto timer = ctx.create_timer(ctx.now() + std::chrono::milliseconds(timeout_ms));
    size_t winner = co_await nimbus::durable::when_any(event, timer);
    if (winner == 0) co_return "{\"approved\":" + co_await event + "}";
    co_return "\"timed out\"";
  });

  // Calls Child as a sub-orchestration; {"fail": true} makes the child fail.
  app.orchestrator("Parent", [](nimbus::durable::OrchestrationContext& ctx)
                                 -> nimbus::durable::Orchestration {
    try {
      std::string r = co_await ctx.call_sub_orchestrator("Child", ctx.input());
      co_return "{\"child\":" + r + "}";
    } catch (const nimbus::durable::TaskFailed& e) {
      co_return "{\"childFailed\":true}";
    }
  });
  app.orchestrator("Child", [](nimbus::durable::OrchestrationContext& ctx)
                                -> nimbus::durable::Orchestration {
    if (ctx.input().find("\"fail\":true") != std::string::npos)
      co_await ctx.call_activity("Fail", "\"child\"");
    co_return co_await ctx.call_activity("Square", "7");
  });

  // {"n": N, "target": T}: continue-as-new with n+1 until n reaches T; the output is T.
  app.orchestrator("Counter", [](nimbus::durable::OrchestrationContext& ctx)
                                  -> nimbus::durable::Orchestration {
    long long n = number_field(ctx.input(), "n", 0);
    long long target = number_field(ctx.input(), "target", 3);
    if (n >= target) co_return std::to_string(n);
    co_await ctx.call_activity("Square", std::to_string(n));
    ctx.continue_as_new("{\"n\":" + std::to_string(n + 1) + ",\"target\":" +
                        std::to_string(target) + "}");
    co_return "";
  });

  // {"key": K, "times": T}: Flaky with retries (5 attempts, 50 ms doubling).
  app.orchestrator("Retry", [](nimbus::durable::OrchestrationContext& ctx)
                                -> nimbus::durable::Orchestration {
    nimbus::durable::RetryOptions retry;
    retry.first_retry_interval = std::chrono::milliseconds(50);
    retry.backoff_coefficient = 2.0;
    retry.max_number_of_attempts = 5;
    co_return co_await ctx.call_activity("Flaky", ctx.input(), &retry);
  });

  // Uncaught failure: the instance fails with the activity's message.
  app.orchestrator("Failing", [](nimbus::durable::OrchestrationContext& ctx)
                                  -> nimbus::durable::Orchestration {
    co_await ctx.call_activity("Fail", "\"on purpose\"");
    co_return "\"unreachable\"";
  });

  // Deliberately NOT deterministic (reads a file): {"flag": path}. It schedules Square or Fail
  // depending on whether the file exists, then waits for "go". Creating the file between two
  // episodes makes the replay disagree with the history: NonDeterminismError.
  app.orchestrator("Nondeterministic", [](nimbus::durable::OrchestrationContext& ctx)
                                           -> nimbus::durable::Orchestration {
    std::string flag = string_field(ctx.input(), "flag");
    bool exists = std::ifstream(flag).good();
    auto first = ctx.call_activity(exists ? "Fail" : "Square", "2");
    co_await ctx.wait_for_external_event("go");
    co_return co_await first;
  });
}
