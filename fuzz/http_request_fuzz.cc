// The HTTP request parser as the server runs it (Beast's parser with the host's limits and
// its guard against oversized fields, then the target, query and header mapping), offered the
// input at once and, as a session reads a socket, in pieces through the session's own
// buffering (head first, then the body); both must agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The size of the pieces (1-128 bytes) follows from the input, which stays a plain request.
  size_t piece = 1 + (size * 7 + (size ? data[0] : 0)) % 128;
  // Small limits reach the limit paths often; a large header limit reaches the field guard.
  auto whole = nimbus::http::parse_request(bytes, 4096, 8192);
  auto split = nimbus::http::parse_request(bytes, 4096, 8192, piece);
  nimbus::http::parse_request(bytes, 1 << 20, 1 << 20);
  // Parsed whole, parsed in pieces: the same request. (The error status may differ only
  // where the two stop: the whole parse sees everything at once.)
  if (whole.status == 0 && split.status == 0) {
    if (whole.request.method != split.request.method ||
        whole.request.target != split.request.target ||
        whole.request.headers != split.request.headers || whole.request.body != split.request.body)
      std::abort();
  }
  return 0;
}
