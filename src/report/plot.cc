#include "weakdistill/report/plot.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "svg_chart.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/sample.h"
#include "weakdistill/eval/metric_fields.h"
#include "weakdistill/report/report.h"

namespace weakdistill::report {

std::string plot_runs_svg(const PlotOptions& o) {
  namespace fs = std::filesystem;
  using json = nlohmann::json;
  if (o.runs.empty()) throw UsageError("plot: give at least one run folder");
  if (o.split != "test" && o.split != "dev") {
    throw UsageError("plot: --split must be test or dev, got \"" + o.split + "\"");
  }
  std::vector<json> metrics;
  std::string task_name_s;
  for (const PlotRun& r : o.runs) {
    metrics.push_back(read_metrics(r.run_dir));
    const std::string t = metrics.back()["task"].get<std::string>();
    if (task_name_s.empty()) task_name_s = t;
    if (t != task_name_s) {
      throw InputError((fs::path(r.run_dir) / "metrics.json").string() + ": a " + t +
                       " run; the other runs are " + task_name_s);
    }
  }
  Task task;
  try {
    task = parse_task(task_name_s);
  } catch (const std::exception& e) {
    throw InputError((fs::path(o.runs[0].run_dir) / "metrics.json").string() + ": " + e.what());
  }
  std::vector<eval::MetricField> fields;
  if (o.metrics.empty()) {
    fields = eval::metric_fields(task);
  } else {
    for (const std::string& m : o.metrics) fields.push_back(eval::find_metric_field(task, m));
  }

  // The union of the runs' sizes, so runs that accepted different counts share one axis.
  std::vector<double> xs;
  for (const json& m : metrics)
    for (const json& r : m["rounds"]) xs.push_back(r.value("train_size", 0.0));
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());

  LineChart chart;
  chart.title = !o.title.empty() ? o.title
                                 : task_name_s + ": " + o.split + " metrics against training-set size";
  chart.x_label = "training-set size";
  chart.y_label = o.split + " metric";
  chart.unit_range = false;
  chart.x = xs;
  for (std::size_t i = 0; i < o.runs.size(); ++i) {
    const PlotRun& run = o.runs[i];
    const std::string label =
        !run.label.empty() ? run.label : fs::path(run.run_dir).lexically_normal().filename().string();
    for (const auto& f : fields) {
      ChartSeries s;
      s.name = o.runs.size() == 1 ? f.label : fields.size() == 1 ? label : label + " " + f.label;
      s.y.assign(xs.size(), NAN);
      for (const json& r : metrics[i]["rounds"]) {
        const json& eval = r.value(o.split, json());
        if (!eval.is_object()) {
          throw InputError((fs::path(run.run_dir) / "metrics.json").string() + ": round " +
                           std::to_string(r.value("round", -1)) + " has no " + o.split +
                           " figures" +
                           (o.split == "test" ? "; run the loop with distill.test_each_round=on, "
                                                "or plot --split dev"
                                              : ""));
        }
        const auto at = std::lower_bound(xs.begin(), xs.end(), r.value("train_size", 0.0));
        s.y[static_cast<std::size_t>(at - xs.begin())] = eval::metric_value(eval, f);
      }
      chart.series.push_back(std::move(s));
    }
  }
  return standalone_svg(render_line_chart(chart));
}

}  // namespace weakdistill::report
