// NER metrics over exact (start, end, type) entity matches.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "weakdistill/core/sample.h"
#include "weakdistill/eval/prf.h"

namespace weakdistill::eval {

struct TypeScores {
  Prf prf;
  std::size_t support = 0;    // gold entities of this type
  std::size_t predicted = 0;  // predicted entities of this type
};

struct NerMetrics {
  std::size_t n = 0;  // sentences
  Prf micro;          // over all entities of the set
  std::size_t true_positives = 0, gold_entities = 0, predicted_entities = 0;
  std::map<std::string, TypeScores> per_type;  // every type in gold ∪ predicted
};

// Entities matching exactly in (start, end, type), counted as a multiset.
std::size_t count_matches(const std::vector<Entity>& gold, const std::vector<Entity>& pred);

// `gold` and `pred` hold one entity list per sentence, same non-zero size.
NerMetrics ner_metrics(const std::vector<std::vector<Entity>>& gold,
                       const std::vector<std::vector<Entity>>& pred);

// The per-sample score h: the sentence's entity F1, 1 when both lists are empty.
double ner_score(const std::vector<Entity>& gold, const std::vector<Entity>& pred);

}  // namespace weakdistill::eval
