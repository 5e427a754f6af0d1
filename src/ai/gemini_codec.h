#pragma once
// Gemini `models.generateContent` request and response bodies (REST, v1beta), without any I/O,
// so the unit tests and the fuzz target exercise exactly what the HTTP client sends and reads.
//
// Request: the moderation policy as `systemInstruction`, the content as the single user part
// (fenced, so the model treats it as data), `generationConfig.responseMimeType:
// application/json` with a `responseSchema` for {decision, categories[{name, score}], reason}.
// Response, in order of precedence:
//   promptFeedback.blockReason set      -> rejected (categories from promptFeedback.safetyRatings)
//   candidates[0].finishReason SAFETY   -> rejected (categories from the candidate's safetyRatings;
//     also PROHIBITED_CONTENT, BLOCKLIST, SPII)
//   candidates[0].content.parts[].text  -> the model's JSON verdict; safety ratings are merged in
//     and a HIGH rating turns an approval into a rejection.
// Anything else (not JSON, no candidates, no text, no decision) is a parse error the resilience
// layer treats as a `malformed` provider failure.
#include <string>
#include <string_view>

#include "ai/verdict.h"

namespace nimbus::ai {

inline constexpr std::string_view kDefaultGeminiModel = "gemini-2.0-flash";

// "/v1beta/models/<model>:generateContent" (model without a "models/" prefix; one is stripped).
std::string gemini_path(std::string_view model);

std::string gemini_request_body(std::string_view content);

struct GeminiParse {
  bool ok = false;
  ModerationVerdict verdict;  // provider "gemini"; latency/attempts left for the caller
  std::string error;          // when !ok: names the field that was wrong and what was expected
};
GeminiParse parse_gemini_response(std::string_view body);

// HarmCategory -> our category name ("HARM_CATEGORY_HATE_SPEECH" -> "hate"); unknown ones are
// lower-cased without the prefix so nothing the API adds later is lost.
std::string category_from_harm(std::string_view harm_category);
// HarmProbability -> score: NEGLIGIBLE 0.05, LOW 0.3, MEDIUM 0.6, HIGH 0.9, else 0.
double score_from_probability(std::string_view probability);

}  // namespace nimbus::ai
