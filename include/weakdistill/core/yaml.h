// Reading YAML config files as JSON values, so that one OptionReader serves
// the config file and `--set key=value` alike.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace weakdistill {

// Parses the YAML file at `path`. Plain scalars become JSON numbers (integers
// when they read as integers), true/false (also yes/no — but not on/off, which
// stay strings and are read as booleans where a boolean is expected), null
// (~, null, empty), or strings; quoted scalars are always strings. Mappings
// must have string keys and no duplicates. Throws InputError "path:line:
// problem" on invalid UTF-8, a syntax error, a duplicate key, an anchor/alias
// cycle, aliases expanding to over 10,000 values (or 16 MB of text) or a missing
// file; an empty file is an empty object.
nlohmann::json read_yaml_file(const std::string& path);

// The same for YAML text; `name` stands for the file in messages.
nlohmann::json parse_yaml(const std::string& text, const std::string& name);

}  // namespace weakdistill
