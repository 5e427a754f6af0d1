#include "security/tls_cert.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "testing/temp_dir.h"

namespace fs = std::filesystem;
using namespace nimbus::security;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The certificate at `path`, parsed; null when it is not one.
std::unique_ptr<X509, void (*)(X509*)> read_cert(const std::string& path) {
  X509* x = nullptr;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    x = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  return {x, X509_free};
}

}  // namespace

TEST(TlsCert, GeneratedOnceForLocalhostWithAPrivateKey) {
  nimbus::fakes::TempDir dir;
  std::string error;
  auto a = ensure_self_signed(dir.path(), error);
  ASSERT_TRUE(a) << error;
  EXPECT_TRUE(a->generated);
  EXPECT_FALSE(a->replaced);
  EXPECT_EQ(a->files.certificate, dir.path() + "/tls/cert.pem");
  EXPECT_EQ(a->files.key, dir.path() + "/tls/key.pem");
  struct stat st {};
  ASSERT_EQ(::stat(a->files.key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto cert = read_cert(a->files.certificate);
  ASSERT_TRUE(cert);
  // Names a client checks: localhost and both loopback addresses, in the SAN.
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "example.com", 0, 0, nullptr), 1);
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "localhost");
  // EC P-256, self-signed, valid for about a year.
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  ASSERT_TRUE(pub);
  EXPECT_EQ(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(pub), 256);
  EXPECT_EQ(X509_verify(cert.get(), pub), 1);
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert.get())), 1);
  EXPECT_GE(days, 363);
  EXPECT_LE(days, 366);

  // A second start reuses the pair as it is.
  std::string before = slurp(a->files.certificate);
  auto b = ensure_self_signed(dir.path(), error);
  ASSERT_TRUE(b) << error;
  EXPECT_FALSE(b->generated);
  EXPECT_EQ(slurp(b->files.certificate), before);
  EXPECT_EQ(b->not_after, a->not_after);
}

TEST(TlsCert, RegeneratedWhenExpiredUnreadableOrMismatched) {
  nimbus::fakes::TempDir dir;
  std::string error;
  auto first = ensure_self_signed(dir.path(), error);
  ASSERT_TRUE(first) << error;

  // Expired (a week-old certificate valid for a day).
  auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(write_self_signed(first->files, now - 7 * 24h, now - 6 * 24h, error)) << error;
  EXPECT_NE(check_certificate(first->files, 0s).find("expired"), std::string::npos);
  auto renewed = ensure_self_signed(dir.path(), error);
  ASSERT_TRUE(renewed) << error;
  EXPECT_TRUE(renewed->generated);
  EXPECT_TRUE(renewed->replaced);
  EXPECT_NE(renewed->why.find("expired"), std::string::npos) << renewed->why;
  EXPECT_EQ(check_certificate(renewed->files, 0s), "");

  // Expiring within the day's margin counts as expired.
  ASSERT_TRUE(write_self_signed(first->files, now - 24h, now + 2h, error)) << error;
  EXPECT_EQ(check_certificate(first->files, 0s), "");
  EXPECT_TRUE(ensure_self_signed(dir.path(), error)->generated);

  // Garbage in the certificate file.
  { std::ofstream(first->files.certificate) << "not a certificate"; }
  auto fixed = ensure_self_signed(dir.path(), error);
  ASSERT_TRUE(fixed) << error;
  EXPECT_TRUE(fixed->generated);
  EXPECT_NE(fixed->why.find("not a PEM certificate"), std::string::npos) << fixed->why;

  // The key of another pair (a crash between the two renames).
  std::string cert_text = slurp(fixed->files.certificate);
  ASSERT_TRUE(write_self_signed(fixed->files, now - 1h, now + 48h, error)) << error;
  { std::ofstream(fixed->files.certificate) << cert_text; }
  EXPECT_NE(check_certificate(fixed->files, 0s).find("is not the private key"),
            std::string::npos);
  auto matched = ensure_self_signed(dir.path(), error);
  ASSERT_TRUE(matched) << error;
  EXPECT_TRUE(matched->generated);

  // A missing key alone.
  fs::remove(matched->files.key);
  EXPECT_NE(check_certificate(matched->files, 0s).find("cannot be read"), std::string::npos);
  EXPECT_TRUE(ensure_self_signed(dir.path(), error)->generated);
}

TEST(TlsCert, AnUnusableDataDirectoryIsAnErrorNamingIt) {
  // A file where the data directory should be: fails for root as for anyone.
  nimbus::fakes::TempDir dir;
  std::string not_dir = dir.path() + "/file";
  { std::ofstream(not_dir) << "x"; }
  std::string error;
  EXPECT_FALSE(ensure_self_signed(not_dir, error));
  EXPECT_NE(error.find(not_dir + "/tls"), std::string::npos) << error;
  EXPECT_NE(error.find("--data"), std::string::npos) << error;
}
