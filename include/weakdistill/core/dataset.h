// Operations on whole datasets: few-shot splits.
#pragma once

#include <cstdint>
#include <vector>

#include "weakdistill/core/jsonl.h"

namespace weakdistill {

// A split of a dataset's samples by index, each part in original order.
struct Split {
  std::vector<std::size_t> chosen;
  std::vector<std::size_t> rest;
};

// Draws `per_label` samples of every label (classification). Throws
// InputError naming the label when one has fewer samples than asked.
Split sample_per_label(const std::vector<Sample>& samples, std::size_t per_label,
                       std::uint64_t seed);

// Draws `n` samples uniformly without replacement. Throws InputError when the
// dataset has fewer than `n`.
Split sample_n(std::size_t size, std::size_t n, std::uint64_t seed);

// The samples at `indices`, copied.
std::vector<Sample> select(const std::vector<Sample>& samples,
                           const std::vector<std::size_t>& indices);

}  // namespace weakdistill
