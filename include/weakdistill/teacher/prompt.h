// The teacher prompt: the paper's four-part chain-of-thought prompt (role,
// mission, tag, text; SPEC.md "The teacher prompt"), built in for each task in
// Chinese and English, or read from a user's template file.
#pragma once

#include <string>
#include <vector>

#include "weakdistill/core/sample.h"

namespace weakdistill {

enum class PromptLanguage { kChinese, kEnglish };

// "zh" or "en"; throws InputError naming the accepted values otherwise.
PromptLanguage parse_prompt_language(const std::string& name);

// One chat message of an OpenAI-style request.
struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
  friend bool operator==(const ChatMessage&, const ChatMessage&) = default;
};

// How the reply must be written, which {format} spells out.
struct AnswerForm {
  // The reply is one JSON object whose first key, "reasoning", holds the step-by-step
  // reasoning (structured output: the server constrains the reply to a JSON Schema, so the
  // chain of thought must live inside the JSON). false: reasoning as prose, then the object.
  bool reasoning_field = false;
  // New samples asked for in one reply; above 1 they go in a "samples" array.
  int samples = 1;
};

// A prompt template. The text holds placeholders that render() fills:
//   {role}     the semantic role (语义角色): "文本样本生成器" / "a text sample generator"
//   {mission}  the mission (任务要求), per task
//   {tag}      every label of the seed with its value (describe_labels)
//   {text}     the seed's text
//   {format}   the JSON object the reply must end with, per task; for classification it
//              carries the seed's label (optional in a user template). With an AnswerForm
//              it also says where the reasoning goes and how many samples to write.
// "{{" and "}}" stand for literal braces; a placeholder does not span lines. Values
// are substituted in one pass: a seed text holding "{tag}" stays as it is. The whole
// rendered text is one user message. docs/PROMPTS.md shows the built-in templates.
class PromptTemplate {
 public:
  // The built-in template of `task` in `language`.
  static PromptTemplate builtin(Task task, PromptLanguage language);
  // Reads a template file (UTF-8; a BOM is dropped, CRLF line ends become LF).
  // Throws InputError "FILE:LINE: ..." for an unknown placeholder, an unmatched
  // brace or invalid UTF-8, and "FILE: ..." for a missing {text} or an unreadable file.
  static PromptTemplate from_file(const std::string& path, Task task, PromptLanguage language);

  // The messages for one seed.
  std::vector<ChatMessage> render(const Sample& seed, const AnswerForm& form = {}) const;

  // "built-in (zh)" or the file's path: for logs and reports.
  const std::string& source() const { return source_; }
  const std::string& text() const { return text_; }

 private:
  PromptTemplate(Task task, PromptLanguage language, std::string text, std::string source);
  Task task_;
  PromptLanguage language_;
  std::string text_;
  std::string source_;
};

// The tag part of the prompt for `seed`: classification "类别：体育" / "label: 体育";
// ner each entity with its type, in text order, e.g. "人名(PER)：张三；地名(LOC)：北京"
// (types other than PER/LOC/ORG appear by their own name), "无" / "none" when there is
// none (a mention repeated with the same type is listed once); summarization
// "摘要：<summary>" / "summary: <summary>".
std::string describe_labels(Task task, const Sample& seed, PromptLanguage language);

}  // namespace weakdistill
