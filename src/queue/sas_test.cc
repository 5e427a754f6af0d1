// SAS and bearer-token checks. The signatures below were computed outside this code: the SAS
// ones by the official @azure/storage-queue SDK's generateAccountSASQueryParameters /
// generateQueueSASQueryParameters (12.30, default version 2026-04-06), the 2013-08-15 and
// encryption-scope ones by HMAC-SHA256 over hand-written strings to sign, both with the
// development account key.
#include "queue/sas.h"

#include <gtest/gtest.h>

#include "common/ids.h"
#include "queue/bearer.h"

namespace nimbus::queue {
namespace {

SasToken token_of(std::string_view query) {
  auto parsed = parse_query(query);
  auto* pairs = std::get_if<std::vector<QueryPair>>(&parsed);
  EXPECT_TRUE(pairs) << query;
  auto t = sas_token(*pairs);
  EXPECT_TRUE(t) << query;
  return t ? *t : SasToken{};
}

int64_t at(std::string_view iso) { return *parse_iso8601_ms(iso); }

SasRequest req(QueueOp op, std::string_view queue = "orders", bool https = true,
               std::string_view ip = "10.0.0.5", std::string_view when = "2026-06-01T00:00:00Z") {
  return SasRequest{"devstoreaccount1", queue, op, https, ip, at(when)};
}

std::string detail(const SasDecision& d) {
  for (auto& [k, v] : d.error.details)
    if (k == "AuthenticationErrorDetail") return v;
  return d.error.message;
}

const AccountSet kAccounts = AccountSet::development();

constexpr std::string_view kAccount2019 =
    "sv=2019-02-02&ss=q&srt=sco&spr=https%2Chttp&st=2026-01-01T00%3A00%3A00Z&se=2026-12-31T23%3A59%"
    "3A59Z&sip=0.0.0.0-255.255.255.255&sp=rwdlacup&sig=R0C8lejBTJeC%2BTcyuCdw0FumqqPui8hJL2ee0pDks"
    "ao%3D";
constexpr std::string_view kAccount2026 =
    "sv=2026-04-06&ss=bq&srt=s&se=2026-12-31T23%3A59%3A59Z&sp=rl&sig=lYH7DCPhgZ%2B00copCxIX92wK1x5"
    "50yixNRltCLyStTs%3D";
constexpr std::string_view kQueue2016 =
    "sv=2016-05-31&spr=https&st=2026-01-01T00%3A00%3A00Z&se=2026-12-31T23%3A59%3A59Z&sip=10.0.0.1-"
    "10.0.0.9&sp=raup&sig=TSusnOUt68aQvHH3ASxBjl97AIC9AGHu8hTmX2EbEMU%3D";
constexpr std::string_view kQueueSi =
    "sv=2026-04-06&si=policy-1&sig=xQmM0U8dyeYkZigG7kU8DWJUobBF1kPcTVn5d%2FJ%2FPJQ%3D";

TEST(Sas, AccountSasOfTheSdkVerifies) {
  auto t = token_of(kAccount2019);
  EXPECT_TRUE(t.account());
  EXPECT_EQ(account_sas_string_to_sign("devstoreaccount1", t),
            "devstoreaccount1\nrwdlacup\nq\nsco\n2026-01-01T00:00:00Z\n2026-12-31T23:59:59Z\n"
            "0.0.0.0-255.255.255.255\nhttps,http\n2019-02-02\n");
  auto r = req(QueueOp::put_message, "orders", false);
  EXPECT_TRUE(verify_sas_signature(kAccounts, t, r).ok) << detail(verify_sas_signature(kAccounts, t, r));
  EXPECT_TRUE(authorize_sas(t, nullptr, r).ok);
}

TEST(Sas, CurrentVersionSignsTheEncryptionScopeLine) {
  auto t = token_of(kAccount2026);
  EXPECT_EQ(account_sas_string_to_sign("devstoreaccount1", t),
            "devstoreaccount1\nrl\nbq\ns\n\n2026-12-31T23:59:59Z\n\n\n2026-04-06\n\n");
  auto r = req(QueueOp::list_queues, "");
  EXPECT_TRUE(verify_sas_signature(kAccounts, t, r).ok);
  EXPECT_TRUE(authorize_sas(t, nullptr, r).ok);
  // A hand-signed one with ses and a date-only expiry.
  auto scoped = token_of("sv=2021-08-06&ss=q&srt=c&sp=r&se=2026-12-31&ses=scope1&sig="
                         "9HTbhTR09aSjB4XtanXSsalfQ4p36ionJPKVL3P%2FxwI%3D");
  EXPECT_TRUE(verify_sas_signature(kAccounts, scoped, req(QueueOp::get_queue_metadata)).ok);
}

TEST(Sas, QueueServiceSasOfTheSdkVerifies) {
  auto t = token_of(kQueue2016);
  EXPECT_FALSE(t.account());
  EXPECT_EQ(queue_sas_string_to_sign("devstoreaccount1", "orders", t),
            "raup\n2026-01-01T00:00:00Z\n2026-12-31T23:59:59Z\n/queue/devstoreaccount1/orders\n\n"
            "10.0.0.1-10.0.0.9\nhttps\n2016-05-31");
  auto r = req(QueueOp::get_messages);
  EXPECT_TRUE(verify_sas_signature(kAccounts, t, r).ok);
  EXPECT_TRUE(authorize_sas(t, nullptr, r).ok);
  // The same SAS for another queue is another string to sign.
  auto d = verify_sas_signature(kAccounts, t, req(QueueOp::get_messages, "other"));
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.error.code, "AuthenticationFailed");
  EXPECT_NE(detail(d).find("Signature did not match. String to sign used was raup\\n"), std::string::npos);
}

TEST(Sas, OldServiceSasVersionHasNoServiceNameNorIpAndProtocol) {
  auto t = token_of("sv=2013-08-15&se=2026-12-31T23%3A59%3A59Z&sp=r&sig="
                    "QcrblaYhmn9Qfutj1ayKh3hpmuojFkMHN2Xq0r%2FgGaU%3D");
  EXPECT_TRUE(verify_sas_signature(kAccounts, t, req(QueueOp::peek_messages)).ok);
  EXPECT_TRUE(authorize_sas(t, nullptr, req(QueueOp::peek_messages)).ok);
}

TEST(Sas, TamperedFieldsBreakTheSignature) {
  std::string q(kAccount2019);
  q.replace(q.find("sp=rwdlacup"), 11, "sp=rwdlacupi");  // widened permissions
  EXPECT_FALSE(verify_sas_signature(kAccounts, token_of(q), req(QueueOp::put_message)).ok);
  std::string late(kAccount2019);
  late.replace(late.find("se=2026"), 7, "se=2027");
  EXPECT_FALSE(verify_sas_signature(kAccounts, token_of(late), req(QueueOp::put_message)).ok);
  // Another account's name.
  SasRequest r = req(QueueOp::put_message);
  r.account = "other";
  EXPECT_FALSE(verify_sas_signature(kAccounts, token_of(kAccount2019), r).ok);
}

TEST(Sas, TimeWindow) {
  auto t = token_of(kQueue2016);
  auto expired = authorize_sas(t, nullptr, req(QueueOp::get_messages, "orders", true, "10.0.0.5",
                                              "2027-01-01T00:00:00Z"));
  EXPECT_EQ(expired.error.code, "AuthenticationFailed");
  EXPECT_NE(detail(expired).find("Signature not valid in the specified time frame"), std::string::npos);
  EXPECT_NE(detail(expired).find("expired"), std::string::npos);
  auto early = authorize_sas(t, nullptr, req(QueueOp::get_messages, "orders", true, "10.0.0.5",
                                            "2025-12-31T23:59:59Z"));
  EXPECT_NE(detail(early).find("not valid yet"), std::string::npos);
  SasToken backwards = t;
  backwards.st = "2027-01-01";
  EXPECT_NE(detail(authorize_sas(backwards, nullptr, req(QueueOp::get_messages)))
                .find("must be after signed start time"),
            std::string::npos);
}

TEST(Sas, IpRangeAndProtocolAreTheConnections) {
  auto t = token_of(kQueue2016);
  auto ip = authorize_sas(t, nullptr, req(QueueOp::get_messages, "orders", true, "10.0.0.10"));
  EXPECT_EQ(ip.error.code, "AuthorizationSourceIPMismatch");
  EXPECT_EQ(ip.error.status, 403);
  EXPECT_FALSE(authorize_sas(t, nullptr, req(QueueOp::get_messages, "orders", true, "::1")).ok);
  EXPECT_TRUE(authorize_sas(t, nullptr, req(QueueOp::get_messages, "orders", true, "10.0.0.9")).ok);
  auto http = authorize_sas(t, nullptr, req(QueueOp::get_messages, "orders", false));
  EXPECT_EQ(http.error.code, "AuthorizationProtocolMismatch");
}

TEST(Sas, PermissionsPerOperation) {
  auto service = token_of(kQueue2016);  // raup
  for (auto op : {QueueOp::get_queue_metadata, QueueOp::peek_messages, QueueOp::put_message,
                  QueueOp::get_messages, QueueOp::delete_message, QueueOp::update_message})
    EXPECT_TRUE(authorize_sas(service, nullptr, req(op)).ok) << op_name(op);
  for (auto op : {QueueOp::clear_messages, QueueOp::set_queue_metadata, QueueOp::delete_queue,
                  QueueOp::create_queue, QueueOp::get_queue_acl, QueueOp::set_queue_acl}) {
    auto d = authorize_sas(service, nullptr, req(op));
    EXPECT_EQ(d.error.code, "AuthorizationPermissionMismatch") << op_name(op);
  }
  SasToken read_only = service;
  read_only.sp = "r";
  auto d = authorize_sas(read_only, nullptr, req(QueueOp::put_message));
  EXPECT_EQ(d.error.code, "AuthorizationPermissionMismatch");
  EXPECT_NE(d.error.message.find("Put Message with a queue service SAS needs 'a'"), std::string::npos);

  auto account = token_of(kAccount2026);  // ss=bq srt=s sp=rl
  EXPECT_TRUE(authorize_sas(account, nullptr, req(QueueOp::get_service_properties, "")).ok);
  EXPECT_EQ(authorize_sas(account, nullptr, req(QueueOp::set_service_properties, "")).error.code,
            "AuthorizationPermissionMismatch");
  EXPECT_EQ(authorize_sas(account, nullptr, req(QueueOp::create_queue)).error.code,
            "AuthorizationResourceTypeMismatch");
  SasToken blob_only = account;
  blob_only.ss = "b";
  EXPECT_EQ(authorize_sas(blob_only, nullptr, req(QueueOp::list_queues, "")).error.code,
            "AuthorizationServiceMismatch");
  // Create Queue: 'c' or 'w'.
  SasToken create = account;
  create.srt = "c";
  create.sp = "c";
  EXPECT_TRUE(authorize_sas(create, nullptr, req(QueueOp::create_queue)).ok);
  create.sp = "w";
  EXPECT_TRUE(authorize_sas(create, nullptr, req(QueueOp::create_queue)).ok);
  create.sp = "rdlaup";
  EXPECT_FALSE(authorize_sas(create, nullptr, req(QueueOp::create_queue)).ok);
  // The ACL is never a SAS's to read or change.
  create.sp = "rwdlacup";
  EXPECT_FALSE(authorize_sas(create, nullptr, req(QueueOp::get_queue_acl)).ok);
}

TEST(Sas, StoredAccessPolicySuppliesTheMissingFields) {
  auto t = token_of(kQueueSi);
  auto r = req(QueueOp::put_message, "orders", false, "127.0.0.1");
  ASSERT_TRUE(verify_sas_signature(kAccounts, t, r).ok);
  api::SignedIdentifier policy{"policy-1", "2026-01-01T00:00:00.0000000Z",
                               "2026-12-31T00:00:00.0000000Z", "ra"};
  EXPECT_TRUE(authorize_sas(t, &policy, r).ok);
  EXPECT_EQ(authorize_sas(t, &policy, req(QueueOp::get_messages)).error.code,
            "AuthorizationPermissionMismatch");
  EXPECT_NE(detail(authorize_sas(t, nullptr, r)).find("names no stored access policy"),
            std::string::npos);
  api::SignedIdentifier past{"policy-1", "", "2026-02-01T00:00:00Z", "ra"};
  EXPECT_EQ(authorize_sas(t, &past, r).error.code, "AuthenticationFailed");
  // A field in the SAS and the policy both: refused.
  SasToken both = t;
  both.sp = "r";
  EXPECT_NE(detail(authorize_sas(both, &policy, r)).find("but not both"), std::string::npos);
  // The policy without permissions: the SAS gives them.
  api::SignedIdentifier no_perm{"policy-1", "", "2026-12-31T00:00:00Z", ""};
  EXPECT_TRUE(authorize_sas(both, &no_perm, req(QueueOp::peek_messages)).ok);
}

TEST(Sas, MalformedFieldsNameTheField) {
  auto check = [](std::string_view query, std::string_view expect) {
    auto d = verify_sas_signature(kAccounts, token_of(query), req(QueueOp::put_message));
    EXPECT_FALSE(d.ok) << query;
    EXPECT_NE(detail(d).find(expect), std::string::npos) << detail(d);
  };
  check("se=2026-12-31&sp=a&sig=x", "sv is mandatory");
  check("sv=2020-02-10&se=2026-12-31&sp=w&sig=x", "sp=w has 'w'");
  check("sv=2020-02-10&se=tomorrow&sp=a&sig=x", "se=tomorrow");
  check("sv=2020-02-10&se=2026-12-31&sp=a&sip=10.0.0.300&sig=x", "sip=10.0.0.300");
  check("sv=2020-02-10&se=2026-12-31&sp=a&spr=http&sig=x", "spr=http");
  check("sv=2020-02-10&sp=a&sig=x", "needs sp and se");
  check("sv=2014-02-14&ss=q&srt=o&sp=a&se=2026-12-31&sig=x", "from version 2015-04-05");
  check("sv=2020-02-10&ss=q&srt=o&sp=a&se=2026-12-31&skoid=x&sig=x", "user delegation");
  auto account_level = verify_sas_signature(kAccounts, token_of(kQueue2016), req(QueueOp::list_queues, ""));
  EXPECT_NE(detail(account_level).find("needs an account SAS"), std::string::npos);
}

TEST(Sas, Classify) {
  std::map<std::string, std::string> none, peek{{"peekonly", "true"}}, acl{{"comp", "acl"}},
      list{{"comp", "list"}};
  EXPECT_EQ(classify_operation("GET", Route::Kind::messages, peek), QueueOp::peek_messages);
  EXPECT_EQ(classify_operation("GET", Route::Kind::messages, none), QueueOp::get_messages);
  EXPECT_EQ(classify_operation("HEAD", Route::Kind::queue, acl), QueueOp::get_queue_acl);
  EXPECT_EQ(classify_operation("GET", Route::Kind::service, list), QueueOp::list_queues);
  EXPECT_EQ(classify_operation("PATCH", Route::Kind::queue, none), QueueOp::other);
  EXPECT_EQ(parse_sas_time("2026-01-02T03:04Z"), at("2026-01-02T03:04:00Z"));
  EXPECT_FALSE(parse_sas_time("2026-01-02T03:04:05"));
  EXPECT_EQ(parse_ipv4("1.2.3.4"), 0x01020304u);
  EXPECT_FALSE(parse_ipv4("1.2.3"));
  EXPECT_FALSE(parse_ipv4("1.2.3.4.5"));
  EXPECT_FALSE(parse_ipv4("01234.1.1.1"));
}

// --- bearer tokens ---

std::string jwt(std::string_view payload_json) {
  auto b64url = [](std::string_view s) {
    std::string b = base64_encode(s);
    for (char& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!b.empty() && b.back() == '=') b.pop_back();
    return b;
  };
  return "Bearer " + b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(payload_json) + ".";
}

constexpr int64_t kNow = 1780000000000;  // 2026-05-28

TEST(Bearer, AcceptsAzureAdClaimsOverHttps) {
  std::string ok = jwt(R"({"iss":"https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",)"
                       R"("aud":"https://storage.azure.com","nbf":1770000000,"exp":1790000000,"iat":1770000000})");
  EXPECT_TRUE(verify_bearer(ok, "devstoreaccount1", true, kNow).ok);
  for (std::string aud : {"https://storage.azure.com/", "e406a681-f3d4-42a8-90b6-c2b029497af1",
                          "https://devstoreaccount1.queue.core.windows.net",
                          "https://devstoreaccount1.queue.core.chinacloudapi.cn/"}) {
    auto t = jwt(R"({"iss":"https://login.microsoftonline.com/t1/v2.0","aud":")" + aud +
                 R"(","exp":1790000000})");
    EXPECT_TRUE(verify_bearer(t, "devstoreaccount1", true, kNow).ok) << aud;
  }
  auto http = verify_bearer(ok, "devstoreaccount1", false, kNow);
  EXPECT_EQ(http.error.code, "AuthenticationFailed");
  EXPECT_EQ(http.error.status, 403);
}

TEST(Bearer, RefusalsAre401WithTheChallenge) {
  auto check = [](std::string token, std::string_view expect) {
    auto d = verify_bearer(token, "devstoreaccount1", true, kNow);
    EXPECT_FALSE(d.ok) << token;
    EXPECT_EQ(d.error.status, 401);
    EXPECT_EQ(d.error.code, "InvalidAuthenticationInfo");
    ASSERT_FALSE(d.error.details.empty());
    EXPECT_NE(d.error.details[0].second.find(expect), std::string::npos) << d.error.details[0].second;
    EXPECT_NE(d.www_authenticate.find("resource_id=https://storage.azure.com"), std::string::npos);
  };
  std::string iss = R"("iss":"https://sts.windows.net/tenant-1/",)";
  check(jwt("{" + iss + R"("aud":"https://other.queue.core.windows.net","exp":1790000000})"), "audience");
  check(jwt("{" + iss + R"("aud":"https://storage.azure.com","exp":1770000000})"), "expired");
  check(jwt("{" + iss + R"("aud":"https://storage.azure.com","nbf":1790000000,"exp":1799000000})"),
        "Lifetime");
  check(jwt(R"({"iss":"https://evil.example/","aud":"https://storage.azure.com","exp":1790000000})"),
        "issuer");
  check("Bearer not-a-token", "not a JWT");
  check("Bearer a.%%%.b", "base64url");
  check(jwt("[1]"), "JSON object");
  auto d = verify_bearer(jwt("{" + iss + R"("aud":"x","exp":1790000000})"), "devstoreaccount1", true, kNow);
  EXPECT_NE(d.www_authenticate.find("login.microsoftonline.com/tenant-1/oauth2/authorize"), std::string::npos);
}

}  // namespace
}  // namespace nimbus::queue
