// Pretrained BERT folders as a user gives them to the program: `train` and
// `predict` with bert-cls, `embed` with the bge embedder, and a `run` whose
// student and embedder both read one folder. The folders are tiny random BERTs
// written by tests/reference/bert_reference.py.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "support/bert_model.h"
#include "support/run.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using testing::bert_reference;
using ::testing::HasSubstr;
using testing::run_cli;
using testing::shell_quote;
using testing::TempDir;

class BertCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // Labels A and B written with disjoint characters (support/synthetic.h).
    dir_.write("train.jsonl", testing::dataset(0, 12));
    dir_.write("dev.jsonl", testing::dataset(100, 10));
    dir_.write("test.jsonl", testing::dataset(200, 10));
    dir_.write("pool.jsonl", testing::dataset(300, 40));
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (const char* chars : {testing::kA, testing::kB}) {
      const std::string s(chars);
      for (std::size_t i = 0; i < s.size(); i += 3) vocab += s.substr(i, 3) + "\n";
    }
    dir_.write("vocab.txt", vocab);
    model_ = dir_.file("pretrained");
    bert_reference(
        "make " + shell_quote(model_) + " --vocab " + shell_quote(dir_.file("vocab.txt")) +
        " --hidden 32 --layers 2 --heads 4 --intermediate 64 --max-position 32 --prefix bert.");
    for (const auto& e : fs::directory_iterator(model_))
      before_.insert(e.path().filename().string() + ":" + std::to_string(e.file_size()));
  }
  void TearDown() override {
    std::set<std::string> after;
    for (const auto& e : fs::directory_iterator(model_))
      after.insert(e.path().filename().string() + ":" + std::to_string(e.file_size()));
    EXPECT_EQ(after, before_) << "the pretrained folder changed";
  }
  TempDir dir_;
  std::string model_;
  std::set<std::string> before_;
};

TEST_F(BertCli, TrainThenPredictWithBertCls) {
  const auto t = run_cli("train --task classification --student bert-cls --train '" +
                         dir_.file("train.jsonl") + "' --dev '" + dir_.file("dev.jsonl") +
                         "' --out '" + dir_.file("model") + "' --set path='" + model_ +
                         "' --set epochs=30 --set lr=0.002 --set batch_size=8 --set threads=1");
  ASSERT_EQ(t.code, 0) << t.err;
  for (const char* f : {"model.json", "weights.pt", "labels.json", "config.json", "vocab.txt"}) {
    EXPECT_TRUE(fs::exists(dir_.file("model/") + f)) << f;
  }
  const auto p = run_cli("predict --model '" + dir_.file("model") + "' --input '" +
                         dir_.file("test.jsonl") + "' --output '" + dir_.file("pred.jsonl") + "'");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto e = run_cli("eval --task classification --gold '" + dir_.file("test.jsonl") +
                         "' --pred '" + dir_.file("pred.jsonl") + "' --json");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_GT(nlohmann::json::parse(e.out).at("accuracy").get<double>(), 0.8) << e.out;
}

TEST_F(BertCli, EmbedWithTheBgeEmbedderWritesUnitRows) {
  const auto c =
      dir_.write("c.yaml", "task: classification\nembedder: {kind: bge, path: '" + model_ + "'}\n");
  const auto r = run_cli("embed --config '" + c + "' --input '" + dir_.file("dev.jsonl") +
                         "' --output '" + dir_.file("v.npy") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string check =
      "/usr/bin/python3 -c \"import numpy as np, sys; a = np.load(sys.argv[1]); "
      "assert a.dtype == np.float32 and a.shape == (20, 32), a.shape; "
      "assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)\" '" +
      dir_.file("v.npy") + "'";
  EXPECT_EQ(std::system(check.c_str()), 0);
}

TEST_F(BertCli, ARunWhoseStudentAndEmbedderReadOneFolder) {
  const auto c = dir_.write(
      "run.yaml",
      "task: classification\ndata: {train: '" + dir_.file("train.jsonl") + "', dev: '" +
          dir_.file("dev.jsonl") + "', test: '" + dir_.file("test.jsonl") + "', pool: '" +
          dir_.file("pool.jsonl") + "'}\n" + "student: {kind: bert-cls, path: '" + model_ +
          "', epochs: 4, lr: 0.002, batch_size: 8, threads: 1}\n" +
          "teacher: {kind: pool}\nembedder: {kind: bge, path: '" + model_ + "'}\n" +
          "distill: {per_round: 8, oversample: 2, max_rounds: 2, patience: 5, seed: 1}\n");
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir_.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto metrics = nlohmann::json::parse(testing::read_file(dir_.file("run/metrics.json")));
  EXPECT_EQ(metrics.at("rounds").size(), 3u) << metrics.dump(1);
  EXPECT_TRUE(fs::exists(dir_.file("run/best/weights.pt")));
  EXPECT_TRUE(fs::exists(dir_.file("run/best/vocab.txt")));
}

TEST_F(BertCli, AMissingFolderIsExitTwoNamingTheKey) {
  const auto t = run_cli("train --task classification --student bert-cls --train '" +
                         dir_.file("train.jsonl") + "' --out '" + dir_.file("model") +
                         "' --set path='" + dir_.file("nowhere") + "'");
  EXPECT_EQ(t.code, 2);
  EXPECT_THAT(t.err, HasSubstr("student.path: " + dir_.file("nowhere") + ": no such folder"));
  EXPECT_FALSE(fs::exists(dir_.file("model")));
  const auto c = dir_.write("c.yaml", "task: classification\nembedder: {kind: bge, path: '" +
                                          dir_.file("nowhere") + "'}\n");
  const auto e = run_cli("embed --config '" + c + "' --input '" + dir_.file("dev.jsonl") +
                         "' --output '" + dir_.file("v.npy") + "'");
  EXPECT_EQ(e.code, 2);
  EXPECT_THAT(e.err, HasSubstr("embedder.path: " + dir_.file("nowhere") + ": no such folder"));
  EXPECT_FALSE(fs::exists(dir_.file("v.npy")));
}

}  // namespace
}  // namespace weakdistill
