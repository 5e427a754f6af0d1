#include "common/log.h"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>

#include "common/ids.h"

namespace nimbus {

namespace {
constexpr std::string_view kNames[] = {"Trace",   "Debug",    "Information", "Warning",
                                       "Error",   "Critical", "None"};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}
}  // namespace

bool parse_log_level(std::string_view name, LogLevel& out) {
  for (int i = 0; i < 7; ++i) {
    if (iequals(name, kNames[i])) {
      out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

std::string_view log_level_name(LogLevel level) { return kNames[static_cast<int>(level)]; }

std::string exception_message(std::exception_ptr e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

void Logger::log(LogLevel level, std::string_view category, std::string_view msg,
                 boost::json::object fields) {
  if (enabled(level)) write(level, category, msg, std::move(fields));
}

void Logger::write(LogLevel level, std::string_view category, std::string_view msg,
                   boost::json::object fields) {
  if (min_ == LogLevel::none) return;
  boost::json::object line;
  line["ts"] = iso8601_now_ms();
  line["level"] = log_level_name(level);
  line["category"] = category;
  line["msg"] = msg;
  for (auto& kv : fields) line[kv.key()] = std::move(kv.value());
  std::string text = boost::json::serialize(line);
  text.push_back('\n');
  std::lock_guard lock(mu_);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace nimbus
