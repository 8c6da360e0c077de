// weakdistill report: a run folder's self-contained HTML report and metrics.csv.
#include "weakdistill/report/report.h"

#include <iostream>
#include <memory>

#include "commands.h"

namespace weakdistill::cli {

void add_report(CLI::App& app) {
  auto args = std::make_shared<report::ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Write a run folder's HTML report (self-contained, charts inline) and metrics.csv");
  cmd->add_option("RUN_DIR", args->run_dir, "The run folder (from weakdistill run)")->required();
  cmd->add_option("--out", args->out, "The HTML file (default RUN_DIR/report.html)");
  cmd->add_option("--samples", args->samples_per_round,
                  "Accepted and rejected examples shown per round")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->footer(
      "Example:\n"
      "  weakdistill report runs/cls-1 --out cls-1.html\n"
      "Prints the HTML path; metrics.csv (one row per round) goes to RUN_DIR.");
  cmd->callback([args] {
    const report::ReportFiles files = report::write_report(*args);
    std::cout << files.html << '\n';
  });
}

}  // namespace weakdistill::cli
