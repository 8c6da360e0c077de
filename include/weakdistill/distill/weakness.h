// Weakness analysis (SPEC.md "Per-sample score h(x)" and "Error value and
// seed sampling"): how right the student was on each labeled sample, the
// error value that grows as it falls, and the seed draw in proportion to it.
#pragma once

#include <cstdint>
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

}  // namespace weakdistill
