#include "weakdistill/report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "report_internal.h"
#include "svg_chart.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/sample.h"
#include "weakdistill/eval/metric_fields.h"

namespace weakdistill::report {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using eval::metric_value;
using Metric = eval::MetricField;

// The task's metrics; none when the task is unknown (the page then shows only counts).
std::vector<Metric> task_metrics(const std::string& task) {
  try {
    return eval::metric_fields(parse_task(task));
  } catch (const std::exception&) {
    return {};
  }
}

// Whether the rounds were also scored on test (distill.test_each_round).
bool has_round_tests(const json& rounds) {
  return !rounds.empty() &&
         std::all_of(rounds.begin(), rounds.end(),
                     [](const json& r) { return r.contains("test") && r["test"].is_object(); });
}

std::string fmt_metric(double v) { return std::isnan(v) ? "–" : fmt::format("{:.4f}", v); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The first `max_bytes` of `s`, cut at a UTF-8 character boundary (replies are mostly Chinese).
std::string truncate_utf8(const std::string& s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "…";
}

std::vector<json> read_jsonl_objects(const fs::path& path) {
  std::vector<json> out;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    try {
      out.push_back(json::parse(line));
    } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
      throw InputError(at(path.string(), line_no, std::string("not valid JSON: ") + e.what()));
    }
  }
  return out;
}

std::string round_dir_name(long long round) { return fmt::format("{:02d}", round); }

// A sample as "text" plus what the teacher claimed about it (label, entities or summary).
std::string sample_html(const json& sample) {
  if (!sample.is_object()) return "";
  std::string out = "<div class=\"text\">" + html_escape(sample.value("text", "")) + "</div>";
  if (sample.contains("label") && sample["label"].is_string()) {
    out += "<div class=\"target\">label: " + html_escape(sample["label"].get<std::string>()) +
           "</div>";
  } else if (sample.contains("entities") && sample["entities"].is_array()) {
    std::string ents;
    for (const json& e : sample["entities"]) {
      if (!ents.empty()) ents += ", ";
      ents += e.value("text", "") + " [" + e.value("type", "") + "]";
    }
    out +=
        "<div class=\"target\">entities: " + html_escape(ents.empty() ? "(none)" : ents) + "</div>";
  } else if (sample.contains("summary") && sample["summary"].is_string()) {
    out += "<div class=\"target\">summary: " + html_escape(sample["summary"].get<std::string>()) +
           "</div>";
  }
  return out;
}

const json& rounds_of(const json& metrics) { return metrics.at("rounds"); }

std::optional<std::size_t> index_of_round(const json& metrics, long long round) {
  const json& rounds = rounds_of(metrics);
  for (std::size_t i = 0; i < rounds.size(); ++i) {
    if (count(rounds[i], "round") == round) return i;
  }
  return std::nullopt;
}

std::string header_section(const std::string& run_dir, const json& m) {
  std::string out = "<h1>weakdistill report</h1>\n<table class=\"kv\">\n";
  const auto row = [&](const std::string& k, const std::string& v) {
    out += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>\n";
  };
  row("run folder", run_dir);
  row("task", m.value("task", ""));
  row("protocol", m.value("protocol", ""));
  row("teacher", m.value("teacher_kind", ""));
  row("rounds", std::to_string(rounds_of(m).size()));
  if (m.contains("best_round")) row("best round", std::to_string(count(m, "best_round")));
  out += "</table>\n";
  if (m.value("simulated", false)) {
    out +=
        "<div class=\"banner simulated\">SIMULATED teacher: the pool teacher returns held-out "
        "samples, not an LLM's. These figures say nothing about a real teacher.</div>\n";
  }
  if (m.contains("dev_optimistic") && m["dev_optimistic"].is_string()) {
    out += "<div class=\"banner leaks\">DEV IS OPTIMISTIC: " +
           html_escape(m["dev_optimistic"].get<std::string>()) + ".</div>\n";
  }
  if (m.contains("leaks") && !m["leaks"].is_null() && m["leaks"] != false) {
    const std::string why =
        m["leaks"].is_string() ? m["leaks"].get<std::string>() : std::string("dev is the test set");
    out += "<div class=\"banner leaks\">PROTOCOL LEAKS: " + html_escape(why) +
           ". The test figure is not a held-out result.</div>\n";
  }
  return out;
}

std::string metric_section(const json& m) {
  const auto metrics = task_metrics(m.value("task", ""));
  const json& rounds = rounds_of(m);
  LineChart chart;
  chart.title = "dev metric against training-set size";
  chart.x_label = "training-set size";
  chart.y_label = "dev metric";
  chart.unit_range = false;
  const bool with_test = has_round_tests(rounds);
  if (with_test) {
    chart.title = "dev and test metrics against training-set size";
    chart.y_label = "metric";
  }
  for (const Metric& metric : metrics)
    chart.series.push_back({with_test ? std::string("dev ") + metric.label : metric.label, {}});
  if (with_test) {
    for (const Metric& metric : metrics)
      chart.series.push_back({std::string("test ") + metric.label, {}});
  }
  for (const json& r : rounds) {
    chart.x.push_back(static_cast<double>(count(r, "train_size")));
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      chart.series[i].y.push_back(metric_value(r.value("dev", json()), metrics[i]));
      if (with_test)
        chart.series[metrics.size() + i].y.push_back(metric_value(r["test"], metrics[i]));
    }
  }
  chart.baseline = index_of_round(m, 0);
  if (m.contains("best_round")) {
    chart.best = index_of_round(m, count(m, "best_round"));
    chart.best_label = fmt::format("best (round {})", count(m, "best_round"));
  }

  std::string out = "<h2>Dev metric per round</h2>\n" + render_line_chart(chart);
  if (with_test) {
    out +=
        "<p>Every round's student was also scored on test (distill.test_each_round); the loop "
        "never read those figures.</p>\n";
  }
  out += "<table><tr><th>round</th><th>train size</th>";
  for (const Metric& metric : metrics) out += "<th>dev " + html_escape(metric.label) + "</th>";
  if (with_test)
    for (const Metric& metric : metrics) out += "<th>test " + html_escape(metric.label) + "</th>";
  out += "<th>seconds</th></tr>\n";
  for (std::size_t i = 0; i < rounds.size(); ++i) {
    const json& r = rounds[i];
    const bool best = chart.best && *chart.best == i;
    out += fmt::format("<tr{}><td>{}{}</td><td>{}</td>", best ? " class=\"best\"" : "",
                       count(r, "round"), best ? " (best)" : "", count(r, "train_size"));
    for (const Metric& metric : metrics)
      out += "<td>" + fmt_metric(metric_value(r.value("dev", json()), metric)) + "</td>";
    if (with_test)
      for (const Metric& metric : metrics)
        out += "<td>" + fmt_metric(metric_value(r["test"], metric)) + "</td>";
    out += fmt::format("<td>{:.1f}</td></tr>\n", r.value("seconds", 0.0));
  }
  out += "</table>\n";
  if (m.contains("test") && m["test"].is_object()) {
    out += "<h3>Test (once, best round's student)</h3>\n<table><tr><th></th>";
    for (const Metric& metric : metrics) out += "<th>" + html_escape(metric.label) + "</th>";
    out += "</tr>\n";
    for (const auto& [name, key] : {std::pair{"best round", "test"}, {"round 0", "test_round0"}}) {
      if (!m.contains(key) || !m[key].is_object()) continue;
      out += std::string("<tr><td>") + name + "</td>";
      for (const Metric& metric : metrics)
        out += "<td>" + fmt_metric(metric_value(m[key], metric)) + "</td>";
      out += "</tr>\n";
    }
    out += "</table>\n";
  }
  return out;
}

std::string funnel_section(const json& m) {
  static constexpr const char* kStages[] = {"requested", "parsed", "verified", "diverse",
                                            "accepted"};
  std::string out =
      "<h2>Funnel per round</h2>\n<p>requested → parsed → verified → diverse → accepted</p>\n"
      "<table><tr><th>round</th>";
  for (const char* s : kStages) out += std::string("<th>") + s + "</th>";
  out += "</tr>\n";
  // Reasons ordered by total count, most frequent first, so the main loss leads the table.
  std::map<std::string, long long> totals;
  for (const json& r : rounds_of(m)) {
    if (count(r, "round") == 0) continue;
    // Bars are scaled to the round's largest count: that is `requested` unless a request gave
    // several samples (teacher.samples_per_request) or the reservoir gave accepted samples that
    // were never requested this round.
    long long scale = std::max(1LL, count(r, "requested"));
    for (const char* s : kStages) scale = std::max(scale, count(r, s));
    out += fmt::format("<tr><td>{}</td>", count(r, "round"));
    for (const char* s : kStages) {
      const long long n = count(r, s);
      out += fmt::format("<td class=\"bar\"><span style=\"width:{:.0f}px\"></span>{}</td>",
                         100.0 * n / scale, n);
    }
    out += "</tr>\n";
    if (r.contains("rejected") && r["rejected"].is_object())
      for (const auto& [reason, n] : r["rejected"].items())
        if (n.is_number()) totals[reason] += n.get<long long>();
  }
  out += "</table>\n<h3>Rejection reasons</h3>\n";
  if (totals.empty()) return out + "<p>No rejections recorded.</p>\n";
  std::vector<std::pair<std::string, long long>> reasons(totals.begin(), totals.end());
  std::stable_sort(reasons.begin(), reasons.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  out += "<table><tr><th>reason</th>";
  for (const json& r : rounds_of(m))
    if (count(r, "round") > 0) out += fmt::format("<th>round {}</th>", count(r, "round"));
  out += "<th>total</th></tr>\n";
  for (const auto& [reason, total] : reasons) {
    out += "<tr><td>" + html_escape(reason) + "</td>";
    for (const json& r : rounds_of(m)) {
      if (count(r, "round") == 0) continue;
      out += fmt::format("<td>{}</td>", count(r.value("rejected", json::object()), reason.c_str()));
    }
    out += fmt::format("<td>{}</td></tr>\n", total);
  }
  out += "</table>\n";
  const auto cut = totals.find("truncated_in_reasoning");
  return out + truncated_in_reasoning_advice(cut == totals.end() ? 0 : cut->second);
}

std::string per_label_section(const json& m) {
  const std::string task = m.value("task", "");
  const char* what = task == "ner" ? "type" : "label";
  std::string out = fmt::format("<h2>Per-{} F1 across rounds</h2>\n", what);
  const json& rounds = rounds_of(m);
  std::set<std::string> labels;
  for (const json& r : rounds)
    if (r.contains("per_label") && r["per_label"].is_object())
      for (const auto& [label, _] : r["per_label"].items()) labels.insert(label);
  if (labels.empty()) return out + "<p>No per-label metric for this task.</p>\n";
  const auto f1 = [](const json& r, const std::string& label) -> double {
    const json& pl = r.value("per_label", json::object());
    if (!pl.contains(label) || !pl[label].contains("f1")) return NAN;
    return pl[label]["f1"].get<double>();
  };
  const auto base = index_of_round(m, 0);
  const auto best = m.contains("best_round") ? index_of_round(m, count(m, "best_round"))
                                             : std::optional<std::size_t>();
  out +=
      "<p>Cells in <span class=\"worse\">red</span> fell from the previous round; rows marked "
      "<span class=\"worse\">worse</span> ended lower in the best round than in round 0.</p>\n"
      "<table><tr><th>" +
      std::string(what) + "</th>";
  for (const json& r : rounds) out += fmt::format("<th>round {}</th>", count(r, "round"));
  out += "<th>Δ best − round 0</th></tr>\n";
  for (const std::string& label : labels) {
    double delta = NAN;
    if (base && best) delta = f1(rounds[*best], label) - f1(rounds[*base], label);
    const bool worse = delta < 0;
    out +=
        fmt::format("<tr{}><td>{}</td>", worse ? " class=\"worse-row\"" : "", html_escape(label));
    for (std::size_t i = 0; i < rounds.size(); ++i) {
      const double v = f1(rounds[i], label);
      const bool fell = i > 0 && v < f1(rounds[i - 1], label);
      out += fmt::format("<td{}>{}</td>", fell ? " class=\"worse\"" : "", fmt_metric(v));
    }
    out +=
        fmt::format("<td{}>{}{}</td></tr>\n", worse ? " class=\"worse\"" : "",
                    std::isnan(delta) ? "–" : fmt::format("{:+.4f}", delta), worse ? " worse" : "");
  }
  return out + "</table>\n";
}

std::string teacher_section(const json& m) {
  static constexpr const char* kKeys[] = {"requests",         "http_requests", "retries",
                                          "failures",         "cache_hits",    "prompt_tokens",
                                          "completion_tokens"};
  // Runs made since the loop counts spend per accepted sample (and, with teacher.price, cost)
  // get those columns; older runs render as they did.
  const json& totals = m.contains("teacher") && m["teacher"].is_object() ? m["teacher"] : json();
  const bool per_accepted = totals.is_object() && totals.contains("tokens_per_accepted");
  const bool priced = totals.is_object() && totals.contains("cost");
  const std::string currency = priced ? totals.value("currency", "") : "";
  const auto spend_cells = [&](const json& t) {
    std::string cells;
    const auto number = [&](const char* k, const char* format) {
      const auto it = t.find(k);
      return it != t.end() && it->is_number() ? fmt::format(fmt::runtime(format), it->get<double>())
                                              : std::string("–");
    };
    if (per_accepted) cells += "<td>" + number("tokens_per_accepted", "{:.0f}") + "</td>";
    if (priced) {
      cells += "<td>" + number("cost", "{:.4g}") + "</td><td>" +
               number("cost_per_accepted", "{:.4g}") + "</td>";
    }
    return cells;
  };
  std::string out = "<h2>Teacher usage</h2>\n<table><tr><th>round</th>";
  for (const char* k : kKeys) out += std::string("<th>") + k + "</th>";
  if (per_accepted) out += "<th>tokens / accepted</th>";
  if (priced) out += fmt::format("<th>cost ({0})</th><th>cost / accepted ({0})</th>", html_escape(currency));
  out += "</tr>\n";
  for (const json& r : rounds_of(m)) {
    out += fmt::format("<tr><td>{}</td>", count(r, "round"));
    const json& t = r.value("teacher", json::object());
    for (const char* k : kKeys) out += fmt::format("<td>{}</td>", count(t, k));
    out += spend_cells(t);
    out += "</tr>\n";
  }
  if (m.contains("teacher") && m["teacher"].is_object()) {
    // The run totals name two counters differently from the round entries.
    const json& t = m["teacher"];
    out += "<tr class=\"total\"><td>total</td>";
    for (const char* k : kKeys) {
      const std::string key = std::string(k) == "failures"     ? "failed"
                              : std::string(k) == "cache_hits" ? "cached"
                                                               : k;
      out += fmt::format("<td>{}</td>", count(t, key.c_str()));
    }
    out += spend_cells(t) + "</tr>\n";
  }
  return out + "</table>\n" + response_format_part(m) + delivery_part(m) + weakness_part(m);
}

// Seed texts by index in train ∪ dev, read only for the indexes asked for: weakness.jsonl has a
// line per labeled sample and can be large.
std::map<long long, std::string> seed_texts(const fs::path& weakness, std::set<long long> wanted) {
  std::map<long long, std::string> out;
  if (wanted.empty()) return out;
  for (const json& w : read_jsonl_objects(weakness)) {
    const long long index = count(w, "index");
    if (wanted.count(index)) out[index] = w.value("text", "");
  }
  return out;
}

std::string samples_section(const std::string& run_dir, const json& m, std::size_t per_round) {
  std::string out = "<h2>Samples</h2>\n";
  bool any = false;
  for (const json& r : rounds_of(m)) {
    const long long round = count(r, "round");
    if (round == 0) continue;
    const fs::path dir = fs::path(run_dir) / "rounds" / round_dir_name(round);
    std::vector<json> accepted, rejected;
    if (fs::exists(dir / "accepted.jsonl")) accepted = read_jsonl_objects(dir / "accepted.jsonl");
    if (fs::exists(dir / "rejected.jsonl")) rejected = read_jsonl_objects(dir / "rejected.jsonl");
    if (accepted.empty() && rejected.empty()) continue;
    any = true;
    if (accepted.size() > per_round) accepted.resize(per_round);
    // One example of each outcome first, then the rest in file order: the variety of reasons
    // says more than many examples of the commonest one.
    std::vector<json> shown;
    std::set<std::string> outcomes;
    for (const json& j : rejected)
      if (shown.size() < per_round && outcomes.insert(j.value("outcome", "")).second)
        shown.push_back(j);
    // A reply of several samples has a line per sample: (ordinal, slot) names one.
    const auto key = [](const json& j) { return std::pair(count(j, "ordinal"), count(j, "slot")); };
    std::set<std::pair<long long, long long>> shown_keys;
    for (const json& j : shown) shown_keys.insert(key(j));
    for (const json& j : rejected)
      if (shown.size() < per_round && !shown_keys.count(key(j))) shown.push_back(j);

    std::set<long long> wanted;
    for (const json& a : accepted) wanted.insert(count(a, "seed_index"));
    const auto seeds = fs::exists(dir / "weakness.jsonl")
                           ? seed_texts(dir / "weakness.jsonl", wanted)
                           : std::map<long long, std::string>();
    out += fmt::format("<h3>Round {}</h3>\n", round);
    out +=
        fmt::format("<h4>Accepted (first {} of {})</h4>\n", accepted.size(), count(r, "accepted"));
    // The teacher's reasoning gets a column only when some line kept one (an older run has none).
    const bool accepted_reasoning = any_reasoning(accepted);
    out +=
        "<table class=\"samples\"><tr><th>seed</th><th>accepted "
        "sample</th><th>diversity</th>";
    out += accepted_reasoning ? "<th>teacher's reasoning</th></tr>\n" : "</tr>\n";
    for (const json& a : accepted) {
      const long long si = count(a, "seed_index");
      const auto it = seeds.find(si);
      out += fmt::format("<tr><td><div class=\"idx\">#{}</div>{}</td><td>{}</td><td>{}</td>", si,
                         it == seeds.end() ? "" : html_escape(it->second),
                         sample_html(a.value("sample", json())) + provenance_html(a),
                         a.contains("diversity") && a["diversity"].is_number()
                             ? fmt::format("{:.3f}", a["diversity"].get<double>())
                             : "–");
      if (accepted_reasoning) out += "<td>" + reasoning_html(a) + "</td>";
      out += "</tr>\n";
    }
    out += "</table>\n";
    out += fmt::format("<h4>Rejected ({} shown of {})</h4>\n", shown.size(), rejected.size());
    const bool rejected_reasoning = any_reasoning(shown);
    out += "<table class=\"samples\"><tr><th>outcome</th><th>sample or reply</th>";
    out += rejected_reasoning ? "<th>teacher's reasoning</th></tr>\n" : "</tr>\n";
    for (const json& j : shown) {
      std::string body = sample_html(j.value("sample", json()));
      if (body.empty())
        body = "<div class=\"reply\">" + html_escape(truncate_utf8(j.value("reply", ""), 400)) +
               "</div>";
      out += "<tr><td><b>" + html_escape(j.value("outcome", "")) + "</b><div class=\"detail\">" +
             html_escape(j.value("detail", "")) + "</div>" + outcome_advice_html(j) + "</td><td>" +
             body + provenance_html(j) + "</td>";
      if (rejected_reasoning) out += "<td>" + reasoning_html(j) + "</td>";
      out += "</tr>\n";
    }
    out += "</table>\n";
  }
  if (!any) out += "<p>No sample files in this run folder.</p>\n";
  return out;
}

std::string config_section(const std::string& run_dir) {
  const fs::path path = fs::path(run_dir) / "config.yaml";
  std::string out = "<h2>Resolved config</h2>\n";
  if (!fs::exists(path)) return out + "<p>config.yaml is missing.</p>\n";
  return out + "<pre>" + html_escape(read_text(path)) + "</pre>\n";
}


}  // namespace

json read_metrics(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "metrics.json").string();
  if (!fs::exists(path)) {
    throw InputError(
        at(path, 0, "missing; is this a run folder of a finished run (weakdistill run)?"));
  }
  json m;
  try {
    m = json::parse(read_text(path));
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
    throw InputError(at(path, 0, std::string("not valid JSON: ") + e.what()));
  }
  if (!m.is_object() || !m.contains("task") || !m["task"].is_string() || !m.contains("rounds") ||
      !m["rounds"].is_array()) {
    throw InputError(at(path, 0, "not a run's metrics.json: it needs \"task\" and \"rounds\""));
  }
  for (const json& r : m["rounds"])
    if (!r.is_object()) throw InputError(at(path, 0, "\"rounds\" must hold objects"));
  return m;
}

std::string metrics_csv(const json& metrics) {
  const auto cols = task_metrics(metrics.value("task", ""));
  const json& rounds = rounds_of(metrics);
  const bool with_test = has_round_tests(rounds);
  std::string out = "round,train_size,requested,parsed,verified,diverse,accepted";
  for (const Metric& c : cols) out += std::string(",") + c.column;
  if (with_test)
    for (const Metric& c : cols) out += std::string(",test_") + c.column;
  out += ",seconds" + csv_extra_header(metrics) + "\n";
  for (const json& r : rounds) {
    out += fmt::format("{},{},{},{},{},{},{}", count(r, "round"), count(r, "train_size"),
                       count(r, "requested"), count(r, "parsed"), count(r, "verified"),
                       count(r, "diverse"), count(r, "accepted"));
    for (const Metric& c : cols) {
      const double v = metric_value(r.value("dev", json()), c);
      out += std::isnan(v) ? std::string(",") : fmt::format(",{}", v);
    }
    if (with_test) {
      for (const Metric& c : cols) {
        const double v = metric_value(r["test"], c);
        out += std::isnan(v) ? std::string(",") : fmt::format(",{}", v);
      }
    }
    out += fmt::format(",{}", r.value("seconds", 0.0)) + csv_extra_cells(metrics, r) + "\n";
  }
  return out;
}

std::string render_report(const std::string& run_dir, const json& metrics,
                          std::size_t samples_per_round) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>weakdistill "
      "report: " +
      html_escape(run_dir) + "</title>\n" + page_style() + "</head>\n<body>\n";
  html += header_section(run_dir, metrics);
  html += metric_section(metrics);
  html += funnel_section(metrics);
  html += reask_section(metrics);
  html += reservoir_section(metrics);
  html += per_label_section(metrics);
  html += teacher_section(metrics);
  html += samples_section(run_dir, metrics, samples_per_round);
  html += config_section(run_dir);
  html += "</body>\n</html>\n";
  return html;
}

ReportFiles write_report(const ReportOptions& options) {
  if (is_comparison(options.run_dir)) {
    const json comparison = read_comparison(options.run_dir);
    ReportFiles files;
    files.html =
        options.out.empty() ? (fs::path(options.run_dir) / "report.html").string() : options.out;
    files.csv = (fs::path(options.run_dir) / "compare.csv").string();
    write_file_atomically((fs::path(options.run_dir) / "compare.svg").string(),
                          standalone_svg(comparison_chart(comparison)));
    write_file_atomically(files.html, render_comparison_report(options.run_dir, comparison));
    return files;
  }
  const json metrics = read_metrics(options.run_dir);
  ReportFiles files;
  files.html =
      options.out.empty() ? (fs::path(options.run_dir) / "report.html").string() : options.out;
  files.csv = (fs::path(options.run_dir) / "metrics.csv").string();
  write_file_atomically(files.html,
                        render_report(options.run_dir, metrics, options.samples_per_round));
  write_file_atomically(files.csv, metrics_csv(metrics));
  return files;
}

}  // namespace weakdistill::report
