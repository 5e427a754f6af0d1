#include "workers/custom_handler_head.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nimbus::workers {

namespace {

// The scans below are http/request_head.cc's (the request's lean head reader, fuzzed against
// Beast's request parser, whose field rules the response parser shares); copied, as that file
// keeps them to itself.

// Beast refuses a field over 65,000 bytes; the lean reader never gets near it: a head that
// long is declined whole (and its offsets fit 16 bits).
constexpr size_t kMaxLeanHead = 65000;

static_assert(std::endian::native == std::endian::little,
              "the word scans take the lowest flagged byte as the first one in memory");

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHigh = 0x8080808080808080ull;

uint64_t load(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// The last 1-7 bytes of a range as a word, padded with a byte no check flags, so the tail
// takes the same word test as the rest instead of a byte loop.
uint64_t load_tail(const char* p, size_t n) {
  char tmp[8];
  std::memset(tmp, 'A', 8);
  std::memcpy(tmp, p, n);
  return load(tmp);
}

// Flags every byte below `n` (n <= 0x80). The lowest flagged byte is exact: a borrow only
// travels upward from a byte that is itself below n, so higher flags may be spurious, never
// lower ones.
constexpr uint64_t below(uint64_t w, uint8_t n) { return (w - kOnes * n) & ~w & kHigh; }
constexpr uint64_t zero_byte(uint64_t w) { return (w - kOnes) & ~w & kHigh; }

// Control bytes (below SP) and DEL: what ends a line (CR), what a value may hold (HTAB) and
// what no line of the lean shape holds (everything else).
uint64_t ctl(uint64_t w) { return below(w, 0x20) | zero_byte(w ^ (kOnes * 0x7f)); }

// The first control byte or DEL in [p, end), or end. SSE2 (every x86-64) takes 16 bytes a
// step, in about half the instructions of two word steps; the word scan is the portable one.
const char* find_ctl(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i below_sp = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, below_sp), v), _mm_cmpeq_epi8(v, del));
    if (int m = _mm_movemask_epi8(hit)) return p + std::countr_zero(static_cast<unsigned>(m));
  }
#endif
  for (; end - p >= 8; p += 8)
    if (uint64_t m = ctl(load(p))) return p + (std::countr_zero(m) >> 3);
  if (p < end)
    if (uint64_t m = ctl(load_tail(p, static_cast<size_t>(end - p))))
      return p + (std::countr_zero(m) >> 3);
  return end;
}

// RFC 9110 tchar.
constexpr auto kToken = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// The field name at the start of a line of `len` bytes (its CRLF follows): the offset of its
// colon, or 0 when the name is empty or holds a byte that is no token character.
size_t name_end(const char* line, size_t len) {
  size_t i = 0;
#if defined(__SSE2__)
  // Names are letters, digits and '-' nearly always: 16 bytes a step find the first byte
  // outside that set; the table below only sees names with other token characters. Folding
  // by OR 0x20 maps A-Z onto a-z and keeps digits and '-'; the only other bytes it could fold
  // into the set are control bytes, which the line scan already refused (HTAB folds to ')').
  auto in = [](__m128i x, char lo, char hi) {
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(static_cast<char>(hi - lo))), d);
  };
  // The line and its CRLF are in the buffer: whole 16-byte loads stay inside it.
  for (; i + 16 <= len + 2; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(line + i));
    __m128i f = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i ok = _mm_or_si128(_mm_or_si128(in(f, 'a', 'z'), in(v, '0', '9')),
                              _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    unsigned m = static_cast<unsigned>(_mm_movemask_epi8(ok)) ^ 0xffffu;
    if (m) {
      i += static_cast<size_t>(std::countr_zero(m));
      break;
    }
  }
#endif
  for (; i < len && kToken[static_cast<unsigned char>(line[i])]; ++i) {
  }
  return i < len && line[i] == ':' ? i : 0;
}

// `lower` is a lower-case name; OR 0x20 folds only letters onto it among token characters
// ('-' | 0x20 is '-'; the only other byte that folds onto '-' is CR, which is no token char).
bool name_is(const char* p, std::string_view lower) {
  for (size_t i = 0; i < lower.size(); ++i)
    if ((p[i] | 0x20) != lower[i]) return false;
  return true;
}

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
  // obs-fold or no field at all: Beast decides which.
  if (line[0] == ' ' || line[0] == '\t') return false;
  size_t name = name_end(line, len);
  if (name == 0) return false;
  size_t v = name + 1, e = len;
  while (v < e && (line[v] == ' ' || line[v] == '\t')) ++v;
  while (e > v && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
  if (a.fields == LeanAnswer::kMaxFields) return false;
  const char* value = line + v;
  size_t value_size = e - v;
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
        // One field of plain digits: no second one (even equal), no list, no sign, no
        // leading zero, at most 15 digits.
        if (a.has_content_length || value_size == 0 || value_size > 15) return false;
        if (value[0] == '0' && value_size > 1) return false;
        uint64_t n = 0;
        for (size_t i = 0; i < value_size; ++i) {
          unsigned d = static_cast<unsigned char>(value[i]) - '0';
          if (d > 9) return false;
          n = n * 10 + d;
        }
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
      const char* p = b + std::max<size_t>(pos, a.seen);
      for (;;) {
        p = find_ctl(p, end);
        if (p == end || *p != '\t') break;
        ++p;
      }
      if (p != end && *p != '\r') return decline();  // a bare LF, a NUL, DEL...
      if (p == end || p + 1 == end) {
        if (avail == limit) return decline();  // the head would end past the limit
        a.seen = static_cast<uint32_t>(p - b);
        return a.state;
      }
      if (p[1] != '\n') return decline();  // a bare CR
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
