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

// ---------------------------------------------------------------------------
// Reasoning: the message's reasoning fields and a <think> block in content.
// ---------------------------------------------------------------------------

// The reply of `message` (the test fails when it is refused).
ChatReply read_ok(const json& message, const std::string& finish = "stop") {
  json body = reply_with(message);
  body["choices"][0]["finish_reason"] = finish;
  std::string why;
  const auto r = read_chat_reply(body, why);
  EXPECT_TRUE(r) << body.dump() << ": " << why;
  return r.value_or(ChatReply{});
}

TEST(ChatReplyReasoning, ReasoningContentAndReasoningFields) {
  const std::string answer = R"({"text": "女足夺冠", "label": "体育"})";
  ChatReply r = read_ok({{"content", answer}, {"reasoning_content", "先想一想"}});
  EXPECT_EQ(r.content, answer);
  EXPECT_EQ(r.reasoning, "先想一想");
  EXPECT_FALSE(r.reasoning_open);

  r = read_ok({{"content", answer}, {"reasoning", "Ollama 的推理"}});
  EXPECT_EQ(r.content, answer);
  EXPECT_EQ(r.reasoning, "Ollama 的推理");

  // Both absent, or null (servers send null when the model did not reason).
  for (const json& message :
       {json{{"content", answer}},
        json{{"content", answer}, {"reasoning_content", nullptr}, {"reasoning", nullptr}}}) {
    r = read_ok(message);
    EXPECT_EQ(r.content, answer) << message.dump();
    EXPECT_EQ(r.reasoning, "") << message.dump();
    EXPECT_FALSE(r.reasoning_open) << message.dump();
  }
  // A field of another kind is no reasoning either.
  r = read_ok({{"content", answer}, {"reasoning_content", 5}});
  EXPECT_EQ(r.reasoning, "");
  // A reasoning field holds reasoning as it is, even when it looks like an answer: it never
  // reaches content.
  r = read_ok({{"content", answer}, {"reasoning_content", R"({"text": "诱饵", "label": "财经"})"}});
  EXPECT_EQ(r.content, answer);
  EXPECT_EQ(r.reasoning, R"({"text": "诱饵", "label": "财经"})");
}

TEST(ChatReplyReasoning, ALeadingThinkBlockIsReasoningNotContent) {
  const std::string decoy = R"({"text": "诱饵文本", "label": "财经"})";
  const std::string answer = R"({"text": "真正的答案", "label": "体育"})";
  ChatReply r = read_ok(
      {{"content", "<think>\n先写一个例子 " + decoy + "\n再想想。\n</think>\n\n" + answer}});
  EXPECT_EQ(r.reasoning, "先写一个例子 " + decoy + "\n再想想。");
  EXPECT_EQ(r.content, "\n\n" + answer) << "the answer is what follows the block";
  EXPECT_EQ(r.content.find("诱饵"), std::string::npos);
  EXPECT_FALSE(r.reasoning_open);

  // Whitespace before the block.
  r = read_ok({{"content", " \n\t<think>思考</think>" + answer}});
  EXPECT_EQ(r.reasoning, "思考");
  EXPECT_EQ(r.content, answer);

  // The reasoning field and a block both: the field first, then the block.
  r = read_ok({{"content", "<think>块里的</think>" + answer}, {"reasoning_content", "字段里的"}});
  EXPECT_EQ(r.reasoning, "字段里的\n块里的");
  EXPECT_EQ(r.content, answer);

  // Content as parts: the block is split after the parts are joined.
  r = read_ok({{"content", json::array({{{"type", "text"}, {"text", "<thi"}},
                                        {{"type", "text"}, {"text", "nk>想</think>"}},
                                        {{"type", "text"}, {"text", answer}}})}});
  EXPECT_EQ(r.reasoning, "想");
  EXPECT_EQ(r.content, answer);
}

TEST(ChatReplyReasoning, AClosingTagWithoutItsOpeningOne) {
  // The chat template put "<think>" in the prompt: the reply starts inside the block.
  const std::string answer = R"({"text": "真正的答案", "label": "体育"})";
  ChatReply r = read_ok(
      {{"content", "模型的推理 {\"text\": \"诱饵\", \"label\": \"财经\"}\n</think>\n" + answer}});
  EXPECT_EQ(r.reasoning, "模型的推理 {\"text\": \"诱饵\", \"label\": \"财经\"}");
  EXPECT_EQ(r.content, "\n" + answer);
  EXPECT_FALSE(r.reasoning_open);
}

TEST(ChatReplyReasoning, AnUnclosedBlockIsOpenReasoningWithNoAnswer) {
  const ChatReply r =
      read_ok({{"content", "<think>\n想了很久 {\"text\": \"诱饵\", \"label\": \"财经\"} 还在想"}},
              "length");
  EXPECT_TRUE(r.reasoning_open);
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.reasoning, "想了很久 {\"text\": \"诱饵\", \"label\": \"财经\"} 还在想");
  EXPECT_EQ(r.finish_reason, "length");
}

TEST(ChatReplyReasoning, ContentMayBeMissingOnlyWhenThereIsReasoning) {
  ChatReply r = read_ok({{"role", "assistant"}, {"reasoning_content", "还没想完"}}, "length");
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.reasoning, "还没想完");
  EXPECT_EQ(r.finish_reason, "length");
  r = read_ok({{"reasoning", "还没想完"}}, "length");
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.reasoning, "还没想完");
  // No reasoning to stand for it: refused as before.
  for (const json& message : {json{{"role", "assistant"}}, json{{"reasoning_content", nullptr}},
                              json{{"reasoning_content", ""}}, json{{"reasoning", 3}}}) {
    EXPECT_EQ(refused(reply_with(message)), "choices[0].message has no \"content\"")
        << message.dump();
  }
}

TEST(SplitReasoning, Shapes) {
  struct Case {
    std::string content, reasoning, answer;
    bool open;
  };
  const Case cases[] = {
      {"", "", "", false},
      {"just an answer", "", "just an answer", false},
      {"<think>a</think>b", "a", "b", false},
      {"\r\n <think>\n\na\n</think>b", "a", "b", false},
      {"<think></think>{}", "", "{}", false},
      {"<think>a", "a", "", true},
      {"<think>\n", "", "", true},
      {"a</think>b", "a", "b", false},
      {"</think>b", "", "b", false},
      // A block later in the content is not a leading block.
      {"x <think>a</think>b", "", "x <think>a</think>b", false},
      // Only the first closing tag ends the block.
      {"<think>a</think>b</think>c", "a", "b</think>c", false},
  };
  for (const Case& c : cases) {
    const ReasoningSplit s = split_reasoning(c.content);
    EXPECT_EQ(s.reasoning, c.reasoning) << c.content;
    EXPECT_EQ(s.answer, c.answer) << c.content;
    EXPECT_EQ(s.open, c.open) << c.content;
  }
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
