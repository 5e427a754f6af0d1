// Queue-trigger benchmark functions: "drain" does nothing (messages/s through the trigger),
// "latency" reports how long after the producer's put began the function started.
#include <nimbus/nimbus.h>

#include <chrono>
#include <string>

NIMBUS_APP(app) {
  app.queue("drain", {.queue = "bench-in"}, [](const nimbus::QueueMessage&, nimbus::Context&) {});
  app.queue("latency", {.queue = "lat-in"}, [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    // The text is the producer's wall clock in microseconds when it began the put.
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    ctx.enqueue("lat-out", std::to_string(now - std::stoll(m.text)));
  });
}
