// weakdistill eval: scores predictions against gold with the paper's metrics.
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/eval/evaluate.h"

namespace weakdistill::cli {
namespace {

struct EvalArgs {
  std::string task;
  std::string gold;
  std::string pred;
  bool json = false;
  std::string per_sample;
};

void run_eval(const EvalArgs& a) {
  const Task task = parse_task(a.task);
  const Dataset gold = read_jsonl(a.gold, task);
  ReadOptions pred_options;
  pred_options.prediction = true;
  const Dataset pred = read_jsonl(a.pred, task, pred_options);
  const eval::Evaluation ev = eval::evaluate(gold, pred);
  if (!a.per_sample.empty()) {
    AtomicFile out(a.per_sample);
    for (std::size_t i = 0; i < ev.per_sample.size(); ++i) {
      out.stream() << nlohmann::ordered_json{{"index", i}, {"score", ev.per_sample[i]}}.dump()
                   << '\n';
    }
    out.commit();
  }
  if (a.json) {
    std::cout << ev.metrics.dump() << '\n';
  } else {
    std::cout << eval::format_table(ev.metrics);
  }
}

}  // namespace

void add_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Score predictions against gold labels");
  cmd->add_option("--task", args->task, "classification, ner or summarization")
      ->required()
      ->check(CLI::IsMember({"classification", "ner", "summarization", "cls", "sum"}));
  cmd->add_option("--gold", args->gold, "Gold JSONL file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--pred", args->pred,
                  "Predictions JSONL file (same shape; paired by id when "
                  "every line of both has one, else by line)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", args->json, "Print exactly one JSON object instead of a table");
  cmd->add_option("--per-sample", args->per_sample,
                  "Write {\"index\": i, \"score\": h} per gold sample to this JSONL file");
  cmd->footer(
      "Metrics: classification accuracy, macro-F1, per label; ner micro P/R/F1 over exact\n"
      "(start, end, type) matches, per type; summarization ROUGE-1/2/L (F1 averaged over pairs)\n"
      "and corpus BLEU-4, on characters with whitespace removed. See docs/FORMATS.md.\n\n"
      "Example:\n"
      "  weakdistill eval --task ner --gold data/ner/test.jsonl --pred pred.jsonl --json\n");
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace weakdistill::cli
