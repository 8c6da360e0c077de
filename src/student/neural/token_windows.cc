#include "token_windows.h"

#include <algorithm>
#include <string>

namespace weakdistill::student_internal {

std::vector<TokenWindow> prediction_windows(std::size_t n, std::size_t width, std::size_t overlap) {
  if (width < 1 || overlap >= width) {
    throw std::invalid_argument("prediction_windows: need 1 <= width and overlap < width (width " +
                                std::to_string(width) + ", overlap " + std::to_string(overlap) +
                                ")");
  }
  std::vector<TokenWindow> out;
  const std::size_t stride = width - overlap, half = overlap / 2;
  for (std::size_t begin = 0; begin < n; begin += stride) {
    TokenWindow w;
    w.begin = begin;
    w.end = std::min(n, begin + width);
    w.own_begin = out.empty() ? 0 : begin + half;
    w.own_end = w.end == n ? n : begin + stride + half;
    out.push_back(w);
    if (w.end == n) break;
  }
  return out;
}

std::vector<TokenWindow> training_windows(
    std::size_t n, std::size_t width,
    const std::vector<std::pair<std::size_t, std::size_t>>& spans) {
  if (width < 1) throw std::invalid_argument("training_windows: width must be 1 or more");
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const auto [b, e] = spans[i];
    if (b >= e || e > n || (i > 0 && b < spans[i - 1].second)) {
      throw std::invalid_argument(
          "training_windows: spans must be non-empty, within the text, sorted and not "
          "overlapping (span " +
          std::to_string(i) + ")");
    }
  }
  std::vector<TokenWindow> out;
  std::size_t s = 0;  // the first span that ends after the window's start
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = std::min(n, begin + width);
    while (s < spans.size() && spans[s].second <= begin) ++s;
    // The span the border cuts, if any: the first with b < end < e (spans do not overlap).
    for (std::size_t i = s; i < spans.size() && spans[i].first < end; ++i) {
      if (end < spans[i].second) {
        if (spans[i].first > begin) end = spans[i].first;
        break;
      }
    }
    out.push_back(TokenWindow{begin, end, begin, end});
    begin = end;
  }
  return out;
}

}  // namespace weakdistill::student_internal
