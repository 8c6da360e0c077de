#include "weakdistill/teacher/reply_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "weakdistill/teacher/chat_reply.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

// The sample parsed from `content`; fails the test when there is none.
Sample parsed(Task task, const std::string& content) {
  const ParsedReply r = parse_reply(task, content, "stop");
  EXPECT_FALSE(r.rejection) << reason_name(r.rejection->reason) << ": " << r.rejection->detail;
  EXPECT_TRUE(r.sample);
  return r.sample.value_or(Sample{});
}

Rejection rejected(Task task, const std::string& content, const std::string& finish = "stop") {
  const ParsedReply r = parse_reply(task, content, finish);
  EXPECT_FALSE(r.sample) << "parsed text: " << r.sample->text;
  EXPECT_TRUE(r.rejection);
  return r.rejection.value_or(Rejection{RejectReason::kRequestFailed, "(none)"});
}

TEST(ReplyParser, ParsesEachTaskBare) {
  const Sample c = parsed(Task::kClassification, R"({"text": "国足取胜", "label": "体育"})");
  EXPECT_EQ(c.text, "国足取胜");
  EXPECT_EQ(c.label, "体育");
  EXPECT_FALSE(c.id);
  EXPECT_TRUE(c.extra.empty());

  const Sample n = parsed(
      Task::kNer,
      R"({"text": "张三在北京", "entities": [{"text": "张三", "type": "PER"}, {"text": "北京", "type": "LOC"}]})");
  EXPECT_EQ(n.text, "张三在北京");
  ASSERT_EQ(n.entities.size(), 2u);
  EXPECT_EQ(n.entities[0], (Entity{0, 0, "PER", "张三"}));  // offsets are the verifier's job
  EXPECT_EQ(n.entities[1], (Entity{0, 0, "LOC", "北京"}));

  const Sample s = parsed(Task::kSummarization,
                          R"({"text": "地铁三号线下月开通运营", "summary": "三号线开通"})");
  EXPECT_EQ(s.text, "地铁三号线下月开通运营");
  EXPECT_EQ(s.summary, "三号线开通");
}

TEST(ReplyParser, NerEntitiesMayBeEmpty) {
  const Sample n = parsed(Task::kNer, R"({"text": "今天天气很好", "entities": []})");
  EXPECT_EQ(n.text, "今天天气很好");
  EXPECT_TRUE(n.entities.empty());
}

TEST(ReplyParser, CodeFenceAfterReasoning) {
  const std::string reply =
      "好的，我先一步一步思考。\n"
      "1. 样本文本讲的是足球比赛，类别是\"体育\"；我会用 { 和 } 之类的符号吗？不会。\n"
      "2. 新话题：篮球联赛。\n"
      "```json\n"
      "{\n  \"text\": \"广东队加时险胜辽宁队\",\n  \"label\": \"体育\"\n}\n"
      "```\n";
  const Sample c = parsed(Task::kClassification, reply);
  EXPECT_EQ(c.text, "广东队加时险胜辽宁队");
  EXPECT_EQ(c.label, "体育");

  // A bare ``` fence, and text after the fence.
  const Sample c2 = parsed(Task::kClassification,
                           "思考……\n```\n{\"text\": \"甲\", \"label\": \"乙\"}\n```\n以上。");
  EXPECT_EQ(c2.text, "甲");
}

TEST(ReplyParser, TakesTheLastObject) {
  const std::string reply =
      "草稿：{\"text\": \"第一稿\", \"label\": \"体育\"}\n"
      "修改后：{\"text\": \"第二稿\", \"label\": \"体育\"}";
  EXPECT_EQ(parsed(Task::kClassification, reply).text, "第二稿");
}

TEST(ReplyParser, FallsBackWhenTheLastObjectLacksTheFields) {
  const std::string reply =
      "{\"text\": \"正文\", \"label\": \"财经\"}\n"
      "附加信息：{\"confidence\": 0.9}\n"
      "{\"text\": \"只有文本\"}";
  const Sample c = parsed(Task::kClassification, reply);
  EXPECT_EQ(c.text, "正文");
  EXPECT_EQ(c.label, "财经");

  // For ner, an entity-like object written after the answer is not the answer.
  const std::string ner =
      "{\"text\": \"李四去了上海\", \"entities\": [{\"text\": \"李四\", \"type\": \"PER\"}]}\n"
      "其中 {\"text\": \"李四\", \"type\": \"PER\"} 是人名。";
  const Sample n = parsed(Task::kNer, ner);
  EXPECT_EQ(n.text, "李四去了上海");
  ASSERT_EQ(n.entities.size(), 1u);
}

TEST(ReplyParser, BracesAndQuotesInsideStrings) {
  const std::string reply =
      R"(结果：{"text": "他说：\"括号 } 和 { 都是符号\"，还有 {\"a\": 1}", "label": "科技"})";
  const Sample c = parsed(Task::kClassification, reply);
  EXPECT_EQ(c.text, "他说：\"括号 } 和 { 都是符号\"，还有 {\"a\": 1}");
  EXPECT_EQ(c.label, "科技");
}

TEST(ReplyParser, NestedEntityObjectsAreNotMistakenForTheAnswer) {
  // The last '{' that starts an object is an entity's; the answer is the object
  // that encloses it.
  const std::string reply =
      "```json\n{\"text\": \"王五在清华大学读书\", \"entities\": [\n"
      "  {\"text\": \"王五\", \"type\": \"PER\"},\n"
      "  {\"text\": \"清华大学\", \"type\": \"ORG\"}\n]}\n```";
  const Sample n = parsed(Task::kNer, reply);
  EXPECT_EQ(n.text, "王五在清华大学读书");
  ASSERT_EQ(n.entities.size(), 2u);
  EXPECT_EQ(n.entities[1].text, "清华大学");
  EXPECT_EQ(n.entities[1].type, "ORG");
}

TEST(ReplyParser, OuterObjectWinsOverANestedOneWithTheSameFields) {
  const std::string reply =
      R"({"text": "外层", "label": "体育", "meta": {"text": "内层", "label": "财经"}})";
  const Sample c = parsed(Task::kClassification, reply);
  EXPECT_EQ(c.text, "外层");
  EXPECT_EQ(c.label, "体育");
}

TEST(ReplyParser, ObjectInsideAnArray) {
  EXPECT_EQ(parsed(Task::kClassification, R"([{"text": "甲", "label": "乙"}])").label, "乙");
}

TEST(ReplyParser, UnicodeEscapesAndRawLineBreaks) {
  EXPECT_EQ(parsed(Task::kClassification, R"({"text": "\u5317\u4eac", "label": "x"})").text,
            "北京");
  // A raw line break inside a string is not JSON, but its meaning is plain.
  const Sample s =
      parsed(Task::kSummarization, "{\"text\": \"第一段。\n第二段。\t完\", \"summary\": \"两段\"}");
  EXPECT_EQ(s.text, "第一段。\n第二段。\t完");
}

TEST(ReplyParser, TrimsTextLabelSummaryAndEntities) {
  EXPECT_EQ(parsed(Task::kClassification, R"({"text": "  正文\n", "label": " 体育　"})").label,
            "体育");  // U+3000 is whitespace too
  EXPECT_EQ(parsed(Task::kClassification, R"({"text": "  正文\n", "label": "体育"})").text, "正文");
  EXPECT_EQ(parsed(Task::kSummarization, R"({"text": "正文内容", "summary": " 摘要 "})").summary,
            "摘要");
  const Sample n =
      parsed(Task::kNer, R"({"text": "在北京", "entities": [{"text": " 北京 ", "type": " LOC"}]})");
  EXPECT_EQ(n.entities.at(0), (Entity{0, 0, "LOC", "北京"}));
}

TEST(ReplyParser, NumberLabelIsItsDecimalText) {
  EXPECT_EQ(parsed(Task::kClassification, R"({"text": "正文", "label": 3})").label, "3");
  EXPECT_EQ(parsed(Task::kClassification, R"({"text": "正文", "label": -2.5})").label, "-2.5");
}

TEST(ReplyParser, TruncatedWhateverTheContent) {
  const Rejection r =
      rejected(Task::kClassification, R"({"text": "正文", "label": "体育"})", "length");
  EXPECT_EQ(r.reason, RejectReason::kTruncated);
  EXPECT_THAT(r.detail, HasSubstr("\"length\""));
  EXPECT_EQ(rejected(Task::kNer, "{\"text\": \"半截", "length").reason, RejectReason::kTruncated);
}

TEST(ReplyParser, FullWidthQuotesAreNotRepaired) {
  const Rejection r = rejected(Task::kClassification, "{“text”: “正文”, “label”: “体育”}");
  EXPECT_EQ(r.reason, RejectReason::kUnparseable);
}

TEST(ReplyParser, OtherBrokenJsonIsUnparseable) {
  EXPECT_EQ(rejected(Task::kClassification, R"({"text": "正文", "label": "体育",})").reason,
            RejectReason::kUnparseable);  // trailing comma
  EXPECT_EQ(rejected(Task::kClassification, R"({'text': '正文', 'label': '体育'})").reason,
            RejectReason::kUnparseable);  // single quotes
  EXPECT_EQ(rejected(Task::kClassification, R"({"text": "正文", "label": "体育")").reason,
            RejectReason::kUnparseable);  // unclosed
  EXPECT_EQ(rejected(Task::kClassification, R"({"text": "正文", "label": "\x"})").reason,
            RejectReason::kUnparseable);  // bad escape
}

TEST(ReplyParser, NoJsonAtAllQuotesTheReplysEnd) {
  const Rejection r = rejected(Task::kSummarization, "我无法完成这个任务。");
  EXPECT_EQ(r.reason, RejectReason::kUnparseable);
  EXPECT_THAT(r.detail, HasSubstr("no JSON object"));
  EXPECT_THAT(r.detail, HasSubstr("\"我无法完成这个任务。\""));
  EXPECT_EQ(rejected(Task::kSummarization, "").reason, RejectReason::kUnparseable);
}

TEST(ReplyParser, MissingOrMistypedTaskFieldIsUnparseable) {
  Rejection r = rejected(Task::kClassification, R"({"text": "正文", "category": "体育"})");
  EXPECT_EQ(r.reason, RejectReason::kUnparseable);
  EXPECT_THAT(r.detail, HasSubstr("no \"label\""));
  EXPECT_THAT(r.detail, HasSubstr("\"text\" and \"label\""));

  r = rejected(Task::kClassification, R"({"text": "正文", "label": ["体育"]})");
  EXPECT_EQ(r.reason, RejectReason::kUnparseable);
  EXPECT_THAT(r.detail, HasSubstr("\"label\" is not a string"));

  r = rejected(Task::kNer, R"({"text": "在北京", "entities": [{"text": "北京"}]})");
  EXPECT_EQ(r.reason, RejectReason::kUnparseable);
  EXPECT_THAT(r.detail, HasSubstr("entity 0"));
  EXPECT_THAT(r.detail, HasSubstr(R"({"text":"北京"})"));

  r = rejected(Task::kNer, R"({"text": "在北京", "entities": "北京"})");
  EXPECT_EQ(r.reason, RejectReason::kUnparseable);
  EXPECT_THAT(r.detail, HasSubstr("\"entities\" is not an array"));

  EXPECT_EQ(rejected(Task::kSummarization, R"({"text": "正文", "summary": null})").reason,
            RejectReason::kUnparseable);
}

TEST(ReplyParser, BlankOrMissingTextIsEmptyText) {
  Rejection r = rejected(Task::kClassification, R"({"text": "  \n ", "label": "体育"})");
  EXPECT_EQ(r.reason, RejectReason::kEmptyText);
  EXPECT_THAT(r.detail, HasSubstr("blank"));
  r = rejected(Task::kSummarization, R"({"summary": "摘要"})");
  EXPECT_EQ(r.reason, RejectReason::kEmptyText);
  EXPECT_THAT(r.detail, HasSubstr("no \"text\""));
  EXPECT_EQ(rejected(Task::kNer, R"({"text": 5, "entities": []})").reason,
            RejectReason::kEmptyText);
  // An earlier complete answer is still taken.
  EXPECT_EQ(parsed(Task::kClassification,
                   R"({"text": "完整", "label": "体育"} {"text": "", "label": "体育"})")
                .text,
            "完整");
}

TEST(ReplyParser, InvalidUtf8IsUnparseable) {
  const Rejection r = rejected(Task::kClassification, "{\"text\": \"\xE5\xA5\", \"label\": \"x\"}");
  EXPECT_EQ(r.reason, RejectReason::kUnparseable);
  EXPECT_THAT(r.detail, HasSubstr("UTF-8"));
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Inputs that would make a parse-from-every-brace scanner quadratic. No timing
// assertion: a quadratic scanner would take minutes here, not milliseconds.
TEST(ReplyParser, LargeAdversarialReplies) {
  const std::string answer = R"({"text": "最后的答案", "label": "体育"})";
  const std::vector<std::string> junk = {
      repeat("{", 100000),
      repeat("{\"a\":", 20000),         // nested keys, never closed
      repeat("{\"a\":[", 16000),        // nested objects in arrays, never closed
      repeat("\"{\"", 30000),           // braces in (prose) strings
      repeat("{\"x\":\"{\\\"", 12000),  // escaped quotes after braces
      repeat("{\"a\":1,", 14000),       // objects that almost close
      repeat("}", 50000) + repeat("{", 50000),
  };
  for (const std::string& j : junk) {
    SCOPED_TRACE(j.substr(0, 12));
    EXPECT_EQ(rejected(Task::kClassification, j).reason, RejectReason::kUnparseable);
    EXPECT_EQ(parsed(Task::kClassification, j + "\n" + answer).text, "最后的答案");
  }
  // 10000 valid nested objects without the fields, then the answer; and the same
  // nesting around the answer's label (the outer object is taken).
  const std::string deep = repeat("{\"a\":", 10000) + "1" + repeat("}", 10000);
  EXPECT_EQ(parsed(Task::kClassification, deep + answer).text, "最后的答案");
  EXPECT_EQ(rejected(Task::kClassification, deep).reason, RejectReason::kUnparseable);
  // Many complete objects, each with the fields but a mistyped label.
  const std::string many = repeat(R"({"text": "t", "label": [1]} )", 5000);
  EXPECT_EQ(rejected(Task::kClassification, many).reason, RejectReason::kUnparseable);
  EXPECT_EQ(parsed(Task::kClassification, answer + many).text, "最后的答案");
}

// ---------------------------------------------------------------------------
// parse_generation: the reasoning kept apart, several samples a reply.
// ---------------------------------------------------------------------------

Generation generation(std::string reply, std::string reasoning = "", std::string finish = "stop") {
  Generation g;
  g.ok = true;
  g.reply = std::move(reply);
  g.reasoning = std::move(reasoning);
  g.finish_reason = std::move(finish);
  return g;
}

// A Generation as a teacher makes it from a server's message (read_chat_reply).
Generation from_message(const nlohmann::json& message, const std::string& finish = "stop") {
  std::string why;
  const auto r =
      read_chat_reply({{"choices", {{{"message", message}, {"finish_reason", finish}}}}}, why);
  EXPECT_TRUE(r) << why;
  Generation g;
  g.ok = true;
  if (r) {
    g.reply = r->content;
    g.reasoning = r->reasoning;
    g.reasoning_open = r->reasoning_open;
    g.finish_reason = r->finish_reason;
  }
  return g;
}

// "sample: TEXT" or "REASON: detail" for each entry: a readable picture of a parse.
std::vector<std::string> outline(const std::vector<ParsedReply>& parsed) {
  std::vector<std::string> out;
  for (const ParsedReply& p : parsed) {
    EXPECT_NE(p.sample.has_value(), p.rejection.has_value()) << "exactly one of the two";
    out.push_back(p.sample
                      ? "sample: " + p.sample->text
                      : std::string(reason_name(p.rejection->reason)) + ": " + p.rejection->detail);
  }
  return out;
}

const std::string kDecoy = R"({"text": "诱饵文本", "label": "财经"})";
const std::string kAnswer = R"({"text": "真正的答案", "label": "体育"})";

TEST(ParseGeneration, TheReasoningIsNeverParsed) {
  // The reasoning field holds an object with the task's fields; the answer after it is taken.
  auto parsed = parse_generation(Task::kClassification, generation(kAnswer, "例如 " + kDecoy));
  ASSERT_EQ(parsed.size(), 1u);
  ASSERT_TRUE(parsed[0].sample);
  EXPECT_EQ(parsed[0].sample->text, "真正的答案");
  EXPECT_EQ(parsed[0].sample->label, "体育");

  // With no answer after it: unparseable, not the decoy.
  parsed = parse_generation(Task::kClassification, generation("", "例如 " + kDecoy));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_FALSE(parsed[0].sample);
  ASSERT_TRUE(parsed[0].rejection);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kUnparseable);
  EXPECT_THAT(parsed[0].rejection->detail, ::testing::Not(HasSubstr("诱饵")));

  // The same through a <think> block in content, as a server without a reasoning parser sends.
  parsed = parse_generation(
      Task::kClassification,
      from_message({{"content", "<think>\n例如 " + kDecoy + "\n</think>\n" + kAnswer}}));
  ASSERT_EQ(parsed.size(), 1u);
  ASSERT_TRUE(parsed[0].sample);
  EXPECT_EQ(parsed[0].sample->text, "真正的答案");
  parsed = parse_generation(Task::kClassification,
                            from_message({{"content", "<think>例如 " + kDecoy + "</think>\n"}}));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_FALSE(parsed[0].sample);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kUnparseable);
  parsed = parse_generation(Task::kClassification,
                            from_message({{"content", "例如 " + kDecoy + "</think>"}}));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_FALSE(parsed[0].sample) << "the decoy before a lone </think> was taken";

  // Several samples: objects in the reasoning are not samples either.
  parsed = parse_generation(Task::kClassification, generation(kAnswer, kDecoy + "\n" + kDecoy), 3);
  EXPECT_EQ(outline(parsed), (std::vector<std::string>{"sample: 真正的答案"}));
}

TEST(ParseGeneration, CutWhileReasoning) {
  // finish_reason "length", reasoning, and no answer text.
  for (const std::string& blank : {std::string(""), std::string(" \n\t ")}) {
    for (const int samples : {1, 4}) {
      const auto parsed = parse_generation(
          Task::kClassification, generation(blank, "第一步……第二步……", "length"), samples);
      ASSERT_EQ(parsed.size(), 1u);
      ASSERT_TRUE(parsed[0].rejection);
      EXPECT_FALSE(parsed[0].sample);
      EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncatedInReasoning);
      EXPECT_THAT(parsed[0].rejection->detail, HasSubstr("max_tokens"));
    }
  }
  // The same from a server's message without content at all.
  auto parsed = parse_generation(
      Task::kNer, from_message({{"reasoning_content", "还在想 " + kDecoy}}, "length"));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncatedInReasoning);

  // An unclosed <think> block, cut or not.
  for (const std::string finish : {"length", "stop"}) {
    parsed = parse_generation(Task::kClassification,
                              from_message({{"content", "<think>想 " + kDecoy}}, finish));
    ASSERT_EQ(parsed.size(), 1u) << finish;
    ASSERT_TRUE(parsed[0].rejection) << finish;
    EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncatedInReasoning) << finish;
  }
  Generation open = generation("", "想");
  open.reasoning_open = true;
  parsed = parse_generation(Task::kSummarization, open, 2);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncatedInReasoning);

  // Cut without reasoning: plain truncated. Reasoning and a blank answer not cut: unparseable.
  parsed = parse_generation(Task::kClassification, generation("", "", "length"));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncated);
  parsed = parse_generation(Task::kClassification, generation("", "想完了", "stop"));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kUnparseable);
  // Cut after the reasoning, inside the answer: truncated, not truncated_in_reasoning.
  parsed = parse_generation(Task::kClassification,
                            generation(R"({"text": "写了一半)", "想完了", "length"));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncated);
}

TEST(ParseGeneration, ASamplesArrayGivesEachItemItsOwnVerdict) {
  const std::string reply = R"({"reasoning": "三个新样本", "samples": [
      {"text": "女足夺冠", "label": "体育"},
      {"text": "无标签"},
      {"text": "芯片出口增长", "label": "科技"}]})";
  for (const int samples : {1, 3}) {
    const auto parsed = parse_generation(Task::kClassification, generation(reply), samples);
    ASSERT_EQ(parsed.size(), 3u) << samples;
    ASSERT_TRUE(parsed[0].sample);
    EXPECT_EQ(parsed[0].sample->text, "女足夺冠");
    EXPECT_EQ(parsed[0].sample->label, "体育");
    ASSERT_TRUE(parsed[1].rejection);
    EXPECT_FALSE(parsed[1].sample);
    EXPECT_EQ(parsed[1].rejection->reason, RejectReason::kUnparseable);
    EXPECT_THAT(parsed[1].rejection->detail, HasSubstr("samples[1]"));
    EXPECT_THAT(parsed[1].rejection->detail, HasSubstr("label"));
    ASSERT_TRUE(parsed[2].sample);
    EXPECT_EQ(parsed[2].sample->text, "芯片出口增长");
  }
  // Blank text and a non-object item.
  const auto parsed = parse_generation(
      Task::kSummarization,
      generation(
          R"({"samples": [{"text": " ", "summary": "s"}, 7, {"text": "t", "summary": "s"}]})"),
      3);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kEmptyText);
  EXPECT_THAT(parsed[0].rejection->detail, HasSubstr("samples[0]"));
  EXPECT_EQ(parsed[1].rejection->reason, RejectReason::kUnparseable);
  EXPECT_THAT(parsed[1].rejection->detail, HasSubstr("samples[1]"));
  ASSERT_TRUE(parsed[2].sample);
  EXPECT_EQ(parsed[2].sample->summary, "s");
  // An empty array: one rejection, never an empty list.
  const auto empty = parse_generation(Task::kClassification, generation(R"({"samples": []})"), 3);
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].rejection->reason, RejectReason::kUnparseable);
}

TEST(ParseGeneration, SeveralBareObjectsWhenSeveralAreAskedFor) {
  const std::string reply = "第一个：" + kAnswer + "\n第二个：" + kDecoy +
                            R"(
{"confidence": 0.9}
```json
{"text": "第三个", "entities": []}
```)";
  auto parsed = parse_generation(Task::kClassification, generation(reply), 3);
  EXPECT_EQ(outline(parsed), (std::vector<std::string>{"sample: 真正的答案", "sample: 诱饵文本"}));
  parsed = parse_generation(Task::kNer, generation(reply), 3);
  EXPECT_EQ(outline(parsed), (std::vector<std::string>{"sample: 第三个"}));
  // A bare array of objects.
  parsed =
      parse_generation(Task::kClassification, generation("[" + kAnswer + ", " + kDecoy + "]"), 2);
  EXPECT_EQ(outline(parsed), (std::vector<std::string>{"sample: 真正的答案", "sample: 诱饵文本"}));
  // One asked for: the one answer parse_reply takes (the last).
  parsed = parse_generation(Task::kClassification, generation(reply), 1);
  EXPECT_EQ(outline(parsed), (std::vector<std::string>{"sample: 诱饵文本"}));
  // Several asked for and none there: parse_reply's one rejection.
  parsed = parse_generation(Task::kClassification, generation("没有 JSON"), 4);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kUnparseable);
}

TEST(ParseGeneration, ACutReplyKeepsItsCompleteSamples) {
  // The several-samples form cut inside its third item.
  const std::string cut = R"({"reasoning": "写三个", "samples": [{"text": "一", "label": "体育"}, )"
                          R"({"text": "二", "label": "财经"}, {"text": "三写了一)";
  auto parsed = parse_generation(Task::kClassification, generation(cut, "", "length"), 3);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(outline(parsed)[0], "sample: 一");
  EXPECT_EQ(outline(parsed)[1], "sample: 二");
  ASSERT_TRUE(parsed[2].rejection);
  EXPECT_EQ(parsed[2].rejection->reason, RejectReason::kTruncated);
  // Bare objects, cut in the third.
  parsed = parse_generation(
      Task::kClassification,
      generation(kAnswer + "\n" + kDecoy + "\n{\"text\": \"第三", "", "length"), 3);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[2].rejection->reason, RejectReason::kTruncated);

  // One sample asked for: a cut reply is one kTruncated, whatever it holds (unchanged).
  for (const std::string& reply : {cut, kAnswer + "\n" + kDecoy, kAnswer}) {
    parsed = parse_generation(Task::kClassification, generation(reply, "", "length"), 1);
    ASSERT_EQ(parsed.size(), 1u) << reply;
    EXPECT_FALSE(parsed[0].sample) << reply;
    EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncated) << reply;
  }
  // Cut before any sample was complete: one kTruncated.
  parsed = parse_generation(Task::kClassification,
                            generation(R"({"samples": [{"text": "一)", "", "length"), 3);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kTruncated);
}

TEST(ParseGeneration, TakesAtMostTheLimitOfSamples) {
  const std::size_t n = kMaxSamplesPerReply + 8;
  std::string items, bare;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string one = R"({"text": "样本)" + std::to_string(i) + R"(", "label": "体育"})";
    items += (i ? ", " : "") + one;
    bare += one + "\n";
  }
  auto parsed = parse_generation(
      Task::kClassification, generation(R"({"samples": [)" + items + "]}"), kMaxSamplesPerReply);
  ASSERT_EQ(parsed.size(), static_cast<std::size_t>(kMaxSamplesPerReply));
  EXPECT_EQ(parsed.front().sample->text, "样本0");
  EXPECT_EQ(parsed.back().sample->text, "样本" + std::to_string(kMaxSamplesPerReply - 1));
  parsed = parse_generation(Task::kClassification, generation(bare), kMaxSamplesPerReply);
  ASSERT_EQ(parsed.size(), static_cast<std::size_t>(kMaxSamplesPerReply));
  EXPECT_EQ(parsed.back().sample->text, "样本" + std::to_string(kMaxSamplesPerReply - 1));
}

TEST(ParseGeneration, InvalidUtf8IsOneUnparseable) {
  const auto parsed =
      parse_generation(Task::kClassification, generation(kAnswer + "\xff" + kDecoy), 2);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].rejection->reason, RejectReason::kUnparseable);
  EXPECT_THAT(parsed[0].rejection->detail, HasSubstr("UTF-8"));
}

}  // namespace
}  // namespace weakdistill
