#pragma once
// The JSON form of durable history events, actions and episodes: how the store keeps history
// and inbox events, and how the host and a native worker exchange an episode (an
// OrchestratorRequest in, an OrchestratorResponse out). The C++ shapes are the SDK's
// (nimbus/durable_types.h, mirroring the Durable Task protocol), so store, engine, worker and
// management API read one form. Payloads (inputs, results) are kept as JSON *strings* holding
// the user's JSON text, so they round-trip byte for byte.
//
//   event:  {"kind":"taskCompleted","eventId":-1,"ts":1700000000000,"taskScheduledId":3,
//            "result":"9"}     (empty fields omitted)
//   action: {"kind":"scheduleTask","id":1,"name":"Square","input":"3"}
//   request body:  {"instanceId":..,"executionId":..,"past":[event..],"new":[event..]}
//   response body: {"actions":[action..],"customStatus":".."}
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/durable_store.h"
#include "nimbus/durable_types.h"

namespace nimbus::api::durable_events {

using nimbus::durable::Action;
using nimbus::durable::EventKind;
using nimbus::durable::Failure;
using nimbus::durable::HistoryEvent;
using nimbus::durable::OrchestratorRequest;
using nimbus::durable::OrchestratorResponse;

const char* kind_name(EventKind k);        // "taskCompleted"
const char* action_name(Action::Kind k);   // "scheduleTask"

boost::json::object to_object(const HistoryEvent& e);
std::string to_json(const HistoryEvent& e);
// false with `error` naming the field when `v` is not an event.
bool from_json(const boost::json::value& v, HistoryEvent& out, std::string& error);
bool from_json(std::string_view text, HistoryEvent& out, std::string& error);

boost::json::object to_object(const Action& a);
bool from_json(const boost::json::value& v, Action& out, std::string& error);

boost::json::object failure_object(const Failure& f);  // {"errorType","errorMessage"}
Failure failure_from(const boost::json::value& v);

// The request body from stored event texts (spliced, not re-parsed).
std::string encode_request(std::string_view instance_id, std::string_view execution_id,
                           const std::vector<std::string>& past,
                           const std::vector<std::string>& fresh);
bool decode_request(std::string_view text, OrchestratorRequest& out, std::string& error);
std::string encode_response(const OrchestratorResponse& r);
bool decode_response(std::string_view text, OrchestratorResponse& out, std::string& error);

// A new execution id (32 hex digits, random).
std::string new_execution_id();
// The write that starts an orchestration: instance row + its executionStarted event.
// `parent`: {"instanceId","executionId","taskScheduledId"} for a sub-orchestration, else "".
OrchestrationStart start_write(std::string name, std::string instance_id, std::string input,
                               std::string parent, UnixMillis now, UnixMillis start_at = 0);

}  // namespace nimbus::api::durable_events
