#include "weakdistill/core/sample.h"

#include "weakdistill/core/error.h"

namespace weakdistill {

InputError::~InputError() = default;
UsageError::~UsageError() = default;

std::string at(const std::string& file, std::size_t line, const std::string& message) {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ": " + message;
}

std::string_view task_name(Task task) {
  switch (task) {
    case Task::kClassification:
      return "classification";
    case Task::kNer:
      return "ner";
    case Task::kSummarization:
      return "summarization";
  }
  return "?";
}

Task parse_task(std::string_view name) {
  if (name == "classification" || name == "cls") return Task::kClassification;
  if (name == "ner") return Task::kNer;
  if (name == "summarization" || name == "sum") return Task::kSummarization;
  throw UsageError("unknown task '" + std::string(name) +
                   "': expected classification, ner or summarization");
}

nlohmann::ordered_json to_json(const Sample& sample, Task task) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (sample.id) j["id"] = *sample.id;
  j["text"] = sample.text;
  switch (task) {
    case Task::kClassification:
      j["label"] = sample.label;
      break;
    case Task::kNer: {
      auto entities = nlohmann::ordered_json::array();
      for (const Entity& e : sample.entities) {
        entities.push_back(
            {{"start", e.start}, {"end", e.end}, {"type", e.type}, {"text", e.text}});
      }
      j["entities"] = std::move(entities);
      break;
    }
    case Task::kSummarization:
      j["summary"] = sample.summary;
      break;
  }
  for (const auto& [key, value] : sample.extra.items()) j[key] = value;
  return j;
}

}  // namespace weakdistill
