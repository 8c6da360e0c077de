// A run against a flaky teacher (issue [7/8]): bursts of 429 with Retry-After, 5xx, a hang past
// the timeout, connection resets, malformed and truncated replies, one of two replicas down. The
// run completes, its accepted set equals a fault-free run's given the same replies, and the
// retries are counted in metrics.json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "fake/fake_openai_server.h"
#include "support/run.h"
#include "support/run_folder.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

using testing::Fault;
using testing::FakeOpenAIServer;
using testing::comparable;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    dir.write("train.jsonl", testing::dataset(0, 4));
    dir.write("dev.jsonl", testing::dataset(1000, 5));
    dir.write("test.jsonl", testing::dataset(2000, 5));
  }
  // timeout_s: generous by default; the hang test derives its own from a measured run.
  std::string config(const std::string& name, const std::string& base_url,
                     double timeout_s = 60) {
    return dir.write(name + ".yaml",
                     "task: classification\n"
                     "data: {train: " + dir.file("train.jsonl") + ", dev: " + dir.file("dev.jsonl") +
                         ", test: " + dir.file("test.jsonl") + "}\n"
                         "student: {kind: fasttext, threads: 1, epochs: 10}\n"
                         "teacher: {kind: openai, base_url: " + base_url +
                         ", model: fake, seed: 1, concurrency: 2, timeout_s: " + std::to_string(timeout_s) +
                         ", max_retries: 12,"
                         " backoff_initial_s: 0.01, backoff_max_s: 0.05}\n"
                         "distill: {per_round: 5, oversample: 2, max_rounds: 2, patience: 5, seed: 3, reservoir: off}\n");
  }
  nlohmann::json run(const std::string& name, const std::string& base_url,
                     double timeout_s = 60) {
    const auto r = run_cli("run '" + config(name, base_url, timeout_s) + "' --run-dir '" +
                           dir.file(name) + "'");
    EXPECT_EQ(r.code, 0) << r.err;
    return read_json(dir.file(name) + "/metrics.json");
  }
  TempDir dir;
};

TEST_F(Faults, AFlakyTeacherGivesTheSameRunAndTheRetriesAreCounted) {
  FakeOpenAIServer clean;
  clean.set_responder(testing::responder);
  const auto started = std::chrono::steady_clock::now();
  const auto expected = run("clean", clean.base_url());
  // No single request of a run takes longer than the whole fault-free run did on this machine:
  // that is the timeout, so that only the hang (which outlasts it) times out.
  const double timeout_s = std::max(
      1.0, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  EXPECT_EQ(expected["teacher"]["retries"], 0);

  FakeOpenAIServer flaky;
  flaky.set_responder(testing::responder);
  flaky.push_faults(3, Fault::status_code(429, 0.05));  // a burst, with Retry-After
  flaky.push_fault(Fault::status_code(500));
  flaky.push_fault(Fault::status_code(503));
  flaky.push_fault(Fault::hang(600'000));  // past timeout_s; the server's end stops it
  flaky.push_faults(2, Fault::reset());
  flaky.push_fault(Fault::malformed_json());
  flaky.push_fault(Fault::truncated_body());
  const auto got = run("flaky", flaky.base_url(), timeout_s);
  EXPECT_EQ(comparable(got), comparable(expected));
  EXPECT_EQ(testing::read_file(dir.file("flaky") + "/augmented.jsonl"),
            testing::read_file(dir.file("clean") + "/augmented.jsonl"));
  // Ten faults, each answered by one retry (max_retries 12: even a request that met every
  // fault in a row gets through); no request failed for good.
  EXPECT_EQ(got["teacher"]["retries"], 10);
  EXPECT_EQ(got["teacher"]["failed"], 0);
  EXPECT_EQ(got["teacher"]["requests"], 20);
  EXPECT_EQ(got["teacher"]["http_requests"], 30);
  EXPECT_EQ(got["rounds"][1]["teacher"]["retries"], 10);  // all in round 1
}

TEST_F(Faults, OneOfTwoReplicasDownGivesTheSameRun) {
  FakeOpenAIServer clean;
  clean.set_responder(testing::responder);
  const auto expected = run("clean", clean.base_url());
  FakeOpenAIServer up, down;
  up.set_responder(testing::responder);
  down.go_down();
  const auto got = run("replicas", "[" + down.base_url() + ", " + up.base_url() + "]");
  EXPECT_EQ(comparable(got), comparable(expected));
  EXPECT_EQ(got["teacher"]["failed"], 0);
  EXPECT_EQ(up.requests(), 20u);  // every request was answered by the replica that is up
}

}  // namespace
}  // namespace weakdistill
