// Several nodes on one PostgreSQL database: a domain rule checked and then written holds when
// two nodes write at once (the check is inside the SERIALIZABLE write), and an erasure or a link
// on one node makes the others drop their copies of client data — by the generation every
// request reads, and earlier by LISTEN/NOTIFY.
#include "engines.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/domain/card_replacement.hpp"

#include <atomic>
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

/// Another node on the fixture's database: its own PgStorage (pool, caches, listener), without
/// the fixture's fault hooks.
std::unique_ptr<sluis::pgstore::PgStorage> other_node(const PgFixture& f, bool listen = true) {
  auto options = f.options;
  options.inject_failure = {};
  options.application_name = "sluis-test-node-2";
  options.listen_for_changes = listen;
  auto s = sluis::pgstore::PgStorage::open(options, f.root);
  REQUIRE(s);
  return std::move(*s);
}

ClientId register_case(PgFixture& f, std::string_view partner, std::string_view id) {
  auto reg = f.registry();
  auto r = reg.register_identified(partner, IdentifierScheme::case_number, id);
  REQUIRE(r);
  return reg.resolve(partner, r->pseudonym).value();
}

/// The pseudonym a new card gives `service`.
std::string card_pseudonym(std::string_view service) {
  return sluis::crypto::service_pseudonym(sluis::crypto::new_card_secret(), service);
}

/// The current versions of the client's fragments, as a reader on the fixture's node sees them.
std::size_t current_versions(PgFixture& f, const ClientId& client) {
  auto current = f.dossiers().list_current(client);
  REQUIRE(current);
  return current->size();
}

}  // namespace

TEST_CASE("postgresql: two nodes superseding one version at once leave one current version",
          "[postgresql][nodes][concurrency]") {
  PgFixture f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "fork-1");
  auto v1 = f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                      fields_of({{"situation", "v1"}}));
  REQUIRE(v1);
  auto node2 = other_node(f);
  // Node 1 stops after its checks (v1 is current, it is the owner) and before its write; node 2
  // supersedes v1 meanwhile, to the end. Then node 1 writes. Its checks and its write are one
  // SERIALIZABLE transaction, so node 1 fails busy as a whole (before, with the checks in a read
  // snapshot of their own, only the store's conditional mark of v1 stopped it).
  f.close();
  Result<FragmentMeta> other = make_error_code(Errc::storage_failure);
  bool interleaved = false;
  f.options.inject_failure = [&](std::string_view step) {
    if (step == "supersede.checked" && !interleaved) {
      interleaved = true;
      other = Dossiers(*node2).supersede(v1->id, "ocmw-brussel", "w1",
                                         fields_of({{"situation", "v2 from node 2"}}));
    }
    return false;
  };
  f.reopen();
  auto mine = f.dossiers().supersede(v1->id, "ocmw-brussel", "w1",
                                     fields_of({{"situation", "v2 from node 1"}}));
  REQUIRE(interleaved);
  REQUIRE(other);
  REQUIRE_FALSE(mine);
  CHECK(mine.error() == Errc::busy);  // 503 at the API: the caller tries again ...
  // ... and is then told that v1 is no longer current.
  auto again = f.dossiers().supersede(v1->id, "ocmw-brussel", "w1",
                                      fields_of({{"situation", "v2 from node 1"}}));
  REQUIRE_FALSE(again);
  CHECK(again.error() == Errc::conflict);
  CHECK(current_versions(f, client) == 1);
  auto all = [](const FragmentMeta&) { return true; };
  auto read = Dossiers(*node2).read_dossier(client, "ocmw-brussel", all);
  REQUIRE(read);
  REQUIRE(read->size() == 1);
  CHECK(text_of(read->at(0).fields.at(0).value) == "v2 from node 2");
}

TEST_CASE("postgresql: two nodes writing one client's dossier from two threads never fork it",
          "[postgresql][nodes][concurrency]") {
  PgFixture f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "fork-2");
  auto first = f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                         fields_of({{"situation", "v1"}}));
  REQUIRE(first);
  auto node2 = other_node(f);
  FragmentId current = first->id;
  std::uint32_t version = 1;
  int busy = 0;
  for (int round = 0; round < 12; ++round) {
    // Both nodes try to supersede the current version at the same moment.
    Result<FragmentMeta> a = make_error_code(Errc::storage_failure);
    Result<FragmentMeta> b = make_error_code(Errc::storage_failure);
    std::atomic<int> ready{0};
    auto go = [&ready] {
      ++ready;
      while (ready.load() < 2)
        std::this_thread::yield();
    };
    std::thread t1([&] {
      go();
      a = Dossiers(f.storage())
              .supersede(current, "ocmw-brussel", "w1", fields_of({{"situation", "node 1"}}));
    });
    std::thread t2([&] {
      go();
      b = Dossiers(*node2).supersede(current, "ocmw-brussel", "w1",
                                     fields_of({{"situation", "node 2"}}));
    });
    t1.join();
    t2.join();
    // At most one succeeded; the other was refused (busy: try again; conflict: not current).
    INFO("round " << round);
    CHECK_FALSE((a && b));
    for (const auto* r : {&a, &b}) {
      if (!*r) {
        CHECK((r->error() == Errc::busy || r->error() == Errc::conflict));
        if (r->error() == Errc::busy) ++busy;
      }
    }
    const auto* winner = a ? &a : (b ? &b : nullptr);
    if (winner != nullptr) {
      current = (*winner)->id;
      ++version;
      CHECK((*winner)->version == version);
    }
    REQUIRE(current_versions(f, client) == 1);
  }
  // The versions form one chain: as many versions as successful supersedes, one current.
  RawPg raw(f.options.conninfo);
  CHECK(raw.column("SELECT 1 FROM fragments").size() == version);
  CHECK(raw.column("SELECT 1 FROM fragments WHERE superseded_by IS NULL").size() == 1);
  WARN("refused busy in " << busy << " of 12 rounds");
}

TEST_CASE("postgresql: two nodes replacing one lost card at once leave one card in force",
          "[postgresql][nodes][concurrency]") {
  PgFixture f;
  f.add_sector();
  const auto card = card_pseudonym("shelter-north");
  auto reg = f.registry().register_anonymous("shelter-north", card);
  REQUIRE(reg);
  auto node2 = other_node(f);
  const auto new_on_1 = card_pseudonym("shelter-north");
  const auto new_on_2 = card_pseudonym("shelter-north");
  f.close();
  Result<Registration> other = make_error_code(Errc::storage_failure);
  bool interleaved = false;
  f.options.inject_failure = [&](std::string_view step) {
    if (step == "replace_lost_card.checked" && !interleaved) {
      interleaved = true;
      other = replace_lost_card(*node2, "shelter-north", reg->pseudonym, new_on_2, {});
    }
    return false;
  };
  f.reopen();
  auto mine = replace_lost_card(f.storage(), "shelter-north", reg->pseudonym, new_on_1, {});
  REQUIRE(interleaved);
  REQUIRE(other);
  REQUIRE_FALSE(mine);
  CHECK(mine.error() == Errc::busy);
  // The card node 2 acknowledged is the one in force (with the checks before the write, node 1
  // went on, retired it and issued its own: an acknowledged replacement silently undone).
  RawPg raw(f.options.conninfo);
  CHECK(raw.column("SELECT 1 FROM service_pseudonyms WHERE retired_at IS NULL").size() == 1);
  auto by_new_card = f.registry().register_anonymous("shelter-north", new_on_2);
  REQUIRE(by_new_card);
  CHECK(by_new_card->existing);
  CHECK(by_new_card->pseudonym == reg->pseudonym);
  CHECK(f.registry().register_anonymous("shelter-north", card).error() == Errc::card_replaced);
}

TEST_CASE("postgresql: an erasure on one node drops the other node's copies before its next "
          "request goes on, without LISTEN",
          "[postgresql][nodes][caches]") {
  PgFixture f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "erase-1");
  REQUIRE(f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"situation", "cached on node 2"}})));
  auto node2 = other_node(f, /*listen=*/false);
  std::atomic<int> dropped{0};
  node2->watch_dropped_clients([&dropped] { ++dropped; });
  auto all = [](const FragmentMeta&) { return true; };
  // Node 2 reads (its data-key cache now holds the client's key); its request's admission
  // reads the generations, as every request does.
  REQUIRE(Registry(*node2).partner_table());
  REQUIRE(Dossiers(*node2).read_dossier(client, "ocmw-brussel", all).value().size() == 1);
  REQUIRE(Registry(*node2).partner_table());
  CHECK(dropped.load() == 0);  // nothing changed: nothing dropped
  REQUIRE(f.registry().erase_client(client));
  // No notification reaches node 2 (it does not listen): its next request's first look-up
  // reads the new generation and drops before it returns.
  REQUIRE(Registry(*node2).partner_table());
  CHECK(dropped.load() == 1);
  REQUIRE(Registry(*node2).partner_table());
  CHECK(dropped.load() == 1);  // once per change
  CHECK(Dossiers(*node2).read_dossier(client, "ocmw-brussel", all).error() == Errc::not_found);
}

TEST_CASE("postgresql: an erasure or a link on one node reaches a listening node without a "
          "request",
          "[postgresql][nodes][caches]") {
  PgFixture f;
  f.add_sector();
  auto node2 = other_node(f, /*listen=*/true);
  std::atomic<int> dropped{0};
  node2->watch_dropped_clients([&dropped] { ++dropped; });
  auto wait_for = [&dropped](int n) {
    for (int i = 0; i < 500 && dropped.load() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return dropped.load() >= n;
  };
  const auto client = register_case(f, "ocmw-brussel", "erase-2");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(dropped.load() == 0);  // a registration is no reason to drop anything
  REQUIRE(f.registry().erase_client(client));
  CHECK(wait_for(1));  // within 5 s, node 2 not asked anything
  // A link folds one client into another: the absorbed client's copies go too.
  const auto secret = sluis::crypto::new_card_secret();
  const auto card = sluis::crypto::service_pseudonym(secret, "shelter-north");
  const auto own = sluis::crypto::service_pseudonym(secret, "daycentre-south");
  REQUIRE(f.registry().register_anonymous("shelter-north", card));
  REQUIRE(f.registry().register_anonymous("daycentre-south", own));
  REQUIRE(f.registry().link("daycentre-south", own, "shelter-north", card, "ref-1"));
  CHECK(wait_for(2));
  // A rolled-back erasure sends nothing.
  const int before = dropped.load();
  const auto kept = register_case(f, "ocmw-brussel", "erase-3");
  f.close();
  f.options.inject_failure = [](std::string_view step) { return step == "erase.after_tombstone"; };
  f.reopen();
  REQUIRE_FALSE(f.registry().erase_client(kept));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(dropped.load() == before);
}
