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
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

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
    std::size_t accepted = 0;
    const auto whole_metrics = read_json(dir.file("whole") + "/metrics.json");
    for (const auto& r : whole_metrics["rounds"]) {
      accepted += r["accepted"].get<std::size_t>();
    }
    EXPECT_EQ(texts.size(), accepted);
    RunStore store(run_dir + "/run.sqlite");
    EXPECT_EQ(store.integrity_check(), "ok");
    EXPECT_EQ(store.rounds().size(), 4u);
    // The reservoir left at the end (round 3's over-quota candidates) is the same, entry for
    // entry: a kill never loses one nor takes one twice.
    RunStore whole(dir.file("whole") + "/run.sqlite");
    const auto key = [](const std::vector<ReservoirEntry>& entries) {
      std::vector<std::string> out;
      for (const auto& e : entries) out.push_back(e.record.sample.dump());
      return out;
    };
    EXPECT_EQ(key(store.reservoir()), key(whole.reservoir()));
  }

  FakeOpenAIServer server;
  TempDir dir;
  std::string config;
};

TEST_P(Crash, ResumeAfterKillNineEqualsTheUninterruptedRun) {
  const std::size_t whole = whole_run();
  // 10 requests in rounds 1 and 3, each asked once; round 2 takes round 1's 5 over-quota
  // candidates from the reservoir and asks nothing.
  ASSERT_EQ(whole, 20u);
  const auto rounds = read_json(dir.file("whole") + "/metrics.json")["rounds"];
  ASSERT_EQ(rounds[1]["reservoir"]["held_after"], 5);  // the kills below meet a full reservoir
  ASSERT_EQ(rounds[2]["reservoir"]["taken"], 5);
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
                      "teacher_reply_stored:17",  // round 3, mid-requests (the reservoir empty)
                      "training:2",               // round 1's training
                      "training:3",               // round 2's, on samples from the reservoir
                      "training:4",               // round 3's training (the last)
                      "round_files_written:1",    // round 1's files written, not committed
                      "round_files_written:2",    // round 2's: reservoir taken, not committed
                      "round_files_written:3",    // the last round's
                      "round_committed:1",        // round 1 committed with a full reservoir
                      "round_committed:2"),       // round 2 committed, best/ not yet updated
    [](const ::testing::TestParamInfo<const char*>& info) {
      std::string name = info.param;
      for (char& c : name) {
        if (c == ':') c = '_';
      }
      return name;
    });

// Rounds committed to the store of `run_dir` so far (0 when there is no store yet).
std::size_t committed_rounds(const std::string& run_dir) {
  if (!fs::exists(run_dir + "/run.sqlite")) return 0;
  return RunStore(run_dir + "/run.sqlite").rounds().size();
}

// Kills at moments drawn from the length of the uninterrupted run, measured here on this machine
// (a fixed window would encode one machine's speed: too short, and no resume ever gets past its
// first round). Each attempt may be killed anywhere in its first kWindow of that length, so kills
// land in startup, mid-request, mid-training and mid-commit alike; after kMaxKills kills the last
// attempt runs to its end, so the test cannot starve however slow the machine.
TEST_F(Crash, KillNineAtRandomMomentsThenResumeEqualsTheUninterruptedRun) {
  constexpr int kMaxKills = 6;
  constexpr double kWindow = 0.7;
  testing::FakeServerOptions so;
  so.latency_ms = 40;  // long enough for kills to land mid-request as well as elsewhere
  FakeOpenAIServer slow(so);
  slow.set_responder(testing::responder);
  const std::string c = dir.write(
      "slow.yaml", testing::read_file(config).replace(
                       testing::read_file(config).find(server.base_url()),
                       server.base_url().size(), slow.base_url()));
  const auto started = std::chrono::steady_clock::now();
  {
    const auto r = run_cli("-q run '" + c + "' --run-dir '" + dir.file("whole") + "'");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const double whole_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
          .count();
  const std::size_t whole = slow.requests();
  const std::string run_dir = dir.file("killed");
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> moment(0.02 * whole_ms, kWindow * whole_ms);
  int kills = 0;
  std::size_t rounds_before = 0;
  std::vector<std::string> history;  // what each attempt did, for the failure message
  for (int attempt = 0;; ++attempt) {
    // Until the folder holds its config.yaml (a kill can land before), there is nothing to
    // resume: the attempt starts the run anew.
    const bool fresh = !fs::exists(run_dir + "/config.yaml");
    if (fresh) fs::remove_all(run_dir);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string cmd =
          std::string("exec '") + WEAKDISTILL_BIN + "' -q run " +
          (fresh ? "'" + c + "' --run-dir '" + run_dir + "'" : "--resume '" + run_dir + "'") +
          " 2>>'" + dir.file("killed.err") + "'";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    bool killed = false;
    if (kills < kMaxKills) {
      const double at = moment(rng);
      history.push_back(fmt::format("{} at {:.0f} ms", fresh ? "run" : "resume", at));
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(at));
      if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        killed = true;
        ++kills;
      }
    } else {
      history.push_back(fresh ? "run to the end" : "resume to the end");
      waitpid(pid, &status, 0);
    }
    // No attempt loses what an earlier one committed.
    const std::size_t rounds = committed_rounds(run_dir);
    ASSERT_GE(rounds, rounds_before) << fmt::format("{}", fmt::join(history, "; "));
    rounds_before = rounds;
    if (killed) continue;
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << testing::read_file(dir.file("killed.err"));
    break;
  }
  ASSERT_TRUE(fs::exists(run_dir + "/metrics.json")) << fmt::format("{}", fmt::join(history, "; "));
  std::cout << fmt::format("whole run {:.0f} ms; {} kills: {}\n", whole_ms, kills,
                           fmt::join(history, "; "));
  EXPECT_GE(kills, 1) << "the uninterrupted run took " << whole_ms << " ms";
  // Each kill may lose at most the requests in flight.
  EXPECT_LE(slow.requests() - whole, whole + static_cast<std::size_t>(kills) * kConcurrency);
  expect_like_whole(run_dir);
}

}  // namespace
}  // namespace weakdistill
