// Windows over a text's tokens, for encoders that read at most a fixed number
// of tokens at a time (bert-ner, uie). Torch-free; private to src/student/.
//
// Prediction reads overlapping windows and lets each token's result come from
// the window that sees most context on both sides of it; training, where the
// gold spans are known, moves borders so that no span is cut.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace weakdistill::student_internal {

struct TokenWindow {
  std::size_t begin = 0, end = 0;          // tokens [begin, end) of the text this window reads
  std::size_t own_begin = 0, own_end = 0;  // the tokens whose result this window decides
};

// Prediction: windows of at most `width` tokens over n tokens; consecutive windows overlap by
// `overlap` tokens (< width), and own regions split each overlap at its middle, so the own regions
// tile [0, n) exactly. An entity of up to overlap/2 tokens on each side of a border is read whole
// by the window that decides each of its tokens. n <= width: one window.
//
// Exactly: window k reads [k·s, min(k·s + width, n)) with stride s = width - overlap, for
// k = 0, 1, ... until a window reaches n (so the last one is longer than `overlap`, and may be
// shorter than `width`). Window k owns [k·s + ⌊overlap/2⌋, (k+1)·s + ⌊overlap/2⌋), the first
// from 0 and the last to n. Hence the window that decides token t reads at least
// [t - ⌊overlap/2⌋, t + ⌈overlap/2⌉] ∩ [0, n), and every run of at most ⌊overlap/2⌋ + 1 tokens
// is read whole by each window that decides one of its tokens. n = 0: no window.
// Throws std::invalid_argument unless 1 <= width and overlap < width.
std::vector<TokenWindow> prediction_windows(std::size_t n, std::size_t width, std::size_t overlap);

// Training (the gold spans are known): consecutive windows, no overlap, of at most `width` tokens,
// each border moved back to the start of the span it would cut (spans are token index ranges
// [b, e), sorted, not overlapping); a span longer than width is cut as today. own = whole window.
//
// Exactly: a window starting at `begin` ends at min(begin + width, n), or, when that border would
// fall strictly inside a span [b, e) with begin < b, at b. So a span of at most `width` tokens is
// never cut; a longer one (or one starting at the window's start) is cut at begin + width.
// Throws std::invalid_argument unless 1 <= width, and spans are sorted, non-empty, within [0, n)
// and do not overlap.
std::vector<TokenWindow> training_windows(
    std::size_t n, std::size_t width,
    const std::vector<std::pair<std::size_t, std::size_t>>& spans);

// The per-token results of a whole text from per-window ones: out[t] = per_window[w][t - begin_w]
// for the window w that owns t. per_window[w] holds windows[w].end - windows[w].begin results;
// the own regions must tile [0, n) (as both functions above make them), n = the last window's end.
template <typename T>
std::vector<T> stitch(const std::vector<TokenWindow>& windows,
                      const std::vector<std::vector<T>>& per_window) {
  if (per_window.size() != windows.size())
    throw std::invalid_argument("stitch: one result list per window is needed");
  std::vector<T> out;
  for (std::size_t w = 0; w < windows.size(); ++w) {
    const TokenWindow& win = windows[w];
    if (per_window[w].size() != win.end - win.begin || win.own_begin != out.size())
      throw std::invalid_argument("stitch: results do not match the windows");
    for (std::size_t t = win.own_begin; t < win.own_end; ++t)
      out.push_back(per_window[w][t - win.begin]);
  }
  return out;
}

}  // namespace weakdistill::student_internal
