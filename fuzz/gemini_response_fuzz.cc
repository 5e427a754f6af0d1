// Fuzzes the Gemini generateContent response parser (src/ai/gemini_codec.h): the body a remote
// service (or anything claiming to be one at GEMINI_ENDPOINT) sends back.
// Input: any bytes, read twice: as the whole response body, and as the model's text inside a
// well-formed candidate (so the inner verdict JSON is reached without the fuzzer having to
// build the envelope).
// Properties checked beyond "no crash, no sanitizer report":
//   - a refusal carries an error that starts with "Gemini response: ";
//   - an accepted body gives provider "gemini", a non-empty reason, category names that are
//     non-empty and scores that are finite and within 0..1;
//   - the status survives to_string/parse_status, and the parse is deterministic (the same
//     bytes give the same verdict JSON twice).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "ai/gemini_codec.h"

namespace {

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "gemini_response_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

void check(std::string_view body) {
  using namespace nimbus::ai;
  auto p = parse_gemini_response(body);
  if (!p.ok) {
    CHECK(p.error.starts_with("Gemini response: "));
    return;
  }
  CHECK(p.verdict.provider == "gemini");
  CHECK(!p.verdict.reason.empty());
  for (const auto& c : p.verdict.categories) {
    CHECK(!c.name.empty());
    CHECK(std::isfinite(c.score));
    CHECK(c.score >= 0 && c.score <= 1);
  }
  CHECK(parse_status(to_string(p.verdict.status)) == p.verdict.status);
  auto again = parse_gemini_response(body);
  CHECK(again.ok);
  CHECK(boost::json::serialize(to_json(again.verdict)) == boost::json::serialize(to_json(p.verdict)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  check(input);
  boost::json::object cand{
      {"content", {{"role", "model"}, {"parts", boost::json::array{{{"text", input}}}}}},
      {"finishReason", "STOP"}};
  check(boost::json::serialize(boost::json::object{{"candidates", boost::json::array{cand}}}));
  return 0;
}
