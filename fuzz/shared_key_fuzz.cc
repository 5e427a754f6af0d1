// Fuzzes the SharedKey canonicalizer and verifier of the queue service on a request built from
// the input, plus the other request-line parsers of that service (parse_route, the account
// list). Input, one field per line (a trailing '\r' is kept, as a client could send it):
//   line 1: method      line 2: request target (path?query, percent-encoded)
//   line 3: Host header line 4: account named in the URL
//   lines 5..: headers "Name: value" (a line without ':' is a header with an empty value)
// Properties checked beyond "no crash, no sanitizer report":
//   - a request signed with the account key (SharedKey and SharedKeyLite) verifies;
//   - the same request with one signature character changed does not;
//   - ... and verifies only within the clock skew window of its date;
//   - every canonical string starts with the method and a newline;
//   - parse_query never returns a name twice; an RFC 1123 date formats and parses back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/invocation.h"
#include "queue/queue_protocol.h"
#include "queue/shared_key.h"

namespace {

using namespace nimbus;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "shared_key_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

const queue::AccountSet& accounts() {
  static const queue::AccountSet set = [] {
    auto s = queue::AccountSet::development();
    std::string error;
    // A second account with two keys, the second one verifying.
    auto extra = queue::AccountSet::parse("acct2:a2V5MQ==:a2V5Mg==", error);
    if (!extra) broken("fixed account spec parses");
    for (auto& a : extra->accounts()) s.add(a);
    return s;
  }();
  return set;
}

void sign_and_verify(api::HttpRequestData req, std::string_view account, bool lite) {
  const queue::StorageAccount* acct = accounts().find(account);
  if (!acct) return;
  std::string_view target = req.target;
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  std::string_view raw_query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  std::string sts =
      lite ? queue::shared_key_lite_string_to_sign(req.method, req.headers, account, raw_path,
                                                   raw_query)
           : queue::shared_key_string_to_sign(req.method, req.headers, account, raw_path,
                                              raw_query);
  // Sign with the last key, so key rotation (key2 verifying) is covered.
  std::string sig = queue::hmac_sha256_base64(acct->keys.back(), sts);
  // The signer's Authorization header is the one the verifier reads: drop any from the input.
  std::erase_if(req.headers, [](const auto& h) {
    std::string n = h.first;
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return n == "authorization";
  });
  std::string prefix = lite ? "SharedKeyLite " : "SharedKey ";
  req.headers.emplace_back("Authorization", prefix + std::string(account) + ":" + sig);
  // The verifier reads x-ms-date, else Date; verify at that very time (no clock skew).
  std::string_view date = queue::find_header(req.headers, "x-ms-date");
  if (date.empty()) date = queue::find_header(req.headers, "Date");
  auto sent = queue::parse_rfc1123(date);
  auto ok = queue::verify_shared_key(accounts(), account, req, sent.value_or(0));
  if (date.empty()) {
    CHECK(ok.code == queue::AuthDecision::bad_header);
    return;
  }
  if (!sent) {
    CHECK(ok.code == queue::AuthDecision::bad_date);
    return;
  }
  CHECK(ok.code == queue::AuthDecision::ok);
  // Out of the clock skew window, the same request is refused.
  auto late = queue::verify_shared_key(accounts(), account, req, *sent + queue::kMaxClockSkewMs + 1);
  CHECK(late.code == queue::AuthDecision::bad_date);
  // One changed signature character must be refused.
  std::string bad = sig;
  bad[0] = bad[0] == 'A' ? 'B' : 'A';
  req.headers.back().second = prefix + std::string(account) + ":" + bad;
  auto refused = queue::verify_shared_key(accounts(), account, req, *sent);
  CHECK(refused.code == queue::AuthDecision::bad_signature);
  CHECK(!refused.message.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  while (!in.empty() && lines.size() < 40) {
    size_t nl = in.find('\n');
    lines.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  auto line = [&](size_t i) { return i < lines.size() ? lines[i] : std::string_view(); };

  api::HttpRequestData req;
  req.method = std::string(line(0));
  req.target = std::string(line(1));
  req.host = std::string(line(2));
  std::string account(line(3));
  for (size_t i = 4; i < lines.size(); ++i) {
    std::string_view h = lines[i];
    size_t colon = h.find(':');
    std::string_view name = h.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers.emplace_back(std::string(name), std::string(value));
  }
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);

  // The request line parsers the service runs before authentication.
  std::string error;
  auto route = queue::parse_route(req.path, req.host, error);
  if (!route) CHECK(!error.empty());
  else if (!route->queue.empty()) (void)queue::check_queue_name(route->queue);
  std::string decoded;
  (void)queue::percent_decode(req.target, decoded);
  std::string_view raw_q = q == std::string::npos ? std::string_view()
                                                   : std::string_view(req.target).substr(q + 1);
  auto pairs = queue::parse_query(raw_q);
  if (auto* ps = std::get_if<std::vector<queue::QueryPair>>(&pairs)) {
    for (size_t i = 0; i < ps->size(); ++i) {
      (void)queue::query_pair_signed((*ps)[i], i % 2 == 0);
      for (size_t j = 0; j < i; ++j)  // no name twice (empty names aside)
        CHECK((*ps)[i].name.empty() || (*ps)[i].name != (*ps)[j].name);
    }
  } else {
    CHECK(!std::get<queue::QueryError>(pairs).message.empty());
  }
  (void)queue::check_content_md5(req.headers, req.host);
  // Dates: what parses, formatted again, parses to the same instant.
  for (const auto& [name, value] : req.headers) {
    if (auto t = queue::parse_rfc1123(value)) {
      auto again = queue::parse_rfc1123(nimbus::rfc1123(*t));
      CHECK(again && *again == *t);
    }
  }

  // Every canonicalization variant the verifier tries.
  std::string_view raw_path = std::string_view(req.target).substr(0, q);
  std::string_view raw_query =
      q == std::string::npos ? std::string_view() : std::string_view(req.target).substr(q + 1);
  for (int v = 0; v < 16; ++v) {
    queue::CanonicalOptions o{(v & 1) != 0, (v & 2) != 0, (v & 4) != 0, (v & 8) != 0};
    std::string sts =
        queue::shared_key_string_to_sign(req.method, req.headers, account, raw_path, raw_query, o);
    CHECK(sts.compare(0, req.method.size() + 1, req.method + "\n") == 0);
  }
  std::string lite =
      queue::shared_key_lite_string_to_sign(req.method, req.headers, account, raw_path, raw_query);
  CHECK(lite.compare(0, req.method.size() + 1, req.method + "\n") == 0);

  // The request as sent (its own Authorization header, if any), for every configured account
  // and for the account the input names.
  auto decision = queue::verify_shared_key(accounts(), account, req);
  if (decision.code != queue::AuthDecision::ok) CHECK(!decision.message.empty());
  if (std::getenv("NIMBUS_FUZZ_VERBOSE")) {  // for checking seeds: what the request gets
    std::string_view date = queue::find_header(req.headers, "x-ms-date");
    if (date.empty()) date = queue::find_header(req.headers, "Date");
    auto at = queue::verify_shared_key(accounts(), account, req,
                                       queue::parse_rfc1123(date).value_or(0));
    std::fprintf(stderr, "shared_key_fuzz: as sent: %d (at its own date: %d) %s\n",
                 static_cast<int>(decision.code), static_cast<int>(at.code), at.message.c_str());
  }
  (void)queue::verify_shared_key(accounts(), "devstoreaccount1", req, 1700000000000);

  // Correctly signed, it verifies; tampered, it does not.
  for (std::string_view a : {std::string_view(account), std::string_view("devstoreaccount1"),
                             std::string_view("acct2")}) {
    sign_and_verify(req, a, false);
    sign_and_verify(req, a, true);
  }

  // The account list as configured (AZURITE_ACCOUNTS form), from the Host line.
  if (auto set = queue::AccountSet::parse(req.host, error)) {
    CHECK(!set->accounts().empty());
    for (const auto& a : set->accounts()) CHECK(!a.keys.empty());
  } else {
    CHECK(!error.empty());
  }
  return 0;
}
