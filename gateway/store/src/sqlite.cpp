// SQLCipher connection handling: raw-key keying, key verification, statement cache, transactions.
#include "sluis/store/sqlite.hpp"

#include "sluis/crypto/secret.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <limits>

namespace sluis::store::sql {

boost::system::error_code to_error(int rc) noexcept {
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return make_error_code(Errc::busy);
  case SQLITE_CONSTRAINT: return make_error_code(Errc::conflict);
  case SQLITE_NOTADB: return make_error_code(Errc::database_key_mismatch);
  // SQLCipher answers a page that fails its HMAC (after the key was verified) this way, as
  // SQLite does a malformed b-tree page: either way the file is damaged or was altered.
  case SQLITE_CORRUPT: return make_error_code(Errc::file_damaged);
  default: return make_error_code(Errc::storage_failure);
  }
}

Stmt::~Stmt() {
  if (s_ != nullptr) {
    // Both only repeat the statement's last error, already reported by step().
    static_cast<void>(sqlite3_reset(s_));
    static_cast<void>(sqlite3_clear_bindings(s_));
  }
}

Stmt& Stmt::bind(int i, std::int64_t v) {
  const int rc = sqlite3_bind_int64(s_, i, v);
  if (rc != SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
  if (v.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    bind_rc_ = SQLITE_TOOBIG;
    return *this;
  }
  const int rc = sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::bind(int i, std::span<const std::uint8_t> v) {
  if (v.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    bind_rc_ = SQLITE_TOOBIG;
    return *this;
  }
  // A zero-length blob must still be a blob, not NULL: give SQLite a non-null pointer.
  static const std::uint8_t kEmpty = 0;
  const void* p = v.empty() ? &kEmpty : v.data();
  const int rc = sqlite3_bind_blob(s_, i, p, static_cast<int>(v.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  const int rc = sqlite3_bind_null(s_, i);
  if (rc != SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Result<bool> Stmt::step() {
  if (bind_rc_ != SQLITE_OK) return {boost::system::in_place_error, to_error(bind_rc_)};
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return {boost::system::in_place_error, to_error(rc)};
}

Result<void> Stmt::run() {
  auto r = step();
  if (!r) return r.error();
  if (*r) return make_error_code(Errc::storage_failure);  // a statement meant to return no rows
  return {};
}

std::int64_t Stmt::int64(int col) const {
  return sqlite3_column_int64(s_, col);
}

std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(s_, col);
  const int n = sqlite3_column_bytes(s_, col);
  if (p == nullptr || n <= 0) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::string_view Stmt::text_view(int col) const {
  const auto* p = sqlite3_column_text(s_, col);
  const int n = sqlite3_column_bytes(s_, col);
  if (p == nullptr || n <= 0) return {};
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)};
}

std::span<const std::uint8_t> Stmt::blob(int col) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, col));
  const int n = sqlite3_column_bytes(s_, col);
  if (p == nullptr || n <= 0) return {};
  return {p, static_cast<std::size_t>(n)};
}

bool Stmt::is_null(int col) const {
  return sqlite3_column_type(s_, col) == SQLITE_NULL;
}

namespace {

/// Keys `db` with the raw key. SQLCipher 3.x treats a key string of exactly the form
/// x'<64 hex digits>' (67 bytes) as raw key material and skips PBKDF2 (sqlcipher crypto_impl.c,
/// "raw key" branch; PRAGMA key = "x'...'" passes the same string). The string is built in a
/// stack buffer and wiped right after use.
Result<void> apply_raw_key(sqlite3* db, const crypto::SubKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 3 + 64> literal{};
  literal[0] = 'x';
  literal[1] = '\'';
  const auto bytes = key.reveal();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    literal[2 + 2 * i] = kHex[bytes[i] >> 4];
    literal[3 + 2 * i] = kHex[bytes[i] & 0x0f];
  }
  literal[66] = '\'';
  const int rc = sqlite3_key(db, literal.data(), static_cast<int>(literal.size()));
  crypto::wipe(std::span<char>(literal.data(), literal.size()));
  if (rc != SQLITE_OK) return make_error_code(Errc::storage_failure);
  return {};
}

/// Settings SQLCipher does not store in the file and so must be identical on every connection
/// (including backup destinations), applied after keying and before the first read.
Result<void> apply_cipher_settings(sqlite3* db) {
  if (sqlite3_exec(db, "PRAGMA cipher_page_size = 4096", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return make_error_code(Errc::storage_failure);
  }
  return {};
}

/// The first read decrypts page 1: a wrong key (or an unencrypted/foreign file) fails here.
Result<void> verify_key(sqlite3* db) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &s, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) rc = SQLITE_OK;
  }
  static_cast<void>(sqlite3_finalize(s));
  if (rc == SQLITE_OK) return {};
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
    return make_error_code(Errc::database_key_mismatch);
  }
  return to_error(rc);
}

/// Every file of a database is the owner's alone (docs/operations.md): a new main file is
/// created 0600 before SQLite opens it — SQLite gives its -wal, -shm and -journal files the main
/// file's mode — and an existing file (or side file) written by an older release is narrowed.
///
/// Never opens (and so never closes) a descriptor on an existing file: closing any descriptor of
/// a file drops every POSIX lock this process holds on it, including those of SQLite
/// connections already open on it (sqlite.org/howtocorrupt.html §2.2). Only a file that does not
/// exist yet is created here; an existing one is narrowed by path.
Result<void> make_owner_only(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    static_cast<void>(::close(fd));  // new and empty: nobody holds a lock on it
  } else if (errno != EEXIST) {
    return make_error_code(Errc::storage_failure);
  } else {
    // Best effort: a file this account may write but does not own keeps its mode.
    static_cast<void>(::chmod(path.c_str(), 0600));
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string side = path.string() + suffix;
    static_cast<void>(::chmod(side.c_str(), 0600));  // absent side files are fine
  }
  return {};
}

Result<sqlite3*> open_keyed(const std::filesystem::path& path, const crypto::SubKey& key,
                            std::chrono::milliseconds busy_timeout, bool read_only = false) {
  if (!read_only) {
    if (auto r = make_owner_only(path); !r) return r.error();
  }
  sqlite3* db = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
                              : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    static_cast<void>(sqlite3_close(db));
    return make_error_code(Errc::storage_failure);
  }
  auto fail = [db](boost::system::error_code ec) -> Result<sqlite3*> {
    static_cast<void>(sqlite3_close(db));
    return ec;
  };
  if (auto r = apply_raw_key(db, key); !r) return fail(r.error());
  if (auto r = apply_cipher_settings(db); !r) return fail(r.error());
  if (auto r = verify_key(db); !r) return fail(r.error());
  const auto ms = busy_timeout.count();
  if (sqlite3_busy_timeout(db, static_cast<int>(std::min<std::int64_t>(
                                   ms, std::numeric_limits<int>::max()))) != SQLITE_OK) {
    return fail(make_error_code(Errc::storage_failure));
  }
  return db;
}

}  // namespace

Db::~Db() {
  close();
}

void Db::close() noexcept {
  for (auto& [sql, stmt] : cache_)
    static_cast<void>(sqlite3_finalize(stmt));
  cache_.clear();
  if (db_ != nullptr) {
    static_cast<void>(sqlite3_close(db_));
    db_ = nullptr;
  }
}

Result<void> Db::open(const std::filesystem::path& path, const crypto::SubKey& key,
                      std::chrono::milliseconds busy_timeout) {
  close();
  auto db = open_keyed(path, key, busy_timeout);
  if (!db) return db.error();
  db_ = *db;
  // journal_mode answers with a row naming the mode it ended up in; insist on WAL.
  {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &s, nullptr);
    bool wal = false;
    if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
      const auto* mode = sqlite3_column_text(s, 0);
      wal = mode != nullptr && std::string_view(reinterpret_cast<const char*>(mode)) == "wal";
    }
    static_cast<void>(sqlite3_finalize(s));
    if (!wal) {
      close();
      return make_error_code(Errc::storage_failure);
    }
  }
  for (const char* pragma : {"PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
                             "PRAGMA secure_delete = ON", "PRAGMA temp_store = MEMORY"}) {
    if (auto r = exec(pragma); !r) {
      close();
      return r.error();
    }
  }
  return {};
}

Result<void> Db::set_cache_size_kib(std::size_t kib) {
  constexpr std::size_t kSqliteDefaultKib = 2000;
  constexpr std::size_t kMaxKib = std::size_t{64} << 20;  // 64 GiB
  if (kib > kMaxKib) return make_error_code(Errc::invalid_argument);
  // A negative cache_size is a size in KiB rather than in pages. The text carries only a number.
  const std::string pragma =
      "PRAGMA cache_size = -" + std::to_string(kib == 0 ? kSqliteDefaultKib : kib);
  return exec(pragma.c_str());
}

Result<void> Db::exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return to_error(rc);
  return {};
}

Result<void> Db::run_cached(const char* sql) {
  auto s = prepare(sql);
  if (!s) return s.error();
  return s->run();
}

bool Db::in_transaction() const noexcept {
  return sqlite3_get_autocommit(db_) == 0;
}

Result<Stmt> Db::prepare(const char* sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return Stmt(it->second);
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql, -1, &s, nullptr);
  if (rc != SQLITE_OK) {
    static_cast<void>(sqlite3_finalize(s));
    return to_error(rc);
  }
  cache_.emplace(sql, s);
  return Stmt(s);
}

std::int64_t Db::changes() const noexcept {
  return sqlite3_changes(db_);
}

std::int64_t Db::last_insert_rowid() const noexcept {
  return sqlite3_last_insert_rowid(db_);
}

namespace {

Result<void> copy_database(sqlite3* to, sqlite3* from) {
  sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
  if (b == nullptr) return to_error(sqlite3_errcode(to));
  int rc = SQLITE_OK;
  do {
    rc = sqlite3_backup_step(b, 256);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(5);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  const int fin = sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return to_error(rc);
  if (fin != SQLITE_OK) return to_error(fin);
  return {};
}

}  // namespace

Result<void> Db::backup_to(const std::filesystem::path& dest, const crypto::SubKey& key,
                           std::chrono::milliseconds busy_timeout) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::remove(dest.string() + suffix, ec);
  }
  auto to = open_keyed(dest, key, busy_timeout);
  if (!to) return to.error();
  auto r = copy_database(*to, db_);
  // The backup is a plain rollback-journal file (no WAL), so it is self-contained.
  const int rc = sqlite3_close(*to);
  if (!r) return r;
  if (rc != SQLITE_OK) return make_error_code(Errc::storage_failure);
  return {};
}

Result<void> Db::open_read_only(const std::filesystem::path& path, const crypto::SubKey& key,
                                std::chrono::milliseconds busy_timeout) {
  close();
  if (!std::filesystem::exists(path)) return make_error_code(Errc::not_found);
  auto db = open_keyed(path, key, busy_timeout, true);
  if (!db) return db.error();
  db_ = *db;
  return {};
}

Result<void> Db::restore_from(const std::filesystem::path& src, const crypto::SubKey& key,
                              std::chrono::milliseconds busy_timeout) {
  if (!std::filesystem::exists(src)) return make_error_code(Errc::not_found);
  auto from = open_keyed(src, key, busy_timeout);
  if (!from) return from.error();
  auto r = copy_database(db_, *from);
  static_cast<void>(sqlite3_close(*from));
  return r;
}

ReadTransaction::~ReadTransaction() {
  // Nothing was written: COMMIT only releases the read lock. Should it fail, ROLLBACK does too.
  if (open_ && !db_.run_cached("COMMIT")) static_cast<void>(db_.run_cached("ROLLBACK"));
}

Result<void> ReadTransaction::begin() {
  if (db_.in_transaction()) return {};
  if (auto r = db_.run_cached("BEGIN"); !r) return r;
  open_ = true;
  return {};
}

Transaction::~Transaction() {
  if (open_) static_cast<void>(db_.run_cached("ROLLBACK"));
}

Result<void> Transaction::begin() {
  if (auto r = db_.run_cached("BEGIN IMMEDIATE"); !r) return r;
  open_ = true;
  return {};
}

Result<void> Transaction::commit() {
  if (auto r = db_.run_cached("COMMIT"); !r) return r;
  open_ = false;
  return {};
}

}  // namespace sluis::store::sql
