// Registry tests: pseudonyms per partner, anonymous cards, client-controlled linking, new cards.
#include "engines.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/domain/bulk_load.hpp"

#include <algorithm>
#include <set>
#include <string>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
using namespace sluis::gateway::testing;
using sluis::crypto::IdentifierScheme;

TEMPLATE_TEST_CASE("two partners' pseudonyms for one client differ and are stable", "[registry]",
                   SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  // A valid national register number, written two ways.
  auto a = reg.register_identified("ocmw-brussel", IdentifierScheme::national_register,
                                   "85.07.30-033.28");
  REQUIRE(a);
  auto b =
      reg.register_identified("caw-brussel", IdentifierScheme::national_register, "85073003328");
  REQUIRE(b);
  CHECK_FALSE(a->existing);
  CHECK(b->existing);  // the same person, found through the keyed index
  CHECK(a->pseudonym != b->pseudonym);
  auto ca = reg.resolve("ocmw-brussel", a->pseudonym);
  auto cb = reg.resolve("caw-brussel", b->pseudonym);
  REQUIRE(ca);
  REQUIRE(cb);
  CHECK(*ca == *cb);
  // Stable: registering again answers the same pseudonym, also after reopening.
  f.reopen();
  auto reg2 = f.registry();
  auto again =
      reg2.register_identified("ocmw-brussel", IdentifierScheme::national_register, "85073003328");
  REQUIRE(again);
  CHECK(again->pseudonym == a->pseudonym);
  // A partner's pseudonym does not resolve for another partner.
  auto cross = reg2.resolve("caw-brussel", a->pseudonym);
  REQUIRE_FALSE(cross);
  CHECK(cross.error() == Errc::not_found);
  CHECK(reg2.client_count().value() == 1);
}

TEMPLATE_TEST_CASE("a malformed identifier is refused without detail", "[registry]",
                   SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto r = f.registry().register_identified("ocmw-brussel", IdentifierScheme::national_register,
                                            "85073003329");  // bad check digits
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::invalid_argument);
  CHECK(r.error().message().find("8507") == std::string::npos);
  CHECK(f.registry().client_count().value() == 0);
}

TEMPLATE_TEST_CASE("one card gives unlinked clients at two services until the client links them",
                   "[registry][anonymous]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  const auto card = sluis::crypto::new_card_secret();
  const auto ps_shelter = sluis::crypto::service_pseudonym(card, "shelter-north");
  const auto ps_day = sluis::crypto::service_pseudonym(card, "daycentre-south");
  CHECK(ps_shelter != ps_day);

  auto at_shelter = reg.register_anonymous("shelter-north", ps_shelter);
  auto at_day = reg.register_anonymous("daycentre-south", ps_day);
  REQUIRE(at_shelter);
  REQUIRE(at_day);
  auto c_shelter = reg.resolve("shelter-north", at_shelter->pseudonym);
  auto c_day = reg.resolve("daycentre-south", at_day->pseudonym);
  REQUIRE(c_shelter);
  REQUIRE(c_day);
  CHECK(*c_shelter != *c_day);  // unlinkable: two records
  CHECK(reg.is_anonymous(*c_shelter).value());
  // The same card again at the shelter finds its own record.
  auto again = reg.register_anonymous("shelter-north", ps_shelter);
  REQUIRE(again);
  CHECK(again->existing);
  CHECK(again->pseudonym == at_shelter->pseudonym);
  // Only the partner types the rule pack allows register anonymously.
  auto refused = reg.register_anonymous("ocmw-brussel",
                                        sluis::crypto::service_pseudonym(card, "ocmw-brussel"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Errc::not_permitted);
  // Only the form a partner system derives from a card: free text is refused, nothing stored.
  for (const char* text : {"whatever", "' OR 1=1 --", "sp1-0123", ""}) {
    CHECK(reg.register_anonymous("shelter-north", text).error() == Errc::invalid_argument);
    CHECK(reg.link("daycentre-south", text, "shelter-north", ps_shelter, "consent-9").error() ==
          Errc::invalid_argument);
  }

  // The day centre writes something before the link; it must survive the merge.
  auto d = f.dossiers();
  REQUIRE(d.add_fragment(*c_day, "daycentre-south", "w1", "case-note",
                         fields_of({{"note", "slept outside"}})));

  // The client presents the card at the day centre and agrees to link.
  auto linked = reg.link("daycentre-south", ps_day, "shelter-north", ps_shelter, "consent-123");
  REQUIRE(linked);
  auto day_now = reg.resolve("daycentre-south", linked->pseudonym);
  auto shelter_now = reg.resolve("shelter-north", at_shelter->pseudonym);
  REQUIRE(day_now);
  REQUIRE(shelter_now);
  CHECK(*day_now == *shelter_now);  // both services reach the same client
  CHECK(*day_now == *c_shelter);
  CHECK(reg.client_count().value() == 1);
  auto dossier = d.read_dossier(*day_now, "shelter-north", [](const auto&) { return true; });
  REQUIRE(dossier);
  REQUIRE(dossier->size() == 1);
  CHECK(text_of(dossier->at(0).fields.at(0).value) == "slept outside");
  CHECK(dossier->at(0).meta.owner_partner == "daycentre-south");
  // A third service with no record can link too.
  REQUIRE(reg.add_partner("caw-2", "caw", "CAW Twee"));
  const auto ps_caw = sluis::crypto::service_pseudonym(card, "caw-2");
  auto caw = reg.link("caw-2", ps_caw, "shelter-north", ps_shelter, "consent-456");
  REQUIRE(caw);
  CHECK(reg.resolve("caw-2", caw->pseudonym).value() == *c_shelter);
}

TEMPLATE_TEST_CASE("after a new card the old card no longer links or registers",
                   "[registry][anonymous]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  const auto old_card = sluis::crypto::new_card_secret();
  const auto new_card = sluis::crypto::new_card_secret();
  const auto old_shelter = sluis::crypto::service_pseudonym(old_card, "shelter-north");
  const auto new_shelter = sluis::crypto::service_pseudonym(new_card, "shelter-north");
  auto reg0 = reg.register_anonymous("shelter-north", old_shelter);
  REQUIRE(reg0);
  auto client = reg.resolve("shelter-north", reg0->pseudonym);
  REQUIRE(client);

  auto replaced = reg.replace_card("shelter-north", old_shelter, new_shelter);
  REQUIRE(replaced);
  CHECK(replaced->pseudonym == reg0->pseudonym);  // the shelter's own pseudonym is unchanged

  // Someone holding the old card cannot link it anywhere any more.
  const auto old_day = sluis::crypto::service_pseudonym(old_card, "daycentre-south");
  auto stale = reg.link("daycentre-south", old_day, "shelter-north", old_shelter, "consent-1");
  REQUIRE_FALSE(stale);
  CHECK(stale.error() == Errc::card_replaced);
  auto stale_reg = reg.register_anonymous("shelter-north", old_shelter);
  REQUIRE_FALSE(stale_reg);
  CHECK(stale_reg.error() == Errc::card_replaced);
  CHECK(reg.has_care_relationship("daycentre-south", *client).value() == false);

  // The new card works.
  const auto new_day = sluis::crypto::service_pseudonym(new_card, "daycentre-south");
  auto ok = reg.link("daycentre-south", new_day, "shelter-north", new_shelter, "consent-2");
  REQUIRE(ok);
  CHECK(reg.resolve("daycentre-south", ok->pseudonym).value() == *client);
}

TEMPLATE_TEST_CASE(
    "a link changes no pseudonym a partner holds; aliases answer only their partner, "
    "survive a new card and go with an erasure",
    "[registry][anonymous]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  const auto card = sluis::crypto::new_card_secret();
  const auto later_card = sluis::crypto::new_card_secret();  // a second card of the same person
  const auto ps_shelter = sluis::crypto::service_pseudonym(card, "shelter-north");
  const auto ps_day = sluis::crypto::service_pseudonym(card, "daycentre-south");
  const auto ps_day_later = sluis::crypto::service_pseudonym(later_card, "daycentre-south");
  const auto at_shelter = reg.register_anonymous("shelter-north", ps_shelter).value().pseudonym;
  const auto at_day = reg.register_anonymous("daycentre-south", ps_day).value().pseudonym;
  const auto day_client = reg.resolve("daycentre-south", at_day).value();
  REQUIRE(f.dossiers().add_fragment(day_client, "daycentre-south", "w1", "case-note",
                                    fields_of({{"note", "first visit"}})));

  // The day centre had its own record of this card: after the link its pseudonym is the same.
  auto linked = reg.link("daycentre-south", ps_day, "shelter-north", ps_shelter, "consent-1");
  REQUIRE(linked);
  CHECK(linked->pseudonym == at_day);
  const auto survivor = reg.resolve("shelter-north", at_shelter).value();
  CHECK(reg.resolve("daycentre-south", at_day).value() == survivor);
  CHECK(reg.client_count().value() == 1);

  // A later card registered separately at the day centre (a second record of the same person),
  // then linked to the shelter's client: the day centre now knew both records. The answer is
  // its pseudonym for the survivor; the other one stays an alias of the same client.
  const auto at_day_later =
      reg.register_anonymous("daycentre-south", ps_day_later).value().pseudonym;
  const auto later_client = reg.resolve("daycentre-south", at_day_later).value();
  CHECK(later_client != survivor);
  REQUIRE(f.dossiers().add_fragment(later_client, "daycentre-south", "w1", "case-note",
                                    fields_of({{"note", "second card"}})));
  auto merged = reg.link("daycentre-south", ps_day_later, "shelter-north", ps_shelter, "consent-2");
  REQUIRE(merged);
  CHECK(merged->pseudonym == at_day);
  CHECK(reg.resolve("daycentre-south", at_day_later).value() == survivor);
  CHECK(reg.client_count().value() == 1);
  auto dossier =
      f.dossiers().read_dossier(survivor, "daycentre-south", [](const auto&) { return true; });
  REQUIRE(dossier);
  CHECK(dossier->size() == 2);
  // Nobody else can use the day centre's pseudonyms, alias or not.
  for (const auto& p : {at_day, at_day_later}) {
    CHECK(reg.resolve("shelter-north", p).error() == Errc::not_found);
    CHECK(reg.resolve("ocmw-brussel", p).error() == Errc::not_found);
  }
  // The day centre's list of relationships still shows one pseudonym per client.
  CHECK(reg.pseudonym_for("daycentre-south", survivor).value() == at_day);

  // A new card retires service pseudonyms, not partner pseudonyms.
  const auto new_card = sluis::crypto::new_card_secret();
  REQUIRE(reg.replace_card("daycentre-south", ps_day,
                           sluis::crypto::service_pseudonym(new_card, "daycentre-south")));
  CHECK(reg.resolve("daycentre-south", at_day_later).value() == survivor);
  CHECK(reg.resolve("daycentre-south", at_day).value() == survivor);
  CHECK(
      reg.link("daycentre-south", ps_day_later, "shelter-north", ps_shelter, "consent-3").error() ==
      Errc::card_replaced);

  // Erasure removes every pseudonym of the client, aliases included.
  REQUIRE(reg.erase_client(survivor));
  for (const auto& p : {at_day, at_day_later}) {
    CHECK(reg.resolve("daycentre-south", p).error() == Errc::not_found);
  }
  CHECK(reg.resolve("shelter-north", at_shelter).error() == Errc::not_found);
}

TEMPLATE_TEST_CASE("an injected failure mid-link leaves both records as they were",
                   "[registry][tx]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  const auto card = sluis::crypto::new_card_secret();
  const auto ps_a = sluis::crypto::service_pseudonym(card, "shelter-north");
  const auto ps_b = sluis::crypto::service_pseudonym(card, "daycentre-south");
  std::string pa;
  std::string pb;
  {
    auto reg = f.registry();
    pa = reg.register_anonymous("shelter-north", ps_a).value().pseudonym;
    pb = reg.register_anonymous("daycentre-south", ps_b).value().pseudonym;
    auto cb = reg.resolve("daycentre-south", pb).value();
    REQUIRE(f.dossiers().add_fragment(cb, "daycentre-south", "w1", "case-note",
                                      fields_of({{"note", "before"}})));
  }
  for (const char* step : {"link.after_reseal", "link.before_relationship"}) {
    f.close();
    f.options.inject_failure = [step](std::string_view s) { return s == step; };
    f.reopen();
    auto reg = f.registry();
    auto r = reg.link("daycentre-south", ps_b, "shelter-north", ps_a, "consent-1");
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::injected_failure);
    f.options.inject_failure = nullptr;
    f.reopen();
    auto reg2 = f.registry();
    CHECK(reg2.client_count().value() == 2);
    auto ca = reg2.resolve("shelter-north", pa);
    auto cb = reg2.resolve("daycentre-south", pb);
    REQUIRE(ca);
    REQUIRE(cb);
    CHECK(*ca != *cb);
    auto dossier =
        f.dossiers().read_dossier(*cb, "daycentre-south", [](const auto&) { return true; });
    REQUIRE(dossier);
    REQUIRE(dossier->size() == 1);
    CHECK(text_of(dossier->at(0).fields.at(0).value) == "before");
  }
}

TEMPLATE_TEST_CASE("partners and workers are kept, revoked partners are refused", "[registry]",
                   SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  CHECK(reg.add_partner("ocmw-brussel", "ocmw", "dup").error() == Errc::conflict);
  CHECK(reg.add_partner("Bad Id", "ocmw", "x").error() == Errc::invalid_argument);
  auto w = reg.find_worker("caw-brussel", "w1");
  REQUIRE(w);
  CHECK(w->role == "social-worker");
  CHECK(w->active);
  REQUIRE(reg.set_worker_active("caw-brussel", "w1", false));
  CHECK_FALSE(reg.find_worker("caw-brussel", "w1").value().active);
  CHECK(reg.list_partners().value().size() == 4);
  REQUIRE(reg.revoke_partner("caw-brussel"));
  CHECK(reg.find_partner("caw-brussel").value().revoked_at.has_value());
  auto r = reg.register_identified("caw-brussel", IdentifierScheme::case_number, "c-1");
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::not_permitted);
}

TEMPLATE_TEST_CASE("a link merges two dossiers that both have fragments, in order, all readable",
                   "[registry][anonymous]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  const auto card = sluis::crypto::new_card_secret();
  const auto ps_shelter = sluis::crypto::service_pseudonym(card, "shelter-north");
  const auto ps_day = sluis::crypto::service_pseudonym(card, "daycentre-south");
  const auto shelter =
      reg.resolve("shelter-north", reg.register_anonymous("shelter-north", ps_shelter)->pseudonym);
  const auto day =
      reg.resolve("daycentre-south", reg.register_anonymous("daycentre-south", ps_day)->pseudonym);
  REQUIRE(shelter);
  REQUIRE(day);
  // Both records have fragments, so the absorbed client's rows must move past the survivor's
  // (seq is per client): a collision would fail the link or lose a fragment.
  auto d = f.dossiers();
  for (int n = 0; n < 3; ++n) {
    REQUIRE(d.add_fragment(*shelter, "shelter-north", "w1", "case-note",
                           fields_of({{"note", "shelter " + std::to_string(n)}})));
    REQUIRE(d.add_fragment(*day, "daycentre-south", "w1", "case-note",
                           fields_of({{"note", "day " + std::to_string(n)}})));
  }
  auto linked = reg.link("daycentre-south", ps_day, "shelter-north", ps_shelter, "consent-1");
  REQUIRE(linked);
  const auto survivor = reg.resolve("daycentre-south", linked->pseudonym).value();
  auto dossier = d.read_dossier(survivor, "shelter-north", [](const auto&) { return true; });
  REQUIRE(dossier);
  REQUIRE(dossier->size() == 6);
  std::multiset<std::string> notes;
  for (const auto& e : *dossier)
    notes.insert(text_of(e.fields.at(0).value));
  CHECK(notes == std::multiset<std::string>{"day 0", "day 1", "day 2", "shelter 0", "shelter 1",
                                            "shelter 2"});
  // Oldest first: creation times never go backwards across the merged dossier.
  for (std::size_t n = 1; n < dossier->size(); ++n)
    CHECK(dossier->at(n - 1).meta.created_at <= dossier->at(n).meta.created_at);
  // Writing after the merge still works (the next seq is past both ranges).
  REQUIRE(d.add_fragment(survivor, "shelter-north", "w1", "case-note", fields_of({{"note", "x"}})));
  CHECK(d.list_current(survivor).value().size() == 7);
}

TEMPLATE_TEST_CASE("the shared partner table follows every partner write, also inside bulk loads",
                   "[registry]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  auto reg = f.registry();
  const auto before = reg.partner_table().value();
  REQUIRE(before->size() == 4);
  CHECK(std::is_sorted(before->begin(), before->end(),
                       [](const Partner& a, const Partner& b) { return a.id < b.id; }));
  REQUIRE(reg.add_partner("aaa-first", "caw", "CAW A"));
  CHECK(reg.partner_table().value()->size() == 5);
  CHECK(before->size() == 4);  // a snapshot handed out earlier does not change under its holder
  REQUIRE(reg.revoke_partner("aaa-first"));
  CHECK(reg.find_partner("aaa-first").value().revoked_at.has_value());

  // A bulk load that fails rolls back its partners, and the table forgets them too.
  auto failed = bulk_write(f.storage(), [&]() -> Result<void> {
    if (auto r = reg.add_partner("bulk-1", "caw", "CAW Bulk"); !r) return r;
    REQUIRE(reg.find_partner("bulk-1"));  // visible inside the transaction (and now cached)
    return make_error_code(Errc::invalid_argument);
  });
  CHECK(failed.error() == Errc::invalid_argument);
  CHECK(reg.find_partner("bulk-1").error() == Errc::not_found);
  CHECK(reg.partner_table().value()->size() == 5);
  // One that commits keeps them.
  REQUIRE(bulk_write(f.storage(), [&]() -> Result<void> {
    return reg.add_partner("bulk-2", "caw", "CAW Bulk Twee");
  }));
  CHECK(reg.find_partner("bulk-2").value().display_name == "CAW Bulk Twee");
  f.reopen();
  CHECK(f.registry().partner_table().value()->size() == 6);
}
