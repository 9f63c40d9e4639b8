// Access reports for clients (nl/fr/en, text and printable HTML), the DPO report, and exports.
#include "sluis/audit/report.hpp"

#include "sluis/audit/brussels_time.hpp"
#include "sluis/audit/json_text.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/policy/types.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>

namespace sluis::audit {
namespace {

/// A name of the default rule pack and its wording in nl, fr, en (the order of ReportLanguage).
struct Wording {
  std::string_view name;
  std::array<std::string_view, 3> text;
};

constexpr Wording kRoles[] = {
    {"social-worker", {"maatschappelijk werker", "assistant(e) social(e)", "social worker"}},
    {"nurse", {"verpleegkundige", "infirmier / infirmière", "nurse"}},
    {"psychologist", {"psycholoog", "psychologue", "psychologist"}},
    {"doctor", {"arts", "médecin", "doctor"}},
    {"coordinator",
     {"zorgcoördinator", "coordinateur / coordinatrice de soins", "care coordinator"}},
    {"admin",
     {"administratief medewerker", "employé(e) administratif(ve)", "administrative staff"}},
    {"dpo",
     {"functionaris voor gegevensbescherming", "délégué(e) à la protection des données",
      "data protection officer"}},
};

constexpr Wording kCategories[] = {
    {"contact", {"contactgegevens", "coordonnées", "contact details"}},
    {"identity", {"identiteit", "identité", "identity"}},
    {"housing", {"woonsituatie", "situation de logement", "housing situation"}},
    {"income",
     {"inkomen, uitkeringen en schulden", "revenus, allocations et dettes",
      "income, benefits and debts"}},
    {"health",
     {"lichamelijke gezondheid en medicatie", "santé physique et médicaments",
      "physical health and medication"}},
    {"mental-health", {"geestelijke gezondheid", "santé mentale", "mental health"}},
    {"addiction",
     {"middelengebruik en verslavingszorg", "consommation de substances et aide en addiction",
      "substance use and addiction care"}},
    {"residence-status", {"verblijfsstatus", "statut de séjour", "residence status"}},
    {"justice", {"gerechtelijke situatie", "situation judiciaire", "judicial situation"}},
    {"case-note",
     {"notities van de hulpverlener", "notes de suivi de l'intervenant(e)",
      "case notes of the social worker"}},
    {"appointment", {"afspraken", "rendez-vous", "appointments"}},
};

constexpr Wording kPurposes[] = {
    {"care-coordination",
     {"afstemming van de hulp tussen diensten", "coordination de l'aide entre services",
      "coordinating care between services"}},
    {"referral",
     {"doorverwijzing naar een andere dienst", "orientation vers un autre service",
      "referral to another service"}},
    {"administration", {"administratie", "administration", "administration"}},
    {"emergency",
     {"noodgeval (gevaar voor leven of gezondheid)", "urgence (danger pour la vie ou la santé)",
      "emergency (danger to life or health)"}},
};

/// Fixed phrases of the client report.
enum Phrase : std::size_t {
  kTitle,
  kIntro,
  kReference,
  kPeriod,
  kNoAccess,
  kWhen,
  kWho,
  kRole,
  kWhat,
  kWhy,
  kEmergency,
  kEmergencyNote,
  kPage,
  kOf,
  kTimesBrussels,
  kActRead,
  kActConsentGrant,
  kActConsentRevoke,
  kActLink,
  kActUnlink,
  kActCardReplace,
  kActBreakGlassStart,
  kActBreakGlassExpiry,
  kActRegistration,
  kActErasure,
  kActConsentRead,
  kActAccessReport,
  kActAuditQuery,
  kPhraseCount,
};

constexpr std::array<std::array<std::string_view, 3>, kPhraseCount> kPhrases{{
    {"Wie heeft uw gegevens ingekeken?", "Qui a consulté vos données ?",
     "Who looked at your data?"},
    {"Dit overzicht toont welke organisaties uw gegevens via sluis hebben ingekeken, en wanneer "
     "uw toestemmingen of uw kaart veranderden.",
     "Ce relevé indique quelles organisations ont consulté vos données via sluis, et quand vos "
     "consentements ou votre carte ont changé.",
     "This report shows which organisations looked at your data through sluis, and when your "
     "consents or your card changed."},
    {"Referentie", "Référence", "Reference"},
    {"Maand", "Mois", "Month"},
    {"Er is geen toegang tot uw gegevens geregistreerd.",
     "Aucun accès à vos données n'a été enregistré.", "No access to your data has been recorded."},
    {"Wanneer", "Quand", "When"},
    {"Organisatie", "Organisation", "Organisation"},
    {"Functie", "Fonction", "Role"},
    {"Welke gegevens", "Quelles données", "Which data"},
    {"Waarom", "Pourquoi", "Why"},
    {"NOODTOEGANG", "ACCÈS D'URGENCE", "EMERGENCY ACCESS"},
    {"NOODTOEGANG: toegang zonder uw toestemming in een noodgeval; dit wordt altijd nagekeken.",
     "ACCÈS D'URGENCE : accès sans votre consentement en cas d'urgence ; il est toujours "
     "contrôlé.",
     "EMERGENCY ACCESS: access without your consent in an emergency; it is always reviewed."},
    {"Pagina", "Page", "Page"},
    {"van", "sur", "of"},
    {"Alle tijden zijn Brusselse tijd.", "Toutes les heures sont à l'heure de Bruxelles.",
     "All times are Brussels time."},
    {"heeft gegevens ingekeken", "a consulté des données", "looked at data"},
    {"toestemming geregistreerd", "consentement enregistré", "consent recorded"},
    {"toestemming ingetrokken", "consentement retiré", "consent withdrawn"},
    {"dossiers gekoppeld met uw kaart", "dossiers reliés avec votre carte",
     "records linked with your card"},
    {"koppeling opgeheven", "liaison supprimée", "link removed"},
    {"nieuwe kaart", "nouvelle carte", "new card"},
    {"noodtoegang geopend", "accès d'urgence ouvert", "emergency access opened"},
    {"noodtoegang beëindigd", "accès d'urgence terminé", "emergency access ended"},
    {"ingeschreven", "inscription", "registered"},
    {"gegevens gewist", "données effacées", "data erased"},
    {"uw toestemmingen ingekeken", "a consulté vos consentements", "looked at your consents"},
    {"dit overzicht opgevraagd", "a demandé ce relevé", "asked for this report"},
    {"het toegangsregister over u ingekeken (functionaris voor gegevensbescherming)",
     "a consulté le registre d'accès vous concernant (délégué à la protection des données)",
     "looked at the access record about you (data protection officer)"},
}};

constexpr std::array<std::array<std::string_view, 12>, 3> kMonths{{
    {"januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
     "oktober", "november", "december"},
    {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
     "octobre", "novembre", "décembre"},
    {"January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"},
}};

std::size_t idx(ReportLanguage l) {
  return static_cast<std::size_t>(l);
}

std::string_view phrase(Phrase p, ReportLanguage l) {
  return kPhrases[p][idx(l)];
}

template <std::size_t N>
std::string label(const Wording (&table)[N], std::string_view name, ReportLanguage lang,
                  const std::string* pack_label) {
  for (const auto& w : table) {
    if (w.name == name) return std::string(w.text[idx(lang)]);
  }
  if (pack_label != nullptr && !pack_label->empty()) return *pack_label;
  return std::string(name);
}

std::string_view action_phrase(AuditAction a, ReportLanguage l) {
  switch (a) {
  case AuditAction::read: return phrase(kActRead, l);
  case AuditAction::consent_grant: return phrase(kActConsentGrant, l);
  case AuditAction::consent_revoke: return phrase(kActConsentRevoke, l);
  case AuditAction::link: return phrase(kActLink, l);
  case AuditAction::unlink: return phrase(kActUnlink, l);
  case AuditAction::card_replace: return phrase(kActCardReplace, l);
  case AuditAction::break_glass_start: return phrase(kActBreakGlassStart, l);
  case AuditAction::break_glass_expiry: return phrase(kActBreakGlassExpiry, l);
  case AuditAction::registration: return phrase(kActRegistration, l);
  case AuditAction::erasure: return phrase(kActErasure, l);
  case AuditAction::consent_read: return phrase(kActConsentRead, l);
  case AuditAction::access_report: return phrase(kActAccessReport, l);
  case AuditAction::audit_query: return phrase(kActAuditQuery, l);
  default: break;
  }
  return to_string(a);
}

// What the client is told about: what was seen and what changed. A refused request (a deny
// event) opened and changed nothing, so it is not on the client's report: a refused
// break-the-glass request must never read as "emergency access opened" (the DPO report lists
// those as refusals).
bool concerns_client(const AuditEvent& e) {
  switch (e.action) {
  case AuditAction::read: return e.decision == AuditDecision::permit;
  case AuditAction::consent_grant:
  case AuditAction::consent_revoke:
  case AuditAction::link:
  case AuditAction::unlink:
  case AuditAction::card_replace:
  case AuditAction::break_glass_start:
  case AuditAction::break_glass_expiry:
  case AuditAction::registration:
  case AuditAction::erasure: return e.decision != AuditDecision::deny;
  case AuditAction::consent_read:
  case AuditAction::access_report:
  case AuditAction::audit_query: return e.decision == AuditDecision::permit;
  default: return false;
  }
}

struct Civil {
  int year;
  unsigned month;
  unsigned day;
  long long hour;
  long long minute;
};

Civil civil(Instant t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{days};
  const auto rest = std::chrono::duration_cast<std::chrono::minutes>(t - days).count();
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()), rest / 60, rest % 60};
}

std::string two(long long v) {
  std::string s = std::to_string(v);
  return s.size() < 2 ? "0" + s : s;
}

std::string date_time(Instant t) {
  const auto c = civil(t);
  return std::to_string(c.year) + "-" + two(c.month) + "-" + two(c.day) + " " + two(c.hour) + ":" +
         two(c.minute);
}

// The client's report is in Brussels time (it is read on paper in Belgium).
Civil local_civil(Instant t) {
  const auto b = brussels_time(t);
  return {b.year, b.month, b.day, b.hour, b.minute};
}

std::string day_of(Instant t) {
  const auto c = civil(t);
  return std::to_string(c.year) + "-" + two(c.month) + "-" + two(c.day);
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string partner_name(std::string_view id, const ReportNames& names) {
  auto it = names.partner_display_names.find(id);
  if (it != names.partner_display_names.end() && !it->second.empty()) return it->second;
  return std::string(id);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += sep;
    out += items[i];
  }
  return out;
}

/// Lines grouped by calendar month (Brussels time): one printed page each.
std::vector<std::pair<std::pair<int, unsigned>, std::vector<const AccessReportLine*>>>
by_month(const AccessReport& r) {
  std::vector<std::pair<std::pair<int, unsigned>, std::vector<const AccessReportLine*>>> pages;
  for (const auto& line : r.lines) {
    const auto c = local_civil(line.time);
    const std::pair<int, unsigned> key{c.year, c.month};
    if (pages.empty() || pages.back().first != key) pages.push_back({key, {}});
    pages.back().second.push_back(&line);
  }
  return pages;
}

struct LineText {
  std::string when;
  std::string who;
  std::string role;
  std::string what;
  std::string why;
};

LineText line_text(const AccessReportLine& l, ReportLanguage lang, const ReportNames& names) {
  LineText t;
  t.when = format_brussels_time(l.time);
  t.who = partner_name(l.partner, names);
  t.role = l.role.empty() ? "" : role_label(l.role, lang, names);
  std::vector<std::string> cats;
  for (const auto& c : l.categories)
    cats.push_back(category_label(c, lang, names));
  t.what = std::string(action_phrase(l.action, lang));
  if (!cats.empty()) t.what += ": " + join(cats, ", ");
  t.why = l.purpose.empty() ? "" : purpose_label(l.purpose, lang, names);
  return t;
}

}  // namespace

std::optional<ReportLanguage> parse_report_language(std::string_view text) noexcept {
  if (text == "nl") return ReportLanguage::nl;
  if (text == "fr") return ReportLanguage::fr;
  if (text == "en") return ReportLanguage::en;
  return std::nullopt;
}

std::string role_label(std::string_view role, ReportLanguage lang, const ReportNames& names) {
  const std::string* fallback = nullptr;
  if (names.pack != nullptr) {
    if (auto id = names.pack->role(role)) fallback = &names.pack->def(*id).label;
  }
  return label(kRoles, role, lang, fallback);
}

std::string category_label(std::string_view category, ReportLanguage lang,
                           const ReportNames& names) {
  const std::string* fallback = nullptr;
  if (names.pack != nullptr) {
    if (auto id = names.pack->category(category)) fallback = &names.pack->def(*id).label;
  }
  return label(kCategories, category, lang, fallback);
}

std::string purpose_label(std::string_view purpose, ReportLanguage lang, const ReportNames& names) {
  const std::string* fallback = nullptr;
  if (names.pack != nullptr) {
    if (auto id = names.pack->purpose(purpose)) fallback = &names.pack->def(*id).label;
  }
  return label(kPurposes, purpose, lang, fallback);
}

AccessReport build_access_report(std::string_view client, std::span<const StoredEvent> events) {
  AccessReport report;
  report.client = client;
  if (client.empty()) return report;
  // Reads of one request by one worker become one line (a read logs one event per distinct
  // outcome; logs written before that have one per fragment).
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> read_line;
  // An act recorded before it happened whose request then failed in the store ("store.failed")
  // did not happen either.
  std::set<std::pair<std::string_view, AuditAction>> failed;
  for (const auto& se : events) {
    const AuditEvent& e = se.event;
    if (e.client == client && e.decision == AuditDecision::deny && e.rule == "store.failed" &&
        !e.request_id.empty()) {
      failed.emplace(e.request_id, e.action);
    }
  }
  for (const auto& se : events) {
    const AuditEvent& e = se.event;
    if (e.client != client || !concerns_client(e)) continue;
    if (!e.request_id.empty() && failed.contains({e.request_id, e.action})) continue;
    if (e.action == AuditAction::read && !e.request_id.empty()) {
      const auto key = std::make_tuple(e.request_id, e.partner, e.worker);
      auto it = read_line.find(key);
      if (it != read_line.end()) {
        auto& line = report.lines[it->second];
        for (const auto& c : e.categories) {
          if (std::find(line.categories.begin(), line.categories.end(), c) ==
              line.categories.end()) {
            line.categories.push_back(c);
          }
        }
        line.break_glass = line.break_glass || e.break_glass;
        continue;
      }
      read_line.emplace(key, report.lines.size());
    }
    report.lines.push_back(AccessReportLine{e.time, e.action, e.partner, e.role, e.categories,
                                            e.purpose, e.break_glass});
  }
  std::stable_sort(report.lines.begin(), report.lines.end(),
                   [](const auto& a, const auto& b) { return a.time < b.time; });
  return report;
}

Result<AccessReport> access_report(const AuditLog& log, std::string_view client) {
  if (client.empty()) return make_error_code(Errc::invalid_argument);
  AuditQuery q;
  q.client = std::string(client);
  auto events = log.query_all(q);
  if (!events) return events.error();
  return build_access_report(client, *events);
}

std::string render_access_report_text(const AccessReport& report, ReportLanguage lang,
                                      const ReportNames& names) {
  std::ostringstream out;
  const auto pages = by_month(report);
  auto header = [&] {
    out << phrase(kTitle, lang) << "\n"
        << std::string(40, '=') << "\n"
        << phrase(kIntro, lang) << "\n"
        << phrase(kReference, lang) << ": " << report.client << "\n"
        << phrase(kTimesBrussels, lang) << "\n\n";
  };
  if (pages.empty()) {
    header();
    out << phrase(kNoAccess, lang) << "\n";
    return out.str();
  }
  for (std::size_t p = 0; p < pages.size(); ++p) {
    if (p != 0) out << "\f";
    header();
    const auto [year, month] = pages[p].first;
    out << phrase(kPeriod, lang) << ": " << kMonths[idx(lang)][month - 1] << " " << year << "\n\n";
    for (const auto* line : pages[p].second) {
      const auto t = line_text(*line, lang, names);
      out << "- " << t.when << "  " << t.who;
      if (!t.role.empty()) out << " (" << t.role << ")";
      out << "\n    " << t.what << "\n";
      if (!t.why.empty()) out << "    " << phrase(kWhy, lang) << ": " << t.why << "\n";
      if (line->break_glass) out << "    *** " << phrase(kEmergency, lang) << " ***\n";
    }
    bool any_btg = std::any_of(pages[p].second.begin(), pages[p].second.end(),
                               [](const auto* l) { return l->break_glass; });
    if (any_btg) out << "\n" << phrase(kEmergencyNote, lang) << "\n";
    out << "\n"
        << phrase(kPage, lang) << " " << (p + 1) << " " << phrase(kOf, lang) << " " << pages.size()
        << "\n";
  }
  return out.str();
}

std::string render_access_report_html(const AccessReport& report, ReportLanguage lang,
                                      const ReportNames& names) {
  static constexpr std::array<std::string_view, 3> kLang{"nl", "fr", "en"};
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"" << kLang[idx(lang)] << "\"><head><meta charset=\"utf-8\">"
      << "<title>" << html_escape(phrase(kTitle, lang)) << "</title><style>"
      << "body{font-family:sans-serif;font-size:11pt;margin:2em;color:#000}"
      << "section{break-after:page;page-break-after:always}"
      << "section:last-of-type{break-after:auto;page-break-after:auto}"
      << "table{border-collapse:collapse;width:100%}"
      << "th,td{border:1px solid #444;padding:4px;text-align:left;vertical-align:top}"
      << ".btg{font-weight:bold;border:2px solid #000}"
      << ".footer{margin-top:1em;font-size:9pt}"
      << "@page{size:A4;margin:15mm}"
      << "</style></head><body>\n";
  const auto pages = by_month(report);
  auto header = [&] {
    out << "<h1>" << html_escape(phrase(kTitle, lang)) << "</h1><p>"
        << html_escape(phrase(kIntro, lang)) << "</p><p>" << html_escape(phrase(kReference, lang))
        << ": <code>" << html_escape(report.client) << "</code><br>"
        << html_escape(phrase(kTimesBrussels, lang)) << "</p>\n";
  };
  if (pages.empty()) {
    out << "<section>";
    header();
    out << "<p>" << html_escape(phrase(kNoAccess, lang)) << "</p></section>\n";
  }
  for (std::size_t p = 0; p < pages.size(); ++p) {
    out << "<section>";
    header();
    const auto [year, month] = pages[p].first;
    out << "<h2>" << html_escape(kMonths[idx(lang)][month - 1]) << " " << year << "</h2>\n"
        << "<table><thead><tr><th>" << html_escape(phrase(kWhen, lang)) << "</th><th>"
        << html_escape(phrase(kWho, lang)) << "</th><th>" << html_escape(phrase(kRole, lang))
        << "</th><th>" << html_escape(phrase(kWhat, lang)) << "</th><th>"
        << html_escape(phrase(kWhy, lang)) << "</th></tr></thead><tbody>\n";
    bool any_btg = false;
    for (const auto* line : pages[p].second) {
      const auto t = line_text(*line, lang, names);
      any_btg = any_btg || line->break_glass;
      out << "<tr" << (line->break_glass ? " class=\"btg\"" : "") << "><td>" << html_escape(t.when)
          << "</td><td>" << html_escape(t.who) << "</td><td>" << html_escape(t.role) << "</td><td>"
          << html_escape(t.what);
      if (line->break_glass)
        out << "<br><strong>" << html_escape(phrase(kEmergency, lang)) << "</strong>";
      out << "</td><td>" << html_escape(t.why) << "</td></tr>\n";
    }
    out << "</tbody></table>\n";
    if (any_btg)
      out << "<p><strong>" << html_escape(phrase(kEmergencyNote, lang)) << "</strong></p>";
    out << "<p class=\"footer\">" << html_escape(phrase(kPage, lang)) << " " << (p + 1) << " "
        << html_escape(phrase(kOf, lang)) << " " << pages.size() << "</p></section>\n";
  }
  out << "</body></html>\n";
  return out.str();
}

DpoReport build_dpo_report(std::span<const StoredEvent> events, const DpoReportOptions& options) {
  DpoReport r;
  std::map<std::pair<std::string, std::string>, std::uint64_t> denials;
  std::map<std::pair<std::string, std::string>, std::uint64_t> reads;
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::uint64_t>> daily;
  using RequestKey = std::tuple<std::string_view, std::string_view, std::string_view>;
  RequestKey last_read;    // views into `events`, which outlive the loop
  RequestKey last_denied;
  for (const auto& se : events) {
    const AuditEvent& e = se.event;
    ++r.events;
    if (!r.first || e.time < *r.first) r.first = e.time;
    if (!r.last || e.time > *r.last) r.last = e.time;
    const auto who = std::make_pair(e.partner, e.worker);
    if (e.action == AuditAction::break_glass_start && e.decision == AuditDecision::deny) {
      r.break_glass_refused.push_back(se);  // nothing was opened: a refusal, not a grant
    } else if (e.break_glass || e.action == AuditAction::break_glass_start ||
               e.action == AuditAction::break_glass_expiry) {
      r.break_glass.push_back(se);
    }
    // One request counts once: a read logs one event per distinct outcome (its denials can be
    // several events), and logs written before that have one per fragment. A request's events
    // are consecutive in the log, so comparing with the previous one suffices.
    const auto request = std::make_tuple(std::string_view(e.request_id),
                                         std::string_view(e.partner), std::string_view(e.worker));
    if (e.decision == AuditDecision::deny && (e.request_id.empty() || request != last_denied)) {
      ++r.denials;
      ++denials[who];
      last_denied = request;
    }
    if (e.rule.rfind("relationship.none", 0) == 0) r.outside_relationship.push_back(se);
    // Likewise a dossier read. Events without a request id count each.
    if (e.action == AuditAction::read && (e.request_id.empty() || request != last_read)) {
      ++r.reads;
      ++reads[who];
      ++daily[who][day_of(e.time)];
      last_read = request;
    }
  }
  auto ranked = [](const auto& m) {
    std::vector<DpoReport::WorkerCount> v;
    for (const auto& [k, n] : m)
      v.push_back({k.first, k.second, n});
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.count > b.count; });
    return v;
  };
  r.denials_by_worker = ranked(denials);
  r.reads_by_worker = ranked(reads);
  for (const auto& [who, days] : daily) {
    std::vector<std::uint64_t> counts;
    for (const auto& [d, n] : days)
      counts.push_back(n);
    std::sort(counts.begin(), counts.end());
    const std::size_t n = counts.size();
    const double median =
        n % 2 == 1
            ? static_cast<double>(counts[n / 2])
            : (static_cast<double>(counts[n / 2 - 1]) + static_cast<double>(counts[n / 2])) / 2.0;
    for (const auto& [d, c] : days) {
      if (c > options.volume_min_reads && static_cast<double>(c) > options.volume_factor * median) {
        r.unusual_volumes.push_back({who.first, who.second, d, c, median});
      }
    }
  }
  return r;
}

const BreakGlassReason* find_break_glass_reason(const AuditEvent& start,
                                                std::span<const BreakGlassReason> reasons) noexcept {
  if (start.action != AuditAction::break_glass_start || start.decision == AuditDecision::deny) {
    return nullptr;
  }
  constexpr std::string_view kNamed = "break-glass.grant:";
  const std::string_view rule = start.rule;
  for (const auto& r : reasons) {
    if (rule.starts_with(kNamed)) {
      if (rule.substr(kNamed.size()) == r.grant_id) return &r;
    } else if (r.client == start.client && r.partner_id == start.partner &&
               r.worker_id == start.worker && r.starts_at == start.time) {
      return &r;  // an event from before grants were named: the grant starts when it is recorded
    }
  }
  return nullptr;
}

void attach_break_glass_reasons(DpoReport& report, std::span<const BreakGlassReason> reasons) {
  report.reasons_attached = true;
  for (const auto& se : report.break_glass) {
    if (const auto* r = find_break_glass_reason(se.event, reasons)) report.reasons[se.leaf] = r->reason;
  }
}

namespace {

// A reason as one line of plain text: control characters (a terminal escape, a line break that
// would forge a report line) become spaces.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

constexpr std::string_view kReasonUnavailable =
    "(cannot be opened: the client was erased, or its key is gone)";
constexpr std::string_view kReasonsNeedStore =
    "Written reasons: give --data and --key-store to show each grant's reason.";

std::string event_line(const AuditEvent& e, const ReportNames& names) {
  std::string s = date_time(e.time) + " UTC  " + std::string(to_string(e.action)) + "  " +
                  partner_name(e.partner, names) + " / " + e.worker;
  if (!e.role.empty()) s += " (" + e.role + ")";
  if (!e.client.empty()) s += "  client " + e.client;
  if (!e.categories.empty()) s += "  [" + join(e.categories, ", ") + "]";
  if (!e.purpose.empty()) s += "  for " + e.purpose;
  if (e.decision != AuditDecision::not_applicable) s += "  " + std::string(to_string(e.decision));
  if (!e.rule.empty()) s += "  rule " + e.rule;
  if (!e.owner_partner.empty() && e.owner_partner != e.partner) {
    s += "  data of " + partner_name(e.owner_partner, names);
  }
  return s;
}

void svg_bars(std::ostringstream& out, const std::vector<DpoReport::WorkerCount>& rows,
              const ReportNames& names, std::string_view colour) {
  const std::size_t n = std::min<std::size_t>(rows.size(), 20);
  if (n == 0) {
    out << "<p>None.</p>\n";
    return;
  }
  std::uint64_t max = 1;
  for (std::size_t i = 0; i < n; ++i)
    max = std::max(max, rows[i].count);
  constexpr int kBar = 18;
  constexpr int kLabel = 260;
  constexpr int kWidth = 400;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kLabel + kWidth + 60
      << "\" height=\"" << static_cast<int>(n) * (kBar + 4) + 4 << "\" role=\"img\">\n";
  for (std::size_t i = 0; i < n; ++i) {
    const int y = static_cast<int>(i) * (kBar + 4) + 2;
    const auto w =
        static_cast<int>(static_cast<double>(rows[i].count) / static_cast<double>(max) * kWidth);
    out << "<text x=\"0\" y=\"" << y + 13 << "\" font-size=\"12\">"
        << html_escape(partner_name(rows[i].partner, names) + " / " + rows[i].worker)
        << "</text><rect x=\"" << kLabel << "\" y=\"" << y << "\" width=\"" << std::max(w, 1)
        << "\" height=\"" << kBar << "\" fill=\"" << colour << "\"/><text x=\""
        << kLabel + std::max(w, 1) + 4 << "\" y=\"" << y + 13 << "\" font-size=\"12\">"
        << rows[i].count << "</text>\n";
  }
  out << "</svg>\n";
}

}  // namespace

std::string render_dpo_report_text(const DpoReport& r, const ReportNames& names) {
  std::ostringstream out;
  out << "sluis audit report for the DPO\n==============================\n";
  out << "Events: " << r.events << "  reads: " << r.reads << "  denials: " << r.denials << "\n";
  if (r.first && r.last) {
    out << "Period: " << date_time(*r.first) << " to " << date_time(*r.last) << " UTC\n";
  }
  out << "\n1. Break-the-glass to review (" << r.break_glass.size() << ")\n";
  if (!r.reasons_attached && !r.break_glass.empty()) out << "  " << kReasonsNeedStore << "\n";
  for (const auto& se : r.break_glass) {
    out << "  #" << se.leaf << "  " << event_line(se.event, names) << "\n";
    if (auto it = r.reasons.find(se.leaf); it != r.reasons.end()) {
      out << "      reason: " << (it->second ? one_line(*it->second) : kReasonUnavailable) << "\n";
    }
  }
  out << "\n   Refused break-the-glass requests (" << r.break_glass_refused.size()
      << "; nothing was opened)\n";
  for (const auto& se : r.break_glass_refused)
    out << "  #" << se.leaf << "  " << event_line(se.event, names) << "\n";
  out << "\n2. Denials by worker\n";
  for (const auto& w : r.denials_by_worker) {
    out << "  " << w.count << "  " << partner_name(w.partner, names) << " / " << w.worker << "\n";
  }
  out << "\n3. Access attempts outside a care relationship (" << r.outside_relationship.size()
      << ")\n";
  for (const auto& se : r.outside_relationship) {
    out << "  #" << se.leaf << "  " << event_line(se.event, names) << "\n";
  }
  out << "\n4. Unusual volumes (a day above 3x the worker's median daily reads)\n";
  for (const auto& u : r.unusual_volumes) {
    out << "  " << u.day << "  " << partner_name(u.partner, names) << " / " << u.worker << ": "
        << u.reads << " reads (median " << u.median << ")\n";
  }
  out << "\n5. Reads by worker\n";
  for (const auto& w : r.reads_by_worker) {
    out << "  " << w.count << "  " << partner_name(w.partner, names) << " / " << w.worker << "\n";
  }
  return out.str();
}

std::string render_dpo_report_html(const DpoReport& r, const ReportNames& names) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      << "<title>sluis audit report</title><style>"
      << "body{font-family:sans-serif;font-size:11pt;margin:2em}"
      << "table{border-collapse:collapse}th,td{border:1px solid #888;padding:3px 6px;"
      << "text-align:left;vertical-align:top}h2{margin-top:1.5em}"
      << "</style></head><body>\n<h1>sluis audit report for the DPO</h1>\n<p>Events: " << r.events
      << ", reads: " << r.reads << ", denials: " << r.denials;
  if (r.first && r.last) {
    out << "<br>Period: " << date_time(*r.first) << " to " << date_time(*r.last) << " UTC";
  }
  out << "</p>\n";
  auto table = [&](const std::vector<StoredEvent>& rows, bool with_reasons) {
    if (rows.empty()) {
      out << "<p>None.</p>\n";
      return;
    }
    out << "<table><tr><th>#</th><th>When (UTC)</th><th>Action</th><th>Partner / worker</th>"
        << "<th>Client</th><th>Categories</th><th>Purpose</th><th>Decision</th><th>Rule</th>"
        << (with_reasons ? "<th>Written reason</th>" : "") << "</tr>\n";
    for (const auto& se : rows) {
      const auto& e = se.event;
      out << "<tr><td>" << se.leaf << "</td><td>" << date_time(e.time) << "</td><td>"
          << html_escape(to_string(e.action)) << "</td><td>"
          << html_escape(partner_name(e.partner, names) + " / " + e.worker) << "</td><td>"
          << html_escape(e.client) << "</td><td>" << html_escape(join(e.categories, ", "))
          << "</td><td>" << html_escape(e.purpose) << "</td><td>"
          << html_escape(to_string(e.decision)) << "</td><td>" << html_escape(e.rule) << "</td>";
      if (with_reasons) {
        out << "<td>";
        if (auto it = r.reasons.find(se.leaf); it != r.reasons.end()) {
          out << html_escape(it->second ? one_line(*it->second) : kReasonUnavailable);
        }
        out << "</td>";
      }
      out << "</tr>\n";
    }
    out << "</table>\n";
  };
  out << "<h2>1. Break-the-glass to review (" << r.break_glass.size() << ")</h2>\n";
  if (!r.reasons_attached && !r.break_glass.empty()) {
    out << "<p>" << html_escape(kReasonsNeedStore) << "</p>\n";
  }
  table(r.break_glass, r.reasons_attached);
  out << "<h3>Refused break-the-glass requests (" << r.break_glass_refused.size()
      << "; nothing was opened)</h3>\n";
  table(r.break_glass_refused, false);
  out << "<h2>2. Denials by worker</h2>\n";
  svg_bars(out, r.denials_by_worker, names, "#b22222");
  out << "<h2>3. Access attempts outside a care relationship (" << r.outside_relationship.size()
      << ")</h2>\n";
  table(r.outside_relationship, false);
  out << "<h2>4. Unusual volumes</h2>\n";
  if (r.unusual_volumes.empty()) {
    out << "<p>None.</p>\n";
  } else {
    out << "<table><tr><th>Day (UTC)</th><th>Partner / worker</th><th>Reads</th>"
        << "<th>Median per day</th></tr>\n";
    for (const auto& u : r.unusual_volumes) {
      out << "<tr><td>" << u.day << "</td><td>"
          << html_escape(partner_name(u.partner, names) + " / " + u.worker) << "</td><td>"
          << u.reads << "</td><td>" << u.median << "</td></tr>\n";
    }
    out << "</table>\n";
  }
  out << "<h2>5. Reads by worker</h2>\n";
  svg_bars(out, r.reads_by_worker, names, "#2f6fb0");
  out << "</body></html>\n";
  return out.str();
}

std::string export_jsonl(const StoredEvent& se) {
  const auto h = crypto::leaf_hash(se.canonical);
  return "{\"leaf\":" + std::to_string(se.leaf) + ",\"leaf_hash\":\"" + crypto::to_hex(h) +
         "\",\"event\":" + se.canonical + "}";
}

std::string export_csv_header() {
  return "leaf,time,partner,worker,role,action,client,categories,purpose,decision,rule,"
         "break_glass,request_id,owner_partner";
}

namespace {
std::string csv_cell(std::string_view v) {
  std::string s(v);
  // A spreadsheet runs a cell starting with = + - @ as a formula (CSV injection).
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) s = "'" + s;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}
}  // namespace

std::string export_csv_row(const StoredEvent& se) {
  const auto& e = se.event;
  return std::to_string(se.leaf) + "," +
         csv_cell(policy::format_time(std::chrono::floor<std::chrono::seconds>(e.time))) + "," +
         csv_cell(e.partner) + "," + csv_cell(e.worker) + "," + csv_cell(e.role) + "," +
         csv_cell(to_string(e.action)) + "," + csv_cell(e.client) + "," +
         csv_cell(join(e.categories, ";")) + "," + csv_cell(e.purpose) + "," +
         csv_cell(to_string(e.decision)) + "," + csv_cell(e.rule) + "," +
         (e.break_glass ? "true" : "false") + "," + csv_cell(e.request_id) + "," +
         csv_cell(e.owner_partner);
}

std::string export_fhir(const StoredEvent& se, std::string_view origin) {
  const auto& e = se.event;
  constexpr std::string_view kSluis = "https://sluis.example/fhir/CodeSystem/";
  // FHIR R5 AuditEvent (https://hl7.org/fhir/R5/auditevent.html). `action` is the CRUDE code;
  // `outcome.code` uses audit-event-outcome (0 success, 4 minor failure: a policy denial);
  // sluis's own names travel in sluis code systems (the bindings are extensible/example).
  std::string crude = "E";
  switch (e.action) {
  case AuditAction::read:
  case AuditAction::consent_read:
  case AuditAction::access_report:
  case AuditAction::audit_query:
  case AuditAction::caseload_read: crude = "R"; break;
  case AuditAction::caseload_label: crude = "U"; break;
  case AuditAction::registration:
  case AuditAction::fragment_write:
  case AuditAction::consent_grant:
  case AuditAction::partner_add:
  case AuditAction::worker_add:
  case AuditAction::break_glass_start: crude = "C"; break;
  case AuditAction::fragment_supersede:
  case AuditAction::consent_revoke:
  case AuditAction::link:
  case AuditAction::unlink:
  case AuditAction::card_replace:
  case AuditAction::partner_revoke:
  case AuditAction::worker_disable:
  case AuditAction::worker_enable:
  case AuditAction::key_rotate:
  case AuditAction::policy_reload:
  case AuditAction::restore: crude = "U"; break;
  case AuditAction::erasure: crude = "D"; break;
  default: break;
  }
  const bool denied = e.decision == AuditDecision::deny;
  std::string j =
      "{\"resourceType\":\"AuditEvent\",\"id\":\"sluis-audit-" + std::to_string(se.leaf) + "\"";
  j += ",\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
       "audit-event-type\",\"code\":\"rest\",\"display\":\"RESTful Operation\"}]}]";
  j += ",\"code\":{\"coding\":[{\"system\":" + json_string(std::string(kSluis) + "audit-action") +
       ",\"code\":" + json_string(to_string(e.action)) + "}]}";
  j += ",\"action\":\"" + crude + "\"";
  j += ",\"severity\":\"informational\"";
  j += ",\"recorded\":" +
       json_string(policy::format_time(std::chrono::floor<std::chrono::seconds>(e.time)));
  j += ",\"outcome\":{\"code\":{\"system\":\"http://terminology.hl7.org/CodeSystem/"
       "audit-event-outcome\",\"code\":\"" +
       std::string(denied ? "4" : "0") + "\",\"display\":\"" +
       std::string(denied ? "Minor failure" : "Success") + "\"}";
  if (!e.rule.empty()) {
    j += ",\"detail\":[{\"coding\":[{\"system\":" + json_string(std::string(kSluis) + "rule") +
         ",\"code\":" + json_string(e.rule) + "}]}]";
  }
  j += "}";
  if (!e.purpose.empty() || e.break_glass) {
    j += ",\"authorization\":[";
    bool first = true;
    if (!e.purpose.empty()) {
      j += "{\"coding\":[{\"system\":" + json_string(std::string(kSluis) + "purpose") +
           ",\"code\":" + json_string(e.purpose) + "}]}";
      first = false;
    }
    if (e.break_glass) {
      if (!first) j += ",";
      j += "{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActReason\","
           "\"code\":\"ETREAT\",\"display\":\"Emergency Treatment\"}],\"text\":\"break the "
           "glass\"}";
    }
    j += "]";
  }
  if (!e.client.empty()) {
    j += ",\"patient\":{\"identifier\":{\"system\":\"urn:sluis:audit-pseudonym\",\"value\":" +
         json_string(e.client) + "}}";
  }
  j += ",\"agent\":[{\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
       "extra-security-role-type\",\"code\":\"humanuser\",\"display\":\"human user\"}]}";
  if (!e.role.empty()) {
    j += ",\"role\":[{\"coding\":[{\"system\":" + json_string(std::string(kSluis) + "role") +
         ",\"code\":" + json_string(e.role) + "}]}]";
  }
  j += ",\"who\":{\"identifier\":{\"system\":" +
       json_string("urn:sluis:partner:" + e.partner + ":worker") +
       ",\"value\":" + json_string(e.worker.empty() ? "unknown" : e.worker) + "}}";
  j += ",\"requestor\":true}]";
  j += ",\"source\":{\"observer\":{\"identifier\":{\"system\":\"urn:sluis:gateway\",\"value\":" +
       json_string(origin) +
       "}},\"type\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/"
       "CodeSystem/security-source-type\",\"code\":\"4\",\"display\":\"Application Server\"}]}]}";
  j += ",\"entity\":[";
  bool first_entity = true;
  if (!e.client.empty()) {
    j += "{\"what\":{\"identifier\":{\"system\":\"urn:sluis:audit-pseudonym\",\"value\":" +
         json_string(e.client) +
         "}},\"role\":{\"coding\":[{\"system\":\"http://"
         "terminology.hl7.org/CodeSystem/object-role\",\"code\":\"1\",\"display\":\"Patient\"}]}";
    if (!e.categories.empty()) {
      j += ",\"detail\":[{\"type\":{\"coding\":[{\"system\":" +
           json_string(std::string(kSluis) + "entity-detail") +
           ",\"code\":\"categories\"}]},\"valueString\":" + json_string(join(e.categories, ",")) +
           "}";
      if (!e.owner_partner.empty()) {
        j += ",{\"type\":{\"coding\":[{\"system\":" +
             json_string(std::string(kSluis) + "entity-detail") +
             ",\"code\":\"owner-partner\"}]},\"valueString\":" + json_string(e.owner_partner) + "}";
      }
      j += "]";
    }
    j += "}";
    first_entity = false;
  }
  if (!e.request_id.empty()) {
    if (!first_entity) j += ",";
    j += "{\"what\":{\"identifier\":{\"system\":\"urn:sluis:request\",\"value\":" +
         json_string(e.request_id) + "}}}";
    first_entity = false;
  }
  if (!first_entity) j += ",";
  j += "{\"what\":{\"identifier\":{\"system\":\"urn:sluis:audit-leaf\",\"value\":\"" +
       std::to_string(se.leaf) + "\"}},\"detail\":[{\"type\":{\"coding\":[{\"system\":" +
       json_string(std::string(kSluis) + "entity-detail") +
       ",\"code\":\"leaf-hash\"}]},\"valueString\":\"" +
       crypto::to_hex(crypto::leaf_hash(se.canonical)) + "\"}]}";
  j += "]}";
  return j;
}

}  // namespace sluis::audit
