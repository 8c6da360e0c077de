// The response_format checks: which forms a request may ask for (the 400s of a server with
// FakeServerOptions::response_formats and check_schema), the schema a request carries, and
// whether a reply's content fits it (enforce_schema).
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fake/fake_openai_internal.h"

namespace weakdistill::testing {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 3> kKnownFormats = {"text", "json_object", "json_schema"};

bool valid_schema_name(const json& name) {
  if (!name.is_string()) return false;
  const std::string& text = name.get_ref<const std::string&>();
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view strip_space(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// The JSON a reply carries: content without a leading <think>...</think> block (a reasoning
// model served without a reasoning parser) and without surrounding whitespace.
std::string_view json_part(std::string_view content) {
  content = strip_space(content);
  constexpr std::string_view kOpen = "<think>";
  constexpr std::string_view kClose = "</think>";
  if (content.substr(0, kOpen.size()) == kOpen) {
    const std::size_t close = content.find(kClose);
    if (close != std::string_view::npos) {
      content = strip_space(content.substr(close + kClose.size()));
    }
  }
  return content;
}

}  // namespace

std::optional<FormatProblem> check_response_format(const json& format,
                                                   const FakeServerOptions& options) {
  if (format.is_null()) return std::nullopt;
  auto unsupported = [](std::string message) {
    return std::optional<FormatProblem>({false, std::move(message)});
  };
  auto bad_schema = [](std::string message) {
    return std::optional<FormatProblem>({true, std::move(message)});
  };
  if (!format.is_object()) {
    return unsupported(
        "'response_format' must be an object such as {\"type\": \"json_object\"}, got " +
        format.dump());
  }
  if (!format.contains("type") || !format["type"].is_string()) {
    return unsupported(
        "'response_format.type' is required and must be a string: one of text, "
        "json_object, json_schema.");
  }
  const std::string& type = format["type"].get_ref<const std::string&>();
  const bool known =
      std::find(kKnownFormats.begin(), kKnownFormats.end(), type) != kKnownFormats.end();
  const bool accepted = std::find(options.response_formats.begin(), options.response_formats.end(),
                                  type) != options.response_formats.end();
  if (!known || !accepted) {
    return unsupported("Invalid value for 'response_format.type': '" + type + "' is not supported" +
                       (options.response_formats.empty()
                            ? std::string(" (this server takes no response_format).")
                            : " (this server takes: " + joined(options.response_formats) + ")."));
  }
  const json* schema = nullptr;
  bool strict = false;
  std::string where;
  if (type == "json_schema") {
    if (!format.contains("json_schema") || !format["json_schema"].is_object()) {
      return bad_schema(
          "'response_format.json_schema' is required for type json_schema and "
          "must be an object with a name and a schema.");
    }
    const json& spec = format["json_schema"];
    if (!spec.contains("name") || !valid_schema_name(spec["name"])) {
      return bad_schema(
          "'response_format.json_schema.name' must match ^[a-zA-Z0-9_-]{1,64}$, got " +
          (spec.contains("name") ? spec["name"].dump() : std::string("none")) + ".");
    }
    if (spec.contains("strict") && !spec["strict"].is_boolean() && !spec["strict"].is_null()) {
      return bad_schema("'response_format.json_schema.strict' must be a boolean.");
    }
    if (spec.contains("description") && !spec["description"].is_string()) {
      return bad_schema("'response_format.json_schema.description' must be a string.");
    }
    if (!spec.contains("schema") || !spec["schema"].is_object()) {
      return bad_schema(
          "'response_format.json_schema.schema' is required and must be a JSON "
          "Schema object.");
    }
    schema = &spec["schema"];
    strict = spec.contains("strict") && spec["strict"] == true;
    where = "'response_format.json_schema.schema'";
  } else if (type == "json_object" && format.contains("schema")) {
    if (!format["schema"].is_object()) {
      return bad_schema("'response_format.schema' must be a JSON Schema object.");
    }
    schema = &format["schema"];
    where = "'response_format.schema'";
  }
  if (schema != nullptr && options.check_schema) {
    if (auto problem = schema_problem(*schema, strict)) {
      return bad_schema("Invalid schema in " + where + (strict ? " (strict)" : "") + ": " +
                        *problem + ".");
    }
  }
  return std::nullopt;
}

const json* request_schema(const json& request) {
  if (!request.is_object() || !request.contains("response_format")) return nullptr;
  const json& format = request["response_format"];
  if (!format.is_object() || !format.contains("type")) return nullptr;
  if (format["type"] == "json_schema" && format.contains("json_schema") &&
      format["json_schema"].is_object() && format["json_schema"].contains("schema") &&
      format["json_schema"]["schema"].is_object()) {
    return &format["json_schema"]["schema"];
  }
  if (format["type"] == "json_object" && format.contains("schema") &&
      format["schema"].is_object()) {
    return &format["schema"];
  }
  return nullptr;
}

std::optional<std::string> content_problem(std::string_view content, const json* schema) {
  const std::string_view text = json_part(content);
  const json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    std::string shown(text.substr(0, 80));
    return "the content is not JSON: '" + shown + (text.size() > 80 ? "...'" : "'");
  }
  if (schema == nullptr) {
    if (!value.is_object()) return std::string("the content is JSON but not an object");
    return std::nullopt;
  }
  return schema_violation(*schema, value);
}

std::optional<std::string> response_format_problem(const nlohmann::json& response_format,
                                                   const FakeServerOptions& options) {
  if (auto problem = check_response_format(response_format, options)) return problem->message;
  return std::nullopt;
}

}  // namespace weakdistill::testing
