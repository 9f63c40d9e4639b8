// HomeMigration: a SQLCipher home's tables copied into PostgreSQL batch by batch in key order,
// the position of each table kept in the same transaction as its rows, then compared.
#include "sluis/pgstore/home_migration.hpp"

#include "pg_impl.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/key_ring.hpp"
#include "sluis/crypto/pseudonym.hpp"

#include <string>
#include <variant>

namespace sluis::pgstore {

namespace {

using store::ExportRow;
using store::ExportTable;
using store::ExportType;
using store::ExportValue;

/// The data keys this engine makes itself (consent documents): not in the source.
constexpr const char* kOwnKeys = "category <> 'sluis.consent-document'";

/// Which rows of a target table came from the source.
const char* filter_of(const ExportTable& t) {
  return std::string_view(t.name) == "data_keys" ? kOwnKeys : nullptr;
}

/// The home's name in store_migration: a keyed digest of a fixed id, so only its root key makes it.
std::string home_id(const PgStorage::Impl& i) {
  return crypto::audit_pseudonym(i.pseudonym_keys.audit_pseudonym, ClientId{});
}

std::string quoted_column(const ExportTable& t, std::size_t c) {
  std::string name = t.columns[c].name;
  // Byte-wise order for text, as the SQLCipher engine's BINARY collation.
  if (t.columns[c].type == ExportType::text) name += " COLLATE \"C\"";
  return name;
}

std::string insert_sql(const ExportTable& t) {
  std::string cols, values;
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    cols.append(c == 0 ? "" : ", ").append(t.columns[c].name);
    values.append(c == 0 ? "$" : ", $").append(std::to_string(c + 1));
  }
  return std::string("INSERT INTO ") + t.name + "(" + cols + ") VALUES(" + values + ")";
}

std::string select_sql(const ExportTable& t, bool after, std::size_t limit) {
  std::string sql = "SELECT ";
  for (std::size_t c = 0; c < t.columns.size(); ++c)
    sql.append(c == 0 ? "" : ", ").append(t.columns[c].name);
  sql.append(" FROM ").append(t.name);
  std::string where;
  if (const char* f = filter_of(t)) where = f;
  if (after) {
    std::string lhs, rhs;
    for (std::size_t k = 0; k < t.key_columns; ++k) {
      lhs.append(k == 0 ? "" : ", ").append(quoted_column(t, k));
      rhs.append(k == 0 ? "$" : ", $").append(std::to_string(k + 1));
    }
    where.append(where.empty() ? "" : " AND ").append("(" + lhs + ") > (" + rhs + ")");
  }
  if (!where.empty()) sql.append(" WHERE ").append(where);
  sql.append(" ORDER BY ");
  for (std::size_t k = 0; k < t.key_columns; ++k)
    sql.append(k == 0 ? "" : ", ").append(quoted_column(t, k));
  return sql + " LIMIT " + std::to_string(limit);
}

Oid oid_of(ExportType type) {
  switch (type) {
  case ExportType::integer: return pg::kInt8;
  case ExportType::boolean: return pg::kBool;
  case ExportType::text: return pg::kText;
  case ExportType::bytes:
  case ExportType::document: return pg::kBytea;
  }
  return pg::kText;
}

void bind_value(pg::Params& p, ExportType type, const ExportValue& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    p.null(oid_of(type));
  } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
    if (type == ExportType::boolean) {
      p.boolean(*n != 0);
    } else {
      p.int64(*n);
    }
  } else if (const auto* t = std::get_if<std::string>(&v)) {
    p.text(*t);
  } else {
    p.bytes(std::get<std::vector<std::uint8_t>>(v));
  }
}

/// A failed statement inside a batch: the batch goes, the error stays.
template <class T> store::Result<T> rolled_back(pg::Conn& c, boost::system::error_code ec) {
  if (c.in_transaction()) static_cast<void>(c.exec("ROLLBACK"));
  return ec;
}

/// One row of a target table as the source exports it (a sealed document opened).
store::Result<ExportRow> target_row(PgStorage::Impl& i, Session& s, const ExportTable& t,
                                    const pg::Rows& rows, int r) {
  ExportRow row;
  row.reserve(t.columns.size());
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    const int col = static_cast<int>(c);
    if (rows.is_null(r, col)) {
      row.emplace_back(std::monostate{});
      continue;
    }
    switch (t.columns[c].type) {
    case ExportType::integer: row.emplace_back(rows.int64(r, col)); break;
    case ExportType::boolean: row.emplace_back(std::int64_t{rows.boolean(r, col) ? 1 : 0}); break;
    case ExportType::text: row.emplace_back(rows.text(r, col)); break;
    case ExportType::bytes: row.emplace_back(rows.byte_vector(r, col)); break;
    case ExportType::document: {
      // consents: id (0) and client_id (2) bind the sealed document.
      auto client = client_from(rows.bytes(r, 2));
      if (!client) return client.error();
      auto doc = i.open_document(s, *client, rows.text(r, 0), rows.bytes(r, col));
      if (!doc) return doc.error();
      row.emplace_back(std::move(*doc));
      break;
    }
    }
  }
  return row;
}

store::Result<std::uint64_t> target_count(pg::Conn& c, const ExportTable& t) {
  std::string sql = std::string("SELECT count(*) FROM ") + t.name;
  if (const char* f = filter_of(t)) sql.append(" WHERE ").append(f);
  auto rows = c.query(sql);
  if (!rows) return rows.error();
  return static_cast<std::uint64_t>(rows->int64(0, 0));
}

store::Result<MigrationTarget> inspect_on(PgStorage::Impl& i, pg::Conn& c) {
  MigrationTarget out;
  auto state = c.query("SELECT home, finished_at IS NOT NULL FROM store_migration WHERE id = 1");
  if (!state) return state.error();
  if (!state->empty()) {
    if (state->text(0, 0) != home_id(i)) {
      out.kind = MigrationTarget::Kind::another_home;
    } else {
      out.kind = state->boolean(0, 1) ? MigrationTarget::Kind::finished
                                      : MigrationTarget::Kind::in_progress;
    }
    return out;
  }
  for (const auto& t : store::export_tables()) {
    if (std::string_view(t.name) == "keks") continue;
    auto n = target_count(c, t);
    if (!n) return n.error();
    out.records += *n;
  }
  // The engine's own consent-document keys count too: they exist only beside records.
  auto own = c.query("SELECT count(*) FROM data_keys");
  if (!own) return own.error();
  out.records = std::max(out.records, static_cast<std::uint64_t>(own->int64(0, 0)));
  out.kind = out.records == 0 ? MigrationTarget::Kind::empty : MigrationTarget::Kind::other_data;
  return out;
}

/// Copies the rest of table `t`. Each batch: its rows and its position, one transaction.
store::Result<void> copy_table(PgStorage::Impl& i, Session& s, store::Store& source,
                               const ExportTable& t, const MigrationOptions& options) {
  auto state = s.data.query(
      "SELECT last_key, copied, done FROM store_migration_tables WHERE table_name = $1",
      pg::Params().text(t.name));
  if (!state) return state.error();
  if (state->empty()) return make_error_code(Errc::storage_failure);
  auto total = source.count_rows(t);
  if (!total) return total.error();
  std::uint64_t copied = static_cast<std::uint64_t>(state->int64(0, 1));
  if (state->boolean(0, 2)) {
    if (options.on_progress) options.on_progress({t.name, copied, *total, copied});
    return {};
  }
  ExportRow after;
  if (!state->is_null(0, 0)) {
    auto key = store::decode_export_key(state->bytes(0, 0));
    if (!key) return key.error();
    after = std::move(*key);
  }
  const bool fresh = state->is_null(0, 0);
  const std::uint64_t earlier = copied;
  const std::string insert = insert_sql(t);
  const std::size_t batch = std::max<std::size_t>(options.batch_rows, 1);
  for (bool first = true;; first = false) {
    auto rows = source.export_rows(t, after, batch);
    if (!rows) return rows.error();
    const bool last = rows->size() < batch;
    if (auto r = s.data.exec("BEGIN ISOLATION LEVEL SERIALIZABLE"); !r) return r;
    // The KEK the engine made when it first opened the empty database wraps nothing; the home's
    // KEKs replace it.
    if (first && fresh && std::string_view(t.name) == "keks") {
      if (auto r = s.data.exec("DELETE FROM keks"); !r) return rolled_back<void>(s.data, r.error());
    }
    for (auto& row : *rows) {
      pg::Params p;
      std::vector<std::uint8_t> sealed;
      for (std::size_t c = 0; c < t.columns.size(); ++c) {
        const auto type = t.columns[c].type;
        if (type == ExportType::document && std::holds_alternative<std::string>(row[c])) {
          const auto* id = std::get_if<std::vector<std::uint8_t>>(&row[2]);
          const auto* consent_id = std::get_if<std::string>(&row[0]);
          auto client = id == nullptr || consent_id == nullptr
                            ? Result<ClientId>(make_error_code(Errc::storage_failure))
                            : client_from(*id);
          auto sealed_doc =
              client ? i.seal_document(s, *client, *consent_id, std::get<std::string>(row[c]))
                     : Result<std::vector<std::uint8_t>>(client.error());
          if (!sealed_doc) {
            store::wipe_export_rows(*rows);
            return rolled_back<void>(s.data, sealed_doc.error());
          }
          sealed = std::move(*sealed_doc);
          p.bytes(sealed);
          continue;
        }
        bind_value(p, type, row[c]);
      }
      if (auto r = s.data.run(insert, p); !r) {
        store::wipe_export_rows(*rows);
        return rolled_back<void>(s.data, r.error());
      }
    }
    const auto key = rows->empty() ? std::vector<std::uint8_t>()
                                   : store::encode_export_key(rows->back(), t.key_columns);
    pg::Params p;
    if (rows->empty()) {
      p.null(pg::kBytea);
    } else {
      p.bytes(key);
    }
    p.int64(static_cast<std::int64_t>(rows->size())).boolean(last).text(t.name);
    auto position = s.data.run(
        rows->empty() ? "UPDATE store_migration_tables SET last_key = coalesce(last_key, $1), "
                        "copied = copied + $2, done = $3 WHERE table_name = $4"
                      : "UPDATE store_migration_tables SET last_key = $1, copied = copied + $2, "
                        "done = $3 WHERE table_name = $4",
        p);
    if (!position) {
      store::wipe_export_rows(*rows);
      return rolled_back<void>(s.data, position.error());
    }
    if (auto r = i.step("migrate.batch"); !r) {
      store::wipe_export_rows(*rows);
      return rolled_back<void>(s.data, r.error());
    }
    if (auto r = s.data.exec("COMMIT"); !r) {
      store::wipe_export_rows(*rows);
      return rolled_back<void>(s.data, r.error());
    }
    copied += rows->size();
    if (!rows->empty())
      after = ExportRow(rows->back().begin(),
                        rows->back().begin() + static_cast<std::ptrdiff_t>(t.key_columns));
    store::wipe_export_rows(*rows);
    if (options.on_progress) options.on_progress({t.name, copied, *total, earlier});
    if (last) break;
  }
  // The home's KEKs go on into the ring file (schema 7): the engine's own version 1, made when
  // it first opened the empty database, wraps nothing and gives way to the home's.
  if (std::string_view(t.name) == "keks") {
    if (i.schema_version >= kRingFileSchema) return i.open_ring(s.keys, nullptr, true);
    return i.load_keks(s.keys);
  }
  return {};
}

/// The home's live KEKs against the ring (schema 7: the keks table is only the inbox the ring
/// file empties): each compared by version and fingerprint, the retired ones (destroyed in the
/// home) left out on both sides.
store::Result<TableComparison> compare_keks(PgStorage::Impl& i, store::Store& source,
                                            const ExportTable& t) {
  TableComparison cmp;
  cmp.table = t.name;
  auto rows = source.export_rows(t, {}, 100000);
  if (!rows) return rows.error();
  const auto ring = i.ring_now();
  for (const auto& row : *rows) {
    const auto* version = std::get_if<std::int64_t>(&row[0]);
    const auto* wrapped = std::get_if<std::vector<std::uint8_t>>(&row[1]);
    if (version == nullptr || wrapped == nullptr || wrapped->empty()) continue;
    const crypto::KekVersion v{static_cast<std::uint32_t>(*version)};
    auto kek = crypto::unwrap_kek(i.kek_wrapping_key, {v, *wrapped});
    if (!kek) return make_error_code(Errc::crypto_failure);
    const auto fp = crypto::to_hex(crypto::kek_fingerprint(*kek));
    ++cmp.source_rows;
    cmp.source_digest += std::to_string(v.value) + ":" + fp + ";";
    if (auto mine = ring->find(v)) {
      ++cmp.target_rows;
      cmp.target_digest += std::to_string(v.value) + ":" + crypto::to_hex(crypto::kek_fingerprint(**mine)) + ";";
    }
  }
  return cmp;
}

/// Sequences past the copied rows, and a fresh partner generation (every node's cache reloads).
store::Result<void> settle(pg::Conn& c) {
  for (const char* table :
       {"card_events", "consents", "break_glass_grants", "break_glass_reviews", "key_journal"}) {
    const std::string sql = std::string("SELECT setval(pg_get_serial_sequence('") + table +
                            "', 'seq'), greatest(coalesce(max(seq), 0), 1), max(seq) IS NOT "
                            "NULL) FROM " +
                            table;
    if (auto r = c.query(sql); !r) return r.error();
  }
  return c.run(
      "UPDATE partner_generation SET value = nextval('partner_generation_seq') WHERE id = 1");
}

}  // namespace

store::Result<MigrationTarget> HomeMigration::inspect(PgStorage& target) {
  auto& i = *target.impl_;
  auto s = i.new_session();
  if (!s) return s.error();
  return inspect_on(i, (*s)->data);
}

store::Result<void> HomeMigration::copy(store::Store& source, PgStorage& target,
                                        const MigrationOptions& options) {
  auto& i = *target.impl_;
  auto opened = i.new_session();
  if (!opened) return opened.error();
  Session& s = **opened;
  auto state = inspect_on(i, s.data);
  if (!state) return state.error();
  using Kind = MigrationTarget::Kind;
  if (state->kind == Kind::another_home || state->kind == Kind::other_data) {
    return make_error_code(Errc::conflict);
  }
  if (state->kind == Kind::empty) {
    // The move's own rows first, in one transaction: from here on the database is this home's.
    if (auto r = s.data.exec("BEGIN ISOLATION LEVEL SERIALIZABLE"); !r) return r;
    if (auto r = s.data.run("INSERT INTO store_migration(id, home, started_at) VALUES(1, $1, $2)",
                            pg::Params().text(home_id(i)).int64(to_db(i.now())));
        !r) {
      return rolled_back<void>(s.data, r.error());
    }
    for (const auto& t : store::export_tables()) {
      if (auto r = s.data.run("INSERT INTO store_migration_tables(table_name, copied, done) "
                              "VALUES($1, 0, false)",
                              pg::Params().text(t.name));
          !r) {
        return rolled_back<void>(s.data, r.error());
      }
    }
    if (auto r = s.data.exec("COMMIT"); !r) return rolled_back<void>(s.data, r.error());
  }
  for (const auto& t : store::export_tables()) {
    if (auto r = copy_table(i, s, source, t, options); !r) return r;
  }
  return settle(s.data);
}

store::Result<std::vector<TableComparison>> HomeMigration::verify(store::Store& source,
                                                                  PgStorage& target) {
  auto& i = *target.impl_;
  auto opened = i.new_session();
  if (!opened) return opened.error();
  Session& s = **opened;
  constexpr std::size_t kBatch = 1000;
  std::vector<TableComparison> out;
  for (const auto& t : store::export_tables()) {
    if (std::string_view(t.name) == "keks" && i.schema_version >= kRingFileSchema) {
      auto cmp = compare_keks(i, source, t);
      if (!cmp) return cmp.error();
      out.push_back(std::move(*cmp));
      continue;
    }
    TableComparison cmp;
    cmp.table = t.name;
    auto n = source.count_rows(t);
    if (!n) return n.error();
    cmp.source_rows = *n;
    auto m = target_count(s.data, t);
    if (!m) return m.error();
    cmp.target_rows = *m;
    store::ExportDigest from, to;
    ExportRow after;
    for (;;) {
      auto rows = source.export_rows(t, after, kBatch);
      if (!rows) return rows.error();
      for (const auto& row : *rows)
        from.add(row);
      const bool last = rows->size() < kBatch;
      if (!rows->empty()) {
        after.assign(rows->back().begin(),
                     rows->back().begin() + static_cast<std::ptrdiff_t>(t.key_columns));
      }
      store::wipe_export_rows(*rows);
      if (last) break;
    }
    after.clear();
    for (;;) {
      pg::Params p;
      for (std::size_t k = 0; k < after.size(); ++k)
        bind_value(p, t.columns[k].type, after[k]);
      auto rows = s.data.query(select_sql(t, !after.empty(), kBatch), p);
      if (!rows) return rows.error();
      std::vector<ExportRow> batch;
      for (int r = 0; r < rows->size(); ++r) {
        auto row = target_row(i, s, t, *rows, r);
        if (!row) {
          store::wipe_export_rows(batch);
          return row.error();
        }
        to.add(*row);
        batch.push_back(std::move(*row));
      }
      const bool last = batch.size() < kBatch;
      if (!batch.empty()) {
        after.assign(batch.back().begin(),
                     batch.back().begin() + static_cast<std::ptrdiff_t>(t.key_columns));
      }
      store::wipe_export_rows(batch);
      if (last) break;
    }
    cmp.source_digest = from.hex();
    cmp.target_digest = to.hex();
    out.push_back(std::move(cmp));
  }
  return out;
}

store::Result<void> HomeMigration::finish(PgStorage& target) {
  auto& i = *target.impl_;
  auto opened = i.new_session();
  if (!opened) return opened.error();
  return (*opened)->data.run(
      "UPDATE store_migration SET finished_at = coalesce(finished_at, $1) WHERE id = 1",
      pg::Params().int64(to_db(i.now())));
}

}  // namespace sluis::pgstore
