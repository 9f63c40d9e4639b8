// sluisctl store migrate --to postgresql against the real binaries and a real PostgreSQL: a home
// filled by sluis-dataset moves with counts and digests equal and sluisd on the database answers
// the same dossiers over mTLS; a move killed (-9) at a random batch, or failed by the test seam,
// goes on when run again without doubling a row; refusals say why and change nothing.
#include "pg_fixture.hpp"
#include "sluisd_harness.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/crypto/keyfile.hpp"
#include "sluis/domain/break_glass_review.hpp"
#include "sluis/domain/caseload.hpp"
#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/dossiers.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/pgstore/home_migration.hpp"
#include "workload_file.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <fstream>
#include <random>

using namespace sluis::test;
using sluis::gateway::testing::PgServer;
using sluis::gateway::testing::RawPg;

namespace {

/// Starts `args` with stdout and stderr into `out`.
pid_t spawn(const std::vector<std::string>& args, const fs::path& out) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string out_path = out.string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Runs a command to its end: its exit code, and its output in `output`.
int run(const std::vector<std::string>& args, std::string& output, const fs::path& scratch) {
  const fs::path out = scratch / "command-output.txt";
  const int code = wait_for(spawn(args, out));
  output = read_text(out);
  return code;
}

std::int64_t count_of(RawPg& raw, const std::string& sql) {
  const auto v = raw.column("SELECT (" + sql + ")::text");
  REQUIRE(v.size() == 1);
  return std::stoll(std::string(v[0].begin(), v[0].end()));
}

/// What sluis-dataset does not make, so every table has rows to move: a key-store snapshot (the
/// key journal then gets a recipient and entries), a caseload label, a break-the-glass grant and
/// its review, a card link (service pseudonyms, a card event), an erased client (tombstones).
void add_the_rest(const fs::path& home) {
  using sluis::crypto::IdentifierScheme;
  const auto root = sluis::crypto::read_root_key(home / "keys/root.key", {}).value();
  sluis::store::StoreOptions o;
  o.data_path = home / "data/data.db";
  o.key_store_path = home / "data/keys.db";
  auto store = sluis::store::Store::open(o, root).value();
  sluis::domain::Registry reg(*store);
  REQUIRE(reg.add_partner("mig-ocmw", "ocmw", "Migration OCMW"));
  REQUIRE(reg.add_partner("mig-shelter", "low-threshold", "Migration shelter"));
  REQUIRE(reg.add_partner("mig-day", "low-threshold", "Migration day centre"));
  REQUIRE(reg.add_worker("mig-ocmw", "m-sw", "social-worker"));
  REQUIRE(reg.add_worker("mig-ocmw", "m-dpo", "dpo"));
  REQUIRE(store->snapshot_key_store(home / "keys-snapshot.db"));
  const auto r =
      reg.register_identified("mig-ocmw", IdentifierScheme::case_number, "mig-1").value();
  const auto client = reg.resolve("mig-ocmw", r.pseudonym).value();
  sluis::domain::Dossiers dossiers(*store);
  const std::vector<sluis::store::FieldInput> fields{
      {"situation", sluis::crypto::PlainBytes{'M', 'I', 'G'}}};
  REQUIRE(dossiers.add_fragment(client, "mig-ocmw", "m-sw", "housing", fields));
  REQUIRE(sluis::domain::Caseload(*store).set_label("mig-ocmw", client, "Mig label"));
  sluis::domain::ConsentBook book(*store);
  sluis::store::BreakGlassGrant g;
  g.client = client;
  g.partner_id = "mig-ocmw";
  g.worker_id = "m-sw";
  g.categories = {"housing"};
  g.reason = "the client cannot be reached";
  g.starts_at = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  g.expires_at = g.starts_at + 1h;
  const auto grant = book.grant_break_glass(g).value();
  sluis::store::BreakGlassReview review;
  review.grant_id = grant.id;
  review.partner_id = "mig-ocmw";
  review.worker_id = "m-dpo";
  review.outcome = "justified";
  REQUIRE(sluis::domain::BreakGlassReviews(*store).record(review, "checked with the team"));
  const auto card = sluis::crypto::new_card_secret();
  const auto ps_shelter = sluis::crypto::service_pseudonym(card, "mig-shelter");
  const auto ps_day = sluis::crypto::service_pseudonym(card, "mig-day");
  REQUIRE(reg.register_anonymous("mig-shelter", ps_shelter));
  REQUIRE(reg.register_anonymous("mig-day", ps_day));
  REQUIRE(reg.link("mig-day", ps_day, "mig-shelter", ps_shelter, "consent-mig"));
  const auto e =
      reg.register_identified("mig-ocmw", IdentifierScheme::case_number, "mig-2").value();
  REQUIRE(reg.erase_client(reg.resolve("mig-ocmw", e.pseudonym).value()));
}

/// A home made by sluisctl init and filled by sluis-dataset, once per test process; each test
/// works on its own copy.
const fs::path& sized_home_template() {
  static TempDir dir;
  static bool made = false;
  if (!made) {
    const fs::path h = dir.path() / "home";
    std::string out;
    REQUIRE(run({SLUISCTL_PATH, "init", "--home", h.string(), "--raw-key", "--port", "0",
                 "--metrics-port", "0"},
                out, dir.path()) == 0);
    INFO(out);
    REQUIRE(run({SLUIS_DATASET_PATH, "--home", h.string(), "--partners", "8", "--workers", "40",
                 "--clients", "3000", "--fragments", "2", "--read-clients", "60",
                 "--read-fragments", "3", "--fields", "2", "--field-bytes", "40"},
                out, dir.path()) == 0);
    add_the_rest(h);
    made = true;
  }
  return dir.path();
}

struct SizedHome {
  TempDir dir;
  fs::path home;
  SizedHome() : home(dir.path() / "home") {
    fs::copy(sized_home_template() / "home", home, fs::copy_options::recursive);
  }
  [[nodiscard]] fs::path config() const { return home / "sluis.toml"; }
  [[nodiscard]] sluis::crypto::RootKey root() const {
    auto r = sluis::crypto::read_root_key(home / "keys/root.key", {});
    REQUIRE(r);
    return std::move(*r);
  }
  int migrate(const std::string& conninfo, std::string& out,
              std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{SLUISCTL_PATH, "store",       "migrate",    "--to",  "postgresql",
                                  "--home",      home.string(), "--conninfo", conninfo};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, out, dir.path());
  }
};

/// sluisd on a home made by sluisctl init, stopped (SIGKILL) on destruction if still running.
class HomeDaemon {
 public:
  explicit HomeDaemon(const SizedHome& h) : h_(h) {
    fs::remove(h.dir.path() / "port");
    pid_ = spawn({SLUISD_PATH, "--config", h.config().string(), "--port-file",
                  (h.dir.path() / "port").string()},
                 h.dir.path() / "sluisd.txt");
    const auto end = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < end) {
      const auto text = read_text(h.dir.path() / "port");
      if (!text.empty() && text.back() == '\n') {
        port_ = static_cast<std::uint16_t>(std::stoul(text));
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL("sluisd did not start: " << read_text(h.dir.path() / "sluisd.txt"));
  }
  ~HomeDaemon() { stop(SIGKILL); }
  HomeDaemon(const HomeDaemon&) = delete;
  HomeDaemon& operator=(const HomeDaemon&) = delete;
  int stop(int sig = SIGTERM) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, sig);
    const int code = wait_for(pid_);
    pid_ = -1;
    return code;
  }
  /// The fragments of a dossier read as `partner`'s `worker` over mTLS.
  json::value dossier(const sluis::bench::PartnerCredentialPaths& partner,
                      const std::string& worker, const std::string& pseudonym) const {
    gw::Credential cred{gw::PrivateKey::load_pem_file(partner.key).value(),
                        gw::Certificate::load_pem_file(partner.certificate).value()};
    const auto ca = gw::Certificate::load_pem_file(h_.home / "tls/ca.crt").value();
    TlsClient client(port_, ca, ClientOptions{&cred, false});
    REQUIRE_FALSE(client.connect());
    auto r = client.request("GET", "/v1/clients/" + pseudonym + "/dossier", {},
                            {{"Sluis-Worker", worker}, {"Sluis-Purpose", "care-coordination"}});
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    return body_json(*r).at("fragments");
  }

 private:
  const SizedHome& h_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

/// The first `n` reads of the home's workload, each with its partner's credential paths.
std::vector<std::pair<sluis::bench::ReadOp, sluis::bench::PartnerCredentialPaths>>
reads_of(const SizedHome& h, std::size_t n) {
  const auto w = sluis::bench::read_workload(h.home / "workload.tsv");
  std::vector<std::pair<sluis::bench::ReadOp, sluis::bench::PartnerCredentialPaths>> out;
  for (const auto& r : w.reads) {
    for (const auto& p : w.partners) {
      if (p.partner == r.partner) out.emplace_back(r, p);
    }
    if (out.size() == n) break;
  }
  REQUIRE(out.size() == n);
  return out;
}

/// Rows of every table in the SQLCipher store of `h`.
std::map<std::string, std::uint64_t> source_counts(const SizedHome& h) {
  sluis::store::StoreOptions o;
  o.data_path = h.home / "data/data.db";
  o.key_store_path = h.home / "data/keys.db";
  auto s = sluis::store::Store::open(o, h.root());
  REQUIRE(s);
  std::map<std::string, std::uint64_t> out;
  for (const auto& t : sluis::store::export_tables())
    out[t.name] = (*s)->count_rows(t).value();
  return out;
}

/// The KEK lines of the home's ring file: where the keks rows went (pg schema 7).
std::int64_t ring_keks(const SizedHome& h) {
  std::ifstream in(h.home / "keys/kek-ring");
  std::int64_t n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.rfind("kek ", 0) == 0 ? 1 : 0;
  return n;
}

void check_target_counts(const SizedHome& h, const std::string& conninfo) {
  RawPg raw(conninfo);
  for (const auto& [table, n] : source_counts(h)) {
    INFO(table);
    if (table == "keks") {
      // Not in the database: moved into the ring file beside the root key.
      CHECK(count_of(raw, "SELECT count(*) FROM keks") == 0);
      CHECK(ring_keks(h) == static_cast<std::int64_t>(n));
      continue;
    }
    const std::string filter =
        table == "data_keys" ? " WHERE category <> 'sluis.consent-document'" : "";
    CHECK(count_of(raw, "SELECT count(*) FROM " + table + filter) == static_cast<std::int64_t>(n));
  }
}

}  // namespace

TEST_CASE("store migrate: a sized home moves into PostgreSQL, counts and digests equal, and "
          "sluisd on it answers the same dossiers over mTLS",
          "[integration][postgresql]") {
  SizedHome h;
  const auto reads = reads_of(h, 4);
  std::vector<json::value> before;
  {
    HomeDaemon d(h);
    for (const auto& [r, p] : reads)
      before.push_back(d.dossier(p, r.worker, r.pseudonym));
    CHECK(d.stop() == 0);
  }
  REQUIRE(before[0].as_array().size() == reads[0].first.fragments);
  const std::string fragments = std::to_string(source_counts(h).at("fragments"));
  const std::string conninfo = PgServer::instance().new_database();
  std::string out;
  const int code = h.migrate(conninfo, out, {"--batch", "700", "--switch"});
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("DIFFERS") == std::string::npos);
  CHECK(out.find("fragments") != std::string::npos);
  CHECK_THAT(out, Catch::Contains("unchanged") && Catch::Contains("now runs on PostgreSQL"));
  // Not a terminal: a plain line per step and per table copied.
  CHECK_THAT(out,
             Catch::Contains("step: verify counts and digests") &&
                 Catch::Contains("copied fragments: " + fragments + " of " + fragments + " rows"));
  check_target_counts(h, conninfo);
  {
    RawPg raw(conninfo);
    // Every table the home has rows in has them in the database.
    for (const char* t :
         {"consents", "break_glass_grants", "break_glass_reviews", "caseload_labels",
          "caseload_label_tokens", "service_pseudonyms", "card_events", "erasures", "key_erasures",
          "key_journal", "key_journal_recipient"}) {
      INFO(t);
      CHECK(count_of(raw, std::string("SELECT count(*) FROM ") + t) > 0);
    }
    CHECK(count_of(raw, "SELECT count(*) FROM store_migration WHERE finished_at IS NOT NULL") == 1);
  }
  // The SQLCipher files go aside: what sluisd answers now comes from PostgreSQL.
  fs::create_directories(h.dir.path() / "aside");
  for (const char* f : {"data.db", "keys.db", "data.db-wal", "keys.db-wal"}) {
    std::error_code ec;
    fs::rename(h.home / "data" / f, h.dir.path() / "aside" / f, ec);
  }
  CHECK_THAT(read_text(h.config()), Catch::Contains("engine = \"postgresql\""));
  HomeDaemon d(h);
  for (std::size_t i = 0; i < reads.size(); ++i) {
    CHECK(d.dossier(reads[i].second, reads[i].first.worker, reads[i].first.pseudonym) == before[i]);
  }
  CHECK_FALSE(fs::exists(h.home / "data/data.db"));
}

TEST_CASE("store migrate: killed with -9 at a random batch, or cut off by the database, and run "
          "again, it goes on and doubles or loses no row",
          "[integration][postgresql]") {
  SizedHome h;
  const std::string conninfo = PgServer::instance().new_database();
  std::mt19937 rng(std::random_device{}());
  const auto stop_after = std::uniform_int_distribution<std::int64_t>(200, 6000)(rng);
  {
    const pid_t pid = spawn({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
                             h.home.string(), "--conninfo", conninfo, "--batch", "50"},
                            h.dir.path() / "first-run.txt");
    RawPg raw(conninfo);
    const auto end = std::chrono::steady_clock::now() + 120s;
    bool killed = false;
    while (std::chrono::steady_clock::now() < end) {
      const auto ready = count_of(raw, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                       "'store_migration_tables'");
      if (ready == 1 && count_of(raw, "SELECT coalesce(sum(copied), 0) FROM "
                                      "store_migration_tables") >= stop_after) {
        ::kill(pid, SIGKILL);
        killed = true;
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    const int code = wait_for(pid);
    INFO(read_text(h.dir.path() / "first-run.txt"));
    REQUIRE(killed);
    REQUIRE(code == 128 + SIGKILL);
    CHECK(count_of(raw, "SELECT count(*) FROM store_migration WHERE finished_at IS NULL") == 1);
  }
  // A second interruption: the database drops the move's connection (as a restart would). The
  // run stops with a sentence and keeps what it copied.
  {
    const pid_t pid = spawn({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
                             h.home.string(), "--conninfo", conninfo, "--batch", "50"},
                            h.dir.path() / "second-run.txt");
    RawPg raw(conninfo);
    const auto copied_before = count_of(raw, "SELECT sum(copied) FROM store_migration_tables");
    const auto end = std::chrono::steady_clock::now() + 120s;
    bool dropped = false;
    while (!dropped && std::chrono::steady_clock::now() < end) {
      if (count_of(raw, "SELECT sum(copied) FROM store_migration_tables") >= copied_before + 300) {
        raw.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                 "application_name = 'sluisctl-store-migrate'");
        dropped = true;
      }
      std::this_thread::sleep_for(5ms);
    }
    const int code = wait_for(pid);
    const auto said = read_text(h.dir.path() / "second-run.txt");
    INFO(said);
    REQUIRE(dropped);
    CHECK(code == 1);
    CHECK_THAT(said, Catch::Contains("the copy stopped") &&
                         Catch::Contains("run the same command again to go on"));
  }
  // The third run names the database by a [store] section (--config), as a new node's file.
  const fs::path store_file = h.dir.path() / "target.toml";
  write_text(store_file, "[store]\nengine = \"postgresql\"\nconninfo = \"" + conninfo + "\"\n");
  std::string out;
  const int code = run({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
                        h.home.string(), "--config", store_file.string(), "--batch", "50"},
                       out, h.dir.path());
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Catch::Contains("going on where it stopped"));
  CHECK(out.find("DIFFERS") == std::string::npos);
  check_target_counts(h, conninfo);
  // Run once more: nothing is copied again, the comparison still holds.
  REQUIRE(h.migrate(conninfo, out) == 0);
  CHECK_THAT(out, Catch::Contains("Already moved"));
  check_target_counts(h, conninfo);
}

TEST_CASE("store migrate: a batch failed by the test seam leaves nothing of itself, and the "
          "move goes on from the last batch",
          "[integration][postgresql]") {
  SizedHome h;
  const auto root = h.root();
  sluis::store::StoreOptions so;
  so.data_path = h.home / "data/data.db";
  so.key_store_path = h.home / "data/keys.db";
  auto source = sluis::store::Store::open(so, root).value();
  sluis::pgstore::PgOptions po;
  po.conninfo = PgServer::instance().new_database();
  po.kek_ring_file = h.home / "keys/kek-ring";  // where sluisd and sluisctl keep them
  po.erasure_ledger_file = h.home / "keys/erasure-ledger";
  std::mt19937 rng(std::random_device{}());
  const int fail_at = std::uniform_int_distribution<int>(3, 60)(rng);
  int batches = 0;
  po.inject_failure = [&](std::string_view step) {
    return step == "migrate.batch" && ++batches == fail_at;
  };
  sluis::pgstore::MigrationOptions mo;
  mo.batch_rows = 100;
  {
    auto pg = sluis::pgstore::PgStorage::open(po, root).value();
    auto r = sluis::pgstore::HomeMigration::copy(*source, *pg, mo);
    REQUIRE_FALSE(r);
    CHECK(r.error() == sluis::store::Errc::injected_failure);
  }
  {
    // The batches before the failed one are in, and only they: the rows are the positions
    // recorded (a failed batch's rows went with its transaction).
    RawPg raw(po.conninfo);
    std::int64_t rows = 0;
    rows += ring_keks(h);  // the keks rows are in the ring file once their batch is in
    for (const auto& t : sluis::store::export_tables()) {
      const std::string name = t.name;
      if (name == "keks") continue;
      rows += count_of(
          raw, "SELECT count(*) FROM " + name +
                   (name == "data_keys" ? " WHERE category <> 'sluis.consent-document'" : ""));
    }
    CHECK(rows == count_of(raw, "SELECT sum(copied) FROM store_migration_tables"));
    CHECK(rows > 0);
  }
  po.inject_failure = nullptr;
  auto pg = sluis::pgstore::PgStorage::open(po, root).value();
  auto inspect = sluis::pgstore::HomeMigration::inspect(*pg);
  REQUIRE(inspect);
  CHECK(inspect->kind == sluis::pgstore::MigrationTarget::Kind::in_progress);
  REQUIRE(sluis::pgstore::HomeMigration::copy(*source, *pg, mo));
  auto checks = sluis::pgstore::HomeMigration::verify(*source, *pg);
  REQUIRE(checks);
  REQUIRE(checks->size() == sluis::store::export_tables().size());
  for (const auto& c : *checks) {
    INFO(c.table << " " << c.source_rows << " " << c.target_rows);
    CHECK(c.equal());
  }
  check_target_counts(h, po.conninfo);
}

TEST_CASE("store migrate: refusals (sluisd running, a database with other records or another "
          "home's keys, a database that cannot be reached) say why and change nothing",
          "[integration][postgresql]") {
  SizedHome h;
  const std::string config_before = read_text(h.config());
  std::string out;
  SECTION("sluisd running on the home") {
    const std::string conninfo = PgServer::instance().new_database();
    HomeDaemon d(h);
    const int code = h.migrate(conninfo, out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("sluisd is running on this home") &&
                        Catch::Contains("Nothing was changed"));
    RawPg raw(conninfo);
    CHECK(count_of(raw, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0);
  }
  SECTION("a database that holds another home's records") {
    const std::string conninfo = PgServer::instance().new_database();
    {
      TempDir elsewhere;  // the other home's ring and ledger
      sluis::pgstore::PgOptions o;
      o.conninfo = conninfo;
      o.kek_ring_file = elsewhere.path() / "kek-ring";
      o.erasure_ledger_file = elsewhere.path() / "erasure-ledger";
      auto other = sluis::pgstore::PgStorage::open(o, sluis::crypto::RootKey::random()).value();
      sluis::domain::Registry r(*other);
      REQUIRE(r.add_partner("elsewhere", "ocmw", "Another home"));
    }
    const int code = h.migrate(conninfo, out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out,
               Catch::Contains("another sluis home") && Catch::Contains("Nothing was changed"));
    RawPg raw(conninfo);
    CHECK(count_of(raw, "SELECT count(*) FROM partners") == 1);
    CHECK(count_of(raw, "SELECT count(*) FROM store_migration") == 0);
  }
  SECTION("a database with records this move did not write") {
    const std::string conninfo = PgServer::instance().new_database();
    {
      sluis::pgstore::PgOptions o;
      o.conninfo = conninfo;
      o.kek_ring_file = h.home / "keys/kek-ring";
      o.erasure_ledger_file = h.home / "keys/erasure-ledger";
      auto same_root = sluis::pgstore::PgStorage::open(o, h.root()).value();
      sluis::domain::Registry r(*same_root);
      REQUIRE(r.add_partner("elsewhere", "ocmw", "Records already there"));
    }
    const int code = h.migrate(conninfo, out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("already holds 1 records") &&
                        Catch::Contains("Nothing was changed"));
    RawPg raw(conninfo);
    CHECK(count_of(raw, "SELECT count(*) FROM partners") == 1);
    CHECK(count_of(raw, "SELECT count(*) FROM store_migration") == 0);
  }
  SECTION("a database that cannot be reached") {
    const int code = h.migrate("host=127.0.0.1 port=1 dbname=nowhere user=sluis connect_timeout=2",
                               out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("cannot be reached") && Catch::Contains("Nothing was changed"));
  }
  CHECK(read_text(h.config()) == config_before);
}
