#pragma once
// The lean reader of a custom handler's usual HTTP answer: "HTTP/1.1 <3 digits> <reason>",
// well-formed `token ":" OWS value OWS CRLF` fields, a body framed by one plain Content-Length
// or by "Transfer-Encoding: chunked" with at most one chunk of data (plain hex size, no
// extensions, no trailers: what Node's `res.end(text)` after `writeHead` sends), all of it
// already in the buffer. It follows http/request_head.h: anything else, or anything it is
// unsure of, it declines *before any state changes*, and the pool's Beast parser
// (AnswerParser, custom_handler_pool.cc) reads the same bytes as it always did. What it
// accepts it reads exactly as the Beast path does (status, fields as sent, the first
// Connection value, body, keep-alive; need_eof is always false): unit tests in
// protocol_test.cc and the differential fuzz target custom_handler_fuzz compare the two.
// Asio-free, so the unit tests and the fuzz target call it directly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/invocation.h"

namespace nimbus::workers {

struct LeanAnswer {
  enum class State : uint8_t { reading, accepted, declined };
  State state = State::reading;
  bool connection_close = false;
  bool has_content_length = false;
  bool chunked = false;
  uint16_t status = 0;
  int16_t connection = -1;  // the Connection field, if any (only one is accepted)
  uint16_t fields = 0;
  uint32_t line = 0;  // the first line not yet checked
  uint32_t seen = 0;  // how far into that line no line end was found
  uint32_t head_size = 0;  // with its blank line, once the head is read
  uint64_t content_length = 0;
  uint32_t body_at = 0;     // where the body starts, once accepted
  uint32_t body_size = 0;
  uint32_t total = 0;       // the whole answer, once accepted
  struct Field {
    uint16_t name, name_size, value, value_size;
  };
  // Node sends ~5 fields; an answer with more is declined, not grown into.
  static constexpr size_t kMaxFields = 32;
  Field field[kMaxFields];

  // Ready for the next answer (the field table is left as it is: only `fields` of it count).
  void reset() {
    state = State::reading;
    connection_close = has_content_length = chunked = false;
    status = 0;
    connection = -1;
    fields = 0;
    line = seen = head_size = 0;
    content_length = 0;
    body_at = body_size = total = 0;
  }

  // HTTP/1.1 only: keep-alive unless "Connection: close" (and Content-Length framing, so the
  // connection never needs the end of stream).
  bool keep_alive() const { return !connection_close; }
  // The bytes the answer takes, and its body (both once accepted).
  size_t size() const { return total; }
  std::string_view body(std::string_view bytes) const { return bytes.substr(body_at, body_size); }
};

// Reads the answer at the start of `bytes` (what has arrived so far): accepted (head and body
// are all there, in the lean shape: the answer is the first size() bytes), declined (Beast
// takes over, from the same bytes), or still reading (call again with more). `header_limit`
// and `body_limit` are the pool's; a head or Content-Length beyond them is declined so that
// Beast reports it as it always has. `max_size`: the most the read buffer holds; an answer
// that would not fit is declined (Beast reads its body as it arrives).
LeanAnswer::State read_lean_answer(LeanAnswer& a, std::string_view bytes, size_t header_limit,
                                   uint64_t body_limit, size_t max_size);

// The fields of an accepted answer, as Beast's on_field callback gives them (name as sent,
// value without the OWS around it), in order.
inline std::string_view lean_field_name(const LeanAnswer& a, std::string_view bytes, size_t i) {
  return bytes.substr(a.field[i].name, a.field[i].name_size);
}
inline std::string_view lean_field_value(const LeanAnswer& a, std::string_view bytes, size_t i) {
  return bytes.substr(a.field[i].value, a.field[i].value_size);
}

}  // namespace nimbus::workers
