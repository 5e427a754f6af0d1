#pragma once
// The wire between the host and a `nimbus-worker` process: a socketpair inherited as fd 3.
// Every message is one frame: u32 header length, u32 body length (little-endian), a JSON
// header, then raw body bytes (so bodies need no escaping). JSON strings in headers carry
// bytes, not necessarily UTF-8 (requests and user logs are bytes): both ends parse with
// allow_invalid_utf8, so they round-trip exactly. Messages:
//   worker -> host  {"type":"ready","sdk":3,"functions":[{"name":..,"bindings":[..]}]}
//                   (bindings in function.json form, output bindings included, so the host
//                   validates native functions and their outputs as it does function.json)
//   host -> worker  {"type":"invoke","id":..,"function":..,"method":..,"target":..,"path":..,
//                    "query":{..},"params":{..},"headers":[[k,v],..]}  body = request body
//                   or, for a queue trigger, {"type":"invoke","id":..,"function":..,
//                    "trigger":"queue","message":{"id","dequeueCount",..}}  body = message text
//   worker -> host  {"type":"result","status":..,"headers":[[k,v],..],"logs":[..],
//                    "outputs":[[binding,value],..]}  body = response body;
//                   or {"type":"error","message":..,"logs":[..]}
// Also the in-process path: run_function() is the one place that calls user code.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/invocation.h"
#include "nimbus/nimbus.h"

namespace nimbus::workers {

inline constexpr uint32_t kMaxFrameHeader = 16u << 20;
inline constexpr int kWorkerFd = 3;

struct Frame {
  boost::json::object header;
  std::string body;
};

// Appends a whole encoded frame to `out`.
void encode_frame(const boost::json::object& header, std::string_view body, std::string& out);
// The frames sent once per invocation, their headers written as JSON text directly (a
// json::object cost an allocation per member, ~10 % of the host's instructions per activity).
void encode_invoke_frame(const api::Invocation& inv, std::string_view body, std::string& out);
void encode_result_frame(const HttpResponse& res, const Context& ctx, std::string& out);
void encode_error_frame(std::string_view message, const Context& ctx, std::string& out);
// Parses the 8-byte prefix; false when the sizes exceed limits.
bool decode_prefix(const unsigned char* p, uint32_t& header_len, uint32_t& body_len,
                   uint64_t max_body);
// Parses a header's JSON; false when it is not a JSON object.
bool decode_header(std::string_view text, boost::json::object& out);
// The same into `out`, whose storage holds the document (per invocation a stack buffer's
// json::monotonic_resource, so parsing allocates nothing); null when not a JSON object.
const boost::json::object* decode_header(std::string_view text, boost::json::value& out);

// The app's functions in function.json form, as the loader validates them.
boost::json::array describe_functions(const App& app);

HttpRequest request_from_invoke(const boost::json::object& header, std::string body);
QueueMessage message_from_invoke(const boost::json::object& header, std::string body);
// A worker's answer header (result or error frame), as the host reads it.
struct ResultHeader {
  std::string type;                  // "" unless a string
  std::string message;               // an error's
  std::optional<int64_t> status;     // set when an integer
  std::vector<std::string> logs;     // the strings of "logs"
  std::vector<std::pair<std::string, std::string>> headers, outputs;  // well-formed pairs
};
// Reads the header's JSON text (once per invocation on the host's I/O thread) with Boost.JSON
// into a stack buffer, so that only the kept strings allocate. Any JSON object is read;
// members other than the above are skipped, as are malformed pairs and non-string logs.
// False, with `error` saying what and at which byte, when the text is not a JSON object.
bool read_result_header(std::string_view text, ResultHeader& out, std::string& error);
// Turns a worker's answer into a result; false (with `error`) when it breaks the protocol.
bool result_from_header(ResultHeader header, std::string body, api::InvocationResult& out,
                        std::string& error);

// Calls user code (HTTP or queue function) for an invoke frame, exceptions caught. On a throw,
// returns false and sets `error`.
bool run_function(const App::Function& fn, const boost::json::object& header, std::string body,
                  Context& ctx, HttpResponse& res, std::string& error);
bool run_http_function(const App::Function& fn, const HttpRequest& req, Context& ctx,
                       HttpResponse& res, std::string& error);
bool run_queue_function(const App::Function& fn, const QueueMessage& msg, Context& ctx,
                        HttpResponse& res, std::string& error);
// `documents` is the batch as a JSON array text; each element is handed over as its own text.
bool run_change_feed_function(const App::Function& fn, std::string documents, Context& ctx,
                              HttpResponse& res, std::string& error);

// An orchestration episode: `request` is the OrchestratorRequest JSON; the response body is the
// OrchestratorResponse JSON (api/durable_events.h).
bool run_orchestrator(const App::Function& fn, std::string_view request, HttpResponse& res,
                      std::string& error);
// A timer: `timer_info` is TimerInfo as JSON (api::TimerData::to_json).
bool run_timer_function(const App::Function& fn, std::string timer_info, Context& ctx,
                        HttpResponse& res, std::string& error);
// An activity: JSON input in, the result JSON text as the response body.
bool run_activity_function(const App::Function& fn, const std::string& input, Context& ctx,
                           HttpResponse& res, std::string& error);

}  // namespace nimbus::workers
