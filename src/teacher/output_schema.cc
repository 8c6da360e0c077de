#include "weakdistill/teacher/output_schema.h"

#include <stdexcept>

namespace weakdistill {
namespace {

using ojson = nlohmann::ordered_json;

ojson string_schema(const std::set<std::string>& values) {
  ojson s = {{"type", "string"}};
  // An empty enum matches nothing: with no known value, any string.
  if (!values.empty()) s["enum"] = ojson(std::vector<std::string>(values.begin(), values.end()));
  return s;
}

// A closed object of `properties`, all required.
ojson closed_object(ojson properties) {
  ojson required = ojson::array();
  for (const auto& item : properties.items()) required.push_back(item.key());
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

// One sample's properties, in the order the reply writes them.
ojson sample_properties(Task task, const std::set<std::string>& labels) {
  ojson p = ojson::object();
  p["text"] = {{"type", "string"}};
  switch (task) {
    case Task::kClassification:
      p["label"] = string_schema(labels);
      break;
    case Task::kNer: {
      ojson entity = ojson::object();
      entity["text"] = {{"type", "string"}};
      entity["type"] = string_schema(labels);
      p["entities"] = {{"type", "array"}, {"items", closed_object(std::move(entity))}};
      break;
    }
    case Task::kSummarization:
      p["summary"] = {{"type", "string"}};
      break;
  }
  return p;
}

}  // namespace

ojson output_schema(Task task, const OutputSchemaOptions& o) {
  ojson root = ojson::object();
  if (o.reasoning) root["reasoning"] = {{"type", "string"}};
  if (o.samples <= 1) {
    const ojson properties = sample_properties(task, o.labels);
    for (const auto& item : properties.items()) root[item.key()] = item.value();
  } else {
    root["samples"] = {{"type", "array"},
                       {"items", closed_object(sample_properties(task, o.labels))},
                       {"minItems", o.samples},
                       {"maxItems", o.samples}};
  }
  return closed_object(std::move(root));
}

ojson response_format_value(const std::string& type, Task task, const OutputSchemaOptions& o) {
  if (type == "text") return nullptr;
  if (type == "json_object") return {{"type", "json_object"}};
  if (type != "json_schema") throw std::invalid_argument("unknown response_format " + type);
  const std::string name = std::string("weakdistill_") + std::string(task_name(task)) +
                           (o.samples > 1 ? "_samples" : "_sample");
  return {{"type", "json_schema"},
          {"json_schema", {{"name", name}, {"strict", true}, {"schema", output_schema(task, o)}}}};
}

}  // namespace weakdistill
