// weakdistill report on small synthetic run folders, one per task.
#include "weakdistill/report/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "report/run_fixture.h"
#include "support/run.h"
#include "support/temp_dir.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
using report_testing::make_run;
using report_testing::occurrences;
using report_testing::write;
using weakdistill::testing::read_file;
using weakdistill::testing::TempDir;

class ReportPerTask : public ::testing::TestWithParam<std::string> {};

TEST_P(ReportPerTask, IsSelfContainedWithOnePointPerRoundAndTheBestMarked) {
  TempDir dir;
  const std::string task = GetParam();
  make_run(dir, task, {0.5, 0.7, 0.6}, false, false);
  const std::string html = write(dir);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  // The only URL is the rejected reply's, and it is escaped text.
  EXPECT_EQ(occurrences(html, "https://"), 1u);
  EXPECT_THAT(html, HasSubstr("see &lt;i&gt;https://example.com&lt;/i&gt;"));
  const std::size_t series = task == "classification" ? 2 : task == "ner" ? 3 : 4;
  EXPECT_EQ(occurrences(html, "<polyline class=\"series"), series);
  for (std::size_t s = 0; s < series; ++s)
    EXPECT_EQ(occurrences(html, "<circle class=\"point s" + std::to_string(s) + "\""), 3u) << s;
  EXPECT_EQ(occurrences(html, "class=\"best-point\""), series);
  EXPECT_EQ(occurrences(html, "class=\"round0-point\""), series);
  EXPECT_THAT(html, HasSubstr("class=\"best-marker-label\""));
  EXPECT_THAT(html, HasSubstr("<td>1 (best)</td>"));
  EXPECT_THAT(html, Not(HasSubstr("<div class=\"banner")));
  // The accepted sample is escaped and shown beside its seed.
  EXPECT_THAT(html, HasSubstr("x &lt;b&gt;&amp; &quot;q&quot; y"));
  EXPECT_THAT(html, Not(HasSubstr("<b>&")));
  EXPECT_THAT(html, HasSubstr("the seed &lt;one&gt;"));
  EXPECT_THAT(html, HasSubstr("unparseable"));
  EXPECT_THAT(html, HasSubstr("<td>1234</td>"));  // prompt tokens
  EXPECT_THAT(html, HasSubstr("task: " + task));  // the config
}

TEST_P(ReportPerTask, CsvHasOneRowPerRoundAndTheTasksColumns) {
  TempDir dir;
  const std::string task = GetParam();
  make_run(dir, task, {0.5, 0.7, 0.6}, false, false);
  write(dir);
  std::istringstream csv(read_file(dir.file("metrics.csv")));
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  const std::string head = "round,train_size,requested,parsed,verified,diverse,accepted,";
  const std::string metrics = task == "classification" ? "accuracy,macro_f1"
                              : task == "ner"          ? "precision,recall,f1"
                                                       : "rouge1_f1,rouge2_f1,rougeL_f1,bleu4";
  EXPECT_EQ(lines[0], head + metrics + ",seconds");
  const std::size_t columns = occurrences(lines[0], ",") + 1;
  for (std::size_t i = 1; i < lines.size(); ++i)
    EXPECT_EQ(occurrences(lines[i], ",") + 1, columns) << lines[i];
  EXPECT_THAT(lines[2], ::testing::StartsWith("1,150,100,90,80,70,50,"));
  EXPECT_THAT(lines[2], ::testing::EndsWith(",1.5"));
}

INSTANTIATE_TEST_SUITE_P(Tasks, ReportPerTask,
                         ::testing::Values("classification", "ner", "summarization"));

TEST(Report, BannersAppearOnlyWhenSet) {
  TempDir simulated;
  make_run(simulated, "classification", {0.5, 0.6}, true, false);
  const std::string a = write(simulated);
  EXPECT_THAT(a, HasSubstr("<div class=\"banner simulated"));
  EXPECT_THAT(a, Not(HasSubstr("<div class=\"banner leaks")));
  TempDir leaks;
  make_run(leaks, "classification", {0.5, 0.6}, false, true);
  const std::string b = write(leaks);
  EXPECT_THAT(b, Not(HasSubstr("<div class=\"banner simulated")));
  EXPECT_THAT(b, HasSubstr("<div class=\"banner leaks"));
  EXPECT_THAT(b, HasSubstr("dev is the test set"));
}

TEST(Report, LabelsThatGotWorseAreHighlighted) {
  TempDir dir;
  make_run(dir, "classification", {0.5, 0.7}, false, false);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<tr class=\"worse-row\"><td>b</td>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>a</td>"));
}

TEST(Report, BestRoundZeroIsMarkedOnce) {
  TempDir dir;
  make_run(dir, "ner", {0.7, 0.6}, false, false);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("round 0 = best"));
  EXPECT_EQ(occurrences(html, "<circle class=\"point s0\""), 2u);
}

// A run folder written before re-asks, the reservoir, response_format fallbacks and reasoning
// existed renders byte for byte as it did then: tests/report/golden/ holds the page and CSV the
// report gave these folders before it learnt of them (with the folder's path as RUN_DIR).
TEST(Report, AnOlderRunFolderRendersExactlyAsBefore) {
  for (const std::string task : {"classification", "ner", "summarization"}) {
    TempDir dir;
    make_run(dir, task, {0.5, 0.7, 0.6}, false, false);
    std::string html = write(dir);
    const std::string path = dir.path().string();
    for (auto at = html.find(path); at != std::string::npos; at = html.find(path, at))
      html.replace(at, path.size(), "RUN_DIR");
    const std::string golden =
        std::string(WEAKDISTILL_SOURCE_DIR) + "/tests/report/golden/old_run_" + task;
    EXPECT_EQ(html, read_file(golden + ".html")) << task;
    EXPECT_EQ(read_file(dir.file("metrics.csv")), read_file(golden + ".csv")) << task;
  }
}

TEST(Report, OutputIsDeterministicAndOutGoesWhereAsked) {
  TempDir dir;
  make_run(dir, "summarization", {0.2, 0.3}, true, true);
  report::ReportOptions options;
  options.run_dir = dir.path().string();
  options.out = dir.file("elsewhere.html");
  report::write_report(options);
  const std::string first = read_file(options.out);
  report::write_report(options);
  EXPECT_EQ(read_file(options.out), first);
  EXPECT_FALSE(std::filesystem::exists(dir.file("report.html")));
}

TEST(Report, MissingOrMalformedMetricsIsAnInputErrorNamingTheFile) {
  TempDir dir;
  report::ReportOptions options;
  options.run_dir = dir.path().string();
  try {
    report::write_report(options);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir.file("metrics.json")));
  }
  dir.write("metrics.json", "{\"task\": ");
  EXPECT_THROW(report::write_report(options), InputError);
  dir.write("metrics.json", "{\"task\": \"ner\"}");
  EXPECT_THROW(report::write_report(options), InputError);
  const auto r = weakdistill::testing::run_cli("report '" + dir.path().string() + "/nothing'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("metrics.json"));
}

}  // namespace
}  // namespace weakdistill

namespace weakdistill::report {
namespace {

// A comparison of two seeds whose figures are set by hand.
nlohmann::json hand_comparison() {
  return nlohmann::json::parse(R"({
    "task": "classification", "size": 100, "seeds": 2, "student_kind": "fasttext",
    "teacher_kind": "augment", "simulated": false,
    "results": [
      {"seed": 1, "labeled": {"size": 100, "test": {"accuracy": 0.6, "macro_f1": 0.5}},
       "distilled": {"size": 100, "rounds": 3, "stop_reason": "max_train",
                     "test": {"accuracy": 0.3, "macro_f1": 0.2}}},
      {"seed": 2, "labeled": {"size": 100, "test": {"accuracy": 0.8, "macro_f1": 0.7}},
       "distilled": {"size": 100, "rounds": 3, "stop_reason": "max_train",
                     "test": {"accuracy": 0.5, "macro_f1": 0.4}}}],
    "summary": {
      "accuracy": {"labeled": {"mean": 0.7, "sd": 0.1414}, "distilled": {"mean": 0.4, "sd": 0.1414},
                   "difference": {"mean": -0.3, "sd": 0}, "distilled_better": 0},
      "macro_f1": {"labeled": {"mean": 0.6, "sd": 0.1414}, "distilled": {"mean": 0.3, "sd": 0.1414},
                   "difference": {"mean": -0.3, "sd": 0}, "distilled_better": 0}}})");
}

TEST(ComparisonReport, BarsAreAsLongAsTheMeansWithOneDotPerSeed) {
  const std::string svg = comparison_chart(hand_comparison());
  const std::regex bar("<rect class=\"bar s(\\d)\" x=\"[-0-9.]+\" y=\"([-0-9.]+)\" width=\"[0-9.]+\" "
                       "height=\"([0-9.]+)\"");
  std::vector<double> heights;
  std::vector<double> bottoms;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), bar); it != std::sregex_iterator();
       ++it) {
    heights.push_back(std::stod((*it)[3]));
    bottoms.push_back(std::stod((*it)[2]) + std::stod((*it)[3]));
  }
  ASSERT_EQ(heights.size(), 4u);  // accuracy: labeled, distilled; macro-F1: labeled, distilled
  // All bars stand on one baseline (y = 0) and their lengths are in the ratio of the means.
  for (double b : bottoms) EXPECT_NEAR(b, bottoms[0], 0.11);
  EXPECT_NEAR(heights[1] / heights[0], 0.4 / 0.7, 0.01);
  EXPECT_NEAR(heights[2] / heights[0], 0.6 / 0.7, 0.01);
  EXPECT_NEAR(heights[3] / heights[0], 0.3 / 0.7, 0.01);
  const std::regex dot("class=\"seed-point\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), dot), std::sregex_iterator()),
            8);  // 2 seeds × 2 arms × 2 metrics
  const std::regex whisker("class=\"whisker\"");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(svg.begin(), svg.end(), whisker), std::sregex_iterator()),
      4);
}

TEST(ComparisonReport, ThePageMarksADistilledDeficitAndHasNoSimulatedBannerForARealTeacher) {
  const std::string html = render_comparison_report("cmp", hand_comparison());
  EXPECT_THAT(html, ::testing::HasSubstr("<td class=\"worse\">-0.3000 ± 0.0000</td>"));
  EXPECT_THAT(html, ::testing::Not(::testing::HasSubstr("SIMULATED")));
}

TEST(ComparisonReport, AMalformedCompareJsonIsAnInputErrorNamingTheFile) {
  testing::TempDir dir;
  dir.write("compare.json", "{\"task\": \"classification\"}");
  try {
    read_comparison(dir.file(""));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("compare.json"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("\"results\""));
  }
}

}  // namespace
}  // namespace weakdistill::report
