// The PostgreSQL engine: the repository interfaces (sluis/store/repositories.hpp) on a
// PostgreSQL 15 database reached through libpq, for several gateway nodes sharing one database.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/store/error.hpp"
#include "sluis/store/records.hpp"
#include "sluis/store/repositories.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  /// The KEK ring file (pg schema 7; required): every KEK version, wrapped under the root key's
  /// kek_wrapping sub-key, outside the database, so that no dump of the database holds a KEK.
  /// Every node of one gateway holds a copy (docs/operations.md "The KEK ring"). sluisd's default
  /// is `kek-ring` beside the root key file.
  std::filesystem::path kek_ring_file;
  /// The erasure ledger (required): an append-only, fsynced file of every erasure tombstone
  /// (keyed tag, time, reason), re-applied to the database at every open, so that a restored
  /// old dump is erased again before it serves. sluisd's default: `erasure-ledger` beside the
  /// root key file.
  std::filesystem::path erasure_ledger_file;
  /// LISTEN for other nodes' erasures and links on a connection of its own, so this node drops
  /// its copies of their client data at once rather than at its next request. The guarantee
  /// does not rest on it (every request reads the generations); tests turn it off to show that.
  bool listen_for_changes = true;
};

/// The rule pack in force on every node (pg schema 6, table rule_pack): the bytes of the pack
/// file a node validated and stored, their SHA-256, who stored it and when, and its generation.
struct StoredRulePack {
  std::string text;
  std::vector<std::uint8_t> digest;
  std::string loaded_by;
  Instant loaded_at{};
  std::int64_t generation = 0;
};

/// How `PgStorage::rotate_kek` goes.
struct KekRotationOptions {
  /// Data keys rewrapped per transaction (at least 1).
  std::size_t batch_rows = 500;
  /// Only add the new version to the ring file (to be copied to the other nodes' machines
  /// before a run without it registers the version and rewraps).
  bool ring_only = false;
  /// Called after every committed batch with the keys rewrapped so far in this run.
  std::function<void(std::uint64_t rewrapped)> on_batch;
};

/// What a rotation did.
struct KekRotation {
  crypto::KekVersion version{};  ///< the version every data key is (to be) wrapped under
  bool created = false;          ///< this run made the version (else it went on with it)
  bool registered = false;       ///< new data keys are wrapped under it (not ring_only)
  std::uint64_t rewrapped = 0;   ///< data keys rewrapped by this run
};

/// What a destruction did, or why it did not.
struct KekDestruction {
  bool destroyed = false;
  bool is_current = false;          ///< refused: new data keys are wrapped under this version
  std::uint64_t still_wrapped = 0;  ///< refused: data keys still wrapped under it
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
  static constexpr int kSchemaVersion = 7;

  /// Errors: invalid_argument (no conninfo, no ring or ledger file named, an unreadable password
  /// file), unavailable (the database cannot be reached or refused the login), schema_too_new,
  /// storage_failure, crypto_failure (the ring file does not open under this root key),
  /// file_damaged (the ring file or the ledger has a line it does not recognise), conflict (the
  /// ring file holds another KEK under a version the database knows), key_unavailable (the ring
  /// file lacks a KEK version data keys are wrapped under, or the current one). When `refusal`
  /// is given, a failure about the ring or the ledger also puts there a sentence saying what is
  /// wrong and what to do (which version is missing, which file and line is damaged).
  [[nodiscard]] static Result<std::unique_ptr<PgStorage>> open(PgOptions options,
                                                               const crypto::RootKey& root,
                                                               std::string* refusal = nullptr);
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

  // --- What the nodes share beyond the records (schema 6; docs/store.md "Several nodes") ---
  // Errors of each: unavailable, busy, storage_failure; invalid_argument on a database below
  // schema 6.

  /// Stores `text` (a pack the caller has validated) as the rule pack of every node and moves
  /// its generation, in one transaction; then this node's watchers get it before this returns.
  [[nodiscard]] Result<StoredRulePack> store_rule_pack(std::string_view text,
                                                       std::string_view loaded_by);
  /// The stored pack; when none is stored yet (a new database), stores `text` first. Another
  /// node seeding at the same moment wins or loses the insert; the loser reads the winner's.
  [[nodiscard]] Result<StoredRulePack> seed_rule_pack(std::string_view text,
                                                      std::string_view loaded_by);
  /// Calls `apply` (which must not throw) with the stored pack whenever its generation moves
  /// past `known_generation`: noticed by the request that first reads the new generation (in
  /// PartnerRecords::table(), before it returns), or by this node's listener within a second.
  /// Calls are serialised, and a request that reads the new generation waits for the call.
  void watch_rule_pack(std::function<void(const StoredRulePack&)> apply,
                       std::int64_t known_generation);
  /// Adds revoked certificate serials (canonical hex) of partner `partner_id` in their own
  /// transaction (a serial stored already stays as it was). PartnerRecords::add_revoked_serial
  /// does the same inside a unit's transaction.
  [[nodiscard]] Result<void> add_revoked_serials(const std::vector<std::string>& serials,
                                                 std::string_view partner_id);
  /// Every revoked serial stored.
  [[nodiscard]] Result<std::vector<std::string>> revoked_serials();
  /// Calls `apply` (which must not throw) with every stored serial now and whenever their
  /// generation moves (as watch_rule_pack: before the request that reads it goes on, or within
  /// a second by the listener). Errors: as revoked_serials() (nothing is registered then).
  [[nodiscard]] Result<void> watch_revoked_serials(
      std::function<void(const std::vector<std::string>&)> apply);
  /// Unregisters every rule-pack and serial watcher: once this returns none is running or will
  /// run (sluisd calls it before what they feed is destroyed).
  void stop_watching() noexcept;
  /// True while this node holds the once-only jobs' advisory lock (x'736c756973000003', taken
  /// by the listener thread; exactly one node's session holds it, another takes it within a
  /// second once that session ends). The expiry sweeper runs only while it is true.
  [[nodiscard]] bool holds_once_only_lock() const noexcept;

  // --- KEK rotation and destruction (schema 7; docs/store.md "The KEK ring") ---
  // One at a time across nodes (an advisory lock). `why`, when given, gets a sentence on failure.

  /// Goes on with an unfinished rotation (data keys not yet under the newest registered version),
  /// else registers a version the ring file has and the database does not yet (made by a
  /// ring_only run), else adds a new version to the ring file (written first, atomically) and
  /// registers it; then rewraps every data key under it in batches (field ciphertexts untouched),
  /// each batch one transaction, so an interrupted run is resumed by the next. Older versions
  /// stay in the ring. Errors: busy, unavailable, storage_failure, key_unavailable (a data key is
  /// wrapped under a version the ring lacks), injected_failure ("kek.rewrap", after a batch's
  /// updates, before its commit).
  [[nodiscard]] Result<KekRotation> rotate_kek(const KekRotationOptions& options = {},
                                               std::string* why = nullptr);
  /// Destroys KEK version `version`: refused (destroyed false) while it is the current version or
  /// any data key is still wrapped under it (with the count); otherwise marks it destroyed in the
  /// database (every node's open then removes it from its ring file too) and removes it from this
  /// node's ring file, whose old bytes are overwritten. Errors: not_found (no such version),
  /// busy, unavailable, storage_failure.
  [[nodiscard]] Result<KekDestruction> destroy_kek(crypto::KekVersion version,
                                                   std::string* why = nullptr);
  /// The versions in this node's ring, oldest first.
  [[nodiscard]] std::vector<crypto::KekVersion> kek_versions() const;
  /// Data keys wrapped under `version`. Errors: as a query.
  [[nodiscard]] Result<std::uint64_t> count_data_keys(crypto::KekVersion version);

  struct Impl;

 private:
  friend struct HomeMigration;  // home_migration.hpp: writes rows as they were, KEKs included

  [[nodiscard]] store::Records& acquire() override;
  void release() noexcept override;

  explicit PgStorage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluis::pgstore
