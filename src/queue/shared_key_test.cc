#include "queue/shared_key.h"

#include <gtest/gtest.h>

#include "common/ids.h"

namespace nimbus::queue {
namespace {

// The expected signatures were computed independently with Node's crypto, not with this code:
//   node -e 'const c=require("crypto");
//     const key=Buffer.from("<devstoreaccount1 key>","base64");
//     console.log(c.createHmac("sha256",key).update(STS,"utf8").digest("base64"))'
// with STS exactly the kPutStringToSign / kLiteStringToSign literals below.
constexpr const char* kPutStringToSign =
    "POST\n\n\n76\n\napplication/xml\n\n\n\n\n\n\n"
    "x-ms-client-request-id:abc\n"
    "x-ms-date:Wed, 26 Nov 2025 10:00:00 GMT\n"
    "x-ms-version:2024-05-04\n"
    "/devstoreaccount1/devstoreaccount1/q1/messages\n"
    "messagettl:60\n"
    "visibilitytimeout:5";
constexpr const char* kPutSignature = "mYFYDropTyYtM2wrJowpvueUFZ6PlQOlpHdqWevmP50=";
constexpr const char* kLiteStringToSign =
    "GET\n\n\n\n"
    "x-ms-date:Wed, 26 Nov 2025 10:00:00 GMT\n"
    "x-ms-version:2024-05-04\n"
    "/devstoreaccount1/devstoreaccount1/q1?comp=metadata";
constexpr const char* kLiteSignature = "+VT1hiz13zQRXMGmqPv0NJSoyYSJ5VHh3WwW8qXccsI=";

api::HttpRequestData put_request() {
  api::HttpRequestData r;
  r.method = "POST";
  r.target = "/devstoreaccount1/q1/messages?visibilitytimeout=5&messagettl=60";
  r.path = "/devstoreaccount1/q1/messages";
  r.headers = {{"Content-Length", "76"},
               {"Content-Type", "application/xml"},
               {"x-ms-version", "2024-05-04"},
               {"X-MS-Date", "Wed, 26 Nov 2025 10:00:00 GMT"},
               {"x-ms-client-request-id", "abc"},
               {"Host", "127.0.0.1:10001"}};
  return r;
}

TEST(SharedKey, StringToSignMatchesTheSpecWithTheAccountDoubledInPathStyle) {
  auto r = put_request();
  EXPECT_EQ(shared_key_string_to_sign("POST", r.headers, "devstoreaccount1",
                                      "/devstoreaccount1/q1/messages",
                                      "visibilitytimeout=5&messagettl=60"),
            kPutStringToSign);
}

TEST(SharedKey, HmacMatchesAnIndependentlyComputedVector) {
  std::string key;
  ASSERT_TRUE(base64_decode(kDevAccountKey, key));
  EXPECT_EQ(hmac_sha256_base64(key, kPutStringToSign), kPutSignature);
  EXPECT_EQ(hmac_sha256_base64(key, kLiteStringToSign), kLiteSignature);
}

TEST(SharedKey, VerifiesAGoodSignatureAndRejectsABadOne) {
  auto accounts = AccountSet::development();
  auto r = put_request();
  r.headers.emplace_back("Authorization", std::string("SharedKey devstoreaccount1:") + kPutSignature);
  EXPECT_EQ(verify_shared_key(accounts, "devstoreaccount1", r).code, AuthDecision::ok);

  auto tampered = r;
  tampered.target = "/devstoreaccount1/q1/messages?visibilitytimeout=6&messagettl=60";
  auto d = verify_shared_key(accounts, "devstoreaccount1", tampered);
  EXPECT_EQ(d.code, AuthDecision::bad_signature);
  EXPECT_NE(d.message.find("check the account key"), std::string::npos);

  auto other_account = r;
  EXPECT_EQ(verify_shared_key(accounts, "someoneelse", other_account).code,
            AuthDecision::account_mismatch);

  auto none = put_request();
  EXPECT_EQ(verify_shared_key(accounts, "devstoreaccount1", none).code,
            AuthDecision::no_credentials);

  auto garbage = put_request();
  garbage.headers.emplace_back("Authorization", "Bearer xyz");
  EXPECT_EQ(verify_shared_key(accounts, "devstoreaccount1", garbage).code, AuthDecision::bad_header);
}

TEST(SharedKey, VerifiesSharedKeyLite) {
  api::HttpRequestData r;
  r.method = "GET";
  r.target = "/devstoreaccount1/q1?comp=metadata";
  r.headers = {{"x-ms-version", "2024-05-04"},
               {"x-ms-date", "Wed, 26 Nov 2025 10:00:00 GMT"},
               {"Authorization", std::string("SharedKeyLite devstoreaccount1:") + kLiteSignature}};
  EXPECT_EQ(shared_key_lite_string_to_sign("GET", r.headers, "devstoreaccount1",
                                           "/devstoreaccount1/q1", "comp=metadata"),
            kLiteStringToSign);
  EXPECT_EQ(verify_shared_key(AccountSet::development(), "devstoreaccount1", r).code,
            AuthDecision::ok);
}

TEST(SharedKey, QueryCanonicalisationDecodesSortsAndDropsEmptyValues) {
  api::Headers h;
  auto sts = shared_key_string_to_sign("GET", h, "a", "/a/q", "B=2&a=x%20y&empty=&flag&c=1&c=0");
  EXPECT_NE(sts.find("/a/a/q\na:x y\nb:2\nc:0,1"), std::string::npos) << sts;
  EXPECT_EQ(sts.find("empty"), std::string::npos);
  CanonicalOptions last;
  last.repeated_last_wins = true;
  auto sts2 = shared_key_string_to_sign("GET", h, "a", "/a/q", "c=1&c=0", last);
  EXPECT_NE(sts2.find("\nc:0"), std::string::npos);
  EXPECT_EQ(sts2.find("0,1"), std::string::npos);
}

TEST(SharedKey, ContentLengthZeroSignsAsEmpty) {
  api::Headers h{{"Content-Length", "0"}};
  // VERB, Content-Encoding, Content-Language, then an empty Content-Length line.
  EXPECT_EQ(shared_key_string_to_sign("DELETE", h, "a", "/a/q", "").substr(0, 12),
            "DELETE\n\n\n\n\n\n");
  api::Headers seven{{"Content-Length", "7"}};
  EXPECT_EQ(shared_key_string_to_sign("PUT", seven, "a", "/a/q", "").substr(0, 8), "PUT\n\n\n7\n");
}

TEST(AccountSet, ParsesAccountsAndNamesBadEntries) {
  std::string err;
  auto set = AccountSet::parse("acct1:" + std::string(kDevAccountKey) + ":" +
                                   std::string(kDevAccountKey) + ";acct2:" + std::string(kDevAccountKey),
                               err);
  ASSERT_TRUE(set) << err;
  ASSERT_NE(set->find("acct1"), nullptr);
  EXPECT_EQ(set->find("acct1")->keys.size(), 2u);
  EXPECT_NE(set->find("acct2"), nullptr);
  EXPECT_EQ(set->find("devstoreaccount1"), nullptr);
  EXPECT_FALSE(AccountSet::parse("acct1", err));
  EXPECT_NE(err.find("acct1"), std::string::npos);
  EXPECT_FALSE(AccountSet::parse("acct1:not*base64", err));
  EXPECT_NE(err.find("base64"), std::string::npos);
}

}  // namespace
}  // namespace nimbus::queue
