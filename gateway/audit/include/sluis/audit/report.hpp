// Reports over the audit log: the client's access report (nl/fr/en), the DPO report, exports.
#pragma once

#include "sluis/audit/event.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::audit {

using store::BreakGlassReason;

/// The languages a client report is printed in (BRIEF §2: Dutch, French, English).
enum class ReportLanguage { nl, fr, en };
/// "nl", "fr", "en" → the language; nullopt otherwise.
[[nodiscard]] std::optional<ReportLanguage> parse_report_language(std::string_view text) noexcept;

/// How names in events become words on paper.
struct ReportNames {
  /// Partner id → display name ("OCMW Brussel"); unknown ids are printed as the id.
  std::map<std::string, std::string, std::less<>> partner_display_names;
  /// Fallback for role/category/purpose names the built-in translations do not know: the pack's
  /// English label. May be null (then the name itself is printed).
  const policy::RulePack* pack = nullptr;
};

/// The translated label of a role, category or purpose of the default rule pack; for other names
/// the pack's (English) label, else the name itself.
[[nodiscard]] std::string role_label(std::string_view role, ReportLanguage lang,
                                     const ReportNames& names);
[[nodiscard]] std::string category_label(std::string_view category, ReportLanguage lang,
                                         const ReportNames& names);
[[nodiscard]] std::string purpose_label(std::string_view purpose, ReportLanguage lang,
                                        const ReportNames& names);

/// One line of a client's access report: one permitted read (all fragments of one request by one
/// worker merged) or one other event that concerns the client.
struct AccessReportLine {
  Instant time{};
  AuditAction action = AuditAction::read;
  std::string partner;  ///< the acting organisation's id
  std::string role;
  std::vector<std::string> categories;
  std::string purpose;
  bool break_glass = false;
};

/// A client's access report (BRIEF §4 promise 10), oldest line first.
struct AccessReport {
  std::string client;  ///< the audit pseudonym it was built for
  std::vector<AccessReportLine> lines;
};

/// Builds the access report of `client` from `events`: only events naming exactly that client,
/// and of those only permitted reads and consent-grant/-revoke, link, unlink, card-replace,
/// break-the-glass start/expiry, registration and erasure that happened. Refused requests (deny
/// events: a break-the-glass request without a valid reason, period or category opened nothing),
/// acts whose request then failed in the store (the intent followed by a "store.failed" deny),
/// other clients' events and administrative acts are left out. Pure.
[[nodiscard]] AccessReport build_access_report(std::string_view client,
                                               std::span<const StoredEvent> events);
/// Queries `log` for the client's events and builds the report. Errors: as AuditLog::query.
[[nodiscard]] Result<AccessReport> access_report(const AuditLog& log, std::string_view client);

/// Plain text, one page per calendar month (Brussels time) of activity, pages separated by a form
/// feed. Times are Brussels local time (CET/CEST), said once per page.
[[nodiscard]] std::string render_access_report_text(const AccessReport& report, ReportLanguage lang,
                                                    const ReportNames& names);
/// One self-contained printable HTML document, one page (CSS page break) per month of activity.
[[nodiscard]] std::string render_access_report_html(const AccessReport& report, ReportLanguage lang,
                                                    const ReportNames& names);

/// Thresholds of the DPO report.
struct DpoReportOptions {
  double volume_factor = 3.0;  ///< flag a worker's day above this × their median daily reads
  std::uint64_t volume_min_reads = 10;  ///< ... and above this many reads (noise floor)
};

/// What a DPO reviews. Built from any set of events (the whole log, a period, one partner's).
struct DpoReport {
  struct WorkerCount {
    std::string partner;
    std::string worker;
    std::uint64_t count = 0;
  };
  struct UnusualDay {
    std::string partner;
    std::string worker;
    std::string day;  ///< YYYY-MM-DD (UTC)
    std::uint64_t reads = 0;
    double median = 0;  ///< the worker's median reads per active day
  };
  std::uint64_t events = 0;
  std::uint64_t reads = 0;    ///< dossier reads: the read events of one request count once
  std::uint64_t denials = 0;  ///< refused requests: the deny events of one request count once
  std::optional<Instant> first;
  std::optional<Instant> last;
  std::vector<StoredEvent> break_glass;  ///< grants opened and ended, every access through one
  /// Refused break-the-glass requests (nothing was opened): the rule says why.
  std::vector<StoredEvent> break_glass_refused;
  /// Leaf of a grant's break-glass-start event → its written reason (nullopt: it can no longer
  /// be opened). Filled by attach_break_glass_reasons; empty when no store was at hand.
  std::map<std::uint64_t, std::optional<std::string>> reasons;
  bool reasons_attached = false;  ///< attach_break_glass_reasons ran (the store was at hand)
  std::vector<WorkerCount> denials_by_worker;     ///< refused requests, most first
  std::vector<WorkerCount> reads_by_worker;       ///< most first
  std::vector<StoredEvent> outside_relationship;  ///< attempts without a care relationship
  std::vector<UnusualDay> unusual_volumes;
};

/// Pure. `events` in log order (as queries return them): a request's events are consecutive.
[[nodiscard]] DpoReport build_dpo_report(std::span<const StoredEvent> events,
                                         const DpoReportOptions& options = {});

/// The grant a permitted break-glass-start event opened, among `reasons`: by the grant id its
/// rule names ("break-glass.grant:<id>"), or for events written before the id was recorded, by
/// client, partner, worker and start time. nullptr when none matches. Pure.
[[nodiscard]] const BreakGlassReason* find_break_glass_reason(
    const AuditEvent& start, std::span<const BreakGlassReason> reasons) noexcept;
/// Fills report.reasons for every grant start in report.break_glass that `reasons` covers
/// (ConsentBook::break_glass_reasons, scoped to what the reader is entitled to). Pure.
void attach_break_glass_reasons(DpoReport& report, std::span<const BreakGlassReason> reasons);
[[nodiscard]] std::string render_dpo_report_text(const DpoReport& report, const ReportNames& names);
/// One self-contained HTML page with inline SVG bar charts (no scripts, no external resources).
[[nodiscard]] std::string render_dpo_report_html(const DpoReport& report, const ReportNames& names);

/// Export formats of `sluisctl audit export`.
/// JSON lines: {"leaf":N,"leaf_hash":"<hex>","event":<canonical event>} per line.
[[nodiscard]] std::string export_jsonl(const StoredEvent& event);
/// CSV (RFC 4180) header and rows; cells that a spreadsheet would run as a formula are prefixed
/// with an apostrophe.
[[nodiscard]] std::string export_csv_header();
[[nodiscard]] std::string export_csv_row(const StoredEvent& event);
/// One FHIR R5 AuditEvent resource (JSON, one line). `origin` names the observer (the gateway).
[[nodiscard]] std::string export_fhir(const StoredEvent& event, std::string_view origin);

}  // namespace sluis::audit
