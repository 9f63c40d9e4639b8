// What several nodes on one PostgreSQL database share beyond the records: the rule pack and the
// revoked certificate serials (rows with a generation each, seen by another node at its next
// request and within a second by its listener), and the once-only lock under which one node
// sweeps the ends of break-the-glass grants onto the audit record.
#include "engines.hpp"

#include "sluis/audit/log.hpp"
#include "sluis/domain/break_glass_expiry.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <thread>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::domain {}
namespace sluis::audit {}
using namespace sluis::store;
using namespace sluis::domain;
using namespace sluis::audit;
using namespace sluis::gateway::testing;
using namespace std::chrono_literals;
using sluis::crypto::IdentifierScheme;
using sluis::pgstore::PgStorage;
using sluis::pgstore::StoredRulePack;

namespace {

using PgFixture = DomainFixture<PgEngine>;

/// Another node on the fixture's database (its own pool, caches and listener).
std::unique_ptr<PgStorage> node_on(const PgFixture& f, const char* name, bool listen) {
  auto options = f.options;
  options.inject_failure = {};
  options.application_name = name;
  options.listen_for_changes = listen;
  auto s = PgStorage::open(options, f.root);
  REQUIRE(s);
  return std::move(*s);
}

/// Waits up to `limit` for `done`; true when it came.
template <typename Done> bool within(std::chrono::milliseconds limit, Done&& done) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// What a node's watcher last saw of the rule pack (the watcher runs on other threads).
struct SeenPack {
  std::mutex mutex;
  std::string text;
  std::int64_t generation = 0;
  std::atomic<int> calls{0};

  void watch(PgStorage& node, std::int64_t known) {
    node.watch_rule_pack(
        [this](const StoredRulePack& p) {
          std::lock_guard lock(mutex);
          text = p.text;
          generation = p.generation;
          ++calls;
        },
        known);
  }
  std::string current() {
    std::lock_guard lock(mutex);
    return text;
  }
};

constexpr const char* kPackV1 = "# rule pack, first version\n";
constexpr const char* kPackV2 = "# rule pack, second version\n";

}  // namespace

TEST_CASE("postgresql: nodes starting together seed the rule pack and the revocation list "
          "without aborting each other",
          "[postgresql][nodes][shared]") {
  PgFixture f;
  auto node2 = node_on(f, "sluis-test-node-2", /*listen=*/false);
  RawPg raw(f.options.conninfo);
  // Each round starts from a new database's state: no pack stored yet. Two nodes start at the
  // same moment with the same files (sluisd's start: seed the pack, add the file's serials).
  for (int round = 0; round < 8; ++round) {
    raw.exec("DELETE FROM rule_pack");
    std::array<Result<StoredRulePack>, 2> seeded{make_error_code(Errc::storage_failure),
                                                 make_error_code(Errc::storage_failure)};
    std::array<Result<void>, 2> serials{make_error_code(Errc::storage_failure),
                                        make_error_code(Errc::storage_failure)};
    std::array<PgStorage*, 2> nodes{f.store.get(), node2.get()};
    std::atomic<int> ready{0};
    std::array<std::thread, 2> starts;
    for (std::size_t n = 0; n < 2; ++n) {
      starts[n] = std::thread([&, n] {
        ++ready;
        while (ready.load() < 2)
          std::this_thread::yield();
        seeded[n] = nodes[n]->seed_rule_pack(n == 0 ? kPackV1 : kPackV2, "sluisd:first-start");
        serials[n] = nodes[n]->add_revoked_serials({"0A1B2C", "3D4E5F"}, "");
      });
    }
    for (auto& t : starts)
      t.join();
    INFO("round " << round);
    REQUIRE(seeded[0]);
    REQUIRE(seeded[1]);
    CHECK(serials[0]);
    CHECK(serials[1]);
    // One of the two files won; both nodes run on the winner.
    CHECK(seeded[0]->text == seeded[1]->text);
    CHECK(seeded[0]->generation == seeded[1]->generation);
  }
  const auto stored = f.store->revoked_serials();
  REQUIRE(stored);
  CHECK(stored->size() == 2);
}

TEST_CASE("postgresql: a rule pack stored on one node is in force on another at its next "
          "request, and within a second without one",
          "[postgresql][nodes][shared]") {
  PgFixture f;
  f.add_sector();
  const auto first = f.store->seed_rule_pack(kPackV1, "sluisd:first-start");
  REQUIRE(first);
  auto quiet = node_on(f, "sluis-test-quiet", /*listen=*/false);
  auto listening = node_on(f, "sluis-test-listening", /*listen=*/true);
  SeenPack on_quiet;
  SeenPack on_listening;
  on_quiet.watch(*quiet, first->generation);
  on_listening.watch(*listening, first->generation);
  REQUIRE(Registry(*quiet).partner_table());
  CHECK(on_quiet.calls.load() == 0);  // nothing moved: nothing applied

  const auto second = f.store->store_rule_pack(kPackV2, "operator:test");
  REQUIRE(second);
  CHECK(second->generation == first->generation + 1);
  CHECK(second->loaded_by == "operator:test");
  // The node that does not listen has it by the time its next request's admission returns.
  CHECK(on_quiet.calls.load() == 0);
  REQUIRE(Registry(*quiet).partner_table());
  CHECK(on_quiet.calls.load() == 1);
  CHECK(on_quiet.current() == kPackV2);
  REQUIRE(Registry(*quiet).partner_table());
  CHECK(on_quiet.calls.load() == 1);  // once per stored pack
  // The listening node has it within a second, asked nothing.
  CHECK(within(1500ms, [&] { return on_listening.current() == kPackV2; }));
  CHECK(on_listening.calls.load() == 1);
  // A node starting now takes the stored pack, not its own file.
  const auto later = quiet->seed_rule_pack(kPackV1, "sluisd:first-start");
  REQUIRE(later);
  CHECK(later->text == kPackV2);
  CHECK(later->generation == second->generation);
  quiet->stop_watching();
  listening->stop_watching();
}

TEST_CASE("postgresql: a serial revoked on one node reaches another's revocation list at its "
          "next request, and within a second without one",
          "[postgresql][nodes][shared]") {
  PgFixture f;
  f.add_sector();
  auto quiet = node_on(f, "sluis-test-quiet", /*listen=*/false);
  auto listening = node_on(f, "sluis-test-listening", /*listen=*/true);
  std::mutex mutex;
  std::vector<std::string> on_quiet;
  std::vector<std::string> on_listening;
  auto seen = [&mutex](std::vector<std::string>& into) {
    return [&mutex, &into](const std::vector<std::string>& list) {
      std::lock_guard lock(mutex);
      into = list;
    };
  };
  auto holds = [&mutex](const std::vector<std::string>& list, const std::string& serial) {
    std::lock_guard lock(mutex);
    return std::find(list.begin(), list.end(), serial) != list.end();
  };
  REQUIRE(quiet->watch_revoked_serials(seen(on_quiet)));
  REQUIRE(listening->watch_revoked_serials(seen(on_listening)));
  CHECK_FALSE(holds(on_quiet, "7F00AA"));

  // The partner's revocation on the fixture's node stores its certificate's serial in the same
  // transaction as the revocation.
  REQUIRE(Registry(*f.store).revoke_partner("caw-brussel", "7F00AA"));
  REQUIRE(Registry(*quiet).partner_table());
  CHECK(holds(on_quiet, "7F00AA"));
  CHECK(within(1500ms, [&] { return holds(on_listening, "7F00AA"); }));
  // A serial that was there already changes nothing, and is not lost.
  REQUIRE(f.store->add_revoked_serials({"7F00AA"}, ""));
  const auto all = f.store->revoked_serials();
  REQUIRE(all);
  CHECK(std::count(all->begin(), all->end(), "7F00AA") == 1);
  quiet->stop_watching();
  listening->stop_watching();
}

TEST_CASE("postgresql: one node at a time holds the once-only lock, and another takes it when "
          "the holder goes",
          "[postgresql][nodes][shared]") {
  PgFixture f;
  auto a = node_on(f, "sluis-test-a", /*listen=*/true);
  auto b = node_on(f, "sluis-test-b", /*listen=*/true);
  auto holders = [&] {
    return int(f.store->holds_once_only_lock()) + int(a->holds_once_only_lock()) +
           int(b->holds_once_only_lock());
  };
  REQUIRE(within(3s, [&] { return holders() == 1; }));
  // Never two, for a while.
  for (int i = 0; i < 20; ++i) {
    CHECK(holders() <= 1);
    std::this_thread::sleep_for(50ms);
  }
  // The holder goes (its session ends): another node holds it within seconds.
  if (f.store->holds_once_only_lock()) {
    f.close();
    REQUIRE(within(3s, [&] { return a->holds_once_only_lock() || b->holds_once_only_lock(); }));
    CHECK(int(a->holds_once_only_lock()) + int(b->holds_once_only_lock()) == 1);
  } else {
    auto& holder = a->holds_once_only_lock() ? a : b;
    auto& other = a->holds_once_only_lock() ? b : a;
    holder.reset();
    REQUIRE(within(
        3s, [&] { return other->holds_once_only_lock() || f.store->holds_once_only_lock(); }));
    CHECK(int(other->holds_once_only_lock()) + int(f.store->holds_once_only_lock()) == 1);
  }
}

TEST_CASE("postgresql: two nodes sweeping break-the-glass ends record each end once",
          "[postgresql][nodes][shared][break-glass]") {
  PgFixture f;
  f.add_sector();
  auto b = node_on(f, "sluis-test-b", /*listen=*/true);
  auto reg =
      f.registry().register_identified("ocmw-brussel", IdentifierScheme::case_number, "bg-1");
  REQUIRE(reg);
  const auto client = f.registry().resolve("ocmw-brussel", reg->pseudonym).value();
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  for (int g = 0; g < 3; ++g) {
    BreakGlassGrant grant;
    grant.client = client;
    grant.partner_id = "caw-brussel";
    grant.worker_id = "w1";
    grant.categories = {"contact"};
    grant.reason = "client unresponsive at home";
    grant.starts_at = now - 2h;
    grant.expires_at = now - 1h + std::chrono::minutes(g);
    REQUIRE(ConsentBook(f.storage()).grant_break_glass(std::move(grant)));
  }
  // Both nodes wait for the lock to settle on one of them, as sluisd's start does not: the
  // sweepers tick every 20 ms from the start, so a node that swept without the lock would
  // record the ends a second time.
  REQUIRE(within(3s, [&] {
    return int(f.store->holds_once_only_lock()) + int(b->holds_once_only_lock()) == 1;
  }));
  TempDir dir;
  AuditLogOptions o;
  o.path = dir / "audit.db";
  o.origin = "test/audit";
  auto audit = AuditLog::open(o, f.root).value();
  {
    BreakGlassExpirySweeper on_a(f.storage(), *audit, 20ms, {},
                                 [&] { return f.store->holds_once_only_lock(); });
    BreakGlassExpirySweeper on_b(*b, *audit, 20ms, {}, [&] { return b->holds_once_only_lock(); });
    REQUIRE(within(3s, [&] { return audit->size() >= 3; }));
    std::this_thread::sleep_for(300ms);  // a dozen more ticks on each node
  }
  CHECK(audit->size() == 3);
  for (std::uint64_t i = 0; i < audit->size(); ++i) {
    CHECK(audit->event(i).value().event.action == AuditAction::break_glass_expiry);
  }
}
