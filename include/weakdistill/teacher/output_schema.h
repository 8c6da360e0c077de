// The JSON Schema of a teacher's reply, for servers that constrain decoding to it (OpenAI's
// structured outputs, vLLM's guided decoding, llama-server's grammars, Ollama's format).
// Flat (no $ref or $defs), every object closed (additionalProperties false) with every
// property required, as OpenAI's strict mode demands and grammar engines handle.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "weakdistill/core/sample.h"

namespace weakdistill {

// The response_format types a teacher may send, most constrained first: the order of fallback.
// "text" sends no response_format at all (plain text is every server's default, and some
// servers refuse the field outright).
inline const std::vector<std::string> kResponseFormats = {"json_schema", "json_object", "text"};

struct OutputSchemaOptions {
  // Classification: the labels "label" may take; ner: the entity types. Empty: any string.
  std::set<std::string> labels;
  // Samples a reply holds: 1 is one object with the sample's fields; above 1, a "samples"
  // array of exactly that many objects.
  int samples = 1;
  // A "reasoning" string comes first, so that the model reasons before it answers.
  bool reasoning = true;
};

// The schema (property order matters: a grammar follows it, so reasoning comes first).
// Classification {text, label ∈ labels}; ner {text, entities: [{text, type ∈ labels}]};
// summarization {text, summary}.
nlohmann::ordered_json output_schema(Task task, const OutputSchemaOptions& options);

// The request's response_format value for `type` (one of kResponseFormats), or null for
// "text": {"type": "json_schema", "json_schema": {"name", "strict": true, "schema"}} or
// {"type": "json_object"}.
nlohmann::ordered_json response_format_value(const std::string& type, Task task,
                                             const OutputSchemaOptions& options);

}  // namespace weakdistill
