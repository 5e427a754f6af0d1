// The custom handler JSON and the native worker frames, without any process or socket.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/ids.h"
#include "common/log.h"
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

// The one-pass reader of the usual answer and the DOM mapping give the same result for every
// text: the usual shape, and each way out of it (which the reader leaves to the DOM).
TEST(CustomHandlerProtocol, UsualAnswerReaderAgreesWithDom) {
  const std::string big(5000, 'x');
  const std::vector<std::string> answers = {
      R"({"Outputs":{"res":{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"bench\"}"}},"Logs":["greeting bench"],"ReturnValue":null})",
      R"({"Outputs":{"res":{"statusCode":201,"body":"a\u0000b\"c\\d\n"}}})",
      R"({"Outputs":{"res":{"status":404,"body":"no"}},"Logs":[]})",
      R"({"Outputs":{"res":{"statusCode":202,"status":404}}})",
      R"({"Outputs":{"res":{"statusCode":"201","body":"x"}}})",
      R"({"Outputs":{"res":{"statusCode":42}}})",
      R"({"Outputs":{"res":{"statusCode":600}}})",
      R"({"Outputs":{"res":{"statusCode":200.0}}})",
      R"({"Outputs":{"res":{"statusCode":1e999}}})",
      R"({"Outputs":{"res":{"statusCode":18446744073709551615}}})",
      R"({"Outputs":{"res":{"statusCode":null}}})",
      R"({"Outputs":{"res":{"statusCode":true}}})",
      R"({"Outputs":{"res":{"body":{"a":1}}}})",
      R"({"Outputs":{"res":{"body":null,"headers":{}}}})",
      R"({"Outputs":{"res":{"body":7}}})",
      R"({"Outputs":{"res":{"headers":{"X-A":"1","Connection":"close","Transfer-Encoding":"chunked","X-B":"2"}}}})",
      R"({"Outputs":{"res":{"headers":{"X-A":"1","X-A":"2"}}}})",
      R"({"Outputs":{"res":{"headers":{"X-A":1}}}})",
      R"({"Outputs":{"res":{"headers":{"X-A":null}}}})",
      R"({"Outputs":{"res":{"headers":[]}}})",
      R"({"Outputs":{"res":{"body":"a","body":"b"}}})",
      R"({"Outputs":{"res":{"body":"a"},"res":{"body":"b"}}})",
      R"({"Outputs":{"res":{"body":"a"}},"Outputs":{}})",
      R"({"Outputs":{"res":null}})",
      R"({"Outputs":{"res":"{\"statusCode\":203,\"body\":\"s\"}"}})",
      R"({"Outputs":{"res":[1]}})",
      R"({"Outputs":{"res":5}})",
      R"({"Outputs":{"other":{"deep":[[{"x":[1,2,{"y":null}]}]],"f":1.5},"res":{"body":"ok"}}})",
      R"({"Outputs":{"other":{"deep":[true,false,null,"s",-3]},"res":{"body":"ok","extra":{"a":[1]}}}})",
      R"({"Outputs":null})",
      R"({"Outputs":[]})",
      R"({"Outputs":{}})",
      R"({})",
      R"({"Logs":["a","b"],"Logs":["c"]})",
      R"({"Logs":["a",1]})",
      R"({"Logs":null,"Outputs":{"res":{"body":"x"}}})",
      R"({"Logs":"x"})",
      R"({"ReturnValue":{"statusCode":500},"Outputs":{"res":{"body":"r"}}})",
      R"({"ReturnValue":1e999,"Outputs":{"res":{"body":"r"}}})",
      R"({"\u004futputs":{"r\u0065s":{"b\u006fdy":"escaped keys"}}})",
      "{\"Outputs\":{\"res\":{\"body\":\"latin1 \xe9\"}},\"Logs\":[\"\xff\"]}",
      "{\"Outputs\":{\"res\":{\"body\":\"" + big + "\\n" + big + "\"}},\"Logs\":[\"" + big + "\"]}",
      "{\"Outputs\":{\"res\":{\"headers\":{\"" + big + "\":\"" + big + "\"}}}}",
      R"({"Outputs":{"res":{"body":"x"}}} trailing)",
      " \n{\"Outputs\":{\"res\":{\"body\":\"x\"}}}\r\n\t ",
      R"({"Outputs":{"res":{"body":"x"}})",
      R"({"Outputs":{"res":{"body":"x"}}}/* c */)",
      R"([{"Outputs":{}}])",
      R"("text")",
      R"(null)",
      "",
      "not json",
      R"({"Outputs":{"res":{"body":"x"}},"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})",
      R"({"Outputs":{"res":{"body":"x"}},"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]})",
  };
  auto same = [](const api::InvocationResult& a, const api::InvocationResult& b) {
    return a.outcome == b.outcome && a.error == b.error && a.logs == b.logs &&
           a.response.status == b.response.status && a.response.headers == b.response.headers &&
           a.response.body == b.response.body && a.outputs == b.outputs;
  };
  for (const auto& fn : {http_fn(), http_fn("response"), http_fn("$return")})
    for (int status : {200, 204, 299, 302, 500})
      for (const auto& text : answers) {
        api::InvocationResult fast, dom;
        std::string d1, d2;
        workers::map_invocation_response(fn, status, text, fast, d1);
        workers::map_invocation_response_dom(fn, status, text, dom, d2);
        EXPECT_TRUE(same(fast, dom)) << "output " << fn.outputs[0].name << ", status " << status
                                     << ", answer " << text.substr(0, 200);
        EXPECT_EQ(d1, d2);
      }
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

namespace {
// The header text of the frame in `bytes` (and its body).
std::string header_text(const std::string& bytes, std::string* body = nullptr) {
  uint32_t hl = 0, bl = 0;
  EXPECT_TRUE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl,
                                     UINT32_MAX));
  EXPECT_EQ(bytes.size(), 8 + size_t(hl) + bl);
  if (body) *body = bytes.substr(8 + hl, bl);
  return bytes.substr(8, hl);
}
// The header of a frame in `bytes`, parsed (strings as bytes, as both ends read them).
json::object header_of(const std::string& bytes, std::string* body = nullptr) {
  json::object h;
  EXPECT_TRUE(workers::decode_header(header_text(bytes, body), h));
  return h;
}
// A worker's answer as the host reads it.
api::InvocationResult answer_of(std::string_view header, std::string body = "") {
  api::InvocationResult r;
  workers::ResultHeader h;
  std::string error;
  EXPECT_TRUE(workers::read_result_header(header, h, error)) << error;
  EXPECT_TRUE(workers::result_from_header(std::move(h), std::move(body), r, error)) << error;
  return r;
}
api::InvocationResult answer_of(const json::object& header, std::string body = "") {
  return answer_of(json::serialize(header), std::move(body));
}
// Why the host refuses a (well-formed) answer.
std::string broken(const json::object& header) {
  api::InvocationResult r;
  workers::ResultHeader h;
  std::string error;
  EXPECT_TRUE(workers::read_result_header(json::serialize(header), h, error)) << error;
  EXPECT_FALSE(workers::result_from_header(std::move(h), "", r, error));
  return error;
}
}  // namespace

TEST(NativeProtocol, FrameRoundTrip) {
  std::string bytes;
  workers::encode_frame(json::object{{"type", "result"}, {"status", 201}}, std::string("b\0dy", 4), bytes);
  uint32_t hl, bl;
  std::string body;
  auto h = header_text(bytes, &body);
  auto r = answer_of(h, body);
  EXPECT_EQ(r.response.status, 201);
  EXPECT_EQ(r.response.body, std::string("b\0dy", 4));
  EXPECT_FALSE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl, 2));
  EXPECT_NE(broken(json::object{{"type", "what"}}).find("\"what\""), std::string::npos);
}

TEST(NativeProtocol, InvokeHeadersCarryTheSameKeysAsBefore) {
  // The header is written as text now; these are the objects the json::object form made.
  api::FunctionSpec fn;
  fn.name = "Square";
  api::ActivityData act{"inst-1", 3, "7"};
  api::Invocation a{"inv-1", &fn, &act, false, {}, {}};
  std::string bytes, body;
  workers::encode_invoke_frame(a, act.input, bytes);
  EXPECT_EQ(header_of(bytes, &body),
            (json::object{{"type", "invoke"}, {"id", "inv-1"}, {"function", "Square"},
                          {"trigger", "activity"}, {"instanceId", "inst-1"}}));
  EXPECT_EQ(body, "7");

  api::OrchestrationData orch{"inst-1", R"({"events":[]})"};
  api::Invocation o{"inv-2", &fn, &orch, false, {}, {}};
  o.trace = TraceContext::child_of(std::nullopt);
  o.inputs = {{"client", R"({"a":1})"}, {"doc", "null"}};
  bytes.clear();
  workers::encode_invoke_frame(o, orch.request, bytes);
  EXPECT_EQ(header_of(bytes, &body),
            (json::object{{"type", "invoke"}, {"id", "inv-2"}, {"function", "Square"},
                          {"trigger", "orchestration"}, {"traceparent", o.trace.traceparent()},
                          {"inputs", {{"client", R"({"a":1})"}, {"doc", "null"}}}}));
  EXPECT_EQ(body, orch.request);

  api::QueueMessageData m{"id-1", "text", 4, "t1", "t2", "t3", "pop"};
  api::Invocation q{"inv-3", &fn, &m, false, {}, {}};
  bytes.clear();
  workers::encode_invoke_frame(q, m.text, bytes);
  auto qh = header_of(bytes);
  EXPECT_EQ(qh, (json::object{{"type", "invoke"}, {"id", "inv-3"}, {"function", "Square"},
                              {"trigger", "queue"},
                              {"message", {{"id", "id-1"}, {"dequeueCount", 4},
                                           {"insertionTime", "t1"}, {"expirationTime", "t2"},
                                           {"nextVisibleTime", "t3"}, {"popReceipt", "pop"}}}}));
  EXPECT_EQ(workers::message_from_invoke(qh, m.text).dequeue_count, 4);

  api::HttpRequestData req;
  req.method = "POST";
  req.target = "/api/f?x=1";
  req.path = "/api/f";
  req.query = {{"x", "1"}};
  req.headers = {{"A", "1"}, {"A", "2"}};
  api::Invocation h{"inv-4", &fn, &req, false, {}, {}};
  bytes.clear();
  workers::encode_invoke_frame(h, "", bytes);
  EXPECT_EQ(header_of(bytes),
            (json::object{{"type", "invoke"}, {"id", "inv-4"}, {"function", "Square"},
                          {"method", "POST"}, {"target", "/api/f?x=1"}, {"path", "/api/f"},
                          {"query", {{"x", "1"}}}, {"params", json::object{}},
                          {"headers", json::array{json::array{"A", "1"}, json::array{"A", "2"}}}}));
}

TEST(NativeProtocol, HeaderTextIsWhatBoostJsonWouldWrite) {
  // Every byte, escaped exactly as Boost.JSON's serializer escapes it (so the wire is unchanged).
  Context ctx("inv", "f");
  std::string all;
  for (int b = 0; b < 0x100; ++b) all += static_cast<char>(b);
  ctx.log(all);
  ctx.log("\"quoted\" \\ back\tslash");
  std::string bytes;
  workers::encode_error_frame(all, ctx, bytes);
  uint32_t hl = 0, bl = 0;
  ASSERT_TRUE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl, 0));
  EXPECT_EQ(bl, 0u);
  EXPECT_EQ(bytes.substr(8, hl),
            json::serialize(json::object{{"type", "error"},
                                         {"message", all},
                                         {"logs", json::array{json::string(all),
                                                              "\"quoted\" \\ back\tslash"}}}));
  auto r = answer_of(header_text(bytes));
  EXPECT_EQ(r.outcome, api::Outcome::failed);
  EXPECT_EQ(r.error, all);
  EXPECT_EQ(r.logs, (std::vector<std::string>{all, "\"quoted\" \\ back\tslash"}));

  HttpResponse res = HttpResponse::text(202, "body");
  res.headers = {{"X-A", "1"}};
  Context quiet("inv", "f");
  quiet.output("out", "v\n");
  bytes.clear();
  workers::encode_result_frame(res, quiet, bytes);
  ASSERT_TRUE(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl, 100));
  EXPECT_EQ(bytes.substr(8, hl),
            json::serialize(json::object{{"type", "result"},
                                         {"status", 202},
                                         {"headers", json::array{json::array{"X-A", "1"}}},
                                         {"logs", json::array{}},
                                         {"outputs", json::array{json::array{"out", "v\n"}}}}));
  std::string body;
  auto rh = header_text(bytes, &body);
  auto ok = answer_of(rh, body);
  EXPECT_EQ(ok.outcome, api::Outcome::succeeded);
  EXPECT_EQ(ok.response.status, 202);
  EXPECT_EQ(ok.response.body, "body");
  EXPECT_EQ(ok.response.headers, (Headers{{"X-A", "1"}}));
  ASSERT_EQ(ok.outputs.size(), 1u);
  EXPECT_EQ(ok.outputs[0], (api::OutputValue{"out", "v\n"}));
}

TEST(NativeProtocol, BrokenAnswersAreRefusedWithAReason) {
  for (std::string_view bad : {"", "{", "[1]", "\"result\"", R"({"type":"result",})",
                               R"({"type":"result"} x)", "{\"type\":\"res\x01ult\"}",
                               R"({"status":01})", R"({"status":2.})", R"({"logs":[1,]})",
                               R"({"a":tru})", R"({"a":"\x"})", R"({"a":"\ud800"})",
                               R"({"a":"\udc00"})", R"({"a":"\u12g4"})", R"({"a" 1})",
                               R"({1:1})", "{\"a\":\"unterminated}"}) {
    workers::ResultHeader h;
    std::string error;
    EXPECT_FALSE(workers::read_result_header(bad, h, error)) << bad;
    EXPECT_NE(error.find("not a JSON object ("), std::string::npos) << error;
    EXPECT_NE(error.find(" at byte "), std::string::npos) << error;
  }
  EXPECT_NE(broken(json::object{}).find("type \"\""), std::string::npos);
  EXPECT_NE(broken(json::object{{"type", 5}}).find("type \"\""), std::string::npos);
  for (json::value status : {json::value(nullptr), json::value("200"), json::value(99),
                             json::value(1000), json::value(200.0)})
    EXPECT_NE(broken(json::object{{"type", "result"}, {"status", status}}).find("\"status\""),
              std::string::npos)
        << json::serialize(status);
  // Malformed pairs and logs are skipped, as before; the rest of the answer stands.
  auto r = answer_of(json::object{
      {"type", "result"}, {"status", 200},
      {"headers", json::array{json::array{"a"}, json::array{"b", 1}, json::array{"c", "d"}, "e"}},
      {"outputs", json::array{json::array{"out", "v"}, json::array{"x", "y", "z"}}},
      {"logs", json::array{"l", 1}}});
  EXPECT_EQ(r.response.headers, (Headers{{"c", "d"}}));
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0], (api::OutputValue{"out", "v"}));
  EXPECT_EQ(r.logs, std::vector<std::string>{"l"});
}

// The reader accepts exactly the texts Boost.JSON parses into an object (both with
// invalid UTF-8 allowed), and reads from them what the json::object reader took.
TEST(NativeProtocol, ResultHeaderReaderAgreesWithBoostJson) {
  std::vector<std::string> texts = {
      R"({"type":"result","status":200,"headers":[],"logs":[]})",
      R"( { "type" : "result" , "status" : 204 , "logs" : [ "a" , 1 , null , "b" ] } )",
      R"({"type":"result","status":200,"headers":[["a","b"],["c"],["d","e","f"],[1,"x"],"g",[]]})",
      R"({"type":"result","status":200,"outputs":[["o","v"]],"outputs":[["p","w"]]})",
      R"({"type":"result","status":-5})", R"({"type":"result","status":9223372036854775808})",
      R"({"type":"result","status":2e2})", R"({"type":"result","status":200.5})",
      R"({"type":"result","status":true})", R"({"status":300,"type":"result","x":{"y":[1,{}]}})",
      R"({"type":"error","message":"m\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u0000","logs":["l"]})",
      R"({"type":"error","type":"result","status":201})", R"({"type":5,"message":[]})",
      "{\"type\":\"error\",\"message\":\"caf\xE9 \xFF\xC3(\"}",
      R"({"a":[1e5,-0,0.5E-3,-12.25e+2,true,false,null,"s",{},[]]})", R"({})", "{}\n",
      R"({"a":-})", R"({"a":1.e5})", R"({"a":.5})", R"({"a":+1})", R"({"a":0x10})",
      R"({"a":[1 2]})", R"({"a":{"b"}})", R"({"a":{"b":1,}})", R"([])", R"(nul)",
      R"({"a":"\u00"})", R"({"a":"\uD83D\u0041"})", "{\"a\":\"tab\there\"}"};
  for (int depth : {30, 31, 32, 33}) {  // Boost.JSON's default limit is 32
    texts.push_back(R"({"a":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}");
    texts.push_back(R"({"logs":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}");
  }
  for (const auto& text : texts) {
    json::object dom;
    bool boost_ok = workers::decode_header(text, dom);
    workers::ResultHeader h;
    std::string error;
    ASSERT_EQ(workers::read_result_header(text, h, error), boost_ok) << text << " " << error;
    if (!boost_ok) continue;
    auto str = [&](const char* k) {
      auto* v = dom.if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    EXPECT_EQ(h.type, str("type")) << text;
    EXPECT_EQ(h.message, str("message")) << text;
    auto* st = dom.if_contains("status");
    EXPECT_EQ(h.status.has_value(), st && st->is_int64()) << text;
    if (h.status && st && st->is_int64()) EXPECT_EQ(*h.status, st->as_int64()) << text;
    std::vector<std::string> logs;
    if (auto* l = dom.if_contains("logs"); l && l->is_array())
      for (const auto& x : l->as_array())
        if (x.is_string()) logs.emplace_back(x.as_string());
    EXPECT_EQ(h.logs, logs) << text;
    for (std::string key : {"headers", "outputs"}) {
      std::vector<std::pair<std::string, std::string>> pairs;
      if (auto* a = dom.if_contains(key); a && a->is_array())
        for (const auto& p : a->as_array())
          if (p.is_array() && p.as_array().size() == 2 && p.as_array()[0].is_string() &&
              p.as_array()[1].is_string())
            pairs.emplace_back(std::string(p.as_array()[0].as_string()),
                               std::string(p.as_array()[1].as_string()));
      EXPECT_EQ(key == "headers" ? h.headers : h.outputs, pairs) << text;
    }
  }
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
    workers::encode_invoke_frame(inv, "", bytes);
    auto got = workers::request_from_invoke(header_of(bytes), "");
    EXPECT_EQ(got.params.at("p"), s);
    EXPECT_EQ(got.query.at(s), s);
    EXPECT_EQ(got.headers.at(0).second, s);
    EXPECT_EQ(got.url, req.target);

    Context ctx("inv", "f");
    ctx.log(s);
    ctx.output("out", s);
    HttpResponse res = HttpResponse::text(200, s);
    std::string answer, body;
    workers::encode_result_frame(res, ctx, answer);
    auto h = header_text(answer, &body);
    auto r = answer_of(h, body);
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

// The body is escaped exactly as Boost.JSON's serializer escapes it, wherever the byte to
// escape sits (the writer checks eight bytes at a time, then byte by byte), and bytes that
// are not UTF-8 still become U+FFFD.
TEST(CustomHandlerProtocol, PayloadStringsEscapeEveryByteAtEveryPosition) {
  auto fn = http_fn();
  api::HttpRequestData req;
  req.method = "POST";
  req.target = "/";
  api::Invocation inv{"inv-1", &fn, &req, false, {}, {}};
  for (size_t len : {1u, 7u, 8u, 9u, 17u, 24u})
    for (size_t pos = 0; pos < len; ++pos)
      for (int c = 0; c < 256; ++c) {
        req.body.assign(len, 'a');
        req.body[pos] = static_cast<char>(c);
        std::string text = workers::build_invocation_body(inv);
        std::string want =
            "\"Body\":" + json::serialize(json::value(json::string(valid_utf8(req.body))));
        ASSERT_NE(text.find(want), std::string::npos) << "byte " << c << " at " << pos << " of " << len;
      }
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
