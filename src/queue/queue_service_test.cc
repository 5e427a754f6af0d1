// QueueService against stores that fail or record, so what reaches a client and what reaches
// the store can be checked exactly: storage details stay in the host log, and only the query
// parameters the signature covered run.
#include "queue/queue_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/ids.h"
#include "queue/queue_protocol.h"
#include "queue/sas.h"
#include "queue/shared_key.h"

namespace nimbus::queue {
namespace {

constexpr const char* kSecretPath = "/srv/private/tenant-7/nimbus.db";

// Every operation fails the way SqliteQueueStore reports a failed transaction; get and peek
// record their arguments instead when `record` is set.
struct FakeStore final : api::QueueStore {
  bool record = false;
  std::vector<std::string> calls;

  static api::QueueError failure() {
    return {api::QueueErrc::storage_failure,
            std::string("queue store transaction on ") + kSecretPath +
                " failed and was rolled back: disk I/O error; check free disk space and retry"};
  }
  template <class T>
  static void fail(api::QueueCallback<T>& done) {
    done(failure());
  }

  void create_queue(api::QueueRef, api::QueueMetadata, api::QueueCallback<api::CreateQueueOutcome> d) override { fail(d); }
  void delete_queue(api::QueueRef, api::QueueCallback<void> d) override { fail(d); }
  void list_queues(std::string, api::ListQueuesOptions, api::QueueCallback<api::QueueListing> d) override { fail(d); }
  void get_queue_properties(api::QueueRef, api::QueueCallback<api::QueueProperties> d) override { fail(d); }
  void set_queue_metadata(api::QueueRef, api::QueueMetadata, api::QueueCallback<void> d) override { fail(d); }
  void get_queue_acl(api::QueueRef, api::QueueCallback<std::vector<api::SignedIdentifier>> d) override { fail(d); }
  void set_queue_acl(api::QueueRef, std::vector<api::SignedIdentifier>, api::QueueCallback<void> d) override { fail(d); }
  void get_service_properties(std::string, api::QueueCallback<std::string> d) override { fail(d); }
  void set_service_properties(std::string, std::string, api::QueueCallback<void> d) override { fail(d); }
  void put_message(api::NewMessage, api::QueueCallback<api::MessageReceipt> d) override { fail(d); }
  void get_messages(api::QueueRef, int count, int64_t vt,
                    api::QueueCallback<std::vector<api::QueueMessage>> d) override {
    if (!record) return fail(d);
    calls.push_back("get " + std::to_string(count) + " " + std::to_string(vt));
    d(std::vector<api::QueueMessage>{});
  }
  void peek_messages(api::QueueRef, int count,
                     api::QueueCallback<std::vector<api::QueueMessage>> d) override {
    if (!record) return fail(d);
    calls.push_back("peek " + std::to_string(count));
    d(std::vector<api::QueueMessage>{});
  }
  void delete_message(api::QueueRef, std::string, std::string, api::QueueCallback<void> d) override { fail(d); }
  void update_message(api::QueueRef, std::string, std::string, std::optional<std::string>, int64_t,
                      api::QueueCallback<api::UpdateReceipt> d) override { fail(d); }
  void clear_messages(api::QueueRef, api::QueueCallback<void> d) override { fail(d); }
  void complete_message(api::QueueRef, std::string, std::string, std::vector<api::NewMessage>,
                        api::QueueCallback<std::vector<api::MessageReceipt>> d) override { fail(d); }
  void put_messages(std::vector<api::NewMessage>,
                    api::QueueCallback<std::vector<api::MessageReceipt>> d) override { fail(d); }
  void move_to_poison(api::QueueRef, std::string, std::string,
                      api::QueueCallback<api::MessageReceipt> d) override { fail(d); }
};

// A request signed now with the development key over `signed_query`, sent with `sent_query`.
api::HttpRequestData signed_request(std::string method, std::string path, std::string signed_query,
                                    std::string sent_query, std::string body = "") {
  api::HttpRequestData r;
  r.method = method;
  r.path = path;
  r.target = sent_query.empty() ? path : path + "?" + sent_query;
  r.host = "127.0.0.1:10001";
  r.headers = {{"x-ms-version", "2025-05-05"}, {"x-ms-date", rfc1123(now_ms())}};
  if (!body.empty()) r.headers.emplace_back("Content-Length", std::to_string(body.size()));
  r.body = std::move(body);
  std::string key;
  base64_decode(kDevAccountKey, key);
  std::string sts =
      shared_key_string_to_sign(method, r.headers, "devstoreaccount1", path, signed_query);
  r.headers.emplace_back("Authorization",
                         "SharedKey devstoreaccount1:" + hmac_sha256_base64(key, sts));
  return r;
}

struct Harness {
  FakeStore fake;
  boost::asio::io_context io;
  AsyncQueueStore store{fake, io.get_executor()};
  std::string log_path;
  int log_fd = -1;
  std::unique_ptr<Logger> log;
  std::unique_ptr<QueueService> service;

  Harness() {
    char tmpl[] = "/tmp/nimbus-queue-service-log-XXXXXX";
    log_fd = mkstemp(tmpl);
    log_path = tmpl;
    log = std::make_unique<Logger>(LogLevel::information, log_fd);
    service = std::make_unique<QueueService>(store, AccountSet::development(), *log);
  }
  ~Harness() {
    service.reset();
    ::close(log_fd);
    std::remove(log_path.c_str());
  }
  api::HttpResponseData run(api::HttpRequestData req) {
    auto f = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<api::HttpResponseData> { co_return co_await service->handle(req); },
        boost::asio::use_future);
    io.restart();
    io.run();
    return f.get();
  }
  std::string log_text() const {
    std::ifstream in(log_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

std::string header(const api::HttpResponseData& r, std::string_view name) {
  return std::string(find_header(r.headers, name));
}

TEST(QueueService, StorageFailuresReachTheClientAsAGenericErrorAndTheLogInFull) {
  Harness h;
  const std::string put_body = "<QueueMessage><MessageText>x</MessageText></QueueMessage>";
  for (auto req : {signed_request("PUT", "/devstoreaccount1/q01", "", ""),
                   signed_request("POST", "/devstoreaccount1/q01/messages", "", "", put_body),
                   signed_request("GET", "/devstoreaccount1/q01/messages", "", ""),
                   signed_request("GET", "/devstoreaccount1", "comp=list", "comp=list"),
                   signed_request("DELETE", "/devstoreaccount1/q01", "", "")}) {
    SCOPED_TRACE(req.method + " " + req.target);
    auto r = h.run(req);
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(header(r, "x-ms-error-code"), "InternalError");
    std::string id = header(r, "x-ms-request-id");
    ASSERT_FALSE(id.empty());
    EXPECT_NE(r.body.find("RequestId:" + id), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(kSecretPath), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("disk I/O"), std::string::npos) << r.body;
    std::string log = h.log_text();
    // The operator finds the cause by the id the client quotes.
    auto at = log.find(id);
    ASSERT_NE(at, std::string::npos) << log;
    auto line_start = log.rfind('\n', at);
    auto line = log.substr(line_start == std::string::npos ? 0 : line_start,
                           log.find('\n', at) - (line_start == std::string::npos ? 0 : line_start));
    EXPECT_NE(line.find(kSecretPath), std::string::npos) << line;
  }
}

TEST(QueueService, RunsExactlyTheQueryParametersTheSignatureCovered) {
  Harness h;
  h.fake.record = true;
  const std::string path = "/devstoreaccount1/q01/messages";
  // As signed.
  auto r = h.run(signed_request("GET", path, "numofmessages=1&visibilitytimeout=30",
                                "numofmessages=1&visibilitytimeout=30"));
  EXPECT_EQ(r.status, 200) << r.body;
  // Repeated names prepended to a captured request: refused before anything runs, naming the
  // parameter, whichever case and order.
  for (std::string smuggled : {"numofmessages=32&visibilitytimeout=1&numofmessages=1&visibilitytimeout=30",
                               "NumOfMessages=32&numofmessages=1&visibilitytimeout=30",
                               "numofmessages=1&visibilitytimeout=30&visibilitytimeout=1"}) {
    auto s = h.run(signed_request("GET", path, "numofmessages=1&visibilitytimeout=30", smuggled));
    EXPECT_EQ(s.status, 400) << smuggled;
    EXPECT_EQ(header(s, "x-ms-error-code"), "InvalidQueryParameterValue") << smuggled;
    EXPECT_NE(s.body.find("<QueryParameterName>"), std::string::npos) << s.body;
    EXPECT_NE(s.body.find("more than once"), std::string::npos) << s.body;
  }
  // A signed peek stays a peek: an unsigned extra with a second '=' is refused, one with an
  // empty value does not run.
  auto peek = h.run(signed_request("GET", path, "peekonly=true", "peekonly=true&numofmessages=32=1"));
  EXPECT_EQ(peek.status, 400);
  EXPECT_NE(peek.body.find("second &apos;=&apos;"), std::string::npos) << peek.body;
  peek = h.run(signed_request("GET", path, "peekonly=true", "peekonly=true&numofmessages="));
  EXPECT_EQ(peek.status, 200) << peek.body;
  EXPECT_EQ(h.fake.calls, (std::vector<std::string>{"get 1 30", "peek 1"}));
}

// A queue service SAS for q01 (fields as in the query, unencoded), signed now.
std::string queue_sas(std::string fields) {
  auto parsed = parse_query(fields);
  SasToken t = *sas_token([&] {
    auto pairs = std::get<std::vector<QueryPair>>(parsed);
    pairs.push_back({"sig", "x", true});
    return pairs;
  }());
  std::string key;
  base64_decode(kDevAccountKey, key);
  std::string sig = hmac_sha256_base64(key, queue_sas_string_to_sign("devstoreaccount1", "q01", t));
  std::string enc;
  for (char c : sig) enc += c == '+' ? "%2B" : c == '/' ? "%2F" : c == '=' ? "%3D" : std::string(1, c);
  return fields + "&sig=" + enc;
}

api::HttpRequestData sas_request(std::string method, std::string path, std::string query) {
  api::HttpRequestData r;
  r.method = method;
  r.path = path;
  r.target = path + "?" + query;
  r.host = "127.0.0.1:10001";
  r.headers = {{"x-ms-version", "2025-05-05"}};
  r.remote_address = "127.0.0.1";
  return r;
}

TEST(QueueService, SasIsCheckedAgainstTheConnectionAndItsFieldsNeverRun) {
  Harness h;
  h.fake.record = true;
  const std::string se = iso8601_ms(now_ms() + 3600 * 1000).substr(0, 19) + "Z";
  std::string sas = queue_sas("sv=2025-05-05&sp=rp&se=" + se + "&sip=127.0.0.1&spr=https");
  auto req = sas_request("GET", "/devstoreaccount1/q01/messages", "numofmessages=2&" + sas);
  // Over plain HTTP, whatever the headers say.
  req.headers.emplace_back("X-Forwarded-Proto", "https");
  auto r = h.run(req);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(header(r, "x-ms-error-code"), "AuthorizationProtocolMismatch");
  req.secure = true;
  EXPECT_EQ(h.run(req).status, 200);
  req.remote_address = "10.0.0.1";
  EXPECT_EQ(header(h.run(req), "x-ms-error-code"), "AuthorizationSourceIPMismatch");
  EXPECT_EQ(h.fake.calls, (std::vector<std::string>{"get 2 30"}));
  // Wrong key: the string to sign in the detail, nothing run.
  auto bad = sas_request("GET", "/devstoreaccount1/q01/messages", sas.substr(0, sas.size() - 4) + "AAAA");
  bad.secure = true;
  auto b = h.run(bad);
  EXPECT_EQ(b.status, 403);
  EXPECT_NE(b.body.find("<AuthenticationErrorDetail>Signature did not match"), std::string::npos) << b.body;
}

TEST(QueueService, AStoredPolicyLookupThatFailsIsAGenericErrorNotAnAuthDecision) {
  Harness h;  // get_queue_acl fails as a broken store does
  auto r = h.run(sas_request("GET", "/devstoreaccount1/q01/messages",
                             queue_sas("sv=2025-05-05&si=readers")));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(header(r, "x-ms-error-code"), "InternalError");
  EXPECT_EQ(r.body.find(kSecretPath), std::string::npos) << r.body;
  // An unsigned SAS never reaches the store.
  auto u = h.run(sas_request("GET", "/devstoreaccount1/q01/messages", "sv=2025-05-05&si=readers&sig=AAAA"));
  EXPECT_EQ(u.status, 403);
}

TEST(QueueService, BearerTokensOnlyOverTls) {
  Harness h;
  h.fake.record = true;
  auto part = [](std::string json) {
    std::string b = base64_encode(json);
    for (char& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!b.empty() && b.back() == '=') b.pop_back();
    return b;
  };
  std::string exp = std::to_string(now_ms() / 1000 + 3600);
  std::string token = part(R"({"alg":"none"})") + "." +
                      part(R"({"iss":"https://sts.windows.net/t/","aud":"https://storage.azure.com","exp":)" + exp + "}") + ".";
  api::HttpRequestData req;
  req.method = "GET";
  req.path = "/devstoreaccount1/q01/messages";
  req.target = req.path + "?peekonly=true";
  req.host = "127.0.0.1:10001";
  req.headers = {{"Authorization", "Bearer " + token}};
  auto plain = h.run(req);
  EXPECT_EQ(plain.status, 403);
  EXPECT_NE(plain.body.find("not allowed with HTTP"), std::string::npos) << plain.body;
  req.secure = true;
  EXPECT_EQ(h.run(req).status, 200);
  req.headers = {{"Authorization", "Bearer x.y.z"}};
  auto bad = h.run(req);
  EXPECT_EQ(bad.status, 401);
  EXPECT_NE(header(bad, "WWW-Authenticate").find("resource_id=https://storage.azure.com"), std::string::npos);
  EXPECT_EQ(h.fake.calls, (std::vector<std::string>{"peek 1"}));
}

}  // namespace
}  // namespace nimbus::queue
