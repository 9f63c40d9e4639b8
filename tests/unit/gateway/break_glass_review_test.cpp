// Break-the-glass reviews at rest: one per grant and organisation, the note sealed like a
// fragment field (opened for the reviewing organisation only), destroyed with the client,
// resealed by a link; only grants that concern the reviewing organisation.
#include "engines.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/domain/break_glass_review.hpp"

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::domain;
using namespace sluis::gateway::testing;
using namespace std::chrono_literals;
using sluis::crypto::IdentifierScheme;
using sluis::crypto::KeyPurpose;

namespace {

Instant now_ms() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

BreakGlassGrant grant_of(const ClientId& client, const std::string& partner) {
  BreakGlassGrant g;
  g.client = client;
  g.partner_id = partner;
  g.worker_id = "w1";
  g.categories = {"contact"};
  g.reason = "client unconscious, family must be reached";
  g.starts_at = now_ms() - 10min;
  g.expires_at = now_ms() + 1h;
  return g;
}

BreakGlassReview review_of(const std::string& grant, const std::string& partner,
                           std::string outcome = "justified") {
  BreakGlassReview r;
  r.grant_id = grant;
  r.partner_id = partner;
  r.worker_id = "dpo1";
  r.outcome = std::move(outcome);
  return r;
}

}  // namespace

TEST_CASE("break-glass review: one per organisation, the note sealed and only for the reviewer",
          "[store][at-rest][break-glass-review]") {
  StoreFixture f;
  f.add_sector();
  auto reg = f.registry();
  auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, "rv-1");
  REQUIRE(r);
  const auto client = reg.resolve("ocmw-brussel", r->pseudonym).value();
  ConsentBook book(*f.store);
  auto grant = book.grant_break_glass(grant_of(client, "caw-brussel"));
  REQUIRE(grant);
  BreakGlassReviews reviews(*f.store);
  constexpr std::string_view kCanary = "CANARY-REVIEW-NOTE-7c1f asked the team lead";

  // Refused: an outcome not of the three, an empty note, control characters, an unknown grant,
  // a grant that does not concern the organisation (the CAW opened it, the OCMW serves the
  // client; the night shelter has nothing to do with it).
  CHECK(reviews.record(review_of(grant->id, "ocmw-brussel", "fine"), "n").error() ==
        Errc::invalid_argument);
  CHECK(reviews.record(review_of(grant->id, "ocmw-brussel"), "").error() ==
        Errc::invalid_argument);
  CHECK(reviews.record(review_of(grant->id, "ocmw-brussel"), "bell\a").error() ==
        Errc::invalid_argument);
  CHECK(reviews.record(review_of(std::string(32, '0'), "ocmw-brussel"), "n").error() ==
        Errc::not_found);
  CHECK(reviews.record(review_of(grant->id, "shelter-north"), "n").error() == Errc::not_found);
  CHECK(reviews.find("shelter-north", grant->id).error() == Errc::not_found);
  CHECK(reviews.concerning("shelter-north", 0, 10)->grants.empty());

  auto stored = reviews.record(review_of(grant->id, "ocmw-brussel"), kCanary);
  REQUIRE(stored);
  CHECK_FALSE(stored->note.has_value());
  CHECK(reviews.record(review_of(grant->id, "ocmw-brussel", "not-justified"), "again").error() ==
        Errc::conflict);
  REQUIRE(reviews.record(review_of(grant->id, "caw-brussel", "needs-follow-up"), "to discuss"));

  // The data owner sees both reviews, its own note only; the grant's reason is the CAW's.
  auto seen = reviews.find("ocmw-brussel", grant->id);
  REQUIRE(seen);
  CHECK(seen->client_pseudonym == std::optional<std::string>(r->pseudonym));
  CHECK_FALSE(seen->reason.has_value());
  REQUIRE(seen->reviews.size() == 2);
  CHECK(seen->reviews[0].outcome == "justified");
  CHECK(seen->reviews[0].note == std::optional<std::string>(kCanary));
  CHECK(seen->reviews[1].outcome == "needs-follow-up");
  CHECK_FALSE(seen->reviews[1].note.has_value());
  auto own = reviews.find("caw-brussel", grant->id);
  REQUIRE(own);
  CHECK(own->reason.has_value());
  CHECK(own->reviews[1].note == std::optional<std::string>("to discuss"));
  CHECK_FALSE(own->reviews[0].note.has_value());
  auto page = reviews.concerning("ocmw-brussel", 0, 10);
  REQUIRE(page);
  REQUIRE(page->grants.size() == 1);
  CHECK_FALSE(page->next.has_value());

  // The note is on no page of the file, its WAL or a backup.
  REQUIRE(f.store->backup_data(f.dir / "backup.db"));
  const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
  for (const auto& pages : {decrypt_pages(read_file(f.options.data_path), key, false),
                            decrypt_pages(read_file(f.options.data_path.string() + "-wal"), key,
                                          true),
                            decrypt_pages(read_file(f.dir / "backup.db"), key, false)}) {
    CHECK_FALSE(contains(pages, kCanary));
  }

  // Erasing the client removes the grant and its reviews.
  REQUIRE(reg.erase_client(client));
  CHECK(reviews.find("ocmw-brussel", grant->id).error() == Errc::not_found);
  {
    RawDb raw(f.options.data_path, &key);
    CHECK(raw.column("SELECT grant_id FROM break_glass_reviews").empty());
  }
}

TEMPLATE_TEST_CASE("break-glass review: pages of grants, newest first",
                   "[store][break-glass-review]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, "rv-2");
  REQUIRE(r);
  const auto client = reg.resolve("ocmw-brussel", r->pseudonym).value();
  ConsentBook book(f.storage());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(book.grant_break_glass(grant_of(client, "caw-brussel")).value().id);
  BreakGlassReviews reviews(f.storage());
  auto first = reviews.concerning("ocmw-brussel", 0, 2).value();
  REQUIRE(first.grants.size() == 2);
  CHECK(first.grants[0].grant.id == ids[4]);
  CHECK(first.grants[1].grant.id == ids[3]);
  REQUIRE(first.next);
  auto second = reviews.concerning("ocmw-brussel", *first.next, 2).value();
  REQUIRE(second.grants.size() == 2);
  CHECK(second.grants[0].grant.id == ids[2]);
  auto last = reviews.concerning("ocmw-brussel", *second.next, 2).value();
  REQUIRE(last.grants.size() == 1);
  CHECK(last.grants[0].grant.id == ids[0]);
  CHECK_FALSE(last.next.has_value());
  // The CAW (its worker opened them) sees the same five.
  CHECK(reviews.concerning("caw-brussel", 0, 10)->grants.size() == 5);
}

TEMPLATE_TEST_CASE("break-glass review: a link reseals the absorbed client's review notes",
                   "[store][link][break-glass-review]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  const auto card = sluis::crypto::new_card_secret();
  const auto ps_shelter = sluis::crypto::service_pseudonym(card, "shelter-north");
  const auto ps_day = sluis::crypto::service_pseudonym(card, "daycentre-south");
  auto at_shelter = reg.register_anonymous("shelter-north", ps_shelter);
  auto at_day = reg.register_anonymous("daycentre-south", ps_day);
  REQUIRE(at_shelter);
  REQUIRE(at_day);
  const auto day_client = reg.resolve("daycentre-south", at_day->pseudonym).value();
  ConsentBook book(f.storage());
  auto grant = book.grant_break_glass(grant_of(day_client, "daycentre-south"));
  REQUIRE(grant);
  BreakGlassReviews reviews(f.storage());
  REQUIRE(reviews.record(review_of(grant->id, "daycentre-south"), "checked with the team"));
  REQUIRE(reg.link("daycentre-south", ps_day, "shelter-north", ps_shelter, "consent-1"));
  auto after = reviews.find("daycentre-south", grant->id);
  REQUIRE(after);
  REQUIRE(after->reviews.size() == 1);
  CHECK(after->reviews[0].note == std::optional<std::string>("checked with the team"));
}
