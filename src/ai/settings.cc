#include <cctype>

#include "ai/gemini_codec.h"
#include "ai/moderator.h"

namespace nimbus::ai {

std::optional<Endpoint> parse_endpoint(std::string_view url, std::string* error) {
  auto bad = [&](std::string why) -> std::optional<Endpoint> {
    if (error)
      *error = "GEMINI_ENDPOINT \"" + std::string(url) + "\": " + why +
               "; expected http://host[:port][/path] or https://host[:port][/path]";
    return std::nullopt;
  };
  Endpoint e;
  std::string_view rest = url;
  if (rest.starts_with("https://")) rest.remove_prefix(8), e.tls = true;
  else if (rest.starts_with("http://")) rest.remove_prefix(7), e.tls = false;
  else return bad("the scheme is neither http nor https");
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (path.ends_with('/')) path.remove_suffix(1);
  if (path.find_first_of("?#") != std::string_view::npos) return bad("it has a query or fragment");
  e.base_path = std::string(path);
  if (authority.find('@') != std::string_view::npos)
    return bad("it carries credentials (the key goes in GEMINI_API_KEY)");
  std::string_view host = authority, port;
  if (authority.starts_with('[')) {  // IPv6 literal
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 host lacks its ']'");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad("unexpected text after the IPv6 host");
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("the host is empty");
  if (!port.empty()) {
    if (port.size() > 5) return bad("the port is not a number from 1 to 65535");
    int n = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return bad("the port is not a number");
      n = n * 10 + (c - '0');
    }
    if (n < 1 || n > 65535) return bad("the port is not a number from 1 to 65535");
  }
  e.host = std::string(host);
  e.port = port.empty() ? (e.tls ? "443" : "80") : std::string(port);
  return e;
}

std::optional<ModerationSettings> settings_from_app(
    const std::function<std::optional<std::string>(std::string_view)>& lookup, std::string* error) {
  ModerationSettings s;
  auto key = lookup("GEMINI_API_KEY");
  if (!key || key->empty()) return s;  // no key: the local rules, by design
  GeminiSettings g;
  g.api_key = *key;
  for (char c : g.api_key)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
      if (error)
        *error = "GEMINI_API_KEY has a space or control character; paste the key without "
                 "quotes or line breaks";
      return std::nullopt;
    }
  if (auto ep = lookup("GEMINI_ENDPOINT"); ep && !ep->empty()) {
    if (!parse_endpoint(*ep, error)) return std::nullopt;
    g.endpoint = *ep;
  }
  if (auto m = lookup("GEMINI_MODEL"); m && !m->empty()) {
    for (char c : *m)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
          c != '/') {
        if (error)
          *error = "GEMINI_MODEL \"" + *m + "\" has a character a model name cannot have; "
                   "use a name such as " + std::string(kDefaultGeminiModel);
        return std::nullopt;
      }
    g.model = *m;
  }
  if (auto ca = lookup("GEMINI_CA_FILE"); ca && !ca->empty()) g.ca_file = *ca;
  s.gemini = std::move(g);
  return s;
}

}  // namespace nimbus::ai
