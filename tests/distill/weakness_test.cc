#include "weakdistill/distill/weakness.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "weakdistill/core/jsonl.h"
#include "weakdistill/eval/evaluate.h"

namespace weakdistill {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Entity e(std::size_t start, std::size_t end, const char* type) {
  return Entity{start, end, type, ""};
}

// Built field by field (designated initializers would warn about the fields
// left out under -Wextra).
Sample make_sample(const std::string& text) {
  Sample s;
  s.text = text;
  return s;
}

Sample labeled(const std::string& label) {
  Sample s = make_sample("t");
  s.label = label;
  return s;
}

Sample with_entities(std::vector<Entity> entities) {
  Sample s = make_sample("0123456789");
  s.entities = std::move(entities);
  return s;
}

Sample with_summary(const std::string& summary) {
  Sample s = make_sample("原文");
  s.summary = summary;
  return s;
}

Prediction predict_label(const std::string& label) {
  Prediction p;
  p.label = label;
  return p;
}

Prediction predict_probs(std::map<std::string, double> probs) {
  Prediction p;
  p.label_probs = std::move(probs);
  return p;
}

Prediction predict_entities(std::vector<Entity> entities) {
  Prediction p;
  p.entities = std::move(entities);
  return p;
}

Prediction predict_summary(const std::string& summary) {
  Prediction p;
  p.summary = summary;
  return p;
}

// ---------------------------------------------------------------------------
// sample_score

TEST(SampleScore, ClassificationHard) {
  EXPECT_EQ(sample_score(Task::kClassification, labeled("体育"), predict_label("体育")), 1.0);
  EXPECT_EQ(sample_score(Task::kClassification, labeled("体育"), predict_label("财经")), 0.0);
  // Hard scoring ignores the probabilities.
  Prediction p = predict_label("财经");
  p.label_probs = {{"体育", 0.49}, {"财经", 0.51}};
  EXPECT_EQ(sample_score(Task::kClassification, labeled("体育"), p), 0.0);
}

TEST(SampleScore, ClassificationSoftIsTheGoldLabelsProbability) {
  const Prediction p = predict_probs({{"a", 0.7}, {"b", 0.3}});
  EXPECT_DOUBLE_EQ(sample_score(Task::kClassification, labeled("a"), p, true), 0.7);
  EXPECT_DOUBLE_EQ(sample_score(Task::kClassification, labeled("b"), p, true), 0.3);
  // A label the student gives no probability to scores 0.
  EXPECT_EQ(sample_score(Task::kClassification, labeled("c"), p, true), 0.0);
  EXPECT_EQ(sample_score(Task::kClassification, labeled("a"), Prediction{}, true), 0.0);
  // Out-of-range and NaN probabilities are clamped into [0, 1].
  EXPECT_EQ(sample_score(Task::kClassification, labeled("a"), predict_probs({{"a", 1.2}}), true),
            1.0);
  EXPECT_EQ(sample_score(Task::kClassification, labeled("a"), predict_probs({{"a", -0.1}}), true),
            0.0);
  EXPECT_EQ(sample_score(Task::kClassification, labeled("a"), predict_probs({{"a", kNan}}), true),
            0.0);
}

TEST(SampleScore, NerHandWorked) {
  const auto h = [](std::vector<Entity> gold, std::vector<Entity> pred) {
    return sample_score(Task::kNer, with_entities(std::move(gold)),
                        predict_entities(std::move(pred)));
  };
  // Both empty: nothing to find and nothing wrongly found.
  EXPECT_EQ(h({}, {}), 1.0);
  // Gold empty, prediction not: P = 0/1, R undefined (0) -> 0.
  EXPECT_EQ(h({}, {e(0, 2, "PER")}), 0.0);
  // Gold present, nothing predicted -> 0.
  EXPECT_EQ(h({e(0, 2, "PER")}, {}), 0.0);
  // Partial overlap is no match: [0,3) vs [0,2), and [1,2) inside [0,2).
  EXPECT_EQ(h({e(0, 2, "PER")}, {e(0, 3, "PER")}), 0.0);
  EXPECT_EQ(h({e(0, 2, "PER")}, {e(1, 2, "PER")}), 0.0);
  // Same span, other type: no match.
  EXPECT_EQ(h({e(0, 2, "PER")}, {e(0, 2, "LOC")}), 0.0);
  // Exact match.
  EXPECT_EQ(h({e(0, 2, "PER")}, {e(0, 2, "PER")}), 1.0);
  // gold: PER[0,2) LOC[3,5) ORG[6,8); pred: PER[0,2) ORG[3,5) ORG[6,8) LOC[9,10).
  // tp = 2, P = 2/4, R = 2/3, F1 = 2·(1/2)(2/3) / (1/2 + 2/3) = (2/3)/(7/6) = 4/7.
  EXPECT_NEAR(h({e(0, 2, "PER"), e(3, 5, "LOC"), e(6, 8, "ORG")},
                {e(0, 2, "PER"), e(3, 5, "ORG"), e(6, 8, "ORG"), e(9, 10, "LOC")}),
              4.0 / 7.0, 1e-15);
  // Partial overlap beside one exact match: tp = 1, P = 1/2, R = 1/2, F1 = 1/2.
  EXPECT_NEAR(h({e(0, 2, "PER"), e(4, 7, "LOC")}, {e(0, 2, "PER"), e(4, 6, "LOC")}), 0.5, 1e-15);
}

TEST(SampleScore, SummarizationRougeLOnCharactersWithoutSpaces) {
  // reference "今天 天气 很好" -> 今天天气很好 (6 chars); candidate "今天 很 好 啊" ->
  // 今天很好啊 (5 chars). LCS = 今天很好 = 4. P = 4/5, R = 4/6,
  // F1 = 2·(4/5)(2/3) / (4/5 + 2/3) = (16/15)/(22/15) = 8/11.
  EXPECT_NEAR(sample_score(Task::kSummarization, with_summary("今天 天气 很好"),
                           predict_summary("今天 很 好 啊")),
              8.0 / 11.0, 1e-15);
  // Other whitespace (tab, newline, ideographic space U+3000) is removed as well.
  EXPECT_NEAR(sample_score(Task::kSummarization, with_summary("今天\t天气\n很好"),
                           predict_summary("今天\u3000很好啊")),
              8.0 / 11.0, 1e-15);
  // Identical after removing spaces -> 1; nothing in common -> 0; empty candidate -> 0.
  EXPECT_EQ(sample_score(Task::kSummarization, with_summary("北京 欢迎你"),
                         predict_summary("北京欢迎 你")),
            1.0);
  EXPECT_EQ(sample_score(Task::kSummarization, with_summary("北京"), predict_summary("上海")), 0.0);
  EXPECT_EQ(sample_score(Task::kSummarization, with_summary("北京"), predict_summary("")), 0.0);
}

// h must be the number `weakdistill eval --per-sample` prints, so that a user
// can see exactly which samples the loop considers weak.
TEST(SampleScore, MatchesEvalPerSample) {
  struct Case {
    Task task;
    std::vector<Sample> gold;
    std::vector<Prediction> pred;
  };
  std::vector<Case> cases;
  cases.push_back({Task::kSummarization,
                   {with_summary("今天 天气 很好"), with_summary("北京\u3000欢迎你"),
                    with_summary("a b c d"), with_summary("国务院 总理 李克强 今天 出访"),
                    with_summary("空"), with_summary("重复重复重复")},
                   {predict_summary("今天 很 好 啊"), predict_summary("欢迎 北京"),
                    predict_summary("abdc"), predict_summary("李克强总理今天 出访欧洲"),
                    predict_summary(""), predict_summary("复重 复")}});
  cases.push_back({Task::kNer,
                   {with_entities({e(0, 2, "PER"), e(3, 5, "LOC")}), with_entities({}),
                    with_entities({}), with_entities({e(1, 4, "ORG")})},
                   {predict_entities({e(0, 2, "PER"), e(3, 5, "ORG")}), predict_entities({}),
                    predict_entities({e(2, 3, "LOC")}), predict_entities({e(1, 3, "ORG")})}});
  cases.push_back({Task::kClassification,
                   {labeled("a"), labeled("b"), labeled("a")},
                   {predict_label("a"), predict_label("a"), predict_label("b")}});
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(task_name(c.task)));
    Dataset gold{c.task, "", c.gold, {}};
    Dataset pred{c.task, "", {}, {}};
    for (std::size_t i = 0; i < c.gold.size(); ++i) {
      Sample s;
      s.text = c.gold[i].text;  // aligned by position; texts must agree
      s.label = c.pred[i].label;
      s.entities = c.pred[i].entities;
      s.summary = c.pred[i].summary;
      pred.samples.push_back(s);
    }
    const eval::Evaluation ev = eval::evaluate(gold, pred);
    ASSERT_EQ(ev.per_sample.size(), c.gold.size());
    const Weakness w = analyse_weakness(c.task, c.gold, c.pred, WeaknessOptions{});
    for (std::size_t i = 0; i < c.gold.size(); ++i) {
      EXPECT_EQ(sample_score(c.task, c.gold[i], c.pred[i]), ev.per_sample[i]) << "sample " << i;
      EXPECT_EQ(w.h[i], ev.per_sample[i]) << "sample " << i;
    }
  }
}

// ---------------------------------------------------------------------------
// analyse_weakness

// Soft classification lets h take the values 0, 1 and 0.5 directly.
std::vector<Sample> gold_a(std::size_t n) { return std::vector<Sample>(n, labeled("a")); }
std::vector<Prediction> with_gold_probs(const std::vector<double>& probs) {
  std::vector<Prediction> out;
  for (double p : probs) out.push_back(predict_probs({{"a", p}}));
  return out;
}

WeaknessOptions soft(double tau) {
  WeaknessOptions o;
  o.tau = tau;
  o.soft_classification = true;
  return o;
}

TEST(AnalyseWeakness, ErrorValuesAndProbabilitiesAtTauHalf) {
  const Weakness w =
      analyse_weakness(Task::kClassification, gold_a(3), with_gold_probs({0, 1, 0.5}), soft(0.5));
  EXPECT_EQ(w.h, (std::vector<double>{0, 1, 0.5}));
  // exp((1-0)/0.5) = e^2, exp(0) = 1, exp(0.5/0.5) = e.
  ASSERT_EQ(w.error_value.size(), 3u);
  EXPECT_NEAR(w.error_value[0], 7.38905609893065, 1e-13);
  EXPECT_EQ(w.error_value[1], 1.0);
  EXPECT_NEAR(w.error_value[2], 2.718281828459045, 1e-14);
  // p = (e^2, 1, e) / (e^2 + 1 + e) = (e^2, 1, e) / 11.107337927389695.
  ASSERT_EQ(w.p.size(), 3u);
  EXPECT_NEAR(w.p[0], 0.6652409557748219, 1e-14);
  EXPECT_NEAR(w.p[1], 0.09003057317038046, 1e-14);
  EXPECT_NEAR(w.p[2], 0.24472847105479764, 1e-14);
}

TEST(AnalyseWeakness, HardClassificationTwoWrongTwoRight) {
  const std::vector<Sample> gold = {labeled("a"), labeled("b"), labeled("a"), labeled("b")};
  const std::vector<Prediction> pred = {predict_label("b"), predict_label("b"), predict_label("b"),
                                        predict_label("b")};
  WeaknessOptions o;  // tau 0.5, hard
  const Weakness w = analyse_weakness(Task::kClassification, gold, pred, o);
  EXPECT_EQ(w.h, (std::vector<double>{0, 1, 0, 1}));
  // Wrong: e^2 / (2e^2 + 2) = 0.44039853898894116; right: 1 / (2e^2 + 2) = 0.05960146101105877.
  EXPECT_NEAR(w.p[0], 0.4403985389889412, 1e-14);
  EXPECT_NEAR(w.p[1], 0.05960146101105877, 1e-14);
  EXPECT_NEAR(w.p[2], 0.4403985389889412, 1e-14);
  EXPECT_NEAR(w.p[3], 0.05960146101105877, 1e-14);
}

TEST(AnalyseWeakness, LargeTauIsNearlyUniform) {
  const std::vector<double> probs = {0, 1, 0.5, 0.25};
  for (double tau : {1e3, 1e9}) {
    SCOPED_TRACE(tau);
    const Weakness w =
        analyse_weakness(Task::kClassification, gold_a(4), with_gold_probs(probs), soft(tau));
    // p_i differs from 1/4 by at most about (max exponent difference) / tau = 1 / tau.
    for (double p : w.p) EXPECT_NEAR(p, 0.25, 1.0 / tau);
  }
}

TEST(AnalyseWeakness, UniformOptionIgnoresTheScores) {
  WeaknessOptions o = soft(0.5);
  o.uniform = true;
  const Weakness w =
      analyse_weakness(Task::kClassification, gold_a(4), with_gold_probs({0, 1, 0.5, 0.2}), o);
  // h is still reported (for logs); only the sampling is uniform.
  EXPECT_EQ(w.h, (std::vector<double>{0, 1, 0.5, 0.2}));
  EXPECT_EQ(w.error_value, (std::vector<double>(4, 1.0)));
  EXPECT_EQ(w.p, (std::vector<double>(4, 0.25)));
}

TEST(AnalyseWeakness, ProbabilitiesSumToOne) {
  std::vector<double> probs;
  for (int i = 0; i < 1000; ++i) probs.push_back((i * 37 % 101) / 100.0);
  const Weakness w = analyse_weakness(Task::kClassification, gold_a(probs.size()),
                                      with_gold_probs(probs), soft(0.3));
  EXPECT_NEAR(std::accumulate(w.p.begin(), w.p.end(), 0.0), 1.0, 1e-12);
  // Lower h, higher p.
  for (std::size_t i = 0; i < probs.size(); ++i) {
    for (std::size_t j : {std::size_t{0}, std::size_t{1}, std::size_t{2}}) {
      if (w.h[i] < w.h[j]) {
        EXPECT_GT(w.p[i], w.p[j]);
      }
    }
  }
}

TEST(AnalyseWeakness, TinyTauOverflowsErrorValueButKeepsPFinite) {
  const Weakness w =
      analyse_weakness(Task::kClassification, gold_a(3), with_gold_probs({0, 0.5, 1}), soft(1e-3));
  // exp(1000) overflows; exp(500) does not.
  EXPECT_EQ(w.error_value[0], kInf);
  EXPECT_TRUE(std::isfinite(w.error_value[1]));
  EXPECT_EQ(w.error_value[2], 1.0);
  // p ∝ (1, e^-500, e^-1000): the worst sample takes (almost) everything.
  for (double p : w.p) EXPECT_TRUE(std::isfinite(p));
  EXPECT_EQ(w.p[0], 1.0);
  EXPECT_NEAR(w.p[1] / std::exp(-500.0), 1.0, 1e-12);
  EXPECT_EQ(w.p[2], 0.0);  // e^-1000 underflows
}

TEST(AnalyseWeakness, RejectsBadInput) {
  const auto run = [](std::size_t n_gold, std::size_t n_pred, double tau, bool uniform = false) {
    WeaknessOptions o = soft(tau);
    o.uniform = uniform;
    return analyse_weakness(Task::kClassification, gold_a(n_gold),
                            with_gold_probs(std::vector<double>(n_pred, 0.5)), o);
  };
  EXPECT_NO_THROW(run(2, 2, 0.5));
  EXPECT_THROW(run(0, 0, 0.5), std::invalid_argument);
  EXPECT_THROW(run(2, 3, 0.5), std::invalid_argument);
  EXPECT_THROW(run(3, 2, 0.5), std::invalid_argument);
  for (double tau : {0.0, -0.5, kNan, kInf, -kInf}) {
    SCOPED_TRACE(tau);
    EXPECT_THROW(run(2, 2, tau), std::invalid_argument);
    EXPECT_THROW(run(2, 2, tau, true), std::invalid_argument);
  }
}

// ---------------------------------------------------------------------------
// draw_seeds

TEST(DrawSeeds, FrequenciesMatchP) {
  const std::vector<double> p = {0.1, 0.0, 0.35, 0.05, 0.5, 0.0};
  constexpr std::size_t kDraws = 200000;
  Rng rng(20240607);
  const std::vector<std::size_t> seeds = draw_seeds(p, kDraws, rng);
  ASSERT_EQ(seeds.size(), kDraws);
  std::vector<std::size_t> counts(p.size(), 0);
  for (std::size_t s : seeds) {
    ASSERT_LT(s, p.size());
    counts[s]++;
  }
  double chi_square = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    SCOPED_TRACE(i);
    if (p[i] == 0) {
      EXPECT_EQ(counts[i], 0u);
      continue;
    }
    const double expected = kDraws * p[i];
    const double sd = std::sqrt(kDraws * p[i] * (1 - p[i]));
    // 5 standard errors: a true sampler fails this about once in 10^6 seeds.
    EXPECT_LT(std::abs(counts[i] - expected), 5 * sd)
        << "count " << counts[i] << " expected " << expected;
    chi_square += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  // 4 positive bins, 3 degrees of freedom: P(chi2 > 30) is about 1.4e-6.
  EXPECT_LT(chi_square, 30.0);
}

TEST(DrawSeeds, FollowsAnalyseWeakness) {
  // End to end: the worst sample (h = 0) is drawn about e^2 times as often as the best.
  const Weakness w =
      analyse_weakness(Task::kClassification, gold_a(3), with_gold_probs({0, 1, 0.5}), soft(0.5));
  Rng rng(7);
  constexpr std::size_t kDraws = 200000;
  std::vector<std::size_t> counts(3, 0);
  for (std::size_t s : draw_seeds(w.p, kDraws, rng)) counts[s]++;
  const std::vector<double> expected_p = {0.6652409557748219, 0.09003057317038046,
                                          0.24472847105479764};
  for (std::size_t i = 0; i < 3; ++i) {
    const double sd = std::sqrt(kDraws * expected_p[i] * (1 - expected_p[i]));
    EXPECT_LT(std::abs(counts[i] - kDraws * expected_p[i]), 5 * sd) << i;
  }
}

TEST(DrawSeeds, ZeroProbabilityIsNeverDrawn) {
  constexpr std::size_t kDraws = 200000;
  {
    // Zeros first, last, and between positive entries.
    const std::vector<double> p = {0, 1, 0, 0, 1, 0};
    Rng rng(1);
    for (std::size_t s : draw_seeds(p, kDraws, rng)) {
      ASSERT_TRUE(s == 1 || s == 4) << s;
    }
  }
  {
    // A single positive entry takes every draw, whatever the rounding.
    const std::vector<double> p = {0, 0, 1e-300, 0, 0};
    Rng rng(2);
    for (std::size_t s : draw_seeds(p, kDraws, rng)) ASSERT_EQ(s, 2u);
  }
  {
    // Trailing zeros after a tiny entry (where a guard that clamps to the last
    // index would go wrong).
    const std::vector<double> p = {3, 1e-17, 0, 0};
    Rng rng(3);
    for (std::size_t s : draw_seeds(p, kDraws, rng)) ASSERT_LT(s, 2u);
  }
}

TEST(DrawSeeds, SameSeedSameDraw) {
  const std::vector<double> p = {0.2, 0.3, 0.5};
  Rng a(99), b(99), c(100);
  const std::vector<std::size_t> da = draw_seeds(p, 1000, a);
  EXPECT_EQ(da, draw_seeds(p, 1000, b));
  EXPECT_NE(da, draw_seeds(p, 1000, c));
  // Two calls continue the one stream: 400 + 600 draws equal 1000 draws.
  Rng d(99);
  std::vector<std::size_t> split = draw_seeds(p, 400, d);
  const std::vector<std::size_t> rest = draw_seeds(p, 600, d);
  split.insert(split.end(), rest.begin(), rest.end());
  EXPECT_EQ(split, da);
}

TEST(DrawSeeds, HandWorkedReplayOfUniform) {
  // Unnormalised weights (exact in binary): cumulative sums 1, 1, 7, 10, total 10.
  // u = uniform() * 10; u < 1 -> 0; 1 <= u < 7 -> 2 (index 1 has weight 0); u >= 7 -> 3.
  const std::vector<double> p = {1, 0, 6, 3};
  constexpr std::uint64_t kSeed = 424242;
  constexpr std::size_t kDraws = 60;
  Rng rng(kSeed);
  const std::vector<std::size_t> seeds = draw_seeds(p, kDraws, rng);
  Rng replay(kSeed);
  std::vector<int> seen(4, 0);
  for (std::size_t k = 0; k < kDraws; ++k) {
    const double u = replay.uniform() * 10.0;
    const std::size_t expected = u < 1.0 ? 0 : u < 7.0 ? 2 : 3;
    EXPECT_EQ(seeds[k], expected) << "draw " << k << " u " << u;
    seen[expected]++;
  }
  // The seed exercises all three branches.
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[2], 0);
  EXPECT_GT(seen[3], 0);
  // Exactly one uniform() per draw: both generators are at the same state.
  EXPECT_EQ(rng.next(), replay.next());
}

TEST(DrawSeeds, ScalingPByAPowerOfTwoChangesNothing) {
  const std::vector<double> p = {0.1, 0.0, 0.35, 0.05, 0.5};
  std::vector<double> scaled;
  for (double x : p) scaled.push_back(x * 1024);
  Rng a(5), b(5);
  EXPECT_EQ(draw_seeds(p, 5000, a), draw_seeds(scaled, 5000, b));
}

TEST(DrawSeeds, NoDrawsLeavesTheRngAlone) {
  Rng a(11), b(11);
  EXPECT_TRUE(draw_seeds({0.5, 0.5}, 0, a).empty());
  EXPECT_EQ(a.next(), b.next());
}

TEST(DrawSeeds, RejectsBadInput) {
  Rng rng(1);
  EXPECT_THROW(draw_seeds({}, 1, rng), std::invalid_argument);
  EXPECT_THROW(draw_seeds({0, 0, 0}, 1, rng), std::invalid_argument);
  EXPECT_THROW(draw_seeds({0.5, -0.1, 0.6}, 1, rng), std::invalid_argument);
  EXPECT_THROW(draw_seeds({0.5, kNan}, 1, rng), std::invalid_argument);
  EXPECT_THROW(draw_seeds({0.5, kInf}, 1, rng), std::invalid_argument);
  // A sum that overflows is not a usable distribution either.
  EXPECT_THROW(draw_seeds({1e308, 1e308}, 1, rng), std::invalid_argument);
  // Bad input is rejected even when nothing is drawn.
  EXPECT_THROW(draw_seeds({}, 0, rng), std::invalid_argument);
}

}  // namespace
}  // namespace weakdistill
