#include "ai/verdict.h"

#include <algorithm>

namespace nimbus::ai {

std::string_view to_string(VerdictStatus status) {
  switch (status) {
    case VerdictStatus::approved: return "approved";
    case VerdictStatus::rejected: return "rejected";
    case VerdictStatus::pending_review: return "pending-review";
  }
  return "pending-review";
}

std::optional<VerdictStatus> parse_status(std::string_view text) {
  if (text == "approved") return VerdictStatus::approved;
  if (text == "rejected") return VerdictStatus::rejected;
  if (text == "pending-review") return VerdictStatus::pending_review;
  return std::nullopt;
}

boost::json::object to_json(const ModerationVerdict& v) {
  boost::json::object o;
  o["status"] = to_string(v.status);
  boost::json::array cats;
  for (const auto& c : v.categories) {
    boost::json::object co{{"name", c.name}, {"score", c.score}};
    if (!c.probability.empty()) co["probability"] = c.probability;
    if (c.blocked) co["blocked"] = true;
    cats.push_back(std::move(co));
  }
  o["categories"] = std::move(cats);
  o["provider"] = v.provider;
  o["reason"] = v.reason;
  o["latencyMs"] = v.latency.count();
  o["attempts"] = v.attempts;
  o["failOpen"] = v.fail_open;
  return o;
}

void merge_category(std::vector<CategoryScore>& into, CategoryScore score) {
  auto it = std::find_if(into.begin(), into.end(),
                         [&](const CategoryScore& c) { return c.name == score.name; });
  if (it == into.end()) {
    into.push_back(std::move(score));
    return;
  }
  if (score.score > it->score) {
    it->score = score.score;
    if (!score.probability.empty()) it->probability = score.probability;
  }
  it->blocked = it->blocked || score.blocked;
}

}  // namespace nimbus::ai
