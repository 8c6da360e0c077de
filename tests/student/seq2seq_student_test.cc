// The `seq2seq` student on tiny random BART / Pegasus folders (tests/reference/
// seq2seq_reference.py): fine-tuning learns a small task the untrained model cannot do, a saved
// model predicts as before, `fine_tune: false` is the checkpoint as it is, and options are checked.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kinds_internal.h"
#include "seq2seq.h"
#include "seq2seq_decode.h"
#include "seq2seq_load.h"
#include "support/bert_model.h"
#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/random.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

using testing::shell_quote;
using testing::TempDir;

std::string make_model(const TempDir& tmp, const std::string& name, const std::string& args) {
  const std::string dir = tmp.file(name);
  const testing::ReferenceRun r =
      testing::run_reference("seq2seq_reference.py", "make " + shell_quote(dir) + " " + args);
  if (r.status != 0) throw std::runtime_error(r.output);
  return dir;
}

// The CJK characters of the maker's vocabulary (one token each).
std::vector<std::string> characters(const std::string& model) {
  std::ifstream in(model + "/vocab.txt");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (line.size() == 3 && static_cast<unsigned char>(line[0]) >= 0xE4) out.push_back(line);
  }
  return out;
}

// Texts of 6..9 random characters; the summary is the text's first three characters.
std::vector<Sample> copy_task(const std::vector<std::string>& chars, std::size_t n,
                              std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Sample> out;
  for (std::size_t i = 0; i < n; ++i) {
    Sample s;
    s.id = "s" + std::to_string(seed) + "-" + std::to_string(i);
    const std::size_t len = 6 + rng.below(4);
    for (std::size_t k = 0; k < len; ++k) s.text += chars[rng.below(chars.size())];
    s.summary = s.text.substr(0, 9);
    out.push_back(std::move(s));
  }
  return out;
}

double rouge_l(const std::vector<Sample>& gold, const std::vector<Prediction>& predictions) {
  return student_internal::dev_metric(Task::kSummarization, gold, predictions).first;
}

TEST(Seq2SeqStudent, FineTuningLearnsACopyTaskAndTheSavedModelPredictsTheSame) {
  TempDir tmp;
  for (const std::string arch : {"bart", "pegasus"}) {
    const std::string model = make_model(tmp, arch, "--arch " + arch + " --std 0.02");
    const std::vector<std::string> chars = characters(model);
    ASSERT_GE(chars.size(), 20u);
    const std::vector<Sample> train = copy_task(chars, 96, 1), test = copy_task(chars, 24, 2);
    nlohmann::json options = {{"path", model},   {"epochs", 40},   {"lr", 4e-3},
                              {"batch_size", 8}, {"beam", 2},      {"max_length", 6},
                              {"threads", 1},    {"warmup", 0.05}, {"label_smoothing", 0.0}};
    auto untrained = make_student(
        Task::kSummarization, "seq2seq",
        nlohmann::json{{"path", model}, {"fine_tune", false}, {"max_length", 6}, {"threads", 1}});
    untrained->train({}, {});
    const double chance = rouge_l(test, untrained->predict(test));

    auto student = make_student(Task::kSummarization, "seq2seq", options);
    std::vector<double> losses;
    student->on_epoch = [&](const EpochReport& r) { losses.push_back(r.train_loss); };
    student->train(train, {});
    ASSERT_EQ(losses.size(), 40u);
    EXPECT_LT(losses.back(), 0.5 * losses.front()) << arch;
    const std::vector<Prediction> predicted = student->predict(test);
    const double learned = rouge_l(test, predicted);
    EXPECT_GT(learned, 0.8) << arch << " (untrained: " << chance << ")";
    EXPECT_LT(chance, 0.4) << arch;
    for (const Prediction& p : predicted) EXPECT_LE(p.log_prob, 0);

    save_student(*student, tmp.file(arch + "-student"));
    auto loaded = load_student(tmp.file(arch + "-student"), "seq2seq", Task::kSummarization);
    const std::vector<Prediction> again = loaded->predict(test);
    for (std::size_t i = 0; i < test.size(); ++i) {
      EXPECT_EQ(again[i].summary, predicted[i].summary) << i;
      EXPECT_NEAR(again[i].log_prob, predicted[i].log_prob, 1e-5) << i;
    }
    EXPECT_EQ(loaded->options().at("beam"), 2);
  }
}

TEST(Seq2SeqStudent, FineTuneFalseIsTheCheckpointAsItIs) {
  TempDir tmp;
  const std::string model = make_model(tmp, "bart", "--arch bart --std 0.3 --seed 9");
  const std::vector<Sample> inputs = copy_task(characters(model), 6, 3);
  auto student = make_student(
      Task::kSummarization, "seq2seq",
      nlohmann::json{{"path", model}, {"fine_tune", false}, {"beam", 1}, {"max_length", 5}});
  student->train(inputs, {});  // the data is not read
  const std::vector<Prediction> predicted = student->predict(inputs);

  // The same greedy decoding straight from the folder; the summary is its text without the
  // framing tokens.
  auto p = student_internal::load_pretrained_seq2seq(model);
  p.model->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::vector<std::int64_t>> rows;
  for (const Sample& s : inputs) rows.push_back(p.tokenizer->encode_ids(s.text, 512));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const torch::Tensor ids = torch::tensor(rows[i], torch::kInt64).view({1, -1});
    const torch::Tensor mask = torch::ones_like(ids);
    student_internal::GenerateOptions g;
    g.max_new_tokens = 5 + 2;  // max_length, BART's leading [CLS] and the end
    const auto out = student_internal::generate(*p.model, ids, mask, g);
    EXPECT_EQ(predicted[i].summary, p.tokenizer->decode(out[0].tokens)) << i;
    EXPECT_NEAR(predicted[i].log_prob, out[0].sum_logprob, 1e-5) << i;
  }
  save_student(*student, tmp.file("student"));
  auto loaded = load_student(tmp.file("student"));
  EXPECT_EQ(loaded->predict(inputs)[0].summary, predicted[0].summary);
  EXPECT_EQ(loaded->options().at("fine_tune"), false);
}

TEST(Seq2SeqStudent, BadOptionsAndFoldersAreErrorsNamingTheKey) {
  TempDir tmp;
  auto expect_error = [](const nlohmann::json& options, const std::string& what) {
    try {
      auto s = make_student(Task::kSummarization, "seq2seq", options);
      s->train({Sample{}}, {});
      ADD_FAILURE() << "no error for " << options.dump();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(nlohmann::json::object(), "student.path: required");
  expect_error({{"path", "x"}, {"beam", 0}}, "student.beam: must be in 1..64");
  expect_error({{"path", "x"}, {"min_length", 9}, {"max_length", 4}}, "student.min_length");
  expect_error({{"path", "x"}, {"label_smoothing", 1.0}}, "student.label_smoothing");
  expect_error({{"path", "x"}, {"beam_size", 4}}, "beam_size");
  expect_error({{"path", tmp.file("none")}},
               "student.path: " + tmp.file("none") + ": no such folder");
  const std::string model = make_model(tmp, "bart", "--arch bart");
  Sample no_summary;
  no_summary.text = "一丁";
  try {
    auto s = make_student(Task::kSummarization, "seq2seq", {{"path", model}});
    s->train({no_summary}, {});
    ADD_FAILURE() << "no error for a sample without a summary";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("training sample 1 (no id) has no summary"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace weakdistill
