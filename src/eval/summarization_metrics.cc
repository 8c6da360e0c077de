#include "weakdistill/eval/summarization_metrics.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "weakdistill/core/utf8.h"

namespace weakdistill::eval {
namespace {

// An n-gram (n <= 4) of code points packed into 84 bits, so that n-grams can
// be counted by sorting flat arrays instead of hashing strings.
struct Gram {
  std::uint64_t hi = 0, lo = 0;
  auto operator<=>(const Gram&) const = default;
};

void grams(std::u32string_view s, std::size_t n, std::vector<Gram>& out) {
  out.clear();
  if (s.size() < n) return;
  out.reserve(s.size() - n + 1);
  for (std::size_t i = 0; i + n <= s.size(); ++i) {
    Gram g;
    for (std::size_t k = 0; k < n; ++k) {
      // 21 bits a code point: 3 fit in `lo`, the 4th goes to `hi`.
      if (k < 3) {
        g.lo |= static_cast<std::uint64_t>(s[i + k]) << (21 * k);
      } else {
        g.hi = s[i + k];
      }
    }
    out.push_back(g);
  }
  std::sort(out.begin(), out.end());
}

}  // namespace

std::u32string scoring_chars(std::string_view text) {
  std::u32string chars = utf8::decode(text);
  std::erase_if(chars, utf8::is_space);
  return chars;
}

std::size_t lcs_length(std::u32string_view a, std::u32string_view b) {
  if (a.size() > b.size()) std::swap(a, b);  // bit vectors over the shorter string
  const std::size_t m = a.size();
  if (m == 0) return 0;
  const std::size_t words = (m + 63) / 64;

  // Match masks: for each distinct character of `a`, the positions where it occurs.
  std::vector<char32_t> alphabet(a.begin(), a.end());
  std::sort(alphabet.begin(), alphabet.end());
  alphabet.erase(std::unique(alphabet.begin(), alphabet.end()), alphabet.end());
  std::vector<std::uint64_t> masks(alphabet.size() * words, 0);  // [alphabet][words]
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t c =
        std::lower_bound(alphabet.begin(), alphabet.end(), a[i]) - alphabet.begin();
    masks[c * words + i / 64] |= std::uint64_t{1} << (i % 64);
  }

  // Allison–Dix / Hyyrö: V starts all ones; for each character y of b,
  // U = V & M[y]; V = (V + U) | (V - U). The LCS is the number of zeros in V.
  // U is a subset of V, so V - U = V & ~U; the addition carries across words.
  std::vector<std::uint64_t> v(words, ~std::uint64_t{0});
  for (char32_t y : b) {
    const auto it = std::lower_bound(alphabet.begin(), alphabet.end(), y);
    if (it == alphabet.end() || *it != y) continue;  // U = 0 leaves V unchanged
    const std::uint64_t* mask = &masks[(it - alphabet.begin()) * words];
    std::uint64_t carry = 0;
    for (std::size_t w = 0; w < words; ++w) {
      const std::uint64_t u = v[w] & mask[w];
      const std::uint64_t sum = v[w] + u + carry;
      carry = (sum < v[w] || (carry && sum == v[w])) ? 1 : 0;
      v[w] = sum | (v[w] & ~u);
    }
  }
  std::size_t zeros = 0;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint64_t word = ~v[w];
    if (w == words - 1 && m % 64 != 0) word &= (std::uint64_t{1} << (m % 64)) - 1;
    zeros += static_cast<std::size_t>(std::popcount(word));
  }
  return zeros;
}

std::size_t clipped_ngram_overlap(std::u32string_view a, std::u32string_view b, std::size_t n) {
  if (n == 0 || n > 4) throw std::invalid_argument("clipped_ngram_overlap: n must be 1..4");
  thread_local std::vector<Gram> ga, gb;
  grams(a, n, ga);
  grams(b, n, gb);
  // Walking two sorted lists pairs equal n-grams one for one: min(count_a, count_b) each.
  std::size_t i = 0, j = 0, overlap = 0;
  while (i < ga.size() && j < gb.size()) {
    if (ga[i] < gb[j]) {
      ++i;
    } else if (gb[j] < ga[i]) {
      ++j;
    } else {
      ++overlap, ++i, ++j;
    }
  }
  return overlap;
}

Prf rouge_n(std::u32string_view candidate, std::u32string_view reference, std::size_t n) {
  const double overlap = static_cast<double>(clipped_ngram_overlap(candidate, reference, n));
  const double c = static_cast<double>(ngram_count(candidate.size(), n));
  const double r = static_cast<double>(ngram_count(reference.size(), n));
  Prf p;
  p.precision = c > 0 ? overlap / c : 0.0;
  p.recall = r > 0 ? overlap / r : 0.0;
  p.f1 = f1(p.precision, p.recall);
  return p;
}

Prf rouge_l(std::u32string_view candidate, std::u32string_view reference) {
  const double lcs = static_cast<double>(lcs_length(candidate, reference));
  Prf p;
  p.precision = candidate.empty() ? 0.0 : lcs / static_cast<double>(candidate.size());
  p.recall = reference.empty() ? 0.0 : lcs / static_cast<double>(reference.size());
  p.f1 = f1(p.precision, p.recall);
  return p;
}

void BleuStats::add(std::u32string_view candidate, std::u32string_view reference) {
  for (std::size_t n = 1; n <= 4; ++n) {
    matches[n - 1] += static_cast<double>(clipped_ngram_overlap(candidate, reference, n));
    totals[n - 1] += static_cast<double>(ngram_count(candidate.size(), n));
  }
  candidate_length += static_cast<double>(candidate.size());
  reference_length += static_cast<double>(reference.size());
}

double BleuStats::bleu() const {
  if (candidate_length == 0) return 0.0;
  double log_sum = 0;
  for (std::size_t n = 0; n < 4; ++n) {
    if (matches[n] == 0 || totals[n] == 0) return 0.0;
    log_sum += std::log(matches[n] / totals[n]);
  }
  const double bp = candidate_length <= reference_length
                        ? std::exp(1.0 - reference_length / candidate_length)
                        : 1.0;
  return bp * std::exp(log_sum / 4.0);
}

PairScores pair_scores(std::u32string_view candidate, std::u32string_view reference) {
  return {rouge_n(candidate, reference, 1), rouge_n(candidate, reference, 2),
          rouge_l(candidate, reference)};
}

SummarizationMetrics summarization_metrics(const std::vector<std::string>& candidates,
                                           const std::vector<std::string>& references,
                                           std::vector<PairScores>* per_pair) {
  if (candidates.size() != references.size() || candidates.empty()) {
    throw std::invalid_argument("summarization_metrics: sizes differ or are zero");
  }
  SummarizationMetrics m;
  m.n = candidates.size();
  BleuStats bleu;
  if (per_pair) per_pair->clear();
  const auto accumulate = [](Prf& sum, const Prf& p) {
    sum.precision += p.precision;
    sum.recall += p.recall;
    sum.f1 += p.f1;
  };
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::u32string c = scoring_chars(candidates[i]);
    const std::u32string r = scoring_chars(references[i]);
    const PairScores s = pair_scores(c, r);
    accumulate(m.rouge1, s.rouge1);
    accumulate(m.rouge2, s.rouge2);
    accumulate(m.rougeL, s.rougeL);
    bleu.add(c, r);
    if (per_pair) per_pair->push_back(s);
  }
  const double n = static_cast<double>(m.n);
  for (Prf* p : {&m.rouge1, &m.rouge2, &m.rougeL}) {
    p->precision /= n;
    p->recall /= n;
    p->f1 /= n;
  }
  m.bleu4 = bleu.bleu();
  return m;
}

double summarization_score(std::string_view candidate, std::string_view reference) {
  return rouge_l(scoring_chars(candidate), scoring_chars(reference)).f1;
}

}  // namespace weakdistill::eval
