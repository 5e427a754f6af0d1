#include "workers/custom_handler_head.h"

#include "common/head_scan.h"

#include <algorithm>
#include <cstring>

namespace nimbus::workers {

namespace {

using namespace head_scan;

// Beast refuses a field over 65,000 bytes; the lean reader never gets near it: a head that
// long is declined whole (and its offsets fit 16 bits).
constexpr size_t kMaxLeanHead = 65000;

// "HTTP/1.1 ddd reason": HTTP/1.1 only (1.0 has other keep-alive rules), a final status with
// a body (1xx, 204 and 304 go to Beast, which reads them without one), a reason of visible
// ASCII and spaces.
bool status_line(LeanAnswer& a, const char* line, size_t len) {
  constexpr std::string_view kV11 = "HTTP/1.1 ";
  if (len < kV11.size() + 4 || std::memcmp(line, kV11.data(), kV11.size()) != 0) return false;
  const char* s = line + kV11.size();
  unsigned d0 = static_cast<unsigned char>(s[0]) - '0', d1 = static_cast<unsigned char>(s[1]) - '0',
           d2 = static_cast<unsigned char>(s[2]) - '0';
  if (d0 > 9 || d1 > 9 || d2 > 9 || s[3] != ' ') return false;
  unsigned status = d0 * 100 + d1 * 10 + d2;
  if (status < 200 || status > 599 || status == 204 || status == 304) return false;
  for (const char* p = s + 4; p < line + len; ++p)
    if (*p < 0x20 || *p > 0x7e) return false;  // HTAB and obs-text: Beast's to judge
  a.status = static_cast<uint16_t>(status);
  return true;
}

bool field(LeanAnswer& a, const char* head, size_t pos, size_t len) {
  const char* line = head + pos;
  FieldLine f;
  if (!split_field(line, len, f)) return false;
  if (a.fields == LeanAnswer::kMaxFields) return false;
  size_t name = f.name_size, v = f.value;
  const char* value = line + v;
  size_t value_size = f.value_size;
  // The fields Beast's response parser gives a meaning (framing, connection, upgrade).
  switch (name) {
    case 7:
      if (name_is(line, "upgrade")) return false;
      break;
    case 10:
      if (name_is(line, "connection")) {
        // One field of one token, as Node sends it; a list or a second field goes to Beast.
        if (a.connection >= 0) return false;
        if (value_size == 5 && name_is(value, "close")) {
          a.connection_close = true;
        } else if (!(value_size == 10 && name_is(value, "keep-alive"))) {
          return false;
        }
        a.connection = static_cast<int16_t>(a.fields);
      }
      break;
    case 14:
      if (name_is(line, "content-length")) {
        // One field of plain digits, no second one (even equal).
        uint64_t n = 0;
        if (a.has_content_length || !plain_content_length(value, value_size, n)) return false;
        a.has_content_length = true;
        a.content_length = n;
      }
      break;
    case 16:
      if (name_is(line, "proxy-connection")) return false;
      break;
    case 17:
      if (name_is(line, "transfer-encoding")) {
        // One field saying "chunked" and nothing else; any other coding or list goes to Beast.
        if (a.chunked || value_size != 7 || !name_is(value, "chunked")) return false;
        a.chunked = true;
      }
      break;
    default:
      break;
  }
  a.field[a.fields++] = {static_cast<uint16_t>(pos), static_cast<uint16_t>(name),
                         static_cast<uint16_t>(pos + v), static_cast<uint16_t>(value_size)};
  return true;
}

// The chunked body after the head: "<hex> CRLF <data> CRLF 0 CRLF CRLF" or "0 CRLF CRLF" alone.
// Read again from the head's end on each call (a few bytes); a size with a leading zero, an
// extension, whitespace, a second chunk of data or a trailer is declined.
LeanAnswer::State read_chunks(LeanAnswer& a, std::string_view bytes, uint64_t body_limit,
                              size_t max_size) {
  using State = LeanAnswer::State;
  constexpr std::string_view kLast = "0\r\n\r\n";
  size_t pos = a.head_size;
  // The data chunk's size: 1-8 hex digits (no leading zero) and CRLF.
  size_t i = pos;
  uint64_t size = 0;
  for (; i < bytes.size() && i - pos < 9; ++i) {
    unsigned c = static_cast<unsigned char>(bytes[i]);
    unsigned digit = c - '0', letter = (c | 0x20) - 'a';  // wrap around below '0' / 'a'
    unsigned d = digit <= 9 ? digit : letter <= 5 ? letter + 10 : 16;
    if (d == 16) break;
    size = size * 16 + d;
  }
  if (i == bytes.size()) return a.state;  // the size line has not all arrived
  size_t digits = i - pos;
  if (digits == 0 || digits > 8 || (bytes[pos] == '0' && digits > 1))
    return a.state = State::declined;
  auto expect = [&](size_t at, std::string_view text) {
    // 1: there, 0: not yet all arrived (what did is a prefix), -1: something else.
    size_t n = std::min(text.size(), bytes.size() > at ? bytes.size() - at : 0);
    if (bytes.substr(at, n) != text.substr(0, n)) return -1;
    return n == text.size() ? 1 : 0;
  };
  size_t last = pos;  // where "0 CRLF CRLF" starts
  if (size != 0) {
    if (size > body_limit) return a.state = State::declined;
    size_t data = i + 2;
    if (data + size + 2 + kLast.size() > max_size) return a.state = State::declined;
    int r = expect(i, "\r\n");
    if (r <= 0) return r < 0 ? a.state = State::declined : a.state;
    if (bytes.size() < data + size) return a.state;
    r = expect(data + size, "\r\n");
    if (r <= 0) return r < 0 ? a.state = State::declined : a.state;
    a.body_at = static_cast<uint32_t>(data);
    a.body_size = static_cast<uint32_t>(size);
    last = data + size + 2;
  } else {
    a.body_at = static_cast<uint32_t>(pos);
    a.body_size = 0;
  }
  int r = expect(last, kLast);
  if (r <= 0) return r < 0 ? a.state = State::declined : a.state;
  a.total = static_cast<uint32_t>(last + kLast.size());
  return a.state = State::accepted;
}

}  // namespace

LeanAnswer::State read_lean_answer(LeanAnswer& a, std::string_view bytes, size_t header_limit,
                                   uint64_t body_limit, size_t max_size) {
  using State = LeanAnswer::State;
  if (a.state != State::reading) return a.state;
  auto decline = [&] { return a.state = State::declined; };
  if (a.head_size == 0) {
    const char* b = bytes.data();
    size_t limit = std::min(header_limit, kMaxLeanHead);
    size_t avail = std::min(bytes.size(), limit);
    if (avail == 0) return a.state;
    // Not even the start of an HTTP/1.1 answer: Beast reports it at once.
    if (a.line == 0) {
      size_t n = std::min<size_t>(avail, 9);
      if (std::memcmp(b, "HTTP/1.1 ", n) != 0) return decline();
    }
    const char* end = b + avail;
    size_t pos = a.line;
    for (;;) {
      const char* line = b + pos;
      const char* p;
      LineEnd ends = find_line_end(b + std::max<size_t>(pos, a.seen), end, &p);
      if (ends == LineEnd::bad) return decline();
      if (ends == LineEnd::more) {
        if (avail == limit) return decline();  // the head would end past the limit
        a.seen = static_cast<uint32_t>(p - b);
        return a.state;
      }
      size_t len = static_cast<size_t>(p - line);
      if (len == 0) {
        if (pos == 0) return decline();
        // Exactly one framing: no length (read to the end of stream) and both go to Beast.
        if (a.has_content_length == a.chunked) return decline();
        if (a.content_length > body_limit) return decline();
        a.head_size = static_cast<uint32_t>(pos + 2);
        if (a.head_size + a.content_length > max_size) return decline();
        break;
      }
      if (pos == 0 ? !status_line(a, line, len) : !field(a, b, pos, len)) return decline();
      pos += len + 2;
      a.line = static_cast<uint32_t>(pos);
    }
  }
  if (!a.chunked) {
    if (bytes.size() < a.head_size + a.content_length) return a.state;
    a.body_at = a.head_size;
    a.body_size = static_cast<uint32_t>(a.content_length);
    a.total = static_cast<uint32_t>(a.head_size + a.content_length);
    return a.state = State::accepted;
  }
  return read_chunks(a, bytes, body_limit, max_size);
}

}  // namespace nimbus::workers
