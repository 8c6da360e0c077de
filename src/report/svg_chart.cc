#include "svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace weakdistill::report {
namespace {

constexpr double kWidth = 640;
constexpr double kHeight = 340;
constexpr double kLeft = 60;
constexpr double kRight = 150;  // room for the legend
constexpr double kTop = 36;
constexpr double kBottom = 50;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                   "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

struct Range {
  double lo;
  double hi;
};

// A step of 1, 2 or 5 × 10^k giving about `target` ticks, so labels stay short and readable.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

std::string tick_label(double v, double step) {
  if (step >= 1) return fmt::format("{:.0f}", v);
  const int digits = std::clamp(static_cast<int>(std::ceil(-std::log10(step))), 1, 6);
  return fmt::format("{:.{}f}", v, digits);
}

Range data_range(const std::vector<double>& values, Range fallback) {
  double lo = INFINITY;
  double hi = -INFINITY;
  for (double v : values) {
    if (std::isnan(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo > hi) return fallback;
  if (hi - lo < 1e-9) {
    // A single value still needs a visible span around it.
    const double pad = std::max(std::abs(lo) * 0.1, 0.05);
    return {lo - pad, hi + pad};
  }
  const double pad = (hi - lo) * 0.08;
  return {lo - pad, hi + pad};
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_line_chart(const LineChart& chart) {
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  const Range xr = data_range(chart.x, {0, 1});
  Range yr{0, 1};
  if (!chart.unit_range) {
    std::vector<double> all;
    for (const ChartSeries& s : chart.series) all.insert(all.end(), s.y.begin(), s.y.end());
    yr = data_range(all, {0, 1});
  }
  const auto px = [&](double x) { return kLeft + (x - xr.lo) / (xr.hi - xr.lo) * plot_w; };
  const auto py = [&](double y) { return kTop + plot_h - (y - yr.lo) / (yr.hi - yr.lo) * plot_h; };

  std::string svg = fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {:.0f} {:.0f}\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "role=\"img\" aria-label=\"{}\">\n",
      kWidth, kHeight, kWidth, kHeight, html_escape(chart.title));
  svg += fmt::format("<text x=\"{:.1f}\" y=\"20\" class=\"title\">{}</text>\n", kLeft,
                     html_escape(chart.title));
  // Axes.
  svg += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n",
      kLeft, kTop, kTop + plot_h);
  svg += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n",
      kLeft, kLeft + plot_w, kTop + plot_h);
  // Ticks: multiples of a nice step inside the range.
  const double ys = nice_step(yr.hi - yr.lo, 5);
  // Integer tick indexes, so float steps cannot drift or skip the last tick.
  for (long k = std::lround(std::ceil(yr.lo / ys - 1e-9)); k * ys <= yr.hi + 1e-9; ++k) {
    const double v = k * ys;
    const double y = py(v);
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{}</text>\n",
        kLeft, y, kLeft + plot_w, y, kLeft - 6, y + 4, tick_label(v, ys));
  }
  const double xs = nice_step(xr.hi - xr.lo, 6);
  for (long k = std::lround(std::ceil(xr.lo / xs - 1e-9)); k * xs <= xr.hi + 1e-9; ++k) {
    const double v = k * xs;
    const double x = px(v);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" class=\"tick\" text-anchor=\"middle\">{4}</text>\n",
        x, kTop + plot_h, kTop + plot_h + 5, kTop + plot_h + 18, tick_label(v, xs));
  }
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"middle\">{}</text>\n",
      kLeft + plot_w / 2, kHeight - 10, html_escape(chart.x_label));
  svg += fmt::format(
      "<text x=\"14\" y=\"{0:.1f}\" class=\"axis\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 14 {0:.1f})\">{1}</text>\n",
      kTop + plot_h / 2, html_escape(chart.y_label));

  // Round 0 and best round: a vertical guide with a label, so they are visible even when the
  // series overlap there.
  const auto guide = [&](std::size_t i, const char* cls, const std::string& label, double dy) {
    const double x = px(chart.x[i]);
    // Labels of guides in the right half read leftwards, so they stay off the legend.
    const bool right_half = x > kLeft + plot_w / 2;
    svg += fmt::format(
        "<line class=\"{0}\" x1=\"{1:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{3:.1f}\" "
        "stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
        "<text class=\"{0}-label\" x=\"{4:.1f}\" y=\"{5:.1f}\" text-anchor=\"{7}\">{6}</text>\n",
        cls, x, kTop, kTop + plot_h, right_half ? x - 4 : x + 3, kTop + 10 + dy, html_escape(label),
        right_half ? "end" : "start");
  };
  const bool same = chart.baseline && chart.best && *chart.baseline == *chart.best;
  if (chart.baseline && *chart.baseline < chart.x.size())
    guide(*chart.baseline, "round0-marker", same ? "round 0 = best" : "round 0", 0);
  if (chart.best && *chart.best < chart.x.size() && !same)
    guide(*chart.best, "best-marker", chart.best_label, 12);

  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const ChartSeries& series = chart.series[s];
    const char* color = kColors[s % std::size(kColors)];
    std::string points;
    for (std::size_t i = 0; i < chart.x.size() && i < series.y.size(); ++i) {
      if (std::isnan(series.y[i])) continue;
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", px(chart.x[i]),
                            py(series.y[i]));
    }
    svg += fmt::format(
        "<polyline class=\"series s{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
        "points=\"{}\"/>\n",
        s, color, points);
    for (std::size_t i = 0; i < chart.x.size() && i < series.y.size(); ++i) {
      if (std::isnan(series.y[i])) continue;
      const double x = px(chart.x[i]);
      const double y = py(series.y[i]);
      svg += fmt::format(
          "<circle class=\"point s{}\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\">"
          "<title>{}: {:.4f} at {}</title></circle>\n",
          s, x, y, color, html_escape(series.name), series.y[i], chart.x[i]);
      // Not circles, so a series still has exactly one <circle> per round.
      if (chart.best && i == *chart.best) {
        svg += fmt::format(
            "<path class=\"best-point\" d=\"M{0:.1f} {1:.1f} l7 7 l-7 7 l-7 -7 z\" fill=\"none\" "
            "stroke=\"{2}\" stroke-width=\"2\"/>\n",
            x, y - 7, color);
      } else if (chart.baseline && i == *chart.baseline) {
        svg += fmt::format(
            "<rect class=\"round0-point\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"12\" "
            "fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n",
            x - 6, y - 6, color);
      }
    }
  }

  // Legend.
  double ly = kTop + 6;
  const double lx = kLeft + plot_w + 16;
  for (std::size_t s = 0; s < chart.series.size(); ++s, ly += 18) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" "
        "stroke-width=\"2\"/><text x=\"{4:.1f}\" y=\"{5:.1f}\" class=\"legend\">{6}</text>\n",
        lx, ly, lx + 18, kColors[s % std::size(kColors)], lx + 24, ly + 4,
        html_escape(chart.series[s].name));
  }
  svg += fmt::format(
      "<rect x=\"{0:.1f}\" y=\"{1:.1f}\" width=\"10\" height=\"10\" fill=\"none\" stroke=\"#333\"/>"
      "<text x=\"{2:.1f}\" y=\"{3:.1f}\" class=\"legend\">round 0</text>\n",
      lx + 4, ly - 5, lx + 24, ly + 4);
  ly += 18;
  svg += fmt::format(
      "<path d=\"M{0:.1f} {1:.1f} l6 6 l-6 6 l-6 -6 z\" fill=\"none\" stroke=\"#333\"/>"
      "<text x=\"{2:.1f}\" y=\"{3:.1f}\" class=\"legend\">best round</text>\n",
      lx + 9, ly - 6, lx + 24, ly + 4);
  svg += "</svg>\n";
  return svg;
}

}  // namespace weakdistill::report
