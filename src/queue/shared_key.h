#pragma once
// SharedKey and SharedKeyLite request signatures of Azure Storage, verified for the queue
// service. Why: unmodified Azure SDK clients sign every request with the account key; we must
// accept exactly what they sign and refuse everything else, so a client with a wrong key learns
// it at once instead of silently writing to a store it does not own.
// Plain functions and an immutable account table; thread-safe.
#include <optional>
#include <string>
#include <string_view>
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
  bool repeated_last_wins = false;  // the JS SDK keeps the last value of a repeated parameter
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
  enum Code { ok, no_credentials, bad_header, unknown_account, account_mismatch, bad_signature };
  Code code = ok;
  std::string message;  // for the client: what failed and how to fix it
};

// Verifies the Authorization header of `req` for `account` (taken from the URL).
AuthDecision verify_shared_key(const AccountSet& accounts, std::string_view account,
                               const api::HttpRequestData& req);

// Percent-decodes `text` (no '+' handling, as decodeURIComponent). False when malformed.
bool percent_decode(std::string_view text, std::string& out);

}  // namespace nimbus::queue
