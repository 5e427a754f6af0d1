// Fuzzes the Cosmos DB master-key auth of the document service (src/documents/cosmos_auth):
// the path → (resource type, link) rules, percent-decoding, RFC 1123 dates and the verifier.
// Input, one field per line: line 1 method, line 2 raw request path (percent-encoded),
// line 3 Authorization header, line 4 x-ms-date.
// Properties checked beyond "no crash, no sanitizer report":
//   - a parsed path gives a link without a leading or trailing '/', and a type that is the last
//     or second-to-last decoded segment (empty only for the account path);
//   - the verdict on the raw input is ok, or 401/403 with a code and a message;
//   - the same request signed with the emulator key (as the SDK signs it) verifies at its own
//     date, is refused with one signature character changed, and is refused (403) 15 min +
//     1 s later;
//   - a date that parses formats and parses back to the same second;
//   - a resource token made here verifies, naming its permission, and not after it expires.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "documents/cosmos_auth.h"

namespace {

using namespace nimbus::documents;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "cosmos_auth_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

std::vector<std::string> lines(std::string_view in, size_t n) {
  std::vector<std::string> out;
  while (out.size() + 1 < n) {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    out.emplace_back(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  out.emplace_back(in);
  out.resize(n);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  auto f = lines(std::string_view(reinterpret_cast<const char*>(data), size), 4);
  const std::string &method = f[0], &path = f[1], &auth = f[2], &date = f[3];
  static const MasterKeys keys = MasterKeys::emulator();

  ResourceAddress addr;
  std::string error;
  bool parsed = resource_of_path(path, addr, error);
  if (!parsed) {
    CHECK(!error.empty());
  } else {
    CHECK(addr.link.empty() || (addr.link.front() != '/' && addr.link.back() != '/'));
    if (addr.segments.empty()) {
      CHECK(addr.type.empty() && addr.link.empty());
    } else {
      size_t n = addr.segments.size();
      CHECK(addr.type == addr.segments[n - 1] || (n >= 2 && addr.type == addr.segments[n - 2]));
    }
  }

  int64_t now = 1'800'000'000'000LL;
  AuthVerdict v = verify_request(keys, method, path, auth, date, now);
  if (v.code != AuthVerdict::ok) {
    CHECK(v.status == 401 || v.status == 403);
    CHECK(!v.error_code.empty() && !v.message.empty());
  }

  // Whatever the input, a verdict that admits a resource token names a permission, and only
  // a token this endpoint made can (the fuzzer cannot forge the MAC).
  if (v.code == AuthVerdict::ok && v.permission != 0) CHECK(auth.find("resource") != std::string::npos);
  // A token made for a permission numbered from the input verifies, naming it, until it expires.
  int64_t pid = 1 + static_cast<int64_t>(size % 1000003);
  std::string token = resource_token(keys, pid, now / 1000 + 60);
  AuthVerdict rt = verify_request(keys, method, path, token, "", now);
  if (parsed) {
    CHECK(rt.code == AuthVerdict::ok && rt.permission == pid);
    CHECK(verify_request(keys, method, path, token, "", now + 61'000).status == 401);
  }

  auto when = parse_rfc1123(date);
  if (when) {
    auto again = parse_rfc1123(nimbus::rfc1123(*when));
    CHECK(again.has_value());
    CHECK(*again / 1000 == *when / 1000);
  }

  if (parsed && when) {
    std::string header = master_authorization(kEmulatorKey, method, addr.type, addr.link, date);
    AuthVerdict good = verify_request(keys, method, path, header, date, *when);
    CHECK(good.code == AuthVerdict::ok);
    AuthVerdict late = verify_request(keys, method, path, header, date, *when + kMaxClockSkewMs + 1000);
    CHECK(late.status == 403);
    // Change one character of the signature (after "sig%3D").
    size_t at = header.find("sig%3D");
    CHECK(at != std::string::npos);
    std::string tampered = header;
    size_t pos = at + 6;
    CHECK(pos < tampered.size());
    tampered[pos] = tampered[pos] == 'A' ? 'B' : 'A';
    CHECK(verify_request(keys, method, path, tampered, date, *when).status == 401);
  }
  return 0;
}
