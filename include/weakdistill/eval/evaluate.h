// Scoring a prediction file against a gold file: alignment, the task's
// metrics as JSON, the per-sample scores h(x) of SPEC.md, and a readable table.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "weakdistill/core/jsonl.h"

namespace weakdistill::eval {

struct Evaluation {
  // {"task", "n", then the task's metrics}; fractions in [0, 1].
  nlohmann::ordered_json metrics;
  // h(x) of each gold sample, in gold order.
  std::vector<double> per_sample;
};

// Pairs predictions with gold samples: by "id" when every sample of both files
// has one, else by position. Throws InputError (naming the files and the first
// offending line) on a count mismatch, an id present in one file only or twice,
// a prediction whose text differs from its gold text, or a predicted entity
// outside the gold text. Returns, for each gold sample, the index of its
// prediction.
std::vector<std::size_t> align(const Dataset& gold, const Dataset& pred);

// Aligns and scores. The datasets must be of the same task.
Evaluation evaluate(const Dataset& gold, const Dataset& pred);

// The metrics JSON as a table for a terminal.
std::string format_table(const nlohmann::ordered_json& metrics);

}  // namespace weakdistill::eval
