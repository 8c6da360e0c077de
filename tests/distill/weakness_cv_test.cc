// Cross-validated weakness folds and per-label allocation (distill.weakness cv,
// distill.allocation per_label): the figures below are worked out by hand.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "weakdistill/distill/weakness.h"

namespace weakdistill {
namespace {

std::vector<Sample> labelled(const std::map<std::string, int>& counts) {
  std::vector<Sample> out;
  for (const auto& [label, n] : counts) {
    for (int i = 0; i < n; ++i) {
      Sample s;
      s.text = label + std::to_string(i);
      s.label = label;
      out.push_back(s);
    }
  }
  return out;
}

TEST(CvFolds, StratifiedEvenAndFixedBySeed) {
  const auto train = labelled({{"a", 7}, {"b", 5}, {"c", 3}});
  const auto folds = assign_cv_folds(Task::kClassification, train, 3, 1);
  ASSERT_EQ(folds.size(), train.size());
  // Per fold: a 7 → 3/2/2 (in some order), b 5 → 2/2/1, c 3 → 1/1/1; sizes 15 / 3 = 5 each.
  std::map<int, std::map<std::string, int>> per_fold;
  std::map<int, int> sizes;
  for (std::size_t i = 0; i < train.size(); ++i) {
    ASSERT_GE(folds[i], 0);
    ASSERT_LT(folds[i], 3);
    ++per_fold[folds[i]][train[i].label];
    ++sizes[folds[i]];
  }
  for (int f = 0; f < 3; ++f) {
    EXPECT_EQ(sizes[f], 5) << f;
    EXPECT_GE(per_fold[f]["a"], 2);
    EXPECT_LE(per_fold[f]["a"], 3);
    EXPECT_GE(per_fold[f]["b"], 1);
    EXPECT_LE(per_fold[f]["b"], 2);
    EXPECT_EQ(per_fold[f]["c"], 1);
  }
  EXPECT_EQ(assign_cv_folds(Task::kClassification, train, 3, 1), folds);
  EXPECT_NE(assign_cv_folds(Task::kClassification, train, 3, 2), folds);
}

TEST(CvFolds, UnlabelledTasksAreDealtEvenly) {
  std::vector<Sample> train(10);
  const auto folds = assign_cv_folds(Task::kSummarization, train, 4, 3);
  std::map<int, int> sizes;
  for (int f : folds) ++sizes[f];
  // 10 over 4 folds: 3, 3, 2, 2.
  EXPECT_EQ(sizes[0], 3);
  EXPECT_EQ(sizes[1], 3);
  EXPECT_EQ(sizes[2], 2);
  EXPECT_EQ(sizes[3], 2);
}

TEST(PerLabel, FloorThenMassByLargestRemainder) {
  // 20 requests over 4 labels: floor 20 / 8 = 2 each (8); 12 left by mass 6:3:1:0 (of 10):
  // 7.2, 3.6, 1.2, 0 → 7, 3, 1, 0 and one more to the largest remainder (3.6 → b): 8, 4, 1, 0.
  const auto a = allocate_per_label({"a", "b", "c", "d"}, {6, 3, 1, 0}, 20);
  EXPECT_EQ(a.at("a"), 2u + 7u);
  EXPECT_EQ(a.at("b"), 2u + 4u);
  EXPECT_EQ(a.at("c"), 2u + 1u);
  EXPECT_EQ(a.at("d"), 2u);
  // Fewer requests than labels: the floor is 0, so no label is promised one it cannot have:
  // 3 by mass 1:1:1:1 (of 4) → 0.75 each, largest remainders in order → a, b, c.
  const auto few = allocate_per_label({"a", "b", "c", "d"}, {1, 1, 1, 1}, 3);
  EXPECT_EQ(few.at("a") + few.at("b") + few.at("c") + few.at("d"), 3u);
  EXPECT_EQ(few.at("d"), 0u);
  // No mass at all: even shares.
  const auto even = allocate_per_label({"x", "y"}, {0, 0}, 5);
  EXPECT_EQ(even.at("x") + even.at("y"), 5u);
  EXPECT_TRUE(allocate_per_label({}, {}, 5).empty());
}

TEST(PerLabel, NerGroupsAreEntityTypesOrNone) {
  Sample s;
  s.text = "张三在北京见李四";
  s.entities = {{0, 2, "PER", "张三"}, {3, 5, "LOC", "北京"}, {6, 8, "PER", "李四"}};
  EXPECT_EQ(allocation_groups(Task::kNer, s), (std::vector<std::string>{"PER", "LOC"}));
  Sample none;
  none.text = "今天天气很好";
  EXPECT_EQ(allocation_groups(Task::kNer, none), (std::vector<std::string>{"(none)"}));
  Sample c;
  c.label = "体育";
  EXPECT_EQ(allocation_groups(Task::kClassification, c), (std::vector<std::string>{"体育"}));
}

}  // namespace
}  // namespace weakdistill
