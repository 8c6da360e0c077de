#include "pointer_generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

using neural::PointerGeneratorStudent;

constexpr std::size_t kPrefix = 3;  // the copy task: the summary is the text's first 3 chars

Sample pair(const std::string& text, const std::string& summary) {
  Sample s;
  s.text = text;
  s.summary = summary;
  return s;
}

// Random texts of 6 to 9 chars over 26 letters; each summary is the first kPrefix chars.
std::vector<Sample> copy_task(std::size_t n, std::uint32_t seed) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz";
  std::mt19937 rng(seed);
  std::vector<Sample> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string text;
    const std::size_t length = 6 + rng() % 4;
    for (std::size_t j = 0; j < length; ++j) text += alphabet[rng() % alphabet.size()];
    out.push_back(pair(text, text.substr(0, kPrefix)));
  }
  return out;
}

// A small, fast configuration. max_vocab keeps only 16 of the 26 letters, so
// the model must learn to copy characters it only sees as <unk>.
nlohmann::json tiny_options(std::uint64_t seed = 3) {
  return {{"embedding_dim", 16}, {"hidden", 32}, {"dropout", 0.0},  {"epochs", 15},
          {"batch_size", 16},    {"lr", 0.01},   {"max_vocab", 20}, {"beam", 3},
          {"max_length", 8},     {"seed", seed}, {"threads", 1}};
}

class PointerGeneratorCopy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Progress::set_enabled(false);
    student_ = std::make_unique<PointerGeneratorStudent>(tiny_options());
    student_->train(copy_task(200, 1), {});
  }
  static void TearDownTestSuite() { student_.reset(); }
  static std::unique_ptr<PointerGeneratorStudent> student_;
};
std::unique_ptr<PointerGeneratorStudent> PointerGeneratorCopy::student_;

TEST_F(PointerGeneratorCopy, GreedyAndBeamReproduceTheCopiedPrefix) {
  // Texts never seen in training.
  for (const Sample& s : copy_task(20, 99)) {
    EXPECT_EQ(student_->greedy(s.text).summary, s.summary) << s.text;
    const Prediction beam = student_->beam_search(s.text, 3);
    EXPECT_EQ(beam.summary, s.summary) << s.text;
    EXPECT_LE(beam.log_prob, 0.0);
    EXPECT_TRUE(std::isfinite(beam.log_prob));
  }
}

TEST_F(PointerGeneratorCopy, CopiesACharacterAbsentFromTheVocabulary) {
  ASSERT_EQ(student_->vocabulary().id("Ω"), -1);
  ASSERT_EQ(student_->vocabulary().id("é"), -1);
  for (const std::string text : {"Ωbcdefg", "aΩcdefgh", "éΩbcdefg"}) {
    const std::u32string chars = utf8::decode(text);
    const std::string expected = utf8::encode(chars.substr(0, kPrefix));
    EXPECT_EQ(student_->greedy(text).summary, expected) << text;
    EXPECT_EQ(student_->beam_search(text, 3).summary, expected) << text;
  }
}

TEST_F(PointerGeneratorCopy, BeamOfOneIsGreedy) {
  for (const Sample& s : copy_task(20, 7)) {
    const Prediction greedy = student_->greedy(s.text);
    const Prediction beam = student_->beam_search(s.text, 1);
    EXPECT_EQ(beam.summary, greedy.summary) << s.text;
    EXPECT_EQ(beam.log_prob, greedy.log_prob) << s.text;
  }
}

TEST_F(PointerGeneratorCopy, DecodedLengthRespectsMaxLength) {
  PointerGeneratorStudent& s = *student_;
  s.set_decoding(3, 2);
  for (const Sample& x : copy_task(10, 5)) {
    EXPECT_LE(utf8::length(s.greedy(x.text).summary), 2u);
    EXPECT_LE(utf8::length(s.beam_search(x.text, 3).summary), 2u);
    EXPECT_EQ(s.greedy(x.text).summary, x.summary.substr(0, 2));
  }
  s.set_decoding(3, 8);
  EXPECT_THROW(s.set_decoding(0, 8), InputError);
  EXPECT_THROW(s.set_decoding(1, 0), InputError);
}

TEST_F(PointerGeneratorCopy, SaveAndLoadGiveIdenticalPredictions) {
  weakdistill::testing::TempDir dir;
  save_student(*student_, dir.file("m"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("m/weights.pt")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("m/vocab.json")));
  auto back = load_student(dir.file("m"), "pointer-generator", Task::kSummarization);
  const auto inputs = copy_task(10, 11);
  const auto before = student_->predict(inputs);
  const auto after = back->predict(inputs);
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].summary, before[i].summary);
    EXPECT_EQ(after[i].log_prob, before[i].log_prob);
  }
}

TEST(PointerGenerator, IsTheDefaultSummarizer) {
  EXPECT_EQ(student_kinds(Task::kSummarization).at(0), "pointer-generator");
  auto s = make_student(Task::kSummarization, "pointer-generator", nlohmann::json::object());
  EXPECT_EQ(s->kind(), "pointer-generator");
  EXPECT_EQ(s->options()["beam"], 4);
}

TEST(PointerGenerator, SameSeedOnOneThreadGivesIdenticalPredictions) {
  Progress::set_enabled(false);
  auto options = tiny_options(5);
  options["epochs"] = 4;
  options["dropout"] = 0.3;  // dropout draws must repeat too
  options["coverage"] = true;
  const auto train = copy_task(100, 2);
  const auto dev = copy_task(10, 3);
  const auto inputs = copy_task(10, 4);
  std::vector<std::vector<Prediction>> runs;
  std::vector<std::vector<double>> dev_scores;
  for (int run = 0; run < 2; ++run) {
    auto s = make_student(Task::kSummarization, "pointer-generator", options);
    dev_scores.emplace_back();
    s->on_epoch = [&](const EpochReport& r) { dev_scores.back().push_back(r.dev_metric); };
    s->train(train, dev);
    runs.push_back(s->predict(inputs));
  }
  EXPECT_EQ(dev_scores[0], dev_scores[1]);
  EXPECT_FALSE(dev_scores[0].empty());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(runs[0][i].summary, runs[1][i].summary);
    EXPECT_EQ(runs[0][i].log_prob, runs[1][i].log_prob);
  }
}

TEST(PointerGenerator, RejectsBadOptions) {
  const auto make = [](nlohmann::json o) {
    return make_student(Task::kSummarization, "pointer-generator", o);
  };
  for (const auto& o : std::vector<nlohmann::json>{{{"hidden", 3}},
                                                   {{"hidden", 0}},
                                                   {{"beam", 0}},
                                                   {{"dropout", 1.0}},
                                                   {{"epochs", 0}},
                                                   {{"lr", 0}},
                                                   {{"max_vocab", 4}},
                                                   {{"max_length", 0}},
                                                   {{"min_length", 40}},
                                                   {{"batch_size", 0}},
                                                   {{"coverage_weight", -1}},
                                                   {{"no_repeat_ngram", -1}},
                                                   {{"epochs", "ten"}},
                                                   {{"coverage", "maybe"}},
                                                   {{"threads", -1}}}) {
    EXPECT_THROW(make(o), InputError) << o.dump();
  }
  try {
    make({{"hiden", 64}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("hiden"), std::string::npos) << e.what();
  }
}

TEST(PointerGenerator, UntrainedOrEmptyInputs) {
  PointerGeneratorStudent s(nlohmann::json::object());
  EXPECT_THROW(s.predict({pair("abc", "")}), std::logic_error);
  EXPECT_THROW(s.train({pair("", "abc")}, {}), InputError);
}

}  // namespace
}  // namespace weakdistill
