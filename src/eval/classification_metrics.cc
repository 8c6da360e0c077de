#include "weakdistill/eval/classification_metrics.h"

#include <stdexcept>

namespace weakdistill::eval {

Prf prf(double tp, double fp, double fn) {
  Prf p;
  p.precision = tp + fp > 0 ? tp / (tp + fp) : 0.0;
  p.recall = tp + fn > 0 ? tp / (tp + fn) : 0.0;
  p.f1 = f1(p.precision, p.recall);
  return p;
}

double f1(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

nlohmann::ordered_json to_json(const Prf& p) {
  return {{"precision", p.precision}, {"recall", p.recall}, {"f1", p.f1}};
}

ClassificationMetrics classification_metrics(const std::vector<std::string>& gold,
                                             const std::vector<std::string>& pred) {
  if (gold.size() != pred.size() || gold.empty()) {
    throw std::invalid_argument("classification_metrics: sizes differ or are zero");
  }
  struct Counts {
    std::size_t tp = 0, fp = 0, fn = 0, support = 0;
  };
  std::map<std::string, Counts> counts;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    counts[gold[i]].support++;
    if (gold[i] == pred[i]) {
      ++correct;
      counts[gold[i]].tp++;
    } else {
      counts[gold[i]].fn++;
      counts[pred[i]].fp++;
    }
  }
  ClassificationMetrics m;
  m.n = gold.size();
  m.accuracy = static_cast<double>(correct) / static_cast<double>(gold.size());
  double f1_sum = 0;
  for (const auto& [label, c] : counts) {
    LabelScores s;
    s.prf = prf(c.tp, c.fp, c.fn);
    s.support = c.support;
    f1_sum += s.prf.f1;
    m.per_label[label] = s;
  }
  m.macro_f1 = f1_sum / static_cast<double>(counts.size());
  return m;
}

}  // namespace weakdistill::eval
