// The report's parts about the teacher's newer features: response_format fallbacks, re-asks and
// yield, the reservoir, and the reasoning kept apart from replies. Every expected figure below is
// worked out by hand from the fixture's numbers (the comments show the sums).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "report/run_fixture.h"
#include "support/temp_dir.h"
#include "weakdistill/report/report.h"

namespace weakdistill {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
using report_testing::make_run;
using report_testing::occurrences;
using report_testing::write;
using weakdistill::testing::read_file;
using weakdistill::testing::TempDir;

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// 304 characters: 300 × 想, then 最后结论.
const std::string kLongReasoning = repeat("想", 300) + "最后结论";

json fallback(const std::string& from, const std::string& to, const std::string& message) {
  return {{"from", from}, {"to", to}, {"status", 400}, {"message", message}};
}

json read_metrics_file(const TempDir& dir) {
  return json::parse(read_file(dir.file("metrics.json")));
}

void write_metrics_file(const TempDir& dir, const json& m) { dir.write("metrics.json", m.dump()); }

// The keys a run with re-asks writes in rounds 1..3 (requested 100 each): re-asks 12, 8, 0;
// yield first try 0.6, 0.7, 0.5 and after re-asks 0.8, 0.9, 0.5.
void add_reasks(json& m) {
  const int reasked[] = {0, 12, 8, 0};
  const double first[] = {0, 0.6, 0.7, 0.5};
  const double after[] = {0, 0.8, 0.9, 0.5};
  for (json& r : m["rounds"]) {
    const int k = r["round"].get<int>();
    if (k == 0) continue;
    r["reasked"] = reasked[k];
    r["yield"] = {{"first_try", first[k]}, {"after_reasks", after[k]}};
  }
}

// The reservoir of rounds 1..3: held 0 → 6 → 4 → 2; taken 0, 4, 2 at mean ages –, 1.0, 2.5;
// dropped 0, 1, 0; added 6, 3, 0.
void add_reservoir(json& m) {
  const auto entry = [](int held, int taken, int dropped, int added, int held_after, double age) {
    return json{{"held", held},   {"taken", taken},           {"dropped", dropped},
                {"added", added}, {"held_after", held_after}, {"taken_mean_age", age}};
  };
  const json reservoir[] = {json(), entry(0, 0, 0, 6, 6, 0.0), entry(6, 4, 1, 3, 4, 1.0),
                            entry(4, 2, 0, 0, 2, 2.5)};
  for (json& r : m["rounds"]) {
    const int k = r["round"].get<int>();
    if (k > 0) r["reservoir"] = reservoir[k];
  }
}

// Round 1 asked with json_schema; round 2 met a 400 and fell back to json_object, which round 3
// kept (the fallbacks list is the run's, repeated in every round after it happened).
void add_response_format(json& m) {
  const json fallbacks =
      json::array({fallback("json_schema", "json_object",
                            "response_format <json_schema> is not supported & never will be")});
  for (json& r : m["rounds"]) {
    const int k = r["round"].get<int>();
    if (k == 0) continue;
    r["teacher"]["response_format"] = k == 1 ? "json_schema" : "json_object";
    if (k > 1) r["teacher"]["fallbacks"] = fallbacks;
  }
}

// Round 2's sample files: an accepted sample from the reservoir (generated in round 1, no
// reasoning) and a re-asked second sample of a reply with long reasoning; a rejection cut
// while reasoning and an unparseable reply with short reasoning that needs escaping.
void add_round2_samples(const TempDir& dir, json& m) {
  for (json& r : m["rounds"])
    if (r["round"] == 2) r["rejected"]["truncated_in_reasoning"] = 3;
  std::filesystem::create_directories(dir.path() / "rounds" / "02");
  const json reservoir_sample = {{"text", "从蓄水池来的样本"}, {"label", "a"}};
  const json reasked_sample = {{"text", "重问得到的样本"}, {"label", "a"}};
  dir.write("rounds/02/accepted.jsonl", json{{"ordinal", 4294967301},
                                             {"seed_index", 0},
                                             {"outcome", "accepted"},
                                             {"generated_in_round", 1},
                                             {"sample", reservoir_sample},
                                             {"diversity", 0.4}}
                                                .dump() +
                                            "\n" +
                                            json{{"ordinal", 8589934692},
                                                 {"seed_index", 1},
                                                 {"outcome", "accepted"},
                                                 {"slot", 1},
                                                 {"attempt", 1},
                                                 {"first_ordinal", 8589934593},
                                                 {"sample", reasked_sample},
                                                 {"diversity", 0.6},
                                                 {"reasoning", kLongReasoning}}
                                                .dump() +
                                            "\n");
  dir.write("rounds/02/rejected.jsonl",
            json{{"ordinal", 8589934594},
                 {"seed_index", 0},
                 {"outcome", "truncated_in_reasoning"},
                 {"detail", "the reply was cut while the model was still reasoning"},
                 {"reasoning", "让我想想……"},
                 {"reply", ""}}
                    .dump() +
                "\n" +
                json{{"ordinal", 8589934595},
                     {"seed_index", 1},
                     {"outcome", "unparseable"},
                     {"detail", "no JSON object"},
                     {"reasoning", "<b>think</b> & go"},
                     {"reply", "not json"}}
                    .dump() +
                "\n");
}

// A classification run of rounds 0..3 (accepted 50 a round) with every new feature.
void make_full_run(const TempDir& dir) {
  make_run(dir, "classification", {0.5, 0.7, 0.6, 0.65}, false, false);
  json m = read_metrics_file(dir);
  add_reasks(m);
  add_reservoir(m);
  add_response_format(m);
  add_round2_samples(dir, m);
  write_metrics_file(dir, m);
}

TEST(ReportTeacher, ResponseFormatAndItsFallbackAreShownOnceFromTheLastRound) {
  TempDir dir;
  make_full_run(dir);
  const std::string html = write(dir);
  EXPECT_EQ(occurrences(html, "<h3>Response format</h3>"), 1u);
  EXPECT_THAT(html, HasSubstr("response_format <b>json_object</b> (as of round 3)"));
  // Rounds 2 and 3 both carry the fallback: it is listed once.
  EXPECT_EQ(occurrences(html, "json_schema → json_object"), 1u);
  EXPECT_THAT(html,
              HasSubstr("<tr><td>json_schema → json_object</td><td>400</td><td>response_format "
                        "&lt;json_schema&gt; is not supported &amp; never will be</td></tr>"));
}

TEST(ReportTeacher, ResponseFormatComesFromTheLastRoundThatHasItAndLongMessagesAreShortened) {
  TempDir dir;
  make_run(dir, "classification", {0.5, 0.7, 0.6, 0.65}, false, false);
  json m = read_metrics_file(dir);
  m["rounds"][2]["teacher"]["response_format"] = "text";
  m["rounds"][2]["teacher"]["fallbacks"] =
      json::array({fallback("json_schema", "json_object", "no schemas here"),
                   fallback("json_object", "text", repeat("x", 300))});
  write_metrics_file(dir, m);  // round 3 has no response_format
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("response_format <b>text</b> (as of round 2)"));
  EXPECT_THAT(html, HasSubstr("expect more unparseable ones"));
  EXPECT_THAT(html, HasSubstr("<td>json_schema → json_object</td><td>400</td><td>no schemas here"));
  // The server's message is cut at 200 characters.
  EXPECT_THAT(html, HasSubstr("<td>json_object → text</td><td>400</td><td>" + repeat("x", 200) +
                              " …</td>"));
  EXPECT_THAT(html, Not(HasSubstr(repeat("x", 201))));
}

TEST(ReportTeacher, ReasksAndYieldPerRoundWithARunTotal) {
  TempDir dir;
  make_full_run(dir);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<h2>Re-asks and yield per round</h2>"));
  // Round 1: 0.8 − 0.6 = +0.20; round 3: no re-asks, no gain.
  EXPECT_THAT(html, HasSubstr("<tr><td>1</td><td>100</td><td>12</td><td>0.60</td><td>0.80</td>"
                              "<td>+0.20</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>2</td><td>100</td><td>8</td><td>0.70</td><td>0.90</td>"
                              "<td>+0.20</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>3</td><td>100</td><td>0</td><td>0.50</td><td>0.50</td>"
                              "<td>+0.00</td></tr>"));
  // Total: 300 requests, 12 + 8 + 0 = 20 re-asks; first try (60 + 70 + 50) / 300 = 0.60, after
  // (80 + 90 + 50) / 300 = 0.733, a gain of 0.133.
  EXPECT_THAT(html, HasSubstr("<tr class=\"total\"><td>total</td><td>300</td><td>20</td>"
                              "<td>0.60</td><td>0.73</td><td>+0.13</td></tr>"));
  EXPECT_THAT(html, HasSubstr("20 re-asks for 300 requests took the yield from 0.60 to 0.73"));
}

TEST(ReportTeacher, ARunWithoutReasksSaysSo) {
  TempDir dir;
  make_run(dir, "summarization", {0.2, 0.3}, false, false);
  json m = read_metrics_file(dir);
  m["rounds"][1]["reasked"] = 0;
  m["rounds"][1]["yield"] = {{"first_try", 1.5}, {"after_reasks", 1.5}};  // 2 samples a request
  write_metrics_file(dir, m);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("No re-asks were sent: 100 requests gave 1.50 usable samples each."));
  EXPECT_THAT(html, Not(HasSubstr("In all,")));
}

TEST(ReportTeacher, ReservoirPerRoundWithTheShareAndAgeOfWhatItGave) {
  TempDir dir;
  make_full_run(dir);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<h2>Reservoir</h2>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>1</td><td>0</td><td>0</td><td>–</td><td>0</td><td>6</td>"
                              "<td>6</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>2</td><td>6</td><td>4</td><td>1.0</td><td>1</td><td>3</td>"
                              "<td>4</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>3</td><td>4</td><td>2</td><td>2.5</td><td>0</td><td>0</td>"
                              "<td>2</td></tr>"));
  // Taken 0 + 4 + 2 = 6 at a mean age of (4 × 1.0 + 2 × 2.5) / 6 = 1.5; dropped 1; added
  // 6 + 3 + 0 = 9; held after the last round 2. Accepted 3 × 50 = 150, so 6 is 4.0%.
  EXPECT_THAT(html, HasSubstr("<tr class=\"total\"><td>total</td><td></td><td>6</td><td>1.5</td>"
                              "<td>1</td><td>9</td><td>2</td></tr>"));
  EXPECT_THAT(html, HasSubstr("6 of the 150 accepted samples (4.0%) came from the reservoir, on "
                              "average 1.5 rounds after"));
  // The accepted sample it gave says so beside itself.
  EXPECT_THAT(html, HasSubstr("从蓄水池来的样本"));
  EXPECT_THAT(html, HasSubstr("<div class=\"idx\">from the reservoir, generated in round 1</div>"));
}

TEST(ReportTeacher, FunnelBarsStayInTheirCellWhenTheReservoirGaveMoreThanWasRequested) {
  TempDir dir;
  make_run(dir, "classification", {0.5, 0.7}, false, false);
  json m = read_metrics_file(dir);
  // Round 1 took 200 from the reservoir and asked the teacher nothing.
  for (const char* k : {"requested", "parsed", "verified", "diverse"}) m["rounds"][1][k] = 0;
  m["rounds"][1]["accepted"] = 200;
  write_metrics_file(dir, m);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<td class=\"bar\"><span style=\"width:100px\"></span>200</td>"));
  EXPECT_THAT(html, Not(HasSubstr("width:20000px")));
}

TEST(ReportTeacher, ReservoirOffIsSaidOnlyForARunThatKnowsOfIt) {
  TempDir dir;
  make_run(dir, "ner", {0.5, 0.7, 0.6}, false, false);
  json m = read_metrics_file(dir);
  add_reasks(m);
  write_metrics_file(dir, m);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<h2>Reservoir</h2>\n<p>Off (distill.reservoir)"));
  EXPECT_THAT(html, Not(HasSubstr("held before")));
  // A resumed run that turned it on in round 2: round 1 says off.
  m["rounds"][2]["reservoir"] = {{"held", 0},  {"taken", 0},      {"dropped", 0},
                                 {"added", 5}, {"held_after", 5}, {"taken_mean_age", 0.0}};
  write_metrics_file(dir, m);
  const std::string resumed = write(dir);
  EXPECT_THAT(resumed, HasSubstr("<tr><td>1</td><td colspan=\"6\">off</td></tr>"));
  EXPECT_THAT(resumed, HasSubstr("None of the 100 accepted samples came from the reservoir."));
}

TEST(ReportTeacher, ReasoningIsShownShortenedBesideTheSampleWithItsLength) {
  TempDir dir;
  make_full_run(dir);
  const std::string html = write(dir);
  // A column in round 2's accepted and rejected tables; none in round 1's, whose lines have none.
  EXPECT_EQ(occurrences(html, "<th>teacher's reasoning</th>"), 2u);
  // 304 characters: the first 150 and the last 50 (46 × 想 and 最后结论).
  EXPECT_THAT(html, HasSubstr("<div class=\"detail\">304 characters, shortened</div>"
                              "<div class=\"reply\">" +
                              repeat("想", 150) + " … " + repeat("想", 46) + "最后结论</div>"));
  EXPECT_THAT(html, Not(HasSubstr(kLongReasoning)));
  // The reservoir sample has no reasoning.
  EXPECT_THAT(html, HasSubstr("<td>0.400</td><td>–</td></tr>"));
  // Short reasoning whole, escaped, with its 17 characters.
  EXPECT_THAT(html, HasSubstr("<div class=\"detail\">17 characters</div><div class=\"reply\">"
                              "&lt;b&gt;think&lt;/b&gt; &amp; go</div>"));
  EXPECT_THAT(html, HasSubstr("<div class=\"idx\">re-ask 1 · sample 2 of its reply</div>"));
}

TEST(ReportTeacher, TruncatedInReasoningIsFlaggedWithTheAdviceToRaiseMaxTokens) {
  TempDir dir;
  make_full_run(dir);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<td>truncated_in_reasoning</td>"));
  EXPECT_THAT(html, HasSubstr("3 replies were cut while the teacher was still reasoning"));
  EXPECT_THAT(html, HasSubstr("Raise teacher.max_tokens"));
  EXPECT_THAT(html,
              HasSubstr("<b>truncated_in_reasoning</b><div class=\"detail\">the reply was "
                        "cut while the model was still reasoning</div><div "
                        "class=\"worse\">cut while reasoning: raise teacher.max_tokens</div>"));
  EXPECT_THAT(html, HasSubstr("让我想想……"));
  // A run without such rejections gets no advice.
  TempDir plain;
  make_run(plain, "classification", {0.5, 0.7}, false, false);
  EXPECT_THAT(write(plain), Not(HasSubstr("max_tokens")));
}

TEST(ReportTeacher, CsvGainsTheReaskAndReservoirColumnsAtTheEnd) {
  TempDir dir;
  make_full_run(dir);
  write(dir);
  std::istringstream csv(read_file(dir.file("metrics.csv")));
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0],
            "round,train_size,requested,parsed,verified,diverse,accepted,accuracy,macro_f1,seconds,"
            "reasked,yield_first_try,yield_after_reasks,reservoir_taken,reservoir_taken_mean_age,"
            "reservoir_dropped,reservoir_added,reservoir_held_after");
  EXPECT_THAT(lines[1], EndsWith(",1.5,,,,,,,,"));  // round 0 asked no teacher
  EXPECT_THAT(lines[3], EndsWith(",1.5,8,0.7,0.9,4,1,1,3,4"));
  EXPECT_THAT(lines[4], EndsWith(",1.5,0,0.5,0.5,2,2.5,0,0,2"));
  for (const std::string& line : lines)
    EXPECT_EQ(occurrences(line, ","), occurrences(lines[0], ",")) << line;
}

TEST(ReportTeacher, CostAndSpendPerAcceptedSampleWhenTheRunHasThem) {
  TempDir dir;
  make_run(dir, "classification", {0.5, 0.7, 0.6, 0.65}, false, false);
  json m = read_metrics_file(dir);
  // Round 1: 30,000 prompt + 10,000 completion tokens for 40 accepted; priced 2 and 8 per 1M:
  // (30000 × 2 + 10000 × 8) / 1e6 = 0.14, 0.0035 an accepted sample, 1,000 tokens each.
  m["rounds"][1]["teacher"]["tokens_per_accepted"] = 1000.0;
  m["rounds"][1]["teacher"]["cost"] = 0.14;
  m["rounds"][1]["teacher"]["cost_per_accepted"] = 0.0035;
  m["teacher"]["tokens_per_accepted"] = 1000.0;
  m["teacher"]["cost"] = 0.14;
  m["teacher"]["currency"] = "CNY";
  m["teacher"]["cost_per_accepted"] = 0.0035;
  write_metrics_file(dir, m);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<th>tokens / accepted</th><th>cost (CNY)</th>"
                              "<th>cost / accepted (CNY)</th>"));
  EXPECT_THAT(html, HasSubstr("<td>1000</td><td>0.14</td><td>0.0035</td></tr>"));
  // A round without the keys shows dashes, not zeros.
  EXPECT_THAT(html, HasSubstr("<td>–</td><td>–</td><td>–</td></tr>"));
}

TEST(ReportTeacher, BatchesPerRoundAndTheBudgetStopAreShown) {
  TempDir dir;
  make_run(dir, "classification", {0.5, 0.7, 0.6, 0.65}, false, false);
  json m = read_metrics_file(dir);
  m["rounds"][1]["teacher"]["mode"] = "batch";
  m["rounds"][1]["teacher"]["batches"] = {"batch_a", "batch_<b>"};
  m["rounds"][2]["teacher"]["mode"] = "batch";
  m["rounds"][2]["teacher"]["batches"] = json::array();
  m["stop_reason"] = "budget";
  m["budget_reached"] = "max_cost 5 CNY (spent 5.02 CNY)";
  write_metrics_file(dir, m);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("through the Batch API (teacher.mode)"));
  EXPECT_THAT(html, HasSubstr("<tr><td>1</td><td>batch</td><td>batch_a, batch_&lt;b&gt;</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>2</td><td>batch</td><td>–</td></tr>"));
  EXPECT_THAT(html, Not(HasSubstr("<tr><td>3</td><td>batch</td>")));
  EXPECT_THAT(html, HasSubstr("stopped at its teacher budget: max_cost 5 CNY (spent 5.02 CNY)"));
}

TEST(ReportTeacher, AnOnlineRunHasNoBatchesPart) {
  TempDir dir;
  make_run(dir, "classification", {0.5, 0.7, 0.6, 0.65}, false, false);
  EXPECT_THAT(write(dir), Not(HasSubstr("<h3>Batches</h3>")));
}

TEST(ReportTeacher, WeaknessMethodCvCostAndRequestsPerLabelPerRound) {
  TempDir dir;
  make_run(dir, "classification", {0.5, 0.7, 0.6, 0.65}, false, false);
  json m = read_metrics_file(dir);
  m["rounds"][1]["weakness"] = {{"method", "cv"}, {"allocation", "per_label"},
                                {"schedule", "iterative"}, {"cv_folds", 5}, {"cv_seconds", 12.34},
                                {"requests_per_label", {{"体育", 30}, {"<财经>", 10}}}};
  m["dev_optimistic"] = "seeds may be dev samples";
  write_metrics_file(dir, m);
  const std::string html = write(dir);
  EXPECT_THAT(html, HasSubstr("<h3>Weakness and seeds</h3>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>1</td><td>cv</td><td>iterative</td><td>per_label</td>"
                              "<td>12.3</td><td>&lt;财经&gt; 10, 体育 30</td></tr>"));
  EXPECT_THAT(html, HasSubstr("DEV IS OPTIMISTIC: seeds may be dev samples."));
}

}  // namespace
}  // namespace weakdistill
