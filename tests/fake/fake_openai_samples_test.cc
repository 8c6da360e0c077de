// The fake server's scripted samples (samples_responder, --samples-file and friends), in-process
// and through the fake_openai program.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake/fake_openai_server.h"
#include "fake/fake_server_test_support.h"
#include "support/temp_dir.h"

extern char** environ;

namespace weakdistill::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

TEST(SamplesResponder, AnswersAsManySamplesAsTheSchemaAllowsInTurn) {
  FakeOpenAIServer server;
  SamplesReplyOptions options;
  options.reasoning_chars = 6;
  server.set_choice_responder(samples_responder(cls_samples(), options));
  httplib::Client client("127.0.0.1", server.port());
  json request = with_format(chat_request("x"), json_schema_format(strict_label_schema(), true));
  // maxItems 2: samples 0 and 1, the reasoning filler in the schema's "reasoning" key, first;
  // "id" and the closed schema's unknown "source" dropped.
  EXPECT_EQ(reply_content(post(client, kChatPath, request)),
            R"({"reasoning":"推理过程推理","samples":[{"text":"中国队夺冠","label":"体育"},)"
            R"({"text":"股市上涨","label":"财经"}]})");
  request["response_format"]["json_schema"]["schema"]["properties"]["samples"]["maxItems"] = 3;
  request["response_format"]["json_schema"]["schema"]["properties"]["samples"]["items"]
         ["properties"]["label"]
             .erase("enum");
  request["n"] = 2;
  const auto two = post(client, kChatPath, request);
  EXPECT_EQ(reply_content(two, 0),
            R"({"reasoning":"推理过程推理","samples":[{"text":"新片上映","label":"娱乐"},)"
            R"({"text":"中国队夺冠","label":"体育"},{"text":"股市上涨","label":"财经"}]})");
  EXPECT_THAT(reply_content(two, 1),
              StartsWith(R"({"reasoning":"推理过程推理","samples":[{"text":"新片上映")"));
}

TEST(SamplesResponder, OneSampleWithoutASamplesPropertyIsTheBareObject) {
  FakeOpenAIServer server;
  SamplesReplyOptions options;
  options.reasoning_chars = 3;
  server.set_choice_responder(samples_responder(cls_samples(), options));
  httplib::Client client("127.0.0.1", server.port());
  // No schema: the sample as it is (without "id"), the reasoning in the reasoning field.
  const auto plain = post(client, kChatPath, chat_request("x"));
  EXPECT_EQ(reply_content(plain), R"({"text":"中国队夺冠","label":"体育"})");
  ASSERT_TRUE(plain);
  EXPECT_EQ(json::parse(plain->body)["choices"][0]["message"]["reasoning_content"], "推理过");
  // A flat schema with "reasoning": that key first, nothing in the reasoning field.
  const json flat = json::parse(R"({"type": "object",
      "properties": {"reasoning": {"type": "string"}, "label": {"type": "string"}},
      "required": ["reasoning", "label"], "additionalProperties": false})");
  const auto keyed =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(flat)));
  EXPECT_EQ(reply_content(keyed), R"({"reasoning":"推理过","label":"财经"})");
  ASSERT_TRUE(keyed);
  EXPECT_FALSE(json::parse(keyed->body)["choices"][0]["message"].contains("reasoning_content"));
}

TEST(SamplesResponder, ThinkPutsTheReasoningBeforeTheJsonAndNestedKeysAreFitted) {
  FakeServerOptions server_options;
  server_options.enforce_schema = true;
  FakeOpenAIServer server(server_options);
  SamplesReplyOptions options;
  options.reasoning_chars = 2;
  options.think = true;
  options.samples_per_reply = 2;
  server.set_choice_responder(samples_responder(
      {nlohmann::ordered_json::parse(
          R"({"text": "李富林说", "entities": [{"start": 0, "end": 3, "type": "PER", "text": "李富林"}]})")},
      options));
  httplib::Client client("127.0.0.1", server.port());
  const json schema = json::parse(R"({"type": "object", "properties": {"samples": {"type": "array",
      "items": {"type": "object", "properties": {"text": {"type": "string"}, "entities": {
        "type": "array", "items": {"type": "object", "properties": {
          "text": {"type": "string"}, "type": {"type": "string"}},
          "required": ["text", "type"], "additionalProperties": false}}},
        "required": ["text", "entities"], "additionalProperties": false}}},
      "required": ["samples"], "additionalProperties": false})");
  // No maxItems: samples_per_reply decides; enforce_schema checks the JSON after the think block.
  const auto response =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(schema, true)));
  const std::string sample = R"({"text":"李富林说","entities":[{"type":"PER","text":"李富林"}]})";
  EXPECT_EQ(reply_content(response),
            "<think>\n推理\n</think>\n\n{\"samples\":[" + sample + "," + sample + "]}");
}

TEST(SamplesResponder, RefusesNoSamplesAndNonObjects) {
  EXPECT_THROW(samples_responder({}), std::invalid_argument);
  EXPECT_THROW(samples_responder({nlohmann::ordered_json("text")}), std::invalid_argument);
}

// The fake_openai program, started with `flags`; serving once it has printed its address.
class FakeProgram {
 public:
  explicit FakeProgram(std::vector<std::string> flags) {
    int out[2];
    if (::pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    std::vector<std::string> args = {WEAKDISTILL_FAKE_OPENAI, "--port", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    out_ = out[0];
    if (spawned != 0) {
      pid_ = 0;
      return;
    }
    read_until([&] { return output_.find('\n') != std::string::npos; });
    const std::string prefix = "listening on http://127.0.0.1:";
    if (output_.rfind(prefix, 0) == 0) port_ = std::stoi(output_.substr(prefix.size()));
  }
  ~FakeProgram() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  FakeProgram(const FakeProgram&) = delete;
  FakeProgram& operator=(const FakeProgram&) = delete;

  // The port it serves on, or -1 when it did not start.
  int port() const { return port_; }
  // Stops it with SIGTERM and returns the summary line it printed (discarded JSON when it
  // printed none or did not exit 0).
  json stop() {
    if (pid_ <= 0) return json(json::value_t::discarded);
    ::kill(pid_, SIGTERM);
    read_until([] { return false; });
    int status = 0;
    const bool exited = ::waitpid(pid_, &status, 0) == pid_;
    pid_ = 0;
    if (!exited || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return json(json::value_t::discarded);
    }
    return json::parse(output_.substr(output_.find('\n') + 1), nullptr, false);
  }

 private:
  template <typename Done>
  void read_until(Done done) {
    char chunk[1024];
    while (!done()) {
      pollfd ready{out_, POLLIN, 0};
      if (::poll(&ready, 1, 20'000) <= 0) return;  // a guard against a hung program
      const ssize_t got = ::read(out_, chunk, sizeof chunk);
      if (got <= 0) return;
      output_.append(chunk, static_cast<std::size_t>(got));
    }
  }

  pid_t pid_ = 0;
  int out_ = -1;
  int port_ = -1;
  std::string output_;
};

TEST(FakeOpenAIProgram, SamplesFileAnswersAsManySamplesAsTheSchemaAsks) {
  if (!std::filesystem::exists(WEAKDISTILL_FAKE_OPENAI)) GTEST_SKIP() << "fake_openai is not built";
  TempDir dir;
  const std::string samples =
      dir.write("samples.jsonl",
                "{\"id\": 7, \"text\": \"中国队夺冠\", \"label\": \"体育\"}\n"
                "\n"
                "{\"text\": \"股市上涨\", \"label\": \"财经\", \"source\": \"news\"}\n"
                "{\"text\": \"新片上映\", \"label\": \"娱乐\"}\n");
  FakeProgram program({"--samples-file", samples, "--reasoning-chars", "4", "--reasoning-field",
                       "reasoning", "--enforce-schema"});
  ASSERT_GT(program.port(), 0);
  httplib::Client client("127.0.0.1", program.port());
  json schema = strict_label_schema();
  schema["properties"]["samples"]["items"]["properties"]["label"].erase("enum");
  json request = with_format(chat_request("x"), json_schema_format(schema, true));
  EXPECT_EQ(reply_content(post(client, kChatPath, request)),
            R"({"reasoning":"推理过程","samples":[{"text":"中国队夺冠","label":"体育"},)"
            R"({"text":"股市上涨","label":"财经"}]})");
  request["response_format"]["json_schema"]["schema"]["properties"]["samples"]["maxItems"] = 3;
  EXPECT_EQ(reply_content(post(client, kChatPath, request)),
            R"({"reasoning":"推理过程","samples":[{"text":"新片上映","label":"娱乐"},)"
            R"({"text":"中国队夺冠","label":"体育"},{"text":"股市上涨","label":"财经"}]})");
  // No schema: one bare sample (its extra key kept), the reasoning in the named field.
  const auto plain = post(client, kChatPath, chat_request("x"));
  EXPECT_EQ(reply_content(plain), R"({"text":"新片上映","label":"娱乐"})");
  ASSERT_TRUE(plain);
  EXPECT_EQ(json::parse(plain->body)["choices"][0]["message"]["reasoning"], "推理过程");
  const json summary = program.stop();
  ASSERT_FALSE(summary.is_discarded());
  EXPECT_EQ(summary["chat_completions"], 3);
  EXPECT_EQ(summary["schema_mismatches"], 0);
}

TEST(FakeOpenAIProgram, ThinkAndSamplesPerReplyShapeTheContent) {
  if (!std::filesystem::exists(WEAKDISTILL_FAKE_OPENAI)) GTEST_SKIP() << "fake_openai is not built";
  TempDir dir;
  const std::string samples =
      dir.write("s.jsonl", "{\"text\": \"摘要原文\", \"summary\": \"摘要\"}\n");
  FakeProgram program(
      {"--samples-file", samples, "--samples-per-reply", "2", "--reasoning-chars", "5", "--think"});
  ASSERT_GT(program.port(), 0);
  httplib::Client client("127.0.0.1", program.port());
  const std::string sample = R"({"text":"摘要原文","summary":"摘要"})";
  EXPECT_EQ(reply_content(
                post(client, kChatPath, with_format(chat_request("x"), {{"type", "json_object"}}))),
            "<think>\n推理过程推\n</think>\n\n{\"samples\":[" + sample + "," + sample + "]}");
  EXPECT_FALSE(program.stop().is_discarded());
}

TEST(FakeOpenAIProgram, ResponseFormatsFlagRefusesOtherTypes) {
  if (!std::filesystem::exists(WEAKDISTILL_FAKE_OPENAI)) GTEST_SKIP() << "fake_openai is not built";
  FakeProgram program({"--response-formats", "text,json_object"});
  ASSERT_GT(program.port(), 0);
  httplib::Client client("127.0.0.1", program.port());
  expect_response_format_400(
      post(client, kChatPath,
           with_format(chat_request("x"), json_schema_format(strict_label_schema(), true))));
  const auto object =
      post(client, kChatPath, with_format(chat_request("x"), {{"type", "json_object"}}));
  ASSERT_TRUE(object);
  EXPECT_EQ(object->status, 200);
  const json summary = program.stop();
  ASSERT_FALSE(summary.is_discarded());
  EXPECT_EQ(summary["unsupported_format"], 1);
  EXPECT_EQ(summary["bad_requests"], 1);
}

TEST(FakeOpenAIProgram, RejectsConflictingOrStraySamplesFlags) {
  const std::string program = WEAKDISTILL_FAKE_OPENAI;
  if (!std::filesystem::exists(program)) GTEST_SKIP() << program << " is not built";
  TempDir dir;
  const std::string samples = dir.write("s.jsonl", "{\"text\": \"a\", \"label\": \"b\"}\n");
  const std::string not_objects = dir.write("bad.jsonl", "[1]\n");
  for (const std::string& flags :
       {"--samples-file " + samples + " --responder-file " + samples, std::string("--think"),
        std::string("--reasoning-chars 3"), "--samples-file " + not_objects,
        "--samples-file " + samples + " --samples-per-reply 0",
        std::string("--response-formats text,grammar"), std::string("--enforce-schema=yes")}) {
    SCOPED_TRACE(flags);
    const int status = std::system((program + " " + flags + " 2>/dev/null").c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
  }
}

}  // namespace
}  // namespace weakdistill::testing
