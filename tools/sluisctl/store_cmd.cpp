// sluisctl store migrate --to postgresql: moves a stopped SQLCipher home into a PostgreSQL
// database (gateway/pgstore home_migration.hpp) as a list of steps, with a progress bar.
#include "sluis/audit/log.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/keyfile.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/crypto/sign.hpp"
#include "sluis/daemon/config.hpp"
#include "sluis/ops/operator_channel.hpp"
#include "sluis/pgaudit/pg_audit_log.hpp"
#include "sluis/pgstore/home_migration.hpp"
#include "sluis/server/config.hpp"
#include "sluis/store/store.hpp"
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"
#include "sluisctl/passphrase.hpp"

#include <sodium.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace sluis::ctl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using sluis::pgstore::MigrationTarget;

constexpr const char* kStoreUsage =
    "usage:\n"
    "  sluisctl store migrate --to postgresql --home DIR\n"
    "                (--conninfo S [--sslmode M] [--sslrootcert F] [--password-file F]\n"
    "                 | --config FILE) [--batch N] [--switch] [--passphrase-file F]\n"
    "      With sluisd stopped: copies every record of the home's SQLCipher store (partners,\n"
    "      workers, clients, fragments, consents, grants, labels, the key store's data keys as\n"
    "      wrapped, erasure tombstones) into the PostgreSQL database, and its KEKs into the KEK\n"
    "      ring file beside the root key ([store] kek_ring), in batches\n"
    "      of N rows (default 500) in key order, then compares counts and digests of every\n"
    "      table on both sides. The audit log (DIR's audit.db) is carried into the database's\n"
    "      log the same way: every event with its leaf number, the tree and every signed\n"
    "      checkpoint, then its size, root and checkpoints are verified there. Interrupted, run\n"
    "      it again: it goes on where it stopped. The database is named as in the [store]\n"
    "      section of sluis.toml: by the options, or by the [store] section of FILE. It must be\n"
    "      empty (or hold this move). With --switch the home's sluis.toml gets that [store]\n"
    "      section; otherwise the lines are printed.\n"
    "  sluisctl store kek rotate --home DIR [--batch N] [--ring-only] [--passphrase-file F]\n"
    "      PostgreSQL: adds a new KEK version to the KEK ring file ([store] kek_ring), then\n"
    "      rewraps every data key in the database under it, N per transaction (default 500;\n"
    "      sluisd may keep running). Interrupted, run it again: it goes on. The old version\n"
    "      stays in the ring until 'destroy'. With several machines, run it first with\n"
    "      --ring-only, copy the ring file to every node, then run it without.\n"
    "  sluisctl store kek destroy --home DIR --version N [--passphrase-file F]\n"
    "      PostgreSQL: removes KEK version N from the ring file for good, once no data key is\n"
    "      wrapped under it (refused, with the count, before). Database backups from before\n"
    "      the rotation then open nothing; copy the ring file to every node afterwards.\n";

/// A failure the person can act on, already a sentence; nothing further was changed.
struct Refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

crypto::RootKey unlock_root(const daemon::DaemonConfig& config, const Options& opt) {
  auto sealed = crypto::root_key_file_is_sealed(config.key_file);
  if (!sealed) {
    throw Refusal("the root key file " + config.key_file.string() +
                  " cannot be used: " + sealed.error().message());
  }
  std::optional<std::string> pass_file = opt.get("passphrase-file");
  if (!pass_file && !config.passphrase_file.empty()) pass_file = config.passphrase_file.string();
  crypto::SecretBuffer pass(0);
  if (*sealed) pass = read_passphrase(pass_file, "Root key passphrase: ", false);
  auto root = crypto::read_root_key(config.key_file, pass.reveal());
  if (!root) {
    throw Refusal("the root key file " + config.key_file.string() +
                  " does not open: " + root.error().message());
  }
  return std::move(*root);
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

/// The [store] section the home moves to: --config FILE's, or the options'.
daemon::StoreConfig target_store(const Options& opt) {
  daemon::StoreConfig store;
  if (auto file = opt.get("config")) {
    for (const char* o : {"conninfo", "sslmode", "sslrootcert", "password-file"}) {
      if (opt.get(o)) throw UsageError("give either --config or --" + std::string(o));
    }
    store = daemon::load_daemon_config(*file).store;
    if (store.engine != daemon::StoreEngine::postgresql) {
      throw UsageError("the [store] section of " + *file + " must say engine = \"postgresql\"");
    }
    return store;
  }
  store.engine = daemon::StoreEngine::postgresql;
  store.conninfo = opt.require("conninfo");
  // The same checks as sluis.toml's [store]: what is written by --switch must load.
  std::string text =
      "[store]\nengine = \"postgresql\"\nconninfo = " + toml_string(store.conninfo) + "\n";
  if (auto m = opt.get("sslmode")) text += "sslmode = " + toml_string(*m) + "\n";
  if (auto f = opt.get("sslrootcert")) {
    text += "sslrootcert = " + toml_string(fs::absolute(*f).string()) + "\n";
  }
  if (auto f = opt.get("password-file")) {
    text += "password_file = " + toml_string(fs::absolute(*f).string()) + "\n";
  }
  return daemon::parse_daemon_config(text, "the options", fs::current_path()).store;
}

/// The [store] lines for sluis.toml.
std::vector<std::string> store_lines(const daemon::StoreConfig& s) {
  std::vector<std::string> lines{"engine = \"postgresql\"",
                                 "conninfo = " + toml_string(s.conninfo)};
  if (!s.sslmode.empty()) lines.push_back("sslmode = " + toml_string(s.sslmode));
  if (!s.sslrootcert.empty()) {
    lines.push_back("sslrootcert = " + toml_string(fs::absolute(s.sslrootcert).string()));
  }
  if (!s.password_file.empty()) {
    lines.push_back("password_file = " + toml_string(fs::absolute(s.password_file).string()));
  }
  return lines;
}

/// sluis.toml with its [store] section's engine and connection keys replaced by `lines` (the
/// section is added when there is none); checked by parsing before it replaces the file.
void switch_config(const fs::path& path, const std::vector<std::string>& lines) {
  std::ifstream in(path);
  std::vector<std::string> old;
  for (std::string l; std::getline(in, l);)
    old.push_back(l);
  auto key_of = [](const std::string& l) {
    const auto b = l.find_first_not_of(" \t");
    if (b == std::string::npos) return std::string();
    const auto e = l.find_first_of(" \t=", b);
    return l.substr(b, e == std::string::npos ? std::string::npos : e - b);
  };
  std::string out;
  bool in_store = false, placed = false;
  for (const auto& l : old) {
    const auto k = key_of(l);
    if (!k.empty() && k[0] == '[') {
      in_store = k == "[store]";
      out += l + "\n";
      if (in_store) {
        for (const auto& n : lines)
          out += n + "\n";
        placed = true;
      }
      continue;
    }
    if (in_store && (k == "engine" || k == "conninfo" || k == "sslmode" || k == "sslrootcert" ||
                     k == "password_file")) {
      continue;
    }
    out += l + "\n";
  }
  if (!placed) {
    out += "\n[store]\n";
    for (const auto& n : lines)
      out += n + "\n";
  }
  const auto parsed = daemon::parse_daemon_config(out, path.string(), path.parent_path());
  if (parsed.store.engine != daemon::StoreEngine::postgresql) {
    throw std::logic_error("the switched configuration does not name PostgreSQL");
  }
  const fs::path fresh = path.string() + ".migrate-new";
  {
    std::ofstream f(fresh, std::ios::trunc);
    f << out;
    if (!f.flush()) throw std::runtime_error("cannot write " + fresh.string());
  }
  fs::rename(fresh, path);
}

/// The progress of one table: a bar redrawn in place on a terminal, else one line when done.
class ProgressBar {
 public:
  ProgressBar() : terminal_(::isatty(STDERR_FILENO) == 1) {}
  void update(const sluis::pgstore::MigrationProgress& p) {
    const auto now = Clock::now();
    if (p.table != table_) {
      finish_line();
      table_ = std::string(p.table);
      // A table's first batch was read and written since the previous table's last report.
      started_ = previous_ == Clock::time_point{} ? now : previous_;
      first_copied_ = p.earlier;
    }
    previous_ = now;
    last_ = p;
    const bool done = p.copied >= p.total;
    if (terminal_ && (done || now - drawn_ > std::chrono::milliseconds(100))) {
      drawn_ = now;
      constexpr int kWidth = 30;
      const double share =
          p.total == 0 ? 1.0 : static_cast<double>(p.copied) / static_cast<double>(p.total);
      const int filled = static_cast<int>(share * kWidth);
      std::fprintf(
          stderr, "\r  %-22s [%s%s] %llu/%llu rows, %.0f rows/s ", table_.c_str(),
          std::string(static_cast<std::size_t>(std::min(filled, kWidth)), '#').c_str(),
          std::string(static_cast<std::size_t>(kWidth - std::min(filled, kWidth)), '.').c_str(),
          static_cast<unsigned long long>(p.copied), static_cast<unsigned long long>(p.total),
          rate(now));
      std::fflush(stderr);
    }
  }
  void finish_line() {
    if (table_.empty()) return;
    if (terminal_) {
      std::fputs("\n", stderr);
    } else {
      std::fprintf(stderr, "  copied %s: %llu of %llu rows, %.0f rows/s\n", table_.c_str(),
                   static_cast<unsigned long long>(last_.copied),
                   static_cast<unsigned long long>(last_.total), rate(Clock::now()));
    }
    table_.clear();
  }

 private:
  [[nodiscard]] double rate(Clock::time_point now) const {
    const double s = std::chrono::duration<double>(now - started_).count();
    return s <= 0 ? 0.0 : static_cast<double>(last_.copied - first_copied_) / s;
  }
  bool terminal_;
  std::string table_;
  sluis::pgstore::MigrationProgress last_{};
  std::uint64_t first_copied_ = 0;
  Clock::time_point started_{}, drawn_{}, previous_{};
};

std::string pg_refusal(boost::system::error_code e) {
  const std::string where = "the PostgreSQL database";
  if (e == store::Errc::unavailable) {
    return where + " cannot be reached or refused the login (" + e.message() +
           "); check --conninfo, --sslmode, the password file and that the database runs. "
           "Nothing was changed";
  }
  if (e == store::Errc::invalid_argument) {
    return where + " is not named correctly: check the conninfo and that the password file can "
                   "be read. Nothing was changed";
  }
  if (e == store::Errc::schema_too_new) return where + " was migrated by a newer sluis";
  if (e == store::Errc::crypto_failure) {
    return where + " holds the keys of another sluis home (they do not open with this home's "
                   "root key); move this home into an empty database. Nothing was changed";
  }
  return where + " cannot be used (" + e.message() + ")";
}

struct Audit {
  std::unique_ptr<audit::AuditLog> log;  ///< held (its writer lock) for the whole move
  std::uint64_t size = 0;
  std::string root;
};

/// The audit log's size and root (its writer lock held from here on, so no sluisd starts on
/// the home meanwhile). No audit.db: none held (the store step refuses a home that has records
/// but no log).
Audit open_audit(const daemon::DaemonConfig& config, const crypto::RootKey& root) {
  Audit a;
  const fs::path path = config.data_dir / "audit.db";
  std::error_code ec;
  if (!fs::exists(path, ec)) return a;
  audit::AuditLogOptions options;
  options.path = path;
  options.origin.clear();
  auto log = audit::AuditLog::open(std::move(options), root);
  if (!log) {
    if (log.error() == store::Errc::in_use) {
      throw Refusal("the audit log " + path.string() +
                    " is held by another process (sluisd, or another sluisctl): stop sluisd "
                    "before moving its home. Nothing was changed");
    }
    throw Refusal("the audit log " + path.string() + " does not open (" + log.error().message() +
                  "); run 'sluisctl audit verify' first. Nothing was changed");
  }
  // Events after the newest checkpoint (sluisd was killed) get signed now, as sluisd signs at a
  // clean stop: the writer would otherwise sign them by itself within checkpoint_interval,
  // somewhere in the middle of the copy. So every event carried is under a carried signature.
  const auto newest = (*log)->latest_checkpoint();
  const bool unsigned_tail = (*log)->size() > (newest ? newest->size : 0);
  if (auto cp = unsigned_tail ? (*log)->checkpoint() : store::Result<std::string>(std::string());
      !cp) {
    throw Refusal("the audit log " + path.string() + " cannot sign its newest events (" +
                  cp.error().message() + "); run 'sluisctl audit verify' first");
  }
  a.size = (*log)->size();
  auto r = (*log)->root_at(a.size);
  if (!r) throw Refusal("the audit log's root cannot be read: " + r.error().message());
  a.root = crypto::to_hex(*r);
  a.log = std::move(*log);
  return a;
}

/// Connection options for the database `store` names (connection, TLS, password file), with
/// the home's KEK ring and erasure ledger.
sluis::pgstore::PgOptions database_options(const daemon::DaemonConfig& config,
                                           const daemon::StoreConfig& store,
                                           std::string application_name) {
  sluis::pgstore::PgOptions o;
  o.conninfo = store.conninfo;
  o.sslmode = store.sslmode;
  o.sslrootcert = store.sslrootcert;
  o.password_file = store.password_file;
  o.kek_ring_file = daemon::kek_ring_path(config);
  o.erasure_ledger_file = daemon::erasure_ledger_path(config);
  o.application_name = std::move(application_name);
  return o;
}

/// The options of the move's connections to the database.
sluis::pgstore::PgOptions pg_options(const daemon::DaemonConfig& config,
                                     const daemon::StoreConfig& target) {
  auto o = database_options(config, target, "sluisctl-store-migrate");
  o.pool_size = 1;
  return o;
}

/// Refuses a home whose store has records but whose audit log is missing: its history would be
/// lost, and a gateway on PostgreSQL would start a log that does not account for them.
void require_audit_for_records(store::Store& source, const daemon::DaemonConfig& config) {
  std::uint64_t records = 0;
  for (const auto& t : store::export_tables()) {
    if (std::string_view(t.name) == "keks") continue;  // made by 'sluisctl init'
    auto n = source.count_rows(t);
    if (!n) throw Refusal("the store's tables cannot be counted (" + n.error().message() + ")");
    records += *n;
  }
  if (records == 0) return;
  throw Refusal("the home " + config.data_dir.string() + " has records but no audit log (" +
                (config.data_dir / "audit.db").string() +
                " is missing): its history cannot be carried into PostgreSQL. Restore audit.db "
                "from a backup of this home and run 'sluisctl audit verify' on it; nothing was "
                "changed");
}

/// The PostgreSQL log after the import: what audit verify checks, the same size and root as
/// audit.db, and its newest checkpoint (audit.db's) verifying against it. Prints the result.
void verify_carried_log(const Audit& before, const sluis::pgstore::PgOptions& database,
                        const crypto::RootKey& root) {
  sluis::pgaudit::PgAuditLogOptions o;
  o.database = database;
  o.origin.clear();
  o.read_only = true;
  auto log = sluis::pgaudit::open_pg_audit_log(std::move(o), root);
  if (!log) {
    throw Refusal("the audit log in the PostgreSQL database does not open (" +
                  log.error().message() + "); run the same command again");
  }
  auto report = (*log)->verify();
  if (!report) {
    throw Refusal("the audit log in PostgreSQL cannot be verified (" + report.error().message() +
                  "); run the same command again");
  }
  const auto size = before.log->size();
  auto pg_root = (*log)->root_at(size);
  const std::string where = "the audit log copied into PostgreSQL ";
  if (!report->ok()) {
    throw Refusal(where + "does not verify (" + report->problems.front() +
                  "); keep the home on SQLCipher and move it into a fresh database");
  }
  if (report->events != size || (*log)->size() != size || !pg_root ||
      crypto::to_hex(*pg_root) != before.root || crypto::to_hex(report->root) != before.root) {
    throw Refusal(where + "holds " + std::to_string(report->events) + " events, not the " +
                  std::to_string(size) +
                  " of audit.db with its root; keep the home on SQLCipher and move it into a "
                  "fresh database");
  }
  std::string newest = "no checkpoint yet";
  if (auto mine = before.log->latest_checkpoint(); mine) {
    const auto signer = crypto::SigningKey::from_subkey(
        crypto::derive_subkey(root, crypto::KeyPurpose::audit_signing));
    const auto& origin = before.log->origin();
    auto theirs = (*log)->latest_checkpoint();
    bool good = theirs && theirs->note == mine->note;
    auto parsed =
        good ? crypto::verify_checkpoint(theirs->note, signer.verifying_key(), origin, origin)
             : crypto::Result<crypto::Checkpoint>(
                   crypto::make_error_code(crypto::Errc::bad_signature));
    good = good && parsed;
    if (good) {
      auto at = (*log)->root_at(parsed->size);
      auto proof = (*log)->consistency_proof(parsed->size, size);
      good = at && *at == parsed->root && proof &&
             crypto::verify_consistency(parsed->size, size, parsed->root, *pg_root, *proof);
    }
    if (!good) {
      throw Refusal(where + "does not carry audit.db's newest checkpoint (size " +
                    std::to_string(mine->size) +
                    ") as one that verifies against it; keep the home on SQLCipher and move it "
                    "into a fresh database");
    }
    newest = "the newest (size " + std::to_string(parsed->size) + ") verifies against it";
  }
  std::printf("audit log: %llu events, root %s, the same in PostgreSQL; %llu checkpoints "
              "carried, %s\n",
              static_cast<unsigned long long>(size), before.root.c_str(),
              static_cast<unsigned long long>(report->checkpoints), newest.c_str());
}

int migrate(Args args) {
  const Options opt(args,
                    {"to", "home", "conninfo", "sslmode", "sslrootcert", "password-file", "config",
                     "batch", "passphrase-file"},
                    {"switch"});
  if (opt.require("to") != "postgresql") {
    throw UsageError("--to takes postgresql (the only engine a home moves to)");
  }
  const fs::path home = fs::absolute(opt.require("home"));
  if (!fs::exists(home / "sluis.toml")) {
    throw UsageError(home.string() + " is not a gateway home (no sluis.toml)");
  }
  const auto config = daemon::load_daemon_config(home / "sluis.toml");
  const auto target = target_store(opt);
  sluis::pgstore::MigrationOptions moptions;
  if (auto b = opt.get("batch")) moptions.batch_rows = parse_count("batch", *b);
  if (moptions.batch_rows == 0) throw UsageError("--batch needs at least 1 row");
  if (config.store.engine != daemon::StoreEngine::sqlcipher) {
    throw Refusal("this home's records are in PostgreSQL already ([store] engine in " +
                  (home / "sluis.toml").string() + "); there is nothing to move");
  }

  // The steps, in order. Each either refuses with a sentence (changing nothing) or is done.
  crypto::RootKey root = crypto::RootKey::random();
  Audit audit_before;
  std::unique_ptr<store::Store> source;
  std::unique_ptr<sluis::pgstore::PgStorage> pg;
  std::unique_ptr<sluis::pgaudit::AuditLogImport> audit_import;
  std::vector<sluis::pgstore::TableComparison> checks;
  bool already = false;
  const std::vector<std::pair<const char*, std::function<void()>>> steps = {
      {"sluisd is stopped",
       [&] {
         auto call = ops::call_operator_channel(config.operator_socket, R"({"op":"status"})",
                                                std::chrono::seconds(5));
         if (call.outcome != ops::OperatorCall::Outcome::no_gateway) {
           throw Refusal("sluisd is running on this home (its operator socket " +
                         config.operator_socket.string() +
                         " answers): the move is done offline; stop sluisd, then run this "
                         "again. Nothing was changed");
         }
         root = unlock_root(config, opt);
         audit_before = open_audit(config, root);
       }},
      {"the SQLCipher store opens",
       [&] {
         store::StoreOptions o;
         o.data_path = config.data_dir / "data.db";
         o.key_store_path = config.data_dir / "keys.db";
         auto s = store::Store::open(o, root);
         if (!s) {
           throw Refusal("the store in " + config.data_dir.string() + " does not open (" +
                         s.error().message() + "). Nothing was changed");
         }
         source = std::move(*s);
         if (!audit_before.log) {
           require_audit_for_records(*source, config);
         } else if (audit_before.log->origin() != config.audit.origin) {
           // sluisd on PostgreSQL signs as [audit] origin: the carried checkpoints must be its.
           throw Refusal("audit.db signs its checkpoints as origin \"" +
                         audit_before.log->origin() + "\" but [audit] origin in " +
                         (home / "sluis.toml").string() + " says \"" + config.audit.origin +
                         "\"; set origin = \"" + audit_before.log->origin() +
                         "\" there (witnesses pinned it) and run this again. Nothing was changed");
         }
       }},
      {"the PostgreSQL database is empty or holds this move",
       [&] {
         auto o = pg_options(config, target);
         std::string why;
         auto p = sluis::pgstore::PgStorage::open(o, root, &why);
         if (!p && (p.error() == store::Errc::key_unavailable ||
                    p.error() == store::Errc::conflict)) {
           // The database's KEK versions are not this home's ring's: another home's data.
           throw Refusal("the PostgreSQL database holds the keys of another sluis home (" + why +
                         "); move this home into an empty database. Nothing was changed");
         }
         if (!p && !why.empty()) throw Refusal(why + ". Nothing was changed");
         if (!p) throw Refusal(pg_refusal(p.error()));
         pg = std::move(*p);
         auto state = sluis::pgstore::HomeMigration::inspect(*pg);
         if (!state) throw Refusal(pg_refusal(state.error()));
         using Kind = MigrationTarget::Kind;
         if (state->kind == Kind::another_home) {
           throw Refusal("the PostgreSQL database holds a move of another sluis home; move this "
                         "home into an empty database. Nothing was changed");
         }
         if (state->kind == Kind::other_data) {
           throw Refusal("the PostgreSQL database already holds " + std::to_string(state->records) +
                         " records that this move did not write (another home's data); move "
                         "this home into an empty database. Nothing was changed");
         }
         already = state->kind == Kind::finished;
         if (state->kind == Kind::in_progress) {
           std::fprintf(stderr, "  an interrupted move of this home is there: going on where "
                                "it stopped\n");
         }
       }},
      {"the PostgreSQL database's audit log is empty or holds audit.db's first events",
       [&] {
         if (!audit_before.log) return;  // a new home: sluisd starts the log in the database
         sluis::pgaudit::AuditImportOptions o;
         o.database = pg_options(config, target);
         o.batch_events = std::min<std::size_t>(moptions.batch_rows, audit::kMaxAuditPage);
         auto imp = sluis::pgaudit::AuditLogImport::open(*audit_before.log, o, root);
         if (!imp && imp.error() == store::Errc::busy) {
           throw Refusal("a sluisd node runs on the PostgreSQL database (it holds the audit log's "
                         "integrator lock): the move is done offline; stop every node on that "
                         "database, then run this again. Nothing was changed");
         }
         if (!imp) throw Refusal(pg_refusal(imp.error()));
         using Kind = sluis::pgaudit::AuditImportTarget::Kind;
         const auto& t = (*imp)->target();
         if (t.kind == Kind::other_origin) {
           throw Refusal("the audit log in the PostgreSQL database has the origin \"" + t.origin +
                         "\", audit.db \"" + audit_before.log->origin() +
                         "\" (another gateway's log); move this home into an empty database. "
                         "Nothing was changed");
         }
         if (t.kind == Kind::other_events) {
           throw Refusal("the audit log in the PostgreSQL database holds " +
                         std::to_string(t.events) + " events that are not the first " +
                         std::to_string(t.events) + " of audit.db's " +
                         std::to_string(audit_before.size) +
                         " (another log's history, or a gateway ran on the database); move this "
                         "home into an empty database. Nothing was changed");
         }
         if (t.events > 0) {
           std::fprintf(stderr,
                        "  %llu of %llu audit events are there from an interrupted move: going "
                        "on after them\n",
                        static_cast<unsigned long long>(t.events),
                        static_cast<unsigned long long>(audit_before.size));
         }
         audit_import = std::move(*imp);
       }},
      {"copy every table",
       [&] {
         ProgressBar bar;
         moptions.on_progress = [&](const sluis::pgstore::MigrationProgress& p) { bar.update(p); };
         auto r = sluis::pgstore::HomeMigration::copy(*source, *pg, moptions);
         bar.finish_line();
         if (!r) {
           throw Refusal("the copy stopped (" + r.error().message() +
                         "); what was copied is kept: run the same command again to go on");
         }
       }},
      {"copy the audit log",
       [&] {
         if (!audit_import) return;
         ProgressBar bar;
         auto r =
             audit_import->copy([&](const sluis::pgstore::MigrationProgress& p) { bar.update(p); });
         bar.finish_line();
         if (!r && r.error() == store::Errc::audit_log_inconsistent) {
           throw Refusal("audit.db's events do not match its signed checkpoints (or one is "
                         "missing): run 'sluisctl audit verify --log " +
                         (config.data_dir / "audit.db").string() +
                         "'; what was copied before is kept");
         }
         if (!r) {
           throw Refusal("the copy of the audit log stopped (" + r.error().message() +
                         "); what was copied is kept: run the same command again to go on");
         }
       }},
      {"verify counts and digests",
       [&] {
         auto r = sluis::pgstore::HomeMigration::verify(*source, *pg);
         if (!r) throw Refusal("the comparison could not be made (" + r.error().message() + ")");
         checks = std::move(*r);
         bool equal = true;
         std::printf("%-24s %10s %10s  %s\n", "TABLE", "SQLCIPHER", "POSTGRESQL", "DIGEST");
         for (const auto& c : checks) {
           std::printf("%-24s %10llu %10llu  %s\n", c.table.c_str(),
                       static_cast<unsigned long long>(c.source_rows),
                       static_cast<unsigned long long>(c.target_rows),
                       c.equal() ? (c.source_digest.substr(0, 16) + " equal").c_str() : "DIFFERS");
           equal = equal && c.equal();
         }
         if (!equal) {
           throw Refusal("the PostgreSQL copy differs from the SQLCipher store in the tables "
                         "marked DIFFERS (was sluisd run on the home between two runs?); keep "
                         "the home on SQLCipher, and move it into a fresh database");
         }
       }},
      {"verify the audit log in PostgreSQL",
       [&] {
         if (!audit_before.log) {
           std::printf("audit log: none yet in %s (a new home): sluisd on PostgreSQL starts it "
                       "in the database\n",
                       config.data_dir.c_str());
           return;
         }
         const auto size = audit_before.log->size();
         auto r = audit_before.log->root_at(size);
         if (!r || size != audit_before.size || crypto::to_hex(*r) != audit_before.root) {
           throw Refusal("the audit log changed during the move; run 'sluisctl audit verify'");
         }
         verify_carried_log(audit_before, pg_options(config, target), root);
       }},
      {"record the move as finished",
       [&] {
         if (auto r = sluis::pgstore::HomeMigration::finish(*pg); !r) {
           throw Refusal("the move could not be recorded as finished (" + r.error().message() +
                         "); run the same command again");
         }
       }},
  };
  for (const auto& [name, run] : steps) {
    if (::isatty(STDERR_FILENO) == 0) std::fprintf(stderr, "step: %s\n", name);
    run();
  }
  const auto lines = store_lines(target);
  if (opt.flag("switch")) {
    switch_config(home / "sluis.toml", lines);
    std::printf("%s: the home now runs on PostgreSQL ([store] written). Start sluisd; keep "
                "data.db and keys.db until you have a backup of the database.\n",
                already ? "Already moved" : "Moved");
  } else {
    std::printf("%s. To run the home on PostgreSQL, set in the [store] section of %s:\n",
                already ? "Already moved" : "Moved", (home / "sluis.toml").c_str());
    for (const auto& l : lines)
      std::printf("  %s\n", l.c_str());
    std::printf("(or run this command again with --switch).\n");
  }
  return kExitOk;
}

/// A node's database as its [store] section names it (connection, ring, ledger), for a KEK act.
sluis::pgstore::PgOptions node_database(const daemon::DaemonConfig& config,
                                        std::string application_name) {
  return database_options(config, config.store, std::move(application_name));
}

/// A KEK act on the record before it is done (promise 7): appended to the audit log in the
/// database (every node appends there) as the operator acts' events are: worker
/// "operator:<account>", action key-rotate, the rule saying which act ("kek:rotate",
/// "kek:destroy:N"); and a second event with decision deny when it then fails or is refused.
class KekAct {
 public:
  KekAct(const daemon::DaemonConfig& config, const crypto::RootKey& root, std::string rule) {
    sluis::pgaudit::PgAuditLogOptions options;
    options.database = node_database(config, "sluisctl-store-kek-audit");
    options.origin.clear();  // whatever the database says
    auto log = sluis::pgaudit::open_pg_audit_log(std::move(options), root);
    if (!log) {
      throw Refusal("the audit log in the database cannot be opened (" + log.error().message() +
                    "), so the key act was not done. Nothing was changed");
    }
    log_ = std::move(*log);
    event_.time = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    event_.worker = "operator:" + ops::account_name(::getuid());
    event_.role = "operator";
    event_.action = audit::AuditAction::key_rotate;
    event_.rule = std::move(rule);
    std::array<std::uint8_t, 8> id{};
    randombytes_buf(id.data(), id.size());
    event_.request_id = "op-" + crypto::to_hex(id);
  }
  /// Appends the intent, or refuses (nothing done).
  void record() {
    if (!log_->append(event_)) {
      throw Refusal("the audit log cannot record the key act, so it was not done. Nothing was "
                    "changed");
    }
  }
  /// Records that the recorded act did not happen (failed or refused).
  void failed() {
    auto e = event_;
    e.decision = audit::AuditDecision::deny;
    e.rule += " store.failed";
    static_cast<void>(log_->append(e));
  }

 private:
  std::unique_ptr<audit::AuditLog> log_;
  audit::AuditEvent event_;
};

/// The home's configuration, for a KEK act (PostgreSQL only).
daemon::DaemonConfig node_config(const fs::path& home) {
  if (!fs::exists(home / "sluis.toml")) {
    throw UsageError(home.string() + " is not a gateway home (no sluis.toml)");
  }
  auto config = daemon::load_daemon_config(home / "sluis.toml");
  if (config.store.engine != daemon::StoreEngine::postgresql) {
    throw Refusal("this home keeps its records in SQLCipher ([store] engine in " +
                  (home / "sluis.toml").string() +
                  "); its KEK is rotated by 'sluisctl rotate --home DIR'");
  }
  return config;
}

/// The home's PostgreSQL engine as a node of it opens it (ring, ledger), for a KEK act.
std::unique_ptr<sluis::pgstore::PgStorage> open_node_engine(const daemon::DaemonConfig& config,
                                                            const crypto::RootKey& root) {
  auto o = node_database(config, "sluisctl-store-kek");
  o.pool_size = 1;
  o.listen_for_changes = false;
  std::string why;
  auto p = sluis::pgstore::PgStorage::open(o, root, &why);
  if (!p && !why.empty()) throw Refusal(why + ". Nothing was changed");
  if (!p) throw Refusal(pg_refusal(p.error()));
  return std::move(*p);
}

std::string versions_text(const std::vector<crypto::KekVersion>& versions) {
  std::string out;
  for (const auto v : versions)
    out += (out.empty() ? "" : ", ") + std::to_string(v.value);
  return out.empty() ? "none" : out;
}

int kek(Args args) {
  if (args.empty() || (args[0] != "rotate" && args[0] != "destroy")) {
    throw UsageError("store kek takes rotate or destroy");
  }
  const bool rotate = args[0] == "rotate";
  const Options opt(args.subspan(1), {"home", "batch", "version", "passphrase-file"},
                    {"ring-only"});
  const fs::path home = fs::absolute(opt.require("home"));
  const auto config = node_config(home);
  if (rotate) {
    sluis::pgstore::KekRotationOptions ro;
    if (auto b = opt.get("batch")) ro.batch_rows = parse_count("batch", *b);
    if (ro.batch_rows == 0) throw UsageError("--batch needs at least 1 key");
    if (opt.get("version")) throw UsageError("rotate takes no --version");
    ro.ring_only = opt.flag("ring-only");
    const auto root = unlock_root(config, opt);
    auto pg = open_node_engine(config, root);
    KekAct act(config, root, ro.ring_only ? "kek:rotate ring-only" : "kek:rotate");
    act.record();
    ro.on_batch = [](std::uint64_t n) {
      if (::isatty(STDERR_FILENO) == 1) {
        std::fprintf(stderr, "\r  rewrapped %llu data keys ", static_cast<unsigned long long>(n));
      }
    };
    std::string why;
    auto r = pg->rotate_kek(ro, &why);
    if (::isatty(STDERR_FILENO) == 1) std::fputs("\n", stderr);
    if (!r) {
      act.failed();
      throw Refusal("the rotation stopped (" + (why.empty() ? r.error().message() : why) +
                    "); what was rewrapped is kept: run the same command again to go on");
    }
    if (ro.ring_only && r->registered) {
      std::printf("A rotation to KEK version %u is not finished yet (data keys are still wrapped "
                  "under older versions); nothing was added. Run 'sluisctl store kek rotate "
                  "--home %s' to finish it.\n",
                  r->version.value, home.c_str());
      return kExitOk;
    }
    if (!r->registered) {
      std::printf("KEK version %u added to the ring file (not in use yet). Copy the ring file to "
                  "every node, then run 'sluisctl store kek rotate --home %s' to rewrap.\n",
                  r->version.value, home.c_str());
      return kExitOk;
    }
    std::printf("%s KEK version %u: %llu data keys rewrapped; every data key is now wrapped under "
                "it. Ring versions: %s. Destroy the older ones when the retention window of "
                "database backups has passed: sluisctl store kek destroy --home %s --version N\n",
                r->created ? "Rotated to" : "Went on with", r->version.value,
                static_cast<unsigned long long>(r->rewrapped),
                versions_text(pg->kek_versions()).c_str(), home.c_str());
    return kExitOk;
  }
  const auto n = parse_count("version", opt.require("version"));
  if (n == 0 || n > UINT32_MAX) throw UsageError("--version needs a KEK version (1 or more)");
  if (opt.get("batch") || opt.flag("ring-only")) throw UsageError("destroy takes --version only");
  const auto root = unlock_root(config, opt);
  auto pg = open_node_engine(config, root);
  KekAct act(config, root, "kek:destroy:" + std::to_string(n));
  act.record();
  std::string why;
  const crypto::KekVersion version{static_cast<std::uint32_t>(n)};
  auto r = pg->destroy_kek(version, &why);
  if (!r || !r->destroyed) act.failed();
  if (!r) throw Refusal(why.empty() ? "the destruction failed (" + r.error().message() + ")" : why);
  if (r->is_current) {
    throw Refusal("KEK version " + std::to_string(n) +
                  " is the one new data keys are wrapped under; rotate first (sluisctl store kek "
                  "rotate). Nothing was changed");
  }
  if (!r->destroyed) {
    throw Refusal(std::to_string(r->still_wrapped) + " data keys are still wrapped under KEK "
                  "version " + std::to_string(n) + "; run 'sluisctl store kek rotate --home " +
                  home.string() + "' to finish the rotation first. Nothing was changed");
  }
  std::printf("KEK version %llu destroyed: removed from the ring file, its old bytes overwritten. "
              "Ring versions: %s. Copy the ring file to every node (each removes it at its next "
              "start anyway) and destroy ring backups that still hold it.\n",
              static_cast<unsigned long long>(n), versions_text(pg->kek_versions()).c_str());
  return kExitOk;
}

}  // namespace

int run_store(Args args) {
  if (args.empty() || args[0] == "help") {
    std::fputs(kStoreUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] != "migrate" && args[0] != "kek") {
    std::fputs(kStoreUsage, stderr);
    return kExitUsage;
  }
  try {
    if (args[0] == "kek") return kek(args.subspan(1));
    return migrate(args.subspan(1));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluisctl store: %s.\n%s", e.what(), kStoreUsage);
    return kExitUsage;
  } catch (const server::ConfigError& e) {
    std::fprintf(stderr, "sluisctl store: the configuration is wrong: %s\n", e.what());
    return kExitFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluisctl store: %s.\n", e.what());
    return kExitFailed;
  }
}

}  // namespace sluis::ctl
