// sluis-engine-bench: times the domain's dossier read (20 fragments × 5 fields, all permitted) on
// the SQLCipher engine and on the PostgreSQL engine side by side, in one process, with the same
// data: wall µs and process CPU µs per read, warm (one client re-read) and spread (many clients in
// turn). Not run by the tests; the PostgreSQL side needs a database the caller provides.
//
//   sluis-engine-bench --pg "host=127.0.0.1 port=5432 dbname=bench user=sluis"
//                      [--clients 2000] [--seconds 3]
//
// The database must be empty (a fresh one: the benchmark creates the schema in it).
#include "sluis/domain/dossiers.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/pgstore/pg_storage.hpp"
#include "sluis/store/store.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace sluis::store;
using namespace sluis::domain;
namespace crypto = sluis::crypto;
namespace fs = std::filesystem;

constexpr int kFragments = 20;
constexpr int kFields = 5;
constexpr std::size_t kSpread = 256;
constexpr const char* kCategories[] = {"housing", "income", "health", "case-note", "appointment"};

std::vector<FieldInput> make_fields(int seed) {
  std::vector<FieldInput> out;
  for (int f = 0; f < kFields; ++f) {
    const std::string v = "value " + std::to_string(seed) + "/" + std::to_string(f) +
                          " — a line of ordinary case text, about eighty bytes long.";
    out.push_back({"field-" + std::to_string(f), crypto::PlainBytes(v.begin(), v.end())});
  }
  return out;
}

double process_cpu_us() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/// The clients the reads use, filled into `storage` through the bulk paths.
struct Data {
  ClientId target;
  std::vector<ClientId> spread;
};

Data fill(Storage& storage, std::size_t clients) {
  Registry reg(storage);
  if (!reg.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel")) std::abort();
  if (!reg.add_worker("ocmw-brussel", "w1", "social-worker")) std::abort();
  std::vector<std::string> ids;
  for (std::size_t n = 0; n < clients; ++n)
    ids.push_back("case-" + std::to_string(n));
  auto regs =
      reg.register_identified_bulk("ocmw-brussel", crypto::IdentifierScheme::case_number, ids);
  if (!regs) std::abort();
  std::vector<ClientId> all;
  for (const auto& r : *regs)
    all.push_back(reg.resolve("ocmw-brussel", r.pseudonym).value());
  Data d;
  d.target = all[clients / 2];
  const std::size_t step = std::max<std::size_t>(clients / kSpread, 1);
  for (std::size_t n = 0; n < clients && d.spread.size() < kSpread; n += step)
    d.spread.push_back(all[n]);
  std::vector<NewFragment> bulk;
  for (int f = 0; f < kFragments; ++f) {
    bulk.push_back({d.target, "ocmw-brussel", "w1", kCategories[f % 5], make_fields(f)});
    for (const auto& c : d.spread) {
      if (c != d.target) bulk.push_back({c, "ocmw-brussel", "w1", kCategories[f % 5], make_fields(f)});
    }
  }
  if (!Dossiers(storage).add_fragments_bulk(bulk)) std::abort();
  return d;
}

/// Reads for `seconds`; prints reads, wall µs and CPU µs per read.
void time_reads(const char* engine, const char* shape, Storage& storage,
                const std::function<const ClientId&(std::size_t)>& client, double seconds) {
  Dossiers d(storage);
  auto permit = [](const FragmentMeta&) { return true; };
  const auto start = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu_us();
  std::size_t n = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
         seconds) {
    auto r = d.read_dossier(client(n), "ocmw-brussel", permit);
    if (!r || r->size() != kFragments) std::abort();
    ++n;
  }
  const double wall =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  const double cpu = process_cpu_us() - cpu0;
  std::printf("%-10s %-7s %8zu reads  %8.1f us/read wall  %8.1f us/read CPU (this process)\n",
              engine, shape, n, wall / static_cast<double>(n), cpu / static_cast<double>(n));
}

void run(const char* engine, Storage& storage, std::size_t clients, double seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  const Data d = fill(storage, clients);
  std::fprintf(stderr, "%s: filled %zu clients in %.1f s\n", engine, clients,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  time_reads(engine, "warm", storage, [&](std::size_t) -> const ClientId& { return d.target; },
             seconds);
  time_reads(engine, "spread", storage,
             [&](std::size_t n) -> const ClientId& { return d.spread[n % d.spread.size()]; },
             seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::string conninfo;
  std::size_t clients = 2000;
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--pg") {
      conninfo = argv[i + 1];
    } else if (a == "--clients") {
      clients = std::max<std::size_t>(std::strtoull(argv[i + 1], nullptr, 10), 1);
    } else if (a == "--seconds") {
      seconds = std::strtod(argv[i + 1], nullptr);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (conninfo.empty()) {
    std::fprintf(stderr, "usage: sluis-engine-bench --pg CONNINFO [--clients N] [--seconds S]\n"
                         "  CONNINFO names an empty PostgreSQL database the benchmark may fill.\n");
    return 2;
  }
  const auto root = crypto::RootKey::random();
  std::string tmpl = (fs::temp_directory_path() / "sluis-engine-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  const fs::path dir = tmpl;
  {
    StoreOptions o;
    o.data_path = dir / "data.db";
    o.key_store_path = dir / "keys.db";
    auto store = Store::open(o, root);
    if (!store) {
      std::fprintf(stderr, "cannot open the SQLCipher store: %s\n",
                   store.error().message().c_str());
      return 1;
    }
    run("sqlcipher", **store, clients, seconds);
  }
  std::error_code ec;
  sluis::pgstore::PgOptions o;
  o.conninfo = conninfo;
  o.application_name = "sluis-engine-bench";
  o.kek_ring_file = dir / "kek-ring";
  o.erasure_ledger_file = dir / "erasure-ledger";
  auto pg = sluis::pgstore::PgStorage::open(o, root);
  if (!pg) {
    std::fprintf(stderr, "cannot open the PostgreSQL database: %s\n", pg.error().message().c_str());
    fs::remove_all(dir, ec);
    return 1;
  }
  run("postgresql", **pg, clients, seconds);
  pg->reset();
  fs::remove_all(dir, ec);
  return 0;
}
