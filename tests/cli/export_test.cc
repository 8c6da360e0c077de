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

// The JSONL lines of a predictions file.
std::vector<nlohmann::json> lines_of(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The same labels / entities, and every score within 1e-5.
void expect_same_predictions(const std::string& a, const std::string& b) {
  const auto x = lines_of(a), y = lines_of(b);
  ASSERT_EQ(x.size(), y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(x[i].value("label", ""), y[i].value("label", "")) << i;
    EXPECT_EQ(x[i].value("entities", nlohmann::json()), y[i].value("entities", nlohmann::json()))
        << i;
    ASSERT_EQ(x[i].at("scores").size(), y[i].at("scores").size()) << i;
    for (const auto& [k, v] : x[i].at("scores").items()) {
      EXPECT_NEAR(v.get<double>(), y[i].at("scores").at(k).get<double>(), 1e-5) << i << " " << k;
    }
  }
}

// `train --set fine_tune=false` saves an exported folder as a student unchanged: it predicts what
// the student that was exported predicts (bert-ner: with its windows and CRF, max_length and
// window_overlap read from the folder).
TEST_F(Export, FineTuneFalseUsesAnExportedFolderAsItIs) {
  for (const std::string task : {"classification", "ner"}) {
    SCOPED_TRACE(task);
    const bool ner = task == "ner";
    const std::string data = ner ? ner_dataset(3, 0) : testing::dataset(0, 10);
    const std::string test = ner ? ner_dataset(1, 2) : testing::dataset(500, 8);
    dir_.write("train.jsonl", data);
    const std::string input = dir_.write("test.jsonl", test);
    const std::string model = pretrained(data + test, "--prefix bert.");
    const std::string kind = ner ? "bert-ner" : "bert-cls";
    const auto t = train(task, kind,
                         "--set path=" + shell_quote(model) +
                             " --set epochs=4 --set lr=0.002 --set batch_size=8 --set threads=1" +
                             (ner ? " --set max_length=10" : ""));
    ASSERT_EQ(t.code, 0) << t.err;
    const std::string hf = dir_.file("hf-" + task);
    auto r = run_cli("export " + shell_quote(dir_.file("model")) + " " + shell_quote(hf));
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string as_is = dir_.file("as-is-" + task);
    r = run_cli("train --task " + task + " --student " + kind + " --train " +
                shell_quote(dir_.file("train.jsonl")) + " --out " + shell_quote(as_is) +
                " --set fine_tune=false --set path=" + shell_quote(hf) + " --set threads=1");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_THAT(r.err, ::testing::Not(HasSubstr("epoch"))) << "fine_tune=false trained";
    const auto saved = nlohmann::json::parse(testing::read_file(as_is + "/model.json"));
    EXPECT_EQ(saved.at("options").at("fine_tune"), false);
    if (ner) {
      EXPECT_EQ(saved.at("options").at("max_length"), 10);
      EXPECT_EQ(saved.at("options").at("window_overlap"), 2);
    }
    for (const auto& [m, out] : {std::pair{dir_.file("model"), dir_.file("a.jsonl")},
                                 std::pair{as_is, dir_.file("b.jsonl")}}) {
      r = run_cli("predict --model " + shell_quote(m) + " --input " + shell_quote(input) +
                  " --output " + shell_quote(out));
      ASSERT_EQ(r.code, 0) << r.err;
    }
    expect_same_predictions(dir_.file("a.jsonl"), dir_.file("b.jsonl"));
    if (ner) {  // the comparison covers entities (for bert-cls: every probability)
      std::size_t found = 0;
      for (const auto& line : lines_of(dir_.file("a.jsonl"))) found += line.at("entities").size();
      EXPECT_GE(found, 5u);
    }

    // Training data with a label the model does not have is refused, naming it.
    dir_.write("other.jsonl", ner ? "{\"text\": \"张伟\", \"entities\": [{\"start\": 0, \"end\": "
                                    "2, \"type\": \"ORG\"}]}\n"
                                  : "{\"text\": \"甲乙\", \"label\": \"C\"}\n");
    r = run_cli("train --task " + task + " --student " + kind + " --train " +
                shell_quote(dir_.file("other.jsonl")) + " --out " + shell_quote(dir_.file("x")) +
                " --set fine_tune=false --set path=" + shell_quote(hf));
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(ner ? "entity type(s) ORG" : "label(s) C"));

    // A plain encoder folder has no head: exit 2 naming the folder and what it needs.
    r = run_cli("train --task " + task + " --student " + kind + " --train " +
                shell_quote(dir_.file("train.jsonl")) + " --out " + shell_quote(dir_.file("x")) +
                " --set fine_tune=false --set path=" + shell_quote(model));
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr("student.path: " + model +
                                 ": fine_tune=false needs a folder "
                                 "with a classification head, e.g. one written by `weakdistill "
                                 "export`; config.json has no id2label"));
    EXPECT_FALSE(fs::exists(dir_.file("x")));
  }
}

// A token-classification checkpoint from elsewhere: "O" not at id 0, no CRF tensors. Its tags
// are renumbered and decoded with zero CRF scores under BIO: the same entities as the export
// with its tags in place and its CRF tensors set to zero.
TEST_F(Export, FineTuneFalseReadsAForeignTaggerWithoutCrf) {
  const std::string data = ner_dataset(3, 0);
  dir_.write("train.jsonl", data);
  const std::string input = dir_.write("test.jsonl", ner_dataset(1, 2));
  const auto t = train("ner", "bert-ner",
                       "--set path=" + shell_quote(pretrained(data, "--prefix bert.")) +
                           " --set epochs=4 --set lr=0.002 --set batch_size=8 --set threads=1");
  ASSERT_EQ(t.code, 0) << t.err;
  const std::string hf = dir_.file("hf");
  ASSERT_EQ(run_cli("export " + shell_quote(dir_.file("model")) + " " + shell_quote(hf)).code, 0);
  auto config = nlohmann::json::parse(testing::read_file(hf + "/config.json"));
  const std::size_t tags = config.at("id2label").size();
  ASSERT_EQ(tags, 5u);  // O B-LOC I-LOC B-PER I-PER
  std::vector<SafetensorsWriteTensor> tensors;
  {
    const SafetensorsFile file(hf + "/model.safetensors");
    for (const auto& x : file.tensors()) {
      tensors.push_back({x.name, x.shape, file.to_f32(x)});
    }
  }
  // zero/: the CRF tensors set to 0. foreign/: no CRF tensors, and new id = (old id + 1) % 5.
  for (const std::string name : {"zero", "foreign"}) {
    const bool foreign = name == "foreign";
    const std::string d = dir_.file(name);
    fs::copy(hf, d);
    std::vector<SafetensorsWriteTensor> out;
    for (SafetensorsWriteTensor x : tensors) {
      if (x.name.starts_with("crf.")) {
        if (foreign) continue;
        std::fill(x.values.begin(), x.values.end(), 0.0f);
      } else if (foreign && x.name.starts_with("classifier.")) {
        const std::size_t row = x.values.size() / tags;
        std::vector<float> moved(x.values.size());
        for (std::size_t old = 0; old < tags; ++old) {
          std::copy_n(x.values.begin() + old * row, row, moved.begin() + ((old + 1) % tags) * row);
        }
        x.values = moved;
      }
      out.push_back(std::move(x));
    }
    write_safetensors(d + "/model.safetensors", out, {{"format", "pt"}});
    if (foreign) {
      nlohmann::json c = config;
      c["id2label"] = nlohmann::json::object();
      c["label2id"] = nlohmann::json::object();
      c.erase("window_overlap");
      for (std::size_t old = 0; old < tags; ++old) {
        const std::string label = config["id2label"][std::to_string(old)];
        c["id2label"][std::to_string((old + 1) % tags)] = label;
        c["label2id"][label] = (old + 1) % tags;
      }
      std::ofstream(d + "/config.json") << c.dump(2);
    }
    auto r = run_cli("train --task ner --student bert-ner --train " +
                     shell_quote(dir_.file("train.jsonl")) + " --out " +
                     shell_quote(dir_.file("as-is-" + name)) +
                     " --set fine_tune=false --set window_overlap=2 --set path=" + shell_quote(d));
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_cli("predict --model " + shell_quote(dir_.file("as-is-" + name)) + " --input " +
                shell_quote(input) + " --output " + shell_quote(dir_.file(name + ".jsonl")));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  expect_same_predictions(dir_.file("zero.jsonl"), dir_.file("foreign.jsonl"));
  // Renumbered with O first, as the student numbers its tags.
  const auto renumbered =
      nlohmann::json::parse(testing::read_file(dir_.file("as-is-foreign/tags.json")));
  EXPECT_EQ(renumbered.at("tokens"),
            nlohmann::json::array({"O", "I-PER", "B-LOC", "I-LOC", "B-PER"}));
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
