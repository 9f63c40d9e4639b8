// Private state of the PostgreSQL engine: the session pool, sub-keys, KEKs, the partner table.
#pragma once

#include "pg.hpp"
#include "sluis/crypto/field.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/pgstore/pg_storage.hpp"
#include "sluis/store/repositories.hpp"
#include "sluis/store/store.hpp"  // store::DataKeyCache

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluis::pgstore {

using store::ClientId;
using store::Errc;
using store::FragmentId;
using store::Partner;

/// The schema version from which the KEKs are in the ring file, not the database (kek_versions).
inline constexpr int kRingFileSchema = 7;

/// The data-key category a consent document is sealed under in this engine (never a rule-pack
/// category: pack names have no '.'). The client's own key, a category of its own, as a break-
/// the-glass reason: erasing the client destroys it with the client's other keys.
inline constexpr std::string_view kConsentDocumentCategory = "sluis.consent-document";
/// The field name bound into a sealed consent document's context.
inline constexpr std::string_view kConsentDocumentField = "document";

/// Milliseconds since the Unix epoch, as stored (BIGINT columns, as the SQLCipher engine).
[[nodiscard]] inline std::int64_t to_db(Instant t) noexcept {
  return t.time_since_epoch().count();
}
[[nodiscard]] inline Instant from_db(std::int64_t ms) noexcept {
  return Instant{std::chrono::milliseconds{ms}};
}

/// One unit of work's hold on the database: a data connection (the unit's transaction) and a
/// key-store connection (new data keys commit on it at once, whatever the unit does).
struct Session {
  explicit Session(std::size_t cache_size) : key_cache(cache_size) {}
  pg::Conn data;
  pg::Conn keys;
  std::unique_ptr<store::Records> records;
  /// Unwrapped data keys between reads; cleared in every engine of the process by an erasure.
  store::DataKeyCache key_cache;
  enum class Open : std::uint8_t { none, read, write };
  Open open = Open::none;
  bool key_batch = false;
};

struct PgStorage::Impl {
  PgOptions options;
  int schema_version = 0;

  store::PseudonymKeys pseudonym_keys;
  crypto::SubKey kek_wrapping_key;
  /// The database password (NUL-terminated), when a password file was given.
  std::optional<crypto::SecretBuffer> password;
  /// The KEKs of the ring file (schema 7; before it, of the keks table), replaced whole when the
  /// file is read again (ring_mutex): readers take the pointer and keep what they took.
  std::shared_ptr<const crypto::KeyRing> ring;

  std::mutex pool_mutex;
  std::condition_variable pool_free;
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<Session*> idle;  ///< sessions no unit holds (last released on top)
  std::size_t opened = 0;      ///< sessions created so far (at most options.pool_size)

  /// The partner table and the generation it was read at (partner_generation's value, which
  /// every partner write sets to a fresh sequence number in its transaction): a node reads the
  /// generation, one row, and reloads the table only when another node (or a rolled-back
  /// transaction) changed it.
  std::mutex partners_mutex;
  std::int64_t partners_generation = -1;
  std::shared_ptr<const std::vector<Partner>> partners;

  /// The client-data generation this node last saw (change_generations 'client_data', which an
  /// erasure or a link bumps in its transaction; -1: not read yet). When a request's read shows
  /// a newer one, or the listener hears of it first, every in-memory copy of client data of this
  /// node is dropped (drop_client_copies) before the request goes on.
  std::atomic<std::int64_t> client_data_generation{-1};
  /// Called by drop_client_copies (PgStorage::watch_dropped_clients), under watchers_mutex.
  std::mutex watchers_mutex{};
  std::vector<std::function<void()>> watchers{};
  /// Only its clear_everywhere() is used (under pool_mutex): the signal that makes every data-key
  /// cache of the process clear itself before its next look-up, also with no idle session.
  store::DataKeyCache everywhere_signal{1};
  /// The shared rule pack and revoked serials (schema 6): the generation each was last handed
  /// to the watchers at (-1: none yet), and the watchers. shared_mutex serialises handing over,
  /// so a request that reads a newer generation waits until its watchers have it.
  std::mutex shared_mutex{};
  std::int64_t rule_pack_applied = -1;
  std::int64_t serials_applied = -1;
  std::vector<std::function<void(const StoredRulePack&)>> rule_pack_watchers{};
  std::vector<std::function<void(const std::vector<std::string>&)>> serial_watchers{};
  /// The listener connection holds the once-only jobs' advisory lock (kSweeperLock).
  std::atomic<bool> once_only_lock{false};
  /// Keyed digests of the erasure ledger's lines.
  crypto::SubKey ledger_key{};
  /// Guards `ring` and `ring_stamp` (what the ring file was when it was last read).
  mutable std::mutex ring_mutex{};
  std::string ring_stamp{};
  /// LISTEN sluis_changes on a connection of its own (listen_for_changes); last member, so it
  /// is stopped and joined before anything it uses goes.
  std::jthread listener{};

  [[nodiscard]] Instant now() const { return options.clock(); }
  [[nodiscard]] Result<void> step(std::string_view name) const {
    if (options.inject_failure && options.inject_failure(name)) {
      return make_error_code(Errc::injected_failure);
    }
    return {};
  }
  [[nodiscard]] std::string tag_of(const ClientId& client) const;

  /// Opens `c` with the options (conninfo, TLS, password, timeouts).
  [[nodiscard]] Result<void> connect(pg::Conn& c, bool data_connection);
  /// A new session with both connections. Errors: unavailable.
  [[nodiscard]] Result<std::unique_ptr<Session>> new_session();
  /// Reconnects a session whose connections were lost (a no-op when both are up).
  void revive(Session& s) noexcept;

  [[nodiscard]] Result<std::shared_ptr<const std::vector<Partner>>> partner_table(Session& s);
  /// Notes a client-data generation read from the database; drops the copies when it is newer
  /// than the one seen before.
  void note_client_data_generation(std::int64_t generation) noexcept;
  /// Wipes every cached data key of this process (idle sessions now, held ones before their
  /// next look-up) and tells the watchers (the consent cache) to drop what they hold.
  void drop_client_copies() noexcept;
  /// Hands the stored rule pack and serials to the watchers when the generations read on `c`
  /// (`rule_pack`: null when none is stored) moved past what they have.
  [[nodiscard]] Result<void> note_shared_generations(pg::Conn& c,
                                                     std::optional<std::int64_t> rule_pack,
                                                     std::int64_t serials);
  /// The listener thread's body: LISTEN, drop on 'client_data', reconnect when the database
  /// was away (and drop then: what was missed is unknown).
  void listen_for_changes(const std::stop_token& stop) noexcept;

  // --- the key store (on the session's key connection) ---
  [[nodiscard]] Result<std::pair<crypto::DataKeyVersion, crypto::DataKey>>
  data_key_for_write(Session& s, const ClientId& client, std::string_view category);
  [[nodiscard]] Result<crypto::DataKey> data_key_for_read(Session& s, const ClientId& client,
                                                          std::string_view category,
                                                          crypto::DataKeyVersion version);
  [[nodiscard]] Result<const crypto::DataKey*> cached_data_key(Session& s, const ClientId& client,
                                                               std::string_view category,
                                                               crypto::DataKeyVersion version);
  [[nodiscard]] Result<void> journal_key(Session& s, const ClientId& client,
                                         std::string_view category, crypto::DataKeyVersion version,
                                         const crypto::DataKey* known);
  [[nodiscard]] Result<void> shred_keys(Session& s, std::string_view tag);
  [[nodiscard]] Result<void> load_keks(pg::Conn& c);

  // --- the KEK ring file and the erasure ledger (kek_ring.cpp; schema 7) ---
  /// The ring as it is now.
  [[nodiscard]] std::shared_ptr<const crypto::KeyRing> ring_now() const;
  /// The KEK of `version`, reading the ring file again once when the ring in memory lacks it
  /// (another node or sluisctl rotated). `hold` keeps the ring the pointer points into.
  [[nodiscard]] Result<const crypto::KeyEncryptionKey*>
  kek_for(crypto::KekVersion version, std::shared_ptr<const crypto::KeyRing>& hold);
  /// The version new data keys are wrapped under: the newest the database registered (schema 7)
  /// or the ring's newest (before it).
  [[nodiscard]] Result<crypto::KekVersion> current_kek_version(pg::Conn& c);
  /// Reads the ring file into `ring` (errors: as read_ring_file, crypto_failure).
  [[nodiscard]] Result<void> reload_ring(std::string* why);
  /// Reads the ring file again when it changed since it was last read (the listener's poll).
  void reload_ring_if_changed() noexcept;
  /// At open: reads the ring file, moves the keks table's rows into it, removes the versions the
  /// database marks destroyed, makes version 1 for a new database, registers and checks the
  /// versions' fingerprints. `replace_unused` (a home migration): a ring version no data key
  /// uses gives way to the keks table's KEK of the same version.
  [[nodiscard]] Result<void> open_ring(pg::Conn& c, std::string* why, bool replace_unused = false);
  /// At open, after the erasures: refuses when the ring lacks the current version or a version
  /// data keys are wrapped under.
  [[nodiscard]] Result<void> check_ring_covers(pg::Conn& c, std::string* why);
  /// At open: every ledger tombstone into the database, every tombstone's rows and keys deleted,
  /// every database tombstone into the ledger.
  [[nodiscard]] Result<void> reapply_erasures(pg::Conn& c, std::string* why);
  /// Appends the tombstone of `tag` (as the database holds it) to the ledger, fsynced.
  [[nodiscard]] Result<void> ledger_erasure(Session& s, std::string_view tag);

  // --- consent documents, sealed under the client's data key ---
  [[nodiscard]] Result<std::vector<std::uint8_t>> seal_document(Session& s, const ClientId& client,
                                                                std::string_view consent_id,
                                                                std::string_view document);
  [[nodiscard]] Result<std::string> open_document(Session& s, const ClientId& client,
                                                  std::string_view consent_id,
                                                  std::span<const std::uint8_t> sealed);
};

/// Adds a revoked certificate serial and moves its generation, on `c` inside the caller's
/// transaction (nothing below schema 6). pg_storage.cpp.
[[nodiscard]] Result<void> add_revoked_serial_in(const PgStorage::Impl& i, pg::Conn& c,
                                                 std::string_view serial,
                                                 std::string_view partner_id, Instant at);

/// The engine's records over one session (pg_records.cpp).
[[nodiscard]] std::unique_ptr<store::Records> make_pg_records(PgStorage::Impl& impl, Session& s);

/// Client / fragment id from a stored 16-byte value; a wrong length is damage.
[[nodiscard]] Result<ClientId> client_from(std::span<const std::uint8_t> b);
[[nodiscard]] Result<FragmentId> fragment_from(std::span<const std::uint8_t> b);

}  // namespace sluis::pgstore
