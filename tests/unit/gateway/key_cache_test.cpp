// Data-key cache tests: bounded LRU, zeroised slots, invalidation on erasure, rotation and restore.
#include "gateway_fixture.hpp"

#include <algorithm>
#include <cstdint>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
using namespace sluis::gateway::testing;
using sluis::crypto::DataKey;
using sluis::crypto::DataKeyVersion;
using sluis::crypto::IdentifierScheme;

namespace {

ClientId register_case(StoreFixture& f, std::string_view partner, std::string_view id) {
  auto reg = f.registry();
  auto r = reg.register_identified(partner, IdentifierScheme::case_number, id);
  REQUIRE(r);
  return reg.resolve(partner, r->pseudonym).value();
}

/// A loader that fills the slot with `byte` and records whether the slot arrived zeroised.
struct FillWith {
  std::uint8_t byte;
  bool* arrived_zero = nullptr;
  Result<void> operator()(DataKey& out) const {
    auto bytes = out.reveal_mut();
    if (arrived_zero != nullptr) {
      *arrived_zero = std::all_of(bytes.begin(), bytes.end(), [](auto b) { return b == 0; });
    }
    std::fill(bytes.begin(), bytes.end(), byte);
    return {};
  }
};

bool all_zero(const std::uint8_t* p) {
  return std::all_of(p, p + DataKey::size(), [](auto b) { return b == 0; });
}

const auto kAll = [](const FragmentMeta&) { return true; };

}  // namespace

TEST_CASE("the key cache holds at most its capacity and evicts the least recently used",
          "[store][key-cache]") {
  DataKeyCache cache(3);
  const auto a = ClientId::random();
  const auto b = ClientId::random();
  for (const auto& c : {a, b}) {
    for (std::uint32_t v : {1U, 2U}) {
      REQUIRE(cache.get(c, "housing", DataKeyVersion{v}, FillWith{0x11}));
    }
  }
  // Four keys through a cache of three: the first (a, v1) went.
  CHECK(cache.stats().size == 3);
  CHECK(cache.stats().capacity == 3);
  CHECK(cache.stats().misses == 4);
  CHECK(cache.find(a, "housing", DataKeyVersion{1}) == nullptr);
  // Touch (a, v2); the next insertion evicts (b, v1), now the least recently used.
  REQUIRE(cache.find(a, "housing", DataKeyVersion{2}) != nullptr);
  REQUIRE(cache.get(a, "income", DataKeyVersion{1}, FillWith{0x22}));
  CHECK(cache.find(b, "housing", DataKeyVersion{1}) == nullptr);
  CHECK(cache.find(a, "housing", DataKeyVersion{2}) != nullptr);
  CHECK(cache.find(b, "housing", DataKeyVersion{2}) != nullptr);
  const auto* k = cache.find(a, "income", DataKeyVersion{1});
  REQUIRE(k != nullptr);
  CHECK(k->reveal()[0] == 0x22);
  // Names are exact: another category, version or client is another key.
  CHECK(cache.find(a, "incomes", DataKeyVersion{1}) == nullptr);
  CHECK(cache.find(b, "income", DataKeyVersion{1}) == nullptr);
  CHECK(cache.stats().size == 3);
  // A capacity of zero is taken as one: the cache still works, holding a single key.
  DataKeyCache tiny(0);
  CHECK(tiny.stats().capacity == 1);
  REQUIRE(tiny.get(a, "housing", DataKeyVersion{1}, FillWith{0x33}));
  REQUIRE(tiny.get(b, "housing", DataKeyVersion{1}, FillWith{0x44}));
  CHECK(tiny.stats().size == 1);
  CHECK(tiny.find(a, "housing", DataKeyVersion{1}) == nullptr);
}

TEST_CASE("key cache slots are zeroised when evicted, cleared or a load fails",
          "[store][key-cache]") {
  DataKeyCache cache(1);
  const auto a = ClientId::random();
  const auto b = ClientId::random();
  auto first = cache.get(a, "health", DataKeyVersion{1}, FillWith{0xAB});
  REQUIRE(first);
  const std::uint8_t* slot = (*first)->reveal().data();
  CHECK(slot[0] == 0xAB);
  // Eviction: the one slot is wiped before the next key is loaded into it.
  bool arrived_zero = false;
  auto second = cache.get(b, "health", DataKeyVersion{1}, FillWith{0xCD, &arrived_zero});
  REQUIRE(second);
  CHECK(arrived_zero);
  CHECK((*second)->reveal().data() == slot);  // the slot is reused, not reallocated
  // clear(): the bytes are zero in place.
  cache.clear();
  CHECK(all_zero(slot));
  CHECK(cache.stats().size == 0);
  CHECK(cache.find(b, "health", DataKeyVersion{1}) == nullptr);
  // A failed load returns its error and leaves nothing behind, not even partial bytes.
  auto failed = cache.get(a, "health", DataKeyVersion{2}, [](DataKey& out) -> Result<void> {
    out.reveal_mut()[0] = 0xEE;
    return make_error_code(Errc::key_unavailable);
  });
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == Errc::key_unavailable);
  CHECK(all_zero(slot));
  CHECK(cache.stats().size == 0);
  CHECK(cache.find(a, "health", DataKeyVersion{2}) == nullptr);
}

TEST_CASE("clear_everywhere empties every cache in the process", "[store][key-cache]") {
  DataKeyCache one(4);
  DataKeyCache other(4);
  const auto c = ClientId::random();
  REQUIRE(one.get(c, "housing", DataKeyVersion{1}, FillWith{1}));
  auto kept = other.get(c, "housing", DataKeyVersion{1}, FillWith{2});
  REQUIRE(kept);
  const std::uint8_t* other_slot = (*kept)->reveal().data();
  one.clear_everywhere();
  CHECK(one.stats().size == 0);
  // The other cache clears itself (zeroising) before it answers its next lookup.
  CHECK(other.find(c, "housing", DataKeyVersion{1}) == nullptr);
  CHECK(all_zero(other_slot));
  CHECK(other.stats().clears == 1);
}

TEST_CASE("dossier reads hit the key cache and fetch only permitted fragments' keys",
          "[dossiers][read][key-cache]") {
  StoreFixture f;
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "c1");
  auto d = f.dossiers();
  for (const char* category : {"housing", "mental-health", "income", "case-note", "housing"}) {
    REQUIRE(d.add_fragment(client, "ocmw-brussel", "w1", category, fields_of({{"n", category}})));
  }
  f.reopen();  // start from an empty cache
  auto d2 = f.dossiers();
  auto deny_mental = [](const FragmentMeta& m) { return m.category != "mental-health"; };
  auto first = d2.read_dossier(client, "ocmw-brussel", deny_mental);
  REQUIRE(first);
  CHECK(first->size() == 4);
  auto stats = f.store->data_key_cache_stats();
  CHECK(stats.misses == 3);  // housing, income, case-note: never mental-health's key
  CHECK(stats.size == 3);
  auto second = d2.read_dossier(client, "ocmw-brussel", deny_mental);
  REQUIRE(second);
  stats = f.store->data_key_cache_stats();
  CHECK(stats.misses == 3);
  CHECK(stats.hits >= 4);
  CHECK(text_of(second->at(3).fields.at(0).value) == "housing");
}

TEST_CASE("a one-key cache still assembles a many-category dossier in order",
          "[dossiers][read][key-cache]") {
  StoreFixture f;
  f.options.data_key_cache_size = 0;  // taken as 1: every category change evicts
  f.reopen();
  f.add_sector();
  const auto client = register_case(f, "ocmw-brussel", "c1");
  const auto other = register_case(f, "ocmw-brussel", "c2");
  // 70 fragments (more than one field batch of 64), categories interleaved, with another
  // client's fragments in between so the seqs are not contiguous.
  constexpr const char* kCategories[] = {"housing", "income", "health", "case-note"};
  std::vector<NewFragment> bulk;
  std::vector<std::string> expected;
  for (int n = 0; n < 70; ++n) {
    const std::string value = "v" + std::to_string(n);
    bulk.push_back({client, "ocmw-brussel", "w1", kCategories[n % 4],
                    fields_of({{"a", value + "a"}, {"b", value + "b"}})});
    bulk.push_back({other, "ocmw-brussel", "w1", "housing", fields_of({{"a", "not mine"}})});
    expected.push_back(std::string(kCategories[n % 4]) + ":" + value + "a," + value + "b");
  }
  REQUIRE(f.dossiers().add_fragments_bulk(bulk));
  auto dossier = f.dossiers().read_dossier(client, "ocmw-brussel", kAll);
  REQUIRE(dossier);
  std::vector<std::string> got;
  for (const auto& e : *dossier) {
    REQUIRE(e.fields.size() == 2);
    CHECK(e.fields[0].name == "a");
    CHECK(e.fields[1].name == "b");
    got.push_back(e.meta.category + ":" + text_of(e.fields[0].value) + "," +
                  text_of(e.fields[1].value));
  }
  CHECK(got == expected);
  CHECK(f.store->data_key_cache_stats().size == 1);
  // Every third fragment denied: the rest come back, still in order.
  std::size_t n = 0;
  auto dossier2 = f.dossiers().read_dossier(client, "ocmw-brussel",
                                            [&n](const FragmentMeta&) { return n++ % 3 != 0; });
  REQUIRE(dossier2);
  CHECK(dossier2->size() == 70 - 24);
  CHECK(text_of(dossier2->at(0).fields.at(0).value) == "v1a");
}

TEST_CASE("erasure and KEK rotation clear the key cache; reads still open",
          "[store][keys][key-cache][erasure]") {
  StoreFixture f;
  f.add_sector();
  const auto erased = register_case(f, "ocmw-brussel", "to-erase");
  const auto kept = register_case(f, "ocmw-brussel", "to-keep");
  auto d = f.dossiers();
  REQUIRE(d.add_fragment(erased, "ocmw-brussel", "w1", "health", fields_of({{"n", "ERASE-ME"}})));
  REQUIRE(d.add_fragment(kept, "ocmw-brussel", "w1", "health", fields_of({{"n", "keep me"}})));
  REQUIRE(d.read_dossier(erased, "ocmw-brussel", kAll));
  REQUIRE(d.read_dossier(kept, "ocmw-brussel", kAll));
  CHECK(f.store->data_key_cache_stats().size == 2);

  const auto clears = f.store->data_key_cache_stats().clears;
  REQUIRE(f.registry().erase_client(erased));
  auto stats = f.store->data_key_cache_stats();
  CHECK(stats.size == 0);
  CHECK(stats.clears > clears);
  CHECK(d.read_dossier(erased, "ocmw-brussel", kAll).error() == Errc::not_found);
  CHECK(text_of(d.read_dossier(kept, "ocmw-brussel", kAll).value().at(0).fields.at(0).value) ==
        "keep me");
  CHECK(f.store->data_key_cache_stats().size == 1);

  REQUIRE(f.store->rotate_kek());
  CHECK(f.store->data_key_cache_stats().size == 0);
  CHECK(text_of(d.read_dossier(kept, "ocmw-brussel", kAll).value().at(0).fields.at(0).value) ==
        "keep me");
  const auto misses = f.store->data_key_cache_stats().misses;
  REQUIRE(d.read_dossier(kept, "ocmw-brussel", kAll));
  CHECK(f.store->data_key_cache_stats().misses == misses);  // refilled under the new KEK

  // Restoring a key-store snapshot replaces every wrapped key: nothing cached survives it.
  REQUIRE(f.store->snapshot_key_store(f.dir / "snap.db"));
  REQUIRE(f.store->restore_key_store_snapshot(f.dir / "snap.db"));
  CHECK(f.store->data_key_cache_stats().size == 0);
  CHECK(text_of(d.read_dossier(kept, "ocmw-brussel", kAll).value().at(0).fields.at(0).value) ==
        "keep me");
}

TEST_CASE("an erasure through one Store clears the key cache of another in the process",
          "[store][key-cache][erasure]") {
  StoreFixture f;
  f.add_sector();
  const auto erased = register_case(f, "ocmw-brussel", "to-erase");
  const auto kept = register_case(f, "ocmw-brussel", "to-keep");
  REQUIRE(f.dossiers().add_fragment(erased, "ocmw-brussel", "w1", "income",
                                    fields_of({{"n", "ERASE-ME"}})));
  REQUIRE(f.dossiers().add_fragment(kept, "ocmw-brussel", "w1", "income",
                                    fields_of({{"n", "keep me"}})));
  // A second Store on the same files, as a second worker thread would open.
  auto second = Store::open(f.options, f.root);
  REQUIRE(second);
  Dossiers reader(**second);
  REQUIRE(reader.read_dossier(erased, "ocmw-brussel", kAll));
  REQUIRE(reader.read_dossier(kept, "ocmw-brussel", kAll));
  CHECK((*second)->data_key_cache_stats().size == 2);
  const auto clears = (*second)->data_key_cache_stats().clears;

  REQUIRE(f.registry().erase_client(erased));
  CHECK(reader.read_dossier(erased, "ocmw-brussel", kAll).error() == Errc::not_found);
  auto r = reader.read_dossier(kept, "ocmw-brussel", kAll);
  REQUIRE(r);
  CHECK(text_of(r->at(0).fields.at(0).value) == "keep me");
  const auto stats = (*second)->data_key_cache_stats();
  CHECK(stats.clears > clears);
  CHECK(stats.size == 1);  // only the key read since: the erased client's is gone
}
