#include "common/ids.h"

#include <algorithm>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <stdexcept>

namespace nimbus {

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

namespace {

// Ids only need to be unique, not unguessable (keys and other secrets use random_bytes): one
// per-thread generator, seeded once from the CSPRNG, serves new_uuid and unique_hex at a
// fraction of RAND_bytes's cost per call.
uint64_t id_bits() {
  thread_local std::mt19937_64 gen = [] {
    std::string seed = random_bytes(sizeof(uint64_t) * 4);
    std::seed_seq seq(seed.begin(), seed.end());
    return std::mt19937_64(seq);
  }();
  return gen();
}

constexpr char kHex[] = "0123456789abcdef";

// The 36 characters of a version-4 UUID at `p`. Written in place: the string is sized once,
// not grown a character at a time (ids are made several times per invocation).
void write_uuid(char* p) {
  unsigned char b[16];
  uint64_t hi = id_bits(), lo = id_bits();
  std::memcpy(b, &hi, 8);
  std::memcpy(b + 8, &lo, 8);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = kHex[b[i] >> 4];
    *p++ = kHex[b[i] & 15];
  }
}

}  // namespace

std::string new_uuid() {
  std::string out(36, '-');
  write_uuid(out.data());
  return out;
}

void append_uuid(std::string& out) {
  size_t at = out.size();
  out.resize(at + 36);
  write_uuid(out.data() + at);
}

std::string unique_hex(size_t bytes) {
  std::string out(2 * bytes, '0');
  do {
    for (size_t i = 0; i < bytes; i += 8) {
      uint64_t r = id_bits();
      for (size_t k = 0; k < 8 && i + k < bytes; ++k, r >>= 8) {
        out[2 * (i + k)] = kHex[(r >> 4) & 15];
        out[2 * (i + k) + 1] = kHex[r & 15];
      }
    }
  } while (out.find_first_not_of('0') == std::string::npos);  // all zero is not a valid id
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  for (char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
      return false;
  out.assign(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return true;
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601_now_ms() { return iso8601_ms(unix_now_ms()); }

std::string iso8601_ms(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::optional<int64_t> parse_iso8601_ms(std::string_view t) {
  size_t i = 0;
  auto digits = [&](int n, int& out) {
    out = 0;
    for (int k = 0; k < n; ++k, ++i) {
      if (i >= t.size() || t[i] < '0' || t[i] > '9') return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  auto expect = [&](char c) { return i < t.size() && t[i++] == c; };
  int y, mo, d, h, mi, s;
  if (!digits(4, y) || !expect('-') || !digits(2, mo) || !expect('-') || !digits(2, d)) return std::nullopt;
  if (i >= t.size() || (t[i] != 'T' && t[i] != 't' && t[i] != ' ')) return std::nullopt;
  ++i;
  if (!digits(2, h) || !expect(':') || !digits(2, mi) || !expect(':') || !digits(2, s)) return std::nullopt;
  int64_t ms = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    int scale = 100, n = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      ms += (t[i] - '0') * scale;
      scale /= 10;
      ++i, ++n;
    }
    if (n == 0) return std::nullopt;
  }
  int64_t offset_min = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    int sign = t[i++] == '-' ? -1 : 1, oh, om;
    if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) return std::nullopt;
    offset_min = sign * (oh * 60 + om);
  }
  if (i != t.size() || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  // Days from the civil date (proleptic Gregorian), so no time zone state is involved.
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi - offset_min) * 60000 + s * 1000 + ms;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string rfc1123(int64_t t) {
  // By hand (days to a civil date after Howard Hinnant's public-domain algorithm): gmtime_r and
  // snprintf cost about a tenth of the queue server's CPU per put, whose answer carries three.
  static constexpr char kDays[] = "ThuFriSatSunMonTueWed";  // 1970-01-01 was a Thursday
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  // Four-digit years only: a time from elsewhere (a token's nbf or exp named in an error) is
  // held to that range rather than printed wrong.
  constexpr int64_t kYearZero = -62167219200000;  // 0000-01-01T00:00:00Z
  constexpr int64_t kYearEnd = 253402300799000;   // 9999-12-31T23:59:59Z
  t = std::clamp<int64_t>(t, kYearZero, kYearEnd);
  int64_t secs = t / 1000 - (t % 1000 < 0 ? 1 : 0);
  int64_t days = secs / 86400 - (secs % 86400 < 0 ? 1 : 0);
  int64_t sod = secs - days * 86400;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;  // 1..12
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  int64_t wday = ((days % 7) + 7) % 7;
  std::string out(29, ' ');  // "Thu, 01 Jan 1970 00:00:00 GMT"
  auto two = [&](size_t at, int64_t v) {
    out[at] = static_cast<char>('0' + v / 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  out.replace(0, 3, kDays + wday * 3, 3);
  out[3] = ',';
  two(5, day);
  out.replace(8, 3, kMonths + (month - 1) * 3, 3);
  two(12, (year / 100) % 100);
  two(14, year % 100);
  two(17, sod / 3600);
  out[19] = ':';
  two(20, sod / 60 % 60);
  out[22] = ':';
  two(23, sod % 60);
  out.replace(26, 3, "GMT");
  return out;
}

}  // namespace nimbus
