// Private state of the SQLCipher engine: connections, sub-keys, KEKs, data keys, the unit of work.
#pragma once

#include "sluis/crypto/field.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/store/repositories.hpp"
#include "sluis/store/sqlite.hpp"
#include "sluis/store/store.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sluis::store {

/// Milliseconds since the Unix epoch, as stored.
[[nodiscard]] inline std::int64_t to_db(Instant t) noexcept {
  return t.time_since_epoch().count();
}
[[nodiscard]] inline Instant from_db(std::int64_t ms) noexcept {
  return Instant{std::chrono::milliseconds{ms}};
}

/// Client id from a stored 16-byte blob; a wrong length is treated as corruption.
[[nodiscard]] Result<ClientId> client_from_blob(std::span<const std::uint8_t> b);
[[nodiscard]] Result<FragmentId> fragment_from_blob(std::span<const std::uint8_t> b);

/// An error as a Result<bool> (error_code also converts to bool, so say which is meant).
[[nodiscard]] inline Result<bool> bool_error(boost::system::error_code ec) {
  return Result<bool>(boost::system::in_place_error, ec);
}

struct Store::Impl {
  StoreOptions options;
  int schema_version = 0;

  // Sub-keys derived from the root key at open; the root key itself is not kept.
  crypto::SubKey database_key;
  crypto::SubKey keystore_key;
  PseudonymKeys pseudonym_keys;
  crypto::SubKey kek_wrapping_key;

  mutable std::mutex mutex;
  sql::Db data;
  sql::Db keys;
  crypto::KeyRing ring;
  /// Unwrapped data keys between reads; cleared by every erasure, rotation and restore.
  DataKeyCache key_cache{options.data_key_cache_size};
  /// Every partner sorted by id, read once and shared by every request (a dossier read needs the
  /// owner type and name of each fragment's partner). Guarded by `mutex`; dropped by every write
  /// to the partners table (forget_partners), so it is never older than the last write.
  std::shared_ptr<const std::vector<Partner>> partners{};

  /// The partner table (from `partners`, loaded on first use). Caller holds `mutex`.
  [[nodiscard]] Result<std::shared_ptr<const std::vector<Partner>>> partner_table();
  void forget_partners() noexcept { partners.reset(); }

  [[nodiscard]] Instant now() const { return options.clock(); }
  /// Fires the fault-injection seam at `step`.
  [[nodiscard]] Result<void> step(std::string_view name) const {
    if (options.inject_failure && options.inject_failure(name)) {
      return make_error_code(Errc::injected_failure);
    }
    return {};
  }
  [[nodiscard]] std::string tag_of(const ClientId& client) const;

  /// The current data key of client × category for sealing, created (random, wrapped under the
  /// current KEK, committed to the key store) on first use. Must be called before the data-store
  /// transaction that uses it: a key without data is harmless, data without its key is lost.
  [[nodiscard]] Result<std::pair<crypto::DataKeyVersion, crypto::DataKey>>
  data_key_for_write(const ClientId& client, std::string_view category);
  /// The data key that sealed a field. Errc::key_unavailable when it is gone (erased).
  [[nodiscard]] Result<crypto::DataKey> data_key_for_read(const ClientId& client,
                                                          std::string_view category,
                                                          crypto::DataKeyVersion version);
  /// As data_key_for_read, through key_cache: the pointer is valid until the next use of the
  /// cache (the next call of this function, or an erasure/rotation/restore).
  [[nodiscard]] Result<const crypto::DataKey*> cached_data_key(const ClientId& client,
                                                               std::string_view category,
                                                               crypto::DataKeyVersion version);
  /// Migration 5 only: a break-the-glass reason sealed as the domain seals one (ConsentBook::
  /// grant_break_glass; kBreakGlassReasonCategory) under the client's data key, for the grant
  /// `grant_id` (32 hex characters). Errors: invalid_argument, as data_key_for_write.
  [[nodiscard]] Result<std::vector<std::uint8_t>>
  seal_break_glass_reason(const ClientId& client, std::string_view grant_id,
                          std::string_view reason);
  /// Drops every cached data key, here and in every other Store of this process.
  void forget_cached_keys() noexcept;
  /// Crypto-shreds every data key of the client tagged `tag` and records the tombstone in the key
  /// store; then checkpoints the key store's WAL so no old page image keeps the wrapped keys.
  [[nodiscard]] Result<void> shred_keys(std::string_view tag);
  /// Records data key client × category × version in the key journal (docs/store.md "Key
  /// journal"), sealed to the newest key-store snapshot's public key, unless an entry sealed to
  /// it is there already or no snapshot was ever taken. Called inside the data-store transaction
  /// that writes fields sealed under the key, so a fragment is never committed without it.
  /// `known` is the key when the caller holds it; otherwise it is loaded from the key store.
  [[nodiscard]] Result<void> journal_key(const ClientId& client, std::string_view category,
                                         crypto::DataKeyVersion version,
                                         const crypto::DataKey* known = nullptr);
  /// Gives back every journalled data key the key store lacks, opening the journal with the
  /// snapshot secrets the key store holds (only a restored snapshot holds one), then destroys
  /// those secrets: the live key store never keeps one. Returns the number of keys given back.
  [[nodiscard]] Result<std::size_t> replay_journal();
  /// Makes both files agree on the tombstones and applies them to both (see Store docs).
  [[nodiscard]] Result<std::size_t> reapply_erasures();
  [[nodiscard]] Result<void> load_keks();

  // --- the unit of work (Store::acquire / release) ---

  /// The SQLCipher implementations of the repository interfaces (sqlcipher_records.cpp).
  std::unique_ptr<Records> records{};
  /// What the unit in progress started: rolled back (write, key batch) or ended (read) by
  /// release() unless committed.
  enum class Open : std::uint8_t { none, read, write };
  Open open = Open::none;
  bool key_batch = false;
};

/// The engine's records over `impl` (sqlcipher_records.cpp).
[[nodiscard]] std::unique_ptr<Records> make_sqlcipher_records(Store::Impl& impl);

}  // namespace sluis::store
