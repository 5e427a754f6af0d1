// The one-pass reader of a custom handler's usual answer (map_usual_answer). A file of its
// own: with basic_parser's instantiation in custom_handler_protocol.cc, GCC stopped inlining
// the string appends of the payload writer there (+700 instructions per invocation, measured
// with callgrind; bench/README.md, branch chfast3).
#include <boost/json/basic_parser_impl.hpp>

#include "workers/custom_handler_protocol.h"

namespace json = boost::json;

namespace nimbus::workers {

namespace {
// The usual answer of an HTTP function whose only output is its response, read in one pass by
// Boost.JSON's basic_parser (no DOM: building one was ~60 % of the ~7,500 instructions this
// mapping took per invocation; bench/README.md, branch chfast3):
//   {"Outputs":{"<res>":{"statusCode":200,"headers":{"K":"v",...},"body":"..."}},
//    "Logs":["..."],"ReturnValue":...}
// Other members and other outputs' values are skipped. Anything outside that shape (a key
// seen twice, a number that is not an integer, a statusCode as a string, a body that is not a
// string, a response given as a JSON string, invalid JSON) stops the reader, and the DOM
// mapping below decides, so both give the same result for every text (protocol_test.cc
// compares them).
class AnswerReader {
 public:
  // The limits basic_parser asks its handler for: none beyond the parse options' depth.
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit AnswerReader(std::string_view http_output) : http_output_(http_output) {}

  std::vector<std::string> logs;
  api::Headers headers;
  std::string body;
  int64_t status_code = -1, status = -1;  // -1: absent
  bool seen_status_code = false, seen_status = false;
  bool res_null = true;  // no response object: 204

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_comment_part(json::string_view, boost::system::error_code& ec) { return stop(ec); }
  bool on_comment(json::string_view, boost::system::error_code& ec) { return stop(ec); }

  bool on_object_begin(boost::system::error_code& ec) {
    if (skip_) return ++skip_, true;
    Ctx next;
    switch (value_for()) {
      case Slot::document: next = Ctx::root; break;
      case Slot::outputs: next = Ctx::outputs; break;
      case Slot::res: next = Ctx::res, res_null = false; break;
      case Slot::headers: next = Ctx::headers; break;
      case Slot::skip: return ++skip_, true;
      default: return stop(ec);
    }
    if (depth_ == kMaxDepth) return stop(ec);
    stack_[depth_++] = next;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    if (skip_) return --skip_, true;
    --depth_;
    return true;
  }
  bool on_array_begin(boost::system::error_code& ec) {
    if (skip_) return ++skip_, true;
    Slot slot = value_for();
    if (slot == Slot::skip) return ++skip_, true;
    if (slot != Slot::logs || depth_ == kMaxDepth) return stop(ec);
    stack_[depth_++] = Ctx::logs;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    if (skip_) return --skip_, true;
    --depth_;
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!skip_) part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (skip_) return true;
    std::string_view key = whole(s);
    bool ok = on_member(key);
    part_.clear();
    return ok || stop(ec);
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!skip_) part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (skip_) return true;
    std::string_view text = whole(s);
    bool ok = true;
    switch (value_for()) {
      case Slot::log: logs.emplace_back(text); break;
      case Slot::header: headers.back().second.assign(text); break;
      case Slot::body: body.assign(text); break;
      case Slot::skip: break;
      default: ok = false;
    }
    part_.clear();
    return ok || stop(ec);
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code& ec) {
    if (skip_) return true;
    switch (value_for()) {
      case Slot::status_code: status_code = i; return true;
      case Slot::status: status = i; return true;
      case Slot::skip: return true;
      default: return stop(ec);
    }
  }
  // Unsigned beyond INT64_MAX and doubles (1e999 is infinity, which the DOM mapping refuses
  // anywhere in the answer) are the DOM's to judge.
  bool on_uint64(uint64_t, json::string_view, boost::system::error_code& ec) { return stop(ec); }
  bool on_double(double, json::string_view, boost::system::error_code& ec) { return stop(ec); }
  bool on_bool(bool, boost::system::error_code& ec) { return scalar(ec); }
  bool on_null(boost::system::error_code& ec) {
    if (skip_) return true;
    switch (value_for()) {
      case Slot::res: return true;  // res_null stays: 204
      case Slot::body: return true;
      case Slot::skip: return true;
      default: return stop(ec);
    }
  }

 private:
  enum class Ctx : unsigned char { root, outputs, res, headers, logs };
  enum class Slot : unsigned char {
    none, document, outputs, logs, log, res, status_code, status, headers, header, body, skip
  };
  static constexpr int kMaxDepth = 4;  // root, Outputs, the response, its headers

  std::string_view http_output_;
  Ctx stack_[kMaxDepth] = {};
  int depth_ = 0;
  size_t skip_ = 0;  // nesting depth inside a value that is skipped
  Slot pending_ = Slot::document;  // what the next value is
  std::string part_;  // a key or string the parser delivered in pieces
  // Which members were seen: a key twice (the DOM keeps the last) is the DOM's to judge.
  bool seen_outputs_ = false, seen_logs_ = false, seen_res_ = false, seen_headers_ = false,
       seen_body_ = false;

  static bool stop(boost::system::error_code& ec) {
    ec = json::error::syntax;  // any error: the caller falls back to the DOM
    return false;
  }
  std::string_view whole(json::string_view s) {
    if (part_.empty()) return {s.data(), s.size()};
    part_.append(s.data(), s.size());
    return part_;
  }
  // The slot of the value now starting: in Logs, every element is a line; in an object, the
  // slot its key chose (and the next value needs a key first).
  Slot value_for() {
    if (depth_ > 0 && stack_[depth_ - 1] == Ctx::logs) return Slot::log;
    Slot s = pending_;
    pending_ = Slot::none;
    return s;
  }
  bool scalar(boost::system::error_code& ec) {
    if (skip_) return true;
    return value_for() == Slot::skip || stop(ec);
  }
  static bool once(bool& seen) {
    if (seen) return false;
    seen = true;
    return true;
  }
  // A key in the current object: decides the slot of its value.
  bool on_member(std::string_view key) {
    switch (stack_[depth_ - 1]) {
      case Ctx::root:
        if (key == "Outputs") return once(seen_outputs_) && (pending_ = Slot::outputs, true);
        if (key == "Logs") return once(seen_logs_) && (pending_ = Slot::logs, true);
        pending_ = Slot::skip;  // ReturnValue and anything else: not read
        return true;
      case Ctx::outputs:
        if (key == http_output_) return once(seen_res_) && (pending_ = Slot::res, true);
        pending_ = Slot::skip;  // undeclared outputs are ignored
        return true;
      case Ctx::res:
        if (key == "statusCode") return once(seen_status_code) && (pending_ = Slot::status_code, true);
        if (key == "status") return once(seen_status) && (pending_ = Slot::status, true);
        if (key == "headers") return once(seen_headers_) && (pending_ = Slot::headers, true);
        if (key == "body") return once(seen_body_) && (pending_ = Slot::body, true);
        pending_ = Slot::skip;
        return true;
      case Ctx::headers:
        // A name twice: the DOM keeps the last value in the first one's place.
        for (const auto& h : headers)
          if (h.first == key) return false;
        // A hop-by-hop header is kept until the end too, so that a repeat of it is caught.
        headers.emplace_back(std::string(key), std::string());
        pending_ = Slot::header;
        return true;
      case Ctx::logs:
        return false;  // arrays have no keys
    }
    return false;
  }
};

}  // namespace

bool map_usual_answer(const api::FunctionSpec& fn, int status, std::string_view body,
                      api::InvocationResult& out) {
  if (status < 200 || status > 299 || !fn.http() || fn.activity() || fn.outputs.size() != 1 ||
      !std::holds_alternative<api::HttpOutputSpec>(fn.outputs[0].spec) ||
      fn.outputs[0].name == "$return")
    return false;
  json::parse_options lenient;
  lenient.allow_invalid_utf8 = true;
  json::basic_parser<AnswerReader> p(lenient, std::string_view(fn.outputs[0].name));
  boost::system::error_code ec;
  // As json::parse reads: one document, whitespace around it, nothing after it.
  size_t used = p.write_some(false, body.data(), body.size(), ec);
  if (ec || !p.done() || used != body.size()) return false;
  auto& r = p.handler();
  int code = 200;
  if (r.seen_status_code || r.seen_status) {
    int64_t c = r.seen_status_code ? r.status_code : r.status;
    if (c < 100 || c > 599) return false;  // the DOM mapping words the error
    code = static_cast<int>(c);
  }
  out.outcome = api::Outcome::succeeded;
  out.logs = std::move(r.logs);
  if (r.res_null) {
    out.response.status = 204;
    return true;
  }
  out.response.status = code;
  std::erase_if(r.headers, [](const auto& h) { return is_hop_by_hop(h.first); });
  out.response.headers = std::move(r.headers);
  out.response.body = std::move(r.body);
  return true;
}

}  // namespace nimbus::workers
