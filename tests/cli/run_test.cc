// `weakdistill run` end to end against the fake OpenAI server: the run folder,
// the counts, resume asking nothing, and an interrupted-then-resumed run
// equal to an uninterrupted one.
#include "support/run.h"
#include "support/run_folder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "fake/fake_openai_server.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

using testing::FakeOpenAIServer;
using ::testing::HasSubstr;
using testing::comparable;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;
using testing::dataset;
using testing::kA;
using testing::kB;
using testing::text_of;
using testing::responder;

std::string config(const FakeOpenAIServer& server, const TempDir& dir, int max_rounds) {
  return "task: classification\n"
         "data:\n"
         "  train: " +
         dir.file("train.jsonl") +
         "\n"
         "  dev: " +
         dir.file("dev.jsonl") +
         "\n"
         "  test: " +
         dir.file("test.jsonl") +
         "\n"
         "student: {kind: fasttext, threads: 1, epochs: 10}\n"
         "teacher:\n"
         "  kind: openai\n"
         "  base_url: " +
         server.base_url() +
         "\n"
         "  model: fake\n"
         "  seed: 1\n"
         "  concurrency: 4\n"
         "distill: {per_round: 5, oversample: 2, max_rounds: " +
         std::to_string(max_rounds) + ", patience: 5, seed: 3}\n";
}

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    server.set_responder(responder);
    dir.write("train.jsonl", dataset(0, 4));
    dir.write("dev.jsonl", dataset(1000, 5));
    dir.write("test.jsonl", dataset(2000, 5));
  }
  FakeOpenAIServer server;
  TempDir dir;
};

TEST_F(RunCli, WritesTheRunFolderAndResumeAsksNothing) {
  const auto c = dir.write("c.yaml", config(server, dir, 2));
  const std::string run_dir = dir.file("run");
  const auto r = run_cli("run '" + c + "' --run-dir '" + run_dir + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(run_dir + "/metrics.json"));
  for (const char* f :
       {"config.yaml", "run.sqlite", "metrics.json", "augmented.jsonl", "best/model.json",
        "rounds/00/metrics.json", "rounds/01/weakness.jsonl", "rounds/01/accepted.jsonl",
        "rounds/01/rejected.jsonl", "rounds/02/metrics.json"}) {
    EXPECT_TRUE(std::filesystem::exists(run_dir + "/" + f)) << f;
  }
  const auto m = read_json(run_dir + "/metrics.json");
  EXPECT_EQ(m["task"], "classification");
  ASSERT_EQ(m["rounds"].size(), 3u);
  std::size_t accepted = 0;
  int requested = 0;
  for (int round = 1; round <= 2; ++round) {
    const auto& rr = m["rounds"][round];
    // The reservoir gives first; the teacher is asked oversample × what is still missing.
    const int taken = rr["reservoir"]["taken"].get<int>();
    EXPECT_EQ(rr["requested"], 2 * (5 - taken));
    requested += rr["requested"].get<int>();
    EXPECT_LE(rr["accepted"].get<int>(), 5);
    EXPECT_GE(rr["parsed"].get<int>(), rr["verified"].get<int>());
    EXPECT_GE(rr["verified"].get<int>() + taken, rr["accepted"].get<int>());
    accepted += rr["accepted"].get<std::size_t>();
    EXPECT_EQ(rr["train_size"], 8 + accepted);
    EXPECT_TRUE(rr["dev"].contains("accuracy"));
  }
  EXPECT_GT(accepted, 0u);
  EXPECT_TRUE(m["test"].contains("accuracy"));
  EXPECT_TRUE(m["test_round0"].contains("accuracy"));
  // Round 1's over-quota candidates fill round 2 from the reservoir.
  EXPECT_GT(m["rounds"][2]["reservoir"]["taken"].get<int>(), 0);
  EXPECT_EQ(m["teacher"]["requests"], requested);
  EXPECT_EQ(server.requests(), static_cast<std::size_t>(requested));
  // augmented.jsonl: one line per accepted sample.
  std::istringstream aug(testing::read_file(run_dir + "/augmented.jsonl"));
  std::size_t lines = 0;
  for (std::string l; std::getline(aug, l);) ++lines;
  EXPECT_EQ(lines, accepted);

  const auto again = run_cli("run --resume '" + run_dir + "'");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(server.requests(), static_cast<std::size_t>(requested))
      << "the resumed run asked the teacher again";
  EXPECT_EQ(comparable(read_json(run_dir + "/metrics.json")), comparable(m));
  // A finished run has nothing to resume: it is answered from its files, without loading the
  // best student again (best/ is not rewritten), and left as it was.
  EXPECT_THAT(again.err, HasSubstr("is finished (stop reason max_rounds, best round"));
  const std::string metrics = testing::read_file(run_dir + "/metrics.json");
  const auto best_written = std::filesystem::last_write_time(run_dir + "/best/model.json");
  const auto finished = run_cli("run --resume '" + run_dir + "'");
  EXPECT_EQ(finished.code, 0) << finished.err;
  EXPECT_EQ(std::filesystem::last_write_time(run_dir + "/best/model.json"), best_written);
  EXPECT_EQ(finished.out, run_dir + "/metrics.json\n");
  EXPECT_EQ(testing::read_file(run_dir + "/metrics.json"), metrics);

  // A second run into the same folder is refused, and says how to resume.
  const auto refused = run_cli("run '" + c + "' --run-dir '" + run_dir + "'");
  EXPECT_EQ(refused.code, 2);
  EXPECT_THAT(refused.err, HasSubstr("--resume"));
}

TEST_F(RunCli, StoppedThenResumedEqualsUninterrupted) {
  const auto c = dir.write("c.yaml", config(server, dir, 3));
  const auto whole = run_cli("run '" + c + "' --run-dir '" + dir.file("whole") + "'");
  ASSERT_EQ(whole.code, 0) << whole.err;
  const std::size_t asked = server.requests();

  // The same run stopped after round 1, then continued to round 3.
  const auto part =
      run_cli("run '" + c + "' --run-dir '" + dir.file("part") + "' --set distill.max_rounds=1");
  ASSERT_EQ(part.code, 0) << part.err;
  const auto rest = run_cli("run --resume '" + dir.file("part") + "' --set distill.max_rounds=3");
  ASSERT_EQ(rest.code, 0) << rest.err;
  EXPECT_EQ(comparable(read_json(dir.file("part") + "/metrics.json")),
            comparable(read_json(dir.file("whole") + "/metrics.json")));
  EXPECT_EQ(testing::read_file(dir.file("part") + "/augmented.jsonl"),
            testing::read_file(dir.file("whole") + "/augmented.jsonl"));
  EXPECT_EQ(server.requests(), 2 * asked);  // each run asked each request once
}

TEST_F(RunCli, ATeacherThatIsDownStopsTheRunAndResumeFinishesIt) {
  const auto c = dir.write("c.yaml", config(server, dir, 1) +
                                        "  # fast retries\n");
  server.go_down();
  const std::string run_dir = dir.file("down");
  const auto r = run_cli("run '" + c + "' --run-dir '" + run_dir +
                         "' --set teacher.max_retries=1 --set teacher.backoff_initial_s=0.01");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("answered none of 10 requests"));
  EXPECT_THAT(r.err, HasSubstr("--resume " + run_dir));
  EXPECT_TRUE(std::filesystem::exists(run_dir + "/rounds/00/metrics.json"));  // round 0 kept
  server.resume();
  const auto again = run_cli("run --resume '" + run_dir + "'");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(read_json(run_dir + "/metrics.json")["rounds"].size(), 2u);
}

// Ctrl-C (SIGINT) and SIGTERM (what systemd, Kubernetes and `timeout` send) stop the same way:
// at a safe point, with 128 + the signal's number, and resumable.
struct Interruption {
  int signal;
  int exit_code;
  const char* name;
};

void PrintTo(const Interruption& how, std::ostream* out) { *out << how.name; }

class RunInterrupted : public RunCli, public ::testing::WithParamInterface<Interruption> {};

TEST_P(RunInterrupted, StopsCleanlyAndResumeAsksOnlyWhatWasInFlight) {
  const Interruption how = GetParam();
  testing::FakeServerOptions so;
  so.latency_ms = 150;  // round 1's 10 requests take a while at concurrency 4
  FakeOpenAIServer slow(so);
  slow.set_responder(responder);
  const auto c = dir.write("c.yaml", config(slow, dir, 2));
  const std::string run_dir = dir.file("int");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string cmd = std::string("exec '") + WEAKDISTILL_BIN + "' run '" + c +
                            "' --run-dir '" + run_dir + "' 2>'" + dir.file("int.err") + "'";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Interrupt once the teacher has been asked something in round 1 (an event, not a clock).
  int status = 0;
  while (slow.requests() == 0) {
    ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << testing::read_file(dir.file("int.err"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, how.signal);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << how.name << " ended the program before its safe point";
  EXPECT_EQ(WEXITSTATUS(status), how.exit_code);
  const std::string err = testing::read_file(dir.file("int.err"));
  EXPECT_THAT(err, HasSubstr("weakdistill run --resume " + run_dir));
  EXPECT_THAT(err, HasSubstr(how.name));
  const std::size_t asked = slow.requests();

  const auto rest = run_cli("run --resume '" + run_dir + "'");
  ASSERT_EQ(rest.code, 0) << rest.err;
  // The requests the whole run needs (round 2 takes round 1's over-quota candidates from the
  // reservoir, so it may ask fewer than round 1).
  const auto total = read_json(run_dir + "/metrics.json")["teacher"]["requests"].get<std::size_t>();
  EXPECT_LT(asked, total);
  // Replies that reached the store were not asked again: at most the 4 in flight at the
  // interruption were repeated.
  EXPECT_LE(slow.requests(), total + 4u);
  EXPECT_GE(slow.requests(), total);
  const auto whole = run_cli("run '" + c + "' --run-dir '" + dir.file("whole") + "'");
  ASSERT_EQ(whole.code, 0) << whole.err;
  EXPECT_EQ(comparable(read_json(run_dir + "/metrics.json")),
            comparable(read_json(dir.file("whole") + "/metrics.json")));
}

INSTANTIATE_TEST_SUITE_P(Signals, RunInterrupted,
                         ::testing::Values(Interruption{SIGINT, 130, "SIGINT"},
                                           Interruption{SIGTERM, 143, "SIGTERM"}),
                         [](const ::testing::TestParamInfo<Interruption>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(RunCli, BadConfigMakesNoFolder) {
  struct Case {
    std::string set, expect;
  };
  for (const Case& k :
       {Case{"distill.tau=0", "distill.tau"}, Case{"distill.bogus=1", "bogus"},
        Case{"data.dev=/no/such.jsonl", "/no/such.jsonl"}, Case{"student.kind=bert", "bert"},
        Case{"teacher.kind=llm", "teacher.kind"}, Case{"student.epochs=-1", "student.epochs"},
        Case{"teacher.response_format=json", "teacher.response_format"},
        Case{"teacher.format_retries=-1", "teacher.format_retries"},
        Case{"teacher.samples_per_request=0", "teacher.samples_per_request"},
        Case{"teacher.samples_per_request=33", "teacher.samples_per_request"},
        Case{"distill.reservoir=maybe", "distill.reservoir"}}) {
    const auto c = dir.write("c.yaml", config(server, dir, 1));
    const std::string run_dir = dir.file("bad");
    const auto r = run_cli("run '" + c + "' --run-dir '" + run_dir + "' --set " + k.set);
    EXPECT_EQ(r.code, 2) << k.set << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(k.expect)) << k.set;
    EXPECT_FALSE(std::filesystem::exists(run_dir)) << k.set;
  }
  EXPECT_EQ(server.requests(), 0u);
}

}  // namespace
}  // namespace weakdistill
