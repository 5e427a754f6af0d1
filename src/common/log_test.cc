// The host log stays one valid UTF-8 JSON object per line whatever bytes user code supplies.
#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <functional>

namespace json = boost::json;
using namespace nimbus;

namespace {
// Logs to a temporary file (a pipe would fill up) and returns what was written.
std::string capture(const std::function<void(Logger&)>& body) {
  FILE* f = std::tmpfile();
  {
    Logger log(LogLevel::information, ::fileno(f));
    body(log);
  }
  std::rewind(f);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

// Every line parses as strict (UTF-8 validating) JSON.
std::vector<json::object> lines_of(const std::string& text) {
  std::vector<json::object> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    boost::system::error_code ec;
    auto v = json::parse(std::string_view(text).substr(start, nl - start), ec);
    EXPECT_FALSE(ec) << text.substr(start, nl - start);
    if (!ec) out.push_back(v.as_object());
  }
  EXPECT_EQ(start, text.size()) << "the output ends with a newline";
  return out;
}
}  // namespace

TEST(Logger, EveryByteValueGivesOneValidJsonLine) {
  // Each byte alone, and every two-byte combination starting with a lead byte: covers stray
  // continuation bytes, truncated sequences, C0/C1 controls, DEL and F5..FF.
  std::vector<std::string> inputs;
  for (int a = 0; a < 256; ++a) {
    inputs.emplace_back(1, static_cast<char>(a));
    for (int b = 0x70; b < 256; b += 7) inputs.push_back(std::string{static_cast<char>(a), static_cast<char>(b)});
  }
  inputs.push_back("\xED\xA0\x80");      // a UTF-16 surrogate
  inputs.push_back("\xC0\xAF");          // overlong '/'
  inputs.push_back("\xF4\x90\x80\x80");  // past U+10FFFF
  auto text = capture([&](Logger& log) {
    for (const auto& s : inputs) log.info(s, s, {{s, s}});
  });
  auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), inputs.size());
  for (char c : text) EXPECT_NE(c, '\x1b') << "no raw ESC reaches the terminal";
}

TEST(Logger, InvalidBytesAreVisibleAndValidTextIsKept) {
  auto text = capture([](Logger& log) {
    log.info("Function.x", "caf\xE9 ok caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xC2\x9B[2J");
  });
  auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("msg"),
            "caf\\xe9 ok caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xC2\x9B[2J");
  EXPECT_NE(text.find("\\u009b"), std::string::npos) << "C1 CSI is escaped, not raw";
}

TEST(Logger, ForgedRecordsStayInsideTheirField) {
  auto text = capture([](Logger& log) {
    log.info("Worker.Output", "\x1b[2J{\"level\":\"Critical\",\"msg\":\"forged\"}\n{\"msg\":\"forged\"}",
             {{"stream", "stdout"}});
  });
  auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("level"), "Information");
  EXPECT_EQ(lines[0].at("msg"), "\x1b[2J{\"level\":\"Critical\",\"msg\":\"forged\"}\n{\"msg\":\"forged\"}");
}

TEST(Utf8, ValidUtf8ReplacesEachInvalidByte) {
  EXPECT_EQ(valid_utf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(valid_utf8("\xC3\x28"), "\xEF\xBF\xBD(");
  EXPECT_EQ(valid_utf8("caf\xC3\xA9"), "caf\xC3\xA9");
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; b += 3) {
      std::string s{static_cast<char>(a), static_cast<char>(b), '\xBF'};
      boost::system::error_code ec;
      json::parse(json::serialize(json::value(valid_utf8(s))), ec);
      EXPECT_FALSE(ec) << a << " " << b;
    }
}

// The text console (--log-format text): the same records, one readable line each.
TEST(LogText, InvocationLineFunctionListAndEscapes) {
  json::object inv{{"invocationId", "abc"}, {"function", "hello"}, {"durationUs", 3400},
                   {"status", "succeeded"}};
  EXPECT_EQ(format_log_text("2026-11-30T01:02:03.456Z", LogLevel::information, "Function.hello",
                            "invocation finished", inv),
            "[2026-11-30T01:02:03.456Z] Executed 'Functions.hello' (Succeeded, Id=abc, Duration=3ms)");
  inv["status"] = "timed_out";
  inv["error"] = "too slow";
  EXPECT_EQ(format_log_text("T", LogLevel::error, "Function.hello", "invocation failed", inv),
            "[T] Executed 'Functions.hello' (Failed, Id=abc, Duration=3ms) timed_out: too slow");
  json::object list{{"functions", json::array{json::object{{"name", "hello"},
                                                           {"detail", "GET,POST http://x/api/hello"}}}}};
  EXPECT_EQ(format_log_text("T", LogLevel::information, "Host.Startup", "Functions:", list),
            "\nFunctions:\n\n        hello: GET,POST http://x/api/hello\n");
  EXPECT_EQ(format_log_text("T", LogLevel::information, "Host.Startup", "function ready", {}), "");
  // No input reaches the terminal as a control sequence or ends the line.
  std::string line = format_log_text("T", LogLevel::warning, "Worker.Output", "a\x1b[2J\nb\xff",
                                     {{"worker", "w\r"}, {"n", 3}});
  EXPECT_EQ(line, "[T] Warning: a\\x1b[2J\\x0ab\\xff (worker=w\\x0d, n=3)");
  EXPECT_EQ(format_log_text("T", LogLevel::error, "C", "m", {}, true), "\x1b[31m[T] Error: m\x1b[0m");
}

TEST(LogText, LoggerWritesTextLines) {
  std::string out = capture([](Logger& log) {
    log.set_format(LogFormat::text);
    log.info("Host", "hello", {{"k", "v"}});
  });
  EXPECT_NE(out.find("] hello (k=v)\n"), std::string::npos) << out;
  EXPECT_EQ(out.front(), '[');
}
