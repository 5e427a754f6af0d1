#include "documents/cosmos_auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "common/hmac.h"
#include "common/ids.h"

namespace nimbus::documents {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Appends `s` lower-cased (ASCII): no temporary string per part of the signed text.
void append_lower(std::string& out, std::string_view s) {
  for (char c : s) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// encodeURIComponent: unreserved A-Z a-z 0-9 - _ . ! ~ * ' ( ) stay.
std::string encode_uri_component(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '!' || c == '~' ||
        c == '*' || c == '\'' || c == '(' || c == ')') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Printable form of the signed text for a message: newlines shown as \n.
std::string shown(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

AuthVerdict deny(int status, std::string message) {
  AuthVerdict v;
  v.code = status == 403 ? AuthVerdict::forbidden : AuthVerdict::unauthorized;
  v.status = status;
  v.error_code = status == 403 ? "Forbidden" : "Unauthorized";
  v.message = std::move(message);
  return v;
}

}  // namespace

bool cosmos_percent_decode(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// Runs twice per request (admission, then the handler) on the I/O thread: segments without
// escapes are copied as they are, and the vector and link are sized once.
bool resource_of_path(std::string_view raw_path, ResourceAddress& out, std::string& error) {
  out.type.clear();
  out.link.clear();
  out.segments.clear();
  // Leading and trailing slashes are not part of the link ("/dbs/d/" is "dbs/d").
  while (!raw_path.empty() && raw_path.front() == '/') raw_path.remove_prefix(1);
  // The API takes no query parameters, and the SDK sends an item id's '?' as it is (its own
  // id-encoding tests read "Disallowed?Chars" back, signed with the '?'). So a '?' inside a
  // resource's name (an odd segment: dbs/{name}/colls/{name}/docs/{name}) is part of the
  // name; one anywhere else ("/dbs?x", "/?probe") starts a query string, which is ignored.
  if (size_t q = raw_path.find('?'); q != std::string_view::npos) {
    size_t slashes = std::count(raw_path.begin(), raw_path.begin() + q, '/');
    bool in_name = slashes % 2 == 1 && raw_path[q - 1] != '/';
    if (!in_name) raw_path = raw_path.substr(0, q);
  }
  while (!raw_path.empty() && raw_path.back() == '/') raw_path.remove_suffix(1);
  if (raw_path.empty()) return true;  // the account: type "", link ""
  out.segments.reserve(8);  // /dbs/{db}/colls/{coll}/docs/{id} and a little more
  size_t start = 0;
  while (start <= raw_path.size()) {
    size_t slash = raw_path.find('/', start);
    std::string_view seg = raw_path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty()) {
      error = "the path /" + std::string(raw_path) +
              " has an empty segment (\"//\"); name every resource, e.g. /dbs/{db}/colls/{coll}";
      return false;
    }
    if (seg.find('%') == std::string_view::npos) {
      out.segments.emplace_back(seg);  // nothing to decode (and so no '/')
    } else {
      std::string decoded;
      if (!cosmos_percent_decode(seg, decoded)) {
        error = "the path segment \"" + std::string(seg) +
                "\" has a malformed percent escape; encode '%' as %25";
        return false;
      }
      // An encoded '/' would make the decoded link name other segments than the path did (and
      // no resource id may contain '/').
      if (decoded.find('/') != std::string::npos) {
        error = "the path segment \"" + std::string(seg) +
                "\" decodes to a value containing '/', which no database, container or item "
                "id may contain; rename the resource";
        return false;
      }
      out.segments.push_back(std::move(decoded));
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  const auto& s = out.segments;
  size_t n = s.size();
  size_t link_segments = n % 2 == 0 ? n : n - 1;
  out.type = n % 2 == 0 ? s[n - 2] : s[n - 1];
  // The partition-key delete (/dbs/{db}/colls/{c}/operations/partitionkeydelete) is signed as
  // the container itself (the SDK's deleteAllItemsForPartitionKey does so). Only that one:
  // another operation added later must choose its signing on purpose.
  if (n == 6 && s[0] == "dbs" && s[2] == "colls" && s[4] == "operations" && s[5] == "partitionkeydelete") {
    link_segments = 4;
    out.type = "colls";
  }
  out.link.reserve(raw_path.size());
  for (size_t i = 0; i < link_segments; ++i) {
    if (i) out.link += '/';
    out.link += s[i];
  }
  // Offers are addressed by their _rid: the SDK signs one with the offer's id alone, lower-
  // cased ("abc" for /offers/AbC; reference §2), and the list with an empty link.
  if (n == 2 && iequals(s[0], "offers")) out.link = lower(s[1]);
  else if (iequals(out.type, "offers")) out.link = lower(out.link);
  return true;
}

std::string string_to_sign(std::string_view verb, std::string_view resource_type,
                           std::string_view resource_link, std::string_view date) {
  std::string text;
  text.reserve(verb.size() + resource_type.size() + resource_link.size() + date.size() + 5);
  append_lower(text, verb);
  text += '\n';
  append_lower(text, resource_type);
  text += '\n';
  text += resource_link;
  text += '\n';
  append_lower(text, date);
  text += '\n';
  text += '\n';
  return text;
}

std::string master_signature(std::string_view key_bytes, std::string_view text) {
  unsigned char mac[32];
  hmac_sha256(key_bytes, text, mac);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

namespace {

std::string resource_mac(const MasterKeys& keys, size_t key, std::string_view permission,
                         std::string_view expiry) {
  std::string text = "nimbus-resource\n";
  text.append(permission).append("\n").append(expiry);
  unsigned char mac[32];
  hmac_sha256(keys.keys()[key], text, mac);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

// A decimal number of at most 18 digits (no sign): the token's two numbers.
std::optional<int64_t> token_number(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

constexpr const char* kNewToken = " Read the permission again (GET .../users/{user}/permissions/{id}) for a new _token.";

AuthVerdict verify_resource(const MasterKeys& keys, std::string_view ver, std::string_view sig,
                            int64_t now_ms) {
  if (ver != "1.0")
    return deny(401, "The resource token version \"" + std::string(ver) + "\" is not supported; use ver=1.0.");
  size_t dot1 = sig.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : sig.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos)
    return deny(401, std::string("The resource token is malformed: it is not a permission's _token of this endpoint.") + kNewToken);
  std::string_view pid = sig.substr(0, dot1), exp = sig.substr(dot1 + 1, dot2 - dot1 - 1), mac = sig.substr(dot2 + 1);
  auto permission = token_number(pid);
  auto expires = token_number(exp);
  if (!permission || !expires || *permission == 0)
    return deny(401, std::string("The resource token is malformed: it is not a permission's _token of this endpoint.") + kNewToken);
  bool match = false;
  for (size_t k = 0; k < keys.keys().size(); ++k) {
    std::string expected = resource_mac(keys, k, pid, exp);
    if (expected.size() == mac.size() && CRYPTO_memcmp(expected.data(), mac.data(), mac.size()) == 0) match = true;
  }
  if (!match)
    return deny(401, std::string("The resource token's signature does not verify: it was not issued by this "
                                 "endpoint, was changed, or its master key was replaced.") + kNewToken);
  if (*expires * 1000 <= now_ms)
    return deny(401, "The resource token expired at " + rfc1123(*expires * 1000) + " (server time " +
                         rfc1123(now_ms) + ")." + kNewToken);
  AuthVerdict v;
  v.permission = *permission;
  return v;
}

}  // namespace

std::string resource_token(const MasterKeys& keys, int64_t permission, int64_t expires_s) {
  std::string pid = std::to_string(permission), exp = std::to_string(expires_s);
  return "type=resource&ver=1.0&sig=" + pid + "." + exp + "." + resource_mac(keys, 0, pid, exp);
}

std::string master_authorization(std::string_view key_base64, std::string_view verb,
                                 std::string_view resource_type, std::string_view resource_link,
                                 std::string_view date) {
  std::string key;
  base64_decode(key_base64, key);
  std::string sig = master_signature(key, string_to_sign(verb, resource_type, resource_link, date));
  return encode_uri_component("type=master&ver=1.0&sig=" + sig);
}

std::optional<int64_t> parse_rfc1123(std::string_view text) {
  // "Tue, 01 Sep 2026 10:00:00 GMT"; the weekday is not checked. Parsed by hand: sscanf cost
  // 3 % of the server's CPU per point read.
  static const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  size_t comma = text.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(comma + 1);
  size_t i = 0;
  auto spaces = [&] {
    size_t from = i;
    while (i < rest.size() && rest[i] == ' ') ++i;
    return i > from;
  };
  auto number = [&](size_t max_digits, int& out) {
    size_t from = i;
    out = 0;
    while (i < rest.size() && i - from < max_digits && rest[i] >= '0' && rest[i] <= '9')
      out = out * 10 + (rest[i++] - '0');
    return i > from;
  };
  auto word = [&](size_t max_chars) {
    size_t from = i;
    while (i < rest.size() && i - from < max_chars && rest[i] != ' ') ++i;
    return rest.substr(from, i - from);
  };
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  spaces();
  if (!number(2, day) || !spaces()) return std::nullopt;
  std::string_view mon = word(3);
  if (!spaces() || !number(4, year) || !spaces() || !number(2, hh)) return std::nullopt;
  if (i >= rest.size() || rest[i++] != ':' || !number(2, mm)) return std::nullopt;
  if (i >= rest.size() || rest[i++] != ':' || !number(2, ss) || !spaces()) return std::nullopt;
  std::string_view zone = word(7);
  if (i != rest.size()) return std::nullopt;
  if (!iequals(zone, "GMT") && !iequals(zone, "UTC")) return std::nullopt;
  int m = -1;
  for (int k = 0; k < 12; ++k)
    if (iequals(mon, months[k])) m = k + 1;
  if (m < 0 || day < 1 || day > 31 || year < 1970 || year > 9999 || hh > 23 || mm > 59 || ss > 60)
    return std::nullopt;
  int64_t days = days_from_civil(year, static_cast<unsigned>(m), static_cast<unsigned>(day));
  return ((days * 24 + hh) * 60 + mm) * 60000LL + ss * 1000LL;
}

std::optional<MasterKeys> MasterKeys::parse(const std::vector<std::string>& base64_keys,
                                            std::string& error) {
  MasterKeys k;
  for (const auto& b : base64_keys) {
    std::string bytes;
    if (b.empty() || !base64_decode(b, bytes) || bytes.empty()) {
      error = "the key \"" + b.substr(0, 8) + "...\" is not base64; give the account key as " +
              "the portal or emulator shows it (base64)";
      return std::nullopt;
    }
    k.keys_.push_back(std::move(bytes));
  }
  if (k.keys_.empty()) {
    error = "no keys given; give at least one base64 master key";
    return std::nullopt;
  }
  return k;
}

MasterKeys MasterKeys::emulator() {
  MasterKeys k;
  std::string bytes;
  base64_decode(kEmulatorKey, bytes);
  k.keys_.push_back(std::move(bytes));
  return k;
}

AuthVerdict verify_request(const MasterKeys& keys, std::string_view method,
                          std::string_view raw_path, std::string_view authorization,
                          std::string_view date, int64_t now_ms) {
  ResourceAddress addr;
  std::string error;
  if (!resource_of_path(raw_path, addr, error)) return deny(401, "Cannot sign this request: " + error);
  return verify_request(keys, method, addr, authorization, date, now_ms);
}

AuthVerdict verify_request(const MasterKeys& keys, std::string_view method,
                          const ResourceAddress& addr, std::string_view authorization,
                          std::string_view date, int64_t now_ms) {
  if (authorization.empty())
    return deny(401, "Required Header authorization is missing. Ensure a valid Authorization "
                     "token is passed (type=master&ver=1.0&sig=...).");
  std::string token;
  if (!cosmos_percent_decode(authorization, token))
    return deny(401, "The authorization header has a malformed percent escape; send "
                     "encodeURIComponent(\"type=master&ver=1.0&sig=\" + signature).");
  // type=master&ver=1.0&sig=... (views into `token`: no string per part)
  std::string_view type, ver, sig;
  {
    std::string_view all = token;
    size_t start = 0;
    while (start <= all.size()) {
      size_t amp = all.find('&', start);
      std::string_view part = all.substr(start, amp == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : amp - start);
      size_t eq = part.find('=');
      if (eq != std::string_view::npos) {
        std::string_view name = part.substr(0, eq);
        std::string_view value = part.substr(eq + 1);
        if (iequals(name, "type")) type = value;
        else if (iequals(name, "ver")) ver = value;
        else if (iequals(name, "sig")) sig = value;
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  if (iequals(type, "resource")) return verify_resource(keys, ver, sig, now_ms);
  if (!iequals(type, "master"))
    return deny(401, "The authorization token type \"" + std::string(type) +
                         "\" is not supported here; this endpoint accepts master-key tokens "
                         "(type=master&ver=1.0&sig=...) and the resource tokens of its "
                         "permissions (type=resource). Connect with the account key or a "
                         "permission's _token.");
  if (ver != "1.0")
    return deny(401, "The authorization token version \"" + std::string(ver) +
                         "\" is not supported; use ver=1.0.");
  if (sig.empty())
    return deny(401, "The authorization token has no signature (sig=); sign the request with "
                     "the master key.");
  if (date.empty())
    return deny(401, "The input date header is missing. Send x-ms-date in RFC 1123 format, e.g. "
                     "\"" + rfc1123(now_ms) + "\".");
  auto when = parse_rfc1123(date);
  if (!when)
    return deny(401, "The input date header \"" + std::string(date) +
                         "\" is invalid format. Please pass in RFC 1123 style date format, e.g. "
                         "\"" + rfc1123(now_ms) + "\".");
  std::string text = string_to_sign(method, addr.type, addr.link, date);
  bool match = false;
  for (const auto& key : keys.keys()) {
    std::string expected = master_signature(key, text);
    if (expected.size() == sig.size() &&
        CRYPTO_memcmp(expected.data(), sig.data(), sig.size()) == 0)
      match = true;
  }
  if (!match)
    return deny(401, "The input authorization token can't serve the request. The wrong key is "
                     "being used or the expected payload is not built as per the protocol. "
                     "Server used the following payload to sign: '" + shown(text) +
                         "'. Check the account key (the emulator's well-known key unless the "
                         "server was given another).");
  int64_t skew = *when - now_ms;
  if (skew > kMaxClockSkewMs || skew < -kMaxClockSkewMs)
    return deny(403, "The authorization token is not valid at the current time. Please create "
                     "another token and retry (token time: " + std::string(date) +
                         "; current server time: " + rfc1123(now_ms) +
                         "). Check the client's clock: x-ms-date may differ from the server's "
                         "by at most 15 minutes.");
  return AuthVerdict{};
}

}  // namespace nimbus::documents
