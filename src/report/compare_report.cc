// The page of a comparison folder (weakdistill compare): the paper's Figure 4 as a bar chart,
// the tables, and links to each seed's loop report.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "svg_chart.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/sample.h"
#include "weakdistill/eval/metric_fields.h"
#include "weakdistill/report/report.h"

namespace weakdistill::report {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

double num(const json& j) { return j.is_number() ? j.get<double>() : NAN; }

}  // namespace

bool is_comparison(const std::string& dir) {
  return fs::is_regular_file(fs::path(dir) / "compare.json");
}

json read_comparison(const std::string& dir) {
  const std::string path = (fs::path(dir) / "compare.json").string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(at(path, 0, "missing; is this a folder of weakdistill compare?"));
  std::stringstream ss;
  ss << in.rdbuf();
  json m;
  try {
    m = json::parse(ss.str());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
    throw InputError(at(path, 0, std::string("not valid JSON: ") + e.what()));
  }
  if (!m.is_object() || !m.contains("task") || !m.contains("results") ||
      !m["results"].is_array() || !m.contains("summary") || !m["summary"].is_object()) {
    throw InputError(at(path, 0, "not compare.json: it needs \"task\", \"results\" and \"summary\""));
  }
  try {
    (void)parse_task(m["task"].get<std::string>());
  } catch (const std::exception& e) {
    throw InputError(at(path, 0, std::string("task: ") + e.what()));
  }
  return m;
}

std::string comparison_chart(const json& m) {
  const Task task = parse_task(m.at("task").get<std::string>());
  BarChart chart;
  chart.title = fmt::format("{} at {} samples: human-labeled vs distilled (test)",
                            m.at("task").get<std::string>(), m.value("size", 0));
  chart.y_label = "test metric";
  BarSeries labeled{"human-labeled", {}, {}, {}};
  BarSeries distilled{"distilled", {}, {}, {}};
  for (const auto& f : eval::metric_fields(task)) {
    chart.categories.push_back(f.label);
    const json& s = m["summary"].value(f.column, json::object());
    for (auto [series, arm] : {std::pair{&labeled, "labeled"}, {&distilled, "distilled"}}) {
      const json a = s.value(arm, json::object());
      series->mean.push_back(num(a.value("mean", json())));
      series->sd.push_back(num(a.value("sd", json())));
      std::vector<double> points;
      for (const json& r : m["results"])
        points.push_back(eval::metric_value(r.value(arm, json::object()).value("test", json()), f));
      series->points.push_back(points);
    }
  }
  chart.series = {labeled, distilled};
  return render_bar_chart(chart);
}

std::string render_comparison_report(const std::string& dir, const json& m) {
  const Task task = parse_task(m.at("task").get<std::string>());
  const auto& fields = eval::metric_fields(task);
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>weakdistill "
      "comparison: " +
      html_escape(dir) + "</title>\n" + page_style() + "</head>\n<body>\n";
  html += "<h1>Human-labeled vs distilled at equal size</h1>\n<table class=\"kv\">\n";
  const auto row = [&](const std::string& k, const std::string& v) {
    html += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>\n";
  };
  row("folder", dir);
  row("task", m.value("task", ""));
  row("training-set size", std::to_string(m.value("size", 0)));
  row("student", m.value("student_kind", ""));
  row("teacher", m.value("teacher_kind", ""));
  row("seeds", std::to_string(m.value("seeds", 0)));
  html += "</table>\n";
  if (m.value("simulated", false)) {
    html +=
        "<div class=\"banner simulated\">SIMULATED teacher: the pool teacher returns held-out "
        "human-labeled samples, chosen where the student is weak. Its \"distilled\" arm is "
        "weakness-selected human labels against randomly drawn ones, not an LLM's samples."
        "</div>\n";
  }
  html +=
      "<p>Both students are the same kind with the same options and start from the same few "
      "labels. The human-labeled one adds samples drawn at random from the labeled pool; the "
      "distilled one is the loop's last round, stopped when its training set reached the size. "
      "Both are scored once on the test set.</p>\n";
  html += comparison_chart(m);
  html +=
      "<table><tr><th>metric</th><th>human-labeled</th><th>distilled</th><th>distilled − "
      "labeled</th><th>seeds distilled better</th></tr>\n";
  const auto pm = [](const json& x) {
    const double mean = num(x.value("mean", json()));
    const double sd = num(x.value("sd", json()));
    if (std::isnan(mean)) return std::string("–");
    return std::isnan(sd) ? fmt::format("{:.4f}", mean) : fmt::format("{:.4f} ± {:.4f}", mean, sd);
  };
  for (const auto& f : fields) {
    const json s = m["summary"].value(f.column, json::object());
    const double diff = num(s.value("difference", json::object()).value("mean", json()));
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td>{} of {}</td></tr>\n",
        html_escape(f.label), pm(s.value("labeled", json::object())),
        pm(s.value("distilled", json::object())), diff < 0 ? " class=\"worse\"" : "",
        pm(s.value("difference", json::object())), s.value("distilled_better", 0),
        m.value("seeds", 0));
  }
  html += "</table>\n<h2>Per seed</h2>\n<table><tr><th>seed</th><th>arm</th><th>size</th>";
  for (const auto& f : fields) html += "<th>" + html_escape(f.label) + "</th>";
  html += "<th>loop</th></tr>\n";
  for (const json& r : m["results"]) {
    const int seed = r.value("seed", 0);
    for (const char* arm : {"labeled", "distilled"}) {
      const json a = r.value(arm, json::object());
      html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td>", seed, arm, a.value("size", 0));
      for (const auto& f : fields) {
        const double v = eval::metric_value(a.value("test", json()), f);
        html += std::isnan(v) ? "<td>–</td>" : fmt::format("<td>{:.4f}</td>", v);
      }
      if (std::string(arm) == "distilled") {
        const std::string run = fmt::format("distilled-s{}", seed);
        const bool has_report = fs::is_regular_file(fs::path(dir) / run / "report.html");
        html += fmt::format("<td>{} rounds, stopped by {}{}</td></tr>\n", a.value("rounds", 0),
                            html_escape(a.value("stop_reason", "")),
                            has_report ? " · <a href=\"" + run + "/report.html\">report</a>" : "");
      } else {
        html += "<td></td></tr>\n";
      }
    }
  }
  html += "</table>\n";
  if (m.contains("config")) {
    html += "<h2>Config</h2>\n<pre>" + html_escape(m["config"].dump(2)) + "</pre>\n";
  }
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace weakdistill::report
