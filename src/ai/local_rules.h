#pragma once
// The deterministic moderator used when no GEMINI_API_KEY is configured: word lists per
// category and link/spam heuristics. Same text, same verdict, on every machine.
#include <string_view>

#include "ai/verdict.h"

namespace nimbus::ai {

// A category scoring >= kLocalRejectScore rejects; everything else is approved. Words score
// 0.5 per distinct hit, so one violent or hateful word rejects.
inline constexpr double kLocalRejectScore = 0.5;

ModerationVerdict moderate_locally(std::string_view text);

}  // namespace nimbus::ai
