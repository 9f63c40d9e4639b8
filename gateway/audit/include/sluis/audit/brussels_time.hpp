// Brussels local time (CET/CEST) for what a client reads on paper: the EU summer-time rule.
#pragma once

#include "sluis/store/records.hpp"

#include <chrono>
#include <string>

namespace sluis::audit {

using store::Instant;

/// True when `t` lies in EU summer time (Directive 2000/84/EC): from the last Sunday of March,
/// 01:00 UTC, included, to the last Sunday of October, 01:00 UTC, excluded. Pure; the same rule
/// every year (libstdc++ 12 has no time-zone database, and Belgium follows this rule alone).
[[nodiscard]] bool is_eu_summer_time(Instant t) noexcept;

/// Brussels' offset from UTC at `t`: 2 hours in summer time (CEST), else 1 hour (CET).
[[nodiscard]] std::chrono::hours brussels_utc_offset(Instant t) noexcept;

/// A wall-clock time in Brussels (to the minute).
struct BrusselsTime {
  int year = 0;
  unsigned month = 0;  ///< 1..12
  unsigned day = 0;    ///< 1..31
  int hour = 0;
  int minute = 0;
  bool summer = false;  ///< CEST (else CET)
};

/// `t` as the clock on a Brussels wall shows it. Pure.
[[nodiscard]] BrusselsTime brussels_time(Instant t) noexcept;

/// "YYYY-MM-DD HH:MM" in Brussels time (no zone suffix: the page says once that times are
/// Brussels time).
[[nodiscard]] std::string format_brussels_time(Instant t);

}  // namespace sluis::audit
