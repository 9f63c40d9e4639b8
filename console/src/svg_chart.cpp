// Server-drawn SVG bar charts: integer geometry in tenths of a pixel, drawn by the template
// engine so that every label is escaped by the one escaping function the console trusts.
#include "sluis/console/svg_chart.hpp"

#include "sluis/console/catalogue.hpp"
#include "sluis/console/utf8.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>

namespace sluis::console {
namespace {

// The chart's markup. Only values are substituted, always through {{name}} (escaped); the
// engine's load-time checks refuse any unsafe position, so a mistake here fails at start-up.
// aria: the <svg> is one image named by its <title> and described by its <desc>; the bars'
// own <title>s are tooltips; the table holds the same numbers for everyone else.
constexpr std::string_view kChartTemplate = R"(<figure class="chart chart-{{tone}}" id="{{id}}">
<figcaption class="chart-title">{{title}}</figcaption>
{{#empty}}<p class="chart-empty">{{empty_text}}</p>
{{/empty}}{{^empty}}<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {{width}} {{height}}" width="{{width}}" height="{{height}}" role="img" aria-labelledby="{{id}}-title {{id}}-desc" font-family="system-ui, sans-serif" font-size="12">
<title id="{{id}}-title">{{title}}</title>
<desc id="{{id}}-desc">{{description}}</desc>
<g class="chart-grid" stroke="#595959" stroke-width="1">
{{#grid}}<line x1="{{x1}}" y1="{{y1}}" x2="{{x2}}" y2="{{y2}}"/>
{{/grid}}</g>
<g class="chart-ticks" fill="#1a1a1a">
{{#ticks}}<text x="{{x}}" y="{{y}}" text-anchor="{{anchor}}">{{text}}</text>
{{/ticks}}</g>
<g class="chart-bars chart-bars-{{tone}}" fill="{{fill}}">
{{#bars}}<rect x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}"><title>{{label}}: {{value}}</title></rect>
{{/bars}}</g>
<g class="chart-labels" fill="#1a1a1a">
{{#labels}}<text x="{{x}}" y="{{y}}" text-anchor="{{anchor}}">{{text}}</text>
{{/labels}}</g>
</svg>
<details class="chart-data">
<summary>{{table_summary}}</summary>
<table>
<caption>{{title}}</caption>
<thead><tr><th scope="col">{{label_heading}}</th><th scope="col">{{value_heading}}</th></tr></thead>
<tbody>
{{#rows}}<tr><th scope="row">{{label}}</th><td>{{value}}</td></tr>
{{/rows}}</tbody>
</table>
</details>
{{/empty}}</figure>
)";

const TemplateSet& chart_templates() {
  static const TemplateSet set =
      TemplateSet::from_sources({{"chart", std::string(kChartTemplate)}});
  return set;
}

const Catalogue& no_strings() {
  // The chart uses no {{t:...}} key: every text is given, translated, by the caller.
  static const Catalogue catalogue = Catalogue::from_toml("", "en", "svg_chart");
  return catalogue;
}

// Geometry, in tenths of a pixel (so output is integer-exact and byte-for-byte reproducible).
constexpr std::int64_t kTenth = 10;
constexpr std::int64_t kWidth = 640 * kTenth;
// columns
constexpr std::int64_t kColumnsHeight = 260 * kTenth;
constexpr std::int64_t kLeft = 72 * kTenth;  // tick labels
constexpr std::int64_t kRight = 8 * kTenth;
constexpr std::int64_t kTop = 20 * kTenth;
constexpr std::int64_t kBottom = 36 * kTenth;    // day labels
constexpr std::int64_t kCharWidth = 7 * kTenth;  // a generous average at font-size 12
// rows
constexpr std::int64_t kRowHeight = 28 * kTenth;
constexpr std::int64_t kRowBar = 18 * kTenth;
constexpr std::int64_t kRowLabelWidth = 240 * kTenth;
constexpr std::int64_t kRowValueWidth = 150 * kTenth;  // room for 20 digits after the bar
constexpr std::size_t kMaxRowLabelChars = 32;

std::string px(std::int64_t tenths) {
  const bool negative = tenths < 0;
  const std::uint64_t t =
      negative ? static_cast<std::uint64_t>(-tenths) : static_cast<std::uint64_t>(tenths);
  std::string out = negative ? "-" : "";
  out += std::to_string(t / 10);
  if (t % 10 != 0) {
    out += '.';
    out += static_cast<char>('0' + t % 10);
  }
  return out;
}

// value * length / top without overflow or floating point (top > 0, value <= top): 128-bit
// arithmetic, a GCC/Clang extension (marked, so -Wpedantic accepts it).
__extension__ using Wide = unsigned __int128;
std::int64_t scaled(std::uint64_t value, std::uint64_t top, std::int64_t length) {
  const Wide num = static_cast<Wide>(value) * static_cast<Wide>(length);
  return static_cast<std::int64_t>(num / top);
}

// The tick step: the smallest 1, 2 or 5 × 10^k giving at most 5 intervals up to `max`.
std::uint64_t tick_step(std::uint64_t max) {
  std::uint64_t power = 1;
  for (;;) {
    for (const std::uint64_t m : {1U, 2U, 5U}) {
      if (power > std::numeric_limits<std::uint64_t>::max() / m) return power;
      const std::uint64_t step = power * m;
      if (max / step + (max % step != 0 ? 1 : 0) <= 5) return step;
    }
    if (power > std::numeric_limits<std::uint64_t>::max() / 10) return power;
    power *= 10;
  }
}

struct Axis {
  std::uint64_t top = 1;  // the scale's end (bars are drawn relative to it)
  std::vector<std::uint64_t> ticks;
};

Axis make_axis(std::uint64_t max) {
  Axis a;
  if (max == 0) {
    a.ticks = {0, 1};
    return a;
  }
  const std::uint64_t step = tick_step(max);
  const std::uint64_t intervals = max / step + (max % step != 0 ? 1 : 0);
  // The top tick may not fit in 64 bits (max near 2^64): then the scale ends at max itself.
  if (intervals > std::numeric_limits<std::uint64_t>::max() / step) {
    a.top = max;
  } else {
    a.top = intervals * step;
  }
  for (std::uint64_t k = 0; k <= intervals; ++k) {
    if (k != 0 && step > std::numeric_limits<std::uint64_t>::max() / k) break;
    const std::uint64_t t = k * step;
    if (t > a.top) break;
    a.ticks.push_back(t);
  }
  return a;
}

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; }));
}

// The first `n` code points of valid UTF-8 `s`, plus "…" when cut (the table has it in full).
std::string shorten(std::string_view s, std::size_t n) {
  if (code_points(s) <= n) return std::string(s);
  std::size_t seen = 0;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0U) != 0x80U) {
      if (seen == n - 1) break;
      ++seen;
    }
  }
  return std::string(s.substr(0, i)) + "\xE2\x80\xA6";
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 32 || id[0] < 'a' || id[0] > 'z') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

TemplateData text_at(std::int64_t x, std::int64_t y, std::string_view anchor, std::string text) {
  TemplateData d;
  d.set("x", px(x)).set("y", px(y)).set("anchor", std::string(anchor)).set("text", std::move(text));
  return d;
}

TemplateData line(std::int64_t x1, std::int64_t y1, std::int64_t x2, std::int64_t y2) {
  TemplateData d;
  d.set("x1", px(x1)).set("y1", px(y1)).set("x2", px(x2)).set("y2", px(y2));
  return d;
}

TemplateData rect(std::int64_t x, std::int64_t y, std::int64_t w, std::int64_t h,
                  const ChartBar& bar) {
  TemplateData d;
  d.set("x", px(x)).set("y", px(y)).set("w", px(w)).set("h", px(h));
  d.set("label", bar.label).set("value", std::to_string(bar.value));
  return d;
}

// One bar per day: value axis on the left, labels under the bars, every k-th label when they
// would not fit side by side (the table lists them all).
std::int64_t draw_columns(const BarChart& chart, const Axis& axis, TemplateData& d) {
  const std::int64_t plot_w = kWidth - kLeft - kRight;
  const std::int64_t plot_h = kColumnsHeight - kTop - kBottom;
  const std::int64_t base = kTop + plot_h;
  const auto n = static_cast<std::int64_t>(chart.bars.size());
  const std::int64_t pitch = plot_w / n;
  const std::int64_t bar_w = std::max<std::int64_t>(pitch * 7 / 10, kTenth);

  std::vector<TemplateData> grid, ticks, bars, labels;
  for (const auto t : axis.ticks) {
    const std::int64_t y = base - scaled(t, axis.top, plot_h);
    grid.push_back(line(kLeft, y, kLeft + plot_w, y));
    ticks.push_back(text_at(kLeft - 6 * kTenth, y + 4 * kTenth, "end", std::to_string(t)));
  }
  std::size_t widest = 1;
  for (const auto& b : chart.bars)
    widest = std::max(widest, code_points(b.label));
  const std::int64_t label_w = static_cast<std::int64_t>(widest) * kCharWidth + 6 * kTenth;
  const std::int64_t every = std::max<std::int64_t>(1, (label_w + pitch - 1) / pitch);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& b = chart.bars[static_cast<std::size_t>(i)];
    const std::int64_t h = scaled(b.value, axis.top, plot_h);
    const std::int64_t x = kLeft + i * pitch + (pitch - bar_w) / 2;
    bars.push_back(rect(x, base - h, bar_w, h, b));
    if (i % every == 0) {
      labels.push_back(text_at(x + bar_w / 2, base + 16 * kTenth, "middle", b.label));
    }
  }
  d.set_list("grid", std::move(grid)).set_list("ticks", std::move(ticks));
  d.set_list("bars", std::move(bars)).set_list("labels", std::move(labels));
  return kColumnsHeight;
}

// One bar per category: the label right-aligned on the left, the value after the bar.
std::int64_t draw_rows(const BarChart& chart, const Axis& axis, TemplateData& d) {
  const std::int64_t plot_x = kRowLabelWidth + 8 * kTenth;
  const std::int64_t plot_w = kWidth - plot_x - kRowValueWidth;
  const auto n = static_cast<std::int64_t>(chart.bars.size());
  const std::int64_t height = kTop + n * kRowHeight + kTop;

  std::vector<TemplateData> grid, ticks, bars, labels;
  grid.push_back(line(plot_x, kTop, plot_x, kTop + n * kRowHeight));
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& b = chart.bars[static_cast<std::size_t>(i)];
    const std::int64_t y = kTop + i * kRowHeight + (kRowHeight - kRowBar) / 2;
    const std::int64_t w = scaled(b.value, axis.top, plot_w);
    bars.push_back(rect(plot_x, y, w, kRowBar, b));
    const std::int64_t text_y = y + kRowBar / 2 + 4 * kTenth;
    labels.push_back(
        text_at(plot_x - 8 * kTenth, text_y, "end", shorten(b.label, kMaxRowLabelChars)));
    labels.push_back(text_at(plot_x + w + 6 * kTenth, text_y, "start", std::to_string(b.value)));
  }
  d.set_list("grid", std::move(grid)).set_list("ticks", std::move(ticks));
  d.set_list("bars", std::move(bars)).set_list("labels", std::move(labels));
  return height;
}

std::string_view tone_name(ChartTone tone) noexcept {
  switch (tone) {
  case ChartTone::neutral: return "neutral";
  case ChartTone::denial: return "denial";
  case ChartTone::emergency: return "emergency";
  }
  return "neutral";
}

}  // namespace

std::string_view chart_tone_colour(ChartTone tone) noexcept {
  // Contrast against #ffffff (WCAG 2.1 relative luminance): 7.8:1, 7.5:1, 6.8:1. The same
  // colours are in console.css for the .chart-bars-<tone> classes.
  switch (tone) {
  case ChartTone::neutral: return "#0b5394";
  case ChartTone::denial: return "#a61b1b";
  case ChartTone::emergency: return "#8a4b00";
  }
  return "#0b5394";
}

boost::system::result<Html> render_bar_chart(const BarChart& chart) {
  const auto bad = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  if (!valid_id(chart.id) || chart.bars.size() > kMaxChartBars) return bad;
  for (const std::string_view s :
       {std::string_view(chart.title), std::string_view(chart.description),
        std::string_view(chart.label_heading), std::string_view(chart.value_heading),
        std::string_view(chart.table_summary), std::string_view(chart.empty_text)}) {
    if (!is_valid_utf8(s)) return bad;
  }
  for (const auto& b : chart.bars) {
    if (!is_valid_utf8(b.label)) return bad;
  }

  TemplateData d;
  d.set("id", chart.id).set("title", chart.title).set("tone", std::string(tone_name(chart.tone)));
  d.set_flag("empty", chart.bars.empty());
  d.set("empty_text", chart.empty_text);
  if (!chart.bars.empty()) {
    std::uint64_t max = 0;
    for (const auto& b : chart.bars)
      max = std::max(max, b.value);
    const Axis axis = make_axis(max);
    const std::int64_t height = chart.layout == ChartLayout::columns ? draw_columns(chart, axis, d)
                                                                     : draw_rows(chart, axis, d);
    d.set("width", px(kWidth)).set("height", px(height));
    d.set("fill", std::string(chart_tone_colour(chart.tone)));
    d.set("description", chart.description).set("table_summary", chart.table_summary);
    d.set("label_heading", chart.label_heading).set("value_heading", chart.value_heading);
    std::vector<TemplateData> rows;
    rows.reserve(chart.bars.size());
    for (const auto& b : chart.bars) {
      TemplateData r;
      r.set("label", b.label).set("value", std::to_string(b.value));
      rows.push_back(std::move(r));
    }
    d.set_list("rows", std::move(rows));
  }
  return chart_templates().render("chart", d, no_strings());
}

}  // namespace sluis::console
