#include "weakdistill/eval/ner_metrics.h"

#include <gtest/gtest.h>

namespace weakdistill::eval {
namespace {

Entity e(std::size_t s, std::size_t t, const char* type) { return Entity{s, t, type, ""}; }

TEST(NerScore, SentenceF1) {
  // gold: [0,2) PER, [5,7) LOC ; pred: [0,2) PER, [5,7) ORG, [9,10) LOC
  const std::vector<Entity> gold = {e(0, 2, "PER"), e(5, 7, "LOC")};
  const std::vector<Entity> pred = {e(0, 2, "PER"), e(5, 7, "ORG"), e(9, 10, "LOC")};
  // tp 1, P 1/3, R 1/2, F1 = 2*(1/6)/(5/6) = 0.4
  EXPECT_DOUBLE_EQ(ner_score(gold, pred), 0.4);
  EXPECT_EQ(ner_score({}, {}), 1.0);
  EXPECT_EQ(ner_score({}, pred), 0.0);
  EXPECT_EQ(ner_score(gold, {}), 0.0);
  // A boundary off by one is no match.
  EXPECT_EQ(ner_score({e(0, 2, "PER")}, {e(0, 3, "PER")}), 0.0);
}

TEST(NerMetrics, MicroAndPerTypeOverTheSet) {
  const std::vector<std::vector<Entity>> gold = {
      {e(0, 2, "PER"), e(5, 7, "LOC")}, {}, {e(1, 3, "ORG")}};
  const std::vector<std::vector<Entity>> pred = {
      {e(0, 2, "PER"), e(5, 7, "ORG")}, {e(0, 1, "LOC")}, {e(1, 3, "ORG")}};
  const auto m = ner_metrics(gold, pred);
  // tp = 2 (PER, ORG), gold 3, pred 4.
  EXPECT_EQ(m.true_positives, 2u);
  EXPECT_DOUBLE_EQ(m.micro.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.micro.recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.micro.f1, 2 * 0.5 * (2.0 / 3) / (0.5 + 2.0 / 3));
  // LOC: gold 1, pred 1 (the wrong one), tp 0.
  EXPECT_EQ(m.per_type.at("LOC").prf.f1, 0.0);
  EXPECT_EQ(m.per_type.at("LOC").support, 1u);
  // ORG: gold 1, pred 2, tp 1 -> P 1/2, R 1.
  EXPECT_DOUBLE_EQ(m.per_type.at("ORG").prf.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.per_type.at("ORG").prf.recall, 1.0);
  EXPECT_EQ(m.per_type.at("ORG").predicted, 2u);
  EXPECT_DOUBLE_EQ(m.per_type.at("PER").prf.f1, 1.0);
}

TEST(NerMetrics, NoEntitiesAnywhereIsAllZero) {
  const auto m = ner_metrics({{}, {}}, {{}, {}});
  EXPECT_EQ(m.micro.f1, 0.0);
  EXPECT_TRUE(m.per_type.empty());
}

}  // namespace
}  // namespace weakdistill::eval
