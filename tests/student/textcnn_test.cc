#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

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
// space), so that the characters alone separate them; lengths 1 to 6, so
// that some texts are shorter than the widest kernel.
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
      for (int j = 0; j < 1 + i % 5; ++j) text += chars[(i + j * (i % 3 + 1)) % chars.size()];
      if (i % 2) text += " " + chars[i % chars.size()];
      out.push_back(labeled(text, label));
    }
  }
  return out;
}

nlohmann::json small_options() {
  return {{"epochs", 25},    {"embedding_dim", 16}, {"filters", 8}, {"kernel_sizes", {1, 2, 3}},
          {"batch_size", 8}, {"lr", 0.01},          {"threads", 1}, {"seed", 3}};
}

double sum_of(const Prediction& p) {
  double sum = 0;
  for (const auto& [label, v] : p.label_probs) sum += v;
  return sum;
}

TEST(TextCnn, LearnsSeparableLabelsWithProbabilitiesForEveryLabel) {
  const auto train = separable();
  auto cnn = make_student(Task::kClassification, "textcnn", small_options());
  EXPECT_EQ(cnn->kind(), "textcnn");
  cnn->train(train, {});
  const auto out = cnn->predict(train);
  ASSERT_EQ(out.size(), train.size());
  for (std::size_t i = 0; i < train.size(); ++i) {
    EXPECT_EQ(out[i].label, train[i].label) << train[i].text;
    ASSERT_EQ(out[i].label_probs.size(), 3u);
    for (const auto& [label, p] : out[i].label_probs) EXPECT_GE(p, 0.0);
    EXPECT_NEAR(sum_of(out[i]), 1.0, 1e-9);
    // The label is the most probable one.
    const auto top =
        std::max_element(out[i].label_probs.begin(), out[i].label_probs.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    EXPECT_EQ(top->first, out[i].label);
  }
  const auto odd = cnn->predict({labeled("", ""), labeled("未见过的字", ""), labeled(" ", "")});
  for (const auto& p : odd) {
    EXPECT_EQ(p.label_probs.size(), 3u);
    EXPECT_NEAR(sum_of(p), 1.0, 1e-9);
  }
}

// The masked max-pool: a text's probabilities are the same alone and in a
// batch padded far beyond it.
TEST(TextCnn, PredictionDoesNotDependOnTheBatch) {
  auto cnn = make_student(Task::kClassification, "textcnn", small_options());
  cnn->train(separable(), {});
  const std::vector<Sample> texts = {labeled("球", ""), labeled("股市", ""),
                                     labeled("楼 房价", "")};
  std::vector<Sample> batch = texts;
  batch.push_back(labeled(std::string(40 * 3, 'x') + "股市涨跌盘股市涨跌盘球赛队冠军", ""));
  const auto together = cnn->predict(batch);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto alone = cnn->predict({texts[i]});
    for (const auto& [label, p] : alone[0].label_probs) {
      EXPECT_NEAR(together[i].label_probs.at(label), p, 1e-6) << texts[i].text << " " << label;
    }
  }
}

TEST(TextCnn, SaveLoadRoundTripGivesIdenticalPredictions) {
  weakdistill::testing::TempDir dir;
  auto cnn = make_student(Task::kClassification, "textcnn", small_options());
  cnn->train(separable(), {});
  save_student(*cnn, dir.file("m"));
  for (const char* f : {"weights.pt", "chars.json", "labels.json", "model.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.file("m/") + f)) << f;
  }
  auto back = load_student(dir.file("m"), "textcnn", Task::kClassification);
  EXPECT_EQ(back->options(), cnn->options());
  const auto a = cnn->predict(separable());
  const auto b = back->predict(separable());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].label, b[i].label);
    EXPECT_EQ(a[i].label_probs, b[i].label_probs);
  }
  std::filesystem::remove(dir.file("m/weights.pt"));
  EXPECT_THROW(load_student(dir.file("m")), InputError);
}

TEST(TextCnn, SameSeedOnOneThreadGivesIdenticalPredictions) {
  auto run = [](std::uint64_t seed) {
    auto options = small_options();
    options["seed"] = seed;
    options["epochs"] = 3;
    auto cnn = make_student(Task::kClassification, "textcnn", options);
    cnn->train(separable(), {});
    return cnn->predict(separable());
  };
  const auto a = run(5), b = run(5), c = run(6);
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].label_probs, b[i].label_probs);
    differs |= a[i].label_probs != c[i].label_probs;
  }
  EXPECT_TRUE(differs) << "the seed changes nothing";
}

// With a dev set the kept weights are those of the best dev epoch: the
// accuracy of the final model on dev is the best one reported.
TEST(TextCnn, KeepsTheBestDevEpoch) {
  auto options = small_options();
  options["epochs"] = 8;
  options["lr"] = 0.003;
  auto cnn = make_student(Task::kClassification, "textcnn", options);
  std::vector<EpochReport> reports;
  cnn->on_epoch = [&](const EpochReport& r) { reports.push_back(r); };
  const auto train = separable();
  // A dev set in which some texts mix two labels' characters.
  const std::vector<Sample> dev = {labeled("球股", "sports"),   labeled("市楼房", "realty"),
                                   labeled("涨跌赛", "stocks"), labeled("冠军", "sports"),
                                   labeled("地产股", "realty"), labeled("盘", "stocks")};
  cnn->train(train, dev);
  ASSERT_EQ(reports.size(), 8u);
  double best = -1;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].epoch, static_cast<int>(i + 1));
    EXPECT_EQ(reports[i].dev_metric_name, "accuracy");
    EXPECT_GT(reports[i].train_loss, 0.0);
    best = std::max(best, reports[i].dev_metric);
  }
  const auto out = cnn->predict(dev);
  double right = 0;
  for (std::size_t i = 0; i < dev.size(); ++i) right += out[i].label == dev[i].label;
  EXPECT_DOUBLE_EQ(right / static_cast<double>(dev.size()), best);
}

// epochs 0: 20, or enough for 500 mini-batches: 24 samples at batch 8 are 3
// a epoch -> ceil(166.7) = 167 epochs.
TEST(TextCnn, AutoEpochsReachFiveHundredSteps) {
  auto options = small_options();
  options["epochs"] = 0;
  options["embedding_dim"] = 4;
  options["filters"] = 2;
  auto cnn = make_student(Task::kClassification, "textcnn", options);
  int reports = 0, planned = 0;
  cnn->on_epoch = [&](const EpochReport& r) {
    ++reports;
    planned = r.epochs;
  };
  cnn->train(separable(), {});
  EXPECT_EQ(reports, 167);
  EXPECT_EQ(planned, 167);
}

TEST(TextCnn, RejectsBadOptions) {
  auto make = [](nlohmann::json o) { return make_student(Task::kClassification, "textcnn", o); };
  try {
    make({{"epochs", 3}, {"bucket", 10}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bucket"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make({{"epochs", -1}}), InputError);
  EXPECT_NO_THROW(make({{"epochs", 0}}));  // auto
  EXPECT_THROW(make({{"kernel_sizes", nlohmann::json::array()}}), InputError);
  EXPECT_THROW(make({{"kernel_sizes", {2, 0}}}), InputError);
  EXPECT_THROW(make({{"kernel_sizes", "3"}}), InputError);
  EXPECT_THROW(make({{"dropout", 1.0}}), InputError);
  EXPECT_THROW(make({{"lr", -0.1}}), InputError);
}

TEST(TextCnn, RefusesTrainingDataItCannotLearnFrom) {
  auto cnn = make_student(Task::kClassification, "textcnn", small_options());
  EXPECT_THROW(cnn->train({}, {}), InputError);
  try {
    cnn->train({labeled("股市大涨", "stocks"), labeled("股市大跌", "stocks")}, {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at least two labels"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cnn->predict({labeled("股", "")}), std::logic_error);
}

}  // namespace
}  // namespace weakdistill
