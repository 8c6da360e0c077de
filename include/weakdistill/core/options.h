// Reading options structs from JSON objects (which the YAML config and
// `--set key=value` both become) with errors that name the key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "weakdistill/core/error.h"

namespace weakdistill {

// Reads typed fields of a JSON object into an options struct; unknown keys are
// errors. `context` prefixes every message (e.g. "student").
//
//   OptionReader r(j, "student");
//   r.get("epochs", opts.epochs);   // left at its default when absent
//   r.finish();                     // throws InputError on a key no get() asked for
class OptionReader {
 public:
  OptionReader(const nlohmann::json& object, std::string context);

  // True when the object has `key` (and marks it as known).
  bool has(const char* key) {
    seen_.insert(key);
    return object_.contains(key);
  }
  template <typename T>
  void get(const char* key, T& field) {
    seen_.insert(key);
    const auto it = object_.find(key);
    if (it == object_.end()) return;
    read(*it, key, field);
  }
  // Throws InputError naming every key that was not read.
  void finish() const;
  const std::string& context() const { return context_; }
  // Throws InputError "<context>.<key>: <message>" (for checks of a value's range).
  [[noreturn]] void fail(const char* key, const std::string& message) const;

 private:
  void read(const nlohmann::json& v, const char* key, bool& out) const;
  void read(const nlohmann::json& v, const char* key, int& out) const;
  void read(const nlohmann::json& v, const char* key, std::int64_t& out) const;
  // Also std::size_t, which is std::uint64_t on the 64-bit platforms we build for.
  void read(const nlohmann::json& v, const char* key, std::uint64_t& out) const;
  void read(const nlohmann::json& v, const char* key, double& out) const;
  void read(const nlohmann::json& v, const char* key, std::string& out) const;
  void read(const nlohmann::json& v, const char* key, std::vector<int>& out) const;
  // A string or a non-empty list of strings (a single string becomes a list of one).
  void read(const nlohmann::json& v, const char* key, std::vector<std::string>& out) const;

  nlohmann::json object_;
  std::string context_;
  std::set<std::string> seen_;
};

// Parses `key=value` assignments (`--set`) into a JSON object. Dotted keys
// nest ("student.epochs=5" -> {"student": {"epochs": 5}}); values are read as
// JSON when they parse as JSON (numbers, true/false, [1,2]) and as strings
// otherwise. Throws UsageError on an item without '=' or not valid UTF-8.
nlohmann::json parse_assignments(const std::vector<std::string>& items);

// Merges `patch` into `target` recursively (objects merge, anything else replaces).
void merge_into(nlohmann::json& target, const nlohmann::json& patch);

}  // namespace weakdistill
