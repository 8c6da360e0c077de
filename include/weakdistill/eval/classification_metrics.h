// Classification metrics: accuracy, macro-F1, per-label scores.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "weakdistill/eval/prf.h"

namespace weakdistill::eval {

struct LabelScores {
  Prf prf;
  std::size_t support = 0;  // gold samples with this label
};

struct ClassificationMetrics {
  std::size_t n = 0;
  double accuracy = 0;
  // Mean of per-label F1 over every label in gold ∪ predicted.
  double macro_f1 = 0;
  std::map<std::string, LabelScores> per_label;
};

// `gold` and `pred` must have the same, non-zero size.
ClassificationMetrics classification_metrics(const std::vector<std::string>& gold,
                                             const std::vector<std::string>& pred);

// The per-sample score h: 1 when the labels are equal, else 0.
inline double classification_score(const std::string& gold, const std::string& pred) {
  return gold == pred ? 1.0 : 0.0;
}

}  // namespace weakdistill::eval
