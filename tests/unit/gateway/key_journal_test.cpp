// The key journal: a key-store snapshot plus the data store gives back every key; erasure holds;
// a key that is really gone leaves a partial read; interrupted snapshots leave no secret.
#include "gateway_fixture.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/key_journal.hpp"

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

struct JournalFixture : StoreFixture {
  ClientId a;
  std::string a_pseudonym;
  JournalFixture() {
    add_sector();
    auto reg = registry();
    auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, "j-1");
    REQUIRE(r);
    a_pseudonym = r->pseudonym;
    a = reg.resolve("ocmw-brussel", r->pseudonym).value();
    REQUIRE(dossiers().add_fragment(a, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"street", "Kerkstraat 1"}})));
  }
  /// The key store is lost: the files are removed and an empty one is made at the next open.
  void lose_key_store() {
    store.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      fs::remove(options.key_store_path.string() + suffix);
    }
    reopen();
  }
  std::vector<DossierEntry> read(const ClientId& c) {
    auto d = dossiers().read_dossier(c, "ocmw-brussel", [](const FragmentMeta&) { return true; });
    REQUIRE(d);
    return std::move(*d);
  }
  std::size_t rows(const fs::path& file, KeyPurpose purpose, const char* sql) {
    const auto key = sluis::crypto::derive_subkey(root, purpose);
    RawDb raw(file, &key);
    const auto v = raw.column(sql);
    REQUIRE(v.size() == 1);
    return static_cast<std::size_t>(std::stoll(std::string(v[0].begin(), v[0].end())));
  }
};

}  // namespace

TEST_CASE("a key snapshot restored after a new category's key was made loses nothing",
          "[store][journal]") {
  JournalFixture f;
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-1.db"));
  // A category the client had no key for: a new data key, made after the snapshot.
  REQUIRE(f.dossiers().add_fragment(f.a, "ocmw-brussel", "w1", "income",
                                    fields_of({{"source", "leefloon"}})));
  CHECK(f.rows(f.options.data_path, KeyPurpose::database, "SELECT count(*) FROM key_journal") ==
        1);
  f.lose_key_store();
  auto given_back = f.store->restore_key_store_snapshot(f.dir / "keys-1.db");
  REQUIRE(given_back);
  CHECK(*given_back == 1);
  const auto entries = f.read(f.a);
  REQUIRE(entries.size() == 2);
  for (const auto& e : entries) {
    CHECK_FALSE(e.key_unavailable);
    CHECK(e.fields.size() == 1);
  }
  CHECK(text_of(entries[1].fields[0].value) == "leefloon");
  // Copying the snapshot in by hand while stopped does the same at the next open.
  f.lose_key_store();
  f.store.reset();
  fs::copy_file(f.dir / "keys-1.db", f.options.key_store_path,
                fs::copy_options::overwrite_existing);
  f.reopen();
  CHECK(f.read(f.a).size() == 2);
  CHECK_FALSE(f.read(f.a)[1].key_unavailable);
}

TEST_CASE("the journal secret lives only in its snapshot; the journal keeps only newer keys",
          "[store][journal]") {
  JournalFixture f;
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-1.db"));
  CHECK(f.rows(f.options.key_store_path, KeyPurpose::keystore,
               "SELECT count(*) FROM journal_secrets") == 0);
  CHECK(f.rows(f.dir / "keys-1.db", KeyPurpose::keystore,
               "SELECT count(*) FROM journal_secrets") == 1);
  REQUIRE(f.dossiers().add_fragment(f.a, "ocmw-brussel", "w1", "income",
                                    fields_of({{"source", "x"}})));
  // The housing key predates the snapshot: written again, it is journalled (harmless), but a
  // second snapshot covers both and empties the journal.
  REQUIRE(f.dossiers().add_fragment(f.a, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"street", "y"}})));
  CHECK(f.rows(f.options.data_path, KeyPurpose::database, "SELECT count(*) FROM key_journal") ==
        2);
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-2.db"));
  CHECK(f.rows(f.options.data_path, KeyPurpose::database, "SELECT count(*) FROM key_journal") ==
        0);
  // A data backup's journal does not open with the live files: no secret is there to open it.
  REQUIRE(f.dossiers().add_fragment(f.a, "ocmw-brussel", "w1", "health",
                                    fields_of({{"note", "z"}})));
  REQUIRE(f.store->backup_data(f.dir / "data-3.db"));
  CHECK(f.rows(f.dir / "data-3.db", KeyPurpose::database, "SELECT count(*) FROM key_journal") ==
        1);
  CHECK(f.rows(f.options.key_store_path, KeyPurpose::keystore,
               "SELECT count(*) FROM journal_secrets") == 0);
}

TEST_CASE("an older snapshot is checked before it is restored; a key that is gone leaves a "
          "partial read",
          "[store][journal]") {
  JournalFixture f;
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-1.db"));
  REQUIRE(f.dossiers().add_fragment(f.a, "ocmw-brussel", "w1", "income",
                                    fields_of({{"source", "leefloon"}})));
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-2.db"));

  auto newest = f.store->check_restore({}, f.dir / "keys-2.db");
  REQUIRE(newest);
  CHECK(newest->fragments == 2);
  CHECK(newest->unreadable_fragments == 0);
  CHECK(newest->journal_matches);
  CHECK(newest->journal_snapshot == (f.dir / "keys-2.db").string());
  auto older = f.store->check_restore({}, f.dir / "keys-1.db");
  REQUIRE(older);
  CHECK(older->unreadable_fragments == 1);
  CHECK(older->unreadable_clients == 1);
  CHECK_FALSE(older->journal_matches);
  CHECK(older->journal_snapshot == (f.dir / "keys-2.db").string());
  CHECK(f.store->check_restore({}, f.dir / "absent.db").error() == Errc::not_found);

  REQUIRE(f.store->restore_key_store_snapshot(f.dir / "keys-1.db"));
  const auto entries = f.read(f.a);
  REQUIRE(entries.size() == 2);
  CHECK_FALSE(entries[0].key_unavailable);
  CHECK(text_of(entries[0].fields.at(0).value) == "Kerkstraat 1");
  CHECK(entries[1].key_unavailable);
  CHECK(entries[1].fields.empty());
  // A caller who may not see the unreadable fragment learns nothing of it: no entry, no marker.
  auto denied = f.dossiers().read_dossier(
      f.a, "ocmw-brussel", [](const FragmentMeta& m) { return m.category != "income"; });
  REQUIRE(denied);
  REQUIRE(denied->size() == 1);
  CHECK_FALSE(denied->front().key_unavailable);
  // The decide-then-open path the API uses marks it the same way.
  auto sealed = f.dossiers().list_current_sealed(f.a);
  REQUIRE(sealed);
  std::vector<const SealedFragment*> all;
  for (const auto& s : *sealed)
    all.push_back(&s);
  auto opened = f.dossiers().open_fragments(f.a, "ocmw-brussel", all);
  REQUIRE(opened);
  REQUIRE(opened->size() == 2);
  CHECK_FALSE((*opened)[0].key_unavailable);
  CHECK((*opened)[1].key_unavailable);
}

TEST_CASE("a client erased after the backup stays erased when both files are restored",
          "[store][journal][erasure]") {
  JournalFixture f;
  auto reg = f.registry();
  auto rb = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, "j-2");
  REQUIRE(rb);
  const auto b = reg.resolve("ocmw-brussel", rb->pseudonym).value();
  REQUIRE(f.dossiers().add_fragment(b, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"street", "Molenweg 2"}})));
  REQUIRE(f.store->snapshot_key_store(f.dir / "keys-1.db"));
  REQUIRE(f.dossiers().add_fragment(b, "ocmw-brussel", "w1", "income",
                                    fields_of({{"source", "x"}})));
  REQUIRE(f.store->backup_data(f.dir / "data-1.db"));
  const auto tag = sluis::domain::audit_pseudonym(*f.store, b);
  REQUIRE(f.registry().erase_client(b));
  // Its journal entry went with it.
  CHECK(f.rows(f.options.data_path, KeyPurpose::database, "SELECT count(*) FROM key_journal") ==
        0);

  // The key store is lost; both files come back from before the erasure.
  f.lose_key_store();
  auto check = f.store->check_restore(f.dir / "data-1.db", f.dir / "keys-1.db");
  REQUIRE(check);
  CHECK(check->fragments == 1);  // A's; B's do not count
  CHECK(check->unreadable_fragments == 0);
  REQUIRE(f.store->restore_data_backup(f.dir / "data-1.db"));
  REQUIRE(f.store->restore_key_store_snapshot(f.dir / "keys-1.db"));
  CHECK(f.registry().resolve("ocmw-brussel", rb->pseudonym).error() == Errc::not_found);
  const std::string count_keys =
      "SELECT count(*) FROM data_keys WHERE client_tag = '" + tag + "'";
  CHECK(f.rows(f.options.key_store_path, KeyPurpose::keystore, count_keys.c_str()) == 0);
  CHECK(f.rows(f.options.data_path, KeyPurpose::database, "SELECT count(*) FROM key_journal") ==
        0);
  CHECK(f.read(f.a).size() == 1);
}

TEST_CASE("a secret left in the live key store by an interrupted snapshot is destroyed at open",
          "[store][journal]") {
  JournalFixture f;
  f.store.reset();
  const auto pair = sluis::crypto::JournalKeyPair::generate();
  const auto wrapping = sluis::crypto::derive_subkey(f.root, KeyPurpose::kek_wrapping);
  auto wrapped = sluis::crypto::wrap_journal_secret(wrapping, pair);
  REQUIRE(wrapped);
  {
    const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::keystore);
    RawDb raw(f.options.key_store_path, &key);
    std::string sql = "INSERT INTO journal_secrets VALUES(x'" +
                      sluis::crypto::to_hex(pair.public_key) + "', x'" +
                      sluis::crypto::to_hex(*wrapped) + "', 0)";
    raw.exec(sql.c_str());
  }
  f.reopen();
  CHECK(f.rows(f.options.key_store_path, KeyPurpose::keystore,
               "SELECT count(*) FROM journal_secrets") == 0);
  CHECK(f.read(f.a).size() == 1);
}
