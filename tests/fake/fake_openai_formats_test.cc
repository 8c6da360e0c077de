// The fake server's structured output (response_format, JSON Schema checks, enforce_schema)
// and reasoning.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake/fake_openai_server.h"
#include "fake/fake_server_test_support.h"
#include "support/temp_dir.h"

extern char** environ;

namespace weakdistill::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

// ---- Structured output (response_format) and reasoning ----



TEST(FakeOpenAIServer, ResponseFormatOfAnUnacceptedTypeIs400) {
  FakeServerOptions options;
  options.response_formats = {"text", "json_object"};
  FakeOpenAIServer server(options);
  httplib::Client client("127.0.0.1", server.port());
  const json request = chat_request("x");

  const auto refused = post(client, kChatPath,
                            with_format(request, json_schema_format(strict_label_schema(), true)));
  expect_response_format_400(refused);
  EXPECT_THAT(error_message(*refused), HasSubstr("json_schema"));
  const auto unknown = post(client, kChatPath, with_format(request, {{"type", "regex"}}));
  expect_response_format_400(unknown);

  for (const json& accepted : {json{{"type", "text"}}, json{{"type", "json_object"}}, json()}) {
    const auto response = post(client, kChatPath, with_format(request, accepted));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200) << accepted.dump() << " " << response->body;
  }
  const json summary = server.summary();
  EXPECT_EQ(summary["unsupported_format"], 2);
  EXPECT_EQ(summary["bad_schema"], 0);
  EXPECT_EQ(summary["bad_requests"], 2);
  // Every body is recorded, response_format included.
  ASSERT_EQ(server.bodies().size(), 5u);
  EXPECT_EQ(server.bodies()[1]["response_format"], json({{"type", "regex"}}));
}

TEST(FakeOpenAIServer, MalformedResponseFormatsAre400) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}};
  const std::vector<json> malformed = {
      "json_object",                                        // not an object
      json::object(),                                       // no type
      {{"type", 3}},                                        // type not a string
      {{"type", "json_schema"}},                            // no json_schema
      {{"type", "json_schema"}, {"json_schema", "reply"}},  // json_schema not an object
      {{"type", "json_schema"}, {"json_schema", {{"schema", schema}}}},  // no name
      {{"type", "json_schema"}, {"json_schema", {{"name", "has space"}, {"schema", schema}}}},
      {{"type", "json_schema"},
       {"json_schema", {{"name", std::string(65, 'a')}, {"schema", schema}}}},
      {{"type", "json_schema"},
       {"json_schema", {{"name", "r"}, {"strict", "yes"}, {"schema", schema}}}},
      {{"type", "json_schema"},
       {"json_schema", {{"name", "r"}, {"description", 3}, {"schema", schema}}}},
      {{"type", "json_schema"}, {"json_schema", {{"name", "r"}}}},                    // no schema
      {{"type", "json_schema"}, {"json_schema", {{"name", "r"}, {"schema", "{}"}}}},  // a string
      {{"type", "json_object"}, {"schema", json::array()}},  // llama-server form
  };
  for (const json& format : malformed) {
    SCOPED_TRACE(format.dump());
    expect_response_format_400(post(client, kChatPath, with_format(chat_request("x"), format)));
    EXPECT_TRUE(response_format_problem(format, FakeServerOptions{}).has_value());
  }
  const json summary = server.summary();
  EXPECT_EQ(summary["bad_requests"], malformed.size());
  EXPECT_EQ(summary["unsupported_format"], 3);  // the first three: the type itself is unusable
  EXPECT_EQ(summary["bad_schema"], malformed.size() - 3);
}

TEST(FakeOpenAIServer, SchemasOutsideTheSupportedSubsetAre400) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  auto object_with = [](json properties) {
    return json{{"type", "object"}, {"properties", std::move(properties)}};
  };
  struct Case {
    json schema;
    bool strict;
    std::string says;
  };
  json with_defs = object_with({{"a", {{"type", "string"}}}});
  with_defs["$defs"] = {{"x", {{"type", "string"}}}};
  json with_definitions = object_with({{"a", {{"type", "string"}}}});
  with_definitions["definitions"] = json::object();
  json open_strict = object_with({{"a", {{"type", "string"}}}});
  open_strict["required"] = {"a"};
  json incomplete_strict = object_with({{"a", {{"type", "string"}}}, {"b", {{"type", "string"}}}});
  incomplete_strict["required"] = {"a"};
  incomplete_strict["additionalProperties"] = false;
  json nested_open_strict = object_with(
      {{"xs", {{"type", "array"}, {"items", object_with({{"t", {{"type", "string"}}}})}}}});
  nested_open_strict["required"] = {"xs"};
  nested_open_strict["additionalProperties"] = false;
  const std::vector<Case> cases = {
      {object_with({{"a", {{"$ref", "#/$defs/x"}}}}), false, "$ref at /properties/a"},
      {with_defs, false, "$defs at /"},
      {with_definitions, false, "definitions at /"},
      {object_with({{"a", {{"anyOf", json::array()}}}}), false,
       "unsupported keyword anyOf at /properties/a"},
      {object_with(
           {{"xs", {{"type", "array"}, {"items", {{"type", "string"}, {"pattern", "^a"}}}}}}),
       false, "unsupported keyword pattern at /properties/xs/items"},
      {object_with({{"a", {{"type", "date"}}}}), false, "unsupported type \"date\""},
      {{{"type", "array"}, {"items", {{"type", "string"}}}}, false, "root"},
      {object_with({{"a", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}}}),
       false, "additionalProperties must be true or false"},
      {object_with({{"xs", {{"type", "array"}, {"items", json::array()}}}}), false, "items"},
      {object_with({{"xs", {{"type", "array"}, {"minItems", 3}, {"maxItems", 2}}}}), false,
       "minItems exceeds maxItems at /properties/xs"},
      {open_strict, true, "additionalProperties\": false at /"},
      {incomplete_strict, true, "\"b\" is missing from required at /"},
      {nested_open_strict, true, "additionalProperties\": false at /properties/xs/items"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.schema.dump());
    const auto response = post(
        client, kChatPath, with_format(chat_request("x"), json_schema_format(c.schema, c.strict)));
    expect_response_format_400(response);
    if (response) {
      EXPECT_THAT(error_message(*response), HasSubstr(c.says));
    }
  }
  // llama-server's json_object with a schema is checked the same way.
  expect_response_format_400(
      post(client, kChatPath,
           with_format(chat_request("x"),
                       {{"type", "json_object"},
                        {"schema", object_with({{"a", {{"oneOf", json::array()}}}})}})));
  EXPECT_EQ(server.summary()["bad_schema"], cases.size() + 1);
  EXPECT_EQ(server.summary()["bad_requests"], cases.size() + 1);
}

TEST(FakeOpenAIServer, AGoodStrictSchemaIsAccepted) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  json format = json_schema_format(strict_label_schema(), true, "label_samples-1");
  format["json_schema"]["description"] = "labelled samples";
  const auto response = post(client, kChatPath, with_format(chat_request("x"), format));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << response->body;
  // A property literally named "$ref" is a name, not a reference.
  json named_ref = {{"type", "object"}, {"properties", {{"$ref", {{"type", "string"}}}}}};
  const auto named =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(named_ref)));
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 200) << named->body;
  EXPECT_EQ(server.summary()["bad_requests"], 0);
}

TEST(FakeOpenAIServer, CheckSchemaOffAcceptsAnySchemaButStillChecksTheForm) {
  FakeServerOptions options;
  options.check_schema = false;
  FakeOpenAIServer server(options);
  httplib::Client client("127.0.0.1", server.port());
  const json schema = {{"anyOf", {{{"type", "string"}}, {{"$ref", "#/x"}}}}};
  const auto accepted =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(schema)));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200) << accepted->body;
  expect_response_format_400(post(
      client, kChatPath,
      with_format(chat_request("x"), {{"type", "json_schema"}, {"json_schema", {{"name", "r"}}}})));
}

TEST(ResponseFormatProblem, SaysWhyOrNothing) {
  const FakeServerOptions all;
  EXPECT_EQ(response_format_problem(json(), all), std::nullopt);
  EXPECT_EQ(response_format_problem({{"type", "text"}}, all), std::nullopt);
  EXPECT_EQ(response_format_problem({{"type", "json_object"}}, all), std::nullopt);
  EXPECT_EQ(response_format_problem(json_schema_format(strict_label_schema(), true), all),
            std::nullopt);
  FakeServerOptions text_only;
  text_only.response_formats = {"text"};
  const auto refused = response_format_problem({{"type", "json_object"}}, text_only);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, HasSubstr("json_object"));
  EXPECT_THAT(*refused, HasSubstr("text"));
  const auto bad_name =
      response_format_problem(json_schema_format(strict_label_schema(), true, "bad.name"), all);
  ASSERT_TRUE(bad_name.has_value());
  EXPECT_THAT(*bad_name, HasSubstr("name"));
}

TEST(SchemaProblem, AcceptsTheSubsetAndNamesThePlaceOfAProblem) {
  EXPECT_EQ(schema_problem(strict_label_schema(), true), std::nullopt);
  const json typed = {{"type", "object"},
                      {"title", "t"},
                      {"description", "d"},
                      {"properties",
                       {{"n", {{"type", {"integer", "null"}}}},
                        {"k", {{"const", "x"}}},
                        {"s", {{"type", "string"}, {"minLength", 0}, {"maxLength", 9}}}}}};
  EXPECT_EQ(schema_problem(typed, false), std::nullopt);
  // Strict only adds rules: the same schema is refused there, as it leaves objects open.
  EXPECT_THAT(schema_problem(typed, true).value_or(""), HasSubstr("additionalProperties"));
  json bad_count = typed;
  bad_count["properties"]["s"]["maxLength"] = -1;
  EXPECT_THAT(schema_problem(bad_count, false).value_or(""),
              HasSubstr("maxLength must be a non-negative integer at /properties/s"));
}

TEST(SchemaViolation, FindsTheFirstPlaceAValueBreaksTheSchema) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "label": {"type": "string", "enum": ["体育", "财经"]},
      "count": {"type": "integer"},
      "note": {"type": ["string", "null"], "maxLength": 3},
      "kind": {"const": "cls"},
      "a/b": {"type": "boolean"},
      "samples": {
        "type": "array", "minItems": 1, "maxItems": 2,
        "items": {
          "type": "object",
          "properties": {"text": {"type": "string", "minLength": 1},
                         "type": {"enum": ["PER", "LOC"]}},
          "required": ["text"],
          "additionalProperties": false
        }
      }
    },
    "required": ["label", "samples"],
    "additionalProperties": false
  })");
  const json good = json::parse(
      R"({"label": "体育", "count": 3, "note": null, "kind": "cls",
          "samples": [{"text": "李", "type": "PER"}, {"text": "京"}]})");
  EXPECT_EQ(schema_violation(schema, good), std::nullopt);
  auto broken = [&](const std::string& pointer, const json& value) {
    json out = good;
    out[json::json_pointer(pointer)] = value;
    return schema_violation(schema, out).value_or("<fits>");
  };
  EXPECT_EQ(broken("/count", "3"), "/count: expected integer, got string \"3\"");
  EXPECT_EQ(broken("/count", 3.0), "<fits>");  // JSON Schema: 3.0 is an integer
  EXPECT_EQ(broken("/count", 3.5), "/count: expected integer, got number 3.5");
  EXPECT_EQ(broken("/label", "娱乐"), "/label: \"娱乐\" is not one of [\"体育\",\"财经\"]");
  EXPECT_EQ(broken("/note", "四个字符"), "/note: 4 characters, more than maxLength 3");
  EXPECT_EQ(broken("/note", "三个字"), "<fits>");  // code points, not bytes
  EXPECT_EQ(broken("/kind", "ner"), "/kind: expected the constant \"cls\", got \"ner\"");
  EXPECT_EQ(broken("/a~1b", 1), "/a~1b: expected boolean, got integer 1");
  EXPECT_EQ(broken("/extra", 1), "/extra: property not allowed (additionalProperties is false)");
  EXPECT_EQ(broken("/samples", json::array()), "/samples: 0 items, fewer than minItems 1");
  EXPECT_EQ(broken("/samples/2", {{"text", "沪"}}), "/samples: 3 items, more than maxItems 2");
  EXPECT_EQ(broken("/samples/1/type", "ORG"),
            "/samples/1/type: \"ORG\" is not one of [\"PER\",\"LOC\"]");
  EXPECT_EQ(broken("/samples/0/text", ""), "/samples/0/text: 0 characters, fewer than minLength 1");
  EXPECT_EQ(broken("/samples/1/start", 0),
            "/samples/1/start: property not allowed (additionalProperties is false)");
  json missing = good;
  missing.erase("samples");
  EXPECT_EQ(schema_violation(schema, missing), "/: missing required property \"samples\"");
  json missing_nested = good;
  missing_nested["samples"][1].erase("text");
  EXPECT_EQ(schema_violation(schema, missing_nested),
            "/samples/1: missing required property \"text\"");
  EXPECT_EQ(schema_violation(schema, json::array()), "/: expected object, got array []");
}

TEST(FakeOpenAIServer, EnforceSchemaTurnsAReplyThatBreaksTheSchemaInto500) {
  FakeServerOptions options;
  options.enforce_schema = true;
  FakeOpenAIServer server(options);
  std::string scripted;
  std::mutex mu;
  server.set_responder([&](const json&, int) {
    std::lock_guard lock(mu);
    return scripted;
  });
  httplib::Client client("127.0.0.1", server.port());
  const json request =
      with_format(chat_request("x"), json_schema_format(strict_label_schema(), true));
  auto status_for = [&](const std::string& content, std::string* message = nullptr) {
    {
      std::lock_guard lock(mu);
      scripted = content;
    }
    const auto response = post(client, kChatPath, request);
    if (!response) return -1;
    if (message != nullptr) *message = error_message(*response);
    return response->status;
  };
  std::string message;
  EXPECT_EQ(
      status_for(R"({"reasoning": "", "samples": [{"text": "a", "label": "娱乐"}]})", &message),
      500);
  EXPECT_THAT(message, HasSubstr("/samples/0/label"));
  EXPECT_EQ(status_for("not json", &message), 500);
  EXPECT_THAT(message, HasSubstr("not JSON"));
  EXPECT_EQ(status_for(R"({"reasoning": "r", "samples": [{"text": "a", "label": "体育"}]})"), 200);
  // A leading think block and whitespace are not part of the JSON a client parses.
  EXPECT_EQ(status_for("\n<think>\n{\"reasoning\": broken}\n</think>\n\n"
                       R"({"reasoning": "r", "samples": [{"text": "a", "label": "财经"}]})"
                       "\n"),
            200);
  EXPECT_EQ(status_for("<think>unclosed "
                       R"({"reasoning": "r", "samples": []})"),
            500);
  EXPECT_EQ(server.summary()["schema_mismatches"], 3);

  // json_object without a schema: any JSON object will do.
  const json object_request = with_format(chat_request("x"), {{"type", "json_object"}});
  {
    std::lock_guard lock(mu);
    scripted = "[1, 2]";
  }
  const auto array_reply = post(client, kChatPath, object_request);
  ASSERT_TRUE(array_reply);
  EXPECT_EQ(array_reply->status, 500);
  {
    std::lock_guard lock(mu);
    scripted = R"({"anything": 1})";
  }
  const auto object_reply = post(client, kChatPath, object_request);
  ASSERT_TRUE(object_reply);
  EXPECT_EQ(object_reply->status, 200);
  // No response_format: the content is free.
  {
    std::lock_guard lock(mu);
    scripted = "plain words";
  }
  const auto free_reply = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(free_reply);
  EXPECT_EQ(free_reply->status, 200);
}

TEST(FakeOpenAIServer, EnforceSchemaSparesAReplyCutByLength) {
  FakeServerOptions options;
  options.enforce_schema = true;
  FakeOpenAIServer server(options);
  server.set_choice_responder([](const json&, int) {
    return ChatChoice{R"({"reasoning": "r", "samp)", "", "length"};
  });
  httplib::Client client("127.0.0.1", server.port());
  const auto response =
      post(client, kChatPath,
           with_format(chat_request("x"), json_schema_format(strict_label_schema(), true)));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(json::parse(response->body)["choices"][0]["finish_reason"], "length");
}

TEST(FakeOpenAIServer, ChoiceResponderSendsReasoningAndCountsItAsCompletion) {
  FakeOpenAIServer server;
  server.set_choice_responder([](const json&, int choice) {
    if (choice == 0) return ChatChoice{R"({"label": "体育"})", "先看标题", ""};
    return ChatChoice{"答", "", "length"};
  });
  httplib::Client client("127.0.0.1", server.port());
  json request = chat_request("x");
  request["n"] = 2;
  const auto response = post(client, kChatPath, request);
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  const json reply = json::parse(response->body);
  const json& first = reply["choices"][0];
  EXPECT_EQ(first["message"]["content"], R"({"label": "体育"})");
  EXPECT_EQ(first["message"]["reasoning_content"], "先看标题");
  EXPECT_FALSE(first["message"].contains("reasoning"));
  EXPECT_EQ(first["finish_reason"], "stop");
  const json& second = reply["choices"][1];
  EXPECT_FALSE(second["message"].contains("reasoning_content"));
  EXPECT_EQ(second["finish_reason"], "length");
  // {"label": "体育"} is 15 code points, 先看标题 4, 答 1.
  EXPECT_EQ(reply["usage"]["completion_tokens"], 15 + 4 + 1);
  EXPECT_EQ(reply["usage"]["total_tokens"], 1 + 20);
}

TEST(FakeOpenAIServer, ReasoningFieldOptionNamesTheMessageField) {
  FakeServerOptions options;
  options.reasoning_field = "reasoning";
  FakeOpenAIServer server(options);
  server.set_choice_responder([](const json&, int) { return ChatChoice{"ok", "想", ""}; });
  server.push_fault(Fault::finish_length());
  httplib::Client client("127.0.0.1", server.port());
  const auto response = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(response);
  const json message = json::parse(response->body)["choices"][0]["message"];
  EXPECT_EQ(message["reasoning"], "想");
  EXPECT_FALSE(message.contains("reasoning_content"));
  // The fault still overrides the scripted finish_reason.
  EXPECT_EQ(json::parse(response->body)["choices"][0]["finish_reason"], "length");
}

TEST(FakeOpenAIServer, SetResponderAndSetChoiceResponderReplaceEachOther) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  auto content = [&] {
    const auto response = post(client, kChatPath, chat_request("x"));
    EXPECT_TRUE(response);
    if (!response) return std::string();
    return json::parse(response->body)["choices"][0]["message"]["content"].get<std::string>();
  };
  server.set_responder([](const json&, int) { return std::string("plain"); });
  EXPECT_EQ(content(), "plain");
  server.set_choice_responder([](const json&, int) { return ChatChoice{"chosen", "", ""}; });
  EXPECT_EQ(content(), "chosen");
  server.set_responder([](const json&, int) { return std::string("plain again"); });
  EXPECT_EQ(content(), "plain again");
  server.set_choice_responder(nullptr);
  EXPECT_THAT(content(), StartsWith("reply model=fake-model"));
}


}  // namespace
}  // namespace weakdistill::testing
