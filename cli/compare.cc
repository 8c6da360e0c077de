// weakdistill compare: human-labeled vs distilled students at an equal training-set size (the
// paper's Figure 4; docs/RUN.md).
#include "weakdistill/distill/compare.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "interrupt.h"
#include "weakdistill/distill/config.h"
#include "weakdistill/distill/run.h"
#include "weakdistill/report/report.h"

namespace weakdistill::cli {
namespace {

struct CompareArgs {
  std::string config;
  std::vector<std::string> sets;
  std::size_t size = 0;
  int seeds = 3;
  std::string out;
};

int compare(const CompareArgs& a) {
  const RunConfig config = load_run_config(a.config, a.sets);
  CompareOptions o;
  o.size = a.size;
  o.seeds = a.seeds;
  const std::string base = !config.run_dir.empty()
                               ? config.run_dir
                               : "runs/" + std::filesystem::path(a.config).stem().string();
  o.out_dir = !a.out.empty() ? a.out : fmt::format("{}-compare-{}", base, a.size);
  o.cancel = install_interrupt_handler();
  try {
    run_comparison(config, o);
  } catch (const RunInterrupted& e) {
    spdlog::warn("{} ({})", e.what(), interrupting_signal_name());
    spdlog::warn("continue with the same command: what is done is kept");
    return interrupted_exit_code();
  }
  for (int s = 1; s <= a.seeds; ++s) {
    report::ReportOptions r;
    r.run_dir = (std::filesystem::path(o.out_dir) / fmt::format("distilled-s{}", s)).string();
    report::write_report(r);
  }
  report::ReportOptions r;
  r.run_dir = o.out_dir;
  const auto files = report::write_report(r);
  std::cerr << comparison_markdown(report::read_comparison(o.out_dir));
  std::cout << files.html << '\n';
  return 0;
}

}  // namespace

void add_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Human-labeled vs distilled students at an equal training-set size");
  cmd->add_option("config", args->config, "Run config (YAML; docs/CONFIG.md)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--size", args->size, "Training-set size N of both students")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seeds", args->seeds, "Seeds 1..K (few-shot draw, loop, labeled draw)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--set", args->sets, "Override a config key: key=value (repeatable)");
  cmd->add_option("--out", args->out,
                  "Comparison folder (default: <run_dir>-compare-N, run_dir from the config)");
  cmd->footer(
      "For each seed: the loop runs until its training set holds N samples (the few labels plus\n"
      "accepted ones; every round scored on test), and the same student is trained on the same\n"
      "few labels plus N - k samples drawn at random from the human-labeled pool (data.pool, else\n"
      "the rest of data.train). Writes compare.json, compare.csv, compare.md, compare.svg and\n"
      "report.html into the folder and prints the report's path. Running the same command again\n"
      "continues an interrupted comparison.\n"
      "Example:\n"
      "  weakdistill compare examples/cls-offline.yaml --size 2000 --seeds 3\n"
      "  weakdistill compare examples/ner-offline.yaml --size 100 --set data.few_shot.n=3\n");
  cmd->callback([args] {
    const int code = compare(*args);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace weakdistill::cli
