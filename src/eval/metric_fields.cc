#include "weakdistill/eval/metric_fields.h"

#include <cmath>

#include "weakdistill/core/error.h"

namespace weakdistill::eval {

const std::vector<MetricField>& metric_fields(Task task) {
  static const std::vector<MetricField> cls = {{"accuracy", "accuracy", "/accuracy"},
                                               {"macro_f1", "macro-F1", "/macro_f1"}};
  static const std::vector<MetricField> ner = {
      {"precision", "precision", "/precision"}, {"recall", "recall", "/recall"}, {"f1", "F1", "/f1"}};
  static const std::vector<MetricField> sum = {{"rouge1_f1", "ROUGE-1 F1", "/rouge1/f1"},
                                               {"rouge2_f1", "ROUGE-2 F1", "/rouge2/f1"},
                                               {"rougeL_f1", "ROUGE-L F1", "/rougeL/f1"},
                                               {"bleu4", "BLEU-4", "/bleu4"}};
  switch (task) {
    case Task::kClassification:
      return cls;
    case Task::kNer:
      return ner;
    case Task::kSummarization:
      return sum;
  }
  return cls;
}

const MetricField& headline_field(Task task) {
  const auto& fields = metric_fields(task);
  switch (task) {
    case Task::kClassification:
      return fields[0];
    case Task::kNer:
      return fields[2];
    case Task::kSummarization:
      return fields[2];
  }
  return fields[0];
}

const MetricField& find_metric_field(Task task, const std::string& column) {
  std::string names;
  for (const MetricField& f : metric_fields(task)) {
    if (column == f.column) return f;
    names += names.empty() ? "" : ", ";
    names += f.column;
  }
  throw InputError("unknown metric \"" + column + "\" for " + std::string(task_name(task)) +
                   " (one of: " + names + ")");
}

namespace {
template <typename Json>
double value_at(const Json& evaluation, const MetricField& field) {
  const typename Json::json_pointer p(field.pointer);
  if (!evaluation.is_object() || !evaluation.contains(p) || !evaluation.at(p).is_number()) {
    return NAN;
  }
  return evaluation.at(p).template get<double>();
}
}  // namespace

double metric_value(const nlohmann::json& evaluation, const MetricField& field) {
  return value_at(evaluation, field);
}
double metric_value(const nlohmann::ordered_json& evaluation, const MetricField& field) {
  return value_at(evaluation, field);
}

}  // namespace weakdistill::eval
