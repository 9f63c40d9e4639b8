// Integration test: a new card for a lost one (POST /v1/clients/{client}/card) on the real sluisd
// over mTLS — the old card stops registering and linking everywhere, pseudonyms stay.
#include "sluisd_harness.hpp"

#include "sluis/crypto/card.hpp"

#include <catch2/catch.hpp>

namespace {

using namespace sluis::test;

std::string client_in(const Response& r) {
  const auto v = body_json(r);
  REQUIRE(v.is_object());
  return std::string(v.at("client").as_string());
}

std::string anonymous(const std::string& sp) {
  return R"({"service_pseudonym":")" + sp + R"("})";
}

std::string link_body(const std::string& own, const std::string& first) {
  return R"({"own_pseudonym":")" + own + R"(","first_service":"nachtopvang","first_pseudonym":")" +
         first + R"(","consent_reference":"asked-at-desk"})";
}

}  // namespace

TEST_CASE("a lost card is replaced through the service's pseudonym, the old card is refused "
          "everywhere",
          "[integration]") {
  GatewayHome home;
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  Worker shelter(gateway, home.shelter, "shelter-sw");
  Worker caw(gateway, home.caw, "caw-sw");
  Worker ocmw(gateway, home.ocmw, "ocmw-sw");
  const auto old_card = sluis::crypto::new_card_secret();
  const auto old_sp = sluis::crypto::service_pseudonym(old_card, "nachtopvang");
  const auto at_shelter = client_in(shelter.post("/v1/clients", anonymous(old_sp)));
  REQUIRE(shelter
              .post("/v1/clients/" + at_shelter + "/fragments",
                    R"({"category":"housing","fields":{"situation":"sleeps outside"}})")
              .status == 201);
  const auto card = "/v1/clients/" + at_shelter + "/card";

  // Bad input changes nothing: the old card still registers afterwards.
  auto malformed = shelter.post(card, anonymous("sp1-not-hex"));
  CHECK(malformed.status == 422);
  CHECK(problem_code(malformed) == "invalid-identifier");
  auto extra = shelter.post(card, R"({"service_pseudonym":")" + old_sp + R"(","code":"x"})");
  CHECK(extra.status == 422);
  CHECK(problem_code(extra) == "invalid-body");
  auto unknown = shelter.post("/v1/clients/p1" + std::string(64, '0') + "/card",
                              anonymous(sluis::crypto::service_pseudonym(
                                  sluis::crypto::new_card_secret(), "nachtopvang")));
  CHECK(unknown.status == 404);
  CHECK(problem_code(unknown) == "client-not-found");
  // Another partner cannot reach the shelter's client by its pseudonym.
  auto foreign = caw.post(card, anonymous(sluis::crypto::service_pseudonym(
                                    sluis::crypto::new_card_secret(), "caw-brussel")));
  CHECK(foreign.status == 404);
  // A card already in use elsewhere here is refused.
  const auto other_card = sluis::crypto::new_card_secret();
  const auto other_sp = sluis::crypto::service_pseudonym(other_card, "nachtopvang");
  REQUIRE(shelter.post("/v1/clients", anonymous(other_sp)).status == 201);
  auto in_use = shelter.post(card, anonymous(other_sp));
  CHECK(in_use.status == 409);
  CHECK(problem_code(in_use) == "card-in-use");
  CHECK(shelter.post("/v1/clients", anonymous(old_sp)).status == 200);
  // Identified clients and non-low-threshold partners get no card.
  const auto identified = client_in(ocmw.post(
      "/v1/clients", R"({"identifier":{"scheme":"case-number","value":"CASE-1"}})"));
  auto not_anonymous = ocmw.post("/v1/clients/" + identified + "/card",
                                 anonymous(sluis::crypto::service_pseudonym(
                                     sluis::crypto::new_card_secret(), "ocmw-brussel")));
  CHECK(not_anonymous.status == 403);
  CHECK(problem_code(not_anonymous) == "anonymous-not-permitted");

  // The new card: the shelter's pseudonym stays, the new card registers as the same client.
  const auto new_card = sluis::crypto::new_card_secret();
  const auto new_sp = sluis::crypto::service_pseudonym(new_card, "nachtopvang");
  auto replaced = shelter.post(card, anonymous(new_sp));
  REQUIRE(replaced.status == 200);
  CHECK(client_in(replaced) == at_shelter);
  auto again = shelter.post("/v1/clients", anonymous(new_sp));
  CHECK(again.status == 200);
  CHECK(client_in(again) == at_shelter);
  REQUIRE(shelter.get("/v1/clients/" + at_shelter + "/dossier").status == 200);

  // The old card: refused for registration here and for a link at another service.
  auto old_registration = shelter.post("/v1/clients", anonymous(old_sp));
  CHECK(old_registration.status == 409);
  CHECK(problem_code(old_registration) == "card-replaced");
  auto old_link = caw.post(
      "/v1/links", link_body(sluis::crypto::service_pseudonym(old_card, "caw-brussel"), old_sp));
  CHECK(old_link.status == 409);
  CHECK(problem_code(old_link) == "card-replaced");
  // Replacing a second time is a new card again (the first new one is retired in turn).
  auto twice = shelter.post(card, anonymous(sluis::crypto::service_pseudonym(
                                      sluis::crypto::new_card_secret(), "nachtopvang")));
  CHECK(twice.status == 200);
  CHECK(shelter.post("/v1/clients", anonymous(new_sp)).status == 409);
  // The new card links at the CAW to the shelter's client.
  const auto newest = sluis::crypto::new_card_secret();
  REQUIRE(shelter.post(card, anonymous(sluis::crypto::service_pseudonym(newest, "nachtopvang")))
              .status == 200);
  auto linked =
      caw.post("/v1/links", link_body(sluis::crypto::service_pseudonym(newest, "caw-brussel"),
                                      sluis::crypto::service_pseudonym(newest, "nachtopvang")));
  CHECK(linked.status == 200);
}
