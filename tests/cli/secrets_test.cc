// The API key never lands anywhere (issue [7/8]): a whole run, its report and a `teacher try`
// with the key set and -v logging; every file they wrote, and their logs, are searched for it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fake/fake_openai_server.h"
#include "support/run.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using testing::FakeOpenAIServer;
using testing::run_cli;
using testing::TempDir;

const std::string kKey = "sk-test-7f3a9c21-do-not-leak";

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Secrets, TheKeyIsInNoFileTheRunWroteNorInItsLogs) {
  testing::FakeServerOptions so;
  so.api_key = kKey;  // the server refuses requests without it: the key was really used
  FakeOpenAIServer server(so);
  server.set_responder(testing::responder);
  TempDir dir;
  dir.write("train.jsonl", testing::dataset(0, 4));
  dir.write("dev.jsonl", testing::dataset(1000, 5));
  dir.write("test.jsonl", testing::dataset(2000, 5));
  const std::string config = dir.write(
      "c.yaml", "task: classification\n"
                "data: {train: " + dir.file("train.jsonl") + ", dev: " + dir.file("dev.jsonl") +
                ", test: " + dir.file("test.jsonl") + "}\n"
                "student: {kind: fasttext, threads: 1, epochs: 5}\n"
                "teacher: {kind: openai, base_url: " + server.base_url() +
                ", model: fake, seed: 1, api_key_env: WD_TEST_KEY}\n"
                "embedder: {kind: openai, base_url: " + server.base_url() +
                ", model: fake-embed, api_key_env: WD_TEST_KEY}\n"
                "distill: {per_round: 5, oversample: 2, max_rounds: 2, patience: 5}\n");
  const std::string env = "WD_TEST_KEY=" + kKey;
  const std::string run_dir = dir.file("run");
  std::vector<testing::Result> results;
  results.push_back(run_cli("-v run '" + config + "' --run-dir '" + run_dir + "'", env));
  ASSERT_EQ(results.back().code, 0) << results.back().err;
  results.push_back(run_cli("-v run --resume '" + run_dir + "'", env));
  results.push_back(run_cli("-v report '" + run_dir + "'", env));
  results.push_back(run_cli("-v teacher try --config '" + config + "' --seeds '" +
                                dir.file("train.jsonl") + "' --n 2 --cache '" +
                                dir.file("try.sqlite") + "'",
                            env));
  // A wrong key: the 401 message names the variable, not the value.
  results.push_back(run_cli("-v teacher try --config '" + config + "' --seeds '" +
                                dir.file("train.jsonl") + "' --n 1",
                            "WD_TEST_KEY=" + kKey + "-wrong"));
  EXPECT_THAT(results.back().err, ::testing::HasSubstr("WD_TEST_KEY"));
  for (const auto& r : results) {
    EXPECT_EQ(r.out.find(kKey), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(kKey), std::string::npos) << r.err;
  }
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.file(""))) {
    if (!e.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(bytes_of(e.path()).find(kKey), std::string::npos) << e.path();
  }
  EXPECT_GT(files, 20u);  // run.sqlite and its WAL, rounds/*, students, report, caches
  EXPECT_GT(server.requests(), 20u);
}

}  // namespace
}  // namespace weakdistill
