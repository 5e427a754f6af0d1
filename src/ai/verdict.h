#pragma once
// The result of moderating one piece of content, whatever answered (Gemini, the local rules,
// or the resilience layer failing open). Asio-free: every module that stores or renders a
// verdict includes this.
#include <boost/json/object.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nimbus::ai {

enum class VerdictStatus { approved, rejected, pending_review };

// "approved", "rejected", "pending-review" (the strings the reference app's API shows).
std::string_view to_string(VerdictStatus status);
std::optional<VerdictStatus> parse_status(std::string_view text);

struct CategoryScore {
  std::string name;          // normalized: "hate", "harassment", "sexual", "dangerous", "spam", ...
  double score = 0;          // 0..1, always finite
  std::string probability;   // the provider's label when it has one ("NEGLIGIBLE".."HIGH")
  bool blocked = false;      // the provider blocked the content for this category
};

struct ModerationVerdict {
  VerdictStatus status = VerdictStatus::pending_review;
  std::vector<CategoryScore> categories;
  std::string provider;  // "gemini", "local-rules"
  std::string reason;    // why: the model's reason, the rule that fired, or why it failed open
  std::chrono::milliseconds latency{0};
  int attempts = 0;      // provider calls this verdict took (0 when the breaker short-circuited)
  bool fail_open = false;  // true when the provider could not answer and the content was let through
};

boost::json::object to_json(const ModerationVerdict& verdict);

// Keeps the highest score per category name (a model's own scores and its safety ratings may
// both name one category).
void merge_category(std::vector<CategoryScore>& into, CategoryScore score);

}  // namespace nimbus::ai
