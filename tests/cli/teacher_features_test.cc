// End-to-end: what a run does with real servers' ways (tests/fake): structured output and its
// fallback, re-asks, reasoning models, several samples a request, and the reservoir.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "fake/fake_openai_server.h"
#include "support/run.h"
#include "support/run_folder.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/distill/run_store.h"

namespace weakdistill {
namespace {

using testing::ChatChoice;
using testing::FakeOpenAIServer;
using testing::FakeServerOptions;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

class TeacherFeatures : public ::testing::Test {
 protected:
  void SetUp() override {
    dir.write("train.jsonl", testing::dataset(0, 4));
    dir.write("dev.jsonl", testing::dataset(1000, 5));
    dir.write("test.jsonl", testing::dataset(2000, 5));
  }
  std::string config(const FakeOpenAIServer& server, const std::string& teacher_extra = "",
                     int max_rounds = 1, const std::string& distill_extra = "") {
    return dir.write("c.yaml",
                     "task: classification\n"
                     "data: {train: " + dir.file("train.jsonl") + ", dev: " +
                         dir.file("dev.jsonl") + ", test: " + dir.file("test.jsonl") +
                         "}\n"
                         "student: {kind: fasttext, threads: 1, epochs: 10}\n"
                         "teacher: {kind: openai, base_url: " + server.base_url() +
                         ", model: fake, seed: 1, concurrency: 4" + teacher_extra +
                         "}\n"
                         "distill: {per_round: 5, oversample: 2, patience: 5, seed: 3, "
                         "max_rounds: " + std::to_string(max_rounds) + distill_extra + "}\n");
  }
  TempDir dir;
};

// The seed's label as the prompt carries it ({format} holds it).
std::string label_of(const nlohmann::json& request) {
  const std::string prompt = request["messages"].back()["content"];
  return prompt.find("\"label\": \"A\"") != std::string::npos ? "A" : "B";
}

std::string new_text(const nlohmann::json& request, std::uint64_t salt = 0) {
  // The request seed (teacher.seed + ordinal) keeps replies apart; the low bits carry the
  // request's number within its round.
  const auto seed = request.value("seed", std::uint64_t{0});
  return testing::text_of(label_of(request) == "A" ? testing::kA : testing::kB,
                          (seed & 0xffffffffu) * 131 + (seed >> 32) * 7919 + salt, 7);
}

TEST_F(TeacherFeatures, StructuredOutputSendsTheTasksSchemaAndTheServerHoldsRepliesToIt) {
  FakeServerOptions so;
  so.enforce_schema = true;  // a reply outside the schema would be a 500
  FakeOpenAIServer server(so);
  server.set_choice_responder([](const nlohmann::json& request, int) {
    nlohmann::ordered_json reply;
    reply["reasoning"] = "先分析样本的主题，再写一个新的。";
    reply["text"] = new_text(request);
    reply["label"] = label_of(request);
    return ChatChoice{reply.dump(), "", ""};
  });
  const auto c = config(server);
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto bodies = server.bodies();
  ASSERT_FALSE(bodies.empty());
  for (const auto& b : bodies) {
    ASSERT_EQ(b["response_format"]["type"], "json_schema");
    const auto& schema = b["response_format"]["json_schema"]["schema"];
    EXPECT_EQ(schema["properties"]["label"]["enum"], nlohmann::json({"A", "B"}));
    // The prompt asks for the reasoning inside the JSON, first.
    EXPECT_THAT(b["messages"].back()["content"].get<std::string>(), HasSubstr("\"reasoning\""));
  }
  EXPECT_EQ(server.summary()["bad_requests"], 0);
  EXPECT_EQ(server.summary()["schema_mismatches"], 0);
  const auto m = read_json(dir.file("run") + "/metrics.json");
  EXPECT_EQ(m["rounds"][1]["teacher"]["response_format"], "json_schema");
  EXPECT_EQ(m["rounds"][1]["accepted"], 5);
}

// A server that refuses json_schema (400) is asked with json_object from then on: one refused
// request in the whole run, also across a kill and a resume; the store and metrics say so.
TEST_F(TeacherFeatures, AFormatTheServerRefusesFallsBackOnceForTheWholeRun) {
  FakeServerOptions so;
  so.response_formats = {"text", "json_object"};
  FakeOpenAIServer server(so);
  server.set_responder(testing::responder);
  const auto c = config(server, "", 3);
  const std::string run_dir = dir.file("run");
  const auto crashed =
      run_cli("run '" + c + "' --run-dir '" + run_dir + "'", "WEAKDISTILL_CRASH_AT=round_committed:1");
  ASSERT_EQ(crashed.code, 137) << crashed.err;
  EXPECT_THAT(crashed.err, HasSubstr("refused response_format json_schema"));
  EXPECT_EQ(server.summary()["bad_requests"], 1);
  const auto resumed = run_cli("run --resume '" + run_dir + "'");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(server.summary()["bad_requests"], 1) << "the resumed run probed json_schema again";
  const auto bodies = server.bodies();
  EXPECT_EQ(bodies.front()["response_format"]["type"], "json_schema");
  for (std::size_t i = 1; i < bodies.size(); ++i) {
    EXPECT_EQ(bodies[i]["response_format"]["type"], "json_object") << i;
  }
  const auto m = read_json(run_dir + "/metrics.json");
  for (std::size_t r = 1; r < m["rounds"].size(); ++r) {
    if (m["rounds"][r]["requested"] == 0) continue;
    EXPECT_EQ(m["rounds"][r]["teacher"]["response_format"], "json_object");
    ASSERT_EQ(m["rounds"][r]["teacher"]["fallbacks"].size(), 1u);
    EXPECT_EQ(m["rounds"][r]["teacher"]["fallbacks"][0]["from"], "json_schema");
    EXPECT_EQ(m["rounds"][r]["teacher"]["fallbacks"][0]["status"], 400);
  }
  RunStore store(run_dir + "/run.sqlite");
  const auto format = nlohmann::json::parse(store.meta("teacher_format").value_or("null"));
  EXPECT_EQ(format["response_format"], "json_object");
}

// A server that takes no response_format at all is asked in plain text after two refusals, and
// the run never loops between forms.
TEST_F(TeacherFeatures, AServerWithNoStructuredOutputEndsAtTextAfterTwoRefusals) {
  FakeServerOptions so;
  so.response_formats = {};
  FakeOpenAIServer server(so);
  server.set_responder(testing::responder);
  const auto c = config(server);
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server.summary()["bad_requests"], 2);
  const auto bodies = server.bodies();
  ASSERT_GT(bodies.size(), 2u);
  for (std::size_t i = 2; i < bodies.size(); ++i) EXPECT_FALSE(bodies[i].contains("response_format"));
  const auto m = read_json(dir.file("run") + "/metrics.json");
  EXPECT_EQ(m["rounds"][1]["teacher"]["response_format"], "text");
  EXPECT_EQ(m["rounds"][1]["teacher"]["fallbacks"].size(), 2u);
  EXPECT_GT(m["rounds"][1]["accepted"].get<int>(), 0);
}

// Replies unusable for their form are asked again with new request seeds; every attempt is a
// record, and the yield before and after re-asks is reported.
TEST_F(TeacherFeatures, RepliesUnusableForTheirFormAreAskedAgain) {
  FakeOpenAIServer server;
  server.set_responder([](const nlohmann::json& request, int) -> std::string {
    const auto seed = request.value("seed", std::uint64_t{0});
    // First asks (low numbers) write prose only; re-asks (numbered after them) answer.
    if ((seed & 0xffffffffu) < 11) return "好的，我来写一个新样本：某地举行了活动。";
    return "{\"text\": \"" + new_text(request) + "\", \"label\": \"" + label_of(request) + "\"}";
  });
  const auto c = config(server);
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = read_json(dir.file("run") + "/metrics.json");
  const auto& round = m["rounds"][1];
  EXPECT_EQ(round["requested"], 10);
  EXPECT_EQ(round["reasked"], 10);  // each first ask once more; each re-ask answered
  EXPECT_EQ(round["teacher"]["requests"], 20);
  EXPECT_DOUBLE_EQ(round["yield"]["first_try"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(round["yield"]["after_reasks"].get<double>(), 1.0);
  EXPECT_EQ(round["accepted"], 5);
  for (const auto& line : read_lines(dir.file("run") + "/rounds/01/accepted.jsonl")) {
    EXPECT_EQ(line["attempt"], 1);
    EXPECT_TRUE(line.contains("first_ordinal"));
  }
  std::size_t unparseable = 0;
  for (const auto& line : read_lines(dir.file("run") + "/rounds/01/rejected.jsonl")) {
    unparseable += line["outcome"] == "unparseable";
  }
  EXPECT_EQ(unparseable, 10u);
  EXPECT_EQ(server.requests(), 20u);
}

// A reasoning model: its reasoning is kept beside the sample, and a JSON object inside the
// reasoning (in reasoning_content or in a <think> block) is never taken for the answer.
TEST_F(TeacherFeatures, AReasoningModelsReasoningIsKeptAndItsDecoyNeverTaken) {
  for (const bool think : {false, true}) {
    FakeOpenAIServer server;
    server.set_choice_responder([think](const nlohmann::json& request, int) {
      const std::string reasoning = "草稿：{\"text\": \"诱饵文本不应被采用\", \"label\": \"A\"}，再改一改。";
      const std::string answer = "{\"reasoning\": \"简述\", \"text\": \"" + new_text(request) +
                                 "\", \"label\": \"" + label_of(request) + "\"}";
      if (think) return ChatChoice{"<think>\n" + reasoning + "\n</think>\n\n" + answer, "", ""};
      return ChatChoice{answer, reasoning, ""};
    });
    const auto c = config(server);
    const std::string run_dir = dir.file(think ? "think" : "field");
    const auto r = run_cli("run '" + c + "' --run-dir '" + run_dir + "'");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto accepted = read_lines(run_dir + "/rounds/01/accepted.jsonl");
    ASSERT_EQ(accepted.size(), 5u) << think;
    for (const auto& line : accepted) {
      EXPECT_THAT(line["reasoning"].get<std::string>(), HasSubstr("诱饵文本")) << think;
      EXPECT_THAT(line["sample"]["text"].get<std::string>(), Not(HasSubstr("诱饵"))) << think;
    }
    EXPECT_THAT(testing::read_file(run_dir + "/augmented.jsonl"), Not(HasSubstr("诱饵")));
  }
}

// A reply cut while the model still reasons is rejected as truncated_in_reasoning, with the
// advice to raise max_tokens.
TEST_F(TeacherFeatures, AReplyCutWhileReasoningSaysToRaiseMaxTokens) {
  FakeOpenAIServer server;
  server.set_choice_responder([](const nlohmann::json&, int) {
    return ChatChoice{"", "让我仔细想一想这个样本的主题和风格……", "length"};
  });
  const auto c = config(server, ", format_retries: 1");
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = read_json(dir.file("run") + "/metrics.json");
  EXPECT_EQ(m["rounds"][1]["rejected"]["truncated_in_reasoning"], 20);  // 10 asked, 10 re-asked
  EXPECT_EQ(m["rounds"][1]["accepted"], 0);
  const auto rejected = read_lines(dir.file("run") + "/rounds/01/rejected.jsonl");
  ASSERT_FALSE(rejected.empty());
  EXPECT_THAT(rejected[0]["detail"].get<std::string>(), HasSubstr("teacher.max_tokens"));
  EXPECT_THAT(rejected[0]["reasoning"].get<std::string>(), HasSubstr("仔细想一想"));
}

// samples_per_request k: a request asks for k samples; oversample × per_round samples take
// ceil(that / k) requests, and each sample is its own record.
TEST_F(TeacherFeatures, SeveralSamplesARequestEachJudgedOnItsOwn) {
  std::vector<nlohmann::ordered_json> samples;
  for (int i = 0; i < 40; ++i) {
    samples.push_back({{"text", testing::text_of(i % 2 ? testing::kA : testing::kB, 50000 + i, 7)},
                       {"label", i % 2 ? "A" : "B"}});
  }
  FakeServerOptions so;
  so.enforce_schema = true;
  FakeOpenAIServer server(so);
  server.set_choice_responder(testing::samples_responder(samples, {0, 20, false}));
  const auto c = config(server, ", samples_per_request: 4");
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server.summary()["schema_mismatches"], 0);
  const auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 3u);  // ceil(2 × 5 / 4)
  EXPECT_EQ(bodies[0]["response_format"]["json_schema"]["schema"]["properties"]["samples"]["maxItems"], 4);
  const auto m = read_json(dir.file("run") + "/metrics.json");
  EXPECT_EQ(m["rounds"][1]["requested"], 3);
  EXPECT_EQ(m["rounds"][1]["verified"], 12);
  EXPECT_EQ(m["rounds"][1]["accepted"], 5);
  std::set<int> slots;
  for (const std::string f : {"accepted", "rejected"}) {
    for (const auto& line : read_lines(dir.file("run") + "/rounds/01/" + f + ".jsonl")) {
      slots.insert(line.value("slot", 0));
    }
  }
  EXPECT_EQ(slots, (std::set<int>{0, 1, 2, 3}));
}

// The reservoir: round 2 takes round 1's over-quota candidates and asks the teacher only for
// what is missing; with it off, round 2 asks for a whole round again.
TEST_F(TeacherFeatures, TheReservoirSavesTheNextRoundsRequests) {
  FakeOpenAIServer server;
  server.set_responder(testing::responder);
  const auto on = run_cli("run '" + config(server, "", 2) + "' --run-dir '" + dir.file("on") + "'");
  ASSERT_EQ(on.code, 0) << on.err;
  const std::size_t asked_on = server.requests();
  const auto off = run_cli("run '" + config(server, "", 2, ", reservoir: off") + "' --run-dir '" +
                           dir.file("off") + "'");
  ASSERT_EQ(off.code, 0) << off.err;
  const std::size_t asked_off = server.requests() - asked_on;
  const auto m_on = read_json(dir.file("on") + "/metrics.json");
  const auto m_off = read_json(dir.file("off") + "/metrics.json");
  EXPECT_EQ(asked_off, 20u);
  EXPECT_EQ(asked_on, 10u);
  EXPECT_EQ(m_on["rounds"][2]["reservoir"]["taken"], 5);
  EXPECT_EQ(m_on["rounds"][2]["reservoir"]["taken_mean_age"], 1.0);
  EXPECT_FALSE(m_off["rounds"][2].contains("reservoir"));
  // Equal accepted samples for half the requests.
  EXPECT_EQ(m_on["rounds"][2]["train_size"], m_off["rounds"][2]["train_size"]);
  for (const auto& line : read_lines(dir.file("on") + "/rounds/02/accepted.jsonl")) {
    EXPECT_EQ(line["generated_in_round"], 1);
  }
}

// teacher.price: every round and the run record what their tokens cost, and per accepted sample.
TEST_F(TeacherFeatures, APriceGivesEachRoundsCostAndTheCostPerAcceptedSample) {
  FakeOpenAIServer server;
  server.set_responder(testing::responder);
  const auto c = config(server, ", price: {input_per_1m: 2.5, output_per_1m: 10, currency: CNY}", 2);
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = read_json(dir.file("run") + "/metrics.json");
  double total = 0;
  std::int64_t prompt = 0, completion = 0;
  for (std::size_t i = 1; i < m["rounds"].size(); ++i) {
    const auto& t = m["rounds"][i]["teacher"];
    const double expected = (t["prompt_tokens"].get<double>() * 2.5 +
                             t["completion_tokens"].get<double>() * 10) / 1e6;
    EXPECT_DOUBLE_EQ(t["cost"].get<double>(), expected) << i;
    EXPECT_EQ(t["currency"], "CNY");
    total += expected;
    prompt += t["prompt_tokens"].get<std::int64_t>();
    completion += t["completion_tokens"].get<std::int64_t>();
  }
  EXPECT_GT(prompt, 0);
  const auto& t = m["teacher"];
  EXPECT_NEAR(t["cost"].get<double>(), total, 1e-12);
  EXPECT_EQ(t["prompt_tokens"], prompt);
  const int accepted = m["rounds"][1]["accepted"].get<int>() + m["rounds"][2]["accepted"].get<int>();
  EXPECT_NEAR(t["cost_per_accepted"].get<double>(), total / accepted, 1e-12);
  EXPECT_NEAR(t["tokens_per_accepted"].get<double>(),
              static_cast<double>(prompt + completion) / accepted, 1e-9);
  EXPECT_THAT(r.err, HasSubstr(" CNY"));  // the round lines and the last line say it
  // Without a price: tokens only.
  const auto plain = run_cli("run '" + config(server, "", 1) + "' --run-dir '" + dir.file("plain") + "'");
  ASSERT_EQ(plain.code, 0) << plain.err;
  const auto p = read_json(dir.file("plain") + "/metrics.json");
  EXPECT_FALSE(p["teacher"].contains("cost"));
  EXPECT_TRUE(p["teacher"].contains("tokens_per_accepted"));
}

TEST_F(TeacherFeatures, ABadPriceIsExitTwoNamingTheKey) {
  FakeOpenAIServer server;
  for (const auto& [price, key] : std::vector<std::pair<std::string, std::string>>{
           {", price: {input_per_1m: -1, output_per_1m: 1}", "teacher.price.input_per_1m"},
           {", price: {input_per_1m: 1, output_per_1m: lots}", "teacher.price.output_per_1m"},
           {", price: {input_per_1m: 1}", "teacher.price.output_per_1m"},
           {", price: 3", "teacher.price"},
           {", price: {input_per_1m: 1, output_per_1m: 1, currency: ''}", "teacher.price.currency"},
           {", price: {input_per_1m: 1, output_per_1m: 1, tax: 2}", "tax"}}) {
    const auto r = run_cli("run '" + config(server, price) + "' --run-dir '" + dir.file("bad") + "'");
    EXPECT_EQ(r.code, 2) << price << r.err;
    EXPECT_THAT(r.err, HasSubstr(key)) << price;
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad"))) << price;
  }
  EXPECT_EQ(server.requests(), 0u);
}

// teacher.budget: a round is cut to what fits, the run stops with exit 3 and stop_reason budget,
// and raising the budget on --resume continues it.
TEST_F(TeacherFeatures, ABudgetStopsTheRunAndRaisingItContinues) {
  FakeOpenAIServer server;
  server.set_responder(testing::responder);
  const auto c = config(server, ", budget: {max_requests: 15}", 3, ", reservoir: off");
  const std::string run_dir = dir.file("run");
  const auto r = run_cli("run '" + c + "' --run-dir '" + run_dir + "'");
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("stopped at the teacher budget: max_requests 15 (sent 15)"));
  EXPECT_THAT(r.err, HasSubstr("--resume " + run_dir + " --set teacher.budget."));
  EXPECT_EQ(server.requests(), 15u);  // round 1's 10, round 2 cut to 5
  auto m = read_json(run_dir + "/metrics.json");
  EXPECT_EQ(m["stop_reason"], "budget");
  ASSERT_EQ(m["rounds"].size(), 3u);
  EXPECT_EQ(m["rounds"][2]["requested"], 5);
  // Resuming without more budget stops again at once, asking nothing.
  const auto again = run_cli("run --resume '" + run_dir + "'");
  EXPECT_EQ(again.code, 3) << again.err;
  EXPECT_EQ(server.requests(), 15u);
  // A bigger budget continues to the end.
  const auto more =
      run_cli("run --resume '" + run_dir + "' --set teacher.budget.max_requests=100");
  EXPECT_EQ(more.code, 0) << more.err;
  m = read_json(run_dir + "/metrics.json");
  EXPECT_EQ(m["stop_reason"], "max_rounds");
  EXPECT_EQ(m["rounds"].size(), 4u);
  EXPECT_EQ(server.requests(), 25u);
  // Other keys stay fixed on a resume.
  const auto other = run_cli("run --resume '" + run_dir + "' --set teacher.temperature=0.1");
  EXPECT_EQ(other.code, 2) << other.err;
}

// A token budget is checked as replies come back: the run never passes it by more than the
// requests in flight (concurrency 4 here), however large a round is.
TEST_F(TeacherFeatures, ATokenBudgetIsPassedByAtMostTheRequestsInFlight) {
  FakeOpenAIServer server;
  server.set_responder(testing::responder);
  // First, what one request costs with this responder and prompt.
  const auto probe = run_cli("run '" + config(server, "", 1) + "' --run-dir '" + dir.file("probe") + "'");
  ASSERT_EQ(probe.code, 0) << probe.err;
  const auto pm = read_json(dir.file("probe") + "/metrics.json");
  const auto& pt = pm["rounds"][1]["teacher"];
  const double per_request =
      (pt["prompt_tokens"].get<double>() + pt["completion_tokens"].get<double>()) /
      pt["requests"].get<double>();
  const auto budget = static_cast<std::int64_t>(per_request * 2.5);  // 2.5 requests' worth
  const std::size_t before = server.requests();
  const auto r = run_cli("run '" + config(server, ", budget: {max_tokens: " + std::to_string(budget) +
                                              "}", 2, ", reservoir: off") +
                         "' --run-dir '" + dir.file("run") + "'");
  EXPECT_EQ(r.code, 3) << r.err;
  const auto m = read_json(dir.file("run") + "/metrics.json");
  const auto& t = m["teacher"];
  const auto spent = t["prompt_tokens"].get<std::int64_t>() + t["completion_tokens"].get<std::int64_t>();
  EXPECT_GE(spent, budget);
  // At most the 4 requests in flight when the limit was seen (each about per_request tokens;
  // 1.5 × for the variation between prompts).
  EXPECT_LE(static_cast<double>(spent), static_cast<double>(budget) + 4 * per_request * 1.5);
  EXPECT_LE(server.requests() - before, 3u + 4u);  // 3 reach it, 4 at most were in flight
  EXPECT_THAT(m["budget_reached"].get<std::string>(), HasSubstr("max_tokens"));
  // A round was cut short: it kept what came back.
  EXPECT_LT(m["rounds"][1]["requested"].get<int>(), 10);
}

TEST_F(TeacherFeatures, ABadBudgetIsExitTwoNamingTheKey) {
  FakeOpenAIServer server;
  for (const auto& [budget, key] : std::vector<std::pair<std::string, std::string>>{
           {", budget: {max_requests: -1}", "teacher.budget.max_requests"},
           {", budget: {max_tokens: many}", "teacher.budget.max_tokens"},
           {", budget: {max_cost: 5}", "teacher.budget.max_cost: needs teacher.price"},
           {", price: {input_per_1m: 1, output_per_1m: 1}, budget: {max_cost: -2}",
            "teacher.budget.max_cost"},
           {", budget: {max_dollars: 5}", "max_dollars"},
           {", budget: 5", "teacher.budget"}}) {
    const auto r = run_cli("run '" + config(server, budget) + "' --run-dir '" + dir.file("bad") + "'");
    EXPECT_EQ(r.code, 2) << budget << r.err;
    EXPECT_THAT(r.err, HasSubstr(key)) << budget;
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad"))) << budget;
  }
  EXPECT_EQ(server.requests(), 0u);
}

// --estimate sends nothing and makes no folder; resumed, it takes the completion size from the
// run's history, and its expected tokens come within 10% of what the rounds then used (on the
// fake server, which counts characters as the estimate does).
TEST_F(TeacherFeatures, TheEstimateSendsNothingAndComesWithinTenPercent) {
  std::vector<nlohmann::ordered_json> samples;
  for (int i = 0; i < 400; ++i) {
    samples.push_back({{"text", testing::text_of(i % 2 ? testing::kA : testing::kB, 70000 + i, 7)},
                       {"label", i % 2 ? "A" : "B"}});
  }
  FakeOpenAIServer server;
  server.set_choice_responder(testing::samples_responder(samples, {0, 120, false}));
  const std::string price = ", price: {input_per_1m: 1, output_per_1m: 4, currency: CNY}";
  const auto fresh = run_cli("run '" + config(server, price, 3, ", reservoir: off") +
                             "' --run-dir '" + dir.file("never") + "' --estimate");
  ASSERT_EQ(fresh.code, 0) << fresh.err;
  EXPECT_THAT(fresh.out, HasSubstr("3 round(s) from round 1"));
  EXPECT_THAT(fresh.out, HasSubstr("cost (CNY)"));
  EXPECT_THAT(fresh.out, HasSubstr("completion per request from teacher.max_tokens"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("never")));
  EXPECT_EQ(server.requests(), 0u);

  const std::string run_dir = dir.file("run");
  const auto first = run_cli("run '" + config(server, price, 1, ", reservoir: off") +
                             "' --run-dir '" + run_dir + "'");
  ASSERT_EQ(first.code, 0) << first.err;
  const std::string config_before = testing::read_file(run_dir + "/config.yaml");
  const auto estimate =
      run_cli("run --resume '" + run_dir + "' --set distill.max_rounds=3 --estimate");
  ASSERT_EQ(estimate.code, 0) << estimate.err;
  EXPECT_EQ(testing::read_file(run_dir + "/config.yaml"), config_before) << "an estimate wrote";
  EXPECT_THAT(estimate.out, HasSubstr("2 round(s) from round 2"));
  EXPECT_THAT(estimate.out, HasSubstr("from the run's history"));
  // "total" row: low, expected, high.
  std::istringstream rows(estimate.out);
  double low = 0, expected = 0, high = 0;
  for (std::string line; std::getline(rows, line);) {
    if (line.rfind("total", 0) == 0) std::istringstream(line.substr(5)) >> low >> expected >> high;
  }
  ASSERT_GT(expected, 0) << estimate.out;
  EXPECT_LE(low, expected);
  EXPECT_LE(expected, high);

  const auto rest = run_cli("run --resume '" + run_dir + "' --set distill.max_rounds=3");
  ASSERT_EQ(rest.code, 0) << rest.err;
  const auto m = read_json(run_dir + "/metrics.json");
  double used = 0;
  for (std::size_t r = 2; r < m["rounds"].size(); ++r) {
    used += m["rounds"][r]["teacher"]["prompt_tokens"].get<double>() +
            m["rounds"][r]["teacher"]["completion_tokens"].get<double>();
  }
  EXPECT_NEAR(expected, used, 0.1 * used) << estimate.out;
}

// With teacher.tokenizer the estimate counts tokens. A byte-level BPE without merges makes one
// token of each UTF-8 byte, so the prompt per request must be the prompts' mean byte count,
// measured here on what a run then sent.
TEST_F(TeacherFeatures, TheEstimateCountsTokensWithTheTeachersTokenizer) {
  const nlohmann::json tokenizer = {
      {"model", {{"type", "BPE"}, {"vocab", nlohmann::json::object()}, {"merges", nlohmann::json::array()}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}};
  dir.write("tok/tokenizer.json", tokenizer.dump());
  FakeOpenAIServer server;
  server.set_responder(testing::responder);
  const std::string c = config(server, ", tokenizer: " + dir.file("tok"));
  const auto estimate = run_cli("run '" + c + "' --run-dir '" + dir.file("never") + "' --estimate");
  ASSERT_EQ(estimate.code, 0) << estimate.err;
  EXPECT_THAT(estimate.out, HasSubstr("sizes in tokens of byte-level BPE (tokenizer.json"));
  double low = 0, expected = 0, high = 0;
  std::istringstream rows(estimate.out);
  for (std::string line; std::getline(rows, line);) {
    if (line.rfind("prompt / request", 0) == 0) {
      std::istringstream(line.substr(16)) >> low >> expected >> high;
    }
  }
  const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("run") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  double bytes = 0, chars = 0;
  for (const auto& body : server.bodies()) {
    for (const auto& m : body["messages"]) {
      const std::string content = m["content"];
      bytes += static_cast<double>(content.size());
      chars += static_cast<double>(utf8::length(content));
    }
  }
  bytes /= static_cast<double>(server.bodies().size());
  chars /= static_cast<double>(server.bodies().size());
  // The estimate's mean is over every seed the loop may draw, the run's over those it drew.
  EXPECT_NEAR(expected, bytes, 0.05 * bytes) << estimate.out;
  EXPECT_GT(expected, 1.5 * chars)
      << "Chinese prompts have about 3 bytes a character: tokens, not characters, were counted";
  const auto bad = run_cli("run '" + config(server, ", tokenizer: " + dir.file("nope")) +
                           "' --estimate");
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("teacher.tokenizer: no such folder or file"));
}

}  // namespace
}  // namespace weakdistill
