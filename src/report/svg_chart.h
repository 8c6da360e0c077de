// Inline SVG line charts for the HTML report: no scripts, no external resources, and the same
// input always gives the same bytes, so reports can be diffed and tested.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace weakdistill::report {

struct ChartSeries {
  std::string name;
  std::vector<double> y;  // one value per x; NaN leaves the point out
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<double> x;
  std::vector<ChartSeries> series;
  // Indexes into x of the points to mark (round 0, the best round).
  std::optional<std::size_t> baseline;
  std::optional<std::size_t> best;
  std::string best_label = "best";
  // When false, the y axis spans the data (padded) rather than [0, 1].
  bool unit_range = true;
};

// Grouped bars: one group per category (a metric), one bar per series (an arm) at the mean,
// with a whisker of ± sd and a dot per seed, so a reader sees the spread behind each mean.
struct BarSeries {
  std::string name;
  std::vector<double> mean;                 // one per category
  std::vector<double> sd;                   // one per category; NaN: no whisker
  std::vector<std::vector<double>> points;  // per category, the values behind the mean
};

struct BarChart {
  std::string title;
  std::string y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
};

// The <style> element of the report pages.
const char* page_style();

// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string html_escape(const std::string& text);

// An <svg> element (without xmlns: inline SVG in HTML needs none, and the report must not
// reference any URL). Each series has one <circle class="point"> per plotted value.
std::string render_line_chart(const LineChart& chart);

// An <svg> element with one <rect class="bar"> per category and series.
std::string render_bar_chart(const BarChart& chart);

// A chart of render_*_chart as a file of its own (docs/figures): the SVG namespace and the
// styles the HTML page would otherwise give it.
std::string standalone_svg(const std::string& inline_svg);

}  // namespace weakdistill::report
