// A notes API on the built-in document store, as native C++ functions: the same app as
// examples/documents-node. Documents come and go through the SDK's document bindings
// (document_inputs / document_outputs / change_feed); Boost.JSON reads and writes them here,
// but any JSON library does: the SDK hands JSON text.
#include <nimbus/nimbus.h>

#include <boost/json.hpp>
#include <random>
#include <sstream>

namespace json = boost::json;

namespace {

nimbus::HttpResponse reply(int status, const json::value& body) {
  return nimbus::HttpResponse::json(status, json::serialize(body));
}

std::string new_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream o;
  o << std::hex << rng() << rng();
  return o.str();
}

size_t words(std::string_view text) {
  size_t n = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

}  // namespace

NIMBUS_APP(app) {
  // POST /api/notes {"author","text"} -> 201 {"id"}; durable before the answer.
  app.http("create-note",
           {.route = "notes", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
            .document_outputs = {{"note", "notes", "notes", "/author"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             boost::system::error_code ec;
             json::value body = json::parse(req.body, ec);
             const json::object* o = ec ? nullptr : body.if_object();
             const json::value* author = o ? o->if_contains("author") : nullptr;
             const json::value* text = o ? o->if_contains("text") : nullptr;
             if (!author || !author->is_string() || author->as_string().empty() || !text ||
                 !text->is_string())
               return reply(400, {{"error", "the body must be {\"author\": \"...\", \"text\": \"...\"}"}});
             std::string id = new_id();
             ctx.output("note", json::serialize(json::object{
                                    {"id", id}, {"author", *author}, {"text", *text}}));
             return reply(201, {{"id", id}});
           });
  // GET /api/notes/{author}/{id} -> the note, or 404 when the input is null.
  app.http("get-note",
           {.route = "notes/{author}/{id}", .methods = {"GET"}, .auth = nimbus::AuthLevel::anonymous,
            .document_inputs = {{"note", "notes", "notes", "{id}", "{author}", ""}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             const std::string& note = ctx.input("note");
             if (note == "null") return reply(404, {{"error", "no such note"}});
             return nimbus::HttpResponse::json(200, note);
           });
  // GET /api/authors/{author}/notes -> newest first ({author} is a query parameter).
  app.http("author-notes",
           {.route = "authors/{author}/notes", .methods = {"GET"},
            .auth = nimbus::AuthLevel::anonymous,
            .document_inputs = {{"notes", "notes", "notes", "", "",
                                 "SELECT c.id, c.text FROM c WHERE c.author = {author} "
                                 "ORDER BY c._ts DESC"}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             return nimbus::HttpResponse::json(200, ctx.input("notes"));
           });
  // The change feed of notes: one word-count document per note, committed with the lease.
  app.change_feed("count-words",
                  {.database = "notes", .container = "notes", .create_lease_container = true,
                   .start_from_beginning = true,
                   .document_outputs = {{"counts", "notes", "wordcounts", "/author"}}},
                  [](const nimbus::DocumentBatch& batch, nimbus::Context& ctx) {
                    json::array counts;
                    for (const auto& text : batch.documents) {
                      json::object note = json::parse(text).as_object();
                      counts.push_back(json::object{
                          {"id", note["id"]},
                          {"author", note["author"]},
                          {"words", words(note["text"].is_string() ? std::string_view(note["text"].as_string()) : "")}});
                    }
                    ctx.output("counts", json::serialize(counts));
                    ctx.log("counted words of " + std::to_string(counts.size()) + " note(s)");
                  });
  // GET /api/authors/{author}/words -> {"notes": n, "words": total}.
  app.http("author-words",
           {.route = "authors/{author}/words", .methods = {"GET"},
            .auth = nimbus::AuthLevel::anonymous,
            .document_inputs = {{"total", "notes", "wordcounts", "", "",
                                 "SELECT COUNT(1) AS notes, SUM(c.words) AS words FROM c "
                                 "WHERE c.author = {author}"}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             json::array rows = json::parse(ctx.input("total")).as_array();
             return reply(200, rows.empty() ? json::value(json::object{{"notes", 0}}) : rows[0]);
           });
}
