// Moderation input bindings in a native app: the host moderates before the call and
// ctx.input(name) is the verdict JSON (or, with no text, the moderator's health).
//   POST /api/moderate {"text": ...}  -> the verdict
//   GET  /api/health                  -> the health
//   a queue message {"id","text"} on "posts" -> {"id":..,"verdict":..} on "verdicts"
#include <nimbus/nimbus.h>

#include <string>

NIMBUS_APP(app) {
  app.http("moderate",
           {.methods = {"POST"},
            .auth = nimbus::AuthLevel::anonymous,
            .moderation_inputs = {{"verdict", "{text}"}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             return nimbus::HttpResponse::json(200, ctx.input("verdict"));
           });
  app.http("health",
           {.methods = {"GET"},
            .auth = nimbus::AuthLevel::anonymous,
            .moderation_inputs = {{"health", ""}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             return nimbus::HttpResponse::json(200, ctx.input("health"));
           });
  app.queue("review",
            {.queue = "posts",
             .outputs = {{"verdicts", "verdicts"}},
             .moderation_inputs = {{"verdict", "{text}"}}},
            [](const nimbus::QueueMessage& msg, nimbus::Context& ctx) {
              // The message's id property, found without a JSON library: enough for a test.
              std::string id;
              if (auto at = msg.text.find("\"id\":\""); at != std::string::npos) {
                at += 6;
                id = msg.text.substr(at, msg.text.find('"', at) - at);
              }
              std::string out = "{\"id\":";
              nimbus::detail::append_json_string(out, id);
              out += ",\"verdict\":" + ctx.input("verdict") + "}";
              ctx.output("verdicts", out);
            });
}
