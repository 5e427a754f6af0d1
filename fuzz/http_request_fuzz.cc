// The HTTP request parser as the server runs it (Beast's parser with the host's limits and
// its guard against oversized fields, then the target, query and header mapping).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Small limits reach the limit paths often; a large header limit reaches the field guard.
  nimbus::http::parse_request(bytes, 4096, 8192);
  nimbus::http::parse_request(bytes, 1 << 20, 1 << 20);
  return 0;
}
