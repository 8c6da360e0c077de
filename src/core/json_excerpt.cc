#include "weakdistill/core/json_excerpt.h"

#include <utility>
#include <vector>

#include "weakdistill/core/jsonl.h"

namespace weakdistill {
namespace {

// How deep `value` nests (a scalar is 0), counted without recursion, stopping past `limit`.
std::size_t nesting(const nlohmann::json& value, std::size_t limit) {
  std::size_t deepest = 0;
  std::vector<std::pair<const nlohmann::json*, std::size_t>> stack{{&value, 0}};
  while (!stack.empty()) {
    const auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const auto& child : *v) stack.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace

std::string error_message(const nlohmann::json& error, std::size_t max_chars) {
  if (error.is_string()) return error.get<std::string>();
  if (error.is_object()) {
    if (const auto m = error.find("message"); m != error.end() && !m->is_null()) {
      return m->is_string() ? m->get<std::string>() : json_excerpt(*m, max_chars);
    }
  }
  return json_excerpt(error, max_chars);
}

const char* json_kind(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::binary:
      return "binary data";
    case nlohmann::json::value_t::discarded:
      return "not JSON";
    default:
      return "a number";
  }
}

std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars) {
  if (nesting(value, kMaxJsonNesting) > kMaxJsonNesting) {
    return std::string(json_kind(value)) + " nested deeper than " +
           std::to_string(kMaxJsonNesting) + " levels";
  }
  std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() <= max_chars) return s;
  std::size_t cut = max_chars;
  // Back up to the start of a UTF-8 character (continuation bytes are 10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

}  // namespace weakdistill
