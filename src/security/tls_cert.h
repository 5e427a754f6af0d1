#pragma once
// The document endpoint's TLS certificate when the user names none: a self-signed one for
// localhost, generated on first start into <data>/tls/ (cert.pem, and key.pem with mode 0600)
// with the OpenSSL C API, reused while it is valid, and regenerated when it has expired (or
// will within a day), cannot be read, or does not match its key. The Cosmos DB emulator does
// the same with its own certificate; clients trust this one by its path (NODE_EXTRA_CA_CERTS,
// curl --cacert, an https.Agent's `ca`).
#include <chrono>
#include <optional>
#include <string>

namespace nimbus::security {

struct TlsFiles {
  std::string certificate;  // PEM certificate (chain)
  std::string key;          // PEM private key
};

struct TlsCertificate {
  TlsFiles files;
  bool generated = false;  // written by this call
  bool replaced = false;   // generated over an earlier pair that could not be used
  std::string why;         // when replaced: why the earlier pair was not used
  std::string not_after;   // the certificate's expiry, e.g. "Nov 29 19:05:00 2027 GMT"
};

// <data_dir>/tls/{cert.pem,key.pem}: loaded when usable, else (re)generated. nullopt with
// `error` naming the file and the fix when the directory or a file cannot be written.
std::optional<TlsCertificate> ensure_self_signed(const std::string& data_dir, std::string& error);

// Why `files` cannot serve TLS now (unreadable, not PEM, key does not match, expired or
// expiring within `margin`), or "" when they can. Sets `not_after` when the certificate parsed.
std::string check_certificate(const TlsFiles& files, std::chrono::seconds margin,
                              std::string* not_after = nullptr);

// Writes a fresh self-signed certificate (CN=localhost; SAN DNS:localhost, IP:127.0.0.1,
// IP:::1; EC P-256; SHA-256) valid from `not_before` to `not_after`, each file through a
// temporary name so a reader never sees half of one. The key is written before the
// certificate, so a crash between the two leaves a pair check_certificate refuses.
bool write_self_signed(const TlsFiles& files, std::chrono::system_clock::time_point not_before,
                       std::chrono::system_clock::time_point not_after, std::string& error);

}  // namespace nimbus::security
