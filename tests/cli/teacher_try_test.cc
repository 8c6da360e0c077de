// `weakdistill teacher try` as a user runs it, against the fake server on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <set>
#include <sstream>

#include "fake/fake_openai_server.h"
#include "support/run.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

using testing::FakeOpenAIServer;
using testing::FakeServerOptions;
using testing::Fault;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_cli;
using testing::TempDir;

const char* kSeeds =
    "{\"text\": \"国足世预赛客场告负\", \"label\": \"体育\"}\n"
    "{\"text\": \"央行宣布降准\", \"label\": \"财经\"}\n";

// Replies like an LLM: some reasoning, then the JSON object. The label depends
// on the prompt so that one reply is verified and one is rejected.
std::string responder(const nlohmann::json& request, int) {
  const std::string prompt = request["messages"].back()["content"];
  if (prompt.find("国足") != std::string::npos) {
    return "首先分析样本……\n```json\n{\"text\": \"女足主场战胜对手\", \"label\": \"体育\"}\n```";
  }
  return "好的。{\"text\": \"股市今日收涨\", \"label\": \"股票\"}";
}

std::string config(const FakeOpenAIServer& server, const std::string& extra = "") {
  return "task: classification\n"
         "teacher:\n"
         "  kind: openai\n"
         "  base_url: " +
         server.base_url() +
         "\n"
         "  model: qwen2-72b-instruct\n"
         "  backoff_initial_s: 0.01\n"
         "  backoff_max_s: 0.02\n"
         "  max_retries: 2\n" +
         extra;
}

TEST(TeacherTry, ShowsPromptReplyAndVerdict) {
  FakeOpenAIServer server;
  server.set_responder(responder);
  TempDir dir;
  const auto c = dir.write("c.yaml", config(server));
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const auto r = run_cli("teacher try --config '" + c + "' --seeds '" + s + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("PROMPT (user):"));
  EXPECT_THAT(r.out, HasSubstr("国足世预赛客场告负"));  // the seed text is in the prompt
  EXPECT_THAT(r.out, HasSubstr("女足主场战胜对手"));    // the reply
  EXPECT_THAT(r.out, HasSubstr("RESULT: accepted"));
  EXPECT_THAT(r.out, HasSubstr("RESULT: rejected (label_not_in_set)"));
  EXPECT_THAT(r.err, HasSubstr("accepted 1"));
  // A label outside the label set is a form problem: asked again, twice (format_retries 2),
  // each time with a new request seed, as a run would.
  EXPECT_THAT(r.out, HasSubstr("re-ask 1"));
  EXPECT_THAT(r.out, HasSubstr("re-ask 2"));
  EXPECT_THAT(r.out, Not(HasSubstr("re-ask 3")));
  EXPECT_THAT(r.err, HasSubstr("usable samples: 1 from 2 request(s) at the first try, 1 after 2 re-ask(s)"));
  EXPECT_EQ(server.requests(), 4u);
  // With a teacher.seed each re-ask carries its own request seed.
  const auto seeded = run_cli("teacher try --config '" + c + "' --seeds '" + s +
                              "' --set teacher.seed=7 --set teacher.format_retries=1");
  EXPECT_EQ(seeded.code, 0) << seeded.err;
  const auto all = server.bodies();
  ASSERT_EQ(all.size(), 4u + 3u);
  std::set<std::int64_t> seeds;
  for (std::size_t i = 4; i < all.size(); ++i) seeds.insert(all[i]["seed"].get<std::int64_t>());
  EXPECT_EQ(seeds.size(), 3u) << "a re-ask must send a new request seed";
}

TEST(TeacherTry, NoReasksWithFormatRetriesZero) {
  FakeOpenAIServer server;
  server.set_responder(responder);
  TempDir dir;
  const auto c = dir.write("c.yaml", config(server, "  format_retries: 0\n"));
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const auto r = run_cli("teacher try --config '" + c + "' --seeds '" + s + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("re-ask")));
  EXPECT_EQ(server.requests(), 2u);
}

TEST(TeacherTry, NGenerationsPerSeedAndJsonOutput) {
  FakeOpenAIServer server;
  server.set_responder(responder);
  TempDir dir;
  const auto c = dir.write("c.yaml", config(server));
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const auto r = run_cli("teacher try --config '" + c + "' --seeds '" + s + "' --n 3 --json");
  EXPECT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0, accepted = 0, reasks = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    ++n;
    accepted += j["outcome"] == "accepted";
    reasks += j["attempt"].get<int>() > 0;
    EXPECT_TRUE(j.contains("prompt"));
    EXPECT_TRUE(j.contains("reply"));
  }
  // 6 first asks; the 3 rejected for their label are each asked twice more.
  EXPECT_EQ(n, 12);
  EXPECT_EQ(reasks, 6);
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(server.requests(), 12u);
}

TEST(TeacherTry, ExitsOneWhenTheTeacherDoesNotAnswer) {
  FakeOpenAIServer server;
  server.push_faults(100, Fault::status_code(503));
  TempDir dir;
  const auto c = dir.write("c.yaml", config(server));
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const auto r = run_cli("teacher try --config '" + c + "' --seeds '" + s + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("request_failed"));
  EXPECT_THAT(r.err, HasSubstr("did not answer 2 of 2"));
  EXPECT_EQ(server.requests(), 6u);  // 1 + 2 retries each
}

// A reply of an unexpected shape is that request's failure, named; content sent as parts works.
TEST(TeacherTry, RepliesOfUnexpectedShapesAreOneRequestsFailure) {
  FakeOpenAIServer server;
  server.set_responder(responder);
  server.push_fault(Fault::reply_body(
      R"({"choices": [{"message": {"content": [{"type": "text", "text": "{\"text\": \"女足主场)"
      R"(战胜对手\", "}, {"type": "text", "text": "\"label\": \"体育\"}"}]},)"
      R"( "finish_reason": "stop"}], "usage": {"prompt_tokens": "12", "completion_tokens": null}})"));
  server.push_fault(Fault::reply_body(R"({"choices": [{"message": {"content": {"text": 1}}}]})"));
  TempDir dir;
  const auto c = dir.write("c.yaml", config(server, "  concurrency: 1\n"));
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const auto r = run_cli("teacher try --config '" + c + "' --seeds '" + s + "'");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("女足主场战胜对手"));
  EXPECT_THAT(r.out, HasSubstr("choices[0].message.content is an object"));
  EXPECT_THAT(r.err, HasSubstr("did not answer 1 of 2"));
  EXPECT_THAT(r.err, Not(HasSubstr("json.exception")));
}

TEST(TeacherTry, WrongKeyStopsWithAdviceAndNeverShowsTheKey) {
  FakeServerOptions so;
  so.api_key = "sk-right-0000000000";
  FakeOpenAIServer server(so);
  TempDir dir;
  const auto c = dir.write("c.yaml", config(server, "  api_key_env: WD_TRY_KEY\n"));
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const auto r = run_cli("-v teacher try --config '" + c + "' --seeds '" + s + "'",
                         "WD_TRY_KEY=sk-wrong-1111111111");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("HTTP 401"));
  EXPECT_THAT(r.err, HasSubstr("WD_TRY_KEY"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("sk-wrong-1111111111")));
  EXPECT_LE(server.requests(), 2u);  // one per seed at most: 401 is not retried

  const auto unset = run_cli("teacher try --config '" + c + "' --seeds '" + s + "'");
  EXPECT_EQ(unset.code, 2);
  EXPECT_THAT(unset.err, HasSubstr("teacher.api_key_env"));
}

TEST(TeacherTry, CacheFileMeansARerunAsksNothing) {
  FakeOpenAIServer server;
  server.set_responder(responder);
  TempDir dir;
  const auto c = dir.write("c.yaml", config(server));
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const std::string args =
      "teacher try --config '" + c + "' --seeds '" + s + "' --cache '" + dir.file("t.sqlite") + "'";
  EXPECT_EQ(run_cli(args).code, 0);
  const auto again = run_cli(args);
  EXPECT_EQ(again.code, 0);
  EXPECT_THAT(again.out, HasSubstr("from the cache"));
  EXPECT_EQ(server.requests(), 4u);  // 2 first asks, 2 re-asks: every one cached
}

TEST(TeacherTry, BadConfigIsExitTwoNamingTheKey) {
  TempDir dir;
  const auto s = dir.write("seeds.jsonl", kSeeds);
  struct Case {
    std::string yaml, expect;
  };
  for (const Case& k :
       {Case{"task: classification\nteacher: {kind: openai, model: m}\n", "teacher.base_url"},
        Case{"task: classification\nteacher: {kind: llm}\n", "teacher.kind"},
        Case{"task: classifcation\nteacher: {kind: augment}\n", "classifcation"},
        Case{"task: classification\nteacher: {kind: openai, base_url: 'htp://x', model: m}\n",
             "teacher.base_url"},
        Case{"task: classification\nteacher: {kind: augment, edit_rate: 2}\n", "teacher.edit_rate"},
        Case{"task: classification\nteacher:\n  kind: [\n", "c.yaml:"},
        Case{"task: classification\nteacher: {kind: openai, base_url: 'http://127.0.0.1:1/v1', "
             "model: m, response_format: xml}\n",
             "teacher.response_format"},
        Case{"task: classification\nteacher: {kind: openai, base_url: 'http://127.0.0.1:1/v1', "
             "model: m, format_retries: -1}\n",
             "teacher.format_retries"},
        Case{"task: classification\nteacher: {kind: openai, base_url: 'http://127.0.0.1:1/v1', "
             "model: m, samples_per_request: 0}\n",
             "teacher.samples_per_request"},
        Case{"task: classification\nteacher: {kind: openai, base_url: 'http://127.0.0.1:1/v1', "
             "model: m, samples_per_request: 33}\n",
             "teacher.samples_per_request"}}) {
    const auto c = dir.write("c.yaml", k.yaml);
    const auto r = run_cli("teacher try --config '" + c + "' --seeds '" + s + "'");
    EXPECT_EQ(r.code, 2) << k.yaml << r.err;
    EXPECT_THAT(r.err, HasSubstr(k.expect)) << k.yaml;
  }
}

TEST(TeacherTry, OfflineAugmentTeacherNeedsNoServer) {
  TempDir dir;
  const auto c = dir.write("c.yaml", "task: classification\nteacher: {kind: augment, seed: 3}\n");
  const auto s = dir.write("seeds.jsonl", kSeeds);
  const auto r = run_cli("teacher try --config '" + c + "' --seeds '" + s + "' --n 2");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("PROMPT: none"));
  EXPECT_THAT(r.out, HasSubstr("RESULT: accepted"));
}

}  // namespace
}  // namespace weakdistill
