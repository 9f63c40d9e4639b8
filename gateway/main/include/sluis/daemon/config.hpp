// sluisd's configuration: one TOML file, every key documented, refused loudly when wrong. The
// transport's part is a server::ServerConfig; the rest (paths, the audit log, the caches) belongs
// to the daemon.
#pragma once

#include "sluis/server/config.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace sluis::daemon {

/// The audit log's settings (docs/dpo-guide.md).
struct AuditConfig {
  /// The log's name in its signed checkpoints and the signing key's name; used when the log is
  /// created. An existing log keeps the origin it was created with (witnesses pinned it).
  std::string origin = "sluis-gateway/audit";
  std::chrono::milliseconds checkpoint_interval{1000};  ///< a checkpoint at least this often
};

/// Which storage engine holds the data records (docs/store.md, docs/operations.md).
enum class StoreEngine {
  sqlcipher,   ///< the embedded default: data.db and keys.db in data_dir
  postgresql,  ///< a PostgreSQL 15 database (gateway/pgstore)
};

/// The [store] section. The PostgreSQL keys apply only with engine = postgresql.
struct StoreConfig {
  StoreEngine engine = StoreEngine::sqlcipher;
  /// libpq connection string ("host=db1 port=5432 dbname=sluis user=sluis"); required for
  /// postgresql. Never holds the password (password_file does).
  std::string conninfo;
  /// libpq's sslmode ("verify-full" checks the database's certificate and host name); empty =
  /// what conninfo says.
  std::string sslmode;
  std::filesystem::path sslrootcert;    ///< the CA the database's certificate chains to
  std::filesystem::path password_file;  ///< the database password (first line); empty = none
  std::size_t pool_size = 4;            ///< database sessions of this node
  /// postgresql: the KEK ring file (every KEK version, wrapped under the root key); empty =
  /// `kek-ring` beside [paths] key_file (kek_ring_path()).
  std::filesystem::path kek_ring;
  /// postgresql: the erasure ledger; empty = `erasure-ledger` beside [paths] key_file.
  std::filesystem::path erasure_ledger;
};

/// Everything sluisd's file configures. Relative paths in the file are resolved against the
/// directory that holds the file.
struct DaemonConfig {
  server::ServerConfig server;  ///< [server], [metrics], [tls], the transport's [limits], [log]
  std::filesystem::path data_dir = "data";
  std::filesystem::path key_file = "keys/root.key";
  std::filesystem::path rule_pack = "policy/rules.toml";
  /// The root key's passphrase, for a sealed key file; empty = none (or sluisd --passphrase-file).
  std::filesystem::path passphrase_file;
  /// The operator channel: a local socket (mode 0600 in a 0700 directory) through which sluisctl
  /// asks the running gateway to do operator acts, so they are audited by its own writer
  /// (docs/operations.md). Empty = off.
  std::filesystem::path operator_socket = "run/operator.sock";
  AuditConfig audit;
  /// SQLite page cache of the audit log's writer, in MiB ([limits] page_cache_mib).
  std::size_t audit_page_cache_mib = 16;
  /// SQLite page cache of the data store, in MiB ([limits] store_page_cache_mib): large enough
  /// for the pages a dossier read touches at the CI size (every miss is a read and a SQLCipher
  /// page decryption).
  std::size_t store_page_cache_mib = 32;
  StoreConfig store;
};

/// The PostgreSQL engine's KEK ring file: [store] kek_ring, or `kek-ring` beside the key file.
[[nodiscard]] std::filesystem::path kek_ring_path(const DaemonConfig& config);
/// The PostgreSQL engine's erasure ledger: [store] erasure_ledger, or `erasure-ledger` beside
/// the key file.
[[nodiscard]] std::filesystem::path erasure_ledger_path(const DaemonConfig& config);

/// "sqlcipher" | "postgresql".
[[nodiscard]] std::string_view to_string(StoreEngine engine) noexcept;

/// Parses configuration text. `source_name` is used in messages (`sluis.toml:12: ...`);
/// `base_dir` resolves relative paths. Unknown tables or keys, wrong types, out-of-range values,
/// a non-loopback metrics address and malformed TOML throw server::ConfigError naming file and
/// line. Missing keys keep their defaults. Pure (no file access); thread-safe.
[[nodiscard]] DaemonConfig parse_daemon_config(std::string_view text, std::string_view source_name,
                                               const std::filesystem::path& base_dir);

/// Reads and parses `path` (server::ConfigError when it cannot be read).
[[nodiscard]] DaemonConfig load_daemon_config(const std::filesystem::path& path);

/// The documented default configuration file (every key, its default and meaning as comments).
/// parse_daemon_config(default_config_toml()) yields DaemonConfig{} with paths resolved.
[[nodiscard]] std::string_view default_config_toml() noexcept;

}  // namespace sluis::daemon
