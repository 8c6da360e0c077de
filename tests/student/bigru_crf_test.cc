// The bigru-crf ner student end to end on a tiny synthetic corpus: it learns,
// saves and loads, is deterministic on one thread, and rejects bad options.
#include <gtest/gtest.h>

#include <cmath>

#include "reference/brute_force_crf.h"
#include "support/temp_dir.h"
#include "weakdistill/core/bio.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/student/student.h"
#include "weakdistill/text/vocabulary.h"

namespace weakdistill {
namespace {

// "<a><b><c>..." with each {X:...} part an entity of type X.
Sample sentence(const std::vector<std::pair<std::string, std::string>>& parts) {
  Sample s;
  std::size_t at = 0;
  for (const auto& [type, text] : parts) {
    const std::size_t n = split_chars(text).size();
    if (!type.empty()) s.entities.push_back(Entity{at, at + n, type, text});
    s.text += text;
    at += n;
  }
  return s;
}

std::vector<Sample> corpus() {
  const std::vector<std::string> people = {"张伟", "李娜", "王芳", "刘洋"};
  const std::vector<std::string> places = {"北京", "上海", "广州", "深圳"};
  const std::vector<std::string> orgs = {"新华社", "人民日报"};
  std::vector<Sample> out;
  for (std::size_t i = 0; i < people.size(); ++i) {
    const auto& per = people[i];
    const auto& loc = places[(i + 1) % places.size()];
    const auto& org = orgs[i % orgs.size()];
    out.push_back(sentence({{"PER", per}, {"", "在"}, {"LOC", loc}, {"", "工作。"}}));
    out.push_back(sentence({{"ORG", org}, {"", "记者"}, {"PER", per}, {"", "报道。"}}));
    out.push_back(sentence({{"PER", per}, {"", "昨天到了"}, {"LOC", places[i]}, {"", "。"}}));
    out.push_back(sentence({{"", "今天天气很好。"}}));
  }
  return out;
}

// Small and fast: a few seconds on one thread.
nlohmann::json tiny_options() {
  return {{"char_dim", 16}, {"bigram_dim", 8}, {"hidden", 16},   {"epochs", 40}, {"batch_size", 4},
          {"lr", 0.02},     {"dropout", 0.0},  {"min_count", 1}, {"threads", 1}, {"seed", 3}};
}

class BiGruCrf : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Progress::set_enabled(false); }
};

TEST_F(BiGruCrf, LearnsATinyDatasetWithValidBioAndLogProbs) {
  auto student = make_student(Task::kNer, "bigru-crf", tiny_options());
  std::vector<EpochReport> reports;
  student->on_epoch = [&](const EpochReport& r) { reports.push_back(r); };
  const auto data = corpus();
  student->train(data, data);
  ASSERT_EQ(reports.size(), 40u);
  EXPECT_EQ(reports.back().dev_metric_name, "f1");
  EXPECT_LT(reports.back().train_loss, reports.front().train_loss);

  const auto predictions = student->predict(data);
  std::size_t exact = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    exact += predictions[i].entities == data[i].entities;
    EXPECT_LE(predictions[i].log_prob, 1e-9);
    EXPECT_TRUE(reference::is_valid_bio(
        to_bio_tags(split_chars(data[i].text).size(), predictions[i].entities)));
    const auto chars = split_chars(data[i].text);
    for (const Entity& e : predictions[i].entities) {
      std::string covered;
      for (std::size_t k = e.start; k < e.end; ++k) covered += chars[k];
      EXPECT_EQ(e.text, covered);
    }
  }
  EXPECT_EQ(exact, data.size());
  // Unseen characters map to <unk>; an empty text has no entities and p = 1.
  const auto other = student->predict({sentence({{"", "火星人"}}), sentence({})});
  EXPECT_TRUE(other[1].entities.empty());
  EXPECT_EQ(other[1].log_prob, 0.0);
  EXPECT_TRUE(std::isfinite(other[0].log_prob));
}

TEST_F(BiGruCrf, AutoEpochsReach400UpdatesOnSmallSets) {
  auto opts = tiny_options();
  opts["epochs"] = 0;
  opts["batch_size"] = 8;  // 16 sentences: 2 updates an epoch, so 200 epochs
  opts["hidden"] = 4;
  auto student = make_student(Task::kNer, "bigru-crf", opts);
  std::vector<int> epochs;
  student->on_epoch = [&](const EpochReport& r) { epochs.push_back(r.epochs); };
  student->train(corpus(), {});
  EXPECT_EQ(epochs, std::vector<int>(200, 200));
}

TEST_F(BiGruCrf, DevIsScoredEveryEpochUpTo100ThenAbout25Times) {
  auto opts = tiny_options();
  opts["epochs"] = 0;
  opts["batch_size"] = 8;  // 200 epochs (above): scored every 8th, the last included
  opts["hidden"] = 4;
  const auto data = corpus();
  const std::vector<Sample> dev(data.begin(), data.begin() + 4);
  auto scored_epochs = [&](const nlohmann::json& o) {
    auto student = make_student(Task::kNer, "bigru-crf", o);
    std::vector<int> scored;
    student->on_epoch = [&](const EpochReport& r) {
      if (r.dev_metric >= 0) scored.push_back(r.epoch);
    };
    student->train(data, dev);
    return scored;
  };
  std::vector<int> expected;
  for (int e = 8; e <= 200; e += 8) expected.push_back(e);
  EXPECT_EQ(scored_epochs(opts), expected);
  opts["epochs"] = 7;
  opts["dev_every"] = 3;
  EXPECT_EQ(scored_epochs(opts), (std::vector<int>{3, 6, 7}));
  opts["dev_every"] = 0;  // 7 epochs: every one
  EXPECT_EQ(scored_epochs(opts), (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(BiGruCrf, SaveAndLoadGiveIdenticalPredictions) {
  weakdistill::testing::TempDir dir;
  auto opts = tiny_options();
  opts["epochs"] = 5;
  auto student = make_student(Task::kNer, "bigru-crf", opts);
  student->train(corpus(), {});
  save_student(*student, dir.file("m"));
  for (const char* f : {"model.json", "weights.pt", "chars.json", "bigrams.json", "tags.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.file("m") + "/" + f)) << f;
  }
  auto back = load_student(dir.file("m"), "bigru-crf", Task::kNer);
  EXPECT_EQ(back->options(), student->options());
  const auto a = student->predict(corpus());
  const auto b = back->predict(corpus());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].entities, b[i].entities);
    EXPECT_EQ(a[i].log_prob, b[i].log_prob);
  }
  std::filesystem::remove(dir.file("m") + "/weights.pt");
  EXPECT_THROW(load_student(dir.file("m")), InputError);
}

TEST_F(BiGruCrf, OneThreadAndOneSeedGiveTheSamePredictions) {
  auto opts = tiny_options();
  opts["epochs"] = 4;
  opts["dropout"] = 0.3;  // dropout draws from the seeded generator too
  auto run = [&](std::uint64_t seed) {
    opts["seed"] = seed;
    auto s = make_student(Task::kNer, "bigru-crf", opts);
    s->train(corpus(), {});
    return s->predict(corpus());
  };
  const auto a = run(5), b = run(5), c = run(6);
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].entities, b[i].entities);
    EXPECT_EQ(a[i].log_prob, b[i].log_prob);
    differs |= a[i].log_prob != c[i].log_prob;
  }
  EXPECT_TRUE(differs) << "another seed should give other weights";
}

TEST_F(BiGruCrf, RejectsBadOptionsAndUnlearnableData) {
  const std::vector<std::pair<std::string, nlohmann::json>> bad = {
      {"hidden", 0}, {"dropout", 1.0},   {"epochs", -1},    {"lr", 0.0},     {"min_count", 0},
      {"layers", 0}, {"bigram_dim", -1}, {"hidden", "big"}, {"threads", -1}, {"no_such_key", 1}};
  for (const auto& [key, value] : bad) {
    try {
      make_student(Task::kNer, "bigru-crf", {{key, value}});
      ADD_FAILURE() << key << " = " << value.dump() << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  auto student = make_student(Task::kNer, "bigru-crf", tiny_options());
  // Nested entities give B-PER B-LOC I-PER: trained as B-PER B-LOC B-PER, with a finite loss.
  Sample nested = sentence({{"", "张伟在北京"}});
  nested.entities = {Entity{0, 3, "PER", "张伟在"}, Entity{1, 2, "LOC", "伟"}};
  std::vector<double> losses;
  student->on_epoch = [&](const EpochReport& r) { losses.push_back(r.train_loss); };
  student->train({nested, corpus()[0]}, {});
  for (double loss : losses) EXPECT_TRUE(std::isfinite(loss));
  EXPECT_THROW(student->train({}, {}), InputError);
  EXPECT_THROW(student->train({sentence({{"", "没有实体"}})}, {}), InputError);
  // A failed train() leaves no model behind (not the earlier one with new vocabularies).
  EXPECT_THROW(student->predict({sentence({{"", "没有"}})}), std::logic_error);
  EXPECT_THROW(make_student(Task::kNer, "bigru-crf", {})->predict({nested}), std::logic_error);
}

}  // namespace
}  // namespace weakdistill
