// The metrics a task is judged by, as the paper's figures plot them: where each sits in an
// evaluation object (`weakdistill eval --json`), its column name and its label. One table for
// the loop's log, the report, `plot` and `compare`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "weakdistill/core/sample.h"

namespace weakdistill::eval {

struct MetricField {
  const char* column;   // CSV column and --metric name: "accuracy", "rougeL_f1"
  const char* label;    // for people: "ROUGE-L F1"
  const char* pointer;  // JSON pointer into the evaluation object: "/rougeL/f1"
};

// classification: accuracy, macro_f1; ner: precision, recall, f1; summarization: rouge1_f1,
// rouge2_f1, rougeL_f1, bleu4.
const std::vector<MetricField>& metric_fields(Task task);

// The one metric the loop selects rounds by (accuracy, f1, rougeL_f1): the first of the
// classification list, the last of ner's (F1), ROUGE-L for summarization.
const MetricField& headline_field(Task task);

// The field named `column` for `task`; throws InputError listing the task's names otherwise.
const MetricField& find_metric_field(Task task, const std::string& column);

// The value at the field's pointer, or NaN when the object lacks it.
double metric_value(const nlohmann::json& evaluation, const MetricField& field);
double metric_value(const nlohmann::ordered_json& evaluation, const MetricField& field);

}  // namespace weakdistill::eval
