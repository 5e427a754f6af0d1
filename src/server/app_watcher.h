#pragma once
// `nimbus start --watch`: notices saved changes to an app folder and reports them, sorted by
// what they affect, to the Host (which decides what to reload). Polls file modification times
// and sizes every `interval` (no inotify: the same code works on every file system, including
// bind mounts and editors that replace files by rename). A change is reported only after the
// folder has been quiet for one more interval, so a compiler writing a library in several
// steps, or an editor's save-by-rename, is one reload of the finished files.
//
// What is watched: host.json, local.settings.json, <function>/function.json, the native
// library named in host.json (wherever it is), and for a custom-handler app every other file
// under the app folder except dot-folders, node_modules and the data directory (at most
// kMaxFiles files; past that a warning, and the rest are not watched).
//
// Threading: runs on the host's I/O thread; the scan is a bounded stat() walk of a small
// folder. Reports are serial: the next poll waits until the previous report was handled.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/log.h"

namespace nimbus::server {

struct AppChanges {
  std::vector<std::string> spec;     // host.json, local.settings.json, */function.json
  std::vector<std::string> library;  // the native library
  std::vector<std::string> handler;  // a custom handler's other files
  bool empty() const { return spec.empty() && library.empty() && handler.empty(); }
  // "handler.js, host.json" (paths relative to the app folder), for the log.
  std::string describe() const;
};

class AppWatcher {
 public:
  static constexpr size_t kMaxFiles = 5000;
  struct Options {
    std::string root;             // the app folder
    std::string library;          // the native library's path, or ""
    bool handler_files = false;   // a custom-handler app: its other files count
    std::string data_dir;         // never watched
    std::chrono::milliseconds interval{500};
  };
  using OnChange = std::function<boost::asio::awaitable<void>(AppChanges)>;

  AppWatcher(boost::asio::io_context& io, Options options, Logger& log);
  // Takes the first snapshot now; changes after it are reported to `on_change`.
  void start(OnChange on_change);
  void stop();

  // One file's state; a file that vanished is absent from the snapshot.
  struct Stamp {
    int64_t mtime_ns = 0;
    uintmax_t size = 0;
    bool operator==(const Stamp&) const = default;
  };
  using Snapshot = std::map<std::string, Stamp>;  // relative path (or the library's path)
  Snapshot scan();
  // The changes between two snapshots, sorted by kind. Exposed for tests.
  AppChanges diff(const Snapshot& before, const Snapshot& after) const;

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<bool> pause();

  boost::asio::io_context& io_;
  Options opt_;
  Logger& log_;
  OnChange on_change_;
  boost::asio::steady_timer timer_;
  bool stopping_ = false;
  bool warned_too_many_ = false;
};

}  // namespace nimbus::server
