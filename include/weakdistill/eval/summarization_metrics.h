// ROUGE-1/2/L and BLEU-4 on Unicode characters, whitespace removed, so that
// Chinese is scored by character (a word tokenizer that keeps only [a-z0-9]
// would score every Chinese pair 0).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/eval/prf.h"

namespace weakdistill::eval {

// Decodes UTF-8 and drops whitespace (utf8::is_space). Throws
// std::invalid_argument on invalid UTF-8.
std::u32string scoring_chars(std::string_view text);

// Length of the longest common subsequence (bit-parallel, O(|a|·|b|/64)).
std::size_t lcs_length(std::u32string_view a, std::u32string_view b);

// Sum over distinct n-grams g of min(count in a, count in b).
std::size_t clipped_ngram_overlap(std::u32string_view a, std::u32string_view b, std::size_t n);

// Number of n-grams of a sequence of `length` items.
inline std::size_t ngram_count(std::size_t length, std::size_t n) {
  return length >= n ? length - n + 1 : 0;
}

Prf rouge_n(std::u32string_view candidate, std::u32string_view reference, std::size_t n);
Prf rouge_l(std::u32string_view candidate, std::u32string_view reference);

// Corpus-level BLEU-4 sufficient statistics.
struct BleuStats {
  std::array<double, 4> matches{};  // clipped n-gram matches, n = 1..4
  std::array<double, 4> totals{};   // candidate n-grams, n = 1..4
  double candidate_length = 0;
  double reference_length = 0;

  void add(std::u32string_view candidate, std::u32string_view reference);
  // Uniform weights, no smoothing; brevity penalty exp(1 - r/c) when c <= r;
  // 0 when any n-gram precision is 0 or c = 0.
  double bleu() const;
};

struct SummarizationMetrics {
  std::size_t n = 0;
  Prf rouge1, rouge2, rougeL;  // each averaged over pairs
  double bleu4 = 0;            // corpus-level
};

// Per-pair scores of one candidate against its reference (already passed
// through scoring_chars), as used for the averages.
struct PairScores {
  Prf rouge1, rouge2, rougeL;
};
PairScores pair_scores(std::u32string_view candidate, std::u32string_view reference);

// `candidates` and `references` are raw UTF-8 texts of the same non-zero size.
// `per_pair`, when given, receives each pair's scores.
SummarizationMetrics summarization_metrics(const std::vector<std::string>& candidates,
                                           const std::vector<std::string>& references,
                                           std::vector<PairScores>* per_pair = nullptr);

// The per-sample score h: ROUGE-L F1.
double summarization_score(std::string_view candidate, std::string_view reference);

}  // namespace weakdistill::eval
