#pragma once

#include <string_view>

namespace nimbus {

// HMAC-SHA256 (RFC 2104) of `text` under `key`, into `mac`. The queue service's SharedKey and
// SAS signatures and the document service's master-key tokens all sign with it, once per request.
void hmac_sha256(std::string_view key, std::string_view text, unsigned char (&mac)[32]);

}  // namespace nimbus
