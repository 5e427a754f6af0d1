// Fuzzes the queue service's shared access signature and bearer token checks (queue/sas,
// queue/bearer) on untrusted request parts. Input, one field per line:
//   line 1: the query string (percent-encoded, as after '?')
//   line 2: the queue name of the URL (empty: an account-level request)
//   line 3: the client's IP address    line 4: an Authorization header value ("Bearer ...")
// Properties checked beyond "no crash, no sanitizer report":
//   - a SAS re-signed with the account key is never refused for its signature, and the same
//     SAS with one signature character changed always is (when its fields are well formed);
//   - every refusal (SAS or bearer) has a status (401/403), a code and a message; a 401 carries
//     a WWW-Authenticate challenge without control characters;
//   - a SAS parsed from the query carries exactly the query's decoded field values.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "queue/bearer.h"
#include "queue/sas.h"

namespace {

using namespace nimbus;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "queue_sas_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

const queue::AccountSet& accounts() {
  static const queue::AccountSet set = queue::AccountSet::development();
  return set;
}

bool signature_refusal(const queue::SasDecision& d) {
  for (const auto& [k, v] : d.error.details)
    if (k == "AuthenticationErrorDetail" && v.starts_with("Signature did not match")) return true;
  return false;
}

void check_refusal(const queue::ServiceError& e) {
  CHECK(e.status == 401 || e.status == 403);
  CHECK(!e.code.empty());
  CHECK(!e.message.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  while (!in.empty() && lines.size() < 4) {
    size_t nl = in.find('\n');
    lines.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  auto line = [&](size_t i) { return i < lines.size() ? lines[i] : std::string_view(); };
  std::string queue_name(line(1)), ip(line(2));

  auto parsed = queue::parse_query(line(0));
  if (auto* pairs = std::get_if<std::vector<queue::QueryPair>>(&parsed)) {
    std::map<std::string, std::string> query;
    for (const auto& p : *pairs)
      if (!queue::is_sas_field(p.name)) query.emplace(p.name, p.value);
    if (auto t = queue::sas_token(*pairs)) {
      for (const auto& p : *pairs) {
        if (p.name == "sp") CHECK(t->sp == p.value);
        if (p.name == "se") CHECK(t->se == p.value);
        if (p.name == "sig") CHECK(t->sig == p.value);
      }
      for (auto kind : {queue::Route::Kind::service, queue::Route::Kind::queue,
                        queue::Route::Kind::messages, queue::Route::Kind::message}) {
        for (std::string_view method : {"GET", "PUT", "POST", "DELETE", "HEAD"}) {
          queue::SasRequest r{"devstoreaccount1",
                              kind == queue::Route::Kind::service ? std::string_view() : queue_name,
                              queue::classify_operation(method, kind, query), method == "GET", ip,
                              1780000000000};
          auto as_sent = queue::verify_sas_signature(accounts(), *t, r);
          if (!as_sent.ok) check_refusal(as_sent.error);
          // Re-signed with the key: never a signature refusal.
          queue::SasToken good = *t;
          std::string sts = good.account()
                                ? queue::account_sas_string_to_sign(r.account, good)
                                : queue::queue_sas_string_to_sign(r.account, r.queue, good);
          good.sig = queue::hmac_sha256_base64(accounts().accounts()[0].keys[0], sts);
          auto signed_ok = queue::verify_sas_signature(accounts(), good, r);
          CHECK(!signature_refusal(signed_ok));
          if (signed_ok.ok) {
            queue::SasToken bad = good;
            bad.sig[0] = bad.sig[0] == 'A' ? 'B' : 'A';
            auto refused = queue::verify_sas_signature(accounts(), bad, r);
            CHECK(!refused.ok && signature_refusal(refused));
            // The grant: with and without a stored policy of the same fields.
            api::SignedIdentifier policy{good.si, good.st, good.se, good.sp};
            const api::SignedIdentifier* policies[] = {nullptr, &policy};
            for (const api::SignedIdentifier* p : policies) {
              auto d = queue::authorize_sas(good, p, r);
              if (!d.ok) check_refusal(d.error);
            }
          } else {
            check_refusal(signed_ok.error);
          }
        }
      }
    }
  }

  // Bearer tokens: the header as sent, over https and http.
  std::string authz(line(3));
  if (authz.size() >= 7) {
    for (bool https : {true, false}) {
      auto d = queue::verify_bearer(authz, queue_name.empty() ? "devstoreaccount1" : queue_name,
                                    https, 1780000000000);
      if (!https) CHECK(!d.ok && d.error.status == 403);
      if (!d.ok) {
        check_refusal(d.error);
        if (d.error.status == 401) {
          CHECK(!d.www_authenticate.empty());
          for (char c : d.www_authenticate) CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F);
        }
      }
    }
    std::string error;
    if (!queue::decode_jwt(std::string_view(authz).substr(7), error)) CHECK(!error.empty());
  }
  return 0;
}
