#include "weakdistill/eval/classification_metrics.h"

#include <gtest/gtest.h>

namespace weakdistill::eval {
namespace {

TEST(ClassificationMetrics, HandWorked) {
  // gold: a a b b c ; pred: a b b b d
  const std::vector<std::string> gold = {"a", "a", "b", "b", "c"};
  const std::vector<std::string> pred = {"a", "b", "b", "b", "d"};
  const auto m = classification_metrics(gold, pred);
  EXPECT_EQ(m.n, 5u);
  EXPECT_DOUBLE_EQ(m.accuracy, 3.0 / 5);
  ASSERT_EQ(m.per_label.size(), 4u);  // d appears only in predictions and still counts
  // a: tp 1, fp 0, fn 1 -> P 1, R 1/2, F1 2/3
  EXPECT_DOUBLE_EQ(m.per_label.at("a").prf.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.per_label.at("a").prf.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.per_label.at("a").prf.f1, 2.0 / 3);
  EXPECT_EQ(m.per_label.at("a").support, 2u);
  // b: tp 2, fp 1, fn 0 -> P 2/3, R 1, F1 0.8
  EXPECT_DOUBLE_EQ(m.per_label.at("b").prf.f1, 0.8);
  // c: tp 0, fn 1 -> 0; d: tp 0, fp 1 -> 0, support 0
  EXPECT_EQ(m.per_label.at("c").prf.f1, 0.0);
  EXPECT_EQ(m.per_label.at("d").prf.precision, 0.0);
  EXPECT_EQ(m.per_label.at("d").prf.recall, 0.0);
  EXPECT_EQ(m.per_label.at("d").support, 0u);
  EXPECT_DOUBLE_EQ(m.macro_f1, (2.0 / 3 + 0.8) / 4);
}

TEST(ClassificationMetrics, PerfectAndPerSample) {
  const auto m = classification_metrics({"x", "y"}, {"x", "y"});
  EXPECT_EQ(m.accuracy, 1.0);
  EXPECT_EQ(m.macro_f1, 1.0);
  EXPECT_EQ(classification_score("x", "x"), 1.0);
  EXPECT_EQ(classification_score("x", "y"), 0.0);
}

TEST(ClassificationMetrics, RejectsMismatchedSizes) {
  EXPECT_THROW(classification_metrics({"a"}, {}), std::invalid_argument);
  EXPECT_THROW(classification_metrics({}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace weakdistill::eval
