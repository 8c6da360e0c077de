#include "weakdistill/distill/weakness.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "weakdistill/core/random.h"
#include "weakdistill/eval/classification_metrics.h"
#include "weakdistill/eval/ner_metrics.h"
#include "weakdistill/eval/summarization_metrics.h"

namespace weakdistill {
namespace {

double soft_classification_score(const Sample& gold, const Prediction& prediction) {
  const auto it = prediction.label_probs.find(gold.label);
  if (it == prediction.label_probs.end()) return 0.0;
  // A NaN would poison every p of the set; treating it as "not right at all"
  // keeps the draw usable and still makes the sample likely to be picked.
  if (std::isnan(it->second)) return 0.0;
  // Students may emit probabilities a rounding error outside [0, 1].
  return std::clamp(it->second, 0.0, 1.0);
}

}  // namespace

double sample_score(Task task, const Sample& gold, const Prediction& prediction,
                    bool soft_classification) {
  switch (task) {
    case Task::kClassification:
      return soft_classification ? soft_classification_score(gold, prediction)
                                 : eval::classification_score(gold.label, prediction.label);
    case Task::kNer:
      return eval::ner_score(gold.entities, prediction.entities);
    case Task::kSummarization:
      // The same function (scoring_chars + rouge_l) that `eval --per-sample`
      // reports, so the weakness the loop acts on is the one a user can inspect.
      return eval::summarization_score(prediction.summary, gold.summary);
  }
  throw std::invalid_argument("sample_score: unknown task");
}

Weakness analyse_weakness(Task task, const std::vector<Sample>& gold,
                          const std::vector<Prediction>& predictions,
                          const WeaknessOptions& options) {
  if (gold.empty()) throw std::invalid_argument("analyse_weakness: no samples");
  if (gold.size() != predictions.size()) {
    throw std::invalid_argument("analyse_weakness: " + std::to_string(gold.size()) +
                                " samples but " + std::to_string(predictions.size()) +
                                " predictions");
  }
  if (!(options.tau > 0) || !std::isfinite(options.tau)) {
    throw std::invalid_argument("analyse_weakness: tau must be positive and finite, got " +
                                std::to_string(options.tau));
  }
  const std::size_t n = gold.size();
  Weakness w;
  w.h.resize(n);
  w.error_value.resize(n);
  w.p.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    w.h[i] = sample_score(task, gold[i], predictions[i], options.soft_classification);
  }
  if (options.uniform) {
    std::fill(w.error_value.begin(), w.error_value.end(), 1.0);
    std::fill(w.p.begin(), w.p.end(), 1.0 / static_cast<double>(n));
    return w;
  }
  // p is computed relative to the largest exponent (the lowest h): mathematically
  // the same ratio, but a small tau (< about 1/709) would overflow exp() to inf
  // and make every p NaN. error_value itself is reported as the spec defines it.
  const double h_min = *std::min_element(w.h.begin(), w.h.end());
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    w.error_value[i] = std::exp((1.0 - w.h[i]) / options.tau);
    w.p[i] = std::exp((h_min - w.h[i]) / options.tau);  // in (0, 1], 1 for the worst
    total += w.p[i];
  }
  for (double& p : w.p) p /= total;  // total >= 1: the worst sample contributes 1
  return w;
}

std::vector<std::size_t> draw_seeds(const std::vector<double>& p, std::size_t n, Rng& rng) {
  if (p.empty()) throw std::invalid_argument("draw_seeds: no probabilities");
  std::vector<double> cumulative(p.size());
  double total = 0;
  std::size_t last_positive = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!(p[i] >= 0) || !std::isfinite(p[i])) {
      throw std::invalid_argument("draw_seeds: p[" + std::to_string(i) +
                                  "] is negative or not finite");
    }
    if (p[i] > 0) last_positive = i;
    total += p[i];
    cumulative[i] = total;
  }
  if (!(total > 0) || !std::isfinite(total)) {
    throw std::invalid_argument("draw_seeds: p does not sum to a positive finite value");
  }
  std::vector<std::size_t> seeds(n);
  for (std::size_t k = 0; k < n; ++k) {
    const double u = rng.uniform() * total;
    // The first cumulative sum strictly above u: a zero-probability entry
    // repeats its predecessor's sum, so it can never be the first one above.
    const std::size_t i = static_cast<std::size_t>(
        std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
    // uniform() * total can round up to total; the guard goes to the last entry
    // that can be drawn rather than to the last entry, which may be zero.
    seeds[k] = std::min(i, last_positive);
  }
  return seeds;
}

std::vector<std::string> allocation_groups(Task task, const Sample& s) {
  if (task == Task::kClassification) return {s.label};
  std::vector<std::string> out;
  for (const auto& e : s.entities) {
    if (std::find(out.begin(), out.end(), e.type) == out.end()) out.push_back(e.type);
  }
  if (out.empty()) out.push_back("(none)");
  return out;
}

std::vector<int> assign_cv_folds(Task task, const std::vector<Sample>& train, int k,
                                 std::uint64_t seed) {
  std::vector<int> folds(train.size(), 0);
  // Stratified for classification: each label's samples dealt round-robin over the folds
  // after a shuffle, continuing where the last label stopped so fold sizes stay even.
  std::map<std::string, std::vector<std::size_t>> by_group;
  for (std::size_t i = 0; i < train.size(); ++i) {
    by_group[task == Task::kClassification ? train[i].label : std::string()].push_back(i);
  }
  Rng rng(stream_seed(seed, 0xc5f01d5ULL));
  int next = 0;
  for (auto& [group, indices] : by_group) {
    for (std::size_t i = indices.size(); i > 1; --i) {
      const auto j = static_cast<std::size_t>(rng.uniform() * static_cast<double>(i));
      std::swap(indices[i - 1], indices[std::min(j, i - 1)]);
    }
    for (std::size_t i : indices) {
      folds[i] = next;
      next = (next + 1) % k;
    }
  }
  return folds;
}

std::map<std::string, std::size_t> allocate_per_label(const std::vector<std::string>& groups,
                                                      const std::vector<double>& mass,
                                                      std::size_t n) {
  std::map<std::string, std::size_t> out;
  const std::size_t g = groups.size();
  if (g == 0) return out;
  // A floor of half an even share (at least 1 while n allows), the rest by error mass
  // (largest remainders, ties to the earlier group).
  const std::size_t floor = std::min(n / g, std::max<std::size_t>(1, n / (2 * g)));
  double total = 0;
  for (double m : mass) total += m;
  std::size_t left = n - floor * g;
  std::vector<std::size_t> share(g, floor);
  std::vector<std::pair<double, std::size_t>> remainders;
  std::size_t given = 0;
  for (std::size_t i = 0; i < g; ++i) {
    const double exact = total > 0 ? static_cast<double>(left) * mass[i] / total
                                   : static_cast<double>(left) / static_cast<double>(g);
    const auto whole = static_cast<std::size_t>(std::floor(exact));
    share[i] += whole;
    given += whole;
    remainders.emplace_back(exact - static_cast<double>(whole), i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t r = 0; given < left && r < remainders.size(); ++r, ++given) {
    ++share[remainders[r].second];
  }
  for (std::size_t i = 0; i < g; ++i) out[groups[i]] = share[i];
  return out;
}

}  // namespace weakdistill
