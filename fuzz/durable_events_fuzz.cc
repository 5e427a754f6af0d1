// Fuzzes the JSON codec of durable orchestrations (src/api/durable_events.h): the worker's
// answer to an episode, which the host parses (decode_response), the episode request a native
// worker parses (decode_request), and a stored history or inbox event (from_json).
// Input: any bytes; each of the three decoders reads the whole input.
// Properties checked beyond "no crash, no sanitizer report":
//   - a refusal carries an error message;
//   - what decode_response accepts re-encodes (encode_response) to JSON it accepts again, with
//     equal actions and custom status, and encoding that again gives the same text (the
//     encoding is a fixed point after one decode);
//   - the same for a request (each event re-encoded with to_json, spliced by encode_request)
//     and for a single event (to_json / from_json).
// "Equal" compares what the encoding carries for the kind: an action's status, result,
// failure and carryover events only for complete_orchestration, an event's status only for
// execution_completed, and a negative taskScheduledId as "none" (-1). The decoders read those
// fields for every kind, the encoders write them only where they mean something; the host
// reads them only where they mean something, so that asymmetry is not a property here.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/durable_events.h"

namespace {

namespace de = nimbus::api::durable_events;
using nimbus::durable::Action;
using nimbus::durable::EventKind;
using nimbus::durable::HistoryEvent;
using nimbus::durable::OrchestratorRequest;
using nimbus::durable::OrchestratorResponse;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "durable_events_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

bool same_failure(const nimbus::durable::Failure& a, const nimbus::durable::Failure& b) {
  return a.error_type == b.error_type && a.error_message == b.error_message;
}

bool same_event(const HistoryEvent& a, const HistoryEvent& b) {
  auto scheduled = [](int id) { return id < 0 ? -1 : id; };
  return a.kind == b.kind && a.event_id == b.event_id && a.timestamp_ms == b.timestamp_ms &&
         a.name == b.name && a.input == b.input && a.result == b.result &&
         scheduled(a.task_scheduled_id) == scheduled(b.task_scheduled_id) &&
         a.fire_at_ms == b.fire_at_ms && a.instance_id == b.instance_id &&
         a.execution_id == b.execution_id &&
         (a.kind != EventKind::execution_completed || a.status == b.status) &&
         same_failure(a.failure, b.failure);
}

bool same_events(const std::vector<HistoryEvent>& a, const std::vector<HistoryEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same_event(a[i], b[i])) return false;
  return true;
}

bool same_action(const Action& a, const Action& b) {
  if (a.kind != b.kind || a.id != b.id || a.name != b.name || a.input != b.input ||
      a.instance_id != b.instance_id || a.fire_at_ms != b.fire_at_ms)
    return false;
  if (a.kind != Action::Kind::complete_orchestration) return true;
  return a.status == b.status && a.result == b.result && same_failure(a.failure, b.failure) &&
         same_events(a.carryover_events, b.carryover_events);
}

void check_response(std::string_view text) {
  OrchestratorResponse r;
  std::string error;
  if (!de::decode_response(text, r, error)) {
    CHECK(!error.empty());
    return;
  }
  std::string once = de::encode_response(r);
  OrchestratorResponse again;
  std::string error2;
  CHECK(de::decode_response(once, again, error2));
  CHECK(again.custom_status == r.custom_status);
  CHECK(again.actions.size() == r.actions.size());
  for (size_t i = 0; i < r.actions.size(); ++i) CHECK(same_action(r.actions[i], again.actions[i]));
  CHECK(de::encode_response(again) == once);
}

void check_request(std::string_view text) {
  OrchestratorRequest r;
  std::string error;
  if (!de::decode_request(text, r, error)) {
    CHECK(!error.empty());
    return;
  }
  auto texts = [](const std::vector<HistoryEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(de::to_json(e));
    return out;
  };
  std::string once = de::encode_request(r.instance_id, r.execution_id, texts(r.past_events),
                                        texts(r.new_events));
  OrchestratorRequest again;
  std::string error2;
  CHECK(de::decode_request(once, again, error2));
  CHECK(again.instance_id == r.instance_id && again.execution_id == r.execution_id);
  CHECK(same_events(again.past_events, r.past_events));
  CHECK(same_events(again.new_events, r.new_events));
  CHECK(de::encode_request(again.instance_id, again.execution_id, texts(again.past_events),
                           texts(again.new_events)) == once);
}

void check_event(std::string_view text) {
  HistoryEvent e;
  std::string error;
  if (!de::from_json(text, e, error)) {
    CHECK(!error.empty());
    return;
  }
  std::string once = de::to_json(e);
  HistoryEvent again;
  std::string error2;
  CHECK(de::from_json(once, again, error2));
  CHECK(same_event(e, again));
  CHECK(de::to_json(again) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_response(text);
  check_request(text);
  check_event(text);
  return 0;
}
