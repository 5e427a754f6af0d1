#pragma once
// A fresh directory under /tmp for one test, removed with everything in it at scope exit.
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace nimbus::fakes {

class TempDir {
 public:
  explicit TempDir(const char* prefix = "nimbus-test-") {
    std::string tmpl = std::string("/tmp/") + prefix + "XXXXXX";
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }  // empty if it could not be made

 private:
  std::string path_;
};

}  // namespace nimbus::fakes
