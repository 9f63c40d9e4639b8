// Private thin RAII layer over SQLCipher: keyed connections, cached prepared statements,
// transactions.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/store/error.hpp"

#define SQLITE_HAS_CODEC 1
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluis::store::sql {

/// Maps a SQLite result code to the gateway's stable error (no message text is kept).
[[nodiscard]] boost::system::error_code to_error(int rc) noexcept;

class Db;

/// A cached prepared statement, borrowed for one use: reset and unbound when the handle dies.
class Stmt {
 public:
  Stmt(sqlite3_stmt* s) noexcept : s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, std::span<const std::uint8_t> v);
  Stmt& bind_null(int i);
  /// A bind failure is remembered and reported by the next step().
  /// Returns true for a row, false when done.
  [[nodiscard]] Result<bool> step();
  /// Steps to completion, expecting no rows.
  [[nodiscard]] Result<void> run();

  [[nodiscard]] std::int64_t int64(int col) const;
  [[nodiscard]] std::string text(int col) const;
  /// The column's text without copying; valid until the next step() or the handle's death.
  [[nodiscard]] std::string_view text_view(int col) const;
  [[nodiscard]] std::span<const std::uint8_t> blob(int col) const;
  [[nodiscard]] bool is_null(int col) const;

 private:
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

/// One SQLCipher connection. Not thread-safe: the owner serialises use (the Store's mutex).
class Db {
 public:
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  /// Opens (creating if needed) `path`, keys it with the raw 256-bit `key`, verifies the key with
  /// a read, and applies the connection pragmas (WAL, synchronous=FULL, foreign keys, secure
  /// delete, in-memory temp store, busy timeout). Errors: database_key_mismatch, storage_failure.
  [[nodiscard]] Result<void> open(const std::filesystem::path& path, const crypto::SubKey& key,
                                  std::chrono::milliseconds busy_timeout);
  /// Opens an existing file read-only (a backup or snapshot to inspect), keyed and verified, with
  /// no pragma that would change it. Errors: not_found, database_key_mismatch, storage_failure.
  [[nodiscard]] Result<void> open_read_only(const std::filesystem::path& path,
                                            const crypto::SubKey& key,
                                            std::chrono::milliseconds busy_timeout);
  void close() noexcept;

  /// Runs fixed SQL text that carries no values (DDL, pragmas).
  [[nodiscard]] Result<void> exec(const char* sql);
  /// SQLite's page cache for this connection, in KiB (decrypted pages: a hit costs no read and
  /// no SQLCipher page decryption). 0 = SQLite's default (2000 KiB).
  [[nodiscard]] Result<void> set_cache_size_kib(std::size_t kib);
  /// As exec for one statement given as a string literal, through the statement cache, so a
  /// statement run on every request (BEGIN, COMMIT) is parsed once per connection, not per use.
  [[nodiscard]] Result<void> run_cached(const char* sql);
  /// True while an explicit transaction is open on this connection.
  [[nodiscard]] bool in_transaction() const noexcept;
  /// Returns the cached prepared statement for `sql` (a string literal: cached by address).
  [[nodiscard]] Result<Stmt> prepare(const char* sql);
  [[nodiscard]] std::int64_t changes() const noexcept;
  [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
  [[nodiscard]] sqlite3* handle() const noexcept { return db_; }
  /// True when the last failed call on this connection met a damaged page (SQLITE_CORRUPT),
  /// for callers whose error went through another module's error type.
  [[nodiscard]] bool last_error_is_damage() const noexcept {
    return db_ != nullptr && (sqlite3_errcode(db_) & 0xff) == SQLITE_CORRUPT;
  }

  /// Copies this database into `dest` (a new SQLCipher file keyed with `key`) through the
  /// online backup API. An existing `dest` is replaced.
  [[nodiscard]] Result<void> backup_to(const std::filesystem::path& dest, const crypto::SubKey& key,
                                       std::chrono::milliseconds busy_timeout);
  /// Replaces this database's content with `src` (a SQLCipher file keyed with `key`).
  [[nodiscard]] Result<void> restore_from(const std::filesystem::path& src,
                                          const crypto::SubKey& key,
                                          std::chrono::milliseconds busy_timeout);

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

/// A read snapshot spanning several statements: BEGIN (deferred) in begin(), COMMIT on
/// destruction. Without it every statement is its own read transaction, and each one takes and
/// drops the WAL read lock (an fcntl(2) pair) and re-checks the WAL index. Inside a transaction
/// the caller already holds it does nothing.
class ReadTransaction {
 public:
  explicit ReadTransaction(Db& db) noexcept : db_(db) {}
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  ~ReadTransaction();
  [[nodiscard]] Result<void> begin();

 private:
  Db& db_;
  bool open_ = false;
};

/// BEGIN IMMEDIATE on construction (via begin()); ROLLBACK on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(Db& db) noexcept : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  [[nodiscard]] Result<void> begin();
  [[nodiscard]] Result<void> commit();

 private:
  Db& db_;
  bool open_ = false;
};

}  // namespace sluis::store::sql
