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

// The <svg> element's opening and the chart's title.
std::string svg_open(const char* css_class, const std::string& title);

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

namespace {
std::string svg_open(const char* css_class, const std::string& title) {
  return fmt::format(
             "<svg class=\"{}\" viewBox=\"0 0 {:.0f} {:.0f}\" width=\"{:.0f}\" height=\"{:.0f}\" "
             "role=\"img\" aria-label=\"{}\">\n",
             css_class, kWidth, kHeight, kWidth, kHeight, html_escape(title)) +
         fmt::format("<text x=\"{:.1f}\" y=\"20\" class=\"title\">{}</text>\n", kLeft,
                     html_escape(title));
}
}  // namespace

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

  std::string svg = svg_open("chart", chart.title);
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
  if (chart.baseline) {
    svg += fmt::format(
        "<rect x=\"{0:.1f}\" y=\"{1:.1f}\" width=\"10\" height=\"10\" fill=\"none\" "
        "stroke=\"#333\"/><text x=\"{2:.1f}\" y=\"{3:.1f}\" class=\"legend\">round 0</text>\n",
        lx + 4, ly - 5, lx + 24, ly + 4);
    ly += 18;
  }
  if (chart.best) {
    svg += fmt::format(
        "<path d=\"M{0:.1f} {1:.1f} l6 6 l-6 6 l-6 -6 z\" fill=\"none\" stroke=\"#333\"/>"
        "<text x=\"{2:.1f}\" y=\"{3:.1f}\" class=\"legend\">best round</text>\n",
        lx + 9, ly - 6, lx + 24, ly + 4);
  }
  svg += "</svg>\n";
  return svg;
}

std::string render_bar_chart(const BarChart& chart) {
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  // The y axis starts at 0 (bars compare lengths) and ends at the largest mean + sd or point.
  double hi = 0;
  for (const BarSeries& s : chart.series) {
    for (std::size_t c = 0; c < s.mean.size(); ++c) {
      if (!std::isnan(s.mean[c]))
        hi = std::max(hi, s.mean[c] + (c < s.sd.size() && !std::isnan(s.sd[c]) ? s.sd[c] : 0));
      if (c < s.points.size())
        for (double v : s.points[c])
          if (!std::isnan(v)) hi = std::max(hi, v);
    }
  }
  if (hi <= 0) hi = 1;
  const double ys = nice_step(hi, 5);
  hi = std::ceil(hi / ys - 1e-9) * ys;
  const auto py = [&](double y) { return kTop + plot_h - y / hi * plot_h; };

  std::string svg = svg_open("chart bars", chart.title);
  for (long k = 0; k * ys <= hi + 1e-9; ++k) {
    const double v = k * ys;
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{}</text>\n",
        kLeft, py(v), kLeft + plot_w, py(v), kLeft - 6, py(v) + 4, tick_label(v, ys));
  }
  svg += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n"
      "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{3:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n",
      kLeft, kTop, kTop + plot_h, kLeft + plot_w);
  svg += fmt::format(
      "<text x=\"14\" y=\"{0:.1f}\" class=\"axis\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 14 {0:.1f})\">{1}</text>\n",
      kTop + plot_h / 2, html_escape(chart.y_label));

  const std::size_t groups = std::max<std::size_t>(chart.categories.size(), 1);
  const std::size_t n = std::max<std::size_t>(chart.series.size(), 1);
  const double group_w = plot_w / static_cast<double>(groups);
  const double bar_w = group_w * 0.7 / static_cast<double>(n);
  for (std::size_t c = 0; c < chart.categories.size(); ++c) {
    const double gx = kLeft + group_w * static_cast<double>(c);
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n",
        gx + group_w / 2, kTop + plot_h + 18, html_escape(chart.categories[c]));
    for (std::size_t s = 0; s < chart.series.size(); ++s) {
      const BarSeries& series = chart.series[s];
      const char* color = kColors[s % std::size(kColors)];
      const double x = gx + group_w * 0.15 + bar_w * static_cast<double>(s);
      const double cx = x + bar_w / 2;
      if (c >= series.mean.size() || std::isnan(series.mean[c])) continue;
      const double m = series.mean[c];
      svg += fmt::format(
          "<rect class=\"bar s{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
          "fill=\"{}\" fill-opacity=\"0.75\"><title>{} {}: {:.4f}</title></rect>\n",
          s, x, py(m), bar_w * 0.92, py(0) - py(m), color, html_escape(series.name),
          html_escape(chart.categories[c]), m);
      double label_top = m;  // the value reads above the whisker and the dots
      if (c < series.sd.size() && !std::isnan(series.sd[c])) {
        label_top = std::max(label_top, m + series.sd[c]);
        const double lo = std::max(0.0, m - series.sd[c]);
        const double up = m + series.sd[c];
        svg += fmt::format(
            "<path class=\"whisker\" d=\"M{0:.1f} {1:.1f} V{2:.1f} M{3:.1f} {1:.1f} H{4:.1f} "
            "M{3:.1f} {2:.1f} H{4:.1f}\" stroke=\"#222\" fill=\"none\"/>\n",
            cx, py(lo), py(up), cx - 4, cx + 4);
      }
      if (c < series.points.size()) {
        for (double v : series.points[c]) {
          if (std::isnan(v)) continue;
          label_top = std::max(label_top, v);
          svg += fmt::format(
              "<circle class=\"seed-point\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"#222\"/>\n",
              cx + bar_w * 0.25, py(v));
        }
      }
      svg += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"value\" text-anchor=\"middle\">{:.3f}</text>\n",
          cx, py(label_top) - 5, m);
    }
  }
  double ly = kTop + 6;
  const double lx = kLeft + plot_w + 16;
  for (std::size_t s = 0; s < chart.series.size(); ++s, ly += 18) {
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"10\" fill=\"{}\" "
        "fill-opacity=\"0.75\"/><text x=\"{:.1f}\" y=\"{:.1f}\" class=\"legend\">{}</text>\n",
        lx, ly - 5, kColors[s % std::size(kColors)], lx + 20, ly + 4,
        html_escape(chart.series[s].name));
  }
  svg += fmt::format(
      "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"#222\"/><text x=\"{:.1f}\" "
      "y=\"{:.1f}\" class=\"legend\">one seed</text>\n",
      lx + 7, ly, lx + 20, ly + 4);
  ly += 18;
  svg += fmt::format(
      "<path d=\"M{0:.1f} {1:.1f} V{2:.1f}\" stroke=\"#222\"/><text x=\"{3:.1f}\" y=\"{4:.1f}\" "
      "class=\"legend\">± sd</text>\n",
      lx + 7, ly - 6, ly + 6, lx + 20, ly + 4);
  svg += "</svg>\n";
  return svg;
}

// The report pages' one stylesheet (inline: the pages load nothing).
const char* page_style() {
  return R"(<style>
body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
table.kv th{background:#f4f4f4}
tr.best td{font-weight:bold;background:#eef6ee}
tr.total td{font-weight:bold;background:#f4f4f4}
.worse{color:#b00;font-weight:bold}
tr.worse-row td:first-child{background:#fde0e0}
.banner{padding:.8em 1em;margin:1em 0;font-weight:bold;border:2px solid}
.banner.simulated{background:#fff4d6;border-color:#d9a400}
.banner.leaks{background:#fde0e0;border-color:#b00}
td.bar span{display:inline-block;height:10px;background:#9cc3e6;margin-right:6px}
table.samples td{max-width:480px}
.target,.detail,.idx{color:#555;font-size:90%}
.reply{font-family:monospace;white-space:pre-wrap;font-size:90%}
pre{background:#f4f4f4;padding:1em;overflow:auto}
svg.chart text{font-size:12px}
svg.chart .title{font-weight:bold;font-size:13px}
svg.chart .value{font-size:10px}
</style>
)";
}

std::string standalone_svg(const std::string& inline_svg) {
  std::string svg = inline_svg;
  const std::size_t at = svg.find("<svg ");
  if (at == std::string::npos) return svg;
  svg.insert(at + 5, "xmlns=\"http://www.w3.org/2000/svg\" ");
  const std::size_t body = svg.find(">\n", at);
  svg.insert(body + 2,
             "<style>text{font-family:sans-serif;font-size:12px;fill:#222}"
             ".title{font-weight:bold;font-size:13px}.value{font-size:10px}</style>\n"
             "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
  return svg;
}

}  // namespace weakdistill::report
