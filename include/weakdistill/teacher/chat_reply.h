// Reading an OpenAI-style chat-completions reply (POST /v1/chat/completions), as servers really
// send it: content as a string or as an array of parts, usage absent, null or with odd number
// types, an error object in a 200 reply.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace weakdistill {

// What the teacher uses of a reply: its first choice and the token counts.
struct ChatReply {
  // choices[0].message.content, text parts joined in order, without a reasoning block
  // (see split_reasoning).
  std::string content;
  // The model's reasoning: message.reasoning_content (vLLM, DeepSeek) or message.reasoning
  // (Ollama, OpenRouter, newer vLLM), then a <think> block of content (llama-server, Ollama).
  // Never read for the answer.
  std::string reasoning;
  // content opened a <think> block that never closed: the model stopped while reasoning.
  bool reasoning_open = false;
  std::string finish_reason;        // choices[0].finish_reason; "" when absent or not a string
  std::int64_t prompt_tokens = 0;   // usage.prompt_tokens; 0 when it cannot be read
  std::int64_t completion_tokens = 0;
  // Non-empty when usage was present but unreadable ("usage.prompt_tokens is a string"): the
  // reply is still used, its tokens are not counted.
  std::string usage_note;
};

// Reasoning written into the content by models that think aloud: a leading
// "<think>...</think>" block (whitespace before it allowed), or, when a chat template put the
// opening tag in the prompt, everything before a "</think>" that no "<think>" precedes.
struct ReasoningSplit {
  std::string reasoning;  // the block's inside, trimmed of surrounding line breaks
  std::string answer;     // what follows the block (all of `content` when there is none)
  bool open = false;      // "<think>" without its "</think>": all is reasoning, no answer
};
ReasoningSplit split_reasoning(const std::string& content);

// Reads `body`. Returns nullopt and sets `why` to a message naming the field at fault when the
// reply cannot be used: no choices, a choice without a message, content of another kind than a
// string, null or an array of parts, an array with no text part, or an "error" instead of a
// reply. Content parts are {"type": "text", "text": "..."} objects (or bare strings); parts of
// other types (images, refusals) are skipped. null content reads as "". Never throws but
// std::bad_alloc; `body` may be any JSON value.
std::optional<ChatReply> read_chat_reply(const nlohmann::json& body, std::string& why);

}  // namespace weakdistill
