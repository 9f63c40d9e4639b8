// Store tests: opening, migrations, keys, encryption at rest (page scans), backups, KEK rotation.
#include "gateway_fixture.hpp"

#include "sluis/store/sealed_fields.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/pseudonym.hpp"

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
    saw_schema = saw_schema || contains(img.plain, std::string_view("CREATE TABLE partners"));
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
    return raw.column("SELECT fields FROM fragments ORDER BY client_id, seq");
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
    CHECK(raw.column("SELECT fields FROM fragments ORDER BY client_id, seq") ==
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

namespace {

/// Rewrites a current data file into the layout of schema 2 (fragments with a global seq, one
/// row per field in fragment_fields, no later tables), as a file written by that release looks.
void downgrade_to_schema_2(const fs::path& data_path, const sluis::crypto::SubKey& key) {
  RawDb raw(data_path, &key);
  raw.exec(R"sql(
BEGIN;
CREATE TABLE fragments_v2(
  seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  category TEXT NOT NULL, owner_partner TEXT NOT NULL REFERENCES partners(id),
  created_by_worker TEXT NOT NULL, created_at INTEGER NOT NULL, version INTEGER NOT NULL,
  supersedes BLOB, superseded_by BLOB, key_version INTEGER NOT NULL);
CREATE TABLE fragment_fields(
  fragment_seq INTEGER NOT NULL REFERENCES fragments_v2(seq) ON DELETE CASCADE,
  position INTEGER NOT NULL, name TEXT NOT NULL, sealed BLOB NOT NULL,
  PRIMARY KEY(fragment_seq, position), UNIQUE(fragment_seq, name)) WITHOUT ROWID;
INSERT INTO fragments_v2(id, client_id, category, owner_partner, created_by_worker, created_at,
  version, supersedes, superseded_by, key_version)
  SELECT id, client_id, category, owner_partner, created_by_worker, created_at, version,
         supersedes, superseded_by, key_version FROM fragments ORDER BY created_at, client_id, seq;
)sql");
  sqlite3_stmt* rows = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw.handle(),
                             "SELECT v2.seq, f.fields FROM fragments f "
                             "JOIN fragments_v2 v2 ON v2.id = f.id",
                             -1, &rows, nullptr) == SQLITE_OK);
  sqlite3_stmt* ins = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw.handle(),
                             "INSERT INTO fragment_fields(fragment_seq, position, name, sealed) "
                             "VALUES(?, ?, ?, ?)",
                             -1, &ins, nullptr) == SQLITE_OK);
  while (sqlite3_step(rows) == SQLITE_ROW) {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(rows, 1));
    const std::vector<std::uint8_t> blob(p, p + sqlite3_column_bytes(rows, 1));
    std::vector<SealedFieldView> fields;
    REQUIRE(decode_sealed_fields(blob, fields));
    for (std::size_t n = 0; n < fields.size(); ++n) {
      sqlite3_bind_int64(ins, 1, sqlite3_column_int64(rows, 0));
      sqlite3_bind_int64(ins, 2, static_cast<sqlite3_int64>(n));
      sqlite3_bind_text(ins, 3, fields[n].name.data(), static_cast<int>(fields[n].name.size()),
                        SQLITE_TRANSIENT);
      sqlite3_bind_blob(ins, 4, fields[n].sealed.data(),
                        static_cast<int>(fields[n].sealed.size()), SQLITE_TRANSIENT);
      REQUIRE(sqlite3_step(ins) == SQLITE_DONE);
      sqlite3_reset(ins);
    }
  }
  sqlite3_finalize(rows);
  sqlite3_finalize(ins);
  raw.exec(R"sql(
DROP TABLE fragments;
ALTER TABLE fragments_v2 RENAME TO fragments;
CREATE INDEX fragments_client ON fragments(client_id, created_at, seq);
DROP TABLE caseload_labels;
DROP TABLE caseload_label_tokens;
DROP INDEX care_relationships_caseload;
DROP TABLE key_journal;
DROP TABLE key_journal_recipient;
DROP TABLE pseudonym_aliases;
DROP TABLE break_glass_reviews;
DROP TABLE break_glass_grants;
CREATE TABLE break_glass_grants(
  id TEXT PRIMARY KEY, client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  partner_id TEXT NOT NULL, worker_id TEXT NOT NULL, categories TEXT NOT NULL,
  reason TEXT NOT NULL, starts_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  expiry_recorded INTEGER NOT NULL DEFAULT 0);
CREATE INDEX break_glass_client ON break_glass_grants(client_id, expires_at);
CREATE INDEX break_glass_pending ON break_glass_grants(expiry_recorded, expires_at);
DELETE FROM schema_version WHERE version >= 3;
COMMIT;
)sql");
}

struct ReadBack {
  std::string id, category, owner, worker;
  Instant created_at{};
  std::uint32_t version = 0;
  std::optional<FragmentId> supersedes;
  std::vector<std::pair<std::string, std::string>> fields;
  bool operator==(const ReadBack&) const = default;
};

std::vector<ReadBack> read_all(Dossiers d, const ClientId& c) {
  auto dossier = d.read_dossier(c, "ocmw-brussel", [](const FragmentMeta&) { return true; });
  REQUIRE(dossier);
  std::vector<ReadBack> out;
  for (const auto& e : *dossier) {
    ReadBack r{sluis::crypto::to_hex(e.meta.id.view()),
               e.meta.category,
               e.meta.owner_partner,
               e.meta.created_by_worker,
               e.meta.created_at,
               e.meta.version,
               e.meta.supersedes,
               {}};
    for (const auto& f : e.fields)
      r.fields.emplace_back(f.name, text_of(f.value));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

TEST_CASE("schema 3 migration: fragments of a schema-2 file keep their fields, order and history",
          "[store][migration]") {
  StoreFixture f;
  f.add_sector();
  auto reg = f.registry();
  std::vector<ClientId> clients;
  for (const char* id : {"m-1", "m-2", "m-3"}) {
    auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, id);
    REQUIRE(r);
    clients.push_back(reg.resolve("ocmw-brussel", r->pseudonym).value());
  }
  // Interleaved writes (as over months), several fields, one superseded fragment.
  auto d = f.dossiers();
  std::optional<FragmentMeta> first;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t c = 0; c < clients.size(); ++c) {
      const std::string tag = std::to_string(round) + "/" + std::to_string(c);
      auto m = d.add_fragment(clients[c], "ocmw-brussel", "w1", round == 1 ? "income" : "housing",
                              fields_of({{"street", "Rue " + tag}, {"note", "n" + tag},
                                         {"since", "2026"}}));
      REQUIRE(m);
      if (!first) first = *m;
    }
  }
  REQUIRE(d.supersede(first->id, "ocmw-brussel", "w1", fields_of({{"street", "Nieuwe straat"}})));
  std::vector<std::vector<ReadBack>> before;
  for (const auto& c : clients)
    before.push_back(read_all(f.dossiers(), c));
  REQUIRE(before[0].size() == 3);
  CHECK(before[0][2].fields == std::vector<std::pair<std::string, std::string>>{
                                   {"street", "Nieuwe straat"}});

  f.store.reset();
  const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
  downgrade_to_schema_2(f.options.data_path, key);
  {
    RawDb raw(f.options.data_path, &key);
    REQUIRE(raw.column("SELECT name FROM fragment_fields").size() == 28);  // 9 × 3 + 1
  }
  f.reopen();  // runs migration 3 (and the later ones)
  CHECK(f.store->schema_version() == Store::kSchemaVersion);
  for (std::size_t c = 0; c < clients.size(); ++c)
    CHECK(read_all(f.dossiers(), clients[c]) == before[c]);
  {
    RawDb raw(f.options.data_path, &key);
    CHECK(raw.column("SELECT name FROM sqlite_master WHERE name = 'fragment_fields'").empty());
    CHECK(raw.column("SELECT id FROM fragments").size() == 10);
  }
  // Writing goes on after the migrated fragments, in order.
  auto d2 = f.dossiers();
  REQUIRE(d2.add_fragment(clients[1], "ocmw-brussel", "w1", "housing", fields_of({{"x", "y"}})));
  auto after = read_all(f.dossiers(), clients[1]);
  REQUIRE(after.size() == 4);
  CHECK(std::equal(before[1].begin(), before[1].end(), after.begin()));
  CHECK(after[3].fields == std::vector<std::pair<std::string, std::string>>{{"x", "y"}});
}

TEST_CASE("schema 3 migration: a damaged schema-2 file is refused and left as it was",
          "[store][migration]") {
  StoreFixture f;
  f.add_sector();
  auto reg = f.registry();
  auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, "d-1");
  REQUIRE(r);
  const auto client = reg.resolve("ocmw-brussel", r->pseudonym).value();
  REQUIRE(f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"street", "a"}})));
  REQUIRE(f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"street", "b"}})));
  f.store.reset();
  const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
  downgrade_to_schema_2(f.options.data_path, key);
  {
    RawDb raw(f.options.data_path, &key);
    raw.exec("DELETE FROM fragment_fields WHERE fragment_seq = (SELECT max(seq) FROM fragments)");
  }
  auto s = Store::open(f.options, f.root);
  REQUIRE_FALSE(s);
  CHECK(s.error() == Errc::storage_failure);
  RawDb raw(f.options.data_path, &key);
  CHECK(raw.column("SELECT max(version) FROM schema_version") ==
        std::vector<std::vector<std::uint8_t>>{{'2'}});
  CHECK(raw.column("SELECT name FROM fragment_fields").size() == 1);
  CHECK(raw.column("SELECT name FROM sqlite_master WHERE name = 'fragments_v3'").empty());
}
