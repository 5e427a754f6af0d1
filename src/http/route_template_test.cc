#include "http/route_template.h"

#include <gtest/gtest.h>

using nimbus::http::RouteTemplate;
using nimbus::http::split_path;

namespace {
RouteTemplate parse(const std::string& t) {
  std::string error;
  auto r = RouteTemplate::parse(t, error);
  EXPECT_TRUE(r) << t << ": " << error;
  return r ? *r : RouteTemplate();
}
bool match(const std::string& t, const std::string& path,
           std::map<std::string, std::string>* out = nullptr) {
  std::vector<std::string> segs;
  EXPECT_TRUE(split_path(path, segs));
  std::map<std::string, std::string> params;
  bool ok = parse(t).match(segs, params);
  if (out) *out = params;
  return ok;
}
std::string error_of(const std::string& t) {
  std::string error;
  EXPECT_FALSE(RouteTemplate::parse(t, error)) << t;
  return error;
}
}  // namespace

TEST(RouteTemplate, LiteralsMatchCaseInsensitively) {
  EXPECT_TRUE(match("products/all", "/Products/ALL"));
  EXPECT_FALSE(match("products/all", "/products"));
  EXPECT_FALSE(match("products/all", "/products/all/x"));
}

TEST(RouteTemplate, Parameters) {
  std::map<std::string, std::string> p;
  EXPECT_TRUE(match("items/{id}", "/items/42", &p));
  EXPECT_EQ(p["id"], "42");
  EXPECT_TRUE(match("items/{id}", "/items/a%20b", &p));
  EXPECT_EQ(p["id"], "a b");
  EXPECT_FALSE(match("items/{id}", "/items"));
}

TEST(RouteTemplate, Constraints) {
  EXPECT_TRUE(match("items/{id:int}", "/items/-7"));
  EXPECT_FALSE(match("items/{id:int}", "/items/seven"));
  EXPECT_FALSE(match("items/{id:int}", "/items/99999999999"));
  EXPECT_TRUE(match("items/{id:long}", "/items/99999999999"));
  EXPECT_TRUE(match("c/{x:alpha}", "/c/abc"));
  EXPECT_FALSE(match("c/{x:alpha}", "/c/ab1"));
  EXPECT_TRUE(match("b/{x:bool}", "/b/True"));
  EXPECT_TRUE(match("g/{x:guid}", "/g/0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_FALSE(match("g/{x:guid}", "/g/0f8fad5b"));
  EXPECT_TRUE(match("d/{x:double}", "/d/1.5"));
}

TEST(RouteTemplate, OptionalAndCatchAll) {
  std::map<std::string, std::string> p;
  EXPECT_TRUE(match("hello/{name?}", "/hello", &p));
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(match("hello/{name?}", "/hello/bob", &p));
  EXPECT_EQ(p["name"], "bob");
  EXPECT_TRUE(match("files/{*rest}", "/files/a/b/c.txt", &p));
  EXPECT_EQ(p["rest"], "a/b/c.txt");
  EXPECT_TRUE(match("files/{*rest}", "/files", &p));
  EXPECT_TRUE(p.empty());
}

TEST(RouteTemplate, BadTemplatesExplainTheFix) {
  EXPECT_NE(error_of("a/{id").find("must be exactly one {parameter}"), std::string::npos);
  EXPECT_NE(error_of("a/id}").find("unbalanced brace"), std::string::npos);
  EXPECT_NE(error_of("a/{*rest}/b").find("must be the last segment"), std::string::npos);
  EXPECT_NE(error_of("a/{x?}/b").find("must be the last segment"), std::string::npos);
  EXPECT_NE(error_of("a/{x}/{x}").find("appears twice"), std::string::npos);
  EXPECT_NE(error_of("a//b").find("empty segment"), std::string::npos);
  EXPECT_NE(error_of("a/{x:zzz}").find("constraint \"zzz\" is not supported"), std::string::npos);
  EXPECT_NE(error_of("a/{x=5}").find("default values"), std::string::npos);
  EXPECT_NE(error_of("a/{x-y}").find("not a parameter name"), std::string::npos);
}

TEST(RouteTemplate, SplitPathRejectsBadEscapes) {
  std::vector<std::string> segs;
  EXPECT_FALSE(split_path("/a/%zz", segs));
  EXPECT_EQ(segs, (std::vector<std::string>{"a"}));  // whole segments only, no partial one
  EXPECT_FALSE(split_path("/a/%4", segs));
  EXPECT_EQ(segs, (std::vector<std::string>{"a"}));
  EXPECT_FALSE(split_path("/%zz", segs));
  EXPECT_TRUE(segs.empty());
  EXPECT_TRUE(split_path("//a///b/", segs));
  EXPECT_EQ(segs, (std::vector<std::string>{"a", "b"}));
}
