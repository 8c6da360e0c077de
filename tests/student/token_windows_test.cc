// token_windows.h: the windows bert-ner and uie read long texts in. Every property the header
// states is checked by brute force (every token, every run of tokens) on thousands of random
// (n, width, overlap, spans) cases, plus a few cases worked out by hand.
#include "token_windows.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace weakdistill::student_internal {
namespace {

using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

std::string show(const std::vector<TokenWindow>& ws) {
  std::string s;
  for (const auto& w : ws) {
    s.append("[").append(std::to_string(w.begin)).append(",").append(std::to_string(w.end));
    s.append(" own ").append(std::to_string(w.own_begin)).append(",");
    s.append(std::to_string(w.own_end)).append(") ");
  }
  return s;
}

// The own regions tile [0, n) in order, each within its window of 1..width tokens.
void expect_tiling(const std::vector<TokenWindow>& ws, std::size_t n, std::size_t width,
                   const std::string& where) {
  if (n == 0) {
    EXPECT_TRUE(ws.empty()) << where;
    return;
  }
  ASSERT_FALSE(ws.empty()) << where;
  std::size_t next = 0;
  for (const TokenWindow& w : ws) {
    EXPECT_LT(w.begin, w.end) << where;
    EXPECT_LE(w.end, n) << where;
    EXPECT_LE(w.end - w.begin, width) << where;
    EXPECT_EQ(w.own_begin, next) << where;
    EXPECT_LT(w.own_begin, w.own_end) << where;
    EXPECT_LE(w.begin, w.own_begin) << where;
    EXPECT_LE(w.own_end, w.end) << where;
    next = w.own_end;
  }
  EXPECT_EQ(next, n) << where;
}

TEST(PredictionWindows, HandWorkedCases) {
  // n 10, width 4, overlap 2: stride 2; windows [0,4) [2,6) [4,8) [6,10); borders at 3, 5, 7.
  const auto w = prediction_windows(10, 4, 2);
  ASSERT_EQ(w.size(), 4u) << show(w);
  const std::size_t want[4][4] = {{0, 4, 0, 3}, {2, 6, 3, 5}, {4, 8, 5, 7}, {6, 10, 7, 10}};
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(w[k].begin, want[k][0]);
    EXPECT_EQ(w[k].end, want[k][1]);
    EXPECT_EQ(w[k].own_begin, want[k][2]);
    EXPECT_EQ(w[k].own_end, want[k][3]);
  }
  // The last window is shorter than width and longer than overlap: [8, 11) after [4, 10).
  const auto v = prediction_windows(11, 6, 2);
  ASSERT_EQ(v.size(), 3u) << show(v);
  EXPECT_EQ(v[2].begin, 8u);
  EXPECT_EQ(v[2].end, 11u);
  EXPECT_EQ(v[2].own_begin, 9u);
  // One window when the text fits; none for no tokens; overlap 0 is the old consecutive split.
  const auto one = prediction_windows(5, 5, 3);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].end, 5u);
  EXPECT_EQ(one[0].own_end, 5u);
  EXPECT_TRUE(prediction_windows(0, 5, 3).empty());
  const auto old = prediction_windows(7, 3, 0);
  ASSERT_EQ(old.size(), 3u);
  EXPECT_EQ(old[2].begin, 6u);
  EXPECT_EQ(old[1].own_begin, 3u);
  EXPECT_THROW(prediction_windows(5, 3, 3), std::invalid_argument);
  EXPECT_THROW(prediction_windows(5, 0, 0), std::invalid_argument);
}

TEST(PredictionWindows, PropertiesOnRandomCases) {
  std::mt19937 rng(11);
  int cases = 0, multi = 0;
  for (std::size_t width = 1; width <= 24; ++width) {
    for (std::size_t overlap = 0; overlap < width; ++overlap) {
      for (int rep = 0; rep < 8; ++rep, ++cases) {
        const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 4 * width + 3)(rng);
        const auto ws = prediction_windows(n, width, overlap);
        const std::string where = "n " + std::to_string(n) + " width " + std::to_string(width) +
                                  " overlap " + std::to_string(overlap) + ": " + show(ws);
        expect_tiling(ws, n, width, where);
        if (n == 0) continue;
        multi += ws.size() > 1;
        // Starts at 0, ends at n; consecutive windows overlap by exactly `overlap` tokens; all but
        // the last are `width` long; and no fewer windows would do with that stride.
        EXPECT_EQ(ws.front().begin, 0u) << where;
        EXPECT_EQ(ws.back().end, n) << where;
        if (n <= width) {
          EXPECT_EQ(ws.size(), 1u) << where;
        }
        for (std::size_t k = 0; k + 1 < ws.size(); ++k) {
          EXPECT_EQ(ws[k].end - ws[k + 1].begin, overlap) << where;
          EXPECT_EQ(ws[k].end - ws[k].begin, width) << where;
          EXPECT_LT(ws[k].end, n) << where;
        }
        // The owner of token t reads [t - ⌊o/2⌋, t + ⌈o/2⌉] clipped to the text.
        std::vector<std::size_t> owner(n);
        for (std::size_t w = 0; w < ws.size(); ++w)
          for (std::size_t t = ws[w].own_begin; t < ws[w].own_end; ++t) owner[t] = w;
        const std::size_t left = overlap / 2, right = overlap - overlap / 2;
        for (std::size_t t = 0; t < n; ++t) {
          const TokenWindow& w = ws[owner[t]];
          EXPECT_LE(w.begin, t >= left ? t - left : 0) << where << " token " << t;
          EXPECT_GE(w.end, std::min(n, t + right + 1)) << where << " token " << t;
        }
        // Every run of at most ⌊o/2⌋ + 1 tokens is read whole by each window deciding one of its
        // tokens (every run checked).
        for (std::size_t a = 0; a < n; ++a) {
          for (std::size_t b = a + 1; b <= n && b - a <= left + 1; ++b) {
            for (std::size_t t = a; t < b; ++t) {
              const TokenWindow& w = ws[owner[t]];
              ASSERT_TRUE(w.begin <= a && b <= w.end)
                  << where << " run [" << a << "," << b << ") token " << t;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 24 * 25 / 2 * 8);
  EXPECT_GT(multi, 1000);
}

// The bound ⌊o/2⌋ + 1 is the best possible: the run [m - ⌊o/2⌋ - 1, m + 1) of ⌊o/2⌋ + 2 tokens
// across the first own border m is not read whole by window 1, which decides its last token.
TEST(PredictionWindows, TheRunLengthBoundIsTight) {
  for (std::size_t overlap = 0; overlap < 9; ++overlap) {
    const auto ws = prediction_windows(40, 10, overlap);
    ASSERT_GE(ws.size(), 2u);
    const std::size_t m = ws[1].own_begin;
    EXPECT_EQ(ws[1].begin, m - overlap / 2) << overlap;
    EXPECT_GT(ws[1].begin, m - overlap / 2 - 1) << overlap;
  }
}

Spans random_spans(std::mt19937& rng, std::size_t n, std::size_t longest) {
  Spans out;
  std::size_t at = 0;
  std::uniform_int_distribution<std::size_t> gap(0, 4), len(1, longest);
  while (true) {
    const std::size_t b = at + gap(rng), e = b + len(rng);
    if (e > n) break;
    out.emplace_back(b, e);
    at = e;
  }
  return out;
}

TEST(TrainingWindows, HandWorkedCases) {
  // width 4 over 10 tokens, a span [3, 6): the first border (4) moves back to 3.
  auto w = training_windows(10, 4, {{3, 6}});
  ASSERT_EQ(w.size(), 3u) << show(w);
  EXPECT_EQ(w[0].end, 3u);
  EXPECT_EQ(w[1].begin, 3u);
  EXPECT_EQ(w[1].end, 7u);
  EXPECT_EQ(w[2].end, 10u);
  for (const auto& x : w) {
    EXPECT_EQ(x.own_begin, x.begin);
    EXPECT_EQ(x.own_end, x.end);
  }
  // A span longer than width is cut every width tokens from its start, as before.
  w = training_windows(12, 4, {{2, 11}});
  ASSERT_EQ(w.size(), 4u) << show(w);
  EXPECT_EQ(w[0].end, 2u);
  EXPECT_EQ(w[1].end, 6u);
  EXPECT_EQ(w[2].end, 10u);
  EXPECT_EQ(w[3].end, 12u);
  // A border exactly at a span's start or end cuts nothing.
  w = training_windows(8, 4, {{4, 6}, {6, 8}});
  ASSERT_EQ(w.size(), 2u) << show(w);
  EXPECT_TRUE(training_windows(0, 4, {}).empty());
  EXPECT_THROW(training_windows(8, 4, {{4, 6}, {5, 7}}), std::invalid_argument);
  EXPECT_THROW(training_windows(8, 4, {{4, 9}}), std::invalid_argument);
  EXPECT_THROW(training_windows(8, 4, {{4, 4}}), std::invalid_argument);
  EXPECT_THROW(training_windows(8, 0, {}), std::invalid_argument);
}

TEST(TrainingWindows, PropertiesOnRandomCases) {
  std::mt19937 rng(5);
  int moved = 0, cut_long = 0;
  for (int c = 0; c < 5000; ++c) {
    const std::size_t width = std::uniform_int_distribution<std::size_t>(1, 12)(rng);
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 60)(rng);
    const Spans spans = random_spans(rng, n, width + 3);
    const auto ws = training_windows(n, width, spans);
    std::string where = "n " + std::to_string(n) + " width " + std::to_string(width) + " spans";
    for (const auto& [b, e] : spans)
      where += " [" + std::to_string(b) + "," + std::to_string(e) + ")";
    where += ": " + show(ws);
    expect_tiling(ws, n, width, where);
    for (std::size_t k = 0; k < ws.size(); ++k) {
      const TokenWindow& w = ws[k];
      EXPECT_EQ(w.own_begin, w.begin) << where;
      EXPECT_EQ(w.own_end, w.end) << where;
      if (k > 0) {
        EXPECT_EQ(w.begin, ws[k - 1].end) << where;
      }
      // Each window is as long as it may be: width (or to n), unless its border was moved back to
      // the start b of the span [b, e) with b < begin + width < e.
      const std::size_t full = std::min(n, w.begin + width);
      if (w.end != full) {
        bool explained = false;
        for (const auto& [b, e] : spans) explained |= b == w.end && b < full && full < e;
        EXPECT_TRUE(explained) << where << " window " << k;
        ++moved;
      }
    }
    // A border inside a span only where the span could not fit: it started at or before the
    // window's start (a span longer than width, already cut, or starting there).
    for (const auto& [b, e] : spans) {
      for (const TokenWindow& w : ws) {
        if (b < w.end && w.end < e) {
          EXPECT_LE(b, w.begin) << where;
          EXPECT_GT(e - b, width) << where << " a span that fits was cut";
          ++cut_long;
        }
      }
      if (e - b <= width) {
        bool whole = false;
        for (const TokenWindow& w : ws) whole |= w.begin <= b && e <= w.end;
        EXPECT_TRUE(whole) << where;
      }
    }
  }
  EXPECT_GT(moved, 500);
  EXPECT_GT(cut_long, 100);
}

// A tagger that only sees its window: an entity cut by the window's start begins there (B), as a
// CRF must start a window. Stitched over prediction windows, every entity of at most ⌊o/2⌋ + 1
// tokens comes out whole; over the old consecutive windows (overlap 0) some are split.
TEST(Stitch, EntitiesAcrossBordersComeOutWholeOnlyWithOverlap) {
  auto window_tags = [](const Spans& gold, std::size_t begin, std::size_t end) {
    std::vector<char> tags(end - begin, 'O');
    for (const auto& [b, e] : gold) {
      for (std::size_t t = std::max(b, begin); t < std::min(e, end); ++t)
        tags[t - begin] = t == std::max(b, begin) ? 'B' : 'I';
    }
    return tags;
  };
  auto entities = [](const std::vector<char>& tags) {
    Spans out;
    for (std::size_t t = 0; t < tags.size(); ++t) {
      if (tags[t] == 'B') out.emplace_back(t, t + 1);
      if (tags[t] == 'I' && !out.empty() && out.back().second == t) out.back().second = t + 1;
    }
    return out;
  };
  std::mt19937 rng(3);
  int split_old = 0;
  for (int c = 0; c < 2000; ++c) {
    const std::size_t width = std::uniform_int_distribution<std::size_t>(4, 16)(rng);
    const std::size_t overlap = std::uniform_int_distribution<std::size_t>(2, width - 1)(rng);
    const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 70)(rng);
    const Spans gold = random_spans(rng, n, overlap / 2 + 1);
    for (const std::size_t o : {overlap, std::size_t{0}}) {
      const auto ws = prediction_windows(n, width, o);
      std::vector<std::vector<char>> per;
      for (const auto& w : ws) per.push_back(window_tags(gold, w.begin, w.end));
      const auto got = entities(stitch(ws, per));
      if (o > 0) {
        EXPECT_EQ(got, gold) << "n " << n << " width " << width << " overlap " << o;
      } else {
        split_old += got != gold;
      }
    }
  }
  EXPECT_GT(split_old, 200);
  EXPECT_THROW(stitch(prediction_windows(5, 3, 1), std::vector<std::vector<int>>{{1, 2, 3}}),
               std::invalid_argument);
}

}  // namespace
}  // namespace weakdistill::student_internal
