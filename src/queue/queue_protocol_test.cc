#include "queue/queue_protocol.h"
#include "queue/shared_key.h"

#include <gtest/gtest.h>

#include <ctime>
#include <random>

namespace nimbus::queue {
namespace {

TEST(QueueNames, FollowTheServiceRules) {
  for (std::string good : {std::string("abc"), std::string("a-b-c"), std::string("q12"),
                           std::string("0queue"), std::string(63, 'a')})
    EXPECT_FALSE(check_queue_name(good)) << good;
  EXPECT_EQ(check_queue_name("ab")->code, "OutOfRangeInput");
  EXPECT_EQ(check_queue_name(std::string(64, 'a'))->code, "OutOfRangeInput");
  for (const char* bad : {"-abc", "abc-", "a--b", "ABC", "a_b", "a.b", "a b"})
    EXPECT_EQ(check_queue_name(bad)->code, "InvalidResourceName") << bad;
}

TEST(Routes, PathStyleOnIpAndLocalhostAndEmulatorPorts) {
  std::string err;
  auto r = parse_route("/devstoreaccount1/q1/messages/abc-1", "127.0.0.1:10001", err);
  ASSERT_TRUE(r) << err;
  EXPECT_EQ(r->kind, Route::Kind::message);
  EXPECT_EQ(r->account, "devstoreaccount1");
  EXPECT_EQ(r->queue, "q1");
  EXPECT_EQ(r->message_id, "abc-1");
  r = parse_route("/devstoreaccount1/", "localhost:5555", err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Route::Kind::service);
  r = parse_route("/acct/q1", "myhost.example:10001", err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->account, "acct");
  EXPECT_EQ(r->kind, Route::Kind::queue);
  r = parse_route("/q1/messages", "acct.queue.example.com", err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->account, "acct");
  EXPECT_EQ(r->queue, "q1");
  EXPECT_EQ(r->kind, Route::Kind::messages);
  EXPECT_FALSE(parse_route("/a/q/other", "127.0.0.1", err));
  EXPECT_FALSE(parse_route("/a/q/messages/id/more", "127.0.0.1", err));
  EXPECT_FALSE(parse_route("/a/q%zz", "127.0.0.1", err));
}

TEST(QueryParams, DefaultRangeAndErrors) {
  std::map<std::string, std::string> q{{"numofmessages", "33"}, {"visibilitytimeout", "x"},
                                       {"ok", "7"}};
  auto v = int_param(q, "ok", 1, 32, 1);
  ASSERT_TRUE(std::holds_alternative<int64_t>(v));
  EXPECT_EQ(std::get<int64_t>(v), 7);
  EXPECT_EQ(std::get<int64_t>(int_param(q, "absent", 1, 32, 5)), 5);
  EXPECT_EQ(std::get<ServiceError>(int_param(q, "numofmessages", 1, 32, 1)).code,
            "OutOfRangeQueryParameterValue");
  EXPECT_EQ(std::get<ServiceError>(int_param(q, "visibilitytimeout", 0, 10, 0)).code,
            "InvalidQueryParameterValue");
  EXPECT_EQ(std::get<ServiceError>(int_param(q, "popreceipt", 0, 10, std::nullopt)).code,
            "MissingRequiredQueryParameter");
}

TEST(Dates, Rfc1123) {
  EXPECT_EQ(rfc1123(1255122270000), "Fri, 09 Oct 2009 21:04:30 GMT");
  EXPECT_EQ(rfc1123(api::kNeverExpires), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(rfc1123(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(rfc1123(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(rfc1123(-30000000000000), "Tue, 04 May 1019 18:40:00 GMT");
  // Beyond four-digit years (a client's token times in an error): held to the range.
  EXPECT_EQ(rfc1123(-62167219200000 - 1), "Sat, 01 Jan 0000 00:00:00 GMT");
  EXPECT_EQ(rfc1123(api::kNeverExpires + 1000LL * 86400 * 365 * 100), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(parse_rfc1123(rfc1123(-62167219200000)), -62167219200000);
  EXPECT_EQ(rfc1123(951782400000), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(rfc1123(4107542399999), "Sun, 28 Feb 2100 23:59:59 GMT");
  // The hand-written conversion agrees with the C library's over the whole range a message
  // date can take (1970 .. 9999), leap days and the ends of days included.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    // Years 1000..9999 (strftime writes earlier years with fewer than four digits).
    api::UnixMillis t = -30610224000000 + static_cast<api::UnixMillis>(rng() % 284012524800000ULL);
    if (i % 4 == 0) t -= t % 86400000;            // a midnight
    if (i % 4 == 1) t += 86399999 - t % 86400000;  // the last millisecond of a day
    std::time_t secs = static_cast<std::time_t>(t / 1000 - (t % 1000 < 0 ? 1 : 0));  // floor
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ASSERT_EQ(rfc1123(t), buf) << t;
  }
}

TEST(Bodies, QueueMessageTextLimitAndShape) {
  auto ok = parse_queue_message_body("<QueueMessage><MessageText>hi &amp; bye</MessageText></QueueMessage>");
  ASSERT_TRUE(std::holds_alternative<std::string>(ok));
  EXPECT_EQ(std::get<std::string>(ok), "hi & bye");
  std::string max = "<QueueMessage><MessageText>" + std::string(65536, 'x') + "</MessageText></QueueMessage>";
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_queue_message_body(max)));
  std::string over = "<QueueMessage><MessageText>" + std::string(65537, 'x') + "</MessageText></QueueMessage>";
  auto e = std::get<ServiceError>(parse_queue_message_body(over));
  EXPECT_EQ(e.status, 413);
  EXPECT_EQ(e.code, "RequestBodyTooLarge");
  EXPECT_EQ(std::get<ServiceError>(parse_queue_message_body("<QueueMessage>")).code, "InvalidXmlDocument");
  EXPECT_EQ(std::get<ServiceError>(parse_queue_message_body("<Other/>")).code, "InvalidXmlDocument");
  EXPECT_EQ(std::get<ServiceError>(parse_queue_message_body("<QueueMessage/>")).code, "InvalidXmlDocument");
}

TEST(Bodies, SignedIdentifiersRoundTripAndLimit) {
  std::vector<api::SignedIdentifier> acl{{"id1", "2025-01-01T00:00:00.0000000Z", "2026-01-01T00:00:00.0000000Z", "raup"}};
  auto back = parse_signed_identifiers(signed_identifiers_xml(acl));
  ASSERT_TRUE(std::holds_alternative<std::vector<api::SignedIdentifier>>(back));
  EXPECT_EQ(std::get<0>(back), acl);
  std::string six = "<SignedIdentifiers>";
  for (int i = 0; i < 6; ++i) six += "<SignedIdentifier><Id>i" + std::to_string(i) + "</Id></SignedIdentifier>";
  six += "</SignedIdentifiers>";
  EXPECT_EQ(std::get<ServiceError>(parse_signed_identifiers(six)).code, "InvalidXmlDocument");
  EXPECT_TRUE(std::get<0>(parse_signed_identifiers("")).empty());
}

TEST(Bodies, SignedIdentifierPermissionsAndTimesAreChecked) {
  auto acl = [](std::string permission, std::string start = "", std::string expiry = "") {
    return signed_identifiers_xml({{"p1", std::move(start), std::move(expiry), std::move(permission)}});
  };
  for (const char* ok : {"r", "raup", "pu", ""})
    EXPECT_TRUE(std::holds_alternative<std::vector<api::SignedIdentifier>>(parse_signed_identifiers(acl(ok)))) << ok;
  auto bad = std::get<ServiceError>(parse_signed_identifiers(acl("rwdl")));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.code, "InvalidXmlDocument");
  EXPECT_NE(bad.message.find("has 'w'; queue permissions are r (read), a (add), u (update) and p (process)"),
            std::string::npos) << bad.message;
  EXPECT_NE(std::get<ServiceError>(parse_signed_identifiers(acl("rr"))).message.find("repeats 'r'"),
            std::string::npos);
  auto time = std::get<ServiceError>(parse_signed_identifiers(acl("r", "tomorrow")));
  EXPECT_NE(time.message.find("<Start>tomorrow</...> of signed identifier \"p1\" is not an ISO 8601 UTC time"),
            std::string::npos) << time.message;
}

TEST(Bodies, ErrorXmlCarriesCodeMessageAndDetails) {
  ServiceError e{400, "OutOfRangeQueryParameterValue", "bad", {{"QueryParameterName", "numofmessages"}}};
  auto x = error_xml(e, "rid", "2025-01-01T00:00:00.000Z");
  EXPECT_NE(x.find("<Code>OutOfRangeQueryParameterValue</Code>"), std::string::npos);
  EXPECT_NE(x.find("RequestId:rid"), std::string::npos);
  EXPECT_NE(x.find("<QueryParameterName>numofmessages</QueryParameterName>"), std::string::npos);
}

TEST(Bodies, MessagesXmlHasExactElementsForGetAndPeek) {
  api::QueueMessage m{"id", 1255122270000, 1255122271000, 1255122272000, "pr", 2, "a<b"};
  auto get = messages_xml({m}, false);
  EXPECT_NE(get.find("<QueueMessagesList><QueueMessage><MessageId>id</MessageId><InsertionTime>Fri, 09 Oct 2009 21:04:30 GMT</InsertionTime><ExpirationTime>Fri, 09 Oct 2009 21:04:31 GMT</ExpirationTime><PopReceipt>pr</PopReceipt><TimeNextVisible>Fri, 09 Oct 2009 21:04:32 GMT</TimeNextVisible><DequeueCount>2</DequeueCount><MessageText>a&lt;b</MessageText></QueueMessage></QueueMessagesList>"), std::string::npos) << get;
  auto peek = messages_xml({m}, true);
  EXPECT_EQ(peek.find("PopReceipt"), std::string::npos);
  EXPECT_EQ(peek.find("TimeNextVisible"), std::string::npos);
  EXPECT_NE(messages_xml({}, false).find("<QueueMessagesList></QueueMessagesList>"), std::string::npos);
}

TEST(ContentMd5, CheckedWhenPresentAgainstTheBodyAsSent) {
  const std::string body = "<QueueMessage><MessageText>pay alice 10</MessageText></QueueMessage>";
  // base64(MD5(body)), computed independently: printf '%s' "$body" | openssl md5 -binary | base64
  const std::string md5 = "BuH5qChautQf5S/HNUFTew==";
  EXPECT_FALSE(check_content_md5({}, body));  // absent: nothing to check
  EXPECT_FALSE(check_content_md5({{"Content-MD5", md5}}, body));
  EXPECT_FALSE(check_content_md5({{"content-md5", md5}}, body));
  // Any other body, the same length or not, with the signed header unchanged: refused.
  for (std::string other : {std::string("<QueueMessage><MessageText>pay mallo 99</MessageText></QueueMessage>"),
                            std::string(), body + " ", body.substr(1)}) {
    auto e = check_content_md5({{"Content-MD5", md5}}, other);
    ASSERT_TRUE(e) << other;
    EXPECT_EQ(e->status, 400);
    EXPECT_EQ(e->code, "Md5Mismatch");
  }
  for (const char* bad : {"not base64!", "AAAA", "AAECAwQFBgcICQoLDA0ODxAR"}) {
    auto e = check_content_md5({{"Content-MD5", bad}}, body);
    ASSERT_TRUE(e) << bad;
    EXPECT_EQ(e->code, "InvalidMd5") << bad;
  }
}

}  // namespace
}  // namespace nimbus::queue
