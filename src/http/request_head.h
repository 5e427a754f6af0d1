#pragma once
// The lean reader of a request head: the usual shape of a request (a known method, a plain
// target, HTTP/1.1 or 1.0, well-formed fields, a body framed by one Content-Length or none),
// read with word-at-a-time scans instead of Beast's byte loops (Beast's parse was ~13,000
// instructions of an SDK request's ~15 fields; bench/README.md, branch httpparse). Anything
// else, or anything it is unsure of, it declines, and the server's Beast parser reads the same
// bytes as it always did. Asio-free, so the unit tests and the fuzz target call it directly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/invocation.h"

namespace nimbus::http {

// What the lean reader learned of one head, kept while the head arrives in pieces: every
// complete line is checked once, and a later call goes on from the first line not yet seen.
// Positions are offsets from the head's first byte (the bytes are never consumed before the
// head is accepted, so the offsets stay valid while the buffer grows or moves).
struct LeanHead {
  enum class State : uint8_t { reading, accepted, declined };
  State state = State::reading;
  uint8_t method_size = 0;
  bool http11 = true;
  bool head_method = false;     // HEAD: the answer keeps its Content-Length, sends no body
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool has_content_length = false;
  int16_t host = -1;            // the last Host field, as Beast's callback keeps it
  uint16_t fields = 0;
  uint32_t line = 0;            // the first line not yet checked
  uint32_t seen = 0;            // how far into that line no line end was found
  uint32_t target = 0, target_size = 0;
  uint32_t size = 0;            // the head with its blank line, once accepted
  uint64_t content_length = 0;
  struct Field {
    uint16_t name, name_size, value, value_size;
  };
  // SDK requests carry ~15 fields; a head with more is declined, not grown into.
  static constexpr size_t kMaxFields = 48;
  Field field[kMaxFields];

  bool keep_alive() const { return http11 ? !connection_close : connection_keep_alive; }
};

// Reads the head at the start of `bytes` (what has arrived so far) as far as it can: accepted
// (the whole head is there and in the lean shape), declined (something outside it: Beast
// takes over, from the same bytes), or still reading (the head is incomplete: call again with
// more). `header_limit` and `body_limit` are the server's; a head or Content-Length beyond
// them is declined so that Beast answers it as it always has (431, 413).
LeanHead::State read_lean_head(LeanHead& h, std::string_view bytes, size_t header_limit,
                               uint64_t body_limit);

// Writes an accepted head into `out` as the Beast callbacks would: method, target, host and
// every field in order (none is an Expect: such a head is declined).
void take_lean_head(const LeanHead& h, std::string_view bytes, api::HttpRequestData& out);

}  // namespace nimbus::http
