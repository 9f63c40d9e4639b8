// The audit log in PostgreSQL, shared by every node on one database: sequenced appends, one
// integrator at a time under an advisory lock, the same tree, checkpoints and proofs.
#pragma once

#include "sluis/audit/log.hpp"
#include "sluis/crypto/keys.hpp"
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

}  // namespace sluis::pgaudit
