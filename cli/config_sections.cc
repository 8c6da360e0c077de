#include "config_sections.h"

#include "weakdistill/core/error.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/yaml.h"

namespace weakdistill::cli {

nlohmann::json load_config(const std::string& path, const std::vector<std::string>& sets) {
  nlohmann::json config = read_yaml_file(path);
  if (!config.is_object()) throw InputError(path + ": expected a mapping at the top level");
  merge_into(config, parse_assignments(sets));
  return config;
}

Task config_task(const nlohmann::json& config, const std::string& path) {
  if (!config.contains("task") || !config["task"].is_string()) {
    throw InputError(path + ": task: required (classification, ner or summarization)");
  }
  try {
    return parse_task(config["task"].get<std::string>());
  } catch (const std::exception& e) {
    throw InputError(path + ": task: " + e.what());
  }
}

nlohmann::json config_section(const nlohmann::json& config, const char* section) {
  if (!config.contains(section) || config[section].is_null()) return nlohmann::json::object();
  if (!config[section].is_object()) {
    throw InputError(std::string(section) + ": expected a mapping, got " + config[section].dump());
  }
  return config[section];
}

}  // namespace weakdistill::cli
