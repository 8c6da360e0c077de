// Slow, obviously correct versions of the metric kernels, linked only into
// tests: a plain dynamic-programming LCS and map-counted n-grams.
#pragma once

#include <cstddef>
#include <string>

namespace weakdistill::reference {

// LCS length by the textbook (|a|+1)×(|b|+1) table.
std::size_t lcs_length(const std::u32string& a, const std::u32string& b);

// Sum over n-grams g of min(count_a(g), count_b(g)), counted in std::map.
std::size_t clipped_ngram_overlap(const std::u32string& a, const std::u32string& b, std::size_t n);

}  // namespace weakdistill::reference
