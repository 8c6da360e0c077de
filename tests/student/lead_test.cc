#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

Sample pair(const std::string& text, const std::string& summary) {
  Sample s;
  s.text = text;
  s.summary = summary;
  return s;
}

TEST(Lead, LearnsTheMedianSummaryLengthAndCutsText) {
  auto lead = make_student(Task::kSummarization, "lead", nlohmann::json::object());
  lead->train(
      {pair("一二三四五六", "甲乙"), pair("七八九十", "甲乙丙"), pair("子丑寅卯", "甲乙丙丁")}, {});
  const auto out = lead->predict({pair(" 春 天来了，花开了", "")});
  // Median summary length 3; leading space dropped, inner spaces kept and not counted.
  EXPECT_EQ(out[0].summary, "春 天来");
  EXPECT_EQ(out[0].log_prob, 0.0);
}

TEST(Lead, FixedLengthSavesAndLoads) {
  weakdistill::testing::TempDir dir;
  auto lead = make_student(Task::kSummarization, "lead", {{"chars", 2}});
  lead->train({pair("一二三", "甲")}, {});
  save_student(*lead, dir.file("m"));
  auto back = load_student(dir.file("m"));
  EXPECT_EQ(back->kind(), "lead");
  EXPECT_EQ(back->predict({pair("北京天气", "")})[0].summary, "北京");
  EXPECT_THROW(load_student(dir.file("m"), "fasttext"), InputError);
  EXPECT_THROW(load_student(dir.file("m"), "", Task::kNer), InputError);
}

TEST(Lead, RejectsUnknownAndMistypedOptions) {
  try {
    make_student(Task::kSummarization, "lead", {{"chars", 2}, {"epochs", 3}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown option(s) epochs"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make_student(Task::kSummarization, "lead", {{"chars", "ten"}}), InputError);
  EXPECT_THROW(make_student(Task::kSummarization, "nope", {}), UsageError);
}

TEST(ModelFolder, RejectsOtherVersionsAndBrokenManifests) {
  weakdistill::testing::TempDir dir;
  dir.write("v9/model.json", "");
  std::filesystem::create_directories(dir.file("v9"));
  dir.write("v9/model.json", R"({"format_version": 9, "kind": "lead", "task": "summarization"})");
  try {
    load_student(dir.file("v9"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("model format version 9, but this weakdistill reads version 1"),
        std::string::npos);
  }
  std::filesystem::create_directories(dir.file("empty"));
  EXPECT_THROW(load_student(dir.file("empty")), InputError);
  std::filesystem::create_directories(dir.file("bad"));
  dir.write("bad/model.json", "{not json");
  EXPECT_THROW(load_student(dir.file("bad")), InputError);
}

}  // namespace
}  // namespace weakdistill
