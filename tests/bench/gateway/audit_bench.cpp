// Audit log benchmarks: durable group-committed appends with 1/8/64 writers, proof generation and
// verification. Knobs: SLUIS_BENCH_AUDIT_EVENTS (events pre-filled for the proof benchmarks,
// default 100 000; else SLUIS_BENCH_CLIENTS, which the smoke run sets to 500).
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/audit/log.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}
using namespace sluis::gateway;
using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;
namespace crypto = sluis::crypto;
namespace fs = std::filesystem;

namespace {

std::size_t prefill_events() {
  for (const char* name : {"SLUIS_BENCH_AUDIT_EVENTS", "SLUIS_BENCH_CLIENTS"}) {
    if (const char* env = std::getenv(name)) {
      const long v = std::strtol(env, nullptr, 10);
      if (v > 0) return static_cast<std::size_t>(v);
    }
  }
  return 100'000;
}

/// A fresh temporary directory, removed at destruction.
struct Scratch {
  fs::path path;
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "sluis-audit-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

AuditEvent sample(std::uint64_t i) {
  AuditEvent e;
  e.time = Instant(std::chrono::milliseconds(1740787200000 + static_cast<std::int64_t>(i)));
  e.partner = "caw-brussel";
  e.worker = "worker-" + std::to_string(i % 50);
  e.role = "social-worker";
  e.action = AuditAction::read;
  e.client = "a1k3j5h7g9f2d4s6a8p0o9i8u7y6t5r4";
  e.categories = {"housing"};
  e.purpose = "care-coordination";
  e.decision = AuditDecision::permit;
  e.rule = "consent.active:0123456789abcdef0123456789abcdef";
  e.request_id = "req-" + std::to_string(i);
  e.owner_partner = "ocmw-brussel";
  return e;
}

std::unique_ptr<Scratch> g_dir;
std::unique_ptr<AuditLog> g_log;
const crypto::RootKey& root() {
  static const crypto::RootKey kRoot = crypto::RootKey::random();
  return kRoot;
}

std::unique_ptr<AuditLog> open_log(const fs::path& path) {
  AuditLogOptions o;
  o.path = path;
  auto log = AuditLog::open(o, root());
  if (!log) throw std::runtime_error("audit log did not open: " + log.error().message());
  return std::move(*log);
}

/// Durable appends, one event per call, from state.threads() concurrent writers: every call
/// returns only once its event is fsynced (group commit shares the fsync).
void BM_AuditAppendDurable(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_dir = std::make_unique<Scratch>();
    g_log = open_log(g_dir->path / "audit.db");
  }
  std::uint64_t i = static_cast<std::uint64_t>(state.thread_index()) << 32;
  const AuditEvent base = sample(0);
  for (auto _ : state) {
    AuditEvent e = base;
    e.request_id = "req-" + std::to_string(i++);
    auto r = g_log->append(e);
    if (!r) state.SkipWithError("append failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_log.reset();
    g_dir.reset();
  }
}
BENCHMARK(BM_AuditAppendDurable)
    ->Threads(1)
    ->Threads(8)
    ->Threads(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

/// Several events in one append, durable before the caller goes on: a dossier read with several
/// outcomes (owners, rules) has this shape (a read logs one event per distinct outcome; until
/// November 2026 it was one per fragment). items = events.
void BM_AuditAppendDurable_Read8(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_dir = std::make_unique<Scratch>();
    g_log = open_log(g_dir->path / "audit.db");
  }
  std::vector<AuditEvent> read(8, sample(0));
  std::uint64_t i = static_cast<std::uint64_t>(state.thread_index()) << 32;
  for (auto _ : state) {
    for (auto& e : read)
      e.request_id = "req-" + std::to_string(i);
    ++i;
    auto r = g_log->append(read);
    if (!r) state.SkipWithError("append failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * 8);
  if (state.thread_index() == 0) {
    g_log.reset();
    g_dir.reset();
  }
}
BENCHMARK(BM_AuditAppendDurable_Read8)
    ->Threads(1)
    ->Threads(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

/// A log of prefill_events() events for the proof benchmarks.
struct Filled {
  Scratch dir;
  std::unique_ptr<AuditLog> log;
  std::uint64_t size = 0;
  crypto::Hash root{};
  Filled() {
    log = open_log(dir.path / "audit.db");
    const std::size_t n = prefill_events();
    std::vector<AuditEvent> batch;
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(sample(i));
      if (batch.size() == 1000 || i + 1 == n) {
        if (!log->append(batch)) throw std::runtime_error("prefill failed");
        batch.clear();
      }
    }
    size = log->size();
    root = log->root_at(size).value();
  }
};

Filled& filled() {
  static Filled f;
  return f;
}

void BM_AuditInclusionProofGenerate(benchmark::State& state) {
  auto& f = filled();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto p = f.log->inclusion_proof(rng() % f.size, f.size);
    if (!p) state.SkipWithError("proof failed");
    benchmark::DoNotOptimize(p);
  }
  state.counters["events"] = static_cast<double>(f.size);
}
BENCHMARK(BM_AuditInclusionProofGenerate)->Unit(benchmark::kMicrosecond);

void BM_AuditInclusionProofVerify(benchmark::State& state) {
  auto& f = filled();
  const std::uint64_t index = f.size / 3;
  const auto proof = f.log->inclusion_proof(index, f.size).value();
  for (auto _ : state) {
    auto ok = crypto::verify_inclusion(proof.leaf_hash, index, f.size, proof.path, f.root);
    if (!ok) state.SkipWithError("proof did not verify");
    benchmark::DoNotOptimize(ok);
  }
  state.counters["path"] = static_cast<double>(proof.path.size());
}
BENCHMARK(BM_AuditInclusionProofVerify)->Unit(benchmark::kMicrosecond);

void BM_AuditConsistencyProofGenerate(benchmark::State& state) {
  auto& f = filled();
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    auto p = f.log->consistency_proof(1 + rng() % f.size, f.size);
    if (!p) state.SkipWithError("proof failed");
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_AuditConsistencyProofGenerate)->Unit(benchmark::kMicrosecond);

void BM_AuditCheckpointVerify(benchmark::State& state) {
  auto& f = filled();
  const auto note = f.log->checkpoint().value();
  const auto& key = f.log->verifier_key().key;
  for (auto _ : state) {
    auto cp = crypto::verify_checkpoint(note, key, f.log->origin(), f.log->origin());
    if (!cp) state.SkipWithError("checkpoint did not verify");
    benchmark::DoNotOptimize(cp);
  }
}
BENCHMARK(BM_AuditCheckpointVerify)->Unit(benchmark::kMicrosecond);

}  // namespace
