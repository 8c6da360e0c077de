// weakdistill data stats: counts, label/type distribution and lengths.
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "weakdistill/core/bio.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/stats.h"

namespace weakdistill::cli {
namespace {

struct StatsArgs {
  std::string task;
  std::string file;
  bool json = false;
};

// Guesses the task from the first line's fields when --task is not given.
Task detect_task(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) {
      if (j.contains("entities")) return Task::kNer;
      if (j.contains("summary")) return Task::kSummarization;
      if (j.contains("label")) return Task::kClassification;
    }
    break;
  }
  throw UsageError(path + ": cannot tell the task from the first line; pass --task");
}

void run_stats(const StatsArgs& a) {
  Dataset ds;
  const bool bio = a.file.size() > 4 && a.file.substr(a.file.size() - 4) == ".bio";
  if (bio) {
    ds = read_bio(a.file);
  } else {
    ds = read_jsonl(a.file, a.task.empty() ? detect_task(a.file) : parse_task(a.task));
  }
  const auto stats = dataset_stats(ds);
  if (a.json) {
    std::cout << stats.dump() << '\n';
  } else {
    std::cout << format_stats(stats);
  }
}

}  // namespace

void add_data_stats(CLI::App& data) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = data.add_subcommand("stats", "Counts, label/type distribution and lengths");
  cmd->add_option("FILE", args->file, "A JSONL file (or a .bio NER file)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--task", args->task, "Task of the file (default: guessed from its fields)")
      ->check(CLI::IsMember({"classification", "ner", "summarization", "cls", "sum"}));
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->footer("Example:\n  weakdistill data stats data/cls/train.jsonl\n");
  cmd->callback([args] { run_stats(*args); });
}

}  // namespace weakdistill::cli
