// Fuzzes the native worker protocol (src/workers/native_protocol.h) with the input as the bytes
// arriving on the worker socket: frames are cut from it as the host's reader and the worker's
// loop cut them (decode_prefix, then decode_header on the header bytes), and every decoded
// frame goes through what either side does with it: read_result_header and
// result_from_header (host side), request_from_invoke and message_from_invoke (worker side).
// Properties checked beyond "no crash, no sanitizer report":
//   - a decoded frame, encoded again, decodes to the same header and body (unless it holds a
//     number out of double range: see has_double);
//   - the host's reader (read_result_header, a stack-buffer parse) accepts a header exactly when Boost.JSON
//     parses it into an object, and a result accepted by result_from_header has a status in
//     100..999 or is a failure;
//   - an invocation whose strings are raw bytes (the frame's body: not UTF-8, controls, NUL)
//     encodes to a frame that decodes to the same strings, on both sides.
#include <boost/json.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/invocation.h"
#include "workers/native_protocol.h"

namespace {

using namespace nimbus;
namespace json = boost::json;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "worker_frame_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

constexpr uint64_t kHostMaxBody = 1u << 20;  // the host reader's limit (the worker's is 4 GiB)

// Decodes exactly one whole frame from `bytes`, as both readers do.
bool decode_one(std::string_view bytes, workers::Frame& frame) {
  if (bytes.size() < 8) return false;
  uint32_t hl = 0, bl = 0;
  if (!workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl,
                              UINT32_MAX))
    return false;
  if (bytes.size() != 8 + size_t(hl) + bl) return false;
  if (!workers::decode_header(bytes.substr(8, hl), frame.header)) return false;
  frame.body.assign(bytes.substr(8 + hl));
  return true;
}

// The protocol carries no floating-point numbers, and never re-encodes a header it read, so
// a decoded header holding a double is not re-encoded here: Boost.JSON reads 1e999 as
// infinity and writes `Infinity` (not JSON), and without the `precise` number mode (Boost
// 1.83) a long literal such as 184467440737095216150 parses to a double that serializes to a
// shorter literal which parses to a neighbouring double (see fuzz/README.md, findings).
bool has_double(const json::value& v) {
  if (v.is_double()) return true;
  if (v.is_array()) {
    for (const auto& x : v.get_array())
      if (has_double(x)) return true;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (has_double(kv.value())) return true;
  }
  return false;
}

void round_trip(const json::object& header, std::string_view body) {
  for (const auto& kv : header)
    if (has_double(kv.value())) return;
  std::string bytes;
  workers::encode_frame(header, body, bytes);
  workers::Frame again;
  CHECK(decode_one(bytes, again));
  CHECK(again.header == header);
  CHECK(again.body == body);
}

// The host's reading of the answer frame in `bytes`.
bool host_reads(std::string_view bytes, api::InvocationResult& out, std::string& error) {
  uint32_t hl = 0, bl = 0;
  CHECK(workers::decode_prefix(reinterpret_cast<const unsigned char*>(bytes.data()), hl, bl,
                               UINT32_MAX));
  workers::ResultHeader h;
  CHECK(workers::read_result_header(bytes.substr(8, hl), h, error));
  return workers::result_from_header(std::move(h), std::string(bytes.substr(8 + hl, bl)), out,
                                     error);
}

// The host's invoke frame for an HTTP request and a queue message whose strings are `raw`.
void invoke_with_raw_bytes(std::string_view raw) {
  api::FunctionSpec fn;
  fn.name = "fn";
  api::HttpRequestData req;
  req.method = "POST";
  req.target = "/api/fn?q=" + std::string(raw.substr(0, 16));
  req.path = "/api/fn";
  req.query = {{"q", std::string(raw.substr(0, 16))}};
  req.params = {{"id", std::string(raw.substr(0, 8))}};
  req.headers = {{"X-Raw", std::string(raw)}};
  req.body = std::string(raw);
  api::Invocation inv{"id-1", &fn, &req, false, {}};
  std::string bytes;
  workers::encode_invoke_frame(inv, req.body, bytes);
  workers::Frame frame;
  CHECK(decode_one(bytes, frame));
  HttpRequest back = workers::request_from_invoke(frame.header, frame.body);
  CHECK(back.body == req.body);
  CHECK(back.headers == req.headers);
  CHECK(back.url == req.target && back.query == req.query && back.params == req.params);

  api::QueueMessageData msg;
  msg.id = std::string(raw.substr(0, 36));
  msg.text = std::string(raw);
  msg.pop_receipt = std::string(raw.substr(0, 8));
  api::Invocation qinv{"id-2", &fn, &msg, false, {}};
  bytes.clear();
  workers::encode_invoke_frame(qinv, msg.text, bytes);
  CHECK(decode_one(bytes, frame));
  QueueMessage m = workers::message_from_invoke(frame.header, frame.body);
  CHECK(m.text == msg.text && m.id == msg.id && m.pop_receipt == msg.pop_receipt);

  // The worker's answer: user code's logs, headers and output values are raw bytes too.
  Context ctx("id-3", "fn");
  ctx.log(std::string(raw));
  ctx.output("out", std::string(raw));
  HttpResponse res;
  res.status = 201;
  res.headers = {{"X-Raw", std::string(raw.substr(0, 32))}};
  res.body = std::string(raw);
  bytes.clear();
  workers::encode_result_frame(res, ctx, bytes);
  CHECK(decode_one(bytes, frame));
  api::InvocationResult result;
  std::string error;
  CHECK(host_reads(bytes, result, error));
  CHECK(result.outcome == api::Outcome::succeeded && result.response.status == 201);
  CHECK(result.logs == ctx.logs() && result.outputs.size() == ctx.outputs().size());
  for (size_t i = 0; i < result.outputs.size(); ++i)
    CHECK(result.outputs[i].binding == ctx.outputs()[i].first &&
          result.outputs[i].data == ctx.outputs()[i].second);
  CHECK(result.response.headers == res.headers && result.response.body == res.body);

  bytes.clear();
  workers::encode_error_frame(raw, ctx, bytes);
  CHECK(decode_one(bytes, frame));
  api::InvocationResult failed;
  CHECK(host_reads(bytes, failed, error));
  CHECK(failed.outcome == api::Outcome::failed && failed.error == raw);
}

void use_frame(workers::Frame& frame, std::string_view header_text) {
  round_trip(frame.header, frame.body);

  // Worker side: an invoke frame, read both ways.
  HttpRequest req = workers::request_from_invoke(frame.header, frame.body);
  CHECK(req.body == frame.body);
  QueueMessage msg = workers::message_from_invoke(frame.header, frame.body);
  CHECK(msg.text == frame.body);

  // Host side: a result or error frame, read from the text Boost.JSON accepted.
  workers::ResultHeader h;
  std::string error;
  CHECK(workers::read_result_header(header_text, h, error));
  api::InvocationResult result;
  if (workers::result_from_header(std::move(h), frame.body, result, error)) {
    if (result.outcome == api::Outcome::succeeded)
      CHECK(result.response.status >= 100 && result.response.status <= 999);
    else
      CHECK(result.outcome == api::Outcome::failed);
  } else {
    CHECK(!error.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Cut frames as the readers do: an 8-byte prefix, then header and body once all are there.
  size_t pos = 0;
  while (size - pos >= 8) {
    uint32_t hl = 0, bl = 0;
    if (!workers::decode_prefix(data + pos, hl, bl, kHostMaxBody)) {
      CHECK(hl == 0 || hl > workers::kMaxFrameHeader || bl > kHostMaxBody);
      break;
    }
    CHECK(hl > 0 && hl <= workers::kMaxFrameHeader && bl <= kHostMaxBody);
    if (size - pos < 8 + size_t(hl) + bl) break;  // incomplete: a reader would wait for more
    workers::Frame frame;
    std::string_view text = in.substr(pos + 8, hl);
    if (!workers::decode_header(text, frame.header)) {
      workers::ResultHeader h;
      std::string error;
      CHECK(!workers::read_result_header(text, h, error) && !error.empty());
      break;
    }
    frame.body.assign(in.substr(pos + 8 + hl, bl));
    pos += 8 + size_t(hl) + bl;
    use_frame(frame, text);
    invoke_with_raw_bytes(frame.body);
  }
  // Also the whole input as one header, since most mutations break the prefix.
  workers::Frame whole;
  if (workers::decode_header(in, whole.header)) {
    use_frame(whole, in);
  } else {
    workers::ResultHeader h;
    std::string error;
    CHECK(!workers::read_result_header(in, h, error));
  }
  invoke_with_raw_bytes(in.substr(0, 256));
  return 0;
}
