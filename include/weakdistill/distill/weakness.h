// Weakness analysis (SPEC.md "Per-sample score h(x)" and "Error value and
// seed sampling"): how right the student was on each labeled sample, the
// error value that grows as it falls, and the seed draw in proportion to it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "weakdistill/core/random.h"
#include "weakdistill/core/sample.h"
#include "weakdistill/student/student.h"

namespace weakdistill {

struct WeaknessOptions {
  // Sharpness of the error value: Errvalue = exp((1 - h) / tau). Must be > 0;
  // a very large tau is uniform sampling.
  double tau = 0.5;
  // Classification h: false = 1 if the predicted label is the gold one else 0;
  // true = the student's probability of the gold label.
  bool soft_classification = false;
  // Draw seeds uniformly instead of by error value (the ablation `seeds: uniform`).
  bool uniform = false;
};

// h(x) in [0, 1] of one sample: classification as WeaknessOptions says; ner the
// sentence's entity F1 (exact start, end, type; 1 when gold and prediction are
// both empty); summarization ROUGE-L F1 on characters (whitespace removed)
// between the predicted summary and the reference (the same number as
// `weakdistill eval --per-sample`). Soft classification: the gold label's entry
// of label_probs clamped to [0, 1]; 0 when it is absent or NaN.
double sample_score(Task task, const Sample& gold, const Prediction& prediction,
                    bool soft_classification = false);

struct Weakness {
  std::vector<double> h;  // per sample, in input order
  // exp((1 - h) / tau), or 1 when uniform; overflows to +inf where
  // (1 - h) / tau > ~709 (a tiny tau).
  std::vector<double> error_value;
  // error_value normalised to sum 1, computed relative to the lowest h so that it
  // stays finite when error_value overflows.
  std::vector<double> p;
};

// Scores every sample and its sampling probability. `gold` and `predictions`
// have the same size (> 0). Throws std::invalid_argument on a size mismatch,
// no samples, or a tau that is not positive and finite (checked even when
// uniform).
Weakness analyse_weakness(Task task, const std::vector<Sample>& gold,
                          const std::vector<Prediction>& predictions,
                          const WeaknessOptions& options);

// Draws `n` seed indices from `p` with replacement, with `rng` (inverse CDF on
// the cumulative sums, binary search; the same rng state gives the same draw
// on every platform; one rng.uniform() per seed). p need not be normalised.
// Entries of 0 are never drawn. Throws std::invalid_argument when p is empty,
// has a negative or non-finite entry, or does not sum to a positive value.
std::vector<std::size_t> draw_seeds(const std::vector<double>& p, std::size_t n, Rng& rng);

// Cross-validated weakness (distill.weakness cv): the fold (0..k-1) of each training sample,
// shuffled with `seed` and dealt round-robin, stratified by label for classification (each
// label's samples in turn, so every fold holds each label within one of the others). Fixed for
// a run.
std::vector<int> assign_cv_folds(Task task, const std::vector<Sample>& train, int k,
                                 std::uint64_t seed);

// Per-label allocation (distill.allocation per_label): the groups a sample counts for, its label
// (classification) or each entity type it holds (ner; "(none)" for a sentence without any).
std::vector<std::string> allocation_groups(Task task, const Sample& sample);
// How `n` requests are split over `groups` with error masses `mass`: a floor of half an even
// share (at least 1 while n allows), the rest in proportion to the mass by largest remainders
// (ties to the earlier group). The shares sum to n.
std::map<std::string, std::size_t> allocate_per_label(const std::vector<std::string>& groups,
                                                      const std::vector<double>& mass,
                                                      std::size_t n);

}  // namespace weakdistill
