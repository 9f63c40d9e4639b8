// The consent-checked dossier read end to end: real store, default rule pack, policy decisions.
#include "engines.hpp"

#include "sluis/domain/access.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
using sluis::gateway::testing::DomainFixture;
using sluis::gateway::testing::fields_of;
using sluis::gateway::testing::text_of;
using namespace std::chrono_literals;

namespace {

const sluis::policy::RulePack& pack() {
  static const auto p = sluis::policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                                      "/policy/packs/brussels-welfare.toml")
                            .value();
  return p;
}

std::string at(Instant t) {
  return sluis::policy::format_time(std::chrono::floor<std::chrono::seconds>(t));
}

// A consent as a partner's system would send it: the OCMW social worker records, with the client,
// that the CAW may read `category` for care coordination for 30 days.
std::string consent_json(std::string_view grantee, std::string_view category, Instant now) {
  return std::string(R"({"id":"draft","status":"active","legal_basis":"consent",)") +
         R"("provisions":[{"grantee":{"partner":")" + std::string(grantee) +
         R"("},"categories":[")" + std::string(category) +
         R"("],"purposes":["care-coordination"],"period":{"start":")" + at(now - 1h) +
         R"(","end":")" + at(now + 24h * 30) + R"("}}],)" +
         R"("evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)" +
         R"("role":"social-worker"},"channel":"in-person","language":"nl","recorded_at":")" +
         at(now - 1h) + R"("}})";
}

template <class Engine> struct Sector : DomainFixture<Engine> {
  ClientId client;
  Instant now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::vector<FragmentDecision> recorded;  // what the audit hook was given
  bool audit_fails = false;
  BeforeOpen audit = [this](std::span<const FragmentDecision> d, std::string_view) -> Result<void> {
    if (audit_fails) return Errc::storage_failure;
    recorded.assign(d.begin(), d.end());
    return {};
  };

  Sector() {
    auto r = this->registry();
    REQUIRE(r.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
    REQUIRE(r.add_partner("caw-brussel", "caw", "CAW Brussel"));
    REQUIRE(r.add_partner("thuiszorg", "home-care", "Thuiszorg Brussel"));
    REQUIRE(r.add_partner("elsewhere", "caw", "CAW Elders"));
    REQUIRE(r.add_worker("ocmw-brussel", "ocmw-sw", "social-worker"));
    REQUIRE(r.add_worker("caw-brussel", "caw-sw", "social-worker"));
    REQUIRE(r.add_worker("thuiszorg", "nurse-1", "nurse"));
    REQUIRE(r.add_worker("elsewhere", "sw", "social-worker"));
    const auto scheme = sluis::crypto::IdentifierScheme::national_register;
    REQUIRE(r.register_identified("ocmw-brussel", scheme, "85.07.30-033.28"));
    REQUIRE(r.register_identified("caw-brussel", scheme, "85073003328"));
    REQUIRE(r.register_identified("thuiszorg", scheme, "85073003328"));
    auto pseudonym = r.register_identified("ocmw-brussel", scheme, "85073003328");
    REQUIRE(pseudonym);
    client = r.resolve("ocmw-brussel", pseudonym->pseudonym).value();

    auto d = this->dossiers();
    REQUIRE(d.add_fragment(
        client, "ocmw-brussel", "ocmw-sw", "housing",
        fields_of({{"situation", "sleeps at a friend's place"}, {"since", "2025-01"}})));
    REQUIRE(d.add_fragment(client, "ocmw-brussel", "ocmw-sw", "income",
                           fields_of({{"benefit", "leefloon"}})));
    REQUIRE(d.add_fragment(client, "ocmw-brussel", "ocmw-sw", "contact",
                           fields_of({{"phone", "+32 2 555 01 01"}})));
  }

  Result<DossierRead> read(std::string_view partner, std::string_view worker,
                           std::string_view purpose = "care-coordination") {
    return read_dossier_for(this->storage(), pack(), client,
                            ReadRequest{partner, worker, purpose, std::nullopt}, now, audit);
  }
};

std::string rule_of(const DossierRead& r, std::string_view category) {
  for (const auto& d : r.decisions) {
    if (d.category == category) return d.rule;
  }
  return "<none>";
}

}  // namespace

TEMPLATE_TEST_CASE("without consent another partner sees nothing, and every decision is recorded",
                   "[access]", SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  auto r = s.read("caw-brussel", "caw-sw");
  REQUIRE(r);
  CHECK(r->entries.empty());
  REQUIRE(r->decisions.size() == 3);
  CHECK(rule_of(*r, "housing") == "consent.none");
  CHECK(rule_of(*r, "income") == "consent.none");
  CHECK(r->role == "social-worker");
  for (const auto& d : r->decisions)
    CHECK_FALSE(d.permitted);
}

TEMPLATE_TEST_CASE("consent granted permits exactly what it covers; revoked, denied again",
                   "[access]", SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  ConsentBook book(s.storage());
  auto rec =
      book.record(s.client, NewConsent{"ocmw-brussel", "ocmw-sw", s.now - 1h, s.now + 24h * 30,
                                       consent_json("caw-brussel", "housing", s.now)});
  REQUIRE(rec);

  auto r = s.read("caw-brussel", "caw-sw");
  REQUIRE(r);
  REQUIRE(r->entries.size() == 1);
  CHECK(r->entries[0].meta.category == "housing");
  CHECK(r->entries[0].meta.owner_partner == "ocmw-brussel");
  REQUIRE(r->entries[0].fields.size() == 2);
  CHECK(text_of(r->entries[0].fields[0].value) == "sleeps at a friend's place");
  CHECK(rule_of(*r, "housing") == "consent.active:" + rec->id);
  CHECK(rule_of(*r, "income") == "consent.none");

  // The consent names the CAW Brussel only: another CAW gets nothing (and has no relationship).
  auto other = s.read("elsewhere", "sw");
  REQUIRE_FALSE(other);
  CHECK(other.error() == Errc::not_found);

  REQUIRE(book.revoke(s.client, rec->id, "caw-brussel", "caw-sw"));
  auto after = s.read("caw-brussel", "caw-sw");
  REQUIRE(after);
  CHECK(after->entries.empty());
  CHECK(rule_of(*after, "housing") == "consent.revoked:" + rec->id);
}

TEMPLATE_TEST_CASE("the owner's own workers read their own fragments under the matrix alone",
                   "[access]", SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  auto r = s.read("ocmw-brussel", "ocmw-sw");
  REQUIRE(r);
  CHECK(r->entries.size() == 3);
  for (const auto& d : r->decisions)
    CHECK(d.rule == "owner.own-data");
}

TEMPLATE_TEST_CASE("unknown workers, unknown purposes and strangers are refused", "[access]",
                   SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  auto unknown = s.read("caw-brussel", "nobody");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == Errc::unknown_worker);
  auto purpose = s.read("caw-brussel", "caw-sw", "curiosity");
  REQUIRE_FALSE(purpose);
  CHECK(purpose.error() == Errc::invalid_argument);
  // No care relationship: the same answer as for a client that does not exist.
  auto stranger = s.read("elsewhere", "sw");
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error() == Errc::not_found);
}

TEMPLATE_TEST_CASE("break the glass: a valid grant permits and is flagged; an expired one does not",
                   "[access]", SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  ConsentBook book(s.storage());
  BreakGlassGrant g;
  g.client = s.client;
  g.partner_id = "thuiszorg";
  g.worker_id = "nurse-1";
  g.categories = {"contact"};
  g.reason = "client found unconscious at home, need to reach family";
  g.starts_at = s.now - 1min;
  g.expires_at = s.now + 1h;
  auto grant = book.grant_break_glass(g);
  REQUIRE(grant);

  auto r = s.read("thuiszorg", "nurse-1", "emergency");
  REQUIRE(r);
  REQUIRE(r->entries.size() == 1);
  CHECK(r->entries[0].meta.category == "contact");
  bool flagged = false;
  for (const auto& d : r->decisions) {
    if (d.category == "contact") {
      CHECK(d.rule == "btg.valid:" + grant->id);
      flagged = d.break_glass;
    }
  }
  CHECK(flagged);

  // Two hours later the grant has expired: nothing.
  s.now += 2h;
  auto later = s.read("thuiszorg", "nurse-1", "emergency");
  REQUIRE(later);
  CHECK(later->entries.empty());
  CHECK(rule_of(*later, "contact") == "btg.expired:" + grant->id);
}

TEMPLATE_TEST_CASE("a disabled worker reads nothing, not even their own partner's data", "[access]",
                   SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  REQUIRE(s.registry().set_worker_active("ocmw-brussel", "ocmw-sw", false));
  auto r = s.read("ocmw-brussel", "ocmw-sw");
  REQUIRE(r);
  CHECK(r->entries.empty());
  CHECK(rule_of(*r, "housing") == "worker.inactive");
}

TEMPLATE_TEST_CASE(
    "decisions reach the audit hook before anything opens; a failed append opens nothing",
    "[access]", SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  std::size_t opened = 0;
  s.options.on_field_opened = [&opened](const FragmentId&) { ++opened; };
  s.reopen();
  auto r = s.read("ocmw-brussel", "ocmw-sw");
  REQUIRE(r);
  CHECK(s.recorded.size() == 3);
  CHECK(opened == 4);  // housing (2 fields), income, contact

  opened = 0;
  s.recorded.clear();
  s.audit_fails = true;
  auto failed = s.read("ocmw-brussel", "ocmw-sw");
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == Errc::storage_failure);
  CHECK(opened == 0);
}

TEMPLATE_TEST_CASE(
    "what is opened is exactly what was decided and recorded, whatever changes in between",
    "[access]", SLUIS_STORAGE_ENGINES) {
  Sector<TestType> s;
  // The owner reads its own dossier; while the decisions are being recorded, it supersedes the
  // housing fragment and writes a new one.
  auto d = s.dossiers();
  const auto listed = d.list_current(s.client).value();
  REQUIRE(listed.size() == 3);
  const FragmentId housing = listed.at(0).id;
  bool changed = false;
  BeforeOpen change = [&](std::span<const FragmentDecision> decided, std::string_view) {
    s.recorded.assign(decided.begin(), decided.end());
    REQUIRE(d.supersede(housing, "ocmw-brussel", "ocmw-sw", fields_of({{"situation", "new"}})));
    REQUIRE(d.add_fragment(s.client, "ocmw-brussel", "ocmw-sw", "housing",
                           fields_of({{"situation", "later"}})));
    changed = true;
    return Result<void>{};
  };
  auto r = read_dossier_for(
      s.storage(), pack(), s.client,
      ReadRequest{"ocmw-brussel", "ocmw-sw", "care-coordination", std::nullopt}, s.now, change);
  REQUIRE(r);
  REQUIRE(changed);
  REQUIRE(s.recorded.size() == 3);
  REQUIRE(r->entries.size() == 3);
  for (std::size_t n = 0; n < 3; ++n) {
    CHECK(r->entries[n].meta.id == s.recorded[n].fragment);  // the versions on the record
    CHECK(r->entries[n].meta.id == listed[n].id);
  }
  CHECK(text_of(r->entries[0].fields.at(0).value) == "sleeps at a friend's place");
  CHECK(d.list_current(s.client).value().size() == 4);  // the next read sees the changes

  // The client erased between deciding and opening: nothing is opened.
  Sector<TestType> e;
  BeforeOpen erase = [&](std::span<const FragmentDecision>, std::string_view) {
    REQUIRE(e.registry().erase_client(e.client));
    return Result<void>{};
  };
  auto gone = read_dossier_for(
      e.storage(), pack(), e.client,
      ReadRequest{"ocmw-brussel", "ocmw-sw", "care-coordination", std::nullopt}, e.now, erase);
  REQUIRE_FALSE(gone);
  CHECK(gone.error() == Errc::not_found);
}
