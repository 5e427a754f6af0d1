#include "ai/local_rules.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string>
#include <utility>

namespace nimbus::ai {
namespace {

struct WordList {
  std::string_view category;
  std::array<std::string_view, 8> words;
};

// Deliberately short and mild: the rules are a fallback that must be predictable, not a
// replacement for the model.
constexpr std::array<WordList, 3> kLists{{
    {"dangerous", {"attack", "kill", "bomb", "shoot", "stab", "murder", "explosive", "weapon"}},
    {"hate", {"hate", "bigot", "vermin", "subhuman", "", "", "", ""}},
    {"harassment", {"idiot", "stupid", "loser", "moron", "worthless", "", "", ""}},
}};

constexpr std::array<std::string_view, 6> kSpamPhrases{
    "buy now", "free money", "click here", "limited offer", "act now", "work from home"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t count_links(std::string_view lowered) {
  size_t n = 0;
  for (std::string_view marker : {"http://", "https://", "www."}) {
    for (size_t pos = lowered.find(marker); pos != std::string_view::npos;
         pos = lowered.find(marker, pos + marker.size()))
      ++n;
  }
  return n;
}

}  // namespace

ModerationVerdict moderate_locally(std::string_view text) {
  ModerationVerdict v;
  v.provider = "local-rules";
  std::string lowered = lower(text);

  // Words: maximal runs of letters; a distinct word counts once, so repetition is spam's job.
  std::set<std::string> words;
  std::string cur;
  for (char c : lowered + " ") {
    if (std::isalpha(static_cast<unsigned char>(c))) cur.push_back(c);
    else if (!cur.empty()) words.insert(std::exchange(cur, {}));
  }
  std::string fired;
  for (const auto& list : kLists) {
    int hits = 0;
    std::string first;
    for (auto w : list.words)
      if (!w.empty() && words.count(std::string(w))) {
        if (first.empty()) first = w;
        ++hits;
      }
    if (hits == 0) continue;
    double score = std::min(1.0, 0.5 * hits);
    merge_category(v.categories, {std::string(list.category), score, "", false});
    if (score >= kLocalRejectScore && fired.empty())
      fired = std::string(list.category) + " word \"" + first + "\"";
  }

  // Spam: links, sales phrases, shouting and one word repeated.
  double spam = 0;
  std::string spam_why;
  size_t links = count_links(lowered);
  if (links >= 3) spam += 0.5, spam_why = std::to_string(links) + " links";
  else if (links > 0) spam += 0.1 * static_cast<double>(links);
  for (auto p : kSpamPhrases)
    if (lowered.find(p) != std::string::npos) {
      spam += 0.3;
      if (spam_why.empty()) spam_why = "phrase \"" + std::string(p) + "\"";
    }
  size_t letters = 0, upper = 0;
  for (char c : text)
    if (std::isalpha(static_cast<unsigned char>(c))) {
      ++letters;
      if (std::isupper(static_cast<unsigned char>(c))) ++upper;
    }
  if (letters >= 20 && upper * 10 >= letters * 8) {
    spam += 0.3;
    if (spam_why.empty()) spam_why = "mostly capitals";
  }
  // Count raw word occurrences for repetition (the set above dropped duplicates).
  {
    size_t total = 0, best = 0;
    std::string w;
    std::multiset<std::string> all;
    for (char c : lowered + " ") {
      if (std::isalpha(static_cast<unsigned char>(c))) w.push_back(c);
      else if (!w.empty()) all.insert(std::exchange(w, {})), ++total;
    }
    for (const auto& x : words) best = std::max(best, all.count(x));
    if (total >= 8 && best * 2 > total) {
      spam += 0.5;
      if (spam_why.empty()) spam_why = "one word repeated";
    }
  }
  if (spam > 0) {
    spam = std::min(1.0, spam);
    merge_category(v.categories, {"spam", spam, "", false});
    if (spam >= kLocalRejectScore && fired.empty()) fired = "spam: " + spam_why;
  }

  if (!fired.empty()) {
    v.status = VerdictStatus::rejected;
    v.reason = "local rules: " + fired;
  } else {
    v.status = VerdictStatus::approved;
    v.reason = "local rules: nothing matched";
  }
  v.attempts = 1;
  return v;
}

}  // namespace nimbus::ai
