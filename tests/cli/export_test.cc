// `weakdistill export`: a fine-tuned bert-cls / bert-ner written as a Hugging Face folder is read
// by an independent reader (tests/reference/hf_export_reference.py: tensor names and shapes from
// transformers' classes, a float64 forward from BERT's equations, the CRF decoded on its own),
// which must reproduce `weakdistill predict`; fasttext's export is read by the fasttext command;
// the kinds without a foreign form, and bad arguments, are exit 2 with nothing written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support/bert_model.h"
#include "support/run.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"
#include "weakdistill/core/safetensors.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using testing::bert_reference;
using ::testing::HasSubstr;
using testing::run_cli;
using testing::run_reference;
using testing::shell_quote;
using testing::TempDir;

// People and places in a few patterns; every character is one WordPiece (the reader's condition).
std::string ner_dataset(int copies, int shift) {
  const std::vector<std::string> people = {"张伟", "李娜", "王芳", "刘洋", "陈静"};
  const std::vector<std::string> places = {"北京", "上海", "广州", "深圳", "杭州"};
  std::string out;
  for (int c = 0; c < copies; ++c) {
    for (std::size_t i = 0; i < people.size(); ++i) {
      const std::string& per = people[(i + c + shift) % people.size()];
      const std::string& loc = places[(i + 2 * c + shift) % places.size()];
      nlohmann::json a = {{"text", per + "在" + loc + "工作。"},
                          {"entities",
                           {{{"start", 0}, {"end", 2}, {"type", "PER"}, {"text", per}},
                            {{"start", 3}, {"end", 5}, {"type", "LOC"}, {"text", loc}}}}};
      nlohmann::json b = {{"text", "记者从" + loc + "报道，" + per + "说天气很好。"},
                          {"entities",
                           {{{"start", 3}, {"end", 5}, {"type", "LOC"}, {"text", loc}},
                            {{"start", 8}, {"end", 10}, {"type", "PER"}, {"text", per}}}}};
      out += a.dump() + "\n" + b.dump() + "\n";
    }
  }
  return out;
}

std::string vocab_of(const std::string& jsonl) {
  std::set<std::string> chars;
  std::istringstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    for (char32_t c : utf8::decode(nlohmann::json::parse(line).at("text").get<std::string>())) {
      std::string s;
      utf8::append(s, c);
      chars.insert(s);
    }
  }
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const auto& c : chars) vocab += c + "\n";
  return vocab;
}

std::set<std::string> names_in(const std::string& safetensors) {
  std::set<std::string> out;
  const SafetensorsFile file(safetensors);
  for (const auto& t : file.tensors()) out.insert(t.name);
  return out;
}

class Export : public ::testing::Test {
 protected:
  // A tiny random BERT (or ERNIE) whose vocabulary covers `data`.
  std::string pretrained(const std::string& data, const std::string& extra) {
    dir_.write("vocab.txt", vocab_of(data));
    const std::string model = dir_.file("pretrained");
    bert_reference(
        "make " + shell_quote(model) + " --vocab " + shell_quote(dir_.file("vocab.txt")) +
        " --hidden 32 --layers 2 --heads 4 --intermediate 64 --max-position 64 " + extra);
    return model;
  }

  testing::Result train(const std::string& task, const std::string& kind, const std::string& sets) {
    return run_cli("train --task " + task + " --student " + kind + " --train " +
                   shell_quote(dir_.file("train.jsonl")) + " --out " +
                   shell_quote(dir_.file("model")) + " " + sets);
  }

  // export, predict, then the reader's check of the folder against the predictions.
  void export_and_check(const std::string& input) {
    const auto e = run_cli("export " + shell_quote(dir_.file("model")) + " --format hf " +
                           shell_quote(dir_.file("hf")));
    ASSERT_EQ(e.code, 0) << e.err;
    const auto p =
        run_cli("predict --model " + shell_quote(dir_.file("model")) + " --input " +
                shell_quote(input) + " --output " + shell_quote(dir_.file("pred.jsonl")));
    ASSERT_EQ(p.code, 0) << p.err;
    const auto r =
        run_reference("hf_export_reference.py",
                      "check " + shell_quote(dir_.file("hf")) + " --input " + shell_quote(input) +
                          " --pred " + shell_quote(dir_.file("pred.jsonl")) + " --tol 1e-4");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("OK:"));
  }

  TempDir dir_;
};

TEST_F(Export, BertClsIsABertForSequenceClassificationThatAReaderReproduces) {
  const std::string data = testing::dataset(0, 10);
  dir_.write("train.jsonl", data);
  const std::string test = dir_.write("test.jsonl", testing::dataset(500, 8));
  const std::string model = pretrained(data + testing::dataset(500, 8), "--prefix bert.");
  const auto t = train("classification", "bert-cls",
                       "--set path=" + shell_quote(model) +
                           " --set epochs=3 --set lr=0.001 --set batch_size=8 --set threads=1");
  ASSERT_EQ(t.code, 0) << t.err;
  export_and_check(test);

  // The names and shapes of transformers' BertForSequenceClassification (modeling_bert.py):
  // the encoder under "bert.", the pooler, and "classifier".
  const auto names = names_in(dir_.file("hf/model.safetensors"));
  for (const char* n :
       {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias", "bert.encoder.layer.1.attention.self.query.weight",
        "bert.encoder.layer.1.attention.output.LayerNorm.bias",
        "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
        "bert.pooler.dense.weight", "classifier.weight", "classifier.bias"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  EXPECT_EQ(names.size(), 5u + 16u * 2u + 2u + 2u);
  const auto config = nlohmann::json::parse(testing::read_file(dir_.file("hf/config.json")));
  EXPECT_EQ(config.at("architectures"), nlohmann::json::array({"BertForSequenceClassification"}));
  EXPECT_EQ(config.at("id2label"), (nlohmann::json{{"0", "A"}, {"1", "B"}}));
  EXPECT_EQ(config.at("label2id"), (nlohmann::json{{"A", 0}, {"B", 1}}));
  for (const char* f :
       {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "README.md"}) {
    EXPECT_TRUE(fs::exists(dir_.file("hf/") + f)) << f;
  }

  // The folder is a pretrained starting point: train reads its encoder, leaves the head aside.
  const auto again =
      run_cli("train --task classification --student bert-cls --train " +
              shell_quote(dir_.file("train.jsonl")) + " --out " + shell_quote(dir_.file("model2")) +
              " --set path=" + shell_quote(dir_.file("hf")) + " --set epochs=1 --set threads=1");
  EXPECT_EQ(again.code, 0) << again.err;
}

TEST_F(Export, ErnieKeepsItsTaskTypesAndIsAnErnieForSequenceClassification) {
  const std::string data = testing::dataset(0, 8);
  dir_.write("train.jsonl", data);
  const std::string test = dir_.write("test.jsonl", testing::dataset(700, 5));
  const std::string model =
      pretrained(data + testing::dataset(700, 5), "--prefix ernie. --ernie-task-types 3");
  const auto t = train("classification", "bert-cls",
                       "--set path=" + shell_quote(model) +
                           " --set epochs=2 --set lr=0.001 --set batch_size=8 --set threads=1");
  ASSERT_EQ(t.code, 0) << t.err;
  export_and_check(test);
  const auto config = nlohmann::json::parse(testing::read_file(dir_.file("hf/config.json")));
  EXPECT_EQ(config.at("architectures"), nlohmann::json::array({"ErnieForSequenceClassification"}));
  EXPECT_EQ(config.at("use_task_id"), true);
  EXPECT_EQ(config.at("task_type_vocab_size"), 3);
  EXPECT_TRUE(names_in(dir_.file("hf/model.safetensors"))
                  .count("ernie.embeddings.task_type_embeddings.weight"));
}

TEST_F(Export, BertNerIsABertForTokenClassificationWithItsCrfAndWindows) {
  const std::string data = ner_dataset(3, 0);
  dir_.write("train.jsonl", data);
  const std::string test = dir_.write("test.jsonl", ner_dataset(1, 2));
  const std::string model = pretrained(data, "--prefix bert.");
  // max_length 10: the second pattern's 15 characters are read in two windows of 8.
  const auto t = train("ner", "bert-ner",
                       "--set path=" + shell_quote(model) +
                           " --set epochs=8 --set lr=0.002 --set batch_size=8 --set max_length=10 "
                           "--set threads=1");
  ASSERT_EQ(t.code, 0) << t.err;
  export_and_check(test);
  // The comparison covers entities, not only empty predictions.
  std::size_t entities = 0;
  std::istringstream pred(testing::read_file(dir_.file("pred.jsonl")));
  for (std::string line; std::getline(pred, line);) {
    entities += nlohmann::json::parse(line).at("entities").size();
  }
  EXPECT_GE(entities, 5u);

  const auto names = names_in(dir_.file("hf/model.safetensors"));
  for (const char* n : {"classifier.weight", "classifier.bias", "crf.transitions",
                        "crf.start_transitions", "crf.end_transitions"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  // BertForTokenClassification is built without a pooler.
  EXPECT_FALSE(names.count("bert.pooler.dense.weight"));
  const auto config = nlohmann::json::parse(testing::read_file(dir_.file("hf/config.json")));
  EXPECT_EQ(config.at("architectures"), nlohmann::json::array({"BertForTokenClassification"}));
  EXPECT_EQ(config.at("id2label").at("0"), "O");
  const auto tok = nlohmann::json::parse(testing::read_file(dir_.file("hf/tokenizer_config.json")));
  EXPECT_EQ(tok.at("model_max_length"), 10);
  EXPECT_THAT(testing::read_file(dir_.file("hf/README.md")), HasSubstr("crf.transitions"));

  const auto again =
      run_cli("train --task ner --student bert-ner --train " +
              shell_quote(dir_.file("train.jsonl")) + " --out " + shell_quote(dir_.file("model2")) +
              " --set path=" + shell_quote(dir_.file("hf")) + " --set epochs=1 --set threads=1");
  EXPECT_EQ(again.code, 0) << again.err;
}

// The fasttext command, given the lines README.md describes, gives the probabilities `predict`
// gives (plus fastText's 1e-5), under the names labels.tsv maps its labels to.
TEST_F(Export, FasttextIsTheBinTheFasttextCommandReads) {
  dir_.write("train.jsonl", testing::dataset(0, 20));
  std::string test;
  std::string lines;
  for (int i = 0; i < 6; ++i) {
    // A space between two characters is the word U+2581.
    const std::string a = testing::text_of(testing::kA, 900 + i, 3);
    const std::string b = testing::text_of(testing::kB, 900 + i, 3);
    test += nlohmann::json({{"text", a + " " + b}}).dump() + "\n";
    std::string line;
    for (char32_t c : utf8::decode(a + "\u2581" + b)) {
      std::string s;
      utf8::append(s, c);
      line += (line.empty() ? "" : " ") + s;
    }
    lines += line + "\n";
  }
  const std::string input = dir_.write("test.jsonl", test);
  dir_.write("lines.txt", lines);
  const auto t = train("classification", "fasttext", "--set threads=1 --set epochs=5");
  ASSERT_EQ(t.code, 0) << t.err;
  const auto e = run_cli("export " + shell_quote(dir_.file("model")) + " --format hf " +
                         shell_quote(dir_.file("ft")));
  ASSERT_EQ(e.code, 0) << e.err;
  const auto p = run_cli("predict --model " + shell_quote(dir_.file("model")) + " --input " +
                         shell_quote(input) + " --output " + shell_quote(dir_.file("pred.jsonl")));
  ASSERT_EQ(p.code, 0) << p.err;

  std::map<std::string, std::string> names;
  std::istringstream tsv(testing::read_file(dir_.file("ft/labels.tsv")));
  for (std::string line; std::getline(tsv, line);) {
    names[line.substr(0, line.find('\t'))] = line.substr(line.find('\t') + 1);
  }
  EXPECT_EQ(names.size(), 2u);
  const std::string cmd = "fasttext predict-prob " + shell_quote(dir_.file("ft/model.bin")) + " " +
                          shell_quote(dir_.file("lines.txt")) + " 2 > " +
                          shell_quote(dir_.file("ft.txt"));
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::istringstream ft(testing::read_file(dir_.file("ft.txt")));
  std::istringstream ours(testing::read_file(dir_.file("pred.jsonl")));
  int n = 0;
  for (std::string a, b; std::getline(ft, a) && std::getline(ours, b); ++n) {
    const auto scores = nlohmann::json::parse(b).at("scores");
    std::istringstream words(a);
    std::string label;
    double p = 0;
    int pairs = 0;
    while (words >> label >> p) {
      ++pairs;
      ASSERT_TRUE(names.count(label)) << label;
      EXPECT_NEAR(p, scores.at(names[label]).get<double>() + 1e-5, 2e-5) << a << " | " << b;
    }
    EXPECT_EQ(pairs, 2) << a;
  }
  EXPECT_EQ(n, 6);
}

TEST_F(Export, KindsWithoutAForeignFormAndBadArgumentsAreExit2WithNothingWritten) {
  dir_.write("train.jsonl",
             "{\"text\": \"今天北京下雨。明天转晴。\", \"summary\": \"北京下雨\"}\n");
  ASSERT_EQ(train("summarization", "lead", "").code, 0);
  auto r = run_cli("export " + shell_quote(dir_.file("model")) + " --format hf " +
                   shell_quote(dir_.file("out")));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("a lead student has no hf form"));
  EXPECT_THAT(r.err, HasSubstr("fasttext, bert-cls, bert-ner"));
  EXPECT_FALSE(fs::exists(dir_.file("out")));

  r = run_cli("export " + shell_quote(dir_.file("model")) + " --format onnx " +
              shell_quote(dir_.file("out")));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown format 'onnx' (known: hf)"));

  r = run_cli("export " + shell_quote(dir_.file("nothere")) + " " + shell_quote(dir_.file("out")));
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(dir_.file("out")));
}

TEST_F(Export, AnOutputFolderWithFilesIsKeptUnlessForced) {
  dir_.write("train.jsonl", testing::dataset(0, 10));
  ASSERT_EQ(train("classification", "fasttext", "--set threads=1 --set epochs=2").code, 0);
  dir_.write("out/mine.txt", "keep me");
  auto r =
      run_cli("export " + shell_quote(dir_.file("model")) + " " + shell_quote(dir_.file("out")));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("exists and is not empty"));
  EXPECT_EQ(testing::read_file(dir_.file("out/mine.txt")), "keep me");
  r = run_cli("export " + shell_quote(dir_.file("model")) + " " + shell_quote(dir_.file("out")) +
              " --force");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir_.file("out/mine.txt")));
  EXPECT_TRUE(fs::exists(dir_.file("out/model.bin")));
  // Nothing is left beside it.
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
}

TEST_F(Export, ABertClsWithoutThePoolerIsRefusedWithTheFix) {
  const std::string data = testing::dataset(0, 4);
  dir_.write("train.jsonl", data);
  const std::string model = pretrained(data, "--prefix bert.");
  ASSERT_EQ(this->train("classification", "bert-cls",
                        "--set path=" + shell_quote(model) +
                            " --set pooling=cls --set epochs=1 --set threads=1")
                .code,
            0);
  const auto r =
      run_cli("export " + shell_quote(dir_.file("model")) + " " + shell_quote(dir_.file("out")));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("pooling: cls"));
  EXPECT_THAT(r.err, HasSubstr("--set pooling=pooler"));
  EXPECT_FALSE(fs::exists(dir_.file("out")));
}

}  // namespace
}  // namespace weakdistill
