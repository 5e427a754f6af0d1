#include "http/cors.h"

#include <gtest/gtest.h>

namespace nimbus::http {
namespace {

api::HttpRequestData request(std::string method, api::Headers headers) {
  api::HttpRequestData r;
  r.method = std::move(method);
  r.headers = std::move(headers);
  return r;
}

std::string header(const api::HttpResponseData& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(Cors, ParsesOriginListsAndRefusesWhatIsNotAnOrigin) {
  std::string error;
  auto p = CorsPolicy::parse(" https://App.Example:8443 , http://localhost:3000/,http://[::1]:5000", false, error);
  ASSERT_TRUE(p) << error;
  EXPECT_TRUE(p->allows("https://app.example:8443"));
  EXPECT_TRUE(p->allows("HTTPS://APP.EXAMPLE:8443"));
  EXPECT_TRUE(p->allows("http://localhost:3000"));
  EXPECT_TRUE(p->allows("http://[::1]:5000"));
  EXPECT_FALSE(p->allows("http://localhost:3001"));
  EXPECT_FALSE(p->allows("https://app.example"));
  EXPECT_FALSE(p->allows("null"));
  EXPECT_FALSE(p->allows(""));
  for (const char* bad : {"localhost:3000", "http://a.example/path", "http://", "http://a:x", ","})
    EXPECT_FALSE(CorsPolicy::parse(bad, false, error)) << bad;
  EXPECT_FALSE(CorsPolicy::parse("http://a.example/path", false, error));
  EXPECT_NE(error.find("\"http://a.example/path\" is not an origin"), std::string::npos) << error;
  EXPECT_TRUE(CorsPolicy::parse("*", false, error)->any());
}

TEST(Cors, PreflightFromAnAllowedOriginIsAnsweredWithWhatItAskedFor) {
  std::string error;
  auto p = *CorsPolicy::parse("http://localhost:3000", false, error);
  auto pre = p.preflight(request("OPTIONS", {{"Origin", "http://localhost:3000"},
                                             {"Access-Control-Request-Method", "PUT"},
                                             {"Access-Control-Request-Headers", "content-type, x-a"}}));
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(header(*pre, "Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_EQ(header(*pre, "Access-Control-Allow-Methods"), "PUT");
  EXPECT_EQ(header(*pre, "Access-Control-Allow-Headers"), "content-type, x-a");
  EXPECT_EQ(header(*pre, "Vary"), "Origin");
  EXPECT_EQ(header(*pre, "Access-Control-Allow-Credentials"), "");
  // Another origin: refused, no CORS headers, so the browser blocks the call.
  auto other = p.preflight(request("OPTIONS", {{"Origin", "http://evil.example"},
                                               {"Access-Control-Request-Method", "PUT"}}));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403);
  EXPECT_EQ(header(*other, "Access-Control-Allow-Origin"), "");
  // Not a preflight: a plain OPTIONS, or one without Origin, goes to routing.
  EXPECT_FALSE(p.preflight(request("OPTIONS", {{"Origin", "http://localhost:3000"}})));
  EXPECT_FALSE(p.preflight(request("GET", {{"Origin", "http://localhost:3000"},
                                           {"Access-Control-Request-Method", "PUT"}})));
}

TEST(Cors, ActualResponsesDeclareTheOriginAndCredentials) {
  std::string error;
  api::HttpResponseData res;
  CorsPolicy::parse("*", false, error)->decorate(request("GET", {{"Origin", "http://x.example"}}), res);
  EXPECT_EQ(header(res, "Access-Control-Allow-Origin"), "*");
  // "*" with credentials echoes the origin: browsers refuse "*" with credentials.
  api::HttpResponseData cred;
  CorsPolicy::parse("*", true, error)->decorate(request("GET", {{"Origin", "http://x.example"}}), cred);
  EXPECT_EQ(header(cred, "Access-Control-Allow-Origin"), "http://x.example");
  EXPECT_EQ(header(cred, "Access-Control-Allow-Credentials"), "true");
  api::HttpResponseData none;
  CorsPolicy::parse("http://a.example", false, error)->decorate(request("GET", {{"Origin", "http://b.example"}}), none);
  EXPECT_TRUE(none.headers.empty());
  api::HttpResponseData no_origin;
  CorsPolicy::parse("*", false, error)->decorate(request("GET", {}), no_origin);
  EXPECT_TRUE(no_origin.headers.empty());
}

}  // namespace
}  // namespace nimbus::http
