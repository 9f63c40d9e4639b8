// The ends of break-the-glass grants reach the audit log, once, with who held them.
#include "engines.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/domain/break_glass_expiry.hpp"

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

namespace {

Instant now_ms() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// Records a grant held by worker w1 of `partner` over [start, end).
std::string grant_for(Storage& store, const ClientId& client, Instant start, Instant end,
                      const std::string& partner = "caw-brussel") {
  BreakGlassGrant g;
  g.client = client;
  g.partner_id = partner;
  g.worker_id = "w1";
  g.categories = {"contact", "health"};
  g.reason = "client unresponsive at home";
  g.starts_at = start;
  g.expires_at = end;
  return ConsentBook(store).grant_break_glass(std::move(g)).value().id;
}

/// An engine (one of SLUIS_STORAGE_ENGINES) with the sector, a client and an audit log.
template <class Engine = SqlCipherEngine> struct ExpiryFixture : DomainFixture<Engine> {
  TempDir audit_dir;
  std::unique_ptr<AuditLog> audit;
  ClientId client;

  ExpiryFixture() {
    this->add_sector();
    AuditLogOptions o;
    o.path = audit_dir / "audit.db";
    o.origin = "test/audit";
    audit = AuditLog::open(o, this->root).value();
    auto reg = this->registry().register_identified(
        "ocmw-brussel", sluis::crypto::IdentifierScheme::case_number, "c-1");
    REQUIRE(reg);
    client = this->registry().resolve("ocmw-brussel", reg->pseudonym).value();
  }

  std::string grant(Instant start, Instant end, const std::string& partner = "caw-brussel") {
    return grant_for(this->storage(), client, start, end, partner);
  }
};

}  // namespace

TEMPLATE_TEST_CASE("break-glass expiry: every ended grant is recorded once, with its holder",
                   "[gateway][break-glass]", SLUIS_STORAGE_ENGINES) {
  ExpiryFixture<TestType> f;
  const auto t0 = now_ms();
  const auto ended = f.grant(t0 - 2h, t0 - 1h);
  const auto running = f.grant(t0 - 10min, t0 + 1h, "ocmw-brussel");

  auto n = record_break_glass_expiries(f.storage(), *f.audit, t0);
  REQUIRE(n);
  CHECK(*n == 1);
  REQUIRE(f.audit->size() == 1);
  const auto e = f.audit->event(0).value().event;
  CHECK(e.action == AuditAction::break_glass_expiry);
  CHECK(e.time == t0 - 1h);  // the moment it ended, not the moment it was noticed
  CHECK(e.partner == "caw-brussel");
  CHECK(e.worker == "w1");
  CHECK(e.role == "social-worker");
  CHECK(e.client == sluis::domain::audit_pseudonym(f.storage(), f.client));
  CHECK(e.categories == std::vector<std::string>{"contact", "health"});
  CHECK(e.rule == "break-glass.expired:" + ended);
  CHECK(e.break_glass);

  // Nothing twice; the running grant only once it has ended.
  CHECK(*record_break_glass_expiries(f.storage(), *f.audit, t0 + 30min) == 0);
  CHECK(f.audit->size() == 1);
  CHECK(*record_break_glass_expiries(f.storage(), *f.audit, t0 + 2h) == 1);
  CHECK(f.audit->event(1).value().event.rule == "break-glass.expired:" + running);
  CHECK(*record_break_glass_expiries(f.storage(), *f.audit, t0 + 3h) == 0);

  // Batches: many ended grants are recorded a batch at a time, all of them in the end.
  for (int i = 0; i < 25; ++i)
    (void)f.grant(t0 - 3h, t0 - 2h - std::chrono::minutes(i));
  std::size_t total = 0;
  for (;;) {
    const auto k = record_break_glass_expiries(f.storage(), *f.audit, t0 + 3h, 10).value();
    if (k == 0) break;
    CHECK(k <= 10);
    total += k;
  }
  CHECK(total == 25);
  CHECK(f.audit->size() == 27);
}

TEST_CASE("break-glass expiry: when the log cannot record, nothing is marked and it is retried",
          "[gateway][break-glass]") {
  StoreFixture base;
  base.add_sector();
  std::atomic<bool> fail{true};
  AuditLogOptions o;
  o.path = base.dir / "audit.db";
  o.origin = "test/audit";
  o.inject_failure = [&](std::string_view) { return fail.load(); };
  auto audit = AuditLog::open(o, base.root).value();
  auto reg = base.registry().register_identified(
      "ocmw-brussel", sluis::crypto::IdentifierScheme::case_number, "c-2");
  const auto client = base.registry().resolve("ocmw-brussel", reg->pseudonym).value();
  const auto t0 = now_ms();
  (void)grant_for(*base.store, client, t0 - 2h, t0 - 1h);
  CHECK_FALSE(record_break_glass_expiries(*base.store, *audit, t0));
  fail = false;
  CHECK(*record_break_glass_expiries(*base.store, *audit, t0) == 1);
  CHECK(audit->size() == 1);
}

TEST_CASE("break-glass expiry: the sweeper records ends on its own", "[gateway][break-glass]") {
  ExpiryFixture<> f;
  const auto t0 = now_ms();
  (void)f.grant(t0 - 2h, t0 - 1h);
  (void)f.grant(t0 - 1h, t0 + 300ms);
  {
    BreakGlassExpirySweeper sweeper(*f.store, *f.audit, 50ms);
    for (int i = 0; i < 200 && f.audit->size() < 2; ++i)
      std::this_thread::sleep_for(20ms);
  }
  CHECK(f.audit->size() == 2);
}

TEST_CASE("break-glass expiry: grants from a store written before the sweeper existed",
          "[gateway][break-glass]") {
  StoreFixture f;
  // Start again from empty files written with the schema of the previous release.
  f.store.reset();
  for (const auto& entry : fs::directory_iterator(f.dir.path()))
    fs::remove(entry.path());
  f.options.schema_version_limit = 1;
  f.reopen();
  REQUIRE(f.store->schema_version() == 1);
  f.add_sector();
  auto reg = f.registry().register_identified("ocmw-brussel",
                                              sluis::crypto::IdentifierScheme::case_number, "old");
  REQUIRE(reg);
  // By its identifier: today's pseudonym look-up also reads the aliases table (schema 4).
  const auto client = f.registry()
                          .find_identified(sluis::crypto::IdentifierScheme::case_number, "old",
                                           "ocmw-brussel")
                          .value();
  const auto t0 = now_ms();
  // Written as that release wrote it (the reason in the clear; today's code seals it into a
  // column that schema does not have yet).
  {
    const auto key = sluis::crypto::derive_subkey(f.root, sluis::crypto::KeyPurpose::database);
    RawDb raw(f.options.data_path, &key);
    const std::string sql =
        "INSERT INTO break_glass_grants(id, client_id, partner_id, worker_id, categories, reason, "
        "starts_at, expires_at) VALUES('0123456789abcdef0123456789abcdef', x'" +
        sluis::crypto::to_hex(client.view()) + "', 'caw-brussel', 'w1', 'contact,health', " +
        "'client unresponsive at home', " +
        std::to_string((t0 - 2h).time_since_epoch().count()) + ", " +
        std::to_string((t0 - 1h).time_since_epoch().count()) + ")";
    raw.exec(sql.c_str());
  }
  f.options.schema_version_limit = -1;  // the upgrade
  f.reopen();
  CHECK(f.store->schema_version() == Store::kSchemaVersion);
  AuditLogOptions o;
  o.path = f.dir / "audit.db";
  o.origin = "test/audit";
  auto audit = AuditLog::open(o, f.root).value();
  CHECK(*record_break_glass_expiries(*f.store, *audit, t0) == 1);
}
