// Rule pack loading: the default pack validates, and every kind of mistake gets a located
// diagnostic.
#include "policy_test_support.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace sluis::policy;
using sluis::policy::test::default_pack;

namespace {

// A small but complete pack; each test breaks one thing in it.
const std::string kMiniPack = R"([pack]
name = "mini"
version = "1"

[consent]
max-duration-days = 365

[break-glass]
max-duration-minutes = 60
reason-min-chars = 10
reason-max-chars = 200

[partner-types.ocmw]
label = "OCMW"
[partner-types.low-threshold]
label = "Low threshold"

[roles.nurse]
label = "Nurse"
may-record-consent = true
may-erase-client = false
[roles.dpo]
label = "DPO"
may-record-consent = false
may-erase-client = true

[categories.contact]
label = "Contact"
sensitivity = "personal"
identifying = true
restricted = false
[categories.health]
label = "Health"
sensitivity = "special"
identifying = false
restricted = false
[categories.residence-status]
label = "Residence status"
sensitivity = "special"
identifying = false
restricted = true

[purposes.care-coordination]
label = "Care coordination"
[purposes.emergency]
label = "Emergency"

[retention]
contact = 100
health = 200
residence-status = 50

[matrix.nurse]
health = { consent = ["care-coordination"], consent-or-break-glass = ["emergency"] }
residence-status = { consent = ["care-coordination"] }

[matrix.dpo]

[disclosure.ocmw]
require-client-link = false
break-glass = true
to.ocmw = "all-non-restricted"

[disclosure.low-threshold]
require-client-link = true
break-glass = false
to.ocmw = ["health"]
)";

// 1-based line of the first occurrence of `needle` in `text`.
std::uint32_t line_of(const std::string& text, const std::string& needle) {
  const auto pos = text.find(needle);
  REQUIRE(pos != std::string::npos);
  std::uint32_t line = 1;
  for (std::size_t i = 0; i < pos; ++i)
    line += text[i] == '\n' ? 1U : 0U;
  return line;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

// Parses `text` expecting failure; returns the diagnostic whose message contains `fragment`.
Diagnostic diagnostic_with(const std::string& text, const std::string& fragment) {
  const auto r = parse_rule_pack(text, "mini.toml");
  REQUIRE_FALSE(r.has_value());
  for (const Diagnostic& d : r.error().items) {
    if (d.message.find(fragment) != std::string::npos) return d;
  }
  std::string all;
  for (const Diagnostic& d : r.error().items)
    all += d.to_string() + "\n";
  FAIL("no diagnostic containing '" << fragment << "' among:\n" << all);
  return {};
}

}  // namespace

TEST_CASE("the default Brussels welfare pack validates", "[policy][rule-pack]") {
  const auto r = load_rule_pack(sluis::policy::test::kDefaultPackPath);
  std::string problems;
  if (!r) {
    for (const auto& d : r.error().items)
      problems += d.to_string() + "\n";
  }
  INFO(problems);
  REQUIRE(r.has_value());
  const RulePack& pack = *r;
  CHECK(pack.name() == "brussels-welfare");
  for (const char* t : {"ocmw", "caw", "home-care", "mental-health", "community-health",
                        "youth-care", "housing", "low-threshold"}) {
    CHECK(pack.partner_type(t).has_value());
  }
  for (const char* role :
       {"social-worker", "nurse", "psychologist", "doctor", "coordinator", "admin", "dpo"}) {
    CHECK(pack.role(role).has_value());
  }
  for (const char* c : {"contact", "identity", "housing", "income", "health", "mental-health",
                        "addiction", "residence-status", "justice", "case-note", "appointment"}) {
    REQUIRE(pack.category(c).has_value());
    CHECK(pack.retention(*pack.category(c)).count() > 0);
  }
  for (const char* p : {"care-coordination", "referral", "administration", "emergency"}) {
    CHECK(pack.purpose(p).has_value());
  }
}

TEST_CASE("the default pack encodes the sector's promises", "[policy][rule-pack]") {
  const RulePack& pack = default_pack();
  const auto cat = [&](const char* n) { return *pack.category(n); };
  const auto type = [&](const char* n) { return *pack.partner_type(n); };

  // Identifying categories are exactly contact and identity (never on anonymous clients).
  CHECK_FALSE(pack.accepts_on_anonymous_client(cat("contact")));
  CHECK_FALSE(pack.accepts_on_anonymous_client(cat("identity")));
  CHECK(pack.accepts_on_anonymous_client(cat("health")));
  // Residence status is restricted: no disclosure default anywhere lists it.
  CHECK(pack.restricted_categories().contains(cat("residence-status")));
  for (const auto& owner : pack.partner_types()) {
    for (const auto& recipient : pack.partner_types()) {
      CHECK_FALSE(pack.disclosed(*pack.partner_type(owner.name), *pack.partner_type(recipient.name))
                      .contains(cat("residence-status")));
    }
  }
  // Low-threshold data needs the client's link and never yields to break-the-glass.
  CHECK(pack.requires_client_link(type("low-threshold")));
  CHECK_FALSE(pack.allows_break_glass(type("low-threshold")));
  CHECK_FALSE(pack.requires_client_link(type("ocmw")));
  // Roles' acts.
  CHECK(pack.may_erase_client(*pack.role("dpo")));
  CHECK(pack.may_query_audit(*pack.role("dpo")));
  CHECK_FALSE(pack.may_query_audit(*pack.role("social-worker")));
  CHECK(pack.may_review_break_glass(*pack.role("dpo")));
  CHECK_FALSE(pack.may_review_break_glass(*pack.role("social-worker")));
  CHECK_FALSE(pack.may_review_break_glass(*pack.role("coordinator")));
  CHECK_FALSE(pack.may_record_consent(*pack.role("admin")));
  CHECK(pack.may_record_consent(*pack.role("social-worker")));
  CHECK(pack.break_glass_max_duration() == std::chrono::minutes{480});
  CHECK(pack.consent_max_duration() == std::chrono::days{730});
}

TEST_CASE("hand-checked cells of the default matrix", "[policy][rule-pack]") {
  // Read straight from policy/packs/brussels-welfare.toml by a person; the parser must agree.
  struct Row {
    const char* role;
    const char* category;
    const char* purpose;
    AccessLevel level;
  };
  const Row rows[] = {
      {"nurse", "health", "care-coordination", AccessLevel::consent},
      {"nurse", "health", "emergency", AccessLevel::consent_or_break_glass},
      {"nurse", "health", "administration", AccessLevel::no},
      {"nurse", "income", "care-coordination", AccessLevel::no},
      {"social-worker", "health", "care-coordination", AccessLevel::no},
      {"social-worker", "residence-status", "administration", AccessLevel::consent},
      {"social-worker", "addiction", "referral", AccessLevel::consent},
      {"doctor", "mental-health", "emergency", AccessLevel::consent_or_break_glass},
      {"doctor", "residence-status", "care-coordination", AccessLevel::no},
      {"psychologist", "justice", "referral", AccessLevel::consent},
      {"coordinator", "case-note", "care-coordination", AccessLevel::consent},
      {"coordinator", "health", "emergency", AccessLevel::no},
      {"admin", "appointment", "administration", AccessLevel::consent},
      {"admin", "health", "emergency", AccessLevel::no},
      {"admin", "contact", "care-coordination", AccessLevel::no},
      {"dpo", "contact", "administration", AccessLevel::no},
  };
  const RulePack& pack = default_pack();
  for (const Row& r : rows) {
    INFO(r.role << " x " << r.category << " x " << r.purpose);
    CHECK(pack.access(*pack.role(r.role), *pack.category(r.category), *pack.purpose(r.purpose)) ==
          r.level);
  }
  // The DPO reads no fragment for any purpose.
  for (std::size_t c = 0; c < pack.categories().size(); ++c) {
    for (std::size_t p = 0; p < pack.purposes().size(); ++p) {
      CHECK(pack.access(*pack.role("dpo"), CategoryId{static_cast<std::uint8_t>(c)},
                        PurposeId{static_cast<std::uint8_t>(p)}) == AccessLevel::no);
    }
  }
}

TEST_CASE("the mini pack used by the diagnostic tests is valid", "[policy][rule-pack]") {
  const auto r = parse_rule_pack(kMiniPack, "mini.toml");
  REQUIRE(r.has_value());
  CHECK(r->access(*r->role("nurse"), *r->category("health"), *r->purpose("emergency")) ==
        AccessLevel::consent_or_break_glass);
  CHECK(r->disclosed(*r->partner_type("ocmw"), *r->partner_type("ocmw"))
            .contains(*r->category("health")));
  CHECK_FALSE(r->disclosed(*r->partner_type("ocmw"), *r->partner_type("ocmw"))
                  .contains(*r->category("residence-status")));
}

TEST_CASE("diagnostic: TOML syntax error", "[policy][rule-pack][diagnostics]") {
  const std::string text = replaced(kMiniPack, "label = \"Nurse\"", "label = \"Nurse");
  const Diagnostic d = diagnostic_with(text, "not valid TOML");
  CHECK(d.file == "mini.toml");
  CHECK(d.line == line_of(text, "label = \"Nurse"));
}

TEST_CASE("diagnostic: unknown key", "[policy][rule-pack][diagnostics]") {
  const std::string text = replaced(kMiniPack, "label = \"Nurse\"", "lable = \"Nurse\"");
  const Diagnostic d = diagnostic_with(text, "unknown key 'lable' in [roles.nurse]");
  CHECK(d.line == line_of(text, "lable"));
  CHECK(d.column == 1);
  CHECK(d.message.find(
            "allowed keys are: label, may-record-consent, may-erase-client, may-query-audit, "
            "may-review-break-glass") !=
        std::string::npos);
  CHECK(d.to_string().rfind("mini.toml:" + std::to_string(d.line) + ":1: unknown key", 0) == 0);
  // The missing label is reported too (every problem, not just the first).
  diagnostic_with(text, "missing required key 'label' in [roles.nurse]");
}

TEST_CASE("diagnostic: unknown category in the matrix", "[policy][rule-pack][diagnostics]") {
  const std::string text = replaced(kMiniPack, "health = { consent", "helth = { consent");
  const Diagnostic d = diagnostic_with(text, "unknown category 'helth' in [matrix.nurse]");
  CHECK(d.line == line_of(text, "helth = {"));
  CHECK(d.message.find("contact, health, residence-status") != std::string::npos);
}

TEST_CASE("diagnostic: unknown purpose in the matrix", "[policy][rule-pack][diagnostics]") {
  const std::string text = replaced(kMiniPack, "consent-or-break-glass = [\"emergency\"]",
                                    "consent-or-break-glass = [\"emergncy\"]");
  const Diagnostic d = diagnostic_with(text, "unknown purpose 'emergncy'");
  CHECK(d.line == line_of(text, "emergncy"));
}

TEST_CASE("diagnostic: unknown role and partner type references",
          "[policy][rule-pack][diagnostics]") {
  const std::string t1 = replaced(kMiniPack, "[matrix.dpo]", "[matrix.dpo]\n[matrix.nurce]");
  CHECK(diagnostic_with(t1, "unknown role 'nurce' in [matrix]").line ==
        line_of(t1, "[matrix.nurce]"));
  const std::string t2 = replaced(kMiniPack, "to.ocmw = [\"health\"]", "to.ocmv = [\"health\"]");
  CHECK(diagnostic_with(t2, "unknown partner type 'ocmv'").line == line_of(t2, "to.ocmv"));
  const std::string t3 =
      replaced(kMiniPack, "[disclosure.low-threshold]", "[disclosure.low-treshold]");
  CHECK(diagnostic_with(t3, "unknown partner type 'low-treshold' in [disclosure]").line ==
        line_of(t3, "[disclosure.low-treshold]"));
  // ... and then low-threshold has no disclosure table.
  diagnostic_with(t3, "partner type 'low-threshold' has no [disclosure.low-threshold] table");
}

TEST_CASE("diagnostic: unknown category in retention and disclosure",
          "[policy][rule-pack][diagnostics]") {
  const std::string t1 = replaced(kMiniPack, "health = 200", "healt = 200");
  CHECK(diagnostic_with(t1, "unknown category 'healt' in [retention]").line ==
        line_of(t1, "healt = 200"));
  const std::string t2 = replaced(kMiniPack, "to.ocmw = [\"health\"]", "to.ocmw = [\"housing\"]");
  CHECK(diagnostic_with(t2, "unknown category 'housing' in [disclosure.low-threshold] to.ocmw")
            .line == line_of(t2, "to.ocmw = [\"housing\"]"));
}

TEST_CASE("diagnostic: duplicates", "[policy][rule-pack][diagnostics]") {
  // TOML itself rejects a key defined twice.
  const std::string t1 = replaced(kMiniPack, "[matrix.dpo]", "[matrix.dpo]\n[matrix.dpo]");
  diagnostic_with(t1, "not valid TOML");
  // A purpose listed twice in one cell.
  const std::string t2 =
      replaced(kMiniPack, "consent = [\"care-coordination\"], consent-or",
               "consent = [\"care-coordination\", \"care-coordination\"], consent-or");
  CHECK(diagnostic_with(t2, "purpose 'care-coordination' is listed twice").line ==
        line_of(t2, "\"care-coordination\", \"care-coordination\""));
  // A purpose in both levels of one cell.
  const std::string t3 = replaced(kMiniPack, "consent = [\"care-coordination\"], consent-or",
                                  "consent = [\"emergency\"], consent-or");
  CHECK(diagnostic_with(t3, "listed under both").line == line_of(t3, "consent = [\"emergency\"]"));
  // A category listed twice in a disclosure list.
  const std::string t4 =
      replaced(kMiniPack, "to.ocmw = [\"health\"]", "to.ocmw = [\"health\", \"health\"]");
  diagnostic_with(t4, "category 'health' is listed twice");
}

TEST_CASE("diagnostic: missing required section and keys", "[policy][rule-pack][diagnostics]") {
  const std::string t1 =
      replaced(kMiniPack, "[retention]\ncontact = 100\nhealth = 200\nresidence-status = 50\n", "");
  const Diagnostic d = diagnostic_with(t1, "missing required section [retention]");
  CHECK(d.line == 1);
  const std::string t2 = replaced(kMiniPack, "max-duration-days = 365\n", "");
  CHECK(diagnostic_with(t2, "missing required key 'max-duration-days' in [consent]").line ==
        line_of(t2, "[consent]"));
  const std::string t3 = replaced(kMiniPack, "restricted = true\n", "");
  diagnostic_with(t3, "missing required key 'restricted' in [categories.residence-status]");
}

TEST_CASE("diagnostic: bad values", "[policy][rule-pack][diagnostics]") {
  const std::string t1 =
      replaced(kMiniPack, "sensitivity = \"special\"", "sensitivity = \"secret\"");
  CHECK(diagnostic_with(t1, "must be one of personal, sensitive, special, judicial, not 'secret'")
            .line == line_of(t1, "\"secret\""));
  const std::string t2 =
      replaced(kMiniPack, "may-erase-client = false", "may-erase-client = \"no\"");
  CHECK(diagnostic_with(t2, "must be true or false").line ==
        line_of(t2, "may-erase-client = \"no\""));
  const std::string t3 =
      replaced(kMiniPack, "max-duration-minutes = 60", "max-duration-minutes = -5");
  CHECK(
      diagnostic_with(t3, "'max-duration-minutes' in [break-glass] must be a whole number").line ==
      line_of(t3, "-5"));
  const std::string t4 = replaced(kMiniPack, "[roles.dpo]", "[roles.Data_Officer]");
  CHECK(diagnostic_with(t4, "role name 'Data_Officer' must be").line ==
        line_of(t4, "Data_Officer"));
  const std::string t5 =
      replaced(kMiniPack, "to.ocmw = \"all-non-restricted\"", "to.ocmw = \"everything\"");
  diagnostic_with(t5, "must be a list of categories or \"all-non-restricted\"");
  const std::string t6 = replaced(kMiniPack, "reason-min-chars = 10", "reason-min-chars = 500");
  diagnostic_with(t6, "must not exceed 'reason-max-chars'");
}

TEST_CASE("diagnostic: category without a retention period", "[policy][rule-pack][diagnostics]") {
  const std::string text = replaced(kMiniPack, "health = 200\n", "");
  const Diagnostic d = diagnostic_with(text, "category 'health' has no retention period");
  CHECK(d.line == line_of(text, "[retention]"));
  CHECK(d.message.find("add `health = <days>` under [retention]") != std::string::npos);
}

TEST_CASE("diagnostic: role without a matrix table", "[policy][rule-pack][diagnostics]") {
  const std::string text = replaced(kMiniPack, "[matrix.dpo]\n", "");
  diagnostic_with(text, "role 'dpo' has no [matrix.dpo] table");
}

TEST_CASE("diagnostic: restricted categories stay restricted", "[policy][rule-pack][diagnostics]") {
  // Never in a disclosure default ...
  const std::string t1 =
      replaced(kMiniPack, "to.ocmw = [\"health\"]", "to.ocmw = [\"health\", \"residence-status\"]");
  CHECK(diagnostic_with(
            t1, "category 'residence-status' is restricted and is never disclosed by default")
            .line == line_of(t1, "\"health\", \"residence-status\""));
  // ... and never reachable by break-the-glass.
  const std::string t2 =
      replaced(kMiniPack, "residence-status = { consent = [\"care-coordination\"] }",
               "residence-status = { consent-or-break-glass = [\"emergency\"] }");
  diagnostic_with(t2, "break-the-glass can never reach it");
}

TEST_CASE("a file that cannot be read is one diagnostic", "[policy][rule-pack][diagnostics]") {
  const auto r = load_rule_pack("/nonexistent/sluis/pack.toml");
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().items.size() == 1);
  CHECK(r.error().items[0].message.find("cannot open") != std::string::npos);
  CHECK_THROWS_AS(r.value(), RulePackError);
}

TEST_CASE("roles: may-review-break-glass is optional and must be a boolean",
          "[policy][rule-pack][break-glass-review]") {
  // Absent: false (packs written before the flag keep loading).
  const auto plain = parse_rule_pack(kMiniPack, "mini.toml");
  REQUIRE(plain.has_value());
  CHECK_FALSE(plain->may_review_break_glass(*plain->role("dpo")));
  const std::string given = replaced(kMiniPack, "label = \"DPO\"",
                                     "label = \"DPO\"\nmay-review-break-glass = true");
  const auto flagged = parse_rule_pack(given, "mini.toml");
  REQUIRE(flagged.has_value());
  CHECK(flagged->may_review_break_glass(*flagged->role("dpo")));
  CHECK_FALSE(flagged->may_review_break_glass(*flagged->role("nurse")));
  const std::string quoted = replaced(kMiniPack, "label = \"DPO\"",
                                      "label = \"DPO\"\nmay-review-break-glass = \"yes\"");
  const Diagnostic d = diagnostic_with(quoted, "'may-review-break-glass' in [roles.dpo] must be "
                                               "true or false");
  CHECK(d.line == line_of(quoted, "may-review-break-glass"));
}
