// sluis-dataset: fills a fresh gateway home with a synthetic sector through the store's bulk
// paths (not HTTP), issues the certificates of the partners the load generator uses and writes
// its workload file. Wiring and reporting only; the sector itself is sector.cpp.
#include "rfc3339.hpp"
#include "sector.hpp"
#include "workload_file.hpp"

#include "sluis/crypto/keyfile.hpp"
#include "sluis/domain/bulk_load.hpp"
#include "sluis/server/ca.hpp"
#include "sluis/daemon/config.hpp"
#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/dossiers.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/store/store.hpp"
#include "sluis/policy/consent.hpp"
#include "sluis/policy/consent_json.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluisctl/options.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace gw = sluis::server;
using sluis::bench::ClientSet;
using sluis::bench::rfc3339;
using sluis::bench::Sector;
using sluis::ctl::UsageError;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: sluis-dataset --home DIR [--partners N] [--workers N] [--clients N] [--fragments N]\n"
    "                     [--read-clients N] [--read-fragments N] [--fields N] [--field-bytes N]\n"
    "                     [--workload FILE] [--batch N] [--page-cache-mib N]\n"
    "  Fills the fresh gateway home DIR (made by 'sluisctl init --home DIR --raw-key') with a\n"
    "  synthetic sector, directly through the store (an offline operator act: run it before\n"
    "  sluisd starts). Defaults: 200 partners, 5000 workers, 10000 clients, 10 fragments per\n"
    "  client (20 for the 2000 clients of the read workload), 5 fields of 80 bytes.\n"
    "  Writes the load generator's workload file (default DIR/workload.tsv) and the client\n"
    "  certificates of the partners it uses (DIR/partners/ID/). --batch is the number of\n"
    "  fragments per transaction (default 50000); --page-cache-mib the SQLite page cache per\n"
    "  connection while loading (default 512).\n";

/// A failure the person running the tool can act on.
struct Refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T> T need(sluis::store::Result<T> r, const std::string& what) {
  if (!r) throw Refusal(what + ": " + r.error().message());
  return std::move(*r);
}
void need(const sluis::store::Result<void>& r, const std::string& what) {
  if (!r) throw Refusal(what + ": " + r.error().message());
}
template <class T> T need_server(gw::ServerResult<T> r, const std::string& what) {
  if (!r) throw Refusal(what + ": " + r.error().message());
  return std::move(*r);
}
void need_server(const gw::ServerResult<void>& r, const std::string& what) {
  if (!r) throw Refusal(what + ": " + r.error().message());
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Prints one phase's rows, time and rate.
void report(const char* phase, std::size_t rows, const char* unit, Clock::time_point t0) {
  const double s = seconds_since(t0);
  std::printf("sluis-dataset: %-14s %10zu %s in %7.1f s (%.0f %s/s)\n", phase, rows, unit, s,
              s > 0 ? static_cast<double>(rows) / s : 0.0, unit);
  std::fflush(stdout);
}

struct Settings {
  fs::path home;
  fs::path workload;
  sluis::bench::SectorShape shape;
  std::size_t batch = 50'000;
  std::size_t page_cache_mib = 512;
};

Settings parse(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const sluis::ctl::Options opt(args,
                                {"home", "partners", "workers", "clients", "fragments",
                                 "read-clients", "read-fragments", "fields", "field-bytes",
                                 "workload", "batch", "page-cache-mib"},
                                {"help"});
  Settings s;
  if (opt.flag("help")) return s;
  if (!opt.positional().empty()) {
    throw UsageError("unexpected argument '" + opt.positional().front() + "'; see --help");
  }
  s.home = fs::absolute(opt.require("home"));
  auto count = [&](const char* name, std::size_t& out) {
    if (auto v = opt.get(name)) out = sluis::ctl::parse_count(name, *v);
  };
  count("partners", s.shape.partners);
  count("workers", s.shape.workers);
  count("clients", s.shape.clients);
  count("fragments", s.shape.fragments_per_client);
  count("read-clients", s.shape.read_clients);
  count("read-fragments", s.shape.read_fragments);
  count("fields", s.shape.fields_per_fragment);
  count("field-bytes", s.shape.field_bytes);
  count("batch", s.batch);
  count("page-cache-mib", s.page_cache_mib);
  if (s.batch == 0) throw UsageError("--batch must be at least 1");
  try {
    s.shape.check();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  s.workload = opt.get("workload") ? fs::absolute(*opt.get("workload")) : s.home / "workload.tsv";
  return s;
}

/// The home's configuration, root key, rule pack and store, refused unless fit for loading.
struct Home {
  sluis::daemon::DaemonConfig config;
  std::unique_ptr<sluis::store::Store> store;
  sluis::policy::RulePack pack;
};

Home open_home(const Settings& s, const Sector& sector) {
  const fs::path config_file = s.home / "sluis.toml";
  if (!fs::exists(config_file)) {
    throw Refusal(s.home.string() +
                  " is not a gateway home (no sluis.toml); create it with "
                  "'sluisctl init --home " +
                  s.home.string() + " --raw-key' first");
  }
  auto config = sluis::daemon::load_daemon_config(config_file);
  const auto sealed = sluis::crypto::root_key_file_is_sealed(config.key_file);
  if (!sealed) {
    throw Refusal("cannot use the root key file " + config.key_file.string() + ": " +
                  sealed.error().message());
  }
  if (*sealed) {
    throw Refusal("the root key of " + s.home.string() +
                  " is sealed with a passphrase; benchmark homes are throw-away: create one with "
                  "'sluisctl init --home DIR --raw-key'");
  }
  auto root = sluis::crypto::read_root_key(config.key_file, {});
  if (!root) throw Refusal("cannot read the root key file " + config.key_file.string());
  auto pack = sluis::policy::load_rule_pack(config.rule_pack.string());
  if (!pack) {
    throw Refusal("the rule pack " + config.rule_pack.string() +
                  " does not load; run 'sluisctl policy check' on it");
  }
  for (const auto& p : sector.partners()) {
    if (!pack->partner_type(p.type)) {
      throw Refusal("the home's rule pack has no partner type '" + p.type +
                    "'; sluis-dataset builds the sector of the default rule pack "
                    "(policy/packs/brussels-welfare.toml)");
    }
  }
  sluis::store::StoreOptions o;
  o.data_path = config.data_dir / "data.db";
  o.key_store_path = config.data_dir / "keys.db";
  auto store = sluis::store::Store::open(std::move(o), *root);
  if (!store) {
    throw Refusal("the store in " + config.data_dir.string() +
                  " does not open: " + store.error().message() +
                  (store.error() == sluis::store::Errc::in_use ? " (stop sluisd first)" : ""));
  }
  auto existing = need(sluis::domain::Registry(**store).list_partners(), "cannot read the store");
  if (!existing.empty()) {
    throw Refusal("the store in " + config.data_dir.string() + " already holds " +
                  std::to_string(existing.size()) +
                  " partners; sluis-dataset fills a fresh home (sluisctl init --raw-key)");
  }
  return Home{std::move(config), std::move(*store), std::move(*pack)};
}

void load_partners_and_workers(sluis::store::Store& store, const Sector& sector) {
  auto t0 = Clock::now();
  sluis::domain::Registry registry(store);
  need(sluis::domain::bulk_write(store,
                      [&]() -> sluis::store::Result<void> {
                        for (const auto& p : sector.partners()) {
                          if (auto r = registry.add_partner(p.id, p.type, p.name); !r) return r;
                        }
                        return {};
                      }),
       "cannot add the partners");
  report("partners", sector.partners().size(), "rows", t0);
  t0 = Clock::now();
  need(sluis::domain::bulk_write(store,
                      [&]() -> sluis::store::Result<void> {
                        for (const auto& w : sector.workers()) {
                          const auto& partner = sector.partners()[w.partner].id;
                          if (auto r = registry.add_worker(partner, w.id, w.role); !r) return r;
                        }
                        return {};
                      }),
       "cannot add the workers");
  report("workers", sector.workers().size(), "rows", t0);
}

/// Consent documents, one per (home partner, sharing partner) pair: the same text for every
/// client of the pair, validated and serialised by the policy module exactly as the API does.
class ConsentDocuments {
 public:
  ConsentDocuments(const Sector& sector, const sluis::policy::RulePack& pack)
      : sector_(sector), pack_(pack),
        now_(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())) {}

  [[nodiscard]] sluis::store::NewConsent for_client(std::size_t client) {
    const std::size_t home = sector_.home_partner(client);
    const std::size_t caw = sector_.sharing_partner(client);
    auto& doc = documents_[{home, caw}];
    const auto& recorder = sector_.first_worker(home);
    if (doc.empty()) doc = make(client, home, caw, recorder);
    sluis::store::NewConsent c;
    c.recorded_by_partner = sector_.partners()[home].id;
    c.recorded_by_worker = recorder.id;
    c.valid_from = std::chrono::time_point_cast<std::chrono::milliseconds>(start());
    c.valid_until = std::chrono::time_point_cast<std::chrono::milliseconds>(end());
    c.document = doc;
    return c;
  }

 private:
  [[nodiscard]] std::chrono::sys_seconds start() const { return now_ - std::chrono::days(1); }
  // Within the default pack's two-year maximum.
  [[nodiscard]] std::chrono::sys_seconds end() const { return now_ + std::chrono::days(700); }

  std::string make(std::size_t client, std::size_t home, std::size_t caw,
                   const sluis::bench::SectorWorker& recorder) const {
    std::string categories;
    for (const auto c : sector_.consented_categories(client)) {
      if (!categories.empty()) categories += ',';
      categories += "\"" + std::string(c) + "\"";
    }
    const std::string json =
        R"({"id":"new","status":"active","legal_basis":"consent","provisions":[{"grantee":)"
        R"({"partner":")" +
        sector_.partners()[caw].id + R"("},"categories":[)" + categories +
        R"(],"purposes":["care-coordination"],"period":{"start":")" + rfc3339(start()) +
        R"(","end":")" + rfc3339(end()) + R"("}}],"evidence":{"recorded_by":{"partner":")" +
        sector_.partners()[home].id + R"(","worker":")" + recorder.id + R"(","role":")" +
        recorder.role + R"("},"channel":"in-person","language":"nl","recorded_at":")" +
        rfc3339(start()) + R"("}})";
    auto consent = sluis::policy::parse_consent(json, pack_);
    if (!consent)
      throw Refusal("the synthetic consent does not parse: " + consent.error().message());
    if (auto v = sluis::policy::validate_consent(*consent, pack_, now_); !v) {
      throw Refusal("the synthetic consent is not valid under the rule pack: " +
                    v.error().message());
    }
    return sluis::policy::serialize_consent(*consent, pack_);
  }

  const Sector& sector_;
  const sluis::policy::RulePack& pack_;
  std::chrono::sys_seconds now_;
  std::map<std::pair<std::size_t, std::size_t>, std::string> documents_;
};

/// What registration leaves for the later phases and the workload.
struct Registered {
  std::vector<sluis::store::ClientId> ids;              ///< by client index
  std::map<std::size_t, std::string> shared;  ///< read/change-set client → sharing pseudonym
  std::size_t relationships = 0;
  std::size_t consents = 0;
};

Registered register_clients(sluis::store::Store& store, const Sector& sector,
                            const sluis::policy::RulePack& pack) {
  constexpr std::size_t kChunk = 50'000;  // clients per round of registration transactions
  const auto t0 = Clock::now();
  sluis::domain::Registry registry(store);
  sluis::domain::ConsentBook book(store);
  ConsentDocuments documents(sector, pack);
  const std::size_t n_clients = sector.shape().clients;
  Registered out;
  out.ids.resize(n_clients);
  double consent_seconds = 0;
  for (std::size_t c0 = 0; c0 < n_clients; c0 += kChunk) {
    const std::size_t c1 = std::min(n_clients, c0 + kChunk);
    // One bulk transaction per partner: first the home registrations, then the CAW ones (the
    // same national register number reaches the same client: a second care relationship).
    for (const bool sharing : {false, true}) {
      std::map<std::size_t, std::pair<std::vector<std::string>, std::vector<std::size_t>>> by;
      for (std::size_t n = c0; n < c1; ++n) {
        if (sharing && !sector.shared(n)) continue;
        auto& slot = by[sharing ? sector.sharing_partner(n) : sector.home_partner(n)];
        slot.first.push_back(Sector::national_register_number(n));
        slot.second.push_back(n);
      }
      for (const auto& [partner, batch] : by) {
        const auto& pid = sector.partners()[partner].id;
        auto regs = need(registry.register_identified_bulk(
                             pid, sluis::crypto::IdentifierScheme::national_register, batch.first),
                         "cannot register clients at " + pid);
        out.relationships += regs.size();
        for (std::size_t k = 0; k < regs.size(); ++k) {
          const std::size_t n = batch.second[k];
          if (!sharing) {
            out.ids[n] = need(registry.resolve(pid, regs[k].pseudonym), "cannot resolve a client");
          } else if (sector.set_of(n) != ClientSet::plain) {
            out.shared[n] = regs[k].pseudonym;
          }
        }
      }
    }
    const auto tc = Clock::now();
    need(sluis::domain::bulk_write(store,
                        [&]() -> sluis::store::Result<void> {
                          for (std::size_t n = c0; n < c1; ++n) {
                            if (!sector.shared(n)) continue;
                            auto r = book.record(out.ids[n], documents.for_client(n));
                            if (!r) return r.error();
                            ++out.consents;
                          }
                          return {};
                        }),
         "cannot record the consents");
    consent_seconds += seconds_since(tc);
    if (n_clients > kChunk) {
      std::printf("sluis-dataset:   %zu/%zu clients registered (%.0f s)\n", c1, n_clients,
                  seconds_since(t0));
      std::fflush(stdout);
    }
  }
  const double total = seconds_since(t0);
  std::printf("sluis-dataset: %-14s %10zu rows in %7.1f s (%.0f rows/s; %zu clients, %zu care "
              "relationships)\n",
              "registrations", out.relationships, total - consent_seconds,
              static_cast<double>(out.relationships) / std::max(total - consent_seconds, 1e-9),
              n_clients, out.relationships);
  std::printf("sluis-dataset: %-14s %10zu rows in %7.1f s (%.0f rows/s)\n", "consents",
              out.consents, consent_seconds,
              static_cast<double>(out.consents) / std::max(consent_seconds, 1e-9));
  std::fflush(stdout);
  return out;
}

/// Fragments client by client, clients in the order of their internal ids: the store keeps a
/// client's fragments together (primary key client, seq; docs/store.md "Fragments"), so this
/// order appends to the table instead of inserting at random places, and the final layout is the
/// same as if the fragments had been written over months in any order. (Before schema 3 the
/// generator wrote in rounds, fragment k of every client, to spread a client's fragments.)
std::size_t load_fragments(sluis::store::Store& store, const Sector& sector, const Registered& reg,
                           std::size_t batch_size) {
  const auto t0 = Clock::now();
  sluis::domain::Dossiers dossiers(store);
  const auto& shape = sector.shape();
  std::vector<std::size_t> order(shape.clients);
  for (std::size_t n = 0; n < order.size(); ++n)
    order[n] = n;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return reg.ids[a] < reg.ids[b]; });
  std::vector<sluis::domain::NewFragment> batch;
  batch.reserve(std::min<std::size_t>(batch_size, 1'000'000));
  std::size_t written = 0;
  auto flush = [&] {
    if (batch.empty()) return;
    need(dossiers.add_fragments_bulk(batch), "cannot write fragments");
    written += batch.size();
    batch.clear();
  };
  constexpr std::size_t kReportEvery = 100'000;  // clients
  auto tr = Clock::now();
  std::size_t reported = 0;
  for (std::size_t done = 0; done < order.size(); ++done) {
    const std::size_t n = order[done];
    const std::size_t home = sector.home_partner(n);
    for (std::size_t k = 0; k < sector.fragment_count(n); ++k) {
      sluis::domain::NewFragment f{reg.ids[n],
                        sector.partners()[home].id,
                        sector.first_worker(home).id,
                        std::string(sector.category(n, k)),
                        {}};
      f.fields.reserve(shape.fields_per_fragment);
      for (std::size_t i = 0; i < shape.fields_per_fragment; ++i) {
        const auto value = sector.field_value(n, k, i);
        f.fields.push_back({sector.field_names()[i], {value.begin(), value.end()}});
      }
      batch.push_back(std::move(f));
      if (batch.size() >= batch_size) flush();
    }
    if ((done + 1) % kReportEvery == 0 || done + 1 == order.size()) {
      flush();
      const double s = seconds_since(tr);
      std::printf("sluis-dataset:   %zu/%zu clients' fragments: %zu in %.1f s (%.0f fragments/s)\n",
                  done + 1, order.size(), written - reported, s,
                  static_cast<double>(written - reported) / std::max(s, 1e-9));
      std::fflush(stdout);
      reported = written;
      tr = Clock::now();
    }
  }
  flush();
  const double s = seconds_since(t0);
  std::printf("sluis-dataset: %-14s %10zu rows in %7.1f s (%.0f fragments/s, %.0f sealed "
              "fields/s)\n",
              "fragments", written, s, static_cast<double>(written) / std::max(s, 1e-9),
              static_cast<double>(written * shape.fields_per_fragment) / std::max(s, 1e-9));
  std::fflush(stdout);
  return written;
}

/// Issues the client certificates of the partners in `ids` into HOME/partners/ID/ (as sluisctl
/// partner add does) and returns their paths.
std::vector<sluis::bench::PartnerCredentialPaths>
issue_certificates(const Settings& s, const Home& home, const std::vector<std::string>& ids,
                   const Sector& sector) {
  const auto t0 = Clock::now();
  const fs::path ca_cert = home.config.server.tls.ca_certificate;
  const fs::path ca_key = ca_cert.parent_path() / "ca.key";
  auto ca = need_server(gw::GatewayCa::load(ca_cert, ca_key), "cannot load the gateway CA from " +
                                                                  ca_cert.string() + " and " +
                                                                  ca_key.string());
  std::vector<sluis::bench::PartnerCredentialPaths> out;
  for (const auto& id : ids) {
    std::string name = id;
    for (const auto& p : sector.partners()) {
      if (p.id == id) name = p.name;
    }
    auto cred = need_server(ca.issue_partner_certificate({id, name, std::chrono::hours(24 * 30)}),
                            "cannot issue the certificate of " + id);
    const fs::path dir = s.home / "partners" / id;
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    const auto crt = dir / (id + ".crt");
    const auto key = dir / (id + ".key");
    need_server(cred.key.write_pem_file(key), "cannot write " + key.string());
    need_server(cred.certificate.write_pem_file(crt), "cannot write " + crt.string());
    out.push_back({id, crt, key});
  }
  report("certificates", out.size(), "partners", t0);
  return out;
}

sluis::bench::Workload make_workload(const Sector& sector, const Registered& reg) {
  sluis::bench::Workload w;
  std::vector<std::string> partners;
  for (const auto& [n, pseudonym] : reg.shared) {
    const std::size_t caw = sector.sharing_partner(n);
    const auto& partner = sector.partners()[caw].id;
    const auto& worker = sector.first_worker(caw);
    if (std::find(partners.begin(), partners.end(), partner) == partners.end()) {
      partners.push_back(partner);
    }
    if (sector.set_of(n) == ClientSet::read) {
      w.reads.push_back({partner, worker.id, pseudonym, sector.fragment_count(n)});
    } else {
      w.writes.push_back({partner, worker.id, pseudonym, "case-note"});
      w.consents.push_back({partner, worker.id, worker.role, pseudonym,
                            sector.partners()[sector.home_partner(n)].id});
    }
  }
  for (const auto& p : partners)
    w.partners.push_back({p, {}, {}});
  return w;
}

int run(const Settings& s) {
  const auto t0 = Clock::now();
  const Sector sector(s.shape);
  Home home = open_home(s, sector);
  need(home.store->set_page_cache(s.page_cache_mib), "cannot size the page cache");
  std::printf("sluis-dataset: filling %s: %zu partners, %zu workers, %zu clients, %zu fragments "
              "per client (%zu for the %zu read-set clients)\n",
              s.home.c_str(), s.shape.partners, s.shape.workers, s.shape.clients,
              s.shape.fragments_per_client, s.shape.read_fragments, sector.read_set_size());
  load_partners_and_workers(*home.store, sector);
  const auto reg = register_clients(*home.store, sector, home.pack);
  const auto fragments = load_fragments(*home.store, sector, reg, s.batch);
  auto workload = make_workload(sector, reg);
  std::vector<std::string> ids;
  for (const auto& p : workload.partners)
    ids.push_back(p.partner);
  workload.partners = issue_certificates(s, home, ids, sector);
  sluis::bench::write_workload(s.workload, workload);
  home.store.reset();  // closes both files (the WAL is checkpointed)
  std::printf("sluis-dataset: done in %.1f s: %zu partners, %zu workers, %zu clients (%zu "
              "consents), %zu fragments (%zu sealed fields)\n",
              seconds_since(t0), s.shape.partners, s.shape.workers, s.shape.clients, reg.consents,
              fragments, fragments * s.shape.fields_per_fragment);
  std::printf("sluis-dataset: workload %s: %zu partners, %zu reads, %zu writes, %zu consents\n",
              s.workload.c_str(), workload.partners.size(), workload.reads.size(),
              workload.writes.size(), workload.consents.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Settings s = parse(argc, argv);
    if (s.home.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    return run(s);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluis-dataset: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluis-dataset: %s\n", e.what());
    return 1;
  }
}
