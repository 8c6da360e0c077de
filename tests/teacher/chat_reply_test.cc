// The chat-completions reply reader on the shapes real servers send, and the openai_reply
// fuzz target's checks (tests/fuzz/) on its corpus and findings, with the ordinary build.
#include "weakdistill/teacher/chat_reply.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fuzz/openai_reply_target.h"
#include "fuzz/target_support.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

json reply_with(json message, json usage = nullptr) {
  json body = {{"choices", {{{"index", 0}, {"message", std::move(message)},
                             {"finish_reason", "stop"}}}}};
  if (!usage.is_null()) body["usage"] = std::move(usage);
  return body;
}

// The reason a reply is refused (the test fails when it is read).
std::string refused(const json& body) {
  std::string why;
  const auto r = read_chat_reply(body, why);
  EXPECT_FALSE(r) << body.dump();
  return why;
}

TEST(ChatReply, ReadsContentFinishReasonAndUsage) {
  std::string why;
  const auto r = read_chat_reply(
      reply_with({{"role", "assistant"}, {"content", "你好"}},
                 {{"prompt_tokens", 12}, {"completion_tokens", 30}, {"total_tokens", 42}}),
      why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->content, "你好");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->prompt_tokens, 12);
  EXPECT_EQ(r->completion_tokens, 30);
  EXPECT_EQ(r->usage_note, "");
}

TEST(ChatReply, JoinsTextPartsAndSkipsOthers) {
  std::string why;
  const auto r = read_chat_reply(
      reply_with({{"content", json::array({{{"type", "text"}, {"text", "{\"text\": "}},
                                           {{"type", "image_url"}, {"image_url", {{"url", "x"}}}},
                                           "\"新闻\"", {{"text", "}"}}})}}),
      why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->content, "{\"text\": \"新闻\"}");
}

TEST(ChatReply, UsageOfOddShapesIsReadOrNotedNeverFatal) {
  struct Case {
    json usage;
    std::int64_t prompt, completion;
    std::string note;
  };
  const Case cases[] = {
      {json::object(), 0, 0, ""},
      {{{"prompt_tokens", "12"}, {"completion_tokens", 7.0}}, 12, 7, ""},
      {{{"prompt_tokens", 12.5}}, 0, 0, "usage.prompt_tokens is 12.5, not a token count"},
      {{{"prompt_tokens", -3}, {"completion_tokens", 4}}, 0, 4, "usage.prompt_tokens is -3"},
      {{{"prompt_tokens", "many"}}, 0, 0, "usage.prompt_tokens is \"many\""},
      {{{"prompt_tokens", nullptr}, {"completion_tokens", {1}}}, 0, 0,
       "usage.completion_tokens is [1]"},
      {"lots", 0, 0, "usage is a string, not an object"},
      {json::array(), 0, 0, "usage is an array"},
  };
  for (const Case& c : cases) {
    json body = reply_with({{"content", "x"}});
    body["usage"] = c.usage;
    std::string why;
    const auto r = read_chat_reply(body, why);
    ASSERT_TRUE(r) << c.usage.dump() << ": " << why;
    EXPECT_EQ(r->prompt_tokens, c.prompt) << c.usage.dump();
    EXPECT_EQ(r->completion_tokens, c.completion) << c.usage.dump();
    if (c.note.empty()) {
      EXPECT_EQ(r->usage_note, "") << c.usage.dump();
    } else {
      EXPECT_THAT(r->usage_note, HasSubstr(c.note)) << c.usage.dump();
    }
  }
  json null_usage = reply_with({{"content", "x"}});
  null_usage["usage"] = nullptr;
  std::string why;
  EXPECT_EQ(read_chat_reply(null_usage, why)->usage_note, "");
}

TEST(ChatReply, NullContentIsEmpty) {
  std::string why;
  const auto r = read_chat_reply(reply_with({{"content", nullptr}}), why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->content, "");
}

TEST(ChatReply, RefusalsNameTheField) {
  EXPECT_EQ(refused(json::array()), "the reply is an array, not an object");
  EXPECT_EQ(refused(json::object()), "the reply has no \"choices\"");
  EXPECT_EQ(refused({{"choices", json::array()}}), "the reply's \"choices\" is empty");
  EXPECT_EQ(refused({{"choices", "x"}}), "the reply's \"choices\" is a string, not an array");
  EXPECT_EQ(refused({{"choices", {1}}}), "choices[0] is a number, not an object");
  EXPECT_EQ(refused({{"choices", {json::object()}}}), "choices[0] has no \"message\"");
  EXPECT_EQ(refused({{"choices", {{{"message", "hi"}}}}}),
            "choices[0].message is a string, not an object");
  EXPECT_EQ(refused(reply_with({{"role", "assistant"}})),
            "choices[0].message has no \"content\"");
  EXPECT_EQ(refused(reply_with({{"content", 42}})),
            "choices[0].message.content is a number, not a string or an array of parts");
  EXPECT_EQ(refused(reply_with({{"content", {true}}})),
            "choices[0].message.content[0] is a boolean, not a content part");
  EXPECT_EQ(refused(reply_with({{"content", {{{"type", "text"}}}}})),
            "choices[0].message.content[0].text is missing, not a string");
  EXPECT_EQ(refused(reply_with({{"content", {{{"type", "image_url"}}}}})),
            "choices[0].message.content holds no text part");
}

TEST(ChatReply, AnErrorInAReplyIsQuotedWhateverItsShape) {
  EXPECT_EQ(refused({{"error", {{"message", "model overloaded"}}}}),
            "the reply is an error: model overloaded");
  EXPECT_EQ(refused({{"error", {{"message", {{"detail", "x"}}}}}}),
            "the reply is an error: {\"detail\":\"x\"}");
  EXPECT_EQ(refused({{"error", {"a", "b"}}}), "the reply is an error: [\"a\",\"b\"]");
  json deep = "x";
  for (int i = 0; i < 200; ++i) deep = json::array({deep});
  EXPECT_EQ(refused({{"error", deep}}), "the reply is an error: an array nested deeper than 64 levels");
}

TEST(OpenAIReplyFuzzRegressions, InputsReplay) {
  const auto inputs = fuzz::replay_inputs(WEAKDISTILL_SOURCE_DIR, "openai_reply");
  EXPECT_GE(inputs.size(), 10u);
  for (const auto& path : inputs) {
    EXPECT_NO_THROW(fuzz::openai_reply_target(fuzz::read_input(path))) << path;
  }
}

}  // namespace
}  // namespace weakdistill
