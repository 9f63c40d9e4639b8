// Moving a SQLCipher home into PostgreSQL (`sluisctl store migrate --to postgresql`): every
// table read through the SQLCipher engine and written through this one, in batches in key
// order, resumable, and verified by counts and digests on both sides (docs/store.md).
#pragma once

#include "sluis/pgstore/pg_storage.hpp"
#include "sluis/store/store.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::pgstore {

/// What the target database holds, before a copy.
struct MigrationTarget {
  enum class Kind : std::uint8_t {
    empty,         ///< no records (a KEK made when the engine first opened it is no record)
    in_progress,   ///< this home's move, interrupted: copy() goes on from where it stopped
    finished,      ///< this home's move, finished and verified
    another_home,  ///< a move of another home (another root key) was started into it
    other_data,    ///< records that no move of this home wrote
  };
  Kind kind = Kind::empty;
  std::uint64_t records = 0;  ///< rows in the target's record tables (for the refusal's sentence)
};

/// How one table stands while it is copied.
struct MigrationProgress {
  std::string_view table;
  std::uint64_t copied = 0;   ///< rows of it in the target
  std::uint64_t total = 0;    ///< rows of it in the source
  std::uint64_t earlier = 0;  ///< of `copied`, rows an earlier, interrupted run copied
};

/// One table compared on both engines.
struct TableComparison {
  std::string table;
  std::uint64_t source_rows = 0;
  std::uint64_t target_rows = 0;
  std::string source_digest;  ///< ExportDigest over the rows in key order
  std::string target_digest;
  [[nodiscard]] bool equal() const noexcept {
    return source_rows == target_rows && source_digest == target_digest;
  }
};

struct MigrationOptions {
  /// Rows per transaction (at least 1).
  std::size_t batch_rows = 500;
  /// Called after every batch committed, and once per table already copied.
  std::function<void(const MigrationProgress&)> on_progress;
};

/// The move itself. The source must be the home's own store and the target opened with the same
/// root key; nothing else may write either meanwhile (sluisd stopped: the caller checks).
///
/// Every batch is one target transaction that inserts the rows (plain INSERTs: a row copied
/// twice would fail, never be doubled) and records the batch's last key in
/// store_migration_tables; a batch that fails or is cut off (kill -9, the database going away)
/// leaves nothing of itself, and the next copy() starts after the last key recorded. The KEKs
/// and data keys are copied exactly as wrapped; a consent document, plaintext in the SQLCipher
/// file, is sealed under the client's data key as this engine keeps it. The PgOptions'
/// inject_failure seam fires at "migrate.batch" before each batch commits (tests).
struct HomeMigration {
  /// What the target holds. Errors: as the target's queries.
  [[nodiscard]] static store::Result<MigrationTarget> inspect(PgStorage& target);
  /// Copies every table not yet copied (store::export_tables() order), then sets the target's
  /// sequences past the copied rows and makes every node reload its partner table. Errors:
  /// conflict (the target holds another home's or other records: inspect() says which),
  /// injected_failure, busy, unavailable, storage_failure, crypto_failure.
  [[nodiscard]] static store::Result<void> copy(store::Store& source, PgStorage& target,
                                                const MigrationOptions& options);
  /// Counts and digests every table on both sides (a consent document opened on the target and
  /// compared as its text; the data keys this engine made for consent documents left out).
  [[nodiscard]] static store::Result<std::vector<TableComparison>> verify(store::Store& source,
                                                                          PgStorage& target);
  /// Records the move as finished (after a verify that found every table equal).
  [[nodiscard]] static store::Result<void> finish(PgStorage& target);
};

}  // namespace sluis::pgstore
