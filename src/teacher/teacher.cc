#include "weakdistill/teacher/teacher.h"

#include <fmt/format.h>

#include <set>

#include "kinds_internal.h"
#include "weakdistill/core/error.h"
#include "weakdistill/teacher/openai_teacher.h"

namespace weakdistill {

TeacherUsage& TeacherUsage::operator+=(const TeacherUsage& o) {
  requests += o.requests;
  http_requests += o.http_requests;
  retries += o.retries;
  failures += o.failures;
  cache_hits += o.cache_hits;
  prompt_tokens += o.prompt_tokens;
  completion_tokens += o.completion_tokens;
  return *this;
}

nlohmann::ordered_json TeacherUsage::to_json() const {
  return {{"requests", requests},
          {"http_requests", http_requests},
          {"retries", retries},
          {"failures", failures},
          {"cache_hits", cache_hits},
          {"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens}};
}

std::string reply_json(Task task, const Sample& sample) {
  nlohmann::ordered_json j;
  j["text"] = sample.text;
  switch (task) {
    case Task::kClassification:
      j["label"] = sample.label;
      break;
    case Task::kNer: {
      j["entities"] = nlohmann::ordered_json::array();
      for (const auto& e : sample.entities) {
        j["entities"].push_back({{"text", e.text}, {"type", e.type}});
      }
      break;
    }
    case Task::kSummarization:
      j["summary"] = sample.summary;
      break;
  }
  // Non-ASCII kept as is: the reply reads like an LLM's.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

namespace teacher_internal {

std::unique_ptr<Teacher> make_openai(const nlohmann::json& section, const TeacherContext& context) {
  // The schema's enums: what verification will accept (verifier.h reads the same set).
  std::set<std::string> labels;
  if (context.labeled != nullptr) {
    for (const Sample& s : *context.labeled) {
      if (context.task == Task::kClassification && !s.label.empty()) labels.insert(s.label);
      if (context.task == Task::kNer) {
        for (const Entity& e : s.entities) labels.insert(e.type);
      }
    }
  }
  return std::make_unique<OpenAITeacher>(context.task,
                                         read_openai_teacher_options(section, context.base_dir),
                                         context.cache_path, std::move(labels));
}

}  // namespace teacher_internal

TeacherResultsPending::~TeacherResultsPending() = default;

std::unique_ptr<Teacher> make_teacher(const nlohmann::json& config, const TeacherContext& context) {
  if (!config.is_object()) {
    throw InputError("teacher: expected a mapping with a kind (openai, pool or augment), got " +
                     config.dump());
  }
  const auto kind_it = config.find("kind");
  if (kind_it == config.end() || !kind_it->is_string()) {
    throw InputError("teacher.kind: required: openai, pool or augment");
  }
  const std::string kind = *kind_it;
  if (kind == "openai") return teacher_internal::make_openai(config, context);
  if (kind == "pool") return teacher_internal::make_pool(config, context);
  if (kind == "augment") return teacher_internal::make_augment(config, context);
  throw InputError(
      fmt::format("teacher.kind: unknown kind \"{}\" (known: openai, pool, augment)", kind));
}

}  // namespace weakdistill
