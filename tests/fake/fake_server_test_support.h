// What the fake server's own tests share: a chat request, a POST, and the check of an
// OpenAI-style error body.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace weakdistill::testing {

inline constexpr const char* kChatPath = "/v1/chat/completions";

inline nlohmann::json chat_request(const std::string& user_text,
                                   const std::string& model = "fake-model") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", user_text}}}}};
}

inline httplib::Result post(httplib::Client& client, const std::string& path,
                            const nlohmann::json& body, const httplib::Headers& headers = {}) {
  return client.Post(path.c_str(), headers, body.dump(), "application/json");
}

// Asserts that `response` is an OpenAI-style error: {"error": {"message", "type", "code"}}.
inline void expect_error_body(const httplib::Response& response) {
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << response.body;
  ASSERT_TRUE(body.contains("error")) << response.body;
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  EXPECT_TRUE(body["error"]["type"].is_string());
  EXPECT_TRUE(body["error"].contains("code"));
}

// A request with a response_format; a json_schema response_format; a schema that meets
// OpenAI's strict rules; three classification samples (one with extra keys, one of a label the
// schema does not allow); the content of a reply's choice.
inline nlohmann::json with_format(nlohmann::json request, nlohmann::json response_format) {
  request["response_format"] = std::move(response_format);
  return request;
}

inline nlohmann::json json_schema_format(nlohmann::json schema, bool strict = false, const std::string& name = "reply") {
  nlohmann::json spec = {{"name", name}, {"schema", std::move(schema)}};
  if (strict) spec["strict"] = true;
  return {{"type", "json_schema"}, {"json_schema", std::move(spec)}};
}

// A schema that satisfies OpenAI's strict rules: every object closed, every property required.
inline nlohmann::json strict_label_schema() {
  return nlohmann::json::parse(R"({
    "type": "object",
    "properties": {
      "reasoning": {"type": "string"},
      "samples": {
        "type": "array", "minItems": 1, "maxItems": 2,
        "items": {
          "type": "object",
          "properties": {"text": {"type": "string", "minLength": 1},
                         "label": {"type": "string", "enum": ["体育", "财经"]}},
          "required": ["text", "label"],
          "additionalProperties": false
        }
      }
    },
    "required": ["reasoning", "samples"],
    "additionalProperties": false
  })");
}

inline std::vector<nlohmann::ordered_json> cls_samples() {
  return {
      nlohmann::ordered_json::parse(R"({"id": 7, "text": "中国队夺冠", "label": "体育"})"),
      nlohmann::ordered_json::parse(R"({"text": "股市上涨", "label": "财经", "source": "news"})"),
      nlohmann::ordered_json::parse(R"({"text": "新片上映", "label": "娱乐"})")};
}

inline std::string reply_content(const httplib::Result& response, int choice = 0) {
  if (!response || response->status != 200) return "<no reply>";
  return nlohmann::json::parse(response->body)["choices"][choice]["message"]["content"].get<std::string>();
}

// The message of an error reply; and that a reply is the 400 a refused response_format gets.
inline std::string error_message(const httplib::Response& response) {
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded() || !body.contains("error")) return "<no error body>";
  return body["error"]["message"].get<std::string>();
}

// Asserts that `response` is the 400 a real server gives for a refused response_format.
inline void expect_response_format_400(const httplib::Result& response) {
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400) << response->body;
  expect_error_body(*response);
  const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  ASSERT_FALSE(body.is_discarded());
  EXPECT_EQ(body["error"]["param"], "response_format");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(body["error"]["code"].is_null());
}

}  // namespace weakdistill::testing
