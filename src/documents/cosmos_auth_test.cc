// Master-key auth: the link rules (even/odd segments, decoding) and signatures checked against
// a table computed independently from the reference algorithm (Node's crypto HMAC over the
// string cosmos.md §2 defines, with the emulator's key).
#include "documents/cosmos_auth.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>

namespace nimbus::documents {
namespace {

struct Known {
  const char* verb;
  const char* type;
  const char* link;
  const char* date;
  const char* sig;
  const char* header;
};

const Known kKnown[] = {
    {"GET", "", "", "Tue, 01 Sep 2026 10:00:00 GMT", "rUUKCEO6/Vt6UHXePozrINmlsUGY6+XK78Dll1AWoOM=",
     "type%3Dmaster%26ver%3D1.0%26sig%3DrUUKCEO6%2FVt6UHXePozrINmlsUGY6%2BXK78Dll1AWoOM%3D"},
    {"POST", "dbs", "", "Tue, 01 Sep 2026 10:00:00 GMT", "VViQPQMJVP7H+Tzblbqjlx0PEHdY2ohzT3/CkB7DNTA=",
     "type%3Dmaster%26ver%3D1.0%26sig%3DVViQPQMJVP7H%2BTzblbqjlx0PEHdY2ohzT3%2FCkB7DNTA%3D"},
    {"GET", "dbs", "dbs/ToDoList", "Thu, 27 Apr 2017 00:51:12 GMT",
     "mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY=",
     "type%3Dmaster%26ver%3D1.0%26sig%3DmM0rMK%2F7o1MZhQwDitGRoGisPRPx09os%2F86Jk0YwquY%3D"},
    {"POST", "docs", "dbs/db1/colls/Items", "Sun, 29 Nov 2026 17:00:00 GMT",
     "60w8PKwxJ7WmcFhWHlWWcCZkGBfTyrpO0mZ0q5zUlM0=",
     "type%3Dmaster%26ver%3D1.0%26sig%3D60w8PKwxJ7WmcFhWHlWWcCZkGBfTyrpO0mZ0q5zUlM0%3D"},
    {"PUT", "docs", "dbs/db1/colls/Items/docs/My Doc \xC3\xA9", "Sun, 29 Nov 2026 17:00:00 GMT",
     "dOx4Wy02Hgm6/YWeW5E1ZCS6arwlKmpn7bu7vJgDc4o=",
     "type%3Dmaster%26ver%3D1.0%26sig%3DdOx4Wy02Hgm6%2FYWeW5E1ZCS6arwlKmpn7bu7vJgDc4o%3D"},
    {"GET", "pkranges", "dbs/d/colls/c", "Sun, 29 Nov 2026 17:00:00 GMT",
     "b2UzlsT2r6L++/qT9VJxIOS9k+zNpgrrk3kq36Pd7JQ=",
     "type%3Dmaster%26ver%3D1.0%26sig%3Db2UzlsT2r6L%2B%2B%2FqT9VJxIOS9k%2BzNpgrrk3kq36Pd7JQ%3D"},
};

TEST(CosmosAuth, KnownSignatures) {
  MasterKeys keys = MasterKeys::emulator();
  for (const auto& k : kKnown) {
    SCOPED_TRACE(k.link);
    EXPECT_EQ(master_signature(keys.keys()[0], string_to_sign(k.verb, k.type, k.link, k.date)),
              k.sig);
    EXPECT_EQ(master_authorization(kEmulatorKey, k.verb, k.type, k.link, k.date), k.header);
  }
}

TEST(CosmosAuth, StringToSignLowersAllButTheLink) {
  EXPECT_EQ(string_to_sign("GET", "Docs", "dbs/DB/colls/C/docs/Id", "Sun, 29 Nov 2026 17:00:00 GMT"),
            "get\ndocs\ndbs/DB/colls/C/docs/Id\nsun, 29 nov 2026 17:00:00 gmt\n\n");
}

struct LinkCase {
  const char* path;
  const char* type;
  const char* link;
};

TEST(CosmosAuth, LinkRules) {
  const LinkCase cases[] = {
      {"/", "", ""},
      {"", "", ""},
      {"/dbs", "dbs", ""},
      {"/dbs/", "dbs", ""},
      {"/dbs/d", "dbs", "dbs/d"},
      {"/dbs/d/colls", "colls", "dbs/d"},
      {"/dbs/d/colls/c", "colls", "dbs/d/colls/c"},
      {"/dbs/d/colls/c/docs", "docs", "dbs/d/colls/c"},
      {"/dbs/d/colls/c/docs/i", "docs", "dbs/d/colls/c/docs/i"},
      {"/dbs/d/colls/c/pkranges", "pkranges", "dbs/d/colls/c"},
      // An operation on a container is signed as the container.
      {"/dbs/d/colls/c/operations/partitionkeydelete", "colls", "dbs/d/colls/c"},
      // Percent-decoded, case kept: the SDK signs the plain link and sends encodeURI(link).
      {"/dbs/My%20DB/colls/C%C3%A9/docs/A%25B", "docs", "dbs/My DB/colls/C\xC3\xA9/docs/A%B"},
      // A '?' after a type is a query string (ignored); inside a name it is the name's.
      {"/dbs/d/colls/c/docs?x=1", "docs", "dbs/d/colls/c"},
      {"/?probe", "", ""},
      {"/dbs/d/colls/c/docs/Disallowed?Chars", "docs", "dbs/d/colls/c/docs/Disallowed?Chars"},
      {"/dbs/d/colls/c/docs/?x", "docs", "dbs/d/colls/c"},
      // Offers: the offer's id alone, lower-cased (the SDK's offer.read() and replace()).
      {"/offers/AbC", "offers", "abc"},
      {"/offers", "offers", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    ResourceAddress a;
    std::string error;
    ASSERT_TRUE(resource_of_path(c.path, a, error)) << error;
    EXPECT_EQ(a.type, c.type);
    EXPECT_EQ(a.link, c.link);
  }
}

TEST(CosmosAuth, BadPaths) {
  ResourceAddress a;
  std::string error;
  EXPECT_FALSE(resource_of_path("/dbs//colls", a, error));
  EXPECT_NE(error.find("empty segment"), std::string::npos);
  EXPECT_FALSE(resource_of_path("/dbs/%zz", a, error));
  EXPECT_NE(error.find("%25"), std::string::npos);
  EXPECT_FALSE(resource_of_path("/dbs/%4", a, error));
  // Found by cosmos_auth_fuzz: an encoded '/' would shift the link's segments.
  EXPECT_FALSE(resource_of_path("/%2fffers/Ab", a, error));
  EXPECT_NE(error.find("'/'"), std::string::npos);
}

TEST(CosmosAuth, Rfc1123) {
  auto t = parse_rfc1123("Thu, 27 Apr 2017 00:51:12 GMT");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, 1493254272000LL);
  EXPECT_EQ(rfc1123(*t), "Thu, 27 Apr 2017 00:51:12 GMT");
  EXPECT_TRUE(parse_rfc1123("thu, 27 apr 2017 00:51:12 gmt"));
  EXPECT_FALSE(parse_rfc1123("2017-04-27T00:51:12Z"));
  EXPECT_FALSE(parse_rfc1123("Thu, 27 Foo 2017 00:51:12 GMT"));
  EXPECT_FALSE(parse_rfc1123("Thu, 27 Apr 2017 00:51:12 GMT trailing"));
  EXPECT_FALSE(parse_rfc1123(""));
  EXPECT_FALSE(parse_rfc1123("Thu, 27 Apr 2017 00:51"));
  EXPECT_FALSE(parse_rfc1123("Thu, 27 Apr 2017 00:51:12"));
  EXPECT_FALSE(parse_rfc1123("Thu, 27 Apr 2017 00:51:12 "));
  EXPECT_FALSE(parse_rfc1123("Thu, 27 Apr 2017 24:00:00 GMT"));
  EXPECT_FALSE(parse_rfc1123("Thu, 27Apr 2017 00:51:12 GMT"));
}

TEST(CosmosAuth, VerifyAcceptsTheSdkHeader) {
  MasterKeys keys = MasterKeys::emulator();
  const char* date = "Sun, 29 Nov 2026 17:00:00 GMT";
  int64_t now = *parse_rfc1123(date) + 60'000;
  auto v = verify_request(keys, "PUT", "/dbs/db1/colls/Items/docs/My%20Doc%20%C3%A9",
                         kKnown[4].header, date, now);
  EXPECT_EQ(v.code, AuthVerdict::ok) << v.message;
  // The raw (not URL-encoded) token is accepted too.
  std::string raw = std::string("type=master&ver=1.0&sig=") + kKnown[3].sig;
  v = verify_request(keys, "POST", "/dbs/db1/colls/Items/docs", raw, date, now);
  EXPECT_EQ(v.code, AuthVerdict::ok) << v.message;
}

TEST(CosmosAuth, VerifyRefusals) {
  MasterKeys keys = MasterKeys::emulator();
  const char* date = "Sun, 29 Nov 2026 17:00:00 GMT";
  int64_t now = *parse_rfc1123(date);
  // Wrong link (another id): 401 with the string the server signed.
  auto v = verify_request(keys, "PUT", "/dbs/db1/colls/Items/docs/Other", kKnown[4].header, date, now);
  EXPECT_EQ(v.status, 401);
  EXPECT_EQ(v.error_code, "Unauthorized");
  EXPECT_NE(v.message.find("put\\ndocs\\ndbs/db1/colls/Items/docs/Other\\nsun, 29 nov 2026 17:00:00 gmt\\n\\n"),
            std::string::npos)
      << v.message;
  // Missing header, other token types, bad version, missing or malformed date.
  EXPECT_EQ(verify_request(keys, "GET", "/", "", date, now).status, 401);
  EXPECT_EQ(verify_request(keys, "GET", "/", "type=aad&ver=1.0&sig=x", date, now).status, 401);
  EXPECT_EQ(verify_request(keys, "GET", "/", "type=master&ver=2.0&sig=x", date, now).status, 401);
  EXPECT_EQ(verify_request(keys, "GET", "/", "type=master&ver=1.0&sig=", date, now).status, 401);
  EXPECT_EQ(verify_request(keys, "GET", "/", kKnown[0].header, "", now).status, 401);
  EXPECT_EQ(verify_request(keys, "GET", "/", kKnown[0].header, "yesterday", now).status, 401);
  EXPECT_EQ(verify_request(keys, "GET", "/", "%zz", date, now).status, 401);
  // A correct signature with a date 16 minutes off: 403 Forbidden.
  const char* d0 = "Tue, 01 Sep 2026 10:00:00 GMT";
  int64_t t0 = *parse_rfc1123(d0);
  EXPECT_EQ(verify_request(keys, "GET", "/", kKnown[0].header, d0, t0 + 14 * 60'000).code,
            AuthVerdict::ok);
  auto skew = verify_request(keys, "GET", "/", kKnown[0].header, d0, t0 + 16 * 60'000);
  EXPECT_EQ(skew.status, 403);
  EXPECT_EQ(skew.error_code, "Forbidden");
  EXPECT_EQ(verify_request(keys, "GET", "/", kKnown[0].header, d0, t0 - 16 * 60'000).status, 403);
}

TEST(CosmosAuth, SecondKeyAndBadKeys) {
  std::string error;
  auto keys = MasterKeys::parse({"bm90LXRoZS1rZXk=", std::string(kEmulatorKey)}, error);
  ASSERT_TRUE(keys) << error;
  const char* d0 = "Tue, 01 Sep 2026 10:00:00 GMT";
  EXPECT_EQ(verify_request(*keys, "GET", "/", kKnown[0].header, d0, *parse_rfc1123(d0)).code,
            AuthVerdict::ok);
  EXPECT_FALSE(MasterKeys::parse({"not base64!"}, error));
  EXPECT_FALSE(MasterKeys::parse({}, error));
}

// A permission's resource token verifies (naming its permission) until it expires, under any
// of the keys, and not once a character of it changed or the key that made it is gone.
TEST(CosmosAuth, ResourceTokensNameTheirPermissionUntilTheyExpire) {
  const MasterKeys keys = MasterKeys::emulator();
  const char* d0 = "Tue, 01 Sep 2026 10:00:00 GMT";
  int64_t now = *parse_rfc1123(d0);
  std::string token = resource_token(keys, 42, now / 1000 + 3600);
  // The SDK sends encodeURIComponent(token); no date is needed.
  std::string header;
  for (unsigned char c : token) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%%%02X", c);
    header += std::isalnum(c) ? std::string(1, static_cast<char>(c)) : std::string(hex);
  }
  auto v = verify_request(keys, "DELETE", "/dbs/d/colls/c/docs/x", header, "", now);
  EXPECT_EQ(v.code, AuthVerdict::ok) << v.message;
  EXPECT_EQ(v.permission, 42);
  EXPECT_EQ(verify_request(keys, "GET", "/", token, "", now).permission, 42);  // unencoded too
  // Expired: 401 naming the time and the fix.
  auto late = verify_request(keys, "GET", "/", header, "", now + 3600 * 1000);
  EXPECT_EQ(late.status, 401);
  EXPECT_NE(late.message.find("expired"), std::string::npos) << late.message;
  // One character changed anywhere in the signature part: refused.
  for (size_t at = token.find("sig=") + 4; at < token.size(); at += 7) {
    std::string bad = token;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    EXPECT_EQ(verify_request(keys, "GET", "/", bad, "", now).status, 401) << bad;
  }
  // Another permission number with this MAC, a signed master-key request's sig, garbage.
  std::string other = token;
  other.replace(other.find("sig=42") + 4, 2, "43");
  EXPECT_EQ(verify_request(keys, "GET", "/", other, "", now).status, 401);
  for (const char* g : {"type=resource&ver=1.0&sig=", "type=resource&ver=1.0&sig=1.2", "type=resource&ver=2.0&sig=1.2.x",
                        "type=resource&ver=1.0&sig=0.99999999999.x", "type=resource&ver=1.0&sig=-1.5.x"})
    EXPECT_EQ(verify_request(keys, "GET", "/", g, "", now).status, 401) << g;
  // A second key verifies tokens made by either; a token of a key no longer given does not.
  std::string error;
  auto rotated = MasterKeys::parse({"bm90LXRoZS1rZXk=", std::string(kEmulatorKey)}, error);
  ASSERT_TRUE(rotated) << error;
  EXPECT_EQ(verify_request(*rotated, "GET", "/", token, "", now).code, AuthVerdict::ok);
  auto fresh = MasterKeys::parse({"bm90LXRoZS1rZXk="}, error);
  ASSERT_TRUE(fresh) << error;
  EXPECT_EQ(verify_request(*fresh, "GET", "/", token, "", now).status, 401);
}

}  // namespace
}  // namespace nimbus::documents
