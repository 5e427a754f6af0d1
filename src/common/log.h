#pragma once
// One way to log: every record is one line on stderr, written whole under a mutex so
// lines from several threads never interleave. Two formats of the same records: JSON (one
// object a line, for pipes and CI) and text (Core Tools style, for a person at a terminal;
// `--log-format`). The text format is a second rendering here, never a second logging path. The level filter comes from host.json
// (logging.logLevel.default). Thread-safe; the Logger is owned by the Host and passed down.
//
// Every line is valid UTF-8 JSON whatever bytes user code or a client supplied: control
// characters are escaped (\u001b, never a raw ESC for a terminal to act on), a byte that is
// not part of valid UTF-8 is written as the visible text \xHH (JSON "\\xHH"), and the C1
// controls U+0080..U+009F as \u0080..\u009f. So no input can end a line, forge a record or
// send a terminal escape sequence.
#include <boost/json/object.hpp>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>

namespace nimbus {

enum class LogLevel { trace, debug, information, warning, error, critical, none };
enum class LogFormat { json, text };

// Parses Azure's level names (case-insensitive); false when the name is unknown.
bool parse_log_level(std::string_view name, LogLevel& out);
std::string_view log_level_name(LogLevel level);

class Logger {
 public:
  explicit Logger(LogLevel min = LogLevel::information, int fd = 2) : min_(min), fd_(fd) {}
  void set_level(LogLevel level) { min_ = level; }
  // Set before the first record (not synchronized with writers). `color`: ANSI colours by
  // level in the text format (only for a terminal).
  void set_format(LogFormat format, bool color = false) {
    format_ = format;
    color_ = color;
  }
  LogFormat format() const { return format_; }
  bool enabled(LogLevel level) const { return level >= min_ && min_ != LogLevel::none; }
  // Writes {"ts","level","category","msg", ...fields}.
  void log(LogLevel level, std::string_view category, std::string_view msg,
           boost::json::object fields = {});
  void info(std::string_view category, std::string_view msg, boost::json::object fields = {}) {
    log(LogLevel::information, category, msg, std::move(fields));
  }
  void warn(std::string_view category, std::string_view msg, boost::json::object fields = {}) {
    log(LogLevel::warning, category, msg, std::move(fields));
  }
  void error(std::string_view category, std::string_view msg, boost::json::object fields = {}) {
    log(LogLevel::error, category, msg, std::move(fields));
  }
  // Lines an operator always needs (where the host listens), written unless the level is
  // None; tagged Information.
  void notice(std::string_view category, std::string_view msg, boost::json::object fields = {}) {
    write(LogLevel::information, category, msg, std::move(fields));
  }

 private:
  void write(LogLevel level, std::string_view category, std::string_view msg,
             boost::json::object fields);
  LogLevel min_;
  int fd_;
  LogFormat format_ = LogFormat::json;
  bool color_ = false;
  std::mutex mu_;
};

// `text` made valid UTF-8: every byte that is not part of a valid sequence (overlong forms,
// surrogates and code points past U+10FFFF included) becomes U+FFFD, as a UTF-8 decoder with
// replacement (.NET's, the browser's) reads it. For JSON handed to other programs.
std::string valid_utf8(std::string_view text);
// Length of the valid UTF-8 sequence at the start of `s` (1..4), or 0 when it is invalid.
size_t utf8_sequence_length(std::string_view s);
// A serialized JSON text made safe for a log line (see the class comment); exposed for tests.
std::string escape_log_json(std::string_view json_text);

// One record as a text line (no newline), Core Tools style: "[ts] msg (key=value, ...)";
// invocation records as "Executed 'Functions.<name>' (Succeeded, Id=..., Duration=3ms)"; the
// start-up function list ("Functions:" with a `functions` array) as an indented list. Control
// characters and bytes that are not UTF-8 are written as visible \xHH, so no input can forge
// a line or reach the terminal as an escape sequence. "" for a record the text console leaves
// out ("function ready": the function list says it). Exposed for tests.
std::string format_log_text(std::string_view ts, LogLevel level, std::string_view category,
                            std::string_view msg, const boost::json::object& fields,
                            bool color = false);

// What an exception says; "" for none, "unknown exception" for a non-std one.
std::string exception_message(std::exception_ptr e);

// The completion handler for every spawned coroutine (asio::co_spawn): an exception that
// escapes it is logged with `what`, never dropped.
inline auto log_if_thrown(Logger& log, std::string category, std::string what) {
  return [&log, category = std::move(category), what = std::move(what)](std::exception_ptr e) {
    if (e) log.error(category, what + ": " + exception_message(e));
  };
}

}  // namespace nimbus
