#pragma once
// Identifiers and wall-clock formatting shared by every module.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nimbus {

// Random RFC 4122 version-4 UUID, lower-case, for invocation and request ids. Unique, not
// secret: use random_bytes for anything an attacker must not guess.
std::string new_uuid();
// Appends a new_uuid() to `out`, for a payload that carries one (no string of its own).
void append_uuid(std::string& out);
// `bytes` random bytes as 2 * bytes lower-case hex digits, never all zero (W3C trace and span
// ids). Unique, not secret, as new_uuid.
std::string unique_hex(size_t bytes);
// `n` cryptographically random bytes.
std::string random_bytes(size_t n);
// URL-safe base64 (RFC 4648 §5) with padding kept, as Azure's function keys are.
std::string base64url_encode(std::string_view bytes);
std::string base64_encode(std::string_view bytes);
// False when `text` is not valid standard base64.
bool base64_decode(std::string_view text, std::string& out);
// Now, in Unix milliseconds (the wall clock every store and trigger stamps times with).
int64_t unix_now_ms();
// Now, as 2026-11-26T13:29:00.123Z.
std::string iso8601_now_ms();
// A Unix time in milliseconds, in the same form.
std::string iso8601_ms(int64_t unix_ms);
// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil-days algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
// A Unix time in milliseconds as an HTTP date, "Thu, 01 Jan 1970 00:00:00 GMT" (RFC 1123, the
// x-ms-date and Date form of the queue and document services). Held to four-digit years
// (0000..9999); seconds are floored.
std::string rfc1123(int64_t unix_ms);
// Parses "2026-11-29T14:19:29Z", with optional fractional seconds and a "Z" or "+hh:mm" /
// "-hh:mm" offset (no offset: UTC, as Azure's startFromTime documents); Unix milliseconds, or
// nullopt when the text is not such a time.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace nimbus
