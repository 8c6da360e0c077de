#include "weakdistill/teacher/chat_reply.h"

#include <cmath>
#include <limits>

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

}  // namespace

std::optional<ChatReply> read_chat_reply(const json& body, std::string& why) {
  if (!body.is_object()) {
    why = std::string("the reply is ") + json_kind(body) + ", not an object";
    return std::nullopt;
  }
  const auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array() || choices->empty()) {
    if (const auto error = body.find("error"); error != body.end() && !error->is_null()) {
      const auto message = error->is_object() ? error->find("message") : error->end();
      const bool has_message = message != error->end() && !message->is_null();
      why = "the reply is an error: " +
            (has_message && message->is_string() ? message->get<std::string>()
             : has_message                       ? json_excerpt(*message)
                                                 : json_excerpt(*error));
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
  if (content == message->end()) {
    why = "choices[0].message has no \"content\"";
    return std::nullopt;
  }
  if (!read_content(*content, r.content, why)) return std::nullopt;
  const auto finish = choice.find("finish_reason");
  if (finish != choice.end() && finish->is_string()) r.finish_reason = finish->get<std::string>();
  read_usage(body, r);
  return r;
}

}  // namespace weakdistill
