// Bar charts drawn on the server as SVG (the DPO's accesses per day, by purpose, denials,
// break-the-glass), with an accessible name, a description and a data table alternative.
#pragma once

#include "sluis/console/template.hpp"

#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::console {

/// What the bars mean, which sets their colour (each at least 4.5:1 against white, WCAG 2.1 AA
/// for text and far above the 3:1 of non-text contrast, 1.4.11).
enum class ChartTone {
  neutral,    ///< accesses, reads, writes: the console's accent blue
  denial,     ///< refused requests: dark red
  emergency,  ///< break-the-glass: dark amber-brown
};

/// Columns for a series over time (one bar per day, labels under the axis, thinned when they
/// would overlap); rows for categories (one horizontal bar per purpose, label on the left).
enum class ChartLayout { columns, rows };

struct ChartBar {
  std::string label;  ///< "2026-11-03", "care-coordination"; any text (escaped)
  std::uint64_t value = 0;
};

/// One chart. Every text is shown as given (already translated by the caller) and escaped by
/// the template engine; none is ever read as markup or template syntax.
struct BarChart {
  std::string id;             ///< unique on the page: [a-z][a-z0-9-]{0,31}; prefixes aria ids
  std::string title;          ///< the accessible name ("Accesses per day")
  std::string description;    ///< a one-sentence summary for screen readers
  std::string label_heading;  ///< the data table's first column heading ("Day", "Purpose")
  std::string value_heading;  ///< its second column heading ("Accesses")
  std::string table_summary;  ///< the disclosure that opens the table ("Show the numbers")
  std::string empty_text;     ///< shown instead of a chart when there are no bars
  ChartTone tone = ChartTone::neutral;
  ChartLayout layout = ChartLayout::columns;
  std::vector<ChartBar> bars;  ///< in display order, at most kMaxChartBars
};

inline constexpr std::size_t kMaxChartBars = 400;  ///< a year of days, with room

/// The chart as an HTML fragment: a <figure> holding an <svg role="img"> labelled by its
/// <title> and <desc>, and a <details> with the same numbers as a <table> (every bar, every
/// label in full). No inline style and no script: colours are presentation attributes (fill,
/// stroke) and classes styled in console.css, so the page's CSP holds. Coordinates are written
/// with one decimal from integer arithmetic: equal input gives byte-identical output. Values
/// up to 2^64 - 1 are drawn to scale.
/// Errors: std::errc::invalid_argument (a bad id, more than kMaxChartBars bars, or a text that
/// is not valid UTF-8); the template engine's errors (none expected).
[[nodiscard]] boost::system::result<Html> render_bar_chart(const BarChart& chart);

/// The fill colour of a tone as "#rrggbb" (the presentation attribute render_bar_chart writes).
[[nodiscard]] std::string_view chart_tone_colour(ChartTone tone) noexcept;

}  // namespace sluis::console
