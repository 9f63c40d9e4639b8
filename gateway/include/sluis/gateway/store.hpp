// The SQLCipher store: the data store and the separate key store, schema migrations, backups, KEKs.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/gateway/domain.hpp"
#include "sluis/gateway/error.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::gateway {

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
};

/// The store: two SQLCipher files opened with raw 256-bit keys derived from the root key.
///
/// The data store never holds key material, so a data backup, old or new, cannot open a field
/// whose data key was erased from the key store. Schema migrations run at open, each in its own
/// transaction. Erasure tombstones held in both files are re-applied at every open, so restoring
/// an older key-store snapshot (or data backup) cannot bring back an erased client.
///
/// Threads: a Store is safe to share between threads; every operation (including those of the
/// Registry, Dossiers and ConsentBook built on it) holds the store's mutex for its duration, so
/// operations on one Store are serialised. For parallel throughput open one Store per worker
/// thread on the same files: SQLite WAL lets readers proceed during a write, and writers wait
/// up to `busy_timeout` for each other.
class Store {
 public:
  /// The newest data-store schema version this code knows.
  static constexpr int kSchemaVersion = 1;
  /// The newest key-store schema version this code knows.
  static constexpr int kKeyStoreSchemaVersion = 1;

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
  /// Snapshot of the key store into `dest` (SQLCipher, key-store key). A snapshot is the one
  /// artefact that can bring erased keys back; keep few, keep them short, and restore only with
  /// restore_key_store_snapshot, which re-applies every erasure done since.
  [[nodiscard]] Result<void> snapshot_key_store(const std::filesystem::path& dest);
  /// Replaces the live key store with a snapshot, then re-applies every erasure tombstone held in
  /// the data store and reloads the KEKs. Errors: not_found, database_key_mismatch, ...
  [[nodiscard]] Result<void> restore_key_store_snapshot(const std::filesystem::path& src);

  /// Adds a new KEK version, rewraps every data key under it (field ciphertexts untouched) and
  /// retires (destroys) every older KEK, all in one key-store transaction. Returns the new
  /// version.
  [[nodiscard]] Result<crypto::KekVersion> rotate_kek();
  /// The KEK versions currently usable (not retired), oldest first.
  [[nodiscard]] std::vector<crypto::KekVersion> kek_versions() const;
  /// Number of data keys wrapped under `version` (for checks after rotation).
  [[nodiscard]] Result<std::size_t> count_data_keys(crypto::KekVersion version) const;

  /// The audit-domain pseudonym of a client ("a1..."): what tombstones and the audit log name.
  [[nodiscard]] std::string audit_pseudonym(const ClientId& client) const;

  struct Impl;
  /// For the domain services built on this store (Registry, Dossiers, ConsentBook).
  [[nodiscard]] Impl& impl() noexcept { return *impl_; }

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluis::gateway
