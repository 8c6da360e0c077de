// weakdistill data sample: draws a few-shot set and keeps the remainder.
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "weakdistill/core/dataset.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"

namespace weakdistill::cli {
namespace {

struct SampleArgs {
  std::string task;
  std::size_t per_label = 0;
  std::size_t n = 0;
  std::uint64_t seed = 0;
  std::string input;
  std::string output;
  std::string rest;
};

void run_sample(const SampleArgs& a, bool per_label_given, bool n_given) {
  const Task task = parse_task(a.task);
  if (per_label_given == n_given) throw UsageError("give exactly one of --per-label and --n");
  if (per_label_given && task != Task::kClassification) {
    throw UsageError("--per-label is for classification; use --n for " +
                     std::string(task_name(task)));
  }
  const Dataset ds = read_jsonl(a.input, task);
  Split split;
  try {
    split = per_label_given ? sample_per_label(ds.samples, a.per_label, a.seed)
                            : sample_n(ds.samples.size(), a.n, a.seed);
  } catch (const InputError& e) {
    throw InputError(a.input + ": " + e.what());
  }
  // Write the remainder first so that OUT never exists without its REST.
  if (!a.rest.empty()) write_jsonl(a.rest, select(ds.samples, split.rest), task);
  write_jsonl(a.output, select(ds.samples, split.chosen), task);
  spdlog::info("wrote {} samples to {}{}", split.chosen.size(), a.output,
               a.rest.empty() ? "" : ", " + std::to_string(split.rest.size()) + " to " + a.rest);
}

}  // namespace

void add_data_sample(CLI::App& data) {
  auto args = std::make_shared<SampleArgs>();
  CLI::App* cmd = data.add_subcommand("sample", "Draw a few-shot set (and keep the remainder)");
  cmd->add_option("--task", args->task, "classification, ner or summarization")
      ->required()
      ->check(CLI::IsMember({"classification", "ner", "summarization", "cls", "sum"}));
  auto* per_label =
      cmd->add_option("--per-label", args->per_label, "Samples per label (classification)")
          ->check(CLI::PositiveNumber);
  auto* n = cmd->add_option("--n", args->n, "Samples in all, drawn uniformly")
                ->check(CLI::PositiveNumber);
  per_label->excludes(n);
  cmd->add_option("--seed", args->seed, "Random seed; a seed names one split on every machine")
      ->capture_default_str();
  cmd->add_option("IN", args->input, "Input JSONL file")->required()->check(CLI::ExistingFile);
  cmd->add_option("OUT", args->output, "The drawn samples, in input order")->required();
  cmd->add_option("--rest", args->rest, "Write the samples not drawn here, in input order");
  cmd->footer(
      "Example:\n"
      "  weakdistill data sample --task classification --per-label 20 --seed 1 \\\n"
      "      data/cls/train.jsonl few.jsonl --rest pool.jsonl\n");
  cmd->callback(
      [args, per_label, n] { run_sample(*args, per_label->count() > 0, n->count() > 0); });
}

}  // namespace weakdistill::cli
