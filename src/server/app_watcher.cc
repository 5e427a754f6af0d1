#include "server/app_watcher.h"

#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>

namespace nimbus::server {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

bool stamp_of(const fs::path& p, AppWatcher::Stamp& out) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  out.size = static_cast<uintmax_t>(st.st_size);
  return true;
}

bool is_spec_file(const std::string& rel) {
  if (rel == "host.json" || rel == "local.settings.json") return true;
  fs::path p(rel);
  return p.filename() == "function.json" && p.has_parent_path() &&
         !p.parent_path().has_parent_path();
}

}  // namespace

std::string AppChanges::describe() const {
  std::string out;
  for (const auto* list : {&spec, &library, &handler})
    for (const auto& f : *list) out += (out.empty() ? "" : ", ") + f;
  return out;
}

AppWatcher::AppWatcher(asio::io_context& io, Options options, Logger& log)
    : io_(io), opt_(std::move(options)), log_(log), timer_(io) {
  if (!opt_.library.empty()) opt_.library = fs::absolute(opt_.library).lexically_normal().string();
  if (!opt_.data_dir.empty())
    opt_.data_dir = fs::absolute(opt_.data_dir).lexically_normal().string();
}

AppWatcher::Snapshot AppWatcher::scan() {
  Snapshot snap;
  fs::path root = fs::absolute(opt_.root).lexically_normal();
  Stamp st;
  for (const char* name : {"host.json", "local.settings.json"})
    if (stamp_of(root / name, st)) snap[name] = st;
  std::error_code ec;
  if (opt_.handler_files) {
    // The whole folder: a handler may be any set of files (scripts, a binary, its data).
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path& p = it->path();
      std::string name = p.filename().string();
      std::error_code e2;
      if (it->is_directory(e2)) {
        if (name.starts_with(".") || name == "node_modules" ||
            (!opt_.data_dir.empty() && p.lexically_normal().string() == opt_.data_dir))
          it.disable_recursion_pending();
        continue;
      }
      if (snap.size() >= kMaxFiles) {
        if (!warned_too_many_)
          log_.warn("Host.Reload",
                    "--watch: " + root.string() + " holds more than " +
                        std::to_string(kMaxFiles) +
                        " files; only the first are watched. Move build output and "
                        "dependencies out of the app folder, or into node_modules or a "
                        "dot-folder, which are not watched");
        warned_too_many_ = true;
        break;
      }
      std::string abs = p.lexically_normal().string();
      if (abs == opt_.library) continue;  // added below under its own key
      if (stamp_of(p, st)) snap[p.lexically_relative(root).generic_string()] = st;
    }
  } else {
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code e2;
      if (!it->is_directory(e2)) continue;
      if (stamp_of(it->path() / "function.json", st))
        snap[it->path().filename().string() + "/function.json"] = st;
    }
  }
  if (!opt_.library.empty() && stamp_of(opt_.library, st)) snap[opt_.library] = st;
  return snap;
}

AppChanges AppWatcher::diff(const Snapshot& before, const Snapshot& after) const {
  AppChanges c;
  auto add = [&](const std::string& key) {
    if (!opt_.library.empty() && key == opt_.library) {
      // Relative to the app folder when it is inside it, else as it is.
      std::string rel =
          fs::path(key).lexically_relative(fs::absolute(opt_.root).lexically_normal()).generic_string();
      c.library.push_back(rel.empty() || rel.starts_with("..") ? key : rel);
    }
    else if (is_spec_file(key))
      c.spec.push_back(key);
    else if (opt_.handler_files)
      c.handler.push_back(key);
  };
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    if (it == before.end() || !(it->second == v)) add(k);
  }
  for (const auto& [k, v] : before)
    if (!after.contains(k)) add(k);
  return c;
}

void AppWatcher::start(OnChange on_change) {
  on_change_ = std::move(on_change);
  asio::co_spawn(io_, run(), log_if_thrown(log_, "Host.Reload", "--watch stopped"));
}

void AppWatcher::stop() {
  stopping_ = true;
  timer_.cancel();
}

asio::awaitable<bool> AppWatcher::pause() {
  timer_.expires_after(opt_.interval);
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !stopping_;
}

asio::awaitable<void> AppWatcher::run() {
  Snapshot seen = scan();
  while (co_await pause()) {
    Snapshot now = scan();
    if (now == seen) continue;
    // Debounce: wait until two polls in a row agree, so a file written in steps is read
    // once it is whole.
    for (;;) {
      if (!co_await pause()) co_return;
      Snapshot again = scan();
      if (again == now) break;
      now = std::move(again);
    }
    AppChanges changes = diff(seen, now);
    seen = std::move(now);
    if (!changes.empty()) co_await on_change_(std::move(changes));
  }
}

}  // namespace nimbus::server
