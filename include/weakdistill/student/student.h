// The student: the small task model weakdistill exists to produce. Every kind
// implements this interface; make_student() and load_student() are the only
// ways to get one (docs/STUDENTS.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/core/sample.h"

namespace weakdistill {

// One prediction. The task's field is set (label / entities / summary) and its
// confidence: label probabilities for classification, the sequence
// log-probability for ner and summarization.
struct Prediction {
  std::string label;
  std::map<std::string, double> label_probs;
  std::vector<Entity> entities;
  std::string summary;
  double log_prob = 0;
};

// The JSONL object of a prediction for `input`: its id and text, the task's
// field(s), then "scores".
nlohmann::ordered_json prediction_json(const Sample& input, const Prediction& prediction,
                                       Task task);

// What a student reports after each epoch (for progress display and logs).
struct EpochReport {
  int epoch = 0;                // 1-based
  int epochs = 0;               // planned
  double train_loss = 0;        // mean over the epoch
  double dev_metric = -1;       // the task's E on dev; -1 when there is no dev set or it was not scored this epoch
  std::string dev_metric_name;  // "accuracy", "f1", "rougeL"
  double seconds = 0;
};

// Options every kind shares, read from the same mapping as the kind's own.
struct CommonOptions {
  // Seed of weight initialisation, shuffling and dropout: the same seed on one
  // thread gives the same predictions.
  std::uint64_t seed = 1;
  // Threads for training and prediction; 0 means all cores.
  int threads = 0;
};

class Student {
 public:
  virtual ~Student() = default;

  virtual Task task() const = 0;
  virtual std::string_view kind() const = 0;

  // Trains from scratch on `train` (re-initialising any earlier weights);
  // `dev`, possibly empty, is only evaluated for reports (and, where a kind
  // says so, to keep the best epoch). Throws InputError when the data cannot
  // train this kind (e.g. one label only).
  virtual void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) = 0;

  // Predicts each input (only its text is read). Requires a trained or loaded model.
  virtual std::vector<Prediction> predict(const std::vector<Sample>& inputs) = 0;

  // What the model can predict: the labels of a classifier, the entity types of a tagger (in
  // the model's order); empty for summarization and for kinds that do not know (command).
  // Empty before train() or load.
  virtual std::vector<std::string> labels() const { return {}; }

  // The kind's options, as the mapping they were read from (for the model folder).
  virtual nlohmann::json options() const = 0;

  // Writes the kind's files (weights, vocabulary) into the existing folder
  // `dir`; the manifest is written by save_student().
  virtual void save_files(const std::string& dir) const = 0;
  // Reads what save_files() wrote.
  virtual void load_files(const std::string& dir) = 0;

  // Writes the model in the foreign `format` ("hf": what Hugging Face transformers, or for
  // fasttext the fasttext library, reads) into the existing empty folder `dir`; see
  // docs/EXPORT.md. The default throws UsageError saying that the kind has no foreign format.
  virtual void export_files(std::string_view format, const std::string& dir) const;

  // Called after every epoch; the default logs nothing.
  std::function<void(const EpochReport&)> on_epoch;
};

// Inputs a predict_in_batches() call hands the student at once (`weakdistill predict --batch`'s
// default): the loop's scoring and `predict` batch alike, so they predict alike.
inline constexpr std::size_t kPredictBatch = 256;

// student.predict(inputs), in batches of `batch`, with progress on stderr labelled `label`
// ("round 3 dev") when it takes long enough to show (Progress::quiet_when_quick): a pretrained
// summarizer decoding a dev set with beam search takes minutes.
std::vector<Prediction> predict_in_batches(Student& student, const std::vector<Sample>& inputs,
                                           const std::string& label,
                                           std::size_t batch = kPredictBatch);

// The kinds a task offers, in the order `--help` lists them.
std::vector<std::string> student_kinds(Task task);

// A new, untrained student. `options` holds the kind's options and the common
// ones (seed, threads); unknown keys, wrong types and bad values throw
// InputError naming "student.<key>". An unknown kind throws UsageError listing
// the task's kinds.
std::unique_ptr<Student> make_student(Task task, std::string_view kind,
                                      const nlohmann::json& options);

// Current model-folder format; a folder of another version does not load.
inline constexpr int kModelFormatVersion = 1;

// Saves a trained student to `dir` as a self-describing folder: model.json
// (format version, kind, task, options, weakdistill version) and the kind's
// files. The folder is built beside `dir` and renamed into place, so a crash
// never leaves half a model; an existing `dir` is replaced.
void save_student(const Student& student, const std::string& dir);

// Loads a folder written by save_student(). Throws InputError naming the folder
// when model.json is missing or malformed, the format version differs, or
// (when given) the kind or task is not what the caller expects.
// `overrides` replaces saved options that do not change the model, e.g. {"threads": 4} for a
// server with other cores than the training machine.
std::unique_ptr<Student> load_student(const std::string& dir, std::string_view expect_kind = {},
                                      std::optional<Task> expect_task = std::nullopt,
                                      const nlohmann::json& overrides = nlohmann::json::object());

}  // namespace weakdistill
