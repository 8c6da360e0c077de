// The labeled sample of each task, as read from and written to JSON Lines
// (docs/FORMATS.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace weakdistill {

enum class Task { kClassification, kNer, kSummarization };

// "classification", "ner", "summarization".
std::string_view task_name(Task task);
// Parses a task name; throws UsageError naming the accepted values.
Task parse_task(std::string_view name);

// A named entity: [start, end) in Unicode code points of its sentence.
struct Entity {
  std::size_t start = 0;
  std::size_t end = 0;
  std::string type;
  std::string text;  // the covered text; filled on read when the file omits it
  friend bool operator==(const Entity&, const Entity&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Entity& e) {
    return os << "[" << e.start << ", " << e.end << ") " << e.type << " \"" << e.text << "\"";
  }
};

// One sample. Which fields are meaningful depends on the task: `label` for
// classification, `entities` (sorted by start, non-overlapping) for ner,
// `summary` for summarization. Fields a file carries beyond these are kept in
// `extra` and written back unchanged.
struct Sample {
  std::optional<std::string> id;
  std::string text;
  std::string label;
  std::vector<Entity> entities;
  std::string summary;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// The JSON object of `sample` for `task`: id (if any), text, the task's label
// field(s), then the extra fields.
nlohmann::ordered_json to_json(const Sample& sample, Task task);

}  // namespace weakdistill
