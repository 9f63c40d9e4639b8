// The exhaustive decision table: every role × category × purpose × consent state × relationship ×
// break-the-glass state, for every owner/recipient partner-type pair, against a plain expectation.
#include "policy_test_support.hpp"

#include "sluis/policy/decision.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <map>
#include <string>
#include <vector>

using namespace sluis::policy;
using namespace sluis::policy::test;

namespace {

enum class ConsentState {
  none,
  active,
  expired,
  revoked,
  excepted_partner,
  excepted_worker,
  excepted_category
};
constexpr std::array kConsentStates = {ConsentState::none,
                                       ConsentState::active,
                                       ConsentState::expired,
                                       ConsentState::revoked,
                                       ConsentState::excepted_partner,
                                       ConsentState::excepted_worker,
                                       ConsentState::excepted_category};
enum class GlassState { none, valid, expired };
constexpr std::array kGlassStates = {GlassState::none, GlassState::valid, GlassState::expired};

const char* kRequester = "caw-noord";
const char* kWorker = "w-17";
const char* kOwner = "owner-1";
const Time kNow = at("2025-06-01T12:00:00Z");

// The consent of each state: granted to the requesting partner by name, for every non-restricted
// category plus every restricted one by name, for care-coordination, referral and emergency (not
// administration), over a period around kNow. States differ only in what the state names.
Consent consent_for(ConsentState s, CategoryId requested) {
  const RulePack& pack = default_pack();
  Consent c;
  c.id = "c-table";
  ConsentProvision p;
  p.grantee.partner = kRequester;
  p.all_non_restricted = true;
  p.categories = pack.restricted_categories();
  p.purposes.insert(purpose("care-coordination"));
  p.purposes.insert(purpose("referral"));
  p.purposes.insert(purpose("emergency"));
  p.period = {kNow - std::chrono::days{10}, kNow + std::chrono::days{100}};
  switch (s) {
  case ConsentState::expired:
    p.period = {kNow - std::chrono::days{100}, kNow - std::chrono::days{1}};
    break;
  case ConsentState::revoked:
    c.status = ConsentStatus::revoked;
    c.revocation = Revocation{kNow - std::chrono::hours{1}, {kOwner, "w-1"}};
    break;
  case ConsentState::excepted_partner:
    p.exceptions.push_back({ConsentException::Kind::partner, kRequester, "", {}});
    break;
  case ConsentState::excepted_worker:
    p.exceptions.push_back({ConsentException::Kind::worker, kRequester, kWorker, {}});
    break;
  case ConsentState::excepted_category:
    p.exceptions.push_back({ConsentException::Kind::category, "", "", requested});
    break;
  default: break;
  }
  c.provisions.push_back(p);
  return c;
}

BreakGlassGrant grant_for(GlassState s) {
  BreakGlassGrant g;
  g.id = "g-table";
  g.partner = kRequester;
  g.worker = kWorker;
  g.categories =
      CategorySet::from_bits((std::uint64_t{1} << default_pack().categories().size()) - 1);
  g.reason = "client found unconscious at home";
  g.start =
      s == GlassState::valid ? kNow - std::chrono::minutes{30} : kNow - std::chrono::hours{10};
  g.expiry = g.start + std::chrono::hours{2};
  return g;
}

struct Expected {
  bool permit = false;
  std::string rule;
  bool break_glass = false;
};

// Promise 1 (BRIEF §4), spelled out on its own from the pack's cells, not from the implementation.
Expected expected_decision(const RulePack& pack, RoleId r, CategoryId c, PurposeId p,
                           PartnerTypeId owner, PartnerTypeId recipient, bool linked,
                           ConsentState consent, bool relationship, GlassState glass) {
  if (!relationship) return {false, "relationship.none"};
  const AccessLevel cell = pack.access(r, c, p);
  if (cell == AccessLevel::no) return {false, "matrix.no"};
  if (pack.requires_client_link(owner) && !linked) return {false, "disclosure.unlinked"};
  const bool restricted = pack.restricted_categories().contains(c);
  if (!restricted && !pack.disclosed(owner, recipient).contains(c)) {
    return {false, "disclosure.not-allowed"};
  }
  // This test's consent covers every category (restricted ones by name) for three purposes.
  const bool purpose_covered = p != purpose("administration");
  std::string consent_reason = "consent.none";
  if (consent != ConsentState::none && purpose_covered) {
    switch (consent) {
    case ConsentState::active: return {true, "consent.active:c-table"};
    case ConsentState::expired: consent_reason = "consent.expired:c-table"; break;
    case ConsentState::revoked: consent_reason = "consent.revoked:c-table"; break;
    case ConsentState::excepted_partner: consent_reason = "consent.excepted-partner:c-table"; break;
    case ConsentState::excepted_worker: consent_reason = "consent.excepted-worker:c-table"; break;
    case ConsentState::excepted_category:
      consent_reason = "consent.excepted-category:c-table";
      break;
    default: break;
    }
  }
  if (glass != GlassState::none) {
    if (cell != AccessLevel::consent_or_break_glass)
      return {false, "btg.matrix-consent-only:g-table"};
    if (!pack.allows_break_glass(owner)) return {false, "btg.owner-forbids:g-table"};
    if (restricted) return {false, "btg.restricted-category:g-table"};
    if (glass == GlassState::valid) return {true, "btg.valid:g-table", true};
    return {false, "btg.expired:g-table"};
  }
  return {false, consent_reason};
}

}  // namespace

TEST_CASE("exhaustive decision table over the default pack", "[policy][decision][table]") {
  const RulePack& pack = default_pack();
  const std::size_t ntypes = pack.partner_types().size();
  const std::size_t nroles = pack.roles().size();
  const std::size_t ncats = pack.categories().size();
  const std::size_t npurposes = pack.purposes().size();

  // Inputs prepared once: consents per state × category, grants per state.
  std::vector<std::vector<Consent>> consents(kConsentStates.size() * ncats);
  for (std::size_t s = 0; s < kConsentStates.size(); ++s) {
    for (std::size_t c = 0; c < ncats; ++c) {
      if (kConsentStates[s] != ConsentState::none) {
        consents[s * ncats + c].push_back(
            consent_for(kConsentStates[s], CategoryId{static_cast<std::uint8_t>(c)}));
      }
    }
  }
  std::array<std::vector<BreakGlassGrant>, 3> grants;
  grants[1].push_back(grant_for(GlassState::valid));
  grants[2].push_back(grant_for(GlassState::expired));

  std::size_t cases = 0;
  std::size_t mismatches = 0;
  std::string first_mismatches;
  std::map<std::string, std::size_t> seen_rules;

  for (std::size_t o = 0; o < ntypes; ++o) {
    for (std::size_t t = 0; t < ntypes; ++t) {
      const PartnerTypeId owner{static_cast<std::uint8_t>(o)};
      const PartnerTypeId recipient{static_cast<std::uint8_t>(t)};
      for (const bool linked : {false, true}) {
        if (linked && !pack.requires_client_link(owner)) continue;  // linking changes nothing there
        for (std::size_t r = 0; r < nroles; ++r) {
          for (std::size_t c = 0; c < ncats; ++c) {
            for (std::size_t p = 0; p < npurposes; ++p) {
              for (std::size_t s = 0; s < kConsentStates.size(); ++s) {
                for (const bool relationship : {true, false}) {
                  for (std::size_t g = 0; g < kGlassStates.size(); ++g) {
                    AccessRequest req;
                    req.partner_id = kRequester;
                    req.partner_type = recipient;
                    req.worker_id = kWorker;
                    req.role = RoleId{static_cast<std::uint8_t>(r)};
                    req.worker_active = true;
                    req.category = CategoryId{static_cast<std::uint8_t>(c)};
                    req.purpose = PurposeId{static_cast<std::uint8_t>(p)};
                    req.owner_partner_id = kOwner;
                    req.owner_type = owner;
                    req.care_relationship = relationship;
                    req.client_linked = linked;
                    req.now = kNow;
                    const AccessDecision d = decide(pack, req, consents[s * ncats + c], grants[g]);
                    const Expected e = expected_decision(
                        pack, req.role, req.category, req.purpose, owner, recipient, linked,
                        kConsentStates[s], relationship, kGlassStates[g]);
                    ++cases;
                    const std::string got = d.rule_id();
                    ++seen_rules[std::string(rule_name(d.rule))];
                    if (d.permitted() != e.permit || got != e.rule ||
                        d.break_glass != e.break_glass) {
                      if (++mismatches <= 10) {
                        first_mismatches +=
                            pack.def(req.role).name + " x " + pack.def(req.category).name + " x " +
                            pack.def(req.purpose).name + ", owner " + pack.def(owner).name +
                            " -> " + pack.def(recipient).name + ", consent state " +
                            std::to_string(s) + ", relationship " + (relationship ? "yes" : "no") +
                            ", glass " + std::to_string(g) + ": expected " + e.rule + ", got " +
                            got + "\n";
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  INFO(first_mismatches);
  CHECK(mismatches == 0);
  CHECK(cases > 900000);
  // The table reaches every way a decision can go for a non-owner, active worker.
  for (const char* rule :
       {"relationship.none", "matrix.no", "disclosure.unlinked", "disclosure.not-allowed",
        "consent.none", "consent.active", "consent.expired", "consent.revoked",
        "consent.excepted-partner", "consent.excepted-worker", "consent.excepted-category",
        "btg.matrix-consent-only", "btg.owner-forbids", "btg.valid", "btg.expired"}) {
    INFO(rule);
    CHECK(seen_rules[rule] > 0);
  }
}

namespace {

AccessRequest base_request() {
  AccessRequest req;
  req.partner_id = kRequester;
  req.partner_type = partner_type("caw");
  req.worker_id = kWorker;
  req.role = role("social-worker");
  req.worker_active = true;
  req.category = category("housing");
  req.purpose = purpose("care-coordination");
  req.owner_partner_id = kOwner;
  req.owner_type = partner_type("ocmw");
  req.care_relationship = true;
  req.now = kNow;
  return req;
}

}  // namespace

TEST_CASE("own partner's workers: the matrix alone decides", "[policy][decision]") {
  const RulePack& pack = default_pack();
  for (std::size_t r = 0; r < pack.roles().size(); ++r) {
    for (std::size_t c = 0; c < pack.categories().size(); ++c) {
      for (std::size_t p = 0; p < pack.purposes().size(); ++p) {
        for (std::size_t t = 0; t < pack.partner_types().size(); ++t) {
          AccessRequest req = base_request();
          req.owner_partner_id = kRequester;  // reading its own fragment
          req.partner_type = req.owner_type = PartnerTypeId{static_cast<std::uint8_t>(t)};
          req.role = RoleId{static_cast<std::uint8_t>(r)};
          req.category = CategoryId{static_cast<std::uint8_t>(c)};
          req.purpose = PurposeId{static_cast<std::uint8_t>(p)};
          const AccessDecision d = decide(pack, req, {}, {});  // no consent needed, no link needed
          const bool allowed = pack.access(req.role, req.category, req.purpose) != AccessLevel::no;
          REQUIRE(d.permitted() == allowed);
          REQUIRE(d.rule_id() == (allowed ? "owner.own-data" : "matrix.no"));
          REQUIRE_FALSE(d.break_glass);
        }
      }
    }
  }
}

TEST_CASE("revoked partner and inactive worker are denied before anything else",
          "[policy][decision]") {
  const RulePack& pack = default_pack();
  const std::vector<Consent> consent{consent_for(ConsentState::active, category("housing"))};
  const std::vector<BreakGlassGrant> grant{grant_for(GlassState::valid)};
  for (std::size_t r = 0; r < pack.roles().size(); ++r) {
    for (std::size_t c = 0; c < pack.categories().size(); ++c) {
      for (const bool own : {false, true}) {
        AccessRequest req = base_request();
        req.role = RoleId{static_cast<std::uint8_t>(r)};
        req.category = CategoryId{static_cast<std::uint8_t>(c)};
        if (own) req.owner_partner_id = kRequester;
        req.partner_revoked = true;
        CHECK(decide(pack, req, consent, grant).rule_id() == "partner.revoked");
        req.partner_revoked = false;
        req.worker_active = false;
        CHECK(decide(pack, req, consent, grant).rule_id() == "worker.inactive");
        req.worker_active = true;
        req.care_relationship = false;
        CHECK(decide(pack, req, consent, grant).rule_id() == "relationship.none");
      }
    }
  }
}

TEST_CASE("low-threshold data leaves only with link and consent", "[policy][decision]") {
  const RulePack& pack = default_pack();
  AccessRequest req = base_request();
  req.owner_type = partner_type("low-threshold");
  req.partner_type = partner_type("caw");
  req.category = category("addiction");
  const std::vector<Consent> consent{consent_for(ConsentState::active, req.category)};
  CHECK(decide(pack, req, consent, {}).rule_id() == "disclosure.unlinked");
  req.client_linked = true;
  CHECK(decide(pack, req, consent, {}).rule_id() == "consent.active:c-table");
  CHECK(decide(pack, req, {}, {}).rule_id() == "consent.none");
  // Even a valid grant in an emergency does not open anonymous history.
  req.role = role("nurse");
  req.purpose = purpose("emergency");
  const std::vector<BreakGlassGrant> grant{grant_for(GlassState::valid)};
  CHECK(decide(pack, req, {}, grant).rule_id() == "btg.owner-forbids:g-table");
}

TEST_CASE("residence status: explicit consent only, never a wildcard", "[policy][decision]") {
  const RulePack& pack = default_pack();
  AccessRequest req = base_request();
  req.category = category("residence-status");
  Consent wildcard = consent_for(ConsentState::active, req.category);
  wildcard.provisions[0].categories = CategorySet{};  // only "all-non-restricted"
  CHECK(decide(pack, req, std::vector{wildcard}, {}).rule_id() ==
        "consent.restricted-not-named:c-table");
  const Consent named = consent_for(ConsentState::active, req.category);
  CHECK(named.provisions[0].categories.contains(req.category));
  const std::vector<Consent> consents{named};  // the decision's subject views into these
  const AccessDecision d = decide(pack, req, consents, {});
  CHECK(d.permitted());
  CHECK(d.rule_id() == "consent.active:c-table");
  // No consent: denied although no disclosure default exists for it at all.
  CHECK(decide(pack, req, {}, {}).rule_id() == "consent.none");
  // Break-the-glass never reaches it (the matrix has no break-the-glass cell for it).
  req.purpose = purpose("emergency");
  CHECK(decide(pack, req, {}, std::vector{grant_for(GlassState::valid)}).rule_id() == "matrix.no");
}

TEST_CASE("grantee forms: partner, partner type, role, and conjunctions", "[policy][decision]") {
  const RulePack& pack = default_pack();
  const AccessRequest req = base_request();  // social worker at a caw reads ocmw housing
  Consent c = consent_for(ConsentState::active, req.category);
  auto with = [&](Grantee g) {
    c.provisions[0].grantee = std::move(g);
    return decide(pack, req, std::vector{c}, {}).rule_id();
  };
  CHECK(with(Grantee{"", partner_type("caw"), std::nullopt}) == "consent.active:c-table");
  CHECK(with(Grantee{"", partner_type("home-care"), std::nullopt}) == "consent.none");
  CHECK(with(Grantee{"", std::nullopt, role("social-worker")}) == "consent.active:c-table");
  CHECK(with(Grantee{"", std::nullopt, role("nurse")}) == "consent.none");
  CHECK(with(Grantee{"", partner_type("caw"), role("nurse")}) == "consent.none");
  CHECK(with(Grantee{kRequester, partner_type("caw"), role("social-worker")}) ==
        "consent.active:c-table");
  CHECK(with(Grantee{"other-partner", std::nullopt, std::nullopt}) == "consent.none");
}

TEST_CASE("several consents: first permit wins, else the closest denial", "[policy][decision]") {
  const RulePack& pack = default_pack();
  const AccessRequest req = base_request();
  Consent expired = consent_for(ConsentState::expired, req.category);
  expired.id = "c-old";
  Consent revoked = consent_for(ConsentState::revoked, req.category);
  revoked.id = "c-revoked";
  Consent active = consent_for(ConsentState::active, req.category);
  active.id = "c-new";
  Consent excepted = consent_for(ConsentState::excepted_worker, req.category);
  excepted.id = "c-except";
  CHECK(decide(pack, req, std::vector{revoked, expired, active}, {}).rule_id() ==
        "consent.active:c-new");
  CHECK(decide(pack, req, std::vector{revoked, expired}, {}).rule_id() == "consent.expired:c-old");
  CHECK(decide(pack, req, std::vector{expired, excepted, revoked}, {}).rule_id() ==
        "consent.excepted-worker:c-except");
  // A consent that starts later.
  Consent future = consent_for(ConsentState::active, req.category);
  future.provisions[0].period = {kNow + std::chrono::days{1}, kNow + std::chrono::days{30}};
  CHECK(decide(pack, req, std::vector{future}, {}).rule_id() == "consent.not-yet-valid:c-table");
  // The period end is exclusive.
  Consent ending = consent_for(ConsentState::active, req.category);
  ending.provisions[0].period.end = kNow;
  CHECK(decide(pack, req, std::vector{ending}, {}).rule_id() == "consent.expired:c-table");
}

TEST_CASE("break-the-glass grants are personal and per category", "[policy][decision]") {
  const RulePack& pack = default_pack();
  AccessRequest req = base_request();
  req.role = role("nurse");
  req.partner_type = partner_type("home-care");
  req.owner_type = partner_type("community-health");
  req.category = category("health");
  req.purpose = purpose("emergency");
  BreakGlassGrant g = grant_for(GlassState::valid);
  const std::vector<BreakGlassGrant> grants{g};
  AccessDecision d = decide(pack, req, {}, grants);
  CHECK(d.permitted());
  CHECK(d.break_glass);
  CHECK(d.rule_id() == "btg.valid:g-table");
  g.worker = "w-other";
  CHECK(decide(pack, req, {}, std::vector{g}).rule_id() == "consent.none");
  g = grant_for(GlassState::valid);
  g.categories = CategorySet{};
  g.categories.insert(category("contact"));
  CHECK(decide(pack, req, {}, std::vector{g}).rule_id() == "consent.none");
  g = grant_for(GlassState::valid);
  g.start = kNow + std::chrono::minutes{5};
  CHECK(decide(pack, req, {}, std::vector{g}).rule_id() == "btg.not-yet-valid:g-table");
  // A covering consent wins over a grant: no break-the-glass flag when consent suffices.
  req.purpose = purpose("care-coordination");
  req.category = category("health");
  const std::vector<Consent> consents{consent_for(ConsentState::active, req.category)};
  d = decide(pack, req, consents, grants);
  CHECK(d.rule_id() == "consent.active:c-table");
  CHECK_FALSE(d.break_glass);
}

TEST_CASE("names outside the pack and empty ids are denied", "[policy][decision]") {
  const RulePack& pack = default_pack();
  AccessRequest req = base_request();
  req.category = CategoryId{63};
  CHECK(decide(pack, req, {}, {}).rule_id() == "request.invalid");
  req = base_request();
  req.worker_id = "";
  CHECK(decide(pack, req, {}, {}).rule_id() == "request.invalid");
  req = base_request();
  req.owner_partner_id = "";
  CHECK(decide(pack, req, {}, {}).rule_id() == "request.invalid");
}

TEST_CASE("the traced decision matches the plain one and explains it",
          "[policy][decision][explain]") {
  const RulePack& pack = default_pack();
  AccessRequest req = base_request();
  const std::vector<Consent> consent{consent_for(ConsentState::excepted_partner, req.category)};
  DecisionTrace trace;
  const AccessDecision traced = decide(pack, req, consent, {}, trace);
  const AccessDecision plain = decide(pack, req, consent, {});
  CHECK(traced.rule_id() == plain.rule_id());
  REQUIRE(trace.steps.size() == 8);
  CHECK(trace.steps.back().check == Check::consent);
  CHECK_FALSE(trace.steps.back().passed);
}
