// kill -9 at several points of a run, then --resume (issue [7/8]): no reply that reached the
// store is asked for again (at most the requests in flight at the kill), no accepted sample is
// lost or duplicated, the final metrics and augmented.jsonl equal an uninterrupted run's, and
// the store passes PRAGMA integrity_check. The named points use the library's failpoints
// (core/failpoint.h); the last test kills at random moments instead.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "fake/fake_openai_server.h"
#include "support/run.h"
#include "support/run_folder.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"
#include "weakdistill/distill/run_store.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using testing::FakeOpenAIServer;
using testing::comparable;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;

constexpr int kConcurrency = 4;



class Crash : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    server.set_responder(testing::responder);
    dir.write("train.jsonl", testing::dataset(0, 4));
    dir.write("dev.jsonl", testing::dataset(1000, 5));
    dir.write("test.jsonl", testing::dataset(2000, 5));
    config = dir.write(
        "c.yaml", "task: classification\n"
                  "data: {train: " + dir.file("train.jsonl") + ", dev: " + dir.file("dev.jsonl") +
                  ", test: " + dir.file("test.jsonl") + "}\n"
                  "student: {kind: fasttext, threads: 1, epochs: 10}\n"
                  "teacher: {kind: openai, base_url: " + server.base_url() +
                  ", model: fake, seed: 1, concurrency: " + std::to_string(kConcurrency) + "}\n"
                  "distill: {per_round: 5, oversample: 2, max_rounds: 3, patience: 5, seed: 3}\n");
  }

  // The uninterrupted run and the number of requests it asked.
  std::size_t whole_run() {
    const std::size_t before = server.requests();
    const auto r = run_cli("run '" + config + "' --run-dir '" + dir.file("whole") + "'");
    EXPECT_EQ(r.code, 0) << r.err;
    return server.requests() - before;
  }

  // What must hold after a crashed run was resumed to its end, against the whole run.
  void expect_like_whole(const std::string& run_dir) {
    EXPECT_EQ(comparable(read_json(run_dir + "/metrics.json")),
              comparable(read_json(dir.file("whole") + "/metrics.json")));
    const std::string augmented = testing::read_file(run_dir + "/augmented.jsonl");
    EXPECT_EQ(augmented, testing::read_file(dir.file("whole") + "/augmented.jsonl"));
    std::set<std::string> texts;
    std::istringstream in(augmented);
    for (std::string line; std::getline(in, line);) {
      EXPECT_TRUE(texts.insert(nlohmann::json::parse(line)["sample"]["text"]).second)
          << "an accepted sample twice: " << line;
    }
    EXPECT_EQ(texts.size(), 15u);  // 5 a round, 3 rounds
    RunStore store(run_dir + "/run.sqlite");
    EXPECT_EQ(store.integrity_check(), "ok");
    EXPECT_EQ(store.rounds().size(), 4u);
  }

  FakeOpenAIServer server;
  TempDir dir;
  std::string config;
};

TEST_P(Crash, ResumeAfterKillNineEqualsTheUninterruptedRun) {
  const std::size_t whole = whole_run();
  ASSERT_EQ(whole, 30u);  // 10 requests a round, each asked once
  const std::string run_dir = dir.file("crashed");
  const std::size_t before = server.requests();
  const auto crashed = run_cli("run '" + config + "' --run-dir '" + run_dir + "'",
                               std::string("WEAKDISTILL_CRASH_AT=") + GetParam());
  // sh reports a child killed by SIGKILL as 128 + 9.
  ASSERT_EQ(crashed.code, 137) << GetParam() << " never reached?\n" << crashed.err;
  const auto resumed = run_cli("run --resume '" + run_dir + "'");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const std::size_t asked = server.requests() - before;
  // Replies that reached the store were not asked again: only those in flight at the kill.
  EXPECT_GE(asked, whole);
  EXPECT_LE(asked, whole + kConcurrency) << GetParam();
  expect_like_whole(run_dir);
}

INSTANTIATE_TEST_SUITE_P(
    Points, Crash,
    ::testing::Values("teacher_reply_stored:3",   // round 1, mid-requests
                      "teacher_reply_stored:17",  // round 2, mid-requests
                      "training:2",               // round 1's training
                      "training:4",               // round 3's training (the last)
                      "round_files_written:1",    // round 1's files written, not committed
                      "round_files_written:3",    // the last round's
                      "round_committed:2"),       // round 2 committed, best/ not yet updated
    [](const ::testing::TestParamInfo<const char*>& info) {
      std::string name = info.param;
      for (char& c : name) {
        if (c == ':') c = '_';
      }
      return name;
    });

TEST_F(Crash, KillNineAtRandomMomentsThenResumeEqualsTheUninterruptedRun) {
  testing::FakeServerOptions so;
  so.latency_ms = 40;  // long enough for kills to land mid-request as well as elsewhere
  FakeOpenAIServer slow(so);
  slow.set_responder(testing::responder);
  const std::string c = dir.write(
      "slow.yaml", testing::read_file(config).replace(
                       testing::read_file(config).find(server.base_url()),
                       server.base_url().size(), slow.base_url()));
  {
    const auto r = run_cli("run '" + c + "' --run-dir '" + dir.file("whole") + "'");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const std::size_t whole = slow.requests();
  const std::string run_dir = dir.file("killed");
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> delay_ms(30, 600);
  int kills = 0;
  for (int attempt = 0; attempt < 30; ++attempt) {
    const bool first = attempt == 0;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string cmd =
          std::string("exec '") + WEAKDISTILL_BIN + "' -q run " +
          (first ? "'" + c + "' --run-dir '" + run_dir + "'" : "--resume '" + run_dir + "'") +
          " 2>>'" + dir.file("killed.err") + "'";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ++kills;
      // A kill before the folder's config.yaml exists leaves nothing to resume: start anew.
      if (first && !fs::exists(run_dir + "/config.yaml")) {
        fs::remove_all(run_dir);
        attempt = -1;
      }
      continue;
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << testing::read_file(dir.file("killed.err"));
    break;
  }
  ASSERT_TRUE(fs::exists(run_dir + "/metrics.json")) << "never finished in 30 attempts";
  EXPECT_GE(kills, 2);
  // Each kill may lose at most the requests in flight.
  EXPECT_LE(slow.requests() - whole, whole + static_cast<std::size_t>(kills) * kConcurrency);
  expect_like_whole(run_dir);
}

}  // namespace
}  // namespace weakdistill
