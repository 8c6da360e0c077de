// weakdistill plot: metric against training-set size for run folders, as one SVG file.
#include "weakdistill/report/plot.h"

#include <iostream>
#include <memory>

#include "commands.h"
#include "weakdistill/core/atomic_file.h"

namespace weakdistill::cli {
namespace {

struct PlotArgs {
  std::vector<std::string> runs;
  report::PlotOptions options;
  std::string out;
};

}  // namespace

void add_plot(CLI::App& app) {
  auto args = std::make_shared<PlotArgs>();
  CLI::App* cmd = app.add_subcommand(
      "plot", "Plot a metric against training-set size for run folders (an SVG file)");
  cmd->add_option("RUN", args->runs, "Run folders, each as DIR or LABEL=DIR")->required();
  cmd->add_option("--out", args->out, "The SVG file")->required();
  cmd->add_option("--metric", args->options.metrics,
                  "Metric to plot (repeatable; default all of the task's): accuracy, macro_f1; "
                  "precision, recall, f1; rouge1_f1, rouge2_f1, rougeL_f1, bleu4");
  cmd->add_option("--split", args->options.split,
                  "test (runs made with distill.test_each_round=on) or dev")
      ->capture_default_str()
      ->check(CLI::IsMember({"test", "dev"}));
  cmd->add_option("--title", args->options.title, "Chart title");
  cmd->footer(
      "Example:\n"
      "  weakdistill plot pool=runs/cls-pool augment=runs/cls-augment --metric accuracy \\\n"
      "      --out cls.svg\n");
  cmd->callback([args] {
    for (const std::string& r : args->runs) {
      const auto eq = r.find('=');
      args->options.runs.push_back(eq == std::string::npos
                                       ? report::PlotRun{"", r}
                                       : report::PlotRun{r.substr(0, eq), r.substr(eq + 1)});
    }
    write_file_atomically(args->out, report::plot_runs_svg(args->options));
    std::cout << args->out << '\n';
  });
}

}  // namespace weakdistill::cli
