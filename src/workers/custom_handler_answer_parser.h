#pragma once
// The Beast parser of a custom handler's answer and its bounds: what the pool reads an answer
// with whenever the lean reader (custom_handler_head.h) declines it. A header of its own so
// that the differential fuzz target and the unit tests compare the lean reader with this very
// parser.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/invocation.h"

namespace nimbus::workers {

// The answer's header section is bounded, so a handler cannot make the host hold an endless
// head: over the bound is a parse error (header_limit). (When Beast's field container held the
// fields, this also kept every value below the ~64 KiB it throws on; AnswerParser has no such
// limit, the bound stays.)
inline constexpr size_t kMaxAnswerHeader = 32 * 1024;
// Chunked trailers are not covered by the header limit; the read buffer bounds them (Beast
// needs the whole trailer section in the buffer).
inline constexpr size_t kMaxReadBuffer = 48 * 1024;
// Interim answers (100 Continue, 103 Early Hints) skipped before the real one.
inline constexpr int kMaxInterim = 8;

// The handler's answer: status, body and, only when the request is forwarded, its fields, in
// the order sent (trailers of a chunked answer included, as Beast's field list held them).
// Beast's response_parser keeps every field in a container that allocates per field, and the
// default mode reads none of them (keep-alive and framing are the base parser's), so this
// parser stores them only when asked: measured, see bench/README.md (branch spineperf).
class AnswerParser : public boost::beast::http::basic_parser<false> {
 public:
  explicit AnswerParser(bool keep_fields) : keep_fields_(keep_fields) {}
  unsigned status = 0;
  std::string body;
  std::string connection;  // the first Connection field (forwarding drops what it names)
  api::Headers fields;     // only with keep_fields

 private:
  bool keep_fields_;
  bool seen_connection_ = false;
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view,
                       boost::beast::string_view, int, boost::beast::error_code& ec) override {
    ec = boost::beast::http::error::bad_method;  // never called for a response parser
  }
  void on_response_impl(int code, boost::beast::string_view, int,
                        boost::beast::error_code&) override {
    status = static_cast<unsigned>(code);
  }
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code&) override {
    if (!keep_fields_) return;
    if (name == boost::beast::http::field::connection && !seen_connection_) {
      seen_connection_ = true;
      connection.assign(value.data(), value.size());
    }
    fields.emplace_back(std::string(name_string.data(), name_string.size()),
                        std::string(value.data(), value.size()));
  }
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         boost::beast::error_code&) override {
    // The base parser has already refused a length over body_limit.
    if (length) body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(boost::beast::string_view s, boost::beast::error_code&) override {
    body.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view s,
                            boost::beast::error_code&) override {
    body.append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(boost::beast::error_code&) override {}
};

}  // namespace nimbus::workers
