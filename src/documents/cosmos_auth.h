#pragma once
// Cosmos DB master-key authorization (the NoSQL REST API's "type=master&ver=1.0&sig=..."):
// how a request path names the resource it signs, the string the client signed, the
// signature, and the verdict on one request. Pure functions, no I/O, no Asio.
//
// The algorithm (the JS SDK's `utils/headers.ts` and `hmac.ts`; reference cosmos.md §2):
//   text = lower(verb) \n lower(resourceType) \n resourceLink \n lower(x-ms-date) \n "" \n
//   sig  = base64(HMAC-SHA256(base64decode(masterKey), text))
//   Authorization = encodeURIComponent("type=master&ver=1.0&sig=" + sig)
// The resource link is case-sensitive and percent-DEcoded (the SDK signs the plain link and
// sends encodeURI(link)). A path with an even number of segments names a resource (type = the
// second-to-last segment, link = the whole path); an odd number names a feed (type = the last
// segment, link = its parent). `GET /` signs type "" and link "".
//
// Thread-safety: everything here is a pure function or immutable after construction.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"  // rfc1123

namespace nimbus::documents {

// The Cosmos emulator's well-known master key (published in the emulator documentation, so
// it authenticates nobody).
inline constexpr std::string_view kEmulatorKey =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

// Allowed distance between x-ms-date and the server clock (the service's 15 minutes).
inline constexpr int64_t kMaxClockSkewMs = 15 * 60 * 1000;

// Percent-decodes `text` (%XX only; '+' stays '+'). False on a malformed escape.
bool cosmos_percent_decode(std::string_view text, std::string& out);

// The resource a request path addresses, as the signature names it.
struct ResourceAddress {
  std::string type;                   // "", "dbs", "colls", "docs", "pkranges", ...
  std::string link;                   // "dbs/d/colls/c" (decoded, no leading slash)
  std::vector<std::string> segments;  // the decoded path segments
};
// From the raw (percent-encoded) request path. False with `error` on a malformed escape or an
// empty segment ("//").
bool resource_of_path(std::string_view raw_path, ResourceAddress& out, std::string& error);

// The string a client signs.
std::string string_to_sign(std::string_view verb, std::string_view resource_type,
                           std::string_view resource_link, std::string_view date);

// base64(HMAC-SHA256(key_bytes, text)).
std::string master_signature(std::string_view key_bytes, std::string_view text);

// The Authorization header value the SDK sends (URL-encoded), for tests and tools.
std::string master_authorization(std::string_view key_base64, std::string_view verb,
                                 std::string_view resource_type, std::string_view resource_link,
                                 std::string_view date);

// Parses an RFC 1123 date ("Tue, 01 Sep 2026 10:00:00 GMT") to epoch milliseconds.
std::optional<int64_t> parse_rfc1123(std::string_view text);
// Dates are formatted by nimbus::rfc1123 (common/ids.h).

struct AuthVerdict {
  enum Code { ok, unauthorized, forbidden } code = ok;
  int status = 200;          // 401 / 403 when not ok
  std::string error_code;    // "Unauthorized" / "Forbidden"
  std::string message;       // for the client: what was wrong and how to fix it
  // ok with a resource token: the permission it names. The caller still checks that the
  // permission exists and grants this request; 0 for the master key.
  int64_t permission = 0;
};

// The master keys an endpoint accepts (decoded bytes).
class MasterKeys {
 public:
  // Base64 keys; false with `error` naming the bad one.
  static std::optional<MasterKeys> parse(const std::vector<std::string>& base64_keys,
                                         std::string& error);
  static MasterKeys emulator();
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  std::vector<std::string> keys_;
};

// Resource tokens (a permission's `_token`; the SDK's `resourceTokens` and `permissionFeed`):
//   "type=resource&ver=1.0&sig=<permission>.<expiry>.<mac>"
//   mac = base64url(HMAC-SHA256(the first master key, "nimbus-resource\n<permission>\n<expiry>"))
// The service's tokens are opaque to clients, and so are ours; this form carries the
// permission's number and its expiry (epoch seconds), so a request is checked with one MAC and
// one lookup of what the permission grants now. Any master key verifies it, so a token dies
// with the key that made it (as on the service, where regenerating a key invalidates them).
std::string resource_token(const MasterKeys& keys, int64_t permission, int64_t expires_s);

// How long a token lives unless the client asks (x-ms-documentdb-expiry-seconds, the SDK's
// resourceTokenExpirySeconds): the service's documented default of one hour, at most five.
inline constexpr int64_t kResourceTokenDefaultSeconds = 3600;
inline constexpr int64_t kResourceTokenMaxSeconds = 5 * 3600;

// Verifies one request: `authorization` and `date` are the header values as sent (the date
// from x-ms-date, else Date), `raw_path` the percent-encoded path. A master-key token must
// sign this request within 15 minutes of now; a resource token must carry our MAC and not be
// expired (it signs no request: what it may do is the caller's check, see `permission`).
AuthVerdict verify_request(const MasterKeys& keys, std::string_view method,
                           std::string_view raw_path, std::string_view authorization,
                           std::string_view date, int64_t now_ms);
// The same, for a path the caller already parsed with resource_of_path.
AuthVerdict verify_request(const MasterKeys& keys, std::string_view method,
                           const ResourceAddress& addr, std::string_view authorization,
                           std::string_view date, int64_t now_ms);

}  // namespace nimbus::documents
