// The custom handler JSON and the native worker frames, without any process or socket.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/ids.h"
#include "workers/custom_handler_protocol.h"
#include "workers/native_protocol.h"
#include "workers/line_splitter.h"

namespace json = boost::json;
using namespace nimbus;

namespace {
api::FunctionSpec http_fn(std::string output = "res") {
  api::FunctionSpec f;
  f.name = "orders";
  f.trigger = api::HttpTriggerSpec{};
  f.trigger_name = "req";
  if (!output.empty()) f.outputs.push_back({std::move(output), api::HttpOutputSpec{}});
  return f;
}
api::InvocationResult map(const api::FunctionSpec& fn, int status, const std::string& body) {
  api::InvocationResult r;
  std::string detail;
  workers::map_invocation_response(fn, status, body, r, detail);
  return r;
}
}  // namespace

TEST(CustomHandlerProtocol, HttpPayloadHasAzureShape) {
  auto fn = http_fn();
  api::HttpRequestData req;
  req.method = "POST";
  req.target = "/api/orders/7?x=1";
  req.host = "127.0.0.1:7071";
  req.query = {{"x", "1"}};
  req.params = {{"id", "7"}};
  req.headers = {{"Accept", "a"}, {"Accept", "b"}, {"Content-Type", "text/plain"}};
  req.body = "hello";
  api::Invocation inv{"inv-1", &fn, &req, false, {}, {}};
  auto doc = json::parse(workers::build_invocation_body(inv)).as_object();
  const auto& r = doc["Data"].as_object()["req"].as_object();
  EXPECT_EQ(r.at("Url"), "http://127.0.0.1:7071/api/orders/7?x=1");
  EXPECT_EQ(r.at("Method"), "POST");
  EXPECT_EQ(r.at("Query").as_object().at("x"), "1");
  EXPECT_EQ(r.at("Params").as_object().at("id"), "7");
  EXPECT_EQ(r.at("Headers").as_object().at("Accept").as_array().size(), 2u);
  EXPECT_EQ(r.at("Body"), "hello");
  EXPECT_TRUE(r.at("Identities").as_array().empty());
  EXPECT_EQ(doc["Metadata"].as_object()["id"], "7");
  EXPECT_EQ(doc["Metadata"].as_object()["sys"].as_object()["MethodName"], "orders");
  req.headers = {{"content-type", "application/octet-stream"}};
  req.body = std::string("\0\xff", 2);
  auto bin = json::parse(workers::build_invocation_body(inv)).as_object();
  EXPECT_EQ(bin["Data"].as_object()["req"].as_object()["Body"], "AP8=");
}

TEST(CustomHandlerProtocol, QueuePayloadCarriesMetadata) {
  api::FunctionSpec fn;
  fn.name = "work";
  fn.trigger = api::QueueTriggerSpec{"jobs"};
  fn.trigger_name = "myQueueItem";
  api::QueueMessageData m{"id-1", "text", 3, "t1", "t2", "t3", "pop"};
  api::Invocation inv{"inv-2", &fn, &m, false, {}, {}};
  auto doc = json::parse(workers::build_invocation_body(inv)).as_object();
  EXPECT_EQ(doc["Data"].as_object()["myQueueItem"], "text");
  auto& md = doc["Metadata"].as_object();
  EXPECT_EQ(md["DequeueCount"], 3);
  EXPECT_EQ(md["Id"], "id-1");
  EXPECT_EQ(md["PopReceipt"], "pop");
  EXPECT_EQ(md["NextVisibleTime"], "t3");
  EXPECT_EQ(md["sys"].as_object()["MethodName"], "work");
}

TEST(CustomHandlerProtocol, MapsOutputsResAndReturnValue) {
  auto r = map(http_fn(), 200, R"({"Outputs":{"res":{"statusCode":"201","body":{"a":1},
      "headers":{"X-A":"b","Transfer-Encoding":"chunked"}}},"Logs":["l1"]})");
  EXPECT_EQ(r.outcome, api::Outcome::succeeded);
  EXPECT_EQ(r.response.status, 201);
  EXPECT_EQ(r.response.body, R"({"a":1})");
  EXPECT_EQ(r.logs, std::vector<std::string>{"l1"});
  ASSERT_EQ(r.response.headers.size(), 2u);  // hop-by-hop dropped, JSON content type added
  EXPECT_EQ(r.response.headers[1].second, "application/json");
  auto ret = map(http_fn("$return"), 200, R"({"ReturnValue":"{\"statusCode\":202,\"body\":\"x\"}"})");
  EXPECT_EQ(ret.response.status, 202);
  EXPECT_EQ(ret.response.body, "x");
  auto none = map(http_fn(), 200, R"({"Outputs":{}})");
  EXPECT_EQ(none.response.status, 204);
}

TEST(CustomHandlerProtocol, FailuresAndGarbage) {
  EXPECT_EQ(map(http_fn(), 500, "oops").outcome, api::Outcome::failed);
  EXPECT_EQ(map(http_fn(), 200, "not json").outcome, api::Outcome::bad_response);
  EXPECT_EQ(map(http_fn(), 200, "[1]").outcome, api::Outcome::bad_response);
  auto bad = map(http_fn(), 200, R"({"Outputs":{"res":{"statusCode":42}}})");
  EXPECT_EQ(bad.outcome, api::Outcome::bad_response);
  EXPECT_NE(bad.error.find("invalid statusCode"), std::string::npos);
  // The base64 sniffing quirk of Azure's host is not copied: strings stay strings.
  EXPECT_EQ(map(http_fn(), 200, R"({"Outputs":{"res":{"body":"aGVsbG8="}}})").response.body, "aGVsbG8=");
}

TEST(CustomHandlerProtocol, QueueOutputs) {
  auto fn = http_fn();
  fn.outputs.push_back({"out", api::QueueOutputSpec{"orders"}});
  fn.outputs.push_back({"$return", api::QueueOutputSpec{"audit"}});
  auto r = map(fn, 200, R"({"Outputs":{"res":{"body":"ok"},"out":["m1",{"k":2}],"other":"x"},"ReturnValue":"r"})");
  // Keyed by binding name, one entry per item; undeclared outputs ("other") are ignored.
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(r.outputs[0], (api::OutputValue{"out", "m1"}));
  EXPECT_EQ(r.outputs[1].data, R"({"k":2})");
  EXPECT_EQ(r.outputs[2], (api::OutputValue{"$return", "r"}));
}

TEST(NativeProtocol, FrameRoundTrip) {
  std::string bytes;
  workers::encode_frame(json::object{{"type", "result"}, {"status", 201}}, std::string("b\0dy", 4), bytes);
  uint32_t hl, bl;
  ASSERT_TRUE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl, 100));
  workers::Frame f;
  ASSERT_TRUE(workers::decode_header(std::string_view(bytes).substr(8, hl), f.header));
  f.body = bytes.substr(8 + hl, bl);
  api::InvocationResult r;
  std::string error;
  ASSERT_TRUE(workers::result_from_frame(f, r, error)) << error;
  EXPECT_EQ(r.response.status, 201);
  EXPECT_EQ(r.response.body, std::string("b\0dy", 4));
  EXPECT_FALSE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl, 2));
  workers::Frame bad{json::object{{"type", "what"}}, ""};
  EXPECT_FALSE(workers::result_from_frame(bad, r, error));
  EXPECT_NE(error.find("\"what\""), std::string::npos);
}

TEST(NativeProtocol, UserExceptionsAreCaught) {
  App app;
  app.http("t", {}, [](const HttpRequest&, Context&) -> HttpResponse { throw std::runtime_error("nope"); });
  app.queue("q", {.queue = "jobs"}, [](const QueueMessage& m, Context& ctx) { ctx.output("out", m.text + "!"); });
  Context ctx("i", "t");
  HttpResponse res;
  std::string error;
  EXPECT_FALSE(workers::run_function(app.functions()[0], json::object{}, "", ctx, res, error));
  EXPECT_EQ(error, "function threw: nope");
  Context qctx("i", "q");
  EXPECT_TRUE(workers::run_function(app.functions()[1], json::object{{"message", json::object{{"id", "m"}}}},
                                    "hi", qctx, res, error));
  EXPECT_EQ(qctx.outputs()[0].second, "hi!");
  auto described = workers::describe_functions(app);
  EXPECT_EQ(described[1].as_object().at("bindings").as_array()[0].as_object().at("queueName"), "jobs");
}

// Moderation inputs are reported as function.json would declare them (the loader checks them
// the same way); an empty text is the health form, with no "text" key.
TEST(NativeProtocol, ModerationInputsAreReportedAsBindings) {
  App app;
  app.http("m", {.moderation_inputs = {{"verdict", "{text}"}, {"health", ""}}},
           [](const HttpRequest&, Context& ctx) { return HttpResponse::json(200, ctx.input("verdict")); });
  app.activity("a", {.moderation_inputs = {{"verdict", "{comment}"}}},
               [](const std::string&, Context& ctx) { return ctx.input("verdict"); });
  auto described = workers::describe_functions(app);
  const auto& http = described[0].as_object().at("bindings").as_array();
  ASSERT_EQ(http.size(), 4u);
  EXPECT_EQ(http[2], (json::object{{"type", "moderation"}, {"direction", "in"}, {"name", "verdict"},
                                   {"text", "{text}"}}));
  EXPECT_EQ(http[3], (json::object{{"type", "moderation"}, {"direction", "in"}, {"name", "health"}}));
  const auto& act = described[1].as_object().at("bindings").as_array();
  EXPECT_EQ(act.back().as_object().at("text"), "{comment}");
  // The verdict reaches ctx.input through the invoke frame's inputs.
  Context ctx("i", "m");
  HttpResponse res;
  std::string error;
  ASSERT_TRUE(workers::run_function(
      app.functions()[0], json::object{{"inputs", json::object{{"verdict", R"({"status":"approved"})"}}}},
      "", ctx, res, error)) << error;
  EXPECT_EQ(res.body, R"({"status":"approved"})");
}

TEST(CustomHandlerProtocol, StatusCodeMustBeAnIntegerFrom100To599) {
  // Values that wrap to 200 when cast to int, fractions, out-of-range and non-numeric forms.
  for (const char* sc : {"4294967496", "-4294967096", "18446744073709551816", "1e3", "200.5",
                         "99", "600", "-200", "true", "null", "[200]", "{}", "\"\"", "\"2OO\"",
                         "\" 200\"", "\"200 \"", "\"0x12c\"", "\"4294967496\"", "\"200.0\""}) {
    std::string detail;
    api::InvocationResult r;
    workers::map_invocation_response(
        http_fn(), 200, std::string(R"({"Outputs":{"res":{"statusCode":)") + sc + "}}}", r, detail);
    EXPECT_EQ(r.outcome, api::Outcome::bad_response) << sc;
    // The field is named; the value is not echoed to the client.
    EXPECT_EQ(r.error, "handler output \"res\" has an invalid statusCode; use an integer 100..599") << sc;
    EXPECT_NE(detail.find("statusCode"), std::string::npos) << sc;
  }
  for (auto [sc, want] : std::vector<std::pair<const char*, int>>{
           {"100", 100}, {"599", 599}, {"\"201\"", 201}, {"204.0", 204}})
    EXPECT_EQ(map(http_fn(), 200, std::string(R"({"Outputs":{"res":{"statusCode":)") + sc + "}}}")
                  .response.status, want) << sc;
  auto status = map(http_fn(), 200, R"({"Outputs":{"res":{"status":4294967496}}})");
  EXPECT_EQ(status.outcome, api::Outcome::bad_response);
  EXPECT_NE(status.error.find("invalid status;"), std::string::npos) << status.error;
}

TEST(CustomHandlerProtocol, FailuresKeepHandlerTextOutOfTheClientError) {
  std::string detail;
  api::InvocationResult r;
  workers::map_invocation_response(http_fn(), 500, "secret stack trace at /srv/app.js:12", r, detail);
  EXPECT_EQ(r.outcome, api::Outcome::failed);
  EXPECT_EQ(r.error.find("secret"), std::string::npos);
  EXPECT_NE(detail.find("secret stack trace"), std::string::npos);
  api::InvocationResult g;
  detail.clear();
  workers::map_invocation_response(http_fn(), 200, "secret garbage", g, detail);
  EXPECT_EQ(g.outcome, api::Outcome::bad_response);
  EXPECT_EQ(g.error.find("secret"), std::string::npos);
  EXPECT_NE(detail.find("secret garbage"), std::string::npos);
}

TEST(CustomHandlerProtocol, PayloadIsValidUtf8JsonWhateverTheRequestBytes) {
  auto fn = http_fn();
  // Every byte value, alone and after a lead byte, in each field the request carries.
  for (int b = 0x80; b < 0x100; ++b) {
    std::string bad{static_cast<char>(b)};
    std::string pair{'\xC3', static_cast<char>(b)};
    api::HttpRequestData req;
    req.method = "GET";
    req.target = "/api/orders/" + bad;
    req.host = "127.0.0.1:7071";
    req.query = {{"q" + bad, pair}};
    req.params = {{"id", bad + pair}};
    req.headers = {{"X-Raw", bad}, {"Content-Type", "text/plain"}};
    req.body = pair + bad;
    api::Invocation inv{"inv-1", &fn, &req, false, {}, {}};
    boost::system::error_code ec;
    auto doc = json::parse(workers::build_invocation_body(inv), ec);  // strict: UTF-8 checked
    ASSERT_FALSE(ec) << b;
    EXPECT_EQ(doc.at("Data").at("req").at("Headers").at("X-Raw").as_array()[0], "\xEF\xBF\xBD");
  }
  api::FunctionSpec qfn;
  qfn.name = "work";
  qfn.trigger = api::QueueTriggerSpec{"jobs"};
  qfn.trigger_name = "item";
  api::QueueMessageData m{"id-1", "caf\xE9", 1, "t1", "t2", "t3", "pop"};
  api::Invocation qinv{"inv-2", &qfn, &m, false, {}, {}};
  boost::system::error_code ec;
  auto q = json::parse(workers::build_invocation_body(qinv), ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(q.at("Data").at("item"), "caf\xEF\xBF\xBD");
}

TEST(CustomHandlerProtocol, AnswersWithNonUtf8BytesAreCarriedNotRejected) {
  auto r = map(http_fn(), 200, "{\"Outputs\":{\"res\":{\"body\":\"caf\xE9\"}},\"Logs\":[\"\xFF\"]}");
  EXPECT_EQ(r.outcome, api::Outcome::succeeded);
  EXPECT_EQ(r.response.body, "caf\xE9");
  EXPECT_EQ(r.logs, std::vector<std::string>{"\xFF"});
}

TEST(NativeProtocol, EveryStringRoundTripsByteForByte) {
  // Route parameters, query values, headers, logs and queue messages are bytes, not UTF-8.
  for (int b = 0; b < 0x100; ++b) {
    std::string s = std::string("x") + static_cast<char>(b) + "\xC3\x28\xED\xA0\x80y";
    api::FunctionSpec fn;
    fn.name = "f";
    api::HttpRequestData req;
    req.method = "GET";
    req.target = "/api/f/" + s;
    req.path = req.target;
    req.query = {{s, s}};
    req.params = {{"p", s}};
    req.headers = {{"X-Raw", s}};
    api::Invocation inv{"inv", &fn, &req, false, {}, {}};
    std::string bytes;
    workers::encode_frame(workers::invoke_header(inv), "", bytes);
    uint32_t hl, bl;
    ASSERT_TRUE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl, 100));
    json::object h;
    ASSERT_TRUE(workers::decode_header(std::string_view(bytes).substr(8, hl), h)) << b;
    auto got = workers::request_from_invoke(h, "");
    EXPECT_EQ(got.params.at("p"), s);
    EXPECT_EQ(got.query.at(s), s);
    EXPECT_EQ(got.headers.at(0).second, s);
    EXPECT_EQ(got.url, req.target);

    Context ctx("inv", "f");
    ctx.log(s);
    ctx.output("out", s);
    HttpResponse res = HttpResponse::text(200, s);
    std::string answer;
    workers::encode_frame(workers::result_header(res, ctx), res.body, answer);
    ASSERT_TRUE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(answer.data()), hl, bl, 100));
    workers::Frame f;
    ASSERT_TRUE(workers::decode_header(std::string_view(answer).substr(8, hl), f.header)) << b;
    f.body = answer.substr(8 + hl, bl);
    api::InvocationResult r;
    std::string error;
    ASSERT_TRUE(workers::result_from_frame(f, r, error)) << error;
    EXPECT_EQ(r.logs.at(0), s);
    EXPECT_EQ(r.outputs.at(0).data, s);
    EXPECT_EQ(r.response.body, s);
  }
}

TEST(LineSplitter, BoundsLinesAndMarksTruncation) {
  workers::LineSplitter lines(4);
  std::vector<std::pair<std::string, bool>> got;
  auto emit = [&](std::string_view l, bool t) { got.emplace_back(std::string(l), t); };
  lines.feed("ab\ncdefgh", emit);
  lines.feed("ij\nk", emit);
  lines.finish(emit);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (std::pair<std::string, bool>{"ab", false}));
  EXPECT_EQ(got[1], (std::pair<std::string, bool>{"cdef", true}));
  EXPECT_EQ(got[2], (std::pair<std::string, bool>{"k", false}));
}

// 1e999 parses as infinity; written back it would be `Infinity`, which is not JSON.
TEST(CustomHandlerProtocol, NumbersBeyondJsonsRangeAreABadResponseNotInvalidJson) {
  for (const char* body : {R"({"Outputs":{"res":{"statusCode":200,"body":{"x":1e999}}}})",
                           R"({"ReturnValue":-1e400})",
                           R"({"Outputs":{"res":"{\"body\":[1,2,1e999]}"}})"}) {
    auto r = map(http_fn(), 200, body);
    if (r.outcome == api::Outcome::succeeded) {
      boost::system::error_code ec;
      (void)boost::json::parse(r.response.body, ec);
      EXPECT_TRUE(!ec || r.response.body.find("Infinity") == std::string::npos)
          << body << " -> " << r.response.body;
    } else {
      EXPECT_EQ(r.outcome, api::Outcome::bad_response) << body;
    }
  }
}

// The direct writer and the DOM builder give the same JSON value (sys's UtcNow and RandGuid
// differ per call and are compared by presence).
TEST(CustomHandlerProtocol, DirectPayloadEqualsDomPayload) {
  auto fn = http_fn();
  auto same = [&](api::HttpRequestData& req) {
    api::Invocation inv{"inv-1", &fn, &req, false, {}, {}};
    boost::system::error_code ec;
    auto a = json::parse(workers::build_invocation_body(inv), ec);
    ASSERT_FALSE(ec) << workers::build_invocation_body(inv);
    auto b = json::parse(workers::build_http_invocation_body_dom(inv), ec);
    ASSERT_FALSE(ec);
    for (auto* d : {&a, &b}) {
      auto& sys = d->at("Metadata").at("sys").as_object();
      ASSERT_TRUE(sys.at("UtcNow").is_string());
      ASSERT_TRUE(sys.at("RandGuid").is_string());
      sys.erase("UtcNow");
      sys.erase("RandGuid");
    }
    EXPECT_EQ(a, b) << json::serialize(a) << "\n" << json::serialize(b);
  };
  api::HttpRequestData req;
  req.method = "GET";
  req.target = "/api/orders/7?x=1&y=%22";
  req.host = "127.0.0.1:7071";
  same(req);  // no query, params, headers or body
  req.query = {{"x", "1"}, {"y", "\"q\\\n\t\x01\x7f"}, {"z", "caf\xE9"}};
  req.params = {{"id", "7"}, {"sys", "shadowed"}, {"name", "\xF0\x9F\x98\x80"}};
  req.headers = {{"Accept", "a"}, {"X-B", "1"}, {"Accept", "b"}, {"accept", "c"},
                 {"Content-Type", "text/plain"}, {"X-Ctl", std::string("\0\x1f", 2)}};
  req.body = "line1\r\nline2 \"quoted\" \\ \xFF end";
  same(req);
  req.headers.push_back({"content-type", "application/octet-stream"});
  req.headers.erase(req.headers.begin() + 4);
  req.body = std::string("\0\xff\x10", 3);
  same(req);
  fn.trigger_name = "";
  req.params.clear();
  same(req);
}

// UtcNow has iso8601_now_ms()'s shape ("YYYY-MM-DDTHH:MM:SS.mmmZ") and lies between two
// readings of it taken before and after.
TEST(CustomHandlerProtocol, UtcNowKeepsItsFormat) {
  auto fn = http_fn();
  api::HttpRequestData req;
  req.method = "GET";
  req.target = "/";
  api::Invocation inv{"inv-1", &fn, &req, false, {}, {}};
  for (int i = 0; i < 3; ++i) {
    std::string before = iso8601_now_ms();
    auto doc = json::parse(workers::build_invocation_body(inv));
    std::string now(doc.at("Metadata").at("sys").at("UtcNow").as_string());
    std::string after = iso8601_now_ms();
    ASSERT_EQ(now.size(), after.size()) << now;
    // The same format orders as text as it does in time.
    EXPECT_LE(before, now);
    EXPECT_LE(now, after);
    EXPECT_EQ(now[19], '.');
    EXPECT_EQ(now.back(), 'Z');
  }
}
