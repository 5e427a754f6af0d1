#include "queue/queue_protocol.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>

#include <openssl/evp.h>

#include "common/ids.h"
#include "queue/queue_xml.h"
#include "queue/shared_key.h"

namespace nimbus::queue {

namespace {

constexpr std::string_view kXmlDecl = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

ServiceError make(int status, std::string code, std::string message) {
  return ServiceError{status, std::move(code), std::move(message), {}};
}

void element(std::string& out, std::string_view name, std::string_view text) {
  out += '<';
  out += name;
  out += '>';
  append_xml_escaped(out, text);
  out += "</";
  out += name;
  out += '>';
}

ServiceError invalid_xml(std::string detail) {
  return make(400, "InvalidXmlDocument", "XML specified is not syntactically valid. " + detail);
}

bool is_ipv4(std::string_view h) {
  int dots = 0, digits = 0;
  for (char c : h) {
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

}  // namespace

ServiceError error_from_store(const api::QueueError& e) {
  using api::QueueErrc;
  switch (e.code) {
    case QueueErrc::queue_not_found:
      return make(404, "QueueNotFound", "The specified queue does not exist. " + e.message);
    case QueueErrc::queue_already_exists:
      return make(409, "QueueAlreadyExists", "The specified queue already exists. " + e.message);
    case QueueErrc::message_not_found:
      return make(404, "MessageNotFound", "The specified message does not exist. " + e.message);
    case QueueErrc::pop_receipt_mismatch:
      return make(400, "PopReceiptMismatch",
                  "The specified pop receipt did not match the pop receipt for a dequeued "
                  "message. " + e.message);
    case QueueErrc::invalid_argument:
      return make(400, "OutOfRangeInput",
                  "One of the request inputs is out of range. " + e.message);
    case QueueErrc::message_too_large:
      return make(400, "MessageTooLarge", "The message exceeds the maximum allowed size. " + e.message);
    case QueueErrc::unavailable:
      return make(503, "ServerBusy", "The server is busy. " + e.message);
    case QueueErrc::storage_failure:
      return make(500, "InternalError", "The server encountered an internal error. " + e.message);
  }
  return make(500, "InternalError", e.message);
}

std::string error_xml(const ServiceError& e, std::string_view request_id, std::string_view time) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><Error>";
  element(out, "Code", e.code);
  std::string msg = e.message;
  msg += "\nRequestId:";
  msg += request_id;
  msg += "\nTime:";
  msg += time;
  element(out, "Message", msg);
  for (auto& [k, v] : e.details) element(out, k, v);
  out += "</Error>";
  return out;
}

std::optional<Route> parse_route(std::string_view raw_path, std::string_view host,
                                 std::string& error) {
  // Which URL style: the same test the Azure SDKs use to decide how they built the URL.
  std::string_view hostname = host;
  std::string_view port;
  if (!hostname.empty() && hostname.front() == '[') {
    auto end = hostname.find(']');
    if (end != std::string_view::npos) {
      if (end + 1 < hostname.size() && hostname[end + 1] == ':') port = hostname.substr(end + 2);
      hostname = hostname.substr(0, end + 1);
    }
  } else if (auto c = hostname.rfind(':'); c != std::string_view::npos) {
    port = hostname.substr(c + 1);
    hostname = hostname.substr(0, c);
  }
  int port_num = 0;
  std::from_chars(port.data(), port.data() + port.size(), port_num);
  bool ip_style = hostname.empty() || hostname.front() == '[' || is_ipv4(hostname) ||
                  hostname == "localhost" || hostname == "host.docker.internal" ||
                  (port_num >= 10000 && port_num <= 10004) ||
                  (port_num >= 10100 && port_num <= 10104) ||
                  (port_num >= 11000 && port_num <= 11004) ||
                  (port_num >= 11100 && port_num <= 11104) ||
                  hostname.find('.') == std::string_view::npos;

  std::vector<std::string> segs;
  std::string_view p = raw_path;
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty()) {
    auto slash = p.find('/');
    std::string_view seg = p.substr(0, slash);
    std::string decoded;
    if (!percent_decode(seg, decoded)) {
      error = "path segment \"" + std::string(seg) + "\" has bad percent-encoding";
      return std::nullopt;
    }
    segs.push_back(std::move(decoded));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  while (!segs.empty() && segs.back().empty()) segs.pop_back();  // trailing '/'

  Route r;
  size_t i = 0;
  if (ip_style) {
    if (segs.empty()) {
      error = "the path names no account; use /<account>/<queue>, e.g. /devstoreaccount1/myqueue";
      return std::nullopt;
    }
    r.account = segs[i++];
  } else {
    r.account = std::string(hostname.substr(0, hostname.find('.')));
  }
  size_t left = segs.size() - i;
  if (left == 0) {
    r.kind = Route::Kind::service;
  } else {
    r.queue = segs[i];
    if (left == 1) {
      r.kind = Route::Kind::queue;
    } else if (segs[i + 1] != "messages" || left > 3) {
      error = "the path has segments after the queue name other than /messages[/<id>]";
      return std::nullopt;
    } else if (left == 2) {
      r.kind = Route::Kind::messages;
    } else {
      r.kind = Route::Kind::message;
      r.message_id = segs[i + 2];
    }
  }
  return r;
}

std::optional<ServiceError> check_queue_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) {
    auto e = make(400, "OutOfRangeInput",
                  "The specified resource name length is not within the permissible limits. "
                  "Queue name \"" + std::string(name) + "\" has " + std::to_string(name.size()) +
                      " characters; use 3 to 63.");
    return e;
  }
  if (!api::is_valid_queue_name(name))
    return make(400, "InvalidResourceName",
                "The specifed resource name contains invalid characters. Queue name \"" +
                    std::string(name) +
                    "\" must use only lower-case letters, digits and single hyphens, and start "
                    "and end with a letter or digit.");
  return std::nullopt;
}

std::variant<int64_t, ServiceError> int_param(const std::map<std::string, std::string>& query,
                                              std::string_view name, int64_t min, int64_t max,
                                              std::optional<int64_t> fallback) {
  auto it = query.find(std::string(name));
  if (it == query.end()) {
    if (fallback) return *fallback;
    ServiceError e = make(400, "MissingRequiredQueryParameter",
                          "A query parameter that's mandatory for this request is not specified. "
                          "Add " + std::string(name) + "=<value> to the URL.");
    e.details.emplace_back("QueryParameterName", std::string(name));
    return e;
  }
  const std::string& v = it->second;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
    ServiceError e = make(400, "InvalidQueryParameterValue",
                          "Value for one of the query parameters specified in the request URI is "
                          "invalid. " + std::string(name) + "=\"" + v + "\" is not an integer.");
    e.details.emplace_back("QueryParameterName", std::string(name));
    e.details.emplace_back("QueryParameterValue", v);
    e.details.emplace_back("Reason", "not an integer");
    return e;
  }
  if (n < min || n > max) {
    ServiceError e = make(400, "OutOfRangeQueryParameterValue",
                          "One of the query parameters specified in the request URI is outside "
                          "the permissible range. " + std::string(name) + "=" + v + "; use " +
                              std::to_string(min) + " to " + std::to_string(max) + ".");
    e.details.emplace_back("QueryParameterName", std::string(name));
    e.details.emplace_back("QueryParameterValue", v);
    e.details.emplace_back("MinimumAllowed", std::to_string(min));
    e.details.emplace_back("MaximumAllowed", std::to_string(max));
    return e;
  }
  return n;
}

std::optional<ServiceError> check_content_md5(const api::Headers& headers, std::string_view body) {
  std::string_view given = find_header(headers, "Content-MD5");
  if (given.empty()) return std::nullopt;
  std::string given_bytes;
  if (!base64_decode(given, given_bytes) || given_bytes.size() != 16) {
    ServiceError e = make(400, "InvalidMd5",
                          "The MD5 value specified in the request is invalid. The MD5 value must "
                          "be 128 bits and Base64-encoded; Content-MD5 was \"" +
                              std::string(given) + "\".");
    return e;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(body.data(), body.size(), digest, &len, EVP_md5(), nullptr) != 1 || len != 16)
    return make(500, "InternalError", "The server could not compute the MD5 of the body.");
  std::string computed(reinterpret_cast<const char*>(digest), len);
  if (computed == given_bytes) return std::nullopt;
  ServiceError e = make(400, "Md5Mismatch",
                        "The MD5 value specified in the request did not match with the MD5 value "
                        "calculated by the server. The body is not the one the request was "
                        "signed with; send the body unchanged or recompute Content-MD5.");
  e.details.emplace_back("UserSpecifiedMd5", std::string(given));
  e.details.emplace_back("ServerCalculatedMd5", base64_encode(computed));
  return e;
}

api::UnixMillis now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::variant<std::string, ServiceError> parse_queue_message_body(std::string_view body) {
  auto parsed = parse_xml(body);
  if (!parsed.root) return invalid_xml("The QueueMessage body is malformed: " + parsed.error + ".");
  if (parsed.root->name != "QueueMessage")
    return invalid_xml("The root element is <" + parsed.root->name +
                       ">; send <QueueMessage><MessageText>...</MessageText></QueueMessage>.");
  const XmlElement* text = parsed.root->child("MessageText");
  if (!text)
    return invalid_xml("<QueueMessage> has no <MessageText>; send "
                       "<QueueMessage><MessageText>...</MessageText></QueueMessage>.");
  if (text->text.size() > api::kMaxMessageBytes) {
    ServiceError e = make(413, "RequestBodyTooLarge",
                          "The request body is too large and exceeds the maximum permissible "
                          "limit. The message text has " + std::to_string(text->text.size()) +
                              " bytes; the limit is 65536.");
    e.details.emplace_back("MaxLimit", "65536");
    return e;
  }
  return text->text;
}

std::variant<std::vector<api::SignedIdentifier>, ServiceError> parse_signed_identifiers(
    std::string_view body) {
  std::vector<api::SignedIdentifier> out;
  bool blank = true;
  for (char c : body)
    if (!(c == ' ' || c == '\n' || c == '\r' || c == '\t')) blank = false;
  if (blank) return out;
  auto parsed = parse_xml(body);
  if (!parsed.root) return invalid_xml("The SignedIdentifiers body is malformed: " + parsed.error + ".");
  if (parsed.root->name != "SignedIdentifiers")
    return invalid_xml("The root element is <" + parsed.root->name +
                       ">; send <SignedIdentifiers><SignedIdentifier>...</SignedIdentifier>"
                       "</SignedIdentifiers>.");
  for (auto& si : parsed.root->children) {
    if (si.name != "SignedIdentifier")
      return invalid_xml("Unexpected element <" + si.name + "> in <SignedIdentifiers>.");
    api::SignedIdentifier s;
    auto id = si.child("Id");
    if (!id || id->text.empty() || id->text.size() > 64)
      return invalid_xml("Each <SignedIdentifier> needs an <Id> of 1 to 64 characters.");
    s.id = id->text;
    if (auto ap = si.child("AccessPolicy")) {
      if (auto e = ap->child("Start")) s.start = e->text;
      if (auto e = ap->child("Expiry")) s.expiry = e->text;
      if (auto e = ap->child("Permission")) s.permission = e->text;
      // Queue permissions are r (read), a (add), u (update), p (process), each at most once:
      // a policy granting letters that mean nothing would be stored and never honoured.
      std::string seen;
      for (char c : s.permission) {
        if (std::string_view("raup").find(c) == std::string_view::npos || seen.find(c) != std::string::npos)
          return invalid_xml("<Permission>" + s.permission + "</Permission> of signed identifier \"" +
                             s.id + "\" " +
                             (seen.find(c) != std::string::npos ? "repeats '" + std::string(1, c) + "'"
                                                                : "has '" + std::string(1, c) + "'") +
                             "; queue permissions are r (read), a (add), u (update) and p (process), "
                             "each at most once, e.g. \"raup\".");
        seen.push_back(c);
      }
      for (const auto* t : {&s.start, &s.expiry})
        if (!t->empty() && !parse_iso8601_ms(*t))
          return invalid_xml("<" + std::string(t == &s.start ? "Start" : "Expiry") + ">" + *t +
                             "</...> of signed identifier \"" + s.id +
                             "\" is not an ISO 8601 UTC time; write e.g. 2026-11-29T12:00:00Z.");
    }
    out.push_back(std::move(s));
  }
  if (out.size() > 5)
    return invalid_xml(std::to_string(out.size()) +
                       " signed identifiers given; a queue holds at most 5 stored access "
                       "policies.");
  return out;
}

std::string put_message_xml(const api::MessageReceipt& r) {
  std::string out;
  out.reserve(384);  // the whole answer: grown piecemeal it was copied four times
  out += kXmlDecl;
  out += "<QueueMessagesList><QueueMessage>";
  element(out, "MessageId", r.id);
  element(out, "InsertionTime", rfc1123(r.insertion_time));
  element(out, "ExpirationTime", rfc1123(r.expiration_time));
  element(out, "PopReceipt", r.pop_receipt);
  element(out, "TimeNextVisible", rfc1123(r.time_next_visible));
  out += "</QueueMessage></QueueMessagesList>";
  return out;
}

std::string messages_xml(const std::vector<api::QueueMessage>& messages, bool peek) {
  std::string out(kXmlDecl);
  out += "<QueueMessagesList>";
  for (auto& m : messages) {
    out += "<QueueMessage>";
    element(out, "MessageId", m.id);
    element(out, "InsertionTime", rfc1123(m.insertion_time));
    element(out, "ExpirationTime", rfc1123(m.expiration_time));
    if (!peek) {
      element(out, "PopReceipt", m.pop_receipt);
      element(out, "TimeNextVisible", rfc1123(m.time_next_visible));
    }
    element(out, "DequeueCount", std::to_string(m.dequeue_count));
    element(out, "MessageText", m.text);
    out += "</QueueMessage>";
  }
  out += "</QueueMessagesList>";
  return out;
}

std::string signed_identifiers_xml(const std::vector<api::SignedIdentifier>& acl) {
  std::string out(kXmlDecl);
  out += "<SignedIdentifiers>";
  for (auto& s : acl) {
    out += "<SignedIdentifier>";
    element(out, "Id", s.id);
    out += "<AccessPolicy>";
    if (!s.start.empty()) element(out, "Start", s.start);
    if (!s.expiry.empty()) element(out, "Expiry", s.expiry);
    if (!s.permission.empty()) element(out, "Permission", s.permission);
    out += "</AccessPolicy></SignedIdentifier>";
  }
  out += "</SignedIdentifiers>";
  return out;
}

std::string list_queues_xml(std::string_view service_endpoint, const api::ListQueuesOptions& o,
                            bool prefix_given, bool marker_given, bool max_given,
                            const api::QueueListing& listing) {
  std::string out(kXmlDecl);
  out += "<EnumerationResults ServiceEndpoint=\"";
  append_xml_escaped(out, service_endpoint);
  out += "\">";
  if (prefix_given) element(out, "Prefix", o.prefix);
  if (marker_given) element(out, "Marker", o.marker);
  if (max_given) element(out, "MaxResults", std::to_string(o.max_results));
  out += "<Queues>";
  for (auto& q : listing.queues) {
    out += "<Queue>";
    element(out, "Name", q.name);
    if (o.include_metadata) {
      out += "<Metadata>";
      for (auto& [k, v] : q.metadata) element(out, k, v);
      out += "</Metadata>";
    }
    out += "</Queue>";
  }
  out += "</Queues>";
  if (listing.next_marker.empty()) out += "<NextMarker />";
  else element(out, "NextMarker", listing.next_marker);
  out += "</EnumerationResults>";
  return out;
}

std::string default_service_properties_xml() {
  return std::string(kXmlDecl) +
         "<StorageServiceProperties>"
         "<Logging><Version>1.0</Version><Read>false</Read><Write>false</Write>"
         "<Delete>false</Delete><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy>"
         "</Logging>"
         "<HourMetrics><Version>1.0</Version><Enabled>false</Enabled>"
         "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></HourMetrics>"
         "<MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled>"
         "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics>"
         "<Cors />"
         "</StorageServiceProperties>";
}

std::string service_stats_xml(api::UnixMillis now) {
  std::string out(kXmlDecl);
  out += "<StorageServiceStats><GeoReplication><Status>live</Status>";
  element(out, "LastSyncTime", rfc1123(now));
  out += "</GeoReplication></StorageServiceStats>";
  return out;
}

namespace {
std::vector<std::string> comma_list(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t end = text.find(',', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(i, end - i);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    i = end + 1;
  }
  return out;
}

bool same_text(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool header_allowed(const std::vector<std::string>& allowed, std::string_view header) {
  for (const auto& a : allowed) {
    if (a == "*") return true;
    if (!a.empty() && a.back() == '*') {
      std::string_view prefix(a.data(), a.size() - 1);
      if (header.size() >= prefix.size() && same_text(header.substr(0, prefix.size()), prefix))
        return true;
    } else if (same_text(a, header)) {
      return true;
    }
  }
  return false;
}
}  // namespace

bool CorsRule::any_origin() const {
  return std::find(origins.begin(), origins.end(), "*") != origins.end();
}

std::vector<CorsRule> cors_rules(std::string_view xml_text) {
  std::vector<CorsRule> out;
  if (xml_text.empty()) return out;
  auto parsed = parse_xml(xml_text);
  if (!parsed.root) return out;
  const XmlElement* cors = parsed.root->child("Cors");
  if (!cors) return out;
  for (const auto& r : cors->children) {
    if (r.name != "CorsRule") continue;
    CorsRule rule;
    auto text = [&](const char* name) {
      const XmlElement* e = r.child(name);
      return e ? std::string_view(e->text) : std::string_view();
    };
    rule.origins = comma_list(text("AllowedOrigins"));
    rule.methods = comma_list(text("AllowedMethods"));
    rule.allowed_headers = comma_list(text("AllowedHeaders"));
    rule.exposed_headers = comma_list(text("ExposedHeaders"));
    std::string_view age = text("MaxAgeInSeconds");
    std::from_chars(age.data(), age.data() + age.size(), rule.max_age_seconds);
    out.push_back(std::move(rule));
  }
  return out;
}

const CorsRule* match_cors(const std::vector<CorsRule>& rules, std::string_view origin,
                           std::string_view method, std::string_view requested_headers) {
  if (origin.empty()) return nullptr;
  auto requested = comma_list(requested_headers);
  for (const auto& r : rules) {
    bool origin_ok = r.any_origin() || std::find(r.origins.begin(), r.origins.end(), origin) != r.origins.end();
    bool method_ok = false;
    for (const auto& m : r.methods) method_ok = method_ok || same_text(m, method);
    bool headers_ok = true;
    for (const auto& h : requested) headers_ok = headers_ok && header_allowed(r.allowed_headers, h);
    if (origin_ok && method_ok && headers_ok) return &r;
  }
  return nullptr;
}

}  // namespace nimbus::queue
