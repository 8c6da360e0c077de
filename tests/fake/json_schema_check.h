// The JSON Schema subset that structured-output engines accept in common (vLLM's
// grammar backends, llama.cpp's schema-to-grammar converter, OpenAI's strict mode):
// a flat schema (no references) whose root is an object, built from these keywords only:
//   type (one of, or an array of: object, array, string, integer, number, boolean, null),
//   properties, required, additionalProperties (a boolean), items (one schema),
//   minItems, maxItems, enum, const, description, title, minLength, maxLength.
// The fake server uses it to refuse what a real server would refuse, and to check that a
// scripted reply fits the schema a client sent.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace weakdistill::testing {

// Why a grammar engine would refuse `schema`, as "what at /schema/pointer" (the root is
// written "/"), or nullopt when it is accepted. With `strict` (OpenAI's "strict": true)
// every object schema must also have "additionalProperties": false and list each key of
// its "properties" in "required" (and nothing else there).
std::optional<std::string> schema_problem(const nlohmann::json& schema, bool strict);

// The first place `value` breaks `schema`, as "/json/pointer: what" (a pointer into
// `value`; the root is written "/"), or nullopt when it fits. Checks the keywords above
// with JSON Schema's meaning (an integral float counts as an integer, lengths count code
// points) and ignores any other keyword, so a schema that schema_problem refuses is still
// checked as far as its supported keywords go.
std::optional<std::string> schema_violation(const nlohmann::json& schema,
                                            const nlohmann::json& value);

}  // namespace weakdistill::testing
