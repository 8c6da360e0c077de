#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/subprocess.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

const std::string kScript =
    std::string("/usr/bin/python3 ") + WEAKDISTILL_SOURCE_DIR + "/tests/data/script_student.py";

nlohmann::json script_options(const std::string& predict_extra = "") {
  return {{"train", kScript + " train --task {task} --train {train} --dev {dev} --model {model}"},
          {"predict",
           kScript + " predict --task {task} --model {model} --input {input} --output {output}" +
               predict_extra}};
}

Sample cls(const std::string& text, const std::string& label) {
  Sample s;
  s.text = text;
  s.label = label;
  return s;
}

TEST(ShellCommand, QuotesAndExpands) {
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(expand_command("cat {input} {{x}}", {{"input", "a b"}}, "ctx"), "cat 'a b' {x}");
  EXPECT_THROW(expand_command("cat {nope}", {{"input", "a"}}, "ctx"), InputError);
  EXPECT_THROW(expand_command("cat {input", {{"input", "a"}}, "ctx"), InputError);
  EXPECT_EQ(run_shell("exit 3"), 3);
  EXPECT_EQ(run_shell("true"), 0);
}

TEST(CommandStudent, ClassifiesThroughTheScriptAndRealignsReorderedOutput) {
  const std::vector<Sample> train = {cls("球赛进球", "sports"), cls("球队比赛", "sports"),
                                     cls("股市大涨", "stocks"), cls("股票基金", "stocks")};
  for (const std::string extra : {"", " --reverse"}) {
    auto s = make_student(Task::kClassification, "command", script_options(extra));
    s->train(train, {});
    const auto p = s->predict({cls("今晚球赛", ""), cls("基金股市", "")});
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].label, "sports") << extra;
    EXPECT_EQ(p[1].label, "stocks") << extra;
    EXPECT_NEAR(p[0].label_probs.at("sports") + p[0].label_probs.at("stocks"), 1.0, 1e-9);
  }
}

TEST(CommandStudent, NerAndSummarizationAndSaveLoad) {
  weakdistill::testing::TempDir dir;
  Sample n;
  n.text = "李明在北京";
  n.entities = {Entity{0, 2, "PER", "李明"}, Entity{3, 5, "LOC", "北京"}};
  auto ner = make_student(Task::kNer, "command", script_options());
  ner->train({n}, {});
  save_student(*ner, dir.file("ner"));
  auto loaded = load_student(dir.file("ner"));
  Sample q;
  q.text = "北京欢迎李明";
  const auto p = loaded->predict({q});
  EXPECT_EQ(p[0].entities, (std::vector<Entity>{{0, 2, "LOC", "北京"}, {4, 6, "PER", "李明"}}));
  EXPECT_EQ(p[0].log_prob, -1.5);

  Sample s;
  s.text = "今天天气很好";
  s.summary = "天气好";
  auto sum = make_student(Task::kSummarization, "command", script_options());
  sum->train({s}, {});
  EXPECT_EQ(sum->predict({s})[0].summary, "今天天");
}

TEST(CommandStudent, FailuresAreClear) {
  EXPECT_THROW(make_student(Task::kClassification, "command", {{"train", "x"}}), InputError);
  try {
    make_student(Task::kClassification, "command", {{"train", "x {bogus}"}, {"predict", "y"}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("student.train: unknown placeholder {bogus}"));
  }
  auto failing =
      make_student(Task::kClassification, "command", {{"train", "exit 4"}, {"predict", "true"}});
  try {
    failing->train({cls("a", "x")}, {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("the train command exited with status 4"));
  }
  auto silent =
      make_student(Task::kClassification, "command", {{"train", "true"}, {"predict", "true"}});
  silent->train({cls("a", "x")}, {});
  EXPECT_THROW(silent->predict({cls("a", "")}), std::runtime_error);
  auto short_output =
      make_student(Task::kClassification, "command",
                   {{"train", "true"}, {"predict", "echo '{{\"label\": \"x\"}}' > {output}"}});
  short_output->train({cls("a", "x")}, {});
  try {
    short_output->predict({cls("a", ""), cls("b", "")});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("wrote 1 predictions for 2 inputs"));
  }
}

}  // namespace
}  // namespace weakdistill
