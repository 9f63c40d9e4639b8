// The audit log in PostgreSQL, shared by every node on one database: sequenced appends, one
// integrator at a time under an advisory lock, the same tree, checkpoints and proofs.
#pragma once

#include "sluis/audit/log.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/pgstore/home_migration.hpp"
#include "sluis/pgstore/pg_storage.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluis::pgaudit {

using store::Instant;
using store::Result;

/// The advisory lock key the integrator holds ("sluis" in ASCII, then 2); pgstore's migration
/// lock is ...01.
inline constexpr std::int64_t kIntegratorLock = 0x736c756973000002;

/// Where the log lives and how it behaves. Only `database.conninfo` is required.
struct PgAuditLogOptions {
  /// The database (conninfo, sslmode, sslrootcert, password_file, connect_timeout_s,
  /// busy_timeout, application_name are used; the pool and key-cache settings are not). The
  /// log opens three connections of its own: the sequencer's, the integrator's and the reads'.
  pgstore::PgOptions database;
  /// The log's identity in checkpoints (also the signing key's name). Stored by the first node
  /// that opens the database; empty means "whatever the database says" (tools). A different
  /// origin than the database's is refused.
  std::string origin = "sluis.example/audit";
  /// The integrator signs a checkpoint at least this often while the tree grows.
  std::chrono::milliseconds checkpoint_interval{1000};
  /// Most events one sequencing transaction takes (the rest wait for the next one).
  std::size_t max_batch_events = 8192;
  /// Group-commit gathering, as audit::AuditLogOptions::group_commit_window.
  std::chrono::microseconds group_commit_window{1000};
  /// How often a node that does not hold the integrator lock tries to take it and refreshes its
  /// view of the tree, and how often the holder looks for events other nodes sequenced. A dead
  /// holder is replaced within this bound after PostgreSQL ends its session.
  std::chrono::milliseconds integrator_poll{100};
  /// Most events one integration transaction folds into the tree.
  std::size_t max_integrate_events = 4096;
  /// How long inclusion_proof, consistency_proof, root_at and checkpoint wait for the
  /// integrator to reach a size that is sequenced but not yet integrated, before Errc::busy.
  std::chrono::milliseconds integration_wait{5000};
  /// Tools (sluisctl audit ...): no sequencer or integrator, nothing is written, no start-up
  /// check (so an altered log can still be opened and verified). append() and checkpoint() fail.
  bool read_only = false;
  /// Clock for checkpoint issue times (defaults to the system clock).
  std::function<Instant()> clock;
  /// Testing seam: called at "append.insert" and "append.commit" (per sequencing batch) and at
  /// "integrate" (per integration round: returning true skips the round, as if the integrator
  /// had crashed after the events were sequenced). Leave empty.
  std::function<bool(std::string_view step)> inject_failure;
};

/// Opens the audit log in the PostgreSQL database of `options.database` (migrating its schema
/// forward as pgstore::PgStorage::open does), checks its tree against the latest signed
/// checkpoint as the SQLCipher log does at start-up, then starts this node's sequencer and
/// integrator threads.
///
/// Appends (sequence): the sequencer batches callers as the SQLCipher writer does; a batch is one
/// short transaction that takes its leaf indices from the sequence row (the only row nodes
/// serialise on) and inserts the events' canonical bytes and query columns, committed with
/// synchronous_commit = on before append() returns. Leaf indices are dense and global across
/// nodes; queries see an event as soon as it is sequenced.
///
/// Integration: on every node a thread tries pg_try_advisory_lock(kIntegratorLock) on a
/// connection of its own; the one holder folds the sequenced events into the tree (level-0 and
/// interior nodes, the tree row) in transactions guarded by the tree row's size, so a crash or a
/// second integrator never applies a batch twice, and signs checkpoints (derive_subkey(root,
/// audit_signing), the stored origin) at least every checkpoint_interval. When the holder's
/// session ends (process killed, connection lost) PostgreSQL frees the lock and another node
/// takes over within integrator_poll.
///
/// Errors: as audit::AuditLog::open where they apply (audit_log_inconsistent, schema_too_new,
/// storage_failure), plus unavailable (the database cannot be reached) and invalid_argument (no
/// conninfo, an unreadable password file). Threads: as audit::AuditLog.
[[nodiscard]] Result<std::unique_ptr<audit::AuditLog>>
open_pg_audit_log(PgAuditLogOptions options, const crypto::RootKey& root);

/// What the database's log holds against a log to be carried into it (AuditLogImport).
struct AuditImportTarget {
  enum class Kind : std::uint8_t {
    prefix,        ///< empty, or the first `events` events of the source (an interrupted import)
    other_events,  ///< events, tree nodes or checkpoints that are not the source's first ones
    other_origin,  ///< the database's log has another origin (`origin`) than the source's
  };
  Kind kind = Kind::prefix;
  std::uint64_t events = 0;  ///< events the database's log holds (sequenced)
  std::string origin;        ///< the origin stored in the database ("" when none yet)
};

struct AuditImportOptions {
  /// The database, as PgAuditLogOptions::database. The import holds one connection.
  pgstore::PgOptions database;
  /// Events per transaction (1 to audit::kMaxAuditPage).
  std::size_t batch_events = 500;
  /// Testing seam: called at "import.batch" before each batch commits; returning true fails
  /// that batch with Errc::injected_failure (nothing of it kept). Leave empty.
  std::function<bool(std::string_view step)> inject_failure;
};

/// Carries a SQLCipher home's audit log into the database's log (`sluisctl store migrate`):
/// every event with its leaf index, the RFC 9162 tree folded over them as the integrator folds
/// (audit_merkle_node, audit_tree, audit_sequence), and every signed checkpoint byte for byte,
/// each checked against the copied tree at its size before it is stored. The copied log is
/// then the source's under the same origin and signing key (derive_subkey(root,
/// audit_signing)): a proof or checkpoint from before the move verifies against it, and
/// sluisd's nodes append after it.
///
/// open() takes the integrator's advisory lock (kIntegratorLock) on a connection of its own and
/// keeps it until the import is destroyed, so no node integrates meanwhile; it then reads what
/// the database's log holds (target()). copy() refuses unless that is a prefix of the source.
/// Each batch is one transaction: the events, their tree nodes, the checkpoints it reaches, the
/// tree row and the sequence row (both guarded by the size they had), so an import cut off
/// anywhere (kill -9, the database going away, inject_failure) keeps whole batches only and a
/// second import goes on after the last one, never copying an event twice or leaving one out.
///
/// Preconditions: nothing appends to `source` meanwhile (the caller holds its writer lock), and
/// `source` outlives the import. Not thread-safe.
class AuditLogImport {
 public:
  /// Errors: busy (another session holds the integrator lock: a node runs on the database),
  /// unavailable, invalid_argument (no conninfo, an unreadable password file), schema_too_new,
  /// storage_failure.
  [[nodiscard]] static Result<std::unique_ptr<AuditLogImport>>
  open(const audit::AuditLog& source, AuditImportOptions options, const crypto::RootKey& root);
  ~AuditLogImport();
  AuditLogImport(const AuditLogImport&) = delete;
  AuditLogImport& operator=(const AuditLogImport&) = delete;

  /// What the database's log held when open() looked.
  [[nodiscard]] const AuditImportTarget& target() const noexcept;
  /// Copies the source's events past target().events, batch by batch, calling `on_progress`
  /// (table "audit_event") after each batch and once at the start. Errors: conflict (the target
  /// is not a prefix, or another writer moved its tree or sequence row meanwhile),
  /// audit_log_inconsistent (the source's events are not dense, or a checkpoint of the source
  /// does not match its events: run `sluisctl audit verify` on it), injected_failure, busy,
  /// unavailable, storage_failure. What committed stays; copy() or a new import goes on.
  [[nodiscard]] Result<void>
  copy(const std::function<void(const pgstore::MigrationProgress&)>& on_progress = {});

 private:
  struct State;
  explicit AuditLogImport(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace sluis::pgaudit
