#include "weakdistill/serve/predict_api.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "weakdistill/core/utf8.h"

namespace weakdistill::serve {
namespace {

const char* type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

[[noreturn]] void bad_type(const std::string& field, const char* expected,
                           const nlohmann::json& found) {
  throw ApiError(400, "invalid_type",
                 fmt::format("{} must be {}, not {}", field, expected, type_name(found)), field);
}

Sample sample_of(const nlohmann::json& text, const std::string& field,
                 const PredictLimits& limits) {
  if (!text.is_string()) bad_type(field, "a string", text);
  Sample s;
  s.text = text.get<std::string>();
  const std::size_t n = utf8::length(s.text);
  if (n > limits.max_text_chars) {
    throw ApiError(
        400, "text_too_long",
        fmt::format("{} has {} characters; this server takes at most {} (--max-text-chars)", field,
                    n, limits.max_text_chars),
        field);
  }
  return s;
}

}  // namespace

const char* error_type(int status) {
  if (status == 401) return "authentication_error";
  if (status >= 400 && status < 500) return "invalid_request_error";
  return "server_error";
}

std::string error_body(int status, std::string_view code, std::string_view message,
                       std::string_view param) {
  nlohmann::ordered_json e = {{"message", utf8::make_valid(message)},
                              {"type", error_type(status)},
                              {"param", nullptr},
                              {"code", std::string(code)}};
  if (!param.empty()) e["param"] = std::string(param);
  return nlohmann::ordered_json{{"error", e}}.dump() + "\n";
}

std::vector<Sample> parse_predict_request(std::string_view body, const PredictLimits& limits) {
  // Checked before parsing, so that the client learns where, not only that, its bytes are wrong.
  if (const auto bad = utf8::find_invalid(body)) {
    throw ApiError(400, "invalid_utf8", fmt::format("the body is not valid UTF-8 (byte {})", *bad));
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at line 1, ..."
    if (const auto at = what.find("] "); at != std::string::npos) what = what.substr(at + 2);
    throw ApiError(400, "invalid_json", "the body is not valid JSON: " + what);
  }
  if (!j.is_object()) {
    throw ApiError(400, "invalid_type",
                   std::string("the body must be a JSON object, not ") + type_name(j));
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "texts" && key != "inputs") {
      throw ApiError(400, "unknown_field",
                     "unknown field \"" + key + "\" (a request has \"texts\" or \"inputs\")", key);
    }
  }
  const bool texts = j.contains("texts"), inputs = j.contains("inputs");
  if (texts == inputs) {
    throw ApiError(
        400, texts ? "unknown_field" : "missing_field",
        texts ? "give \"texts\" or \"inputs\", not both"
              : "the body needs \"texts\": [\"...\"] or \"inputs\": [{\"text\": \"...\"}]");
  }
  const std::string field = texts ? "texts" : "inputs";
  const nlohmann::json& items = j.at(field);
  if (!items.is_array()) bad_type(field, "an array", items);
  if (items.size() > limits.max_texts) {
    throw ApiError(400, "too_many_texts",
                   fmt::format("{} has {} items; this server takes at most {} a request "
                               "(--max-texts): split it",
                               field, items.size(), limits.max_texts),
                   field);
  }
  std::vector<Sample> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", field, i);
    if (texts) {
      out.push_back(sample_of(items[i], where, limits));
      continue;
    }
    const nlohmann::json& item = items[i];
    if (!item.is_object()) bad_type(where, "an object {\"text\": ...}", item);
    for (const auto& [key, value] : item.items()) {
      if (key != "text" && key != "id") {
        throw ApiError(400, "unknown_field",
                       "unknown field \"" + key + "\" in " + where +
                           " (an input has \"text\" "
                           "and optionally \"id\")",
                       where + "." + key);
      }
    }
    if (!item.contains("text")) {
      throw ApiError(400, "missing_field", where + " has no \"text\"", where + ".text");
    }
    Sample s = sample_of(item.at("text"), where + ".text", limits);
    if (item.contains("id")) {
      const nlohmann::json& id = item.at("id");
      if (id.is_string()) {
        s.id = id.get<std::string>();
      } else if (id.is_number_integer()) {
        s.id = id.dump();
      } else {
        bad_type(where + ".id", "a string or an integer", id);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string predict_response(const std::vector<Sample>& inputs,
                             const std::vector<Prediction>& predictions, Task task) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    list.push_back(prediction_json(inputs[i], predictions.at(i), task));
  }
  return nlohmann::ordered_json{{"predictions", list}}.dump() + "\n";
}

}  // namespace weakdistill::serve
