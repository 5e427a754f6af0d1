#include "config/loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "common/ids.h"
#include "common/json_util.h"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace nimbus::config;

namespace {

std::string parse_fn_error(const std::string& text) {
  auto doc = nimbus::parse_json_text(text, "orders/function.json");
  EXPECT_TRUE(doc.value) << doc.error;
  std::string error;
  auto fn = parse_function("orders", *doc.value, "orders/function.json", error);
  EXPECT_FALSE(fn.has_value());
  return error;
}

std::string host_error(const std::string& text) {
  AppSpec app;
  app.root = "/tmp";
  return apply_host_json(json::parse(text), app);
}

class TempApp : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("nimbus-config-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  fs::path root_;
};

}  // namespace

TEST(FunctionJson, ParsesHttpTrigger) {
  auto doc = json::parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req","authLevel":"Anonymous",
     "methods":["get","post"],"route":"orders/{id:int}"},
    {"type":"http","direction":"out","name":"res"}]})");
  std::string error;
  auto fn = parse_function("orders", doc, "orders/function.json", error);
  ASSERT_TRUE(fn) << error;
  ASSERT_NE(fn->http(), nullptr);
  EXPECT_EQ(fn->trigger_name, "req");
  EXPECT_EQ(fn->http()->auth, nimbus::api::AuthLevel::anonymous);
  EXPECT_EQ(fn->http()->methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(fn->http()->route, "orders/{id:int}");
  EXPECT_EQ(fn->http_output(), "res");
}

TEST(FunctionJson, DefaultsMatchAzure) {
  auto doc = json::parse(R"({"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},
    {"type":"http","direction":"out","name":"$return"}]})");
  std::string error;
  auto fn = parse_function("hello", doc, "hello/function.json", error);
  ASSERT_TRUE(fn) << error;
  EXPECT_EQ(fn->http()->auth, nimbus::api::AuthLevel::function);  // Azure's default when authLevel is absent
  EXPECT_TRUE(fn->http()->methods.empty());          // every method
  EXPECT_EQ(fn->http()->route, "hello");             // the function's name
  EXPECT_EQ(fn->http_output(), "$return");
}

TEST(FunctionJson, BadMethodNamesFilePathAndFix) {
  EXPECT_EQ(parse_fn_error(R"({"bindings":[{"type":"httpTrigger","direction":"in","name":"req",
            "methods":["get","FETCH"]}]})"),
            "orders/function.json: bindings[0].methods[1]: \"FETCH\" is not an HTTP method; use "
            "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or TRACE");
}

TEST(FunctionJson, BadInputsAreNamed) {
  struct Case {
    const char* json;
    const char* expect;  // substring
  };
  const Case cases[] = {
      {R"([])", "must be a JSON object"},
      {R"({})", "bindings: is required"},
      {R"({"bindings":{}})", "bindings: must be an array"},
      {R"({"bindings":[1]})", "bindings[0]: must be an object"},
      {R"({"bindings":[{"direction":"in","name":"req"}]})", "bindings[0].type: is required"},
      {R"({"bindings":[{"type":"httpTrigger","direction":"sideways","name":"req"}]})",
       "bindings[0].direction: \"sideways\" is not a direction"},
      {R"({"bindings":[{"type":"blobby","direction":"in","name":"x"}]})",
       "bindings[0].type: \"blobby\" is not a known binding type"},
      {R"({"bindings":[{"type":"eventHubTrigger","direction":"in","name":"x"}]})",
       "\"eventHubTrigger\" is not supported by Nimbus yet"},
      {R"({"bindings":[{"type":"httpTrigger","direction":"in","name":"r","authLevel":"root"}]})",
       "bindings[0].authLevel: \"root\" is not an auth level"},
      {R"({"bindings":[{"type":"httpTrigger","direction":"in","name":"r","methods":"get"}]})",
       "bindings[0].methods: must be an array"},
      {R"({"bindings":[{"type":"httpTrigger","direction":"in","name":"r","route":"a/{id:weird}"}]})",
       "bindings[0].route: \"a/{id:weird}\": constraint \"weird\" is not supported"},
      {R"({"bindings":[{"type":"http","direction":"out","name":"res"}]})",
       "needs exactly one trigger"},
      {R"({"bindings":[{"type":"httpTrigger","direction":"in","name":"a"},
                       {"type":"httpTrigger","direction":"in","name":"b"}]})",
       "more than one trigger"},
      {R"({"disabled":"yes","bindings":[]})", "disabled: must be true or false"},
      {R"({"bindings":[{"type":"http","direction":"in","name":"res"}]})",
       "bindings[0].direction: an http output binding must have direction \"out\""},
  };
  for (const auto& c : cases) {
    std::string e = parse_fn_error(c.json);
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.json << "\n got: " << e;
    EXPECT_EQ(e.rfind("orders/function.json: ", 0), 0u) << e;
  }
}

TEST(HostJson, VersionIsRequired) {
  EXPECT_EQ(host_error(R"({})"), "host.json: version: is required; add \"version\": \"2.0\"");
  EXPECT_EQ(host_error(R"({"version":"1.0"})"),
            "host.json: version: \"1.0\" is not supported; use \"2.0\"");
}

TEST(HostJson, BadValuesAreFatalAndNamed) {
  EXPECT_NE(host_error(R"({"version":"2.0","functionTimeout":"5 minutes"})")
                .find("host.json: functionTimeout: \"5 minutes\" is not a TimeSpan"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","functionTimeout":"00:00:00"})")
                .find("must be at least"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","extensions":{"http":{"routePrefix":5}}})")
                .find("host.json: extensions.http.routePrefix: must be a string"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","logging":{"logLevel":{"default":"Loud"}}})")
                .find("host.json: logging.logLevel.default: \"Loud\" is not a log level"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","customHandler":{"description":{}}})")
                .find("customHandler.description.defaultExecutablePath: is required"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"native":{"library":"nope.so"}}})")
                .find("host.json: nimbus.native.library: \"nope.so\" does not exist"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"http":{"maxRequestBodySize":-5}}})")
                .find("nimbus.http.maxRequestBodySize: -5 is out of range"),
            std::string::npos);
}

TEST(HostJson, AppliesSupportedKeysAndWarnsAboutOthers) {
  AppSpec app;
  app.root = "/tmp";
  auto e = apply_host_json(json::parse(R"({"version":"2.0","functionTimeout":"00:01:00",
      "extensions":{"http":{"routePrefix":"/v1/"}},
      "logging":{"logLevel":{"default":"Warning"}},
      "singleton":{}, "extensionBundle":{"id":"x"}, "colour":"blue", "watchFiles":[]})"), app);
  EXPECT_EQ(e, "");
  EXPECT_EQ(app.function_timeout, std::chrono::minutes(1));
  EXPECT_EQ(app.route_prefix, "v1");
  EXPECT_EQ(app.log_level, nimbus::LogLevel::warning);
  auto has = [&](const std::string& s) {
    for (const auto& w : app.warnings)
      if (w.find(s) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("host.json: singleton: not supported by Nimbus yet"));
  EXPECT_TRUE(has("host.json: colour: unknown key"));
  EXPECT_TRUE(has("host.json: watchFiles: not supported by Nimbus yet"));
  EXPECT_FALSE(has("extensionBundle"));
}

TEST(LocalSettings, ValuesAndPort) {
  AppSpec app;
  apply_local_settings(json::parse(R"({"IsEncrypted":false,"Values":{"A":"1","B":"two"},
                                       "Host":{"LocalHttpPort":7999}})"), app);
  EXPECT_EQ(app.values.at("B"), "two");
  EXPECT_EQ(app.local_http_port, 7999);
  AppSpec bad;
  apply_local_settings(json::parse(R"({"Values":{"A":"1","N":5}})"), bad);
  EXPECT_TRUE(bad.values.empty());
  ASSERT_EQ(bad.warnings.size(), 1u);
  EXPECT_NE(bad.warnings[0].find("Values.N: must be a string"), std::string::npos);
}

TEST(JsonSyntax, ErrorsCarryLineAndColumn) {
  auto r = nimbus::parse_json_text("{\n  \"version\": \"2.0\",\n  oops\n}", "host.json");
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.error.rfind("host.json: line 3, column 3: invalid JSON", 0), 0u) << r.error;
  auto trailing = nimbus::parse_json_text("{} x", "host.json");
  EXPECT_FALSE(trailing.value);
}

TEST_F(TempApp, LoadsCustomHandlerAppAndRefusesOnlyTheBadFunction) {
  write("host.json", R"({"version":"2.0","customHandler":{"description":{
      "defaultExecutablePath":"node","arguments":["server.js"]}}})");
  write("good/function.json", R"({"bindings":[{"type":"httpTrigger","direction":"in",
      "name":"req"},{"type":"http","direction":"out","name":"res"}]})");
  write("bad/function.json", R"({"bindings":[{"type":"httpTrigger","direction":"in",
      "name":"req","methods":["FETCH"]}]})");
  write("broken/function.json", R"({"bindings":[)");
  auto r = load_app(root_.string());
  ASSERT_TRUE(r.app) << r.fatal;
  ASSERT_EQ(r.app->functions.size(), 1u);
  EXPECT_EQ(r.app->functions[0].name, "good");
  ASSERT_EQ(r.app->function_errors.size(), 2u);
  EXPECT_EQ(r.app->function_errors[0].rfind("bad/function.json: bindings[0].methods[0]", 0), 0u);
  EXPECT_EQ(r.app->function_errors[1].rfind("broken/function.json: line 1", 0), 0u);
  EXPECT_EQ(r.app->custom_handler->executable, "node");
  EXPECT_EQ(r.app->custom_handler->arguments, (std::vector<std::string>{"server.js"}));
}

TEST_F(TempApp, CustomHandlerPipeliningKeysAreReadAndBounded) {
  write("good/function.json", R"({"bindings":[{"type":"httpTrigger","direction":"in",
      "name":"req"},{"type":"http","direction":"out","name":"res"}]})");
  auto host = [&](const std::string& nimbus) {
    write("host.json", R"({"version":"2.0","customHandler":{"description":{
        "defaultExecutablePath":"node"}},"nimbus":{"customHandler":)" + nimbus + "}}");
    return load_app(root_.string());
  };
  auto r = host("{}");
  ASSERT_TRUE(r.app) << r.fatal;
  EXPECT_EQ(r.app->custom_handler->connections_per_process, 8);
  EXPECT_EQ(r.app->custom_handler->pipeline_depth, 8);
  r = host(R"({"connectionsPerProcess":64,"pipelineDepth":1,"pipelining":true})");
  ASSERT_TRUE(r.app) << r.fatal;
  EXPECT_EQ(r.app->custom_handler->connections_per_process, 64);
  EXPECT_EQ(r.app->custom_handler->pipeline_depth, 1);
  ASSERT_EQ(r.app->warnings.size(), 1u);
  EXPECT_NE(r.app->warnings[0].find("nimbus.customHandler.pipelining: unknown key"),
            std::string::npos)
      << r.app->warnings[0];
  r = host(R"({"pipelineDepth":0})");
  EXPECT_FALSE(r.app);
  EXPECT_NE(r.fatal.find("nimbus.customHandler.pipelineDepth"), std::string::npos) << r.fatal;
  r = host(R"({"connectionsPerProcess":"8"})");
  EXPECT_FALSE(r.app);
  EXPECT_NE(r.fatal.find("nimbus.customHandler.connectionsPerProcess"), std::string::npos)
      << r.fatal;
}

TEST_F(TempApp, InvalidHostJsonIsFatal) {
  write("host.json", "{ \"version\": ");
  auto r = load_app(root_.string());
  EXPECT_FALSE(r.app);
  EXPECT_EQ(r.fatal.rfind("host.json: line 1", 0), 0u) << r.fatal;
  EXPECT_FALSE(load_app((root_ / "missing").string()).app);
}

TEST_F(TempApp, HandlerPathMustBeExecutable) {
  write("host.json", R"({"version":"2.0","customHandler":{"description":{
      "defaultExecutablePath":"handler"}}})");
  write("handler", "#!/bin/sh\n");
  auto r = load_app(root_.string());
  EXPECT_FALSE(r.app);
  EXPECT_NE(r.fatal.find("\"handler\" is not executable; run chmod +x"), std::string::npos);
  ::chmod((root_ / "handler").c_str(), 0755);
  EXPECT_TRUE(load_app(root_.string()).app);
}

TEST(FunctionJson, QueueTriggerAndOutputs) {
  auto doc = json::parse(R"({"bindings":[
    {"type":"queueTrigger","direction":"in","name":"item","queueName":"%IN_QUEUE%","connection":"AzureWebJobsStorage"},
    {"type":"queue","direction":"out","name":"done","queueName":"done-items"},
    {"type":"queue","direction":"out","name":"$return","queueName":"audit"}],
    "retry":{"strategy":"exponentialBackoff","maxRetryCount":4,"minimumInterval":"00:00:01","maximumInterval":"00:00:05"}})");
  std::string error;
  auto fn = parse_function("work", doc, "work/function.json", error, {{"IN_QUEUE", "orders"}});
  ASSERT_TRUE(fn) << error;
  ASSERT_NE(fn->queue(), nullptr);
  EXPECT_EQ(fn->trigger_name, "item");
  EXPECT_EQ(fn->queue()->queue, "orders");
  ASSERT_EQ(fn->outputs.size(), 2u);
  EXPECT_EQ(std::get<nimbus::api::QueueOutputSpec>(fn->outputs[0].spec).queue, "done-items");
  EXPECT_EQ(fn->outputs[1].name, "$return");
  ASSERT_TRUE(fn->retry);
  EXPECT_EQ(fn->retry->delay_after(1), std::chrono::seconds(1));
  EXPECT_EQ(fn->retry->delay_after(2), std::chrono::seconds(2));
  EXPECT_EQ(fn->retry->delay_after(3), std::chrono::seconds(4));
  EXPECT_EQ(fn->retry->delay_after(9), std::chrono::seconds(5));
}

TEST(FunctionJson, QueueBindingErrors) {
  EXPECT_NE(parse_fn_error(R"({"bindings":[{"type":"queueTrigger","direction":"in","name":"m"}]})")
                .find("bindings[0].queueName: is required"), std::string::npos);
  EXPECT_NE(parse_fn_error(R"({"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"Bad_Name"}]})")
                .find("bindings[0].queueName: \"Bad_Name\" is not a queue name"), std::string::npos);
  EXPECT_NE(parse_fn_error(R"({"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"%NOPE_NOT_SET%"}]})")
                .find("names an app setting that does not exist"), std::string::npos);
  EXPECT_NE(parse_fn_error(R"({"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"ok-q"},
      {"type":"queue","direction":"in","name":"o","queueName":"x-q"}]})")
                .find("bindings[1].direction: a queue output binding must have direction \"out\""), std::string::npos);
  EXPECT_NE(parse_fn_error(R"({"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"ok-q"}],
      "retry":{"strategy":"fixedDelay","maxRetryCount":2}})")
                .find("retry.delayInterval: is required for fixedDelay"), std::string::npos);
}

TEST(HostJson, QueuesExtension) {
  AppSpec app;
  app.root = "/tmp";
  EXPECT_EQ(apply_host_json(json::parse(R"({"version":"2.0","extensions":{"queues":{
      "batchSize":8,"newBatchThreshold":4,"maxDequeueCount":3,"visibilityTimeout":"00:00:02",
      "messageEncoding":"none","maxPollingInterval":"00:00:01"}},
      "retry":{"strategy":"fixedDelay","maxRetryCount":2,"delayInterval":"00:00:03"},
      "nimbus":{"queueService":{"port":10099},"queues":{"leaseDuration":"00:00:05"}}})"), app), "");
  EXPECT_EQ(app.queues.batch_size, 8);
  EXPECT_EQ(app.queues.new_batch_threshold, 4);
  EXPECT_EQ(app.queues.max_dequeue_count, 3);
  EXPECT_EQ(app.queues.visibility_timeout, std::chrono::seconds(2));
  EXPECT_FALSE(app.queues.base64);
  EXPECT_EQ(app.queues.lease, std::chrono::seconds(5));
  EXPECT_EQ(app.queue_service.port, 10099);
  ASSERT_TRUE(app.retry);
  EXPECT_EQ(app.retry->delay_after(5), std::chrono::seconds(3));
  EXPECT_NE(host_error(R"({"version":"2.0","extensions":{"queues":{"batchSize":64}}})")
                .find("host.json: extensions.queues.batchSize: 64 is out of range; use 1..32"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","extensions":{"queues":{"messageEncoding":"hex"}}})")
                .find("\"hex\" is not an encoding"), std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","retry":{"strategy":"sometimes","maxRetryCount":1}})")
                .find("host.json: retry.strategy: \"sometimes\" is not a strategy"), std::string::npos);
}

// Names are spliced into routes and handler request lines ("POST /<name> HTTP/1.1").
TEST(FunctionJson, FunctionNamesFollowAzuresRule) {
  for (const char* good : {"orders", "A", "a1_b-c", "Z9"}) EXPECT_TRUE(is_valid_function_name(good)) << good;
  for (const std::string& bad : std::vector<std::string>{"", "1abc", "_x", "-x", "a b", "a/b", "a.b", "x\r\nHost: evil",
                                "é", std::string(129, 'a')})
    EXPECT_FALSE(is_valid_function_name(bad)) << bad;
  auto doc = nimbus::parse_json_text(R"({"bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]})", "x");
  std::string error;
  EXPECT_FALSE(parse_function("bad name", *doc.value, "bad name/function.json", error));
  EXPECT_NE(error.find("is not a valid function name"), std::string::npos) << error;
}

TEST(HostJson, TimeoutsAndDelaysStayInsideWhatTheClocksAndQueuesHold) {
  // 200000 days overflowed the steady_clock deadline: every call answered 504 at once.
  EXPECT_NE(host_error(R"({"version":"2.0","functionTimeout":"200000.00:00:00"})")
                .find("functionTimeout: must be at most \"365.00:00:00\""),
            std::string::npos);
  EXPECT_EQ(host_error(R"({"version":"2.0","functionTimeout":"-1"})"), "");
  EXPECT_EQ(host_error(R"({"version":"2.0","functionTimeout":"365.00:00:00"})"), "");
  EXPECT_NE(host_error(R"({"version":"2.0","retry":{"strategy":"fixedDelay","maxRetryCount":2,"delayInterval":"8.00:00:00"}})")
                .find("retry.delayInterval: must be at most \"7.00:00:00\""),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","retry":{"strategy":"exponentialBackoff","maxRetryCount":2,"minimumInterval":"00:00:01","maximumInterval":"30.00:00:00"}})")
                .find("retry.maximumInterval: must be at most"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","extensions":{"queues":{"visibilityTimeout":"7.00:00:01"}}})")
                .find("extensions.queues.visibilityTimeout: must be at most"),
            std::string::npos);
}

TEST(HostJson, ConnectionAndBufferLimits) {
  AppSpec app;
  app.root = "/tmp";
  EXPECT_EQ(apply_host_json(json::parse(R"({"version":"2.0","nimbus":{"http":{"maxConnections":50,"maxRequestBodySize":1000,"maxBufferedRequestBytes":5000}}})"), app), "");
  EXPECT_EQ(app.max_connections, 50u);
  EXPECT_EQ(app.max_buffered_request_bytes, 5000u);
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"http":{"maxRequestBodySize":1000,"maxBufferedRequestBytes":999}}})")
                .find("maxBufferedRequestBytes: must be at least maxRequestBodySize"),
            std::string::npos);
}

TEST(FunctionJson, OutputBindingsAreNamedOnceAndTheirExpressionsChecked) {
  auto parse = [](const std::string& text, std::string& error) {
    auto doc = boost::json::parse(text);
    return nimbus::config::parse_function("orders", doc, "orders/function.json", error);
  };
  std::string error;
  auto fn = parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req","route":"orders/{kind}"},
    {"type":"http","direction":"out","name":"res"},
    {"type":"queue","direction":"out","name":"out","queueName":"orders-{kind}-{Query.region}"}]})",
                  error);
  ASSERT_TRUE(fn) << error;
  EXPECT_EQ(std::get<nimbus::api::QueueOutputSpec>(fn->output("out")->spec).queue,
            "orders-{kind}-{Query.region}");
  // An HTTP function's unknown name may be a JSON body property: accepted at load.
  EXPECT_TRUE(parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req","route":"orders/{kind}"},
    {"type":"queue","direction":"out","name":"out","queueName":"orders-{knid}"}]})", error))
      << error;
  // A timer has no payload: an unknown name is refused, naming what would work.
  EXPECT_FALSE(parse(R"({"bindings":[
    {"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * * *"},
    {"type":"queue","direction":"out","name":"out","queueName":"orders-{knid}"}]})", error));
  EXPECT_NE(error.find("{knid}"), std::string::npos) << error;
  EXPECT_NE(error.find("{rand-guid}"), std::string::npos) << error << " (names what would work)";
  EXPECT_FALSE(parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req"},
    {"type":"queue","direction":"out","name":"out","queueName":"a-{b"}]})", error));
  EXPECT_NE(error.find("not closed"), std::string::npos) << error;
  EXPECT_FALSE(parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req"},
    {"type":"queue","direction":"out","name":"out","queueName":"one"},
    {"type":"queue","direction":"out","name":"out","queueName":"two"}]})", error));
  EXPECT_NE(error.find("bindings[2].name"), std::string::npos) << error;
  EXPECT_FALSE(parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req"},
    {"type":"http","direction":"out","name":"res"},
    {"type":"http","direction":"out","name":"res2"}]})", error));
  EXPECT_NE(error.find("second http output"), std::string::npos) << error;
}

TEST(FunctionJson, CosmosDbOutputBindings) {
  auto parse = [](const std::string& text, std::string& error) {
    auto doc = boost::json::parse(text);
    return nimbus::config::parse_function(
        "orders", doc, "orders/function.json", error,
        {{"DB", "shop"}, {"CosmosDB", "AccountEndpoint=https://localhost:8081/;AccountKey=k;"}});
  };
  std::string error;
  auto fn = parse(R"({"bindings":[
    {"type":"queueTrigger","direction":"in","name":"m","queueName":"jobs"},
    {"type":"cosmosDB","direction":"out","name":"doc","databaseName":"%DB%","collectionName":"orders","connection":"CosmosDB"}]})",
                  error);
  ASSERT_TRUE(fn) << error;
  const auto& d = std::get<nimbus::api::DocumentOutputSpec>(fn->output("doc")->spec);
  EXPECT_EQ(d.database, "shop");
  EXPECT_EQ(d.container, "orders");
  EXPECT_FALSE(parse(R"({"bindings":[
    {"type":"queueTrigger","direction":"in","name":"m","queueName":"jobs"},
    {"type":"cosmosDB","direction":"out","name":"doc","databaseName":"shop"}]})", error));
  EXPECT_NE(error.find("bindings[1].containerName: is required"), std::string::npos) << error;
  EXPECT_FALSE(parse(R"({"bindings":[
    {"type":"queueTrigger","direction":"in","name":"m","queueName":"jobs"},
    {"type":"cosmosDB","direction":"out","name":"doc","databaseName":"shop","containerName":"o","createIfNotExists":true}]})", error));
  EXPECT_NE(error.find("bindings[1].partitionKey: is required with createIfNotExists"), std::string::npos) << error;
  fn = parse(R"({"bindings":[
    {"type":"queueTrigger","direction":"in","name":"m","queueName":"jobs"},
    {"type":"cosmosDB","direction":"out","name":"doc","databaseName":"shop","containerName":"o","createIfNotExists":true,"partitionKey":"/customer"}]})", error);
  ASSERT_TRUE(fn) << error;
  EXPECT_TRUE(std::get<nimbus::api::DocumentOutputSpec>(fn->output("doc")->spec).create_if_not_exists);
  EXPECT_FALSE(parse(R"({"bindings":[
    {"type":"queueTrigger","direction":"in","name":"m","queueName":"jobs"},
    {"type":"cosmosDB","direction":"in","name":"doc","databaseName":"shop","containerName":"o"}]})", error));
  EXPECT_NE(error.find("bindings[1].id: is required (with partitionKey), or give sqlQuery"), std::string::npos) << error;
}

TEST(FunctionJson, CosmosDbInputBindings) {
  auto parse = [](std::string_view text, std::string& error) {
    auto doc = boost::json::parse(text);
    return nimbus::config::parse_function("get", doc, "get/function.json", error);
  };
  std::string error;
  auto fn = parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req","route":"orders/{customer}/{id}"},
    {"type":"http","direction":"out","name":"res"},
    {"type":"cosmosDB","direction":"in","name":"order","databaseName":"shop","containerName":"orders","id":"{id}","partitionKey":"{customer}"},
    {"type":"cosmosDB","direction":"in","name":"recent","databaseName":"shop","containerName":"orders",
     "sqlQuery":"SELECT * FROM c WHERE c.customer = {customer} AND c.total > {Query.min}"}]})", error);
  ASSERT_TRUE(fn) << error;
  ASSERT_EQ(fn->inputs.size(), 2u);
  const auto& order = std::get<nimbus::api::DocumentInputSpec>(fn->input("order")->spec);
  EXPECT_EQ(order.id, "{id}");
  EXPECT_EQ(order.partition_key, "{customer}");
  EXPECT_FALSE(std::get<nimbus::api::DocumentInputSpec>(fn->input("recent")->spec).sql_query.empty());

  struct Bad {
    const char* binding;
    const char* expect;
  };
  for (const auto& b : {
           Bad{R"({"type":"cosmosDB","direction":"in","name":"x","databaseName":"shop","containerName":"o","id":"{id}"})",
               "bindings[2].partitionKey: is required with id"},
           Bad{R"({"type":"cosmosDB","direction":"in","name":"x","databaseName":"shop","containerName":"o","id":"{id}","partitionKey":"p","sqlQuery":"SELECT * FROM c"})",
               "bindings[2].sqlQuery: cannot be used with id"},
           Bad{R"({"type":"cosmosDB","direction":"in","name":"x","databaseName":"shop","containerName":"o","sqlQuery":"SELECT * FROM c WHERE c.a = {"})",
               "sqlQuery"},
       }) {
    std::string text = std::string(R"({"bindings":[
      {"type":"httpTrigger","direction":"in","name":"req","route":"orders/{customer}/{id}"},
      {"type":"http","direction":"out","name":"res"},)") + b.binding + "]}";
    EXPECT_FALSE(parse(text, error)) << b.binding;
    EXPECT_NE(error.find(b.expect), std::string::npos) << error;
  }
}

TEST(FunctionJson, CosmosDbTriggerDefaultsAndErrors) {
  auto parse = [](std::string_view text, std::string& error) {
    auto doc = boost::json::parse(text);
    return nimbus::config::parse_function(
        "audit", doc, "audit/function.json", error,
        {{"DB", "shop"}, {"CosmosDB", "AccountEndpoint=https://localhost:8081/;AccountKey=k;"}});
  };
  std::string error;
  auto fn = parse(R"({"bindings":[{"type":"cosmosDBTrigger","direction":"in","name":"docs",
    "databaseName":"%DB%","collectionName":"orders","connection":"CosmosDB"}]})", error);
  ASSERT_TRUE(fn) << error;
  const auto* t = fn->documents();
  ASSERT_TRUE(t);
  // Azure's defaults: leases in "leases" of the same database, not created, from now, 100.
  EXPECT_EQ(t->database, "shop");
  EXPECT_EQ(t->container, "orders");
  EXPECT_EQ(t->lease_database, "shop");
  EXPECT_EQ(t->lease_container, "leases");
  EXPECT_FALSE(t->create_lease_container);
  EXPECT_FALSE(t->start_from_beginning);
  EXPECT_FALSE(t->start_from_time_ms);
  EXPECT_EQ(t->max_items_per_invocation, 100);
  EXPECT_EQ(t->feed_poll_delay.count(), 5000);
  EXPECT_EQ(fn->trigger_kind(), nimbus::api::TriggerKind::document);

  fn = parse(R"({"bindings":[{"type":"cosmosDBTrigger","direction":"in","name":"docs",
    "databaseName":"shop","containerName":"orders","leaseDatabaseName":"ops",
    "leaseContainerName":"l","leaseContainerPrefix":"p-","createLeaseContainerIfNotExists":true,
    "startFromTime":"2026-11-29T10:00:00Z","maxItemsPerInvocation":7,"feedPollDelay":250}]})",
             error);
  ASSERT_TRUE(fn) << error;
  t = fn->documents();
  EXPECT_EQ(t->lease_database, "ops");
  EXPECT_EQ(t->lease_container, "l");
  EXPECT_EQ(t->lease_prefix, "p-");
  EXPECT_TRUE(t->create_lease_container);
  EXPECT_EQ(t->start_from_time_ms, nimbus::parse_iso8601_ms("2026-11-29T10:00:00Z"));
  EXPECT_EQ(t->max_items_per_invocation, 7);
  EXPECT_EQ(t->feed_poll_delay.count(), 250);

  struct Bad {
    const char* extra;
    const char* expect;
  };
  for (const auto& b : {
           Bad{R"("startFromTime":"yesterday")", "bindings[0].startFromTime: \"yesterday\" is not an ISO 8601 time"},
           Bad{R"("startFromTime":"2026-11-29T10:00:00Z","startFromBeginning":true)", "cannot be used with startFromBeginning"},
           Bad{R"("maxItemsPerInvocation":0)", "bindings[0].maxItemsPerInvocation: 0 must be a whole number from 1 to 1000"},
           Bad{R"("feedPollDelay":"5s")", "bindings[0].feedPollDelay"},
           Bad{R"("leaseContainerName":"orders")", "names the monitored container itself"},
           Bad{R"("leaseContainerName":"a/b")", "contains '/'"},
           Bad{R"("startFromBeginning":"yes")", "bindings[0].startFromBeginning: must be true or false"},
           Bad{R"("connection":5)", "bindings[0].connection: must be a string"},
       }) {
    std::string text = std::string(R"({"bindings":[{"type":"cosmosDBTrigger","direction":"in",)"
                                   R"("name":"docs","databaseName":"shop","containerName":"orders",)") +
                       b.extra + "}]}";
    EXPECT_FALSE(parse(text, error)) << b.extra;
    EXPECT_NE(error.find(b.expect), std::string::npos) << error;
    EXPECT_NE(error.find("audit/function.json"), std::string::npos) << error;
  }
  EXPECT_FALSE(parse(R"({"bindings":[{"type":"cosmosDBTrigger","direction":"in","name":"docs",
    "databaseName":"shop"}]})", error));
  EXPECT_NE(error.find("bindings[0].containerName: is required"), std::string::npos) << error;
}

TEST_F(TempApp, DocumentServiceCertificateIsAPairOfFilesInTheAppFolder) {
  write("tls/c.pem", "cert");
  write("tls/k.pem", "key");
  write("host.json", R"({"version":"2.0","nimbus":{"documentService":{
      "certificate":"tls/c.pem","certificateKey":"tls/k.pem"}}})");
  auto r = load_app(root_.string());
  ASSERT_TRUE(r.app) << r.fatal;
  EXPECT_EQ(r.app->document_service.certificate, (root_ / "tls/c.pem").string());
  EXPECT_EQ(r.app->document_service.certificate_key, (root_ / "tls/k.pem").string());

  write("host.json", R"({"version":"2.0","nimbus":{"documentService":{"certificate":"tls/c.pem"}}})");
  r = load_app(root_.string());
  EXPECT_FALSE(r.app);
  EXPECT_NE(r.fatal.find("nimbus.documentService.certificateKey: is missing"), std::string::npos)
      << r.fatal;

  write("host.json", R"({"version":"2.0","nimbus":{"documentService":{
      "certificate":"tls/nope.pem","certificateKey":"tls/k.pem"}}})");
  r = load_app(root_.string());
  EXPECT_FALSE(r.app);
  EXPECT_NE(r.fatal.find("nimbus.documentService.certificate: \"tls/nope.pem\""), std::string::npos)
      << r.fatal;
  EXPECT_NE(r.fatal.find("is not a file"), std::string::npos) << r.fatal;

  write("host.json", R"({"version":"2.0","nimbus":{"documentService":{"certificateKey":5}}})");
  r = load_app(root_.string());
  EXPECT_FALSE(r.app);
  EXPECT_NE(r.fatal.find("nimbus.documentService.certificateKey: must be the path"),
            std::string::npos) << r.fatal;
}

TEST(FunctionJson, ConnectionsMustNameTheBuiltInServices) {
  const std::map<std::string, std::string> settings{
      {"Local", "UseDevelopmentStorage=true"},
      {"Loopback", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;"
                   "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"},
      {"Cloud", "DefaultEndpointsProtocol=https;AccountName=prodacct;AccountKey=k;EndpointSuffix=core.windows.net"},
      {"AzureWebJobsPrefixed", "UseDevelopmentStorage=true"},
      {"Ident__queueServiceUri", "https://prodacct.queue.core.windows.net"},
      {"Docs", "AccountEndpoint=https://127.0.0.1:8081/;AccountKey=k;"},
      {"CloudDocs", "AccountEndpoint=https://prod.documents.azure.com:443/;AccountKey=k;"},
  };
  auto parse = [&](const std::string& binding, std::string& error) {
    auto doc = boost::json::parse(R"({"bindings":[)" + binding + "]}");
    return nimbus::config::parse_function("f", doc, "f/function.json", error, settings);
  };
  auto queue = [](const char* connection) {
    return std::string(R"({"type":"queueTrigger","direction":"in","name":"m","queueName":"jobs","connection":")") +
           connection + "\"}";
  };
  auto docs = [](const char* connection) {
    return std::string(R"({"type":"cosmosDBTrigger","direction":"in","name":"d","databaseName":"db","containerName":"c","connection":")") +
           connection + "\"}";
  };
  std::string error;
  for (const char* ok : {"Local", "Loopback", "Prefixed", "AzureWebJobsStorage", ""})
    EXPECT_TRUE(parse(queue(ok), error)) << ok << ": " << error;
  EXPECT_TRUE(parse(docs("Docs"), error)) << error;
  // No connection: AzureWebJobsStorage, when set, must point here too.
  auto no_connection = boost::json::parse(
      R"({"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"jobs"}]})");
  EXPECT_TRUE(nimbus::config::parse_function("f", no_connection, "f/function.json", error, settings)) << error;
  EXPECT_FALSE(nimbus::config::parse_function("f", no_connection, "f/function.json", error,
                                              {{"AzureWebJobsStorage", settings.at("Cloud")}}));
  EXPECT_NE(error.find("\"AzureWebJobsStorage\" (app setting) is a connection string for a service Nimbus does not reach"),
            std::string::npos) << error;
  struct Bad {
    std::string binding;
    const char* expect;
  };
  for (const auto& b : {
           Bad{queue("Cloud"), "bindings[0].connection: \"Cloud\" (app setting) is a connection string for a service Nimbus does not reach"},
           Bad{queue("Missing"), "bindings[0].connection: \"Missing\" names an app setting that does not exist"},
           Bad{queue("Ident"), "connects to https://prodacct.queue.core.windows.net"},
           Bad{docs("CloudDocs"), "UseDevelopmentStorage"},
           Bad{docs("Missing"), "remove \"connection\" to use the built-in document service"},
       }) {
    EXPECT_FALSE(parse(b.binding, error)) << b.binding;
    if (std::string(b.expect) == "UseDevelopmentStorage")
      EXPECT_NE(error.find("AccountEndpoint=https://localhost:8081/"), std::string::npos) << error;
    else
      EXPECT_NE(error.find(b.expect), std::string::npos) << error;
    EXPECT_NE(error.find("f/function.json"), std::string::npos) << error;
  }
}

TEST(FunctionJson, ModerationInputBindings) {
  auto parse = [](std::string_view text, std::string& error) {
    auto doc = boost::json::parse(text);
    return nimbus::config::parse_function("post", doc, "post/function.json", error);
  };
  std::string error;
  auto fn = parse(R"({"bindings":[
    {"type":"httpTrigger","direction":"in","name":"req","methods":["POST"]},
    {"type":"http","direction":"out","name":"res"},
    {"type":"moderation","direction":"in","name":"verdict","text":"{text}"},
    {"type":"moderation","direction":"in","name":"health"}]})", error);
  ASSERT_TRUE(fn) << error;
  ASSERT_EQ(fn->inputs.size(), 2u);
  const auto& v = std::get<nimbus::api::ModerationInputSpec>(fn->input("verdict")->spec);
  ASSERT_TRUE(v.text);
  EXPECT_EQ(*v.text, "{text}");
  EXPECT_FALSE(std::get<nimbus::api::ModerationInputSpec>(fn->input("health")->spec).text);
  // Queue and activity functions: any name may be a property of the JSON payload.
  EXPECT_TRUE(parse(R"({"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"posts"},
    {"type":"moderation","direction":"in","name":"verdict","text":"{body} / {queueTrigger}"}]})", error))
      << error;
  EXPECT_TRUE(parse(R"({"bindings":[{"type":"activityTrigger","direction":"in","name":"input"},
    {"type":"moderation","direction":"in","name":"verdict","text":"{comment}"}]})", error))
      << error;

  struct Bad {
    const char* bindings;
    const char* expect;
  };
  const char* http = R"({"type":"httpTrigger","direction":"in","name":"req"},)";
  for (const auto& b : {
           Bad{R"({"type":"moderation","direction":"in","name":"verdict","text":42})",
               "post/function.json: bindings[1].text: 42 must be a non-empty string"},
           Bad{R"({"type":"moderation","direction":"in","name":"verdict","text":""})",
               "bindings[1].text: \"\" must be a non-empty string"},
           Bad{R"({"type":"moderation","direction":"in","name":"verdict","text":"{text"})",
               "bindings[1].text: \"{text\" has a '{' at character 0 that is not closed"},
           Bad{R"({"type":"moderation","direction":"out","name":"verdict","text":"{text}"})",
               "bindings[1].direction: a moderation input binding must have direction \"in\""},
           Bad{R"({"type":"moderation","direction":"in","name":"v"},{"type":"moderation","direction":"in","name":"v","text":"{a}"})",
               "bindings[2].name: \"v\" names another input binding too"},
       }) {
    EXPECT_FALSE(parse(std::string(R"({"bindings":[)") + http + b.bindings + "]}", error))
        << b.bindings;
    EXPECT_NE(error.find(b.expect), std::string::npos) << error;
  }
  // A timer has no payload to take a name from: refused at load with the binding named.
  EXPECT_FALSE(parse(R"({"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * * *"},
    {"type":"moderation","direction":"in","name":"verdict","text":"{text}"}]})", error));
  EXPECT_NE(error.find("input binding \"verdict\": text \"{text}\" uses {text}"),
            std::string::npos) << error;
}

TEST(HostJson, ModerationReReviewQueue) {
  AppSpec app;
  app.root = "/tmp";
  EXPECT_EQ(app.moderation.rereview_queue, "moderation-rereview");
  EXPECT_EQ(apply_host_json(json::parse(R"({"version":"2.0","nimbus":{"moderation":{
      "reReviewQueue":"posts-review"}}})"), app), "");
  EXPECT_EQ(app.moderation.rereview_queue, "posts-review");
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"moderation":{"reReviewQueue":"Bad_Name"}}})")
                .find("nimbus.moderation.reReviewQueue: \"Bad_Name\" is not a queue name"),
            std::string::npos);
}

TEST(HostJson, ModerationResilienceKnobs) {
  AppSpec app;
  app.root = "/tmp";
  EXPECT_EQ(apply_host_json(json::parse(R"({"version":"2.0","nimbus":{"moderation":{
      "attemptTimeout":"00:00:00.150","totalBudget":"00:00:00.400","maxAttempts":2,
      "breakerFailureThreshold":20,"breakerOpenFor":"00:00:02"}}})"), app), "");
  EXPECT_EQ(app.moderation.attempt_timeout, std::chrono::milliseconds(150));
  EXPECT_EQ(app.moderation.total_budget, std::chrono::milliseconds(400));
  EXPECT_EQ(app.moderation.max_attempts, 2);
  EXPECT_EQ(app.moderation.breaker_failures, 20);
  EXPECT_EQ(app.moderation.breaker_open_for, std::chrono::milliseconds(2000));
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"moderation":{"maxAttempts":0}}})")
                .find("nimbus.moderation.maxAttempts: 0 is out of range; use 1..10"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"moderation":{"attemptTimeout":"soon"}}})")
                .find("nimbus.moderation.attemptTimeout: \"soon\" is not a TimeSpan"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"moderation":{"attemptTimeout":"00:00:02",
      "totalBudget":"00:00:01"}}})").find("totalBudget: is shorter than attemptTimeout"),
            std::string::npos);
}

TEST(FunctionJson, DurableBindings) {
  auto parse = [](const char* text) {
    std::string error;
    auto fn = parse_function("f", json::parse(text), "f/function.json", error);
    EXPECT_TRUE(fn) << error;
    return fn;
  };
  auto act = parse(R"({"bindings":[{"type":"activityTrigger","direction":"in","name":"k"}]})");
  ASSERT_TRUE(act);
  EXPECT_TRUE(act->activity());
  EXPECT_EQ(act->trigger_name, "k");
  auto orch = parse(R"({"bindings":[{"type":"orchestrationTrigger","direction":"in","name":"c"}]})");
  ASSERT_TRUE(orch);
  EXPECT_TRUE(orch->orchestrator());
  auto client = parse(R"({"bindings":[
      {"type":"httpTrigger","direction":"in","name":"req"},
      {"type":"durableClient","direction":"in","name":"starter","taskHub":"Hub1"},
      {"type":"http","direction":"out","name":"res"}]})");
  ASSERT_TRUE(client);
  ASSERT_EQ(client->inputs.size(), 1u);
  EXPECT_EQ(client->inputs[0].name, "starter");
  EXPECT_EQ(std::get<nimbus::api::DurableClientInputSpec>(client->inputs[0].spec).task_hub, "Hub1");
  EXPECT_NE(parse_fn_error(R"({"bindings":[{"type":"activityTrigger","direction":"out","name":"k"}]})")
                .find("an activityTrigger binding must have direction \"in\""),
            std::string::npos);
}

TEST(HostJson, DurableTaskExtensionAndRetention) {
  AppSpec app;
  app.root = "/tmp";
  EXPECT_EQ(apply_host_json(json::parse(R"({"version":"2.0","extensions":{"durableTask":{
      "hubName":"Orders","maxConcurrentActivityFunctions":7,"maxConcurrentOrchestratorFunctions":3}},
      "nimbus":{"durable":{"retention":"01:00:00","maxHistoryBytes":1048576}}})"), app), "");
  EXPECT_EQ(app.durable.hub_name, "Orders");
  EXPECT_EQ(app.durable.max_concurrent_activities, 7);
  EXPECT_EQ(app.durable.max_concurrent_orchestrations, 3);
  EXPECT_EQ(app.durable.retention, std::chrono::hours(1));
  EXPECT_EQ(app.durable.max_history_bytes, 1048576);
  EXPECT_NE(host_error(R"({"version":"2.0","extensions":{"durableTask":{"maxConcurrentActivityFunctions":0}}})")
                .find("extensions.durableTask.maxConcurrentActivityFunctions: 0 is out of range"),
            std::string::npos);
  EXPECT_NE(host_error(R"({"version":"2.0","nimbus":{"durable":{"retention":"a week"}}})")
                .find("nimbus.durable.retention"), std::string::npos);
}

TEST_F(TempApp, OrchestratorsInCustomHandlersAreRefusedAndMixedAppsLoadTheirFunctionJson) {
  write("host.json", R"({"version":"2.0","customHandler":{"description":{
      "defaultExecutablePath":"node","arguments":["h.js"]}},"nimbus":{"native":{"library":"lib.so"}}})");
  write("lib.so", "");  // never loaded here; the loader only checks that it exists
  write("Square/function.json", R"({"bindings":[{"type":"activityTrigger","direction":"in","name":"k"}]})");
  write("Orch/function.json", R"({"bindings":[{"type":"orchestrationTrigger","direction":"in","name":"c"}]})");
  auto r = load_app(root_.string());
  ASSERT_TRUE(r.app) << r.fatal;
  ASSERT_EQ(r.app->functions.size(), 1u);
  EXPECT_EQ(r.app->functions[0].name, "Square");
  EXPECT_EQ(r.app->functions[0].runtime, nimbus::api::Runtime::custom_handler);
  ASSERT_EQ(r.app->function_errors.size(), 1u);
  EXPECT_NE(r.app->function_errors[0].find("Orch/function.json: orchestrationTrigger functions run in native C++ apps"),
            std::string::npos);
}

namespace {
std::optional<nimbus::api::FunctionSpec> timer_fn(const std::string& binding, std::string& error,
                                                  const std::map<std::string, std::string>& settings = {}) {
  auto doc = nimbus::parse_json_text(R"({"bindings":[)" + binding + "]}", "cleanup/function.json");
  EXPECT_TRUE(doc.value) << doc.error;
  return parse_function("cleanup", *doc.value, "cleanup/function.json", error, settings);
}
}  // namespace

TEST(FunctionJson, TimerTriggerDefaultsAndSettings) {
  std::string e;
  auto fn = timer_fn(R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * * *"})", e);
  ASSERT_TRUE(fn) << e;
  ASSERT_TRUE(fn->timer());
  EXPECT_EQ(fn->trigger_kind(), nimbus::api::TriggerKind::timer);
  EXPECT_FALSE(fn->timer()->run_on_startup);
  EXPECT_TRUE(fn->timer()->use_monitor);  // period of 5 minutes >= 1 minute
  fn = timer_fn(R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"*/10 * * * * *"})", e);
  ASSERT_TRUE(fn) << e;
  EXPECT_FALSE(fn->timer()->use_monitor);  // every 10 s: no monitor by default, as Azure
  fn = timer_fn(R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"%EVERY%",
                   "runOnStartup":true,"useMonitor":true})", e, {{"EVERY", "00:00:02"}});
  ASSERT_TRUE(fn) << e;
  EXPECT_TRUE(fn->timer()->schedule.is_interval());
  EXPECT_TRUE(fn->timer()->run_on_startup);
  EXPECT_TRUE(fn->timer()->use_monitor);
}

TEST(FunctionJson, TimerTriggerErrorsNameFileBindingExpressionAndFix) {
  struct Case {
    const char* binding;
    std::map<std::string, std::string> settings;
    const char* expect;
  };
  const Case cases[] = {
      {R"({"type":"timerTrigger","direction":"in","name":"t"})", {},
       "cleanup/function.json: bindings[0].schedule: is required: an NCRONTAB expression"},
      {R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"0 61 * * * *"})", {},
       "cleanup/function.json: bindings[0].schedule: \"0 61 * * * *\" field 2 (minute) \"61\": 61 "
       "is out of range 0-59"},
      {R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"%S%"})", {{"S", "* * *"}},
       "bindings[0].schedule: \"%S%\" (= \"* * *\") has 3 fields; NCRONTAB needs 6"},
      {R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"%MISSING%"})", {},
       "bindings[0].schedule: \"%MISSING%\" names an app setting that does not exist"},
      {R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"0 0 0 * * *",
           "runOnStartup":"yes"})", {},
       "bindings[0].runOnStartup: must be true or false"},
      {R"({"type":"timerTrigger","direction":"in","name":"t","schedule":"0 0 0 * * *"})",
       {{"WEBSITE_TIME_ZONE", "Pacific Standard Time"}},
       "WEBSITE_TIME_ZONE is set (\"Pacific Standard Time\"), but Nimbus evaluates timer schedules "
       "in UTC only"},
      {R"({"type":"timerTrigger","direction":"out","name":"t","schedule":"0 0 0 * * *"})", {},
       "a timerTrigger binding must have direction \"in\""},
  };
  for (const auto& c : cases) {
    std::string e;
    EXPECT_FALSE(timer_fn(c.binding, e, c.settings)) << c.binding;
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.binding << "\n got: " << e;
  }
}
