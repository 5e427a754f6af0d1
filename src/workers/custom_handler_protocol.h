#pragma once
// The JSON of Azure's custom handler protocol (functions-host.md §5), without any networking:
// building the {Data, Metadata} invocation request and mapping {Outputs, Logs, ReturnValue}
// back to an HTTP response. Pure functions; unit-tested.
#include <string>

#include "api/invocation.h"

namespace nimbus::workers {

// The POST body for /<FunctionName>: {Data, Metadata} for an HTTP or queue trigger. Always
// valid UTF-8 JSON: request bytes that are not UTF-8 arrive as U+FFFD.
std::string build_invocation_body(const api::Invocation& inv);

// The same HTTP payload built through a Boost.JSON DOM (the fallback for non-ASCII names);
// tests check that both give the same JSON value.
std::string build_http_invocation_body_dom(const api::Invocation& inv);

// Maps the handler's answer (status and body of its HTTP response) into `out`: the HTTP
// output for HTTP triggers, and the values of every other declared output binding by name.
// Non-2xx: the invocation failed. Not JSON or a malformed http output: bad_response.
// On failure `out.error` says what went wrong without repeating what the handler sent (it
// reaches the client); `detail` adds the handler's text, for the host log only.
void map_invocation_response(const api::FunctionSpec& fn, int status, std::string_view body,
                             api::InvocationResult& out, std::string& detail);

// The usual answer of an HTTP function whose only output is its response, mapped in one pass
// without a DOM (custom_handler_answer.cc); false, with `out` untouched, for anything else.
bool map_usual_answer(const api::FunctionSpec& fn, int status, std::string_view body,
                      api::InvocationResult& out);

// The same mapping through a Boost.JSON DOM of the whole answer: what map_invocation_response
// does for answers outside the usual shape; tests check that both agree on every text.
void map_invocation_response_dom(const api::FunctionSpec& fn, int status, std::string_view body,
                                 api::InvocationResult& out, std::string& detail);

// Hop-by-hop headers are not forwarded in either direction (RFC 9110 §7.6.1).
bool is_hop_by_hop(std::string_view header_name);

}  // namespace nimbus::workers
