#include "security/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

namespace fs = std::filesystem;
using nimbus::api::AuthLevel;
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

TEST(Keys, ShortKeysAreRefusedAtLoad) {
  fs::path dir = fs::temp_directory_path() / ("nimbus-keys-short-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string error;
  std::ofstream(dir / "keys.json") << R"({"masterKey":"x","functionKeys":{}})";
  EXPECT_FALSE(KeyStore::load(dir.string(), error));
  EXPECT_NE(error.find("masterKey: 1 characters is too short"), std::string::npos) << error;
  std::ofstream(dir / "keys.json")
      << R"({"masterKey":"0123456789abcdef0123","functionKeys":{"default":"abc"}})";
  EXPECT_FALSE(KeyStore::load(dir.string(), error));
  EXPECT_NE(error.find("functionKeys.default: 3 characters"), std::string::npos) << error;
  fs::remove_all(dir);
}

// Hosts starting at once on a fresh data directory: every one must end up with the same,
// whole keys file. Creating the file in place lets a racer read it half-written (empty).
TEST(Keys, RacingFirstStartsNeverSeeAPartialFile) {
  fs::path base = fs::temp_directory_path() / ("nimbus-keys-race-" + std::to_string(::getpid()));
  fs::remove_all(base);
  for (int round = 0; round < 30; ++round) {
    fs::path dir = base / std::to_string(round);
    int pipes[2];
    ASSERT_EQ(::pipe(pipes), 0);
    std::vector<pid_t> kids;
    for (int i = 0; i < 6; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        char go;
        ::close(pipes[1]);
        if (::read(pipes[0], &go, 1) < 0) ::_exit(3);  // start together
        std::string error;
        auto k = KeyStore::load_or_create(dir.string(), error);
        ::_exit(k && k->master_key().size() == 56 ? 0 : 1);
      }
      kids.push_back(pid);
    }
    ::close(pipes[0]);
    ::close(pipes[1]);  // EOF releases every child at once
    for (pid_t pid : kids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "round " << round;
    }
  }
  fs::remove_all(base);
}
