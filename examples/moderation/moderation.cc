// The reference app (examples/moderation/README.md): a content-moderation service on Nimbus,
// written with the native SDK. Posts come in over HTTP or a bulk-import queue, are stored in the
// document store (partition key: author), and each new post starts an orchestration that fans
// out three independent checks (AI moderation, link/spam rules, length/language), fans in,
// and writes the verdict to the post and a summary per author. AI moderation is the host's
// `moderation` input binding: the host calls Gemini (or the local rules when no key is set)
// before the function runs and fails open to `pending-review` when the provider cannot answer.
// Posts left pending-review wait in a re-review queue; a timer re-queues any still pending once
// the provider is healthy. A change-feed function keeps per-author statistics.
//
// Every function here is a plain handler: the durability (post + orchestration start in one
// commit, activity result + document writes in one commit, queue completion + writes in one
// commit) is the host's. Boost.JSON reads and writes the documents; the SDK hands JSON text.
#include <nimbus/durable.h>

#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace json = boost::json;
namespace df = nimbus::durable;

namespace {

constexpr const char* kDb = "moderation";
// API limits: a post is text, not a file. 10,000 bytes keeps every queue message and activity
// input far below the 64 KiB message limit.
constexpr size_t kMaxTextBytes = 10000;
constexpr size_t kMaxAuthorBytes = 64;
constexpr size_t kMaxImport = 500;

nimbus::HttpResponse reply(int status, const json::value& body) {
  return nimbus::HttpResponse::json(status, json::serialize(body));
}

nimbus::HttpResponse bad_request(std::string message) {
  return reply(400, {{"error", {{"code", "BadRequest"}, {"message", std::move(message)}}}});
}

std::string new_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

std::string utc_now() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  int ms = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

json::object parse_object(const std::string& text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) throw std::runtime_error(std::string(what) + " is not a JSON object");
  return std::move(v.as_object());
}

std::string string_field(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Checks a submitted post ({"author", "text"}, optional "id"); "" or what is wrong and how to
// fix it. Used by the API (400) and by the import queue (a bad message fails, then is poisoned).
std::string check_post(const json::value& v, const std::string& where) {
  const json::object* o = v.if_object();
  if (!o) return where + " must be a JSON object {\"author\": \"...\", \"text\": \"...\"}";
  const json::value* author = o->if_contains("author");
  const json::value* text = o->if_contains("text");
  if (!author || !author->is_string() || author->as_string().empty())
    return where + ".author must be a non-empty string (the post's author; its partition key)";
  if (author->as_string().size() > kMaxAuthorBytes)
    return where + ".author is longer than " + std::to_string(kMaxAuthorBytes) + " bytes";
  for (char c : author->as_string())
    if (c == '/' || c == '\\' || c == '?' || c == '#' || static_cast<unsigned char>(c) < 0x20)
      return where + ".author may not contain '/', '\\', '?', '#' or control characters";
  if (!text || !text->is_string() || text->as_string().empty())
    return where + ".text must be a non-empty string";
  if (text->as_string().size() > kMaxTextBytes)
    return where + ".text is longer than " + std::to_string(kMaxTextBytes) + " bytes";
  if (const json::value* id = o->if_contains("id")) {
    if (!id->is_string() || id->as_string().empty() || id->as_string().size() > 64)
      return where + ".id, when given, must be a string of 1 to 64 characters";
    for (char c : id->as_string())
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
        return where + ".id may hold only letters, digits, '-' and '_'";
  }
  return "";
}

// The stored post, status "pending", and the orchestration's input (the same object).
json::object new_post(const json::object& in, std::string source) {
  std::string id = string_field(in, "id");
  if (id.empty()) id = new_id();
  return json::object{{"id", id},
                      {"author", in.at("author")},
                      {"text", in.at("text")},
                      {"source", std::move(source)},
                      {"createdAt", utc_now()},
                      {"moderation", {{"status", "pending"}}}};
}

// Stores the post and starts its moderation in one commit: the host writes the document and
// the orchestration's start together or not at all (instance id = post id).
void store_and_start(nimbus::Context& ctx, const json::object& post) {
  ctx.output("post", json::serialize(post));
  ctx.start_new("ModeratePost", json::serialize(post), std::string(post.at("id").as_string()));
}

// --- the checks (activities) ---

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t count_of(const std::string& haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// Unicode code points of UTF-8 text (every byte that is not a continuation byte starts one).
size_t code_points(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

// Links and spam: deterministic rules, independent of the AI provider.
json::object check_rules(const std::string& text) {
  std::string t = lower(text);
  size_t links = count_of(t, "http://") + count_of(t, "https://") + count_of(t, "www.");
  static const char* kPhrases[] = {"buy now",      "free money", "click here", "limited offer",
                                   "act now",      "casino",     "winner!!",   "crypto giveaway",
                                   "100% free",    "work from home and earn"};
  json::array reasons;
  for (const char* p : kPhrases)
    if (t.find(p) != std::string::npos) reasons.push_back(json::string(std::string("spam phrase \"") + p + "\""));
  if (links > 3) reasons.push_back(json::string("more than 3 links (" + std::to_string(links) + ")"));
  size_t letters = 0, upper = 0;
  for (unsigned char c : text)
    if (std::isalpha(c)) {
      ++letters;
      upper += std::isupper(c) ? 1 : 0;
    }
  if (letters >= 20 && upper * 10 > letters * 8) reasons.push_back("shouting (over 80% capitals)");
  bool rejected = !reasons.empty();
  return {{"check", "rules"},
          {"status", rejected ? "rejected" : "approved"},
          {"links", links},
          {"reasons", std::move(reasons)}};
}

// Length and language: a post must have words, at most 2,000 of them. The language is a
// heuristic (common English words, or the share of non-ASCII letters) reported for the
// reviewers; it never rejects.
json::object check_length(const std::string& text) {
  size_t words = 0, non_ascii = 0;
  bool in_word = false;
  std::string word, t = lower(text);
  size_t english = 0;
  static const char* kCommon[] = {"the", "and", "is", "a", "to", "of", "in", "it", "you", "that"};
  auto end_word = [&] {
    for (const char* w : kCommon)
      if (word == w) ++english;
    word.clear();
  };
  size_t chars = code_points(t);
  for (unsigned char c : t) {
    if (c >= 0x80 && (c & 0xC0) != 0x80) ++non_ascii;
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) ++words;
    if (!space) word += static_cast<char>(c);
    else if (in_word) end_word();
    in_word = !space;
  }
  end_word();
  std::string language = english >= 1 ? "en" : non_ascii * 3 > chars ? "non-latin" : "unknown";
  json::array reasons;
  if (words == 0) reasons.push_back("no words");
  if (words > 2000) reasons.push_back("more than 2,000 words");
  bool rejected = !reasons.empty();
  return {{"check", "length"},
          {"status", rejected ? "rejected" : "approved"},
          {"chars", chars},
          {"words", words},
          {"language", language},
          {"reasons", std::move(reasons)}};
}

// The AI check's verdict as the host's moderation binding gave it (see the README for the
// shape), tagged with the check's name.
json::object ai_check(const nimbus::Context& ctx) {
  json::object v = parse_object(ctx.input("verdict"), "the moderation binding's verdict");
  v["check"] = "ai";
  return v;
}

// Fan-in: any rejecting check rejects; otherwise an AI verdict that failed open leaves the post
// pending-review; otherwise approved.
std::string decide(const json::array& checks) {
  bool review = false;
  for (const auto& c : checks) {
    std::string s = string_field(c.as_object(), "status");
    if (s == "rejected") return "rejected";
    if (s == "pending-review") review = true;
  }
  return review ? "pending-review" : "approved";
}

// The documents a verdict writes: the post (whole, with its moderation), the author's summary,
// and, when the AI check failed open, a message on the re-review queue.
void write_verdict(nimbus::Context& ctx, json::object post, const json::array& checks,
                   const std::string& status) {
  std::string decided = utc_now();
  // Only a verdict the AI provider could not give goes back for re-review; a model that itself
  // asks for review ("pending-review" without failOpen) waits for a person.
  bool failed_open = false;
  for (const auto& c : checks)
    failed_open = failed_open || (string_field(c.as_object(), "check") == "ai" &&
                                  c.as_object().if_contains("failOpen") &&
                                  c.as_object().at("failOpen") == true);
  bool rereview = status == "pending-review" && failed_open;
  // firstDecidedAt: when the post first got a verdict (a re-review keeps it), the end of "post
  // -> moderated" however the verdict changes later.
  std::string first = decided;
  if (json::value* m = post.if_contains("moderation"); m && m->is_object())
    if (std::string f = string_field(m->as_object(), "firstDecidedAt"); !f.empty()) first = f;
  post["moderation"] = json::object{{"status", status},     {"failOpen", rereview},
                                    {"checks", checks},     {"decidedAt", decided},
                                    {"firstDecidedAt", first}};
  std::string author(post.at("author").as_string());
  std::string id(post.at("id").as_string());
  ctx.output("summary", json::serialize(json::object{{"id", author},
                                                      {"author", author},
                                                      {"lastPostId", id},
                                                      {"lastStatus", status},
                                                      {"lastDecidedAt", decided}}));
  if (rereview)
    ctx.output("rereview", json::serialize(json::object{
                               {"postId", id}, {"author", author}, {"text", post.at("text")}}));
  ctx.output("post", json::serialize(post));
}

const std::vector<nimbus::DocumentOutput> kVerdictOutputs = {
    {"post", kDb, "posts", "/author"}, {"summary", kDb, "authors", "/author"}};

}  // namespace

NIMBUS_APP(app) {
  // POST /api/posts {"author","text"} -> 202 {"id"}: stored (status pending) and its moderation
  // started, in one commit, before the answer.
  app.http("SubmitPost",
           {.route = "posts", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
            .document_outputs = {{"post", kDb, "posts", "/author"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             boost::system::error_code ec;
             json::value body = json::parse(req.body, ec);
             if (ec) return bad_request("the body is not JSON; send {\"author\": \"...\", \"text\": \"...\"}");
             if (auto e = check_post(body, "the body"); !e.empty()) return bad_request(e);
             json::object post = new_post(body.as_object(), "api");
             store_and_start(ctx, post);
             std::string id(post.at("id").as_string());
             return reply(202, {{"id", id},
                                {"status", "pending"},
                                {"href", "/api/posts/" + id + "?author=" +
                                             std::string(post.at("author").as_string())}});
           });

  // GET /api/posts/{id}?author=A -> the post with its moderation; 404 when there is none.
  // `author` (the partition key) makes it a point read; without it the id is looked up in
  // every partition.
  app.http("GetPost",
           {.route = "posts/{id}", .methods = {"GET"}, .auth = nimbus::AuthLevel::anonymous,
            .document_inputs = {{"posts", kDb, "posts", "", "",
                                 "SELECT * FROM c WHERE c.id = {id}"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             json::array rows = json::parse(ctx.input("posts")).as_array();
             std::string_view author = req.query_value("author");
             for (auto& r : rows)
               if (author.empty() || string_field(r.as_object(), "author") == author)
                 return reply(200, r);
             return reply(404, {{"error", {{"code", "NotFound"},
                                           {"message", "no post with this id" +
                                                           std::string(author.empty() ? "" : " by this author")}}}});
           });

  // GET /api/authors/{author}/posts -> the author's posts, newest first (at most 100).
  app.http("ListAuthorPosts",
           {.route = "authors/{author}/posts", .methods = {"GET"},
            .auth = nimbus::AuthLevel::anonymous,
            .document_inputs = {{"posts", kDb, "posts", "", "",
                                 "SELECT TOP 100 c.id, c.text, c.createdAt, c.moderation.status AS status, "
                                 "c.moderation.firstDecidedAt AS firstDecidedAt "
                                 "FROM c WHERE c.author = {author} ORDER BY c._ts DESC"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             return reply(200, {{"author", req.param("author")},
                                {"posts", json::parse(ctx.input("posts"))}});
           });

  // GET /api/authors/{author} -> the statistics the change feed keeps and the summary the
  // orchestrations write.
  app.http("GetAuthor",
           {.route = "authors/{author}", .methods = {"GET"}, .auth = nimbus::AuthLevel::anonymous,
            .document_inputs = {{"stats", kDb, "poststats", "", "",
                                 "SELECT COUNT(1) AS posts, SUM(c.pending) AS pending, "
                                 "SUM(c.approved) AS approved, SUM(c.rejected) AS rejected, "
                                 "SUM(c.review) AS pendingReview, SUM(c.chars) AS chars "
                                 "FROM c WHERE c.author = {author}"},
                                {"summary", kDb, "authors", "{author}", "{author}", ""}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             json::array rows = json::parse(ctx.input("stats")).as_array();
             json::value stats = rows.empty() ? json::value(json::object{{"posts", 0}}) : rows[0];
             if (stats.as_object()["posts"] == 0 && ctx.input("summary") == "null")
               return reply(404, {{"error", {{"code", "NotFound"}, {"message", "no posts by this author"}}}});
             return reply(200, {{"author", req.param("author")},
                                {"stats", stats},
                                {"summary", json::parse(ctx.input("summary"))}});
           });

  // POST /api/analyze {"text"} -> 200 with the AI verdict, synchronously (nothing stored). The
  // host computes the verdict from the body's "text" before the function runs.
  app.http("Analyze",
           {.route = "analyze", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
            .moderation_inputs = {{"verdict", "{text}"}}},
           [](const nimbus::HttpRequest&, nimbus::Context& ctx) {
             return nimbus::HttpResponse::json(200, ctx.input("verdict"));
           });

  // POST /api/import [{"author","text"}, ...] -> 202 {"queued": n}: each post becomes a message
  // on posts-import (all or none, with the answer). Bad items are refused here, by index.
  app.http("ImportPosts",
           {.route = "import", .methods = {"POST"}, .auth = nimbus::AuthLevel::anonymous,
            .outputs = {{"imports", "posts-import"}}},
           [](const nimbus::HttpRequest& req, nimbus::Context& ctx) {
             boost::system::error_code ec;
             json::value body = json::parse(req.body, ec);
             if (ec || !body.is_array())
               return bad_request("the body must be a JSON array of {\"author\", \"text\"} posts");
             const json::array& items = body.as_array();
             if (items.size() > kMaxImport)
               return bad_request("at most " + std::to_string(kMaxImport) +
                                  " posts per import; split the array");
             for (size_t i = 0; i < items.size(); ++i)
               if (auto e = check_post(items[i], "item [" + std::to_string(i) + "]"); !e.empty())
                 return bad_request(e);
             for (const auto& item : items) ctx.output("imports", json::serialize(item));
             return reply(202, {{"queued", items.size()}});
           });

  // Each message on posts-import: the post stored and its moderation started, committed with
  // the message's completion. A message that is not a valid post (from another producer)
  // fails, is retried, and after maxDequeueCount attempts moves to posts-import-poison.
  app.queue("ImportPost",
            {.queue = "posts-import", .document_outputs = {{"post", kDb, "posts", "/author"}}},
            [](const nimbus::QueueMessage& msg, nimbus::Context& ctx) {
              boost::system::error_code ec;
              json::value v = json::parse(msg.text, ec);
              if (ec) throw std::runtime_error("message " + msg.id + " is not JSON");
              if (auto e = check_post(v, "message " + msg.id); !e.empty()) throw std::runtime_error(e);
              store_and_start(ctx, new_post(v.as_object(), "import"));
            });

  // The moderation of one post: three checks in parallel, the verdict, then one activity that
  // writes the post, the author's summary and (pending-review) the re-review message.
  app.orchestrator("ModeratePost", [](df::OrchestrationContext& ctx) -> df::Orchestration {
    std::vector<df::Task<std::string>> checks;
    checks.push_back(ctx.call_activity("CheckAI", ctx.input()));
    checks.push_back(ctx.call_activity("CheckRules", ctx.input()));
    checks.push_back(ctx.call_activity("CheckLength", ctx.input()));
    std::vector<std::string> results = co_await df::when_all(checks);
    json::array all;
    for (const auto& r : results) all.push_back(json::parse(r));
    std::string status = decide(all);
    json::object save{{"post", json::parse(ctx.input())}, {"checks", all}, {"status", status}};
    co_await ctx.call_activity("SaveVerdict", json::serialize(save));
    co_return json::serialize(json::object{{"status", status}});
  });

  // AI moderation: the host's moderation binding computed the verdict from the input's "text"
  // (fail-open included) before this ran.
  app.activity("CheckAI", {.moderation_inputs = {{"verdict", "{text}"}}},
               [](const std::string&, nimbus::Context& ctx) { return json::serialize(ai_check(ctx)); });
  app.activity("CheckRules", [](const std::string& input, nimbus::Context&) {
    return json::serialize(check_rules(string_field(parse_object(input, "the post"), "text")));
  });
  app.activity("CheckLength", [](const std::string& input, nimbus::Context&) {
    return json::serialize(check_length(string_field(parse_object(input, "the post"), "text")));
  });

  // Writes the verdict: committed with this activity's result, so a crash never leaves the
  // post decided without its summary (or the other way round).
  app.activity("SaveVerdict",
               {.outputs = {{"rereview", "moderation-rereview"}}, .document_outputs = kVerdictOutputs},
               [](const std::string& input, nimbus::Context& ctx) {
                 json::object in = parse_object(input, "SaveVerdict's input");
                 write_verdict(ctx, std::move(in.at("post").as_object()), in.at("checks").as_array(),
                               string_field(in, "status"));
                 return std::string("null");
               });

  // The re-review queue: each pending-review post, moderated again. While the provider still
  // cannot answer, the attempt fails and the message comes back later (queue retries); a post
  // no longer pending-review (already re-reviewed) is left alone.
  app.queue("ReReview",
            {.queue = "moderation-rereview",
             .document_outputs = kVerdictOutputs,
             // {postId}, not {id}: in a queue trigger's expressions {Id} is the message's own id.
             .document_inputs = {{"current", kDb, "posts", "{postId}", "{author}", ""}},
             .moderation_inputs = {{"verdict", "{text}"}}},
            [](const nimbus::QueueMessage& msg, nimbus::Context& ctx) {
              if (ctx.input("current") == "null") {
                ctx.log("the post of message " + msg.id + " no longer exists; nothing to review");
                return;
              }
              json::object post = parse_object(ctx.input("current"), "the stored post");
              json::object* mod = post["moderation"].if_object();
              if (!mod || string_field(*mod, "status") != "pending-review" ||
                  !mod->if_contains("failOpen") || mod->at("failOpen") != true) {
                ctx.log("post " + string_field(post, "id") + " is no longer waiting for re-review");
                return;
              }
              json::object ai = ai_check(ctx);
              if (ai["failOpen"] == true)
                throw std::runtime_error("the AI provider still cannot answer (" +
                                         string_field(ai, "reason") + "); retried later");
              json::array checks;
              if (json::value* old = mod->if_contains("checks"); old && old->is_array())
                for (auto& c : old->as_array())
                  if (!c.is_object() || string_field(c.as_object(), "check") != "ai") checks.push_back(c);
              checks.push_back(std::move(ai));
              std::string status = decide(checks);
              write_verdict(ctx, std::move(post), checks, status);
              ctx.log("re-reviewed: " + status);
            });

  // Every 30 s: when the provider is healthy, re-queue posts still pending-review (those whose
  // message ran out of attempts while it was down). Re-review is idempotent, so a post queued
  // twice is reviewed once.
  app.timer("ReReviewSweep",
            {.schedule = "%REREVIEW_SCHEDULE%",
             .outputs = {{"rereview", "moderation-rereview"}},
             .document_inputs = {{"pending", kDb, "posts", "", "",
                                  "SELECT TOP 100 c.id AS postId, c.author, c.text FROM c "
                                  "WHERE c.moderation.status = 'pending-review' AND c.moderation.failOpen = true"}},
             .moderation_inputs = {{"health", ""}}},
            [](const nimbus::TimerInfo&, nimbus::Context& ctx) {
              json::object health = parse_object(ctx.input("health"), "the moderation health");
              if (health["healthy"] != true) {
                ctx.log("provider not healthy; re-review waits");
                return;
              }
              json::array pending = json::parse(ctx.input("pending")).as_array();
              for (const auto& p : pending) ctx.output("rereview", json::serialize(p));
              if (!pending.empty()) ctx.log("re-queued " + std::to_string(pending.size()) + " post(s)");
            });

  // The change feed of posts: one statistics row per post (its latest status), so the author's
  // statistics are a sum over rows. An upsert per post makes a redelivered batch harmless.
  app.change_feed("AuthorStats",
                  {.database = kDb, .container = "posts", .lease_prefix = "stats",
                   .create_lease_container = true, .start_from_beginning = true,
                   .document_outputs = {{"stats", kDb, "poststats", "/author"}}},
                  [](const nimbus::DocumentBatch& batch, nimbus::Context& ctx) {
                    json::array rows;
                    for (const auto& text : batch.documents) {
                      json::object post = parse_object(text, "a changed post");
                      std::string status;
                      if (json::value* m = post.if_contains("moderation"); m && m->is_object())
                        status = string_field(m->as_object(), "status");
                      size_t chars = code_points(string_field(post, "text"));
                      rows.push_back(json::object{{"id", post["id"]},
                                                  {"author", post["author"]},
                                                  {"status", status},
                                                  {"pending", status == "pending" ? 1 : 0},
                                                  {"approved", status == "approved" ? 1 : 0},
                                                  {"rejected", status == "rejected" ? 1 : 0},
                                                  {"review", status == "pending-review" ? 1 : 0},
                                                  {"chars", chars}});
                    }
                    ctx.output("stats", json::serialize(rows));
                  });
}
