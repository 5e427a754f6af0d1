#include "queue/sas.h"

#include <openssl/crypto.h>

#include "common/ids.h"

namespace nimbus::queue {

namespace {

constexpr std::string_view kAuthFailed =
    "Server failed to authenticate the request. Make sure the value of Authorization header is "
    "formed correctly including the signature.";

SasDecision auth_failed(std::string detail) {
  SasDecision d;
  d.ok = false;
  d.error = ServiceError{403, "AuthenticationFailed", std::string(kAuthFailed), {}};
  d.error.details.emplace_back("AuthenticationErrorDetail", std::move(detail));
  return d;
}

SasDecision denied(std::string code, std::string message) {
  SasDecision d;
  d.ok = false;
  d.error = ServiceError{403, std::move(code), std::move(message), {}};
  return d;
}

bool contains(std::string_view letters, char c) { return letters.find(c) != std::string_view::npos; }

// sv is a date; versions compare as text.
bool version_like(std::string_view v) {
  if (v.size() != 10 || v[4] != '-' || v[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (v[i] < '0' || v[i] > '9') return false;
  return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Letters of the canonical sets, each at most once; `what` names the field for the refusal.
std::optional<std::string> check_letters(std::string_view field, std::string_view value,
                                         std::string_view allowed, std::string_view meaning) {
  for (size_t i = 0; i < value.size(); ++i) {
    if (!contains(allowed, value[i]))
      return std::string(field) + "=" + std::string(value) + " has '" + value[i] +
             "', which is not one of " + std::string(allowed) + " (" + std::string(meaning) + ").";
    if (value.find(value[i], i + 1) != std::string_view::npos)
      return std::string(field) + "=" + std::string(value) + " names '" + value[i] + "' twice.";
  }
  return std::nullopt;
}

// "a.b.c.d" or "a.b.c.d-e.f.g.h", inclusive.
std::optional<std::pair<uint32_t, uint32_t>> parse_ip_range(std::string_view s) {
  size_t dash = s.find('-');
  auto lo = parse_ipv4(s.substr(0, dash));
  if (!lo) return std::nullopt;
  if (dash == std::string_view::npos) return std::pair{*lo, *lo};
  auto hi = parse_ipv4(s.substr(dash + 1));
  if (!hi || *hi < *lo) return std::nullopt;
  return std::pair{*lo, *hi};
}

struct Need {
  char service = 'q';
  char resource_type = 0;          // s, c or o (account SAS)
  std::string_view account_perms;  // any one of these letters (account SAS); empty: never
  std::string_view queue_perms;    // any one of these letters (service SAS); empty: never
};

// Azure's tables for account SAS ("Create an account SAS", queue operations) and queue service
// SAS ("Create a service SAS", permissions for a queue). Queue ACLs are never granted by a
// SAS: only the key may read or change the stored policies.
Need need_of(QueueOp op) {
  switch (op) {
    case QueueOp::list_queues: return {'q', 's', "l", ""};
    case QueueOp::get_service_properties: return {'q', 's', "r", ""};
    case QueueOp::set_service_properties: return {'q', 's', "w", ""};
    case QueueOp::get_service_stats: return {'q', 's', "r", ""};
    case QueueOp::create_queue: return {'q', 'c', "wc", ""};
    case QueueOp::delete_queue: return {'q', 'c', "d", ""};
    case QueueOp::get_queue_metadata: return {'q', 'c', "r", "r"};
    case QueueOp::set_queue_metadata: return {'q', 'c', "w", ""};
    case QueueOp::get_queue_acl: return {'q', 'c', "", ""};
    case QueueOp::set_queue_acl: return {'q', 'c', "", ""};
    case QueueOp::put_message: return {'q', 'o', "a", "a"};
    case QueueOp::get_messages: return {'q', 'o', "p", "p"};
    case QueueOp::peek_messages: return {'q', 'o', "r", "r"};
    case QueueOp::clear_messages: return {'q', 'o', "d", ""};
    case QueueOp::delete_message: return {'q', 'o', "p", "p"};
    case QueueOp::update_message: return {'q', 'o', "u", "u"};
    case QueueOp::other: return {'q', 0, "rwdlacup", "raup"};
  }
  return {};
}

std::string letters_text(std::string_view letters) {
  if (letters.empty()) return "no permission of a SAS (use the account key)";
  std::string out;
  for (size_t i = 0; i < letters.size(); ++i) {
    if (i) out += i + 1 == letters.size() ? " or " : ", ";
    out += '\'';
    out += letters[i];
    out += '\'';
  }
  return out;
}

}  // namespace

bool is_sas_field(std::string_view n) {
  static constexpr std::string_view kFields[] = {
      "sv", "ss", "srt", "sp", "st", "se", "sip", "spr", "si", "ses", "sig", "sr",
      "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "sduoid", "skdutid"};
  for (auto f : kFields)
    if (n == f) return true;
  return false;
}

std::optional<SasToken> sas_token(const std::vector<QueryPair>& query) {
  bool has_sig = false;
  SasToken t;
  for (const auto& p : query) {
    const std::string& n = p.name;
    if (n == "sig") has_sig = true, t.sig = p.value;
    else if (n == "sv") t.sv = p.value;
    else if (n == "ss") t.ss = p.value;
    else if (n == "srt") t.srt = p.value;
    else if (n == "sp") t.sp = p.value;
    else if (n == "st") t.st = p.value;
    else if (n == "se") t.se = p.value;
    else if (n == "sip") t.sip = p.value;
    else if (n == "spr") t.spr = p.value;
    else if (n == "si") t.si = p.value;
    else if (n == "ses") t.ses = p.value;
    else if (is_sas_field(n) && n != "sr" && t.unsupported_field.empty()) t.unsupported_field = n;
  }
  if (!has_sig) return std::nullopt;
  return t;
}

std::string account_sas_string_to_sign(std::string_view account, const SasToken& t) {
  std::string s;
  for (std::string_view part : {account, std::string_view(t.sp), std::string_view(t.ss),
                                std::string_view(t.srt), std::string_view(t.st),
                                std::string_view(t.se), std::string_view(t.sip),
                                std::string_view(t.spr), std::string_view(t.sv)}) {
    s += part;
    s += '\n';
  }
  if (t.sv >= "2020-12-06") {
    s += t.ses;
    s += '\n';
  }
  return s;
}

std::string queue_sas_string_to_sign(std::string_view account, std::string_view queue,
                                     const SasToken& t) {
  std::string resource = t.sv >= "2015-02-21" ? "/queue/" : "/";
  resource += account;
  resource += '/';
  resource += queue;
  std::string s = t.sp + "\n" + t.st + "\n" + t.se + "\n" + resource + "\n" + t.si + "\n";
  if (t.sv >= "2015-04-05") s += t.sip + "\n" + t.spr + "\n";
  s += t.sv;
  return s;
}

QueueOp classify_operation(std::string_view method, Route::Kind kind,
                           const std::map<std::string, std::string>& query) {
  auto q = [&](const char* name) -> std::string_view {
    auto it = query.find(name);
    return it == query.end() ? std::string_view() : std::string_view(it->second);
  };
  std::string_view comp = q("comp"), restype = q("restype");
  bool read = method == "GET" || method == "HEAD";
  switch (kind) {
    case Route::Kind::service:
      if (method == "GET" && comp == "list") return QueueOp::list_queues;
      if (restype == "service" && comp == "properties") {
        if (method == "GET") return QueueOp::get_service_properties;
        if (method == "PUT") return QueueOp::set_service_properties;
      }
      if (method == "GET" && restype == "service" && comp == "stats")
        return QueueOp::get_service_stats;
      return QueueOp::other;
    case Route::Kind::queue:
      if (comp.empty() && method == "PUT") return QueueOp::create_queue;
      if (comp.empty() && method == "DELETE") return QueueOp::delete_queue;
      if (comp == "metadata" && read) return QueueOp::get_queue_metadata;
      if (comp == "metadata" && method == "PUT") return QueueOp::set_queue_metadata;
      if (comp == "acl" && read) return QueueOp::get_queue_acl;
      if (comp == "acl" && method == "PUT") return QueueOp::set_queue_acl;
      return QueueOp::other;
    case Route::Kind::messages: {
      if (method == "POST") return QueueOp::put_message;
      if (method == "GET") {
        std::string_view peek = q("peekonly");
        return peek == "true" || peek == "True" || peek == "TRUE" ? QueueOp::peek_messages
                                                                  : QueueOp::get_messages;
      }
      if (method == "DELETE") return QueueOp::clear_messages;
      return QueueOp::other;
    }
    case Route::Kind::message:
      if (method == "DELETE") return QueueOp::delete_message;
      if (method == "PUT") return QueueOp::update_message;
      return QueueOp::other;
  }
  return QueueOp::other;
}

std::string_view op_name(QueueOp op) {
  switch (op) {
    case QueueOp::list_queues: return "List Queues";
    case QueueOp::get_service_properties: return "Get Queue Service Properties";
    case QueueOp::set_service_properties: return "Set Queue Service Properties";
    case QueueOp::get_service_stats: return "Get Queue Service Stats";
    case QueueOp::create_queue: return "Create Queue";
    case QueueOp::delete_queue: return "Delete Queue";
    case QueueOp::get_queue_metadata: return "Get Queue Metadata";
    case QueueOp::set_queue_metadata: return "Set Queue Metadata";
    case QueueOp::get_queue_acl: return "Get Queue ACL";
    case QueueOp::set_queue_acl: return "Set Queue ACL";
    case QueueOp::put_message: return "Put Message";
    case QueueOp::get_messages: return "Get Messages";
    case QueueOp::peek_messages: return "Peek Messages";
    case QueueOp::clear_messages: return "Clear Messages";
    case QueueOp::delete_message: return "Delete Message";
    case QueueOp::update_message: return "Update Message";
    case QueueOp::other: return "this request";
  }
  return "this request";
}

std::optional<uint32_t> parse_ipv4(std::string_view s) {
  uint32_t out = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return std::nullopt;
    uint32_t v = 0;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (s[i++] - '0');
    if (v > 255 || (i < s.size() && s[i] >= '0' && s[i] <= '9')) return std::nullopt;
    out = out << 8 | v;
    if (++parts < 4) {
      if (i >= s.size() || s[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != s.size()) return std::nullopt;
  return out;
}

std::optional<int64_t> parse_sas_time(std::string_view text) {
  // Azure's forms: a date, or a UTC time with or without seconds (the SDKs truncate to
  // seconds), optionally with fractional seconds.
  if (text.size() == 10) return parse_iso8601_ms(std::string(text) + "T00:00:00Z");
  if (text.size() == 17 && text[16] == 'Z' && text[13] == ':')
    return parse_iso8601_ms(std::string(text.substr(0, 16)) + ":00Z");
  if (text.empty() || (text.back() != 'Z' && text.back() != 'z')) return std::nullopt;
  return parse_iso8601_ms(text);
}

SasDecision verify_sas_signature(const AccountSet& accounts, const SasToken& t,
                                 const SasRequest& r) {
  if (!t.unsupported_field.empty())
    return auth_failed("The SAS carries " + t.unsupported_field +
                       "=: user delegation SAS is not supported by this service; use an account "
                       "SAS or a service SAS signed with the account key.");
  if (t.sv.empty())
    return auth_failed("sv is mandatory. Cannot be empty. Add sv=<the signed version, e.g. "
                       "2025-05-05>; the SDKs' SAS generators always do.");
  if (!version_like(t.sv))
    return auth_failed("sv=" + t.sv + " is not a service version (YYYY-MM-DD).");
  if (t.account()) {
    if (t.sv < "2015-04-05")
      return auth_failed("sv=" + t.sv + ": account SAS exists from version 2015-04-05; sign "
                         "with a later version.");
    if (t.ss.empty() || t.srt.empty() || t.sp.empty() || t.se.empty())
      return auth_failed(std::string("An account SAS needs ss, srt, sp and se; this one has no ") +
                         (t.ss.empty() ? "ss" : t.srt.empty() ? "srt" : t.sp.empty() ? "sp" : "se") +
                         ".");
    if (auto e = check_letters("ss", t.ss, "bqtf", "blob, queue, table, file")) return auth_failed(*e);
    if (auto e = check_letters("srt", t.srt, "sco", "service, container, object")) return auth_failed(*e);
    if (auto e = check_letters("sp", t.sp, "rwdxyltfmeopacui",
                               "the account SAS permissions; for queues r, w, d, l, a, c, u, p"))
      return auth_failed(*e);
  } else {
    if (r.queue.empty())
      return auth_failed("A service SAS (no ss/srt) grants access to one queue; " +
                         std::string(op_name(r.op)) +
                         " is an account-level operation and needs an account SAS.");
    if (t.sv < "2012-02-12")
      return auth_failed("sv=" + t.sv + " is older than the first queue SAS version, 2012-02-12.");
    if (t.si.empty() && (t.sp.empty() || t.se.empty()))
      return auth_failed(std::string("A service SAS without a stored access policy (si) needs sp "
                                     "and se; this one has no ") +
                         (t.sp.empty() ? "sp" : "se") + ".");
    if (auto e = check_letters("sp", t.sp, "raup", "read, add, update, process: the queue SAS permissions"))
      return auth_failed(*e);
  }
  if (!t.st.empty() && !parse_sas_time(t.st))
    return auth_failed("st=" + t.st + " is not a UTC time (YYYY-MM-DD, YYYY-MM-DDThh:mmZ or "
                       "YYYY-MM-DDThh:mm:ssZ).");
  if (!t.se.empty() && !parse_sas_time(t.se))
    return auth_failed("se=" + t.se + " is not a UTC time (YYYY-MM-DD, YYYY-MM-DDThh:mmZ or "
                       "YYYY-MM-DDThh:mm:ssZ).");
  if (!t.sip.empty() && !parse_ip_range(t.sip))
    return auth_failed("sip=" + t.sip + " is not an IPv4 address or range (a.b.c.d or "
                       "a.b.c.d-e.f.g.h, low to high).");
  if (!t.spr.empty() && t.spr != "https" && t.spr != "https,http")
    return auth_failed("spr=" + t.spr + ": the signed protocol is https or https,http.");

  const StorageAccount* acct = accounts.find(r.account);
  if (!acct)
    return auth_failed("The account " + std::string(r.account) + " does not exist here.");
  std::string sts = t.account() ? account_sas_string_to_sign(r.account, t)
                                 : queue_sas_string_to_sign(r.account, r.queue, t);
  for (const auto& key : acct->keys)
    if (constant_time_equal(hmac_sha256_base64(key, sts), t.sig)) return {};
  std::string shown;
  for (char c : sts) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
  return auth_failed("Signature did not match. String to sign used was " + shown +
                     " (sign it with HMAC-SHA256 and the account key, base64, as sig).");
}

SasDecision authorize_sas(const SasToken& t, const api::SignedIdentifier* policy,
                          const SasRequest& r) {
  std::string sp = t.sp, st = t.st, se = t.se;
  if (!t.account() && !t.si.empty()) {
    if (!policy)
      return auth_failed("si=" + t.si + " names no stored access policy of queue " +
                         std::string(r.queue) + "; set it with Set Queue ACL, or sign sp and se "
                         "without si.");
    // A field in both places is refused (Azure: "Access policy fields can be associated with
    // signed identifier or SAS but not both"), so a leaked SAS cannot widen a revocable policy.
    std::string both = !t.sp.empty() && !policy->permission.empty() ? "sp"
                       : !t.st.empty() && !policy->start.empty()    ? "st"
                       : !t.se.empty() && !policy->expiry.empty()   ? "se"
                                                                     : "";
    if (!both.empty())
      return auth_failed("Access policy fields can be associated with signed identifier or SAS "
                         "but not both: " + both + " is in the SAS and in the stored access "
                         "policy " + t.si + "; leave it out of one of them.");
    if (sp.empty()) sp = policy->permission;
    if (st.empty()) st = policy->start;
    if (se.empty()) se = policy->expiry;
    if (se.empty() || sp.empty())
      return auth_failed("The SAS and the stored access policy " + t.si +
                         " together give no " + std::string(se.empty() ? "expiry (se / Expiry)"
                                                                       : "permission (sp / Permission)") +
                         "; set it in one of them.");
  }
  // Stored policy times are ISO 8601 (validated by Set Queue ACL); SAS times SAS forms.
  auto time_of = [](const std::string& s) {
    auto v = parse_sas_time(s);
    return v ? v : parse_iso8601_ms(s);
  };
  std::optional<int64_t> expiry = time_of(se);
  std::optional<int64_t> start;
  if (!st.empty()) start = time_of(st);
  if (!expiry || (!st.empty() && !start))
    return auth_failed("The start or expiry time of the SAS is not a UTC time.");
  if (start && *expiry <= *start)
    return auth_failed("Signed expiry time [" + rfc1123(*expiry) +
                       "] must be after signed start time [" + rfc1123(*start) + "].");
  if ((start && r.now_ms < *start) || r.now_ms > *expiry)
    return auth_failed("Signature not valid in the specified time frame: Start [" +
                       (start ? rfc1123(*start) : std::string()) + "] - Expiry [" +
                       rfc1123(*expiry) + "] - Current [" + rfc1123(r.now_ms) + "]." +
                       (r.now_ms > *expiry ? " The SAS has expired; issue a new one."
                                            : " The SAS is not valid yet; wait for its start "
                                              "time or sign an earlier st."));
  if (!t.sip.empty()) {
    auto range = parse_ip_range(t.sip);
    auto ip = parse_ipv4(r.client_ip);
    if (!range || !ip || *ip < range->first || *ip > range->second)
      return denied("AuthorizationSourceIPMismatch",
                    "This request is not authorized to perform this operation using this source "
                    "IP " + std::string(r.client_ip) + ". The SAS allows sip=" + t.sip +
                        " only; sign a range that includes the client's address.");
  }
  if (t.spr == "https" && !r.https)
    return denied("AuthorizationProtocolMismatch",
                  "This request is not authorized to perform this operation using this protocol. "
                  "The SAS was signed with spr=https: send it over https://, or sign "
                  "spr=https,http.");
  Need need = need_of(r.op);
  if (t.account()) {
    if (!contains(t.ss, need.service))
      return denied("AuthorizationServiceMismatch",
                    "This request is not authorized to perform this operation using this service. "
                    "The account SAS has ss=" + t.ss + "; the queue service needs 'q'.");
    if (need.resource_type && !contains(t.srt, need.resource_type))
      return denied("AuthorizationResourceTypeMismatch",
                    "This request is not authorized to perform this operation using this resource "
                    "type. " + std::string(op_name(r.op)) + " needs srt with '" +
                        need.resource_type + "' (" +
                        (need.resource_type == 's' ? "service"
                         : need.resource_type == 'c' ? "container: the queue"
                                                     : "object: messages") +
                        "); the SAS has srt=" + t.srt + ".");
  }
  std::string_view allowed = t.account() ? need.account_perms : need.queue_perms;
  bool granted = false;
  for (char c : allowed) granted = granted || contains(sp, c);
  if (!granted)
    return denied("AuthorizationPermissionMismatch",
                  "This request is not authorized to perform this operation using this "
                  "permission. " + std::string(op_name(r.op)) + " with " +
                      (t.account() ? "an account" : "a queue service") + " SAS needs " +
                      letters_text(allowed) + "; the SAS grants sp=" + sp + ".");
  return {};
}

}  // namespace nimbus::queue
