// Queue-triggered native functions for tests: a worker that forwards, one that always fails,
// HTTP producers, and outputs the host must refuse (over 64 KiB, invalid queue names).
#include <nimbus/nimbus.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

NIMBUS_APP(app) {
  // Output queues named by binding expressions: the route's {queue}, a query parameter.
  app.http("submit", {.route = "submit/{queue}", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
                      .outputs = {{"out", "{queue}"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             ctx.output("out", req.body);
             return nimbus::HttpResponse::text(202, "queued");
           });
  // ?queue=<any name, valid or not>: the body goes there.
  app.http("emit", {.route = "emit", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
                    .outputs = {{"out", "{Query.queue}"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             ctx.output("out", req.body);
             return nimbus::HttpResponse::text(200, "enqueued");
           });
  // Two outputs: a small one to ?first=, then the body to ?second= (all or nothing).
  app.http("emit-two", {.route = "emit-two", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
                        .outputs = {{"first", "{Query.first}"}, {"second", "{Query.second}"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             ctx.output("first", "first");
             ctx.output("second", req.body);
             return nimbus::HttpResponse::text(200, "enqueued");
           });
  // Succeeds, but its output is over the 64 KiB message limit: every attempt must fail.
  app.queue("bloat", {.queue = "bloat-jobs", .outputs = {{"out", "bloat-done"}}},
            [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ctx.log("bloat attempt " + std::to_string(m.dequeue_count) + " for " + m.text);
    ctx.output("out", std::string(70 * 1024, 'x'));
  });
  app.queue("work", {.queue = "jobs", .outputs = {{"done", "jobs-done"}}},
            [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ctx.log("working on " + m.text);
    ctx.output("done", m.text + "|" + std::to_string(m.dequeue_count));
  });
  app.queue("slow", {.queue = "slow-jobs", .outputs = {{"done", "slow-done"}}},
            [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ::usleep(5000);  // slower than the producer, so a kill lands mid-drain
    ctx.output("done", m.text);
  });
  app.queue("long", {.queue = "long-jobs", .outputs = {{"done", "long-done"}}},
            [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
    ::sleep(5);  // longer than the 2 s lease: the host must renew it
    ctx.output("done", m.text + "|" + std::to_string(m.dequeue_count));
  });
  // Document outputs: the body (a JSON object or array) upserted into shop/orders; a queue
  // function that archives each message as a document, committed with the message's deletion.
  app.http("save-order", {.route = "orders", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
                          .document_outputs = {{"doc", "shop", "orders"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             ctx.output("doc", req.body);
             return nimbus::HttpResponse::text(201, "saved");
           });
  app.queue("archive", {.queue = "archive-jobs", .document_outputs = {{"doc", "shop", "orders"}}},
            [](const nimbus::QueueMessage& m, nimbus::Context& ctx) {
              ctx.output("doc", "{\"id\":\"" + m.id + "\",\"customer\":\"archive\",\"text\":\"" +
                                    m.text + "\"}");
            });
  // Document inputs: one order by route values (404 when the input is null), and a query
  // whose {customer} becomes a parameter.
  app.http("get-order", {.route = "orders/{customer}/{id}", .methods = {"GET"},
                         .auth = nimbus::AuthLevel::anonymous,
                         .document_inputs = {{"order", "shop", "orders", "{id}", "{customer}", ""}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             const std::string& order = ctx.input("order");
             if (order == "null") return nimbus::HttpResponse::text(404, "no such order");
             return nimbus::HttpResponse::json(200, order);
           });
  app.http("customer-orders",
           {.route = "customers/{customer}/orders", .methods = {"GET"},
            .auth = nimbus::AuthLevel::anonymous,
            .document_inputs = {{"ids", "shop", "orders", "", "",
                                 "SELECT VALUE c.id FROM c WHERE c.customer = {customer} ORDER BY c.id"}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             return nimbus::HttpResponse::json(200, ctx.input("ids"));
           });
  // The change feed of shop/orders: each batch's ids, as one message to orders-fed.
  app.change_feed("order-feed",
                  {.database = "shop", .container = "orders", .lease_container = "leases",
                   .lease_database = "ops", .create_lease_container = true,
                   .start_from_beginning = true, .outputs = {{"fed", "orders-fed"}}},
                  [](const nimbus::DocumentBatch& batch, nimbus::Context& ctx) {
                    std::string ids;
                    for (const auto& d : batch.documents) {
                      auto at = d.find("\"id\":\"");
                      if (at == std::string::npos) continue;
                      auto end = d.find('"', at + 6);
                      ids += (ids.empty() ? "" : ",") + d.substr(at + 6, end - at - 6);
                    }
                    ctx.output("fed", ids);
                  });
  app.queue("doomed", {.queue = "doomed"}, [](const nimbus::QueueMessage& m, nimbus::Context&) {
    throw std::runtime_error("always fails: " + m.text);
  });
}
