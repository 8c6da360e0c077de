#include "weakdistill/core/jsonl.h"

#include <algorithm>
#include <fstream>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

using json = nlohmann::ordered_json;

[[noreturn]] void fail(const std::string& where, const std::string& message) {
  throw InputError(where + ": " + message);
}

std::string describe_type(const json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

const std::string& require_string(const json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) fail(where, std::string("missing field \"") + key + "\"");
  if (!it->is_string()) {
    fail(where, std::string("field \"") + key + "\" must be a string, not " + describe_type(*it));
  }
  return it->get_ref<const std::string&>();
}

std::size_t require_offset(const json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) fail(where, std::string("missing field \"") + key + "\"");
  if (it->is_number_unsigned()) return it->get<std::size_t>();
  if (it->is_number_integer()) fail(where, std::string("\"") + key + "\" is negative");
  fail(where, std::string("field \"") + key + "\" must be an integer, not " + describe_type(*it));
}

std::vector<Entity> parse_entities(const json& obj, const std::string& where) {
  const auto it = obj.find("entities");
  if (it == obj.end()) fail(where, "missing field \"entities\"");
  if (!it->is_array()) {
    fail(where, "field \"entities\" must be an array, not " + describe_type(*it));
  }
  std::vector<Entity> entities;
  entities.reserve(it->size());
  for (std::size_t k = 0; k < it->size(); ++k) {
    const json& e = (*it)[k];
    const std::string ew = where + ": entity " + std::to_string(k);
    if (!e.is_object()) fail(ew, "must be an object, not " + describe_type(e));
    Entity entity;
    entity.start = require_offset(e, "start", ew);
    entity.end = require_offset(e, "end", ew);
    entity.type = require_string(e, "type", ew);
    if (entity.type.empty()) fail(ew, "\"type\" is empty");
    if (e.contains("text")) entity.text = require_string(e, "text", ew);
    if (entity.end <= entity.start) {
      fail(ew, "end " + std::to_string(entity.end) + " is not after start " +
                   std::to_string(entity.start));
    }
    entities.push_back(std::move(entity));
  }
  return entities;
}

}  // namespace

std::size_t json_nesting(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, which may be '"'
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void check_entities(const std::u32string& text, std::vector<Entity>& entities,
                    const std::string& where) {
  for (std::size_t k = 0; k < entities.size(); ++k) {
    Entity& e = entities[k];
    const std::string ew = where + ": entity " + std::to_string(k);
    if (e.end > text.size()) {
      fail(ew, "span [" + std::to_string(e.start) + ", " + std::to_string(e.end) +
                   ") is outside the text, which has " + std::to_string(text.size()) +
                   " characters");
    }
    const std::string covered = utf8::encode(text.substr(e.start, e.end - e.start));
    if (e.text.empty()) {
      e.text = covered;
    } else if (e.text != covered) {
      fail(ew, "\"text\" is \"" + e.text + "\" but the span [" + std::to_string(e.start) + ", " +
                   std::to_string(e.end) + ") covers \"" + covered + "\"");
    }
  }
  std::stable_sort(entities.begin(), entities.end(),
                   [](const Entity& a, const Entity& b) { return a.start < b.start; });
  for (std::size_t k = 1; k < entities.size(); ++k) {
    const Entity& a = entities[k - 1];
    const Entity& b = entities[k];
    if (b.start < a.end) {
      fail(where, "entities overlap: [" + std::to_string(a.start) + ", " + std::to_string(a.end) +
                      ") " + a.type + " and [" + std::to_string(b.start) + ", " +
                      std::to_string(b.end) + ") " + b.type);
    }
  }
}

Sample parse_sample(const std::string& line, Task task, const ReadOptions& options,
                    const std::string& where) {
  if (const auto bad = utf8::find_invalid(line)) {
    fail(where, "invalid UTF-8 at byte " + std::to_string(*bad + 1) + " of the line");
  }
  // Checked before parsing: a deep value would overflow the stack when copied
  // into `extra` (found while fuzzing: 1M nested '[' crash a release build).
  if (json_nesting(line) > kMaxJsonNesting) {
    fail(where, "JSON nested deeper than " + std::to_string(kMaxJsonNesting) + " levels");
  }
  json obj;
  try {
    obj = json::parse(line);
  } catch (const json::exception& e) {
    // Not only parse_error: a number beyond double's range (1e400) is JSON syntax
    // that nlohmann cannot hold, and it throws out_of_range.406 for it (found by
    // fuzzing: it escaped as an undocumented exception).
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at line 1,
    // column N: ..."; keep the part after the "] ".
    std::string msg = e.what();
    const auto pos = msg.find("] ");
    if (pos != std::string::npos) msg = msg.substr(pos + 2);
    fail(where, "not valid JSON (" + msg + ")");
  }
  if (!obj.is_object()) fail(where, "expected a JSON object, found " + describe_type(obj));

  Sample s;
  for (auto& [key, value] : obj.items()) {
    if (key == "id") {
      if (value.is_string()) {
        s.id = value.get<std::string>();
      } else if (value.is_number_integer()) {
        s.id = value.dump();
      } else {
        fail(where, "field \"id\" must be a string or an integer, not " + describe_type(value));
      }
    } else if (key != "text" && key != "label" && key != "entities" && key != "summary") {
      s.extra[key] = value;
    }
  }

  const bool has_text = obj.contains("text");
  if (has_text || !options.prediction) {
    s.text = require_string(obj, "text", where);
    if (s.text.empty() && !options.prediction) fail(where, "\"text\" is empty");
  }
  if (options.unlabeled) {
    const bool labeled = (task == Task::kClassification && obj.contains("label")) ||
                         (task == Task::kNer && obj.contains("entities")) ||
                         (task == Task::kSummarization && obj.contains("summary"));
    if (!labeled) return s;
  }
  switch (task) {
    case Task::kClassification:
      s.label = require_string(obj, "label", where);
      if (s.label.empty()) fail(where, "\"label\" is empty");
      break;
    case Task::kNer:
      s.entities = parse_entities(obj, where);
      if (has_text) {
        check_entities(utf8::decode(s.text), s.entities, where);
      } else {
        std::stable_sort(s.entities.begin(), s.entities.end(),
                         [](const Entity& a, const Entity& b) { return a.start < b.start; });
      }
      break;
    case Task::kSummarization:
      s.summary = require_string(obj, "summary", where);
      if (s.summary.empty() && !options.prediction) fail(where, "\"summary\" is empty");
      break;
  }
  return s;
}

Dataset read_jsonl(const std::string& path, Task task, const ReadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  Dataset ds;
  ds.task = task;
  ds.path = path;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1) {
      const std::string_view rest = utf8::strip_bom(line);
      if (rest.size() != line.size()) line.erase(0, line.size() - rest.size());
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = path + ":" + std::to_string(lineno);
    if (line.size() > options.max_line_bytes) {
      fail(where, "line is " + std::to_string(line.size()) + " bytes, over the limit of " +
                      std::to_string(options.max_line_bytes));
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ds.samples.push_back(parse_sample(line, task, options, where));
    ds.lines.push_back(lineno);
  }
  if (in.bad()) throw InputError(path + ": read error");
  if (ds.samples.empty() && !options.allow_empty) {
    throw InputError(path + ": no samples (the file is empty)");
  }
  return ds;
}

void write_jsonl(const std::string& path, const std::vector<Sample>& samples, Task task) {
  AtomicFile file(path);
  for (const Sample& s : samples) {
    file.stream() << to_json(s, task).dump(-1, ' ', false, json::error_handler_t::strict) << '\n';
  }
  file.commit();
}

}  // namespace weakdistill
