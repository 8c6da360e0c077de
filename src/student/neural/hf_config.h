// Reading a Hugging Face config.json key by key, with errors that name the file and the key, and
// the error of weights that do not fit it.
// Private to src/student/.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "weakdistill/core/error.h"

namespace weakdistill::student_internal {

// Parses `path` as a JSON object; throws InputError naming the file ("<what> has config.json"
// when it cannot be opened).
nlohmann::json read_hf_config_json(const std::string& path, const std::string& what);

// Reads `key` into `out` when present and not null; `required` keys must be there.
class HfConfigReader {
 public:
  HfConfigReader(const nlohmann::json& j, std::string path) : j_(j), path_(std::move(path)) {}

  void get(const char* key, std::int64_t& out, bool required = false);
  void get(const char* key, double& out);
  void get(const char* key, std::string& out);
  void get(const char* key, bool& out);
  // A token id that may be null (-1 then).
  void get_id(const char* key, std::int64_t& out);
  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  void positive(const char* key, std::int64_t v) const;
  [[noreturn]] void fail(const char* key, const std::string& message) const {
    throw InputError(path_ + ": " + key + ": " + message);
  }

 private:
  const nlohmann::json& j_;
  std::string path_;
};

// "[2, 3]".
std::string shape_string(const std::vector<std::int64_t>& shape);

// The error of a weights file that does not fit config.json's model: "<path>: the weights do
// not fit config.json; N missing tensor(s): a, b ...; N unexpected tensor(s): ...; N of another
// shape: ..." (each list at most 20 names, then "and N more"; empty lists left out).
std::string weights_mismatch(const std::string& path, const std::vector<std::string>& missing,
                             const std::vector<std::string>& unexpected,
                             const std::vector<std::string>& mismatched);

}  // namespace weakdistill::student_internal
