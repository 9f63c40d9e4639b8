// The PostgreSQL engine's own cases (the domain's shared cases run on it through
// SLUIS_STORAGE_ENGINES): schema refusal, sealed columns read raw, busy on a held lock, a lost
// connection, two nodes on one database, concurrent check-then-insert.
#include "engines.hpp"

#include "sluis/domain/caseload.hpp"

#include <fstream>
#include <thread>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::domain {}
using namespace sluis::store;
using namespace sluis::domain;
using namespace sluis::gateway::testing;
using sluis::crypto::IdentifierScheme;

namespace {

using PgFixture = DomainFixture<PgEngine>;

ClientId register_case(PgFixture& f, std::string_view partner, std::string_view id) {
  auto reg = f.registry();
  auto r = reg.register_identified(partner, IdentifierScheme::case_number, id);
  REQUIRE(r);
  return reg.resolve(partner, r->pseudonym).value();
}

/// A valid national register number (born 1985-07-30, serial `serial`): 97 - (9 digits mod 97).
std::string national_number(int serial) {
  std::string digits = std::to_string(1000 + serial % 1000).substr(1);
  const std::string base = "850730" + digits;
  const long check = 97 - std::stol(base) % 97;
  return base + std::to_string(100 + check).substr(1);
}

/// A second node on the fixture's database (its own PgStorage, pool and caches).
std::unique_ptr<sluis::pgstore::PgStorage> second_node(PgFixture& f) {
  auto options = f.options;
  options.application_name = "sluis-test-node-2";
  auto s = sluis::pgstore::PgStorage::open(options, f.root);
  REQUIRE(s);
  return std::move(*s);
}

}  // namespace

TEST_CASE("postgresql: a database at a newer schema version is refused as SQLCipher refuses it",
          "[postgresql][migrations]") {
  PgFixture f;
  CHECK(f.store->schema_version() == sluis::pgstore::PgStorage::kSchemaVersion);
  {
    RawPg raw(f.options.conninfo);
    CHECK(raw.column("SELECT version FROM schema_version WHERE version = " +
                     std::to_string(sluis::pgstore::PgStorage::kSchemaVersion))
              .size() == 1);
    raw.exec("INSERT INTO schema_version(version, applied_at) VALUES(99, 0)");
  }
  f.close();
  auto refused = sluis::pgstore::PgStorage::open(f.options, f.root);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Errc::schema_too_new);
  CHECK(refused.error().message() == make_error_code(Errc::schema_too_new).message());
  // The SQLCipher engine's refusal of its own newer file, for comparison: the same error.
  StoreFixture sq;
  sq.close();
  sq.options.schema_version_limit = 3;
  auto old_binary = Store::open(sq.options, sq.root);
  REQUIRE_FALSE(old_binary);
  CHECK(old_binary.error() == refused.error());
}

TEST_CASE("postgresql: an older binary (lower schema limit) is refused by a migrated database",
          "[postgresql][migrations]") {
  PgFixture f;
  f.close();
  f.options.schema_version_limit = 0;
  auto refused = sluis::pgstore::PgStorage::open(f.options, f.root);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Errc::schema_too_new);
}

TEST_CASE("postgresql: consent documents, labels, reasons and fields are not in plaintext",
          "[postgresql][at-rest]") {
  PgFixture f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "canary-case-4711");
  const std::string doc_canary = "CONSENT-CANARY-8d1f";
  const std::string label_canary = "LABELCANARY";
  const std::string reason_canary = "REASON-CANARY-c0de";
  const std::string field_canary = "FIELD-CANARY-77aa";
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  ConsentBook book(f.storage());
  NewConsent nc{"ocmw-brussel", "w1", now, now + std::chrono::hours(24),
                R"({"provisions":[],"note":")" + doc_canary + R"("})"};
  auto consent = book.record(client, nc);
  REQUIRE(consent);
  Caseload caseload(f.storage());
  REQUIRE(caseload.set_label("ocmw-brussel", client, label_canary));
  BreakGlassGrant g{{},  client, "ocmw-brussel", "w1", {"health"}, reason_canary,
                    now, now + std::chrono::hours(1)};
  REQUIRE(book.grant_break_glass(g));
  REQUIRE(f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "health",
                                    fields_of({{"note", field_canary}})));

  // Read back through the engine: everything opens.
  auto history = book.history(client);
  REQUIRE(history);
  REQUIRE(history->size() == 1);
  CHECK(history->at(0).document == nc.document);
  CHECK(caseload.label("ocmw-brussel", client).value() == std::optional<std::string>(label_canary));

  // Read raw, as someone with the database but not the root key would.
  RawPg raw(f.options.conninfo);
  for (const char* table : {"consents", "caseload_labels", "caseload_label_tokens",
                            "break_glass_grants", "fragments", "clients", "identifiers",
                            "care_relationships", "data_keys", "kek_versions"}) {
    const auto rows = raw.dump(table);
    INFO(table);
    CHECK_FALSE(rows.empty());
    for (const auto& canary : {doc_canary, label_canary, reason_canary, field_canary,
                               std::string("canary-case-4711"), std::string("provisions")}) {
      INFO(canary);
      CHECK_FALSE(contains(rows, canary));
    }
  }
  // The KEKs are not in the database at all (pg schema 7: the ring file beside the root key).
  CHECK(raw.dump("keks").empty());
  // The sealed document is bound to its row: copied onto another consent of another client, it
  // does not open (the read fails closed instead of showing it).
  const auto other = register_case(f, "ocmw-brussel", "other-case");
  auto second = book.record(other, NewConsent{"ocmw-brussel", "w1", now,
                                              now + std::chrono::hours(24), R"({"provisions":[]})"});
  REQUIRE(second);
  raw.exec("UPDATE consents SET document_sealed = (SELECT document_sealed FROM consents WHERE id = '" +
           consent->id + "') WHERE id = '" + second->id + "'");
  CHECK(book.history(other).error() == Errc::crypto_failure);
  CHECK(book.history(client).value().at(0).document == nc.document);
}

TEST_CASE("postgresql: a lock held by another session past busy_timeout answers busy",
          "[postgresql][concurrency]") {
  PgFixture f;
  f.add_sector();
  f.close();
  f.options.busy_timeout = std::chrono::milliseconds(200);
  f.reopen();
  RawPg raw(f.options.conninfo);
  raw.exec("BEGIN");
  raw.exec("SELECT * FROM partners WHERE id = 'caw-brussel' FOR UPDATE");
  auto reg = f.registry();
  const auto started = std::chrono::steady_clock::now();
  auto revoked = reg.revoke_partner("caw-brussel");
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error() == Errc::busy);
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(150));
  // Nothing was changed, and once the lock is gone the same write goes through.
  raw.exec("ROLLBACK");
  CHECK_FALSE(reg.find_partner("caw-brussel").value().revoked_at.has_value());
  REQUIRE(reg.revoke_partner("caw-brussel"));
  CHECK(reg.find_partner("caw-brussel").value().revoked_at.has_value());
}

TEST_CASE("postgresql: a lost connection gives a clear error, and the next unit reconnects",
          "[postgresql][concurrency]") {
  PgFixture f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "c1");
  RawPg raw(f.options.conninfo);
  const std::string ours =
      "FROM pg_stat_activity WHERE datname = current_database() AND application_name = "
      "'sluis-test'";
  auto terminate_all = [&] {
    CHECK_FALSE(raw.column("SELECT pg_terminate_backend(pid) " + ours).empty());
    for (int i = 0; i < 500 && !raw.column("SELECT pid " + ours).empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(raw.column("SELECT pid " + ours).empty());
  };
  {
    // Lost while a unit holds its session: that unit fails with the clear error, nothing else.
    UnitOfWork u(f.storage());
    REQUIRE(u.clients().count().value() == 1);
    terminate_all();
    auto lost = u.clients().count();
    REQUIRE_FALSE(lost);
    CHECK(lost.error() == Errc::unavailable);
    CHECK(lost.error().message() ==
          "the database server cannot be reached; check that it runs and accepts this node");
    CHECK(make_error_code(Errc::unavailable).message() == lost.error().message());
  }
  // The next unit reconnects its session (and one lost while idle is noticed before use).
  auto reg = f.registry();
  CHECK(reg.is_anonymous(client).value() == false);
  terminate_all();
  CHECK(reg.is_anonymous(client).value() == false);
  REQUIRE(f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"street", "Rue Haute"}})));
}

TEST_CASE("postgresql: an unreachable database or a refused TLS mode fails open clearly",
          "[postgresql][options]") {
  sluis::pgstore::PgOptions options;
  const auto root = sluis::crypto::RootKey::random();
  CHECK(sluis::pgstore::PgStorage::open(options, root).error() == Errc::invalid_argument);
  options.conninfo = PgServer::instance().new_database();
  TempDir dir;
  // No ring file or ledger named: refused before anything is touched.
  CHECK(sluis::pgstore::PgStorage::open(options, root).error() == Errc::invalid_argument);
  options.kek_ring_file = dir / "kek-ring";
  options.erasure_ledger_file = dir / "erasure-ledger";
  // The test server has no TLS: verify-full is passed to libpq, which refuses to go on.
  options.sslmode = "verify-full";
  CHECK(sluis::pgstore::PgStorage::open(options, root).error() == Errc::unavailable);
  options.sslmode.clear();
  options.password_file = dir / "missing";
  CHECK(sluis::pgstore::PgStorage::open(options, root).error() == Errc::invalid_argument);
  {
    std::ofstream(dir / "password") << "not-needed-with-trust\n";
  }
  options.password_file = dir / "password";
  CHECK(sluis::pgstore::PgStorage::open(options, root));
}

TEST_CASE("postgresql: two nodes on one database see each other's writes",
          "[postgresql][nodes]") {
  PgFixture f;
  f.add_sector();
  auto node2 = second_node(f);
  Registry reg1(f.storage());
  Registry reg2(*node2);
  REQUIRE(reg2.partner_table().value()->size() == 4);
  // A partner added and one revoked on node 1 are in node 2's partner table at once.
  REQUIRE(reg1.add_partner("home-care-east", "home-care", "Thuiszorg Oost"));
  REQUIRE(reg1.revoke_partner("caw-brussel"));
  CHECK(reg2.partner_table().value()->size() == 5);
  CHECK(reg2.find_partner("caw-brussel").value().revoked_at.has_value());
  // A client registered on node 2 is the same client on node 1; its fragments read on both.
  auto r = reg2.register_identified("ocmw-brussel", IdentifierScheme::case_number, "shared-1");
  REQUIRE(r);
  auto again = reg1.register_identified("ocmw-brussel", IdentifierScheme::case_number, "shared-1");
  REQUIRE(again);
  CHECK(again->existing);
  CHECK(again->pseudonym == r->pseudonym);
  const auto client = reg1.resolve("ocmw-brussel", r->pseudonym).value();
  REQUIRE(Dossiers(*node2).add_fragment(client, "ocmw-brussel", "w1", "housing",
                                        fields_of({{"street", "Rue Haute"}})));
  auto all = [](const FragmentMeta&) { return true; };
  CHECK(text_of(f.dossiers().read_dossier(client, "ocmw-brussel", all).value().at(0).fields.at(0)
                    .value) == "Rue Haute");
  // Erased on node 1: gone on node 2, its keys with it.
  REQUIRE(reg1.erase_client(client));
  CHECK(Dossiers(*node2).read_dossier(client, "ocmw-brussel", all).error() == Errc::not_found);
  RawPg raw(f.options.conninfo);
  CHECK(raw.column("SELECT 1 FROM data_keys").empty());
  CHECK(raw.column("SELECT 1 FROM fragments").empty());
  CHECK(raw.column("SELECT 1 FROM key_erasures").size() == 1);
  CHECK(raw.column("SELECT 1 FROM erasures").size() == 1);
  // purge_deleted() vacuumed the tables the erasure touched (the statistics reach other
  // sessions within a second or so).
  bool vacuumed = false;
  for (int i = 0; i < 100 && !vacuumed; ++i) {
    vacuumed = raw.column("SELECT 1 FROM pg_stat_user_tables WHERE relname IN ('clients', "
                          "'fragments', 'data_keys') AND last_vacuum IS NOT NULL")
                   .size() == 3;
    if (!vacuumed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(vacuumed);
}

TEST_CASE("postgresql: concurrent registrations of one identifier on two nodes make one client",
          "[postgresql][nodes][concurrency]") {
  PgFixture f;
  f.add_sector();
  auto node2 = second_node(f);
  for (int round = 0; round < 8; ++round) {
    const std::string id = national_number(round + 1);
    Result<Registration> a = make_error_code(Errc::storage_failure);
    Result<Registration> b = make_error_code(Errc::storage_failure);
    std::thread t1([&] {
      a = Registry(f.storage()).register_identified("ocmw-brussel", IdentifierScheme::national_register,
                                                    id);
    });
    std::thread t2([&] {
      b = Registry(*node2).register_identified("caw-brussel", IdentifierScheme::national_register,
                                               id);
    });
    t1.join();
    t2.join();
    // Each either registered or was told to try again (busy) — never a second client.
    for (const auto* r : {&a, &b}) {
      if (!*r) CHECK(r->error() == Errc::busy);
    }
    if (!a) {
      a = Registry(f.storage()).register_identified("ocmw-brussel",
                                                    IdentifierScheme::national_register, id);
    }
    if (!b) {
      b = Registry(*node2).register_identified("caw-brussel", IdentifierScheme::national_register,
                                               id);
    }
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->existing != b->existing);
  }
  CHECK(f.registry().client_count().value() == 8);
}

TEST_CASE("postgresql: a registration that waited on another node's is refused busy, never a "
          "second client",
          "[postgresql][nodes][concurrency]") {
  PgFixture f;
  f.add_sector();
  auto node2 = second_node(f);
  const std::string id = national_number(42);
  RawPg raw(f.options.conninfo);
  std::thread other;
  Result<Registration> b = make_error_code(Errc::storage_failure);
  bool started = false;
  // Node 1 stops inside its registration, after it inserted the identifier's digest and before
  // it commits; node 2 registers the same identifier meanwhile: it finds no digest in its
  // snapshot, creates a client, and waits on node 1's uncommitted digest. Then node 1 commits.
  f.close();
  f.options.inject_failure = [&](std::string_view step) {
    if (step != "register.after_identifier" || started) return false;
    started = true;
    other = std::thread([&] {
      b = Registry(*node2).register_identified("caw-brussel", IdentifierScheme::national_register,
                                               id);
    });
    bool waiting = false;
    for (int i = 0; i < 500 && !waiting; ++i) {
      waiting = !raw.column("SELECT pid FROM pg_stat_activity WHERE application_name = "
                            "'sluis-test-node-2' AND wait_event_type = 'Lock'")
                     .empty();
      if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(waiting);
    return false;
  };
  f.reopen();
  auto a = f.registry().register_identified("ocmw-brussel", IdentifierScheme::national_register, id);
  other.join();
  REQUIRE(a);
  CHECK_FALSE(a->existing);
  // SERIALIZABLE: node 2's check (no such digest) and its insert cannot both stand once node 1
  // committed the digest — it fails with a serialization failure, which is busy (503, retry).
  REQUIRE_FALSE(b);
  CHECK(b.error() == Errc::busy);
  CHECK(f.registry().client_count().value() == 1);
  // Tried again, node 2 finds the client node 1 made.
  auto again = Registry(*node2).register_identified("caw-brussel",
                                                    IdentifierScheme::national_register, id);
  REQUIRE(again);
  CHECK(again->existing);
  CHECK(f.registry().client_count().value() == 1);
}
