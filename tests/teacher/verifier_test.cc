#include "weakdistill/teacher/verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

Sample cls(const std::string& text, const std::string& label) {
  Sample s;
  s.text = text;
  s.label = label;
  return s;
}

Sample ner(const std::string& text, std::vector<Entity> entities) {
  Sample s;
  s.text = text;
  s.entities = std::move(entities);
  return s;
}

// An entity as parse_reply() gives it: text and type, no offsets.
Entity mention(const std::string& text, const std::string& type) {
  return Entity{0, 0, type, text};
}

Sample sum(const std::string& text, const std::string& summary) {
  Sample s;
  s.text = text;
  s.summary = summary;
  return s;
}

TEST(VerifierRejection, ReasonNamesAreStableSnakeCase) {
  const std::vector<std::pair<RejectReason, std::string>> expected = {
      {RejectReason::kRequestFailed, "request_failed"},
      {RejectReason::kTruncated, "truncated"},
      {RejectReason::kUnparseable, "unparseable"},
      {RejectReason::kEmptyText, "empty_text"},
      {RejectReason::kLabelNotInSet, "label_not_in_set"},
      {RejectReason::kEntityNotInText, "entity_not_in_text"},
      {RejectReason::kSummaryInvalid, "summary_invalid"},
      {RejectReason::kSummaryOverlapLow, "summary_overlap_low"},
      {RejectReason::kCopyOfSeed, "copy_of_seed"},
      {RejectReason::kCopyOfLabeled, "copy_of_labeled"},
      {RejectReason::kCopyOfAccepted, "copy_of_accepted"},
  };
  for (const auto& [reason, name] : expected) EXPECT_EQ(reason_name(reason), name);
}

// ---------------------------------------------------------------------------
// Every task: empty text and copies.
// ---------------------------------------------------------------------------

class VerifierCopies : public ::testing::Test {
 protected:
  std::vector<Sample> labeled_ = {cls("国足 主场取胜", "体育"), cls("央行宣布降息", "财经")};
  Verifier verifier_{Task::kClassification, labeled_};
};

TEST_F(VerifierCopies, AcceptsANewText) {
  Sample c = cls("广东队加时险胜", "体育");
  EXPECT_EQ(verifier_.verify(c, labeled_[0]), std::nullopt);
}

TEST_F(VerifierCopies, EmptyText) {
  Sample c = cls(" \n\u3000", "体育");
  const auto r = verifier_.verify(c, labeled_[0]);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kEmptyText);
}

TEST_F(VerifierCopies, CopyOfSeedIgnoresWhitespace) {
  Sample c = cls("国足主场\n取胜 ", "体育");
  const auto r = verifier_.verify(c, labeled_[0]);
  ASSERT_TRUE(r);
  // The seed is labeled too: the seed check comes first.
  EXPECT_EQ(r->reason, RejectReason::kCopyOfSeed);
  EXPECT_THAT(r->detail, HasSubstr("\"国足主场\n取胜 \""));
}

TEST_F(VerifierCopies, CopyOfLabeled) {
  Sample c = cls("央行\u3000宣布降息", "财经");  // an ideographic space
  const auto r = verifier_.verify(c, labeled_[0]);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kCopyOfLabeled);
  EXPECT_THAT(r->detail, HasSubstr("央行"));
}

TEST_F(VerifierCopies, CopyOfAccepted) {
  Sample first = cls("广东队加时险胜", "体育");
  EXPECT_EQ(verifier_.verify(first, labeled_[0]), std::nullopt);
  verifier_.add_accepted(first);
  Sample again = cls("广东队 加时险胜", "体育");
  const auto r = verifier_.verify(again, labeled_[0]);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kCopyOfAccepted);
  EXPECT_THAT(r->detail, HasSubstr("\"广东队 加时险胜\""));
}

TEST_F(VerifierCopies, CopyChecksComeBeforeTheTaskChecks) {
  Sample c = cls("央行宣布降息", "股票");  // both a copy and a bad label
  EXPECT_EQ(verifier_.verify(c, labeled_[0])->reason, RejectReason::kCopyOfLabeled);
}

// ---------------------------------------------------------------------------
// Classification.
// ---------------------------------------------------------------------------

TEST(VerifierClassification, LabelSetComesFromTheLabeledSamples) {
  const Verifier v(Task::kClassification, {cls("a", "体育"), cls("b", "财经"), cls("c", "体育")});
  EXPECT_EQ(v.label_set(), (std::set<std::string>{"体育", "财经"}));
}

TEST(VerifierClassification, LabelNotInSet) {
  const std::vector<Sample> labeled = {cls("国足取胜", "体育"), cls("央行降息", "财经")};
  const Verifier v(Task::kClassification, labeled);
  Sample c = cls("沪指收涨百分之一", "股票");
  const auto r = v.verify(c, labeled[1]);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kLabelNotInSet);
  EXPECT_THAT(r->detail, HasSubstr("\"股票\""));
  EXPECT_THAT(r->detail, HasSubstr("体育"));
  // Any label of the set is fine, not only the seed's.
  Sample other = cls("沪指收涨百分之一", "体育");
  EXPECT_EQ(v.verify(other, labeled[1]), std::nullopt);
}

TEST(VerifierClassification, AGivenLabelSetWins) {
  const std::vector<Sample> labeled = {cls("国足取胜", "体育")};
  const Verifier v(Task::kClassification, labeled, {}, {"体育", "股票"});
  EXPECT_EQ(v.label_set(), (std::set<std::string>{"体育", "股票"}));
  Sample c = cls("沪指收涨", "股票");
  EXPECT_EQ(v.verify(c, labeled[0]), std::nullopt);
}

// ---------------------------------------------------------------------------
// NER.
// ---------------------------------------------------------------------------

class VerifierNer : public ::testing::Test {
 protected:
  std::vector<Sample> labeled_ = {
      ner("张三在北京大学", {{0, 2, "PER", "张三"}, {3, 7, "ORG", "北京大学"}}),
      ner("李四去上海", {{0, 2, "PER", "李四"}, {3, 5, "LOC", "上海"}}),
  };
  Verifier verifier_{Task::kNer, labeled_};

  // The verified entities of `text` given `listed`; fails the test on a rejection.
  std::vector<Entity> located(const std::string& text, std::vector<Entity> listed) {
    Sample c = ner(text, std::move(listed));
    const auto r = verifier_.verify(c, labeled_[0]);
    EXPECT_FALSE(r) << reason_name(r->reason) << ": " << r->detail;
    return c.entities;
  }

  Rejection rejected(const std::string& text, std::vector<Entity> listed) {
    Sample c = ner(text, std::move(listed));
    const auto r = verifier_.verify(c, labeled_[0]);
    EXPECT_TRUE(r);
    return r.value_or(Rejection{RejectReason::kRequestFailed, ""});
  }
};

TEST_F(VerifierNer, LabelSetIsTheEntityTypes) {
  EXPECT_EQ(verifier_.label_set(), (std::set<std::string>{"LOC", "ORG", "PER"}));
}

TEST_F(VerifierNer, LongerStringsFirstThenEveryOtherOccurrence) {
  // 我0 在1 北2 京3 大4 学5 读6 书7 ，8 家9 住10 北11 京12 。13
  const std::vector<Entity> expected = {{2, 6, "ORG", "北京大学"}, {11, 13, "LOC", "北京"}};
  EXPECT_EQ(
      located("我在北京大学读书，家住北京。", {mention("北京", "LOC"), mention("北京大学", "ORG")}),
      expected);
  EXPECT_EQ(
      located("我在北京大学读书，家住北京。", {mention("北京大学", "ORG"), mention("北京", "LOC")}),
      expected);
}

TEST_F(VerifierNer, AStringOnlyInsideALongerOneIsFoundButNotLabeled) {
  EXPECT_EQ(located("我在北京大学读书", {mention("北京", "LOC"), mention("北京大学", "ORG")}),
            (std::vector<Entity>{{2, 6, "ORG", "北京大学"}}));
}

TEST_F(VerifierNer, EveryOccurrenceIsLabeledAndDuplicatesAreFine) {
  // 张0 三1 和2 李3 四4 说5 张6 三7 来8 了9
  EXPECT_EQ(
      located("张三和李四说张三来了",
              {mention("张三", "PER"), mention("李四", "PER"), mention("张三", "PER")}),
      (std::vector<Entity>{{0, 2, "PER", "张三"}, {3, 5, "PER", "李四"}, {6, 8, "PER", "张三"}}));
}

TEST_F(VerifierNer, OverlappingOccurrencesOfEqualLengthGoLeftmost) {
  // "哈哈" in "哈哈哈哈哈": [0,2), [2,4); [1,3) and [3,5) overlap those.
  EXPECT_EQ(located("哈哈哈哈哈", {mention("哈哈", "PER")}),
            (std::vector<Entity>{{0, 2, "PER", "哈哈"}, {2, 4, "PER", "哈哈"}}));
  // Two strings of one length: the leftmost occurrence wins whatever the listing order.
  EXPECT_EQ(located("上海南京", {mention("海南", "LOC"), mention("上海", "LOC")}),
            (std::vector<Entity>{{0, 2, "LOC", "上海"}}));
}

TEST_F(VerifierNer, OffsetsAreCodePointsAndReplaceWhateverCameIn) {
  // A non-BMP character (4 UTF-8 bytes, one code point) before the entity.
  EXPECT_EQ(located("𠀀李四到了", {Entity{7, 9, "PER", "李四"}}),
            (std::vector<Entity>{{1, 3, "PER", "李四"}}));
}

TEST_F(VerifierNer, NoEntitiesIsFine) { EXPECT_TRUE(located("今天天气很好", {}).empty()); }

TEST_F(VerifierNer, EntityNotInText) {
  const Rejection r = rejected("张三在北京", {mention("张三", "PER"), mention("上海", "LOC")});
  EXPECT_EQ(r.reason, RejectReason::kEntityNotInText);
  EXPECT_THAT(r.detail, HasSubstr("\"上海\""));
  EXPECT_THAT(r.detail, HasSubstr("\"张三在北京\""));
}

TEST_F(VerifierNer, EmptyEntityString) {
  const Rejection r = rejected("张三在北京", {mention("", "PER")});
  EXPECT_EQ(r.reason, RejectReason::kEntityNotInText);
  EXPECT_THAT(r.detail, HasSubstr("empty"));
}

TEST_F(VerifierNer, TypeNotInLabelSet) {
  const Rejection r = rejected("张三明天到北京", {mention("张三", "PER"), mention("明天", "TIME")});
  EXPECT_EQ(r.reason, RejectReason::kLabelNotInSet);
  EXPECT_THAT(r.detail, HasSubstr("\"TIME\""));
  EXPECT_THAT(r.detail, HasSubstr("\"明天\""));
}

// Properties of the located spans, checked by brute force over random texts: each
// span is an occurrence of a listed string with its type; spans do not overlap;
// an occurrence is left out only for a span that overlaps it and is longer, or as
// long and further left.
TEST_F(VerifierNer, LocatedSpansAgreeWithABruteForceCharacterization) {
  std::mt19937 rng(7);
  const std::u32string alphabet = U"甲乙丙";
  for (int round = 0; round < 300; ++round) {
    std::u32string text;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
    std::vector<std::u32string> strings;
    for (int k = 0; k < 3; ++k) {
      const std::size_t len = 1 + rng() % 3;
      const std::size_t start = rng() % text.size();
      strings.push_back(text.substr(start, len));  // occurs at least once
    }
    std::vector<Entity> listed;
    for (const auto& s : strings) listed.push_back(mention(utf8::encode(s), "PER"));
    const std::string text8 = utf8::encode(text);
    SCOPED_TRACE(text8);
    const std::vector<Entity> spans = located(text8, listed);

    for (std::size_t k = 0; k < spans.size(); ++k) {
      const Entity& e = spans[k];
      ASSERT_LT(e.start, e.end);
      ASSERT_LE(e.end, text.size());
      EXPECT_EQ(utf8::encode(text.substr(e.start, e.end - e.start)), e.text);
      EXPECT_NE(std::find(strings.begin(), strings.end(), text.substr(e.start, e.end - e.start)),
                strings.end());
      if (k > 0) {
        EXPECT_LE(spans[k - 1].end, e.start);  // sorted, no overlap
      }
    }
    for (const auto& s : strings) {
      for (std::size_t p = 0; p + s.size() <= text.size(); ++p) {
        if (text.compare(p, s.size(), s) != 0) continue;
        bool labeled = false;
        bool excused = false;
        for (const Entity& e : spans) {
          if (e.start == p && e.end == p + s.size()) labeled = true;
          const bool overlaps = e.start < p + s.size() && p < e.end;
          const std::size_t len = e.end - e.start;
          if (overlaps && (len > s.size() || (len == s.size() && e.start < p))) excused = true;
        }
        EXPECT_TRUE(labeled || excused) << "occurrence at " << p << " of " << utf8::encode(s);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Summarization.
// ---------------------------------------------------------------------------

class VerifierSummarization : public ::testing::Test {
 protected:
  std::optional<Rejection> check(const std::string& text, const std::string& summary,
                                 double min_char_overlap = 0.5) {
    const std::vector<Sample> labeled = {sum("原来的样本文本很长很长", "原样本")};
    const Verifier v(Task::kSummarization, labeled, VerifyOptions{min_char_overlap});
    Sample c = sum(text, summary);
    return v.verify(c, labeled[0]);
  }
};

TEST_F(VerifierSummarization, AcceptsAShortFaithfulSummary) {
  EXPECT_EQ(check("地铁三号线下月底正式开通", "三号线开通"), std::nullopt);
}

TEST_F(VerifierSummarization, EmptySummary) {
  for (const char* summary : {"", "  \n"}) {
    const auto r = check("地铁三号线下月底正式开通", summary);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, RejectReason::kSummaryInvalid);
    EXPECT_THAT(r->detail, HasSubstr("empty"));
  }
}

TEST_F(VerifierSummarization, SummaryNotShorterThanText) {
  auto r = check("三号线开通", "号线开通三");  // 5 and 5 code points
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kSummaryInvalid);
  EXPECT_THAT(r->detail, HasSubstr("\"号线开通三\""));
  EXPECT_THAT(r->detail, HasSubstr("5 characters"));
  r = check("开通", "三号线开通");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kSummaryInvalid);
  EXPECT_EQ(check("三号线开通了", "号线开通三"), std::nullopt);  // 5 < 6
}

TEST_F(VerifierSummarization, OverlapLow) {
  const auto r = check("今天天气很好适合出门", "明日有雨");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kSummaryOverlapLow);
  EXPECT_THAT(r->detail, HasSubstr("\"明日有雨\""));
  EXPECT_THAT(r->detail, HasSubstr("0 of the 4"));
}

TEST_F(VerifierSummarization, OverlapCountsMultiplicity) {
  // One 好 in the text covers one of the summary's four: 1/4. As a set it would be 1/1.
  const auto r = check("好天气真不错呀", "好好好好");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kSummaryOverlapLow);
  EXPECT_THAT(r->detail, HasSubstr("1 of the 4"));
}

TEST_F(VerifierSummarization, ThresholdIsInclusiveAndWhitespaceIsNotCounted) {
  // "好好坏坏" shares 好好 with the text: 2/4.
  EXPECT_EQ(check("好好学习天天向上", "好好坏坏", 0.5), std::nullopt);
  EXPECT_EQ(check("好好学习天天向上", "好好坏坏", 0.51)->reason, RejectReason::kSummaryOverlapLow);
  // With its spaces counted "好 好 坏 坏" would share 2/7.
  EXPECT_EQ(check("好好学习天天向上", "好 好 坏 坏", 0.5), std::nullopt);
}

// The overlap against an independent count: each summary character crosses out one
// equal character of the text, if any is left.
TEST_F(VerifierSummarization, OverlapAgreesWithCrossingOut) {
  std::mt19937 rng(11);
  const std::u32string alphabet = U"天地人和 ";
  for (int round = 0; round < 200; ++round) {
    std::u32string text = U"天";  // never blank
    std::u32string summary;
    const int n = 5 + static_cast<int>(rng() % 10);
    for (int i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
    const int m = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < m; ++i) summary += alphabet[rng() % 4];  // no space
    std::u32string left = text;
    int crossed = 0;
    for (const char32_t c : summary) {
      const auto at = left.find(c);
      if (at != std::u32string::npos) {
        left.erase(at, 1);
        ++crossed;
      }
    }
    const double share = static_cast<double>(crossed) / m;
    SCOPED_TRACE(utf8::encode(text) + " / " + utf8::encode(summary));
    EXPECT_EQ(check(utf8::encode(text), utf8::encode(summary), share), std::nullopt);
    if (crossed < m) {
      const auto r =
          check(utf8::encode(text), utf8::encode(summary), static_cast<double>(crossed + 1) / m);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->reason, RejectReason::kSummaryOverlapLow);
    }
  }
}

}  // namespace
}  // namespace weakdistill
