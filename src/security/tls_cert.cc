#include "security/tls_cert.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace nimbus::security {

namespace {

// Owners for OpenSSL objects, so every early return frees what it made.
struct FreeBio { void operator()(BIO* p) const { BIO_free(p); } };
struct FreeX509 { void operator()(X509* p) const { X509_free(p); } };
struct FreeKey { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct FreeBn { void operator()(BIGNUM* p) const { BN_free(p); } };
struct FreeExt { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };
using Bio = std::unique_ptr<BIO, FreeBio>;
using X509Ptr = std::unique_ptr<X509, FreeX509>;
using KeyPtr = std::unique_ptr<EVP_PKEY, FreeKey>;

// The reason OpenSSL gives for the last failure (its error queue emptied), or `fallback`.
std::string openssl_reason(const char* fallback) {
  unsigned long e = ERR_get_error();
  std::string out = fallback;
  if (e) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out;
}

std::string asn1_time_text(const ASN1_TIME* t) {
  Bio mem(BIO_new(BIO_s_mem()));
  if (!mem || ASN1_TIME_print(mem.get(), t) != 1) return "?";
  char* data = nullptr;
  long n = BIO_get_mem_data(mem.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string mem_text(BIO* mem) {
  char* data = nullptr;
  long n = BIO_get_mem_data(mem, &data);
  return std::string(data, static_cast<size_t>(n));
}

// Writes `text` to `path` through a temporary file in the same directory: written with
// `mode`, synced, renamed over the old file. A reader (or a crash) sees the old file or the
// new one, never part of one.
bool write_file(const std::string& path, const std::string& text, mode_t mode,
                std::string& error) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // left by a crash; O_EXCL below must not meet it
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    error = tmp + ": cannot be created (" + std::strerror(errno) +
            "); make the data directory writable or pass another --data DIR";
    return false;
  }
  ::fchmod(fd, mode);  // the umask may have narrowed it (never widened: 0600 stays 0600)
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int write_errno = errno;
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": cannot be written (" + std::strerror(ok ? errno : write_errno) +
            "); free some space or pass another --data DIR";
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool add_extension(X509* cert, X509V3_CTX& ctx, int nid, const char* value) {
  std::unique_ptr<X509_EXTENSION, FreeExt> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

std::string check_certificate(const TlsFiles& files, std::chrono::seconds margin,
                              std::string* not_after) {
  Bio cert_in(BIO_new_file(files.certificate.c_str(), "r"));
  if (!cert_in) {
    ERR_clear_error();
    return files.certificate + " cannot be read (" + std::strerror(errno) + ")";
  }
  X509Ptr cert(PEM_read_bio_X509(cert_in.get(), nullptr, nullptr, nullptr));
  if (!cert)
    return files.certificate + " is not a PEM certificate (" +
           openssl_reason("no certificate found") + ")";
  if (not_after) *not_after = asn1_time_text(X509_get0_notAfter(cert.get()));
  Bio key_in(BIO_new_file(files.key.c_str(), "r"));
  if (!key_in) {
    ERR_clear_error();
    return files.key + " cannot be read (" + std::strerror(errno) + ")";
  }
  KeyPtr key(PEM_read_bio_PrivateKey(key_in.get(), nullptr, nullptr, nullptr));
  if (!key)
    return files.key + " is not a PEM private key without a passphrase (" +
           openssl_reason("no key found") + ")";
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return files.key + " is not the private key of " + files.certificate;
  }
  time_t limit = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + margin);
  if (X509_cmp_time(X509_get0_notAfter(cert.get()), &limit) <= 0)
    return files.certificate + " expired or expires soon (not after " +
           asn1_time_text(X509_get0_notAfter(cert.get())) + ")";
  return {};
}

bool write_self_signed(const TlsFiles& files, std::chrono::system_clock::time_point not_before,
                       std::chrono::system_clock::time_point not_after, std::string& error) {
  auto fail = [&](const char* what) {
    error = std::string("generating the TLS certificate failed: ") + what + " (" +
            openssl_reason("unknown OpenSSL error") + ")";
    return false;
  };
  // P-256: every TLS client accepts it, and signing is far cheaper than RSA's at handshakes.
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return fail("EC P-256 key generation");
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return fail("X509_new");
  // A random 127-bit serial: two certificates from this generator never share one, which
  // a client that cached an earlier one would otherwise take for the same certificate.
  std::unique_ptr<BIGNUM, FreeBn> serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
    return fail("serial number");
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                     std::chrono::system_clock::to_time_t(not_before)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                     std::chrono::system_clock::to_time_t(not_after)))
    return fail("validity");
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return fail("public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  auto add_name = [&](const char* field, const char* value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value), -1, -1,
                                      0) == 1;
  };
  if (!add_name("O", "Nimbus local development") || !add_name("CN", "localhost") ||
      X509_set_issuer_name(cert.get(), name) != 1)
    return fail("subject name");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  // The extensions `openssl req -x509` gives a self-signed certificate (CA:TRUE with
  // keyCertSign, so OpenSSL-based clients accept it as its own trust anchor when given as
  // `ca`), plus serverAuth and the names clients check: the host name is matched against the
  // SAN only (the CN is ignored by current clients).
  if (!add_extension(cert.get(), ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !add_extension(cert.get(), ctx, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !add_extension(cert.get(), ctx, NID_ext_key_usage, "serverAuth") ||
      !add_extension(cert.get(), ctx, NID_subject_alt_name,
                     "DNS:localhost,IP:127.0.0.1,IP:::1") ||
      !add_extension(cert.get(), ctx, NID_subject_key_identifier, "hash") ||
      !add_extension(cert.get(), ctx, NID_authority_key_identifier, "keyid:always"))
    return fail("extensions");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return fail("signing");

  Bio key_pem(BIO_new(BIO_s_mem())), cert_pem(BIO_new(BIO_s_mem()));
  if (!key_pem || !cert_pem ||
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr,
                               nullptr) != 1 ||
      PEM_write_bio_X509(cert_pem.get(), cert.get()) != 1)
    return fail("PEM encoding");
  return write_file(files.key, mem_text(key_pem.get()), 0600, error) &&
         write_file(files.certificate, mem_text(cert_pem.get()), 0644, error);
}

std::optional<TlsCertificate> ensure_self_signed(const std::string& data_dir, std::string& error) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(data_dir) / "tls";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    error = dir.string() + ": cannot be created (" + ec.message() +
            "); pass a writable --data DIR, or give a certificate and key of your own";
    return std::nullopt;
  }
  ::chmod(dir.c_str(), 0700);  // the key inside is the endpoint's identity
  TlsCertificate out;
  out.files = {(dir / "cert.pem").string(), (dir / "key.pem").string()};
  // A day's margin: a host started just before expiry would otherwise serve a certificate
  // that clients refuse an hour later, until its next restart.
  if (fs::exists(out.files.certificate, ec) || fs::exists(out.files.key, ec)) {
    out.why = check_certificate(out.files, std::chrono::hours(24), &out.not_after);
    if (out.why.empty()) return out;
    out.replaced = true;
  }
  auto now = std::chrono::system_clock::now();
  // Valid from an hour ago (a client's clock a little behind ours still accepts it) for a
  // year, as the emulator's own certificate is.
  if (!write_self_signed(out.files, now - std::chrono::hours(1), now + std::chrono::days(365),
                         error))
    return std::nullopt;
  out.generated = true;
  if (std::string why = check_certificate(out.files, std::chrono::seconds(0), &out.not_after);
      !why.empty()) {
    error = "the generated TLS certificate cannot be used: " + why;
    return std::nullopt;
  }
  return out;
}

}  // namespace nimbus::security
