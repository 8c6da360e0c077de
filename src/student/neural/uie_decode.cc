#include "uie_decode.h"

#include <algorithm>
#include <map>

namespace weakdistill::student_internal {

std::vector<UieSpan> uie_spans(const float* p_start, const float* p_end, std::size_t n,
                               double threshold) {
  // One pass: a start waits for the next end; any end closes the wait, so a
  // start before an earlier end can never pair with a later one.
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<UieSpan> out;
  std::size_t start = kNone;
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<double>(p_start[i]) > threshold) start = i;
    if (static_cast<double>(p_end[i]) > threshold) {
      if (start != kNone) {
        out.push_back(
            UieSpan{start, i, static_cast<double>(p_start[start]) * static_cast<double>(p_end[i])});
      }
      start = kNone;
    }
  }
  return out;
}

std::vector<UieCandidate> uie_resolve_overlaps(std::vector<UieCandidate> candidates) {
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const UieCandidate& a, const UieCandidate& b) {
                     if (a.prob != b.prob) return a.prob > b.prob;
                     if (a.begin != b.begin) return a.begin < b.begin;
                     if (a.end - a.begin != b.end - b.begin)
                       return a.end - a.begin < b.end - b.begin;
                     return a.type < b.type;
                   });
  std::map<std::size_t, UieCandidate> kept;  // by begin; the kept ones never overlap
  for (const UieCandidate& c : candidates) {
    if (c.end <= c.begin) continue;
    // The kept candidate that begins at or after c.begin, and the one before it.
    auto next = kept.lower_bound(c.begin);
    if (next != kept.end() && next->second.begin < c.end) continue;
    if (next != kept.begin() && std::prev(next)->second.end > c.begin) continue;
    kept.emplace(c.begin, c);
  }
  std::vector<UieCandidate> out;
  out.reserve(kept.size());
  for (const auto& [begin, c] : kept) out.push_back(c);
  return out;
}

}  // namespace weakdistill::student_internal
