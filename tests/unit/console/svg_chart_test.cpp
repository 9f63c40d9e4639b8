// Server-drawn SVG charts: hostile labels come back escaped, empty and huge data, accessible
// names and the data table, colours with AA contrast, no inline style, byte-identical output.
#include "sluis/console/svg_chart.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <regex>
#include <string>

using namespace sluis::console;

namespace {

BarChart per_day(std::size_t days) {
  BarChart c;
  c.id = "accesses-per-day";
  c.title = "Accesses per day";
  c.description = "Accesses to the organisation's clients per day, November 2026.";
  c.label_heading = "Day";
  c.value_heading = "Accesses";
  c.table_summary = "Show the numbers";
  c.empty_text = "No accesses in this period.";
  for (std::size_t i = 0; i < days; ++i) {
    c.bars.push_back({"2026-11-" + std::string(i + 1 < 10 ? "0" : "") + std::to_string(i + 1),
                      static_cast<std::uint64_t>((i * 7) % 23)});
  }
  return c;
}

std::string render(const BarChart& c) {
  auto html = render_bar_chart(c);
  REQUIRE(html.has_value());
  return html->str();
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
    ++n;
  return n;
}

double luminance(const std::string& hex) {
  auto channel = [&](std::size_t i) {
    const double c = std::stoi(hex.substr(i, 2), nullptr, 16) / 255.0;
    return c <= 0.03928 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

double contrast_with_white(const std::string& hex) {
  return 1.05 / (luminance(hex) + 0.05);
}

}  // namespace

TEST_CASE("svg chart: a chart per day has its bars, accessible name, description and table",
          "[console][chart]") {
  const auto c = per_day(30);
  const auto out = render(c);
  CHECK(out.rfind("<figure class=\"chart chart-neutral\" id=\"accesses-per-day\">", 0) == 0);
  CHECK(out.find("role=\"img\" aria-labelledby=\"accesses-per-day-title accesses-per-day-desc\"") !=
        std::string::npos);
  CHECK(out.find("<title id=\"accesses-per-day-title\">Accesses per day</title>") !=
        std::string::npos);
  CHECK(out.find("<desc id=\"accesses-per-day-desc\">Accesses to the organisation&#39;s clients "
                 "per day, November 2026.</desc>") != std::string::npos);
  CHECK(count(out, "<rect ") == 30);
  // The table alternative: every day and value, with headers.
  CHECK(out.find("<th scope=\"col\">Day</th><th scope=\"col\">Accesses</th>") != std::string::npos);
  CHECK(count(out, "<tr><th scope=\"row\">") == 30);
  CHECK(out.find("<tr><th scope=\"row\">2026-11-04</th><td>21</td></tr>") != std::string::npos);
  CHECK(out.find("<summary>Show the numbers</summary>") != std::string::npos);
  // A bar's tooltip names day and value.
  CHECK(out.find("<title>2026-11-04: 21</title>") != std::string::npos);
  // The tallest bar (22, on a scale to 25) is 88% of the plot height (204 px).
  CHECK(out.find("height=\"179.5\"><title>2026-11-14: 22</title>") != std::string::npos);
  // 30 labels of 10 characters (76 px each) do not fit side by side in 30 columns of 18.9 px:
  // every fifth is drawn (the table lists them all).
  CHECK(count(out, "text-anchor=\"middle\">2026-11-") == 6);
  CHECK(out.find("text-anchor=\"middle\">2026-11-06<") != std::string::npos);
  CHECK(out.find("text-anchor=\"middle\">2026-11-05<") == std::string::npos);
  // Ticks at 0, 5, ..., 25.
  CHECK(out.find(">25</text>") != std::string::npos);
  CHECK(count(out, "<line ") == 6);
}

TEST_CASE("svg chart: hostile labels and texts come back escaped, never as markup or template "
          "syntax",
          "[console][chart]") {
  BarChart c = per_day(0);
  c.title = "<script>alert(1)</script>";
  c.description = "\" onload=\"alert(2)";
  c.label_heading = "{{title}}";
  c.value_heading = "{{html:title}}";
  c.table_summary = "</summary><img src=x onerror=alert(3)>";
  c.bars = {{"<script>alert(4)</script>", 3},
            {"'><svg onload=alert(5)>", 2},
            {"{{#bars}}{{/bars}}", 1},
            {"]]><!--", 4},
            {"a\x01"
             "b",
             5}};
  for (const auto layout : {ChartLayout::columns, ChartLayout::rows}) {
    c.layout = layout;
    const auto out = render(c);
    CHECK(out.find("<script") == std::string::npos);
    CHECK(out.find("<img") == std::string::npos);
    CHECK(out.find("<svg onload") == std::string::npos);
    CHECK(out.find("onload=\"") == std::string::npos);
    CHECK(out.find("{{") == std::string::npos);
    CHECK(out.find("<!--") == std::string::npos);
    CHECK(out.find('\x01') == std::string::npos);
    CHECK(out.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
    CHECK(out.find("&lt;script&gt;alert(4)&lt;/script&gt;") != std::string::npos);
    CHECK(out.find("&#39;&gt;&lt;svg onload=alert(5)&gt;") != std::string::npos);
    CHECK(out.find("&quot; onload=&quot;alert(2)") != std::string::npos);
    CHECK(out.find("&#123;&#123;title&#125;&#125;") != std::string::npos);
    // Exactly the chart's own elements: one svg, one table, one details.
    CHECK(count(out, "<svg") == 1);
    CHECK(count(out, "<table>") == 1);
    CHECK(count(out, "<details") == 1);
  }
  c.bars[0].label = "\xC3\x28";  // not UTF-8
  CHECK_FALSE(render_bar_chart(c).has_value());
}

TEST_CASE("svg chart: no data is a sentence, not an empty drawing", "[console][chart]") {
  const auto out = render(per_day(0));
  CHECK(out.find("<p class=\"chart-empty\">No accesses in this period.</p>") != std::string::npos);
  CHECK(out.find("<svg") == std::string::npos);
  CHECK(out.find("<table") == std::string::npos);
  CHECK(out.find("<figcaption class=\"chart-title\">Accesses per day</figcaption>") !=
        std::string::npos);

  // All zeros: a drawing with flat bars on a 0..1 scale.
  auto zeros = per_day(3);
  for (auto& b : zeros.bars)
    b.value = 0;
  const auto flat = render(zeros);
  CHECK(count(flat, "height=\"0\"><title>") == 3);
  CHECK(flat.find(">1</text>") != std::string::npos);
}

TEST_CASE("svg chart: huge values are drawn to scale without overflow", "[console][chart]") {
  const auto max = std::numeric_limits<std::uint64_t>::max();
  BarChart c = per_day(0);
  c.layout = ChartLayout::rows;
  c.bars = {{"all", max}, {"half", max / 2}, {"none", 0}, {"one", 1}};
  const auto out = render(c);
  CHECK(out.find("<td>18446744073709551615</td>") != std::string::npos);
  CHECK(out.find(">18446744073709551615</text>") != std::string::npos);
  // 2^64 - 1 is the scale's end (its next tick would not fit in 64 bits): the full plot width,
  // 242 px, and (rounded down to a tenth) half of it for half the value.
  CHECK(out.find("width=\"242\" height=\"18\"><title>all: ") != std::string::npos);
  CHECK(out.find("width=\"120.9\" height=\"18\"><title>half: ") != std::string::npos);
  CHECK(out.find("width=\"0\" height=\"18\"><title>none: 0") != std::string::npos);

  c.layout = ChartLayout::columns;
  c.bars = {{"a", 999'999'999'999}, {"b", 1}};
  const auto cols = render(c);
  CHECK(cols.find(">1000000000000</text>") != std::string::npos);  // the top tick
  CHECK(cols.find("height=\"204\"><title>a: 999999999999") == std::string::npos);
  CHECK(cols.find("<title>a: 999999999999</title>") != std::string::npos);
}

TEST_CASE("svg chart: a chart per purpose puts long labels in full in the table only",
          "[console][chart]") {
  BarChart c = per_day(0);
  c.id = "by-purpose";
  c.layout = ChartLayout::rows;
  const std::string long_label =
      "co\xC3\xB6rdinatie van de zorg rond een cli\xC3\xABnt met een heel lang doel";
  c.bars = {{"care-coordination", 12}, {long_label, 3}};
  const auto out = render(c);
  CHECK(out.find(">care-coordination</text>") != std::string::npos);
  CHECK(out.find("<th scope=\"row\">" + long_label + "</th>") != std::string::npos);
  // Cut to 31 code points and an ellipsis, the multi-byte letters intact.
  CHECK(out.find(">co\xC3\xB6rdinatie van de zorg rond ee\xE2\x80\xA6</text>") !=
        std::string::npos);
  CHECK(out.find("viewBox=\"0 0 640 96\"") != std::string::npos);
}

TEST_CASE("svg chart: colours meet WCAG AA contrast and no inline style is used",
          "[console][chart]") {
  for (const auto tone : {ChartTone::neutral, ChartTone::denial, ChartTone::emergency}) {
    auto c = per_day(10);
    c.tone = tone;
    const auto out = render(c);
    CHECK(out.find("style") == std::string::npos);
    CHECK(out.find("<script") == std::string::npos);
    CHECK(out.find(" on") == std::string::npos);  // no event-handler attribute
    const std::regex colour("(fill|stroke)=\"(#[0-9a-f]{6})\"");
    std::size_t colours = 0;
    for (std::sregex_iterator it(out.begin(), out.end(), colour), end; it != end; ++it) {
      ++colours;
      INFO((*it)[2].str());
      CHECK(contrast_with_white((*it)[2].str()) >= 4.5);
    }
    CHECK(colours == 4);  // grid stroke, tick text, bars, label text
    CHECK(out.find(std::string("fill=\"") + std::string(chart_tone_colour(tone)) + "\"") !=
          std::string::npos);
  }
}

TEST_CASE("svg chart: output is deterministic and inputs are bounded", "[console][chart]") {
  const auto a = render(per_day(31));
  const auto b = render(per_day(31));
  CHECK(a == b);
  auto c = per_day(3);
  c.tone = ChartTone::denial;
  CHECK(render(c) != render(per_day(3)));

  auto bad = per_day(3);
  bad.id = "Accesses";
  CHECK_FALSE(render_bar_chart(bad).has_value());
  bad.id = "x\"y";
  CHECK_FALSE(render_bar_chart(bad).has_value());
  bad.id = "";
  CHECK_FALSE(render_bar_chart(bad).has_value());
  CHECK(render_bar_chart(per_day(kMaxChartBars)).has_value());
  auto many = per_day(kMaxChartBars);
  many.bars.push_back({"one too many", 1});
  CHECK_FALSE(render_bar_chart(many).has_value());
}
