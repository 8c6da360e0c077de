#include "weakdistill/eval/summarization_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "reference/slow_metrics.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill::eval {
namespace {

std::u32string u(const char* s) { return utf8::decode(s); }

std::u32string random_string(std::mt19937& g, std::size_t len, std::size_t alphabet) {
  std::u32string s;
  for (std::size_t i = 0; i < len; ++i)
    s.push_back(U'\u4e00' + static_cast<char32_t>(g() % alphabet));
  return s;
}

TEST(ScoringChars, RemovesEveryPythonWhitespace) {
  EXPECT_EQ(scoring_chars("我 爱\t北京\u3000天安门\n"), u("我爱北京天安门"));
  EXPECT_EQ(scoring_chars(" \u00a0\u2003 "), U"");
  EXPECT_THROW(scoring_chars("\xff"), std::invalid_argument);
}

TEST(Lcs, HandWorked) {
  EXPECT_EQ(lcs_length(U"ABCBDAB", U"BDCABA"), 4u);  // CLRS: "BCBA"
  EXPECT_EQ(lcs_length(u("我爱北京天安门"), u("北京天安门很美")), 5u);
  EXPECT_EQ(lcs_length(U"", U"abc"), 0u);
  EXPECT_EQ(lcs_length(U"abc", U"abc"), 3u);
  EXPECT_EQ(lcs_length(U"abc", U"xyz"), 0u);
}

TEST(Lcs, MatchesDynamicProgrammingOnRandomStrings) {
  std::mt19937 g(7);
  for (int trial = 0; trial < 3000; ++trial) {
    // Lengths cross the 64-bit word boundaries of the bit-parallel version.
    const std::size_t la = g() % 200, lb = g() % 200, alphabet = 1 + g() % 12;
    const auto a = random_string(g, la, alphabet);
    const auto b = random_string(g, lb, alphabet);
    ASSERT_EQ(lcs_length(a, b), reference::lcs_length(a, b)) << "trial " << trial;
  }
}

TEST(Lcs, CarryPropagatesAcrossManyWords) {
  // A run of equal characters makes every word's addition carry into the next.
  const std::u32string a(300, U'a');
  const std::u32string b(150, U'a');
  EXPECT_EQ(lcs_length(a, b), 150u);
  EXPECT_EQ(lcs_length(a + U"b" + a, U"b" + a), 301u);
}

TEST(NgramOverlap, IsClipped) {
  // candidate "aaaa" has three "aa"; reference "aab" has one: clipped to 1.
  EXPECT_EQ(clipped_ngram_overlap(U"aaaa", U"aab", 2), 1u);
  EXPECT_EQ(clipped_ngram_overlap(U"aaaa", U"aab", 1), 2u);
  EXPECT_EQ(clipped_ngram_overlap(U"abcd", U"abcd", 4), 1u);
  EXPECT_EQ(clipped_ngram_overlap(U"abc", U"abc", 4), 0u);
  // Code points above the BMP and at the top of the range pack without collisions.
  const std::u32string hi = U"\U0010FFFF\U0001F600\U0010FFFF\U0001F600";
  EXPECT_EQ(clipped_ngram_overlap(hi, hi, 4), 1u);
  EXPECT_EQ(clipped_ngram_overlap(U"\U0010FFFFa", U"a\U0010FFFF", 2), 0u);
}

TEST(NgramOverlap, MatchesMapCountingOnRandomStrings) {
  std::mt19937 g(11);
  for (int trial = 0; trial < 2000; ++trial) {
    const auto a = random_string(g, g() % 40, 1 + g() % 5);
    const auto b = random_string(g, g() % 40, 1 + g() % 5);
    for (std::size_t n = 1; n <= 4; ++n) {
      ASSERT_EQ(clipped_ngram_overlap(a, b, n), reference::clipped_ngram_overlap(a, b, n));
    }
  }
}

TEST(Rouge, HandWorkedPair) {
  // candidate 我爱北京 (4 chars), reference 北京欢迎我 (5 chars).
  const auto c = u("我爱北京"), r = u("北京欢迎我");
  const Prf r1 = rouge_n(c, r, 1);  // overlap {我, 北, 京} = 3
  EXPECT_DOUBLE_EQ(r1.precision, 3.0 / 4);
  EXPECT_DOUBLE_EQ(r1.recall, 3.0 / 5);
  EXPECT_DOUBLE_EQ(r1.f1, 2 * 0.75 * 0.6 / 1.35);
  const Prf r2 = rouge_n(c, r, 2);  // bigrams 我爱 爱北 北京 vs 北京 京欢 欢迎 迎我: 1
  EXPECT_DOUBLE_EQ(r2.precision, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r2.recall, 1.0 / 4);
  const Prf rl = rouge_l(c, r);  // LCS 北京 = 2
  EXPECT_DOUBLE_EQ(rl.precision, 2.0 / 4);
  EXPECT_DOUBLE_EQ(rl.recall, 2.0 / 5);
}

TEST(Rouge, EmptySidesScoreZero) {
  EXPECT_EQ(rouge_l(U"", U"abc").f1, 0.0);
  EXPECT_EQ(rouge_l(U"abc", U"").f1, 0.0);
  EXPECT_EQ(rouge_n(U"a", U"a", 2).f1, 0.0);  // no bigrams on either side
  EXPECT_EQ(rouge_l(U"", U"").f1, 0.0);
}

TEST(Bleu, HandWorkedCorpus) {
  // One pair: candidate abcde (5), reference abcdf (5). Matches: 1-grams 4/5,
  // 2-grams 3/4, 3-grams 2/3, 4-grams 1/2; c = r so no brevity penalty.
  BleuStats s;
  s.add(U"abcde", U"abcdf");
  const double expected =
      std::exp((std::log(4.0 / 5) + std::log(3.0 / 4) + std::log(2.0 / 3) + std::log(1.0 / 2)) / 4);
  EXPECT_NEAR(s.bleu(), expected, 1e-12);
  // A short candidate is penalised: c = 4, r = 6.
  BleuStats t;
  t.add(U"abcd", U"abcdef");
  EXPECT_NEAR(t.bleu(), std::exp(1.0 - 6.0 / 4), 1e-12);
}

TEST(Bleu, ZeroWhenAnyPrecisionIsZeroOrNoCandidate) {
  BleuStats s;
  s.add(U"abc", U"abc");  // no 4-grams at all
  EXPECT_EQ(s.bleu(), 0.0);
  BleuStats empty;
  empty.add(U"", U"abc");
  EXPECT_EQ(empty.bleu(), 0.0);
}

TEST(Bleu, IsCorpusLevelNotAnAverage) {
  // Pair 1 alone has no 4-gram match (BLEU 0), but pooled counts do.
  BleuStats s;
  s.add(U"abcx", U"abcy");
  s.add(U"defgh", U"defgh");
  // Pooled: 1-grams (3+5)/9, 2-grams (2+4)/7, 3-grams (1+3)/5, 4-grams (0+2)/3; c = r = 9.
  const double p1 = 8.0 / 9, p2 = 6.0 / 7, p3 = 4.0 / 5, p4 = 2.0 / 3;
  EXPECT_NEAR(s.bleu(), std::exp((std::log(p1) + std::log(p2) + std::log(p3) + std::log(p4)) / 4),
              1e-12);
}

TEST(SummarizationMetrics, AveragesPairsAndScoresOnCharacters) {
  const std::vector<std::string> cands = {"我 爱 北京", "天气很好"};
  const std::vector<std::string> refs = {"我爱北京", "今天天气"};
  std::vector<PairScores> pairs;
  const auto m = summarization_metrics(cands, refs, &pairs);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_DOUBLE_EQ(pairs[0].rougeL.f1, 1.0);
  // 天气很好 vs 今天天气: LCS 天气 = 2, P = R = 1/2.
  EXPECT_DOUBLE_EQ(pairs[1].rougeL.f1, 0.5);
  EXPECT_DOUBLE_EQ(m.rougeL.f1, 0.75);
  EXPECT_DOUBLE_EQ(summarization_score("天气很好", "今天天气"), 0.5);
}

}  // namespace
}  // namespace weakdistill::eval
