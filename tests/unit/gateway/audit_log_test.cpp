// The audit log: durability and group commit, tamper detection, proofs, checkpoints, queries.
#include "gateway_fixture.hpp"
#include "pg_fixture.hpp"

#include "sluis/audit/log.hpp"
#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/domain/access.hpp"
#include "sluis/domain/read_audit.hpp"
#include "sluis/pgaudit/pg_audit_log.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
using sluis::gateway::testing::PgServer;
using sluis::gateway::testing::RawDb;
using sluis::gateway::testing::RawPg;
using sluis::gateway::testing::TempDir;
namespace crypto = sluis::crypto;
using namespace std::chrono_literals;

namespace {

Instant at_ms(std::int64_t ms) {
  return Instant(std::chrono::milliseconds(ms));
}

// 2025-03-01T00:00:00Z
constexpr std::int64_t kT0 = 1740787200000;

AuditEvent read_event(std::string_view client, std::string_view worker, std::int64_t ms,
                      std::string request, AuditDecision decision = AuditDecision::permit,
                      std::string_view partner = "caw-brussel",
                      std::string_view owner = "ocmw-brussel") {
  AuditEvent e;
  e.time = at_ms(ms);
  e.partner = partner;
  e.worker = worker;
  e.role = "social-worker";
  e.action = AuditAction::read;
  e.client = client;
  e.categories = {"housing"};
  e.purpose = "care-coordination";
  e.decision = decision;
  e.rule = decision == AuditDecision::permit ? "consent.active:c1" : "consent.none";
  e.request_id = std::move(request);
  e.owner_partner = owner;
  return e;
}

struct LogFixture {
  TempDir dir;
  crypto::RootKey root = crypto::RootKey::random();
  AuditLogOptions options;
  std::unique_ptr<AuditLog> log;

  LogFixture() {
    options.path = dir / "audit.db";
    options.origin = "sluis.example/audit";
    open();
  }
  void open() {
    log.reset();
    auto l = AuditLog::open(options, root);
    REQUIRE(l);
    log = std::move(*l);
  }
  void close() { log.reset(); }
  std::unique_ptr<AuditLog> open_read_only() {
    AuditLogOptions ro = options;
    ro.read_only = true;
    ro.origin.clear();
    auto l = AuditLog::open(ro, root);
    REQUIRE(l);
    return std::move(*l);
  }
  crypto::SubKey store_key() const {
    return crypto::derive_subkey(root, crypto::KeyPurpose::audit_store);
  }
  /// Appends n events, one request each, a second apart.
  void fill(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto ms = kT0 + static_cast<std::int64_t>(i) * 1000;
      REQUIRE(log->append(read_event("a1client", "w1", ms, "req-" + std::to_string(i))));
    }
  }
};

crypto::Checkpoint parse_cp(const AuditLog& log, const std::string& note) {
  auto cp = crypto::verify_checkpoint(note, log.verifier_key().key, log.origin(), log.origin());
  REQUIRE(cp);
  return *cp;
}

/// The audit log's engines for TEMPLATE_TEST_CASE: the cases that are not about the file run on
/// both ("<case> - AuditSqlCipherEngine", "<case> - AuditPgEngine"; ctest labels the second
/// `postgresql`). Each offers log, options (checkpoint_interval, inject_failure), open(), close(),
/// try_open(), open_read_only(), fill() and tamper(sqlcipher_sql, postgresql_sql).
struct AuditSqlCipherEngine : LogFixture {
  [[nodiscard]] Result<std::unique_ptr<AuditLog>> try_open() const {
    return AuditLog::open(options, root);
  }
  /// Runs `sqlcipher_sql` on the closed log's file, as an attacker with the key would.
  void tamper(const char* sqlcipher_sql, const char* /*postgresql_sql*/) {
    const auto key = store_key();
    RawDb raw(options.path, &key);
    REQUIRE(raw.try_query(sqlcipher_sql) == SQLITE_DONE);
  }
};

struct AuditPgEngine {
  crypto::RootKey root = crypto::RootKey::random();
  sluis::pgaudit::PgAuditLogOptions options;
  std::unique_ptr<AuditLog> log;

  AuditPgEngine() {
    options.database.conninfo = PgServer::instance().new_database();
    options.database.application_name = "sluis-test";
    options.origin = "sluis.example/audit";
    options.integrator_poll = 50ms;
    open();
  }
  [[nodiscard]] Result<std::unique_ptr<AuditLog>> try_open() const {
    return sluis::pgaudit::open_pg_audit_log(options, root);
  }
  void open() {
    log.reset();
    auto l = try_open();
    REQUIRE(l);
    log = std::move(*l);
  }
  void close() { log.reset(); }
  std::unique_ptr<AuditLog> open_read_only() {
    auto ro = options;
    ro.read_only = true;
    ro.origin.clear();
    auto l = sluis::pgaudit::open_pg_audit_log(ro, root);
    REQUIRE(l);
    return std::move(*l);
  }
  void fill(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto ms = kT0 + static_cast<std::int64_t>(i) * 1000;
      REQUIRE(log->append(read_event("a1client", "w1", ms, "req-" + std::to_string(i))));
    }
  }
  /// Runs `postgresql_sql` on the database, as an attacker with a database login would.
  void tamper(const char* /*sqlcipher_sql*/, const char* postgresql_sql) {
    RawPg raw(options.database.conninfo);
    raw.exec(postgresql_sql);
  }
};

}  // namespace

TEST_CASE("audit: events encode canonically and decode strictly", "[audit]") {
  auto e = read_event("a1xyz", "w\"1", kT0, "r-1");
  e.categories = {"housing", "income"};
  e.break_glass = true;
  auto bytes = encode_audit_event(e);
  REQUIRE(bytes);
  CHECK(bytes->rfind("{\"v\":1,\"time\":1740787200000,\"partner\":\"caw-brussel\"", 0) == 0);
  auto back = decode_audit_event(*bytes);
  REQUIRE(back);
  CHECK(*back == e);
  // Another spelling of the same content is not canonical.
  std::string spaced = *bytes;
  spaced.insert(1, " ");
  CHECK_FALSE(decode_audit_event(spaced));
  CHECK_FALSE(decode_audit_event("{}"));
  e.worker = std::string("\xff\xfe", 2);
  CHECK(encode_audit_event(e).error() == make_error_code(Errc::invalid_argument));
  CHECK(parse_audit_action("break-glass-start") == AuditAction::break_glass_start);
  CHECK_FALSE(parse_audit_action("nope"));
}

TEST_CASE("audit: a read's decisions become one event per distinct outcome and none is left out",
          "[audit]") {
  auto decision = [](std::string category, std::string owner, bool permitted, std::string rule,
                     bool btg = false) {
    FragmentDecision d;
    d.category = std::move(category);
    d.owner_partner = std::move(owner);
    d.permitted = permitted;
    d.rule = std::move(rule);
    d.break_glass = btg;
    return d;
  };
  // 20 fragments: 12 permitted under one consent from two owners, 6 denied, 2 through a grant.
  std::vector<FragmentDecision> ds;
  for (int i = 0; i < 6; ++i) {
    ds.push_back(decision(i % 2 == 0 ? "housing" : "income", "ocmw-brussel", true,
                          "consent.active:c1"));
    ds.push_back(decision("housing", "caw-brussel", true, "consent.active:c1"));
    ds.push_back(decision(i % 3 == 0 ? "health" : "mental-health", "ocmw-brussel", false,
                          "consent.none"));
  }
  ds.push_back(decision("health", "thuiszorg", true, "break-glass:g1", true));
  ds.push_back(decision("health", "thuiszorg", true, "break-glass:g1", true));
  const ReadAuditContext ctx{at_ms(kT0), "caw-brussel", "w1", "care-coordination", "a1xyz", "req-9"};
  const auto events = audit_events_for_read(ctx, ds, "social-worker");
  REQUIRE(events.size() == 4);
  CHECK(events[0].owner_partner == "ocmw-brussel");
  CHECK(events[0].decision == AuditDecision::permit);
  CHECK(events[0].categories == std::vector<std::string>{"housing", "income"});
  CHECK(events[1].owner_partner == "caw-brussel");
  CHECK(events[1].categories == std::vector<std::string>{"housing"});
  CHECK(events[2].decision == AuditDecision::deny);
  CHECK(events[2].rule == "consent.none");
  CHECK(events[2].categories == std::vector<std::string>{"health", "mental-health"});
  CHECK(events[3].break_glass);
  CHECK(events[3].categories == std::vector<std::string>{"health"});
  // Every decision is on the record: an event with its outcome, owner and category.
  for (const auto& d : ds) {
    const auto n = std::count_if(events.begin(), events.end(), [&](const AuditEvent& e) {
      return e.owner_partner == d.owner_partner && e.rule == d.rule &&
             e.break_glass == d.break_glass &&
             (e.decision == AuditDecision::permit) == d.permitted &&
             std::find(e.categories.begin(), e.categories.end(), d.category) !=
                 e.categories.end();
    });
    CHECK(n == 1);
  }
  for (const auto& e : events) {
    CHECK(e.action == AuditAction::read);
    CHECK(e.role == "social-worker");
    CHECK(e.request_id == "req-9");
    CHECK(e.client == "a1xyz");
    CHECK(encode_audit_event(e));
  }
  // An event never lists more categories than an event may hold: the rest go on another.
  std::vector<FragmentDecision> many;
  for (std::size_t i = 0; i < kMaxAuditCategories + 3; ++i)
    many.push_back(decision("c" + std::to_string(i), "ocmw-brussel", true, "consent.active:c1"));
  const auto split = audit_events_for_read(ctx, many, "social-worker");
  REQUIRE(split.size() == 2);
  CHECK(split[0].categories.size() == kMaxAuditCategories);
  CHECK(split[1].categories.size() == 3);
  // A category already on a full event is not listed again on the next one.
  many.resize(kMaxAuditCategories);
  many.push_back(many.front());
  many.push_back(decision("late", "ocmw-brussel", true, "consent.active:c1"));
  const auto once = audit_events_for_read(ctx, many, "social-worker");
  REQUIRE(once.size() == 2);
  CHECK(once[1].categories == std::vector<std::string>{"late"});
  CHECK(audit_events_for_read(ctx, {}, "social-worker").empty());
}

TEMPLATE_TEST_CASE("audit: append then verify round trip, restart restores the tree", "[audit]",
                   AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  auto r = f.log->append(read_event("a1c", "w1", kT0, "req-0"));
  REQUIRE(r);
  CHECK(r->first == 0);
  CHECK(r->count == 1);
  std::vector<AuditEvent> batch{read_event("a1c", "w1", kT0 + 1, "req-1"),
                                read_event("a1c", "w2", kT0 + 2, "req-2")};
  r = f.log->append(batch);
  REQUIRE(r);
  CHECK(r->first == 1);
  CHECK(r->count == 2);
  CHECK(f.log->size() == 3);
  auto stored = f.log->event(2);
  REQUIRE(stored);
  CHECK(stored->event == batch[1]);
  CHECK(crypto::leaf_hash(stored->canonical) == f.log->inclusion_proof(2, 3)->leaf_hash);

  auto report = f.log->verify();
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->events == 3);
  CHECK(report->checkpoints >= 1);

  const auto root_before = f.log->root_at(3);
  REQUIRE(root_before);
  f.close();  // clean shutdown signs a final checkpoint
  f.open();
  CHECK(f.log->size() == 3);
  auto cp = f.log->latest_checkpoint();
  REQUIRE(cp);
  CHECK(parse_cp(*f.log, cp->note).size == 3);
  CHECK(parse_cp(*f.log, cp->note).root == *root_before);
  r = f.log->append(read_event("a1c", "w1", kT0 + 3, "req-3"));
  REQUIRE(r);
  CHECK(r->first == 3);
  auto again = f.log->verify();
  REQUIRE(again);
  CHECK(again->ok());
}

TEMPLATE_TEST_CASE("audit: group commit under 64 concurrent writers", "[audit]",
                   AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  constexpr int kThreads = 64;
  constexpr int kPerThread = 200;
  std::vector<std::vector<std::uint64_t>> leaves(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = f.log->append(read_event("a1c" + std::to_string(t), "w" + std::to_string(t),
                                          kT0 + i, std::to_string(t) + "-" + std::to_string(i)));
        if (!r || r->count != 1) {
          ++failures;
          return;
        }
        leaves[static_cast<std::size_t>(t)].push_back(r->first);
      }
    });
  }
  for (auto& th : threads)
    th.join();
  REQUIRE(failures == 0);
  std::set<std::uint64_t> all;
  for (const auto& v : leaves) {
    // One thread's appends are ordered in the log as it made them.
    CHECK(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == std::size_t{kThreads} * kPerThread);  // unique
  CHECK(*all.begin() == 0);
  CHECK(*all.rbegin() == std::size_t{kThreads} * kPerThread - 1);  // dense
  CHECK(f.log->size() == std::size_t{kThreads} * kPerThread);
  // Every acknowledged event is there, with the bytes its writer sent.
  for (int t = 0; t < kThreads; t += 9) {
    for (int i = 0; i < kPerThread; i += 37) {
      auto e = f.log->event(leaves[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)]);
      REQUIRE(e);
      CHECK(e->event.request_id == std::to_string(t) + "-" + std::to_string(i));
    }
  }
  auto report = f.log->verify();
  REQUIRE(report);
  CHECK(report->ok());
}

TEMPLATE_TEST_CASE("audit: a failing commit fails every waiter of that batch and keeps nothing",
                   "[audit]", AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  std::atomic<bool> fail{false};
  f.options.inject_failure = [&](std::string_view step) {
    return step == "append.commit" && fail.load();
  };
  f.open();
  f.fill(5);
  fail = true;
  constexpr int kThreads = 16;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = f.log->append(read_event("a1c", "w1", kT0, "lost-" + std::to_string(t)));
      if (!r && r.error() == make_error_code(Errc::injected_failure)) ++errors;
    });
  }
  for (auto& th : threads)
    th.join();
  CHECK(errors == kThreads);
  CHECK(f.log->size() == 5);
  fail = false;
  auto r = f.log->append(read_event("a1c", "w1", kT0, "kept"));
  REQUIRE(r);
  CHECK(r->first == 5);  // the failed batches left no trace in the tree
  AuditQuery q;
  q.limit = 100;
  auto page = f.log->query(q);
  REQUIRE(page);
  CHECK(page->events.size() == 6);
  for (const auto& e : page->events)
    CHECK(e.event.request_id.rfind("lost-", 0) != 0);
  auto report = f.log->verify();
  REQUIRE(report);
  CHECK(report->ok());
}

TEMPLATE_TEST_CASE("audit: a read whose audit append fails is not answered", "[audit]",
                   AuditSqlCipherEngine, AuditPgEngine) {
  sluis::gateway::testing::StoreFixture s;
  s.add_sector();
  const auto pack = sluis::policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                                  "/policy/packs/brussels-welfare.toml")
                        .value();
  auto reg = s.registry().register_identified(
      "ocmw-brussel", sluis::crypto::IdentifierScheme::national_register, "85073003328");
  REQUIRE(reg);
  const ClientId client = s.registry().resolve("ocmw-brussel", reg->pseudonym).value();
  REQUIRE(s.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                    sluis::gateway::testing::fields_of({{"situation", "x"}})));
  TestType f;
  std::atomic<bool> fail{false};
  f.options.inject_failure = [&](std::string_view step) {
    return step == "append.commit" && fail.load();
  };
  f.open();
  const auto pseudonym = sluis::domain::audit_pseudonym(*s.store, client);
  const Instant now =
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  ReadRequest request{"ocmw-brussel", "w1", "care-coordination", std::nullopt};
  // The API layer's hook: append the decisions, durable, before any field opens.
  BeforeOpen hook = [&](std::span<const FragmentDecision> d,
                        std::string_view role) -> Result<void> {
    const ReadAuditContext ctx{
        now, request.partner_id, request.worker_id, request.purpose, pseudonym, "req-1"};
    auto r = f.log->append(audit_events_for_read(ctx, d, role));
    if (!r) return r.error();
    return {};
  };
  auto ok = read_dossier_for(*s.store, pack, client, request, now, hook);
  REQUIRE(ok);
  CHECK(ok->entries.size() == 1);
  CHECK(f.log->size() == 1);
  auto logged = f.log->event(0);
  REQUIRE(logged);
  CHECK(logged->event.client == pseudonym);
  CHECK(logged->event.client.rfind("a1", 0) == 0);
  CHECK(logged->event.decision == AuditDecision::permit);
  fail = true;
  auto refused = read_dossier_for(*s.store, pack, client, request, now, hook);
  CHECK_FALSE(refused);
  CHECK(f.log->size() == 1);
}

TEMPLATE_TEST_CASE("audit: changing, deleting or reordering a past event is detected and named",
                   "[audit]", AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  f.fill(20);
  REQUIRE(f.log->checkpoint());
  f.close();

  SECTION("changed bytes") {
    f.tamper(
        "UPDATE audit_event SET canonical = CAST(replace(CAST(canonical AS TEXT), "
        "'\"worker\":\"w1\"', '\"worker\":\"w9\"') AS BLOB), worker = 'w9' WHERE leaf = 7",
        "UPDATE audit_event SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), "
        "'\"worker\":\"w1\"', '\"worker\":\"w9\"'), 'UTF8'), worker = 'w9' WHERE leaf = 7");
    auto ro = f.open_read_only();
    auto report = ro->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
    REQUIRE(report->first_difference);
    CHECK(report->first_difference->leaf == 7);
    CHECK(report->first_difference->time == at_ms(kT0 + 7000));
  }
  SECTION("changed query columns only") {
    f.tamper("UPDATE audit_event SET client = 'a1other' WHERE leaf = 4",
             "UPDATE audit_event SET client = 'a1other' WHERE leaf = 4");
    auto report = f.open_read_only()->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
    REQUIRE(report->first_difference);
    CHECK(report->first_difference->leaf == 4);
  }
  SECTION("deleted event") {
    f.tamper("DELETE FROM audit_event WHERE leaf = 11", "DELETE FROM audit_event WHERE leaf = 11");
    auto report = f.open_read_only()->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
    REQUIRE(report->first_difference);
    CHECK(report->first_difference->leaf == 11);
    // The gateway refuses to append to it.
    auto reopened = f.try_open();
    CHECK(reopened.error() == make_error_code(Errc::audit_log_inconsistent));
  }
  SECTION("deleted event, later ones renumbered, tree rows rebuilt by the attacker") {
    f.tamper("DELETE FROM audit_event WHERE leaf = 3", "DELETE FROM audit_event WHERE leaf = 3");
    f.tamper("UPDATE audit_event SET leaf = leaf - 1 WHERE leaf > 3",
             "UPDATE audit_event SET leaf = leaf - 1 WHERE leaf > 3");
    f.tamper("DELETE FROM merkle_node", "DELETE FROM audit_merkle_node");
    auto report = f.open_read_only()->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
    REQUIRE(report->first_difference);
    CHECK(report->first_difference->leaf <= 3);
  }
  SECTION("deleted newest event") {
    f.tamper("DELETE FROM audit_event WHERE leaf = 19", "DELETE FROM audit_event WHERE leaf = 19");
    auto report = f.open_read_only()->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
    REQUIRE(report->first_difference);
    CHECK(report->first_difference->leaf == 19);
  }
  SECTION("two events swapped") {
    for (const char* sql : {"UPDATE audit_event SET leaf = -1 WHERE leaf = 13",
                            "UPDATE audit_event SET leaf = 13 WHERE leaf = 14",
                            "UPDATE audit_event SET leaf = 14 WHERE leaf = -1"}) {
      f.tamper(sql, sql);
    }
    auto report = f.open_read_only()->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
    REQUIRE(report->first_difference);
    CHECK(report->first_difference->leaf == 13);
    CHECK(report->first_difference->time == at_ms(kT0 + 14000));  // what now sits at #13
  }
  SECTION("a forged checkpoint") {
    f.tamper("UPDATE audit_checkpoint SET note = replace(note, 'sluis', 'sluiz')",
             "UPDATE audit_checkpoint SET note = replace(note, 'sluis', 'sluiz')");
    auto report = f.open_read_only()->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
  }
}

TEMPLATE_TEST_CASE("audit: checkpoints verify and an old one is proven consistent with a new one",
                   "[audit]", AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  f.fill(7);
  auto old_note = f.log->checkpoint();
  REQUIRE(old_note);
  const auto old_cp = parse_cp(*f.log, *old_note);
  CHECK(old_cp.size == 7);
  f.fill(10);
  auto new_note = f.log->checkpoint();
  REQUIRE(new_note);
  const auto new_cp = parse_cp(*f.log, *new_note);
  CHECK(new_cp.size == 17);
  // Witness view: the text verifier key is all a partner needs.
  const auto text_key = crypto::format_verifier_key(f.log->verifier_key());
  auto parsed_key = crypto::parse_verifier_key(text_key);
  REQUIRE(parsed_key);
  CHECK(crypto::open_note(*new_note, *parsed_key));
  // Another root key's log cannot pass for this one.
  auto other = crypto::SigningKey::from_subkey(
      crypto::derive_subkey(crypto::RootKey::random(), crypto::KeyPurpose::audit_signing));
  CHECK_FALSE(crypto::verify_checkpoint(*new_note, other.verifying_key(), f.log->origin(),
                                        f.log->origin()));

  auto proof = f.log->consistency_proof(old_cp.size, new_cp.size);
  REQUIRE(proof);
  CHECK(crypto::verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, *proof));
  auto tampered = *proof;
  tampered[0][0] ^= 1;
  CHECK_FALSE(
      crypto::verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, tampered));
  CHECK(f.log->consistency_proof(18, 17).error() == make_error_code(Errc::invalid_argument));
  CHECK(f.log->consistency_proof(1, 18).error() == make_error_code(Errc::invalid_argument));
  // The same size again returns the same checkpoint.
  auto same = f.log->checkpoint();
  REQUIRE(same);
  CHECK(*same == *new_note);
}

TEMPLATE_TEST_CASE("audit: checkpoints are issued at least every interval while events arrive",
                   "[audit]", AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  f.options.checkpoint_interval = 50ms;
  f.open();
  f.fill(1);
  std::this_thread::sleep_for(20ms);
  f.fill(1);
  std::this_thread::sleep_for(200ms);  // no new events: the writer signs what is pending
  auto cp = f.log->latest_checkpoint();
  REQUIRE(cp);
  CHECK(cp->size == 2);
  auto all = f.log->checkpoints();
  REQUIRE(all);
  CHECK(all->size() >= 2);
}

TEMPLATE_TEST_CASE("audit: inclusion proofs verify and fail when tampered", "[audit]",
                   AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  f.fill(13);
  const auto note = f.log->checkpoint();
  REQUIRE(note);
  const auto cp = parse_cp(*f.log, *note);
  for (std::uint64_t i = 0; i < cp.size; ++i) {
    auto proof = f.log->inclusion_proof(i, cp.size);
    REQUIRE(proof);
    auto ev = f.log->event(i);
    REQUIRE(ev);
    const auto leaf = crypto::leaf_hash(ev->canonical);
    CHECK(leaf == proof->leaf_hash);
    CHECK(crypto::verify_inclusion(leaf, i, cp.size, proof->path, cp.root));
    auto bad = proof->path;
    if (!bad.empty()) {
      bad.back()[5] ^= 0x40;
      CHECK_FALSE(crypto::verify_inclusion(leaf, i, cp.size, bad, cp.root));
    }
    auto other = ev->canonical;
    other[other.size() - 3] = 'X';
    CHECK_FALSE(
        crypto::verify_inclusion(crypto::leaf_hash(other), i, cp.size, proof->path, cp.root));
  }
  CHECK(f.log->inclusion_proof(13, 13).error() == make_error_code(Errc::invalid_argument));
  CHECK(f.log->inclusion_proof(0, 14).error() == make_error_code(Errc::invalid_argument));
}

TEMPLATE_TEST_CASE("audit: queries filter and page, the partner-scoped query never leaks",
                   "[audit]", AuditSqlCipherEngine, AuditPgEngine) {
  TestType f;
  std::vector<AuditEvent> events;
  for (int i = 0; i < 30; ++i) {
    const auto ms = kT0 + i * 60'000;
    const std::string req = "r" + std::to_string(i);
    switch (i % 3) {
    case 0: events.push_back(read_event("a1one", "w1", ms, req)); break;  // caw reads ocmw's
    case 1:
      events.push_back(
          read_event("a1two", "n1", ms, req, AuditDecision::deny, "thuiszorg", "mentaal"));
      break;
    default:
      events.push_back(
          read_event("a1one", "x1", ms, req, AuditDecision::permit, "elsewhere", "elsewhere"));
    }
  }
  REQUIRE(f.log->append(events));

  AuditQuery by_client;
  by_client.client = "a1one";
  by_client.limit = 7;
  auto page = f.log->query(by_client);
  REQUIRE(page);
  CHECK(page->events.size() == 7);
  REQUIRE(page->next);
  by_client.cursor = *page->next;
  auto rest = f.log->query_all(by_client);
  REQUIRE(rest);
  CHECK(page->events.size() + rest->size() == 20);
  for (const auto& e : *rest)
    CHECK(e.event.client == "a1one");

  AuditQuery denials;
  denials.decision = AuditDecision::deny;
  denials.worker = "n1";
  auto d = f.log->query_all(denials);
  REQUIRE(d);
  CHECK(d->size() == 10);

  AuditQuery window;
  window.from = at_ms(kT0 + 5 * 60'000);
  window.until = at_ms(kT0 + 8 * 60'000);
  auto w = f.log->query_all(window);
  REQUIRE(w);
  CHECK(w->size() == 3);

  for (const std::string partner :
       {"ocmw-brussel", "caw-brussel", "thuiszorg", "mentaal", "elsewhere", "nobody"}) {
    AuditQuery scoped;
    scoped.scope_partner = partner;
    auto s = f.log->query_all(scoped);
    REQUIRE(s);
    for (const auto& e : *s) {
      CHECK((e.event.partner == partner || e.event.owner_partner == partner));
      CHECK(e.event.client.empty());  // no cross-partner linkable pseudonym
      CHECK(e.canonical.empty());
    }
    if (partner == "nobody") CHECK(s->empty());
    if (partner == "ocmw-brussel") CHECK(s->size() == 10);
  }
  AuditQuery scoped_client;
  scoped_client.scope_partner = "caw-brussel";
  scoped_client.client = "a1two";
  auto none = f.log->query_all(scoped_client);
  REQUIRE(none);
  CHECK(none->empty());
  AuditQuery bad;
  bad.limit = 0;
  CHECK(f.log->query(bad).error() == make_error_code(Errc::invalid_argument));
}

TEST_CASE("audit: the log file is SQLCipher under the audit key and refuses other keys",
          "[audit]") {
  LogFixture f;
  f.fill(3);
  f.close();
  auto wrong = AuditLog::open(f.options, crypto::RootKey::random());
  CHECK(wrong.error() == make_error_code(Errc::database_key_mismatch));
  AuditLogOptions other_origin = f.options;
  other_origin.origin = "elsewhere.example/audit";
  CHECK(AuditLog::open(other_origin, f.root).error() ==
        make_error_code(Errc::audit_log_inconsistent));
  RawDb nokey(f.options.path, nullptr);
  CHECK(nokey.try_query("SELECT count(*) FROM sqlite_master") == SQLITE_NOTADB);
}

namespace {

/// Flips three bytes in the middle of page `number` (1-based) of `path`.
void flip_page(const std::filesystem::path& path, std::uint32_t number) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(file);
  file.seekp(static_cast<std::streamoff>((number - 1) * AuditFileCheck::kPageSize + 1000));
  file.write("\xde\xad\xbe", 3);
  REQUIRE(file);
}

/// The leaf page of the events table that holds `leaf`, from the page map.
AuditFilePage events_page_holding(const AuditFileCheck& check, std::uint64_t leaf) {
  for (const auto& p : check.map) {
    if (p.holds.find("index page above") != std::string::npos) continue;
    if (p.first_event && p.last_event && *p.first_event <= leaf && leaf <= *p.last_event) return p;
  }
  FAIL("no events page holds leaf " << leaf);
  return {};
}

}  // namespace

TEST_CASE("audit: a damaged page is named with the events it held; start-up refuses the pages "
          "it reads",
          "[audit][damage]") {
  LogFixture f;
  f.fill(300);
  REQUIRE(f.log->checkpoint());
  f.close();
  auto intact = check_audit_file(f.options.path, f.root, true);
  REQUIRE(intact);
  CHECK(intact->damaged.empty());
  CHECK(intact->map.size() == intact->pages);
  const auto middle = events_page_holding(*intact, 150);
  const auto newest = events_page_holding(*intact, 299);
  REQUIRE(middle.number != newest.number);
  const auto good = f.dir / "good.db";
  std::filesystem::copy_file(f.options.path, good);

  SECTION("a page in the middle of the events") {
    flip_page(f.options.path, middle.number);
    auto check = check_audit_file(f.options.path, f.root);
    REQUIRE(check);
    REQUIRE(check->damaged.size() == 1);
    CHECK(check->damaged[0].number == middle.number);
    CHECK(check->damaged[0].offset == (middle.number - 1) * AuditFileCheck::kPageSize);
    CHECK(check->damaged[0].first_event == middle.first_event);
    CHECK(check->damaged[0].last_event == middle.last_event);
    // Verify names it too, as the first difference, and does not fail as a storage error.
    auto report = f.open_read_only()->verify();
    REQUIRE(report);
    CHECK_FALSE(report->ok());
    REQUIRE(report->damaged_pages.size() == 1);
    CHECK(report->damaged_pages[0].number == middle.number);
    REQUIRE(report->first_difference);
    CHECK(report->first_difference->leaf == *middle.first_event);
  }
  SECTION("the newest events' page, which start-up reads") {
    flip_page(f.options.path, newest.number);
    auto opened = AuditLog::open(f.options, f.root);
    REQUIRE_FALSE(opened);
    CHECK(opened.error() == Errc::file_damaged);
  }
  SECTION("page 1: damage, not a wrong key") {
    flip_page(f.options.path, 1);
    auto opened = AuditLog::open(f.options, f.root);
    REQUIRE_FALSE(opened);
    CHECK(opened.error() == Errc::file_damaged);
    auto check = check_audit_file(f.options.path, f.root);
    REQUIRE(check);
    REQUIRE(check->damaged.size() == 1);
    CHECK(check->damaged[0].number == 1);
    // A wrong key is still told as such.
    std::filesystem::copy_file(good, f.options.path, std::filesystem::copy_options::overwrite_existing);
    auto other = AuditLog::open(f.options, crypto::RootKey::random());
    REQUIRE_FALSE(other);
    CHECK(other.error() == Errc::database_key_mismatch);
  }
  SECTION("the undamaged file opens and verifies") {
    f.open();
    auto report = f.log->verify();
    REQUIRE(report);
    CHECK(report->ok());
    CHECK(report->pages == intact->pages);
  }
}
