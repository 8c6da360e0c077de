// distill.weakness cv, allocation per_label and schedule one_shot, end to end ([4/6] #17):
// a cross-validated h(x) equals what a student trained without the sample says of it (fold
// students retrained here, independently of the run), one_shot asks the whole run's requests in
// one round, per_label spreads them, and bad values are exit 2 naming the key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "fake/fake_openai_server.h"
#include "support/run.h"
#include "support/run_folder.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using testing::FakeOpenAIServer;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;
using ::testing::HasSubstr;

class WeaknessVariants : public ::testing::Test {
 protected:
  void SetUp() override {
    server.set_responder(testing::responder);
    // Six clear samples a label, and six that mix both alphabets (labelled by their first
    // half): hard enough that a student which never saw them gets some wrong.
    std::string train = testing::dataset(0, 6);
    for (int i = 0; i < 6; ++i) {
      const bool a = i % 2 == 0;
      train += "{\"text\": \"" + testing::text_of(a ? testing::kA : testing::kB, 500 + i, 3) +
               testing::text_of(a ? testing::kB : testing::kA, 600 + i, 4) +
               "\", \"label\": \"" + (a ? "A" : "B") + "\"}\n";
    }
    dir.write("train.jsonl", train);
    dir.write("dev.jsonl", testing::dataset(1000, 5));
    dir.write("test.jsonl", testing::dataset(2000, 5));
  }
  std::string config(const std::string& distill_extra) {
    return dir.write(
        "c.yaml", "task: classification\n"
                  "data: {train: " + dir.file("train.jsonl") + ", dev: " + dir.file("dev.jsonl") +
                  ", test: " + dir.file("test.jsonl") + "}\n"
                  "student: {kind: fasttext, threads: 1, epochs: 3}\n"
                  "teacher: {kind: openai, base_url: " + server.base_url() +
                  ", model: fake, seed: 1, concurrency: 4}\n"
                  "distill: {per_round: 4, oversample: 2, max_rounds: 2, patience: 5, seed: 3, "
                  "reservoir: off" + distill_extra + "}\n");
  }
  std::vector<nlohmann::json> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<nlohmann::json> out;
    for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
    return out;
  }
  FakeOpenAIServer server;
  TempDir dir;
};

TEST_F(WeaknessVariants, CrossValidatedHComesFromAStudentThatDidNotTrainOnTheSample) {
  const std::string run_dir = dir.file("cv");
  const auto r = run_cli("-q run '" + config(", weakness: cv, cv_folds: 3") + "' --run-dir '" +
                         run_dir + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("round 1 weakness (cv): 3/3 trainings"));
  // Round 1: nothing accepted yet, so fold f's student trained on the training samples of the
  // other folds. Retrain each here and score its held-out samples.
  const auto weakness = lines(run_dir + "/rounds/01/weakness.jsonl");
  const Dataset train = read_jsonl(dir.file("train.jsonl"), Task::kClassification);
  const Dataset dev = read_jsonl(dir.file("dev.jsonl"), Task::kClassification);
  std::map<int, std::vector<std::size_t>> held;
  for (const auto& w : weakness) {
    if (w["set"] == "train") held[w["fold"].get<int>()].push_back(w["index"].get<std::size_t>());
    else EXPECT_FALSE(w.contains("fold"));
  }
  ASSERT_EQ(held.size(), 3u);
  // Seeds come from train only (protocol clean's default): p is the draw's probability, 1 in
  // all over train and 0 on dev.
  double train_p = 0, dev_p = 0;
  for (const auto& w : weakness) (w["set"] == "train" ? train_p : dev_p) += w["p"].get<double>();
  EXPECT_NEAR(train_p, 1.0, 1e-9);
  EXPECT_EQ(dev_p, 0.0);
  std::size_t wrong = 0;
  for (const auto& [fold, indices] : held) {
    std::vector<Sample> fold_train, held_out;
    for (std::size_t i = 0; i < train.samples.size(); ++i) {
      if (std::find(indices.begin(), indices.end(), i) == indices.end()) {
        fold_train.push_back(train.samples[i]);
      } else {
        held_out.push_back(train.samples[i]);
      }
    }
    auto student = make_student(Task::kClassification, "fasttext", {{"threads", 1}, {"epochs", 3}});
    student->train(fold_train, dev.samples);
    const auto preds = student->predict(held_out);
    for (std::size_t j = 0; j < held_out.size(); ++j) {
      const double h = preds[j].label == held_out[j].label ? 1.0 : 0.0;
      EXPECT_EQ(weakness[indices[j]]["h"].get<double>(), h) << "fold " << fold << " sample " << indices[j];
      wrong += h == 0;
    }
  }
  const auto m = read_json(run_dir + "/metrics.json");
  EXPECT_EQ(m["rounds"][1]["weakness"]["method"], "cv");
  EXPECT_EQ(m["rounds"][1]["weakness"]["cv_folds"], 3);
  // In sample, the same student class fits every training sample: the signal cv adds.
  const std::string in_dir = dir.file("in");
  ASSERT_EQ(run_cli("-q run '" + config(", weakness: in_sample") + "' --run-dir '" + in_dir + "'").code, 0);
  std::size_t in_wrong = 0;
  for (const auto& w : lines(in_dir + "/rounds/01/weakness.jsonl")) {
    if (w["set"] == "train") in_wrong += w["h"].get<double>() == 0;
  }
  EXPECT_GT(wrong, in_wrong) << "cv found no more errors than the student on its own training set";
}

TEST_F(WeaknessVariants, OneShotAsksTheWholeRunsRequestsInOneRound) {
  const std::string run_dir = dir.file("one");
  const auto r = run_cli("-q run '" + config(", schedule: one_shot, seeds: uniform") +
                         "' --run-dir '" + run_dir + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = read_json(run_dir + "/metrics.json");
  ASSERT_EQ(m["rounds"].size(), 2u);
  // per_round 4 × max_rounds 2 = 8 samples, oversample 2: 16 requests, as the iterative run's
  // two rounds of 8.
  EXPECT_EQ(m["rounds"][1]["requested"], 16);
  EXPECT_EQ(m["rounds"][1]["accepted"], 8);
  EXPECT_EQ(m["stop_reason"], "one_shot");
  // Resumed, a finished one-shot run has nothing to do.
  const auto again = run_cli("-q run --resume '" + run_dir + "'");
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(server.requests(), 16u);
}

TEST_F(WeaknessVariants, PerLabelSpreadsTheRequestsOverLabels) {
  const std::string run_dir = dir.file("pl");
  const auto r = run_cli("-q run '" + config(", allocation: per_label") + "' --run-dir '" +
                         run_dir + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = read_json(run_dir + "/metrics.json");
  const auto& per = m["rounds"][1]["weakness"]["requests_per_label"];
  ASSERT_EQ(per.size(), 2u);
  // 8 requests over A and B: a floor of 2 each.
  EXPECT_EQ(per["A"].get<int>() + per["B"].get<int>(), 8);
  EXPECT_GE(per["A"].get<int>(), 2);
  EXPECT_GE(per["B"].get<int>(), 2);
  // The seeds drawn for each label are of that label: the requests' prompts say so.
  std::size_t a = 0;
  for (const auto& body : server.bodies()) {
    if (body["messages"].back()["content"].get<std::string>().find("\"label\": \"A\"") !=
        std::string::npos) {
      ++a;
    }
  }
  EXPECT_EQ(a, static_cast<std::size_t>(per["A"].get<int>() + m["rounds"][2]["weakness"]["requests_per_label"]["A"].get<int>()));
}

TEST_F(WeaknessVariants, BadValuesAreExitTwoNamingTheKey) {
  for (const auto& [extra, message] : std::vector<std::pair<std::string, std::string>>{
           {", weakness: loo", "distill.weakness: must be in_sample or cv"},
           {", weakness: cv, cv_folds: 1", "distill.cv_folds: must be in 2..100"},
           {", weakness: cv, cv_folds: 10",
            "distill.cv_folds: 10 folds need at least 10 training samples of every label; label A has 9"},
           {", allocation: by_label", "distill.allocation: must be global or per_label"},
           {", schedule: once", "distill.schedule: must be iterative or one_shot"},
           {", cv_student: 3", "distill.cv_student: expected a mapping"}}) {
    const auto r = run_cli("-q run '" + config(extra) + "' --run-dir '" + dir.file("bad") + "'");
    EXPECT_EQ(r.code, 2) << extra << r.err;
    EXPECT_THAT(r.err, HasSubstr(message)) << extra;
    EXPECT_FALSE(fs::exists(dir.file("bad"))) << extra;
  }
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(WeaknessVariants, TheDefaultCvBendsToASmallTrainingSetAndAGivenOneDoesNot) {
  // 9 samples a label: the default 5 folds fit.
  auto r = run_cli("run '" + config("") + "' --run-dir '" + dir.file("default") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  auto m = read_json(dir.file("default") + "/metrics.json");
  EXPECT_EQ(m["rounds"][1]["weakness"]["method"], "cv");
  EXPECT_EQ(m["rounds"][1]["weakness"]["cv_folds"], 5);
  // 3 samples of B: the default folds become 3, said in the log.
  dir.write("small.jsonl", testing::dataset(0, 3));
  const std::string small = dir.write(
      "small.yaml", testing::read_file(config("")).replace(
                        testing::read_file(config("")).find(dir.file("train.jsonl")),
                        dir.file("train.jsonl").size(), dir.file("small.jsonl")));
  r = run_cli("run '" + small + "' --run-dir '" + dir.file("small") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("weakness cross-validated over 3 folds"));
  m = read_json(dir.file("small") + "/metrics.json");
  EXPECT_EQ(m["rounds"][1]["weakness"]["cv_folds"], 3);
}

TEST_F(WeaknessVariants, ARunStartedBeforeTheWeaknessKeyGoesOnInSample) {
  const std::string run_dir = dir.file("old");
  ASSERT_EQ(run_cli("-q run '" + config(", weakness: in_sample") + "' --run-dir '" + run_dir +
                    "' --set distill.max_rounds=1")
                .code,
            0);
  // What an older build wrote: no weakness key.
  std::string yaml = testing::read_file(run_dir + "/config.yaml");
  const auto at = yaml.find("  weakness: in_sample\n");
  ASSERT_NE(at, std::string::npos) << yaml;
  yaml.erase(at, std::string("  weakness: in_sample\n").size());
  dir.write("old/config.yaml", yaml);
  const auto r = run_cli("-q run --resume '" + run_dir + "' --set distill.max_rounds=2");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = read_json(run_dir + "/metrics.json");
  ASSERT_EQ(m["rounds"].size(), 3u);
  EXPECT_FALSE(m["rounds"][2].contains("weakness")) << m["rounds"][2].dump();
  for (const auto& w : lines(run_dir + "/rounds/02/weakness.jsonl")) EXPECT_FALSE(w.contains("fold"));
}

}  // namespace
}  // namespace weakdistill
