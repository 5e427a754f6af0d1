#include "common/log.h"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "common/ascii.h"
#include "common/ids.h"

namespace nimbus {

namespace {
constexpr std::string_view kNames[] = {"Trace",   "Debug",    "Information", "Warning",
                                       "Error",   "Critical", "None"};

}  // namespace

bool parse_log_level(std::string_view name, LogLevel& out) {
  for (int i = 0; i < 7; ++i) {
    if (ascii_iequals(name, kNames[i])) {
      out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

std::string_view log_level_name(LogLevel level) { return kNames[static_cast<int>(level)]; }

size_t utf8_sequence_length(std::string_view s) {
  if (s.empty()) return 0;
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;  // a continuation byte, C0/C1 (always overlong) or F5..FF
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b(i) & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_sequence_length(text.substr(i));
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

namespace {

// `prefix` then the byte as two lower-case hex digits: the visible form of a byte the log
// will not pass through (as \u00XX in JSON, \xHH in text).
void append_hex(std::string& out, std::string_view prefix, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  out.push_back(kHex[byte >> 4]);
  out.push_back(kHex[byte & 15]);
}

}  // namespace

std::string escape_log_json(std::string_view in) {
  // Boost.JSON escapes '"', '\\' and C0 controls but copies other bytes as they are; every byte
  // >= 0x7F in its output is inside a string, so it can be rewritten in place here.
  size_t i = 0;
  while (i < in.size() && static_cast<unsigned char>(in[i]) < 0x7F) ++i;
  if (i == in.size()) return std::string(in);  // the common case: plain ASCII
  std::string out(in.substr(0, i));
  out.reserve(in.size() + 16);
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c < 0x7F) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    size_t n = c == 0x7F ? 1 : utf8_sequence_length(in.substr(i));
    if (c == 0x7F || (n == 2 && c == 0xC2 && static_cast<unsigned char>(in[i + 1]) < 0xA0)) {
      // DEL and the C1 controls (CSI is U+009B) mean something to terminals.
      append_hex(out, "\\u00", c == 0x7F ? c : static_cast<unsigned char>(in[i + 1]));
      i += n;
    } else if (n == 0) {
      append_hex(out, "\\\\x", c);  // JSON for a visible backslash, then x and two hex digits
      ++i;
    } else {
      out.append(in, i, n);
      i += n;
    }
  }
  return out;
}

namespace {

// Text for a terminal: printable UTF-8 kept; C0/C1 controls, DEL and bytes that are not UTF-8
// become the visible \xHH (C1 as \u0080..\u009f).
void append_text(std::string& out, std::string_view in) {
  for (size_t i = 0; i < in.size();) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    size_t n = (c < 0x20 || c == 0x7F) ? 0 : utf8_sequence_length(in.substr(i));
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(in[i + 1]) < 0xA0) {
      append_hex(out, "\\u00", static_cast<unsigned char>(in[i + 1]));
      i += 2;
    } else if (n == 0) {
      append_hex(out, "\\x", c);
      ++i;
    } else {
      out.append(in, i, n);
      i += n;
    }
  }
}

void append_value(std::string& out, const boost::json::value& v) {
  if (v.is_string()) append_text(out, v.get_string());
  else append_text(out, boost::json::serialize(v));
}

std::string_view field_string(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

}  // namespace

std::string format_log_text(std::string_view ts, LogLevel level, std::string_view category,
                            std::string_view msg, const boost::json::object& fields, bool color) {
  std::string out;
  if (msg == "function ready") return out;  // the "Functions:" list names each function
  const char* on = !color                                        ? nullptr
                   : level >= LogLevel::error                    ? "\x1b[31m"
                   : level == LogLevel::warning                  ? "\x1b[33m"
                   : level <= LogLevel::debug                    ? "\x1b[90m"
                                                                 : nullptr;
  if (on) out += on;
  const auto* list = fields.if_contains("functions");
  if (msg == "Functions:" && list && list->is_array()) {
    out += "\nFunctions:\n";
    for (const auto& f : list->get_array()) {
      if (!f.is_object()) continue;
      out += "\n        ";
      append_text(out, field_string(f.get_object(), "name"));
      out += ": ";
      append_text(out, field_string(f.get_object(), "detail"));
    }
    out += "\n";
    if (on) out += "\x1b[0m";
    return out;
  }
  out += "[";
  out.append(ts);
  out += "] ";
  bool invocation = (msg == "invocation finished" || msg == "invocation failed") &&
                    category.starts_with("Function.") && fields.contains("function");
  if (invocation) {
    out += "Executed 'Functions.";
    append_text(out, field_string(fields, "function"));
    out += msg == "invocation finished" ? "' (Succeeded, Id=" : "' (Failed, Id=";
    append_text(out, field_string(fields, "invocationId"));
    int64_t us = 0;
    if (const auto* d = fields.if_contains("durationUs"); d && d->is_int64()) us = d->get_int64();
    out += ", Duration=" + std::to_string((us + 500) / 1000) + "ms)";
    if (msg == "invocation failed") {
      out += " ";
      append_text(out, field_string(fields, "status"));
      out += ": ";
      append_text(out, field_string(fields, "error"));
    }
  } else {
    if (level >= LogLevel::warning) {
      append_text(out, log_level_name(level));
      out += ": ";
    }
    append_text(out, msg);
    bool first = true;
    for (const auto& kv : fields) {
      out += first ? " (" : ", ";
      first = false;
      append_text(out, kv.key());
      out += "=";
      append_value(out, kv.value());
    }
    if (!first) out += ")";
  }
  if (on) out += "\x1b[0m";
  return out;
}

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
  std::string text;
  if (format_ == LogFormat::text) {
    text = format_log_text(iso8601_now_ms(), level, category, msg, fields, color_);
    if (text.empty()) return;
  } else {
    boost::json::object line;
    line["ts"] = iso8601_now_ms();
    line["level"] = log_level_name(level);
    line["category"] = category;
    line["msg"] = msg;
    for (auto& kv : fields) line[kv.key()] = std::move(kv.value());
    text = escape_log_json(boost::json::serialize(line));
  }
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
