// weakdistill predict: runs a saved student over a JSONL file.
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/student/student.h"

namespace weakdistill::cli {
namespace {

struct PredictArgs {
  std::string model;
  std::string input;
  std::string output;
  std::size_t batch = kPredictBatch;
};

void run_predict(const PredictArgs& a) {
  auto student = load_student(a.model);
  ReadOptions options;
  options.unlabeled = true;
  const Dataset in = read_jsonl(a.input, student->task(), options);
  AtomicFile out(a.output);
  Progress progress("predict", in.samples.size(), "samples");
  for (std::size_t start = 0; start < in.samples.size(); start += a.batch) {
    const std::size_t end = std::min(in.samples.size(), start + a.batch);
    const std::vector<Sample> batch(in.samples.begin() + start, in.samples.begin() + end);
    const auto predictions = student->predict(batch);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      out.stream() << prediction_json(batch[i], predictions[i], student->task()).dump() << '\n';
    }
    progress.advance(batch.size());
  }
  progress.finish();
  out.commit();
  spdlog::info("wrote {} predictions to {}", in.samples.size(), a.output);
}

}  // namespace

void add_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict with a saved student");
  cmd->add_option("--model", args->model, "Model folder written by train")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--input", args->input, "JSONL file with \"text\" on every line")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", args->output, "Predictions JSONL (the task's shape plus \"scores\")")
      ->required();
  cmd->add_option("--batch-size", args->batch, "Samples per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->footer(
      "Example:\n"
      "  weakdistill predict --model models/cls --input data/cls/test.jsonl --output pred.jsonl\n"
      "  weakdistill eval --task classification --gold data/cls/test.jsonl --pred pred.jsonl\n");
  cmd->callback([args] { run_predict(*args); });
}

}  // namespace weakdistill::cli
