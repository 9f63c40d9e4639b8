// Dossier tests: anonymity rules, the permission-filtered read, transactions, erasure, consents.
#include "engines.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/domain/bulk_load.hpp"

#include <map>

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
using sluis::crypto::KeyPurpose;

namespace {

template <class Fixture>
ClientId register_case(Fixture& f, std::string_view partner, std::string_view id) {
  auto reg = f.registry();
  auto r = reg.register_identified(partner, IdentifierScheme::case_number, id);
  REQUIRE(r);
  return reg.resolve(partner, r->pseudonym).value();
}

std::vector<std::string> flatten(const std::vector<DossierEntry>& dossier) {
  std::vector<std::string> out;
  for (const auto& e : dossier) {
    std::string line = e.meta.category + "@" + e.meta.owner_partner + ":";
    for (const auto& fld : e.fields)
      line += fld.name + "=" + text_of(fld.value) + ";";
    out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("an identifying category on an anonymous client is rejected, nothing written",
          "[dossiers][anonymous]") {
  StoreFixture f;
  f.add_sector();
  auto reg = f.registry();
  const auto card = sluis::crypto::new_card_secret();
  auto r = reg.register_anonymous("shelter-north",
                                  sluis::crypto::service_pseudonym(card, "shelter-north"));
  REQUIRE(r);
  const auto client = reg.resolve("shelter-north", r->pseudonym).value();
  auto d = f.dossiers();
  for (const char* category : {"contact", "identity"}) {
    auto added = d.add_fragment(client, "shelter-north", "w1", category,
                                fields_of({{"phone", "0470 00 00 00"}}));
    REQUIRE_FALSE(added);
    CHECK(added.error() == Errc::identifying_category_on_anonymous);
  }
  CHECK(d.list_current(client).value().empty());
  CHECK(f.store->count_data_keys(f.store->kek_versions().at(0)).value() == 0);
  // Non-identifying categories are fine; the set comes from the rule pack.
  CHECK(d.add_fragment(client, "shelter-north", "w1", "health", fields_of({{"note", "ok"}})));
  Dossiers strict(*f.store, DossierOptions{{"health"}});
  CHECK(strict.add_fragment(client, "shelter-north", "w1", "health", fields_of({{"n", "x"}}))
            .error() == Errc::identifying_category_on_anonymous);
}

TEMPLATE_TEST_CASE("a denied fragment changes neither count nor order and is never opened",
                   "[dossiers][read]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  std::map<std::string, int> opened;  // fragment id hex -> fields opened
  std::vector<FragmentId> opened_ids;
  f.options.on_field_opened = [&](const FragmentId& id) { opened_ids.push_back(id); };
  f.reopen();
  f.add_sector();
  const auto with_x = register_case(f, "ocmw-brussel", "case-with-x");
  const auto without_x = register_case(f, "ocmw-brussel", "case-without-x");
  REQUIRE(f.registry().register_identified("caw-brussel", IdentifierScheme::case_number, "other"));
  auto d = f.dossiers();
  std::optional<FragmentId> secret;
  for (const auto& client : {with_x, without_x}) {
    REQUIRE(d.add_fragment(client, "ocmw-brussel", "w1", "housing",
                           fields_of({{"address", "Rue Haute 1"}, {"since", "2023"}})));
    if (client == with_x) {
      auto x = d.add_fragment(client, "ocmw-brussel", "w1", "mental-health",
                              fields_of({{"diagnosis", "SECRET-DIAGNOSIS"}}));
      REQUIRE(x);
      secret = x->id;
    }
    REQUIRE(d.add_fragment(client, "ocmw-brussel", "w1", "income", fields_of({{"amount", "900"}})));
    REQUIRE(d.add_fragment(client, "ocmw-brussel", "w1", "case-note", fields_of({{"n", "met"}})));
  }
  REQUIRE(secret);
  auto deny_mental = [](const FragmentMeta& m) { return m.category != "mental-health"; };
  opened_ids.clear();
  auto a = d.read_dossier(with_x, "ocmw-brussel", deny_mental);
  auto b = d.read_dossier(without_x, "ocmw-brussel", deny_mental);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->size() == 3);
  CHECK(flatten(*a) == flatten(*b));  // same count, same order, same content
  CHECK(std::find(opened_ids.begin(), opened_ids.end(), *secret) == opened_ids.end());
  CHECK(opened_ids.size() == 2 * (2 + 1 + 1));  // only the permitted fields were opened
  for (const auto& e : *a) {
    CHECK(e.meta.id != *secret);
    CHECK(e.meta.owner_partner == "ocmw-brussel");
    CHECK(e.meta.version == 1);
  }
  // Permit everything: the denied one is there, in its place.
  auto all = d.read_dossier(with_x, "ocmw-brussel", [](const auto&) { return true; });
  REQUIRE(all);
  REQUIRE(all->size() == 4);
  CHECK(all->at(1).meta.id == *secret);
  // Category filter.
  auto only_income = d.read_dossier(
      with_x, "ocmw-brussel", [](const auto&) { return true; }, "income");
  REQUIRE(only_income);
  REQUIRE(only_income->size() == 1);
  CHECK(text_of(only_income->at(0).fields.at(0).value) == "900");
  // No relationship: not found, whatever the permit says.
  auto stranger = d.read_dossier(with_x, "caw-brussel", [](const auto&) { return true; });
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error() == Errc::not_found);
}

TEMPLATE_TEST_CASE("supersession keeps one current version with provenance", "[dossiers]",
                   SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "c1");
  REQUIRE(f.registry().register_identified("caw-brussel", IdentifierScheme::case_number, "x"));
  auto d = f.dossiers();
  auto v1 = d.add_fragment(client, "ocmw-brussel", "w1", "housing", fields_of({{"a", "old"}}));
  REQUIRE(v1);
  auto v2 = d.supersede(v1->id, "ocmw-brussel", "w1", fields_of({{"a", "new"}}));
  REQUIRE(v2);
  CHECK(v2->version == 2);
  CHECK(v2->supersedes == v1->id);
  CHECK(d.supersede(v1->id, "ocmw-brussel", "w1", fields_of({{"a", "x"}})).error() ==
        Errc::conflict);
  CHECK(d.supersede(v2->id, "caw-brussel", "w1", fields_of({{"a", "x"}})).error() ==
        Errc::not_permitted);
  auto current = d.list_current(client);
  REQUIRE(current);
  REQUIRE(current->size() == 1);
  CHECK(current->at(0).id == v2->id);
  auto dossier = d.read_dossier(client, "ocmw-brussel", [](const auto&) { return true; });
  REQUIRE(dossier);
  CHECK(text_of(dossier->at(0).fields.at(0).value) == "new");
  CHECK(d.find(v1->id).value().version == 1);
}

TEMPLATE_TEST_CASE("an injected failure mid-write leaves the store as before", "[dossiers][tx]",
                   SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "c1");
  REQUIRE(
      f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing", fields_of({{"a", "1"}})));
  for (const char* step : {"add_fragment.after_fragment_row", "add_fragment.fields"}) {
    f.close();
    f.options.inject_failure = [step](std::string_view s) { return s == step; };
    f.reopen();
    auto d = f.dossiers();
    auto r = d.add_fragment(client, "ocmw-brussel", "w1", "income",
                            fields_of({{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}));
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::injected_failure);
    auto listed = d.list_current(client);
    REQUIRE(listed);
    CHECK(listed->size() == 1);
    auto dossier = d.read_dossier(client, "ocmw-brussel", [](const auto&) { return true; });
    REQUIRE(dossier);
    CHECK(dossier->size() == 1);
  }
  // Registration and erasure are transactions too.
  f.close();
  f.options.inject_failure = [](std::string_view s) {
    return s == "register.after_identifier" || s == "erase.after_tombstone";
  };
  f.reopen();
  auto reg = f.registry();
  CHECK(reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, "c2").error() ==
        Errc::injected_failure);
  CHECK(reg.client_count().value() == 1);
  CHECK(reg.erase_client(client).error() == Errc::injected_failure);
  CHECK(reg.client_count().value() == 1);
  CHECK(f.dossiers().read_dossier(client, "ocmw-brussel", [](const auto&) { return true; }));
}

TEST_CASE("erasure: no field opens anywhere, even from a backup taken before",
          "[dossiers][erasure]") {
  StoreFixture f;
  f.add_sector();
  const auto erased = register_case(f, "ocmw-brussel", "to-erase");
  const auto kept = register_case(f, "ocmw-brussel", "to-keep");
  auto d = f.dossiers();
  REQUIRE(d.add_fragment(erased, "ocmw-brussel", "w1", "health", fields_of({{"n", "ERASE-ME"}})));
  REQUIRE(d.add_fragment(kept, "ocmw-brussel", "w1", "health", fields_of({{"n", "keep me"}})));
  REQUIRE(f.store->backup_data(f.dir / "before.db"));
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-before.db"));
  auto keystore_key = sluis::crypto::derive_subkey(f.root, KeyPurpose::keystore);
  std::vector<std::uint8_t> wrapped_erased;
  {
    RawDb keys(f.options.key_store_path, &keystore_key);
    auto w = keys.column("SELECT wrapped FROM data_keys WHERE client_id = ?1", erased.view());
    REQUIRE(w.size() == 1);
    wrapped_erased = w[0];
  }

  auto tag = f.registry().erase_client(erased);
  REQUIRE(tag);
  CHECK(*tag == sluis::domain::audit_pseudonym(*f.store, erased));
  CHECK(tag->rfind("a1", 0) == 0);
  auto all = [](const FragmentMeta&) { return true; };
  CHECK(d.read_dossier(erased, "ocmw-brussel", all).error() == Errc::not_found);
  CHECK(text_of(d.read_dossier(kept, "ocmw-brussel", all).value().at(0).fields.at(0).value) ==
        "keep me");

  // The key is gone from every page of the key store and its WAL.
  {
    const auto plain = decrypt_pages(read_file(f.options.key_store_path), keystore_key, false);
    const auto wal_plain =
        decrypt_pages(read_file(f.options.key_store_path.string() + "-wal"), keystore_key, true);
    CHECK_FALSE(contains(plain, wrapped_erased));
    CHECK_FALSE(contains(wal_plain, wrapped_erased));
    RawDb keys(f.options.key_store_path, &keystore_key);
    CHECK(keys.column("SELECT wrapped FROM data_keys WHERE client_id = ?1", erased.view()).empty());
  }
  // The old data backup still holds the sealed fields — and nothing can open them: restoring it
  // next to the live key store brings back no key, and the tombstone removes the rows again.
  {
    auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
    RawDb old(f.dir / "before.db", &key);
    CHECK(old.column("SELECT id FROM clients WHERE id = ?1", erased.view()).size() == 1);
  }
  f.store.reset();
  std::filesystem::copy_file(f.dir / "before.db", f.options.data_path,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(f.options.data_path.string() + "-wal");
  std::filesystem::remove(f.options.data_path.string() + "-shm");
  f.reopen();
  auto d2 = f.dossiers();
  CHECK(d2.read_dossier(erased, "ocmw-brussel", all).error() == Errc::not_found);
  CHECK(text_of(d2.read_dossier(kept, "ocmw-brussel", all).value().at(0).fields.at(0).value) ==
        "keep me");

  // Restoring the key-store snapshot from before the erasure re-applies the tombstone.
  REQUIRE(f.store->restore_key_store_snapshot(f.dir / "keys-before.db"));
  {
    RawDb keys(f.options.key_store_path, &keystore_key);
    CHECK(keys.column("SELECT wrapped FROM data_keys WHERE client_id = ?1", erased.view()).empty());
    CHECK(keys.column("SELECT wrapped FROM data_keys WHERE client_id = ?1", kept.view()).size() ==
          1);
  }
  CHECK(
      text_of(
          f.dossiers().read_dossier(kept, "ocmw-brussel", all).value().at(0).fields.at(0).value) ==
      "keep me");
}

TEMPLATE_TEST_CASE("consents keep their history; grants expire", "[consents]",
                   SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  Instant now{std::chrono::milliseconds{1'700'000'000'000}};
  f.options.clock = [&] { return now; };
  f.reopen();
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "c1");
  ConsentBook book(f.storage());
  using std::chrono::hours;
  NewConsent nc{"ocmw-brussel", "w1", now, now + hours(24 * 30), R"({"provisions":[]})"};
  auto c = book.record(client, nc);
  REQUIRE(c);
  CHECK(book.in_force(client, now).value().size() == 1);
  CHECK(book.in_force(client, now + hours(24 * 31)).value().empty());
  now += hours(1);
  auto revoked = book.revoke(client, c->id, "ocmw-brussel", "w1");
  REQUIRE(revoked);
  CHECK(revoked->revoked_at == now);
  CHECK(book.revoke(client, c->id, "ocmw-brussel", "w1").error() == Errc::conflict);
  CHECK(book.in_force(client, now).value().empty());
  auto history = book.history(client);
  REQUIRE(history);
  REQUIRE(history->size() == 1);
  CHECK(history->at(0).document == nc.document);
  CHECK(history->at(0).revoked_by_worker == "w1");
  NewConsent bad = nc;
  bad.valid_until = bad.valid_from;
  CHECK(book.record(client, bad).error() == Errc::invalid_argument);

  BreakGlassGrant g{{},  client,        "caw-brussel", "w1", {"health", "housing"}, "unconscious",
                    now, now + hours(4)};
  auto granted = book.grant_break_glass(g);
  REQUIRE(granted);
  CHECK(granted->id.size() == 32);
  auto active = book.break_glass_in_force(client, "caw-brussel", "w1", now + hours(1));
  REQUIRE(active);
  REQUIRE(active->size() == 1);
  CHECK(active->at(0).categories == std::vector<std::string>{"health", "housing"});
  CHECK(book.break_glass_in_force(client, "caw-brussel", "w1", now + hours(5)).value().empty());
  g.reason.clear();
  CHECK(book.grant_break_glass(g).error() == Errc::invalid_argument);
}

TEMPLATE_TEST_CASE("a consent recorded inside a bulk load joins its transaction", "[consents]",
                   SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "c1");
  ConsentBook book(f.storage());
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  NewConsent nc{"ocmw-brussel", "w1", now, now + std::chrono::hours(24), R"({"provisions":[]})"};
  // A failed bulk load takes the consent with it; one that commits keeps it.
  auto failed = bulk_write(f.storage(), [&]() -> Result<void> {
    if (auto r = book.record(client, nc); !r) return r.error();
    return make_error_code(Errc::invalid_argument);
  });
  CHECK(failed.error() == Errc::invalid_argument);
  CHECK(book.history(client).value().empty());
  REQUIRE(bulk_write(f.storage(), [&]() -> Result<void> {
    if (auto r = book.record(client, nc); !r) return r.error();
    return {};
  }));
  CHECK(book.history(client).value().size() == 1);
}
