#include "reference/slow_metrics.h"

#include <algorithm>
#include <map>
#include <vector>

namespace weakdistill::reference {

std::size_t lcs_length(const std::u32string& a, const std::u32string& b) {
  std::vector<std::vector<std::size_t>> t(a.size() + 1, std::vector<std::size_t>(b.size() + 1, 0));
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      t[i][j] = a[i - 1] == b[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
    }
  }
  return t[a.size()][b.size()];
}

std::size_t clipped_ngram_overlap(const std::u32string& a, const std::u32string& b, std::size_t n) {
  std::map<std::u32string, std::size_t> ca, cb;
  for (std::size_t i = 0; i + n <= a.size(); ++i) ca[a.substr(i, n)]++;
  for (std::size_t i = 0; i + n <= b.size(); ++i) cb[b.substr(i, n)]++;
  std::size_t overlap = 0;
  for (const auto& [g, c] : ca) {
    const auto it = cb.find(g);
    if (it != cb.end()) overlap += std::min(c, it->second);
  }
  return overlap;
}

}  // namespace weakdistill::reference
