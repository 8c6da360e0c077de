#include "hf_config.h"

#include <fmt/format.h>

#include <fstream>

namespace weakdistill::student_internal {

nlohmann::json read_hf_config_json(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open (" + what + " has config.json)");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(path + ": not a JSON object");
  return j;
}

void HfConfigReader::get(const char* key, std::int64_t& out, bool required) {
  const auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) {
    if (required) fail(key, "missing");
    return;
  }
  if (!it->is_number_integer()) fail(key, "must be an integer, not " + it->dump());
  out = it->get<std::int64_t>();
}

void HfConfigReader::get(const char* key, double& out) {
  const auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return;
  if (!it->is_number()) fail(key, "must be a number, not " + it->dump());
  out = it->get<double>();
}

void HfConfigReader::get(const char* key, std::string& out) {
  const auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return;
  if (!it->is_string()) fail(key, "must be a string, not " + it->dump());
  out = it->get<std::string>();
}

void HfConfigReader::get(const char* key, bool& out) {
  const auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return;
  if (!it->is_boolean()) fail(key, "must be true or false, not " + it->dump());
  out = it->get<bool>();
}

void HfConfigReader::get_id(const char* key, std::int64_t& out) {
  const auto it = j_.find(key);
  if (it == j_.end()) return;
  if (it->is_null()) {
    out = -1;
    return;
  }
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
    fail(key, "must be a token id (an integer, 0 or more) or null, not " + it->dump());
  }
  out = it->get<std::int64_t>();
}

void HfConfigReader::positive(const char* key, std::int64_t v) const {
  if (v < 1) fail(key, "must be 1 or more, not " + std::to_string(v));
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

// "a, b, c" of at most 20 names, then "and N more".
std::string name_list(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < 20; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 20) s += fmt::format(" and {} more", names.size() - 20);
  return s;
}

}  // namespace

std::string weights_mismatch(const std::string& path, const std::vector<std::string>& missing,
                             const std::vector<std::string>& unexpected,
                             const std::vector<std::string>& mismatched) {
  std::string msg = path + ": the weights do not fit config.json";
  if (!missing.empty()) {
    msg += fmt::format("; {} missing tensor(s): {}", missing.size(), name_list(missing));
  }
  if (!unexpected.empty()) {
    msg += fmt::format("; {} unexpected tensor(s): {}", unexpected.size(), name_list(unexpected));
  }
  if (!mismatched.empty()) {
    msg += fmt::format("; {} of another shape: {}", mismatched.size(), name_list(mismatched));
  }
  return msg;
}

}  // namespace weakdistill::student_internal
