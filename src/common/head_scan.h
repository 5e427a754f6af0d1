#pragma once
// Byte scans for the lean HTTP/1.1 head readers (http/request_head.cc for requests,
// workers/custom_handler_head.cc for custom-handler answers): control bytes and the CRLF that
// ends a line 16 bytes a step with SSE2 (8 with the portable word scan), field names checked
// in the pass that finds their colon. Both readers are fuzzed against Beast's parsers.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nimbus::head_scan {

static_assert(std::endian::native == std::endian::little,
              "the word scans take the lowest flagged byte as the first one in memory");

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHigh = 0x8080808080808080ull;

inline uint64_t load(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// The last 1-7 bytes of a range as a word, padded with a byte no check flags, so the tail
// takes the same word test as the rest instead of a byte loop.
inline uint64_t load_tail(const char* p, size_t n) {
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
inline uint64_t ctl(uint64_t w) { return below(w, 0x20) | zero_byte(w ^ (kOnes * 0x7f)); }

// The first control byte or DEL in [p, end), or end. SSE2 (every x86-64) takes 16 bytes a
// step, in about half the instructions of two word steps; the word scan is the portable one.
inline const char* find_ctl(const char* p, const char* end) {
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
inline constexpr auto kToken = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// The field name at the start of a line of `len` bytes (its CRLF follows): the offset of its
// colon, or 0 when the name is empty or holds a byte that is no token character.
inline size_t name_end(const char* line, size_t len) {
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
inline bool name_is(const char* p, std::string_view lower) {
  for (size_t i = 0; i < lower.size(); ++i)
    if ((p[i] | 0x20) != lower[i]) return false;
  return true;
}

// Where the line that starts in [from, end) ends: `complete` with *cr at its CR (an LF
// follows); `more` when its CRLF has not (all) arrived, *cr where the scan stopped (the next
// scan starts there, not at the line's start again); `bad` for a bare LF or CR or any control
// byte but HTAB, which the lean readers leave to Beast.
enum class LineEnd { complete, more, bad };
inline LineEnd find_line_end(const char* from, const char* end, const char** cr) {
  const char* p = from;
  for (;;) {
    p = find_ctl(p, end);
    if (p == end || *p != '\t') break;
    ++p;
  }
  *cr = p;
  if (p != end && *p != '\r') return LineEnd::bad;
  if (p == end || p + 1 == end) return LineEnd::more;
  return p[1] == '\n' ? LineEnd::complete : LineEnd::bad;
}

// A field line of `len` bytes (its CRLF follows): the name's size and the value without the
// OWS around it, as Beast trims it. False for a line starting with SP or HTAB (obs-fold, or no
// field at all: Beast decides which) and for a name that is empty or no token.
struct FieldLine {
  size_t name_size = 0;
  size_t value = 0;  // offset in the line
  size_t value_size = 0;
};
inline bool split_field(const char* line, size_t len, FieldLine& f) {
  if (line[0] == ' ' || line[0] == '\t') return false;
  size_t name = name_end(line, len);
  if (name == 0) return false;
  size_t v = name + 1, e = len;
  while (v < e && (line[v] == ' ' || line[v] == '\t')) ++v;
  while (e > v && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
  f = {name, v, e - v};
  return true;
}

// A Content-Length value the lean readers take: plain digits, no sign, no leading zero, at
// most 15 of them (no overflow to think about). False for anything else (a list, a sign,
// spaces inside, an empty value): Beast judges those.
inline bool plain_content_length(const char* value, size_t size, uint64_t& n) {
  if (size == 0 || size > 15 || (value[0] == '0' && size > 1)) return false;
  n = 0;
  for (size_t i = 0; i < size; ++i) {
    unsigned d = static_cast<unsigned char>(value[i]) - '0';
    if (d > 9) return false;
    n = n * 10 + d;
  }
  return true;
}

}  // namespace nimbus::head_scan
