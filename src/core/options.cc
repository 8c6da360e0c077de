#include "weakdistill/core/options.h"

#include <cstdio>
#include <limits>
#include <optional>
#include <vector>

#include "weakdistill/core/utf8.h"

namespace weakdistill {

OptionReader::OptionReader(const nlohmann::json& object, std::string context)
    : object_(object.is_null() ? nlohmann::json::object() : object), context_(std::move(context)) {
  if (!object_.is_object()) throw InputError(context_ + ": expected a mapping of options");
}

void OptionReader::fail(const char* key, const std::string& message) const {
  throw InputError(context_ + "." + key + ": " + message);
}

void OptionReader::finish() const {
  std::string unknown;
  for (const auto& [key, value] : object_.items()) {
    if (!seen_.count(key)) unknown += (unknown.empty() ? "" : ", ") + key;
  }
  if (unknown.empty()) return;
  std::string known;
  for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + k;
  throw InputError(context_ + ": unknown option(s) " + unknown + " (known: " + known + ")");
}

void OptionReader::read(const nlohmann::json& v, const char* key, bool& out) const {
  // on/off as words too: configs say `verify: on`, and `--set cache=off` arrives as a string.
  if (v.is_string()) {
    const std::string w = v.get<std::string>();
    if (w == "on" || w == "true" || w == "yes") {
      out = true;
      return;
    }
    if (w == "off" || w == "false" || w == "no") {
      out = false;
      return;
    }
  }
  if (!v.is_boolean()) fail(key, "expected on/off (true/false), got " + v.dump());
  out = v.get<bool>();
}

void OptionReader::read(const nlohmann::json& v, const char* key, std::int64_t& out) const {
  if (!v.is_number_integer()) fail(key, "expected an integer, got " + v.dump());
  out = v.get<std::int64_t>();
}

void OptionReader::read(const nlohmann::json& v, const char* key, int& out) const {
  std::int64_t x;
  read(v, key, x);
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) {
    fail(key, "value " + v.dump() + " is out of range");
  }
  out = static_cast<int>(x);
}

void OptionReader::read(const nlohmann::json& v, const char* key, std::uint64_t& out) const {
  const bool non_negative =
      v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
  if (!non_negative) {
    fail(key, "expected a non-negative integer, got " + v.dump());
  }
  out = v.get<std::uint64_t>();
}

void OptionReader::read(const nlohmann::json& v, const char* key, double& out) const {
  if (!v.is_number()) fail(key, "expected a number, got " + v.dump());
  out = v.get<double>();
}

void OptionReader::read(const nlohmann::json& v, const char* key, std::string& out) const {
  if (!v.is_string()) fail(key, "expected a string, got " + v.dump());
  out = v.get<std::string>();
}

void OptionReader::read(const nlohmann::json& v, const char* key, std::vector<int>& out) const {
  if (!v.is_array()) fail(key, "expected a list of integers, got " + v.dump());
  out.clear();
  for (const auto& x : v) {
    if (!x.is_number_integer()) fail(key, "expected a list of integers, got " + v.dump());
    out.push_back(x.get<int>());
  }
}

void OptionReader::read(const nlohmann::json& v, const char* key,
                        std::vector<std::string>& out) const {
  out.clear();
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return;
  }
  if (!v.is_array() || v.empty())
    fail(key, "expected a string or a list of strings, got " + v.dump());
  for (const auto& x : v) {
    if (!x.is_string()) fail(key, "expected a string or a list of strings, got " + v.dump());
    out.push_back(x.get<std::string>());
  }
}

namespace {

// A control character that a config may not hold (utf8::find_control) in any string or key inside
// `value` (JSON escapes such as \u0001 included), found without recursion: a --set value may nest
// as deep as it likes.
std::optional<unsigned char> control_character_in(const nlohmann::json& value) {
  std::vector<const nlohmann::json*> stack{&value};
  while (!stack.empty()) {
    const nlohmann::json* v = stack.back();
    stack.pop_back();
    if (v->is_string()) {
      if (const auto c = utf8::find_control(v->get_ref<const std::string&>())) return c;
    }
    if (v->is_structured()) {
      for (auto it = v->begin(); it != v->end(); ++it) {
        if (v->is_object()) {
          if (const auto c = utf8::find_control(it.key())) return c;
        }
        stack.push_back(&*it);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json parse_assignments(const std::vector<std::string>& items) {
  nlohmann::json out = nlohmann::json::object();
  for (const std::string& item : items) {
    // As parse_yaml() does for the file: a string that is not UTF-8 would make
    // dump() throw in an error message, and to_yaml() would not write it back.
    if (const auto bad = utf8::find_invalid(item)) {
      throw UsageError("--set: item " + std::to_string(&item - items.data() + 1) +
                       " is not valid UTF-8 (byte " + std::to_string(*bad + 1) + ")");
    }
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--set " + item + ": expected key=value");
    }
    const std::string key = item.substr(0, eq);
    const std::string text = item.substr(eq + 1);
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded() || value.is_object()) value = text;
    auto control = utf8::find_control(item);
    if (!control) control = control_character_in(value);
    if (control) {
      char code[8];
      std::snprintf(code, sizeof code, "%04X", static_cast<unsigned>(*control));
      throw UsageError("--set: item " + std::to_string(&item - items.data() + 1) +
                       " holds a control character (U+" + code + "); a config holds printable text");
    }
    nlohmann::json* node = &out;
    std::size_t start = 0;
    while (true) {
      const auto dot = key.find('.', start);
      const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
      if (part.empty()) throw UsageError("--set " + item + ": empty key part");
      if (dot == std::string::npos) {
        (*node)[part] = value;
        break;
      }
      nlohmann::json& child = (*node)[part];
      if (!child.is_object()) child = nlohmann::json::object();
      node = &child;
      start = dot + 1;
    }
  }
  return out;
}

void merge_into(nlohmann::json& target, const nlohmann::json& patch) {
  if (!patch.is_object() || !target.is_object()) {
    target = patch;
    return;
  }
  for (const auto& [key, value] : patch.items()) {
    if (value.is_object() && target.contains(key) && target[key].is_object()) {
      merge_into(target[key], value);
    } else {
      target[key] = value;
    }
  }
}

}  // namespace weakdistill
