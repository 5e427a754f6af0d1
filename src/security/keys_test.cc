#include "security/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using nimbus::config::AuthLevel;
using nimbus::security::KeyStore;

TEST(Keys, LevelsAreEnforced) {
  auto k = KeyStore::from_keys("master-key", {{"default", "host-key"}});
  EXPECT_TRUE(k.authorize(AuthLevel::anonymous, ""));
  EXPECT_FALSE(k.authorize(AuthLevel::function, ""));
  EXPECT_FALSE(k.authorize(AuthLevel::function, "wrong"));
  EXPECT_FALSE(k.authorize(AuthLevel::function, "host-ke"));
  EXPECT_TRUE(k.authorize(AuthLevel::function, "host-key"));
  EXPECT_TRUE(k.authorize(AuthLevel::function, "master-key"));
  EXPECT_FALSE(k.authorize(AuthLevel::admin, "host-key"));
  EXPECT_TRUE(k.authorize(AuthLevel::admin, "master-key"));
}

TEST(Keys, GeneratedOnceWithMode0600) {
  fs::path dir = fs::temp_directory_path() / ("nimbus-keys-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::string error;
  auto a = KeyStore::load_or_create(dir.string(), error);
  ASSERT_TRUE(a) << error;
  struct stat st {};
  ASSERT_EQ(::stat((dir / "keys.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(a->master_key().size(), 56u);  // base64 of 40 bytes
  EXPECT_NE(a->master_key(), a->host_keys().at("default"));
  auto b = KeyStore::load_or_create(dir.string(), error);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(a->master_key(), b->master_key());
  EXPECT_EQ(a->host_keys(), b->host_keys());
  std::ofstream(dir / "keys.json") << "{\"functionKeys\":{}}";
  EXPECT_FALSE(KeyStore::load(dir.string(), error));
  EXPECT_NE(error.find("masterKey: missing"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Keys, GeneratedKeysAreUrlSafeAndDistinct) {
  auto a = KeyStore::generate_key(), b = KeyStore::generate_key();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_of("+/"), std::string::npos);
}
