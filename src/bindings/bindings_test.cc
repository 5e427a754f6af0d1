// Binding expressions and output bindings, without a store: what a function's outputs become.
#include <gtest/gtest.h>

#include "bindings/expressions.h"
#include "bindings/outputs.h"
#include "common/ids.h"

namespace nimbus::bindings {
namespace {

api::FunctionSpec http_fn(std::vector<api::OutputBinding> outputs) {
  api::FunctionSpec fn;
  fn.name = "orders";
  fn.trigger = api::HttpTriggerSpec{api::AuthLevel::anonymous, {}, "orders/{kind}"};
  fn.outputs = std::move(outputs);
  return fn;
}

TEST(Expressions, ParseSplitsLiteralsAndExpressions) {
  std::string error;
  auto parts = parse_template("a-{id}-{Query.x}", error);
  ASSERT_TRUE(parts) << error;
  ASSERT_EQ(parts->size(), 4u);
  EXPECT_FALSE((*parts)[0].expression);
  EXPECT_EQ((*parts)[1].text, "id");
  EXPECT_TRUE((*parts)[3].expression);
  EXPECT_EQ((*parts)[3].text, "Query.x");
}

TEST(Expressions, ParseRefusesUnbalancedAndEmptyBraces) {
  for (const char* bad : {"a{b", "a}b", "{}", "{a{b}}", "x{"}) {
    std::string error;
    EXPECT_FALSE(parse_template(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(Expressions, CheckKnowsWhatEachTriggerProvides) {
  auto fn = http_fn({});
  EXPECT_EQ(check_template("out-{kind}", fn, {"kind"}), "");
  EXPECT_EQ(check_template("{Query.x}-{Headers.y}-{rand-guid}", fn, {"kind"}), "");
  // Any other name may be a property of a JSON body: known only when the request comes.
  EXPECT_EQ(check_template("{text}", fn, {"kind"}), "");
  api::FunctionSpec q;
  q.trigger = api::QueueTriggerSpec{"jobs"};
  EXPECT_EQ(check_template("{customer}", q, {}), "");  // may be a JSON message property
  api::FunctionSpec a;
  a.trigger = api::ActivityTriggerSpec{};
  EXPECT_EQ(check_template("{comment}", a, {}), "");  // may be a property of the input
  // A timer has no payload: an unknown name is refused at load, naming what would work.
  api::FunctionSpec t;
  t.trigger = api::TimerTriggerSpec{};
  auto e = check_template("{nope}", t, {});
  EXPECT_NE(e.find("{nope}"), std::string::npos) << e;
  EXPECT_NE(e.find("{rand-guid}"), std::string::npos) << e;
}

TEST(Expressions, ResolveFromAnHttpJsonBodyAfterRouteQueryAndHeaders) {
  auto fn = http_fn({});
  api::HttpRequestData req;
  req.params = {{"kind", "books"}};
  req.body = R"( {"text":"hello there","kind":"ignored","n":2.5,"ok":true,"deep":{"a":1},"nil":null})";
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  std::string error;
  // Route parameters win over a body property of the same name (as in Azure).
  EXPECT_EQ(resolve("{TEXT}|{kind}|{n}|{ok}", inv, error), "hello there|books|2.5|true") << error;
  for (const char* absent : {"{deep}", "{nil}", "{missing}"}) {
    error.clear();
    EXPECT_FALSE(resolve(absent, inv, error)) << absent;
    EXPECT_NE(error.find(std::string(absent)), std::string::npos) << error;
    EXPECT_NE(error.find("body"), std::string::npos) << error;  // says where it looked
  }
  for (const char* body : {"", "[1,2]", "\"text\"", "{not json", "text=1"}) {
    req.body = body;
    EXPECT_FALSE(resolve("{text}", inv, error)) << body;
  }
}

TEST(Expressions, ResolveFromAnActivitysJsonInput) {
  api::FunctionSpec fn;
  fn.name = "Moderate";
  fn.trigger = api::ActivityTriggerSpec{};
  api::ActivityData a{"inst-1", 3, R"({"comment":"nice post","score":7})"};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &a;
  std::string error;
  EXPECT_EQ(resolve("{comment}/{score}", inv, error), "nice post/7") << error;
  EXPECT_FALSE(resolve("{missing}", inv, error));
  EXPECT_NE(error.find("activity's input"), std::string::npos) << error;
  api::ActivityData text{"inst-1", 4, R"("just a string")"};
  inv.input = &text;
  EXPECT_FALSE(resolve("{comment}", inv, error));
}

TEST(Expressions, ResolveFromHttpTriggerData) {
  auto fn = http_fn({});
  api::HttpRequestData req;
  req.params = {{"kind", "books"}};
  req.query = {{"Region", "eu"}};
  req.headers = {{"X-Tenant", "t1"}};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  std::string error;
  EXPECT_EQ(resolve("q-{KIND}-{query.region}-{Headers.x-tenant}", inv, error),
            "q-books-eu-t1");
  EXPECT_FALSE(resolve("{Query.missing}", inv, error));
  EXPECT_NE(error.find("{Query.missing}"), std::string::npos);
  auto guid = resolve("{rand-guid}", inv, error);
  ASSERT_TRUE(guid);
  EXPECT_EQ(guid->size(), 36u);
}

TEST(Expressions, ResolveFromQueueMessageAndItsJsonProperties) {
  api::FunctionSpec fn;
  fn.name = "work";
  fn.trigger = api::QueueTriggerSpec{"jobs"};
  api::QueueMessageData m{"id-1", R"({"customer":"acme","n":3,"deep":{"x":1}})", 2, "", "", "", ""};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &m;
  std::string error;
  EXPECT_EQ(resolve("{customer}-{n}-{DequeueCount}-{Id}", inv, error), "acme-3-2-id-1");
  EXPECT_FALSE(resolve("{deep}", inv, error));  // objects are not names
  api::QueueMessageData plain{"id-2", "not json", 1, "", "", "", ""};
  inv.input = &plain;
  EXPECT_EQ(resolve("{queueTrigger}", inv, error), "not json");
  EXPECT_FALSE(resolve("{customer}", inv, error));
}

TEST(Outputs, QueueValuesBecomePutsInOrderEncodedAsTheTriggerDecodes) {
  auto fn = http_fn({{"res", api::HttpOutputSpec{}}, {"out", api::QueueOutputSpec{"done-{kind}"}}});
  api::HttpRequestData req;
  req.params = {{"kind", "books"}};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  api::Effects fx;
  ASSERT_EQ(add_output_writes(inv, {{"out", "a"}, {"out", "b"}}, {"acct", true, {}}, fx), "");
  ASSERT_EQ(fx.writes.size(), 2u);
  const auto& put = std::get<api::QueuePut>(fx.writes[1]).message;
  EXPECT_EQ(put.queue.account, "acct");
  EXPECT_EQ(put.queue.name, "done-books");
  EXPECT_EQ(put.text, base64_encode("b"));
  api::Effects raw;
  ASSERT_EQ(add_output_writes(inv, {{"out", "a"}}, {"acct", false}, raw), "");
  EXPECT_EQ(std::get<api::QueuePut>(raw.writes[0]).message.text, "a");
}

TEST(Outputs, RefusesUndeclaredBindingsInvalidTargetsAndOversizedValues) {
  auto fn = http_fn({{"res", api::HttpOutputSpec{}}, {"out", api::QueueOutputSpec{"{kind}"}}});
  api::HttpRequestData req;
  req.params = {{"kind", "Not_A_Queue"}};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  api::Effects fx;
  auto e = add_output_writes(inv, {{"audit", "x"}}, {"acct", true, {}}, fx);
  EXPECT_NE(e.find("\"audit\""), std::string::npos) << e;
  EXPECT_NE(e.find("does not declare"), std::string::npos) << e;
  e = add_output_writes(inv, {{"out", "x"}}, {"acct", true, {}}, fx);
  EXPECT_NE(e.find("Not_A_Queue"), std::string::npos) << e;
  req.params = {{"kind", "fine"}};
  e = add_output_writes(inv, {{"out", std::string(64 * 1024, 'x')}}, {"acct", true, {}}, fx);
  EXPECT_NE(e.find("after base64 encoding"), std::string::npos) << e;
  e = add_output_writes(inv, {{"res", "x"}}, {"acct", true, {}}, fx);
  EXPECT_NE(e.find("HTTP response"), std::string::npos) << e;
}

TEST(Outputs, DocumentValuesBecomeUpsertsOnePerObject) {
  auto fn = http_fn({{"res", api::HttpOutputSpec{}}, {"docs", api::DocumentOutputSpec{"shop", "orders"}}});
  api::HttpRequestData req;
  req.params = {{"kind", "books"}};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  api::Effects fx;
  ASSERT_EQ(add_output_writes(inv, {{"docs", R"({"id":"a","n":1})"}, {"docs", R"([{"id":"b"},{"n":2}])"}},
                              {"acct", true, {}}, fx),
            "");
  ASSERT_EQ(fx.writes.size(), 3u);
  const auto& first = std::get<api::DocumentUpsert>(fx.writes[0]);
  EXPECT_EQ(first.container, (api::ContainerRef{"shop", "orders"}));
  EXPECT_EQ(first.document.at("n"), 1);
  const auto& generated = std::get<api::DocumentUpsert>(fx.writes[2]);
  ASSERT_TRUE(generated.document.at("id").is_string()) << "an id is generated when absent";
  EXPECT_EQ(generated.document.at("id").as_string().size(), 36u);
  for (const char* bad : {"not json", "\"a string\"", "[1]", "42"}) {
    api::Effects none;
    auto e = add_output_writes(inv, {{"docs", bad}}, {"acct", true, {}}, none);
    EXPECT_NE(e.find("\"docs\""), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("shop/orders"), std::string::npos) << bad << ": " << e;
  }
}

TEST(Expressions, QueryExpressionsBecomeParametersNeverText) {
  auto fn = http_fn({{"res", api::HttpOutputSpec{}}});
  api::HttpRequestData req;
  req.params = {{"kind", "x' OR 1=1 --"}};
  req.query = {{"min", "5"}};
  api::Invocation inv;
  inv.function = &fn;
  inv.input = &req;
  std::string error;
  auto q = parameterize("SELECT * FROM c WHERE c.kind = {kind} AND c.n > {Query.min}", inv, error);
  ASSERT_TRUE(q) << error;
  EXPECT_EQ(q->text, "SELECT * FROM c WHERE c.kind = @_p0 AND c.n > @_p1");
  ASSERT_EQ(q->parameters.size(), 2u);
  EXPECT_EQ(q->parameters[0].second, "x' OR 1=1 --");
  EXPECT_EQ(q->parameters[1].second, "5");
  EXPECT_FALSE(parameterize("SELECT * FROM c WHERE c.a = {Query.none}", inv, error));
  EXPECT_NE(error.find("{Query.none}"), std::string::npos) << error;
}

}  // namespace
}  // namespace nimbus::bindings
