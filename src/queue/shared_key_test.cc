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

// The time every request below was signed at: Wed, 26 Nov 2025 10:00:00 GMT.
constexpr int64_t kSignedAt = 1764151200000;

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
  EXPECT_EQ(verify_shared_key(accounts, "devstoreaccount1", r, kSignedAt).code, AuthDecision::ok);

  auto tampered = r;
  tampered.target = "/devstoreaccount1/q1/messages?visibilitytimeout=6&messagettl=60";
  auto d = verify_shared_key(accounts, "devstoreaccount1", tampered, kSignedAt);
  EXPECT_EQ(d.code, AuthDecision::bad_signature);
  EXPECT_NE(d.message.find("check the account key"), std::string::npos);

  auto other_account = r;
  EXPECT_EQ(verify_shared_key(accounts, "someoneelse", other_account, kSignedAt).code,
            AuthDecision::account_mismatch);

  auto none = put_request();
  EXPECT_EQ(verify_shared_key(accounts, "devstoreaccount1", none, kSignedAt).code,
            AuthDecision::no_credentials);

  auto garbage = put_request();
  garbage.headers.emplace_back("Authorization", "Bearer xyz");
  EXPECT_EQ(verify_shared_key(accounts, "devstoreaccount1", garbage, kSignedAt).code, AuthDecision::bad_header);
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
  EXPECT_EQ(verify_shared_key(AccountSet::development(), "devstoreaccount1", r, kSignedAt).code,
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

TEST(SharedKey, ParsesRfc1123DatesAndNothingElse) {
  EXPECT_EQ(parse_rfc1123("Wed, 26 Nov 2025 10:00:00 GMT"), kSignedAt);
  EXPECT_EQ(parse_rfc1123("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_rfc1123("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599000);
  for (const char* bad : {"not a date at all", "", "2025-11-26T10:00:00Z",
                          "Wed, 26 Nov 2025 10:00:00 UTC", "Wed, 26 Nov 2025 10:00 GMT",
                          "Wed, 26 Foo 2025 10:00:00 GMT", "Xyz, 26 Nov 2025 10:00:00 GMT",
                          "Wed, 26 Nov 2025 25:00:00 GMT", "Wed, 00 Nov 2025 10:00:00 GMT",
                          "Wed, 26 Nov 2025 10:00:00 GMT "})
    EXPECT_FALSE(parse_rfc1123(bad)) << bad;
}

TEST(SharedKey, RefusesARequestDatedOutsideFifteenMinutesOrUndated) {
  auto accounts = AccountSet::development();
  auto r = put_request();
  r.headers.emplace_back("Authorization", std::string("SharedKey devstoreaccount1:") + kPutSignature);
  constexpr int64_t kMinute = 60'000;
  // Inside the window, either side: the clocks of client and server may differ a little.
  for (int64_t skew : {int64_t{0}, 14 * kMinute, -14 * kMinute, 15 * kMinute, -15 * kMinute})
    EXPECT_EQ(verify_shared_key(accounts, "devstoreaccount1", r, kSignedAt + skew).code,
              AuthDecision::ok)
        << skew;
  // A captured request replayed later (or signed ahead), however far: refused.
  for (int64_t skew : {15 * kMinute + 1000, 60 * kMinute, 20 * 365 * 24 * 60 * kMinute,
                       -24 * 60 * kMinute, -15 * kMinute - 1000}) {
    auto d = verify_shared_key(accounts, "devstoreaccount1", r, kSignedAt + skew);
    EXPECT_EQ(d.code, AuthDecision::bad_date) << skew;
    EXPECT_NE(d.message.find("x-ms-date \"Wed, 26 Nov 2025 10:00:00 GMT\" is more than 15 "
                             "minutes from the server time"),
              std::string::npos)
        << d.message;
  }
  // Unparsable: refused whatever the clock says, naming the header.
  auto bad = r;
  for (auto& [n, v] : bad.headers)
    if (n == "X-MS-Date") v = "not a date at all";
  auto d = verify_shared_key(accounts, "devstoreaccount1", bad, kSignedAt);
  EXPECT_EQ(d.code, AuthDecision::bad_date);
  EXPECT_NE(d.message.find("x-ms-date \"not a date at all\" is not an RFC 1123 date"),
            std::string::npos)
      << d.message;
  // Without x-ms-date, Date is the request's time.
  auto dated = r;
  std::erase_if(dated.headers, [](auto& h) { return h.first == "X-MS-Date"; });
  dated.headers.emplace_back("Date", "Wed, 26 Nov 2025 09:00:00 GMT");
  d = verify_shared_key(accounts, "devstoreaccount1", dated, kSignedAt);
  EXPECT_EQ(d.code, AuthDecision::bad_date);
  EXPECT_NE(d.message.find("Date \"Wed, 26 Nov 2025 09:00:00 GMT\""), std::string::npos)
      << d.message;
}

TEST(SharedKey, ParseQueryRefusesEverythingTheSignatureCouldMissRead) {
  // Repeated names, in any case: the server would run one value, the signature cover another.
  for (const char* q : {"numofmessages=32&numofmessages=1", "NumOfMessages=32&numofmessages=1",
                        "a=1&b=2&a=1", "peekonly=true&PEEKONLY="}) {
    auto r = parse_query(q);
    ASSERT_TRUE(std::holds_alternative<QueryError>(r)) << q;
    EXPECT_NE(std::get<QueryError>(r).message.find("more than once"), std::string::npos) << q;
  }
  for (const char* q : {"visibilitytimeout=1=2", "numofmessages=1&peekonly=true=x", "a==b"}) {
    auto r = parse_query(q);
    ASSERT_TRUE(std::holds_alternative<QueryError>(r)) << q;
    EXPECT_NE(std::get<QueryError>(r).message.find("second '='"), std::string::npos) << q;
  }
  for (const char* q : {"num%6Ffmessages=32", "a=%zz", "a=%4"})
    EXPECT_TRUE(std::holds_alternative<QueryError>(parse_query(q))) << q;

  auto ok = parse_query("Comp=list&prefix=a%20b&include=&flag&&marker=x%3Dy");
  ASSERT_TRUE(std::holds_alternative<std::vector<QueryPair>>(ok));
  auto& pairs = std::get<std::vector<QueryPair>>(ok);
  ASSERT_EQ(pairs.size(), 5u);
  EXPECT_EQ(pairs[0].name, "comp");
  EXPECT_EQ(pairs[1].value, "a b");
  EXPECT_EQ(pairs[4].value, "x=y");
  // What runs is what is signed: "include=" only when the signer kept empty values, a bare
  // "flag" never.
  EXPECT_TRUE(query_pair_signed(pairs[0], false));
  EXPECT_FALSE(query_pair_signed(pairs[2], false));
  EXPECT_TRUE(query_pair_signed(pairs[2], true));
  EXPECT_FALSE(query_pair_signed(pairs[3], true));
}

TEST(SharedKey, EmptyValuesRunOnlyWhenTheSignatureCoveredThem) {
  auto accounts = AccountSet::development();
  std::string key;
  ASSERT_TRUE(base64_decode(kDevAccountKey, key));
  api::HttpRequestData r;
  r.method = "GET";
  r.target = "/devstoreaccount1/q1/messages?numofmessages=1&peekonly=";
  r.headers = {{"x-ms-version", "2024-05-04"}, {"x-ms-date", "Wed, 26 Nov 2025 10:00:00 GMT"}};
  for (bool keep : {false, true}) {
    CanonicalOptions o;
    o.keep_empty_values = keep;
    auto sts = shared_key_string_to_sign("GET", r.headers, "devstoreaccount1",
                                         "/devstoreaccount1/q1/messages",
                                         "numofmessages=1&peekonly=", o);
    auto signed_r = r;
    signed_r.headers.emplace_back("Authorization",
                                  "SharedKey devstoreaccount1:" + hmac_sha256_base64(key, sts));
    auto d = verify_shared_key(accounts, "devstoreaccount1", signed_r, kSignedAt);
    ASSERT_EQ(d.code, AuthDecision::ok);
    EXPECT_EQ(d.empty_values_signed, keep);
  }
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
