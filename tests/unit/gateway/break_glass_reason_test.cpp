// Break-the-glass reasons at rest: sealed like fragment fields, opened only for review, destroyed
// with the client, resealed by a link, migrated from plaintext; short consent references.
#include "engines.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/crypto/encoding.hpp"

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
using namespace sluis::gateway::testing;
using namespace std::chrono_literals;
using sluis::crypto::IdentifierScheme;
using sluis::crypto::KeyPurpose;

namespace {

Instant now_ms() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

BreakGlassGrant grant_of(const ClientId& client, std::string reason,
                         const std::string& partner = "caw-brussel") {
  BreakGlassGrant g;
  g.client = client;
  g.partner_id = partner;
  g.worker_id = "w1";
  g.categories = {"contact", "health"};
  g.reason = std::move(reason);
  g.starts_at = now_ms() - 10min;
  g.expires_at = now_ms() + 1h;
  return g;
}

template <class Fixture> ClientId client_at_ocmw(Fixture& f, std::string_view case_number) {
  auto reg = f.registry();
  auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, case_number);
  REQUIRE(r);
  return reg.resolve("ocmw-brussel", r->pseudonym).value();
}

/// Every page of the data file, its WAL and (if given) a backup, decrypted.
std::vector<std::vector<std::uint8_t>> data_pages(const StoreFixture& f,
                                                  const fs::path* backup = nullptr) {
  const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
  std::vector<std::vector<std::uint8_t>> out;
  out.push_back(decrypt_pages(read_file(f.options.data_path), key, false));
  out.push_back(decrypt_pages(read_file(f.options.data_path.string() + "-wal"), key, true));
  if (backup != nullptr) out.push_back(decrypt_pages(read_file(*backup), key, false));
  return out;
}

std::size_t reason_keys(const StoreFixture& f) {
  const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::keystore);
  RawDb raw(f.options.key_store_path, &key);
  return raw.column("SELECT client_tag FROM data_keys WHERE category = 'sluis.break-glass-reason'")
      .size();
}

}  // namespace

TEST_CASE("break-glass reason: sealed at rest, a canary is on no page, WAL or backup",
          "[store][at-rest][break-glass]") {
  StoreFixture f;
  f.add_sector();
  const auto client = client_at_ocmw(f, "bg-1");
  constexpr std::string_view kCanary = "CANARY-REASON-diabetic-coma-5e1d";
  ConsentBook book(*f.store);
  auto granted = book.grant_break_glass(grant_of(client, std::string(kCanary)));
  REQUIRE(granted);
  CHECK(granted->reason.empty());  // not handed back
  REQUIRE(f.store->backup_data(f.dir / "backup.db"));
  const auto backup = f.dir / "backup.db";
  const auto pages = data_pages(f, &backup);
  bool saw_schema = false;
  for (const auto& p : pages) {
    saw_schema = saw_schema || contains(p, std::string_view("CREATE TABLE partners"));
    CHECK_FALSE(contains(p, kCanary));
    CHECK_FALSE(contains(p, std::string_view("diabetic")));
  }
  CHECK(saw_schema);  // the decryption is real
  for (const auto& raw : {read_file(f.options.data_path), read_file(backup)})
    CHECK_FALSE(contains(raw, kCanary));
  // Nor in the key store (it holds keys only).
  const auto keystore_key = sluis::crypto::derive_subkey(f.root, KeyPurpose::keystore);
  CHECK_FALSE(
      contains(decrypt_pages(read_file(f.options.key_store_path), keystore_key, false), kCanary));
  CHECK(reason_keys(f) == 1);

  // Grants read for decisions carry no reason; the review query opens it.
  auto history = book.break_glass_history(client);
  REQUIRE(history);
  REQUIRE(history->size() == 1);
  CHECK((*history)[0].reason.empty());
  auto all = book.break_glass_reasons({});
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK((*all)[0].grant_id == granted->id);
  CHECK((*all)[0].client == sluis::domain::audit_pseudonym(*f.store, client));
  CHECK((*all)[0].reason == std::optional<std::string>(kCanary));
  // Scoped to a partner: only its own grants.
  CHECK(book.break_glass_reasons({"caw-brussel", std::nullopt, std::nullopt})->size() == 1);
  CHECK(book.break_glass_reasons({"ocmw-brussel", std::nullopt, std::nullopt})->empty());
  CHECK(book.break_glass_reasons({std::nullopt, now_ms(), std::nullopt})->empty());
  // A grant id chosen by the caller (the API names it in the audit event first).
  auto named = grant_of(client, "client unresponsive, named grant");
  named.id = ConsentBook::new_grant_id();
  const auto id = named.id;
  auto second = book.grant_break_glass(std::move(named));
  REQUIRE(second);
  CHECK(second->id == id);
  auto bad = grant_of(client, "client unresponsive, bad id");
  bad.id = "not-hex";
  CHECK(book.grant_break_glass(std::move(bad)).error() == Errc::invalid_argument);
}

TEST_CASE("break-glass reason: erasing the client destroys it, also against an old backup",
          "[store][erasure][break-glass]") {
  StoreFixture f;
  f.add_sector();
  const auto client = client_at_ocmw(f, "bg-2");
  const auto other = client_at_ocmw(f, "bg-3");
  ConsentBook book(*f.store);
  REQUIRE(book.grant_break_glass(grant_of(client, "CANARY-ERASED-reason, fell at home")));
  REQUIRE(book.grant_break_glass(grant_of(other, "someone else, fainted in the street")));
  REQUIRE(f.store->backup_data(f.dir / "before-erasure.db"));
  CHECK(reason_keys(f) == 2);
  REQUIRE(f.registry().erase_client(client));
  CHECK(reason_keys(f) == 1);  // crypto-shredded with the client's other keys
  auto left = book.break_glass_reasons({});
  REQUIRE(left);
  REQUIRE(left->size() == 1);
  CHECK(left->front().reason == std::optional<std::string>("someone else, fainted in the street"));

  // The old data backup still holds the grant row, sealed; its key is gone for good.
  f.store.reset();
  fs::copy_file(f.dir / "before-erasure.db", f.options.data_path,
                fs::copy_options::overwrite_existing);
  fs::remove(f.options.data_path.string() + "-wal");
  {
    const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
    RawDb raw(f.options.data_path, &key);
    CHECK(raw.column("SELECT id FROM break_glass_grants").size() == 2);
  }
  f.reopen();
  auto after_restore = ConsentBook(*f.store).break_glass_reasons({});
  REQUIRE(after_restore);
  REQUIRE(after_restore->size() == 1);
  CHECK(after_restore->front().client == sluis::domain::audit_pseudonym(*f.store, other));
}

TEMPLATE_TEST_CASE("break-glass reason: a link reseals the absorbed client's reasons",
                   "[store][link][break-glass]", SLUIS_STORAGE_ENGINES) {
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
  REQUIRE(book.grant_break_glass(
      grant_of(day_client, "overdose suspected, contact needed", "daycentre-south")));
  auto linked = reg.link("daycentre-south", ps_day, "shelter-north", ps_shelter, "consent-1");
  REQUIRE(linked);
  const auto survivor = reg.resolve("daycentre-south", linked->pseudonym).value();
  auto reasons = book.break_glass_reasons({});
  REQUIRE(reasons);
  REQUIRE(reasons->size() == 1);
  CHECK(reasons->front().client == sluis::domain::audit_pseudonym(f.storage(), survivor));
  CHECK(reasons->front().reason ==
        std::optional<std::string>("overdose suspected, contact needed"));
}

TEST_CASE("break-glass reason: migration 5 seals the plaintext reasons of a schema-4 file",
          "[store][migration][break-glass]") {
  StoreFixture f;
  f.add_sector();
  const auto client = client_at_ocmw(f, "bg-4");
  f.store.reset();
  constexpr std::string_view kCanary = "CANARY-LEGACY-REASON-epileptic-fit-77";
  const std::string grant_id = "00112233445566778899aabbccddeeff";
  const auto key = sluis::crypto::derive_subkey(f.root, KeyPurpose::database);
  const auto start = now_ms() - 2h;
  {
    // The file as the previous release left it: schema 4, the reason in the clear.
    RawDb raw(f.options.data_path, &key);
    const std::string sql =
        "BEGIN; DROP TABLE caseload_labels; DROP TABLE caseload_label_tokens; "
        "DROP INDEX care_relationships_caseload; "
        "DROP TABLE key_journal; DROP TABLE key_journal_recipient; DROP TABLE "
        "break_glass_reviews; DROP TABLE break_glass_grants;"
        "CREATE TABLE break_glass_grants(id TEXT PRIMARY KEY, client_id BLOB NOT NULL "
        "REFERENCES clients(id) ON DELETE CASCADE, partner_id TEXT NOT NULL, worker_id TEXT NOT "
        "NULL, categories TEXT NOT NULL, reason TEXT NOT NULL, starts_at INTEGER NOT NULL, "
        "expires_at INTEGER NOT NULL, expiry_recorded INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX break_glass_client ON break_glass_grants(client_id, expires_at);"
        "CREATE INDEX break_glass_pending ON break_glass_grants(expiry_recorded, expires_at);"
        "INSERT INTO break_glass_grants(id, client_id, partner_id, worker_id, categories, reason, "
        "starts_at, expires_at) VALUES('" +
        grant_id + "', x'" + sluis::crypto::to_hex(client.view()) + "', 'caw-brussel', 'w1', " +
        "'contact', '" + std::string(kCanary) + "', " +
        std::to_string(start.time_since_epoch().count()) + ", " +
        std::to_string((start + 1h).time_since_epoch().count()) +
        "); DELETE FROM schema_version WHERE version >= 5; COMMIT;";
    raw.exec(sql.c_str());
    CHECK(raw.column("SELECT reason FROM break_glass_grants").size() == 1);
  }
  f.reopen();  // runs migration 5
  CHECK(f.store->schema_version() == Store::kSchemaVersion);
  auto reasons = ConsentBook(*f.store).break_glass_reasons({});
  REQUIRE(reasons);
  REQUIRE(reasons->size() == 1);
  CHECK(reasons->front().grant_id == grant_id);
  CHECK(reasons->front().starts_at == start);
  CHECK(reasons->front().reason == std::optional<std::string>(kCanary));
  for (const auto& p : data_pages(f))
    CHECK_FALSE(contains(p, kCanary));
  {
    RawDb raw(f.options.data_path, &key);
    const auto ddl = raw.column("SELECT sql FROM sqlite_master WHERE name = 'break_glass_grants'");
    REQUIRE(ddl.size() == 1);
    const std::string table(ddl[0].begin(), ddl[0].end());
    CHECK(table.find("reason_sealed BLOB") != std::string::npos);
    CHECK(table.find("reason TEXT") == std::string::npos);
    CHECK(raw.column("SELECT name FROM sqlite_master WHERE name = 'break_glass_pending'").size() ==
          1);
  }
  // The migrated grant still decides reads and expires as before.
  auto history = ConsentBook(*f.store).break_glass_history(client);
  REQUIRE(history);
  REQUIRE(history->size() == 1);
  CHECK(history->front().partner_id == "caw-brussel");
}

TEMPLATE_TEST_CASE("consent reference: a short form with a check symbol finds the consent",
                   "[store][consent]", SLUIS_STORAGE_ENGINES) {
  DomainFixture<TestType> f;
  f.add_sector();
  const auto client = client_at_ocmw(f, "ref-1");
  const auto other = client_at_ocmw(f, "ref-2");
  ConsentBook book(f.storage());
  NewConsent c;
  c.recorded_by_partner = "ocmw-brussel";
  c.recorded_by_worker = "w1";
  c.valid_from = now_ms();
  c.valid_until = now_ms() + 24h;
  c.document = R"({"a":1})";
  auto recorded = book.record(client, c);
  REQUIRE(recorded);
  const auto ref = short_consent_reference(recorded->id);
  REQUIRE(ref.size() == 11);
  CHECK(ref[3] == '-');
  CHECK(ref[7] == '-');
  // The 36 bits it carries are the id's first nine hex characters.
  const auto value = sluis::crypto::parse_short_code(ref, 8);
  REQUIRE(value);
  CHECK(sluis::crypto::to_hex(std::vector<std::uint8_t>{static_cast<std::uint8_t>(*value >> 32),
                                                        static_cast<std::uint8_t>(*value >> 24),
                                                        static_cast<std::uint8_t>(*value >> 16),
                                                        static_cast<std::uint8_t>(*value >> 8),
                                                        static_cast<std::uint8_t>(*value)})
            .substr(1) == recorded->id.substr(0, 9));
  // Both forms, as a person types the short one.
  CHECK(book.find(client, recorded->id)->id == recorded->id);
  CHECK(book.find(client, ref)->id == recorded->id);
  std::string typed = ref.substr(0, 3) + " " + ref.substr(4, 3) + ref.substr(8);
  std::transform(typed.begin(), typed.end(), typed.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  CHECK(book.find(client, typed)->id == recorded->id);
  // A typo, another client's consent, nonsense: not found.
  std::string typo = ref;
  typo[0] = typo[0] == '0' ? '1' : '0';
  CHECK(book.find(client, typo).error() == Errc::not_found);
  CHECK(book.find(other, ref).error() == Errc::not_found);
  CHECK(book.find(client, "nonsense").error() == Errc::not_found);
  CHECK(short_consent_reference("not an id").empty());
}
