// Store tests: opening, migrations, keys, encryption at rest (page scans), backups, KEK rotation.
#include "gateway_fixture.hpp"

#include "sluis/crypto/pseudonym.hpp"

using namespace sluis::gateway;
using namespace sluis::gateway::testing;
using sluis::crypto::IdentifierScheme;
using sluis::crypto::KeyPurpose;

TEST_CASE("store opens, migrates, and reopens with its data", "[store]") {
  StoreFixture f;
  CHECK(f.store->schema_version() == Store::kSchemaVersion);
  REQUIRE(f.registry().add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
  f.reopen();
  CHECK(f.store->schema_version() == Store::kSchemaVersion);
  auto p = f.registry().find_partner("ocmw-brussel");
  REQUIRE(p);
  CHECK(p->partner_type == "ocmw");
  CHECK(f.store->kek_versions().size() == 1);
}

TEST_CASE("a wrong root key fails cleanly with database_key_mismatch", "[store]") {
  StoreFixture f;
  REQUIRE(f.registry().add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
  f.store.reset();
  auto other = sluis::crypto::RootKey::random();
  auto s = Store::open(f.options, other);
  REQUIRE_FALSE(s);
  CHECK(s.error() == Errc::database_key_mismatch);
  CHECK(s.error().message() == "the database key does not match this database file");
  // The right key still opens it afterwards: the failed attempt changed nothing.
  f.reopen();
  CHECK(f.registry().find_partner("ocmw-brussel"));
}

TEST_CASE("a database newer than the code is refused", "[store]") {
  StoreFixture f;
  f.store.reset();
  auto older = f.options;
  older.schema_version_limit = Store::kSchemaVersion - 1;  // an older binary meets this file
  auto s = Store::open(older, f.root);
  REQUIRE_FALSE(s);
  CHECK(s.error() == Errc::schema_too_new);
}

TEST_CASE("the database file does not open without the key", "[store][at-rest]") {
  StoreFixture f;
  f.add_sector();
  f.store.reset();
  for (const auto& path : {f.options.data_path, f.options.key_store_path}) {
    RawDb raw(path, nullptr);
    CHECK(raw.try_query("SELECT count(*) FROM sqlite_master") == SQLITE_NOTADB);
    const auto bytes = read_file(path);
    REQUIRE(bytes.size() >= 16);
    CHECK_FALSE(contains(bytes, std::string_view("SQLite format 3")));
  }
  // The key store's key does not open the data store, nor the other way round.
  auto keystore_key = sluis::crypto::derive_subkey(f.root, KeyPurpose::keystore);
  RawDb swapped(f.options.data_path, &keystore_key);
  CHECK(swapped.try_query("SELECT count(*) FROM sqlite_master") == SQLITE_NOTADB);
}

TEST_CASE("no plaintext field value or identifier on any page, WAL or backup", "[store][at-rest]") {
  StoreFixture f;
  f.add_sector();
  constexpr std::string_view kCanary = "CANARY-field-value-7f3a9c";
  constexpr std::string_view kIdentifier = "CANARY-CASE-4242";
  auto reg = f.registry();
  auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, kIdentifier);
  REQUIRE(r);
  auto client = reg.resolve("ocmw-brussel", r->pseudonym);
  REQUIRE(client);
  auto d = f.dossiers();
  const auto fields = fields_of({{"note", kCanary}, {"summary", "ordinary text"}});
  REQUIRE(d.add_fragment(*client, "ocmw-brussel", "w1", "case-note", fields));
  REQUIRE(f.store->backup_data(f.dir / "backup.db"));
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-snapshot.db"));

  // Copies taken while the store is open, so the WAL still holds the recent pages.
  const auto data = read_file(f.options.data_path);
  const auto wal = read_file(f.options.data_path.string() + "-wal");
  const auto backup = read_file(f.dir / "backup.db");
  REQUIRE_FALSE(wal.empty());
  auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
  auto keystore_key = sluis::crypto::derive_subkey(f.root, KeyPurpose::keystore);
  auto keys_plain = decrypt_pages(read_file(f.options.key_store_path), keystore_key, false);
  const auto keys_wal_plain =
      decrypt_pages(read_file(f.options.key_store_path.string() + "-wal"), keystore_key, true);
  keys_plain.insert(keys_plain.end(), keys_wal_plain.begin(), keys_wal_plain.end());

  struct Image {
    const char* what;
    std::vector<std::uint8_t> plain;
  };
  const std::vector<Image> images{{"data file", decrypt_pages(data, key, false)},
                                  {"data WAL", decrypt_pages(wal, key, true)},
                                  {"data backup", decrypt_pages(backup, key, false)}};
  // The decryption is real: the schema text and the partner's display name are readable.
  bool saw_schema = false;
  bool saw_partner = false;
  for (const auto& img : images) {
    saw_schema = saw_schema || contains(img.plain, std::string_view("CREATE TABLE fragments"));
    saw_partner = saw_partner || contains(img.plain, std::string_view("Nachtopvang Noord"));
  }
  CHECK(saw_schema);
  CHECK(saw_partner);
  for (const auto& img : images) {
    INFO(img.what);
    CHECK_FALSE(contains(img.plain, kCanary));
    CHECK_FALSE(contains(img.plain, kIdentifier));
  }
  for (const auto* raw : {&data, &wal, &backup}) {
    CHECK_FALSE(contains(*raw, kCanary));
    CHECK_FALSE(contains(*raw, kIdentifier));
  }
  CHECK(contains(keys_plain, std::string_view("CREATE TABLE data_keys")));
  CHECK_FALSE(contains(keys_plain, kCanary));
  CHECK_FALSE(contains(keys_plain, kIdentifier));
  // And the data backup holds no key material at all: no key tables, no KEKs.
  RawDb b(f.dir / "backup.db", &key);
  CHECK(b.column("SELECT name FROM sqlite_master WHERE name IN ('data_keys', 'keks')").empty());
}

TEST_CASE("backups are SQLCipher files that open only with the root key", "[store][backup]") {
  StoreFixture f;
  f.add_sector();
  REQUIRE(f.store->backup_data(f.dir / "backup.db"));
  RawDb nokey(f.dir / "backup.db", nullptr);
  CHECK(nokey.try_query("SELECT count(*) FROM sqlite_master") == SQLITE_NOTADB);
  // A store opened on the backup (with a fresh key store) sees the partners.
  StoreOptions o;
  o.data_path = f.dir / "backup.db";
  o.key_store_path = f.dir / "other-keys.db";
  auto s = Store::open(o, f.root);
  REQUIRE(s);
  Registry r(**s);
  CHECK(r.find_partner("caw-brussel"));
}

TEST_CASE("KEK rotation rewraps data keys without touching field ciphertexts", "[store][keys]") {
  StoreFixture f;
  f.add_sector();
  auto reg = f.registry();
  auto d = f.dossiers();
  std::vector<ClientId> clients;
  for (const char* id : {"case-1", "case-2", "case-3"}) {
    auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, id);
    REQUIRE(r);
    auto c = reg.resolve("ocmw-brussel", r->pseudonym);
    REQUIRE(c);
    clients.push_back(*c);
    REQUIRE(d.add_fragment(*c, "ocmw-brussel", "w1", "housing", fields_of({{"address", id}})));
    REQUIRE(d.add_fragment(*c, "ocmw-brussel", "w1", "income", fields_of({{"amount", "1200"}})));
  }
  auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
  const auto before = [&] {
    RawDb raw(f.options.data_path, &key);
    return raw.column("SELECT sealed FROM fragment_fields ORDER BY fragment_seq, position");
  }();
  REQUIRE(before.size() == 6);
  const auto v1 = f.store->kek_versions().at(0);
  REQUIRE(f.store->count_data_keys(v1).value() == 6);

  auto v2 = f.store->rotate_kek();
  REQUIRE(v2);
  CHECK(v2->value == v1.value + 1);
  CHECK(f.store->kek_versions() == std::vector{*v2});
  CHECK(f.store->count_data_keys(v1).value() == 0);
  CHECK(f.store->count_data_keys(*v2).value() == 6);
  {
    RawDb raw(f.options.data_path, &key);
    CHECK(raw.column("SELECT sealed FROM fragment_fields ORDER BY fragment_seq, position") ==
          before);
  }
  auto all = [](const FragmentMeta&) { return true; };
  f.reopen();  // the old KEK is gone from the key store too: only v2 loads
  CHECK(f.store->kek_versions() == std::vector{*v2});
  auto d2 = f.dossiers();
  for (std::size_t n = 0; n < clients.size(); ++n) {
    auto dossier = d2.read_dossier(clients[n], "ocmw-brussel", all);
    REQUIRE(dossier);
    REQUIRE(dossier->size() == 2);
    CHECK(text_of(dossier->at(0).fields.at(0).value) == "case-" + std::to_string(n + 1));
  }
  // The retired KEK's wrapped bytes are destroyed, not just flagged.
  auto keystore_key = sluis::crypto::derive_subkey(f.root, KeyPurpose::keystore);
  RawDb keys(f.options.key_store_path, &keystore_key);
  CHECK(keys.column("SELECT wrapped FROM keks WHERE retired_at IS NOT NULL").at(0).empty());
}

TEST_CASE("an injected failure mid-rotation leaves every key as it was", "[store][keys][tx]") {
  StoreFixture f;
  f.add_sector();
  auto reg = f.registry();
  auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, "case-9");
  REQUIRE(r);
  auto c = reg.resolve("ocmw-brussel", r->pseudonym);
  REQUIRE(c);
  REQUIRE(f.dossiers().add_fragment(*c, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"address", "x"}})));
  f.store.reset();
  f.options.inject_failure = [](std::string_view step) { return step == "rotate_kek.rewrap"; };
  f.reopen();
  auto rotated = f.store->rotate_kek();
  REQUIRE_FALSE(rotated);
  CHECK(rotated.error() == Errc::injected_failure);
  f.options.inject_failure = nullptr;
  f.reopen();
  CHECK(f.store->kek_versions().size() == 1);
  CHECK(f.store->count_data_keys(f.store->kek_versions().at(0)).value() == 1);
  auto dossier = f.dossiers().read_dossier(*c, "ocmw-brussel", [](const auto&) { return true; });
  REQUIRE(dossier);
  CHECK(dossier->size() == 1);
}
