// sluisd's start-up steps: command line, core-dump policy, root key, store, audit log, rule pack.
#include "startup.hpp"

#include "sluis/pgaudit/pg_audit_log.hpp"
#include "sluis/pgstore/pg_storage.hpp"

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/keyfile.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluis/store/error.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>
#include <system_error>

namespace sluis::daemon {
namespace {

namespace fs = std::filesystem;

// The passphrase file's bytes without trailing line ends, in zeroised memory.
crypto::PlainBytes read_passphrase_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw StartupRefusal("cannot read the passphrase file " + path.string() +
                         "; check the path given with --passphrase-file and its permissions");
  }
  crypto::PlainBytes bytes;
  char c = 0;
  while (in.get(c))
    bytes.push_back(static_cast<std::uint8_t>(c));
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r'))
    bytes.pop_back();
  if (bytes.empty()) {
    throw StartupRefusal("the passphrase file " + path.string() +
                         " is empty; put the root key passphrase in it");
  }
  return bytes;
}

}  // namespace

const char* usage() noexcept {
  return "usage: sluisd [--config FILE] [--passphrase-file FILE] [--port-file FILE]\n"
         "  --config FILE           the configuration (default /etc/sluis/sluis.toml)\n"
         "  --passphrase-file FILE  the root key passphrase, when the key file is sealed\n"
         "  --port-file FILE        write the bound HTTPS port here once listening\n"
         "Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads the rule pack and the\n"
         "revocation list.\n";
}

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> fs::path {
      if (i + 1 >= argc) throw StartupRefusal(std::string(arg) + " needs a value; see --help");
      return fs::path(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      out.help = true;
    } else if (arg == "--config") {
      out.config = value();
    } else if (arg == "--passphrase-file") {
      out.passphrase_file = value();
    } else if (arg == "--port-file") {
      out.port_file = value();
    } else {
      throw StartupRefusal("unknown option " + std::string(arg) + "; see --help");
    }
  }
  return out;
}

void forbid_core_dumps() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) {
    throw StartupRefusal("cannot switch off core dumps (setrlimit RLIMIT_CORE failed); sluisd "
                         "refuses to hold keys in a process that could dump them");
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    throw StartupRefusal("cannot mark the process non-dumpable (prctl PR_SET_DUMPABLE failed); "
                         "sluisd refuses to hold keys in a process that could dump them");
  }
}

crypto::RootKey unlock_root_key(const fs::path& key_file,
                                const std::optional<fs::path>& passphrase_file) {
  auto sealed = crypto::root_key_file_is_sealed(key_file);
  if (!sealed) {
    if (sealed.error() == crypto::Errc::io_error) {
      throw StartupRefusal("cannot read the root key file " + key_file.string() +
                           ": it is missing or unreadable; fix [paths] key_file or restore the "
                           "file from your key backup");
    }
    throw StartupRefusal("the root key file " + key_file.string() +
                         " is not usable (malformed, or readable by group or others: it must be "
                         "mode 0600 and written by sluisctl)");
  }
  crypto::PlainBytes passphrase;
  if (*sealed) {
    if (!passphrase_file) {
      throw StartupRefusal(
          "the root key file " + key_file.string() +
          " is sealed with a passphrase; start sluisd with --passphrase-file FILE");
    }
    passphrase = read_passphrase_file(*passphrase_file);
  }
  auto root = crypto::read_root_key(key_file, passphrase);
  if (!root) {
    if (root.error() == crypto::Errc::wrong_passphrase) {
      throw StartupRefusal("the root key file " + key_file.string() +
                           " does not open with this passphrase; check the passphrase file");
    }
    if (root.error() == crypto::Errc::kdf_failed) {
      throw StartupRefusal("not enough memory to unlock the root key file " + key_file.string() +
                           " (Argon2id); free memory or run on a larger machine");
    }
    throw StartupRefusal("the root key file " + key_file.string() +
                         " is not usable (malformed or of an unknown version)");
  }
  return std::move(*root);
}

std::unique_ptr<sluis::store::Store> open_store(const DaemonConfig& config,
                                           const crypto::RootKey& root) {
  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) {
    throw StartupRefusal("cannot create the data directory " + config.data_dir.string() +
                         "; fix [paths] data_dir or its permissions");
  }
  sluis::store::StoreOptions options;
  options.data_path = config.data_dir / "data.db";
  options.key_store_path = config.data_dir / "keys.db";
  options.page_cache_kib = config.store_page_cache_mib * 1024;
  auto store = sluis::store::Store::open(std::move(options), root);
  if (!store) {
    const auto e = store.error();
    if (e == sluis::store::Errc::database_key_mismatch || e == sluis::store::Errc::crypto_failure) {
      throw StartupRefusal("the store in " + config.data_dir.string() +
                           " does not open with this root key: the key file belongs to another "
                           "gateway, or the files are not sluis databases");
    }
    if (e == sluis::store::Errc::schema_too_new) {
      throw StartupRefusal("the store in " + config.data_dir.string() +
                           " was written by a newer sluis; run that version or restore a backup");
    }
    throw StartupRefusal("the store in " + config.data_dir.string() +
                         " cannot be opened (storage error); check the disk and the files' "
                         "permissions");
  }
  return std::move(*store);
}

OpenedEngine open_engine(const DaemonConfig& config, const crypto::RootKey& root) {
  OpenedEngine engine;
  if (config.store.engine == StoreEngine::sqlcipher) {
    engine.sqlcipher = open_store(config, root);
    return engine;
  }
  sluis::pgstore::PgOptions options;
  options.conninfo = config.store.conninfo;
  options.sslmode = config.store.sslmode;
  options.sslrootcert = config.store.sslrootcert;
  options.password_file = config.store.password_file;
  options.pool_size = config.store.pool_size;
  options.kek_ring_file = kek_ring_path(config);
  options.erasure_ledger_file = erasure_ledger_path(config);
  std::string refusal;
  auto pg = sluis::pgstore::PgStorage::open(std::move(options), root, &refusal);
  if (!pg) {
    const auto e = pg.error();
    // The ring file and the ledger say which file, line or KEK version, and what to do.
    if (!refusal.empty()) throw StartupRefusal(refusal);
    const std::string where = "the PostgreSQL database of [store] conninfo";
    if (e == sluis::store::Errc::unavailable) {
      throw StartupRefusal(where + " cannot be reached or refused the login (" +
                           std::string(e.message()) + "); check conninfo, sslmode, the password "
                           "file and that the database runs");
    }
    if (e == sluis::store::Errc::invalid_argument) {
      throw StartupRefusal(where + " is not configured correctly: check conninfo and that "
                           "password_file can be read by sluisd");
    }
    if (e == sluis::store::Errc::schema_too_new) {
      throw StartupRefusal(where + " was migrated by a newer sluis; run that version");
    }
    if (e == sluis::store::Errc::crypto_failure) {
      throw StartupRefusal(where + " holds keys that do not open with this root key: it belongs "
                           "to another gateway");
    }
    throw StartupRefusal(where + " cannot be used (storage error: " + std::string(e.message()) +
                         ")");
  }
  engine.postgresql = std::move(*pg);
  return engine;
}

namespace {

/// The audit log in the PostgreSQL database of [store] (docs/store.md "The audit log on
/// PostgreSQL"): every node appends to it and one at a time integrates it.
std::unique_ptr<sluis::audit::AuditLog> open_pg_audit_log(const DaemonConfig& config,
                                                          const crypto::RootKey& root) {
  sluis::pgaudit::PgAuditLogOptions options;
  options.database.conninfo = config.store.conninfo;
  options.database.sslmode = config.store.sslmode;
  options.database.sslrootcert = config.store.sslrootcert;
  options.database.password_file = config.store.password_file;
  options.database.application_name = "sluisd-audit";
  // The first node stores the origin; the others must say the same.
  options.origin = config.audit.origin;
  options.checkpoint_interval = config.audit.checkpoint_interval;
  auto log = sluis::pgaudit::open_pg_audit_log(std::move(options), root);
  if (log) return std::move(*log);
  const auto e = log.error();
  const std::string where = "the audit log in the PostgreSQL database of [store] conninfo";
  if (e == sluis::store::Errc::unavailable) {
    throw StartupRefusal(where + " cannot be reached or refused the login; check conninfo, "
                                 "sslmode, the password file and that the database runs");
  }
  if (e == sluis::store::Errc::audit_log_inconsistent) {
    throw StartupRefusal(
        where +
        " was altered: its stored tree does not match its latest signed checkpoint, "
        "events are missing, or its origin differs from [audit] origin. sluisd does not "
        "start on it. Keep the database as it is, run 'sluisctl audit verify --key " +
        config.key_file.string() +
        " --config FILE' to see where, and follow the incident steps in the DPO guide "
        "(docs/dpo-guide.md, \"When the audit log is damaged or altered\")");
  }
  if (e == sluis::store::Errc::schema_too_new) {
    throw StartupRefusal(where + " was written by a newer sluis; run that version");
  }
  throw StartupRefusal(where + " cannot be used (storage error: " + std::string(e.message()) + ")");
}

}  // namespace

std::unique_ptr<sluis::audit::AuditLog> open_audit_log(const DaemonConfig& config,
                                                  const crypto::RootKey& root) {
  if (config.store.engine == StoreEngine::postgresql) return open_pg_audit_log(config, root);
  sluis::audit::AuditLogOptions options;
  options.path = config.data_dir / "audit.db";
  // An existing log keeps the origin it was created with.
  std::error_code ec;
  options.origin = fs::exists(options.path, ec) ? std::string() : config.audit.origin;
  options.checkpoint_interval = config.audit.checkpoint_interval;
  options.page_cache_kib = config.audit_page_cache_mib * 1024;
  auto log = sluis::audit::AuditLog::open(std::move(options), root);
  if (!log) {
    const auto e = log.error();
    if (e == sluis::store::Errc::database_key_mismatch) {
      throw StartupRefusal("the audit log " + (config.data_dir / "audit.db").string() +
                           " does not open with this root key: the key file belongs to another "
                           "gateway, or the file is not a sluis audit log");
    }
    if (e == sluis::store::Errc::in_use) {
      throw StartupRefusal("the audit log " + (config.data_dir / "audit.db").string() +
                           " is held by another process (another sluisd, or a sluisctl command "
                           "working on a stopped gateway); stop it or wait for it to finish");
    }
    // Both refusals name the file, what is wrong, and what to do (docs/dpo-guide.md, "When the
    // audit log is damaged or altered"): sluisd must not append to a log it cannot vouch for.
    const std::string what_to_do =
        ". sluisd does not start on it. Keep the file as it is, run 'sluisctl audit verify --key " +
        config.key_file.string() + " --log " + (config.data_dir / "audit.db").string() +
        "' to see where, and follow the incident steps in the DPO guide (docs/dpo-guide.md, "
        "\"When the audit log is damaged or altered\")";
    if (e == sluis::store::Errc::audit_log_inconsistent) {
      throw StartupRefusal("the audit log " + (config.data_dir / "audit.db").string() +
                           " was altered: its stored tree does not match its latest signed "
                           "checkpoint (or events are missing)" +
                           what_to_do);
    }
    if (e == sluis::store::Errc::file_damaged) {
      throw StartupRefusal("the audit log " + (config.data_dir / "audit.db").string() +
                           " is damaged or was altered: a page of the file fails its integrity "
                           "check (SQLCipher HMAC)" +
                           what_to_do);
    }
    throw StartupRefusal("the audit log " + (config.data_dir / "audit.db").string() +
                         " cannot be opened (storage error); check the disk and permissions");
  }
  return std::move(*log);
}

std::string describe(const policy::Diagnostics& diagnostics, std::size_t max_lines) {
  std::string out;
  std::size_t n = 0;
  for (const auto& d : diagnostics.items) {
    if (n++ == max_lines) {
      out += "\n  (and more; run 'sluisctl policy check' on the file)";
      break;
    }
    out += "\n  " + d.to_string();
  }
  return out;
}

std::shared_ptr<const policy::RulePack> load_rules(const fs::path& path) {
  auto pack = policy::load_rule_pack(path.string());
  if (!pack) {
    throw StartupRefusal("the rule pack " + path.string() +
                         " does not load; fix it (sluisctl policy check) or [paths] rule_pack:" +
                         describe(pack.error(), 5));
  }
  return std::make_shared<const policy::RulePack>(std::move(*pack));
}

std::string read_rule_pack_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StartupRefusal("the rule pack " + path.string() + " cannot be read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw StartupRefusal("the rule pack " + path.string() + " cannot be read");
  return text;
}

SharedRulePack load_shared_rules(pgstore::PgStorage& pg, const fs::path& path) {
  static_cast<void>(load_rules(path));  // a broken file refuses the start, as on SQLCipher
  const std::string text = read_rule_pack_text(path);
  auto stored = pg.seed_rule_pack(text, "sluisd:first-start");
  if (!stored) {
    throw StartupRefusal("the rule pack stored in the PostgreSQL database cannot be read (" +
                         std::string(stored.error().message()) + ")");
  }
  auto pack = policy::parse_rule_pack(stored->text, "the rule pack stored in the database");
  if (!pack) {
    throw StartupRefusal("the rule pack stored in the PostgreSQL database does not load with "
                         "this version of sluis; store one that does (sluisctl policy reload on "
                         "a node that runs):" +
                         describe(pack.error(), 5));
  }
  return {std::make_shared<const policy::RulePack>(std::move(*pack)), stored->generation,
          stored->text != text};
}

void write_port_file(const fs::path& path, std::uint16_t port) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) throw StartupRefusal("cannot write the port file " + path.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw StartupRefusal("cannot write the port file " + path.string());
}

}  // namespace sluis::daemon
