#include "weakdistill/teacher/prompt.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

// ---------------------------------------------------------------------------
// The built-in templates. The four parts come in the paper's order (语义角色,
// 任务要求, 样本标签, 样本文本); the closing part asks for step-by-step reasoning
// and exactly one JSON object at the end, which parse_reply() takes. The task's
// own wording lives in {mission} and {format}, so that a user's template gets it
// too; the reasoning steps differ per task and stay in the template. docs/PROMPTS.md
// quotes these verbatim: change both together.
// ---------------------------------------------------------------------------

constexpr std::string_view kZhClassification = R"zh(## 语义角色
你是一个{role}。

## 任务要求
{mission}

## 样本标签
{tag}

## 样本文本
{text}

## 回答方式
请先一步一步地思考，写出推理过程：
1. 分析样本文本的主题、体裁、语气和长度，说明它为什么属于样本标签中的类别；
2. 构思一个与样本文本不同的新话题或新事件，确保它仍然明确属于这个类别；
3. 仿照样本文本的风格和长度写出全新的文本，不要照抄样本文本，也不要只替换个别字词。
推理结束后，在回复的最后输出且只输出一个 JSON 对象，之后不要再写任何内容。label 必须与样本标签中的类别完全相同；JSON 中的引号使用英文半角双引号。格式如下：
{format})zh";

constexpr std::string_view kZhNer = R"zh(## 语义角色
你是一个{role}。

## 任务要求
{mission}

## 样本标签
{tag}

## 样本文本
{text}

## 回答方式
请先一步一步地思考，写出推理过程：
1. 逐一分析样本标签中的每个实体在样本文本中的含义和上下文；
2. 构思一个与样本文本不同的新场景，让样本标签中的每个实体字符串都原样出现在新场景中，实体类型保持不变；
3. 仿照样本文本的风格和长度写出全新的文本，再逐一找出新文本中出现的全部实体（包括新加入的实体），核对每个实体字符串都能在新文本中原样找到。
推理结束后，在回复的最后输出且只输出一个 JSON 对象，之后不要再写任何内容。entities 列出新文本中的全部实体：text 与新文本中的字符完全一致，type 使用样本标签中给出的类型代码（如 PER、LOC、ORG）；没有实体时 entities 为 []。JSON 中的引号使用英文半角双引号。格式如下：
{format})zh";

constexpr std::string_view kZhSummarization = R"zh(## 语义角色
你是一个{role}。

## 任务要求
{mission}

## 样本标签
{tag}

## 样本文本
{text}

## 回答方式
请先一步一步地思考，写出推理过程：
1. 分析样本文本的主题、结构和长度，以及样本摘要是如何概括样本文本的；
2. 构思一段全新的文本，包含样本摘要所述的主要信息，但换用不同的细节、表述和结构，长度与样本文本相近；
3. 为新文本写一条新的摘要：比新文本短得多，准确概括新文本，尽量使用新文本中的字词。
推理结束后，在回复的最后输出且只输出一个 JSON 对象，之后不要再写任何内容。JSON 中的引号使用英文半角双引号。格式如下：
{format})zh";

constexpr std::string_view kEnClassification = R"en(## Role
You are {role}.

## Mission
{mission}

## Sample labels
{tag}

## Sample text
{text}

## How to answer
Think step by step first and write your reasoning down:
1. Analyse the sample text's topic, genre, tone and length, and why it belongs to the category in the sample labels.
2. Think of a new topic or event, different from the sample text's, that still clearly belongs to this category.
3. Write a brand-new text in the style and length of the sample text; do not copy the sample text or only change a few words.
When you are done reasoning, end your reply with exactly one JSON object and write nothing after it. The label must be exactly the category given in the sample labels. The format:
{format})en";

constexpr std::string_view kEnNer = R"en(## Role
You are {role}.

## Mission
{mission}

## Sample labels
{tag}

## Sample text
{text}

## How to answer
Think step by step first and write your reasoning down:
1. Analyse each entity of the sample labels: what it means and its context in the sample text.
2. Think of a new scene, different from the sample text's, in which every entity string of the sample labels occurs verbatim, with its entity type unchanged.
3. Write a brand-new text in the style and length of the sample text, then list every entity that occurs in the new text (including entities you added) and check that each entity string can be found verbatim in the new text.
When you are done reasoning, end your reply with exactly one JSON object and write nothing after it. "entities" lists every entity of the new text: "text" exactly as written in the new text, "type" one of the type codes given in the sample labels (such as PER, LOC, ORG); with no entity, "entities" is []. The format:
{format})en";

constexpr std::string_view kEnSummarization = R"en(## Role
You are {role}.

## Mission
{mission}

## Sample labels
{tag}

## Sample text
{text}

## How to answer
Think step by step first and write your reasoning down:
1. Analyse the sample text's topic, structure and length, and how the sample summary sums it up.
2. Think of a brand-new text that carries the main information of the sample summary with different details, wording and structure, about as long as the sample text.
3. Write a new summary of the new text: much shorter than the text, faithful to it, using the text's own words where possible.
When you are done reasoning, end your reply with exactly one JSON object and write nothing after it. The format:
{format})en";

// The paper's role and mission (3.2 样本数据增强), the mission extended per task
// with what "the label data" means for it.
constexpr std::string_view kZhRole = "文本样本生成器";
constexpr std::string_view kEnRole = "a text sample generator";

constexpr std::string_view kZhMissionStem =
    "根据样本标签，仿照样本文本重新生成一段全新文本以及文本标签，生成的文本中需要包括样本标签数据";
constexpr std::string_view kEnMissionStem =
    "Following the sample labels, imitate the sample text and write a brand-new text together "
    "with its labels; the new text must contain the label data";

constexpr std::string_view kZhMissionClassification =
    "：新文本的内容必须明确属于样本标签中的类别，文本标签就是这个类别，与样本标签完全相同。";
constexpr std::string_view kZhMissionNer =
    "：新文本必须原样包含样本标签中的每一个实体字符串，并保持其实体类型；"
    "文本标签是新文本中出现的全部实体及其类型。";
constexpr std::string_view kZhMissionSummarization =
    "：新文本需要包含样本摘要所述的主要信息，但换用新的细节和表述；"
    "文本标签是新文本的摘要，它要比新文本短，并尽量使用新文本中的字词。";
constexpr std::string_view kEnMissionClassification =
    ": its content must clearly belong to the category given in the sample labels, and its label "
    "is that same category, written exactly as given.";
constexpr std::string_view kEnMissionNer =
    ": it must contain every entity string of the sample labels verbatim, each keeping its entity "
    "type, and its labels are all the entities that occur in the new text, with their types.";
constexpr std::string_view kEnMissionSummarization =
    ": it must carry the main information of the sample summary, told with new details and "
    "wording, and its label is a summary of the new text, shorter than the text and using the "
    "text's own words where possible.";

std::string_view builtin_text(Task task, PromptLanguage language) {
  const bool zh = language == PromptLanguage::kChinese;
  switch (task) {
    case Task::kClassification:
      return zh ? kZhClassification : kEnClassification;
    case Task::kNer:
      return zh ? kZhNer : kEnNer;
    case Task::kSummarization:
      return zh ? kZhSummarization : kEnSummarization;
  }
  return kZhClassification;
}

std::string role_value(PromptLanguage language) {
  return std::string(language == PromptLanguage::kChinese ? kZhRole : kEnRole);
}

std::string mission_value(Task task, PromptLanguage language) {
  const bool zh = language == PromptLanguage::kChinese;
  std::string out(zh ? kZhMissionStem : kEnMissionStem);
  switch (task) {
    case Task::kClassification:
      out += zh ? kZhMissionClassification : kEnMissionClassification;
      break;
    case Task::kNer:
      out += zh ? kZhMissionNer : kEnMissionNer;
      break;
    case Task::kSummarization:
      out += zh ? kZhMissionSummarization : kEnMissionSummarization;
      break;
  }
  return out;
}

std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One sample's JSON object as the reply must write it (`n` > 0 numbers the example text of
// the several-samples form). For classification it carries the seed's own label, so that the
// model copies the exact spelling rather than paraphrasing it (a paraphrase would be rejected
// as label_not_in_set).
std::string sample_format(Task task, PromptLanguage language, const Sample& seed, int n) {
  const bool zh = language == PromptLanguage::kChinese;
  const std::string number = n > 0 ? std::to_string(n) : "";
  const std::string text = std::string(zh ? "新文本" : "the new text") + (n > 0 ? " " + number : "");
  switch (task) {
    case Task::kClassification:
      return R"({"text": )" + json_string(text) + R"(, "label": )" + json_string(seed.label) + "}";
    case Task::kNer:
      return R"({"text": )" + json_string(text) + R"(, "entities": [{"text": )" +
             json_string(zh ? "实体字符串" : "entity string") + R"(, "type": "PER"}]})";
    case Task::kSummarization:
      return R"({"text": )" + json_string(text) + R"(, "summary": )" +
             json_string(zh ? "新文本的摘要" : "a summary of the new text") + "}";
  }
  return "";
}

// {format}: the JSON the reply must end with (or be, with a reasoning field), and for another
// form than the default a line saying where the reasoning goes and how many samples to write.
std::string format_value(Task task, PromptLanguage language, const Sample& seed,
                         const AnswerForm& form) {
  const bool zh = language == PromptLanguage::kChinese;
  const std::string reasoning =
      form.reasoning_field
          ? R"("reasoning": )" + json_string(zh ? "一步一步的推理过程" : "your step-by-step reasoning") + ", "
          : "";
  if (form.samples <= 1) {
    std::string one = sample_format(task, language, seed, 0);
    if (!form.reasoning_field) return one;
    return "{" + reasoning + one.substr(1) + "\n" +
           (zh ? "整个回复就是这一个 JSON 对象：推理过程写在最前面的 reasoning 字段中，然后是新样本的各个字段。"
               : "Your whole reply is this one JSON object: the reasoning goes in its first field, "
                 "\"reasoning\", then come the new sample's fields.");
  }
  const std::string k = std::to_string(form.samples);
  std::string out = "{" + reasoning + R"("samples": [)" + sample_format(task, language, seed, 1) +
                    ", " + sample_format(task, language, seed, 2) + ", ...]}\n";
  out += zh ? "请一次写出 " + k + " 个互不相同的新样本，全部放在 samples 数组中（共 " + k +
                  " 个对象），每个新样本都要满足上面的要求。"
            : "Write " + k + " new samples, all different from each other, in the \"samples\" "
              "array (" + k + " objects), each meeting the requirements above.";
  if (form.reasoning_field) {
    out += zh ? "整个回复就是这一个 JSON 对象，推理过程写在最前面的 reasoning 字段中。"
              : " Your whole reply is this one JSON object, with the reasoning in its first field, "
                "\"reasoning\".";
  }
  return out;
}

// ---------------------------------------------------------------------------
// Template parsing: a template is literal text and placeholders. It is parsed
// into pieces once per render, so that substitution is a single pass and a
// value (a seed text holding "{tag}", say) is never read as a placeholder.
// ---------------------------------------------------------------------------

enum class Slot { kLiteral, kRole, kMission, kTag, kText, kFormat };

struct Piece {
  Slot slot = Slot::kLiteral;
  std::string literal;
};

constexpr std::array<std::pair<std::string_view, Slot>, 5> kPlaceholders = {{
    {"role", Slot::kRole},
    {"mission", Slot::kMission},
    {"tag", Slot::kTag},
    {"text", Slot::kText},
    {"format", Slot::kFormat},
}};

std::size_t line_of(std::string_view text, std::size_t offset) {
  return 1 + static_cast<std::size_t>(std::count(
                 text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

// `what` shortened for an error message (at most `max` code points of valid UTF-8).
std::string shorten(std::string_view what, std::size_t max = 40) {
  std::size_t cps = 0;
  for (std::size_t i = 0; i < what.size(); ++i) {
    if ((static_cast<unsigned char>(what[i]) & 0xC0) != 0x80 && cps++ == max) {
      return std::string(what.substr(0, i)) + "...";
    }
  }
  return std::string(what);
}

// Throws InputError "source:line: ..." on the first problem.
std::vector<Piece> parse_template(std::string_view text, const std::string& source) {
  std::vector<Piece> pieces;
  std::string literal;
  bool has_text = false;
  const auto flush = [&] {
    if (!literal.empty()) pieces.push_back({Slot::kLiteral, std::move(literal)});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        literal += '}';
        ++i;
        continue;
      }
      throw InputError(at(source, line_of(text, i),
                          "unmatched '}' in the prompt template (write }} for a literal brace)"));
    }
    if (c != '{') {
      literal += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
      continue;
    }
    // A placeholder ends at the first '}' on its line; a '{' or a line end before
    // it means the brace was meant literally (a JSON example, most likely).
    const std::size_t close = text.find_first_of("}{\n", i + 1);
    if (close == std::string_view::npos || text[close] != '}') {
      throw InputError(at(source, line_of(text, i),
                          "unmatched '{' in the prompt template (write {{ for a literal brace)"));
    }
    const std::string_view name = text.substr(i + 1, close - i - 1);
    const auto it = std::find_if(kPlaceholders.begin(), kPlaceholders.end(),
                                 [&](const auto& p) { return p.first == name; });
    if (it == kPlaceholders.end()) {
      throw InputError(at(source, line_of(text, i),
                          "unknown placeholder {" + shorten(name) +
                              "} in the prompt template: the placeholders are {role}, "
                              "{mission}, {tag}, {text} and {format} (write {{ and }} for "
                              "literal braces)"));
    }
    flush();
    pieces.push_back({it->second, ""});
    has_text = has_text || it->second == Slot::kText;
    i = close;
  }
  flush();
  if (!has_text) {
    throw InputError(at(source, 0,
                        "the prompt template has no {text} placeholder, so the seed's text "
                        "would never reach the teacher"));
  }
  return pieces;
}

std::string read_template_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError(at(path, 0, "cannot read the prompt template: it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(
        at(path, 0, std::string("cannot read the prompt template: ") + std::strerror(errno)));
  }
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    throw InputError(
        at(path, 0, std::string("cannot read the prompt template: ") + std::strerror(errno)));
  }
  return content;
}

std::string language_name(PromptLanguage language) {
  return language == PromptLanguage::kChinese ? "zh" : "en";
}

std::string entity_type_name(const std::string& type, PromptLanguage language) {
  const bool zh = language == PromptLanguage::kChinese;
  if (type == "PER") return zh ? "人名(PER)" : "person (PER)";
  if (type == "LOC") return zh ? "地名(LOC)" : "location (LOC)";
  if (type == "ORG") return zh ? "机构名(ORG)" : "organization (ORG)";
  return type;
}

}  // namespace

PromptLanguage parse_prompt_language(const std::string& name) {
  if (name == "zh") return PromptLanguage::kChinese;
  if (name == "en") return PromptLanguage::kEnglish;
  throw InputError("unknown prompt language '" + name + "': expected zh or en");
}

PromptTemplate::PromptTemplate(Task task, PromptLanguage language, std::string text,
                               std::string source)
    : task_(task), language_(language), text_(std::move(text)), source_(std::move(source)) {}

PromptTemplate PromptTemplate::builtin(Task task, PromptLanguage language) {
  return PromptTemplate(task, language, std::string(builtin_text(task, language)),
                        "built-in (" + language_name(language) + ")");
}

PromptTemplate PromptTemplate::from_file(const std::string& path, Task task,
                                         PromptLanguage language) {
  std::string content = read_template_file(path);
  if (const auto bad = utf8::find_invalid(content)) {
    throw InputError(at(path, line_of(content, *bad),
                        "invalid UTF-8 at byte " + std::to_string(*bad + 1) + " of the file"));
  }
  content = std::string(utf8::strip_bom(content));
  // CRLF files render as LF: the prompt should not depend on the editor that saved it.
  std::string text;
  text.reserve(content.size());
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\r' && i + 1 < content.size() && content[i + 1] == '\n') continue;
    text += content[i];
  }
  parse_template(text, path);  // reports every problem now, not at the first render
  return PromptTemplate(task, language, std::move(text), path);
}

std::vector<ChatMessage> PromptTemplate::render(const Sample& seed, const AnswerForm& form) const {
  std::string out;
  out.reserve(text_.size() + seed.text.size() * 2 + 256);
  for (const Piece& piece : parse_template(text_, source_)) {
    switch (piece.slot) {
      case Slot::kLiteral:
        out += piece.literal;
        break;
      case Slot::kRole:
        out += role_value(language_);
        break;
      case Slot::kMission:
        out += mission_value(task_, language_);
        break;
      case Slot::kTag:
        out += describe_labels(task_, seed, language_);
        break;
      case Slot::kText:
        out += seed.text;
        break;
      case Slot::kFormat:
        out += format_value(task_, language_, seed, form);
        break;
    }
  }
  return {ChatMessage{"user", std::move(out)}};
}

std::string describe_labels(Task task, const Sample& seed, PromptLanguage language) {
  const bool zh = language == PromptLanguage::kChinese;
  switch (task) {
    case Task::kClassification:
      return (zh ? "类别：" : "label: ") + seed.label;
    case Task::kSummarization:
      return (zh ? "摘要：" : "summary: ") + seed.summary;
    case Task::kNer:
      break;
  }
  std::vector<Entity> entities = seed.entities;
  std::stable_sort(entities.begin(), entities.end(),
                   [](const Entity& a, const Entity& b) { return a.start < b.start; });
  std::u32string text;  // decoded only if an entity lacks its text
  std::vector<std::pair<std::string, std::string>> seen;  // (type, text)
  std::string out;
  for (const Entity& e : entities) {
    std::string covered = e.text;
    if (covered.empty()) {
      if (text.empty()) text = utf8::decode(seed.text);
      if (e.start < e.end && e.end <= text.size()) {
        covered = utf8::encode(text.substr(e.start, e.end - e.start));
      }
    }
    // A mention repeated in the sentence says nothing new to the teacher.
    if (std::find(seen.begin(), seen.end(), std::pair(e.type, covered)) != seen.end()) continue;
    seen.emplace_back(e.type, covered);
    if (!out.empty()) out += zh ? "；" : "; ";
    out += entity_type_name(e.type, language) + (zh ? "：" : ": ") + covered;
  }
  if (out.empty()) return zh ? "无" : "none";
  return out;
}

}  // namespace weakdistill
