// Queue-triggered native functions for tests: a worker that forwards, one that always fails,
// and an HTTP producer.
#include <nimbus/nimbus.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

NIMBUS_APP(app) {
  app.http("submit", {.route = "submit/{queue}", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             ctx.enqueue(std::string(req.param("queue")), req.body);
             return nimbus::HttpResponse::text(202, "queued");
           });
  app.queue("work", {.queue = "jobs"}, [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ctx.log("working on " + m.text);
    ctx.enqueue("jobs-done", m.text + "|" + std::to_string(m.dequeue_count));
  });
  app.queue("slow", {.queue = "slow-jobs"}, [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ::usleep(5000);  // slower than the producer, so a kill lands mid-drain
    ctx.enqueue("slow-done", m.text);
  });
  app.queue("long", {.queue = "long-jobs"}, [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ::sleep(5);  // longer than the 2 s lease: the host must renew it
    ctx.enqueue("long-done", m.text + "|" + std::to_string(m.dequeue_count));
  });
  app.queue("doomed", {.queue = "doomed"}, [](const nimbus::QueueMessage& m, nimbus::Context&) {
    throw std::runtime_error("always fails: " + m.text);
  });
}
