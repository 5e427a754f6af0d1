#pragma once
// Function keys as Azure's `files` secret storage keeps them: a master key (admin level) and
// host keys (valid for every function), generated on first start into <data>/keys.json with
// mode 0600. Immutable after load; safe to share between threads.
#include <map>
#include <optional>
#include <string>

#include "api/function.h"

namespace nimbus::security {

class KeyStore {
 public:
  // Loads <data_dir>/keys.json, creating the directory and the keys when missing.
  // Returns nullopt and sets `error` when the file exists but cannot be used.
  static std::optional<KeyStore> load_or_create(const std::string& data_dir, std::string& error);
  // Reads without creating; for `nimbus keys list`.
  static std::optional<KeyStore> load(const std::string& data_dir, std::string& error);
  static KeyStore from_keys(std::string master, std::map<std::string, std::string> host_keys);

  // True when `presented` (from x-functions-key or ?code=) grants `level`.
  bool authorize(api::AuthLevel level, std::string_view presented) const;

  const std::string& master_key() const { return master_; }
  const std::map<std::string, std::string>& host_keys() const { return host_keys_; }

  // Keys shorter than this are refused at load: a guessable key is no key.
  static constexpr size_t kMinKeyLength = 16;

  // A fresh key: URL-safe base64 of 40 random bytes, as Azure's SecretGenerator sizes them.
  static std::string generate_key();

 private:
  std::string master_;
  std::map<std::string, std::string> host_keys_;
};

}  // namespace nimbus::security
