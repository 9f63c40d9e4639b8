// Benchmark: dossier assembly (20 fragments × 5 fields) from a store holding 100 000 clients.
// Reported Time is µs per dossier (CPU column: this process's CPU; wall includes contention).
// _AllPermitted re-reads one client (warm: its data keys are cached, its pages in SQLite's cache);
// _ManyClients reads kSpread clients in turn, so every data key misses the cache and many pages
// are read and decrypted again — the shape of a real load over many clients.
#include "sluis/domain/dossiers.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/store/store.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}

namespace {

using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
namespace crypto = sluis::crypto;
namespace fs = std::filesystem;

/// Clients in the store: 100 000 (the figure) unless SLUIS_BENCH_CLIENTS says otherwise
/// (a quick smoke run can use fewer).
std::size_t client_count() {
  if (const char* env = std::getenv("SLUIS_BENCH_CLIENTS")) {
    const auto n = std::strtoull(env, nullptr, 10);
    if (n >= 1) return static_cast<std::size_t>(n);
  }
  return 100'000;
}
const std::size_t kClients = client_count();
constexpr int kFragments = 20;
constexpr int kFields = 5;
/// Clients with a full 20-fragment dossier for the many-clients read: 5 keys each, far more
/// than the default data-key cache holds.
constexpr std::size_t kSpread = 256;
constexpr const char* kCategories[] = {"housing", "income", "health", "case-note", "appointment"};

crypto::PlainBytes bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

std::vector<FieldInput> make_fields(int seed) {
  std::vector<FieldInput> out;
  for (int f = 0; f < kFields; ++f) {
    out.push_back({"field-" + std::to_string(f),
                   bytes_of("value " + std::to_string(seed) + "/" + std::to_string(f) +
                            " — a line of ordinary case text, about eighty bytes long.")});
  }
  return out;
}

/// One store for the whole program, filled through the bulk paths.
struct Fixture {
  fs::path dir;
  crypto::RootKey root = crypto::RootKey::random();
  std::unique_ptr<Store> store;
  ClientId target;
  std::vector<ClientId> spread;  ///< kSpread clients with kFragments fragments each

  Fixture() {
    std::string tmpl = (fs::temp_directory_path() / "sluis-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    StoreOptions o;
    o.data_path = dir / "data.db";
    o.key_store_path = dir / "keys.db";
    store = std::move(Store::open(o, root).value());
    Registry reg(*store);
    if (!reg.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel")) std::abort();
    if (!reg.add_partner("caw-brussel", "caw", "CAW Brussel")) std::abort();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> ids;
    ids.reserve(kClients);
    for (std::size_t n = 0; n < kClients; ++n)
      ids.push_back("case-" + std::to_string(n));
    auto regs =
        reg.register_identified_bulk("ocmw-brussel", crypto::IdentifierScheme::case_number, ids)
            .value();
    // Every client gets one fragment so the fragment tables and key store are realistically full.
    std::vector<NewFragment> bulk;
    bulk.reserve(kClients);
    std::vector<ClientId> clients;
    clients.reserve(kClients);
    for (std::size_t n = 0; n < kClients; ++n) {
      auto c = reg.resolve("ocmw-brussel", regs[n].pseudonym).value();
      clients.push_back(c);
      bulk.push_back(
          {c, "ocmw-brussel", "w1", kCategories[n % 5], make_fields(static_cast<int>(n))});
    }
    Dossiers d(*store);
    if (!d.add_fragments_bulk(bulk)) std::abort();
    target = clients[kClients / 2];
    if (!reg.register_identified("caw-brussel", crypto::IdentifierScheme::case_number, "x")) {
      std::abort();
    }
    for (int f = 1; f < kFragments; ++f) {
      if (!d.add_fragment(target, "ocmw-brussel", "w1", kCategories[f % 5], make_fields(f))) {
        std::abort();
      }
    }
    // Dossiers for the many-clients read, interleaved so no client's rows sit together.
    {
      std::vector<NewFragment> many;
      many.reserve(kSpread * kFragments);
      // Every other client at most (a small smoke-run store has fewer), never the target.
      const std::size_t step = std::max<std::size_t>(kClients / kSpread, 2);
      for (std::size_t n = 1; n < kClients && spread.size() < kSpread; n += step) {
        if (clients[n] != target) spread.push_back(clients[n]);
      }
      for (int f = 1; f < kFragments; ++f) {
        for (std::size_t n = 0; n < spread.size(); ++n) {
          many.push_back({spread[n], "ocmw-brussel", "w1", kCategories[f % 5], make_fields(f)});
        }
      }
      if (!d.add_fragments_bulk(many)) std::abort();
    }
    const auto t1 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "filled %zu clients, %zu fragments in %.1f s\n", kClients,
                 kClients + kFragments - 1, std::chrono::duration<double>(t1 - t0).count());
  }
  ~Fixture() {
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_DossierRead_AllPermitted(benchmark::State& state) {
  auto& f = fixture();
  Dossiers d(*f.store);
  auto permit = [](const FragmentMeta&) { return true; };
  std::size_t fields = 0;
  for (auto _ : state) {
    auto r = d.read_dossier(f.target, "ocmw-brussel", permit);
    if (!r || r->size() != static_cast<std::size_t>(kFragments)) {
      state.SkipWithError("wrong dossier");
      break;
    }
    fields = 0;
    for (const auto& e : *r)
      fields += e.fields.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["fragments"] = kFragments;
  state.counters["fields"] = static_cast<double>(fields);
}
BENCHMARK(BM_DossierRead_AllPermitted)->Unit(benchmark::kMicrosecond);

void BM_DossierRead_ManyClients(benchmark::State& state) {
  auto& f = fixture();
  Dossiers d(*f.store);
  auto permit = [](const FragmentMeta&) { return true; };
  std::size_t next = 0;
  const auto before = f.store->data_key_cache_stats();
  for (auto _ : state) {
    auto r = d.read_dossier(f.spread[next], "ocmw-brussel", permit);
    if (!r || r->size() != static_cast<std::size_t>(kFragments)) {
      state.SkipWithError("wrong dossier");
      break;
    }
    next = (next + 1) % f.spread.size();
    benchmark::DoNotOptimize(r);
  }
  const auto after = f.store->data_key_cache_stats();
  const auto hits = static_cast<double>(after.hits - before.hits);
  const auto misses = static_cast<double>(after.misses - before.misses);
  state.counters["key_hit_rate"] = hits / std::max(hits + misses, 1.0);
}
BENCHMARK(BM_DossierRead_ManyClients)->Unit(benchmark::kMicrosecond);

void BM_DossierRead_HalfDenied(benchmark::State& state) {
  auto& f = fixture();
  Dossiers d(*f.store);
  auto permit = [](const FragmentMeta& m) {
    return m.category != "health" && m.category != "case-note";
  };
  for (auto _ : state) {
    auto r = d.read_dossier(f.target, "ocmw-brussel", permit);
    if (!r) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_DossierRead_HalfDenied)->Unit(benchmark::kMicrosecond);

void BM_ListCurrentMetadata(benchmark::State& state) {
  auto& f = fixture();
  Dossiers d(*f.store);
  for (auto _ : state) {
    auto r = d.list_current(f.target);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ListCurrentMetadata)->Unit(benchmark::kMicrosecond);

void BM_ResolvePseudonym(benchmark::State& state) {
  auto& f = fixture();
  Registry reg(*f.store);
  const auto pseudonym = reg.pseudonym_for("ocmw-brussel", f.target).value();
  for (auto _ : state) {
    auto r = reg.resolve("ocmw-brussel", pseudonym);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ResolvePseudonym)->Unit(benchmark::kMicrosecond);

}  // namespace
