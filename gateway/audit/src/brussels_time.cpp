// Brussels local time: UTC plus one hour, plus another in EU summer time.
#include "sluis/audit/brussels_time.hpp"

namespace sluis::audit {
namespace {

using namespace std::chrono;

/// 01:00 UTC on the last Sunday of `m` in `y`: when EU clocks change (all zones at once).
sys_time<milliseconds> change_at(year y, month m) noexcept {
  return sys_days{y / m / Sunday[last]} + hours{1};
}

std::string two(long v) {
  return (v < 10 ? "0" : "") + std::to_string(v);
}

}  // namespace

bool is_eu_summer_time(Instant t) noexcept {
  const year y = year_month_day{floor<days>(t)}.year();
  return t >= change_at(y, March) && t < change_at(y, October);
}

std::chrono::hours brussels_utc_offset(Instant t) noexcept {
  return hours{is_eu_summer_time(t) ? 2 : 1};
}

BrusselsTime brussels_time(Instant t) noexcept {
  const bool summer = is_eu_summer_time(t);
  const auto local = t + hours{summer ? 2 : 1};
  const auto day = floor<days>(local);
  const year_month_day ymd{day};
  const auto minutes_in_day = duration_cast<minutes>(local - day).count();
  return {static_cast<int>(ymd.year()),
          static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()),
          static_cast<int>(minutes_in_day / 60),
          static_cast<int>(minutes_in_day % 60),
          summer};
}

std::string format_brussels_time(Instant t) {
  const auto b = brussels_time(t);
  return std::to_string(b.year) + "-" + two(b.month) + "-" + two(b.day) + " " + two(b.hour) + ":" +
         two(b.minute);
}

}  // namespace sluis::audit
