// The fuzz targets' checks (tests/fuzz/) on their corpus and on every input a
// fuzzer found, with the ordinary build; and the findings one by one
// (docs/RELIABILITY.md, "Fuzzing").
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fuzz/bio_target.h"
#include "fuzz/jsonl_target.h"
#include "fuzz/target_support.h"
#include "support/temp_dir.h"
#include "weakdistill/core/bio.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/yaml.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using weakdistill::testing::TempDir;

// InputError's message from reading `content` as classification JSON Lines ("" if it reads).
std::string jsonl_error(const std::string& content) {
  TempDir dir;
  try {
    read_jsonl(dir.write("in.jsonl", content), Task::kClassification);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(FuzzRegressions, JsonlInputsReplay) {
  const auto inputs = fuzz::replay_inputs(WEAKDISTILL_SOURCE_DIR, "jsonl");
  EXPECT_GE(inputs.size(), 5u);
  for (const auto& path : inputs) {
    EXPECT_NO_THROW(fuzz::jsonl_target(fuzz::read_input(path))) << path;
  }
}

TEST(FuzzRegressions, BioInputsReplay) {
  const auto inputs = fuzz::replay_inputs(WEAKDISTILL_SOURCE_DIR, "bio");
  EXPECT_GE(inputs.size(), 3u);
  for (const auto& path : inputs) {
    EXPECT_NO_THROW(fuzz::bio_target(fuzz::read_input(path))) << path;
  }
}

// Finding: nlohmann throws out_of_range (not parse_error) for a number beyond double's range.
TEST(FuzzRegressions, JsonlNumberOutOfRangeIsInputError) {
  EXPECT_THAT(jsonl_error("{\"text\": \"股市\", \"label\": \"财经\", \"score\": 1e400}\n"),
              HasSubstr("in.jsonl:1: not valid JSON (number overflow parsing '1e400')"));
}

// Finding: a line of a million '[' overflowed the stack (release build: segfault).
TEST(FuzzRegressions, JsonlDeepNestingIsInputError) {
  const std::string deep(1'000'000, '[');
  EXPECT_THAT(jsonl_error("{\"text\": \"a\", \"label\": \"b\", \"x\": " + deep + "}\n"),
              HasSubstr("in.jsonl:1: JSON nested deeper than 64 levels"));
  // 64 levels in all (the object and 63 arrays) still read.
  EXPECT_EQ(jsonl_error("{\"text\": \"a\", \"label\": \"b\", \"x\": " + std::string(63, '[') +
                        std::string(63, ']') + "}\n"),
            "");
  EXPECT_THAT(jsonl_error("{\"text\": \"a\", \"label\": \"b\", \"x\": " + std::string(64, '[') +
                          std::string(64, ']') + "}\n"),
              HasSubstr("nested deeper than 64 levels"));
}

TEST(FuzzRegressions, JsonNestingSkipsStrings) {
  EXPECT_EQ(json_nesting(""), 0u);
  EXPECT_EQ(json_nesting("\"[{\""), 0u);
  EXPECT_EQ(json_nesting("[1, [2]]"), 2u);
  EXPECT_EQ(json_nesting(R"({"a\"[[": [{}], "b": "]]"})"), 3u);
  EXPECT_EQ(json_nesting("]]}[{"), 2u);  // unbalanced: counted from where it opens
}

// Finding: "B-PER\r\r\n" made the type "PER\r", which write_bio could not write back.
TEST(FuzzRegressions, BioStrayCarriageReturnIsInputError) {
  TempDir dir;
  try {
    read_bio(dir.write("in.bio", "李 B-PER\r\r\n明 I-PER\r\n\r\n"));
    ADD_FAILURE() << "read";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("in.bio:1: a stray carriage return ends the line"));
  }
}

// Finding: a first text starting with U+FEFF was written as a byte order mark and lost.
TEST(FuzzRegressions, BioFirstTokenBomRoundTrips) {
  TempDir dir;
  Sample s;
  s.text = "\xEF\xBB\xBF李明";
  s.entities = {Entity{1, 3, "PER", "李明"}};
  write_bio(dir.file("out.bio"), {s});
  const Dataset back = read_bio(dir.file("out.bio"));
  ASSERT_EQ(back.samples.size(), 1u);
  EXPECT_EQ(back.samples[0].text, s.text);
  EXPECT_EQ(back.samples[0].entities, s.entities);
}

// Finding: yaml-cpp let invalid UTF-8 through; dump() then threw and to_yaml() changed it.
TEST(FuzzRegressions, YamlInvalidUtf8IsInputError) {
  try {
    parse_yaml("task: ner\nteacher: {system: \"\xE4\xAF\"}\n", "c.yaml");
    ADD_FAILURE() << "parsed";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("c.yaml:2: invalid UTF-8 (byte 30 of the file)"));
  }
  EXPECT_THROW(parse_assignments({"teacher.system=\xFF"}), UsageError);
}

// Findings: 9 levels of 10 aliases (700 bytes) expanded to 10^9 values: out of memory;
// 5 levels (80,000 values) made to_yaml() take seconds.
TEST(FuzzRegressions, YamlAliasExpansionIsBounded) {
  std::string yaml = "a0: &a0 [笑, 笑, 笑, 笑, 笑, 笑, 笑, 笑, 笑, 笑]\n";
  for (int i = 1; i <= 8; ++i) {
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", *a" : "*a") + std::to_string(i - 1);
    yaml += "]\n";
  }
  try {
    parse_yaml(yaml, "c.yaml");
    ADD_FAILURE() << "parsed";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("expands to over 10000 values"));
  }
  // Aliases that stay small are fine: 3 levels, 1,110 values.
  const nlohmann::json small = parse_yaml(yaml.substr(0, yaml.find("a3:")), "c.yaml");
  EXPECT_EQ(small["a2"].size(), 10u);
  EXPECT_EQ(small["a2"][9][9][9], "笑");
}

}  // namespace
}  // namespace weakdistill
