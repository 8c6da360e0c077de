// Bad input to `weakdistill run` and `predict` (issue [7/8]): each case gets a message naming
// file:line or the config key, exit code 2, and no run folder at all. docs/RELIABILITY.md has
// this table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/run.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::run_cli;
using testing::TempDir;

const std::string kCls =
    "{\"text\": \"文本一号甲\", \"label\": \"A\"}\n{\"text\": \"句子二号乙\", \"label\": \"B\"}\n"
    "{\"text\": \"文本三号甲\", \"label\": \"A\"}\n{\"text\": \"句子四号乙\", \"label\": \"B\"}\n";
const std::string kNer =
    "{\"text\": \"张三在北京\", \"entities\": [{\"start\": 0, \"end\": 2, \"type\": \"PER\"}, "
    "{\"start\": 3, \"end\": 5, \"type\": \"LOC\"}]}\n";

struct Case {
  const char* name;
  const char* task;         // classification or ner
  const char* bad_file;     // the file written with `content` ("" = none)
  std::string content;
  const char* role;         // which data key points at it: train or dev
  std::string extra;        // appended to the config
  std::string expect;       // in the message
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  const std::string huge = "{\"text\": \"" + std::string(10 * 1024 * 1024, 'x') + "\", \"label\": \"A\"}\n";
  return {
      {"malformed_json", "classification", "bad.jsonl", kCls + "{\"text\": \"坏\", \"label\": \n",
       "train", "", "bad.jsonl:5: not valid JSON"},
      {"invalid_utf8", "classification", "bad.jsonl", kCls + "{\"text\": \"\xff\xfe\", \"label\": \"A\"}\n",
       "train", "", "bad.jsonl:5: invalid UTF-8"},
      {"empty_file", "classification", "bad.jsonl", "", "train", "", "bad.jsonl: no samples"},
      {"ten_mb_line", "classification", "bad.jsonl", kCls + huge, "train", "",
       "bad.jsonl:5: line is 10485786 bytes, over the limit of 4194304"},
      {"missing_field", "classification", "bad.jsonl", kCls + "{\"text\": \"没有标签\"}\n", "train", "",
       "bad.jsonl:5: missing field \"label\""},
      {"entity_out_of_range", "ner", "bad.jsonl",
       kNer + "{\"text\": \"张三\", \"entities\": [{\"start\": 0, \"end\": 9, \"type\": \"PER\"}]}\n",
       "train", "", "bad.jsonl:2: entity 0: span [0, 9) is outside the text"},
      {"entity_text_mismatch", "ner", "bad.jsonl",
       kNer + "{\"text\": \"张三在北京\", \"entities\": [{\"start\": 0, \"end\": 2, \"type\": \"PER\", "
              "\"text\": \"李四\"}]}\n",
       "train", "", "bad.jsonl:2: entity 0: \"text\" is \"李四\" but the span [0, 2) covers \"张三\""},
      {"overlapping_entities", "ner", "bad.jsonl",
       kNer + "{\"text\": \"张三在北京\", \"entities\": [{\"start\": 0, \"end\": 2, \"type\": \"PER\"}, "
              "{\"start\": 1, \"end\": 3, \"type\": \"LOC\"}]}\n",
       "train", "", "bad.jsonl:2: entities overlap: [0, 2) PER and [1, 3) LOC"},
      {"dev_label_not_in_train", "classification", "bad.jsonl",
       kCls + "{\"text\": \"新标签\", \"label\": \"C\"}\n", "dev", "",
       "bad.jsonl:5: label \"C\" does not occur in the training set"},
      {"unknown_config_key", "classification", "", "", "", "distill: {per_rond: 5}\n",
       "distill: unknown option(s) per_rond"},
      {"wrong_type", "classification", "", "", "", "distill: {per_round: many}\n",
       "distill.per_round: expected a non-negative integer, got \"many\""},
      {"missing_file", "classification", "", "", "", "data: {pool: /no/such/pool.jsonl}\n",
       "data.pool: no such file: /no/such/pool.jsonl"},
  };
}

class BadInput : public ::testing::TestWithParam<Case> {};

TEST_P(BadInput, ExitTwoWithThePlaceAndNoRunFolder) {
  const Case& c = GetParam();
  TempDir dir;
  const bool ner = std::string(c.task) == "ner";
  dir.write("good.jsonl", ner ? kNer + kNer : kCls);
  if (*c.bad_file) dir.write(c.bad_file, c.content);
  const std::string bad = *c.bad_file ? dir.file(c.bad_file) : "";
  const std::string train = std::string(c.role) == "train" ? bad : dir.file("good.jsonl");
  const std::string dev = std::string(c.role) == "dev" ? bad : dir.file("good.jsonl");
  std::string extra = c.extra;
  std::string data_extra;
  if (extra.rfind("data: {", 0) == 0) {  // merged into the data mapping
    data_extra = ", " + extra.substr(7, extra.find('}') - 7);
    extra.clear();
  }
  const std::string config = dir.write(
      "c.yaml", std::string("task: ") + c.task + "\ndata: {train: " + train + ", dev: " + dev +
                    data_extra + "}\nstudent: {kind: " + (ner ? "bigru-crf" : "fasttext") +
                    "}\nteacher: {kind: pool}\n" + extra);
  const std::string run_dir = dir.file("run");
  const auto r = run_cli("run '" + config + "' --run-dir '" + run_dir + "'");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr(c.expect));
  EXPECT_FALSE(fs::exists(run_dir));
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(BadInputMore, ABadUrlARunFolderThatExistsAndAModelOfTheWrongKindOrVersion) {
  TempDir dir;
  dir.write("good.jsonl", kCls);
  const std::string base = "task: classification\ndata: {train: " + dir.file("good.jsonl") +
                           ", dev: " + dir.file("good.jsonl") + "}\nstudent: {kind: fasttext}\n";
  // A URL that is not one.
  auto config = dir.write("url.yaml", base + "teacher: {kind: openai, base_url: \"htp//x\", model: m}\n");
  auto r = run_cli("run '" + config + "' --run-dir '" + dir.file("url") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("teacher.base_url: \"htp//x\" is not a usable URL"));
  EXPECT_FALSE(fs::exists(dir.file("url")));

  // A run folder that exists, without --resume: refused, and left as it was.
  config = dir.write("c.yaml", base + "teacher: {kind: pool}\n");
  fs::create_directories(dir.file("taken"));
  dir.write("taken/notes.txt", "mine");
  r = run_cli("run '" + config + "' --run-dir '" + dir.file("taken") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("run folder " + dir.file("taken") + " exists; continue it with --resume"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.file("taken")), fs::directory_iterator()), 1);

  // A model folder of the wrong kind, of a future format version, and not a model at all.
  ASSERT_EQ(run_cli("train --task classification --student fasttext --train '" + dir.file("good.jsonl") +
                    "' --out '" + dir.file("model") + "'")
                .code,
            0);
  auto manifest = nlohmann::json::parse(testing::read_file(dir.file("model/model.json")));
  fs::copy(dir.file("model"), dir.file("future"), fs::copy_options::recursive);
  manifest["format_version"] = 99;
  dir.write("future/model.json", manifest.dump());
  r = run_cli("predict --model '" + dir.file("future") + "' --input '" + dir.file("good.jsonl") +
              "' --output '" + dir.file("p.jsonl") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr(dir.file("future")));
  EXPECT_THAT(r.err, HasSubstr("99"));
  fs::copy(dir.file("model"), dir.file("kind"), fs::copy_options::recursive);
  manifest["format_version"] = 1;
  manifest["kind"] = "bigru-crf";
  dir.write("kind/model.json", manifest.dump());
  r = run_cli("predict --model '" + dir.file("kind") + "' --input '" + dir.file("good.jsonl") +
              "' --output '" + dir.file("p.jsonl") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr(dir.file("kind")));
  r = run_cli("predict --model '" + dir.file("") + "' --input '" + dir.file("good.jsonl") +
              "' --output '" + dir.file("p.jsonl") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("model.json"));
  EXPECT_FALSE(fs::exists(dir.file("p.jsonl")));
}

}  // namespace
}  // namespace weakdistill
