// The store's tables as rows of plain values, engine-neutral: what `sluisctl store migrate` copies
// from the SQLCipher engine into another engine, in key order, and the digest both sides compare.
#pragma once

#include "sluis/store/error.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluis::store {

/// One stored value: NULL, an integer (booleans are 0/1), text or bytes.
using ExportValue =
    std::variant<std::monostate, std::int64_t, std::string, std::vector<std::uint8_t>>;
/// One row, its values in the table's column order.
using ExportRow = std::vector<ExportValue>;

/// How another engine stores a column (the SQLCipher engine keeps every one as SQLite's value).
enum class ExportType : std::uint8_t {
  integer,   ///< BIGINT / SMALLINT
  boolean,   ///< BOOLEAN (0/1 here)
  text,      ///< TEXT, ordered byte-wise (COLLATE "C")
  bytes,     ///< BYTEA
  document,  ///< text the SQLCipher engine keeps in plaintext and PostgreSQL seals (a consent's)
};

struct ExportColumn {
  const char* name;    ///< the column in the target engine
  const char* source;  ///< the column (or expression) in the SQLCipher engine
  ExportType type;
};

/// A table of the data store or the key store. Its first `key_columns` columns are its primary
/// key: rows are read and compared in that order (byte-wise for text and bytes).
struct ExportTable {
  const char* name;         ///< the target's table (and the step's name)
  const char* source;       ///< the SQLCipher table
  bool key_store;           ///< in keys.db rather than data.db
  std::size_t key_columns;  ///< how many leading columns form the key
  std::vector<ExportColumn> columns;
};

/// Every table a home's records live in, in an order that satisfies every foreign key (partners
/// before workers, clients before what refers to them) and with the KEKs first (the data keys
/// and sealed documents need them). The key store's journal secrets are not here: a live key
/// store never holds one (Store::snapshot_key_store). The audit log (audit.db) is not a table of
/// the store.
[[nodiscard]] const std::vector<ExportTable>& export_tables();

/// The value's bytes as the key and digest encode it: a type byte (0 NULL, 1 integer, 2 text,
/// 3 bytes), then 8 big-endian bytes for an integer, or an 8-byte big-endian length and the
/// bytes. A document is encoded as text.
void append_export_value(std::vector<std::uint8_t>& out, const ExportValue& v);
/// The key of `row` (its first `key_columns` values), encoded as append_export_value does.
[[nodiscard]] std::vector<std::uint8_t> encode_export_key(const ExportRow& row,
                                                          std::size_t key_columns);
/// The values of an encoded key. Errors: storage_failure (not an encoding this wrote).
[[nodiscard]] Result<ExportRow> decode_export_key(std::span<const std::uint8_t> key);

/// A running BLAKE2b-256 over rows in key order (each row: its encoded values, then its value
/// count), so two engines holding the same rows in the same order give the same digest.
class ExportDigest {
 public:
  ExportDigest();
  void add(const ExportRow& row);
  /// The digest in hex; the digest cannot be added to afterwards.
  [[nodiscard]] std::string hex();
  [[nodiscard]] std::uint64_t rows() const noexcept { return rows_; }

 private:
  alignas(64) std::array<unsigned char, 384> state_{};
  std::vector<std::uint8_t> buffer_;
  std::uint64_t rows_ = 0;
};

/// Overwrites the text and bytes of `rows` (a consent document is plaintext) and empties them.
void wipe_export_rows(std::vector<ExportRow>& rows) noexcept;

}  // namespace sluis::store
