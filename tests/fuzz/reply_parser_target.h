// Fuzz target: the teacher-reply parser (teacher/reply_parser.h).
//
// Input: one mode byte, then the reply's content. mode % 3 is the task (0
// classification, 1 ner, 2 summarization); (mode / 3) % 16 == 1 makes the
// finish_reason "length", == 2 makes it "", anything else "stop". So a seed that
// starts with '0', '1' or '2' is a finished reply for that task.
//
// parse_reply documents no exception: any is a bug. So is a result that breaks
// its contract: exactly one of sample and rejection; "length" -> kTruncated; only
// kTruncated, kUnparseable or kEmptyText; valid UTF-8 everywhere (the detail is
// stored in JSON); text non-blank; every field trimmed. And, since an answer
// cannot sit inside anything that starts before it, a valid answer appended after
// any valid UTF-8 content (on a new line) must be the one parsed.
#pragma once

#include <string>
#include <string_view>

#include "fuzz/target_support.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/teacher/chat_reply.h"
#include "weakdistill/teacher/reply_parser.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill::fuzz {

inline void expect_trimmed(const std::string& s, const char* what) {
  expect(!utf8::find_invalid(s), std::string(what) + " is valid UTF-8");
  const std::u32string cps = utf8::decode(s);
  expect(cps.empty() || (!utf8::is_space(cps.front()) && !utf8::is_space(cps.back())),
         std::string(what) + " is trimmed");
}

inline void check_parsed(const ParsedReply& r, Task task, std::string_view finish) {
  expect(r.sample.has_value() != r.rejection.has_value(), "either a sample or a rejection");
  if (finish == "length") {
    expect(r.rejection && r.rejection->reason == RejectReason::kTruncated,
           "finish_reason length -> truncated");
  }
  if (r.rejection) {
    const RejectReason why = r.rejection->reason;
    expect(why == RejectReason::kTruncated || why == RejectReason::kUnparseable ||
               why == RejectReason::kEmptyText,
           "the parser rejects only as truncated, unparseable or empty_text");
    expect(!utf8::find_invalid(r.rejection->detail), "the detail is valid UTF-8");
    return;
  }
  const Sample& s = *r.sample;
  expect_trimmed(s.text, "text");
  expect(!s.text.empty(), "text is not blank");
  switch (task) {
    case Task::kClassification:
      expect_trimmed(s.label, "label");
      break;
    case Task::kNer:
      for (const Entity& e : s.entities) {
        expect_trimmed(e.text, "entity text");
        expect_trimmed(e.type, "entity type");
      }
      break;
    case Task::kSummarization:
      expect_trimmed(s.summary, "summary");
      break;
  }
}

// A valid answer for `task`, and the sample it holds.
inline std::string_view known_answer(Task task) {
  switch (task) {
    case Task::kClassification:
      return R"({"text": "央行宣布下调存款准备金率0.5个百分点", "label": "财经"})";
    case Task::kNer:
      return R"({"text": "张伟在清华大学读书", "entities": [{"text": "张伟", "type": "PER"}, )"
             R"({"text": "清华大学", "type": "ORG"}]})";
    case Task::kSummarization:
      return R"({"text": "今天上午，市政府召开新闻发布会，宣布地铁三号线将于年底通车。", )"
             R"("summary": "地铁三号线年底通车"})";
  }
  return "";
}

inline bool is_known_answer(const Sample& s, Task task) {
  switch (task) {
    case Task::kClassification:
      return s.text == "央行宣布下调存款准备金率0.5个百分点" && s.label == "财经";
    case Task::kNer:
      return s.text == "张伟在清华大学读书" && s.entities.size() == 2 &&
             s.entities[0].text == "张伟" && s.entities[0].type == "PER" &&
             s.entities[1].text == "清华大学" && s.entities[1].type == "ORG";
    case Task::kSummarization:
      return s.text == "今天上午，市政府召开新闻发布会，宣布地铁三号线将于年底通车。" &&
             s.summary == "地铁三号线年底通车";
  }
  return false;
}

// The reply as a reasoning model's, several samples asked for or one: parse_generation's
// contract. Never empty, at most kMaxSamplesPerReply samples and one rejection for a cut; each
// entry a sample or a rejection of the parser's kinds; the reasoning split off is never the
// answer (content without any think tag is left whole).
inline void check_generation(Task task, std::string_view data, std::string_view finish) {
  const std::string content(data);
  const ReasoningSplit split = split_reasoning(content);
  if (content.find("think>") == std::string::npos) {
    expect(split.answer == content && split.reasoning.empty() && !split.open,
           "content without a think tag is all answer");
  }
  expect(split.reasoning.size() + split.answer.size() <= content.size(),
         "reasoning and answer are parts of the content");
  for (const int k : {1, 4}) {
    Generation g;
    g.ok = true;
    g.reply = split.answer;
    g.reasoning = split.reasoning;
    g.reasoning_open = split.open;
    g.finish_reason = std::string(finish);
    const std::vector<ParsedReply> out = parse_generation(task, g, k);
    expect(!out.empty(), "parse_generation never returns nothing");
    expect(out.size() <= static_cast<std::size_t>(kMaxSamplesPerReply) + 1,
           "at most kMaxSamplesPerReply samples and one truncation");
    for (const ParsedReply& r : out) {
      expect(r.sample.has_value() != r.rejection.has_value(), "either a sample or a rejection");
      if (r.rejection) {
        const RejectReason why = r.rejection->reason;
        expect(why == RejectReason::kTruncated || why == RejectReason::kTruncatedInReasoning ||
                   why == RejectReason::kUnparseable || why == RejectReason::kEmptyText,
               "parse_generation rejects only for the reply's form");
        expect(!utf8::find_invalid(r.rejection->detail), "the detail is valid UTF-8");
      } else {
        expect_trimmed(r.sample->text, "text");
        expect(!r.sample->text.empty(), "text is not blank");
      }
    }
    if (split.open) {
      expect(out.size() == 1 && out[0].rejection &&
                 out[0].rejection->reason == RejectReason::kTruncatedInReasoning,
             "an unclosed <think> is truncated_in_reasoning");
    }
  }
}

inline void reply_parser_target(std::string_view input) {
  const Split in = split_mode(input);
  const Task task = static_cast<Task>(in.mode % 3);
  const unsigned variant = (in.mode / 3) % 16;
  const std::string_view finish = variant == 1 ? "length" : variant == 2 ? "" : "stop";
  try {
    check_parsed(parse_reply(task, in.data, finish), task, finish);
    if (!utf8::find_invalid(in.data)) check_generation(task, in.data, finish);
    if (finish == "length" || utf8::find_invalid(in.data)) return;
    const std::string appended = std::string(in.data) + "\n" + std::string(known_answer(task));
    const ParsedReply r = parse_reply(task, appended, finish);
    check_parsed(r, task, finish);
    expect(r.sample && is_known_answer(*r.sample, task),
           "an answer appended after the content is the one parsed");
  } catch (const Bug&) {
    throw;
  } catch (const std::exception& e) {
    throw undocumented(e);
  }
}

}  // namespace weakdistill::fuzz
