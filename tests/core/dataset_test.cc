#include "weakdistill/core/dataset.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "weakdistill/core/error.h"
#include "weakdistill/core/random.h"

namespace weakdistill {
namespace {

std::vector<Sample> labeled(const std::vector<std::pair<std::string, int>>& counts) {
  std::vector<Sample> v;
  for (const auto& [label, n] : counts) {
    for (int i = 0; i < n; ++i) {
      Sample s;
      s.text = label + std::to_string(i);
      s.label = label;
      v.push_back(s);
    }
  }
  return v;
}

TEST(Rng, IsTheSameOnEveryPlatform) {
  // std::mt19937_64 is fully specified: its 10000th output for the default seed
  // is 9981545732273789042 (C++ standard, [rand.predef]).
  std::mt19937_64 ref;
  ref.discard(9999);
  EXPECT_EQ(ref(), 9981545732273789042ull);
  Rng a(5489), b(5489);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.below(1000), b.below(1000));
}

TEST(Rng, BelowIsUniform) {
  Rng rng(1);
  std::vector<int> hits(6, 0);
  for (int i = 0; i < 60000; ++i) hits[rng.below(6)]++;
  for (int h : hits) EXPECT_NEAR(h, 10000, 400);  // about 4 standard deviations
}

TEST(SamplePerLabel, TakesKOfEachLabelAndKeepsTheRest) {
  const auto samples = labeled({{"a", 10}, {"b", 5}, {"c", 7}});
  const Split split = sample_per_label(samples, 3, 42);
  EXPECT_EQ(split.chosen.size(), 9u);
  EXPECT_EQ(split.rest.size(), 13u);
  std::map<std::string, int> per_label;
  for (std::size_t i : split.chosen) per_label[samples[i].label]++;
  EXPECT_EQ(per_label, (std::map<std::string, int>{{"a", 3}, {"b", 3}, {"c", 3}}));
  std::set<std::size_t> all(split.chosen.begin(), split.chosen.end());
  all.insert(split.rest.begin(), split.rest.end());
  EXPECT_EQ(all.size(), samples.size());
  EXPECT_TRUE(std::is_sorted(split.chosen.begin(), split.chosen.end()));
  // Same seed, same split; another seed, (almost surely) another one.
  EXPECT_EQ(sample_per_label(samples, 3, 42).chosen, split.chosen);
  EXPECT_NE(sample_per_label(samples, 3, 43).chosen, split.chosen);
}

TEST(SamplePerLabel, FailsWhenALabelIsShort) {
  const auto samples = labeled({{"a", 10}, {"b", 2}});
  try {
    sample_per_label(samples, 3, 1);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "label \"b\" has 2 samples, fewer than the 3 asked for");
  }
}

TEST(SampleN, DrawsWithoutReplacement) {
  const Split split = sample_n(100, 30, 9);
  EXPECT_EQ(std::set<std::size_t>(split.chosen.begin(), split.chosen.end()).size(), 30u);
  EXPECT_EQ(split.rest.size(), 70u);
  EXPECT_EQ(sample_n(100, 100, 9).rest.size(), 0u);
  EXPECT_THROW(sample_n(10, 11, 9), InputError);
}

}  // namespace
}  // namespace weakdistill
