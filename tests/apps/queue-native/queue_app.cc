// Queue-triggered native functions for tests: a worker that forwards, one that always fails,
// HTTP producers, and outputs the host must refuse (over 64 KiB, invalid queue names).
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
  // ?queue=<any name, valid or not>: the body goes there.
  app.http("emit", {.route = "emit", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             auto q = req.query.find("queue");
             ctx.enqueue(q == req.query.end() ? std::string() : q->second, req.body);
             return nimbus::HttpResponse::text(200, "enqueued");
           });
  // Two outputs: a small one to ?first=, then the body to ?second= (all or nothing).
  app.http("emit-two", {.route = "emit-two", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             ctx.enqueue(req.query.at("first"), "first");
             ctx.enqueue(req.query.at("second"), req.body);
             return nimbus::HttpResponse::text(200, "enqueued");
           });
  // Succeeds, but its output is over the 64 KiB message limit: every attempt must fail.
  app.queue("bloat", {.queue = "bloat-jobs"}, [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ctx.log("bloat attempt " + std::to_string(m.dequeue_count) + " for " + m.text);
    ctx.enqueue("bloat-done", std::string(70 * 1024, 'x'));
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
