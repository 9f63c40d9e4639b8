// libpq connections for the PostgreSQL engine: binary parameters and rows, statements prepared
// once per connection, SQLSTATE to store errors (never a server message: it may quote values).
#include "pg.hpp"

#include <poll.h>

#include <algorithm>
#include <cstring>

namespace sluis::pgstore::pg {

namespace {

void put_be64(std::array<char, 8>& out, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

std::uint64_t get_be(const char* p, int n) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

/// Server notices ("relation already exists, skipping") are dropped: the engine logs nothing
/// a server says, since a message may quote a value.
void ignore_notice(void*, const char*) {}

}  // namespace

Params& Params::text(std::string_view v) {
  p_.push_back({kText, v.data(), static_cast<int>(v.size()), false, {}});
  return *this;
}

Params& Params::bytes(std::span<const std::uint8_t> v) {
  // libpq wants a pointer even for an empty value.
  static const char kEmpty = 0;
  const char* d = v.empty() ? &kEmpty : reinterpret_cast<const char*>(v.data());
  p_.push_back({kBytea, d, static_cast<int>(v.size()), false, {}});
  return *this;
}

Params& Params::int64(std::int64_t v) {
  P p{kInt8, nullptr, 8, false, {}};
  put_be64(p.number, static_cast<std::uint64_t>(v));
  p_.push_back(p);
  return *this;
}

Params& Params::boolean(bool v) {
  P p{kBool, nullptr, 1, false, {}};
  p.number[0] = v ? 1 : 0;
  p_.push_back(p);
  return *this;
}

Params& Params::null(Oid type) {
  p_.push_back({type, nullptr, 0, true, {}});
  return *this;
}

Rows& Rows::operator=(Rows&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr) PQclear(r_);
    r_ = std::exchange(o.r_, nullptr);
  }
  return *this;
}

Rows::~Rows() {
  if (r_ != nullptr) PQclear(r_);
}

int Rows::size() const noexcept {
  return r_ == nullptr ? 0 : PQntuples(r_);
}

bool Rows::is_null(int row, int col) const noexcept {
  return PQgetisnull(r_, row, col) != 0;
}

std::string Rows::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::span<const std::uint8_t> Rows::bytes(int row, int col) const noexcept {
  return {reinterpret_cast<const std::uint8_t*>(PQgetvalue(r_, row, col)),
          static_cast<std::size_t>(PQgetlength(r_, row, col))};
}

std::vector<std::uint8_t> Rows::byte_vector(int row, int col) const {
  const auto b = bytes(row, col);
  return {b.begin(), b.end()};
}

std::int64_t Rows::int64(int row, int col) const noexcept {
  const int n = PQgetlength(r_, row, col);
  const char* p = PQgetvalue(r_, row, col);
  switch (n) {
  case 2: return static_cast<std::int16_t>(get_be(p, 2));
  case 4: return static_cast<std::int32_t>(get_be(p, 4));
  case 8: return static_cast<std::int64_t>(get_be(p, 8));
  default: return 0;
  }
}

bool Rows::boolean(int row, int col) const noexcept {
  return PQgetlength(r_, row, col) == 1 && PQgetvalue(r_, row, col)[0] != 0;
}

std::int64_t Rows::affected() const noexcept {
  const char* n = r_ == nullptr ? "" : PQcmdTuples(r_);
  std::int64_t v = 0;
  for (; *n >= '0' && *n <= '9'; ++n)
    v = v * 10 + (*n - '0');
  return v;
}

boost::system::error_code error_of(const PGresult* r, const PGconn* c) noexcept {
  if (c == nullptr || PQstatus(c) != CONNECTION_OK) return make_error_code(Errc::unavailable);
  const char* state = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (state == nullptr) return make_error_code(Errc::storage_failure);
  const std::string_view s(state);
  // Class 23: integrity constraint violations (unique, foreign key, check), as SQLite's
  // SQLITE_CONSTRAINT: the row exists already, or what it names does not.
  if (s.starts_with("23")) return make_error_code(Errc::conflict);
  // serialization_failure, deadlock_detected, lock_not_available (lock_timeout),
  // query_canceled (statement_timeout): another transaction was in the way; try again.
  if (s == "40001" || s == "40P01" || s == "55P03" || s == "57014") {
    return make_error_code(Errc::busy);
  }
  // connection_exception, admin_shutdown, crash_shutdown, cannot_connect_now.
  if (s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03") {
    return make_error_code(Errc::unavailable);
  }
  return make_error_code(Errc::storage_failure);
}

Conn::~Conn() {
  if (c_ != nullptr) PQfinish(c_);
}

Result<void> Conn::connect(const std::vector<std::pair<const char*, const char*>>& kw) {
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [k, v] : kw) {
    keys.push_back(k);
    values.push_back(v);
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  if (c_ != nullptr) PQfinish(c_);
  prepared_.clear();
  c_ = PQconnectdbParams(keys.data(), values.data(), 1);
  if (c_ == nullptr || PQstatus(c_) != CONNECTION_OK) return make_error_code(Errc::unavailable);
  PQsetNoticeProcessor(c_, ignore_notice, nullptr);
  return {};
}

bool Conn::ok() const noexcept {
  return c_ != nullptr && PQstatus(c_) == CONNECTION_OK;
}

bool Conn::probe() noexcept {
  if (c_ == nullptr || PQstatus(c_) != CONNECTION_OK) return false;
  if (PQtransactionStatus(c_) != PQTRANS_IDLE) return true;  // mid-transaction: nothing to read
  // An idle connection (this engine never LISTENs) has nothing to read unless the server is
  // ending it: it sends the reason, then closes. Readable therefore means "about to be lost".
  pollfd p{PQsocket(c_), POLLIN, 0};
  const int n = ::poll(&p, 1, 0);
  return n == 0;
}

Result<void> Conn::reset() {
  if (c_ == nullptr) return make_error_code(Errc::unavailable);
  prepared_.clear();
  PQreset(c_);
  if (PQstatus(c_) != CONNECTION_OK) return make_error_code(Errc::unavailable);
  return {};
}

Result<Rows> Conn::checked(PGresult* r) {
  Rows rows(r);
  const auto st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return rows;
  return error_of(r, c_);
}

Result<Rows> Conn::query(const std::string& sql, const Params& params) {
  if (c_ == nullptr) return make_error_code(Errc::unavailable);
  const int n = static_cast<int>(params.p_.size());
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::vector<Oid> types;
    types.reserve(params.p_.size());
    for (const auto& p : params.p_)
      types.push_back(p.type);
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    auto prepared = checked(PQprepare(c_, name.c_str(), sql.c_str(), n, types.data()));
    if (!prepared) return prepared.error();
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats(params.p_.size(), 1);
  values.reserve(params.p_.size());
  lengths.reserve(params.p_.size());
  for (const auto& p : params.p_) {
    if (p.is_null) {
      values.push_back(nullptr);
    } else {
      values.push_back(p.data != nullptr ? p.data : p.number.data());
    }
    lengths.push_back(p.length);
  }
  return checked(PQexecPrepared(c_, it->second.c_str(), n, values.data(), lengths.data(),
                                formats.data(), 1));
}

Result<void> Conn::run(const std::string& sql, const Params& params) {
  auto r = query(sql, params);
  if (!r) return r.error();
  return {};
}

Result<void> Conn::exec(const char* sql) {
  if (c_ == nullptr) return make_error_code(Errc::unavailable);
  auto r = checked(PQexec(c_, sql));
  if (!r) return r.error();
  return {};
}

bool Conn::in_transaction() const noexcept {
  if (c_ == nullptr) return false;
  const auto s = PQtransactionStatus(c_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

int Conn::backend_pid() const noexcept {
  return c_ == nullptr ? 0 : PQbackendPID(c_);
}

Result<std::vector<std::string>> Conn::wait_notifications(int timeout_ms) {
  if (c_ == nullptr || PQstatus(c_) != CONNECTION_OK) return make_error_code(Errc::unavailable);
  std::vector<std::string> out;
  pollfd p{PQsocket(c_), POLLIN, 0};
  const int n = ::poll(&p, 1, std::max(timeout_ms, 0));
  if (n < 0) return out;  // EINTR: the caller waits again
  if (n > 0 && PQconsumeInput(c_) == 0) return make_error_code(Errc::unavailable);
  while (PGnotify* note = PQnotifies(c_)) {
    out.emplace_back(note->extra != nullptr ? note->extra : "");
    PQfreemem(note);
  }
  if (PQstatus(c_) != CONNECTION_OK) return make_error_code(Errc::unavailable);
  return out;
}

}  // namespace sluis::pgstore::pg
