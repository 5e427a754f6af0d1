// The HTTP request parser as the server runs it (the lean head reader, Beast's parser where it
// declines, the host's limits and its guard against oversized fields, then the target, query
// and header mapping), offered the input at once and, as a session reads a socket, in pieces
// through the session's own buffering (head first, then the body); both must agree.
// Differential: every input is also parsed by Beast alone. Where the lean reader took the
// head, Beast must have parsed the same request (method, target, path, host, query, headers
// in order, body, version, keep-alive); where it declined, the answer is Beast's own.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/url/parse.hpp>
#include <map>
#include <string>

#include "http/http_server.h"

namespace {

// The server skips the URL parser for plain targets; what it made of one must be Boost.URL's.
void target_as_url_parser(const nimbus::http::ParsedRequest& r) {
  if (r.status != 0) return;
  auto url = boost::urls::parse_origin_form(r.request.target);
  if (!url) std::abort();
  if (r.request.path != url->encoded_path()) std::abort();
  std::map<std::string, std::string> want;
  if (url->has_query())
    for (auto p : url->params()) want.emplace(std::string(p.key), std::string(p.value));
  if (r.request.query != want) std::abort();
}

bool same(const nimbus::http::ParsedRequest& a, const nimbus::http::ParsedRequest& b) {
  if (a.status != b.status) return false;
  if (a.status != 0) return true;
  const auto& x = a.request;
  const auto& y = b.request;
  return x.method == y.method && x.target == y.target && x.path == y.path && x.host == y.host &&
         x.query == y.query && x.headers == y.headers && x.body == y.body &&
         a.version == b.version && a.keep_alive == b.keep_alive;
}

// The lean reader against Beast alone, for one way of reading.
void differ(std::string_view bytes, size_t max_headers, size_t max_body, size_t piece) {
  auto lean = nimbus::http::parse_request(bytes, max_headers, max_body, piece, true);
  auto beast = nimbus::http::parse_request(bytes, max_headers, max_body, piece, false);
  if (beast.lean) std::abort();  // Beast alone never takes the lean path
  if (lean.lean && beast.status != 0 && lean.status == 0) std::abort();  // accepted what Beast refuses
  if (!same(lean, beast)) std::abort();
  // The whole input at once: a declined head is Beast's to the letter, message included.
  if (piece == 0 && !lean.lean && lean.error != beast.error) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The size of the pieces (1-128 bytes) follows from the input, which stays a plain request.
  size_t piece = 1 + (size * 7 + (size ? data[0] : 0)) % 128;
  // Small limits reach the limit paths often; a large header limit reaches the field guard.
  auto whole = nimbus::http::parse_request(bytes, 4096, 8192);
  auto split = nimbus::http::parse_request(bytes, 4096, 8192, piece);
  // Parsed whole, parsed in pieces: the same request. (The error status may differ only
  // where the two stop: the whole parse sees everything at once.)
  target_as_url_parser(whole);
  if (whole.status == 0 && split.status == 0) {
    if (whole.request.method != split.request.method ||
        whole.request.target != split.request.target ||
        whole.request.headers != split.request.headers || whole.request.body != split.request.body)
      std::abort();
  }
  differ(bytes, 4096, 8192, 0);
  differ(bytes, 4096, 8192, piece);
  differ(bytes, 1 << 20, 1 << 20, 0);
  // A header limit inside typical heads: the lean reader's limit edge.
  differ(bytes, 64 + size % 192, 8192, 0);
  differ(bytes, 64 + size % 192, 8192, piece);
  return 0;
}
