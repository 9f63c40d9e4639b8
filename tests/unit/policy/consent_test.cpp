// Consent and break-the-glass validation, revocation, and the JSON form's round trip.
#include "policy_test_support.hpp"

#include "sluis/policy/consent_json.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>

using namespace sluis::policy;
using namespace sluis::policy::test;

namespace {

const Time kNow = at("2025-06-01T12:00:00Z");

Consent valid_consent() {
  Consent c;
  c.id = "c-1";
  c.legal_basis = LegalBasis::consent;
  ConsentProvision p;
  p.grantee.partner_type = partner_type("home-care");
  p.grantee.role = role("nurse");
  p.all_non_restricted = true;
  p.purposes.insert(purpose("care-coordination"));
  p.period = {kNow - std::chrono::days{1}, kNow + std::chrono::days{365}};
  p.exceptions.push_back({ConsentException::Kind::partner, "home-care-zuid", "", {}});
  p.exceptions.push_back({ConsentException::Kind::worker, "home-care-noord", "w-9", {}});
  p.exceptions.push_back({ConsentException::Kind::category, "", "", category("addiction")});
  c.provisions.push_back(p);
  ConsentProvision named;
  named.grantee.partner = "ocmw-anderlecht";
  named.categories.insert(category("residence-status"));
  named.categories.insert(category("income"));
  named.purposes.insert(purpose("administration"));
  named.purposes.insert(purpose("referral"));
  named.period = {kNow, kNow + std::chrono::days{90}};
  c.provisions.push_back(named);
  c.evidence.recorded_by = {"caw-brussel", "w-3"};
  c.evidence.recorder_role = role("social-worker");
  c.evidence.channel = Channel::paper_signed;
  c.evidence.language = Language::fr;
  c.evidence.recorded_at = kNow - std::chrono::hours{1};
  c.representative = Representative{"contact-person-7", Relationship::legal_guardian};
  return c;
}

Errc error_of(const Result<void>& r) {
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().category() == policy_category());
  return static_cast<Errc>(r.error().value());
}

}  // namespace

TEST_CASE("a well-formed consent validates", "[policy][consent]") {
  CHECK(validate_consent(valid_consent(), default_pack(), kNow).has_value());
}

TEST_CASE("consent validation rejects each problem with its own code", "[policy][consent]") {
  const RulePack& pack = default_pack();
  auto check = [&](auto mutate, Errc expected) {
    Consent c = valid_consent();
    mutate(c);
    CHECK(error_of(validate_consent(c, pack, kNow)) == expected);
  };
  check([](Consent& c) { c.id = ""; }, Errc::bad_id);
  check([](Consent& c) { c.id = "has space"; }, Errc::bad_id);
  check([](Consent& c) { c.provisions.clear(); }, Errc::no_provision);
  check([](Consent& c) { c.provisions[0].grantee = {}; }, Errc::empty_grantee);
  check([](Consent& c) { c.provisions[0].all_non_restricted = false; }, Errc::no_categories);
  check([](Consent& c) { c.provisions[0].purposes = {}; }, Errc::no_purposes);
  check([](Consent& c) { c.provisions[0].period.end = c.provisions[0].period.start; },
        Errc::end_not_after_start);
  check(
      [](Consent& c) {
        c.provisions[0].period.end = c.provisions[0].period.start + std::chrono::days{731};
      },
      Errc::period_too_long);
  check(
      [](Consent& c) {
        c.provisions[0].period = {kNow - std::chrono::days{30}, kNow - std::chrono::days{1}};
      },
      Errc::period_ended);
  // Residence status only to one named partner, by name.
  check([](Consent& c) { c.provisions[0].categories.insert(category("residence-status")); },
        Errc::restricted_needs_partner);
  check([](Consent& c) { c.provisions[1].grantee.role = role("social-worker"); },
        Errc::restricted_needs_partner);
  check(
      [](Consent& c) {
        c.provisions[0].categories = CategorySet::from_bits(std::uint64_t{1} << 60);
      },
      Errc::unknown_category);
  check([](Consent& c) { c.provisions[0].purposes.insert(PurposeId{40}); }, Errc::unknown_purpose);
  check([](Consent& c) { c.evidence.recorder_role = role("admin"); }, Errc::recorder_not_allowed);
  check([](Consent& c) { c.evidence.channel = Channel::other; }, Errc::channel_note_required);
  check(
      [](Consent& c) {
        c.evidence.channel = Channel::other;
        c.evidence.channel_note = std::string(kMaxNoteChars + 1, 'x');
      },
      Errc::text_too_long);
  check([](Consent& c) { c.evidence.recorded_at = kNow + std::chrono::hours{1}; },
        Errc::recorded_in_future);
  check([](Consent& c) { c.status = ConsentStatus::revoked; }, Errc::bad_revocation);
  check(
      [](Consent& c) {
        c.provisions[0].exceptions.push_back({ConsentException::Kind::partner, "p", "w", {}});
      },
      Errc::bad_exception);
  check(
      [](Consent& c) {
        c.provisions[0].exceptions.resize(kMaxExceptions + 1,
                                          {ConsentException::Kind::partner, "p", "", {}});
      },
      Errc::too_many_items);
  check([](Consent& c) { c.representative->reference = "Jan Janssens"; }, Errc::bad_id);
}

TEST_CASE("revocation takes effect at once and only once", "[policy][consent]") {
  Consent c = valid_consent();
  CHECK(error_of(revoke_consent(c, {"caw-brussel", "w-3"},
                                c.evidence.recorded_at - std::chrono::seconds{1})) ==
        Errc::bad_revocation);
  REQUIRE(revoke_consent(c, {"caw-brussel", "w-3"}, kNow).has_value());
  CHECK(c.status == ConsentStatus::revoked);
  REQUIRE(c.revocation.has_value());
  CHECK(c.revocation->at == kNow);
  CHECK(validate_consent(c, default_pack(), kNow).has_value());
  CHECK(error_of(revoke_consent(c, {"caw-brussel", "w-3"}, kNow)) == Errc::already_revoked);
  CHECK(consent_end(c) == kNow + std::chrono::days{365});
}

TEST_CASE("consent JSON round trip", "[policy][consent][json]") {
  const RulePack& pack = default_pack();
  Consent c = valid_consent();
  REQUIRE(revoke_consent(c, {"caw-brussel", "w-4"}, kNow).has_value());
  const std::string text = serialize_consent(c, pack);
  const auto back = parse_consent(text, pack);
  REQUIRE(back.has_value());
  CHECK(*back == c);
  CHECK(serialize_consent(*back, pack) == text);
  // Names and times are human-readable in the stored document.
  CHECK(text.find("\"all-non-restricted\"") != std::string::npos);
  CHECK(text.find("\"residence-status\"") != std::string::npos);
  CHECK(text.find("\"2025-06-01T12:00:00Z\"") != std::string::npos);
  CHECK(text.find("\"legal-guardian\"") != std::string::npos);
}

TEST_CASE("consent JSON from the API: shape and names are checked", "[policy][consent][json]") {
  const RulePack& pack = default_pack();
  const std::string good = R"({"id":"c-9","status":"active","legal_basis":"consent",
    "provisions":[{"grantee":{"partner_type":"ocmw"},"categories":["housing","income"],
      "purposes":["referral"],"period":{"start":"2025-06-01T00:00:00Z","end":"2026-06-01T00:00:00Z"},
      "except":[{"partner":"ocmw-elsene"}]}],
    "evidence":{"recorded_by":{"partner":"caw-1","worker":"w-1","role":"social-worker"},
      "channel":"in-person","language":"nl","recorded_at":"2025-06-01T09:00:00Z"}})";
  const auto c = parse_consent(good, pack);
  REQUIRE(c.has_value());
  CHECK(validate_consent(*c, pack, kNow).has_value());
  CHECK(c->provisions[0].exceptions.at(0).kind == ConsentException::Kind::partner);

  auto code = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto pos = text.find(from);
    REQUIRE(pos != std::string::npos);
    text.replace(pos, from.size(), to);
    const auto r = parse_consent(text, pack);
    REQUIRE_FALSE(r.has_value());
    return static_cast<Errc>(r.error().value());
  };
  CHECK(code("\"housing\"", "\"housnig\"") == Errc::unknown_category);
  CHECK(code("\"referral\"", "\"marketing\"") == Errc::unknown_purpose);
  CHECK(code("\"ocmw\"", "\"bank\"") == Errc::unknown_partner_type);
  CHECK(code("\"social-worker\"", "\"janitor\"") == Errc::unknown_role);
  CHECK(code(",\"end\":\"2026-06-01T00:00:00Z\"", "") == Errc::missing_end);
  CHECK(code("\"end\":\"2026-06-01T00:00:00Z\"", "\"end\":null") == Errc::missing_end);
  CHECK(code("2026-06-01T00:00:00Z", "2026-02-30T00:00:00Z") == Errc::bad_time);
  CHECK(code("2026-06-01T00:00:00Z", "2026-06-01T00:00:00+02:00") == Errc::bad_time);
  CHECK(code("\"in-person\"", "\"whatsapp\"") == Errc::unknown_channel);
  CHECK(code("\"nl\"", "\"de\"") == Errc::unknown_language);
  CHECK(code("\"consent\"", "\"legitimate-interest\"") == Errc::unknown_legal_basis);
  CHECK(code("\"except\"", "\"excpet\"") == Errc::malformed);  // a typo never widens a consent
  CHECK(code("{\"partner\":\"ocmw-elsene\"}", "{\"partner\":\"p\",\"category\":\"health\"}") ==
        Errc::bad_exception);
  CHECK(code("\"housing\",\"income\"", "\"housing\",\"housing\"") == Errc::duplicate_name);
  CHECK(code("\"status\":\"active\"", "\"status\":\"revoked\"") == Errc::bad_revocation);
  CHECK(static_cast<Errc>(parse_consent("{not json", pack).error().value()) == Errc::malformed);
  CHECK(static_cast<Errc>(
            parse_consent(std::string(kMaxConsentJsonBytes + 1, ' '), pack).error().value()) ==
        Errc::text_too_long);
}

TEST_CASE("time text is strict RFC 3339 UTC", "[policy][consent]") {
  CHECK(format_time(at("2024-02-29T23:59:59Z")) == "2024-02-29T23:59:59Z");
  CHECK_FALSE(parse_time("2023-02-29T00:00:00Z"));
  CHECK_FALSE(parse_time("2024-01-01 00:00:00Z"));
  CHECK_FALSE(parse_time("2024-01-01T24:00:00Z"));
  CHECK_FALSE(parse_time("2024-01-01T00:00:00.5Z"));
  CHECK_FALSE(parse_time(""));
}

TEST_CASE("break-the-glass grant validation", "[policy][break-glass]") {
  const RulePack& pack = default_pack();
  BreakGlassGrant g;
  g.id = "g-1";
  g.partner = "home-care-noord";
  g.worker = "w-5";
  g.categories.insert(category("health"));
  g.categories.insert(category("addiction"));
  g.reason = "client found unresponsive, possible overdose";
  g.start = kNow;
  g.expiry = kNow + std::chrono::hours{2};
  const RoleId nurse = role("nurse");
  CHECK(validate_break_glass(g, pack, nurse, kNow).has_value());

  auto check = [&](auto mutate, Errc expected, RoleId who) {
    BreakGlassGrant x = g;
    mutate(x);
    CHECK(error_of(validate_break_glass(x, pack, who, kNow)) == expected);
  };
  check([](BreakGlassGrant& x) { x.reason = "   "; }, Errc::reason_missing, nurse);
  check([](BreakGlassGrant& x) { x.reason = "urgent"; }, Errc::reason_missing, nurse);
  check([](BreakGlassGrant& x) { x.reason = std::string(501, 'r'); }, Errc::text_too_long, nurse);
  check([](BreakGlassGrant& x) { x.categories = {}; }, Errc::no_categories, nurse);
  check([](BreakGlassGrant& x) { x.categories.insert(category("residence-status")); },
        Errc::restricted_category, nurse);
  check([](BreakGlassGrant& x) { x.categories.insert(category("income")); },
        Errc::break_glass_not_allowed, nurse);
  check([](BreakGlassGrant&) {}, Errc::break_glass_not_allowed, role("admin"));
  check([](BreakGlassGrant& x) { x.expiry = x.start; }, Errc::end_not_after_start, nurse);
  check([](BreakGlassGrant& x) { x.expiry = x.start + std::chrono::minutes{481}; },
        Errc::period_too_long, nurse);
  check(
      [](BreakGlassGrant& x) {
        x.start = kNow - std::chrono::hours{3};
        x.expiry = kNow - std::chrono::hours{1};
      },
      Errc::period_ended, nurse);
  check([](BreakGlassGrant& x) { x.worker = ""; }, Errc::bad_id, nurse);

  // JSON round trip.
  const auto back = break_glass_from_json(break_glass_to_json(g, pack), pack);
  REQUIRE(back.has_value());
  CHECK(*back == g);
}

TEST_CASE("error codes have stable names and messages", "[policy][error]") {
  const boost::system::error_code ec = Errc::missing_end;
  CHECK(std::string(ec.category().name()) == "sluis.policy");
  CHECK(ec.value() == 6);
  CHECK(ec.message() == "a period needs an end date");
  CHECK(std::string(errc_name(Errc::restricted_needs_partner)) == "restricted-needs-partner");
}
