#pragma once
// Full-text search: the text analysis behind FullTextContains, FullTextContainsAll,
// FullTextContainsAny and FullTextScore, and the BM25 score that ORDER BY RANK sorts by.
//
// Analysis (ours, simpler than the service's; said in the README): a token is a maximal run of
// ASCII letters and digits and of any byte >= 0x80 (so words in other scripts stay whole),
// lowercased (ASCII), then stemmed with Harman's English "S" stemmer (plurals: "cats" -> "cat",
// "stories" -> "story", "boxes" -> "boxe", so "box" and "boxes" stay apart). The service stems
// per language and drops English stop words; here "running" does not match "run" and "the" is
// a token like any other.
//
// A search term of several words is a phrase: its tokens must follow each other in the text,
// as the service has matched since July 2025 (FullTextContains(c.text, "United States") no
// longer finds a text with "United" alone).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nimbus::fulltext {

// The tokens of `text` in order.
std::vector<std::string> analyze(std::string_view text);

// A phrase of more words than this matches nothing (it bounds the work per text; ours, the
// service documents no limit).
constexpr size_t kMaxPhraseTokens = 64;
// FullTextScore takes at most this many search terms (it bounds what each row keeps until all
// are scored; ours, the service documents no limit).
constexpr size_t kMaxScoreTerms = 64;

// The text holds the phrase (its tokens, one after another). A phrase without tokens (empty,
// punctuation only) is contained in nothing.
bool contains(std::string_view text, std::string_view phrase);

// How often each phrase (already analyzed: its tokens) occurs in `text`, and the text's token
// count.
struct TermCounts {
  uint32_t length = 0;
  std::vector<uint32_t> tf;  // by phrase
};
using Phrase = std::vector<std::string>;
TermCounts count_terms(std::string_view text, const std::vector<Phrase>& phrases);

// The corpus a score is measured against: how many documents, their tokens in all, and in
// how many documents each term occurs.
struct CorpusStats {
  double documents = 0;
  double total_words = 0;
  std::vector<double> hits;  // by term
};

// Okapi BM25 (k1 = 1.2, b = 0.75, idf = ln(1 + (N - n + 0.5) / (n + 0.5))): the service says
// FullTextScore is BM25 without naming its constants; these are the usual ones. Only the order
// of scores is ever visible (ORDER BY RANK), never the numbers.
double bm25(const TermCounts& doc, const CorpusStats& corpus);  // by phrase, as count_terms

}  // namespace nimbus::fulltext
