// The bert-cls and bert-ner students on tiny random BERTs written by
// tests/reference/bert_reference.py: they learn, save and load without the
// pretrained folder, and leave that folder untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "support/bert_model.h"
#include "support/temp_dir.h"
#include "weakdistill/core/bio.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/eval/classification_metrics.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using testing::bert_reference;
using testing::shell_quote;
using testing::TempDir;

// vocab.txt: the specials, then every character of `texts` and a few English pieces.
void write_vocab(const std::string& path, const std::vector<std::string>& texts) {
  std::set<std::string> chars;
  for (const auto& t : texts) {
    for (char32_t c : utf8::decode(t)) {
      if (utf8::is_space(c)) continue;
      std::string s;
      utf8::append(s, c);
      if (c < 128 && c >= 'A' && c <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
      chars.insert(s);
    }
  }
  std::ofstream out(path);
  out << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const char* piece : {"iphone", "apple", "google", "##s"}) out << piece << "\n";
  for (const auto& c : chars) {
    out << c << "\n";
  }
}

std::map<std::string, std::uintmax_t> sizes_of(const std::string& dir) {
  std::map<std::string, std::uintmax_t> out;
  for (const auto& e : fs::directory_iterator(dir))
    out[e.path().filename().string()] = e.file_size();
  return out;
}

class BertStudents : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Progress::set_enabled(false); }

  // A random BERT (hidden 64, 2 layers) whose vocabulary covers `texts`.
  std::string make_model(const std::vector<std::string>& texts, const std::string& extra = "") {
    const std::string model = tmp_.file("pretrained");
    write_vocab(tmp_.file("vocab.txt"), texts);
    bert_reference(
        "make " + shell_quote(model) + " --vocab " + shell_quote(tmp_.file("vocab.txt")) +
        " --hidden 64 --layers 2 --heads 4 --intermediate 128 --max-position 64 --seed 3 " + extra);
    return model;
  }
  TempDir tmp_;
};

std::vector<Sample> read_subset(const std::string& path, const std::set<std::string>& labels,
                                std::size_t per_label) {
  std::map<std::string, std::size_t> n;
  std::vector<Sample> out;
  for (Sample& s : read_jsonl(path, Task::kClassification).samples) {
    if (labels.count(s.label) && n[s.label] < per_label) {
      ++n[s.label];
      out.push_back(std::move(s));
    }
  }
  return out;
}

// The check: fine-tuning a tiny random model beats chance on real data.
TEST_F(BertStudents, ClsFineTuningBeatsChanceOnASmallDataCLsSubset) {
  const std::string root = std::string(WEAKDISTILL_SOURCE_DIR) + "/data/cls/";
  if (!fs::exists(root + "train.jsonl")) GTEST_SKIP() << "data/ absent: run scripts/get-data.sh";
  const std::set<std::string> labels = {"sports", "stocks", "education"};
  const auto train = read_subset(root + "train.jsonl", labels, 100);
  const auto dev = read_subset(root + "dev.jsonl", labels, 40);
  ASSERT_EQ(train.size(), 300u);
  std::vector<std::string> texts;
  for (const auto* set : {&train, &dev}) {
    for (const Sample& s : *set) texts.push_back(s.text);
  }
  const std::string model = make_model(texts);
  const auto before = sizes_of(model);

  auto student = make_student(Task::kClassification, "bert-cls",
                              {{"path", model},
                               {"epochs", 6},
                               {"lr", 1e-3},
                               {"batch_size", 16},
                               {"max_length", 48},
                               {"threads", 2},
                               {"seed", 1}});
  std::vector<double> dev_accuracy;
  student->on_epoch = [&](const EpochReport& r) { dev_accuracy.push_back(r.dev_metric); };
  student->train(train, dev);
  ASSERT_EQ(dev_accuracy.size(), 6u);
  const auto out = student->predict(dev);
  std::size_t right = 0;
  for (std::size_t i = 0; i < dev.size(); ++i) right += out[i].label == dev[i].label;
  const double accuracy = static_cast<double>(right) / static_cast<double>(dev.size());
  // Chance is 1/3 with three balanced labels (measured: 0.675 at the best epoch).
  EXPECT_GT(accuracy, 0.5) << "dev accuracy per epoch: " << ::testing::PrintToString(dev_accuracy);

  // Saved, then loaded with the pretrained folder gone: the same predictions.
  save_student(*student, tmp_.file("saved"));
  EXPECT_EQ(sizes_of(model), before) << "the pretrained folder was written to";
  fs::remove_all(model);
  auto loaded = load_student(tmp_.file("saved"), "bert-cls", Task::kClassification);
  const auto again = loaded->predict(dev);
  for (std::size_t i = 0; i < dev.size(); ++i) {
    EXPECT_EQ(again[i].label, out[i].label);
    EXPECT_NEAR(again[i].label_probs.at(out[i].label), out[i].label_probs.at(out[i].label), 1e-5);
  }
}

Sample sentence(const std::vector<std::pair<std::string, std::string>>& parts) {
  Sample s;
  std::size_t at = 0;
  for (const auto& [type, text] : parts) {
    const std::size_t n = utf8::length(text);
    if (!type.empty()) s.entities.push_back(Entity{at, at + n, type, text});
    s.text += text;
    at += n;
  }
  return s;
}

// People, places and English product names (several WordPiece pieces each, one
// word for the tokenizer) in a few patterns.
std::vector<Sample> ner_corpus() {
  const std::vector<std::string> people = {"张伟", "李娜", "王芳", "刘洋"};
  const std::vector<std::string> places = {"北京", "上海", "广州", "深圳"};
  const std::vector<std::string> products = {"iPhone", "Apples", "Google"};
  std::vector<Sample> out;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& per = people[i];
    out.push_back(sentence({{"PER", per},
                            {"", "在"},
                            {"LOC", places[(i + 1) % 4]},
                            {"", "买了"},
                            {"PRODUCT", products[i % 3]},
                            {"", "。"}}));
    out.push_back(
        sentence({{"", "记者"}, {"PER", per}, {"", "从"}, {"LOC", places[i]}, {"", "报道。"}}));
    out.push_back(sentence({{"", "今天天气很好。"}}));
  }
  return out;
}

TEST_F(BertStudents, NerLearnsEntitiesIncludingMultiPieceWordsAndSavesAndLoads) {
  const auto train = ner_corpus();
  std::vector<std::string> texts;
  for (const Sample& s : train) texts.push_back(s.text);
  const std::string model = make_model(texts, "--prefix bert. --extra-head");
  auto student = make_student(Task::kNer, "bert-ner",
                              {{"path", model},
                               {"epochs", 40},
                               {"lr", 1e-3},
                               {"head_lr", 1e-2},
                               {"batch_size", 4},
                               {"dropout", 0.0},
                               {"threads", 1},
                               {"seed", 2}});
  student->train(train, {});
  const auto out = student->predict(train);
  std::size_t right = 0, total = 0;
  for (std::size_t i = 0; i < train.size(); ++i) {
    total += train[i].entities.size();
    for (const Entity& e : out[i].entities) {
      // Every entity is a valid span whose text is the covered text.
      ASSERT_LE(e.end, utf8::length(train[i].text));
      EXPECT_EQ(e.text, utf8::encode(utf8::decode(train[i].text).substr(e.start, e.end - e.start)));
      for (const Entity& g : train[i].entities) right += e == g;
    }
    EXPECT_LE(out[i].log_prob, 1e-9);
  }
  EXPECT_GE(right, total * 9 / 10) << right << " of " << total;

  save_student(*student, tmp_.file("saved"));
  auto loaded = load_student(tmp_.file("saved"), "bert-ner", Task::kNer);
  const auto again = loaded->predict(train);
  for (std::size_t i = 0; i < train.size(); ++i) {
    EXPECT_EQ(again[i].entities, out[i].entities);
    EXPECT_NEAR(again[i].log_prob, out[i].log_prob, 1e-4);
  }
}

TEST_F(BertStudents, NerReadsALongTextInWindowsAndKeepsEntitiesInOrder) {
  std::vector<std::pair<std::string, std::string>> parts;
  for (int i = 0; i < 12; ++i)
    parts.insert(parts.end(), {{"PER", "张伟"}, {"", "和"}, {"LOC", "北京"}, {"", "。"}});
  const Sample long_text = sentence(parts);  // 72 characters: 3 windows of 30 tokens
  std::vector<Sample> train = ner_corpus();
  train.push_back(long_text);
  std::vector<std::string> texts;
  for (const Sample& s : train) texts.push_back(s.text);
  auto student = make_student(Task::kNer, "bert-ner",
                              {{"path", make_model(texts)},
                               {"epochs", 30},
                               {"lr", 1e-3},
                               {"head_lr", 1e-2},
                               {"max_length", 32},
                               {"batch_size", 4},
                               {"dropout", 0.0},
                               {"threads", 1}});
  student->train(train, {});
  const auto out = student->predict({long_text});
  ASSERT_FALSE(out[0].entities.empty());
  for (std::size_t i = 1; i < out[0].entities.size(); ++i) {
    EXPECT_LE(out[0].entities[i - 1].end, out[0].entities[i].start);
  }
  EXPECT_GT(out[0].entities.back().start, 60u) << "the last window was not read";
}

// An entity across a border of the old consecutive windows (every max_length - 2 = 10 tokens) is
// trained and predicted whole: training moves the border back to the entity's start, prediction
// reads overlapping windows (10 tokens, overlap 2 by default) and takes each token's tag from the
// window that reads most around it. Texts of one window predict as before, whatever the overlap.
TEST_F(BertStudents, NerPredictsAnEntityAcrossAWindowBorderWhole) {
  const std::vector<std::string> people = {"张伟", "李娜", "王芳", "刘洋"};
  const std::vector<std::string> places = {"北京", "上海", "广州", "深圳"};
  // Characters 9-10 and 19-20 are entities; each character is one token.
  auto long_text = [&](std::size_t i) {
    return sentence({{"", "今天天气很好。记者"},
                     {"PER", people[i % 4]},
                     {"", "从"},
                     {"LOC", places[i % 4]},
                     {"", "报道天气好"},
                     {"LOC", places[(i + 1) % 4]},
                     {"", "下雨。"}});
  };
  std::vector<Sample> train = ner_corpus();
  for (std::size_t i = 0; i < 4; ++i) train.push_back(long_text(i));
  std::vector<std::string> texts;
  for (const Sample& s : train) texts.push_back(s.text);
  auto student = make_student(Task::kNer, "bert-ner",
                              {{"path", make_model(texts)},
                               {"epochs", 30},
                               {"lr", 1e-3},
                               {"head_lr", 1e-2},
                               {"max_length", 12},
                               {"batch_size", 4},
                               {"dropout", 0.0},
                               {"threads", 1},
                               {"seed", 2}});
  EXPECT_EQ(student->options().at("window_overlap"), -1);
  student->train(train, {});
  std::vector<Sample> longs(train.end() - 4, train.end());
  const auto out = student->predict(longs);
  std::size_t right = 0, total = 0;
  for (std::size_t i = 0; i < longs.size(); ++i) {
    ASSERT_EQ(utf8::length(longs[i].text), 24u);
    total += longs[i].entities.size();
    for (const Entity& g : longs[i].entities) {
      right += std::count(out[i].entities.begin(), out[i].entities.end(), g);
    }
    // The two across the old borders (at 10 and 20) are predicted whole in every text.
    for (const std::size_t k : {0u, 2u}) {
      EXPECT_NE(std::find(out[i].entities.begin(), out[i].entities.end(), longs[i].entities[k]),
                out[i].entities.end())
          << longs[i].entities[k] << " in " << longs[i].text << ": "
          << ::testing::PrintToString(out[i].entities);
    }
  }
  EXPECT_GE(right, total - 1) << right << " of " << total;

  save_student(*student, tmp_.file("saved"));
  // window_overlap 0 reads the old consecutive windows: a window starts at token 10, inside the
  // entity [9, 11), and a CRF path cannot start with I-, so that entity cannot come out whole.
  auto old = load_student(tmp_.file("saved"), "bert-ner", Task::kNer, {{"window_overlap", 0}});
  const auto split = old->predict(longs);
  for (std::size_t i = 0; i < longs.size(); ++i) {
    EXPECT_EQ(std::count(split[i].entities.begin(), split[i].entities.end(), longs[i].entities[0]),
              0);
  }
  // Texts of one window (the short corpus: at most 10 tokens) predict the same at any overlap.
  const std::vector<Sample> shorts(train.begin(), train.end() - 4);
  const auto a = student->predict(shorts);
  const auto b = old->predict(shorts);
  for (std::size_t i = 0; i < shorts.size(); ++i) {
    EXPECT_EQ(a[i].entities, b[i].entities);
    EXPECT_EQ(a[i].log_prob, b[i].log_prob);
  }
  // A model folder saved before window_overlap existed loads with the default.
  const std::string manifest = tmp_.file("saved/model.json");
  nlohmann::json m = nlohmann::json::parse(std::ifstream(manifest));
  m["options"].erase("window_overlap");
  std::ofstream(manifest) << m.dump();
  auto older = load_student(tmp_.file("saved"), "bert-ner", Task::kNer);
  EXPECT_EQ(older->options().at("window_overlap"), -1);
  const auto again = older->predict(longs);
  for (std::size_t i = 0; i < longs.size(); ++i) {
    EXPECT_EQ(again[i].entities, out[i].entities);
    EXPECT_NEAR(again[i].log_prob, out[i].log_prob, 1e-4);
  }
}

TEST_F(BertStudents, OptionsAreCheckedWithTheKeyNamed) {
  auto message = [](Task task, const char* kind, const nlohmann::json& o) {
    try {
      make_student(task, kind, o);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(Task::kClassification, "bert-cls", nlohmann::json::object())
                .find("student.path: required"),
            std::string::npos);
  EXPECT_NE(
      message(Task::kNer, "bert-ner", {{"path", "x"}, {"max_length", 12}, {"window_overlap", 10}})
          .find("student.window_overlap: must be -1 (auto) or 0 .. max_length - 3 (9)"),
      std::string::npos);
  EXPECT_NE(message(Task::kNer, "bert-ner", {{"path", "x"}, {"warmup", 1.5}})
                .find("student.warmup: must be in [0, 1)"),
            std::string::npos);
  EXPECT_NE(message(Task::kClassification, "bert-cls", {{"path", "x"}, {"pooling", "max"}})
                .find("student.pooling"),
            std::string::npos);
  EXPECT_NE(message(Task::kClassification, "bert-cls", {{"path", "x"}, {"epoch", 3}}).find("epoch"),
            std::string::npos);
  // fine_tune: a boolean, true unless set, saved with the options.
  for (const auto& [task, kind] :
       {std::pair{Task::kClassification, "bert-cls"}, std::pair{Task::kNer, "bert-ner"}}) {
    EXPECT_EQ(make_student(task, kind, {{"path", "x"}})->options().at("fine_tune"), true);
    EXPECT_EQ(
        make_student(task, kind, {{"path", "x"}, {"fine_tune", false}})->options().at("fine_tune"),
        false);
    EXPECT_NE(message(task, kind, {{"path", "x"}, {"fine_tune", 3}}).find("student.fine_tune"),
              std::string::npos);
  }
  EXPECT_NE(message(Task::kClassification, "bert-cls",
                    {{"path", "x"}, {"fine_tune", false}, {"pooling", "cls"}})
                .find("student.pooling: must be pooler with fine_tune=false"),
            std::string::npos);
  // The folder is read when training starts; its errors name the option.
  auto student = make_student(Task::kClassification, "bert-cls", {{"path", tmp_.file("missing")}});
  Sample a, b;
  a.text = "甲";
  a.label = "A";
  b.text = "乙";
  b.label = "B";
  try {
    student->train({a, b}, {});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("student.path: " + tmp_.file("missing") + ": no such folder"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace weakdistill
