#include "weakdistill/teacher/chat_reply.h"

#include <cmath>
#include <limits>
#include <string_view>

#include "weakdistill/core/json_excerpt.h"

namespace weakdistill {
namespace {

using nlohmann::json;

// A token count as servers send it: an integer, a float with an integral value, or a string
// of digits. nullopt, with `note` set, for anything else.
std::optional<std::int64_t> token_count(const json& usage, const char* key, std::string& note) {
  const auto it = usage.find(key);
  if (it == usage.end() || it->is_null()) return 0;  // absent: nothing to count
  const json& v = *it;
  const std::string field = std::string("usage.") + key;
  if (v.is_number_unsigned()) {
    const auto n = v.get<std::uint64_t>();
    if (n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(n);
    }
  } else if (v.is_number_integer()) {
    if (v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d >= 0 && d < 9.0e18 && d == std::floor(d)) {
      return static_cast<std::int64_t>(d);
    }
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (!s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos) {
      return std::stoll(s);
    }
  }
  if (note.empty()) note = field + " is " + json_excerpt(v, 40) + ", not a token count";
  return std::nullopt;
}

void read_usage(const json& body, ChatReply& r) {
  const auto usage = body.find("usage");
  if (usage == body.end() || usage->is_null()) return;
  if (!usage->is_object()) {
    r.usage_note = std::string("usage is ") + json_kind(*usage) + ", not an object";
    return;
  }
  const auto prompt = token_count(*usage, "prompt_tokens", r.usage_note);
  const auto completion = token_count(*usage, "completion_tokens", r.usage_note);
  r.prompt_tokens = prompt.value_or(0);
  r.completion_tokens = completion.value_or(0);
}

// The text of message.content; false with `why` when it holds none.
bool read_content(const json& content, std::string& out, std::string& why) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    out = content.get<std::string>();
    return true;
  }
  if (!content.is_array()) {
    why = std::string("choices[0].message.content is ") + json_kind(content) +
          ", not a string or an array of parts";
    return false;
  }
  bool any_text = false;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    if (part.is_string()) {
      out += part.get<std::string>();
      any_text = true;
      continue;
    }
    if (!part.is_object()) {
      why = "choices[0].message.content[" + std::to_string(i) + "] is " + json_kind(part) +
            ", not a content part";
      return false;
    }
    const auto type = part.find("type");
    if (type != part.end() && !(type->is_string() && *type == "text")) continue;  // not text
    const auto text = part.find("text");
    if (text == part.end() || !text->is_string()) {
      why = "choices[0].message.content[" + std::to_string(i) + "].text is " +
            (text == part.end() ? "missing" : json_kind(*text)) + ", not a string";
      return false;
    }
    out += text->get<std::string>();
    any_text = true;
  }
  if (!any_text && !content.empty()) {
    why = "choices[0].message.content holds no text part";
    return false;
  }
  return true;
}

// message.reasoning_content or message.reasoning, when a string (servers send null when the
// model did not reason).
std::string reasoning_field(const json& message) {
  for (const char* key : {"reasoning_content", "reasoning"}) {
    const auto it = message.find(key);
    if (it != message.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return it->get<std::string>();
    }
  }
  return "";
}

std::string trim_line_breaks(std::string_view s) {
  const auto is_break = [](char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; };
  while (!s.empty() && is_break(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_break(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

ReasoningSplit split_reasoning(const std::string& content) {
  constexpr std::string_view kOpen = "<think>", kClose = "</think>";
  ReasoningSplit out;
  const std::size_t first = content.find_first_not_of(" \t\r\n");
  const std::size_t close = content.find(kClose);
  if (first != std::string::npos && content.compare(first, kOpen.size(), kOpen) == 0) {
    const std::size_t inside = first + kOpen.size();
    const std::size_t end = content.find(kClose, inside);
    if (end == std::string::npos) {
      out.reasoning = trim_line_breaks(std::string_view(content).substr(inside));
      out.open = true;
      return out;
    }
    out.reasoning = trim_line_breaks(std::string_view(content).substr(inside, end - inside));
    out.answer = content.substr(end + kClose.size());
    return out;
  }
  if (close != std::string::npos && content.rfind(kOpen, close) == std::string::npos) {
    out.reasoning = trim_line_breaks(std::string_view(content).substr(0, close));
    out.answer = content.substr(close + kClose.size());
    return out;
  }
  out.answer = content;
  return out;
}

std::optional<ChatReply> read_chat_reply(const json& body, std::string& why) {
  if (!body.is_object()) {
    why = std::string("the reply is ") + json_kind(body) + ", not an object";
    return std::nullopt;
  }
  const auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array() || choices->empty()) {
    if (const auto error = body.find("error"); error != body.end() && !error->is_null()) {
      why = "the reply is an error: " + error_message(*error, 80);
      return std::nullopt;
    }
    why = choices == body.end() ? "the reply has no \"choices\""
          : choices->is_array() ? "the reply's \"choices\" is empty"
                                : std::string("the reply's \"choices\" is ") +
                                      json_kind(*choices) + ", not an array";
    return std::nullopt;
  }
  const json& choice = (*choices)[0];
  if (!choice.is_object()) {
    why = std::string("choices[0] is ") + json_kind(choice) + ", not an object";
    return std::nullopt;
  }
  const auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) {
    why = message == choice.end()
              ? "choices[0] has no \"message\""
              : std::string("choices[0].message is ") + json_kind(*message) + ", not an object";
    return std::nullopt;
  }
  ChatReply r;
  const auto content = message->find("content");
  // A reasoning model stopped before its answer may send no content at all.
  if (content == message->end() && reasoning_field(*message).empty()) {
    why = "choices[0].message has no \"content\"";
    return std::nullopt;
  }
  std::string text;
  if (content != message->end() && !read_content(*content, text, why)) return std::nullopt;
  ReasoningSplit split = split_reasoning(text);
  r.content = std::move(split.answer);
  r.reasoning_open = split.open;
  r.reasoning = reasoning_field(*message);
  if (!split.reasoning.empty()) {
    r.reasoning += (r.reasoning.empty() ? "" : "\n") + split.reasoning;
  }
  const auto finish = choice.find("finish_reason");
  if (finish != choice.end() && finish->is_string()) r.finish_reason = finish->get<std::string>();
  read_usage(body, r);
  return r;
}

}  // namespace weakdistill
