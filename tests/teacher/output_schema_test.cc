// The reply's JSON Schema: its shape written out by hand, the strict-mode and grammar-engine
// rules walked over the whole schema, and the fake server's independent schema checker and
// reply generator (tests/fake/) as the reference: our schema passes its strict check, and a
// reply it generates from our schema parses into exactly the samples it wrote.
#include "weakdistill/teacher/output_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "fake/fake_openai_server.h"
#include "fake/json_schema_check.h"
#include "weakdistill/teacher/chat_reply.h"
#include "weakdistill/teacher/reply_parser.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr Task kTasks[] = {Task::kClassification, Task::kNer, Task::kSummarization};

const std::set<std::string> kLabels = {"财经", "体育", "科技"};

// `o` as the unordered json the fake's checker takes.
json plain(const ojson& o) { return json::parse(o.dump()); }

std::vector<std::string> keys_of(const ojson& object) {
  std::vector<std::string> out;
  for (const auto& item : object.items()) out.push_back(item.key());
  return out;
}

// The sample's own fields, in reply order.
std::vector<std::string> sample_fields(Task task) {
  switch (task) {
    case Task::kClassification:
      return {"text", "label"};
    case Task::kNer:
      return {"text", "entities"};
    case Task::kSummarization:
      return {"text", "summary"};
  }
  return {};
}

// Every object (at any depth) and every key of the schema, for the rules that hold everywhere.
void walk(const ojson& node, const std::string& where, std::vector<std::string>& keys,
          std::vector<std::pair<std::string, const ojson*>>& object_schemas) {
  if (node.is_object()) {
    if (node.contains("type") && node["type"] == "object") object_schemas.push_back({where, &node});
    for (const auto& item : node.items()) {
      keys.push_back(item.key());
      walk(item.value(), where + "/" + item.key(), keys, object_schemas);
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      walk(node[i], where + "/" + std::to_string(i), keys, object_schemas);
    }
  }
}

void expect_flat_and_strict(const ojson& schema) {
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, const ojson*>> objects;
  walk(schema, "", keys, objects);
  for (const std::string& k : keys) {
    EXPECT_NE(k, "$ref");
    EXPECT_NE(k, "$defs");
    EXPECT_NE(k, "definitions");
  }
  ASSERT_FALSE(objects.empty());
  for (const auto& [where, object] : objects) {
    SCOPED_TRACE(where.empty() ? "/" : where);
    ASSERT_TRUE(object->contains("properties"));
    ASSERT_TRUE(object->contains("additionalProperties"));
    EXPECT_EQ((*object)["additionalProperties"], false);
    ASSERT_TRUE(object->contains("required"));
    // Every property required, in property order, and nothing else.
    std::vector<std::string> required;
    for (const auto& r : (*object)["required"]) required.push_back(r.get<std::string>());
    EXPECT_EQ(required, keys_of((*object)["properties"]));
  }
}

// The schema of one sample's label field: {"type": "string"} with the label set as its enum.
const ojson& label_schema(Task task, const ojson& sample_object) {
  const ojson& p = sample_object["properties"];
  return task == Task::kClassification ? p["label"] : p["entities"]["items"]["properties"]["type"];
}

TEST(OutputSchema, ClassificationIsWrittenOutInFull) {
  // The whole schema, written by hand from the header's description.
  const ojson expected = ojson::parse(R"({
    "type": "object",
    "properties": {
      "reasoning": {"type": "string"},
      "text": {"type": "string"},
      "label": {"type": "string", "enum": ["体育", "科技", "财经"]}
    },
    "required": ["reasoning", "text", "label"],
    "additionalProperties": false
  })");
  // The enum is the set in std::string order (UTF-8 bytes): 体 E4 BD 93, 科 E7 A7 91,
  // 财 E8 B4 A2.
  EXPECT_EQ(output_schema(Task::kClassification, {kLabels, 1, true}), expected);
}

TEST(OutputSchema, NerIsWrittenOutInFull) {
  const ojson expected = ojson::parse(R"({
    "type": "object",
    "properties": {
      "reasoning": {"type": "string"},
      "text": {"type": "string"},
      "entities": {
        "type": "array",
        "items": {
          "type": "object",
          "properties": {
            "text": {"type": "string"},
            "type": {"type": "string", "enum": ["LOC", "ORG", "PER"]}
          },
          "required": ["text", "type"],
          "additionalProperties": false
        }
      }
    },
    "required": ["reasoning", "text", "entities"],
    "additionalProperties": false
  })");
  EXPECT_EQ(output_schema(Task::kNer, {{"PER", "ORG", "LOC"}, 1, true}), expected);
}

TEST(OutputSchema, EachTaskReasonsFirstThenTheSampleFields) {
  for (const Task task : kTasks) {
    SCOPED_TRACE(std::string(task_name(task)));
    const ojson schema = output_schema(task, {kLabels, 1, true});
    EXPECT_EQ(schema["type"], "object");
    std::vector<std::string> expected = {"reasoning"};
    for (const auto& f : sample_fields(task)) expected.push_back(f);
    EXPECT_EQ(keys_of(schema["properties"]), expected);
    EXPECT_EQ(schema["properties"]["reasoning"], (ojson{{"type", "string"}}));
    EXPECT_EQ(schema["properties"]["text"], (ojson{{"type", "string"}}));
    if (task != Task::kSummarization) {
      EXPECT_EQ(label_schema(task, schema)["enum"],
                ojson(std::vector<std::string>(kLabels.begin(), kLabels.end())));
    } else {
      EXPECT_EQ(schema["properties"]["summary"], (ojson{{"type", "string"}}));
      EXPECT_EQ(schema.dump().find("enum"), std::string::npos);
    }
    expect_flat_and_strict(schema);

    // Without reasoning: the sample's fields alone.
    const ojson bare = output_schema(task, {kLabels, 1, false});
    EXPECT_EQ(keys_of(bare["properties"]), sample_fields(task));
    expect_flat_and_strict(bare);
  }
}

TEST(OutputSchema, SeveralSamplesGoInAnArrayOfExactlyThatMany) {
  for (const Task task : kTasks) {
    SCOPED_TRACE(std::string(task_name(task)));
    const ojson schema = output_schema(task, {kLabels, 4, true});
    EXPECT_EQ(keys_of(schema["properties"]), (std::vector<std::string>{"reasoning", "samples"}));
    const ojson& samples = schema["properties"]["samples"];
    EXPECT_EQ(samples["type"], "array");
    EXPECT_EQ(samples["minItems"], 4);
    EXPECT_EQ(samples["maxItems"], 4);
    // The items are the one-sample schema without its reasoning.
    EXPECT_EQ(samples["items"], output_schema(task, {kLabels, 1, false}));
    expect_flat_and_strict(schema);

    const ojson no_reasoning = output_schema(task, {kLabels, 4, false});
    EXPECT_EQ(keys_of(no_reasoning["properties"]), (std::vector<std::string>{"samples"}));
  }
}

TEST(OutputSchema, AnEmptyLabelSetAllowsAnyString) {
  for (const Task task : {Task::kClassification, Task::kNer}) {
    SCOPED_TRACE(std::string(task_name(task)));
    const ojson schema = output_schema(task, {{}, 1, true});
    EXPECT_EQ(label_schema(task, schema), (ojson{{"type", "string"}}));
    EXPECT_EQ(schema.dump().find("enum"), std::string::npos) << schema.dump();
    EXPECT_EQ(testing::schema_problem(plain(schema), true), std::nullopt);
  }
}

TEST(OutputSchema, ResponseFormatValues) {
  const std::regex name_rule("^[A-Za-z0-9_-]{1,64}$");
  std::set<std::string> names;
  for (const Task task : kTasks) {
    for (const int samples : {1, 4}) {
      SCOPED_TRACE(std::string(task_name(task)) + " samples " + std::to_string(samples));
      const OutputSchemaOptions o{kLabels, samples, true};
      const ojson v = response_format_value("json_schema", task, o);
      EXPECT_EQ(keys_of(v), (std::vector<std::string>{"type", "json_schema"}));
      EXPECT_EQ(v["type"], "json_schema");
      EXPECT_EQ(keys_of(v["json_schema"]), (std::vector<std::string>{"name", "strict", "schema"}));
      const std::string name = v["json_schema"]["name"].get<std::string>();
      EXPECT_TRUE(std::regex_match(name, name_rule)) << name;
      names.insert(name);
      EXPECT_EQ(v["json_schema"]["strict"], true);
      EXPECT_EQ(v["json_schema"]["schema"], output_schema(task, o));

      EXPECT_EQ(response_format_value("json_object", task, o), (ojson{{"type", "json_object"}}));
      EXPECT_TRUE(response_format_value("text", task, o).is_null());

      // The fake server (its own reading of OpenAI's rules) takes each of them.
      EXPECT_EQ(testing::response_format_problem(plain(v), {}), std::nullopt);
    }
  }
  EXPECT_EQ(names.size(), 6u) << "a schema name stands for one shape";
  EXPECT_THROW(response_format_value("json", Task::kClassification, {}), std::invalid_argument);
}

TEST(OutputSchema, TheGrammarEngineCheckerTakesEveryTasksSchema) {
  for (const Task task : kTasks) {
    for (const int samples : {1, 4}) {
      for (const bool reasoning : {true, false}) {
        SCOPED_TRACE(std::string(task_name(task)) + " samples " + std::to_string(samples) +
                     (reasoning ? " reasoning" : ""));
        const json schema = plain(output_schema(task, {kLabels, samples, reasoning}));
        EXPECT_EQ(testing::schema_problem(schema, true), std::nullopt);
        EXPECT_EQ(testing::schema_problem(schema, false), std::nullopt);
      }
    }
  }
}

// Valid and invalid values, written by hand, against our schema in the fake's validator.
TEST(OutputSchema, ValuesThatFitAndValuesThatDoNot) {
  using testing::schema_violation;
  const json cls = plain(output_schema(Task::kClassification, {kLabels, 1, true}));
  EXPECT_EQ(schema_violation(
                cls, json::parse(R"({"reasoning": "先想", "text": "女足夺冠", "label": "体育"})")),
            std::nullopt);
  for (const char* bad : {
           R"({"reasoning": "r", "text": "t", "label": "娱乐"})",          // outside the set
           R"({"text": "t", "label": "体育"})",                            // no reasoning
           R"({"reasoning": "r", "text": "t", "label": "体育", "x": 1})",  // an extra key
           R"({"reasoning": "r", "text": "t", "label": 3})",               // not a string
           R"({"reasoning": "r", "label": "体育"})",                       // no text
           R"([{"reasoning": "r", "text": "t", "label": "体育"}])",        // not an object
       }) {
    EXPECT_NE(schema_violation(cls, json::parse(bad)), std::nullopt) << bad;
  }

  const json ner = plain(output_schema(Task::kNer, {{"PER", "LOC"}, 1, true}));
  EXPECT_EQ(schema_violation(ner, json::parse(R"({"reasoning": "", "text": "张三在北京",
      "entities": [{"text": "张三", "type": "PER"}, {"text": "北京", "type": "LOC"}]})")),
            std::nullopt);
  EXPECT_EQ(
      schema_violation(ner, json::parse(R"({"reasoning": "", "text": "今天", "entities": []})")),
      std::nullopt);
  for (
      const char* bad : {
          R"({"reasoning": "", "text": "t", "entities": [{"text": "张三", "type": "ORG"}]})",
          R"({"reasoning": "", "text": "t", "entities": [{"text": "张三"}]})",
          R"({"reasoning": "", "text": "t", "entities": [{"text": "张三", "type": "PER", "start": 0}]})",
          R"({"reasoning": "", "text": "t", "entities": {"text": "张三", "type": "PER"}})",
      }) {
    EXPECT_NE(schema_violation(ner, json::parse(bad)), std::nullopt) << bad;
  }

  const json four = plain(output_schema(Task::kSummarization, {{}, 4, true}));
  const json item = {{"text", "地铁三号线下月开通"}, {"summary", "三号线开通"}};
  const auto with = [&](std::size_t n) {
    return json{{"reasoning", "r"}, {"samples", json(std::vector<json>(n, item))}};
  };
  EXPECT_EQ(schema_violation(four, with(4)), std::nullopt);
  EXPECT_NE(schema_violation(four, with(3)), std::nullopt);
  EXPECT_NE(schema_violation(four, with(5)), std::nullopt);
  json extra = with(4);
  extra["samples"][2]["label"] = "x";
  EXPECT_NE(schema_violation(four, extra), std::nullopt);
  EXPECT_NE(schema_violation(four, item), std::nullopt) << "one bare sample is not the form";
}

std::vector<ojson> samples_of(Task task) {
  switch (task) {
    case Task::kClassification:
      return {ojson{{"text", "国足客场告负"}, {"label", "体育"}},
              ojson{{"text", "央行宣布降准"}, {"label", "财经"}},
              ojson{{"text", "新款手机发布"}, {"label", "科技"}},
              ojson{{"text", "女排三比零获胜"}, {"label", "体育"}},
              ojson{{"text", "芯片出口增长"}, {"label", "科技"}}};
    case Task::kNer:
      return {ojson::parse(R"({"text": "张三在北京", "entities": [{"text": "张三", "type": "PER"},
                                 {"text": "北京", "type": "LOC"}]})"),
              ojson::parse(R"({"text": "今天天气很好", "entities": []})"),
              ojson::parse(R"({"text": "李四去了华为", "entities": [{"text": "李四", "type": "PER"},
                                 {"text": "华为", "type": "ORG"}]})"),
              ojson::parse(
                  R"({"text": "王五回到上海", "entities": [{"text": "上海", "type": "LOC"}]})"),
              ojson::parse(R"({"text": "雨下了一整天", "entities": []})")};
    case Task::kSummarization:
      return {ojson{{"text", "市政府宣布地铁三号线下月开通"}, {"summary", "三号线下月开通"}},
              ojson{{"text", "本市明日起气温骤降十度"}, {"summary", "明日降温"}},
              ojson{{"text", "图书馆延长周末开放时间"}, {"summary", "图书馆延时"}},
              ojson{{"text", "新建公园本周末正式开放"}, {"summary", "公园开放"}},
              ojson{{"text", "高铁新线路今日首发"}, {"summary", "新线首发"}}};
  }
  return {};
}

// The sample a fixture object stands for, as the parser returns it (entities without offsets).
Sample as_sample(Task task, const ojson& o) {
  Sample s;
  s.text = o["text"].get<std::string>();
  if (task == Task::kClassification) s.label = o["label"].get<std::string>();
  if (task == Task::kSummarization) s.summary = o["summary"].get<std::string>();
  if (task == Task::kNer) {
    for (const auto& e : o["entities"]) {
      s.entities.push_back({0, 0, e["type"].get<std::string>(), e["text"].get<std::string>()});
    }
  }
  return s;
}

// A reply that the fake's generator writes from our schema parses into exactly its samples,
// wherever the reasoning goes (the schema's field, the reasoning field, a <think> block).
TEST(OutputSchema, RepliesWrittenFromTheSchemaParseIntoTheirSamples) {
  const std::set<std::string> labels = {"体育", "财经", "科技", "PER", "LOC", "ORG"};
  for (const Task task : kTasks) {
    for (const int samples : {1, 4}) {
      for (const bool reasoning : {true, false}) {
        for (const bool think : {false, true}) {
          SCOPED_TRACE(std::string(task_name(task)) + " samples " + std::to_string(samples) +
                       (reasoning ? " reasoning" : "") + (think ? " think" : ""));
          const OutputSchemaOptions o{labels, samples, reasoning};
          const std::vector<ojson> fixture = samples_of(task);
          auto responder = testing::samples_responder(fixture, {0, 12, think});
          const json request = {
              {"response_format", plain(response_format_value("json_schema", task, o))}};
          const testing::ChatChoice choice = responder(request, 0);

          // The reply answers the schema (the fake's validator, after a <think> block).
          std::string answer = choice.content;
          if (think && !reasoning) {
            ASSERT_EQ(answer.rfind("<think>", 0), 0u) << answer;
            answer = answer.substr(answer.find("</think>") + 8);
          }
          EXPECT_EQ(testing::schema_violation(plain(output_schema(task, o)), json::parse(answer)),
                    std::nullopt)
              << answer;

          // Through the chat reader, as a teacher reads it.
          json message = {{"content", choice.content}};
          if (!choice.reasoning.empty()) message["reasoning_content"] = choice.reasoning;
          std::string why;
          const auto reply = read_chat_reply(
              {{"choices", {{{"message", message}, {"finish_reason", "stop"}}}}}, why);
          ASSERT_TRUE(reply) << why;
          Generation g;
          g.ok = true;
          g.reply = reply->content;
          g.reasoning = reply->reasoning;
          g.finish_reason = reply->finish_reason;
          if (!reasoning) {
            EXPECT_EQ(g.reasoning.size(), 12u * 3) << "12 code points of filler";
          }

          const auto parsed = parse_generation(task, g, samples);
          ASSERT_EQ(parsed.size(), static_cast<std::size_t>(samples)) << g.reply;
          for (int k = 0; k < samples; ++k) {
            ASSERT_TRUE(parsed[k].sample)
                << reason_name(parsed[k].rejection->reason) << ": " << parsed[k].rejection->detail;
            const Sample want = as_sample(task, fixture[k]);
            EXPECT_EQ(parsed[k].sample->text, want.text);
            EXPECT_EQ(parsed[k].sample->label, want.label);
            EXPECT_EQ(parsed[k].sample->entities, want.entities);
            EXPECT_EQ(parsed[k].sample->summary, want.summary);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace weakdistill
