#include "common/fulltext.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace nimbus::fulltext {

namespace {

bool word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && std::string_view(s).substr(s.size() - tail.size()) == tail;
}

// Harman's S stemmer: the first rule that applies wins.
void stem(std::string& w) {
  if (ends_with(w, "ies") && !ends_with(w, "eies") && !ends_with(w, "aies")) {
    w.resize(w.size() - 3);
    w += 'y';
  } else if (ends_with(w, "es") && !ends_with(w, "aes") && !ends_with(w, "ees") && !ends_with(w, "oes")) {
    w.pop_back();
  } else if (ends_with(w, "s") && !ends_with(w, "us") && !ends_with(w, "ss")) {
    w.pop_back();
  }
}

template <class F>
void each_token(std::string_view text, F&& f) {
  std::string w;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !word_byte(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    w.clear();
    while (i < text.size() && word_byte(static_cast<unsigned char>(text[i]))) {
      char c = text[i++];
      w += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    if (w.size() > 3) stem(w);  // "is", "as", "bus" stay as written
    f(w);
  }
}

}  // namespace

std::vector<std::string> analyze(std::string_view text) {
  std::vector<std::string> out;
  each_token(text, [&](const std::string& w) { out.push_back(w); });
  return out;
}

TermCounts count_terms(std::string_view text, const std::vector<Phrase>& phrases) {
  TermCounts c;
  c.tf.assign(phrases.size(), 0);
  // A phrase occurs where its last token does: each token looks up only the phrases ending
  // in it, then compares their earlier tokens with the last ones seen (kept in a ring).
  std::unordered_map<std::string_view, std::vector<size_t>> by_last;
  size_t longest = 1;
  for (size_t i = 0; i < phrases.size(); ++i) {
    const Phrase& p = phrases[i];
    if (p.empty() || p.size() > kMaxPhraseTokens) continue;
    by_last[p.back()].push_back(i);
    longest = std::max(longest, p.size());
  }
  std::vector<std::string> window(longest);
  each_token(text, [&](const std::string& w) {
    window[c.length % window.size()] = w;
    ++c.length;
    auto it = by_last.find(w);
    if (it == by_last.end()) return;
    for (size_t i : it->second) {
      const Phrase& p = phrases[i];
      if (p.size() > c.length) continue;
      bool hit = true;
      for (size_t k = 0; k + 1 < p.size() && hit; ++k)
        hit = window[(c.length - p.size() + k) % window.size()] == p[k];
      if (hit) ++c.tf[i];
    }
  });
  return c;
}

bool contains(std::string_view text, std::string_view phrase) {
  std::vector<Phrase> p{analyze(phrase)};
  if (p[0].empty()) return false;
  return count_terms(text, p).tf[0] > 0;
}

double bm25(const TermCounts& doc, const CorpusStats& corpus) {
  constexpr double k1 = 1.2, b = 0.75;
  double n_docs = std::max(corpus.documents, 1.0);
  double avg = corpus.total_words > 0 ? corpus.total_words / n_docs : 1.0;
  double score = 0;
  for (size_t i = 0; i < doc.tf.size(); ++i) {
    if (doc.tf[i] == 0) continue;
    double n = i < corpus.hits.size() ? std::clamp(corpus.hits[i], 0.0, n_docs) : 1.0;
    double idf = std::log(1.0 + (n_docs - n + 0.5) / (n + 0.5));
    double tf = doc.tf[i];
    score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc.length / avg));
  }
  return score;
}

}  // namespace nimbus::fulltext
