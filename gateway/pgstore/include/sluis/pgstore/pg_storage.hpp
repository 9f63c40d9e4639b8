// The PostgreSQL engine: the repository interfaces (sluis/store/repositories.hpp) on a
// PostgreSQL 15 database reached through libpq, for several gateway nodes sharing one database.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/store/error.hpp"
#include "sluis/store/records.hpp"
#include "sluis/store/repositories.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluis::pgstore {

using store::Instant;
using store::Result;

/// Where the database is and how the engine uses it. Only `conninfo` is required.
struct PgOptions {
  /// A libpq connection string ("host=db1 port=5432 dbname=sluis user=sluis") or URI. The
  /// members below, when set, are passed to libpq after it and override what it says.
  std::string conninfo;
  /// libpq's sslmode ("verify-full" checks the server's certificate and host name against
  /// `sslrootcert`). Empty: what `conninfo` says (libpq's default is "prefer").
  std::string sslmode;
  /// The root certificate(s) the server's certificate must chain to (libpq's sslrootcert).
  std::filesystem::path sslrootcert;
  /// A file holding the database password (its first line; a trailing newline is ignored). Read
  /// at open into guarded memory, handed to libpq for each connection and wiped after; never
  /// logged. Empty: no password (trust, peer or certificate authentication, or ~/.pgpass).
  std::filesystem::path password_file;
  /// Connections of this node (each a unit-of-work session with its own key-store connection:
  /// twice this many server connections). Units beyond it wait for a free session.
  std::size_t pool_size = 4;
  /// Seconds libpq waits to establish a connection (libpq's connect_timeout).
  int connect_timeout_s = 5;
  /// How long a statement waits for a row or table lock another session holds before failing
  /// with Errc::busy (PostgreSQL's lock_timeout).
  std::chrono::milliseconds busy_timeout{5000};
  /// The clock every recorded time comes from (defaults to the system clock).
  std::function<Instant()> clock;
  /// Highest schema version this code may use (default: the newest it knows). A database at a
  /// higher version is refused with Errc::schema_too_new. Tests lower it.
  int schema_version_limit = -1;
  /// Testing seam, as store::StoreOptions::inject_failure. Leave empty.
  std::function<bool(std::string_view step)> inject_failure;
  /// Testing and metrics seam, as store::StoreOptions::on_field_opened.
  std::function<void(const crypto::FragmentId&)> on_field_opened;
  /// Unwrapped data keys each session keeps in guarded memory (store::DataKeyCache).
  std::size_t data_key_cache_size = 4096;
  /// libpq's application_name of this node's connections (shown in pg_stat_activity).
  std::string application_name = "sluisd";
  /// LISTEN for other nodes' erasures and links on a connection of its own, so this node drops
  /// its copies of their client data at once rather than at its next request. The guarantee
  /// does not rest on it (every request reads the generations); tests turn it off to show that.
  bool listen_for_changes = true;
};

/// The PostgreSQL engine (docs/store.md "PostgreSQL").
///
/// Opening connects, migrates the schema forward under an advisory lock (so nodes starting
/// together migrate once), loads the KEKs (creating KEK version 1 in a new database) and
/// re-applies the erasure tombstones. Each UnitOfWork takes one session of the pool: a data
/// connection whose write transactions are SERIALIZABLE (a serialization failure, a deadlock or
/// a lock wait past busy_timeout answers Errc::busy, a lost connection Errc::unavailable; the
/// session reconnects when it is next taken) and whose read snapshots are REPEATABLE READ READ
/// ONLY, and a key-store connection whose new data keys commit at once. Sensitive text the
/// SQLCipher engine protects only by its page encryption (consent documents) is sealed here
/// under the client's data key (docs/threat-model.md "PostgreSQL at rest").
///
/// Threads: safe to share; units of work on different threads run in parallel on different
/// sessions. Several PgStorage objects (nodes) may share one database.
class PgStorage final : public store::Storage {
 public:
  /// The newest schema version this code knows.
  static constexpr int kSchemaVersion = 4;

  /// Errors: invalid_argument (no conninfo, an unreadable password file), unavailable (the
  /// database cannot be reached or refused the login), schema_too_new, storage_failure,
  /// crypto_failure (a wrapped KEK does not open under this root key).
  [[nodiscard]] static Result<std::unique_ptr<PgStorage>> open(PgOptions options,
                                                               const crypto::RootKey& root);
  ~PgStorage() override;
  PgStorage(const PgStorage&) = delete;
  PgStorage& operator=(const PgStorage&) = delete;

  /// The schema version in force.
  [[nodiscard]] int schema_version() const;

  // --- Storage ---
  [[nodiscard]] Result<void> bulk_write(const std::function<Result<void>()>& body) override;
  [[nodiscard]] const store::PseudonymKeys& pseudonym_keys() const noexcept override;
  /// Calls `drop` when an erasure or a link committed by any node (this one included) is
  /// noticed: by the request that first reads the new client-data generation (before it goes
  /// on), or earlier by this node's listener (LISTEN sluis_changes). From any thread.
  void watch_dropped_clients(std::function<void()> drop) override;

  struct Impl;

 private:
  friend struct HomeMigration;  // home_migration.hpp: writes rows as they were, KEKs included

  [[nodiscard]] store::Records& acquire() override;
  void release() noexcept override;

  explicit PgStorage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluis::pgstore
