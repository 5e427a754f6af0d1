#include "common/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <string>
#include <vector>

namespace nimbus {

namespace {

// HMAC-SHA256 on SHA-256 states prepared once per key. OpenSSL 3's one-shot HMAC() fetches the
// algorithm and builds a MAC context on every call, which was about a tenth of the queue
// server's CPU per SDK put and a fifth of the document server's per point read; here each
// message costs two context copies and the hashing.
// Per thread (a service's I/O thread, a CLI, a load generator's threads), for the few account
// keys a process verifies with; a thread that sees more keys recomputes the oldest.
class HmacSha256 {
 public:
  HmacSha256() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), work_(EVP_MD_CTX_new()) {}
  ~HmacSha256() {
    for (auto& e : keys_) {
      EVP_MD_CTX_free(e.inner);
      EVP_MD_CTX_free(e.outer);
    }
    EVP_MD_CTX_free(work_);
    EVP_MD_free(md_);
  }
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  // False only when OpenSSL fails (out of memory); `mac` then holds nothing useful.
  bool mac(std::string_view key, std::string_view text, unsigned char (&mac)[32]) {
    if (!md_ || !work_) return false;
    const Key* k = find(key);
    if (!k) return false;
    unsigned char inner[32];
    unsigned int n = 0;
    return EVP_MD_CTX_copy_ex(work_, k->inner) &&
           EVP_DigestUpdate(work_, text.data(), text.size()) &&
           EVP_DigestFinal_ex(work_, inner, &n) && EVP_MD_CTX_copy_ex(work_, k->outer) &&
           EVP_DigestUpdate(work_, inner, sizeof inner) && EVP_DigestFinal_ex(work_, mac, &n);
  }

 private:
  static constexpr size_t kBlock = 64;  // SHA-256's block size
  static constexpr size_t kMaxKeys = 8;
  struct Key {
    std::string key;
    EVP_MD_CTX* inner = nullptr;  // after absorbing key ^ ipad
    EVP_MD_CTX* outer = nullptr;  // after absorbing key ^ opad
  };

  const Key* find(std::string_view key) {
    for (auto& e : keys_)
      if (e.key == key) return &e;
    unsigned char block[kBlock] = {};
    if (key.size() > kBlock) {
      unsigned int n = 0;
      if (!EVP_Digest(key.data(), key.size(), block, &n, md_, nullptr)) return nullptr;
    } else {
      std::copy(key.begin(), key.end(), block);
    }
    Key e{std::string(key), EVP_MD_CTX_new(), EVP_MD_CTX_new()};
    unsigned char ipad[kBlock], opad[kBlock];
    for (size_t i = 0; i < kBlock; ++i) {
      ipad[i] = block[i] ^ 0x36;
      opad[i] = block[i] ^ 0x5c;
    }
    bool ok = e.inner && e.outer && EVP_DigestInit_ex(e.inner, md_, nullptr) &&
              EVP_DigestUpdate(e.inner, ipad, kBlock) && EVP_DigestInit_ex(e.outer, md_, nullptr) &&
              EVP_DigestUpdate(e.outer, opad, kBlock);
    OPENSSL_cleanse(block, kBlock);
    OPENSSL_cleanse(ipad, kBlock);
    OPENSSL_cleanse(opad, kBlock);
    if (!ok) {
      EVP_MD_CTX_free(e.inner);
      EVP_MD_CTX_free(e.outer);
      return nullptr;
    }
    if (keys_.size() == kMaxKeys) {
      EVP_MD_CTX_free(keys_.front().inner);
      EVP_MD_CTX_free(keys_.front().outer);
      keys_.erase(keys_.begin());
    }
    keys_.push_back(std::move(e));
    return &keys_.back();
  }

  EVP_MD* md_;
  EVP_MD_CTX* work_;
  std::vector<Key> keys_;
};

}  // namespace

void hmac_sha256(std::string_view key, std::string_view text, unsigned char (&mac)[32]) {
  thread_local HmacSha256 hmac;
  if (hmac.mac(key, text, mac)) return;
  // OpenSSL could not allocate: the one-shot path (slower, same answer).
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
}

}  // namespace nimbus
