// The store's tables as engine-neutral rows (table_export.hpp): the table list, the key and
// digest encoding, and the SQLCipher engine's reading of its own tables in key order.
#include "sluis/store/table_export.hpp"

#include "store_impl.hpp"

#include <sodium.h>

#include <string>

namespace sluis::store {

namespace {

using T = ExportType;

/// One finalised statement (the statement cache keys literals by address; these are built).
class OwnedStmt {
 public:
  OwnedStmt() = default;
  OwnedStmt(const OwnedStmt&) = delete;
  OwnedStmt& operator=(const OwnedStmt&) = delete;
  ~OwnedStmt() { sqlite3_finalize(s_); }
  [[nodiscard]] Result<void> prepare(sqlite3* db, const std::string& sql) {
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &s_, nullptr);
    if (rc != SQLITE_OK) return sql::to_error(rc);
    return {};
  }
  [[nodiscard]] sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

Result<void> bind_value(sqlite3_stmt* s, int index, const ExportValue& v) {
  int rc = SQLITE_OK;
  if (std::holds_alternative<std::monostate>(v)) {
    rc = sqlite3_bind_null(s, index);
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    rc = sqlite3_bind_int64(s, index, *i);
  } else if (const auto* t = std::get_if<std::string>(&v)) {
    rc = sqlite3_bind_text(s, index, t->data(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
  } else {
    const auto& b = std::get<std::vector<std::uint8_t>>(v);
    rc = sqlite3_bind_blob(s, index, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
  }
  if (rc != SQLITE_OK) return sql::to_error(rc);
  return {};
}

ExportValue column_value(sqlite3_stmt* s, int col, ExportType type) {
  if (sqlite3_column_type(s, col) == SQLITE_NULL) return std::monostate{};
  switch (type) {
  case T::integer:
  case T::boolean: return std::int64_t{sqlite3_column_int64(s, col)};
  case T::text:
  case T::document: {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, col));
    return p == nullptr ? std::string() : std::string(p, n);
  }
  case T::bytes: {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, col));
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, col));
    return p == nullptr ? std::vector<std::uint8_t>() : std::vector<std::uint8_t>(p, p + n);
  }
  }
  return std::monostate{};
}

/// "(k1, k2)" over the table's key columns, as the SQLCipher engine names them.
std::string key_tuple(const ExportTable& t) {
  std::string out = "(";
  for (std::size_t k = 0; k < t.key_columns; ++k)
    out.append(k == 0 ? "" : ", ").append(t.columns[k].source);
  return out + ")";
}

void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> shift));
}

}  // namespace

const std::vector<ExportTable>& export_tables() {
  // Schema 8 of the data store and 2 of the key store (store.cpp); the target's names are the
  // PostgreSQL schema's (gateway/pgstore/src/pg_storage.cpp). Rows the SQLCipher engine orders
  // by SQLite's rowid keep it as their seq there.
  static const std::vector<ExportTable> kTables = {
      {"keks",
       "keks",
       true,
       1,
       {{"version", "version", T::integer},
        {"wrapped", "wrapped", T::bytes},
        {"created_at", "created_at", T::integer},
        {"retired_at", "retired_at", T::integer}}},
      {"partners",
       "partners",
       false,
       1,
       {{"id", "id", T::text},
        {"partner_type", "partner_type", T::text},
        {"display_name", "display_name", T::text},
        {"created_at", "created_at", T::integer},
        {"revoked_at", "revoked_at", T::integer}}},
      {"workers",
       "workers",
       false,
       2,
       {{"partner_id", "partner_id", T::text},
        {"worker_id", "worker_id", T::text},
        {"role", "role", T::text},
        {"active", "active", T::boolean}}},
      {"clients",
       "clients",
       false,
       1,
       {{"id", "id", T::bytes},
        {"tag", "tag", T::text},
        {"anonymous", "anonymous", T::boolean},
        {"created_at", "created_at", T::integer}}},
      {"identifiers",
       "identifiers",
       false,
       1,
       {{"digest", "digest", T::bytes}, {"client_id", "client_id", T::bytes}}},
      {"care_relationships",
       "care_relationships",
       false,
       2,
       {{"partner_id", "partner_id", T::text},
        {"client_id", "client_id", T::bytes},
        {"pseudonym", "pseudonym", T::text},
        {"since", "since", T::integer},
        {"origin", "origin", T::integer}}},
      {"service_pseudonyms",
       "service_pseudonyms",
       false,
       1,
       {{"digest", "digest", T::bytes},
        {"client_id", "client_id", T::bytes},
        {"service_id", "service_id", T::text},
        {"created_at", "created_at", T::integer},
        {"retired_at", "retired_at", T::integer}}},
      {"card_events",
       "card_events",
       false,
       1,
       {{"seq", "seq", T::integer},
        {"client_id", "client_id", T::bytes},
        {"kind", "kind", T::integer},
        {"first_service", "first_service", T::text},
        {"second_service", "second_service", T::text},
        {"consent_reference", "consent_reference", T::text},
        {"at", "at", T::integer}}},
      {"pseudonym_aliases",
       "pseudonym_aliases",
       false,
       1,
       {{"pseudonym", "pseudonym", T::text},
        {"partner_id", "partner_id", T::text},
        {"client_id", "client_id", T::bytes},
        {"since", "since", T::integer}}},
      {"fragments",
       "fragments",
       false,
       2,
       {{"client_id", "client_id", T::bytes},
        {"seq", "seq", T::integer},
        {"id", "id", T::bytes},
        {"category", "category", T::text},
        {"owner_partner", "owner_partner", T::text},
        {"created_by_worker", "created_by_worker", T::text},
        {"created_at", "created_at", T::integer},
        {"version", "version", T::integer},
        {"supersedes", "supersedes", T::bytes},
        {"superseded_by", "superseded_by", T::bytes},
        {"key_version", "key_version", T::integer},
        {"fields", "fields", T::bytes}}},
      {"consents",
       "consents",
       false,
       1,
       {{"id", "id", T::text},
        {"seq", "rowid", T::integer},
        {"client_id", "client_id", T::bytes},
        {"recorded_by_partner", "recorded_by_partner", T::text},
        {"recorded_by_worker", "recorded_by_worker", T::text},
        {"recorded_at", "recorded_at", T::integer},
        {"valid_from", "valid_from", T::integer},
        {"valid_until", "valid_until", T::integer},
        {"revoked_at", "revoked_at", T::integer},
        {"revoked_by_partner", "revoked_by_partner", T::text},
        {"revoked_by_worker", "revoked_by_worker", T::text},
        {"document_sealed", "document", T::document}}},
      {"break_glass_grants",
       "break_glass_grants",
       false,
       1,
       {{"id", "id", T::text},
        {"seq", "rowid", T::integer},
        {"client_id", "client_id", T::bytes},
        {"partner_id", "partner_id", T::text},
        {"worker_id", "worker_id", T::text},
        {"categories", "categories", T::text},
        {"reason_sealed", "reason_sealed", T::bytes},
        {"starts_at", "starts_at", T::integer},
        {"expires_at", "expires_at", T::integer},
        {"expiry_recorded", "expiry_recorded", T::boolean}}},
      {"break_glass_reviews",
       "break_glass_reviews",
       false,
       2,
       {{"grant_id", "grant_id", T::text},
        {"partner_id", "partner_id", T::text},
        {"worker_id", "worker_id", T::text},
        {"outcome", "outcome", T::text},
        {"note_sealed", "note_sealed", T::bytes},
        {"reviewed_at", "reviewed_at", T::integer},
        {"seq", "rowid", T::integer}}},
      {"caseload_labels",
       "caseload_labels",
       false,
       2,
       {{"partner_id", "partner_id", T::text},
        {"client_id", "client_id", T::bytes},
        {"label_sealed", "label_sealed", T::bytes},
        {"set_at", "set_at", T::integer}}},
      {"caseload_label_tokens",
       "caseload_label_tokens",
       false,
       3,
       {{"partner_id", "partner_id", T::text},
        {"token", "token", T::bytes},
        {"client_id", "client_id", T::bytes}}},
      {"erasures",
       "erasures",
       false,
       1,
       {{"tag", "tag", T::text},
        {"erased_at", "erased_at", T::integer},
        {"reason", "reason", T::integer}}},
      {"key_journal",
       "key_journal",
       false,
       1,
       {{"seq", "seq", T::integer},
        {"client_id", "client_id", T::bytes},
        {"category", "category", T::text},
        {"version", "version", T::integer},
        {"recipient", "recipient", T::bytes},
        {"sealed", "sealed", T::bytes}}},
      {"key_journal_recipient",
       "key_journal_recipient",
       false,
       1,
       {{"id", "id", T::integer},
        {"public_key", "public_key", T::bytes},
        {"snapshot", "snapshot", T::text},
        {"adopted_at", "adopted_at", T::integer}}},
      {"data_keys",
       "data_keys",
       true,
       3,
       {{"client_id", "client_id", T::bytes},
        {"category", "category", T::text},
        {"version", "version", T::integer},
        {"client_tag", "client_tag", T::text},
        {"kek_version", "kek_version", T::integer},
        {"wrapped", "wrapped", T::bytes}}},
      {"key_erasures",
       "erasures",
       true,
       1,
       {{"tag", "tag", T::text}, {"erased_at", "erased_at", T::integer}}},
  };
  return kTables;
}

void append_export_value(std::vector<std::uint8_t>& out, const ExportValue& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    out.push_back(0);
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    out.push_back(1);
    put_u64(out, static_cast<std::uint64_t>(*i));
  } else if (const auto* t = std::get_if<std::string>(&v)) {
    out.push_back(2);
    put_u64(out, t->size());
    out.insert(out.end(), t->begin(), t->end());
  } else {
    const auto& b = std::get<std::vector<std::uint8_t>>(v);
    out.push_back(3);
    put_u64(out, b.size());
    out.insert(out.end(), b.begin(), b.end());
  }
}

std::vector<std::uint8_t> encode_export_key(const ExportRow& row, std::size_t key_columns) {
  std::vector<std::uint8_t> out;
  for (std::size_t k = 0; k < key_columns && k < row.size(); ++k)
    append_export_value(out, row[k]);
  return out;
}

Result<ExportRow> decode_export_key(std::span<const std::uint8_t> key) {
  ExportRow out;
  std::size_t at = 0;
  auto u64 = [&](std::uint64_t& v) {
    if (key.size() - at < 8) return false;
    v = 0;
    for (int b = 0; b < 8; ++b)
      v = (v << 8) | key[at++];
    return true;
  };
  while (at < key.size()) {
    const std::uint8_t type = key[at++];
    std::uint64_t n = 0;
    if (type == 0) {
      out.emplace_back(std::monostate{});
      continue;
    }
    if (type > 3 || !u64(n)) return make_error_code(Errc::storage_failure);
    if (type == 1) {
      out.emplace_back(static_cast<std::int64_t>(n));
      continue;
    }
    if (key.size() - at < n) return make_error_code(Errc::storage_failure);
    const auto* p = key.data() + at;
    if (type == 2) {
      out.emplace_back(std::string(reinterpret_cast<const char*>(p), n));
    } else {
      out.emplace_back(std::vector<std::uint8_t>(p, p + n));
    }
    at += n;
  }
  return out;
}

ExportDigest::ExportDigest() {
  static_assert(sizeof(crypto_generichash_state) <= sizeof(state_));
  crypto_generichash_init(reinterpret_cast<crypto_generichash_state*>(state_.data()), nullptr, 0,
                          32);
}

void ExportDigest::add(const ExportRow& row) {
  buffer_.clear();
  for (const auto& v : row)
    append_export_value(buffer_, v);
  put_u64(buffer_, row.size());
  crypto_generichash_update(reinterpret_cast<crypto_generichash_state*>(state_.data()),
                            buffer_.data(), buffer_.size());
  sodium_memzero(buffer_.data(), buffer_.size());
  ++rows_;
}

std::string ExportDigest::hex() {
  std::array<unsigned char, 32> out{};
  crypto_generichash_final(reinterpret_cast<crypto_generichash_state*>(state_.data()), out.data(),
                           out.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (auto b : out) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

void wipe_export_rows(std::vector<ExportRow>& rows) noexcept {
  for (auto& row : rows) {
    for (auto& v : row) {
      if (auto* t = std::get_if<std::string>(&v)) sodium_memzero(t->data(), t->size());
      if (auto* b = std::get_if<std::vector<std::uint8_t>>(&v))
        sodium_memzero(b->data(), b->size());
    }
  }
  rows.clear();
}

Result<std::vector<ExportRow>> Store::export_rows(const ExportTable& table,
                                                  std::span<const ExportValue> after,
                                                  std::size_t limit) {
  auto& i = *impl_;
  std::lock_guard lock(i.mutex);
  sql::Db& db = table.key_store ? i.keys : i.data;
  std::string sql = "SELECT ";
  for (std::size_t c = 0; c < table.columns.size(); ++c)
    sql.append(c == 0 ? "" : ", ").append(table.columns[c].source);
  sql.append(" FROM ").append(table.source);
  const bool resume = !after.empty();
  if (resume) {
    if (after.size() != table.key_columns) return make_error_code(Errc::invalid_argument);
    // A row value comparison walks the primary key's index from the last row copied.
    sql.append(" WHERE ").append(key_tuple(table)).append(" > (");
    for (std::size_t k = 0; k < after.size(); ++k)
      sql.append(k == 0 ? "?" : ", ?");
    sql.append(")");
  }
  sql.append(" ORDER BY ");
  for (std::size_t k = 0; k < table.key_columns; ++k)
    sql.append(k == 0 ? "" : ", ").append(table.columns[k].source);
  sql.append(" LIMIT ?");
  OwnedStmt s;
  if (auto r = s.prepare(db.handle(), sql); !r) return r.error();
  int index = 1;
  for (const auto& v : after) {
    if (auto r = bind_value(s.get(), index++, v); !r) return r.error();
  }
  if (const int rc = sqlite3_bind_int64(s.get(), index, static_cast<std::int64_t>(limit));
      rc != SQLITE_OK) {
    return sql::to_error(rc);
  }
  std::vector<ExportRow> rows;
  for (;;) {
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      wipe_export_rows(rows);
      return sql::to_error(rc);
    }
    ExportRow row;
    row.reserve(table.columns.size());
    for (std::size_t c = 0; c < table.columns.size(); ++c)
      row.push_back(column_value(s.get(), static_cast<int>(c), table.columns[c].type));
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::uint64_t> Store::count_rows(const ExportTable& table) {
  auto& i = *impl_;
  std::lock_guard lock(i.mutex);
  sql::Db& db = table.key_store ? i.keys : i.data;
  OwnedStmt s;
  if (auto r = s.prepare(db.handle(), std::string("SELECT count(*) FROM ") + table.source); !r) {
    return r.error();
  }
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) return sql::to_error(rc);
  return static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
}

}  // namespace sluis::store
