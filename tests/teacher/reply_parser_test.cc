#include "weakdistill/teacher/reply_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace weakdistill
