#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "char_tokens.h"
#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

Sample labeled(const std::string& text, const std::string& label) {
  Sample s;
  s.text = text;
  s.label = label;
  return s;
}

// Three labels, each written only with its own characters (and a shared
// space), so that the characters alone separate them.
std::vector<Sample> separable() {
  const std::vector<std::pair<std::string, std::vector<std::string>>> sets = {
      {"sports", {"球", "赛", "队", "冠", "军"}},
      {"stocks", {"股", "市", "涨", "跌", "盘"}},
      {"realty", {"楼", "房", "价", "地", "产"}},
  };
  std::vector<Sample> out;
  for (int i = 0; i < 8; ++i) {
    for (const auto& [label, chars] : sets) {
      std::string text;
      for (int j = 0; j < 4; ++j) text += chars[(i + j * (i % 3 + 1)) % chars.size()];
      if (i % 2) text += " " + chars[i % chars.size()];
      out.push_back(labeled(text, label));
    }
  }
  return out;
}

nlohmann::json small_options() {
  return {{"epochs", 40}, {"dim", 16}, {"bucket", 1000}, {"lr", 0.5}, {"threads", 1}, {"seed", 3}};
}

TEST(FastText, CharTokensTurnWhitespaceRunsIntoOneBoundaryToken) {
  using student_internal::char_tokens;
  const std::vector<std::string> expected = {"汽", "车", "\u2581", "股", "A", "\u2581", "1"};
  EXPECT_EQ(char_tokens(" \t汽车 \u3000 股A\n1  "), expected);
  EXPECT_TRUE(char_tokens("  ").empty());
  EXPECT_EQ(char_tokens(std::string("a\0b", 3)), (std::vector<std::string>{"a", "\u2581", "b"}));
}

TEST(FastText, LearnsSeparableLabelsWithProbabilitiesForEveryLabel) {
  const auto train = separable();
  auto ft = make_student(Task::kClassification, "fasttext", small_options());
  EXPECT_EQ(ft->kind(), "fasttext");
  ft->train(train, {});
  const auto out = ft->predict(train);
  ASSERT_EQ(out.size(), train.size());
  for (std::size_t i = 0; i < train.size(); ++i) {
    EXPECT_EQ(out[i].label, train[i].label) << train[i].text;
    ASSERT_EQ(out[i].label_probs.size(), 3u);
    double sum = 0;
    for (const auto& [label, p] : out[i].label_probs) {
      EXPECT_GE(p, 0.0);
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
    EXPECT_GT(out[i].label_probs.at(out[i].label), 0.5);
  }
  // Unseen characters and empty text still give a distribution over every label.
  const auto odd = ft->predict({labeled("", ""), labeled("未见过的字", "")});
  for (const auto& p : odd) {
    double sum = 0;
    for (const auto& [label, v] : p.label_probs) sum += v;
    EXPECT_EQ(p.label_probs.size(), 3u);
    EXPECT_NEAR(sum, 1.0, 1e-9);
  }
}

TEST(FastText, OtherLossesAlsoGiveDistributions) {
  for (const char* loss : {"hs", "ova", "ns"}) {
    auto options = small_options();
    options["loss"] = loss;
    auto ft = make_student(Task::kClassification, "fasttext", options);
    ft->train(separable(), {});
    for (const auto& p : ft->predict(separable())) {
      double sum = 0;
      for (const auto& [label, v] : p.label_probs) sum += v;
      EXPECT_NEAR(sum, 1.0, 1e-9) << loss;
    }
  }
}

TEST(FastText, SaveLoadRoundTripGivesIdenticalPredictions) {
  weakdistill::testing::TempDir dir;
  auto ft = make_student(Task::kClassification, "fasttext", small_options());
  ft->train(separable(), {});
  save_student(*ft, dir.file("m"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("m/model.bin")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("m/labels.json")));
  auto back = load_student(dir.file("m"), "fasttext", Task::kClassification);
  EXPECT_EQ(back->options(), ft->options());
  const auto a = ft->predict(separable());
  const auto b = back->predict(separable());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].label, b[i].label);
    EXPECT_EQ(a[i].label_probs, b[i].label_probs);
  }
  std::filesystem::remove(dir.file("m/model.bin"));
  EXPECT_THROW(load_student(dir.file("m")), InputError);
}

TEST(FastText, SameSeedOnOneThreadGivesIdenticalPredictions) {
  auto run = [](std::uint64_t seed) {
    auto options = small_options();
    options["seed"] = seed;
    auto ft = make_student(Task::kClassification, "fasttext", options);
    ft->train(separable(), {});
    return ft->predict(separable());
  };
  const auto a = run(5), b = run(5), c = run(6);
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].label_probs, b[i].label_probs);
    differs |= a[i].label_probs != c[i].label_probs;
  }
  EXPECT_TRUE(differs) << "the seed changes nothing";
}

TEST(FastText, ReportsEveryEpochWithDevAccuracy) {
  auto ft = make_student(Task::kClassification, "fasttext", small_options());
  std::vector<EpochReport> reports;
  ft->on_epoch = [&](const EpochReport& r) { reports.push_back(r); };
  const auto train = separable();
  ft->train(train, {train[0], train[1], train[2]});
  ASSERT_EQ(reports.size(), 40u);
  for (std::size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].epoch, static_cast<int>(i + 1));
    EXPECT_EQ(reports[i].epochs, 40);
    EXPECT_EQ(reports[i].dev_metric_name, "accuracy");
    EXPECT_GE(reports[i].dev_metric, 0.0);
    EXPECT_LE(reports[i].dev_metric, 1.0);
  }
  EXPECT_EQ(reports.back().dev_metric, 1.0);
  // An exception in the callback stops training and reaches the caller, also
  // when it is thrown on one of several fastText threads.
  for (int threads : {1, 2}) {
    auto options = small_options();
    options["threads"] = threads;
    auto failing = make_student(Task::kClassification, "fasttext", options);
    failing->on_epoch = [](const EpochReport&) { throw std::runtime_error("stop here"); };
    EXPECT_THROW(failing->train(train, {}), std::runtime_error) << threads;
    EXPECT_THROW(failing->predict(train), std::logic_error);
  }
}

// epochs 0: 30, or enough to see 20,000 examples: 24 samples -> ceil(833.3) = 834.
TEST(FastText, AutoEpochsReachTwentyThousandExamples) {
  auto options = small_options();
  options["epochs"] = 0;
  auto ft = make_student(Task::kClassification, "fasttext", options);
  int reports = 0, planned = 0;
  ft->on_epoch = [&](const EpochReport& r) {
    ++reports;
    planned = r.epochs;
  };
  ft->train(separable(), {});
  EXPECT_EQ(reports, 834);
  EXPECT_EQ(planned, 834);
  EXPECT_EQ(ft->options().at("epochs"), 0);  // the option, not its value for this set
}

TEST(FastText, RejectsBadOptions) {
  auto make = [](nlohmann::json o) { return make_student(Task::kClassification, "fasttext", o); };
  try {
    make({{"epochs", 3}, {"kernel_sizes", {2, 3}}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("kernel_sizes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make({{"epochs", -1}}), InputError);
  EXPECT_NO_THROW(make({{"epochs", 0}}));  // auto
  EXPECT_THROW(make({{"lr", 0}}), InputError);
  EXPECT_THROW(make({{"dim", "big"}}), InputError);
  EXPECT_THROW(make({{"loss", "hinge"}}), InputError);
  EXPECT_THROW(make({{"bucket", 0}, {"word_ngrams", 2}}), InputError);
  EXPECT_NO_THROW(make({{"bucket", 0}, {"word_ngrams", 1}}));
  EXPECT_THROW(make({{"threads", -2}}), InputError);
}

TEST(FastText, RefusesTrainingDataItCannotLearnFrom) {
  auto ft = make_student(Task::kClassification, "fasttext", small_options());
  EXPECT_THROW(ft->train({}, {}), InputError);
  try {
    ft->train({labeled("股市大涨", "stocks"), labeled("股市大跌", "stocks")}, {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at least two labels"), std::string::npos) << e.what();
  }
}

TEST(FastText, IsTheDefaultClassificationKind) {
  EXPECT_EQ(student_kinds(Task::kClassification).at(0), "fasttext");
}

// With the input order kept, one thread and one seed, our student is the
// `fasttext supervised` command: the same probabilities (to the 1e-5 the
// command adds inside its log and its printed precision).
TEST(FastText, MatchesTheFastTextCommand) {
  if (std::system("command -v fasttext >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no fasttext command";
  }
  weakdistill::testing::TempDir dir;
  // The tiny training set in fastText's own format, written by hand: one
  // character a token, "▁" for the space.
  const std::string data =
      "__label__a 球 赛 ▁ 队\n"
      "__label__b 股 市 涨\n"
      "__label__a 冠 军 球\n"
      "__label__b 盘 ▁ 跌 股\n"
      "__label__c 楼 价\n"
      "__label__c 房 产 地 价\n"
      "__label__a 队 冠\n"
      "__label__b 市 盘\n";
  dir.write("train.txt", data);
  dir.write("test.txt", "球 股 楼\n赛 ▁ 队\n价 跌\n");
  const std::string cmd =
      "cd '" + dir.path().string() +
      "' && fasttext supervised -input train.txt -output m -epoch 20 -lr 0.3 "
      "-wordNgrams 2 -dim 8 -bucket 500 -thread 1 -seed 9 -verbose 0 >/dev/null "
      "&& fasttext predict-prob m.bin test.txt 3 > probs.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0);

  auto ft = make_student(Task::kClassification, "fasttext",
                         {{"epochs", 20},
                          {"lr", 0.3},
                          {"word_ngrams", 2},
                          {"dim", 8},
                          {"bucket", 500},
                          {"threads", 1},
                          {"seed", 9},
                          {"shuffle", false}});
  ft->train({labeled("球赛 队", "a"), labeled("股市涨", "b"), labeled("冠军球", "a"),
             labeled("盘 跌股", "b"), labeled("楼价", "c"), labeled("房产地价", "c"),
             labeled("队冠", "a"), labeled("市盘", "b")},
            {});
  const auto out = ft->predict({labeled("球股楼", ""), labeled("赛 队", ""), labeled("价跌", "")});
  std::istringstream probs(weakdistill::testing::read_file(dir.file("probs.txt")));
  std::string line;
  for (const Prediction& p : out) {
    ASSERT_TRUE(std::getline(probs, line));
    std::istringstream fields(line);
    std::string label;
    double prob = 0;
    bool first = true;
    while (fields >> label >> prob) {
      label = label.substr(std::string("__label__").size());
      if (first) {
        EXPECT_EQ(p.label, label) << line;
      }
      first = false;
      EXPECT_NEAR(p.label_probs.at(label), prob, 2e-5) << line;
    }
  }
}

}  // namespace
}  // namespace weakdistill
