#include "reference/brute_force_diversity.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace weakdistill::reference {

double brute_force_dist(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0;
  for (std::size_t k = 0; k < a.size(); ++k) dot += static_cast<double>(a[k]) * b[k];
  return 1.0 - dot;
}

namespace {

// min over labeled ∪ kept of dist(candidates[c], ·), +infinity over an empty set.
double diversity_of(std::size_t c, const Vectors& labeled, const Vectors& candidates,
                    const std::vector<std::size_t>& order) {
  double d = std::numeric_limits<double>::infinity();
  for (const auto& l : labeled) d = std::min(d, brute_force_dist(candidates[c], l));
  for (std::size_t k : order) d = std::min(d, brute_force_dist(candidates[c], candidates[k]));
  return d;
}

}  // namespace

BruteForceDiversity brute_force_select_diverse(const Vectors& labeled, const Vectors& candidates,
                                               double dist_min, std::size_t keep) {
  const double inf = std::numeric_limits<double>::infinity();
  BruteForceDiversity out;
  out.diversity.assign(candidates.size(), inf);
  out.kept.assign(candidates.size(), false);
  out.margin = inf;
  while (out.order.size() < keep) {
    std::size_t best_index = candidates.size();
    double best = -inf, runner_up = -inf;
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      if (out.kept[c]) continue;
      const double d = diversity_of(c, labeled, candidates, out.order);
      if (best_index == candidates.size() || d > best) {
        runner_up = best;
        best = d;
        best_index = c;
      } else {
        runner_up = std::max(runner_up, d);
      }
    }
    if (best_index == candidates.size()) break;  // every candidate is kept
    // Infinite values (nothing to compare against yet) leave no room for rounding.
    if (std::isfinite(best)) {
      if (runner_up > -inf) out.margin = std::min(out.margin, best - runner_up);
      out.margin = std::min(out.margin, std::abs(best - dist_min));
    }
    if (best < dist_min) break;
    out.kept[best_index] = true;
    out.diversity[best_index] = best;
    out.order.push_back(best_index);
  }
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    if (!out.kept[c]) out.diversity[c] = diversity_of(c, labeled, candidates, out.order);
  }
  return out;
}

}  // namespace weakdistill::reference
