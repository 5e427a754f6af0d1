// The HTTP trigger's completion on a recording store: an HTTP function's outputs are one
// commit made before the response, and any failure to write them is the response.
#include "triggers/http_trigger.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <optional>

#include "testing/fake_effects_store.h"
#include "testing/fake_invoker.h"
#include "testing/run_until.h"

namespace asio = boost::asio;
using namespace nimbus;

namespace {

struct HttpHost {
  asio::io_context io;
  observability::Metrics metrics;
  Logger log{LogLevel::none};
  std::vector<api::FunctionSpec> functions;
  fakes::FakeEffectsStore store;
  runtime::EffectsCommitter effects{store, io.get_executor()};
  runtime::Dispatcher dispatcher{{std::chrono::minutes(5), -1}, metrics, log};
  fakes::FakeInvoker invoker{io.get_executor()};
  std::unique_ptr<http::Router> router;
  std::unique_ptr<triggers::HttpTrigger> trigger;

  explicit HttpHost(bool with_store = true) {
    api::FunctionSpec fn;
    fn.name = "orders";
    fn.trigger = api::HttpTriggerSpec{api::AuthLevel::anonymous, {}, "orders/{kind}"};
    fn.outputs = {{"$return", api::HttpOutputSpec{}},
                  {"out", api::QueueOutputSpec{"orders-{kind}"}}};
    functions.push_back(fn);
    router = std::make_unique<http::Router>("api", functions);
    dispatcher.bind("orders", &invoker);
    trigger = std::make_unique<triggers::HttpTrigger>(
        *router, nullptr, dispatcher, with_store ? &effects : nullptr,
        bindings::OutputOptions{"devstoreaccount1", false, {}}, &log);
  }

  api::HttpResponseData call(const std::string& path) {
    api::HttpRequestData req;
    req.method = "POST";
    req.path = path;
    req.target = path;
    std::optional<api::HttpResponseData> out;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await trigger->handle(req); },
                   asio::detached);
    EXPECT_TRUE(fakes::run_until(io, [&] { return out.has_value(); }));
    return out.value_or(api::HttpResponseData{});
  }
  uint64_t count(const std::string& status) {
    auto text = metrics.render();
    auto key = "nimbus_invocations_total{function=\"orders\",trigger=\"http\",status=\"" +
               status + "\"} ";
    auto at = text.find(key);
    return at == std::string::npos ? 0 : std::stoull(text.substr(at + key.size()));
  }
};

api::InvocationResult answer(std::vector<api::OutputValue> outputs) {
  api::InvocationResult r;
  r.response = {201, {}, "created"};
  r.outputs = std::move(outputs);
  return r;
}

}  // namespace

TEST(HttpTrigger, OutputsAreOneCommitMadeBeforeTheResponse) {
  HttpHost h;
  h.invoker.answer = [](const api::Invocation&) {
    return answer({{"out", "a"}, {"out", "b"}, {"out", "c"}});
  };
  auto res = h.call("/api/orders/books");
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "created");
  ASSERT_EQ(h.store.committed.size(), 1u) << "three messages, one commit";
  const auto& fx = h.store.committed[0];
  EXPECT_FALSE(fx.ack);
  ASSERT_EQ(fx.writes.size(), 3u);
  EXPECT_EQ(std::get<api::QueuePut>(fx.writes[2]).message.queue.name, "orders-books");
  EXPECT_EQ(std::get<api::QueuePut>(fx.writes[2]).message.text, "c");
}

TEST(HttpTrigger, AnUnwritableOutputWritesNothingAndIsA500NamingTheBinding) {
  HttpHost h;
  h.invoker.answer = [](const api::Invocation&) {
    return answer({{"out", "fine"}, {"audit", "undeclared"}});
  };
  auto res = h.call("/api/orders/books");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("OutputBindingFailed"), std::string::npos) << res.body;
  EXPECT_NE(res.body.find("\\\"audit\\\""), std::string::npos) << res.body;
  EXPECT_EQ(h.store.attempts, 0) << "checked before anything was committed";
  EXPECT_EQ(h.count("failed"), 1u) << "logs and metrics report the committed outcome";
  EXPECT_EQ(h.count("succeeded"), 0u);
  // A route value that makes no queue name: the resolved name is checked too.
  h.invoker.answer = [](const api::Invocation&) { return answer({{"out", "x"}}); };
  res = h.call("/api/orders/Bad_Kind");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("orders-Bad_Kind"), std::string::npos) << res.body;
  EXPECT_EQ(h.store.attempts, 0);
}

TEST(HttpTrigger, AFailedCommitIsA500WithoutTheStoresDetail) {
  HttpHost h;
  h.store.fail_with = api::QueueError{api::QueueErrc::storage_failure,
                                      "disk I/O error in /secret/path/nimbus.db"};
  h.invoker.answer = [](const api::Invocation&) { return answer({{"out", "a"}}); };
  auto res = h.call("/api/orders/books");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("no output was written"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find("/secret/path"), std::string::npos) << "the path is for the log";
  EXPECT_EQ(h.count("failed"), 1u);
}

TEST(HttpTrigger, FunctionsWithoutOutputValuesNeverTouchTheStore) {
  HttpHost h(/*with_store=*/false);
  h.invoker.answer = [](const api::Invocation&) { return answer({}); };
  EXPECT_EQ(h.call("/api/orders/books").status, 201);
  // Without a store, a value for an output binding fails the invocation rather than vanish.
  h.invoker.answer = [](const api::Invocation&) { return answer({{"out", "a"}}); };
  auto res = h.call("/api/orders/books");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("no store"), std::string::npos) << res.body;
}
