#include "http/router.h"

#include <gtest/gtest.h>

using namespace nimbus;
using Kind = http::RouteMatch::Kind;

namespace {
api::FunctionSpec fn(const std::string& name, const std::string& route,
                     std::vector<std::string> methods = {}) {
  api::FunctionSpec f;
  f.name = name;
  f.trigger = api::HttpTriggerSpec{api::AuthLevel::function, std::move(methods), route};
  return f;
}
}  // namespace

TEST(Router, PrefixAndPrecedence) {
  std::vector<api::FunctionSpec> fns = {fn("any", "items/{id}"), fn("num", "items/{id:int}"),
                                           fn("new", "items/new"), fn("all", "{*rest}")};
  http::Router r("api", fns);
  EXPECT_EQ(r.match("GET", "/api/items/new").function->name, "new");
  EXPECT_EQ(r.match("GET", "/api/items/5").function->name, "num");
  EXPECT_EQ(r.match("GET", "/api/items/x").function->name, "any");
  EXPECT_EQ(r.match("GET", "/api/whatever/else").function->name, "all");
  EXPECT_EQ(r.match("GET", "/items/5").kind, Kind::not_found);  // no prefix
  EXPECT_EQ(r.match("GET", "/API/items/5").function->name, "num");
  EXPECT_EQ(r.match("GET", "/api/a%zz").kind, Kind::bad_path);
}

TEST(Router, EmptyPrefix) {
  std::vector<api::FunctionSpec> fns = {fn("hello", "hello")};
  http::Router r("", fns);
  EXPECT_EQ(r.match("GET", "/hello").kind, Kind::found);
}

TEST(Router, MethodNotAllowedListsAllowed) {
  std::vector<api::FunctionSpec> fns = {fn("get", "things", {"GET"}),
                                           fn("post", "things", {"POST", "PUT"})};
  http::Router r("api", fns);
  EXPECT_EQ(r.match("POST", "/api/things").function->name, "post");
  EXPECT_EQ(r.match("HEAD", "/api/things").function->name, "get");
  auto m = r.match("DELETE", "/api/things");
  EXPECT_EQ(m.kind, Kind::method_not_allowed);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "POST", "PUT"}));
}

TEST(Router, DisabledFunctionsAreNotRouted) {
  auto f = fn("off", "off");
  f.disabled = true;
  std::vector<api::FunctionSpec> fns = {f};
  http::Router r("api", fns);
  EXPECT_EQ(r.match("GET", "/api/off").kind, Kind::not_found);
}
