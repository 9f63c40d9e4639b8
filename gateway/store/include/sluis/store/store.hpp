// The SQLCipher engine: the data store and the separate key store, schema migrations, backups,
// KEKs, and the first implementation of the repository interfaces (repositories.hpp).
#pragma once

#include "sluis/crypto/field.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/store/error.hpp"
#include "sluis/store/records.hpp"
#include "sluis/store/repositories.hpp"
#include "sluis/store/table_export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluis::store {

/// Where the store lives and how it behaves. Only the two paths are required.
struct StoreOptions {
  /// The data store: clients, pseudonyms, fragments (sealed fields), consents, grants, tombstones.
  std::filesystem::path data_path;
  /// The key store: wrapped KEKs and wrapped data keys, and a copy of the erasure tombstones.
  std::filesystem::path key_store_path;
  /// How long a write waits for another connection's lock before failing with Errc::busy.
  std::chrono::milliseconds busy_timeout{5000};
  /// The clock every recorded time comes from (defaults to the system clock).
  std::function<Instant()> clock;
  /// Highest data-store schema version this code may use; the default is the newest the code
  /// knows. A database at a higher version is refused (Errc::schema_too_new). Tests lower it to
  /// play an older binary meeting a newer file.
  int schema_version_limit = -1;
  /// Testing seam: called at named points inside multi-step writes ("add_fragment.fields", ...);
  /// returning true makes that write fail there with Errc::injected_failure. Leave empty.
  std::function<bool(std::string_view step)> inject_failure;
  /// Testing and metrics seam: called once per field opened, with the fragment it belongs to.
  /// Never receives field contents.
  std::function<void(const FragmentId&)> on_field_opened;
  /// Most unwrapped data keys the store keeps in guarded memory between reads (see DataKeyCache).
  /// They share one guarded, locked allocation of 32 bytes per key made when the store opens
  /// (16 384 keys: 512 KiB), so every hot key of a CI-size home stays in it. Values below 1 are
  /// taken as 1.
  std::size_t data_key_cache_size = 16384;
  /// SQLite's page cache of the data-store connection, in KiB (decrypted pages, so a hit saves
  /// a read and a SQLCipher page decryption). 0 = SQLite's default (2000 KiB).
  std::size_t page_cache_kib = 16 * 1024;
};

/// What the data-key cache has done since the store opened (for tests and metrics).
struct DataKeyCacheStats {
  std::size_t size = 0;      ///< keys held now
  std::size_t capacity = 0;  ///< most keys it will hold
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t clears = 0;  ///< times every key was dropped (erasure, KEK rotation, restore)
};

/// A bounded least-recently-used cache of unwrapped data keys, named by client × category ×
/// version, so a dossier read does not query the key store, unwrap and allocate guarded memory
/// for every key it needs.
///
/// Promises: never more than `capacity` keys; the keys live in one guarded, locked, zeroised
/// arena of `capacity` 32-byte slots allocated with the cache (so neither a hit nor a miss
/// allocates guarded memory), and the key a lookup returns is copied into one guarded scratch
/// key of the cache's own; a key leaves the cache only by being zeroised in place (eviction,
/// clear(), which also wipes the scratch key). clear() is called by the store on every erasure, KEK rotation and key-store restore,
/// and through a process-wide generation (clear_everywhere()) every other cache in the
/// process clears itself before its next lookup, so one Store's erasure is honoured by the other
/// Stores a process opens on the same files. (Another *process* sharing the files does not see it;
/// there the erasure's deleted rows leave nothing for a stale key to open.)
///
/// Not thread-safe: the owning Store serialises use under its mutex.
class DataKeyCache {
 public:
  explicit DataKeyCache(std::size_t capacity);
  DataKeyCache(const DataKeyCache&) = delete;
  DataKeyCache& operator=(const DataKeyCache&) = delete;

  /// The cached key, marked most recently used, or nullptr. The pointer stays valid until the
  /// next call of a non-const member.
  [[nodiscard]] const crypto::DataKey* find(const ClientId& client, std::string_view category,
                                            crypto::DataKeyVersion version);
  /// The key for client × category × version: cached, or filled by `load(crypto::DataKey& out)
  /// -> Result<void>` into a free or evicted (zeroised) slot. A failed load leaves the slot
  /// zeroised and unused and returns the error. Validity of the pointer as for find().
  template <class Load>
  [[nodiscard]] Result<const crypto::DataKey*> get(const ClientId& client,
                                                   std::string_view category,
                                                   crypto::DataKeyVersion version, Load&& load) {
    if (const auto* k = find(client, category, version)) return k;
    ++misses_;
    Slot& slot = claim();
    scratch_.wipe();
    if (auto r = load(scratch_); !r) {
      scratch_.wipe();
      release(slot);
      return r.error();
    }
    return &install(slot, client, category, version);
  }
  /// Zeroises and drops every key.
  void clear() noexcept;
  /// clear(), and makes every other cache in this process clear itself before its next lookup.
  void clear_everywhere() noexcept;

  [[nodiscard]] DataKeyCacheStats stats() const noexcept;

 private:
  struct Slot {
    ClientId client;
    std::string category;
    crypto::DataKeyVersion version;
    std::uint64_t last_used = 0;
    bool live = false;
    std::size_t index = 0;  ///< the slot's key is arena_ bytes [32 index, 32 index + 32)
  };
  /// What the index is keyed by; `category` views the slot's own string.
  struct Name {
    ClientId client;
    std::string_view category;
    std::uint32_t version;
    friend bool operator==(const Name&, const Name&) = default;
  };
  struct NameHash {
    std::size_t operator()(const Name& n) const noexcept;
  };

  Slot& claim();
  void release(Slot& slot) noexcept;
  const crypto::DataKey& install(Slot& slot, const ClientId& client, std::string_view category,
                                 crypto::DataKeyVersion version);
  void sync_generation() noexcept;

  [[nodiscard]] std::span<std::uint8_t> key_bytes(const Slot& slot) noexcept;

  std::size_t capacity_;
  crypto::SecretBuffer arena_;  ///< capacity_ keys of 32 bytes; zero where no live key is
  crypto::DataKey scratch_;     ///< the key the last lookup returned (a copy of its slot)
  std::vector<Slot> slots_;  ///< reserved to capacity_: slots never move (Name views them)
  std::unordered_map<Name, std::size_t, NameHash> index_;
  std::uint64_t clock_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t clears_ = 0;
};

/// What restoring a data backup and/or a key-store snapshot would leave unreadable
/// (Store::check_restore). Counts only; nothing names a client.
struct RestoreCheck {
  std::size_t fragments = 0;             ///< fragment versions in the data that would be live
  std::size_t unreadable_fragments = 0;  ///< of those, whose data key would be gone
  std::size_t unreadable_clients = 0;    ///< clients those belong to
  std::size_t journal_keys = 0;          ///< keys only the key journal would give back
  bool journal_matches = false;  ///< the snapshot opens the data's key journal
  std::string journal_snapshot;  ///< where the snapshot the journal is sealed to was written
};

/// The store: two SQLCipher files opened with raw 256-bit keys derived from the root key.
///
/// The data store never holds key material, so a data backup, old or new, cannot open a field
/// whose data key was erased from the key store. Schema migrations run at open, each in its own
/// transaction. Erasure tombstones held in both files are re-applied at every open, so restoring
/// an older key-store snapshot (or data backup) cannot bring back an erased client.
///
/// The domain reaches it only as a Storage (repositories.hpp): each of its operations is one
/// UnitOfWork, which holds the store's mutex; the records behind it are the SQLCipher
/// implementations in sqlcipher_records.cpp.
///
/// Threads: a Store is safe to share between threads; every operation (its own and every unit
/// of work of the Registry, Dossiers and ConsentBook built on it) holds the store's mutex for its
/// duration, so operations on one Store are serialised. For parallel throughput open one Store per worker
/// thread on the same files: SQLite WAL lets readers proceed during a write, and writers wait
/// up to `busy_timeout` for each other.
class Store final : public Storage {
 public:
  /// The newest data-store schema version this code knows.
  static constexpr int kSchemaVersion = 8;
  /// The newest key-store schema version this code knows.
  static constexpr int kKeyStoreSchemaVersion = 2;

  /// Opens (creating when absent) both files, verifies both keys with a read, migrates both
  /// schemas forward, loads the KEKs (creating KEK version 1 in a new key store) and re-applies
  /// erasure tombstones. Errors: database_key_mismatch ("the database key does not match this
  /// database file": wrong root key, or not a sluis file), schema_too_new, storage_failure,
  /// crypto_failure (a wrapped KEK does not open under this root key).
  [[nodiscard]] static Result<std::unique_ptr<Store>> open(StoreOptions options,
                                                           const crypto::RootKey& root);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The data-store schema version in force.
  [[nodiscard]] int schema_version() const;

  /// Online backup of the data store into `dest` (replaced if present): a SQLCipher file with
  /// the data-store key, so it opens only with the root key. Holds no key material. Readers and
  /// writers of other connections may continue meanwhile.
  [[nodiscard]] Result<void> backup_data(const std::filesystem::path& dest);
  /// Snapshot of the key store into `dest` (SQLCipher, key-store key), which starts a new key
  /// journal: a fresh X25519 key pair is made, its secret (wrapped under the kek_wrapping
  /// sub-key) goes into the snapshot and is then destroyed in the live key store, and from then
  /// on every data key a fragment is sealed under is journalled in the data store sealed to the
  /// public half. Journal entries the snapshot already covers are dropped. So the snapshot plus
  /// the data store (or any later data backup) give back every key; a data backup without the
  /// snapshot opens nothing. A snapshot can bring erased keys back; keep few, keep them short,
  /// and restore only with restore_key_store_snapshot, which re-applies every erasure done since.
  [[nodiscard]] Result<void> snapshot_key_store(const std::filesystem::path& dest);
  /// Replaces the live key store with a snapshot, reloads the KEKs, gives back every key the
  /// data store's journal holds and the snapshot opens, then re-applies every erasure tombstone
  /// held in either file. Returns the number of keys the journal gave back. Errors: not_found,
  /// database_key_mismatch, ...
  [[nodiscard]] Result<std::size_t> restore_key_store_snapshot(const std::filesystem::path& src);
  /// Replaces the live data store with a data backup (migrated forward if older), then
  /// re-applies every erasure tombstone held in either file. Errors: not_found,
  /// database_key_mismatch, schema_too_new, ...
  [[nodiscard]] Result<void> restore_data_backup(const std::filesystem::path& src);
  /// Counts what restoring `data_backup` (empty: keep the live data store) and `key_snapshot`
  /// (empty: keep the live key store) would leave unreadable: fragments whose data key is
  /// neither in the key store nor openable from the key journal, clients erased since left
  /// out. Reads both files without changing them. Errors: not_found, database_key_mismatch.
  [[nodiscard]] Result<RestoreCheck> check_restore(const std::filesystem::path& data_backup,
                                                   const std::filesystem::path& key_snapshot);

  /// Adds a new KEK version, rewraps every data key under it (field ciphertexts untouched) and
  /// retires (destroys) every older KEK, all in one key-store transaction. Returns the new
  /// version.
  [[nodiscard]] Result<crypto::KekVersion> rotate_kek();
  /// The KEK versions currently usable (not retired), oldest first.
  [[nodiscard]] std::vector<crypto::KekVersion> kek_versions() const;
  /// Number of data keys wrapped under `version` (for checks after rotation).
  [[nodiscard]] Result<std::size_t> count_data_keys(crypto::KekVersion version) const;

  /// Counters of the data-key cache (StoreOptions::data_key_cache_size).
  [[nodiscard]] DataKeyCacheStats data_key_cache_stats() const;

  /// Gives both connections (data store and key store) a page cache of `page_cache_mib` MiB each
  /// for the rest of this object's life (SQLite's default is 2 MiB): bulk inserts into indexes
  /// keyed by random ids then find their pages in memory instead of reading and decrypting them
  /// again for every row. Affects only this process's connections, never the files; 0 restores
  /// the default. Errors: invalid_argument (more than 65536 MiB), storage_failure.
  [[nodiscard]] Result<void> set_page_cache(std::size_t page_cache_mib);

  /// Up to `limit` rows of `table` (one of export_tables()) in key order, starting after the
  /// key `after` (its key_columns values; empty: from the first row). For `sluisctl store
  /// migrate`: a consent's document comes back in plaintext, so the caller wipes the rows
  /// (wipe_export_rows) once written. Each call is its own read. Errors: invalid_argument (a key
  /// of the wrong length), storage_failure.
  [[nodiscard]] Result<std::vector<ExportRow>> export_rows(const ExportTable& table,
                                                           std::span<const ExportValue> after,
                                                           std::size_t limit);
  /// The number of rows of `table` (one of export_tables()).
  [[nodiscard]] Result<std::uint64_t> count_rows(const ExportTable& table);

  // --- Storage ---
  [[nodiscard]] Result<void> bulk_write(const std::function<Result<void>()>& body) override;
  [[nodiscard]] const PseudonymKeys& pseudonym_keys() const noexcept override;

  struct Impl;

 private:
  [[nodiscard]] Records& acquire() override;
  void release() noexcept override;

  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluis::store
