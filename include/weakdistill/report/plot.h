// weakdistill plot: metric against training-set size for one or more run folders in one SVG
// file (the paper's Figures 1-3; docs/figures/ is made with it).
#pragma once

#include <string>
#include <vector>

namespace weakdistill::report {

struct PlotRun {
  std::string label;    // the legend's name ("" = the folder's name)
  std::string run_dir;  // a run folder with metrics.json
};

struct PlotOptions {
  std::vector<PlotRun> runs;
  // Metric names (eval/metric_fields.h: accuracy, f1, rougeL_f1, ...); empty = all of the task's.
  std::vector<std::string> metrics;
  // "test": each round's test figure (runs made with distill.test_each_round); "dev": dev.
  std::string split = "test";
  std::string title;  // "" = "<task>: <split> metrics against training-set size"
};

// The chart as a standalone SVG document. One series per run and metric. Throws InputError
// naming the file when a run folder is missing, the runs are of different tasks, a metric is
// unknown, or the rounds lack the split's figures.
std::string plot_runs_svg(const PlotOptions& options);

}  // namespace weakdistill::report
