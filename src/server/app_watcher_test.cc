// --watch sorts changed files by what they affect; the poll itself is covered end to end by
// tests/integration/watch.test.mjs.
#include "server/app_watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using nimbus::server::AppWatcher;

namespace {
fs::path make_app() {
  fs::path dir = fs::temp_directory_path() / ("nimbus-watch-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "hello");
  fs::create_directories(dir / "node_modules" / "x");
  fs::create_directories(dir / ".nimbus-data");
  for (const char* f : {"host.json", "handler.js", "hello/function.json", "node_modules/x/a.js",
                        ".nimbus-data/nimbus.db", "lib.so"})
    std::ofstream(dir / f) << "1";
  return dir;
}
void touch(const fs::path& p, const char* text) { std::ofstream(p) << text; }
}  // namespace

TEST(AppWatcher, SortsChangesAndSkipsDependenciesAndData) {
  fs::path dir = make_app();
  boost::asio::io_context io;
  nimbus::Logger log(nimbus::LogLevel::none);
  AppWatcher handler_app(io, {dir.string(), "", true, (dir / ".nimbus-data").string()}, log);
  auto before = handler_app.scan();
  EXPECT_TRUE(before.contains("handler.js"));
  EXPECT_TRUE(before.contains("hello/function.json"));
  EXPECT_FALSE(before.contains("node_modules/x/a.js"));
  EXPECT_FALSE(before.contains(".nimbus-data/nimbus.db"));
  touch(dir / "handler.js", "changed");
  touch(dir / "hello/function.json", "{changed}");
  fs::remove(dir / "host.json");
  auto c = handler_app.diff(before, handler_app.scan());
  EXPECT_EQ(c.handler, std::vector<std::string>{"handler.js"});
  EXPECT_EQ(c.spec, (std::vector<std::string>{"hello/function.json", "host.json"}));
  EXPECT_TRUE(c.library.empty());

  // A native app: only its spec files and library; its other files are not read.
  AppWatcher native_app(io, {dir.string(), (dir / "lib.so").string(), false, ""}, log);
  before = native_app.scan();
  EXPECT_FALSE(before.contains("handler.js"));
  touch(dir / "lib.so", "new build");
  touch(dir / "handler.js", "ignored");
  c = native_app.diff(before, native_app.scan());
  EXPECT_EQ(c.library, std::vector<std::string>{"lib.so"});
  EXPECT_TRUE(c.handler.empty());
  EXPECT_TRUE(c.spec.empty());
  fs::remove_all(dir);
}
