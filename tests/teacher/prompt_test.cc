#include "weakdistill/teacher/prompt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/teacher/output_schema.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using weakdistill::testing::TempDir;

constexpr Task kTasks[] = {Task::kClassification, Task::kNer, Task::kSummarization};

Sample classification_seed() {
  Sample s;
  s.text = "国足主场两球击败对手";
  s.label = "体育";
  return s;
}

Sample ner_seed() {
  Sample s;
  s.text = "张三昨天在北京见到了李四";
  // Deliberately out of text order: describe_labels() must sort.
  s.entities = {{10, 12, "PER", "李四"}, {0, 2, "PER", "张三"}, {5, 7, "LOC", "北京"}};
  return s;
}

Sample summarization_seed() {
  Sample s;
  s.text = "今天上午，市政府召开新闻发布会，宣布地铁三号线将于下月底正式开通运营。";
  s.summary = "地铁三号线下月底开通";
  return s;
}

Sample seed_for(Task task) {
  switch (task) {
    case Task::kClassification:
      return classification_seed();
    case Task::kNer:
      return ner_seed();
    case Task::kSummarization:
      return summarization_seed();
  }
  return {};
}

std::string render_one(const PromptTemplate& t, const Sample& seed) {
  const auto messages = t.render(seed);
  EXPECT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages.at(0).role, "user");
  return messages.at(0).content;
}

// True when each of `parts` occurs in `s`, in this order.
bool in_order(const std::string& s, const std::vector<std::string>& parts) {
  std::size_t pos = 0;
  for (const std::string& p : parts) {
    pos = s.find(p, pos);
    if (pos == std::string::npos) return false;
    pos += p.size();
  }
  return true;
}

// The message of the InputError that `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(PromptLanguage, ParsesZhAndEnOnly) {
  EXPECT_EQ(parse_prompt_language("zh"), PromptLanguage::kChinese);
  EXPECT_EQ(parse_prompt_language("en"), PromptLanguage::kEnglish);
  const std::string message = error_of([] { parse_prompt_language("fr"); });
  EXPECT_THAT(message, HasSubstr("'fr'"));
  EXPECT_THAT(message, HasSubstr("zh"));
  EXPECT_THAT(message, HasSubstr("en"));
}

TEST(PromptBuiltin, ChineseHasThePapersFourPartsInOrder) {
  for (const Task task : kTasks) {
    SCOPED_TRACE(std::string(task_name(task)));
    const auto t = PromptTemplate::builtin(task, PromptLanguage::kChinese);
    EXPECT_EQ(t.source(), "built-in (zh)");
    const std::string p = render_one(t, seed_for(task));
    EXPECT_TRUE(in_order(p, {"语义角色", "任务要求", "样本标签", "样本文本"})) << p;
    EXPECT_TRUE(
        in_order(p, {"语义角色", "文本样本生成器", "任务要求",
                     "根据样本标签，仿照样本文本重新生成一段全新文本以及文本标签，"
                     "生成的文本中需要包括样本标签数据",
                     "样本标签", describe_labels(task, seed_for(task), PromptLanguage::kChinese),
                     "样本文本", seed_for(task).text, "一步一步", "JSON"}))
        << p;
    // Every placeholder was filled.
    EXPECT_EQ(p.find("{role}"), std::string::npos);
    EXPECT_EQ(p.find("{format}"), std::string::npos);
    EXPECT_THAT(t.text(), HasSubstr("{text}"));
    EXPECT_THAT(t.text(), HasSubstr("{tag}"));
  }
}

TEST(PromptBuiltin, EachTaskAsksForItsOwnJsonFormatLast) {
  const auto zh = PromptLanguage::kChinese;
  const std::string cls =
      render_one(PromptTemplate::builtin(Task::kClassification, zh), classification_seed());
  // The seed's own label is in the format, so the model copies its spelling.
  EXPECT_THAT(cls, HasSubstr(R"("label": "体育"})"));
  EXPECT_TRUE(in_order(cls, {"样本文本", R"({"text": )", R"("label": "体育"})"}));

  const std::string ner = render_one(PromptTemplate::builtin(Task::kNer, zh), ner_seed());
  EXPECT_THAT(ner, HasSubstr(R"("entities": [{"text": )"));
  EXPECT_THAT(ner, HasSubstr(R"("type": "PER"}]})"));
  EXPECT_THAT(ner, HasSubstr("张三"));
  EXPECT_THAT(ner, HasSubstr("北京"));

  const std::string sum =
      render_one(PromptTemplate::builtin(Task::kSummarization, zh), summarization_seed());
  EXPECT_THAT(sum, HasSubstr(R"("summary": )"));
  EXPECT_THAT(sum, HasSubstr("摘要：地铁三号线下月底开通"));
  // The JSON example is the prompt's last line.
  EXPECT_EQ(sum.back(), '}');
}

TEST(PromptBuiltin, EnglishHasTheSameFourParts) {
  for (const Task task : kTasks) {
    SCOPED_TRACE(std::string(task_name(task)));
    const auto t = PromptTemplate::builtin(task, PromptLanguage::kEnglish);
    EXPECT_EQ(t.source(), "built-in (en)");
    const std::string p = render_one(t, seed_for(task));
    EXPECT_TRUE(in_order(p, {"Role", "a text sample generator", "Mission",
                             "imitate the sample text and write a brand-new text", "Sample labels",
                             describe_labels(task, seed_for(task), PromptLanguage::kEnglish),
                             "Sample text", seed_for(task).text, "step by step", "JSON"}))
        << p;
    EXPECT_EQ(p.find("语义角色"), std::string::npos);
  }
}

TEST(PromptBuiltin, TemplatesDifferPerTaskAndLanguage) {
  std::set<std::string> texts;
  for (const Task task : kTasks) {
    texts.insert(PromptTemplate::builtin(task, PromptLanguage::kChinese).text());
    texts.insert(PromptTemplate::builtin(task, PromptLanguage::kEnglish).text());
  }
  EXPECT_EQ(texts.size(), 6u);
}

// docs/PROMPTS.md quotes the built-in templates, missions and formats verbatim.
TEST(PromptBuiltin, DocsQuoteThemVerbatim) {
  const std::string doc =
      weakdistill::testing::read_file(std::string(WEAKDISTILL_SOURCE_DIR) + "/docs/PROMPTS.md");
  ASSERT_FALSE(doc.empty());
  TempDir dir;
  const std::string path = dir.write("t.txt", "{mission}\n{format}{text}");
  Sample seed;
  seed.label = "体育";  // the label docs/PROMPTS.md shows in the classification format
  for (const Task task : kTasks) {
    for (const auto language : {PromptLanguage::kChinese, PromptLanguage::kEnglish}) {
      SCOPED_TRACE(std::string(task_name(task)) +
                   (language == PromptLanguage::kChinese ? " zh" : " en"));
      EXPECT_THAT(
          doc, HasSubstr("```text\n" + PromptTemplate::builtin(task, language).text() + "\n```"));
      const std::string values = render_one(PromptTemplate::from_file(path, task, language), seed);
      const std::size_t newline = values.find('\n');
      EXPECT_THAT(doc, HasSubstr(": " + values.substr(0, newline) + "\n"));   // the mission
      EXPECT_THAT(doc, HasSubstr(": `" + values.substr(newline + 1) + "`"));  // the format
    }
  }
}

TEST(PromptRender, SubstitutesOnlyOnce) {
  Sample seed = classification_seed();
  seed.text = "正文里写着{tag}、{text}和{{x}}";
  seed.label = "{format}";
  const std::string p =
      render_one(PromptTemplate::builtin(Task::kClassification, PromptLanguage::kChinese), seed);
  EXPECT_THAT(p, HasSubstr("正文里写着{tag}、{text}和{{x}}"));
  EXPECT_THAT(p, HasSubstr("类别：{format}"));
  EXPECT_THAT(p, HasSubstr(R"("label": "{format}"})"));
}

TEST(PromptDescribeLabels, Classification) {
  const Sample s = classification_seed();
  EXPECT_EQ(describe_labels(Task::kClassification, s, PromptLanguage::kChinese), "类别：体育");
  EXPECT_EQ(describe_labels(Task::kClassification, s, PromptLanguage::kEnglish), "label: 体育");
}

TEST(PromptDescribeLabels, NerInTextOrderWithTypeNames) {
  const Sample s = ner_seed();
  EXPECT_EQ(describe_labels(Task::kNer, s, PromptLanguage::kChinese),
            "人名(PER)：张三；地名(LOC)：北京；人名(PER)：李四");
  EXPECT_EQ(describe_labels(Task::kNer, s, PromptLanguage::kEnglish),
            "person (PER): 张三; location (LOC): 北京; person (PER): 李四");
}

TEST(PromptDescribeLabels, NerOtherTypesRepeatsAndMissingText) {
  Sample s;
  s.text = "新华社明天在北京和北京";
  // ORG with its text omitted (taken from the span), a type outside PER/LOC/ORG, and a
  // mention repeated.
  s.entities = {
      {0, 3, "ORG", ""}, {3, 5, "TIME", "明天"}, {6, 8, "LOC", "北京"}, {9, 11, "LOC", "北京"}};
  EXPECT_EQ(describe_labels(Task::kNer, s, PromptLanguage::kChinese),
            "机构名(ORG)：新华社；TIME：明天；地名(LOC)：北京");
  EXPECT_EQ(describe_labels(Task::kNer, s, PromptLanguage::kEnglish),
            "organization (ORG): 新华社; TIME: 明天; location (LOC): 北京");
}

TEST(PromptDescribeLabels, NerWithoutEntities) {
  Sample s;
  s.text = "今天天气很好";
  EXPECT_EQ(describe_labels(Task::kNer, s, PromptLanguage::kChinese), "无");
  EXPECT_EQ(describe_labels(Task::kNer, s, PromptLanguage::kEnglish), "none");
}

TEST(PromptDescribeLabels, Summarization) {
  const Sample s = summarization_seed();
  EXPECT_EQ(describe_labels(Task::kSummarization, s, PromptLanguage::kChinese),
            "摘要：地铁三号线下月底开通");
  EXPECT_EQ(describe_labels(Task::kSummarization, s, PromptLanguage::kEnglish),
            "summary: 地铁三号线下月底开通");
}

TEST(PromptTemplateFile, RendersPlaceholdersAndLiteralBraces) {
  TempDir dir;
  const std::string path =
      dir.write("t.txt", "角色={role}\r\n标签={tag}\n文本={text}\n例子：{{\"text\": \"...\"}}\n");
  const auto t = PromptTemplate::from_file(path, Task::kClassification, PromptLanguage::kChinese);
  EXPECT_EQ(t.source(), path);
  EXPECT_EQ(render_one(t, classification_seed()),
            "角色=文本样本生成器\n标签=类别：体育\n文本=国足主场两球击败对手\n"
            "例子：{\"text\": \"...\"}\n");
}

TEST(PromptTemplateFile, FillsMissionAndFormatInItsLanguage) {
  TempDir dir;
  const std::string path = dir.write("t.txt", "\xEF\xBB\xBF{mission}|{text}|{format}");
  const auto t = PromptTemplate::from_file(path, Task::kSummarization, PromptLanguage::kEnglish);
  const std::string p = render_one(t, summarization_seed());
  EXPECT_THAT(p, StartsWith("Following the sample labels"));  // the BOM is dropped
  EXPECT_THAT(p, HasSubstr("|" + summarization_seed().text + "|"));
  EXPECT_THAT(p, HasSubstr(R"("summary": )"));
}

TEST(PromptTemplateFile, FormatIsOptional) {
  TempDir dir;
  const std::string path = dir.write("t.txt", "{text}");
  const auto t = PromptTemplate::from_file(path, Task::kNer, PromptLanguage::kChinese);
  EXPECT_EQ(render_one(t, ner_seed()), ner_seed().text);
}

// from_file()'s error for `content`, with the temporary path replaced by "FILE".
std::string file_error(const std::string& content) {
  TempDir dir;
  const std::string path = dir.write("t.txt", content);
  std::string message = error_of(
      [&] { PromptTemplate::from_file(path, Task::kClassification, PromptLanguage::kChinese); });
  if (message.rfind(path, 0) == 0) message = "FILE" + message.substr(path.size());
  return message;
}

TEST(PromptTemplateFile, UnknownPlaceholderNamesFileAndLine) {
  const std::string message = file_error("{role}\n{text}\n说明：{label}\n");
  EXPECT_THAT(message, StartsWith("FILE:3: unknown placeholder {label}"));
  EXPECT_THAT(message, HasSubstr("{{"));
}

TEST(PromptTemplateFile, JsonExampleWithSingleBracesIsAnError) {
  EXPECT_THAT(file_error("{text}\n\n{\"text\": \"x\"}\n"),
              StartsWith("FILE:3: unknown placeholder {\"text\": \"x\"}"));
  EXPECT_THAT(file_error("{text}\n{\"entities\": [{\"type\": 1}]}\n"),
              StartsWith("FILE:2: unmatched '{'"));
}

TEST(PromptTemplateFile, UnmatchedBraces) {
  EXPECT_THAT(file_error("{text}\n结尾 {\n"), StartsWith("FILE:2: unmatched '{'"));
  EXPECT_THAT(file_error("{text}\n{tag\n}"), StartsWith("FILE:2: unmatched '{'"));
  EXPECT_THAT(file_error("{text}\n\n\n多了 } 一个"), StartsWith("FILE:4: unmatched '}'"));
  EXPECT_THAT(file_error("{text}}"), StartsWith("FILE:1: unmatched '}'"));
  EXPECT_EQ(file_error("{{text}}{text}"), "");  // "{{text}}" is the literal "{text}"
}

TEST(PromptTemplateFile, MissingTextPlaceholder) {
  EXPECT_THAT(file_error("{role}\n{tag}\n{{text}}\n"),
              StartsWith("FILE: the prompt template has no {text} placeholder"));
  EXPECT_THAT(file_error(""), StartsWith("FILE: the prompt template has no {text}"));
}

TEST(PromptTemplateFile, InvalidUtf8NamesTheLine) {
  EXPECT_THAT(file_error("{text}\n好\xFF\n"), StartsWith("FILE:2: invalid UTF-8 at byte 11"));
}

TEST(PromptTemplateFile, UnreadableFile) {
  TempDir dir;
  const std::string missing = dir.file("no-such-template.txt");
  EXPECT_THAT(
      error_of([&] { PromptTemplate::from_file(missing, Task::kNer, PromptLanguage::kChinese); }),
      StartsWith(missing + ": cannot read the prompt template"));
  const std::string folder = dir.path().string();
  EXPECT_THAT(
      error_of([&] { PromptTemplate::from_file(folder, Task::kNer, PromptLanguage::kChinese); }),
      StartsWith(folder + ": cannot read the prompt template"));
}

// ---------------------------------------------------------------------------
// The answer form: {format} with a reasoning field and several samples.
// ---------------------------------------------------------------------------

constexpr PromptLanguage kLanguages[] = {PromptLanguage::kChinese, PromptLanguage::kEnglish};

// {format} alone, rendered through a template file "{text}\n{format}".
std::string format_of(Task task, PromptLanguage language, const AnswerForm& form) {
  TempDir dir;
  const auto t = PromptTemplate::from_file(dir.write("t.txt", "{text}\n{format}"), task, language);
  const auto messages = t.render(seed_for(task), form);
  EXPECT_EQ(messages.size(), 1u);
  const std::string head = seed_for(task).text + "\n";
  const std::string& content = messages.at(0).content;
  EXPECT_THAT(content, StartsWith(head));
  return content.substr(std::min(head.size(), content.size()));
}

// The default {format} as it was before answer forms existed, written out.
std::string old_format(Task task, PromptLanguage language) {
  const bool zh = language == PromptLanguage::kChinese;
  switch (task) {
    case Task::kClassification:
      return zh ? R"({"text": "新文本", "label": "体育"})"
                : R"({"text": "the new text", "label": "体育"})";
    case Task::kNer:
      return zh ? R"({"text": "新文本", "entities": [{"text": "实体字符串", "type": "PER"}]})"
                : R"({"text": "the new text", "entities": [{"text": "entity string", "type": "PER"}]})";
    case Task::kSummarization:
      return zh ? R"({"text": "新文本", "summary": "新文本的摘要"})"
                : R"({"text": "the new text", "summary": "a summary of the new text"})";
  }
  return "";
}

TEST(PromptAnswerForm, TheDefaultFormRendersAsBefore) {
  for (const Task task : kTasks) {
    for (const PromptLanguage language : kLanguages) {
      SCOPED_TRACE(std::string(task_name(task)) +
                   (language == PromptLanguage::kChinese ? " zh" : " en"));
      EXPECT_EQ(format_of(task, language, {}), old_format(task, language));
      EXPECT_EQ(format_of(task, language, AnswerForm{false, 1}), old_format(task, language));
      const auto t = PromptTemplate::builtin(task, language);
      const auto plain = t.render(seed_for(task));
      EXPECT_EQ(t.render(seed_for(task), AnswerForm{}), plain);
      ASSERT_EQ(plain.size(), 1u);
      // The built-in prompt still ends with the old format line, and says nothing of the new
      // forms.
      EXPECT_TRUE(plain[0].content.ends_with("\n" + old_format(task, language)))
          << plain[0].content;
      EXPECT_EQ(plain[0].content.find("reasoning\""), std::string::npos);
      EXPECT_EQ(plain[0].content.find("samples"), std::string::npos);
    }
  }
}

TEST(PromptAnswerForm, AReasoningFieldComesFirstThenTheSchemasFields) {
  for (const Task task : kTasks) {
    for (const PromptLanguage language : kLanguages) {
      SCOPED_TRACE(std::string(task_name(task)) +
                   (language == PromptLanguage::kChinese ? " zh" : " en"));
      const std::string f = format_of(task, language, AnswerForm{true, 1});
      EXPECT_THAT(f, StartsWith(R"({"reasoning": )"));
      // Its first line is the JSON object itself, with the keys of the reply's schema in the
      // schema's order (the grammar and the prompt ask for the same thing).
      const std::string line = f.substr(0, f.find('\n'));
      const auto example = nlohmann::ordered_json::parse(line);
      const auto schema = output_schema(task, {{}, 1, true});
      std::vector<std::string> keys, expected;
      for (const auto& item : example.items()) keys.push_back(item.key());
      for (const auto& item : schema["properties"].items()) expected.push_back(item.key());
      EXPECT_EQ(keys, expected) << line;
      if (task == Task::kClassification) {
        EXPECT_EQ(example["label"], "体育") << line;
      }
      // Then a line saying that the whole reply is that object.
      EXPECT_NE(f.find('\n'), std::string::npos) << f;
      EXPECT_THAT(f.substr(line.size()), HasSubstr("JSON")) << f;
      // The built-in prompt carries it too.
      const auto p = PromptTemplate::builtin(task, language).render(seed_for(task), {true, 1});
      EXPECT_THAT(p.at(0).content, HasSubstr(line));
    }
  }
}

TEST(PromptAnswerForm, SeveralSamplesAreAskedForByNumberInASamplesArray) {
  for (const Task task : kTasks) {
    for (const PromptLanguage language : kLanguages) {
      for (const bool reasoning : {true, false}) {
        SCOPED_TRACE(std::string(task_name(task)) +
                     (language == PromptLanguage::kChinese ? " zh" : " en") +
                     (reasoning ? " reasoning" : ""));
        const std::string f = format_of(task, language, AnswerForm{reasoning, 3});
        EXPECT_THAT(f, StartsWith(reasoning ? R"({"reasoning": )" : R"({"samples": [)"));
        EXPECT_TRUE(in_order(f, {R"("samples": [{"text": )", "}, {\"text\": "})) << f;
        EXPECT_THAT(f, HasSubstr(" 3 "));
        EXPECT_THAT(f, HasSubstr("samples"));
        EXPECT_EQ(f.find(" 1 "), std::string::npos) << "the count is the form's: " << f;
        if (task == Task::kClassification) {
          EXPECT_THAT(f, HasSubstr(R"("label": "体育")"));
        }
        // Another count, another number.
        EXPECT_THAT(format_of(task, language, AnswerForm{reasoning, 12}), HasSubstr(" 12 "));
      }
    }
  }
}

}  // namespace
}  // namespace weakdistill
