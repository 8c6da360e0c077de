#include "weakdistill/eval/ner_metrics.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace weakdistill::eval {
namespace {

using Key = std::tuple<std::size_t, std::size_t, std::string_view>;

std::vector<Key> sorted_keys(const std::vector<Entity>& entities) {
  std::vector<Key> keys;
  keys.reserve(entities.size());
  for (const Entity& e : entities) keys.emplace_back(e.start, e.end, e.type);
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

std::size_t count_matches(const std::vector<Entity>& gold, const std::vector<Entity>& pred) {
  const auto g = sorted_keys(gold);
  const auto p = sorted_keys(pred);
  std::size_t i = 0, j = 0, matches = 0;
  while (i < g.size() && j < p.size()) {
    if (g[i] < p[j]) {
      ++i;
    } else if (p[j] < g[i]) {
      ++j;
    } else {
      ++matches, ++i, ++j;
    }
  }
  return matches;
}

double ner_score(const std::vector<Entity>& gold, const std::vector<Entity>& pred) {
  if (gold.empty() && pred.empty()) return 1.0;
  const double tp = static_cast<double>(count_matches(gold, pred));
  return prf(tp, static_cast<double>(pred.size()) - tp, static_cast<double>(gold.size()) - tp).f1;
}

NerMetrics ner_metrics(const std::vector<std::vector<Entity>>& gold,
                       const std::vector<std::vector<Entity>>& pred) {
  if (gold.size() != pred.size() || gold.empty()) {
    throw std::invalid_argument("ner_metrics: sizes differ or are zero");
  }
  struct Counts {
    std::size_t tp = 0, gold = 0, pred = 0;
  };
  std::map<std::string, Counts> counts;
  NerMetrics m;
  m.n = gold.size();
  for (std::size_t i = 0; i < gold.size(); ++i) {
    for (const Entity& e : gold[i]) counts[e.type].gold++;
    for (const Entity& e : pred[i]) counts[e.type].pred++;
    // Matches agree in type, so counting them per type sums to the total.
    std::map<std::string, std::pair<std::vector<Entity>, std::vector<Entity>>> by_type;
    for (const Entity& e : gold[i]) by_type[e.type].first.push_back(e);
    for (const Entity& e : pred[i]) by_type[e.type].second.push_back(e);
    for (const auto& [type, lists] : by_type) {
      counts[type].tp += count_matches(lists.first, lists.second);
    }
  }
  for (const auto& [type, c] : counts) {
    m.true_positives += c.tp;
    m.gold_entities += c.gold;
    m.predicted_entities += c.pred;
    TypeScores s;
    s.prf = prf(c.tp, c.pred - c.tp, c.gold - c.tp);
    s.support = c.gold;
    s.predicted = c.pred;
    m.per_type[type] = s;
  }
  const double tp = static_cast<double>(m.true_positives);
  m.micro = prf(tp, static_cast<double>(m.predicted_entities) - tp,
                static_cast<double>(m.gold_entities) - tp);
  return m;
}

}  // namespace weakdistill::eval
