// The consent cache: a document parsed once per rule pack, the record's status never cached.
#include "sluis/domain/consent_cache.hpp"
#include "sluis/policy/consent_json.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

using namespace sluis::domain;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const sluis::policy::RulePack> load_pack() {
  return std::make_shared<const sluis::policy::RulePack>(
      sluis::policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                    "/policy/packs/brussels-welfare.toml")
          .value());
}

std::string at(std::chrono::system_clock::duration from_now) {
  return sluis::policy::format_time(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() + from_now));
}

ConsentRecord record(std::string id, std::string_view category) {
  ConsentRecord r;
  r.id = std::move(id);
  r.client = ClientId::random();
  r.document = std::string(R"({"id":"draft","status":"active","legal_basis":"consent",)") +
               R"("provisions":[{"grantee":{"partner":"caw-brussel"},"categories":[")" +
               std::string(category) +
               R"("],"purposes":["care-coordination"],"period":{"start":")" + at(-1h) +
               R"(","end":")" + at(24h * 30) + R"("}}],)" +
               R"("evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)" +
               R"("role":"social-worker"},"channel":"in-person","language":"nl","recorded_at":")" +
               at(-1h) + R"("}})";
  return r;
}

}  // namespace

TEST_CASE("the consent cache parses a document once per pack and gives what parsing gives",
          "[consent-cache]") {
  const auto pack = load_pack();
  ConsentCache cache;
  const auto housing = record("0123456789abcdef0123456789abcdef", "housing");
  const auto direct = sluis::policy::parse_consent(housing.document, *pack);
  REQUIRE(direct.has_value());
  auto first = cache.parsed(housing, pack);
  auto second = cache.parsed(housing, pack);
  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  CHECK(cache.stats().misses == 1);
  CHECK(cache.stats().hits == 1);
  CHECK(sluis::policy::serialize_consent(*second, *pack) ==
        sluis::policy::serialize_consent(*direct, *pack));

  // The same id with another document (a record replaced under its id) is parsed again.
  auto changed = record(housing.id, "income");
  auto reparsed = cache.parsed(changed, pack);
  REQUIRE(reparsed.has_value());
  CHECK(cache.stats().misses == 2);
  CHECK(sluis::policy::serialize_consent(*reparsed, *pack) ==
        sluis::policy::serialize_consent(sluis::policy::parse_consent(changed.document, *pack).value(),
                                         *pack));

  // Another rule pack (a reload) drops everything parsed under the old one.
  const auto reloaded = load_pack();
  REQUIRE(cache.parsed(changed, reloaded).has_value());
  CHECK(cache.stats().misses == 3);
  CHECK(cache.stats().clears == 1);
  CHECK(cache.stats().size == 1);

  // A document that does not parse under the pack is nothing, and is not kept.
  auto broken = housing;
  broken.id = "fedcba9876543210fedcba9876543210";
  broken.document = R"({"not":"a consent"})";
  CHECK_FALSE(cache.parsed(broken, reloaded).has_value());
  CHECK(cache.stats().size == 1);

  // clear() (after a link or an erasure) empties it.
  cache.clear();
  CHECK(cache.stats().size == 0);
  CHECK(cache.stats().clears == 2);
}
