// The console's SQLCipher store (the only console file that may use SQL; see
// tests/support/check_layering.cmake): accounts, passkeys, invitations and sessions.
#include "sluis/console/console_store.hpp"

#include "sluis/console/base64url.hpp"
#include "sluis/crypto/secret.hpp"

#define SQLITE_HAS_CODEC 1
#include <sqlite3.h>
#include <sodium.h>

#include <sys/stat.h>

#include <array>
#include <map>
#include <mutex>
#include <unordered_map>

namespace sluis::console {
namespace {

namespace fs = std::filesystem;

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS accounts(
  id TEXT PRIMARY KEY, partner TEXT NOT NULL, worker TEXT NOT NULL, role TEXT NOT NULL,
  created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, UNIQUE(partner, worker));
CREATE TABLE IF NOT EXISTS passkeys(
  id BLOB PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), cose_key BLOB NOT NULL,
  alg INTEGER NOT NULL, sign_count INTEGER NOT NULL, created INTEGER NOT NULL,
  last_used INTEGER, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS invites(
  token_hash TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), role TEXT NOT NULL,
  created INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER, superseded INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions(
  handle_hash TEXT PRIMARY KEY, account TEXT REFERENCES accounts(id), csrf TEXT NOT NULL,
  invite_hash TEXT, challenge BLOB, challenge_purpose INTEGER, challenge_expires INTEGER,
  created INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions(account);
CREATE TABLE IF NOT EXISTS security_events(
  id INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL, account TEXT);
)";

[[noreturn]] void fail(const std::string& sentence) {
  throw ConsoleStoreError(sentence);
}

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

std::string random_text(std::size_t bytes) {
  std::vector<std::uint8_t> raw(bytes);
  crypto::random_bytes(raw);
  std::string out = base64url_encode(raw);
  crypto::wipe(raw);
  return out;
}

/// A prepared statement, finalized on scope exit; every step's code is checked.
/// The connection's prepared statements, kept for reuse (every page looks up its session: a
/// statement prepared each time cost more than running it). Keyed by the SQL literal's address;
/// used under the store's mutex only.
struct Statements {
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  sqlite3* db = nullptr;
  std::map<const char*, Entry> cache;
  void finalize_all() {
    for (auto& [sql, e] : cache) static_cast<void>(sqlite3_finalize(e.stmt));
    cache.clear();
  }
};

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) {
      fail("the console database refused a statement; the file may be damaged");
    }
  }
  /// A kept statement for `sql` (a string literal), prepared on first use; a fresh one when the
  /// kept one is in use by an enclosing Stmt.
  Stmt(Statements& kept, const char* sql) : db_(kept.db) {
    auto& e = kept.cache[sql];
    if (e.stmt != nullptr && !e.in_use) {
      s_ = e.stmt;
      entry_ = &e;
      e.in_use = true;
      return;
    }
    if (sqlite3_prepare_v2(db_, sql, -1, &s_, nullptr) != SQLITE_OK) {
      fail("the console database refused a statement; the file may be damaged");
    }
    if (e.stmt == nullptr) {
      e.stmt = s_;
      e.in_use = true;
      entry_ = &e;
    }
  }
  ~Stmt() {
    if (entry_ == nullptr) {
      static_cast<void>(sqlite3_finalize(s_));
      return;
    }
    static_cast<void>(sqlite3_reset(s_));
    static_cast<void>(sqlite3_clear_bindings(s_));
    entry_->in_use = false;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::string_view v) {
    check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind(int i, std::span<const std::uint8_t> v) {
    check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  Stmt& bind_null(int i) {
    check(sqlite3_bind_null(s_, i));
    return *this;
  }
  /// True while a row is available.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("the console database could not be read or written (SQLite code " +
         std::to_string(rc) + "); check the disk and the file's permissions");
  }
  void run() { static_cast<void>(step()); }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<std::size_t>(sqlite3_column_bytes(s_, c)));
  }
  std::vector<std::uint8_t> blob(int c) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, c));
    const int n = sqlite3_column_bytes(s_, c);
    if (p == nullptr || n <= 0) return {};
    return {p, p + n};
  }
  std::int64_t integer(int c) const { return sqlite3_column_int64(s_, c); }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) fail("the console database refused a value");
  }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  Statements::Entry* entry_ = nullptr;  ///< the kept statement this is, when it is one
};

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail(std::string("the console database refused its set-up (") + sqlite3_errmsg(db) +
         "); the file may belong to another program or be damaged");
  }
}

/// BEGIN … COMMIT around reads; ended early with end(), else when it goes out of scope (also
/// when a read throws).
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN"); }
  ~ReadTransaction() { end(); }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  void end() noexcept {
    if (db_ == nullptr) return;
    static_cast<void>(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr));
    db_ = nullptr;
  }

 private:
  sqlite3* db_;
};

ConsoleAccount read_account(const Stmt& s, int first) {
  ConsoleAccount a;
  a.id = s.text(first);
  a.partner = s.text(first + 1);
  a.worker = s.text(first + 2);
  a.role = parse_console_role(s.text(first + 3)).value_or(ConsoleRole::worker);
  a.revoked = s.integer(first + 4) != 0;
  return a;
}

constexpr const char* kAccountColumns = "a.id, a.partner, a.worker, a.role, a.revoked";

}  // namespace

std::string_view to_string(ConsoleRole role) noexcept {
  switch (role) {
  case ConsoleRole::admin: return "admin";
  case ConsoleRole::dpo: return "dpo";
  case ConsoleRole::worker: break;
  }
  return "worker";
}

std::optional<ConsoleRole> parse_console_role(std::string_view text) noexcept {
  if (text == "admin") return ConsoleRole::admin;
  if (text == "worker") return ConsoleRole::worker;
  if (text == "dpo") return ConsoleRole::dpo;
  return std::nullopt;
}

UnixSeconds unix_now() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A session as touch_session last read it from the file: what it returns, and the two times
/// that decide when the file must be asked again.
struct RememberedSession {
  ConsoleSession session;
  UnixSeconds created = 0;
  UnixSeconds last_seen = 0;  ///< as written in the file
};

/// At most this many sessions are remembered between pages (more: all are forgotten).
constexpr std::size_t kRememberedSessions = 1024;

struct ConsoleStore::Impl {
  sqlite3* db = nullptr;
  std::mutex mutex;
  Statements statements;  ///< finalized before the connection closes
  UnixSeconds last_prune = 0;  ///< when expired sessions were last deleted
  /// Sessions read by touch_session, so that a page does not read the file while its session's
  /// idle time needs no refresh. Only this process changes sessions, accounts and passkeys (the
  /// command line only adds invites and new accounts), and every such change forgets them all.
  std::unordered_map<std::string, RememberedSession> remembered;
  ~Impl() {
    statements.finalize_all();
    static_cast<void>(sqlite3_close_v2(db));
  }

  /// BEGIN IMMEDIATE … COMMIT, rolled back when `fn` throws. Forgets the remembered sessions
  /// (a transaction may change who is signed in as whom).
  template <class Fn>
  auto transaction(Fn&& fn) {
    remembered.clear();
    exec(db, "BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(fn())>) {
        fn();
        exec(db, "COMMIT");
      } else {
        auto r = fn();
        exec(db, "COMMIT");
        return r;
      }
    } catch (...) {
      static_cast<void>(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr));
      throw;
    }
  }
};

ConsoleStore::ConsoleStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConsoleStore::~ConsoleStore() = default;

std::unique_ptr<ConsoleStore> ConsoleStore::open(const fs::path& file, const crypto::RootKey& root) {
  auto impl = std::make_unique<Impl>();
  const bool existed = fs::exists(file);
  const int rc = sqlite3_open_v2(file.c_str(), &impl->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  impl->statements.db = impl->db;
  if (rc != SQLITE_OK) {
    fail(file.string() + ": cannot open the console database; check that its directory exists "
                         "and that sluis-console may write there");
  }
  if (!existed) ::chmod(file.c_str(), 0600);
  {
    const crypto::SubKey key = crypto::derive_subkey(root, crypto::KeyPurpose::database);
    static constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 67> literal{};
    literal[0] = 'x';
    literal[1] = '\'';
    const auto bytes = key.reveal();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      literal[2 + 2 * i] = kHex[bytes[i] >> 4];
      literal[3 + 2 * i] = kHex[bytes[i] & 0x0f];
    }
    literal[66] = '\'';
    const int key_rc = sqlite3_key(impl->db, literal.data(), static_cast<int>(literal.size()));
    crypto::wipe(std::span<char>(literal.data(), literal.size()));
    if (key_rc != SQLITE_OK) fail(file.string() + ": SQLCipher refused the database key");
  }
  if (sqlite3_exec(impl->db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    fail(file.string() + ": this file does not open with the console's root key; it belongs to "
                         "another root key file, or it is not a console database");
  }
  exec(impl->db, "PRAGMA journal_mode = WAL");
  exec(impl->db, "PRAGMA foreign_keys = ON");
  exec(impl->db, "PRAGMA busy_timeout = 5000");
  exec(impl->db, kSchema);
  {
    Stmt v(impl->db, "PRAGMA user_version");
    const std::int64_t version = v.step() ? v.integer(0) : 0;
    if (version > kSchemaVersion) {
      fail(file.string() + ": this console database was written by a newer sluis-console; "
                           "run that version");
    }
  }
  exec(impl->db, "PRAGMA user_version = 1");
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side = file.string() + suffix;
    ::chmod(side.c_str(), 0600);
  }
  return std::unique_ptr<ConsoleStore>(new ConsoleStore(std::move(impl)));
}

std::string ConsoleStore::hash_token(std::string_view token) {
  std::array<std::uint8_t, 32> h{};
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return hex(h);
}

IssuedInvite ConsoleStore::create_invite(std::string_view partner, std::string_view worker,
                                         ConsoleRole role, UnixSeconds now,
                                         std::chrono::seconds valid_for) {
  if (valid_for > kInviteLifetime || valid_for.count() <= 0) valid_for = kInviteLifetime;
  IssuedInvite out;
  out.token = random_text(32);
  out.expires = now + valid_for.count();
  const std::lock_guard lock(impl_->mutex);
  impl_->transaction([&] {
    std::string account_id;
    {
      Stmt find(impl_->statements, "SELECT id FROM accounts WHERE partner = ?1 AND worker = ?2");
      find.bind(1, partner).bind(2, worker);
      if (find.step()) account_id = find.text(0);
    }
    if (account_id.empty()) {
      std::array<std::uint8_t, 16> raw{};
      crypto::random_bytes(raw);
      account_id = hex(raw);
      Stmt ins(impl_->db,
               "INSERT INTO accounts(id, partner, worker, role, created) VALUES(?1,?2,?3,?4,?5)");
      ins.bind(1, account_id).bind(2, partner).bind(3, worker).bind(4, to_string(role)).bind(5, now);
      ins.run();
    }
    Stmt old(impl_->statements, "UPDATE invites SET superseded = 1 WHERE account = ?1 AND used IS NULL");
    old.bind(1, account_id);
    old.run();
    Stmt ins(impl_->statements, "INSERT INTO invites(token_hash, account, role, created, expires) "
                        "VALUES(?1,?2,?3,?4,?5)");
    ins.bind(1, hash_token(out.token)).bind(2, account_id).bind(3, to_string(role)).bind(4, now);
    ins.bind(5, out.expires);
    ins.run();
  });
  return out;
}

InviteView ConsoleStore::find_invite(std::string_view token, UnixSeconds now) {
  return find_invite_by_hash(hash_token(token), now);
}

InviteView ConsoleStore::find_invite_by_hash(std::string_view token_hash, UnixSeconds now) {
  InviteView v;
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT a.partner, a.worker, i.role, i.expires, i.used, i.superseded, a.id "
                    "FROM invites i JOIN accounts a ON a.id = i.account WHERE i.token_hash = ?1");
  s.bind(1, token_hash);
  if (!s.step()) return v;
  v.account_id = s.text(6);
  v.partner = s.text(0);
  v.worker = s.text(1);
  v.role = parse_console_role(s.text(2)).value_or(ConsoleRole::worker);
  if (!s.is_null(4) || s.integer(5) != 0) {
    v.state = InviteState::used;
  } else if (s.integer(3) <= now) {
    v.state = InviteState::expired;
  } else {
    v.state = InviteState::valid;
  }
  return v;
}

std::optional<ConsoleAccount> ConsoleStore::enrol(std::string_view invite_hash,
                                                  const RegisteredCredential& credential,
                                                  UnixSeconds now) {
  const std::lock_guard lock(impl_->mutex);
  return impl_->transaction([&]() -> std::optional<ConsoleAccount> {
    std::string account_id, role;
    {
      Stmt s(impl_->statements, "SELECT account, role FROM invites WHERE token_hash = ?1 AND used IS "
                        "NULL AND superseded = 0 AND expires > ?2");
      s.bind(1, invite_hash).bind(2, now);
      if (!s.step()) return std::nullopt;
      account_id = s.text(0);
      role = s.text(1);
    }
    {
      Stmt taken(impl_->statements, "SELECT 1 FROM passkeys WHERE id = ?1");
      taken.bind(1, std::span<const std::uint8_t>(credential.credential_id));
      if (taken.step()) return std::nullopt;
    }
    Stmt used(impl_->statements, "UPDATE invites SET used = ?2 WHERE token_hash = ?1");
    used.bind(1, invite_hash).bind(2, now);
    used.run();
    Stmt acc(impl_->statements, "UPDATE accounts SET role = ?2, revoked = 0 WHERE id = ?1");
    acc.bind(1, account_id).bind(2, role);
    acc.run();
    Stmt old(impl_->statements, "UPDATE passkeys SET revoked = 1 WHERE account = ?1");
    old.bind(1, account_id);
    old.run();
    Stmt ins(impl_->statements, "INSERT INTO passkeys(id, account, cose_key, alg, sign_count, created) "
                        "VALUES(?1,?2,?3,?4,?5,?6)");
    ins.bind(1, std::span<const std::uint8_t>(credential.credential_id)).bind(2, account_id);
    ins.bind(3, std::span<const std::uint8_t>(credential.cose_key));
    ins.bind(4, static_cast<std::int64_t>(credential.algorithm));
    ins.bind(5, static_cast<std::int64_t>(credential.sign_count)).bind(6, now);
    ins.run();
    // The account's other sessions end: whoever held the old passkey is signed out.
    Stmt sessions(impl_->statements, "DELETE FROM sessions WHERE account = ?1");
    sessions.bind(1, account_id);
    sessions.run();
    Stmt read(impl_->statements, "SELECT a.id, a.partner, a.worker, a.role, a.revoked FROM accounts a "
                         "WHERE a.id = ?1");
    read.bind(1, account_id);
    if (!read.step()) return std::nullopt;
    ConsoleAccount a = read_account(read, 0);
    a.active_credentials = 1;
    return a;
  });
}

std::optional<StoredPasskey> ConsoleStore::find_passkey(std::span<const std::uint8_t> id) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT id, account, cose_key, sign_count, revoked FROM passkeys WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  StoredPasskey p;
  p.id = s.blob(0);
  p.account_id = s.text(1);
  p.cose_key = s.blob(2);
  p.sign_count = static_cast<std::uint32_t>(s.integer(3));
  p.revoked = s.integer(4) != 0;
  return p;
}

void ConsoleStore::update_sign_count(std::span<const std::uint8_t> id, std::uint32_t count,
                                     UnixSeconds now) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "UPDATE passkeys SET sign_count = ?2, last_used = ?3 WHERE id = ?1");
  s.bind(1, id).bind(2, static_cast<std::int64_t>(count)).bind(3, now);
  s.run();
}

void ConsoleStore::record_event(std::string_view kind, std::string_view account_id,
                                UnixSeconds now) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "INSERT INTO security_events(time, kind, account) VALUES(?1, ?2, ?3)");
  s.bind(1, now).bind(2, kind);
  if (account_id.empty()) {
    s.bind_null(3);
  } else {
    s.bind(3, account_id);
  }
  s.run();
}

std::size_t ConsoleStore::count_events(std::string_view kind) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT count(*) FROM security_events WHERE kind = ?1");
  s.bind(1, kind);
  return s.step() ? static_cast<std::size_t>(s.integer(0)) : 0;
}

std::optional<ConsoleAccount> ConsoleStore::account(std::string_view id) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT a.id, a.partner, a.worker, a.role, a.revoked, (SELECT count(*) FROM "
                    "passkeys p WHERE p.account = a.id AND p.revoked = 0) FROM accounts a "
                    "WHERE a.id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  ConsoleAccount a = read_account(s, 0);
  a.active_credentials = static_cast<std::size_t>(s.integer(5));
  return a;
}

std::vector<SecurityEvent> ConsoleStore::events_of(std::string_view partner, std::size_t limit) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT e.time, e.kind, a.id, a.worker FROM security_events e JOIN accounts a "
                    "ON a.id = e.account WHERE a.partner = ?1 ORDER BY e.id DESC LIMIT ?2");
  s.bind(1, partner).bind(2, static_cast<std::int64_t>(limit));
  std::vector<SecurityEvent> out;
  while (s.step())
    out.push_back(SecurityEvent{s.integer(0), s.text(1), s.text(2), s.text(3)});
  return out;
}

std::size_t ConsoleStore::count_signed_out_sessions() {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT count(*) FROM sessions WHERE account IS NULL");
  return s.step() ? static_cast<std::size_t>(s.integer(0)) : 0;
}

std::vector<ConsoleAccount> ConsoleStore::accounts_of(std::string_view partner) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT a.id, a.partner, a.worker, a.role, a.revoked, (SELECT count(*) FROM "
                    "passkeys p WHERE p.account = a.id AND p.revoked = 0) FROM accounts a "
                    "WHERE a.partner = ?1 ORDER BY a.worker");
  s.bind(1, partner);
  std::vector<ConsoleAccount> out;
  while (s.step()) {
    out.push_back(read_account(s, 0));
    out.back().active_credentials = static_cast<std::size_t>(s.integer(5));
  }
  return out;
}

bool ConsoleStore::revoke_account(std::string_view partner, std::string_view id) {
  const std::lock_guard lock(impl_->mutex);
  return impl_->transaction([&] {
    Stmt s(impl_->statements, "UPDATE accounts SET revoked = 1 WHERE id = ?1 AND partner = ?2");
    s.bind(1, id).bind(2, partner);
    s.run();
    if (sqlite3_changes(impl_->db) != 1) return false;
    Stmt keys(impl_->statements, "UPDATE passkeys SET revoked = 1 WHERE account = ?1");
    keys.bind(1, id);
    keys.run();
    Stmt inv(impl_->statements, "UPDATE invites SET superseded = 1 WHERE account = ?1 AND used IS NULL");
    inv.bind(1, id);
    inv.run();
    Stmt ses(impl_->statements, "DELETE FROM sessions WHERE account = ?1");
    ses.bind(1, id);
    ses.run();
    return true;
  });
}

std::string ConsoleStore::create_session(std::optional<std::string> account_id,
                                         std::optional<std::string> invite_hash, UnixSeconds now) {
  std::string id = random_text(32);
  const std::string csrf = random_text(32);
  const std::lock_guard lock(impl_->mutex);
  if (now - impl_->last_prune >= 60) {
    Stmt d(impl_->statements, "DELETE FROM sessions WHERE last_seen <= ?1 OR created <= ?2");
    d.bind(1, now - kSessionIdle.count()).bind(2, now - kSessionAbsolute.count());
    d.run();
    impl_->last_prune = now;
    impl_->remembered.clear();
  }
  if (!account_id) {
    Stmt c(impl_->statements, "SELECT count(*) FROM sessions WHERE account IS NULL");
    const auto count = c.step() ? static_cast<std::size_t>(c.integer(0)) : 0;
    if (count >= kMaxSignedOutSessions) {
      Stmt d(impl_->statements, "DELETE FROM sessions WHERE handle_hash IN (SELECT handle_hash FROM "
                        "sessions WHERE account IS NULL ORDER BY last_seen, created LIMIT ?1)");
      d.bind(1, static_cast<std::int64_t>(count - kMaxSignedOutSessions + 1));
      d.run();
      impl_->remembered.clear();
    }
  }
  Stmt s(impl_->statements, "INSERT INTO sessions(handle_hash, account, csrf, invite_hash, created, "
                    "last_seen) VALUES(?1, ?2, ?3, ?4, ?5, ?5)");
  s.bind(1, hash_token(id));
  if (account_id) {
    s.bind(2, *account_id);
  } else {
    s.bind_null(2);
  }
  s.bind(3, csrf);
  if (invite_hash) {
    s.bind(4, *invite_hash);
  } else {
    s.bind_null(4);
  }
  s.bind(5, now);
  s.run();
  return id;
}

std::optional<ConsoleSession> ConsoleStore::touch_session(std::string_view id, UnixSeconds now) {
  const std::string handle = hash_token(id);
  const std::lock_guard lock(impl_->mutex);
  if (const auto it = impl_->remembered.find(handle); it != impl_->remembered.end()) {
    const RememberedSession& r = it->second;
    // Still valid and no idle time to write: the file would say the same.
    if (now - r.last_seen < kSessionTouchStep.count() && now - r.created < kSessionAbsolute.count())
      return r.session;
    impl_->remembered.erase(it);
  }
  ConsoleSession out;
  UnixSeconds created = 0;
  UnixSeconds last_seen = 0;
  std::string account_id;
  bool refresh = false;
  bool expired = false;
  // The two reads in one read transaction (one lock taken and released, not two); the rare
  // write after it (an expired session deleted, the idle time refreshed) in its own.
  ReadTransaction read(impl_->db);
  {
    Stmt s(impl_->statements, "SELECT csrf, account, invite_hash, created, last_seen FROM sessions "
                      "WHERE handle_hash = ?1");
    s.bind(1, handle);
    if (!s.step()) return std::nullopt;
    expired = now - s.integer(4) >= kSessionIdle.count() ||
              now - s.integer(3) >= kSessionAbsolute.count();
    refresh = now - s.integer(4) >= kSessionTouchStep.count();
    created = s.integer(3);
    last_seen = s.integer(4);
    out.handle_hash = handle;
    out.csrf = s.text(0);
    if (!s.is_null(1)) account_id = s.text(1);
    if (!s.is_null(2)) out.invite_hash = s.text(2);
  }
  if (expired) {
    read.end();
    Stmt d(impl_->statements, "DELETE FROM sessions WHERE handle_hash = ?1");
    d.bind(1, handle);
    d.run();
    return std::nullopt;
  }
  if (!account_id.empty()) {
    Stmt a(impl_->statements, "SELECT a.id, a.partner, a.worker, a.role, a.revoked FROM accounts a "
                      "WHERE a.id = ?1");
    a.bind(1, account_id);
    if (!a.step() || a.integer(4) != 0) return std::nullopt;
    out.account = read_account(a, 0);
  }
  read.end();
  if (refresh) {
    Stmt u(impl_->statements, "UPDATE sessions SET last_seen = ?2 WHERE handle_hash = ?1");
    u.bind(1, handle).bind(2, now);
    u.run();
    last_seen = now;
  }
  if (impl_->remembered.size() >= kRememberedSessions) impl_->remembered.clear();
  impl_->remembered.emplace(handle, RememberedSession{out, created, last_seen});
  return out;
}

void ConsoleStore::delete_session(std::string_view handle_hash) {
  const std::lock_guard lock(impl_->mutex);
  impl_->remembered.clear();
  Stmt s(impl_->statements, "DELETE FROM sessions WHERE handle_hash = ?1");
  s.bind(1, handle_hash);
  s.run();
}

void ConsoleStore::delete_sessions_of(std::string_view account_id) {
  const std::lock_guard lock(impl_->mutex);
  impl_->remembered.clear();
  Stmt s(impl_->statements, "DELETE FROM sessions WHERE account = ?1");
  s.bind(1, account_id);
  s.run();
}

std::size_t ConsoleStore::count_sessions_of(std::string_view account_id) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "SELECT count(*) FROM sessions WHERE account = ?1");
  s.bind(1, account_id);
  return s.step() ? static_cast<std::size_t>(s.integer(0)) : 0;
}

void ConsoleStore::set_challenge(std::string_view handle_hash, ChallengePurpose purpose,
                                 std::span<const std::uint8_t> challenge, UnixSeconds now) {
  const std::lock_guard lock(impl_->mutex);
  Stmt s(impl_->statements, "UPDATE sessions SET challenge = ?2, challenge_purpose = ?3, "
                    "challenge_expires = ?4 WHERE handle_hash = ?1");
  s.bind(1, handle_hash).bind(2, challenge).bind(3, static_cast<std::int64_t>(purpose));
  s.bind(4, now + kChallengeLifetime.count());
  s.run();
}

std::optional<std::vector<std::uint8_t>>
ConsoleStore::take_challenge(std::string_view handle_hash, ChallengePurpose purpose,
                             UnixSeconds now) {
  const std::lock_guard lock(impl_->mutex);
  std::optional<std::vector<std::uint8_t>> out;
  {
    Stmt s(impl_->statements, "SELECT challenge, challenge_purpose, challenge_expires FROM sessions "
                      "WHERE handle_hash = ?1 AND challenge IS NOT NULL");
    s.bind(1, handle_hash);
    if (s.step() && s.integer(1) == static_cast<std::int64_t>(purpose) && s.integer(2) > now) {
      out = s.blob(0);
    }
  }
  Stmt clear(impl_->statements, "UPDATE sessions SET challenge = NULL, challenge_purpose = NULL, "
                        "challenge_expires = NULL WHERE handle_hash = ?1");
  clear.bind(1, handle_hash);
  clear.run();
  return out;
}

}  // namespace sluis::console
