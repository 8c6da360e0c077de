// teacher.mode batch and files against the fake server's Files and Batch APIs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fake/fake_openai_server.h"
#include "support/temp_dir.h"
#include "teacher/openai_teacher_fixtures.h"
#include "weakdistill/core/error.h"
#include "weakdistill/net/http_client.h"
#include "weakdistill/teacher/openai_teacher.h"

namespace weakdistill {
namespace {

using testing::BatchScript;
using testing::cls_seeds;
using testing::FakeOpenAIServer;
using testing::FakeServerOptions;
using testing::requests_for;
using testing::section;
using testing::TempDir;
using ::testing::HasSubstr;

nlohmann::json batch_section(const FakeOpenAIServer& server) {
  auto j = section(server);
  j["mode"] = "batch";
  j["batch_poll_s"] = 0.001;
  j["batch_poll_max_s"] = 0.01;
  return j;
}

// Replies by content, the same whichever path asked: online and batch runs compare equal.
std::vector<std::string> replies(const std::vector<Generation>& gens) {
  std::vector<std::string> out;
  for (const auto& g : gens) out.push_back(g.ok ? g.reply : "!" + g.error);
  return out;
}

std::vector<Sample> many_seeds(std::size_t n) {
  std::vector<Sample> seeds;
  const auto base = cls_seeds();
  for (std::size_t i = 0; i < n; ++i) {
    Sample s = base[i % base.size()];
    s.text += std::to_string(i);
    seeds.push_back(s);
  }
  return seeds;
}

TEST(OpenAITeacherBatch, GivesTheSameGenerationsAsOnline) {
  FakeServerOptions so;
  so.batch_script.order = BatchScript::Order::kShuffled;
  FakeOpenAIServer server(so);
  const auto seeds = many_seeds(7);
  OpenAITeacher online(Task::kClassification, read_openai_teacher_options(section(server), "."),
                       "");
  const auto expected = online.generate(requests_for(seeds), {}, nullptr);
  TempDir dir;
  OpenAITeacher batch(Task::kClassification,
                      read_openai_teacher_options(batch_section(server), "."),
                      (dir.path() / "run.sqlite").string());
  std::size_t done = 0;
  const auto got = batch.generate(
      requests_for(seeds), [&](std::size_t, const Generation&) { ++done; }, nullptr);
  EXPECT_EQ(replies(got), replies(expected));
  EXPECT_EQ(done, seeds.size());
  const auto s = server.summary();
  EXPECT_EQ(s["batches_created"], 1);
  EXPECT_EQ(s["files_uploaded"], 1);
  // The input and output files are deleted once read (no error file: nothing failed).
  EXPECT_EQ(s["files_deleted"], 2);
  EXPECT_EQ(server.requests(), seeds.size());  // the online run's only: batch lines are not
  const auto batches = server.batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].input_lines, seeds.size());
  EXPECT_EQ(batch.usage().requests, 7);
  EXPECT_GT(batch.usage().prompt_tokens, 0);
  EXPECT_EQ(batch.usage().prompt_tokens, online.usage().prompt_tokens);
  // Cached: asking again sends nothing.
  const auto again = batch.generate(requests_for(seeds), {}, nullptr);
  EXPECT_EQ(replies(again), replies(expected));
  EXPECT_EQ(server.summary()["batches_created"], 1);
  // Every line's custom_id is its request's cache key: the journal closed the batch.
  BatchJournal journal((dir.path() / "run.sqlite").string());
  EXPECT_TRUE(journal.open_batches().empty());
  EXPECT_EQ(journal.all()[0]["status"], "completed");
}

TEST(OpenAITeacherBatch, FailedAndDroppedLinesAreAskedAgainOnline) {
  FakeServerOptions so;
  so.batch_script.fail_every = 3;
  so.batch_script.drop_every = 4;
  FakeOpenAIServer server(so);
  const auto seeds = many_seeds(8);
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(batch_section(server), "."), "");
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) EXPECT_TRUE(g.ok) << g.error;
  // Lines 3 and 6 failed, 4 and 8 were dropped: four online requests.
  EXPECT_EQ(server.requests(), 4u);
  EXPECT_EQ(server.summary()["files_deleted"], 3);  // input, output and error files
  EXPECT_EQ(server.summary()["batches_created"], 1);
  EXPECT_EQ(teacher.usage().requests, 8);
}

TEST(OpenAITeacherBatch, FailedLinesCanGoInAFollowUpBatch) {
  FakeOpenAIServer server;
  BatchScript first;
  first.fail_every = 2;
  server.push_batch_script(first);
  auto j = batch_section(server);
  j["batch_retry"] = "batch";
  const auto seeds = many_seeds(6);
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "");
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) EXPECT_TRUE(g.ok) << g.error;
  EXPECT_EQ(server.requests(), 0u);
  const auto batches = server.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].input_lines, 3u);
}

TEST(OpenAITeacherBatch, FollowUpsEndAndWhatStillFailsIsAFailedRequest) {
  FakeServerOptions so;
  so.batch_script.fail_every = 1;  // every line of every batch
  FakeOpenAIServer server(so);
  auto j = batch_section(server);
  j["batch_retry"] = "batch";
  const auto seeds = many_seeds(2);
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "");
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) {
    EXPECT_FALSE(g.ok);
    EXPECT_THAT(g.error, HasSubstr("HTTP 500"));
  }
  EXPECT_EQ(server.batches().size(), 3u);  // the batch and two follow-ups
  EXPECT_EQ(teacher.usage().failures, 2);
}

TEST(OpenAITeacherBatch, AnExpiredBatchKeepsWhatCompletedAndAsksTheRest) {
  FakeServerOptions so;
  so.batch_script.lines_per_step = 2;
  so.batch_script.expire_after_lines = 2;
  FakeOpenAIServer server(so);
  const auto seeds = many_seeds(5);
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(batch_section(server), "."), "");
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) EXPECT_TRUE(g.ok) << g.error;
  EXPECT_EQ(server.batches()[0].status, "expired");
  EXPECT_EQ(server.requests(), 3u);
}

TEST(OpenAITeacherBatch, SplitsOverTheLineLimit) {
  FakeServerOptions so;
  so.batch_file_max_lines = 3;
  FakeOpenAIServer server(so);
  auto j = batch_section(server);
  j["batch_max_lines"] = 3;
  const auto seeds = many_seeds(7);
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "");
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) EXPECT_TRUE(g.ok) << g.error;
  const auto batches = server.batches();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].input_lines + batches[1].input_lines + batches[2].input_lines, 7u);
  EXPECT_EQ(server.summary()["bad_requests"], 0);
}

TEST(OpenAITeacherBatch, AResumedTeacherPollsTheOpenBatchInsteadOfSubmittingAgain) {
  FakeServerOptions so;
  so.batch_script.polls_per_step = 1000000;  // never ends while the first teacher polls
  FakeOpenAIServer server(so);
  TempDir dir;
  const std::string store = (dir.path() / "run.sqlite").string();
  const auto seeds = many_seeds(4);
  {
    OpenAITeacher teacher(Task::kClassification,
                          read_openai_teacher_options(batch_section(server), "."), store);
    std::atomic<bool> cancel{false};
    // Stop once the batch is polled: an observable event, not a time.
    std::thread stopper([&] {
      while (server.summary()["batch_polls"].get<int>() < 2) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      cancel = true;
    });
    const auto gens = teacher.generate(requests_for(seeds), {}, &cancel);
    stopper.join();
    for (const auto& g : gens) EXPECT_EQ(g.error, "cancelled");
    EXPECT_EQ(teacher.usage().failures, 0);
  }
  ASSERT_EQ(server.batches().size(), 1u);
  BatchScript quick;
  server.set_batch_script(quick);  // the batch keeps its own script: it still crawls
  OpenAITeacher resumed(Task::kClassification,
                        read_openai_teacher_options(batch_section(server), "."), store);
  std::atomic<bool> cancel{false};
  std::thread stopper([&] {
    while (server.summary()["batch_polls"].get<int>() < 4) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    cancel = true;
  });
  try {
    resumed.generate(requests_for(seeds), {}, &cancel);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
    cancel = true;
  }
  stopper.join();
  EXPECT_EQ(server.summary()["batches_created"], 1);
  EXPECT_EQ(server.summary()["files_uploaded"], 1);
  BatchJournal journal(store);
  ASSERT_EQ(journal.open_batches().size(), 1u);
  EXPECT_EQ(journal.open_batches()[0].id, server.batches()[0].id);
}

TEST(OpenAITeacherBatch, ARefusedResponseFormatFallsBackAsOnline) {
  FakeServerOptions so;
  so.response_formats = {"json_object"};
  FakeOpenAIServer server(so);
  const auto seeds = many_seeds(3);
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(batch_section(server), "."), "");
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) EXPECT_TRUE(g.ok) << g.error;
  EXPECT_EQ(teacher.response_format(), "json_object");
  EXPECT_EQ(server.batches().size(), 2u);
  EXPECT_EQ(teacher.format_state()["fallbacks"].size(), 1u);
}

TEST(OpenAITeacherBatch, TheBatchEndpointsAreRetriedLikeChat) {
  FakeOpenAIServer server;
  // The upload, the creation and a poll each meet a 503 or 429 first.
  server.push_batch_fault(testing::Fault::status_code(503));
  server.push_batch_fault(testing::Fault::status_code(429, 0));
  const auto seeds = many_seeds(3);
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(batch_section(server), "."), "");
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) EXPECT_TRUE(g.ok) << g.error;
  EXPECT_EQ(server.summary()["batches_created"], 1);
  EXPECT_EQ(server.summary()["files_uploaded"], 1);
  EXPECT_EQ(server.summary()["faults"], 2);
}

TEST(OpenAITeacherBatch, ARefusedUploadStopsWithTheServersMessage) {
  FakeOpenAIServer server;
  server.push_batch_fault(testing::Fault::status_code(401));
  const auto seeds = many_seeds(2);
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(batch_section(server), "."), "");
  try {
    teacher.generate(requests_for(seeds), {}, nullptr);
    FAIL() << "expected HttpFatalError";
  } catch (const HttpFatalError& e) {
    EXPECT_EQ(e.status(), 401);
  }
}

TEST(OpenAITeacherBatch, BadModeAndBatchOptionsAreRefused) {
  FakeOpenAIServer server;
  for (const auto& [key, value, message] :
       std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"mode", "offline", "teacher.mode: must be online, batch or files"},
           {"batch_retry", "never", "teacher.batch_retry: must be online or batch"},
           {"batch_max_lines", 50001, "teacher.batch_max_lines"},
           {"batch_max_mb", 0, "teacher.batch_max_mb"},
           {"batch_poll_s", -1, "teacher.batch_poll_s"}}) {
    auto j = section(server);
    j[key] = value;
    try {
      read_openai_teacher_options(j, ".");
      ADD_FAILURE() << key;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr(message));
    }
  }
}

// --- teacher.mode files ---

nlohmann::json files_section(const FakeOpenAIServer& server) {
  auto j = section(server);
  j["mode"] = "files";
  return j;
}

// What a batch runner would write for the requests file at `in`: each line answered by the
// fake server's chat endpoint, in reverse order.
std::string run_offline(FakeOpenAIServer& server, const std::filesystem::path& in) {
  std::ifstream f(in);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    const auto req = nlohmann::json::parse(line);
    EXPECT_EQ(req["method"], "POST");
    EXPECT_EQ(req["url"], "/v1/chat/completions");
    HttpOptions ho;
    ho.base_urls = {server.base_url()};
    const auto reply = HttpClient(ho).post("/chat/completions", req["body"]).body;
    out.push_back(nlohmann::json{{"id", "vllm-" + std::to_string(out.size())},
                                 {"custom_id", req["custom_id"]},
                                 {"response", {{"status_code", 200}, {"body", reply}}},
                                 {"error", nullptr}}
                      .dump());
  }
  std::string text;
  for (auto it = out.rbegin(); it != out.rend(); ++it) text += *it + "\n";
  return text;
}

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

TEST(OpenAITeacherFiles, WritesRequestsThenReadsResultsByCustomId) {
  FakeOpenAIServer server;
  TempDir dir;
  const auto seeds = many_seeds(4);
  OpenAITeacher online(Task::kClassification, read_openai_teacher_options(section(server), "."),
                       "");
  const auto expected = online.generate(requests_for(seeds), {}, nullptr);
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(files_section(server), "."),
                        (dir.path() / "run.sqlite").string());
  const auto round = dir.path() / "rounds" / "01";
  teacher.set_work_dir(round.string());
  try {
    teacher.generate(requests_for(seeds), {}, nullptr);
    FAIL() << "expected TeacherResultsPending";
  } catch (const TeacherResultsPending& e) {
    EXPECT_THAT(e.what(), HasSubstr("vllm run-batch -i " + (round / "teacher_requests.jsonl").string()));
    EXPECT_THAT(e.what(), HasSubstr((round / "teacher_results.jsonl").string()));
  }
  ASSERT_TRUE(std::filesystem::exists(round / "teacher_requests.jsonl"));
  // Asked again before the results are there: the same file, the same message.
  EXPECT_THROW(teacher.generate(requests_for(seeds), {}, nullptr), TeacherResultsPending);
  EXPECT_FALSE(std::filesystem::exists(round / "teacher_requests.2.jsonl"));
  write(round / "teacher_results.jsonl", run_offline(server, round / "teacher_requests.jsonl"));
  const auto got = teacher.generate(requests_for(seeds), {}, nullptr);
  EXPECT_EQ(replies(got), replies(expected));
  EXPECT_EQ(teacher.usage().prompt_tokens, online.usage().prompt_tokens);
  // Another set of requests in the same round (re-asks) gets the next file.
  std::vector<GenerationRequest> more = {{&seeds[0], 100}};
  EXPECT_THROW(teacher.generate(more, {}, nullptr), TeacherResultsPending);
  EXPECT_TRUE(std::filesystem::exists(round / "teacher_requests.2.jsonl"));
}

TEST(OpenAITeacherFiles, ResultsThatDoNotMatchTheRequestsAreBadInput) {
  FakeOpenAIServer server;
  TempDir dir;
  const auto seeds = many_seeds(3);
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(files_section(server), "."), "");
  teacher.set_work_dir(dir.path().string());
  EXPECT_THROW(teacher.generate(requests_for(seeds), {}, nullptr), TeacherResultsPending);
  const std::string good = run_offline(server, dir.path() / "teacher_requests.jsonl");
  const auto results = dir.path() / "teacher_results.jsonl";
  const auto expect_input_error = [&](const std::string& text, const std::string& message) {
    write(results, text);
    try {
      teacher.generate(requests_for(seeds), {}, nullptr);
      ADD_FAILURE() << "expected InputError: " << message;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr(message));
    }
  };
  expect_input_error(good + R"({"custom_id":"nope","response":{"status_code":200,"body":{}}})" "\n",
                     "1 result(s) have a custom_id that is not one of the requests");
  expect_input_error(good + "garbage\n", results.string() + ":4: not a JSON object");
  const std::string two = good.substr(0, good.find('\n', good.find('\n') + 1) + 1);
  expect_input_error(two, "no result for 1 of the 3 requests");
  EXPECT_EQ(teacher.usage().requests, 0);
}

TEST(OpenAITeacherFiles, NeedsARoundFolder) {
  FakeOpenAIServer server;
  OpenAITeacher teacher(Task::kClassification,
                        read_openai_teacher_options(files_section(server), "."), "");
  const auto seeds = many_seeds(1);
  EXPECT_THROW(teacher.generate(requests_for(seeds), {}, nullptr), InputError);
}

}  // namespace
}  // namespace weakdistill
