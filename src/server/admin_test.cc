// The admin route table through a real HTTP server: which endpoints are open, which need the
// master key (checked before the body is read), and what unknown paths and methods get.
#include "server/admin.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "server/moderation_inputs.h"
#include "testing/test_server.h"

using namespace nimbus;

namespace {

struct AdminHost {
  std::shared_ptr<config::AppSpec> app = std::make_shared<config::AppSpec>();
  security::KeyStore keys = security::KeyStore::from_keys("master-key-0123456789", {});
  observability::Metrics metrics;
  server::AdminRoutes admin{{app, &keys, metrics, nullptr, nullptr, nullptr, nullptr,
                             nullptr, "devstoreaccount1",
                             std::chrono::steady_clock::now()}};
  fakes::TestServer server{
      [this](api::HttpRequestData& req) { return admin.handle(req); },
      [this](api::HttpRequestData& req) { return admin.admit(req); }};

  AdminHost() {
    app->root = "/apps/demo";
    api::FunctionSpec fn;
    fn.name = "work";
    fn.trigger = api::QueueTriggerSpec{"jobs"};
    app->functions.push_back(fn);
    app->function_errors.push_back("broken/function.json: bindings: is required");
  }
  int status(const std::string& method, const std::string& path, const std::string& key = "",
             const std::string& body = "") {
    std::string raw = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (!key.empty()) raw += "x-functions-key: " + key + "\r\n";
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    last = server.request(raw);
    return fakes::TestServer::status(last);
  }
  std::string last;
};

}  // namespace

TEST(AdminRoutes, PingAndMetricsAreOpenEverythingElseNeedsTheMasterKey) {
  AdminHost h;
  ASSERT_TRUE(h.server.ok()) << h.server.error();
  EXPECT_EQ(h.status("GET", "/admin/host/ping"), 200);
  EXPECT_EQ(h.status("GET", "/metrics"), 200);
  EXPECT_NE(h.last.find("nimbus_"), std::string::npos) << h.last;
  EXPECT_EQ(h.status("GET", "/admin/host/status"), 401);
  EXPECT_EQ(h.status("GET", "/admin/host/status", "wrong-key-0123456789"), 401);
  EXPECT_EQ(h.status("GET", "/admin/host/status", "master-key-0123456789"), 200);
  EXPECT_NE(h.last.find("\"errors\":[\"broken/function.json"), std::string::npos) << h.last;
  EXPECT_EQ(h.status("POST", "/admin/functions/work", "", R"({"input":"x"})"), 401);
}

TEST(AdminRoutes, UnknownPathsAndMethodsAreNamed) {
  AdminHost h;
  ASSERT_TRUE(h.server.ok()) << h.server.error();
  EXPECT_EQ(h.status("GET", "/admin/nothing-here", "master-key-0123456789"), 404);
  EXPECT_EQ(h.status("DELETE", "/admin/host/ping"), 405);
  EXPECT_EQ(h.status("GET", "/admin/functions/work", "master-key-0123456789"), 405);
  EXPECT_EQ(h.status("POST", "/admin/functions/", "master-key-0123456789"), 404)
      << "a function name is required";
}

TEST(AdminRoutes, ManualRunChecksTheFunctionAndTheBody) {
  AdminHost h;
  ASSERT_TRUE(h.server.ok()) << h.server.error();
  const std::string key = "master-key-0123456789";
  EXPECT_EQ(h.status("POST", "/admin/functions/missing", key, R"({"input":"x"})"), 404);
  EXPECT_EQ(h.status("POST", "/admin/functions/work", key, "not json"), 400);
  EXPECT_NE(h.last.find("{\\\"input\\\""), std::string::npos) << h.last;
  // A queue function, but this host has no store to run it with.
  EXPECT_EQ(h.status("POST", "/admin/functions/work", key, R"({"input":"x"})"), 503);
}

// The moderation metrics as Prometheus text: names, labels, breaker state as a number and a
// cumulative latency histogram in seconds.
TEST(ModerationMetrics, RenderPrometheusText) {
  ai::ModerationMetrics m;
  m.calls = 6;
  m.approved = 3;
  m.rejected = 1;
  m.pending_review = 2;
  m.fail_open = 2;
  m.retries = 4;
  m.short_circuited = 1;
  m.failures[static_cast<size_t>(ai::FailureKind::server_error)] = 5;
  m.failures[static_cast<size_t>(ai::FailureKind::rate_limited)] = 1;
  m.breaker_state = ai::BreakerState::half_open;
  m.breaker_opens = 1;
  m.latency.record(std::chrono::milliseconds(3));
  m.latency.record(std::chrono::milliseconds(40));
  m.latency.record(std::chrono::milliseconds(9000));
  std::string t = server::ModerationInputs::render_metrics(m, 7);
  for (const char* line : {
           "nimbus_moderation_calls_total{outcome=\"approved\"} 3\n",
           "nimbus_moderation_calls_total{outcome=\"rejected\"} 1\n",
           "nimbus_moderation_calls_total{outcome=\"pending_review\"} 2\n",
           "nimbus_moderation_fail_open_total 2\n",
           "nimbus_moderation_failures_total{kind=\"server_error\"} 5\n",
           "nimbus_moderation_failures_total{kind=\"rate_limited\"} 1\n",
           "nimbus_moderation_failures_total{kind=\"timeout\"} 0\n",
           "nimbus_moderation_retries_total 4\n",
           "nimbus_moderation_short_circuited_total 1\n",
           "nimbus_moderation_breaker_state 1\n",
           "nimbus_moderation_breaker_opens_total 1\n",
           "# TYPE nimbus_moderation_latency_seconds histogram\n",
           "nimbus_moderation_latency_seconds_bucket{le=\"0.005\"} 1\n",
           "nimbus_moderation_latency_seconds_bucket{le=\"0.05\"} 2\n",
           "nimbus_moderation_latency_seconds_bucket{le=\"5\"} 2\n",
           "nimbus_moderation_latency_seconds_bucket{le=\"+Inf\"} 3\n",
           "nimbus_moderation_latency_seconds_sum 9.043\n",
           "nimbus_moderation_latency_seconds_count 3\n",
           "nimbus_moderation_rereview_backlog 7\n",
       })
    EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
  m.breaker_state = ai::BreakerState::open;
  EXPECT_NE(server::ModerationInputs::render_metrics(m, 0).find("nimbus_moderation_breaker_state 2\n"),
            std::string::npos);
}
