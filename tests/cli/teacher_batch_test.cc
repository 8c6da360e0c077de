// `weakdistill run` with teacher.mode batch and files ([3/6] items 4 and 5), end to end against
// the fake server: the same run as online given the same replies, kill -9 while polling and
// resume without a second batch, and the files round trip with its bad-input cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "fake/fake_openai_server.h"
#include "support/run.h"
#include "support/run_folder.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"
#include "weakdistill/net/http_client.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using testing::comparable;
using testing::FakeOpenAIServer;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;
using ::testing::HasSubstr;

// Rounds that asked the teacher (the reservoir may fill a round alone).
std::size_t asking_rounds(const nlohmann::json& metrics) {
  std::size_t n = 0;
  for (const auto& r : metrics["rounds"]) n += r.value("requested", 0) > 0;
  return n;
}

class TeacherBatchRun : public ::testing::Test {
 protected:
  void SetUp() override {
    server.set_responder(testing::responder);
    dir.write("train.jsonl", testing::dataset(0, 4));
    dir.write("dev.jsonl", testing::dataset(1000, 5));
    dir.write("test.jsonl", testing::dataset(2000, 5));
  }

  std::string config(const std::string& name, const std::string& teacher_extra) {
    return dir.write(
        name, "task: classification\n"
              "data: {train: " + dir.file("train.jsonl") + ", dev: " + dir.file("dev.jsonl") +
              ", test: " + dir.file("test.jsonl") + "}\n"
              "student: {kind: fasttext, threads: 1, epochs: 10}\n"
              "teacher: {kind: openai, base_url: " + server.base_url() +
              ", model: fake, seed: 1, concurrency: 4" + teacher_extra + "}\n"
              "distill: {per_round: 5, oversample: 2, max_rounds: 3, patience: 5, seed: 3}\n");
  }

  void online_run() {
    const auto r = run_cli("-q run '" + config("online.yaml", "") + "' --run-dir '" +
                           dir.file("online") + "'");
    ASSERT_EQ(r.code, 0) << r.err;
  }

  void expect_like_online(const std::string& run_dir) {
    EXPECT_EQ(comparable(read_json(run_dir + "/metrics.json")),
              comparable(read_json(dir.file("online") + "/metrics.json")));
    EXPECT_EQ(testing::read_file(run_dir + "/augmented.jsonl"),
              testing::read_file(dir.file("online") + "/augmented.jsonl"));
  }

  // Stopped by `signal` while polling the first batch (kill -9, or Ctrl-C: exit 130 at once),
  // then resumed.
  void stop_while_polling_then_resume(int signal);

  FakeOpenAIServer server;
  TempDir dir;
};

constexpr const char* kBatch = ", mode: batch, batch_poll_s: 0.001, batch_poll_max_s: 0.01";

TEST_F(TeacherBatchRun, ABatchRunEqualsTheOnlineRunGivenTheSameReplies) {
  online_run();
  const std::size_t online_requests = server.requests();
  testing::BatchScript shuffled;
  shuffled.order = testing::BatchScript::Order::kShuffled;
  server.set_batch_script(shuffled);
  const auto r = run_cli("-q run '" + config("batch.yaml", kBatch) + "' --run-dir '" +
                         dir.file("batch") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  expect_like_online(dir.file("batch"));
  EXPECT_EQ(server.requests(), online_requests);  // nothing asked online by the batch run
  const auto metrics = read_json(dir.file("batch") + "/metrics.json");
  EXPECT_EQ(server.summary()["batches_created"].get<std::size_t>(), asking_rounds(metrics));
  EXPECT_EQ(metrics["rounds"][1]["teacher"]["mode"], "batch");
  EXPECT_EQ(metrics["rounds"][1]["teacher"]["batches"].size(), 1u);
}

TEST_F(TeacherBatchRun, KillNineWhilePollingThenResumeSubmitsNoBatchTwice) {
  stop_while_polling_then_resume(SIGKILL);
}

TEST_F(TeacherBatchRun, CtrlCWhilePollingStopsAtOnceAndResumeSubmitsNoBatchTwice) {
  stop_while_polling_then_resume(SIGINT);
}

void TeacherBatchRun::stop_while_polling_then_resume(int signal) {
  online_run();
  // Each batch moves a step every 40 polls: the killed run is surely still polling.
  testing::BatchScript slow;
  slow.polls_per_step = 40;
  server.set_batch_script(slow);
  const std::string c = config("batch.yaml", kBatch);
  const std::string run_dir = dir.file("killed");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string cmd = std::string("exec '") + WEAKDISTILL_BIN + "' -q run '" + c +
                            "' --run-dir '" + run_dir + "' 2>'" + dir.file("killed.err") + "'";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Killed once the first batch has been polled: an event, not a time.
  while (server.summary()["batch_polls"].get<int>() < 1) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << testing::read_file(dir.file("killed.err"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int polls_at_signal = server.summary()["batch_polls"].get<int>();
  kill(pid, signal);
  int status = 0;
  waitpid(pid, &status, 0);
  if (signal == SIGINT) {
    ASSERT_TRUE(WIFEXITED(status)) << testing::read_file(dir.file("killed.err"));
    EXPECT_EQ(WEXITSTATUS(status), 130) << testing::read_file(dir.file("killed.err"));
    // At once: no new poll starts once the signal lands, whatever the machine's speed. The
    // count was read just before kill(): a poll may complete in between and another be in
    // flight when the signal lands.
    EXPECT_LE(server.summary()["batch_polls"].get<int>() - polls_at_signal, 2);
  }
  ASSERT_EQ(server.summary()["batches_created"], 1);
  const auto r = run_cli("-q run --resume '" + run_dir + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  expect_like_online(run_dir);
  // No request went in two batches: the killed run's batch was polled again, not re-sent.
  std::set<std::string> ids;
  for (const auto& b : server.batches()) {
    for (const auto& id : b.custom_ids) EXPECT_TRUE(ids.insert(id).second) << id;
  }
  const auto metrics = read_json(run_dir + "/metrics.json");
  EXPECT_EQ(server.summary()["batches_created"].get<std::size_t>(), asking_rounds(metrics));
}

// What `vllm run-batch` would write for a requests file: every line answered by the fake
// server's chat endpoint, output in reverse order.
void run_offline(FakeOpenAIServer& server, const fs::path& in, const fs::path& out) {
  HttpOptions ho;
  ho.base_urls = {server.base_url()};
  HttpClient client(ho);
  std::ifstream f(in);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) {
    const auto req = nlohmann::json::parse(line);
    const auto reply = client.post("/chat/completions", req["body"]).body;
    lines.push_back(nlohmann::json{{"id", "vllm-" + std::to_string(lines.size())},
                                   {"custom_id", req["custom_id"]},
                                   {"response", {{"status_code", 200}, {"body", reply}}},
                                   {"error", nullptr}}
                        .dump());
  }
  std::ofstream o(out);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) o << *it << "\n";
}

// Every file of a folder and its bytes (the store's WAL companions left out).
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string name = e.path().string();
    if (!e.is_regular_file() || name.ends_with("-wal") || name.ends_with("-shm")) continue;
    out[name] = testing::read_file(name);
  }
  return out;
}

TEST_F(TeacherBatchRun, FilesModeStopsForEachRoundAndResumesFromTheResults) {
  online_run();
  const std::size_t online_requests = server.requests();
  const std::string run_dir = dir.file("files");
  auto r = run_cli("run '" + config("files.yaml", ", mode: files") + "' --run-dir '" + run_dir +
                   "'");
  int stops = 0;
  while (r.code == 4) {
    ++stops;
    ASSERT_LE(stops, 10) << r.err;
    const auto at = r.err.rfind(run_dir + "/rounds/");
    ASSERT_NE(at, std::string::npos) << r.err;
    const fs::path round =
        fs::path(run_dir) / "rounds" / r.err.substr(at + run_dir.size() + 8, 2);
    EXPECT_THAT(r.err, HasSubstr("vllm run-batch -i " + (round / "teacher_requests.jsonl").string()));
    EXPECT_THAT(r.err, HasSubstr("weakdistill run --resume " + run_dir));
    ASSERT_TRUE(fs::exists(round / "teacher_requests.jsonl")) << r.err;
    run_offline(server, round / "teacher_requests.jsonl", round / "teacher_results.jsonl");
    r = run_cli("run --resume '" + run_dir + "'");
  }
  ASSERT_EQ(r.code, 0) << r.err;
  const auto metrics = read_json(run_dir + "/metrics.json");
  EXPECT_EQ(static_cast<std::size_t>(stops), asking_rounds(metrics));
  expect_like_online(run_dir);
  // The results were asked once each, by the offline runner, not by the run.
  EXPECT_EQ(server.requests(), 2 * online_requests);
}

TEST_F(TeacherBatchRun, FilesModeResultsThatDoNotMatchAreExitTwoAndChangeNothing) {
  const std::string run_dir = dir.file("files");
  auto r = run_cli("-q run '" + config("files.yaml", ", mode: files") + "' --run-dir '" +
                   run_dir + "'");
  ASSERT_EQ(r.code, 4) << r.err;
  const fs::path round = fs::path(run_dir) / "rounds" / "01";
  run_offline(server, round / "teacher_requests.jsonl", round / "teacher_results.jsonl");
  const std::string good = testing::read_file((round / "teacher_results.jsonl").string());
  const auto before = snapshot(run_dir);
  const auto expect_bad = [&](const std::string& results, const std::string& message) {
    std::ofstream(round / "teacher_results.jsonl") << results;
    auto snap = before;
    snap[(round / "teacher_results.jsonl").string()] = results;
    const auto bad = run_cli("-q run --resume '" + run_dir + "'");
    EXPECT_EQ(bad.code, 2) << bad.err;
    EXPECT_THAT(bad.err, HasSubstr(message));
    EXPECT_EQ(snapshot(run_dir), snap) << message;
  };
  expect_bad(good + R"({"custom_id":"abc123","response":{"status_code":200,"body":{}}})" "\n",
             "custom_id that is not one of the requests in " +
                 (round / "teacher_requests.jsonl").string() + ": abc123");
  expect_bad(good + "{\"custom_id\": 1}\n",
             (round / "teacher_results.jsonl").string() + ":11: no custom_id string");
  expect_bad(good.substr(good.find('\n') + 1), "no result for 1 of the 10 requests");
  std::ofstream(round / "teacher_results.jsonl") << good;
  r = run_cli("-q run --resume '" + run_dir + "' --set distill.max_rounds=1");
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(TeacherBatchRun, AnUnknownModeIsExitTwo) {
  const auto r = run_cli("-q run '" + config("bad.yaml", ", mode: offline") + "' --run-dir '" +
                         dir.file("bad") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("teacher.mode: must be online, batch or files"));
  EXPECT_FALSE(fs::exists(dir.file("bad")));
}

}  // namespace
}  // namespace weakdistill
