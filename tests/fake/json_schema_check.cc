#include "fake/json_schema_check.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <set>
#include <string_view>

namespace weakdistill::testing {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 7> kTypes = {"object", "array",   "string", "integer",
                                                    "number", "boolean", "null"};
constexpr std::array<std::string_view, 13> kKeywords = {
    "type",     "properties", "required", "additionalProperties", "items", "minItems",
    "maxItems", "enum",       "const",    "description",          "title", "minLength",
    "maxLength"};
constexpr std::array<std::string_view, 3> kReferences = {"$ref", "$defs", "definitions"};
// Keywords whose values are data, not schemas: a "$ref" key inside them is not a reference.
constexpr std::array<std::string_view, 4> kDataKeywords = {"enum", "const", "default", "examples"};

template <std::size_t N>
bool among(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// One RFC 6901 reference token.
std::string pointer_token(std::string_view key) {
  std::string out;
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string child(const std::string& at, std::string_view key) {
  return at + "/" + pointer_token(key);
}

// The empty pointer (the whole document) would vanish in a message, so the root shows as "/".
std::string shown(const std::string& at) { return at.empty() ? "/" : at; }

std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// A value as a message shows it: its JSON, cut (on a code-point boundary) when long.
std::string brief(const json& value) {
  constexpr std::size_t kMax = 60;
  std::string text = value.dump();
  if (text.size() <= kMax) return text;
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

bool is_count(const json& value) {
  return value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0);
}

bool type_names(const json& type, std::string_view name) {
  if (type.is_string()) return type.get_ref<const std::string&>() == name;
  if (type.is_array()) {
    return std::any_of(type.begin(), type.end(), [&](const json& t) {
      return t.is_string() && t.get_ref<const std::string&>() == name;
    });
  }
  return false;
}

bool is_object_schema(const json& schema) {
  return (schema.contains("type") && type_names(schema["type"], "object")) ||
         schema.contains("properties");
}

// The first reference keyword anywhere in the schema document, as "$ref at /pointer".
std::optional<std::string> find_reference(const json& node, const std::string& at,
                                          bool keys_are_names) {
  if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto found = find_reference(node[i], child(at, std::to_string(i)), false)) return found;
    }
    return std::nullopt;
  }
  if (!node.is_object()) return std::nullopt;
  for (const auto& item : node.items()) {
    // Under "properties" the keys are property names: a property may be called "$ref".
    if (!keys_are_names && among(kReferences, item.key())) return item.key() + " at " + shown(at);
  }
  for (const auto& [key, value] : node.items()) {
    if (!keys_are_names && among(kDataKeywords, key)) continue;
    const bool names = !keys_are_names && key == "properties";
    if (auto found = find_reference(value, child(at, key), names)) return found;
  }
  return std::nullopt;
}

std::optional<std::string> node_problem(const json& schema, const std::string& at, bool strict) {
  if (!schema.is_object()) {
    return "a schema must be a JSON object, got " + brief(schema) + " at " + shown(at);
  }
  for (const auto& item : schema.items()) {
    if (!among(kKeywords, item.key())) {
      return "unsupported keyword " + item.key() + " at " + shown(at);
    }
  }
  if (schema.contains("type")) {
    const json& type = schema["type"];
    auto known = [](const json& t) {
      return t.is_string() && among(kTypes, t.get_ref<const std::string&>());
    };
    if (type.is_array()) {
      if (type.empty()) return "type must not be an empty array at " + shown(at);
      std::set<std::string> seen;
      for (const json& t : type) {
        if (!known(t)) return "unsupported type " + brief(t) + " at " + shown(at);
        if (!seen.insert(t.get<std::string>()).second) {
          return "type " + brief(t) + " repeated at " + shown(at);
        }
      }
    } else if (!known(type)) {
      return "unsupported type " + brief(type) + " at " + shown(at);
    }
  }
  for (const char* key : {"minItems", "maxItems", "minLength", "maxLength"}) {
    if (schema.contains(key) && !is_count(schema[key])) {
      return std::string(key) + " must be a non-negative integer at " + shown(at);
    }
  }
  for (const auto& [low, high] :
       {std::pair("minItems", "maxItems"), std::pair("minLength", "maxLength")}) {
    if (schema.contains(low) && schema.contains(high) &&
        schema[low].get<uint64_t>() > schema[high].get<uint64_t>()) {
      return std::string(low) + " exceeds " + high + " at " + shown(at);
    }
  }
  for (const char* key : {"description", "title"}) {
    if (schema.contains(key) && !schema[key].is_string()) {
      return std::string(key) + " must be a string at " + shown(at);
    }
  }
  if (schema.contains("enum") && (!schema["enum"].is_array() || schema["enum"].empty())) {
    return "enum must be a non-empty array at " + shown(at);
  }
  if (schema.contains("additionalProperties") && !schema["additionalProperties"].is_boolean()) {
    return "additionalProperties must be true or false (a schema there is not supported) at " +
           shown(at);
  }
  std::set<std::string> required;
  if (schema.contains("required")) {
    const json& names = schema["required"];
    if (!names.is_array()) return "required must be an array of strings at " + shown(at);
    for (const json& name : names) {
      if (!name.is_string()) return "required must be an array of strings at " + shown(at);
      if (!required.insert(name.get<std::string>()).second) {
        return "required names " + brief(name) + " twice at " + shown(at);
      }
    }
  }
  if (schema.contains("properties")) {
    const json& properties = schema["properties"];
    if (!properties.is_object()) return "properties must be an object at " + shown(at);
    for (const auto& [name, property] : properties.items()) {
      if (auto problem = node_problem(property, child(child(at, "properties"), name), strict)) {
        return problem;
      }
    }
  }
  if (schema.contains("items")) {
    if (!schema["items"].is_object()) {
      return "items must be one schema object (tuple forms are not supported) at " + shown(at);
    }
    if (auto problem = node_problem(schema["items"], child(at, "items"), strict)) return problem;
  }
  if (strict && is_object_schema(schema)) {
    // OpenAI's strict mode: no open objects, and every property always present.
    if (!schema.contains("additionalProperties") || schema["additionalProperties"] != false) {
      return "strict mode needs \"additionalProperties\": false at " + shown(at);
    }
    const json properties = schema.contains("properties") ? schema["properties"] : json::object();
    for (const auto& [name, property] : properties.items()) {
      if (required.count(name) == 0) {
        return "strict mode needs every property in required, and \"" + name +
               "\" is missing from required at " + shown(at);
      }
    }
    for (const std::string& name : required) {
      if (!properties.contains(name)) {
        return "required names \"" + name + "\", which is not in properties, at " + shown(at);
      }
    }
  }
  return std::nullopt;
}

bool is_integral(const json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  const double x = value.get<double>();
  return std::isfinite(x) && std::floor(x) == x;
}

bool has_type(const json& value, std::string_view type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return is_integral(value);
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  return false;
}

const char* type_of(const json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "boolean";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  return "null";
}

std::optional<std::string> violation_at(const json& schema, const json& value,
                                        const std::string& at) {
  // JSON Schema's boolean schemas: true accepts anything, false nothing.
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return std::nullopt;
    return shown(at) + ": no value is allowed here (the schema is false)";
  }
  if (!schema.is_object()) return std::nullopt;
  if (schema.contains("type")) {
    const json& type = schema["type"];
    bool fits = false;
    if (type.is_string()) {
      fits = has_type(value, type.get_ref<const std::string&>());
    } else if (type.is_array()) {
      fits = std::any_of(type.begin(), type.end(), [&](const json& t) {
        return t.is_string() && has_type(value, t.get_ref<const std::string&>());
      });
    } else {
      fits = true;  // not a type this subset knows; schema_problem reports it
    }
    if (!fits) {
      return shown(at) + ": expected " +
             (type.is_string() ? type.get<std::string>() : type.dump()) + ", got " +
             type_of(value) + " " + brief(value);
    }
  }
  if (schema.contains("enum") && schema["enum"].is_array()) {
    const json& options = schema["enum"];
    if (std::find(options.begin(), options.end(), value) == options.end()) {
      return shown(at) + ": " + brief(value) + " is not one of " + brief(options);
    }
  }
  if (schema.contains("const") && schema["const"] != value) {
    return shown(at) + ": expected the constant " + brief(schema["const"]) + ", got " +
           brief(value);
  }
  if (value.is_object()) {
    if (schema.contains("required") && schema["required"].is_array()) {
      for (const json& name : schema["required"]) {
        if (name.is_string() && !value.contains(name.get<std::string>())) {
          return shown(at) + ": missing required property " + name.dump();
        }
      }
    }
    const json properties = schema.contains("properties") && schema["properties"].is_object()
                                ? schema["properties"]
                                : json::object();
    const bool closed =
        schema.contains("additionalProperties") && schema["additionalProperties"] == false;
    for (const auto& [key, member] : value.items()) {
      if (properties.contains(key)) {
        if (auto found = violation_at(properties[key], member, child(at, key))) return found;
      } else if (closed) {
        return child(at, key) + ": property not allowed (additionalProperties is false)";
      }
    }
  }
  if (value.is_array()) {
    if (schema.contains("minItems") && is_count(schema["minItems"]) &&
        value.size() < schema["minItems"].get<uint64_t>()) {
      return shown(at) + ": " + std::to_string(value.size()) + " items, fewer than minItems " +
             schema["minItems"].dump();
    }
    if (schema.contains("maxItems") && is_count(schema["maxItems"]) &&
        value.size() > schema["maxItems"].get<uint64_t>()) {
      return shown(at) + ": " + std::to_string(value.size()) + " items, more than maxItems " +
             schema["maxItems"].dump();
    }
    if (schema.contains("items")) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (auto found = violation_at(schema["items"], value[i], child(at, std::to_string(i)))) {
          return found;
        }
      }
    }
  }
  if (value.is_string()) {
    const std::size_t length = code_points(value.get_ref<const std::string&>());
    if (schema.contains("minLength") && is_count(schema["minLength"]) &&
        length < schema["minLength"].get<uint64_t>()) {
      return shown(at) + ": " + std::to_string(length) + " characters, fewer than minLength " +
             schema["minLength"].dump();
    }
    if (schema.contains("maxLength") && is_count(schema["maxLength"]) &&
        length > schema["maxLength"].get<uint64_t>()) {
      return shown(at) + ": " + std::to_string(length) + " characters, more than maxLength " +
             schema["maxLength"].dump();
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> schema_problem(const nlohmann::json& schema, bool strict) {
  if (!schema.is_object()) return "the schema must be a JSON object, got " + brief(schema);
  if (auto reference = find_reference(schema, "", false)) {
    return "references are not supported (the schema must be flat): " + *reference;
  }
  if (!schema.contains("type") || schema["type"] != "object") {
    return "the root schema must have \"type\": \"object\" at /";
  }
  return node_problem(schema, "", strict);
}

std::optional<std::string> schema_violation(const nlohmann::json& schema,
                                            const nlohmann::json& value) {
  return violation_at(schema, value, "");
}

}  // namespace weakdistill::testing
