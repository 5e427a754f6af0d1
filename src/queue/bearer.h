#pragma once
// OAuth bearer tokens (Authorization: Bearer <JWT>) on the queue service with Azurite's "basic"
// checks: over HTTPS only; the JWT's payload must name an Azure AD issuer, a storage audience
// (this account's queue endpoint or storage.azure.com) and a lifetime that includes now.
// The token's signature is NOT verified (there is no Azure AD here to fetch keys from): any
// client can mint a token this accepts, so it is a compatibility feature for local
// development, not a security boundary. The README says so.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "queue/queue_protocol.h"

namespace nimbus::queue {

// The claims the checks read, from the JWT's payload (base64url JSON).
struct JwtClaims {
  std::string iss, tid;
  std::vector<std::string> aud;  // a string or an array of strings in the token
  std::optional<int64_t> nbf, exp, iat;  // seconds since the epoch
};
// nullopt with `error` when `token` is not header.payload[.signature] with a JSON object
// payload whose claims have the JWT types.
std::optional<JwtClaims> decode_jwt(std::string_view token, std::string& error);

struct BearerDecision {
  bool ok = true;
  ServiceError error;
  std::string www_authenticate;  // the challenge header for 401 answers; empty otherwise
};

// `authorization` is the whole header value ("Bearer ..."); `account` the URL's account.
BearerDecision verify_bearer(std::string_view authorization, std::string_view account,
                             bool https, int64_t now_ms);

}  // namespace nimbus::queue
