// A thin libpq layer for the PostgreSQL engine and the PostgreSQL audit log (sluis::pgaudit):
// connections, prepared statements per connection, binary parameters and rows, SQLSTATE mapped
// to the store's errors, a node's connection settings and the schema's migrations.
#pragma once

#include "sluis/crypto/secret.hpp"
#include "sluis/pgstore/pg_storage.hpp"
#include "sluis/store/error.hpp"

#include <libpq-fe.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluis::pgstore::pg {

using store::Errc;
using store::Result;

/// Type OIDs of the parameters the engine sends (pg_type.oid, stable across versions).
inline constexpr Oid kBool = 16;
inline constexpr Oid kBytea = 17;
inline constexpr Oid kInt8 = 20;
inline constexpr Oid kText = 25;

/// The parameters of one statement, in binary format. Text and bytes are views: what they view
/// must outlive the call they are passed to.
class Params {
 public:
  Params& text(std::string_view v);
  Params& bytes(std::span<const std::uint8_t> v);
  Params& int64(std::int64_t v);
  Params& boolean(bool v);
  /// A NULL of `type` (kText, kBytea, kInt8, kBool).
  Params& null(Oid type);

 private:
  friend class Conn;
  struct P {
    Oid type;
    const char* data;
    int length;
    bool is_null;
    std::array<char, 8> number;
  };
  std::vector<P> p_;
};

/// The rows of one statement (binary format). Owns the libpq result.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* r) : r_(r) {}
  Rows(Rows&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  Rows& operator=(Rows&& o) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  ~Rows();

  [[nodiscard]] int size() const noexcept;
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] bool is_null(int row, int col) const noexcept;
  [[nodiscard]] std::string text(int row, int col) const;
  [[nodiscard]] std::span<const std::uint8_t> bytes(int row, int col) const noexcept;
  [[nodiscard]] std::vector<std::uint8_t> byte_vector(int row, int col) const;
  /// An int2, int4 or int8 column.
  [[nodiscard]] std::int64_t int64(int row, int col) const noexcept;
  [[nodiscard]] bool boolean(int row, int col) const noexcept;
  /// Rows an INSERT, UPDATE or DELETE touched.
  [[nodiscard]] std::int64_t affected() const noexcept;

 private:
  PGresult* r_ = nullptr;
};

/// One libpq connection. Not thread-safe: one user at a time (a session of the pool).
class Conn {
 public:
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn();

  /// Connects with libpq keyword/value pairs (the first may be "dbname" holding a whole
  /// connection string). Errors: unavailable (unreachable, refused, authentication failed).
  [[nodiscard]] Result<void> connect(const std::vector<std::pair<const char*, const char*>>& kw);
  /// True while libpq holds the connection for good.
  [[nodiscard]] bool ok() const noexcept;
  /// As ok(), after reading what the server sent an idle connection meanwhile (without
  /// blocking): a connection the server closed (restart, pg_terminate_backend) reads as lost.
  [[nodiscard]] bool probe() noexcept;
  /// Reconnects a connection that was lost (prepared statements are prepared again on use).
  /// Errors: unavailable.
  [[nodiscard]] Result<void> reset();
  /// Runs `sql` (prepared once per connection, by its text) with `params`, rows in binary.
  [[nodiscard]] Result<Rows> query(const std::string& sql, const Params& params = {});
  /// As query(), for statements whose rows do not matter.
  [[nodiscard]] Result<void> run(const std::string& sql, const Params& params = {});
  /// Runs one or more statements without parameters and without preparing them (DDL,
  /// transaction control, VACUUM).
  [[nodiscard]] Result<void> exec(const char* sql);
  /// True inside a transaction block (also an aborted one).
  [[nodiscard]] bool in_transaction() const noexcept;
  /// The server process of this connection (for tests).
  [[nodiscard]] int backend_pid() const noexcept;
  /// Waits up to `timeout_ms` for the server to send something (a notification, or the end of
  /// the connection) and returns the payloads of the notifications received (LISTEN). Errors:
  /// unavailable (the connection is lost; reconnect and LISTEN again).
  [[nodiscard]] Result<std::vector<std::string>> wait_notifications(int timeout_ms);

 private:
  [[nodiscard]] Result<Rows> checked(PGresult* r);

  PGconn* c_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;
};

/// The store error for a failed result (SQLSTATE) or a lost connection.
[[nodiscard]] boost::system::error_code error_of(const PGresult* r, const PGconn* c) noexcept;

/// The first line of a password file, NUL-terminated, in guarded memory.
/// Errors: invalid_argument (unreadable, empty first line, or a NUL in it).
[[nodiscard]] Result<crypto::SecretBuffer> read_password_file(const std::filesystem::path& path);

/// Connects `c` as `options` say (conninfo, sslmode, sslrootcert, connect timeout, application
/// name, UTF8) with `password` (from read_password_file; null: none), then sets lock_timeout to
/// options.busy_timeout. Errors: unavailable.
[[nodiscard]] Result<void> connect_node(Conn& c, const PgOptions& options,
                                        const crypto::SecretBuffer* password);

/// Brings the schema to `limit` (PgStorage::kSchemaVersion when negative) under an advisory
/// transaction lock, so that nodes starting together migrate once; returns the version in force.
/// Errors: schema_too_new, and as Conn::query.
[[nodiscard]] Result<int> migrate_schema(Conn& c, int limit, std::int64_t now_ms);

}  // namespace sluis::pgstore::pg
