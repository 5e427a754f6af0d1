#include "security/keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "common/ids.h"
#include "common/json_util.h"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace nimbus::security {

namespace {
bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

std::string KeyStore::generate_key() { return base64url_encode(random_bytes(40)); }

KeyStore KeyStore::from_keys(std::string master, std::map<std::string, std::string> host_keys) {
  KeyStore k;
  k.master_ = std::move(master);
  k.host_keys_ = std::move(host_keys);
  return k;
}

std::optional<KeyStore> KeyStore::load(const std::string& data_dir, std::string& error) {
  std::string path = (fs::path(data_dir) / "keys.json").string();
  auto doc = read_json_file(path, path);
  if (!doc.value) {
    error = doc.error;
    return std::nullopt;
  }
  const auto* obj = doc.value->if_object();
  const json::value* master = obj ? obj->if_contains("masterKey") : nullptr;
  if (!master || !master->is_string() || master->as_string().empty()) {
    error = path + ": masterKey: missing; delete the file to generate new keys";
    return std::nullopt;
  }
  KeyStore k;
  k.master_ = std::string(master->as_string());
  if (k.master_.size() < kMinKeyLength) {
    error = path + ": masterKey: " + std::to_string(k.master_.size()) +
            " characters is too short to resist guessing; use at least " +
            std::to_string(kMinKeyLength) + " (or delete the file to generate new keys)";
    return std::nullopt;
  }
  if (const auto* fk = obj->if_contains("functionKeys"); fk && fk->is_object())
    for (const auto& kv : fk->as_object()) {
      if (!kv.value().is_string()) continue;
      std::string value(kv.value().as_string());
      if (value.size() < kMinKeyLength) {
        error = path + ": functionKeys." + std::string(kv.key()) + ": " +
                std::to_string(value.size()) + " characters is too short; use at least " +
                std::to_string(kMinKeyLength) + " (or remove it)";
        return std::nullopt;
      }
      k.host_keys_[std::string(kv.key())] = std::move(value);
    }
  return k;
}

std::optional<KeyStore> KeyStore::load_or_create(const std::string& data_dir, std::string& error) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    error = data_dir + ": cannot create the data directory (" + ec.message() +
            "); pass a writable --data DIR";
    return std::nullopt;
  }
  std::string path = (fs::path(data_dir) / "keys.json").string();
  if (fs::exists(path, ec)) return load(data_dir, error);
  json::object doc;
  std::string master = generate_key();
  std::string def = generate_key();
  doc["masterKey"] = master;
  doc["functionKeys"] = json::object{{"default", def}};
  std::string text = json::serialize(doc) + "\n";
  // Written to a temporary file, synced, then linked into place: a crash leaves either no
  // keys.json or a whole one (never an empty file that stops the next start), and link()
  // fails with EEXIST if another host created the keys meanwhile, whose keys then win.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = path + ": cannot be created (" + std::string(strerror(errno)) +
            "); pass a writable --data DIR";
    return std::nullopt;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  int linked = ok ? ::link(tmp.c_str(), path.c_str()) : -1;
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!ok) {
    error = path + ": cannot be written (" + std::string(strerror(errno)) + ")";
    return std::nullopt;
  }
  if (linked != 0) {
    if (link_errno == EEXIST) return load(data_dir, error);
    error = path + ": cannot be created (" + std::string(strerror(link_errno)) + ")";
    return std::nullopt;
  }
  if (int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);  // the new name itself survives a crash
    ::close(dir);
  }
  KeyStore k;
  k.master_ = master;
  k.host_keys_["default"] = def;
  return k;
}

bool KeyStore::authorize(api::AuthLevel level, std::string_view presented) const {
  if (level == api::AuthLevel::anonymous) return true;
  if (presented.empty()) return false;
  if (same(presented, master_)) return true;
  if (level == api::AuthLevel::admin) return false;
  for (const auto& kv : host_keys_)
    if (same(presented, kv.second)) return true;
  return false;
}

}  // namespace nimbus::security
