// The `uie` ner student (src/student/neural/uie*.{h,cc}) against an independent
// reference (tests/reference/uie_reference.py): span decoding on hand-made and
// random probability tables, the forward of tiny random UIE checkpoints (float64
// in Python), zero-shot extraction through the CLI, fine-tuning with windows,
// the distillation loop, and bad input.
//
// Suites are named uie* so that `ctest -R uie` selects them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support/bert_model.h"
#include "support/run.h"
#include "support/temp_dir.h"
#include "uie_decode.h"
#include "uie_model.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using student_internal::UieCandidate;
using student_internal::UieSpan;
using ::testing::HasSubstr;
using testing::read_npy;
using testing::run_cli;
using testing::run_reference;
using testing::shell_quote;
using testing::TempDir;

// Runs tests/reference/uie_reference.py; throws with its output on failure.
void uie_reference(const std::string& args) {
  const auto r = run_reference("uie_reference.py", args);
  if (r.status != 0) throw std::runtime_error("uie_reference.py " + args + " failed:\n" + r.output);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// vocab.txt: the specials, the default prompts' characters, then every character of `texts`.
std::string write_vocab(const TempDir& dir, const std::vector<std::string>& texts) {
  std::set<std::string> chars;
  std::vector<std::string> all = texts;
  all.push_back("人物地点机构");
  for (const auto& t : all) {
    for (char32_t c : utf8::decode(t)) {
      if (utf8::is_space(c)) continue;
      std::string s;
      utf8::append(s, c);
      chars.insert(s);
    }
  }
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const auto& c : chars) vocab += c + "\n";
  return dir.write("vocab.txt", vocab);
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

// ---------------------------------------------------------------------------------------------
// Span decoding.

struct Table {
  std::vector<float> start, end;
};

// The reference's spans and kept candidates for `tables` and `candidate_lists`.
nlohmann::json reference_decode(const TempDir& dir, const std::vector<Table>& tables,
                                const std::vector<std::vector<UieCandidate>>& candidate_lists,
                                double threshold) {
  nlohmann::json job = {{"threshold", threshold},
                        {"rows", nlohmann::json::array()},
                        {"candidates", nlohmann::json::array()}};
  for (const Table& t : tables) {
    // float -> double is exact, so the reference multiplies the very values the C++ code does.
    std::vector<double> s(t.start.begin(), t.start.end()), e(t.end.begin(), t.end.end());
    job["rows"].push_back({{"start", s}, {"end", e}});
  }
  for (const auto& list : candidate_lists) {
    nlohmann::json l = nlohmann::json::array();
    for (const UieCandidate& c : list) l.push_back({c.begin, c.end, c.type, c.prob});
    job["candidates"].push_back(l);
  }
  std::ofstream(dir.file("decode_in.json")) << job.dump();
  uie_reference("decode " + shell_quote(dir.file("decode_in.json")) + " " +
                shell_quote(dir.file("decode_out.json")));
  return read_json(dir.file("decode_out.json"));
}

void expect_same_spans(const std::vector<Table>& tables, const nlohmann::json& reference,
                       double threshold) {
  ASSERT_EQ(reference.at("spans").size(), tables.size());
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const auto ours = student_internal::uie_spans(tables[i].start.data(), tables[i].end.data(),
                                                  tables[i].start.size(), threshold);
    const auto& ref = reference["spans"][i];
    ASSERT_EQ(ours.size(), ref.size()) << "table " << i << ": " << ref.dump();
    for (std::size_t k = 0; k < ours.size(); ++k) {
      EXPECT_EQ(ours[k].start, ref[k][0].get<std::size_t>()) << "table " << i;
      EXPECT_EQ(ours[k].end, ref[k][1].get<std::size_t>()) << "table " << i;
      EXPECT_NEAR(ours[k].prob, ref[k][2].get<double>(), 1e-15) << "table " << i;
    }
  }
}

TEST(uieDecoding, HandMadeTablesAgreeWithTheReference) {
  TempDir dir;
  // Ties at the threshold (0.5 is exact in float: not a start), nested starts, an end before
  // any start, a start at an end, consecutive spans, empty rows and all-zero rows.
  const std::vector<Table> tables = {
      {{}, {}},
      {{0.1f, 0.2f, 0.3f}, {0.1f, 0.2f, 0.3f}},
      {{0.5f, 0.9f, 0.1f}, {0.1f, 0.5f, 0.9f}},
      {{0.9f, 0.9f, 0.1f, 0.1f}, {0.1f, 0.1f, 0.1f, 0.9f}},
      {{0.9f, 0.1f, 0.1f, 0.9f}, {0.9f, 0.9f, 0.1f, 0.9f}},
      {{0.1f, 0.9f, 0.1f}, {0.9f, 0.1f, 0.9f}},
      {{0.9f, 0.1f, 0.9f, 0.1f, 0.9f}, {0.1f, 0.9f, 0.1f, 0.9f, 0.1f}},
      {{0.500001f, 0.5f, 0.6f}, {0.5f, 0.500001f, 0.5f}},
      {{0.7f, 0.8f, 0.9f, 0.6f}, {0.9f, 0.8f, 0.7f, 0.6f}},
  };
  const auto ref = reference_decode(dir, tables, {}, 0.5);
  expect_same_spans(tables, ref, 0.5);
  // A few known answers, so that the reference itself is pinned.
  auto spans = [&](std::size_t i) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (const UieSpan& s : student_internal::uie_spans(
             tables[i].start.data(), tables[i].end.data(), tables[i].start.size(), 0.5))
      out.emplace_back(s.start, s.end);
    return out;
  };
  using P = std::vector<std::pair<std::size_t, std::size_t>>;
  EXPECT_EQ(spans(0), P{});
  EXPECT_EQ(spans(2), (P{{1, 2}}));          // 0.5 at position 0 is not a start
  EXPECT_EQ(spans(3), (P{{1, 3}}));          // the latest start before the end
  EXPECT_EQ(spans(4), (P{{0, 0}, {3, 3}}));  // end 1 has no start after end 0
  EXPECT_EQ(spans(5), (P{{1, 2}}));
}

TEST(uieDecoding, RandomTablesAndOverlapsAgreeWithTheReference) {
  TempDir dir;
  Rng rng(11);
  // Values on a grid that includes the threshold itself, and some off it.
  const float grid[] = {0.05f, 0.3f, 0.45f, 0.5f, 0.55f, 0.8f, 0.97f};
  std::vector<Table> tables;
  for (int i = 0; i < 400; ++i) {
    const std::size_t n = rng.below(16);
    Table t;
    for (std::size_t k = 0; k < n; ++k) {
      t.start.push_back(rng.below(5) == 0 ? static_cast<float>(rng.uniform()) : grid[rng.below(7)]);
      t.end.push_back(rng.below(5) == 0 ? static_cast<float>(rng.uniform()) : grid[rng.below(7)]);
    }
    tables.push_back(std::move(t));
  }
  std::vector<std::vector<UieCandidate>> lists;
  for (int i = 0; i < 300; ++i) {
    std::vector<UieCandidate> l;
    const std::size_t n = rng.below(9);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t b = rng.below(12);
      // Probabilities from a small set, so that ties are common.
      l.push_back({b, b + rng.below(5), rng.below(3), 0.1 * static_cast<double>(1 + rng.below(4))});
    }
    lists.push_back(std::move(l));
  }
  for (double threshold : {0.5, 0.3}) {
    const auto ref = reference_decode(dir, tables, lists, threshold);
    expect_same_spans(tables, ref, threshold);
    for (std::size_t i = 0; i < lists.size(); ++i) {
      const auto kept = student_internal::uie_resolve_overlaps(lists[i]);
      const auto& r = ref.at("kept")[i];
      ASSERT_EQ(kept.size(), r.size()) << "list " << i << ": " << r.dump();
      for (std::size_t k = 0; k < kept.size(); ++k) {
        EXPECT_EQ(kept[k].begin, r[k][0].get<std::size_t>());
        EXPECT_EQ(kept[k].end, r[k][1].get<std::size_t>());
        EXPECT_EQ(kept[k].type, r[k][2].get<std::size_t>());
        if (k > 0) {
          EXPECT_LE(kept[k - 1].end, kept[k].begin);
        }
      }
    }
  }
}

TEST(uieDecoding, TheReferencePassesItsSelftest) {
  // The direct rule against a two-pointer merge, the overlap rule's defining property, and the
  // forward's use of token types (tests/reference/uie_reference.py selftest).
  const auto r = run_reference("uie_reference.py", "selftest");
  EXPECT_EQ(r.status, 0) << r.output;
}

// ---------------------------------------------------------------------------------------------
// The forward of a UIE checkpoint.

struct ForwardVariant {
  std::string name, make_args;
};

class uieForward : public ::testing::TestWithParam<ForwardVariant> {
 protected:
  static void SetUpTestSuite() { Progress::set_enabled(false); }
};

TEST_P(uieForward, PointerProbabilitiesAgreeWithTheFloat64ReferenceWithin1e4) {
  TempDir dir;
  const std::vector<std::string> texts = {"张伟在北京工作。", "李娜从上海来到广州，见到王芳。",
                                          "今天"};
  const std::string vocab = write_vocab(dir, texts);
  const std::string model = dir.file("uie");
  uie_reference("make " + shell_quote(model) + " --vocab " + shell_quote(vocab) +
                " --hidden 32 --layers 2 --heads 4 --intermediate 64 --max-position 40 --seed 5 " +
                GetParam().make_args);
  auto ckpt = student_internal::load_uie_checkpoint(model);
  ckpt.model->eval();
  // [CLS] prompt [SEP] text [SEP], types 0 then 1, three lengths padded to the longest.
  std::vector<std::vector<std::int64_t>> rows, types;
  const std::vector<std::string> prompts = {"人物", "地点", "机构"};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::vector<std::int64_t> p = ckpt.bert.tokenizer->encode_ids(prompts[i], 100);
    std::vector<std::int64_t> t = ckpt.bert.tokenizer->encode_ids(texts[i], 100);
    std::vector<std::int64_t> ids = p;
    ids.insert(ids.end(), t.begin() + 1, t.end());
    std::vector<std::int64_t> tt(p.size(), 0);
    tt.resize(ids.size(), 1);
    rows.push_back(ids);
    types.push_back(tt);
  }
  auto [ids, mask] = student_internal::pad_ids(rows, ckpt.bert.tokenizer->pad_id());
  torch::Tensor tt = torch::zeros_like(ids);
  for (std::size_t i = 0; i < types.size(); ++i) {
    for (std::size_t j = 0; j < types[i].size(); ++j)
      tt[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)] = types[i][j];
  }
  // The padded tensors, as the reference reads them.
  nlohmann::json j = {{"input_ids", nlohmann::json::array()},
                      {"attention_mask", nlohmann::json::array()},
                      {"token_type_ids", nlohmann::json::array()}};
  for (std::int64_t i = 0; i < ids.size(0); ++i) {
    std::vector<std::int64_t> a, m, t;
    for (std::int64_t k = 0; k < ids.size(1); ++k) {
      a.push_back(ids[i][k].item<std::int64_t>());
      m.push_back(mask[i][k].item<std::int64_t>());
      t.push_back(tt[i][k].item<std::int64_t>());
    }
    j["input_ids"].push_back(a);
    j["attention_mask"].push_back(m);
    j["token_type_ids"].push_back(t);
  }
  std::ofstream(dir.file("ids.json")) << j.dump();
  uie_reference("forward " + shell_quote(model) + " --ids " + shell_quote(dir.file("ids.json")) +
                " --out " + shell_quote(dir.file("ref")));
  const auto ref_start = read_npy(dir.file("ref/p_start.npy"));
  const auto ref_end = read_npy(dir.file("ref/p_end.npy"));

  torch::NoGradGuard no_grad;
  auto max_diff = [&](const torch::Tensor& ours, const testing::Npy& ref) {
    EXPECT_EQ(ours.sizes().vec(), ref.shape);
    const torch::Tensor r =
        torch::from_blob(const_cast<float*>(ref.values.data()), ref.shape, torch::kFloat32);
    return ((torch::sigmoid(ours) - r).abs() * mask.to(torch::kFloat32)).max().item<double>();
  };
  const auto [s, e] = ckpt.model->logits(ids, mask, tt);
  const double ds = max_diff(s, ref_start), de = max_diff(e, ref_end);
  std::printf("measured: %s: max |p - reference| start %.2g end %.2g\n", GetParam().name.c_str(),
              ds, de);
  EXPECT_LT(ds, 1e-4) << GetParam().name;
  EXPECT_LT(de, 1e-4) << GetParam().name;
  // The text's token type matters: reading it as type 0 gives other probabilities.
  const auto [s0, e0] = ckpt.model->logits(ids, mask, torch::zeros_like(ids));
  EXPECT_GT(max_diff(s0, ref_start), 1e-3) << "token types are ignored";
  // The probabilities spread, so a wrong pointer weight could not hide.
  EXPECT_GT(torch::sigmoid(s).std().item<double>(), 0.05);
}

INSTANTIATE_TEST_SUITE_P(
    uieCheckpoints, uieForward,
    ::testing::Values(
        ForwardVariant{
            "uie_pytorch: encoder., ERNIE task types, gamma/beta, F32",
            "--prefix encoder. --pointers linear_start --ernie-task-types 3 --gamma-beta"},
        ForwardVariant{"uie_pytorch in F16",
                       "--prefix encoder. --pointers linear_start --dtype F16"},
        ForwardVariant{"PaddleNLP's UIE: ernie., linear_start",
                       "--prefix ernie. --pointers linear_start"},
        ForwardVariant{"bert. with start_linear / end_linear, F16",
                       "--prefix bert. --pointers start_linear --dtype F16"}),
    [](const auto& info) { return "v" + std::to_string(info.index); });

// ---------------------------------------------------------------------------------------------
// Zero-shot through the CLI.

// Zero-shot through the CLI: `train --set fine_tune=false` on `train` (for its types PER and
// LOC, default prompts), then `predict` on `texts`, against the reference's extraction with the
// same windows. `sets` are extra --set options; `extract` extra arguments of the reference.
// Returns the number of entities found and of windows read.
std::pair<std::size_t, std::size_t> expect_zero_shot_as_reference(
    const std::vector<std::string>& texts, const std::string& sets, const std::string& extract,
    int seed) {
  TempDir dir;
  std::vector<Sample> train = {
      sentence({{"PER", "张伟"}, {"", "在"}, {"LOC", "北京"}, {"", "工作。"}}),
      sentence({{"", "记者从"}, {"LOC", "上海"}, {"", "报道，"}, {"PER", "李娜"}, {"", "说。"}})};
  std::vector<std::string> all = texts;
  for (const Sample& s : train) all.push_back(s.text);
  const std::string vocab = write_vocab(dir, all);
  const std::string model = dir.file("uie");
  uie_reference("make " + shell_quote(model) + " --vocab " + shell_quote(vocab) +
                " --hidden 32 --layers 2 --heads 4 --intermediate 64 --max-position 64"
                " --prefix encoder. --ernie-task-types 3 --gamma-beta --seed " +
                std::to_string(seed));
  std::string train_jsonl, test_jsonl;
  for (const Sample& s : train) train_jsonl += to_json(s, Task::kNer).dump() + "\n";
  for (const auto& t : texts) test_jsonl += nlohmann::json{{"text", t}}.dump() + "\n";
  dir.write("train.jsonl", train_jsonl);
  dir.write("test.jsonl", test_jsonl);

  const auto t =
      run_cli("train --task ner --student uie --train " + shell_quote(dir.file("train.jsonl")) +
              " --out " + shell_quote(dir.file("m")) + " --set path=" + shell_quote(model) +
              " --set fine_tune=false --set threads=1 " + sets);
  EXPECT_EQ(t.code, 0) << t.err;
  for (const char* f : {"model.json", "weights.pt", "uie.json", "config.json", "vocab.txt"})
    EXPECT_TRUE(fs::exists(dir.file("m/") + f)) << f;
  const auto p = run_cli("predict --model " + shell_quote(dir.file("m")) + " --input " +
                         shell_quote(dir.file("test.jsonl")) + " --output " +
                         shell_quote(dir.file("pred.jsonl")));
  EXPECT_EQ(p.code, 0) << p.err;

  std::ofstream(dir.file("texts.json")) << nlohmann::json{
      {"texts", texts},
      {"types", {"LOC", "PER"}},
      {"prompts",
       {{"LOC", "地点"}, {"PER", "人物"}}}}.dump();
  uie_reference("extract " + shell_quote(model) + " --input " +
                shell_quote(dir.file("texts.json")) + " --out " +
                shell_quote(dir.file("ref.json")) + " " + extract);
  const auto ref = read_json(dir.file("ref.json"));
  // Away from ties: no probability is within 1e-4 of the threshold (float32 differs by ~1e-6).
  EXPECT_GT(ref.at("min_gap").get<double>(), 1e-4) << "pick another seed";

  std::ifstream in(dir.file("pred.jsonl"));
  std::string line;
  std::size_t i = 0, found = 0, windows = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (i >= texts.size()) break;
    std::vector<std::string> ours, theirs;
    auto show = [](const nlohmann::json& e) {
      return std::to_string(e.at("start").get<int>()) + "-" +
             std::to_string(e.at("end").get<int>()) + " " + e.at("type").get<std::string>() + " " +
             e.at("text").get<std::string>();
    };
    for (const auto& e : j.at("entities")) ours.push_back(show(e));
    for (const auto& e : ref["entities"][i]) theirs.push_back(show(e));
    EXPECT_EQ(ours, theirs) << texts[i];
    EXPECT_NEAR(j.at("scores").at("log_prob").get<double>(), ref["log_prob"][i].get<double>(),
                1e-3);
    found += ours.size();
    windows += ref["windows"][i].get<std::size_t>();
    ++i;
  }
  EXPECT_EQ(i, texts.size());
  std::printf(
      "measured: zero-shot: %zu entities in %zu texts (%zu windows), min |p - threshold| "
      "%.3g\n",
      found, texts.size(), windows, ref.at("min_gap").get<double>());
  return {found, windows};
}

TEST(uieCli, ZeroShotTrainThenPredictGivesTheReferenceEntities) {
  const auto [found, windows] = expect_zero_shot_as_reference(
      {"王芳和刘洋在广州见面。", "深圳的天气很好，张伟说。", "今天没有新闻。",
       "北京上海广州深圳杭州。", "李娜对记者说她明天去杭州。"},
      "", "", 2);
  EXPECT_EQ(windows, 5u);
  EXPECT_GT(found, 2u) << "the random checkpoint finds almost nothing: the test shows little";
}

TEST(uieCli, ZeroShotOnLongTextsReadsOverlappingWindowsAsTheReferenceDoes) {
  // max_length 16 and two-token prompts: windows of 11 tokens, overlapping by 4.
  const auto [found, windows] = expect_zero_shot_as_reference(
      {"王芳和刘洋在广州见面，深圳的天气很好，张伟说。李娜对记者说她明天去杭州。",
       "北京上海广州深圳杭州北京上海广州深圳杭州北京上海。", "今天没有新闻。"},
      "--set max_length=16 --set window_overlap=4", "--max-length 16 --window-overlap 4", 2);
  // 35 tokens: windows at 0, 7, 14, 21, 28; 25 tokens: at 0, 7, 14; 7 tokens: one.
  EXPECT_EQ(windows, 9u);
  EXPECT_GT(found, 5u);
}

// ---------------------------------------------------------------------------------------------
// Fine-tuning.

std::vector<Sample> ner_corpus() {
  const std::vector<std::string> people = {"张伟", "李娜", "王芳", "刘洋"};
  const std::vector<std::string> places = {"北京", "上海", "广州", "深圳"};
  std::vector<Sample> out;
  for (std::size_t i = 0; i < 4; ++i) {
    out.push_back(
        sentence({{"PER", people[i]}, {"", "在"}, {"LOC", places[(i + 1) % 4]}, {"", "工作。"}}));
    out.push_back(sentence({{"", "记者"},
                            {"PER", people[(i + 2) % 4]},
                            {"", "从"},
                            {"LOC", places[i]},
                            {"", "报道。"}}));
    out.push_back(sentence({{"", "今天天气很好。"}}));
  }
  return out;
}

class uieStudent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Progress::set_enabled(false); }
  std::string make_model(const std::vector<Sample>& samples, const std::string& extra = "") {
    std::vector<std::string> texts;
    for (const Sample& s : samples) texts.push_back(s.text);
    const std::string model = tmp_.file("uie");
    uie_reference("make " + shell_quote(model) + " --vocab " +
                  shell_quote(write_vocab(tmp_, texts)) +
                  " --hidden 32 --layers 2 --heads 4 --intermediate 64 --max-position 64"
                  " --std 0.02 --pointer-std 0.02 --seed 4 " +
                  extra);
    return model;
  }
  TempDir tmp_;
};

std::size_t matches(const std::vector<Sample>& gold, const std::vector<Prediction>& out,
                    std::size_t* predicted = nullptr) {
  std::size_t right = 0;
  if (predicted) *predicted = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (predicted) *predicted += out[i].entities.size();
    for (const Entity& e : out[i].entities) {
      EXPECT_EQ(e.text, utf8::encode(utf8::decode(gold[i].text).substr(e.start, e.end - e.start)));
      for (const Entity& g : gold[i].entities) right += e == g;
    }
    for (std::size_t k = 1; k < out[i].entities.size(); ++k)
      EXPECT_LE(out[i].entities[k - 1].end, out[i].entities[k].start);
  }
  return right;
}

TEST_F(uieStudent, FineTuningLowersTheLossAndFindsTheEntitiesThenSavesAndLoads) {
  const auto train = ner_corpus();
  // Other pairings of the same names, never seen together.
  const std::vector<Sample> test = {
      sentence({{"PER", "王芳"}, {"", "在"}, {"LOC", "北京"}, {"", "工作。"}}),
      sentence({{"", "记者"}, {"PER", "张伟"}, {"", "从"}, {"LOC", "深圳"}, {"", "报道。"}}),
      sentence({{"PER", "刘洋"}, {"", "在"}, {"LOC", "上海"}, {"", "工作。"}})};
  std::vector<Sample> both = train;
  both.insert(both.end(), test.begin(), test.end());
  auto student = make_student(Task::kNer, "uie",
                              {{"path", make_model(both)},
                               {"epochs", 80},
                               {"lr", 2e-3},
                               {"head_lr", 2e-2},
                               {"batch_size", 8},
                               {"threads", 1},
                               {"seed", 3}});
  std::vector<double> losses;
  student->on_epoch = [&](const EpochReport& r) { losses.push_back(r.train_loss); };
  student->train(train, {});
  ASSERT_EQ(losses.size(), 80u);
  // Measured: 0.80 in the first epoch, 0.004 in the last.
  EXPECT_LT(losses.back(), losses.front() * 0.1) << ::testing::PrintToString(losses);
  EXPECT_EQ(student->labels(), (std::vector<std::string>{"LOC", "PER"}));

  const auto out = student->predict(test);
  std::size_t predicted = 0;
  const std::size_t right = matches(test, out, &predicted);
  std::printf("measured: fine-tuning: loss %.3f -> %.4f, %zu of 6 entities right, %zu predicted\n",
              losses.front(), losses.back(), right, predicted);
  // Chance is ~0 (any span of any type); 6 gold entities.
  EXPECT_GE(right, 5u) << right << " of 6, " << predicted << " predicted";
  EXPECT_LE(predicted, 7u);
  for (const auto& p : out) EXPECT_LE(p.log_prob, 1e-9);

  save_student(*student, tmp_.file("saved"));
  fs::remove_all(tmp_.file("uie"));
  auto loaded = load_student(tmp_.file("saved"), "uie", Task::kNer);
  EXPECT_EQ(loaded->labels(), student->labels());
  const auto again = loaded->predict(test);
  for (std::size_t i = 0; i < test.size(); ++i) {
    EXPECT_EQ(again[i].entities, out[i].entities);
    EXPECT_NEAR(again[i].log_prob, out[i].log_prob, 1e-4);
  }
}

TEST_F(uieStudent, ALongTextIsReadInWindowsAndAnEntityAtAWouldBeBorderIsFoundWhole) {
  // max_length 16 with two-token prompts: windows of 11 text tokens. Consecutive windows would
  // cut 北京 at tokens 10-11; every 6 characters the pattern repeats, so other entities sit on
  // other borders of other windows.
  std::vector<std::pair<std::string, std::string>> parts = {{"", "记"}};
  for (int i = 0; i < 8; ++i)
    parts.insert(parts.end(), {{"PER", "张伟"}, {"", "在"}, {"LOC", "北京"}, {"", "。"}});
  const Sample long_text = sentence(parts);         // 49 characters
  const Entity& on_border = long_text.entities[3];  // 北京, tokens 10 and 11
  ASSERT_EQ(on_border.start, 10u);
  std::vector<Sample> train = ner_corpus();
  train.push_back(long_text);
  std::vector<Sample> both = train;
  auto student = make_student(Task::kNer, "uie",
                              {{"path", make_model(both)},
                               {"epochs", 80},
                               {"lr", 2e-3},
                               {"head_lr", 2e-2},
                               {"max_length", 16},
                               {"batch_size", 8},
                               {"threads", 1},
                               {"seed", 3}});
  student->train(train, {});
  const auto out = student->predict({long_text});
  EXPECT_THAT(out[0].entities, ::testing::Contains(on_border))
      << "the entity on the would-be border";
  EXPECT_GE(matches({long_text}, out), 14u) << ::testing::PrintToString(out[0].entities);
  EXPECT_GT(out[0].entities.back().start, 40u) << "the last window was not read";
}

TEST_F(uieStudent, BadCheckpointsAndOptionsAreInputErrorsThatSayWhat) {
  auto message = [](const nlohmann::json& o, const std::vector<Sample>& train = {}) {
    try {
      auto s = make_student(Task::kNer, "uie", o);
      s->train(train, {});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto train = ner_corpus();
  const std::string plain = make_model(train, "--pointers none");
  const std::string m = message({{"path", plain}}, train);
  EXPECT_THAT(m, HasSubstr("student.path: " + plain + ": not a UIE checkpoint"));
  EXPECT_THAT(m, HasSubstr("linear_start.weight"));
  EXPECT_THAT(m, HasSubstr("start_linear.weight"));
  EXPECT_THAT(message({{"path", "x"}, {"threshold", 1.5}}),
              HasSubstr("student.threshold: must be in (0, 1)"));
  EXPECT_THAT(message({{"path", "x"}, {"threshold", 0}}), HasSubstr("student.threshold"));
  EXPECT_THAT(message({{"path", "x"}, {"thresold", 0.4}}), HasSubstr("thresold"));
  EXPECT_THAT(message({{"path", "x"}, {"prompts", "人物"}}), HasSubstr("student.prompts"));
  EXPECT_THAT(message({{"path", "x"}, {"prompts", {{"PER", ""}}}}), HasSubstr("student.prompts"));
  EXPECT_THAT(message(nlohmann::json::object()), HasSubstr("student.path: required"));
  // No types at all: no entities in the data and no prompts named.
  Sample plain_text;
  plain_text.text = "今天天气很好。";
  EXPECT_THAT(message({{"path", plain}, {"fine_tune", false}}, {plain_text}),
              HasSubstr("no entity types"));
}

// ---------------------------------------------------------------------------------------------
// The whole loop.

TEST(uieCli, TheOfflineNerLoopRunsWithAUieStudent) {
  const std::string data = testing::data_dir();
  if (data.empty()) GTEST_SKIP() << "data/ absent: run scripts/get-data.sh";
  TempDir dir;
  // Small dev and test sets; the vocabulary covers every character of the data.
  std::vector<std::string> texts;
  std::string dev, test;
  for (const char* split : {"train", "dev", "test"}) {
    const Dataset d = read_jsonl(data + "/ner/" + split + ".jsonl", Task::kNer);
    for (std::size_t i = 0; i < d.samples.size(); ++i) {
      texts.push_back(d.samples[i].text);
      if (std::string(split) == "dev" && i < 30)
        dev += to_json(d.samples[i], Task::kNer).dump() + "\n";
      if (std::string(split) == "test" && i < 30)
        test += to_json(d.samples[i], Task::kNer).dump() + "\n";
    }
  }
  dir.write("dev.jsonl", dev);
  dir.write("test.jsonl", test);
  const std::string model = dir.file("uie");
  uie_reference("make " + shell_quote(model) + " --vocab " + shell_quote(write_vocab(dir, texts)) +
                " --hidden 32 --layers 1 --heads 4 --intermediate 64 --max-position 64"
                " --std 0.02 --pointer-std 0.02 --seed 1");
  const auto r = run_cli(
      "run " + shell_quote(std::string(WEAKDISTILL_SOURCE_DIR) + "/examples/ner-offline.yaml") +
      " --run-dir " + shell_quote(dir.file("run")) +
      " --set student.kind=uie --set student.path=" + shell_quote(model) +
      " --set student.epochs=2 --set student.max_length=64 --set student.lr=0.001" +
      " --set data.dev=" + shell_quote(dir.file("dev.jsonl")) +
      " --set data.test=" + shell_quote(dir.file("test.jsonl")) +
      " --set data.few_shot.n=8 --set distill.per_round=8 --set distill.max_rounds=1");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto metrics = read_json(dir.file("run/metrics.json"));
  EXPECT_EQ(metrics.at("rounds").size(), 2u) << metrics.dump(1);
  EXPECT_TRUE(fs::exists(dir.file("run/best/uie.json")));
  const auto m = read_json(dir.file("run/best/model.json"));
  EXPECT_EQ(m.at("kind"), "uie");
}

}  // namespace
}  // namespace weakdistill
