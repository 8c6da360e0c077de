#include "reference/brute_force_crf.h"

#include <cmath>
#include <limits>

namespace weakdistill::reference {

bool is_valid_bio(const std::vector<std::string>& tags) {
  std::string previous = "O";
  for (const std::string& tag : tags) {
    if (tag.rfind("I-", 0) == 0) {
      const std::string type = tag.substr(2);
      if (previous != "B-" + type && previous != "I-" + type) return false;
    }
    previous = tag;
  }
  return true;
}

double path_score(const CrfCase& c, const std::vector<int>& path) {
  double s = c.start[path.front()] + c.end[path.back()];
  for (std::size_t t = 0; t < path.size(); ++t) {
    s += c.emissions[t][path[t]];
    if (t > 0) s += c.transitions[path[t - 1]][path[t]];
  }
  return s;
}

namespace {

// Odometer over all T^n paths, position 0 changing slowest.
template <typename F>
void enumerate(const CrfCase& c, F visit) {
  const std::size_t n = c.emissions.size();
  const int t = static_cast<int>(c.start.size());
  std::vector<int> path(n, 0);
  while (true) {
    bool ok = true;
    if (!c.bio_tags.empty()) {
      std::vector<std::string> names;
      for (int y : path) names.push_back(c.bio_tags[y]);
      ok = is_valid_bio(names);
    }
    if (ok) visit(path);
    std::size_t k = n;
    while (k > 0 && ++path[k - 1] == t) path[--k] = 0;
    if (k == 0) return;
  }
}

}  // namespace

double brute_force_log_partition(const CrfCase& c) {
  std::vector<double> scores;
  enumerate(c, [&](const std::vector<int>& p) { scores.push_back(path_score(c, p)); });
  if (scores.empty()) return -std::numeric_limits<double>::infinity();
  double top = scores[0];
  for (double s : scores) top = std::max(top, s);
  double sum = 0;
  for (double s : scores) sum += std::exp(s - top);
  return top + std::log(sum);
}

std::pair<std::vector<int>, double> brute_force_best_path(const CrfCase& c) {
  std::pair<std::vector<int>, double> best{{}, -std::numeric_limits<double>::infinity()};
  enumerate(c, [&](const std::vector<int>& p) {
    const double s = path_score(c, p);
    if (best.first.empty() || s > best.second) best = {p, s};
  });
  return best;
}

std::vector<std::vector<double>> brute_force_marginals(const CrfCase& c) {
  const double log_z = brute_force_log_partition(c);
  std::vector<std::vector<double>> m(c.emissions.size(), std::vector<double>(c.start.size(), 0));
  enumerate(c, [&](const std::vector<int>& p) {
    const double prob = std::exp(path_score(c, p) - log_z);
    for (std::size_t t = 0; t < p.size(); ++t) m[t][p[t]] += prob;
  });
  return m;
}

}  // namespace weakdistill::reference
