// Access reports (nl/fr/en), the DPO report, exports, and the sluisctl audit commands.
#include "gateway_fixture.hpp"

#include "sluis/crypto/keyfile.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/audit/report.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluisctl/command.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <tuple>

namespace sluis::ctl {
int run_audit(Args args);
}

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
using sluis::gateway::testing::RawDb;
using sluis::gateway::testing::TempDir;
namespace crypto = sluis::crypto;

namespace {

constexpr std::int64_t kMarch = 1740787200000;  // 2025-03-01T00:00:00Z
constexpr std::int64_t kApril = 1743465600000;  // 2025-04-01T00:00:00Z
constexpr std::int64_t kDay = 86'400'000;

AuditEvent ev(AuditAction action, std::string_view client, std::int64_t ms,
              std::string_view partner, std::string_view worker, std::string_view category,
              AuditDecision decision = AuditDecision::permit, std::string_view request = "",
              bool btg = false, std::string_view rule = "consent.active:c1") {
  AuditEvent e;
  e.time = Instant(std::chrono::milliseconds(ms));
  e.partner = partner;
  e.worker = worker;
  e.role = "nurse";
  e.action = action;
  e.client = client;
  if (!category.empty()) e.categories = {std::string(category)};
  e.purpose = action == AuditAction::read ? "care-coordination" : "";
  e.decision = action == AuditAction::read ? decision : AuditDecision::not_applicable;
  e.rule = action == AuditAction::read ? std::string(rule) : "";
  e.break_glass = btg;
  e.request_id = request;
  e.owner_partner = action == AuditAction::read ? "ocmw-brussel" : "";
  return e;
}

const sluis::policy::RulePack& pack() {
  static const auto p = sluis::policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                                      "/policy/packs/brussels-welfare.toml")
                            .value();
  return p;
}

std::vector<AuditEvent> scenario() {
  return {
      ev(AuditAction::registration, "a1alice", kMarch, "ocmw-brussel", "sw1", ""),
      ev(AuditAction::consent_grant, "a1alice", kMarch + kDay, "ocmw-brussel", "sw1", "health"),
      // One read request over two fragments: one line.
      ev(AuditAction::read, "a1alice", kMarch + 2 * kDay, "thuiszorg", "n1", "health",
         AuditDecision::permit, "req-1"),
      ev(AuditAction::read, "a1alice", kMarch + 2 * kDay, "thuiszorg", "n1", "housing",
         AuditDecision::permit, "req-1"),
      // A denial is not an access.
      ev(AuditAction::read, "a1alice", kMarch + 3 * kDay, "thuiszorg", "n1", "income",
         AuditDecision::deny, "req-2", false, "matrix.no"),
      // Bob's events never appear in Alice's report.
      ev(AuditAction::read, "a1bob", kMarch + 3 * kDay, "secretplace", "spy", "addiction",
         AuditDecision::permit, "req-3"),
      ev(AuditAction::break_glass_start, "a1alice", kApril + kDay, "thuiszorg", "n2", "health"),
      ev(AuditAction::read, "a1alice", kApril + kDay, "thuiszorg", "n2", "mental-health",
         AuditDecision::permit, "req-4", true, "btg.valid:g1"),
      ev(AuditAction::read, "a1carol", kApril + 2 * kDay, "caw-brussel", "sw9", "housing",
         AuditDecision::deny, "req-5", false, "relationship.none"),
      ev(AuditAction::partner_add, "", kMarch, "", "operator", ""),
  };
}

struct Logged {
  TempDir dir;
  crypto::RootKey root = crypto::RootKey::random();
  std::unique_ptr<AuditLog> log;
  Logged() {
    AuditLogOptions o;
    o.path = dir / "audit.db";
    auto l = AuditLog::open(o, root);
    REQUIRE(l);
    log = std::move(*l);
    REQUIRE(log->append(scenario()));
  }
};

ReportNames names() {
  ReportNames n;
  n.partner_display_names = {{"thuiszorg", "Thuiszorg Brussel"},
                             {"ocmw-brussel", "OCMW Brussel"},
                             {"secretplace", "Secret Place"}};
  n.pack = &pack();
  return n;
}

struct Run {
  int code = 0;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::ostringstream out;
  std::ostringstream err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  Run r;
  r.code = sluis::ctl::run_audit(views);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool has(const std::string& hay, std::string_view needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("audit: the access report holds only that client's accesses, in nl, fr and en",
          "[audit]") {
  Logged l;
  auto report = access_report(*l.log, "a1alice");
  REQUIRE(report);
  // registration, consent grant, one merged read, break-glass start, break-glass read.
  REQUIRE(report->lines.size() == 5);
  CHECK(report->lines[2].categories == std::vector<std::string>{"health", "housing"});
  CHECK(report->lines[4].break_glass);

  struct Expect {
    ReportLanguage lang;
    std::string_view title, role, category, purpose, emergency, month;
  };
  for (const auto& x : {
           Expect{ReportLanguage::nl, "Wie heeft uw gegevens ingekeken?", "verpleegkundige",
                  "woonsituatie", "afstemming van de hulp", "NOODTOEGANG", "maart 2025"},
           Expect{ReportLanguage::fr, "Qui a consulté vos données ?", "infirmier",
                  "situation de logement", "coordination de l'aide", "ACCÈS D'URGENCE",
                  "mars 2025"},
           Expect{ReportLanguage::en, "Who looked at your data?", "nurse", "housing situation",
                  "coordinating care", "EMERGENCY ACCESS", "March 2025"},
       }) {
    const auto text = render_access_report_text(*report, x.lang, names());
    const auto html = render_access_report_html(*report, x.lang, names());
    for (const auto* doc : {&text, &html}) {
      CHECK(has(*doc, x.role));
      CHECK(has(*doc, x.category));
      CHECK(has(*doc, x.purpose));
      CHECK(has(*doc, x.emergency));
      CHECK(has(*doc, "Thuiszorg Brussel"));
      // Never another client's events, never a denial.
      CHECK_FALSE(has(*doc, "Secret Place"));
      CHECK_FALSE(has(*doc, "a1bob"));
      CHECK_FALSE(has(*doc, "a1carol"));
    }
    CHECK(has(text, x.title));
    CHECK(has(text, x.month));
    CHECK_FALSE(has(text, "income"));
    CHECK_FALSE(has(text, category_label("income", x.lang, names())));
    // Two months of activity: two pages.
    CHECK(std::count(text.begin(), text.end(), '\f') == 1);
    CHECK(has(html, "<!DOCTYPE html>"));
    CHECK(has(html, "break-after:page"));
  }
  // Unknown names fall back to the pack's English label, then to the name.
  CHECK(category_label("justice", ReportLanguage::fr, names()) == "situation judiciaire");
  ReportNames bare;
  CHECK(category_label("brand-new", ReportLanguage::nl, bare) == "brand-new");
  auto nobody = access_report(*l.log, "a1nobody");
  REQUIRE(nobody);
  CHECK(has(render_access_report_text(*nobody, ReportLanguage::nl, names()),
            "Er is geen toegang tot uw gegevens geregistreerd."));
}

TEST_CASE("audit: a read logged per outcome and the same read logged per fragment report alike",
          "[audit]") {
  // Before November 2026: one event per fragment. Since: one per distinct outcome.
  auto per_fragment = scenario();
  auto per_outcome = scenario();
  per_outcome.erase(per_outcome.begin() + 3);  // req-1's housing event ...
  per_outcome[2].categories = {"health", "housing"};  // ... now on its health event
  auto stored = [](const std::vector<AuditEvent>& events) {
    std::vector<StoredEvent> out;
    std::uint64_t leaf = 0;
    for (const auto& e : events)
      out.push_back({leaf++, e, encode_audit_event(e).value()});
    return out;
  };
  const auto old_report = build_access_report("a1alice", stored(per_fragment));
  const auto new_report = build_access_report("a1alice", stored(per_outcome));
  REQUIRE(new_report.lines.size() == old_report.lines.size());
  for (std::size_t i = 0; i < old_report.lines.size(); ++i) {
    CHECK(new_report.lines[i].categories == old_report.lines[i].categories);
    CHECK(new_report.lines[i].partner == old_report.lines[i].partner);
    CHECK(new_report.lines[i].break_glass == old_report.lines[i].break_glass);
  }
  const auto old_dpo = build_dpo_report(stored(per_fragment));
  const auto new_dpo = build_dpo_report(stored(per_outcome));
  CHECK(new_dpo.reads == old_dpo.reads);
  CHECK(new_dpo.denials == old_dpo.denials);
}

TEST_CASE("audit: the DPO report lists break-the-glass, denials, outside access, volumes",
          "[audit]") {
  std::vector<StoredEvent> events;
  std::uint64_t leaf = 0;
  for (const auto& e : scenario())
    events.push_back({leaf++, e, encode_audit_event(e).value()});
  // A worker with 2 reads a day for 5 days, then 40 in one day.
  for (int d = 0; d < 6; ++d) {
    const int n = d == 5 ? 40 : 2;
    for (int i = 0; i < n; ++i) {
      auto e =
          ev(AuditAction::read, "a1x", kMarch + d * kDay + i, "caw-brussel", "busy", "housing");
      events.push_back({leaf++, e, encode_audit_event(e).value()});
    }
  }
  // One dossier read logged as three events (one per distinct outcome) is one read.
  const auto before = build_dpo_report(events);
  for (const char* category : {"housing", "income", "health"}) {
    auto e = ev(AuditAction::read, "a1x", kMarch + 2 * kDay + 7, "caw-brussel", "busy", category,
                AuditDecision::permit, "req-one-read");
    events.push_back({leaf++, e, encode_audit_event(e).value()});
  }
  // A refused read logged as two deny events (two rules) next to a permit is one read and one
  // denial.
  for (const auto& [category, decision, rule] :
       {std::tuple{"housing", AuditDecision::deny, "consent.none"},
        std::tuple{"income", AuditDecision::permit, "consent.active:c1"},
        std::tuple{"health", AuditDecision::deny, "matrix.no"}}) {
    auto e = ev(AuditAction::read, "a1x", kMarch + 2 * kDay + 9, "caw-brussel", "busy", category,
                decision, "req-mixed", false, rule);
    events.push_back({leaf++, e, encode_audit_event(e).value()});
  }
  const auto r = build_dpo_report(events);
  CHECK(r.reads == before.reads + 2);
  CHECK(r.denials == before.denials + 1);
  CHECK(r.break_glass.size() == 2);
  REQUIRE(before.denials_by_worker.size() == 2);
  REQUIRE(r.denials_by_worker.size() == 3);
  CHECK(std::any_of(r.denials_by_worker.begin(), r.denials_by_worker.end(),
                    [](const auto& w) { return w.worker == "busy" && w.count == 1; }));
  CHECK(r.outside_relationship.size() == 1);
  CHECK(r.outside_relationship[0].event.client == "a1carol");
  REQUIRE(r.unusual_volumes.size() == 1);
  CHECK(r.unusual_volumes[0].worker == "busy");
  CHECK(r.unusual_volumes[0].day == "2025-03-06");
  CHECK(r.unusual_volumes[0].reads == 40);
  const auto html = render_dpo_report_html(r, names());
  CHECK(has(html, "<svg"));
  CHECK_FALSE(has(html, "<script"));
  CHECK(has(render_dpo_report_text(r, names()), "Break-the-glass"));
}

TEST_CASE("audit: exports in JSON lines, CSV and FHIR R5 AuditEvent", "[audit]") {
  auto e = ev(AuditAction::read, "a1alice", kMarch, "thuiszorg", "=cmd()", "health",
              AuditDecision::deny, "req,1", true);
  const StoredEvent se{4, e, encode_audit_event(e).value()};
  const auto line = export_jsonl(se);
  const auto j = boost::json::parse(line);
  CHECK(j.at("leaf").as_int64() == 4);
  CHECK(j.at("event").at("client").as_string() == "a1alice");
  const auto csv = export_csv_row(se);
  CHECK(has(csv, ",'=cmd(),"));  // formula injection defused
  CHECK(has(csv, "\"req,1\""));
  const auto fhir = boost::json::parse(export_fhir(se, "sluis.example/audit"));
  CHECK(fhir.at("resourceType").as_string() == "AuditEvent");
  CHECK(fhir.at("action").as_string() == "R");
  CHECK(fhir.at("recorded").as_string() == "2025-03-01T00:00:00Z");
  CHECK(fhir.at("outcome").at("code").at("code").as_string() == "4");
  CHECK(fhir.at("patient").at("identifier").at("value").as_string() == "a1alice");
  CHECK(fhir.at("agent").as_array().size() == 1);
}

TEST_CASE("audit: sluisctl audit verify, query, export, report and access-report", "[audit]") {
  Logged l;
  const auto key = (l.dir / "root.key").string();
  REQUIRE(crypto::write_raw_root_key(key, l.root));
  const auto log = (l.dir / "audit.db").string();
  REQUIRE(l.log->checkpoint());
  l.log.reset();

  auto v = run({"verify", "--key", key, "--log", log});
  CHECK(v.code == sluis::ctl::kExitOk);
  CHECK(has(v.out, "The audit log verifies: 10 events"));

  auto q = run(
      {"query", "--key", key, "--log", log, "--client-pseudonym", "a1alice", "--decision", "deny"});
  CHECK(q.code == 0);
  CHECK(has(q.out, "rule=matrix.no"));
  CHECK(has(q.out, "1 event(s)."));

  auto scoped = run({"query", "--key", key, "--log", log, "--scope-partner", "secretplace"});
  CHECK(scoped.code == 0);
  CHECK(has(scoped.out, "partner=secretplace"));
  CHECK_FALSE(has(scoped.out, "a1bob"));
  CHECK_FALSE(has(scoped.out, "thuiszorg"));

  const auto csv = (l.dir / "out.csv").string();
  auto x = run({"export", "--key", key, "--log", log, "--format", "csv", "--out", csv});
  CHECK(x.code == 0);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  CHECK(has(header, "leaf,time,partner"));
  auto fhir = run({"export", "--key", key, "--log", log, "--format", "fhir"});
  CHECK(fhir.code == 0);
  CHECK(std::count(fhir.out.begin(), fhir.out.end(), '\n') == 10);

  const auto html = (l.dir / "dpo.html").string();
  auto rep = run({"report", "--key", key, "--log", log, "--html", html});
  CHECK(rep.code == 0);
  CHECK(has(rep.out, "Break-the-glass to review (2)"));
  CHECK(std::filesystem::file_size(html) > 100);

  auto ar =
      run({"access-report", "--key", key, "--log", log, "--client-pseudonym", "a1alice", "--lang",
           "fr", "--pack", std::string(SLUIS_SOURCE_DIR) + "/policy/packs/brussels-welfare.toml"});
  CHECK(ar.code == 0);
  CHECK(has(ar.out, "Qui a consulté vos données ?"));
  CHECK_FALSE(has(ar.out, "a1bob"));

  // Usage errors say what to type.
  auto u = run({"access-report", "--key", key, "--log", log, "--lang", "de", "--client-pseudonym",
                "a1alice"});
  CHECK(u.code == sluis::ctl::kExitUsage);
  CHECK(has(u.err, "--lang needs nl, fr or en"));
  CHECK(run({}).code == sluis::ctl::kExitUsage);
  CHECK(run({"export", "--key", key, "--log", log, "--format", "xml"}).code ==
        sluis::ctl::kExitUsage);

  // Tampering: verify fails, names the event, exit 1.
  {
    const auto k = crypto::derive_subkey(l.root, crypto::KeyPurpose::audit_store);
    RawDb raw(log, &k);
    REQUIRE(raw.try_query("UPDATE audit_event SET canonical = CAST(replace(CAST(canonical AS "
                          "TEXT), 'housing', 'justice') AS BLOB) WHERE leaf = 3") == SQLITE_DONE);
  }
  auto bad = run({"verify", "--key", key, "--log", log});
  CHECK(bad.code == sluis::ctl::kExitFailed);
  CHECK(has(bad.out, "First event that differs: #3 (2025-03-03T00:00:00Z)"));
}

namespace {

/// What the API records for one real grant and for refused break-the-glass requests: a start
/// event per request, permit for the grant, deny (with the refusal's rule) for the others, and
/// for a request whose grant failed in the store the intent followed by "store.failed".
std::vector<StoredEvent> break_glass_attempts() {
  auto start = [](std::int64_t ms, AuditDecision d, std::string_view rule, std::string_view req) {
    auto e = ev(AuditAction::break_glass_start, "a1dora", ms, "thuiszorg", "n1", "contact");
    e.decision = d;
    e.rule = rule;
    e.request_id = req;
    e.break_glass = d == AuditDecision::permit;
    return e;
  };
  const std::vector<AuditEvent> events{
      ev(AuditAction::registration, "a1dora", kMarch, "thuiszorg", "n1", ""),
      start(kMarch + 1000, AuditDecision::deny, "request.policy:reason-missing", "r1"),
      start(kMarch + 2000, AuditDecision::deny, "request.policy:text-too-long", "r2"),
      start(kMarch + 3000, AuditDecision::deny, "request.invalid-body", "r3"),
      start(kMarch + 4000, AuditDecision::deny, "request.policy:not-break-glass-category", "r4"),
      start(kMarch + 5000, AuditDecision::deny, "request.unknown-category", "r5"),
      start(kMarch + 6000, AuditDecision::permit, "break-glass.grant:" + std::string(32, 'f'),
            "r6"),
      start(kMarch + 6500, AuditDecision::deny, "store.failed", "r6"),
      start(kMarch + 7000, AuditDecision::permit, "break-glass.grant:" + std::string(32, 'a'),
            "r7"),
      // An event from before grants were named in the rule.
      start(kMarch + 8000, AuditDecision::permit, "break-glass.grant", "r8"),
  };
  std::vector<StoredEvent> out;
  std::uint64_t leaf = 0;
  for (const auto& e : events)
    out.push_back({leaf++, e, encode_audit_event(e).value()});
  return out;
}

std::size_t occurrences(const std::string& hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("audit: a refused break-the-glass request never reads as an opening for the client",
          "[audit][break-glass]") {
  const auto events = break_glass_attempts();
  const auto report = build_access_report("a1dora", events);
  // Registration and the two grants that were made; no refusal, no failed grant.
  REQUIRE(report.lines.size() == 3);
  CHECK(std::count_if(report.lines.begin(), report.lines.end(), [](const auto& l) {
          return l.action == AuditAction::break_glass_start;
        }) == 2);
  for (const auto& [lang, opened] : {std::pair{ReportLanguage::nl, "noodtoegang geopend"},
                                     std::pair{ReportLanguage::fr, "accès d'urgence ouvert"},
                                     std::pair{ReportLanguage::en, "emergency access opened"}}) {
    CHECK(occurrences(render_access_report_text(report, lang, names()), opened) == 2);
    CHECK(occurrences(render_access_report_html(report, lang, names()), opened) == 2);
  }
  // A refused consent, link or erasure is no change either.
  auto refused = ev(AuditAction::consent_grant, "a1dora", kMarch + 9000, "thuiszorg", "n1", "");
  refused.decision = AuditDecision::deny;
  auto with_refusal = events;
  with_refusal.push_back({99, refused, encode_audit_event(refused).value()});
  CHECK(build_access_report("a1dora", with_refusal).lines.size() == 3);
}

TEST_CASE("audit: the DPO report lists refused break-the-glass requests as refusals, grants "
          "with their written reasons",
          "[audit][break-glass]") {
  const auto events = break_glass_attempts();
  auto r = build_dpo_report(events);
  // The two grants made and the one that failed in the store (its intent is on the record).
  CHECK(r.break_glass.size() == 3);
  CHECK(r.break_glass_refused.size() == 6);
  for (const auto& se : r.break_glass_refused)
    CHECK(se.event.decision == AuditDecision::deny);
  CHECK(r.denials == 6);
  const auto without = render_dpo_report_text(r, names());
  CHECK(has(without, "Refused break-the-glass requests (6; nothing was opened)"));
  CHECK(has(without, "request.policy:reason-missing"));
  CHECK(has(without, "give --data and --key-store"));

  const Instant legacy_start = Instant(std::chrono::milliseconds(kMarch + 8000));
  const std::vector<BreakGlassReason> reasons{
      {std::string(32, 'a'), "a1dora", "thuiszorg", "n1", Instant{},
       std::string("client found unconscious <b>at home</b>\n#99 forged line")},
      {"0123456789abcdef0123456789abcdef", "a1dora", "thuiszorg", "n1", legacy_start,
       std::string("fall on the stairs, family must be reached")},
      {std::string(32, 'f'), "a1dora", "thuiszorg", "n1", Instant{}, std::nullopt},
      // Another partner's grant at the same moment matches nothing here.
      {"99999999999999999999999999999999", "a1dora", "caw-brussel", "n1", legacy_start,
       std::string("not this one")},
  };
  CHECK(find_break_glass_reason(events[8].event, reasons) == &reasons[0]);
  CHECK(find_break_glass_reason(events[9].event, reasons) == &reasons[1]);
  CHECK(find_break_glass_reason(events[1].event, reasons) == nullptr);  // a refusal
  attach_break_glass_reasons(r, reasons);
  const auto text = render_dpo_report_text(r, names());
  CHECK(has(text, "reason: client found unconscious <b>at home</b> #99 forged line"));
  CHECK_FALSE(has(text, "\n#99 forged line"));
  CHECK(has(text, "reason: fall on the stairs, family must be reached"));
  CHECK(has(text, "reason: (cannot be opened"));
  CHECK_FALSE(has(text, "not this one"));
  CHECK_FALSE(has(text, "give --data and --key-store"));
  const auto html = render_dpo_report_html(r, names());
  CHECK(has(html, "Written reason"));
  CHECK(has(html, "client found unconscious &lt;b&gt;at home&lt;/b&gt;"));
  CHECK(has(html, "fall on the stairs, family must be reached"));
  CHECK(has(html, "Refused break-the-glass requests (6; nothing was opened)"));
  CHECK_FALSE(has(html, "<b>at home"));
}
