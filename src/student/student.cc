#include "weakdistill/student/student.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "kinds_internal.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/eval/evaluate.h"

namespace weakdistill {
namespace fs = std::filesystem;

namespace {

using Maker = std::unique_ptr<Student> (*)(Task, std::string_view, const nlohmann::json&);

struct KindEntry {
  Task task;
  const char* kind;
  Maker make;
};

template <std::unique_ptr<Student> (*F)(const nlohmann::json&)>
std::unique_ptr<Student> plain(Task, std::string_view, const nlohmann::json& options) {
  return F(options);
}

// Every student kind, per task; the first of a task is its default.
const std::vector<KindEntry>& registry() {
  static const std::vector<KindEntry> kinds = {
      {Task::kClassification, "fasttext", &plain<&student_internal::make_fasttext>},
      {Task::kClassification, "textcnn", &student_internal::make_neural},
      {Task::kClassification, "bert-cls", &student_internal::make_neural},
      {Task::kSummarization, "pointer-generator", &student_internal::make_neural},
      {Task::kSummarization, "lead", &plain<&student_internal::make_lead>},
      {Task::kSummarization, "seq2seq", &student_internal::make_neural},
      {Task::kNer, "bigru-crf", &student_internal::make_neural},
      {Task::kNer, "bert-ner", &student_internal::make_neural},
      {Task::kNer, "uie", &student_internal::make_neural},
      {Task::kClassification, "command", &student_internal::make_command},
      {Task::kNer, "command", &student_internal::make_command},
      {Task::kSummarization, "command", &student_internal::make_command},
  };
  return kinds;
}

}  // namespace

namespace student_internal {

CommonOptions read_common(OptionReader& reader) {
  CommonOptions c;
  reader.get("seed", c.seed);
  reader.get("threads", c.threads);
  if (c.threads < 0) throw InputError(reader.context() + ".threads: must be 0 (all cores) or more");
  return c;
}

std::set<std::string> training_labels(const std::vector<Sample>& train, std::string_view kind) {
  const std::string k(kind);
  if (train.empty()) throw InputError(k + ": no training samples");
  std::set<std::string> names;
  for (std::size_t i = 0; i < train.size(); ++i) {
    if (train[i].label.empty()) {
      throw InputError(k + ": training sample " + std::to_string(i + 1) + " has no label");
    }
    names.insert(train[i].label);
  }
  if (names.size() < 2) {
    throw InputError(k + ": every training sample has the label '" + *names.begin() +
                     "'; a classifier needs samples of at least two labels");
  }
  return names;
}

std::pair<double, std::string> dev_metric(Task task, const std::vector<Sample>& gold,
                                          const std::vector<Prediction>& predictions) {
  Dataset g, p;
  g.task = p.task = task;
  g.path = "dev";
  p.path = "predictions";
  g.samples = gold;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    Sample s;
    s.label = predictions[i].label;
    s.entities = predictions[i].entities;
    s.summary = predictions[i].summary;
    p.samples.push_back(std::move(s));
  }
  const auto m = eval::evaluate(g, p).metrics;
  switch (task) {
    case Task::kClassification:
      return {m.at("accuracy").get<double>(), "accuracy"};
    case Task::kNer:
      return {m.at("f1").get<double>(), "f1"};
    case Task::kSummarization:
      return {m.at("rougeL").at("f1").get<double>(), "rougeL"};
  }
  return {0, ""};
}

}  // namespace student_internal

std::vector<Prediction> predict_in_batches(Student& student, const std::vector<Sample>& inputs,
                                           const std::string& label, std::size_t batch) {
  if (batch == 0) throw std::invalid_argument("predict_in_batches: batch must be 1 or more");
  std::vector<Prediction> out;
  out.reserve(inputs.size());
  Progress progress(label, inputs.size(), "samples");
  progress.quiet_when_quick();
  for (std::size_t start = 0; start < inputs.size(); start += batch) {
    const std::size_t end = std::min(inputs.size(), start + batch);
    const std::vector<Sample> part(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                                   inputs.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<Prediction> predicted = student.predict(part);
    if (predicted.size() != part.size()) {
      throw std::logic_error(fmt::format("{} student returned {} predictions for {} inputs",
                                         student.kind(), predicted.size(), part.size()));
    }
    for (Prediction& p : predicted) out.push_back(std::move(p));
    progress.advance(part.size());
  }
  progress.finish();
  return out;
}

nlohmann::ordered_json prediction_json(const Sample& input, const Prediction& p, Task task) {
  Sample s;
  s.id = input.id;
  s.text = input.text;
  s.label = p.label;
  s.entities = p.entities;
  s.summary = p.summary;
  nlohmann::ordered_json j = to_json(s, task);
  if (task == Task::kClassification) {
    j["scores"] = p.label_probs;
  } else {
    j["scores"] = {{"log_prob", p.log_prob}};
  }
  return j;
}

std::vector<std::string> student_kinds(Task task) {
  std::vector<std::string> kinds;
  for (const auto& e : registry()) {
    if (e.task == task) kinds.emplace_back(e.kind);
  }
  return kinds;
}

std::unique_ptr<Student> make_student(Task task, std::string_view kind,
                                      const nlohmann::json& options) {
  for (const auto& e : registry()) {
    if (e.task == task && kind == e.kind) return e.make(task, kind, options);
  }
  std::string known;
  for (const auto& k : student_kinds(task)) known += (known.empty() ? "" : ", ") + k;
  throw UsageError("unknown student kind '" + std::string(kind) + "' for " +
                   std::string(task_name(task)) + " (available: " + known + ")");
}

void save_student(const Student& student, const std::string& dir) {
  build_folder_atomically(dir, [&](const std::string& tmp) {
    student.save_files(tmp);
    nlohmann::ordered_json manifest = {
        {"format_version", kModelFormatVersion},
        {"kind", std::string(student.kind())},
        {"task", std::string(task_name(student.task()))},
        {"weakdistill_version", WEAKDISTILL_VERSION},
        {"options", student.options()},
    };
    write_file_atomically(tmp + "/model.json", manifest.dump(2) + "\n");
  });
}

void Student::export_files(std::string_view format, const std::string&) const {
  throw UsageError(
      "export: a " + std::string(kind()) + " student has no " + std::string(format) +
      " form (it exists only as weakdistill's model folder, read by `predict`, " +
      "`serve` and the C++ library); kinds with one: fasttext, bert-cls, bert-ner, seq2seq");
}

std::unique_ptr<Student> load_student(const std::string& dir, std::string_view expect_kind,
                                      std::optional<Task> expect_task,
                                      const nlohmann::json& overrides) {
  const fs::path manifest_path = fs::path(dir) / "model.json";
  std::ifstream in(manifest_path);
  if (!in) {
    throw InputError(dir + ": not a weakdistill model folder (no model.json)");
  }
  nlohmann::json m = nlohmann::json::parse(in, nullptr, false);
  if (m.is_discarded() || !m.is_object()) {
    throw InputError(manifest_path.string() + ": not valid JSON");
  }
  if (!m.contains("format_version") || !m["format_version"].is_number_integer()) {
    throw InputError(manifest_path.string() + ": no format_version");
  }
  const int version = m["format_version"].get<int>();
  if (version != kModelFormatVersion) {
    throw InputError(dir + ": model format version " + std::to_string(version) +
                     ", but this weakdistill reads version " + std::to_string(kModelFormatVersion) +
                     "; retrain the model with this version");
  }
  if (!m.contains("kind") || !m["kind"].is_string() || !m.contains("task") ||
      !m["task"].is_string()) {
    throw InputError(manifest_path.string() + ": missing kind or task");
  }
  const std::string kind = m["kind"];
  Task task;
  try {
    task = parse_task(m["task"].get<std::string>());
  } catch (const UsageError& e) {
    throw InputError(manifest_path.string() + ": " + e.what());
  }
  if (!expect_kind.empty() && kind != expect_kind) {
    throw InputError(dir + ": holds a '" + kind + "' student, not '" + std::string(expect_kind) +
                     "'");
  }
  if (expect_task && task != *expect_task) {
    throw InputError(dir + ": holds a " + std::string(task_name(task)) + " model, not " +
                     std::string(task_name(*expect_task)));
  }
  std::unique_ptr<Student> student;
  try {
    nlohmann::json options = m.value("options", nlohmann::json::object());
    if (!overrides.empty()) options.merge_patch(overrides);
    student = make_student(task, kind, options);
  } catch (const UsageError& e) {
    throw InputError(manifest_path.string() + ": " + e.what());
  }
  student->load_files(dir);
  return student;
}

}  // namespace weakdistill
