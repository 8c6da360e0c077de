// Reading the parts of a run config that single-purpose commands (teacher try,
// embed, diversity) need, before the full run config of `weakdistill run`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "weakdistill/core/sample.h"

namespace weakdistill::cli {

// The YAML file at `path` with the `--set` assignments merged in. Throws
// InputError (file:line) on a syntax error or a top level that is not a mapping.
nlohmann::json load_config(const std::string& path, const std::vector<std::string>& sets);

// `task`, required. Throws InputError naming the key.
Task config_task(const nlohmann::json& config, const std::string& path);

// config[section] as an object ({} when absent); throws InputError when it is not a mapping.
nlohmann::json config_section(const nlohmann::json& config, const char* section);

}  // namespace weakdistill::cli
