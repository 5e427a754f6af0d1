#pragma once
// SharedKey and SharedKeyLite request signatures of Azure Storage, verified for the queue
// service. Why: unmodified Azure SDK clients sign every request with the account key; we must
// accept exactly what they sign and refuse everything else, so a client with a wrong key learns
// it at once instead of silently writing to a store it does not own.
// Plain functions and an immutable account table; thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/invocation.h"

namespace nimbus::queue {

// The development account every Azure tool knows (Azurite's default, `UseDevelopmentStorage`).
inline constexpr std::string_view kDevAccountName = "devstoreaccount1";
inline constexpr std::string_view kDevAccountKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

struct StorageAccount {
  std::string name;
  std::vector<std::string> keys;  // decoded key bytes; key1 first, then key2
};

// Accounts the service accepts. Immutable after construction.
class AccountSet {
 public:
  // Just devstoreaccount1 with its well-known key.
  static AccountSet development();
  // "name:base64key[:base64key2][;name2:key...]" (Azurite's AZURITE_ACCOUNTS format). Returns
  // nullopt with `error` naming the bad entry and the fix.
  static std::optional<AccountSet> parse(std::string_view spec, std::string& error);
  const StorageAccount* find(std::string_view name) const;
  const std::vector<StorageAccount>& accounts() const { return accounts_; }
  void add(StorageAccount account) { accounts_.push_back(std::move(account)); }

 private:
  std::vector<StorageAccount> accounts_;
};

// Case-insensitive header lookup; empty when absent.
std::string_view find_header(const api::Headers& headers, std::string_view name);

// The canonical string a SharedKey client signs (Authorize with Shared Key, versions
// >= 2015-02-21). `raw_path` is the path exactly as sent (percent-encoded); `raw_query` the
// part after '?', without it. For path-style URLs the path already starts with /<account>, so
// the resource names the account twice, as clients compute it.
struct CanonicalOptions {
  // The JS SDK keeps the last value of a repeated parameter. The verifier no longer needs it
  // (parse_query refuses repeated names first); kept for signing clients and the fuzz target.
  bool repeated_last_wins = false;
  bool keep_empty_values = false;   // older clients keep "name=" pairs
  bool culture_header_order = false;  // sort x-ms-* names ignoring '-' first, like the JS SDK
  bool language_before_encoding = false;  // the JS SDK swaps these two (both usually empty)
};
std::string shared_key_string_to_sign(std::string_view method, const api::Headers& headers,
                                      std::string_view account, std::string_view raw_path,
                                      std::string_view raw_query, CanonicalOptions options = {});
std::string shared_key_lite_string_to_sign(std::string_view method, const api::Headers& headers,
                                           std::string_view account, std::string_view raw_path,
                                           std::string_view raw_query);

// base64(HMAC-SHA256(key, text)).
std::string hmac_sha256_base64(std::string_view key, std::string_view text);

struct AuthDecision {
  enum Code {
    ok,
    no_credentials,
    bad_header,
    unknown_account,
    account_mismatch,
    bad_signature,
    bad_date,  // x-ms-date / Date unparsable or more than kMaxClockSkew from the server clock
  };
  Code code = ok;
  std::string message;  // for the client: what failed and how to fix it
  // Whether the matching signature covered "name=" pairs (some clients sign them, the JS SDK
  // drops them). The service executes exactly the pairs the signature covered.
  bool empty_values_signed = false;
};

// Azure refuses a signed request whose x-ms-date (else Date) is further than this from the
// server clock, so a captured request cannot be replayed later.
inline constexpr int64_t kMaxClockSkewMs = 15 * 60 * 1000;

// Verifies the Authorization header of `req` for `account` (taken from the URL) at server time
// `now_ms` (Unix ms). The query must already have passed parse_query (no repeated names, no
// second '=' in a value, no percent-encoded names), so the canonical resource covers exactly
// the parameters the service executes.
AuthDecision verify_shared_key(const AccountSet& accounts, std::string_view account,
                               const api::HttpRequestData& req, int64_t now_ms);
// The same at the system clock.
AuthDecision verify_shared_key(const AccountSet& accounts, std::string_view account,
                               const api::HttpRequestData& req);

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 1123, what every SDK sends) as Unix ms; nullopt for
// anything else.
std::optional<int64_t> parse_rfc1123(std::string_view text);

// One "name=value" pair of a request's query string.
struct QueryPair {
  std::string name;   // lower-cased (SharedKey signs names lower-cased)
  std::string value;  // percent-decoded
  bool has_equals = false;  // false for a bare "name"
};
struct QueryError {
  std::string name;     // the parameter at fault (as sent)
  std::string message;  // what is wrong and how to fix it
};
// Splits a raw query string the one way both the verifier and the service read it. Refuses,
// so that no parameter can run without being signed: a name given twice (compared
// case-insensitively: the server would run one value, the signature cover another), a value
// containing a second '=' (SDKs leave such pairs out of the signature), a percent-encoded name
// (signed raw, run decoded) and malformed percent-encoding.
std::variant<std::vector<QueryPair>, QueryError> parse_query(std::string_view raw_query);
// Whether SharedKey canonicalization covers `p` (names with an empty value only when the
// signer kept empty values). The service runs exactly these pairs.
bool query_pair_signed(const QueryPair& p, bool empty_values_signed);

// Percent-decodes `text` (no '+' handling, as decodeURIComponent). False when malformed.
bool percent_decode(std::string_view text, std::string& out);

}  // namespace nimbus::queue
