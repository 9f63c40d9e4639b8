// sluisctl store migrate --to postgresql against the real binaries and a real PostgreSQL: a home
// filled by sluis-dataset moves with counts and digests equal and sluisd on the database answers
// the same dossiers over mTLS and proofs of the audit events from before the move; a move killed
// (-9) at a random batch (of the records or of the audit log), or failed by the test seam, goes
// on when run again without doubling a row or an event; refusals say why and change nothing.
#include "pg_fixture.hpp"
#include "sluisd_harness.hpp"

#include "sluis/audit/log.hpp"
#include "sluis/crypto/card.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/keyfile.hpp"
#include "sluis/domain/break_glass_review.hpp"
#include "sluis/domain/caseload.hpp"
#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/dossiers.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/pgaudit/pg_audit_log.hpp"
#include "sluis/pgstore/home_migration.hpp"
#include "workload_file.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <fstream>
#include <random>
#include <regex>

using namespace sluis::test;
using sluis::gateway::testing::PgServer;
using sluis::gateway::testing::RawPg;

namespace {

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

/// The template home's audit.db: sluis-dataset and add_the_rest write the store directly, so the
/// history a gateway would have recorded meanwhile is appended here: kHistoryEvents events in
/// four batches, each followed by a signed checkpoint (sizes 300, 600, 900, 1200).
constexpr std::uint64_t kHistoryEvents = 1200;

sluis::audit::AuditEvent history_event(std::uint64_t i, const std::string& partner) {
  sluis::audit::AuditEvent e;
  e.time = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  e.partner = partner;
  e.worker = "m-sw";
  e.role = "social-worker";
  e.action = sluis::audit::AuditAction::read;
  e.client = "a1history" + std::to_string(i);
  e.categories = {"housing"};
  e.purpose = "care-coordination";
  e.decision = sluis::audit::AuditDecision::permit;
  e.rule = "consent.active:history";
  e.request_id = "history-" + std::to_string(i);
  e.owner_partner = partner;
  return e;
}

void add_audit_history(const fs::path& home, const std::string& origin) {
  const auto root = sluis::crypto::read_root_key(home / "keys/root.key", {}).value();
  sluis::audit::AuditLogOptions o;
  o.path = home / "data/audit.db";
  o.origin = origin;
  auto log = sluis::audit::AuditLog::open(std::move(o), root).value();
  for (std::uint64_t b = 0; b < 4; ++b) {
    std::vector<sluis::audit::AuditEvent> events;
    for (std::uint64_t i = 0; i < kHistoryEvents / 4; ++i)
      events.push_back(history_event(b * (kHistoryEvents / 4) + i, "mig-ocmw"));
    REQUIRE(log->append(events));
    REQUIRE(log->checkpoint());
  }
  REQUIRE(log->size() == kHistoryEvents);
}

/// The home's [audit] origin (sluisctl init's default unless the file names one).
std::string origin_of(const fs::path& home) {
  const auto text = read_text(home / "sluis.toml");
  const auto at = text.find("\norigin = \"");
  if (at == std::string::npos) return "sluis-gateway/audit";
  const auto from = at + std::string("\norigin = \"").size();
  return text.substr(from, text.find('"', from) - from);
}

/// The SQLCipher audit log of `home`, read-only.
std::unique_ptr<sluis::audit::AuditLog> file_log(const fs::path& home,
                                                 const sluis::crypto::RootKey& root) {
  sluis::audit::AuditLogOptions o;
  o.path = home / "data/audit.db";
  o.origin.clear();
  o.read_only = true;
  auto log = sluis::audit::AuditLog::open(std::move(o), root);
  REQUIRE(log);
  return std::move(*log);
}

/// The audit log in the database of `conninfo`, read-only.
std::unique_ptr<sluis::audit::AuditLog> database_log(const std::string& conninfo,
                                                     const sluis::crypto::RootKey& root) {
  sluis::pgaudit::PgAuditLogOptions o;
  o.database.conninfo = conninfo;
  o.origin.clear();
  o.read_only = true;
  auto log = sluis::pgaudit::open_pg_audit_log(std::move(o), root);
  REQUIRE(log);
  return std::move(*log);
}

/// The database's log is `file`'s first `n` events, tree and checkpoints, and no more.
void check_carried_prefix(const std::string& conninfo, const sluis::audit::AuditLog& file,
                          std::uint64_t n) {
  RawPg raw(conninfo);
  CHECK(count_of(raw, "SELECT count(*) FROM audit_event") == static_cast<std::int64_t>(n));
  CHECK(count_of(raw, "SELECT coalesce(max(leaf) + 1, 0) FROM audit_event") ==
        static_cast<std::int64_t>(n));
  CHECK(count_of(raw, "SELECT size FROM audit_tree") == static_cast<std::int64_t>(n));
  CHECK(count_of(raw, "SELECT next FROM audit_sequence") == static_cast<std::int64_t>(n));
  const auto root = raw.column("SELECT encode(root, 'hex') FROM audit_tree");
  REQUIRE(root.size() == 1);
  CHECK(std::string(root[0].begin(), root[0].end()) ==
        sluis::crypto::to_hex(file.root_at(n).value()));
  const auto signed_sizes = file.checkpoints(0, 1000).value();
  const auto carried = std::count_if(signed_sizes.begin(), signed_sizes.end(),
                                     [&](const auto& cp) { return cp.size <= n; });
  CHECK(count_of(raw, "SELECT count(*) FROM audit_checkpoint") == carried);
}

/// A home made by sluisctl init and filled by sluis-dataset, once per test process; each test
/// works on its own copy.
const fs::path& sized_home_template() {
  static TempDir dir;
  static bool made = false;
  if (!made) {
    const fs::path h = dir.path() / "home";
    std::string out;
    REQUIRE(run_process({SLUISCTL_PATH, "init", "--home", h.string(), "--raw-key", "--port", "0",
                         "--metrics-port", "0"},
                        out, dir.path()) == 0);
    INFO(out);
    REQUIRE(run_process({SLUIS_DATASET_PATH, "--home", h.string(), "--partners", "8", "--workers",
                         "40", "--clients", "3000", "--fragments", "2", "--read-clients", "60",
                         "--read-fragments", "3", "--fields", "2", "--field-bytes", "40"},
                        out, dir.path()) == 0);
    add_the_rest(h);
    add_audit_history(h, origin_of(h));
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
    return run_process(args, out, dir.path());
  }
};

/// sluisd on a home made by sluisctl init, stopped (SIGKILL) on destruction if still running.
class HomeDaemon {
 public:
  explicit HomeDaemon(const SizedHome& h) : h_(h) {
    fs::remove(h.dir.path() / "port");
    pid_ = spawn_process({SLUISD_PATH, "--config", h.config().string(), "--port-file",
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
    const int code = wait_process(pid_);
    pid_ = -1;
    return code;
  }
  /// GET `target` as `partner`'s `worker` over mTLS; the answer must be 200.
  json::value get(const sluis::bench::PartnerCredentialPaths& partner, const std::string& worker,
                  const std::string& target) const {
    gw::Credential cred{gw::PrivateKey::load_pem_file(partner.key).value(),
                        gw::Certificate::load_pem_file(partner.certificate).value()};
    const auto ca = gw::Certificate::load_pem_file(h_.home / "tls/ca.crt").value();
    TlsClient client(port_, ca, ClientOptions{&cred, false});
    REQUIRE_FALSE(client.connect());
    auto r = client.request("GET", target, {},
                            {{"Sluis-Worker", worker}, {"Sluis-Purpose", "care-coordination"}});
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    return body_json(*r);
  }
  /// The fragments of a dossier read as `partner`'s `worker` over mTLS.
  json::value dossier(const sluis::bench::PartnerCredentialPaths& partner,
                      const std::string& worker, const std::string& pseudonym) const {
    return get(partner, worker, "/v1/clients/" + pseudonym + "/dossier").at("fragments");
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

TEST_CASE("store migrate: a sized home moves into PostgreSQL, counts, digests and the audit root "
          "equal; sluisd on it answers the same dossiers and proofs of events from before",
          "[integration][postgresql]") {
  SizedHome h;
  const auto reads = reads_of(h, 4);
  // sluisd signs no checkpoint while it runs here and is killed: its reads are the events after
  // audit.db's newest checkpoint, which the move signs before it copies.
  write_text(h.config(), std::regex_replace(read_text(h.config()),
                                            std::regex("\ncheckpoint_interval_ms = [0-9]+"),
                                            "\ncheckpoint_interval_ms = 600000"));
  std::vector<json::value> before;
  {
    HomeDaemon d(h);
    for (const auto& [r, p] : reads)
      before.push_back(d.dossier(p, r.worker, r.pseudonym));
    CHECK(d.stop(SIGKILL) == 128 + SIGKILL);
  }
  REQUIRE(before[0].as_array().size() == reads[0].first.fragments);
  // audit.db as sluisd left it, and the last dossier read it recorded: the history to carry.
  const auto& reader = reads.back().second;
  std::uint64_t old_size = 0, read_leaf = 0;
  sluis::crypto::Hash old_root{};
  std::string read_event;
  {
    const auto file = file_log(h.home, h.root());
    old_size = file->size();
    REQUIRE(old_size > kHistoryEvents);
    REQUIRE(file->latest_checkpoint().value().size < old_size);  // the reads are not signed
    old_root = file->root_at(old_size).value();
    sluis::audit::AuditQuery q;
    q.partner = reader.partner;
    q.action = sluis::audit::AuditAction::read;
    q.cursor = kHistoryEvents;
    const auto page = file->query(q).value();
    REQUIRE_FALSE(page.events.empty());
    read_leaf = page.events.back().leaf;
    read_event = page.events.back().canonical;
  }
  const std::string fragments = std::to_string(source_counts(h).at("fragments"));
  const std::string conninfo = PgServer::instance().new_database();
  std::string out;
  const int code = h.migrate(conninfo, out, {"--batch", "700", "--switch"});
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("DIFFERS") == std::string::npos);
  CHECK(out.find("fragments") != std::string::npos);
  CHECK_THAT(out, Catch::Contains("now runs on PostgreSQL"));
  // Not a terminal: a plain line per step and per table copied.
  CHECK_THAT(out,
             Catch::Contains("step: verify counts and digests") &&
                 Catch::Contains("copied fragments: " + fragments + " of " + fragments + " rows"));
  const std::string events = std::to_string(old_size);
  CHECK_THAT(out,
             Catch::Contains("copied audit_event: " + events + " of " + events + " rows") &&
                 Catch::Contains("audit log: " + events + " events, root " +
                                 sluis::crypto::to_hex(old_root) + ", the same in PostgreSQL"));
  check_target_counts(h, conninfo);
  {
    const auto file = file_log(h.home, h.root());
    CHECK(file->latest_checkpoint().value().size == old_size);  // the tail, signed by the move
    check_carried_prefix(conninfo, *file, old_size);
  }
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
  {
    HomeDaemon d(h);
    // A witness's proof of a read recorded before the move, against the root audit.db had.
    const auto proof =
        d.get(reader, reads.back().first.worker,
              "/v1/audit/proofs/inclusion?index=" + std::to_string(read_leaf) + "&size=" + events)
            .as_object();
    CHECK(proof.at("event").as_string() == read_event);
    const auto leaf = sluis::crypto::from_base64(proof.at("leaf_hash").as_string()).value();
    REQUIRE(leaf.size() == sluis::crypto::kHashSize);
    sluis::crypto::Hash leaf_hash{};
    std::copy(leaf.begin(), leaf.end(), leaf_hash.begin());
    std::vector<sluis::crypto::Hash> path;
    for (const auto& p : proof.at("path").as_array()) {
      const auto bytes = sluis::crypto::from_base64(p.as_string()).value();
      REQUIRE(bytes.size() == sluis::crypto::kHashSize);
      std::copy(bytes.begin(), bytes.end(), path.emplace_back().begin());
    }
    CHECK(leaf_hash == sluis::crypto::leaf_hash(read_event));
    CHECK(sluis::crypto::verify_inclusion(leaf_hash, read_leaf, old_size, path, old_root));
    for (std::size_t i = 0; i < reads.size(); ++i) {
      CHECK(d.dossier(reads[i].second, reads[i].first.worker, reads[i].first.pseudonym) ==
            before[i]);
    }
    CHECK(d.stop() == 0);
  }
  CHECK_FALSE(fs::exists(h.home / "data/data.db"));
  // The reads on PostgreSQL came after the old events: the log grew from the old size, and the
  // old root is the root of its first old_size events.
  {
    const auto log = database_log(conninfo, h.root());
    REQUIRE(log->size() > old_size);
    CHECK(log->root_at(old_size).value() == old_root);
    const auto grown = log->root_at(log->size()).value();
    const auto proof = log->consistency_proof(old_size, log->size()).value();
    CHECK(sluis::crypto::verify_consistency(old_size, log->size(), old_root, grown, proof));
    sluis::audit::AuditQuery q;
    q.partner = reader.partner;
    q.action = sluis::audit::AuditAction::read;
    q.cursor = old_size;
    CHECK(log->query(q).value().events.size() >= 1);  // the reads made on PostgreSQL
    CHECK(log->latest_checkpoint().value().size == log->size());
  }
  std::string verified;
  const int verify_code = run_process(
      {SLUISCTL_PATH, "audit", "verify", "--config", h.config().string()}, verified, h.dir.path());
  INFO(verified);
  CHECK(verify_code == 0);
  CHECK_THAT(verified, Catch::Contains("The audit log verifies"));
}

TEST_CASE("store migrate: killed with -9 at a random batch (records or audit log), or cut off by "
          "the database, and run again, it goes on and doubles or loses no row or event",
          "[integration][postgresql]") {
  SizedHome h;
  const std::string conninfo = PgServer::instance().new_database();
  std::mt19937 rng(std::random_device{}());
  const auto stop_after = std::uniform_int_distribution<std::int64_t>(200, 6000)(rng);
  {
    const pid_t pid =
        spawn_process({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
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
    const int code = wait_process(pid);
    INFO(read_text(h.dir.path() / "first-run.txt"));
    REQUIRE(killed);
    REQUIRE(code == 128 + SIGKILL);
    CHECK(count_of(raw, "SELECT count(*) FROM store_migration WHERE finished_at IS NULL") == 1);
  }
  // A second interruption: the database drops the move's connection (as a restart would). The
  // run stops with a sentence and keeps what it copied.
  {
    const pid_t pid =
        spawn_process({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
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
    const int code = wait_process(pid);
    const auto said = read_text(h.dir.path() / "second-run.txt");
    INFO(said);
    REQUIRE(dropped);
    CHECK(code == 1);
    CHECK_THAT(said, Catch::Contains("the copy stopped") &&
                         Catch::Contains("run the same command again to go on"));
  }
  // A third, in the audit log's copy: killed once some of its batches are in. Whole batches of
  // events stay, with their tree and checkpoints, and nothing else.
  const auto file = file_log(h.home, h.root());
  {
    const pid_t pid =
        spawn_process({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
                       h.home.string(), "--conninfo", conninfo, "--batch", "50"},
                      h.dir.path() / "third-run.txt");
    RawPg raw(conninfo);
    // Early enough that a dozen batches are still to come when the count is seen.
    const auto stop_at = std::uniform_int_distribution<std::int64_t>(
        50, static_cast<std::int64_t>(kHistoryEvents) / 2)(rng);
    const auto end = std::chrono::steady_clock::now() + 120s;
    bool killed = false;
    while (!killed && std::chrono::steady_clock::now() < end) {
      if (count_of(raw, "SELECT count(*) FROM audit_event") >= stop_at) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
      std::this_thread::sleep_for(1ms);
    }
    const int code = wait_process(pid);
    INFO(read_text(h.dir.path() / "third-run.txt"));
    REQUIRE(killed);
    REQUIRE(code == 128 + SIGKILL);
    const auto kept = static_cast<std::uint64_t>(count_of(raw, "SELECT count(*) FROM audit_event"));
    CHECK(kept < kHistoryEvents);
    CHECK(kept % 50 == 0);
    check_carried_prefix(conninfo, *file, kept);
  }
  // The third run names the database by a [store] section (--config), as a new node's file.
  const fs::path store_file = h.dir.path() / "target.toml";
  write_text(store_file, "[store]\nengine = \"postgresql\"\nconninfo = \"" + conninfo + "\"\n");
  std::string out;
  const int code = run_process({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
                                h.home.string(), "--config", store_file.string(), "--batch", "50"},
                               out, h.dir.path());
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out,
             Catch::Contains("going on where it stopped") &&
                 Catch::Contains("audit events are there from an interrupted move: going on") &&
                 Catch::Contains("the same in PostgreSQL"));
  CHECK(out.find("DIFFERS") == std::string::npos);
  check_target_counts(h, conninfo);
  check_carried_prefix(conninfo, *file, kHistoryEvents);
  // Run once more: nothing is copied again, the comparison still holds.
  REQUIRE(h.migrate(conninfo, out) == 0);
  CHECK_THAT(out, Catch::Contains("Already moved"));
  check_target_counts(h, conninfo);
  check_carried_prefix(conninfo, *file, kHistoryEvents);
}

TEST_CASE("store migrate: a batch (of records or of audit events) failed by the test seam leaves "
          "nothing of itself, and the move goes on from the last batch",
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

  // The audit log: a failed batch keeps nothing of itself (one that would carry a checkpoint);
  // copy() again goes on, and so does a second import, each after the last whole batch, and the
  // end is audit.db's tree, root and checkpoints.
  const auto file = file_log(h.home, root);
  const int audit_fail_at = 3 * std::uniform_int_distribution<int>(1, 3)(rng);  // 300, 600, 900
  int audit_batches = 0;
  sluis::pgaudit::AuditImportOptions io;
  io.database.conninfo = po.conninfo;
  io.batch_events = 100;
  io.inject_failure = [&](std::string_view step) {
    if (step != "import.batch") return false;
    ++audit_batches;
    return audit_batches == audit_fail_at || audit_batches == audit_fail_at + 3;
  };
  {
    auto imp = sluis::pgaudit::AuditLogImport::open(*file, io, root);
    REQUIRE(imp);
    CHECK((*imp)->target().kind == sluis::pgaudit::AuditImportTarget::Kind::prefix);
    CHECK((*imp)->target().events == 0);
    auto r = (*imp)->copy();
    REQUIRE_FALSE(r);
    CHECK(r.error() == sluis::store::Errc::injected_failure);
    check_carried_prefix(po.conninfo, *file, static_cast<std::uint64_t>(audit_fail_at - 1) * 100);
    r = (*imp)->copy();  // the failed batch again, one more, then the second failure
    REQUIRE_FALSE(r);
    CHECK(r.error() == sluis::store::Errc::injected_failure);
  }
  const auto kept = static_cast<std::uint64_t>(audit_fail_at + 1) * 100;
  check_carried_prefix(po.conninfo, *file, kept);
  io.inject_failure = nullptr;
  auto imp = sluis::pgaudit::AuditLogImport::open(*file, io, root);
  REQUIRE(imp);
  CHECK((*imp)->target().events == kept);
  std::vector<std::uint64_t> progress;
  REQUIRE((*imp)->copy([&](const sluis::pgstore::MigrationProgress& p) {
    CHECK(p.earlier == kept);
    CHECK(p.total == kHistoryEvents);
    progress.push_back(p.copied);
  }));
  REQUIRE(progress.size() >= 2);
  CHECK(progress.front() == kept);
  CHECK(progress.back() == kHistoryEvents);
  imp->reset();  // the integrator lock goes with it
  check_carried_prefix(po.conninfo, *file, kHistoryEvents);
  const auto carried = database_log(po.conninfo, root);
  const auto report = carried->verify().value();
  INFO((report.problems.empty() ? std::string() : report.problems.front()));
  CHECK(report.ok());
  CHECK(report.events == kHistoryEvents);
  CHECK(report.checkpoints == 4);
  CHECK(report.root == file->root_at(kHistoryEvents).value());
  CHECK(carried->latest_checkpoint().value().note == file->latest_checkpoint().value().note);
}

TEST_CASE("store migrate: refusals (sluisd running, other records, another home's keys, another "
          "audit log, no audit.db, no database) say why and change nothing",
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
  SECTION("a home with records whose audit log is missing") {
    const std::string conninfo = PgServer::instance().new_database();
    fs::remove(h.home / "data/audit.db");
    const int code = h.migrate(conninfo, out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("has records but no audit log") &&
                        Catch::Contains("run 'sluisctl audit verify'") &&
                        Catch::Contains("nothing was changed"));
    RawPg raw(conninfo);
    CHECK(count_of(raw, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0);
    CHECK_FALSE(fs::exists(h.home / "data/audit.db"));
  }
  SECTION("a database whose audit log holds events that are not audit.db's first ones") {
    const std::string conninfo = PgServer::instance().new_database();
    {
      sluis::pgaudit::PgAuditLogOptions o;
      o.database.conninfo = conninfo;
      o.origin = origin_of(h.home);
      auto other = sluis::pgaudit::open_pg_audit_log(std::move(o), h.root()).value();
      const std::vector<sluis::audit::AuditEvent> events{history_event(0, "elsewhere"),
                                                         history_event(1, "elsewhere"),
                                                         history_event(2, "elsewhere")};
      REQUIRE(other->append(events));
    }
    const int code = h.migrate(conninfo, out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("holds 3 events that are not the first 3 of audit.db") &&
                        Catch::Contains("Nothing was changed"));
    RawPg raw(conninfo);
    CHECK(count_of(raw, "SELECT count(*) FROM audit_event") == 3);
    CHECK(count_of(raw, "SELECT count(*) FROM partners") == 0);
    CHECK(count_of(raw, "SELECT count(*) FROM store_migration") == 0);
  }
  SECTION("a database whose audit log has another origin") {
    const std::string conninfo = PgServer::instance().new_database();
    {
      sluis::pgaudit::PgAuditLogOptions o;
      o.database.conninfo = conninfo;
      o.origin = "elsewhere.example/audit";
      REQUIRE(sluis::pgaudit::open_pg_audit_log(std::move(o), h.root()));
    }
    const int code = h.migrate(conninfo, out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("has the origin \"elsewhere.example/audit\"") &&
                        Catch::Contains("Nothing was changed"));
    RawPg raw(conninfo);
    CHECK(count_of(raw, "SELECT count(*) FROM audit_event") == 0);
    CHECK(count_of(raw, "SELECT count(*) FROM partners") == 0);
  }
  SECTION("a home whose [audit] origin is not the one audit.db signs with") {
    const std::string conninfo = PgServer::instance().new_database();
    const std::string origin = origin_of(h.home);
    write_text(h.config(), std::regex_replace(config_before, std::regex("\norigin = \"[^\"]*\""),
                                              "\norigin = \"renamed.example/audit\""));
    const int code = h.migrate(conninfo, out, {"--switch"});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("audit.db signs its checkpoints as origin \"" + origin) &&
                        Catch::Contains("Nothing was changed"));
    RawPg raw(conninfo);
    CHECK(count_of(raw, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0);
    write_text(h.config(), config_before);
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

TEST_CASE("store migrate: a brand-new home (no records, no audit.db or an empty one) moves, and "
          "its log starts in the database",
          "[integration][postgresql]") {
  TempDir dir;
  const fs::path home = dir.path() / "home";
  std::string out;
  REQUIRE(run_process({SLUISCTL_PATH, "init", "--home", home.string(), "--raw-key", "--port", "0",
                       "--metrics-port", "0"},
                      out, dir.path()) == 0);
  REQUIRE_FALSE(fs::exists(home / "data/audit.db"));
  const bool empty_log = GENERATE(false, true);
  // An operator act on the stopped home makes an audit.db without events.
  if (empty_log) {
    REQUIRE(run_process({SLUISCTL_PATH, "partner", "list", "--home", home.string()}, out,
                        dir.path()) == 0);
  }
  const std::string conninfo = PgServer::instance().new_database();
  const int code = run_process({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
                                home.string(), "--conninfo", conninfo, "--switch"},
                               out, dir.path());
  INFO(out);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains(empty_log ? "audit log: 0 events" : "audit log: none yet") &&
                      Catch::Contains("now runs on PostgreSQL"));
  RawPg raw(conninfo);
  CHECK(count_of(raw, "SELECT count(*) FROM store_migration WHERE finished_at IS NOT NULL") == 1);
  CHECK(count_of(raw, "SELECT count(*) FROM audit_event") == 0);
  CHECK(fs::exists(home / "data/audit.db") == empty_log);
  CHECK(count_of(raw, "SELECT count(*) FROM audit_meta WHERE name = 'origin'") ==
        (empty_log ? 1 : 0));
}
