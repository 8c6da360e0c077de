// Diversity selection straight from its definition (SPEC.md "Diversity"),
// linked only into tests: the oracle for select_diverse in
// src/embed/diversity.cc. Plain doubles and loops; at every step it recomputes
// every remaining candidate's diversity from scratch, so it costs
// O(keep × candidates × (labeled + keep) × dim). Keep the sets small.
#pragma once

#include <cstddef>
#include <vector>

namespace weakdistill::reference {

// Row-major vectors as plain nested vectors: [rows][dim].
using Vectors = std::vector<std::vector<float>>;

struct BruteForceDiversity {
  // Per candidate, as DiversityResult::diversity (+infinity over an empty set).
  std::vector<double> diversity;
  std::vector<bool> kept;
  std::vector<std::size_t> order;
  // How close the run came to a different outcome: the least gap, over every
  // step, between the best diversity and the runner-up and between the best and
  // dist_min (+infinity when no step had a choice). Tests on real-valued data
  // compare kept sets only where this exceeds the float rounding of a dot product.
  double margin;
};

// dist(a, i) = 1 - a·i in double (exact for float inputs whose products and
// sums are representable, e.g. small integers times a power of two).
double brute_force_dist(const std::vector<float>& a, const std::vector<float>& b);

// Greedy farthest-first selection: at each step, scan every candidate not yet
// kept, take the highest diversity against labeled ∪ kept (the earliest on ties),
// stop if it is below dist_min or `keep` are kept. Candidates not kept then report
// their diversity against labeled ∪ every kept candidate.
BruteForceDiversity brute_force_select_diverse(const Vectors& labeled, const Vectors& candidates,
                                               double dist_min, std::size_t keep);

}  // namespace weakdistill::reference
