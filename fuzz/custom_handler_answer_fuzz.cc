// Differential fuzzing of the lean reader of a custom handler's answer
// (src/workers/custom_handler_head.h) against the Beast parser the pool reads every other answer
// with (AnswerParser, src/workers/custom_handler_answer_parser.h), fed as the pool feeds it.
// Input: one byte of options, then the bytes the handler sends.
//   bit 0: forwarding mode (the parser keeps the fields);
//   bit 1: a small body limit (64 bytes) instead of 1 MiB;
//   bits 2-7: how the bytes arrive (whole, or in pieces whose sizes derive from these bits).
// Properties checked beyond "no crash, no sanitizer report":
//   - the lean reader gives the same verdict whether the bytes arrive whole or in pieces;
//   - an answer it accepts, Beast reads without error and to the same end, with the same
//     status, body, keep-alive (and no need of the end of stream), the same fields in order
//     and the same Connection value;
//   - an answer it is still waiting for when the stream ends, Beast does not complete either.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/custom_handler_answer_parser.h"
#include "workers/custom_handler_head.h"

namespace {

using namespace nimbus::workers;
namespace bhttp = boost::beast::http;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "custom_handler_answer_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

// The piece sizes: from `seed`, a short cycle of sizes 1..37 (0: all at once).
std::vector<size_t> pieces(unsigned seed, size_t total) {
  std::vector<size_t> out;
  if (seed == 0) {
    out.push_back(total);
    return out;
  }
  unsigned x = seed * 2654435761u;
  for (size_t done = 0; done < total;) {
    x = x * 1103515245u + 12345u;
    size_t n = std::min<size_t>(1 + (x >> 16) % 37, total - done);
    out.push_back(n);
    done += n;
  }
  return out;
}

// The lean reader as read_answer calls it: after each piece, on all bytes so far.
LeanAnswer lean_read(std::string_view input, const std::vector<size_t>& sizes,
                     uint64_t body_limit) {
  LeanAnswer a;
  a.reset();
  size_t have = 0;
  for (size_t n : sizes) {
    have += n;
    if (read_lean_answer(a, input.substr(0, have), kMaxAnswerHeader, body_limit,
                         kMaxReadBuffer) != LeanAnswer::State::reading)
      break;
  }
  return a;
}

struct BeastResult {
  bool ok = false;
  size_t used = 0;  // bytes the answer took
  std::optional<AnswerParser> parser;
};

// Beast as read_answer feeds it (the first answer only: the lean reader declines 1xx).
BeastResult beast_read(std::string_view input, const std::vector<size_t>& sizes,
                       uint64_t body_limit, bool keep_fields) {
  BeastResult r;
  r.parser.emplace(keep_fields);
  auto& p = *r.parser;
  p.body_limit(body_limit);
  p.header_limit(kMaxAnswerHeader);
  p.eager(true);
  std::string buf;
  size_t piece = 0, fed = 0;
  boost::system::error_code ec;
  while (!p.is_done()) {
    // The host's guard (custom_handler_pool.cc): under 5 bytes of a chunked body wait for more.
    if (!buf.empty() && !(p.chunked() && p.is_header_done() && buf.size() < 5)) {
      size_t used = p.put(boost::asio::buffer(buf), ec);
      buf.erase(0, used);
      r.used += used;
      if (ec && ec != bhttp::error::need_more) return r;
      bool need_more = ec == bhttp::error::need_more;
      ec = {};
      if (!need_more && used > 0) continue;
    }
    if (buf.size() >= kMaxReadBuffer) return r;  // buffer_overflow
    if (piece == sizes.size()) {
      if (!p.got_some()) return r;
      p.put_eof(ec);
      r.ok = !ec;
      return r;
    }
    buf.append(input.substr(fed, sizes[piece]));
    fed += sizes[piece++];
  }
  r.ok = true;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool keep_fields = data[0] & 1;
  uint64_t body_limit = (data[0] & 2) ? 64 : 1 << 20;
  unsigned seed = data[0] >> 2;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (input.empty()) return 0;

  auto whole = pieces(0, input.size());
  auto split = pieces(seed, input.size());
  LeanAnswer a = lean_read(input, whole, body_limit);
  LeanAnswer b = lean_read(input, split, body_limit);
  CHECK(a.state == b.state);
  if (a.state == LeanAnswer::State::declined) return 0;
  BeastResult r = beast_read(input, split, body_limit, keep_fields);
  if (a.state == LeanAnswer::State::reading) {
    CHECK(!r.ok);
    return 0;
  }
  CHECK(a.size() == b.size() && a.fields == b.fields && a.status == b.status);
  CHECK(r.ok);
  auto& p = *r.parser;
  CHECK(r.used == a.size());
  CHECK(p.status == a.status);
  CHECK(p.keep_alive() == a.keep_alive() && !p.need_eof());
  CHECK(p.body == a.body(input));
  if (keep_fields) {
    CHECK(p.fields.size() == a.fields);
    for (size_t i = 0; i < a.fields; ++i) {
      CHECK(p.fields[i].first == lean_field_name(a, input, i));
      CHECK(p.fields[i].second == lean_field_value(a, input, i));
    }
    std::string_view connection =
        a.connection >= 0 ? lean_field_value(a, input, static_cast<size_t>(a.connection)) : "";
    CHECK(p.connection == connection);
  }
  return 0;
}
