// Integration tests: the real sluisd binary on loopback, every /v1 resource and error class over
// mTLS.
#include "sluisd_harness.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cctype>
#include <cstdio>
#include <regex>
#include <set>
#include <tuple>

namespace {

using namespace sluis::test;
using sluis::policy::format_time;

// One gateway shared by the scenario tests (each test uses its own clients, so they do not depend
// on each other's order); the lifecycle tests start their own.
struct Shared {
  GatewayHome home;
  Sluisd gateway{home};
  Shared() { REQUIRE(gateway.wait_ready()); }
};

Shared& shared() {
  static Shared s;
  return s;
}

std::string at(std::chrono::system_clock::duration from_now) {
  return format_time(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() + from_now));
}

// A consent recorded at the OCMW by its social worker: `grantee` may read `category` for care
// coordination for 30 days.
std::string consent_body(const std::string& grantee, const std::string& category,
                         const std::string& language = "fr") {
  return R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":")" + grantee +
         R"("},"categories":[")" + category +
         R"("],"purposes":["care-coordination"],"period":{"start":")" + at(-1h) + R"(","end":")" +
         at(24h * 30) +
         R"("}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)"
         R"("role":"social-worker"},"channel":"in-person","language":")" +
         language + R"(","recorded_at":")" + at(-1min) + R"("}})";
}

std::string client_of(const Response& r) {
  const auto v = body_json(r);
  REQUIRE(v.is_object());
  return std::string(v.at("client").as_string());
}

std::string registration(unsigned long long person) {
  return R"({"identifier":{"scheme":"national-register","value":")" +
         national_register_number(person) + R"("}})";
}

std::size_t fragment_count(const Response& r) {
  REQUIRE(r.status == 200);
  return body_json(r).at("fragments").as_array().size();
}

}  // namespace

TEST_CASE("healthz answers over mTLS without a worker", "[integration]") {
  auto& s = shared();
  Worker anyone(s.gateway, s.home.caw, "");
  auto r = anyone.call("GET", "/healthz");
  CHECK(r.status == 200);
  CHECK(body_json(r).at("status") == "ok");
}

TEST_CASE("GET /v1/me: the caller's partner and role as sluisd knows them, and nobody else's",
          "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  auto r = ocmw.get("/v1/me");
  REQUIRE(r.status == 200);
  const auto me = body_json(r);
  CHECK(me.at("partner").at("id") == "ocmw-brussel");
  CHECK(me.at("partner").at("name") == "OCMW Brussel");
  CHECK(me.at("partner").at("type") == "ocmw");
  CHECK(me.at("partner").at("low_threshold") == false);
  CHECK(me.at("worker").at("id") == "ocmw-sw");
  CHECK(me.at("worker").at("role") == "social-worker");
  CHECK(me.at("worker").at("may_record_consent") == true);
  CHECK(me.at("worker").at("may_query_audit") == false);
  Worker dpo(s.gateway, s.home.ocmw, "ocmw-dpo");
  CHECK(body_json(dpo.get("/v1/me")).at("worker").at("may_query_audit") == true);
  Worker shelter(s.gateway, s.home.shelter, "shelter-sw");
  const auto at_shelter = body_json(shelter.get("/v1/me"));
  CHECK(at_shelter.at("partner").at("id") == "nachtopvang");
  CHECK(at_shelter.at("partner").at("low_threshold") == true);
  // The worker is another partner's: refused like any call naming an unknown worker.
  Worker foreign(s.gateway, s.home.caw, "ocmw-sw");
  CHECK(foreign.get("/v1/me").status == 403);
  auto odd = ocmw.get("/v1/me?x=1");
  CHECK(odd.status == 400);
  CHECK(problem_code(odd) == "unknown-parameter");
}

TEST_CASE("identified registration gives each partner its own pseudonym", "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  auto first = ocmw.post("/v1/clients", registration(850101101));
  REQUIRE(first.status == 201);
  auto again = ocmw.post("/v1/clients", registration(850101101));
  CHECK(again.status == 200);
  CHECK(client_of(again) == client_of(first));
  auto at_caw = caw.post("/v1/clients", registration(850101101));
  REQUIRE(at_caw.status == 201);
  CHECK(client_of(at_caw) != client_of(first));
  CHECK(client_of(first).rfind("p1", 0) == 0);

  auto bad =
      ocmw.post("/v1/clients", R"({"identifier":{"scheme":"national-register","value":"123"}})");
  CHECK(bad.status == 422);
  CHECK(problem_code(bad) == "invalid-identifier");
  CHECK(bad.content_type == "application/problem+json");
}

TEST_CASE("consent granted, read permitted, revoked, denied - a denial looks like no data",
          "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  const auto at_ocmw = client_of(ocmw.post("/v1/clients", registration(850202202)));
  const auto at_caw = client_of(caw.post("/v1/clients", registration(850202202)));
  // A second client the CAW knows that has no data at all.
  const auto empty_at_caw = client_of(caw.post("/v1/clients", registration(850303303)));

  auto written = ocmw.post("/v1/clients/" + at_ocmw + "/fragments",
                           R"({"category":"housing","fields":{"situation":"CANARY-housing-7f3a",)"
                           R"("since":"2025-01"}})");
  REQUIRE(written.status == 201);
  const auto fragment = std::string(body_json(written).at("fragment").as_string());
  CHECK(body_json(written).at("version") == 1);

  // The owner reads its own fragment.
  auto own = ocmw.get("/v1/clients/" + at_ocmw + "/dossier");
  CHECK(fragment_count(own) == 1);

  // Without consent: the CAW's read is indistinguishable from a client without data.
  auto denied = caw.get("/v1/clients/" + at_caw + "/dossier");
  auto nothing = caw.get("/v1/clients/" + empty_at_caw + "/dossier");
  CHECK(denied.status == 200);
  CHECK(denied.body == nothing.body);
  CHECK(denied.body == R"({"fragments":[]})");
  CHECK(denied.body.find("CANARY") == std::string::npos);

  // Consent → permitted.
  auto granted =
      ocmw.post("/v1/clients/" + at_ocmw + "/consents", consent_body("caw-brussel", "housing"));
  REQUIRE(granted.status == 201);
  const auto consent = std::string(body_json(granted).at("consent").as_string());
  CHECK(body_json(granted).at("status") == "active");
  auto permitted = caw.get("/v1/clients/" + at_caw + "/dossier");
  REQUIRE(fragment_count(permitted) == 1);
  const auto entry = body_json(permitted).at("fragments").at(0);
  CHECK(entry.at("fragment") == json::value(fragment));
  CHECK(entry.at("category") == "housing");
  CHECK(entry.at("owner").at("partner") == "ocmw-brussel");
  CHECK(entry.at("owner").at("name") == "OCMW Brussel");
  CHECK(entry.at("fields").at("situation") == "CANARY-housing-7f3a");
  // The category filter.
  CHECK(fragment_count(caw.get("/v1/clients/" + at_caw + "/dossier?category=housing")) == 1);
  CHECK(fragment_count(caw.get("/v1/clients/" + at_caw + "/dossier?category=income")) == 0);

  // The consent is listed with its status, and has a receipt in the client's language.
  auto listed = ocmw.get("/v1/clients/" + at_ocmw + "/consents");
  REQUIRE(listed.status == 200);
  CHECK(body_json(listed).at("consents").at(0).at("consent") == json::value(consent));
  auto receipt = ocmw.get("/v1/clients/" + at_ocmw + "/consents/" + consent + "/receipt");
  CHECK(receipt.status == 200);
  CHECK(receipt.content_type.rfind("text/html", 0) == 0);
  CHECK(receipt.body.find("Attestation de consentement") != std::string::npos);
  CHECK(receipt.body.find("CAW Brussel") != std::string::npos);
  auto in_dutch = ocmw.get("/v1/clients/" + at_ocmw + "/consents/" + consent + "/receipt?lang=nl");
  CHECK(in_dutch.body.find("Bewijs van toestemming") != std::string::npos);
  CHECK(ocmw.get("/v1/clients/" + at_ocmw + "/consents/" + consent + "/receipt?lang=de").status ==
        400);

  // Withdrawal takes effect at once.
  auto revoked = ocmw.call("DELETE", "/v1/clients/" + at_ocmw + "/consents/" + consent);
  CHECK(revoked.status == 200);
  CHECK(body_json(revoked).at("status") == "revoked");
  auto after = caw.get("/v1/clients/" + at_caw + "/dossier");
  CHECK(after.body == nothing.body);
  auto twice = ocmw.call("DELETE", "/v1/clients/" + at_ocmw + "/consents/" + consent);
  CHECK(twice.status == 409);
  CHECK(problem_code(twice) == "already-revoked");

  // Supersede: a new version, the old one is no longer current.
  auto v2 = ocmw.post("/v1/clients/" + at_ocmw + "/fragments",
                      R"({"category":"housing","fields":{"situation":"moved"},"supersedes":")" +
                          fragment + R"("})");
  REQUIRE(v2.status == 201);
  CHECK(body_json(v2).at("version") == 2);
  auto stale = ocmw.post("/v1/clients/" + at_ocmw + "/fragments",
                         R"({"category":"housing","fields":{"situation":"x"},"supersedes":")" +
                             fragment + R"("})");
  CHECK(stale.status == 409);
  // Another partner cannot supersede the OCMW's fragment: same answer as a fragment that is not.
  auto foreign = caw.post("/v1/clients/" + at_caw + "/fragments",
                          R"({"category":"housing","fields":{"situation":"x"},"supersedes":")" +
                              std::string(body_json(v2).at("fragment").as_string()) + R"("})");
  CHECK(foreign.status == 404);
  CHECK(problem_code(foreign) == "fragment-not-found");

  // The access report names the CAW's permitted read.
  auto report = ocmw.get("/v1/clients/" + at_ocmw + "/access-report?lang=en");
  CHECK(report.status == 200);
  CHECK(report.content_type.rfind("text/html", 0) == 0);
  CHECK(report.body.find("CAW Brussel") != std::string::npos);

  // Every one of those decisions is on the record, denials included.
  const auto root = sluis::crypto::read_root_key(s.home.dir.path() / "keys/root.key", {}).value();
  sluis::audit::AuditLogOptions o;
  o.path = s.home.dir.path() / "data/audit.db";
  o.origin.clear();
  o.read_only = true;
  auto log = sluis::audit::AuditLog::open(std::move(o), root).value();
  sluis::audit::AuditQuery q;
  q.partner = "caw-brussel";
  q.action = sluis::audit::AuditAction::read;
  q.decision = sluis::audit::AuditDecision::deny;
  auto denials = log->query_all(q).value();
  CHECK_FALSE(denials.empty());
  q.decision = sluis::audit::AuditDecision::permit;
  CHECK_FALSE(log->query_all(q).value().empty());

  // Nothing the requests carried reaches the log file.
  const auto logged = read_text(s.home.log_file);
  CHECK(logged.find("CANARY") == std::string::npos);
  CHECK(logged.find(at_ocmw) == std::string::npos);
  CHECK(logged.find(national_register_number(850202202)) == std::string::npos);
}

TEST_CASE("another partner's pseudonym and an unknown one are the same 404", "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  const auto at_ocmw = client_of(ocmw.post("/v1/clients", registration(850404404)));
  (void)caw.post("/v1/clients", registration(850404404));
  auto theirs = caw.get("/v1/clients/" + at_ocmw + "/dossier");
  auto unknown = caw.get("/v1/clients/p1aaaaaaaaaaaaaaaaaaaaaaaaaa/dossier");
  CHECK(theirs.status == 404);
  CHECK(unknown.status == 404);
  CHECK(problem_code(theirs) == "client-not-found");
  CHECK(problem_code(unknown) == "client-not-found");
  // Same document apart from the request id in `instance`.
  const std::regex instance("urn:sluis:request:[0-9a-f]+");
  CHECK(std::regex_replace(theirs.body, instance, "") ==
        std::regex_replace(unknown.body, instance, ""));
  auto write = caw.post("/v1/clients/" + at_ocmw + "/fragments",
                        R"({"category":"housing","fields":{"a":"b"}})");
  CHECK(write.status == 404);
}

TEST_CASE("break-the-glass opens what the matrix allows in an emergency", "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker nurse(s.gateway, s.home.thuiszorg, "tz-nurse");
  const auto at_ocmw = client_of(ocmw.post("/v1/clients", registration(850505505)));
  const auto at_tz = client_of(nurse.post("/v1/clients", registration(850505505)));
  REQUIRE(ocmw.post("/v1/clients/" + at_ocmw + "/fragments",
                    R"({"category":"contact","fields":{"phone":"0470 00 00 00"}})")
              .status == 201);
  CHECK(fragment_count(nurse.get("/v1/clients/" + at_tz + "/dossier", "emergency")) == 0);

  auto no_reason = nurse.post("/v1/clients/" + at_tz + "/break-glass",
                              R"({"categories":["contact"],"reason":"","minutes":60})");
  CHECK(no_reason.status == 422);
  CHECK(problem_code(no_reason) == "reason-missing");
  auto restricted = nurse.post("/v1/clients/" + at_tz + "/break-glass",
                               R"({"categories":["residence-status"],"reason":"client found )"
                               R"(unconscious at home, need contact of family","minutes":60})");
  CHECK(restricted.status == 422);

  auto grant = nurse.post("/v1/clients/" + at_tz + "/break-glass",
                          R"({"categories":["contact"],"reason":"client found unconscious at )"
                          R"(home, need to reach the family","minutes":60})");
  REQUIRE(grant.status == 201);
  CHECK(body_json(grant).at("flagged") == true);
  CHECK(fragment_count(nurse.get("/v1/clients/" + at_tz + "/dossier", "emergency")) == 1);
  // Only for the emergency purpose the matrix names.
  CHECK(fragment_count(nurse.get("/v1/clients/" + at_tz + "/dossier", "referral")) == 0);
}

TEST_CASE("anonymous registration, identifying data refused, client-controlled link",
          "[integration]") {
  auto& s = shared();
  Worker shelter(s.gateway, s.home.shelter, "shelter-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  const auto card = sluis::crypto::new_card_secret();
  const auto sp_shelter = sluis::crypto::service_pseudonym(card, "nachtopvang");
  const auto sp_caw = sluis::crypto::service_pseudonym(card, "caw-brussel");

  auto reg = shelter.post("/v1/clients", R"({"service_pseudonym":")" + sp_shelter + R"("})");
  REQUIRE(reg.status == 201);
  const auto at_shelter = client_of(reg);
  CHECK(shelter.post("/v1/clients", R"({"service_pseudonym":")" + sp_shelter + R"("})").status ==
        200);
  // Only low-threshold services register anonymously.
  auto not_allowed = ocmw.post("/v1/clients", R"({"service_pseudonym":")" + sp_caw + R"("})");
  CHECK(not_allowed.status == 403);
  CHECK(problem_code(not_allowed) == "anonymous-not-permitted");

  CHECK(shelter
            .post("/v1/clients/" + at_shelter + "/fragments",
                  R"({"category":"housing","fields":{"situation":"sleeps outside"}})")
            .status == 201);
  auto identifying = shelter.post("/v1/clients/" + at_shelter + "/fragments",
                                  R"({"category":"contact","fields":{"phone":"0470"}})");
  CHECK(identifying.status == 422);
  CHECK(problem_code(identifying) == "identifying-category-on-anonymous");
  CHECK(fragment_count(shelter.get("/v1/clients/" + at_shelter + "/dossier")) == 1);

  // The client presents the card at the CAW and agrees to link.
  auto link = caw.post("/v1/links", R"({"own_pseudonym":")" + sp_caw +
                                        R"(","first_service":"nachtopvang","first_pseudonym":")" +
                                        sp_shelter + R"(","consent_reference":"paper-2026-11"})");
  REQUIRE(link.status == 200);
  const auto at_caw = client_of(link);
  CHECK(at_caw != at_shelter);
  CHECK(caw.get("/v1/clients/" + at_caw + "/dossier").status == 200);
  // A card nobody registered.
  const auto other = sluis::crypto::new_card_secret();
  auto unknown =
      caw.post("/v1/links", R"({"own_pseudonym":")" +
                                sluis::crypto::service_pseudonym(other, "caw-brussel") +
                                R"(","first_service":"nachtopvang","first_pseudonym":")" +
                                sluis::crypto::service_pseudonym(other, "nachtopvang") +
                                R"(","consent_reference":"paper-1"})");
  CHECK(unknown.status == 404);
}

TEST_CASE("a card link keeps every pseudonym the services held; only they can use them; an "
          "erasure takes them all",
          "[integration]") {
  // A home of its own with a second low-threshold service (a day centre).
  GatewayHome home;
  const auto day_credential = home.partner("dagcentrum");
  {
    auto root = sluis::crypto::read_root_key(home.dir.path() / "keys/root.key", {}).value();
    sluis::store::StoreOptions o;
    o.data_path = home.dir.path() / "data/data.db";
    o.key_store_path = home.dir.path() / "data/keys.db";
    auto store = sluis::store::Store::open(std::move(o), root).value();
    sluis::domain::Registry r(*store);
    REQUIRE(r.add_partner("dagcentrum", "low-threshold", "Dagcentrum Zuid"));
    REQUIRE(r.add_worker("dagcentrum", "day-sw", "social-worker"));
    REQUIRE(r.add_worker("dagcentrum", "day-coord", "coordinator"));
  }
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  Worker shelter(gateway, home.shelter, "shelter-sw");
  Worker day(gateway, day_credential, "day-sw");
  Worker day_coord(gateway, day_credential, "day-coord");
  Worker caw(gateway, home.caw, "caw-sw");
  const auto anonymous = [](const std::string& sp) {
    return R"({"service_pseudonym":")" + sp + R"("})";
  };
  const auto link_body = [](const std::string& own, const std::string& first) {
    return R"({"own_pseudonym":")" + own + R"(","first_service":"nachtopvang","first_pseudonym":")" +
           first + R"(","consent_reference":"paper-2026-12"})";
  };
  const auto housing = [](const std::string& text) {
    return R"({"category":"housing","fields":{"situation":")" + text + R"("}})";
  };
  const auto card = sluis::crypto::new_card_secret();
  const auto sp_shelter = sluis::crypto::service_pseudonym(card, "nachtopvang");
  const auto sp_day = sluis::crypto::service_pseudonym(card, "dagcentrum");
  const auto at_shelter = client_of(shelter.post("/v1/clients", anonymous(sp_shelter)));
  const auto at_day = client_of(day.post("/v1/clients", anonymous(sp_day)));
  REQUIRE(day.post("/v1/clients/" + at_day + "/fragments", housing("day centre, before")).status ==
          201);

  // The day centre had registered this card itself: the link answers the pseudonym it had, and
  // that pseudonym goes on working for everything.
  auto linked = day.post("/v1/links", link_body(sp_day, sp_shelter));
  REQUIRE(linked.status == 200);
  CHECK(client_of(linked) == at_day);
  CHECK(fragment_count(day.get("/v1/clients/" + at_day + "/dossier")) == 1);
  CHECK(day.post("/v1/clients/" + at_day + "/fragments", housing("day centre, after")).status ==
        201);
  std::string consent = consent_body("nachtopvang", "housing", "nl");
  consent.replace(consent.find(R"("partner":"ocmw-brussel","worker":"ocmw-sw")"),
                  std::string_view(R"("partner":"ocmw-brussel","worker":"ocmw-sw")").size(),
                  R"("partner":"dagcentrum","worker":"day-sw")");
  auto granted = day.post("/v1/clients/" + at_day + "/consents", consent);
  REQUIRE(granted.status == 201);
  CHECK(day.get("/v1/clients/" + at_day + "/consents").status == 200);
  // One client now: the shelter reads the day centre's fragments under its own pseudonym.
  CHECK(fragment_count(shelter.get("/v1/clients/" + at_shelter + "/dossier")) == 2);

  // A second card of the same person, registered separately at the day centre and then linked:
  // the day centre knew both records. The answer is its pseudonym for the surviving client; the
  // other keeps working as an alias.
  const auto later = sluis::crypto::new_card_secret();
  const auto sp_day_later = sluis::crypto::service_pseudonym(later, "dagcentrum");
  const auto at_day_later = client_of(day.post("/v1/clients", anonymous(sp_day_later)));
  CHECK(at_day_later != at_day);
  REQUIRE(day.post("/v1/clients/" + at_day_later + "/fragments", housing("second card"))
              .status == 201);
  auto merged = day.post("/v1/links", link_body(sp_day_later, sp_shelter));
  REQUIRE(merged.status == 200);
  CHECK(client_of(merged) == at_day);
  CHECK(fragment_count(day.get("/v1/clients/" + at_day_later + "/dossier")) == 3);
  CHECK(day.get("/v1/clients/" + at_day_later + "/dossier").body ==
        day.get("/v1/clients/" + at_day + "/dossier").body);
  CHECK(day.post("/v1/clients/" + at_day_later + "/fragments", housing("through the alias"))
            .status == 201);
  CHECK(fragment_count(shelter.get("/v1/clients/" + at_shelter + "/dossier")) == 4);

  // No other partner can use the day centre's pseudonyms: the same 404 as an unknown one.
  for (const auto& p : {at_day, at_day_later}) {
    for (Worker* other : {&shelter, &caw}) {
      auto r = other->get("/v1/clients/" + p + "/dossier");
      CHECK(r.status == 404);
      CHECK(problem_code(r) == "client-not-found");
    }
  }

  // Erasure through the alias erases the client: every pseudonym answers as erased from then on.
  auto erased = day_coord.call("DELETE", "/v1/clients/" + at_day_later);
  REQUIRE(erased.status == 200);
  for (const auto& p : {at_day, at_day_later}) {
    auto r = day.get("/v1/clients/" + p + "/dossier");
    CHECK(r.status == 404);
    CHECK(problem_code(r) == "client-not-found");
  }
  CHECK(shelter.get("/v1/clients/" + at_shelter + "/dossier").status == 404);
}

TEST_CASE("erasure only by the roles the rule pack allows", "[integration]") {
  auto& s = shared();
  Worker sw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker coord(s.gateway, s.home.ocmw, "ocmw-coord");
  const auto client = client_of(sw.post("/v1/clients", registration(850606606)));
  REQUIRE(sw.post("/v1/clients/" + client + "/fragments",
                  R"({"category":"income","fields":{"benefit":"leefloon"}})")
              .status == 201);
  auto refused = sw.call("DELETE", "/v1/clients/" + client);
  CHECK(refused.status == 403);
  CHECK(problem_code(refused) == "not-permitted");
  auto erased = coord.call("DELETE", "/v1/clients/" + client);
  CHECK(erased.status == 200);
  CHECK(sw.get("/v1/clients/" + client + "/dossier").status == 404);
  CHECK(coord.call("DELETE", "/v1/clients/" + client).status == 404);
}

TEST_CASE("who may call: certificates, partners and workers", "[integration]") {
  auto& s = shared();
  SECTION("no client certificate") {
    auto c = s.gateway.client(nullptr);
    CHECK((c.connect() || !c.request("GET", "/healthz")));
  }
  SECTION("a certificate from another CA") {
    auto foreign = gw::GatewayCa::create("evil CA", 24h).value();
    const auto cred = foreign.issue_partner_certificate({"ocmw-brussel", "", 1h}).value();
    auto c = s.gateway.client(&cred);
    CHECK((c.connect() || !c.request("GET", "/healthz")));
  }
  SECTION("a revoked certificate") {
    auto c = s.gateway.client(&s.home.revoked);
    CHECK((c.connect() || !c.request("GET", "/healthz")));
  }
  SECTION("a partner revoked in the store") {
    Worker w(s.gateway, s.home.closed, "closed-sw");
    auto r = w.post("/v1/clients", registration(850707707));
    CHECK(r.status == 403);
    CHECK(problem_code(r) == "partner-revoked");
  }
  SECTION("no worker, an unknown worker, an inactive worker") {
    Worker none(s.gateway, s.home.ocmw, "");
    auto r0 = none.post("/v1/clients", registration(850707707));
    CHECK(r0.status == 403);
    CHECK(problem_code(r0) == "unknown-worker");
    Worker unknown(s.gateway, s.home.ocmw, "nobody");
    auto r1 = unknown.post("/v1/clients", registration(850707707));
    CHECK(r1.status == 403);
    CHECK(problem_code(r1) == "unknown-worker");
    // Enrolled at another partner is not enrolled here.
    Worker elsewhere(s.gateway, s.home.caw, "ocmw-sw");
    CHECK(problem_code(elsewhere.post("/v1/clients", registration(850707707))) == "unknown-worker");
    Worker gone(s.gateway, s.home.ocmw, "ocmw-gone");
    auto r2 = gone.post("/v1/clients", registration(850707707));
    CHECK(r2.status == 403);
    CHECK(problem_code(r2) == "inactive-worker");
  }
}

TEST_CASE("bad input gets a clear problem and changes nothing", "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  const auto client = client_of(ocmw.post("/v1/clients", registration(850808808)));
  const auto fragments = "/v1/clients/" + client + "/fragments";
  auto expect = [](const Response& r, int status, const std::string& code) {
    CHECK(r.status == status);
    CHECK(problem_code(r) == code);
    CHECK(r.content_type == "application/problem+json");
  };
  SECTION("missing and unknown purpose") {
    expect(ocmw.call("GET", "/v1/clients/" + client + "/dossier"), 400, "purpose-required");
    expect(ocmw.get("/v1/clients/" + client + "/dossier", "curiosity"), 400, "unknown-purpose");
    expect(ocmw.get("/v1/clients/" + client + "/dossier?color=red"), 400, "unknown-parameter");
  }
  SECTION("malformed JSON, duplicate keys, deep nesting, invalid UTF-8") {
    expect(ocmw.post(fragments, R"({"category":"housing",)"), 400, "malformed-json");
    expect(ocmw.post(fragments, R"({"category":"housing","category":"income","fields":{"a":"b"}})"),
           400, "malformed-json");
    expect(ocmw.post(fragments, std::string(100, '[') + std::string(100, ']')), 400,
           "malformed-json");
    expect(ocmw.post(fragments, "{\"category\":\"housing\",\"fields\":{\"a\":\"\xff\xfe\"}}"), 400,
           "malformed-json");
  }
  SECTION("wrong shapes") {
    expect(ocmw.post(fragments, R"(["housing"])"), 422, "invalid-body");
    expect(ocmw.post(fragments, R"({"category":"housing","fields":{"a":"b"},"extra":1})"), 422,
           "invalid-body");
    expect(ocmw.post(fragments, R"({"category":"housing","fields":{"a":7}})"), 422, "invalid-body");
    expect(ocmw.post(fragments, R"({"category":"gossip","fields":{"a":"b"}})"), 422,
           "unknown-category");
    expect(ocmw.post("/v1/clients/" + client + "/consents", R"({"provisions":[]})"), 422,
           "invalid-body");
  }
  SECTION("an unknown role in a consent names the rule pack's roles") {
    std::string body = consent_body("caw-brussel", "housing");
    const std::string grantee = R"({"partner":"caw-brussel"})";
    body.replace(body.find(grantee), grantee.size(), R"({"role":"wizard"})");
    auto r = ocmw.post("/v1/clients/" + client + "/consents", body);
    expect(r, 422, "unknown-role");
    const auto v = body_json(r);
    REQUIRE(v.as_object().contains("detail"));
    const std::string detail(v.at("detail").as_string());
    for (const char* role : {"social-worker", "nurse", "psychologist", "doctor", "dpo"}) {
      CHECK_THAT(detail, Catch::Contains(role));
    }
    CHECK_THAT(detail, !Catch::Contains("wizard"));  // nothing the caller sent
  }
  SECTION("query values: an escaped %, / or \\ is data; controls and malformed escapes are not") {
    const auto dossier = "/v1/clients/" + client + "/dossier?category=";
    // Before issue 13 these were malformed-path; now the value reaches the resource.
    expect(ocmw.get(dossier + "hous%25ing"), 400, "unknown-category");
    expect(ocmw.get(dossier + "a%2Fb"), 400, "unknown-category");
    expect(ocmw.get(dossier + "a%5Cb"), 400, "unknown-category");
    CHECK(ocmw.get(dossier + "hous%69ng").status == 200);  // %69 = 'i'
    Worker fresh(s.gateway, s.home.ocmw, "ocmw-sw");  // malformed-path closes the connection
    expect(fresh.get(dossier + "a%0Ab"), 400, "malformed-path");
    Worker fresh2(s.gateway, s.home.ocmw, "ocmw-sw");
    expect(fresh2.get(dossier + "a%2"), 400, "malformed-path");
  }
  SECTION("wrong content type") {
    const std::string body = R"({"category":"housing","fields":{"a":"b"}})";
    auto r = ocmw.raw("POST " + fragments +
                      " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                      "Content-Type: text/plain\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body);
    REQUIRE(r);
    expect(*r, 415, "unsupported-media-type");
  }
  SECTION("oversized body") {
    const std::string body =
        R"({"category":"housing","fields":{"a":")" + std::string(70 * 1024, 'x') + R"("}})";
    auto r = ocmw.raw("POST " + fragments +
                      " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                      "Content-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n");
    REQUIRE(r);
    expect(*r, 413, "payload-too-large");
  }
  // Whatever was refused, nothing was written.
  Worker check(s.gateway, s.home.ocmw, "ocmw-sw");
  CHECK(fragment_count(check.get("/v1/clients/" + client + "/dossier")) == 0);
}

TEST_CASE("every path in docs/api/openapi.yaml answers on a running sluisd", "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  const auto client = client_of(ocmw.post("/v1/clients", registration(850909909)));
  auto granted =
      ocmw.post("/v1/clients/" + client + "/consents", consent_body("caw-brussel", "housing"));
  REQUIRE(granted.status == 201);
  const auto consent = std::string(body_json(granted).at("consent").as_string());

  const auto spec = read_text(fs::path(SLUIS_SOURCE_DIR) / "docs/api/openapi.yaml");
  REQUIRE_FALSE(spec.empty());
  // Paths are the two-space-indented keys under `paths:`; methods the four-space ones below.
  const std::regex path_line("^  (/[^:]*):\\s*$");
  const std::regex method_line("^    (get|post|delete|put|patch):\\s*$");
  std::istringstream lines(spec);
  std::string line, path;
  bool in_paths = false;
  std::set<std::string> seen;
  while (std::getline(lines, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (in_paths && !line.empty() && line[0] != ' ' && line[0] != '#') in_paths = false;
    if (!in_paths) continue;
    std::smatch m;
    if (std::regex_match(line, m, path_line)) {
      path = m[1];
      continue;
    }
    if (path.empty() || !std::regex_match(line, m, method_line)) continue;
    std::string method = m[1];
    for (auto& c : method)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string target = std::regex_replace(path, std::regex("\\{client\\}"), client);
    target = std::regex_replace(target, std::regex("\\{consent\\}"), consent);
    target = std::regex_replace(target, std::regex("\\{grant\\}"), std::string(32, '0'));
    // A method with a body gets an empty object (without one, sluisd answers 411 and closes).
    const bool with_body = method == "POST" || method == "PUT" || method == "PATCH";
    const std::string body = with_body ? "{}" : "";
    INFO(method << " " << path);
    auto r = ocmw.call(method, target, body, std::string("care-coordination"));
    INFO("→ " << r.status << " " << r.body);
    CHECK(r.status != 405);
    CHECK(problem_code(r) != "not-found");
    seen.insert(method + " " + path);
  }
  // The documentation covers every resource.
  CHECK(seen.size() >= 12);
}

TEST_CASE("SIGHUP with a broken rule pack keeps the old one, SIGTERM drains and exits 0",
          "[integration]") {
  GatewayHome home;
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  {
    Worker ocmw(gateway, home.ocmw, "ocmw-sw");
    const auto client = client_of(ocmw.post("/v1/clients", registration(851010101)));
    write_text(home.rules_path, "[pack]\nname = \"broken\"\nthis is not toml\n");
    gateway.signal(SIGHUP);
    CHECK(eventually(
        [&] { return gateway.stderr_text().find("previous one stays") != std::string::npos; }, 5s));
    // Still serving with the old pack: its purposes and categories still work.
    Worker again(gateway, home.ocmw, "ocmw-sw");
    CHECK(again.get("/v1/clients/" + client + "/dossier").status == 200);
    CHECK(again
              .post("/v1/clients/" + client + "/fragments",
                    R"({"category":"housing","fields":{"a":"b"}})")
              .status == 201);
  }
  gateway.signal(SIGTERM);
  REQUIRE(gateway.exited(10s));
  CHECK(gateway.exit_code() == 0);
}

TEST_CASE("sluisd refuses to start with a sentence a person can act on", "[integration]") {
  GatewayHome home;
  SECTION("missing key file") {
    fs::remove(home.dir.path() / "keys/root.key");
    Sluisd g(home);
    REQUIRE(g.exited(20s));
    CHECK(g.exit_code() == 1);
    CHECK(g.stderr_text().find("cannot read the root key file") != std::string::npos);
  }
  SECTION("a root key that does not match the database") {
    REQUIRE(sluis::crypto::write_raw_root_key(home.dir.path() / "keys/root.key",
                                              sluis::crypto::RootKey::random()));
    Sluisd g(home);
    REQUIRE(g.exited(20s));
    CHECK(g.exit_code() == 1);
    CHECK(g.stderr_text().find("does not open with this root key") != std::string::npos);
  }
  SECTION("wrong passphrase") {
    const auto root = sluis::crypto::RootKey::random();
    const std::string pass = "correct horse battery staple";
    REQUIRE(sluis::crypto::write_sealed_root_key(
        home.dir.path() / "keys/root.key", root,
        std::span(reinterpret_cast<const std::uint8_t*>(pass.data()), pass.size()), {2, 8 << 20}));
    write_text(home.dir.path() / "pass.txt", "wrong passphrase\n");
    Sluisd g(home, {"--passphrase-file", (home.dir.path() / "pass.txt").string()});
    REQUIRE(g.exited(20s));
    CHECK(g.exit_code() == 1);
    CHECK(g.stderr_text().find("does not open with this passphrase") != std::string::npos);
  }
  SECTION("unreadable rule pack") {
    write_text(home.rules_path, "not a rule pack");
    Sluisd g(home);
    REQUIRE(g.exited(20s));
    CHECK(g.exit_code() == 1);
    CHECK(g.stderr_text().find("rule pack") != std::string::npos);
  }
  SECTION("port taken") {
    Sluisd first(home);
    REQUIRE(first.wait_ready());
    GatewayHome other;
    other.write_config(first.port());
    Sluisd second(other);
    REQUIRE(second.exited(20s));
    CHECK(second.exit_code() == 1);
    CHECK(second.stderr_text().find("already in use") != std::string::npos);
  }
}

namespace {

std::size_t count_of(const std::string& hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
    ++n;
  return n;
}

/// Runs sluisctl with `args`; its standard output.
std::string sluisctl(const std::string& args) {
  std::string out;
  FILE* p = ::popen((std::string(SLUISCTL_PATH) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  const int status = ::pclose(p);
  INFO(out);
  CHECK(status == 0);
  return out;
}

/// The refused and the granted break-the-glass requests of one nurse for one client.
struct BreakGlassScenario {
  std::string at_tz;
  std::string grant;
  std::string reason;
};

BreakGlassScenario break_glass_scenario(unsigned long long person) {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker nurse(s.gateway, s.home.thuiszorg, "tz-nurse");
  BreakGlassScenario out;
  const auto at_ocmw = client_of(ocmw.post("/v1/clients", registration(person)));
  out.at_tz = client_of(nurse.post("/v1/clients", registration(person)));
  REQUIRE(ocmw.post("/v1/clients/" + at_ocmw + "/fragments",
                    R"({"category":"contact","fields":{"phone":"0470 11 22 33"}})")
              .status == 201);
  const std::string path = "/v1/clients/" + out.at_tz + "/break-glass";
  const std::string good = "client found unconscious at home, family must be reached";
  // Refused: no reason, a reason too short, a period over the pack's maximum, a category that
  // may not be opened in an emergency, a category the pack does not know, a malformed body.
  for (const auto& [body, code] : std::vector<std::pair<std::string, std::string>>{
           {R"({"categories":["contact"],"reason":"","minutes":60})", "reason-missing"},
           {R"({"categories":["contact"],"reason":"urgent","minutes":60})", "reason-missing"},
           {R"({"categories":["contact"],"reason":")" + good + R"(","minutes":9000})", ""},
           {R"({"categories":["residence-status"],"reason":")" + good + R"(","minutes":60})", ""},
           {R"({"categories":["no-such-thing"],"reason":")" + good + R"(","minutes":60})",
            "unknown-category"},
           {R"({"categories":["contact"],"minutes":60})", "invalid-body"},
       }) {
    auto r = nurse.post(path, body);
    INFO(body << " → " << r.status << " " << r.body);
    CHECK(r.status == 422);
    if (!code.empty()) CHECK(problem_code(r) == code);
  }
  out.reason = "CANARY-BTG-REASON-" + std::to_string(person) + " insulin overdose suspected";
  auto granted = nurse.post(path, R"({"categories":["contact"],"reason":")" + out.reason +
                                      R"(","minutes":60})");
  REQUIRE(granted.status == 201);
  out.grant = std::string(body_json(granted).at("grant").as_string());
  CHECK(fragment_count(nurse.get("/v1/clients/" + out.at_tz + "/dossier", "emergency")) == 1);
  return out;
}

}  // namespace

TEST_CASE("a refused break-the-glass request never reads as an emergency access opened",
          "[integration][break-glass]") {
  auto& s = shared();
  const auto bg = break_glass_scenario(851212121);
  Worker nurse(s.gateway, s.home.thuiszorg, "tz-nurse");
  for (const auto& [lang, opened, note] :
       {std::tuple{"en", "emergency access opened", "All times are Brussels time."},
        std::tuple{"nl", "noodtoegang geopend", "Alle tijden zijn Brusselse tijd."},
        std::tuple{"fr", "accès d'urgence ouvert", "Toutes les heures sont à l'heure de Bruxelles."}}) {
    auto report = nurse.get("/v1/clients/" + bg.at_tz + "/access-report?lang=" + lang);
    REQUIRE(report.status == 200);
    INFO(report.body);
    // Six refused requests and one grant: one opening.
    CHECK(count_of(report.body, opened) == 1);
    CHECK(count_of(report.body, note) == 1);
    CHECK(report.body.find("UTC") == std::string::npos);
    // The client's report never carries the written reason (it is for the DPOs).
    CHECK(report.body.find(bg.reason) == std::string::npos);
  }
}

TEST_CASE("the accessing partner's DPO sees the written reason of its own grants, no one else",
          "[integration][break-glass]") {
  auto& s = shared();
  const auto bg = break_glass_scenario(860113131);
  Worker tz_dpo(s.gateway, s.home.thuiszorg, "tz-dpo");
  auto page = tz_dpo.get("/v1/audit/events?action=break-glass-start&limit=1000");
  REQUIRE(page.status == 200);
  bool found = false;
  std::size_t refused = 0;
  const auto body = body_json(page);
  for (const auto& v : body.at("events").as_array()) {
    const auto& e = v.as_object();
    if (e.at("rule").as_string() == "break-glass.grant:" + bg.grant) {
      found = true;
      REQUIRE(e.contains("break_glass_reason"));
      CHECK(e.at("break_glass_reason").as_string() == bg.reason);
      CHECK(e.at("decision").as_string() == "permit");
    }
    if (e.at("decision").as_string() == "deny") {
      ++refused;
      CHECK_FALSE(e.contains("break_glass_reason"));
    }
  }
  CHECK(found);
  CHECK(refused >= 6);
  // The owner of the data opened in the emergency sees the accesses, not the nurse's reason.
  Worker ocmw_dpo(s.gateway, s.home.ocmw, "ocmw-dpo");
  auto owner_view = ocmw_dpo.get("/v1/audit/events?limit=1000");
  REQUIRE(owner_view.status == 200);
  CHECK(owner_view.body.find("btg.valid:" + bg.grant) != std::string::npos);
  CHECK(owner_view.body.find(bg.reason) == std::string::npos);
  CHECK(owner_view.body.find("break_glass_reason") == std::string::npos);
  // Only roles that may query the audit log.
  Worker nurse(s.gateway, s.home.thuiszorg, "tz-nurse");
  CHECK(nurse.get("/v1/audit/events?action=break-glass-start").status == 403);
  // Never in the log.
  CHECK(read_text(s.home.log_file).find("CANARY-BTG-REASON") == std::string::npos);
}

TEST_CASE("sluisctl audit report shows each grant's written reason and lists refusals apart",
          "[integration][break-glass]") {
  auto& s = shared();
  const auto bg = break_glass_scenario(860114141);
  const auto d = s.home.dir.path();
  const std::string common = "audit report --key " + (d / "keys/root.key").string() + " --log " +
                             (d / "data/audit.db").string() + " --data " +
                             (d / "data/data.db").string() + " --key-store " +
                             (d / "data/keys.db").string();
  const auto html_path = d / "dpo.html";
  const auto text = sluisctl(common + " --html " + html_path.string());
  CHECK(text.find("reason: " + bg.reason) != std::string::npos);
  CHECK(text.find("Refused break-the-glass requests (") != std::string::npos);
  CHECK(text.find("request.policy:reason-missing") != std::string::npos);
  const auto html = read_text(html_path);
  CHECK(html.find("<td>" + bg.reason + "</td>") != std::string::npos);
  CHECK(html.find("Refused break-the-glass requests (") != std::string::npos);
  // A partner's DPO report: its own grants' reasons only.
  const auto own = sluisctl(common + " --scope-partner thuiszorg");
  CHECK(own.find("reason: " + bg.reason) != std::string::npos);
  const auto owner = sluisctl(common + " --scope-partner ocmw-brussel");
  CHECK(owner.find(bg.reason) == std::string::npos);
  // Without the store at hand the report says how to get the reasons.
  const auto bare = sluisctl("audit report --key " + (d / "keys/root.key").string() + " --log " +
                             (d / "data/audit.db").string());
  CHECK(bare.find(bg.reason) == std::string::npos);
  CHECK(bare.find("give --data and --key-store") != std::string::npos);
}

TEST_CASE("the consent receipt prints a short reference that the API takes like the full one",
          "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  const auto client = client_of(ocmw.post("/v1/clients", registration(860115151)));
  auto granted =
      ocmw.post("/v1/clients/" + client + "/consents", consent_body("caw-brussel", "housing", "nl"));
  REQUIRE(granted.status == 201);
  const auto v = body_json(granted);
  const auto id = std::string(v.at("consent").as_string());
  const auto reference = std::string(v.at("reference").as_string());
  CHECK(std::regex_match(reference, std::regex("^[0-9A-HJKMNP-TV-Y]{3}-[0-9A-HJKMNP-TV-Y]{3}-"
                                               "[0-9A-HJKMNP-TV-Y]{3}$")));
  auto receipt = ocmw.get("/v1/clients/" + client + "/consents/" + reference + "/receipt");
  REQUIRE(receipt.status == 200);
  CHECK(receipt.body.find(reference) != std::string::npos);
  CHECK(receipt.body.find(id) != std::string::npos);
  CHECK(receipt.body.find("Alle tijden zijn Brusselse tijd.") != std::string::npos);
  CHECK(receipt.body.find(" UTC") == std::string::npos);
  // A typo in the short form is no consent; as typed by a person (lower case, no dashes) it is.
  std::string typo = reference;
  typo[0] = typo[0] == '0' ? '1' : '0';
  CHECK(problem_code(ocmw.get("/v1/clients/" + client + "/consents/" + typo + "/receipt")) ==
        "consent-not-found");
  std::string typed;
  for (char c : reference)
    if (c != '-') typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto revoked = ocmw.call("DELETE", "/v1/clients/" + client + "/consents/" + typed);
  REQUIRE(revoked.status == 200);
  CHECK(body_json(revoked).at("consent").as_string() == id);
  CHECK(body_json(revoked).at("status").as_string() == "revoked");
}

TEST_CASE("consents parsed once are still read afresh: a grant opens the next read, a withdrawal "
          "closes it at once, also on repeated reads and for a second grant",
          "[integration][consent-cache]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  const auto at_ocmw = client_of(ocmw.post("/v1/clients", registration(860220222)));
  const auto at_caw = client_of(caw.post("/v1/clients", registration(860220222)));
  for (const char* body : {R"({"category":"housing","fields":{"situation":"cache-housing"}})",
                           R"({"category":"income","fields":{"amount":"cache-income"}})"}) {
    REQUIRE(ocmw.post("/v1/clients/" + at_ocmw + "/fragments", body).status == 201);
  }
  const auto dossier = "/v1/clients/" + at_caw + "/dossier";
  CHECK(fragment_count(caw.get(dossier)) == 0);

  // Granted: the next read sees it, and so does every read after it (the parsed consent is
  // reused, its status still comes from the store).
  auto housing =
      ocmw.post("/v1/clients/" + at_ocmw + "/consents", consent_body("caw-brussel", "housing"));
  REQUIRE(housing.status == 201);
  const auto housing_id = std::string(body_json(housing).at("consent").as_string());
  for (int i = 0; i < 3; ++i) {
    auto r = caw.get(dossier);
    REQUIRE(fragment_count(r) == 1);
    CHECK(body_json(r).at("fragments").at(0).at("category") == "housing");
  }
  // Listing and revoking parse the same document through the same cache.
  REQUIRE(ocmw.get("/v1/clients/" + at_ocmw + "/consents").status == 200);
  REQUIRE(ocmw.call("DELETE", "/v1/clients/" + at_ocmw + "/consents/" + housing_id).status == 200);
  for (int i = 0; i < 3; ++i)
    CHECK(fragment_count(caw.get(dossier)) == 0);

  // A second consent, for the other category: only it opens anything.
  auto income =
      ocmw.post("/v1/clients/" + at_ocmw + "/consents", consent_body("caw-brussel", "income"));
  REQUIRE(income.status == 201);
  auto r = caw.get(dossier);
  REQUIRE(fragment_count(r) == 1);
  CHECK(body_json(r).at("fragments").at(0).at("category") == "income");
  const auto income_id = std::string(body_json(income).at("consent").as_string());
  REQUIRE(ocmw.call("DELETE", "/v1/clients/" + at_ocmw + "/consents/" + income_id).status == 200);
  CHECK(fragment_count(caw.get(dossier)) == 0);
}
