// Descriptive statistics of a dataset, for `weakdistill data stats`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "weakdistill/core/jsonl.h"

namespace weakdistill {

// {"task", "n", "text_length": {min, mean, median, max}, then by task:
//  classification "labels": {label: count} (most frequent first);
//  ner "entities", "sentences_without_entities", "types": {type: count},
//      "entity_length"; summarization "summary_length", "compression" (mean
//  summary/text length ratio)}. Lengths are in code points.
nlohmann::ordered_json dataset_stats(const Dataset& dataset);

// The statistics as text for a terminal.
std::string format_stats(const nlohmann::ordered_json& stats);

}  // namespace weakdistill
