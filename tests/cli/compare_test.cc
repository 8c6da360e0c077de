// `weakdistill compare`, `plot` and the loop's distill.max_train / distill.test_each_round, end
// to end on a synthetic classification set with the pool teacher.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "support/run.h"
#include "support/run_folder.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"
#include "weakdistill/core/dataset.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/distill/config.h"
#include "weakdistill/distill/run.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;


std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(testing::read_file(path));
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// compare.json without what differs between equal runs (times live only in the runs).
nlohmann::json comparable_comparison(nlohmann::json m) {
  m.erase("config");
  return m;
}

class CompareCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir.write("train.jsonl", testing::dataset(0, 40));
    dir.write("dev.jsonl", testing::dataset(1000, 10));
    dir.write("test.jsonl", testing::dataset(2000, 10));
    config = dir.write("c.yaml",
                       "task: classification\n"
                       "data:\n"
                       "  train: " + dir.file("train.jsonl") + "\n"
                       "  dev: " + dir.file("dev.jsonl") + "\n"
                       "  test: " + dir.file("test.jsonl") + "\n"
                       "  few_shot: {per_label: 4, seed: 1}\n"
                       "student: {kind: fasttext, threads: 1, epochs: 10}\n"
                       "teacher: {kind: pool}\n"
                       "distill: {per_round: 6, oversample: 2, max_rounds: 2, patience: 1, reservoir: off}\n"
                       "run_dir: " + dir.file("run") + "\n");
  }
  std::string compare(const std::string& extra) {
    return "compare '" + config + "' --size 30 --seeds 2 " + extra;
  }
  TempDir dir;
  std::string config;
};

TEST_F(CompareCli, ComparesEqualSizesFromTheSameFewLabels) {
  const std::string out = dir.file("cmp");
  const auto r = run_cli(compare("--out '" + out + "'"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, out + "/report.html\n");
  for (const char* f : {"compare.json", "compare.csv", "compare.md", "compare.svg", "report.html",
                        "distilled-s1/report.html", "labeled-s2/student/model.json"}) {
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  }
  const auto m = read_json(out + "/compare.json");
  EXPECT_EQ(m["size"], 30);
  EXPECT_EQ(m["seeds"], 2);
  EXPECT_TRUE(m["simulated"].get<bool>());
  ASSERT_EQ(m["results"].size(), 2u);

  const RunConfig c = load_run_config(config);
  const Dataset train = read_jsonl(dir.file("train.jsonl"), Task::kClassification);
  std::set<std::string> train_texts;
  for (const auto& s : train.samples) train_texts.insert(s.text);
  for (int seed = 1; seed <= 2; ++seed) {
    const auto& res = m["results"][seed - 1];
    EXPECT_EQ(res["seed"], seed);
    EXPECT_EQ(res["labeled"]["size"], 30);
    EXPECT_EQ(res["distilled"]["size"], 30);
    // Per round 6 from 8 few labels: 8 → 14 → 20 → 26 → 30, the last round capped at 4;
    // neither max_rounds (2) nor patience (1) of the config stops a comparison's loop.
    EXPECT_EQ(res["distilled"]["rounds"], 4);
    EXPECT_EQ(res["distilled"]["stop_reason"], "max_train");
    const auto run = read_json(out + "/distilled-s" + std::to_string(seed) + "/metrics.json");
    const auto& last = run["rounds"].back();
    EXPECT_EQ(last["accepted"], 4);
    EXPECT_EQ(last["requested"], 8);  // oversample × what the round may still add
    EXPECT_EQ(res["distilled"]["test"], last["test"]);

    // The labeled arm: the loop's own few labels, then 22 distinct others from train.
    FewShotConfig f = *c.data.few_shot;
    f.seed = static_cast<std::uint64_t>(seed);
    const Split few = draw_few_shot(train.samples, f);
    const Dataset labeled = read_jsonl(
        out + "/labeled-s" + std::to_string(seed) + "/train.jsonl", Task::kClassification);
    ASSERT_EQ(labeled.samples.size(), 30u);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < labeled.samples.size(); ++i) {
      const Sample& s = labeled.samples[i];
      if (i < few.chosen.size()) {
        EXPECT_EQ(s.text, train.samples[few.chosen[i]].text);
      }
      EXPECT_TRUE(train_texts.count(s.text)) << s.text;
      EXPECT_TRUE(seen.insert(s.text).second) << "twice: " << s.text;
    }
  }
  // The two seeds drew different few labels.
  EXPECT_NE(lines_of(out + "/labeled-s1/train.jsonl")[0], lines_of(out + "/labeled-s2/train.jsonl")[0]);

  // The summary is the mean of the seeds.
  const double l1 = m["results"][0]["labeled"]["test"]["accuracy"];
  const double l2 = m["results"][1]["labeled"]["test"]["accuracy"];
  EXPECT_NEAR(m["summary"]["accuracy"]["labeled"]["mean"].get<double>(), (l1 + l2) / 2, 1e-12);
  const double d1 = m["results"][0]["distilled"]["test"]["accuracy"];
  const double d2 = m["results"][1]["distilled"]["test"]["accuracy"];
  EXPECT_NEAR(m["summary"]["accuracy"]["difference"]["mean"].get<double>(),
              (d1 - l1 + d2 - l2) / 2, 1e-12);
  EXPECT_EQ(m["summary"]["accuracy"]["distilled_better"], (d1 > l1) + (d2 > l2));
  EXPECT_EQ(lines_of(out + "/compare.csv").size(), 5u);  // header + 2 seeds × 2 arms

  // The page and the standalone chart: two bars per metric (accuracy, macro-F1).
  const std::string html = testing::read_file(out + "/report.html");
  EXPECT_THAT(html, HasSubstr("SIMULATED"));
  EXPECT_THAT(html, HasSubstr("href=\"distilled-s1/report.html\""));
  const std::string svg = testing::read_file(out + "/compare.svg");
  EXPECT_THAT(svg, HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));
  const std::regex bar("<rect class=\"bar ");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), bar), std::sregex_iterator()), 4);
  EXPECT_EQ(html.find("http://"), std::string::npos) << "the page must reference no URL";
}

TEST_F(CompareCli, RunningAgainContinuesAndGivesTheSameResult) {
  const std::string out = dir.file("cmp");
  ASSERT_EQ(run_cli(compare("--out '" + out + "'")).code, 0);
  const auto first = read_json(out + "/compare.json");

  // Everything done: nothing is trained again.
  auto r = run_cli(compare("--out '" + out + "'"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("seed 2: distilled run already done"));
  EXPECT_THAT(r.err, Not(HasSubstr("training fasttext")));
  EXPECT_EQ(comparable_comparison(read_json(out + "/compare.json")), comparable_comparison(first));

  // As if stopped during seed 2: its loop lost its last round and metrics.json, and the labeled
  // arm never ran. The rerun resumes the loop and trains the labeled student again.
  fs::remove(out + "/distilled-s2/metrics.json");
  fs::remove_all(out + "/labeled-s2");
  r = run_cli(compare("--out '" + out + "'"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("seed 2: resuming the distilled run"));
  EXPECT_EQ(comparable_comparison(read_json(out + "/compare.json")), comparable_comparison(first));
}

TEST_F(CompareCli, RefusesWhatItCannotCompareBeforeWritingAnything) {
  const std::string out = dir.file("cmp");
  struct Case {
    std::string args;
    std::string message;
  } cases[] = {
      {"compare '" + config + "' --size 8 --out '" + out + "'", "must exceed the 8 few labels"},
      {"compare '" + config + "' --size 81 --out '" + out + "'", "the largest size is 80"},
      {"compare '" + config + "' --size 20 --set data.test= --out '" + out + "'",
       "give data.test"},
      {"compare '" + config + "' --size 20 --set student.nope=1 --out '" + out + "'",
       "student: unknown option(s) nope"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
  // A folder holding another comparison is not mixed with this one.
  ASSERT_EQ(run_cli("compare '" + config + "' --size 30 --seeds 1 --out '" + out + "'").code, 0);
  const auto r = run_cli("compare '" + config + "' --size 20 --seeds 1 --out '" + out + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("holds a comparison of another config or size"));
}

TEST_F(CompareCli, EachRoundsTestFigureIsThatRoundsStudentOnTest) {
  const std::string run = dir.file("run");
  const auto r = run_cli("run '" + config +
                         "' --set distill.test_each_round=on distill.max_train=17 "
                         "distill.max_rounds=5 distill.patience=5");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = read_json(run + "/metrics.json");
  ASSERT_EQ(m["rounds"].size(), 3u);  // 8 → 14 → 17
  EXPECT_EQ(m["rounds"][2]["train_size"], 17);
  EXPECT_EQ(m["stop_reason"], "max_train");
  EXPECT_EQ(m["rounds"][0]["test"], m["test_round0"]);
  // The last round's saved student, scored independently with predict + eval.
  const auto p = run_cli("predict --model '" + run + "/rounds/02/student' --input '" +
                         dir.file("test.jsonl") + "' --output '" + dir.file("p.jsonl") + "'");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto e = run_cli("eval --task classification --gold '" + dir.file("test.jsonl") +
                         "' --pred '" + dir.file("p.jsonl") + "' --json");
  ASSERT_EQ(e.code, 0) << e.err;
  const auto scored = nlohmann::json::parse(e.out);
  EXPECT_EQ(scored["accuracy"], m["rounds"][2]["test"]["accuracy"]);
  EXPECT_EQ(scored["macro_f1"], m["rounds"][2]["test"]["macro_f1"]);
  // The report shows the test series beside dev, and metrics.csv has their columns.
  ASSERT_EQ(run_cli("report '" + run + "'").code, 0);
  EXPECT_THAT(testing::read_file(run + "/report.html"), HasSubstr("test accuracy"));
  EXPECT_THAT(lines_of(run + "/metrics.csv")[0], HasSubstr(",test_accuracy,test_macro_f1,"));
}

TEST_F(CompareCli, PlotDrawsOneSeriesPerRunAndMetric) {
  const std::string a = dir.file("a"), b = dir.file("b");
  ASSERT_EQ(run_cli("run '" + config + "' --run-dir '" + a + "' --set distill.test_each_round=on")
                .code,
            0);
  ASSERT_EQ(run_cli("run '" + config + "' --run-dir '" + b +
                    "' --set distill.test_each_round=on distill.per_round=3")
                .code,
            0);
  const std::string svg_path = dir.file("f.svg");
  auto r = run_cli("plot 'six=" + a + "' 'three=" + b + "' --metric accuracy --metric macro_f1 --out '" +
                   svg_path + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string svg = testing::read_file(svg_path);
  EXPECT_THAT(svg, HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));
  for (const char* name : {"six accuracy", "six macro-F1", "three accuracy", "three macro-F1"})
    EXPECT_THAT(svg, HasSubstr(std::string(">") + name + "</text>")) << name;
  // One point per round of each run.
  const auto ma = read_json(a + "/metrics.json");
  const std::regex s0("<circle class=\"point s0\"");
  const std::regex s2("<circle class=\"point s2\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), s0), std::sregex_iterator()),
            static_cast<long>(ma["rounds"].size()));
  const auto mb = read_json(b + "/metrics.json");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), s2), std::sregex_iterator()),
            static_cast<long>(mb["rounds"].size()));

  // A run without per-round test figures, and an unknown metric: exit 2, saying what to do.
  const std::string plain = dir.file("plain");
  ASSERT_EQ(run_cli("run '" + config + "' --run-dir '" + plain + "'").code, 0);
  r = run_cli("plot '" + plain + "' --out '" + dir.file("g.svg") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("distill.test_each_round=on"));
  EXPECT_FALSE(fs::exists(dir.file("g.svg")));
  r = run_cli("plot '" + a + "' --metric f1 --out '" + dir.file("g.svg") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown metric \"f1\" for classification (one of: accuracy, macro_f1)"));
  EXPECT_EQ(run_cli("plot '" + plain + "' --split dev --out '" + dir.file("g.svg") + "'").code, 0);
}

}  // namespace
}  // namespace weakdistill
