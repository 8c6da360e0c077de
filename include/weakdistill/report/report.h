// weakdistill report: turns a run folder (docs/RUN.md) into one self-contained HTML page and a
// metrics.csv. The page loads nothing (no scripts, fonts or stylesheets from anywhere; charts are
// inline SVG), so it can be mailed or archived and still open years later.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace weakdistill::report {

struct ReportOptions {
  std::string run_dir;
  std::string out;                    // "" means RUN_DIR/report.html
  std::size_t samples_per_round = 5;  // accepted and rejected examples shown per round
};

struct ReportFiles {
  std::string html;
  std::string csv;
};

// Reads RUN_DIR/metrics.json. Throws InputError naming the file when it is missing or is not
// a run's metrics (no task or rounds).
nlohmann::json read_metrics(const std::string& run_dir);

// One row per round: round, train_size, the funnel counts, the task's dev metrics, seconds;
// then, only when some round has them, reasked, yield_first_try, yield_after_reasks and the
// reservoir's taken, taken_mean_age, dropped, added, held_after (empty cells in rounds without).
std::string metrics_csv(const nlohmann::json& metrics);

// The whole HTML page. Reads the optional per-round files and config.yaml from run_dir.
std::string render_report(const std::string& run_dir, const nlohmann::json& metrics,
                          std::size_t samples_per_round);

// Writes the HTML page and RUN_DIR/metrics.csv, each atomically. For a comparison folder
// (weakdistill compare) it writes the comparison's page and compare.svg instead (its
// compare.csv is written by the comparison).
ReportFiles write_report(const ReportOptions& options);

// Whether `dir` holds a comparison (compare.json).
bool is_comparison(const std::string& dir);

// Reads DIR/compare.json; throws InputError naming the file when it is missing or malformed.
nlohmann::json read_comparison(const std::string& dir);

// The comparison's bar chart (mean ± sd and every seed, per metric) as an inline <svg>.
std::string comparison_chart(const nlohmann::json& comparison);

// The comparison's HTML page: chart, summary and per-seed tables, links to the loops' reports.
std::string render_comparison_report(const std::string& dir, const nlohmann::json& comparison);

}  // namespace weakdistill::report
