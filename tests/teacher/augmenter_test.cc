#include "weakdistill/teacher/augmenter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/random.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

using utf8::decode;
using utf8::encode;

Sample cls(const std::string& text, const std::string& label) {
  Sample s;
  s.text = text;
  s.label = label;
  return s;
}

// A ner sample whose offsets are found by searching each mention after the
// previous one, so that the test data cannot carry hand-counted offset slips.
Sample ner(const std::string& text,
           const std::vector<std::pair<std::string, std::string>>& mentions) {
  Sample s;
  s.text = text;
  const std::u32string t = decode(text);
  std::size_t from = 0;
  for (const auto& [mention, type] : mentions) {
    const std::u32string m = decode(mention);
    const std::size_t at = t.find(m, from);
    EXPECT_NE(at, std::u32string::npos) << mention << " not in " << text;
    s.entities.push_back({at, at + m.size(), type, mention});
    from = at + m.size();
  }
  return s;
}

Sample summ(const std::string& text, const std::string& summary) {
  Sample s;
  s.text = text;
  s.summary = summary;
  return s;
}

std::vector<Sample> cls_set() {
  return {
      cls("国足客场两球击败对手晋级决赛", "sports"), cls("湖人队主场加时险胜勇士", "sports"),
      cls("女排世界杯中国队三比零取胜", "sports"),   cls("央行宣布下调存款准备金率", "finance"),
      cls("沪指收涨百分之一银行股领涨", "finance"),  cls("人民币汇率中间价小幅上调", "finance"),
      cls("新款手机搭载自研芯片发布", "tech"),       cls("人工智能大模型开源引发热议", "tech"),
  };
}

std::vector<Sample> ner_set() {
  return {
      ner("李明在北京工作。", {{"李明", "PER"}, {"北京", "LOC"}}),
      ner("王芳和张伟访问了上海交通大学。",
          {{"王芳", "PER"}, {"张伟", "PER"}, {"上海交通大学", "ORG"}}),
      ner("新华社记者在广州报道。", {{"新华社", "ORG"}, {"广州", "LOC"}}),
      ner("欧阳娜娜昨天到达深圳。", {{"欧阳娜娜", "PER"}, {"深圳", "LOC"}}),
      ner("今天天气很好。", {}),
      ner("联合国秘书长访问北京。", {{"联合国", "ORG"}, {"北京", "LOC"}}),
      // Adjacent mentions and one at each end of the text.
      ner("张伟李明同在北京", {{"张伟", "PER"}, {"李明", "PER"}, {"北京", "LOC"}}),
  };
}

// A summarization text and, written out by hand, the sentences it splits into
// and the index of the one sharing most characters with the summary.
struct SumCase {
  Sample sample;
  std::vector<std::string> sentences;
  std::size_t best;
};

std::vector<SumCase> sum_cases() {
  return {
      {summ("今天上午，市政府召开新闻发布会。会议宣布地铁三号线将于下月开通！"
            "市民对此反响热烈？记者将持续关注。",
            "地铁三号线下月开通"),
       {"今天上午，市政府召开新闻发布会。", "会议宣布地铁三号线将于下月开通！",
        "市民对此反响热烈？", "记者将持续关注。"},
       1},
      {summ("他说：“明天见。”大家都笑了。球队赢得了冠军；全城欢庆\n教练表示很满意",
            "球队赢得冠军全城欢庆"),
       {"他说：“明天见。”", "大家都笑了。", "球队赢得了冠军；", "全城欢庆\n", "教练表示很满意"},
       2},
      {summ("研究发现，每天步行一万步有益健康。 专家建议循序渐进。 过量运动反而有害!!",
            "专家建议运动循序渐进"),
       {"研究发现，每天步行一万步有益健康。 ", "专家建议循序渐进。 ", "过量运动反而有害!!"},
       1},
  };
}

// Everything a valid ner sample must satisfy, checked without check_entities so
// that a bug shared with it would still show.
void expect_valid_entities(const Sample& s) {
  const std::u32string t = decode(s.text);
  for (std::size_t i = 0; i < s.entities.size(); ++i) {
    const Entity& e = s.entities[i];
    ASSERT_LT(e.start, e.end) << s.text;
    ASSERT_LE(e.end, t.size()) << s.text;
    EXPECT_EQ(encode(t.substr(e.start, e.end - e.start)), e.text) << s.text;
    if (i > 0) {
      EXPECT_LE(s.entities[i - 1].end, e.start) << s.text;
    }
  }
  std::vector<Entity> copy = s.entities;
  EXPECT_NO_THROW(check_entities(t, copy, "test"));
  EXPECT_EQ(copy, s.entities);
}

// The text between mentions: before the first, between each pair, after the last.
std::vector<std::u32string> gaps(const Sample& s) {
  const std::u32string t = decode(s.text);
  std::vector<std::u32string> out;
  std::size_t pos = 0;
  for (const Entity& e : s.entities) {
    out.push_back(t.substr(pos, e.start - pos));
    pos = e.end;
  }
  out.push_back(t.substr(pos));
  return out;
}

std::size_t levenshtein(const std::u32string& a, const std::u32string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::map<char32_t, int> counts(const std::u32string& s) {
  std::map<char32_t, int> c;
  for (char32_t x : s) ++c[x];
  return c;
}

// Whether `text` is a concatenation of distinct members of `parts`, in any
// order; fills `used` with their indices in order of appearance.
bool concatenation_of(const std::string& text, const std::vector<std::string>& parts,
                      std::vector<std::size_t>& used) {
  if (text.empty()) return !used.empty();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (std::find(used.begin(), used.end(), i) != used.end()) continue;
    if (text.compare(0, parts[i].size(), parts[i]) != 0) continue;
    used.push_back(i);
    if (concatenation_of(text.substr(parts[i].size()), parts, used)) return true;
    used.pop_back();
  }
  return false;
}

// ---- options ---------------------------------------------------------------

TEST(AugmentOptions, RejectsValuesOutOfRangeNamingTheOption) {
  const auto expect_rejected = [](AugmentOptions o, const std::string& name) {
    try {
      Augmenter a(Task::kClassification, cls_set(), o);
      ADD_FAILURE() << name << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("teacher." + name), std::string::npos) << e.what();
    }
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double bad : {-0.01, 1.01, nan}) {
    AugmentOptions o;
    o.edit_rate = bad;
    expect_rejected(o, "edit_rate");
    o = {};
    o.replace_prob = bad;
    expect_rejected(o, "replace_prob");
    o = {};
    o.delete_prob = bad;
    expect_rejected(o, "delete_prob");
  }
  AugmentOptions o;
  o.keep_sentences = -1;
  expect_rejected(o, "keep_sentences");
  o = {};
  o.max_attempts = 0;
  expect_rejected(o, "max_attempts");
}

TEST(AugmentOptions, AcceptsBoundaryValues) {
  for (double v : {0.0, 1.0}) {
    AugmentOptions o;
    o.edit_rate = o.replace_prob = o.delete_prob = v;
    o.keep_sentences = 0;
    o.max_attempts = 1;
    for (Task task : {Task::kClassification, Task::kNer, Task::kSummarization}) {
      EXPECT_NO_THROW({ Augmenter a(task, {}, o); });
    }
  }
}

// ---- classification --------------------------------------------------------

TEST(AugmentClassification, SameRngSeedSameOutputOtherSeedsDiffer) {
  const std::vector<Sample> labeled = cls_set();
  const Augmenter aug(Task::kClassification, labeled);
  for (const Sample& seed : labeled) {
    std::set<std::string> outputs;
    for (std::uint64_t s = 0; s < 20; ++s) {
      Rng r1(s), r2(s);
      const Sample a = aug.augment(seed, r1);
      const Sample b = aug.augment(seed, r2);
      EXPECT_EQ(a.text, b.text);
      EXPECT_EQ(r1.next(), r2.next()) << "the two runs drew differently";
      outputs.insert(a.text);
    }
    EXPECT_GE(outputs.size(), 10u) << seed.text;
  }
}

TEST(AugmentClassification, KeepsLabelAndInsertsOnlySameLabelCharacters) {
  const std::vector<Sample> labeled = cls_set();
  std::map<std::string, std::set<char32_t>> label_chars;
  for (const Sample& s : labeled) {
    for (char32_t c : decode(s.text)) label_chars[s.label].insert(c);
  }
  AugmentOptions o;
  o.edit_rate = 0.3;
  const Augmenter aug(Task::kClassification, labeled, o);
  // Seeds outside the labeled set too: their own characters are mostly not the
  // label's, so drawing insertions from the seed instead would show.
  std::vector<Sample> seeds = labeled;
  seeds.push_back(cls("篮球联赛季后赛今晚开打", "sports"));
  seeds.push_back(cls("理财收益普遍下滑", "finance"));
  for (Sample seed : seeds) {
    seed.id = "7";
    seed.extra["source"] = "x";
    for (std::uint64_t s = 0; s < 100; ++s) {
      Rng rng(s);
      const Sample out = aug.augment(seed, rng);
      EXPECT_EQ(out.label, seed.label);
      EXPECT_FALSE(out.id.has_value());
      EXPECT_TRUE(out.extra.empty());
      EXPECT_NE(out.text, seed.text);
      ASSERT_FALSE(out.text.empty());
      const auto before = counts(decode(seed.text));
      for (const auto& [c, n] : counts(decode(out.text))) {
        const auto it = before.find(c);
        if (it != before.end() && n <= it->second) continue;  // not (only) inserted
        EXPECT_TRUE(label_chars[seed.label].count(c))
            << encode(std::u32string(1, c)) << " inserted into " << out.text << " (" << seed.label
            << ")";
      }
    }
  }
}

TEST(AugmentClassification, EditCountFollowsEditRate) {
  const std::vector<Sample> labeled = cls_set();
  for (double rate : {0.0, 0.1, 0.25, 0.5}) {
    AugmentOptions o;
    o.edit_rate = rate;
    const Augmenter aug(Task::kClassification, labeled, o);
    for (const Sample& seed : labeled) {
      const std::u32string t = decode(seed.text);
      const std::size_t k =
          std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(rate * t.size())));
      for (std::uint64_t s = 0; s < 50; ++s) {
        Rng rng(s);
        const std::u32string out = decode(aug.augment(seed, rng).text);
        // Each edit is one deletion, one insertion or one adjacent swap (two
        // substitutions), and changes the length by at most one.
        EXPECT_LE(levenshtein(t, out), 2 * k) << encode(out);
        EXPECT_GE(levenshtein(t, out), 1u);
        const std::size_t diff =
            out.size() > t.size() ? out.size() - t.size() : t.size() - out.size();
        EXPECT_LE(diff, k);
      }
    }
  }
}

TEST(AugmentClassification, UnknownLabelDrawsFromItsOwnCharacters) {
  const Augmenter aug(Task::kClassification, cls_set());
  const Sample seed = cls("春季养生小窍门分享", "health");
  const std::u32string t = decode(seed.text);
  const std::set<char32_t> own(t.begin(), t.end());
  for (std::uint64_t s = 0; s < 100; ++s) {
    Rng rng(s);
    const Sample out = aug.augment(seed, rng);
    EXPECT_EQ(out.label, "health");
    for (char32_t c : decode(out.text)) EXPECT_TRUE(own.count(c)) << out.text;
  }
}

TEST(AugmentClassification, OneCharacterIsNeverDeleted) {
  // No labeled set and a one-character seed: deletion and swap are impossible,
  // so the only edit is inserting the seed's own character.
  const Augmenter aug(Task::kClassification, {});
  for (std::uint64_t s = 0; s < 20; ++s) {
    Rng rng(s);
    EXPECT_EQ(aug.augment(cls("赞", "pos"), rng).text, "赞赞");
  }
}

TEST(AugmentClassification, HandWorkedInsertion) {
  // Seed "甲" (one character, edit_rate 0.1 -> one edit). Only insertion
  // applies, so the draws are: below(1) for the op, below(2) for the place
  // (before or after 甲), below(2) for the character of the pool "乙丙".
  const Augmenter aug(Task::kClassification, {cls("乙丙", "x")});
  for (std::uint64_t s = 0; s < 10; ++s) {
    Rng mirror(s);
    EXPECT_EQ(mirror.below(1), 0u);
    const bool after = mirror.below(2) == 1;
    const std::string c = mirror.below(2) == 0 ? "乙" : "丙";
    const std::string expected = after ? "甲" + c : c + "甲";
    Rng rng(s);
    EXPECT_EQ(aug.augment(cls("甲", "x"), rng).text, expected) << "seed " << s;
    EXPECT_EQ(rng.next(), mirror.next()) << "seed " << s;
  }
}

// ---- ner -------------------------------------------------------------------

TEST(AugmentNer, EntitiesStayValidAndReplacementsComeFromTheLabeledSet) {
  const std::vector<Sample> labeled = ner_set();
  std::map<std::string, std::set<std::string>> by_type;
  for (const Sample& s : labeled) {
    for (const Entity& e : s.entities) by_type[e.type].insert(e.text);
  }
  for (double p : {0.0, 0.5, 1.0}) {
    AugmentOptions o;
    o.replace_prob = p;
    const Augmenter aug(Task::kNer, labeled, o);
    for (const Sample& seed : labeled) {
      for (std::uint64_t s = 0; s < 200; ++s) {
        Rng rng(s);
        const Sample out = aug.augment(seed, rng);
        expect_valid_entities(out);
        EXPECT_NE(out.text, seed.text);
        if (seed.entities.empty()) continue;  // the fallback, tested below
        ASSERT_EQ(out.entities.size(), seed.entities.size()) << out.text;
        EXPECT_EQ(gaps(out), gaps(seed)) << out.text;
        std::size_t replaced = 0;
        for (std::size_t i = 0; i < seed.entities.size(); ++i) {
          const Entity& a = seed.entities[i];
          const Entity& b = out.entities[i];
          EXPECT_EQ(a.type, b.type);
          if (a.text == b.text) continue;
          ++replaced;
          EXPECT_TRUE(by_type[a.type].count(b.text)) << b.text << " is not a labeled " << a.type;
        }
        EXPECT_GE(replaced, 1u) << out.text;
        if (p == 0.0) {
          EXPECT_EQ(replaced, 1u) << out.text;
        }
        if (p == 1.0) {
          EXPECT_EQ(replaced, seed.entities.size()) << out.text;
        }
      }
    }
  }
}

TEST(AugmentNer, SameRngSeedSameOutput) {
  const std::vector<Sample> labeled = ner_set();
  const Augmenter aug(Task::kNer, labeled);
  for (const Sample& seed : labeled) {
    std::set<std::string> outputs;
    for (std::uint64_t s = 0; s < 30; ++s) {
      Rng r1(s), r2(s);
      const Sample a = aug.augment(seed, r1);
      const Sample b = aug.augment(seed, r2);
      EXPECT_EQ(a.text, b.text);
      EXPECT_EQ(a.entities, b.entities);
      outputs.insert(a.text);
    }
    EXPECT_GE(outputs.size(), 3u) << seed.text;
  }
}

TEST(AugmentNer, HandWorkedReplacement) {
  // replace_prob 1: every entity is replaced. Draws, in entity order: uniform()
  // then below(other mentions). PER mentions sorted by code point are 张伟
  // (U+5F20), 李明 (U+674E), 王芳 (U+738B); without 李明 the choice is
  // below(2) over {张伟, 王芳}. LOC {上海, 北京} without 北京 leaves 上海: below(1).
  const std::vector<Sample> labeled = {
      ner("李明在北京", {{"李明", "PER"}, {"北京", "LOC"}}),
      ner("王芳去上海", {{"王芳", "PER"}, {"上海", "LOC"}}),
      ner("张伟", {{"张伟", "PER"}}),
  };
  AugmentOptions o;
  o.replace_prob = 1.0;
  const Augmenter aug(Task::kNer, labeled, o);
  for (std::uint64_t s = 0; s < 10; ++s) {
    Rng mirror(s);
    mirror.uniform();
    const std::string per = mirror.below(2) == 0 ? "张伟" : "王芳";
    mirror.uniform();
    EXPECT_EQ(mirror.below(1), 0u);
    Rng rng(s);
    const Sample out = aug.augment(labeled[0], rng);
    EXPECT_EQ(out.text, per + "在上海");
    const std::vector<Entity> expected = {{0, 2, "PER", per}, {3, 5, "LOC", "上海"}};
    EXPECT_EQ(out.entities, expected);
    EXPECT_EQ(rng.next(), mirror.next());
  }
}

TEST(AugmentNer, MentionsOfDifferentLengthShiftLaterOffsets) {
  const std::vector<Sample> labeled = {
      ner("甲和乙", {{"甲", "PER"}, {"乙", "PER"}}),
      ner("欧阳娜娜", {{"欧阳娜娜", "PER"}}),
  };
  AugmentOptions o;
  o.replace_prob = 1.0;
  const Augmenter aug(Task::kNer, labeled, o);
  bool saw_long = false;
  for (std::uint64_t s = 0; s < 50; ++s) {
    Rng rng(s);
    const Sample out = aug.augment(labeled[0], rng);
    expect_valid_entities(out);
    ASSERT_EQ(out.entities.size(), 2u);
    EXPECT_EQ(out.entities[1].end, decode(out.text).size());
    saw_long |= out.entities[0].text == "欧阳娜娜";
  }
  EXPECT_TRUE(saw_long);
}

TEST(AugmentNer, WithoutAlternativesEditsOnlyOutsideMentions) {
  // MISC has one mention in all: no replacement, so one deletion or swap of
  // characters outside it.
  const std::vector<Sample> labeled = ner_set();
  const Augmenter aug(Task::kNer, labeled);
  const Sample seed = ner("他读过红楼梦很多遍", {{"红楼梦", "MISC"}});
  const std::u32string t = decode(seed.text);
  std::set<std::string> outputs;
  for (std::uint64_t s = 0; s < 100; ++s) {
    Rng rng(s);
    const Sample out = aug.augment(seed, rng);
    expect_valid_entities(out);
    ASSERT_EQ(out.entities.size(), 1u);
    EXPECT_EQ(out.entities[0].text, "红楼梦");
    EXPECT_EQ(out.entities[0].type, "MISC");
    const std::u32string o = decode(out.text);
    const std::size_t d = levenshtein(t, o);
    EXPECT_TRUE(d == 1 || (d == 2 && o.size() == t.size())) << out.text;
    outputs.insert(out.text);
  }
  EXPECT_GE(outputs.size(), 5u);

  // No entity at all: the same fallback, and the result has none.
  for (std::uint64_t s = 0; s < 20; ++s) {
    Rng rng(s);
    const Sample out = aug.augment(ner("今天天气很好", {}), rng);
    EXPECT_TRUE(out.entities.empty());
    EXPECT_LE(levenshtein(decode("今天天气很好"), decode(out.text)), 2u) << out.text;
    EXPECT_NE(out.text, "今天天气很好");
  }
}

TEST(AugmentNer, ReturnsABareCopyWhenNothingCanChange) {
  const Augmenter aug(Task::kNer, {ner("北京", {{"北京", "LOC"}})});
  Sample seed = ner("北京", {{"北京", "LOC"}});
  seed.id = "3";
  seed.extra["note"] = 1;
  Rng rng(1);
  const Sample out = aug.augment(seed, rng);
  EXPECT_EQ(out.text, "北京");
  EXPECT_EQ(out.entities, seed.entities);
  EXPECT_FALSE(out.id.has_value());
  EXPECT_TRUE(out.extra.empty());
}

TEST(AugmentNer, RejectsSeedWithBrokenEntities) {
  const Augmenter aug(Task::kNer, ner_set());
  Sample seed = ner("李明在北京", {{"李明", "PER"}});
  seed.entities[0].end = 9;
  Rng rng(1);
  EXPECT_THROW(aug.augment(seed, rng), InputError);
}

// ---- summarization ---------------------------------------------------------

TEST(AugmentSummarization, KeepsTheBestSentenceAndOnlyOriginalSentences) {
  for (int keep : {0, 1, 2}) {
    AugmentOptions o;
    o.keep_sentences = keep;
    o.delete_prob = 0.5;
    const Augmenter aug(Task::kSummarization, {}, o);
    for (const SumCase& c : sum_cases()) {
      std::set<std::string> outputs;
      for (std::uint64_t s = 0; s < 100; ++s) {
        Rng rng(s);
        const Sample out = aug.augment(c.sample, rng);
        EXPECT_EQ(out.summary, c.sample.summary);
        std::vector<std::size_t> used;
        ASSERT_TRUE(concatenation_of(out.text, c.sentences, used)) << out.text;
        if (keep >= 1) {
          EXPECT_NE(std::find(used.begin(), used.end(), c.best), used.end()) << out.text;
        }
        EXPECT_NE(out.text, c.sample.text);
        outputs.insert(out.text);
      }
      EXPECT_GE(outputs.size(), 4u) << c.sample.text;
    }
  }
}

TEST(AugmentSummarization, DeleteProbOneLeavesOnlyTheTopRanked) {
  AugmentOptions o;
  o.delete_prob = 1.0;
  o.keep_sentences = 1;
  const Augmenter one(Task::kSummarization, {}, o);
  o.keep_sentences = 0;
  const Augmenter none(Task::kSummarization, {}, o);
  for (const SumCase& c : sum_cases()) {
    Rng rng(5);
    EXPECT_EQ(one.augment(c.sample, rng).text, c.sentences[c.best]);
    // keep_sentences 0 deletes everything, and the best is kept rather than
    // returning an empty text.
    EXPECT_EQ(none.augment(c.sample, rng).text, c.sentences[c.best]);
  }

  // The first case ranked by hand against 地铁三号线下月开通: sentence 1 shares all
  // 9 characters, sentence 0 shares 开 (召开), 2 and 3 share nothing; so keep 2
  // with every other sentence deleted leaves sentences 0 and 1.
  o.keep_sentences = 2;
  const Augmenter two(Task::kSummarization, {}, o);
  const SumCase c = sum_cases()[0];
  std::set<std::string> outputs;
  for (std::uint64_t s = 0; s < 20; ++s) {
    Rng rng(s);
    outputs.insert(two.augment(c.sample, rng).text);
  }
  const std::set<std::string> expected = {c.sentences[0] + c.sentences[1],
                                          c.sentences[1] + c.sentences[0]};
  // The original order is the seed's prefix, not a copy, so both orders occur.
  EXPECT_EQ(outputs, expected);
}

TEST(AugmentSummarization, HandWorkedShuffle) {
  // delete_prob 0 and keep 0: one uniform() per sentence (none deletes), then
  // Rng::shuffle of the sentence indices. An identity order would be a copy and
  // start a second attempt, so the mirror redraws exactly as the augmenter does.
  AugmentOptions o;
  o.delete_prob = 0.0;
  o.keep_sentences = 0;
  const Augmenter aug(Task::kSummarization, {}, o);
  const SumCase c = sum_cases()[0];
  for (std::uint64_t s = 0; s < 10; ++s) {
    Rng mirror(s);
    std::vector<std::size_t> order;
    do {
      order = {0, 1, 2, 3};
      for (int i = 0; i < 4; ++i) mirror.uniform();
      mirror.shuffle(order);
    } while (order == std::vector<std::size_t>{0, 1, 2, 3});
    std::string expected;
    for (std::size_t i : order) expected += c.sentences[i];
    Rng rng(s);
    EXPECT_EQ(aug.augment(c.sample, rng).text, expected);
    EXPECT_EQ(rng.next(), mirror.next());
  }
}

TEST(AugmentSummarization, SameRngSeedSameOutput) {
  const Augmenter aug(Task::kSummarization, {});
  for (const SumCase& c : sum_cases()) {
    for (std::uint64_t s = 0; s < 20; ++s) {
      Rng r1(s), r2(s);
      EXPECT_EQ(aug.augment(c.sample, r1).text, aug.augment(c.sample, r2).text);
    }
  }
}

TEST(AugmentSummarization, OneSentenceDeletesClausesInOrder) {
  AugmentOptions o;
  o.delete_prob = 1.0;
  const Augmenter aug(Task::kSummarization, {}, o);
  Rng rng(1);
  // The kept clause loses its comma and takes the deleted end's 。.
  EXPECT_EQ(aug.augment(summ("今天天气很好，我们去公园散步，晚上回家。", "公园散步"), rng).text,
            "我们去公园散步。");
  EXPECT_EQ(aug.augment(summ("今天天气很好，我们去公园散步，晚上回家", "公园散步"), rng).text,
            "我们去公园散步");
  EXPECT_EQ(aug.augment(summ("今天天气很好，我们去公园散步，晚上回家。", "回家"), rng).text,
            "晚上回家。");

  // With deletion at random, the clauses that remain keep their order.
  o.delete_prob = 0.5;
  const Augmenter half(Task::kSummarization, {}, o);
  const std::vector<std::string> clauses = {"甲乙，", "丙丁，", "戊己，", "庚辛。"};
  const Sample seed = summ("甲乙，丙丁，戊己，庚辛。", "丙丁");
  for (std::uint64_t s = 0; s < 50; ++s) {
    Rng r(s);
    std::string text = half.augment(seed, r).text;
    ASSERT_NE(text, seed.text);
    ASSERT_NE(text.find("丙丁"), std::string::npos) << text;  // the best clause
    std::size_t pos = 0;
    for (const std::string& cl : clauses) {
      const std::string body = cl.substr(0, cl.size() - std::string("，").size());
      const std::size_t at = text.find(body);
      if (at == std::string::npos) continue;
      EXPECT_GE(at, pos) << text;
      pos = at;
    }
    EXPECT_EQ(text.substr(text.size() - std::string("。").size()), "。") << text;
  }
}

TEST(AugmentSummarization, ReturnsACopyWhenNothingCanBeDeleted) {
  const Augmenter aug(Task::kSummarization, {});
  Sample seed = summ("只有一句话没有逗号。", "一句话");
  seed.id = "9";
  Rng rng(3);
  const Sample out = aug.augment(seed, rng);
  EXPECT_EQ(out.text, seed.text);
  EXPECT_EQ(out.summary, seed.summary);
  EXPECT_FALSE(out.id.has_value());

  // Two clauses, both protected: clauses are never reordered, so a copy.
  AugmentOptions o;
  o.keep_sentences = 2;
  const Augmenter keep_all(Task::kSummarization, {}, o);
  EXPECT_EQ(keep_all.augment(summ("甲乙，丙丁。", "甲"), rng).text, "甲乙，丙丁。");
}

// ---- the shipped data, when present -----------------------------------------

TEST(AugmentRealData, NerTrainingFileStaysValid) {
  const std::string path = std::string(WEAKDISTILL_SOURCE_DIR) + "/data/ner/train.jsonl";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  const Dataset ds = read_jsonl(path, Task::kNer);
  const Augmenter aug(Task::kNer, ds.samples);
  Rng rng(2025);
  std::size_t changed = 0;
  const std::size_t n = std::min<std::size_t>(ds.samples.size(), 2000);
  for (std::size_t i = 0; i < n; ++i) {
    const Sample out = aug.augment(ds.samples[i], rng);
    expect_valid_entities(out);
    ASSERT_EQ(out.entities.size(), ds.samples[i].entities.size());
    changed += out.text != ds.samples[i].text;
  }
  EXPECT_GE(changed, n * 9 / 10);
}

}  // namespace
}  // namespace weakdistill
