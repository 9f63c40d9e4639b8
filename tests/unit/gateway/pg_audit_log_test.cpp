// The audit log on PostgreSQL across nodes: dense global indices, one integrator at a time and
// its take-over, integration after a crash, and the answer for a leaf not yet integrated.
#include "gateway_fixture.hpp"
#include "pg_fixture.hpp"

#include "sluis/audit/log.hpp"
#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/pgaudit/pg_audit_log.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

using namespace sluis::audit;
using sluis::gateway::testing::PgServer;
using sluis::gateway::testing::RawPg;
using sluis::pgaudit::PgAuditLogOptions;
using sluis::store::Errc;
using sluis::store::Instant;
namespace crypto = sluis::crypto;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kT0 = 1740787200000;  // 2025-03-01T00:00:00Z

AuditEvent event_at(std::int64_t ms, std::string request, std::string_view worker = "w1") {
  AuditEvent e;
  e.time = Instant(std::chrono::milliseconds(ms));
  e.partner = "caw-brussel";
  e.worker = worker;
  e.role = "social-worker";
  e.action = AuditAction::read;
  e.client = "a1client";
  e.categories = {"housing"};
  e.purpose = "care-coordination";
  e.decision = AuditDecision::permit;
  e.rule = "consent.active:c1";
  e.request_id = std::move(request);
  e.owner_partner = "ocmw-brussel";
  return e;
}

/// One database and the root key every node of it shares; node() opens one more "node".
struct Nodes {
  crypto::RootKey root = crypto::RootKey::random();
  std::string conninfo = PgServer::instance().new_database();

  [[nodiscard]] PgAuditLogOptions options(const std::string& name) const {
    PgAuditLogOptions o;
    o.database.conninfo = conninfo;
    o.database.application_name = name;
    o.integrator_poll = 50ms;
    o.checkpoint_interval = 100ms;
    return o;
  }
  std::unique_ptr<AuditLog> node(const std::string& name) const { return node(options(name)); }
  std::unique_ptr<AuditLog> node(PgAuditLogOptions o) const {
    auto l = sluis::pgaudit::open_pg_audit_log(std::move(o), root);
    REQUIRE(l);
    return std::move(*l);
  }
  /// The application_name of the session holding the integrator lock ("" when none does).
  [[nodiscard]] std::string integrator() const {
    RawPg raw(conninfo);
    auto rows = raw.column(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND "
        "((l.classid::bigint << 32) | l.objid::bigint) = " +
        std::to_string(sluis::pgaudit::kIntegratorLock));
    if (rows.empty()) return {};
    return std::string(rows[0].begin(), rows[0].end());
  }
  /// Waits (up to 10 s) until `pred` holds.
  template <class Pred> static bool eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
};

std::uint64_t tree_size(const std::string& conninfo) {
  RawPg raw(conninfo);
  auto rows = raw.column("SELECT size::text FROM audit_tree");
  REQUIRE(rows.size() == 1);
  return std::stoull(std::string(rows[0].begin(), rows[0].end()));
}

}  // namespace

TEST_CASE("postgresql: audit: two nodes appending at once get dense global indices and one tree",
          "[postgresql][audit]") {
  Nodes db;
  auto a = db.node("node-a");
  auto b = db.node("node-b");
  constexpr int kThreadsPerNode = 8;
  constexpr int kPerThread = 60;
  std::atomic<int> failures{0};
  std::vector<std::vector<std::uint64_t>> leaves(2 * kThreadsPerNode);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerNode; ++t) {
    AuditLog& log = t % 2 == 0 ? *a : *b;
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = log.append(event_at(kT0 + i, std::to_string(t) + "-" + std::to_string(i)));
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
  constexpr std::uint64_t kAll = 2 * kThreadsPerNode * kPerThread;
  std::set<std::uint64_t> all;
  for (const auto& v : leaves) {
    CHECK(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == kAll);  // unique across the nodes
  CHECK(*all.begin() == 0);
  CHECK(*all.rbegin() == kAll - 1);  // dense
  // Every event is readable from both nodes, with the bytes its writer sent.
  for (int t = 0; t < 2 * kThreadsPerNode; t += 5) {
    const auto leaf = leaves[static_cast<std::size_t>(t)][17];
    for (AuditLog* log : {a.get(), b.get()}) {
      auto e = log->event(leaf);
      REQUIRE(e);
      CHECK(e->event.request_id == std::to_string(t) + "-17");
    }
  }
  // One tree: a checkpoint covering everything, signed once for both, proves every leaf.
  auto note = b->checkpoint();
  REQUIRE(note);
  auto cp = crypto::verify_checkpoint(*note, a->verifier_key().key, a->origin(), a->origin());
  REQUIRE(cp);
  CHECK(cp->size == kAll);
  CHECK(a->verifier_key().key == b->verifier_key().key);
  for (std::uint64_t leaf : {std::uint64_t{0}, kAll / 2, kAll - 1}) {
    auto proof = a->inclusion_proof(leaf, kAll);
    REQUIRE(proof);
    auto e = b->event(leaf);
    REQUIRE(e);
    CHECK(crypto::verify_inclusion(crypto::leaf_hash(e->canonical), leaf, kAll, proof->path,
                                   cp->root));
  }
  CHECK(tree_size(db.conninfo) == kAll);
  for (AuditLog* log : {a.get(), b.get()}) {
    auto report = log->verify();
    REQUIRE(report);
    INFO((report->problems.empty() ? std::string() : report->problems.front()));
    CHECK(report->ok());
    CHECK(report->events == kAll);
    CHECK(report->root == cp->root);
  }
  // Exactly one of the two holds the integrator lock.
  const auto holder = db.integrator();
  CHECK((holder == "node-a" || holder == "node-b"));
}

TEST_CASE("postgresql: audit: when the integrator goes, the other node takes over",
          "[postgresql][audit]") {
  Nodes db;
  auto a = db.node("node-a");
  REQUIRE(Nodes::eventually([&] { return db.integrator() == "node-a"; }));
  auto b = db.node("node-b");
  for (int i = 0; i < 20; ++i)
    REQUIRE(b->append(event_at(kT0 + i, "first-" + std::to_string(i))));
  REQUIRE(Nodes::eventually([&] { return tree_size(db.conninfo) == 20; }));
  CHECK(db.integrator() == "node-a");  // b sequenced, a integrated

  SECTION("its session is killed (pg_terminate_backend)") {
    RawPg raw(db.conninfo);
    raw.exec("SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' "
             "AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = " +
             std::to_string(sluis::pgaudit::kIntegratorLock));
    REQUIRE(Nodes::eventually([&] { return !db.integrator().empty(); }));
    for (int i = 0; i < 20; ++i)
      REQUIRE(b->append(event_at(kT0 + 100 + i, "second-" + std::to_string(i))));
    REQUIRE(Nodes::eventually([&] { return tree_size(db.conninfo) == 40; }));
    // a reconnects as a follower or takes the lock back; either way there is one holder and
    // the tree is whole.
    const auto holder = db.integrator();
    CHECK((holder == "node-a" || holder == "node-b"));
  }
  SECTION("its node is closed") {
    a.reset();
    REQUIRE(Nodes::eventually([&] { return db.integrator() == "node-b"; }));
    for (int i = 0; i < 20; ++i)
      REQUIRE(b->append(event_at(kT0 + 100 + i, "second-" + std::to_string(i))));
    REQUIRE(Nodes::eventually([&] { return tree_size(db.conninfo) == 40; }));
  }
  auto note = b->checkpoint();
  REQUIRE(note);
  auto cp = crypto::verify_checkpoint(*note, b->verifier_key().key, b->origin(), b->origin());
  REQUIRE(cp);
  CHECK(cp->size == 40);
  auto report = b->verify();
  REQUIRE(report);
  INFO((report->problems.empty() ? std::string() : report->problems.front()));
  CHECK(report->ok());
  CHECK(report->events == 40);
}

TEST_CASE("postgresql: audit: events sequenced but never integrated (a crash between the two) "
          "are integrated on the next open",
          "[postgresql][audit]") {
  Nodes db;
  {
    // A node whose integrator never runs: as if it crashed after each sequencing commit.
    auto o = db.options("crashing");
    o.inject_failure = [](std::string_view step) { return step == "integrate"; };
    o.integration_wait = 300ms;
    auto crashing = db.node(o);
    for (int i = 0; i < 25; ++i)
      REQUIRE(crashing->append(event_at(kT0 + i, "r" + std::to_string(i))));
    CHECK(crashing->size() == 25);
    // Durable and queryable before integration.
    auto e = crashing->event(24);
    REQUIRE(e);
    CHECK(e->event.request_id == "r24");
    AuditQuery q;
    auto page = crashing->query(q);
    REQUIRE(page);
    CHECK(page->events.size() == 25);
    // A proof of a sequenced leaf waits for integration, then answers busy (retry).
    const auto started = std::chrono::steady_clock::now();
    auto proof = crashing->inclusion_proof(3, 25);
    REQUIRE_FALSE(proof);
    CHECK(proof.error() == Errc::busy);
    CHECK(std::chrono::steady_clock::now() - started >= 300ms);
    // A size never sequenced is refused at once, as on SQLCipher.
    CHECK(crashing->inclusion_proof(3, 26).error() == Errc::invalid_argument);
    // The crashed state as a verifier sees it: sequenced rows, no tree yet, nothing wrong.
    auto report = crashing->verify();
    REQUIRE(report);
    CHECK(report->ok());
    CHECK(report->events == 25);
  }
  CHECK(tree_size(db.conninfo) == 0);
  auto next = db.node("restarted");
  REQUIRE(Nodes::eventually([&] { return tree_size(db.conninfo) == 25; }));
  auto proof = next->inclusion_proof(3, 25);
  REQUIRE(proof);
  auto note = next->checkpoint();
  REQUIRE(note);
  auto cp =
      crypto::verify_checkpoint(*note, next->verifier_key().key, next->origin(), next->origin());
  REQUIRE(cp);
  CHECK(cp->size == 25);
  auto e = next->event(3);
  REQUIRE(e);
  CHECK(crypto::verify_inclusion(crypto::leaf_hash(e->canonical), 3, 25, proof->path, cp->root));
  auto report = next->verify();
  REQUIRE(report);
  CHECK(report->ok());
}

TEST_CASE("postgresql: audit: an integrated event's bytes altered in the database are named by "
          "verify, and a node refuses a tree row that does not match the stored tree",
          "[postgresql][audit]") {
  Nodes db;
  {
    auto a = db.node("node-a");
    for (int i = 0; i < 12; ++i)
      REQUIRE(a->append(event_at(kT0 + i * 1000, "r" + std::to_string(i))));
    REQUIRE(a->checkpoint());
  }
  RawPg raw(db.conninfo);
  raw.exec("UPDATE audit_event SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), "
           "'\"r5\"', '\"rX\"'), 'UTF8') WHERE leaf = 5");
  auto ro_options = db.options("sluisctl");
  ro_options.read_only = true;
  ro_options.origin.clear();
  auto ro = db.node(ro_options);
  auto report = ro->verify();
  REQUIRE(report);
  CHECK_FALSE(report->ok());
  REQUIRE(report->first_difference);
  CHECK(report->first_difference->leaf == 5);
  CHECK(report->first_difference->time == Instant(std::chrono::milliseconds(kT0 + 5000)));
  // The tree rewritten to match the altered event does not match the signed checkpoint.
  raw.exec("UPDATE audit_tree SET root = sha256(''::bytea)");
  auto refused = sluis::pgaudit::open_pg_audit_log(db.options("node-b"), db.root);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Errc::audit_log_inconsistent);
}
