#include "queue/shared_key.h"

#include <openssl/evp.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <vector>

#include "common/ascii.h"
#include "common/hmac.h"
#include "common/ids.h"

namespace nimbus::queue {

namespace {

// Calls `fn` with each "name=value" piece of a raw query string until it returns false.
template <class Fn>
void for_each_query_pair(std::string_view raw_query, Fn&& fn) {
  size_t start = 0;
  while (start < raw_query.size()) {
    size_t end = raw_query.find('&', start);
    if (end == std::string_view::npos) end = raw_query.size();
    std::string_view pair = raw_query.substr(start, end - start);
    start = end + 1;
    if (!fn(pair)) return;
  }
}

char lower_char(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_char(c);
  return out;
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::string canonical_headers(const api::Headers& headers, bool culture_order) {
  std::vector<std::pair<std::string, std::string_view>> xms;
  for (auto& [name, value] : headers) {
    if (name.size() < 5 || !ascii_iequals(std::string_view(name).substr(0, 5), "x-ms-")) continue;
    std::string n = lower(name);
    bool dup = false;
    for (auto& e : xms) dup = dup || e.first == n;
    if (!dup) xms.emplace_back(std::move(n), trim_left(value));
  }
  if (culture_order) {
    // Culture-aware comparison treats '-' as nearly ignorable: compare without hyphens first.
    auto key = [](const std::string& s) {
      std::string k;
      for (char c : s)
        if (c != '-') k.push_back(c);
      return k;
    };
    std::stable_sort(xms.begin(), xms.end(), [&](const auto& a, const auto& b) {
      auto ka = key(a.first), kb = key(b.first);
      return ka != kb ? ka < kb : a.first < b.first;
    });
  } else {
    std::sort(xms.begin(), xms.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  std::string out;
  for (auto& [n, v] : xms) {
    out += n;
    out += ':';
    out += v;
    out += '\n';
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool percent_decode(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int h = hex(text[i + 1]), l = hex(text[i + 2]);
    if (h < 0 || l < 0) return false;
    out.push_back(static_cast<char>(h * 16 + l));
    i += 2;
  }
  return true;
}

std::string_view find_header(const api::Headers& headers, std::string_view name) {
  for (auto& [n, v] : headers)
    if (ascii_iequals(n, name)) return v;
  return {};
}

AccountSet AccountSet::development() {
  AccountSet set;
  StorageAccount dev;
  dev.name = std::string(kDevAccountName);
  std::string key;
  base64_decode(kDevAccountKey, key);
  dev.keys.push_back(std::move(key));
  set.accounts_.push_back(std::move(dev));
  return set;
}

std::optional<AccountSet> AccountSet::parse(std::string_view spec, std::string& error) {
  AccountSet set;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(';', start);
    if (end == std::string_view::npos) end = spec.size();
    std::string_view entry = spec.substr(start, end - start);
    start = end + 1;
    if (entry.empty()) {
      if (end == spec.size()) break;
      continue;
    }
    StorageAccount acct;
    size_t colon = entry.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = "account entry \"" + std::string(entry) +
              "\" is not name:key; write accounts as name:base64key[:base64key2];name2:key";
      return std::nullopt;
    }
    acct.name = std::string(entry.substr(0, colon));
    std::string_view rest = entry.substr(colon + 1);
    while (!rest.empty()) {
      size_t c = rest.find(':');
      std::string_view k = rest.substr(0, c);
      std::string decoded;
      if (k.empty() || !base64_decode(k, decoded)) {
        error = "key of account \"" + acct.name +
                "\" is not valid base64; copy the key exactly (it usually ends with '=')";
        return std::nullopt;
      }
      acct.keys.push_back(std::move(decoded));
      if (c == std::string_view::npos) break;
      rest.remove_prefix(c + 1);
    }
    if (acct.keys.empty()) {
      error = "account \"" + acct.name + "\" has no key; write it as name:base64key";
      return std::nullopt;
    }
    set.accounts_.push_back(std::move(acct));
    if (end == spec.size()) break;
  }
  if (set.accounts_.empty()) {
    error = "no accounts given; write accounts as name:base64key[;name2:key2]";
    return std::nullopt;
  }
  return set;
}

const StorageAccount* AccountSet::find(std::string_view name) const {
  for (auto& a : accounts_)
    if (a.name == name) return &a;
  return nullptr;
}

std::string shared_key_string_to_sign(std::string_view method, const api::Headers& headers,
                                      std::string_view account, std::string_view raw_path,
                                      std::string_view raw_query, CanonicalOptions opt) {
  auto h = [&](std::string_view name) { return find_header(headers, name); };
  std::string_view length = h("Content-Length");
  if (length == "0") length = {};
  std::string out;
  out.reserve(256);
  out += method;
  out += '\n';
  if (opt.language_before_encoding) {
    out.append(h("Content-Language")).append("\n");
    out.append(h("Content-Encoding")).append("\n");
  } else {
    out.append(h("Content-Encoding")).append("\n");
    out.append(h("Content-Language")).append("\n");
  }
  out.append(length).append("\n");
  for (auto name : {"Content-MD5", "Content-Type", "Date", "If-Modified-Since", "If-Match",
                    "If-None-Match", "If-Unmodified-Since", "Range"})
    out.append(h(name)).append("\n");
  out += canonical_headers(headers, opt.culture_header_order);
  out += '/';
  out += account;
  out += raw_path.empty() ? std::string_view("/") : raw_path;
  // Query: name lower-cased, sorted; values decoded; repeated names joined with ','.
  std::map<std::string, std::vector<std::string>> params;
  for_each_query_pair(raw_query, [&](std::string_view pair) {
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) return true;
    if (pair.find('=', eq + 1) != std::string_view::npos) return true;
    std::string_view value = pair.substr(eq + 1);
    if (value.empty() && !opt.keep_empty_values) return true;
    std::string decoded;
    if (!percent_decode(value, decoded)) decoded = std::string(value);
    auto& vals = params[lower(pair.substr(0, eq))];
    if (opt.repeated_last_wins) vals.clear();
    vals.push_back(std::move(decoded));
    return true;
  });
  for (auto& [name, vals] : params) {
    std::sort(vals.begin(), vals.end());
    out += '\n';
    out += name;
    out += ':';
    for (size_t i = 0; i < vals.size(); ++i) {
      if (i) out += ',';
      out += vals[i];
    }
  }
  return out;
}

std::string shared_key_lite_string_to_sign(std::string_view method, const api::Headers& headers,
                                           std::string_view account, std::string_view raw_path,
                                           std::string_view raw_query) {
  std::string out;
  out += method;
  out += '\n';
  out.append(find_header(headers, "Content-MD5")).append("\n");
  out.append(find_header(headers, "Content-Type")).append("\n");
  out.append(find_header(headers, "Date")).append("\n");
  out += canonical_headers(headers, false);
  out += '/';
  out += account;
  out += raw_path.empty() ? std::string_view("/") : raw_path;
  // Only comp= is part of the Lite canonical resource.
  for_each_query_pair(raw_query, [&](std::string_view pair) {
    if (pair.size() > 5 && ascii_iequals(pair.substr(0, 5), "comp=")) {
      std::string decoded;
      if (!percent_decode(pair.substr(5), decoded)) decoded = std::string(pair.substr(5));
      out += "?comp=";
      out += decoded;
      return false;
    }
    return true;
  });
  return out;
}

std::string hmac_sha256_base64(std::string_view key, std::string_view text) {
  unsigned char mac[32];
  hmac_sha256(key, text, mac);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

namespace {
bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

namespace {

int two_digits(std::string_view s, size_t at) {
  if (at + 2 > s.size() || s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9')
    return -1;
  return (s[at] - '0') * 10 + (s[at + 1] - '0');
}

std::string describe_skew(int64_t diff_ms) {
  int64_t s = (diff_ms < 0 ? -diff_ms : diff_ms) / 1000;
  std::string amount;
  if (s >= 86400) amount = std::to_string(s / 86400) + " days";
  else if (s >= 3600) amount = std::to_string(s / 3600) + " hours";
  else amount = std::to_string(s / 60) + " minutes";
  return amount + (diff_ms < 0 ? " behind" : " ahead of");
}

}  // namespace

std::optional<int64_t> parse_rfc1123(std::string_view t) {
  // "Www, DD Mmm YYYY HH:MM:SS GMT" exactly: 29 characters.
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (t.size() != 29 || t.substr(3, 2) != ", " || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' ||
      t[19] != ':' || t[22] != ':' || t.substr(25) != " GMT")
    return std::nullopt;
  if (std::find(std::begin(kDays), std::end(kDays), t.substr(0, 3)) == std::end(kDays))
    return std::nullopt;
  auto month = std::find(std::begin(kMonths), std::end(kMonths), t.substr(8, 3));
  if (month == std::end(kMonths)) return std::nullopt;
  int day = two_digits(t, 5), c = two_digits(t, 12), y = two_digits(t, 14);
  int hh = two_digits(t, 17), mm = two_digits(t, 20), ss = two_digits(t, 23);
  if (day < 1 || day > 31 || c < 0 || y < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 ||
      ss > 60)
    return std::nullopt;
  int64_t days = days_from_civil(c * 100 + y, static_cast<unsigned>(month - std::begin(kMonths)) + 1,
                                 static_cast<unsigned>(day));
  return ((days * 24 + hh) * 60 + mm) * 60000 + int64_t{ss} * 1000;
}

std::variant<std::vector<QueryPair>, QueryError> parse_query(std::string_view raw_query) {
  std::vector<QueryPair> out;
  std::optional<QueryError> error;
  for_each_query_pair(raw_query, [&](std::string_view pair) {
    if (pair.empty()) return true;  // "a=1&&b=2"
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    QueryPair p;
    p.has_equals = eq != std::string_view::npos;
    if (raw_name.find('%') != std::string_view::npos) {
      error = QueryError{std::string(raw_name),
                         "query parameter name \"" + std::string(raw_name) +
                             "\" is percent-encoded; send parameter names as plain text"};
      return false;
    }
    p.name = lower(raw_name);
    if (p.has_equals) {
      std::string_view raw_value = pair.substr(eq + 1);
      if (raw_value.find('=') != std::string_view::npos) {
        error = QueryError{std::string(raw_name),
                           "query parameter \"" + std::string(raw_name) +
                               "\" has a second '=' in its value; percent-encode '=' in values "
                               "as %3D"};
        return false;
      }
      if (!percent_decode(raw_value, p.value)) {
        error = QueryError{std::string(raw_name), "query parameter \"" + std::string(raw_name) +
                                                      "\" has malformed percent-encoding in its "
                                                      "value; encode '%' as %25"};
        return false;
      }
    }
    if (!p.name.empty()) {
      for (auto& seen : out) {
        if (seen.name == p.name) {
          error = QueryError{std::string(raw_name),
                             "query parameter \"" + std::string(raw_name) +
                                 "\" is given more than once; send each parameter once"};
          return false;
        }
      }
    }
    out.push_back(std::move(p));
    return true;
  });
  if (error) return *error;
  return out;
}

bool query_pair_signed(const QueryPair& p, bool empty_values_signed) {
  return p.has_equals && !p.name.empty() && (!p.value.empty() || empty_values_signed);
}

AuthDecision verify_shared_key(const AccountSet& accounts, std::string_view account,
                               const api::HttpRequestData& req) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return verify_shared_key(accounts, account, req, now);
}

AuthDecision verify_shared_key(const AccountSet& accounts, std::string_view account,
                               const api::HttpRequestData& req, int64_t now_ms) {
  std::string_view auth = find_header(req.headers, "Authorization");
  if (auth.empty())
    return {AuthDecision::no_credentials,
            "This request is not authorized to perform this operation: it carries no "
            "Authorization header nor a shared access signature. Sign it with SharedKey (the "
            "account key) as the Azure SDKs do, add a SAS to the query (?sv=...&sig=...), or "
            "send a bearer token over https."};
  bool lite = false;
  std::string_view rest;
  if (auth.substr(0, 10) == "SharedKey ") {
    rest = auth.substr(10);
  } else if (auth.substr(0, 14) == "SharedKeyLite ") {
    rest = auth.substr(14);
    lite = true;
  } else {
    return {AuthDecision::bad_header,
            "Server failed to authenticate the request. The Authorization header must be "
            "\"SharedKey <account>:<signature>\" or \"SharedKeyLite <account>:<signature>\"."};
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos)
    return {AuthDecision::bad_header,
            "Server failed to authenticate the request. The Authorization header lacks "
            "\"<account>:<signature>\"."};
  std::string_view header_account = rest.substr(0, colon);
  std::string_view signature = rest.substr(colon + 1);
  while (!header_account.empty() && header_account.front() == ' ') header_account.remove_prefix(1);
  if (header_account != account)
    return {AuthDecision::account_mismatch,
            "Server failed to authenticate the request. The Authorization header names account \"" +
                std::string(header_account) + "\" but the URL addresses account \"" +
                std::string(account) + "\"."};
  const StorageAccount* acct = accounts.find(account);
  if (!acct)
    return {AuthDecision::unknown_account,
            "The account \"" + std::string(account) +
                "\" is not configured on this queue service; use devstoreaccount1 or add the "
                "account to the service's accounts setting."};
  // The request's time: x-ms-date wins over Date, as in Azure (clients that cannot set Date
  // send x-ms-date). Checked before the signature so a replayed capture learns nothing more.
  std::string_view date_header = "x-ms-date";
  std::string_view date = find_header(req.headers, "x-ms-date");
  if (date.empty()) {
    date_header = "Date";
    date = find_header(req.headers, "Date");
  }
  if (date.empty())
    return {AuthDecision::bad_header,
            "Server failed to authenticate the request. The request has neither x-ms-date nor "
            "Date; a signed request must carry its time."};
  auto sent = parse_rfc1123(date);
  if (!sent)
    return {AuthDecision::bad_date,
            "Server failed to authenticate the request. " + std::string(date_header) + " \"" +
                std::string(date) +
                "\" is not an RFC 1123 date; send the current UTC time as "
                "\"Sun, 06 Nov 1994 08:49:37 GMT\" (the Azure SDKs do)."};
  if (*sent - now_ms > kMaxClockSkewMs || now_ms - *sent > kMaxClockSkewMs)
    return {AuthDecision::bad_date,
            "Server failed to authenticate the request. " + std::string(date_header) + " \"" +
                std::string(date) + "\" is more than 15 minutes from the server time (" +
                describe_skew(*sent - now_ms) +
                " it); sign each request when it is sent and keep the client clock in sync "
                "(NTP)."};
  std::string_view target = req.target;
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  std::string_view raw_query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  std::vector<std::string> candidates;
  if (lite) {
    candidates.push_back(
        shared_key_lite_string_to_sign(req.method, req.headers, account, raw_path, raw_query));
  } else {
    candidates.push_back(
        shared_key_string_to_sign(req.method, req.headers, account, raw_path, raw_query));
  }
  auto matches = [&](const std::string& sts) {
    for (auto& key : acct->keys)
      if (constant_time_equal(hmac_sha256_base64(key, sts), signature)) return true;
    return false;
  };
  if (matches(candidates[0])) {
    // SharedKeyLite signs only comp=; Azure runs its other parameters unsigned by design.
    AuthDecision d;
    d.empty_values_signed = lite;
    return d;
  }
  if (!lite) {
    // Variants real clients produce; each differs from the first only for unusual requests.
    for (int variant = 1; variant < 16; ++variant) {
      CanonicalOptions o{(variant & 1) != 0, (variant & 2) != 0, (variant & 4) != 0,
                         (variant & 8) != 0};
      std::string sts =
          shared_key_string_to_sign(req.method, req.headers, account, raw_path, raw_query, o);
      if (sts == candidates[0]) continue;
      if (matches(sts)) {
        AuthDecision d;
        d.empty_values_signed = o.keep_empty_values;
        return d;
      }
    }
  }
  return {AuthDecision::bad_signature,
          "Server failed to authenticate the request. Make sure the value of Authorization "
          "header is formed correctly including the signature. The signature does not match "
          "the key of account \"" +
              std::string(account) +
              "\"; check the account key in the connection string. The string signed was: " +
              candidates[0]};
}

}  // namespace nimbus::queue
