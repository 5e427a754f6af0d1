#include "http/request_head.h"

#include "common/head_scan.h"

#include <algorithm>
#include <cstring>
#include <tuple>

namespace nimbus::http {

namespace {

using namespace head_scan;

// Beast refuses a field over 65,000 bytes with a 431 in the server's callback; the lean
// reader never gets near it: a head that long is declined whole (and its offsets fit 16 bits).
constexpr size_t kMaxLeanHead = 65000;

// Visible ASCII only (0x21-0x7e): the lean target. Control bytes were ruled out by the line
// scan; this rules out SP, HTAB and bytes over 0x7f.
bool all_visible(const char* p, size_t n) {
  uint64_t bad = 0;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w = load(p);
    bad |= below(w, 0x21) | (w & kHigh);
  }
  if (n) {
    uint64_t w = load_tail(p, n);
    bad |= below(w, 0x21) | (w & kHigh);
  }
  return bad == 0;
}

// The methods a lean head may have, followed by their space. Any other method (a valid
// token or not) goes to Beast.
size_t method_size(const char* p, size_t n) {
  auto is = [&](std::string_view m) { return n > m.size() && std::memcmp(p, m.data(), m.size()) == 0 && p[m.size()] == ' '; };
  switch (p[0]) {
    case 'G': return is("GET") ? 3 : 0;
    case 'P': return is("POST") ? 4 : is("PUT") ? 3 : is("PATCH") ? 5 : 0;
    case 'D': return is("DELETE") ? 6 : 0;
    case 'H': return is("HEAD") ? 4 : 0;
    case 'O': return is("OPTIONS") ? 7 : 0;
    default: return 0;
  }
}

// Whether `p` could still become one of the methods above when more bytes arrive: what a
// head that does not even start like a request is declined on at once, so that Beast answers
// garbage as soon as it did before.
bool method_prefix(const char* p, size_t n) {
  for (std::string_view m : {"GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD ", "OPTIONS "})
    if (n < m.size() && std::memcmp(p, m.data(), n) == 0) return true;
  return false;
}

bool request_line(LeanHead& h, const char* line, size_t len) {
  size_t m = method_size(line, len);
  if (m == 0) return false;
  // METHOD SP target SP HTTP/1.x: the version is the line's last 9 bytes.
  constexpr std::string_view kV11 = " HTTP/1.1", kV10 = " HTTP/1.0";
  if (len < m + 1 + 1 + kV11.size()) return false;
  const char* v = line + len - kV11.size();
  if (std::memcmp(v, kV11.data(), kV11.size()) == 0) {
    h.http11 = true;
  } else if (std::memcmp(v, kV10.data(), kV10.size()) == 0) {
    h.http11 = false;
  } else {
    return false;
  }
  size_t target = m + 1, target_size = len - kV11.size() - target;
  if (!all_visible(line + target, target_size)) return false;
  h.method_size = static_cast<uint8_t>(m);
  h.head_method = m == 4 && line[0] == 'H';
  h.target = static_cast<uint32_t>(target);
  h.target_size = static_cast<uint32_t>(target_size);
  return true;
}

bool field(LeanHead& h, const char* head, size_t pos, size_t len) {
  const char* line = head + pos;
  FieldLine f;
  if (!split_field(line, len, f)) return false;
  if (h.fields == LeanHead::kMaxFields) return false;
  size_t name = f.name_size, v = f.value;
  const char* value = line + v;
  size_t value_size = f.value_size;
  // The fields Beast's parser or the server's callback give a meaning (framing, connection,
  // Expect, Host); every other name is only handed on.
  switch (name) {
    case 4:
      if (name_is(line, "host")) h.host = static_cast<int16_t>(h.fields);
      break;
    case 6:
      if (name_is(line, "expect")) return false;  // 100-continue: Beast's path answers it
      break;
    case 7:
      if (name_is(line, "upgrade")) return false;
      break;
    case 10:
      if (name_is(line, "connection")) {
        // One token, as the SDKs send it; a list (or "upgrade") goes to Beast.
        if (value_size == 5 && name_is(value, "close")) {
          h.connection_close = true;
        } else if (value_size == 10 && name_is(value, "keep-alive")) {
          h.connection_keep_alive = true;
        } else {
          return false;
        }
      }
      break;
    case 14:
      if (name_is(line, "content-length")) {
        // One field of plain digits, no second one (even equal). The body limit is Beast's
        // to answer (413 before admission).
        uint64_t n = 0;
        if (h.has_content_length || !plain_content_length(value, value_size, n)) return false;
        h.has_content_length = true;
        h.content_length = n;
      }
      break;
    case 16:
      if (name_is(line, "proxy-connection")) return false;  // Beast reads it as Connection
      break;
    case 17:
      if (name_is(line, "transfer-encoding")) return false;
      break;
    default:
      break;
  }
  h.field[h.fields++] = {static_cast<uint16_t>(pos), static_cast<uint16_t>(name),
                         static_cast<uint16_t>(pos + v), static_cast<uint16_t>(value_size)};
  return true;
}

}  // namespace

LeanHead::State read_lean_head(LeanHead& h, std::string_view bytes, size_t header_limit,
                               uint64_t body_limit) {
  using State = LeanHead::State;
  if (h.state != State::reading) return h.state;
  auto decline = [&] { return h.state = State::declined; };
  const char* b = bytes.data();
  // The head, its blank line included, must fit in both limits; past them Beast answers.
  size_t limit = std::min(header_limit, kMaxLeanHead);
  size_t avail = std::min(bytes.size(), limit);
  if (avail == 0) return h.state;
  if (h.method_size == 0 && method_size(b, avail) == 0 && !method_prefix(b, avail))
    return decline();
  const char* end = b + avail;
  size_t pos = h.line;
  for (;;) {
    const char* line = b + pos;
    const char* p;
    LineEnd ends = find_line_end(b + std::max<size_t>(pos, h.seen), end, &p);
    if (ends == LineEnd::bad) return decline();
    if (ends == LineEnd::more) {
      // The line (or its LF) has not arrived, or would end past the limit.
      if (avail == limit) return decline();
      h.seen = static_cast<uint32_t>(p - b);
      return h.state;
    }
    size_t len = static_cast<size_t>(p - line);
    if (len == 0) {
      if (pos == 0) return decline();
      if (h.has_content_length && h.content_length > body_limit) return decline();
      h.size = static_cast<uint32_t>(pos + 2);
      return h.state = State::accepted;
    }
    if (pos == 0 ? !request_line(h, line, len) : !field(h, b, pos, len)) return decline();
    pos += len + 2;
    h.line = static_cast<uint32_t>(pos);
  }
}

void take_lean_head(const LeanHead& h, std::string_view bytes, api::HttpRequestData& out) {
  const char* b = bytes.data();
  out.method.assign(b, h.method_size);
  out.target.assign(b + h.target, h.target_size);
  out.headers.reserve(out.headers.size() + h.fields);
  for (size_t i = 0; i < h.fields; ++i) {
    const auto& f = h.field[i];
    out.headers.emplace_back(std::piecewise_construct,
                             std::forward_as_tuple(b + f.name, f.name_size),
                             std::forward_as_tuple(b + f.value, f.value_size));
  }
  if (h.host >= 0) {
    const auto& f = h.field[h.host];
    out.host.assign(b + f.value, f.value_size);
  }
}

}  // namespace nimbus::http
