// weakdistill run: the whole distillation loop (docs/RUN.md).
#include "weakdistill/distill/run.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "interrupt.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/yaml.h"
#include "weakdistill/distill/config.h"
#include "weakdistill/distill/estimate.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill::cli {
namespace {

// The run stopped at teacher.budget: resumable once the budget is raised (docs/RUN.md).
constexpr int kBudgetExitCode = 3;
// teacher.mode files: the round's requests wait for an offline runner (docs/SCALING.md).
constexpr int kResultsPendingExitCode = 4;

struct RunArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string run_dir;
  std::string resume;
  bool estimate = false;
};

int run(const RunArgs& a) {
  RunConfig config;
  RunOptions options;
  if (!a.resume.empty()) {
    if (!a.config.empty()) {
      throw UsageError("--resume continues a run with its own config.yaml; give no CONFIG");
    }
    // Only the stopping rules may change: anything else would make the resumed
    // run differ from the run it continues.
    for (const auto& s : a.sets) {
      if (s.rfind("distill.max_rounds=", 0) != 0 && s.rfind("distill.patience=", 0) != 0 &&
          s.rfind("teacher.budget.", 0) != 0) {
        throw UsageError(
            "with --resume, --set may only change distill.max_rounds, distill.patience or "
            "teacher.budget.* (got " +
            s + ")");
      }
    }
    const std::string path = (std::filesystem::path(a.resume) / "config.yaml").string();
    if (!std::filesystem::is_regular_file(path)) {
      throw InputError(a.resume + ": not a run folder (no config.yaml)");
    }
    // A run started before distill.weakness existed measured weakness in sample: it goes on so.
    std::vector<std::string> sets = a.sets;
    const nlohmann::json started = read_yaml_file(path);
    if (!started.contains("distill") || !started["distill"].is_object() ||
        !started["distill"].contains("weakness")) {
      sets.insert(sets.begin(), "distill.weakness=in_sample");
    }
    config = load_run_config(path, sets);
    if (!a.sets.empty() && !a.estimate) write_file_atomically(path, to_yaml(config.resolved));
    options.run_dir = a.resume;
    options.resume = true;
  } else {
    if (a.config.empty()) throw UsageError("give a CONFIG file, or --resume RUN_DIR");
    config = load_run_config(a.config, a.sets);
    options.run_dir = !a.run_dir.empty() ? a.run_dir
                      : !config.run_dir.empty()
                          ? config.run_dir
                          : "runs/" + std::filesystem::path(a.config).stem().string();
  }
  config.resolved["run_dir"] = options.run_dir;  // where this run really is
  if (a.estimate) {
    std::cout << format_estimate(estimate_teacher_spend(config, options));
    return 0;
  }
  options.cancel = install_interrupt_handler();
  try {
    const auto metrics = run_distillation(config, options);
    std::cout << options.run_dir << "/metrics.json\n";
    if (metrics.value("stop_reason", "") == "budget") {
      spdlog::warn(
          "stopped at the teacher budget: {}; raise it and continue with: weakdistill run "
          "--resume {} --set teacher.budget.<max_requests|max_tokens|max_cost>=<more>",
          metrics.value("budget_reached", ""), options.run_dir);
      return kBudgetExitCode;
    }
  } catch (const RunInterrupted& e) {
    spdlog::warn("{} ({})", e.what(), interrupting_signal_name());
    return interrupted_exit_code();
  } catch (const TeacherResultsPending& e) {
    spdlog::warn("{}; then continue with: weakdistill run --resume {}", e.what(), options.run_dir);
    return kResultsPendingExitCode;
  }
  return 0;
}

}  // namespace

void add_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run the weakness-enhanced distillation loop");
  cmd->add_option("config", args->config, "Run config (YAML; docs/CONFIG.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "Override a config key: key=value (repeatable)");
  cmd->add_option("--run-dir", args->run_dir,
                  "Run folder (default: the config's run_dir, else runs/<config name>)");
  cmd->add_option("--resume", args->resume,
                  "Continue the run in this folder from its last completed round")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--estimate", args->estimate,
                "Print what the run would ask of the teacher (requests, prompt and completion "
                "sizes, cost) as low / expected / high, and exit: nothing is sent, no folder made");
  cmd->footer(
      "Prints the path of the run's metrics.json on stdout; progress and a line per round on\n"
      "stderr. Ctrl-C or SIGTERM stops at a safe point (exit 130 or 143); --resume continues,\n"
      "asking the teacher nothing it already answered. A run that reached teacher.budget exits 3;\n"
      "raise it and continue: --resume DIR --set teacher.budget.max_cost=...\n"
      "With teacher.mode files a round writes its requests and exits 4: run them offline, put\n"
      "the results where the message says, and continue with --resume DIR.\n"
      "Example:\n"
      "  weakdistill run examples/cls-offline.yaml\n"
      "  weakdistill run examples/cls-offline.yaml --set distill.tau=1 --run-dir runs/tau1\n"
      "  weakdistill run --resume runs/cls-offline\n");
  cmd->callback([args] {
    const int code = run(*args);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace weakdistill::cli
