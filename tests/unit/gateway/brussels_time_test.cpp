// Brussels local time: the EU summer-time rule around both yearly changes, and on paper.
#include "sluis/audit/report.hpp"
#include "sluis/audit/brussels_time.hpp"
#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;

namespace {

Instant utc(const char* rfc3339) {
  const auto t = sluis::policy::parse_time(rfc3339);
  REQUIRE(t);
  return Instant(*t);
}

}  // namespace

TEST_CASE("brussels time: the spring change is at 01:00 UTC on the last Sunday of March",
          "[brussels-time]") {
  // 2025: Sunday 30 March. 02:00 CET becomes 03:00 CEST.
  CHECK_FALSE(is_eu_summer_time(utc("2025-03-30T00:59:59Z")));
  CHECK(format_brussels_time(utc("2025-03-30T00:59:59Z")) == "2025-03-30 01:59");
  CHECK(is_eu_summer_time(utc("2025-03-30T01:00:00Z")));
  CHECK(format_brussels_time(utc("2025-03-30T01:00:00Z")) == "2025-03-30 03:00");
  CHECK(brussels_utc_offset(utc("2025-03-30T01:00:00Z")) == std::chrono::hours(2));
  // The Sunday before is still winter all day.
  CHECK_FALSE(is_eu_summer_time(utc("2025-03-23T12:00:00Z")));
  // 2026: Sunday 29 March; 2024: Sunday 31 March (the last day of the month is itself a Sunday).
  CHECK_FALSE(is_eu_summer_time(utc("2026-03-29T00:59:59Z")));
  CHECK(is_eu_summer_time(utc("2026-03-29T01:00:00Z")));
  CHECK_FALSE(is_eu_summer_time(utc("2024-03-31T00:59:59Z")));
  CHECK(is_eu_summer_time(utc("2024-03-31T01:00:00Z")));
  CHECK(format_brussels_time(utc("2024-03-31T01:30:00Z")) == "2024-03-31 03:30");
}

TEST_CASE("brussels time: the autumn change is at 01:00 UTC on the last Sunday of October",
          "[brussels-time]") {
  // 2025: Sunday 26 October. 03:00 CEST becomes 02:00 CET: 02:00-02:59 is lived twice.
  CHECK(is_eu_summer_time(utc("2025-10-26T00:59:59Z")));
  CHECK(format_brussels_time(utc("2025-10-26T00:59:59Z")) == "2025-10-26 02:59");
  CHECK(format_brussels_time(utc("2025-10-26T00:30:00Z")) == "2025-10-26 02:30");
  CHECK_FALSE(is_eu_summer_time(utc("2025-10-26T01:00:00Z")));
  CHECK(format_brussels_time(utc("2025-10-26T01:00:00Z")) == "2025-10-26 02:00");
  CHECK(format_brussels_time(utc("2025-10-26T01:30:00Z")) == "2025-10-26 02:30");
  CHECK(brussels_utc_offset(utc("2025-10-26T01:00:00Z")) == std::chrono::hours(1));
  // 2026: Sunday 25 October; 2020: Sunday 25 October too.
  CHECK(is_eu_summer_time(utc("2026-10-25T00:59:59Z")));
  CHECK_FALSE(is_eu_summer_time(utc("2026-10-25T01:00:00Z")));
  CHECK(is_eu_summer_time(utc("2020-10-25T00:00:00Z")));
  CHECK_FALSE(is_eu_summer_time(utc("2020-10-25T01:00:00Z")));
}

TEST_CASE("brussels time: winter and summer days, and dates that change with the offset",
          "[brussels-time]") {
  CHECK(format_brussels_time(utc("2025-01-15T09:30:00Z")) == "2025-01-15 10:30");
  CHECK(format_brussels_time(utc("2025-07-15T09:30:00Z")) == "2025-07-15 11:30");
  // Late evening UTC is the next day, month and year in Brussels.
  CHECK(format_brussels_time(utc("2025-12-31T23:30:00Z")) == "2026-01-01 00:30");
  CHECK(format_brussels_time(utc("2025-06-30T22:15:00Z")) == "2025-07-01 00:15");
  const auto b = brussels_time(utc("2025-06-30T22:15:00Z"));
  CHECK(b.year == 2025);
  CHECK(b.month == 7);
  CHECK(b.day == 1);
  CHECK(b.summer);
}

TEST_CASE("brussels time: the client's access report is in Brussels time, said once per page",
          "[brussels-time][audit]") {
  AccessReport r;
  r.client = "p1ref";
  // 22:30 UTC on 31 March is 00:30 on 1 April in Brussels: the April page.
  r.lines.push_back({utc("2025-03-31T22:30:00Z"), AuditAction::registration, "ocmw-brussel",
                     "social-worker", {}, "", false});
  ReportNames names;
  for (const auto lang : {ReportLanguage::nl, ReportLanguage::fr, ReportLanguage::en}) {
    const auto text = render_access_report_text(r, lang, names);
    const auto html = render_access_report_html(r, lang, names);
    for (const auto* doc : {&text, &html}) {
      CHECK(doc->find("2025-04-01 00:30") != std::string::npos);
      CHECK(doc->find("UTC") == std::string::npos);
    }
    CHECK(text.find(lang == ReportLanguage::nl   ? "april 2025"
                    : lang == ReportLanguage::fr ? "avril 2025"
                                                 : "April 2025") != std::string::npos);
  }
  const auto en = render_access_report_text(r, ReportLanguage::en, names);
  const std::string note = "All times are Brussels time.";
  CHECK(en.find(note) != std::string::npos);
  CHECK(en.find(note, en.find(note) + 1) == std::string::npos);
  CHECK(render_access_report_text(r, ReportLanguage::nl, names).find(
            "Alle tijden zijn Brusselse tijd.") != std::string::npos);
  CHECK(render_access_report_html(r, ReportLanguage::fr, names)
            .find("Toutes les heures sont à l'heure de Bruxelles.") != std::string::npos);
}
