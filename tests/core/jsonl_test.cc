#include "weakdistill/core/jsonl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using weakdistill::testing::TempDir;

// Reads `content` as `task` and returns the error message ("" when it reads).
std::string read_error(const std::string& content, Task task, ReadOptions options = {}) {
  TempDir dir;
  const std::string path = dir.write("in.jsonl", content);
  try {
    read_jsonl(path, task, options);
  } catch (const InputError& e) {
    return std::string(e.what()).substr(path.size());  // drop the temp path
  }
  return "";
}

TEST(Jsonl, ReadsEachTask) {
  TempDir dir;
  const auto cls = read_jsonl(
      dir.write("c.jsonl",
                "{\"text\": \"股市大涨\", \"label\": \"stocks\", \"id\": 7, \"x\": [1]}\n"),
      Task::kClassification);
  ASSERT_EQ(cls.samples.size(), 1u);
  EXPECT_EQ(cls.samples[0].label, "stocks");
  EXPECT_EQ(*cls.samples[0].id, "7");
  EXPECT_EQ(cls.samples[0].extra.dump(), "{\"x\":[1]}");

  const auto ner = read_jsonl(
      dir.write("n.jsonl",
                "{\"text\": \"李明在北京\", \"entities\": [{\"start\": 3, \"end\": 5, \"type\": "
                "\"LOC\"}, {\"start\": 0, \"end\": 2, \"type\": \"PER\", \"text\": \"李明\"}]}\n"),
      Task::kNer);
  ASSERT_EQ(ner.samples[0].entities.size(), 2u);
  EXPECT_EQ(ner.samples[0].entities[0].type, "PER");   // sorted by start
  EXPECT_EQ(ner.samples[0].entities[1].text, "北京");  // filled from the span

  const auto sum = read_jsonl(dir.write("s.jsonl", "{\"text\": \"长文本\", \"summary\": \"短\"}"),
                              Task::kSummarization);
  EXPECT_EQ(sum.samples[0].summary, "短");
}

TEST(Jsonl, AcceptsBomCrlfAndBlankLines) {
  TempDir dir;
  const auto ds = read_jsonl(dir.write("in.jsonl",
                                       "\xEF\xBB\xBF{\"text\": \"a\", \"label\": \"x\"}\r\n"
                                       "\r\n"
                                       "{\"text\": \"b\", \"label\": \"y\"}\r\n"),
                             Task::kClassification);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(ds.lines, (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(ds.samples[1].label, "y");
}

TEST(Jsonl, ErrorsNameTheLineAndTheProblem) {
  const Task cls = Task::kClassification, ner = Task::kNer;
  const std::string ok = "{\"text\": \"a\", \"label\": \"x\"}\n";
  EXPECT_THAT(read_error(ok + "{\"text\": \"a\", \"label\": }\n", cls),
              HasSubstr(":2: not valid JSON"));
  EXPECT_THAT(read_error(ok + "[1, 2]\n", cls),
              HasSubstr(":2: expected a JSON object, found an array"));
  EXPECT_THAT(read_error(ok + ok + "{\"text\": \"a\"}\n", cls),
              HasSubstr(":3: missing field \"label\""));
  EXPECT_THAT(read_error("{\"text\": 5, \"label\": \"x\"}\n", cls),
              HasSubstr(":1: field \"text\" must be a string, not a number"));
  EXPECT_THAT(read_error("{\"text\": \"\", \"label\": \"x\"}\n", cls),
              HasSubstr(":1: \"text\" is empty"));
  EXPECT_THAT(read_error("{\"text\": \"a\xff\", \"label\": \"x\"}\n", cls),
              HasSubstr(":1: invalid UTF-8 at byte 12"));
  EXPECT_THAT(read_error("", cls), HasSubstr(": no samples (the file is empty)"));
  EXPECT_THAT(read_error("\n  \n", cls), HasSubstr("no samples"));

  EXPECT_THAT(
      read_error(
          "{\"text\": \"北京\", \"entities\": [{\"start\": 1, \"end\": 3, \"type\": \"LOC\"}]}",
          ner),
      HasSubstr(":1: entity 0: span [1, 3) is outside the text, which has 2 characters"));
  EXPECT_THAT(read_error("{\"text\": \"北京\", \"entities\": [{\"start\": 0, \"end\": 2, \"type\": "
                         "\"LOC\", \"text\": \"南京\"}]}",
                         ner),
              HasSubstr("\"text\" is \"南京\" but the span [0, 2) covers \"北京\""));
  EXPECT_THAT(
      read_error("{\"text\": \"中国北京\", \"entities\": [{\"start\": 0, \"end\": 3, \"type\": "
                 "\"ORG\"}, {\"start\": 2, \"end\": 4, \"type\": \"LOC\"}]}",
                 ner),
      HasSubstr("entities overlap: [0, 3) ORG and [2, 4) LOC"));
  EXPECT_THAT(
      read_error("{\"text\": \"ab\", \"entities\": [{\"start\": -1, \"end\": 1, \"type\": \"X\"}]}",
                 ner),
      HasSubstr("entity 0: \"start\" is negative"));
  EXPECT_THAT(
      read_error("{\"text\": \"ab\", \"entities\": [{\"start\": 1, \"end\": 1, \"type\": \"X\"}]}",
                 ner),
      HasSubstr("entity 0: end 1 is not after start 1"));
  EXPECT_THAT(
      read_error(
          "{\"text\": \"ab\", \"entities\": [{\"start\": 0.5, \"end\": 1, \"type\": \"X\"}]}", ner),
      HasSubstr("\"start\" must be an integer, not a number"));
  EXPECT_THAT(read_error("{\"text\": \"ab\", \"entities\": {}}", ner),
              HasSubstr("\"entities\" must be an array, not an object"));
  EXPECT_THAT(read_error("{\"text\": \"ab\", \"summary\": \"\"}", Task::kSummarization),
              HasSubstr("\"summary\" is empty"));
}

TEST(Jsonl, RejectsOverLongLines) {
  ReadOptions options;
  options.max_line_bytes = 100;
  const std::string line = "{\"text\": \"" + std::string(200, 'a') + "\", \"label\": \"x\"}\n";
  EXPECT_THAT(read_error(line, Task::kClassification, options),
              HasSubstr(":1: line is 226 bytes, over the limit of 100"));
  // The default limit turns away a 10 MB line.
  const std::string huge = "{\"text\": \"" + std::string(10 << 20, 'a') + "\", \"label\": \"x\"}\n";
  EXPECT_THAT(read_error(huge, Task::kClassification), HasSubstr("over the limit"));
}

TEST(Jsonl, PredictionsMayOmitText) {
  ReadOptions options;
  options.prediction = true;
  EXPECT_EQ(read_error("{\"label\": \"x\"}\n", Task::kClassification, options), "");
  EXPECT_EQ(read_error("{\"summary\": \"\"}\n", Task::kSummarization, options), "");
  EXPECT_THAT(read_error("{\"label\": \"x\"}\n", Task::kClassification),
              HasSubstr("missing field \"text\""));
}

TEST(Jsonl, WriteThenReadRoundTrips) {
  TempDir dir;
  Sample s;
  s.id = "a1";
  s.text = "李明在北京";
  s.entities = {Entity{0, 2, "PER", "李明"}, Entity{3, 5, "LOC", "北京"}};
  s.extra["source"] = "test";
  write_jsonl(dir.file("out.jsonl"), {s}, Task::kNer);
  EXPECT_EQ(
      weakdistill::testing::read_file(dir.file("out.jsonl")),
      "{\"id\":\"a1\",\"text\":\"李明在北京\",\"entities\":[{\"start\":0,\"end\":2,\"type\":"
      "\"PER\",\"text\":\"李明\"},{\"start\":3,\"end\":5,\"type\":\"LOC\",\"text\":\"北京\"}],"
      "\"source\":\"test\"}\n");
  const auto back = read_jsonl(dir.file("out.jsonl"), Task::kNer);
  EXPECT_EQ(back.samples[0].entities, s.entities);
  EXPECT_EQ(back.samples[0].extra, s.extra);
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

}  // namespace
}  // namespace weakdistill
