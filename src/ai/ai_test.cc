// Unit tests of the Asio-free pieces: the breaker's state machine, backoff bounds, the Gemini
// response parser, the local rules and the settings. No clock, no sleeps: time is passed in.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "ai/gemini_codec.h"
#include "ai/local_rules.h"
#include "ai/moderator.h"
#include "ai/resilience.h"

namespace {

using namespace std::chrono_literals;
using namespace nimbus::ai;

TEST(CircuitBreaker, OpensAfterThresholdConsecutiveFailures) {
  CircuitBreaker b({.failure_threshold = 3, .open_for = 1000ms, .half_open_probes = 1});
  Clock::time_point t{};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow(t));
    b.on_failure(t);
  }
  EXPECT_EQ(b.state(), BreakerState::closed);
  ASSERT_TRUE(b.allow(t));
  b.on_failure(t);
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_EQ(b.opens(), 1u);
  EXPECT_FALSE(b.allow(t + 999ms));
  EXPECT_EQ(b.retry_in(t + 400ms), 600ms);
}

TEST(CircuitBreaker, SuccessResetsTheCount) {
  CircuitBreaker b({.failure_threshold = 2, .open_for = 1000ms});
  Clock::time_point t{};
  b.on_failure(t);
  b.on_success(t);
  b.on_failure(t);
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_EQ(b.consecutive_failures(), 1);
}

TEST(CircuitBreaker, HalfOpenAdmitsOneProbeThenClosesOnSuccess) {
  CircuitBreaker b({.failure_threshold = 1, .open_for = 100ms, .half_open_probes = 1});
  Clock::time_point t{};
  b.on_failure(t);
  ASSERT_EQ(b.state(), BreakerState::open);
  EXPECT_TRUE(b.allow(t + 100ms));
  EXPECT_EQ(b.state(), BreakerState::half_open);
  EXPECT_FALSE(b.allow(t + 101ms)) << "a second probe while the first is in flight";
  b.on_success(t + 120ms);
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_EQ(b.consecutive_failures(), 0);
  EXPECT_TRUE(b.allow(t + 121ms));
}

TEST(CircuitBreaker, FailedProbeReopensForAnotherCoolDown) {
  CircuitBreaker b({.failure_threshold = 1, .open_for = 100ms});
  Clock::time_point t{};
  b.on_failure(t);
  ASSERT_TRUE(b.allow(t + 150ms));
  b.on_failure(t + 160ms);
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_EQ(b.opens(), 2u);
  EXPECT_FALSE(b.allow(t + 259ms));
  EXPECT_TRUE(b.allow(t + 260ms));
}

TEST(CircuitBreaker, LateSuccessDoesNotCloseAnOpenBreaker) {
  CircuitBreaker b({.failure_threshold = 1, .open_for = 100ms});
  Clock::time_point t{};
  b.on_failure(t);
  b.on_success(t + 1ms);  // a call admitted before it opened
  EXPECT_EQ(b.state(), BreakerState::open);
}

TEST(Backoff, StaysWithinEqualJitterBoundsAndTheCap) {
  RetryConfig c{.max_attempts = 10, .base_delay = 100ms, .max_delay = 1000ms};
  for (int retry = 1; retry <= 40; ++retry) {
    int64_t ceiling = std::min<int64_t>(1000, 100LL << std::min(retry - 1, 20));
    for (double u : {0.0, 0.25, 0.5, 0.999999, 1.0}) {
      auto d = backoff_delay(c, retry, u).count();
      EXPECT_GE(d, ceiling / 2) << "retry " << retry << " u " << u;
      EXPECT_LE(d, ceiling) << "retry " << retry << " u " << u;
    }
  }
  EXPECT_EQ(backoff_delay(c, 1, 0.0), 50ms);
  EXPECT_EQ(backoff_delay(c, 2, 0.0), 100ms);
  EXPECT_EQ(backoff_delay(c, 3, 0.0), 200ms);
}

TEST(Backoff, RetryAfterRaisesTheWaitButNotPastTheCap) {
  RetryConfig c{.base_delay = 100ms, .max_delay = 1000ms};
  EXPECT_EQ(backoff_delay(c, 1, 0.0, 700ms), 700ms);
  EXPECT_EQ(backoff_delay(c, 1, 0.0, 30000ms), 1000ms);
  EXPECT_EQ(backoff_delay(c, 1, 0.0, 10ms), 50ms);
}

TEST(Backoff, RetryableKinds) {
  EXPECT_TRUE(is_retryable(FailureKind::timeout));
  EXPECT_TRUE(is_retryable(FailureKind::rate_limited));
  EXPECT_TRUE(is_retryable(FailureKind::server_error));
  EXPECT_TRUE(is_retryable(FailureKind::network));
  EXPECT_FALSE(is_retryable(FailureKind::client_error));
  EXPECT_FALSE(is_retryable(FailureKind::malformed));
}

TEST(LatencyHistogram, BucketsByUpperBound) {
  LatencyHistogram h;
  h.record(0ms);
  h.record(5ms);
  h.record(6ms);
  h.record(99999ms);
  EXPECT_EQ(h.counts[0], 2u);
  EXPECT_EQ(h.counts[1], 1u);
  EXPECT_EQ(h.counts.back(), 1u);
  EXPECT_EQ(h.total, 4u);
}

TEST(Metrics, JsonHasCumulativeBucketsAndEveryFailureKind) {
  ModerationMetrics m;
  m.calls = 3;
  m.failures[static_cast<size_t>(FailureKind::rate_limited)] = 2;
  m.breaker_state = BreakerState::half_open;
  m.latency.record(3ms);
  m.latency.record(30ms);
  m.latency.record(9000ms);
  auto o = to_json(m);
  EXPECT_EQ(o.at("calls").as_uint64(), 3u);
  EXPECT_EQ(o.at("breakerState").as_string(), "half-open");
  EXPECT_EQ(o.at("failures").as_object().size(), kFailureKinds);
  EXPECT_EQ(o.at("failures").at("rate-limited").as_uint64(), 2u);
  const auto& b = o.at("latencyMs").at("buckets").as_array();
  ASSERT_EQ(b.size(), LatencyHistogram::kBoundsMs.size() + 1);
  EXPECT_EQ(b[0].at("count").as_uint64(), 1u);                  // le 5
  EXPECT_EQ(b[3].at("count").as_uint64(), 2u);                  // le 50
  EXPECT_EQ(b.back().at("le").as_string(), "+Inf");
  EXPECT_EQ(b.back().at("count").as_uint64(), 3u);
  EXPECT_EQ(o.at("latencyMs").at("sum").as_int64(), 9033);
}

std::string model_answer(std::string_view verdict_json, std::string_view ratings = "[]",
                         std::string_view finish = "STOP") {
  boost::json::object cand{{"content", {{"role", "model"},
                                        {"parts", boost::json::array{{{"text", verdict_json}}}}}},
                           {"finishReason", finish},
                           {"safetyRatings", boost::json::parse(ratings)}};
  return boost::json::serialize(boost::json::object{{"candidates", boost::json::array{cand}}});
}

TEST(GeminiParse, ModelApproval) {
  auto p = parse_gemini_response(model_answer(
      R"({"decision":"approve","categories":[{"name":"spam","score":0.1}],"reason":"fine"})",
      R"([{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"}])"));
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.verdict.status, VerdictStatus::approved);
  EXPECT_EQ(p.verdict.reason, "fine");
  EXPECT_EQ(p.verdict.provider, "gemini");
  ASSERT_EQ(p.verdict.categories.size(), 2u);
  EXPECT_EQ(p.verdict.categories[0].name, "hate");
  EXPECT_EQ(p.verdict.categories[0].probability, "NEGLIGIBLE");
  EXPECT_DOUBLE_EQ(p.verdict.categories[1].score, 0.1);
}

TEST(GeminiParse, ModelRejectionAndReview) {
  auto r = parse_gemini_response(model_answer(
      R"({"decision":"reject","categories":[{"name":"hate","score":7}],"reason":"slur"})"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.verdict.status, VerdictStatus::rejected);
  EXPECT_DOUBLE_EQ(r.verdict.categories[0].score, 1.0) << "scores are clamped to 0..1";
  auto v = parse_gemini_response(model_answer(R"({"decision":"review","categories":[],"reason":""})"));
  ASSERT_TRUE(v.ok) << v.error;
  EXPECT_EQ(v.verdict.status, VerdictStatus::pending_review);
  EXPECT_FALSE(v.verdict.reason.empty());
}

TEST(GeminiParse, BlockedPrompt) {
  auto p = parse_gemini_response(R"({"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[
      {"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH","blocked":true}]}})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.verdict.status, VerdictStatus::rejected);
  EXPECT_NE(p.verdict.reason.find("SAFETY"), std::string::npos);
  ASSERT_EQ(p.verdict.categories.size(), 1u);
  EXPECT_EQ(p.verdict.categories[0].name, "dangerous");
  EXPECT_DOUBLE_EQ(p.verdict.categories[0].score, 0.9);
  EXPECT_TRUE(p.verdict.categories[0].blocked);
}

TEST(GeminiParse, SafetyFinishWithoutContent) {
  auto p = parse_gemini_response(R"({"candidates":[{"finishReason":"SAFETY","index":0,
      "safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"MEDIUM"}]}]})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.verdict.status, VerdictStatus::rejected);
  EXPECT_EQ(p.verdict.categories.at(0).name, "harassment");
  EXPECT_NE(p.verdict.reason.find("finishReason SAFETY"), std::string::npos);
}

TEST(GeminiParse, HighRatingOverridesAnApproval) {
  auto p = parse_gemini_response(model_answer(
      R"({"decision":"approve","categories":[],"reason":"ok"})",
      R"([{"category":"HARM_CATEGORY_SEXUALLY_EXPLICIT","probability":"HIGH"}])"));
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.verdict.status, VerdictStatus::rejected);
  EXPECT_EQ(p.verdict.categories.at(0).name, "sexual");
}

TEST(GeminiParse, MalformedAndMissingFieldsAreErrorsThatNameTheField) {
  struct Case { std::string body; std::string mentions; };
  std::vector<Case> cases{
      {"", "not JSON"},
      {"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"{\\\"decision\\\": \\\"appr", "not JSON"},
      {"[]", "not a JSON object"},
      {"{}", "no candidates"},
      {R"({"candidates":[]})", "no candidates"},
      {R"({"candidates":[7]})", "candidates[0] is not an object"},
      {R"({"candidates":[{"finishReason":"STOP"}]})", "text is missing"},
      {R"({"candidates":[{"content":{"parts":[{"text":"not json"}]}}]})", "responseMimeType"},
      {model_answer(R"({"categories":[],"reason":"x"})"), "decision"},
      {model_answer(R"({"decision":"maybe"})"), "approve, reject or review"},
      {R"({"candidates":[{"finishReason":"MAX_TOKENS","content":{"parts":[{"text":"{\"decis"}]}}]})", "MAX_TOKENS"},
  };
  for (const auto& c : cases) {
    auto p = parse_gemini_response(c.body);
    EXPECT_FALSE(p.ok) << c.body;
    EXPECT_TRUE(p.error.starts_with("Gemini response: ")) << p.error;
    EXPECT_NE(p.error.find(c.mentions), std::string::npos) << p.error;
  }
}

TEST(GeminiParse, UnknownCategoriesKeepTheirNameAndNonFiniteScoresAreDropped) {
  EXPECT_EQ(category_from_harm("HARM_CATEGORY_NEW_THING"), "new-thing");
  auto p = parse_gemini_response(model_answer(
      R"({"decision":"approve","categories":[{"name":"x","score":1e999},{"score":1}],"reason":"r"})"));
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_TRUE(p.verdict.categories.empty());
}

TEST(GeminiRequest, CarriesTheSchemaAndFencesTheContent) {
  auto body = boost::json::parse(gemini_request_body("hello \"world\"")).as_object();
  const auto& gc = body.at("generationConfig").as_object();
  EXPECT_EQ(gc.at("responseMimeType").as_string(), "application/json");
  const auto& schema = gc.at("responseSchema").as_object();
  EXPECT_EQ(schema.at("type").as_string(), "OBJECT");
  EXPECT_TRUE(schema.at("properties").as_object().contains("decision"));
  std::string text(body.at("contents").as_array()[0].at("parts").as_array()[0].at("text").as_string());
  EXPECT_NE(text.find("hello \"world\""), std::string::npos);
  EXPECT_TRUE(text.starts_with("<<<CONTENT\n"));
  EXPECT_EQ(gemini_path("gemini-2.0-flash"), "/v1beta/models/gemini-2.0-flash:generateContent");
  EXPECT_EQ(gemini_path("models/x"), "/v1beta/models/x:generateContent");
}

TEST(LocalRules, Deterministic) {
  struct Case { std::string text; VerdictStatus status; std::string category; };
  std::vector<Case> cases{
      {"What a lovely day at the lake.", VerdictStatus::approved, ""},
      {"I will ATTACK you", VerdictStatus::rejected, "dangerous"},
      {"I hate them", VerdictStatus::rejected, "hate"},
      {"you idiot", VerdictStatus::rejected, "harassment"},
      {"see http://a.example http://b.example http://c.example", VerdictStatus::rejected, "spam"},
      {"Click here for free money", VerdictStatus::rejected, "spam"},
      {"buy buy buy buy buy buy buy buy", VerdictStatus::rejected, "spam"},
      {"one link http://a.example is fine", VerdictStatus::approved, "spam"},
      {"attacking is not a listed word", VerdictStatus::approved, ""},
  };
  for (const auto& c : cases) {
    auto v = moderate_locally(c.text);
    EXPECT_EQ(v.status, c.status) << c.text << ": " << v.reason;
    EXPECT_EQ(v.provider, "local-rules");
    EXPECT_FALSE(v.fail_open);
    if (!c.category.empty()) {
      bool found = false;
      for (const auto& s : v.categories) found = found || s.name == c.category;
      EXPECT_TRUE(found) << c.text;
    }
    auto again = moderate_locally(c.text);
    EXPECT_EQ(boost::json::serialize(to_json(again)), boost::json::serialize(to_json(v)));
  }
}

TEST(Settings, NoKeyMeansLocalRules) {
  std::string err;
  auto s = settings_from_app([](std::string_view) { return std::optional<std::string>(); }, &err);
  ASSERT_TRUE(s) << err;
  EXPECT_FALSE(s->gemini);
}

TEST(Settings, KeyEndpointAndModel) {
  std::map<std::string, std::string, std::less<>> app{{"GEMINI_API_KEY", "k123"},
                                                      {"GEMINI_ENDPOINT", "http://127.0.0.1:9/base/"},
                                                      {"GEMINI_MODEL", "gemini-1.5-pro"}};
  auto lookup = [&](std::string_view n) -> std::optional<std::string> {
    auto it = app.find(n);
    return it == app.end() ? std::nullopt : std::optional(it->second);
  };
  std::string err;
  auto s = settings_from_app(lookup, &err);
  ASSERT_TRUE(s && s->gemini) << err;
  EXPECT_EQ(s->gemini->model, "gemini-1.5-pro");
  auto ep = parse_endpoint(s->gemini->endpoint, &err);
  ASSERT_TRUE(ep) << err;
  EXPECT_FALSE(ep->tls);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, "9");
  EXPECT_EQ(ep->base_path, "/base");

  app["GEMINI_ENDPOINT"] = "ftp://x";
  EXPECT_FALSE(settings_from_app(lookup, &err));
  EXPECT_NE(err.find("GEMINI_ENDPOINT"), std::string::npos) << err;
  app["GEMINI_ENDPOINT"] = "https://[::1]:8443";
  ASSERT_TRUE(settings_from_app(lookup, &err)) << err;
  app["GEMINI_API_KEY"] = "k 1";
  EXPECT_FALSE(settings_from_app(lookup, &err));
  EXPECT_NE(err.find("GEMINI_API_KEY"), std::string::npos) << err;
}

TEST(Settings, EndpointErrors) {
  std::string err;
  for (auto bad : {"generativelanguage.googleapis.com", "https://", "http://h:0", "http://h:99999",
                   "http://h:x1", "https://u:p@h", "http://h/p?q=1"}) {
    EXPECT_FALSE(parse_endpoint(bad, &err)) << bad;
    EXPECT_NE(err.find("expected http://"), std::string::npos) << err;
  }
  auto d = parse_endpoint("https://generativelanguage.googleapis.com", &err);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->tls);
  EXPECT_EQ(d->port, "443");
}

TEST(Verdict, JsonShape) {
  ModerationVerdict v;
  v.status = VerdictStatus::pending_review;
  v.fail_open = true;
  v.categories.push_back({"hate", 0.5, "MEDIUM", false});
  auto o = to_json(v);
  EXPECT_EQ(o.at("status").as_string(), "pending-review");
  EXPECT_TRUE(o.at("failOpen").as_bool());
  EXPECT_EQ(parse_status("pending-review"), VerdictStatus::pending_review);
  EXPECT_FALSE(parse_status("pending"));
}

}  // namespace
