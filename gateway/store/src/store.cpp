// Store: opening and keying both SQLCipher files, migrations, data keys, KEK rotation, backups.
#include "sluis/store/store.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/key_journal.hpp"
#include "sluis/crypto/pseudonym.hpp"
#include "sluis/store/sealed_fields.hpp"
#include "store_impl.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <system_error>

namespace sluis::store {

namespace {

using crypto::DataKeyVersion;
using crypto::KekVersion;

/// One forward migration: its version and the DDL that brings the schema from version - 1;
/// `convert` (when set) then moves data in C++ and `finish` runs after it, all in one
/// transaction.
struct Migration {
  int version;
  const char* sql;
  /// Runs on the store whose file is migrating (data migrations: i.data); the KEKs are loaded.
  Result<void> (*convert)(Store::Impl&) = nullptr;
  const char* finish = nullptr;
};

Result<void> convert_fragments_v3(Store::Impl& i);
Result<void> seal_break_glass_reasons_v5(Store::Impl& i);

// The data store (the audit log has its own file). Fields are only ever sealed bytes.
constexpr std::array kDataMigrations{
    Migration{1, R"sql(
CREATE TABLE partners(
  id TEXT PRIMARY KEY, partner_type TEXT NOT NULL, display_name TEXT NOT NULL,
  created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE workers(
  partner_id TEXT NOT NULL REFERENCES partners(id), worker_id TEXT NOT NULL, role TEXT NOT NULL,
  active INTEGER NOT NULL, PRIMARY KEY(partner_id, worker_id)) WITHOUT ROWID;
CREATE TABLE clients(
  id BLOB PRIMARY KEY, tag TEXT NOT NULL UNIQUE, anonymous INTEGER NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE identifiers(
  digest BLOB PRIMARY KEY,
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE) WITHOUT ROWID;
CREATE INDEX identifiers_client ON identifiers(client_id);
CREATE TABLE care_relationships(
  partner_id TEXT NOT NULL REFERENCES partners(id),
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  pseudonym TEXT NOT NULL UNIQUE, since INTEGER NOT NULL, origin INTEGER NOT NULL,
  PRIMARY KEY(partner_id, client_id)) WITHOUT ROWID;
CREATE INDEX care_relationships_client ON care_relationships(client_id);
CREATE TABLE service_pseudonyms(
  digest BLOB PRIMARY KEY,
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  service_id TEXT NOT NULL REFERENCES partners(id), created_at INTEGER NOT NULL,
  retired_at INTEGER) WITHOUT ROWID;
CREATE INDEX service_pseudonyms_client ON service_pseudonyms(client_id);
CREATE TABLE card_events(
  seq INTEGER PRIMARY KEY, client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  kind INTEGER NOT NULL, first_service TEXT, second_service TEXT NOT NULL,
  consent_reference TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX card_events_client ON card_events(client_id);
CREATE TABLE fragments(
  seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  category TEXT NOT NULL, owner_partner TEXT NOT NULL REFERENCES partners(id),
  created_by_worker TEXT NOT NULL, created_at INTEGER NOT NULL, version INTEGER NOT NULL,
  supersedes BLOB, superseded_by BLOB, key_version INTEGER NOT NULL);
CREATE INDEX fragments_client ON fragments(client_id, created_at, seq);
CREATE TABLE fragment_fields(
  fragment_seq INTEGER NOT NULL REFERENCES fragments(seq) ON DELETE CASCADE,
  position INTEGER NOT NULL, name TEXT NOT NULL, sealed BLOB NOT NULL,
  PRIMARY KEY(fragment_seq, position), UNIQUE(fragment_seq, name)) WITHOUT ROWID;
CREATE TABLE consents(
  id TEXT PRIMARY KEY, client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  recorded_by_partner TEXT NOT NULL, recorded_by_worker TEXT NOT NULL,
  recorded_at INTEGER NOT NULL, valid_from INTEGER NOT NULL, valid_until INTEGER NOT NULL,
  revoked_at INTEGER, revoked_by_partner TEXT, revoked_by_worker TEXT, document TEXT NOT NULL);
CREATE INDEX consents_client ON consents(client_id, recorded_at);
CREATE TABLE break_glass_grants(
  id TEXT PRIMARY KEY, client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  partner_id TEXT NOT NULL, worker_id TEXT NOT NULL, categories TEXT NOT NULL,
  reason TEXT NOT NULL, starts_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX break_glass_client ON break_glass_grants(client_id, expires_at);
CREATE TABLE erasures(tag TEXT PRIMARY KEY, erased_at INTEGER NOT NULL, reason INTEGER NOT NULL);
)sql"},
    // Break-the-glass expiries are recorded in the audit log by a sweeper; this marks the grants
    // whose end is on the record (docs/dpo-guide.md §5).
    Migration{2, R"sql(
ALTER TABLE break_glass_grants ADD COLUMN expiry_recorded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX break_glass_pending ON break_glass_grants(expiry_recorded, expires_at);
)sql"},
    // A client's fragments lie together (primary key client, seq) with their sealed fields in
    // the row: a dossier read touches a few adjacent pages instead of one page per fragment plus
    // one per fragment's fields (docs/store.md "Fragments", docs/performance.md). seq is now
    // the order of insertion within the client.
    Migration{3, R"sql(
CREATE TABLE fragments_v3(
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL, id BLOB NOT NULL UNIQUE,
  category TEXT NOT NULL, owner_partner TEXT NOT NULL REFERENCES partners(id),
  created_by_worker TEXT NOT NULL, created_at INTEGER NOT NULL, version INTEGER NOT NULL,
  supersedes BLOB, superseded_by BLOB, key_version INTEGER NOT NULL, fields BLOB NOT NULL,
  PRIMARY KEY(client_id, seq)) WITHOUT ROWID;
INSERT INTO fragments_v3(client_id, seq, id, category, owner_partner, created_by_worker,
  created_at, version, supersedes, superseded_by, key_version, fields)
  SELECT client_id, seq, id, category, owner_partner, created_by_worker, created_at, version,
         supersedes, superseded_by, key_version, x'' FROM fragments;
)sql",
              convert_fragments_v3, R"sql(
DROP TABLE fragment_fields;
DROP TABLE fragments;
ALTER TABLE fragments_v3 RENAME TO fragments;
)sql"},
    // A partner's pseudonym for a client that a card link folded into another client keeps
    // answering, for that partner only, as the surviving client (Registry::link,
    // docs/partner-guide/card-pseudonyms.md "Linking"). Erasing the survivor removes them.
    Migration{4, R"sql(
CREATE TABLE pseudonym_aliases(
  pseudonym TEXT PRIMARY KEY, partner_id TEXT NOT NULL REFERENCES partners(id),
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  since INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX pseudonym_aliases_client ON pseudonym_aliases(client_id);
)sql"},
    // A break-the-glass reason often names a health condition: it is sealed like a fragment
    // field (kBreakGlassReasonCategory, consent_book.hpp) and the plaintext column goes. The
    // table is rebuilt rather than the column blanked, so no plaintext column is left to write
    // to; secure_delete overwrites the old table's pages as they are freed, and open()
    // checkpoints the WAL right after the migrations.
    Migration{5, R"sql(
CREATE TABLE break_glass_grants_v5(
  id TEXT PRIMARY KEY, client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  partner_id TEXT NOT NULL, worker_id TEXT NOT NULL, categories TEXT NOT NULL,
  reason_sealed BLOB NOT NULL, starts_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  expiry_recorded INTEGER NOT NULL DEFAULT 0);
INSERT INTO break_glass_grants_v5(id, client_id, partner_id, worker_id, categories,
  reason_sealed, starts_at, expires_at, expiry_recorded)
  SELECT id, client_id, partner_id, worker_id, categories, x'', starts_at, expires_at,
         expiry_recorded FROM break_glass_grants;
)sql",
              seal_break_glass_reasons_v5, R"sql(
DROP TABLE break_glass_grants;
ALTER TABLE break_glass_grants_v5 RENAME TO break_glass_grants;
CREATE INDEX break_glass_client ON break_glass_grants(client_id, expires_at);
CREATE INDEX break_glass_pending ON break_glass_grants(expiry_recorded, expires_at);
)sql"},
    // The key journal (docs/store.md "Key journal"): every data key a fragment is sealed under,
    // sealed to the newest key-store snapshot's public key, so restoring that snapshot loses no
    // key made after it. Erasing a client deletes its entries with it.
    Migration{6, R"sql(
CREATE TABLE key_journal(
  seq INTEGER PRIMARY KEY,
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  category TEXT NOT NULL, version INTEGER NOT NULL, recipient BLOB NOT NULL,
  sealed BLOB NOT NULL, UNIQUE(client_id, category, version));
CREATE TABLE key_journal_recipient(
  id INTEGER PRIMARY KEY CHECK (id = 1), public_key BLOB NOT NULL, snapshot TEXT NOT NULL,
  adopted_at INTEGER NOT NULL);
)sql"},
    // A partner's own label on a client of its caseload (docs/threat-model.md "Caseload
    // labels"): sealed under the client's data key (category kCaseloadLabelCategory), so it
    // goes with the client's keys on erasure; searched through keyed blind-index tokens (one per
    // prefix and one for the whole label, padded to a fixed count), never in plaintext.
    Migration{7, R"sql(
CREATE TABLE caseload_labels(
  partner_id TEXT NOT NULL REFERENCES partners(id),
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  label_sealed BLOB NOT NULL, set_at INTEGER NOT NULL,
  PRIMARY KEY(partner_id, client_id)) WITHOUT ROWID;
CREATE INDEX caseload_labels_client ON caseload_labels(client_id);
CREATE TABLE caseload_label_tokens(
  partner_id TEXT NOT NULL, token BLOB NOT NULL,
  client_id BLOB NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  PRIMARY KEY(partner_id, token, client_id)) WITHOUT ROWID;
CREATE INDEX caseload_label_tokens_client ON caseload_label_tokens(client_id, partner_id);
CREATE INDEX care_relationships_caseload ON care_relationships(partner_id, since, pseudonym);
)sql"},
    // Break-the-glass reviews (docs/dpo-guide.md §5): one per grant and reviewing organisation,
    // the note sealed under the client's key (kBreakGlassReviewCategory); erasing the client
    // deletes its grants and with them their reviews.
    Migration{8, R"sql(
CREATE TABLE break_glass_reviews(
  grant_id TEXT NOT NULL REFERENCES break_glass_grants(id) ON DELETE CASCADE,
  partner_id TEXT NOT NULL, worker_id TEXT NOT NULL, outcome TEXT NOT NULL,
  note_sealed BLOB NOT NULL, reviewed_at INTEGER NOT NULL,
  PRIMARY KEY(grant_id, partner_id));
CREATE INDEX break_glass_partner ON break_glass_grants(partner_id);
)sql"},
};

/// Migration 5: every plaintext reason, sealed into the rebuilt table.
Result<void> seal_break_glass_reasons_v5(Store::Impl& i) {
  auto& db = i.data;
  struct Row {
    std::string id;
    ClientId client;
    std::string reason;
  };
  std::vector<Row> rows;
  {
    auto s = db.prepare("SELECT id, client_id, reason FROM break_glass_grants");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto client = client_from_blob(s->blob(1));
      if (!client) return client.error();
      rows.push_back({s->text(0), *client, s->text(2)});
    }
  }
  for (auto& r : rows) {
    // A grant id that is not 32 hex characters cannot have been written by sluis.
    auto sealed = i.seal_break_glass_reason(r.client, r.id, r.reason);
    crypto::wipe(std::span<char>(r.reason.data(), r.reason.size()));
    if (!sealed) {
      return sealed.error() == Errc::invalid_argument ? make_error_code(Errc::storage_failure)
                                                      : sealed.error();
    }
    auto u = db.prepare("UPDATE break_glass_grants_v5 SET reason_sealed = ? WHERE id = ?");
    if (!u) return u.error();
    if (auto ok = u->bind(1, *sealed).bind(2, r.id).run(); !ok) return ok;
  }
  return {};
}

/// Migration 3: every fragment's field rows, in position order, become its fields blob.
Result<void> convert_fragments_v3(Store::Impl& i) {
  auto& db = i.data;
  auto s = db.prepare(
      "SELECT f.client_id, f.seq, ff.name, ff.sealed FROM fragment_fields ff "
      "JOIN fragments f ON f.seq = ff.fragment_seq ORDER BY ff.fragment_seq, ff.position");
  if (!s) return s.error();
  std::vector<std::uint8_t> client;
  std::int64_t seq = -1;
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> fields;
  auto flush = [&]() -> Result<void> {
    if (fields.empty()) return {};
    if (fields.size() > kMaxFieldsPerFragment) return make_error_code(Errc::storage_failure);
    auto blob = sealed_fields_header(fields.size());
    for (const auto& [name, sealed] : fields)
      append_sealed_field(blob, name, sealed);
    fields.clear();
    // What was written must read back: a field name or size the old layout allowed but this
    // one cannot hold fails the migration here, not a later read.
    std::vector<SealedFieldView> check;
    if (auto r = decode_sealed_fields(blob, check); !r) return r;
    auto u = db.prepare("UPDATE fragments_v3 SET fields = ? WHERE client_id = ? AND seq = ?");
    if (!u) return u.error();
    return u->bind(1, blob).bind(2, std::span<const std::uint8_t>(client)).bind(3, seq).run();
  };
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    if (s->int64(1) != seq) {
      if (auto r = flush(); !r) return r;
      const auto c = s->blob(0);
      client.assign(c.begin(), c.end());
      seq = s->int64(1);
    }
    const auto sealed = s->blob(3);
    fields.emplace_back(s->text(2), std::vector<std::uint8_t>(sealed.begin(), sealed.end()));
  }
  if (auto r = flush(); !r) return r;
  // A fragment without fields cannot have been written (1..64 fields each): a damaged file.
  auto empty = db.prepare("SELECT count(*) FROM fragments_v3 WHERE length(fields) = 0");
  if (!empty) return empty.error();
  auto row = empty->step();
  if (!row) return row.error();
  if (empty->int64(0) != 0) return make_error_code(Errc::storage_failure);
  return {};
}

// The key store: nothing here is readable without the root key twice over (SQLCipher, then the
// kek_wrapping sub-key or a KEK).
constexpr std::array kKeyMigrations{
    Migration{1, R"sql(
CREATE TABLE keks(
  version INTEGER PRIMARY KEY, wrapped BLOB NOT NULL, created_at INTEGER NOT NULL,
  retired_at INTEGER);
CREATE TABLE data_keys(
  client_id BLOB NOT NULL, client_tag TEXT NOT NULL, category TEXT NOT NULL,
  version INTEGER NOT NULL, kek_version INTEGER NOT NULL, wrapped BLOB NOT NULL,
  PRIMARY KEY(client_id, category, version)) WITHOUT ROWID;
CREATE INDEX data_keys_tag ON data_keys(client_tag);
CREATE INDEX data_keys_kek ON data_keys(kek_version);
CREATE TABLE erasures(tag TEXT PRIMARY KEY, erased_at INTEGER NOT NULL);
)sql"},
    // The secret half of a snapshot's journal key pair. A row exists only inside the snapshot
    // file it was made for (and in the live file for the moment the snapshot is copied): see
    // Store::snapshot_key_store.
    Migration{2, R"sql(
CREATE TABLE journal_secrets(
  public_key BLOB PRIMARY KEY, wrapped BLOB NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
)sql"},
};

template <std::size_t N>
Result<int> migrate(Store::Impl& i, sql::Db& db, const std::array<Migration, N>& migrations,
                    int limit, std::int64_t now_ms) {
  if (auto r = db.exec("CREATE TABLE IF NOT EXISTS schema_version("
                       "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
      !r) {
    return r.error();
  }
  int current = 0;
  {
    auto s = db.prepare("SELECT coalesce(max(version), 0) FROM schema_version");
    if (!s) return s.error();
    auto row = s->step();
    if (!row) return row.error();
    current = static_cast<int>(s->int64(0));
  }
  if (current > limit) return make_error_code(Errc::schema_too_new);
  for (const auto& m : migrations) {
    if (m.version <= current || m.version > limit) continue;
    sql::Transaction tx(db);
    if (auto r = tx.begin(); !r) return r.error();
    if (auto r = db.exec(m.sql); !r) return r.error();
    if (m.convert != nullptr) {
      if (auto r = m.convert(i); !r) return r.error();
    }
    if (m.finish != nullptr) {
      if (auto r = db.exec(m.finish); !r) return r.error();
    }
    auto ins = db.prepare("INSERT INTO schema_version(version, applied_at) VALUES(?, ?)");
    if (!ins) return ins.error();
    if (auto r = ins->bind(1, std::int64_t{m.version}).bind(2, now_ms).run(); !r) {
      return r.error();
    }
    if (auto r = tx.commit(); !r) return r.error();
    current = m.version;
  }
  return current;
}

}  // namespace

Result<ClientId> client_from_blob(std::span<const std::uint8_t> b) {
  if (b.size() != 16) return make_error_code(Errc::storage_failure);
  return ClientId::from(std::span<const std::uint8_t, 16>(b.data(), 16));
}

Result<FragmentId> fragment_from_blob(std::span<const std::uint8_t> b) {
  if (b.size() != 16) return make_error_code(Errc::storage_failure);
  return FragmentId::from(std::span<const std::uint8_t, 16>(b.data(), 16));
}

std::string Store::Impl::tag_of(const ClientId& client) const {
  return crypto::audit_pseudonym(pseudonym_keys.audit_pseudonym, client);
}

Result<void> Store::Impl::load_keks() {
  crypto::KeyRing fresh;
  auto s = keys.prepare("SELECT version, wrapped FROM keks WHERE retired_at IS NULL");
  if (!s) return s.error();
  bool any = false;
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    const auto blob = s->blob(1);
    crypto::WrappedKek wrapped{KekVersion{static_cast<std::uint32_t>(s->int64(0))},
                               {blob.begin(), blob.end()}};
    auto kek = crypto::unwrap_kek(kek_wrapping_key, wrapped);
    if (!kek) return make_error_code(Errc::crypto_failure);
    fresh.add(std::move(*kek));
    any = true;
  }
  if (!any) {
    auto kek = crypto::KeyEncryptionKey::generate(KekVersion{1});
    auto wrapped = crypto::wrap_kek(kek_wrapping_key, kek);
    if (!wrapped) return make_error_code(Errc::crypto_failure);
    auto ins = keys.prepare("INSERT INTO keks(version, wrapped, created_at) VALUES(?, ?, ?)");
    if (!ins) return ins.error();
    if (auto r = ins->bind(1, std::int64_t{1}).bind(2, wrapped->blob).bind(3, to_db(now())).run();
        !r) {
      return r.error();
    }
    fresh.add(std::move(kek));
  }
  ring = std::move(fresh);
  return {};
}

Result<std::pair<DataKeyVersion, crypto::DataKey>>
Store::Impl::data_key_for_write(const ClientId& client, std::string_view category) {
  {
    auto s = keys.prepare(
        "SELECT version, kek_version, wrapped FROM data_keys WHERE client_id = ? AND category = ? "
        "ORDER BY version DESC LIMIT 1");
    if (!s) return s.error();
    s->bind(1, client.view()).bind(2, category);
    auto row = s->step();
    if (!row) return row.error();
    if (*row) {
      const DataKeyVersion version{static_cast<std::uint32_t>(s->int64(0))};
      const KekVersion kek_version{static_cast<std::uint32_t>(s->int64(1))};
      const auto blob = s->blob(2);
      auto kek = ring.find(kek_version);
      if (!kek) return make_error_code(Errc::key_unavailable);
      crypto::WrappedDataKey wrapped{kek_version, {blob.begin(), blob.end()}};
      auto key = crypto::unwrap_data_key(**kek, {client, category, version}, wrapped);
      if (!key) return make_error_code(Errc::crypto_failure);
      return std::pair{version, std::move(*key)};
    }
  }
  auto kek = ring.current();
  if (!kek) return make_error_code(Errc::key_unavailable);
  const DataKeyVersion version{1};
  auto key = crypto::generate_data_key();
  auto wrapped = crypto::wrap_data_key(**kek, {client, category, version}, key);
  if (!wrapped) return make_error_code(Errc::crypto_failure);
  auto ins = keys.prepare(
      "INSERT INTO data_keys(client_id, client_tag, category, version, kek_version, wrapped) "
      "VALUES(?, ?, ?, ?, ?, ?)");
  if (!ins) return ins.error();
  if (auto r = ins->bind(1, client.view())
                   .bind(2, tag_of(client))
                   .bind(3, category)
                   .bind(4, std::int64_t{version.value})
                   .bind(5, std::int64_t{wrapped->kek_version.value})
                   .bind(6, wrapped->blob)
                   .run();
      !r) {
    return r.error();
  }
  return std::pair{version, std::move(key)};
}

namespace {

/// Fetches and unwraps the data key client × category × version into `out` (zeroised on
/// failure by unwrap_data_key_into). Errc::key_unavailable when it is gone (erased).
Result<void> load_data_key(sql::Db& keys, const crypto::KeyRing& ring, const ClientId& client,
                           std::string_view category, DataKeyVersion version,
                           crypto::DataKey& out) {
  auto s = keys.prepare(
      "SELECT kek_version, wrapped FROM data_keys WHERE client_id = ? AND category = ? AND "
      "version = ?");
  if (!s) return s.error();
  s->bind(1, client.view()).bind(2, category).bind(3, std::int64_t{version.value});
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::key_unavailable);
  const KekVersion kek_version{static_cast<std::uint32_t>(s->int64(0))};
  const auto blob = s->blob(1);
  auto kek = ring.find(kek_version);
  if (!kek) return make_error_code(Errc::key_unavailable);
  const crypto::WrappedDataKey wrapped{kek_version, {blob.begin(), blob.end()}};
  if (!crypto::unwrap_data_key_into(**kek, {client, category, version}, wrapped, out)) {
    return make_error_code(Errc::crypto_failure);
  }
  return {};
}

/// Bumped by DataKeyCache::clear_everywhere(); each cache compares it with the value it
/// last saw. Relaxed order suffices: the bump happens under the erasing Store's mutex after its
/// key-store commit, and a reader in another Store learns of the erasure's effects only through
/// SQLite, whose locking orders the two.
std::atomic<std::uint64_t> g_key_cache_generation{0};

}  // namespace

DataKeyCache::DataKeyCache(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)), arena_(capacity_ * crypto::DataKey::size()),
      generation_(g_key_cache_generation.load(std::memory_order_relaxed)) {
  crypto::wipe(arena_.reveal_mut());
  slots_.reserve(capacity_);
  index_.reserve(capacity_);
}

std::size_t DataKeyCache::NameHash::operator()(const Name& n) const noexcept {
  // The client id is random, so its first eight bytes are already a good hash.
  std::uint64_t h = 0;
  std::memcpy(&h, n.client.bytes.data(), sizeof h);
  h ^= std::hash<std::string_view>{}(n.category) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return static_cast<std::size_t>(h ^ (std::uint64_t{n.version} * 0xff51afd7ed558ccdULL));
}

void DataKeyCache::sync_generation() noexcept {
  const auto g = g_key_cache_generation.load(std::memory_order_relaxed);
  if (g != generation_) {
    clear();
    generation_ = g;
  }
}

const crypto::DataKey* DataKeyCache::find(const ClientId& client, std::string_view category,
                                          crypto::DataKeyVersion version) {
  sync_generation();
  const auto it = index_.find(Name{client, category, version.value});
  if (it == index_.end()) return nullptr;
  Slot& slot = slots_[it->second];
  slot.last_used = ++clock_;
  ++hits_;
  const auto bytes = key_bytes(slot);
  std::copy(bytes.begin(), bytes.end(), scratch_.reveal_mut().begin());
  return &scratch_;
}

std::span<std::uint8_t> DataKeyCache::key_bytes(const Slot& slot) noexcept {
  return arena_.reveal_mut().subspan(slot.index * crypto::DataKey::size(), crypto::DataKey::size());
}

DataKeyCache::Slot& DataKeyCache::claim() {
  if (index_.size() < slots_.size()) {  // a slot freed by clear() or a failed load
    for (auto& slot : slots_) {
      if (!slot.live) return slot;
    }
  }
  if (slots_.size() < capacity_) {
    Slot& fresh = slots_.emplace_back();
    fresh.index = slots_.size() - 1;
    return fresh;
  }
  // Full: evict the least recently used. A linear scan is fine at this size, and a miss costs a
  // key-store query and an unwrap anyway.
  Slot* lru = &slots_.front();
  for (auto& slot : slots_) {
    if (slot.last_used < lru->last_used) lru = &slot;
  }
  release(*lru);
  return *lru;
}

void DataKeyCache::release(Slot& slot) noexcept {
  if (slot.live) index_.erase(Name{slot.client, slot.category, slot.version.value});
  crypto::wipe(key_bytes(slot));
  slot.live = false;
}

const crypto::DataKey& DataKeyCache::install(Slot& slot, const ClientId& client,
                                             std::string_view category,
                                             crypto::DataKeyVersion version) {
  slot.client = client;
  slot.category.assign(category);
  slot.version = version;
  slot.last_used = ++clock_;
  slot.live = true;
  const auto from = scratch_.reveal();
  std::copy(from.begin(), from.end(), key_bytes(slot).begin());
  index_.emplace(Name{slot.client, slot.category, version.value}, slot.index);
  return scratch_;
}

void DataKeyCache::clear() noexcept {
  for (auto& slot : slots_)
    slot.live = false;
  crypto::wipe(arena_.reveal_mut());
  scratch_.wipe();
  index_.clear();
  ++clears_;
}

void DataKeyCache::clear_everywhere() noexcept {
  clear();
  generation_ = g_key_cache_generation.fetch_add(1, std::memory_order_relaxed) + 1;
}

DataKeyCacheStats DataKeyCache::stats() const noexcept {
  return {index_.size(), capacity_, hits_, misses_, clears_};
}

namespace {

Result<FragmentId> grant_context_id(std::string_view grant_id) {
  if (grant_id.size() != 32) return make_error_code(Errc::invalid_argument);
  auto bytes = crypto::from_hex(grant_id);
  if (!bytes || bytes->size() != 16) return make_error_code(Errc::invalid_argument);
  return FragmentId::from(std::span<const std::uint8_t, 16>(bytes->data(), 16));
}

}  // namespace

Result<std::vector<std::uint8_t>> Store::Impl::seal_break_glass_reason(const ClientId& client,
                                                                       std::string_view grant_id,
                                                                       std::string_view reason) {
  auto id = grant_context_id(grant_id);
  if (!id) return id.error();
  auto key = data_key_for_write(client, kBreakGlassReasonCategory);
  if (!key) return key.error();
  const crypto::FieldContext ctx{*id, kBreakGlassReasonField, kBreakGlassReasonCategory, client,
                                 key->first};
  auto sealed = crypto::seal_field(
      key->second, ctx,
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(reason.data()),
                                    reason.size()));
  if (!sealed) return make_error_code(Errc::invalid_argument);
  return std::move(*sealed);
}

Result<crypto::DataKey> Store::Impl::data_key_for_read(const ClientId& client,
                                                       std::string_view category,
                                                       DataKeyVersion version) {
  crypto::DataKey key;
  if (auto r = load_data_key(keys, ring, client, category, version, key); !r) return r.error();
  return key;
}

Result<const crypto::DataKey*> Store::Impl::cached_data_key(const ClientId& client,
                                                            std::string_view category,
                                                            DataKeyVersion version) {
  return key_cache.get(client, category, version, [&](crypto::DataKey& out) {
    return load_data_key(keys, ring, client, category, version, out);
  });
}

void Store::Impl::forget_cached_keys() noexcept {
  key_cache.clear_everywhere();
}

Result<void> Store::Impl::shred_keys(std::string_view tag) {
  // First, whatever follows: a cached copy must not outlive the wrapped key it came from.
  forget_cached_keys();
  {
    sql::Transaction tx(keys);
    if (auto r = tx.begin(); !r) return r;
    auto ins = keys.prepare("INSERT OR IGNORE INTO erasures(tag, erased_at) VALUES(?, ?)");
    if (!ins) return ins.error();
    if (auto r = ins->bind(1, tag).bind(2, to_db(now())).run(); !r) return r;
    auto del = keys.prepare("DELETE FROM data_keys WHERE client_tag = ?");
    if (!del) return del.error();
    if (auto r = del->bind(1, tag).run(); !r) return r;
    if (auto r = tx.commit(); !r) return r;
  }
  // secure_delete overwrote the freed cells; the checkpoint moves those pages into the file and
  // truncates the WAL, so no older page image holding the wrapped keys stays behind in it.
  return keys.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

namespace {

/// A stored public key (a wrong length reads as all zeros, which nothing is sealed to).
crypto::JournalPublicKey public_key_of(std::span<const std::uint8_t> blob) {
  crypto::JournalPublicKey pk{};
  if (blob.size() == pk.size()) std::copy(blob.begin(), blob.end(), pk.begin());
  return pk;
}

}  // namespace

Result<void> Store::Impl::journal_key(const ClientId& client, std::string_view category,
                                      DataKeyVersion version, const crypto::DataKey* known) {
  crypto::JournalPublicKey recipient{};
  {
    auto s = data.prepare("SELECT public_key FROM key_journal_recipient WHERE id = 1");
    if (!s) return s.error();
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return {};  // no snapshot yet: nothing to continue
    recipient = public_key_of(s->blob(0));
  }
  {
    auto s = data.prepare(
        "SELECT recipient FROM key_journal WHERE client_id = ? AND category = ? AND version = ?");
    if (!s) return s.error();
    s->bind(1, client.view()).bind(2, category).bind(3, std::int64_t{version.value});
    auto row = s->step();
    if (!row) return row.error();
    if (*row) {
      const auto had = s->blob(0);
      if (had.size() == recipient.size() && std::equal(had.begin(), had.end(), recipient.begin())) {
        return {};
      }
    }
  }
  std::optional<crypto::DataKey> loaded;
  if (known == nullptr) {
    auto k = data_key_for_read(client, category, version);
    if (!k) return k.error();
    loaded.emplace(std::move(*k));
    known = &*loaded;
  }
  auto sealed = crypto::seal_journal_entry(recipient, {client, category, version}, *known);
  if (!sealed) return make_error_code(Errc::crypto_failure);
  auto ins = data.prepare("INSERT OR REPLACE INTO key_journal(client_id, category, version, "
                          "recipient, sealed) VALUES(?, ?, ?, ?, ?)");
  if (!ins) return ins.error();
  return ins->bind(1, client.view())
      .bind(2, category)
      .bind(3, std::int64_t{version.value})
      .bind(4, std::span<const std::uint8_t>(recipient))
      .bind(5, *sealed)
      .run();
}

Result<std::size_t> Store::Impl::replay_journal() {
  struct Secret {
    crypto::JournalPublicKey public_key;
    crypto::JournalSecretKey secret;
  };
  std::vector<Secret> secrets;
  {
    auto s = keys.prepare("SELECT public_key, wrapped FROM journal_secrets");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      const auto pk = public_key_of(s->blob(0));
      auto secret = crypto::unwrap_journal_secret(kek_wrapping_key, pk, s->blob(1));
      if (!secret) return make_error_code(Errc::crypto_failure);
      secrets.push_back({pk, std::move(*secret)});
    }
  }
  if (secrets.empty()) return std::size_t{0};
  auto kek = ring.current();
  if (!kek) return make_error_code(Errc::key_unavailable);
  std::size_t given_back = 0;
  sql::Transaction tx(keys);
  if (auto r = tx.begin(); !r) return r.error();
  for (const auto& secret : secrets) {
    auto s = data.prepare(
        "SELECT client_id, category, version, sealed FROM key_journal WHERE recipient = ?");
    if (!s) return s.error();
    s->bind(1, std::span<const std::uint8_t>(secret.public_key));
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto client = client_from_blob(s->blob(0));
      if (!client) return client.error();
      const std::string category = s->text(1);
      const DataKeyVersion version{static_cast<std::uint32_t>(s->int64(2))};
      auto have = keys.prepare(
          "SELECT count(*) FROM data_keys WHERE client_id = ? AND category = ? AND version = ?");
      if (!have) return have.error();
      have->bind(1, client->view()).bind(2, category).bind(3, std::int64_t{version.value});
      auto counted = have->step();
      if (!counted) return counted.error();
      if (have->int64(0) != 0) continue;
      const crypto::DataKeyRef ref{*client, category, version};
      auto key = crypto::open_journal_entry(secret.public_key, secret.secret, ref, s->blob(3));
      if (!key) return make_error_code(Errc::crypto_failure);  // a damaged journal: say so
      auto wrapped = crypto::wrap_data_key(**kek, ref, *key);
      if (!wrapped) return make_error_code(Errc::crypto_failure);
      auto ins = keys.prepare(
          "INSERT INTO data_keys(client_id, client_tag, category, version, kek_version, wrapped) "
          "VALUES(?, ?, ?, ?, ?, ?)");
      if (!ins) return ins.error();
      if (auto r = ins->bind(1, client->view())
                       .bind(2, tag_of(*client))
                       .bind(3, std::string_view(category))
                       .bind(4, std::int64_t{version.value})
                       .bind(5, std::int64_t{wrapped->kek_version.value})
                       .bind(6, wrapped->blob)
                       .run();
          !r) {
        return r.error();
      }
      ++given_back;
    }
  }
  // The secrets have done their work; the live key store never keeps one (a data backup's
  // journal must not open with the live files and the root key).
  auto del = keys.prepare("DELETE FROM journal_secrets");
  if (!del) return del.error();
  if (auto r = del->run(); !r) return r.error();
  if (auto r = tx.commit(); !r) return r.error();
  if (auto r = keys.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !r) return r.error();
  return given_back;
}

Result<std::size_t> Store::Impl::reapply_erasures() {
  std::set<std::string> tags;
  std::set<std::string> in_data;
  std::set<std::string> in_keys;
  {
    auto s = data.prepare("SELECT tag FROM erasures");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      in_data.insert(s->text(0));
    }
  }
  {
    auto s = keys.prepare("SELECT tag FROM erasures");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      in_keys.insert(s->text(0));
    }
  }
  tags.insert(in_data.begin(), in_data.end());
  tags.insert(in_keys.begin(), in_keys.end());
  std::size_t removed = 0;
  // Data store first: a tombstone known only to the key store (a data backup restored from
  // before the erasure) removes the client's rows again.
  {
    sql::Transaction tx(data);
    if (auto r = tx.begin(); !r) return r.error();
    for (const auto& tag : tags) {
      if (!in_data.contains(tag)) {
        auto ins = data.prepare("INSERT INTO erasures(tag, erased_at, reason) VALUES(?, ?, 1)");
        if (!ins) return ins.error();
        if (auto r = ins->bind(1, tag).bind(2, to_db(now())).run(); !r) return r.error();
      }
      auto del = data.prepare("DELETE FROM clients WHERE tag = ?");
      if (!del) return del.error();
      if (auto r = del->bind(1, tag).run(); !r) return r.error();
      removed += static_cast<std::size_t>(data.changes());
    }
    if (auto r = tx.commit(); !r) return r.error();
  }
  bool keys_changed = false;
  // Run at open and after a restore only: cheap to be strict and drop every cached key.
  if (!tags.empty()) forget_cached_keys();
  {
    sql::Transaction tx(keys);
    if (auto r = tx.begin(); !r) return r.error();
    for (const auto& tag : tags) {
      if (!in_keys.contains(tag)) {
        auto ins = keys.prepare("INSERT INTO erasures(tag, erased_at) VALUES(?, ?)");
        if (!ins) return ins.error();
        if (auto r = ins->bind(1, tag).bind(2, to_db(now())).run(); !r) return r.error();
      }
      auto del = keys.prepare("DELETE FROM data_keys WHERE client_tag = ?");
      if (!del) return del.error();
      if (auto r = del->bind(1, tag).run(); !r) return r.error();
      if (keys.changes() > 0) keys_changed = true;
      removed += static_cast<std::size_t>(keys.changes());
    }
    if (auto r = tx.commit(); !r) return r.error();
  }
  if (keys_changed) {
    if (auto r = keys.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !r) return r.error();
  }
  return removed;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(StoreOptions options, const crypto::RootKey& root) {
  if (!options.clock) {
    options.clock = [] {
      return std::chrono::time_point_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now());
    };
  }
  if (options.schema_version_limit < 0) options.schema_version_limit = kSchemaVersion;
  if (options.data_path.empty() || options.key_store_path.empty() ||
      options.data_path == options.key_store_path) {
    return make_error_code(Errc::invalid_argument);
  }
  auto impl = std::unique_ptr<Impl>(
      new Impl{std::move(options),
               0,
               crypto::derive_subkey(root, crypto::KeyPurpose::database),
               crypto::derive_subkey(root, crypto::KeyPurpose::keystore),
               PseudonymKeys{
                   crypto::derive_subkey(root, crypto::KeyPurpose::identifier_index),
                   crypto::derive_subkey(root, crypto::KeyPurpose::partner_pseudonym),
                   crypto::derive_subkey(root, crypto::KeyPurpose::audit_pseudonym),
                   crypto::derive_subkey(root, crypto::KeyPurpose::service_pseudonym_index),
                   crypto::derive_subkey(root, crypto::KeyPurpose::caseload_label_index)},
               crypto::derive_subkey(root, crypto::KeyPurpose::kek_wrapping),
               {},
               {},
               {},
               {}});
  auto& i = *impl;
  i.records = make_sqlcipher_records(i);
  if (auto r = i.data.open(i.options.data_path, i.database_key, i.options.busy_timeout); !r) {
    return r.error();
  }
  if (auto r = i.keys.open(i.options.key_store_path, i.keystore_key, i.options.busy_timeout); !r) {
    return r.error();
  }
  const auto now_ms = to_db(i.now());
  // The key store first: a data migration may seal values (migration 5) and needs the KEKs.
  auto kv = migrate(i, i.keys, kKeyMigrations, kKeyStoreSchemaVersion, now_ms);
  if (!kv) return kv.error();
  if (auto r = i.load_keks(); !r) return r.error();
  auto v = migrate(i, i.data, kDataMigrations, i.options.schema_version_limit, now_ms);
  if (!v) return v.error();
  i.schema_version = *v;
  // A migration may have rewritten most of the file into the WAL; fold it back now (a no-op
  // when the WAL is empty).
  if (auto r = i.data.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !r) return r.error();
  if (auto r = i.data.set_cache_size_kib(i.options.page_cache_kib); !r) return r.error();
  // The key store is reached on data-key cache misses and by every write (the current key of a
  // client × category): a quarter of the data store's cache, at most 4 MiB, keeps its pages.
  if (auto r = i.keys.set_cache_size_kib(std::min<std::size_t>(i.options.page_cache_kib / 4,
                                                                std::size_t{4} * 1024));
      !r) {
    return r.error();
  }
  // A snapshot copied into place by hand gives its journal back here; a secret left by a
  // snapshot interrupted by a crash is destroyed.
  if (auto r = i.replay_journal(); !r) return r.error();
  if (auto r = i.reapply_erasures(); !r) return r.error();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

int Store::schema_version() const {
  return impl_->schema_version;
}

Result<void> Store::backup_data(const std::filesystem::path& dest) {
  std::lock_guard lock(impl_->mutex);
  return impl_->data.backup_to(dest, impl_->database_key, impl_->options.busy_timeout);
}

Result<void> Store::snapshot_key_store(const std::filesystem::path& dest) {
  std::lock_guard lock(impl_->mutex);
  auto& i = *impl_;
  // Journal entries up to here are for keys already in the key store, so in the snapshot.
  std::int64_t mark = 0;
  {
    auto s = i.data.prepare("SELECT coalesce(max(seq), 0) FROM key_journal");
    if (!s) return s.error();
    auto row = s->step();
    if (!row) return row.error();
    mark = s->int64(0);
  }
  const auto pair = crypto::JournalKeyPair::generate();
  auto wrapped = crypto::wrap_journal_secret(i.kek_wrapping_key, pair);
  if (!wrapped) return make_error_code(Errc::crypto_failure);
  {
    auto ins = i.keys.prepare(
        "INSERT INTO journal_secrets(public_key, wrapped, created_at) VALUES(?, ?, ?)");
    if (!ins) return ins.error();
    if (auto r = ins->bind(1, std::span<const std::uint8_t>(pair.public_key))
                     .bind(2, *wrapped)
                     .bind(3, to_db(i.now()))
                     .run();
        !r) {
      return r;
    }
  }
  auto copied = i.keys.backup_to(dest, i.keystore_key, i.options.busy_timeout);
  // Whatever happened, the live key store does not keep the secret: only the snapshot does.
  // (A crash before this line leaves it behind; the next open destroys it: replay_journal.)
  {
    auto del = i.keys.prepare("DELETE FROM journal_secrets");
    if (!del) return del.error();
    if (auto r = del->run(); !r) return r;
    if (auto r = i.keys.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !r) return r;
  }
  if (!copied) {
    std::error_code ec;
    std::filesystem::remove(dest, ec);
    return copied;
  }
  if (auto r = i.step("snapshot.before_journal"); !r) return r;
  // The journal now continues this snapshot: entries written while it was copied are sealed
  // again to its key; older ones are covered by it and dropped.
  struct Pending {
    std::int64_t seq;
    ClientId client;
    std::string category;
    std::uint32_t version;
  };
  std::vector<Pending> pending;
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r;
  {
    auto up = i.data.prepare(
        "INSERT OR REPLACE INTO key_journal_recipient(id, public_key, snapshot, adopted_at) "
        "VALUES(1, ?, ?, ?)");
    if (!up) return up.error();
    if (auto r = up->bind(1, std::span<const std::uint8_t>(pair.public_key))
                     .bind(2, std::string_view(dest.string()))
                     .bind(3, to_db(i.now()))
                     .run();
        !r) {
      return r;
    }
    auto s = i.data.prepare("SELECT seq, client_id, category, version FROM key_journal WHERE "
                            "seq > ?");
    if (!s) return s.error();
    s->bind(1, mark);
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto client = client_from_blob(s->blob(1));
      if (!client) return client.error();
      pending.push_back({s->int64(0), *client, s->text(2), static_cast<std::uint32_t>(s->int64(3))});
    }
  }
  for (const auto& p : pending) {
    auto key = i.data_key_for_read(p.client, p.category, DataKeyVersion{p.version});
    if (!key) continue;  // erased meanwhile: its fragments went with it
    auto sealed = crypto::seal_journal_entry(pair.public_key,
                                             {p.client, p.category, DataKeyVersion{p.version}}, *key);
    if (!sealed) return make_error_code(Errc::crypto_failure);
    auto up = i.data.prepare("UPDATE key_journal SET recipient = ?, sealed = ? WHERE seq = ?");
    if (!up) return up.error();
    if (auto r = up->bind(1, std::span<const std::uint8_t>(pair.public_key))
                     .bind(2, *sealed)
                     .bind(3, p.seq)
                     .run();
        !r) {
      return r;
    }
  }
  {
    auto del = i.data.prepare("DELETE FROM key_journal WHERE seq <= ?");
    if (!del) return del.error();
    if (auto r = del->bind(1, mark).run(); !r) return r;
  }
  return tx.commit();
}

namespace {

/// A data key's name as one comparable string: client bytes, category, NUL, version.
std::string key_name(std::span<const std::uint8_t> client, std::string_view category,
                     std::int64_t version) {
  std::string n(client.begin(), client.end());
  n += category;
  n += '\0';
  n += std::to_string(version);
  return n;
}

/// Tags of the tombstones in one file (an older file without the table has none).
Result<void> collect_tombstones(sql::Db& db, std::set<std::string>& out) {
  auto s = db.prepare("SELECT tag FROM erasures");
  if (!s) return s.error();
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return {};
    out.insert(s->text(0));
  }
}

/// Writes `tags` back as tombstones with `insert` (tag, time), in one transaction.
Result<void> keep_tombstones(sql::Db& db, const std::set<std::string>& tags, const char* insert,
                             std::int64_t now_ms) {
  if (tags.empty()) return {};
  sql::Transaction tx(db);
  if (auto r = tx.begin(); !r) return r;
  for (const auto& tag : tags) {
    auto ins = db.prepare(insert);
    if (!ins) return ins.error();
    if (auto r = ins->bind(1, std::string_view(tag)).bind(2, now_ms).run(); !r) return r;
  }
  return tx.commit();
}

/// True when `table` exists in `db` (backups and snapshots may be of an older schema).
Result<bool> has_table(sql::Db& db, const char* table) {
  auto s = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
  if (!s) return bool_error(s.error());
  s->bind(1, std::string_view(table));
  auto row = s->step();
  if (!row) return bool_error(row.error());
  return s->int64(0) != 0;
}

}  // namespace

Result<std::size_t> Store::restore_key_store_snapshot(const std::filesystem::path& src) {
  std::lock_guard lock(impl_->mutex);
  auto& i = *impl_;
  i.forget_cached_keys();  // the key store is about to be replaced wholesale
  // Erasures the live file knows outlive it (the data store may have been restored too).
  std::set<std::string> tombstones;
  if (auto r = collect_tombstones(i.keys, tombstones); !r) return r.error();
  if (auto r = i.keys.restore_from(src, i.keystore_key, i.options.busy_timeout); !r) {
    return r.error();
  }
  // The snapshot may predate newer schema versions of the key store.
  if (auto r = migrate(i, i.keys, kKeyMigrations, kKeyStoreSchemaVersion, to_db(i.now())); !r) {
    return r.error();
  }
  if (auto r = keep_tombstones(i.keys, tombstones, "INSERT OR IGNORE INTO erasures(tag, erased_at) "
                                                   "VALUES(?, ?)",
                               to_db(i.now()));
      !r) {
    return r.error();
  }
  if (auto r = i.load_keks(); !r) return r.error();
  auto given_back = i.replay_journal();
  if (!given_back) return given_back.error();
  if (auto r = i.reapply_erasures(); !r) return r.error();
  return *given_back;
}

Result<void> Store::restore_data_backup(const std::filesystem::path& src) {
  std::lock_guard lock(impl_->mutex);
  auto& i = *impl_;
  i.forget_cached_keys();
  i.forget_partners();
  // Erasures the live file knows outlive it (the key store may be restored next).
  std::set<std::string> tombstones;
  if (auto r = collect_tombstones(i.data, tombstones); !r) return r.error();
  if (auto r = i.data.restore_from(src, i.database_key, i.options.busy_timeout); !r) return r;
  auto v = migrate(i, i.data, kDataMigrations, i.options.schema_version_limit, to_db(i.now()));
  if (!v) return v.error();
  i.schema_version = *v;
  if (auto r = keep_tombstones(i.data, tombstones,
                               "INSERT OR IGNORE INTO erasures(tag, erased_at, reason) VALUES(?, ?, "
                               "1)",
                               to_db(i.now()));
      !r) {
    return r.error();
  }
  if (auto r = i.data.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !r) return r.error();
  if (auto r = i.reapply_erasures(); !r) return r.error();
  return {};
}


Result<RestoreCheck> Store::check_restore(const std::filesystem::path& data_backup,
                                          const std::filesystem::path& key_snapshot) {
  std::lock_guard lock(impl_->mutex);
  auto& i = *impl_;
  sql::Db data_file;
  sql::Db key_file;
  if (!data_backup.empty()) {
    if (auto r = data_file.open_read_only(data_backup, i.database_key, i.options.busy_timeout);
        !r) {
      return r.error();
    }
  }
  if (!key_snapshot.empty()) {
    if (auto r = key_file.open_read_only(key_snapshot, i.keystore_key, i.options.busy_timeout);
        !r) {
      return r.error();
    }
  }
  sql::Db& data = data_backup.empty() ? i.data : data_file;
  sql::Db& keys = key_snapshot.empty() ? i.keys : key_file;
  RestoreCheck out;

  // Keys the key store would hold: its data keys, and what the journal gives back with its
  // snapshot secrets.
  std::set<std::string> available;
  {
    auto s = keys.prepare("SELECT client_id, category, version FROM data_keys");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      available.insert(key_name(s->blob(0), s->text_view(1), s->int64(2)));
    }
  }
  std::vector<crypto::JournalPublicKey> openable;
  if (auto has = has_table(keys, "journal_secrets"); !has) {
    return has.error();
  } else if (*has) {
    auto s = keys.prepare("SELECT public_key, wrapped FROM journal_secrets");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      const auto pk = public_key_of(s->blob(0));
      if (crypto::unwrap_journal_secret(i.kek_wrapping_key, pk, s->blob(1))) {
        openable.push_back(pk);
      }
    }
  }
  auto opens = [&](std::span<const std::uint8_t> recipient) {
    return std::any_of(openable.begin(), openable.end(), [&](const auto& pk) {
      return recipient.size() == pk.size() && std::equal(pk.begin(), pk.end(), recipient.begin());
    });
  };
  if (auto has = has_table(data, "key_journal"); !has) {
    return has.error();
  } else if (*has) {
    auto s = data.prepare("SELECT client_id, category, version, recipient FROM key_journal");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      if (!opens(s->blob(3))) continue;
      if (available.insert(key_name(s->blob(0), s->text_view(1), s->int64(2))).second) {
        ++out.journal_keys;
      }
    }
    auto r = data.prepare("SELECT public_key, snapshot FROM key_journal_recipient WHERE id = 1");
    if (!r) return r.error();
    auto row = r->step();
    if (!row) return row.error();
    if (*row) {
      out.journal_matches = opens(r->blob(0));
      out.journal_snapshot = r->text(1);
    }
  }

  // Clients erased in any of the four files stay erased: their fragments do not count.
  std::set<std::string> erased;
  for (sql::Db* db : {&data, &keys, &i.data, &i.keys}) {
    if (auto r = collect_tombstones(*db, erased); !r) return r.error();
  }
  auto s = data.prepare("SELECT f.client_id, f.category, f.key_version, c.tag FROM fragments f "
                        "JOIN clients c ON c.id = f.client_id");
  if (!s) return s.error();
  std::set<std::string> clients;
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    if (erased.contains(s->text(3))) continue;
    ++out.fragments;
    if (!available.contains(key_name(s->blob(0), s->text_view(1), s->int64(2)))) {
      ++out.unreadable_fragments;
      const auto c = s->blob(0);
      clients.emplace(c.begin(), c.end());
    }
  }
  out.unreadable_clients = clients.size();
  return out;
}

Result<KekVersion> Store::rotate_kek() {
  std::lock_guard lock(impl_->mutex);
  auto& i = *impl_;
  std::uint32_t next = 1;
  {
    auto s = i.keys.prepare("SELECT coalesce(max(version), 0) FROM keks");
    if (!s) return s.error();
    auto row = s->step();
    if (!row) return row.error();
    next = static_cast<std::uint32_t>(s->int64(0)) + 1;
  }
  auto fresh = crypto::KeyEncryptionKey::generate(KekVersion{next});
  auto wrapped_kek = crypto::wrap_kek(i.kek_wrapping_key, fresh);
  if (!wrapped_kek) return make_error_code(Errc::crypto_failure);

  sql::Transaction tx(i.keys);
  if (auto r = tx.begin(); !r) return r.error();
  {
    auto ins = i.keys.prepare("INSERT INTO keks(version, wrapped, created_at) VALUES(?, ?, ?)");
    if (!ins) return ins.error();
    if (auto r = ins->bind(1, std::int64_t{next})
                     .bind(2, wrapped_kek->blob)
                     .bind(3, to_db(i.now()))
                     .run();
        !r) {
      return r.error();
    }
  }
  // Rewrap in memory first (reading while updating the same index would revisit rows).
  struct Rewrapped {
    std::vector<std::uint8_t> client;
    std::string category;
    std::int64_t version;
    std::vector<std::uint8_t> blob;
  };
  std::vector<Rewrapped> rewrapped;
  {
    auto s =
        i.keys.prepare("SELECT client_id, category, version, kek_version, wrapped FROM data_keys "
                       "WHERE kek_version <> ?");
    if (!s) return s.error();
    s->bind(1, std::int64_t{next});
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto client = client_from_blob(s->blob(0));
      if (!client) return client.error();
      std::string category = s->text(1);
      const DataKeyVersion version{static_cast<std::uint32_t>(s->int64(2))};
      const KekVersion from{static_cast<std::uint32_t>(s->int64(3))};
      const auto blob = s->blob(4);
      auto old_kek = i.ring.find(from);
      if (!old_kek) return make_error_code(Errc::key_unavailable);
      auto nw = crypto::rewrap_data_key(**old_kek, fresh, {*client, category, version},
                                        crypto::WrappedDataKey{from, {blob.begin(), blob.end()}});
      if (!nw) return make_error_code(Errc::crypto_failure);
      rewrapped.push_back({{client->bytes.begin(), client->bytes.end()},
                           std::move(category),
                           std::int64_t{version.value},
                           std::move(nw->blob)});
    }
  }
  if (auto r = i.step("rotate_kek.rewrap"); !r) return r.error();
  for (const auto& k : rewrapped) {
    auto up = i.keys.prepare("UPDATE data_keys SET kek_version = ?, wrapped = ? "
                             "WHERE client_id = ? AND category = ? AND version = ?");
    if (!up) return up.error();
    if (auto r = up->bind(1, std::int64_t{next})
                     .bind(2, k.blob)
                     .bind(3, k.client)
                     .bind(4, k.category)
                     .bind(5, k.version)
                     .run();
        !r) {
      return r.error();
    }
  }
  {
    // Retiring destroys the wrapped old KEK (secure_delete overwrites the old cell).
    auto up = i.keys.prepare(
        "UPDATE keks SET wrapped = x'', retired_at = ? WHERE version <> ? AND retired_at IS NULL");
    if (!up) return up.error();
    if (auto r = up->bind(1, to_db(i.now())).bind(2, std::int64_t{next}).run(); !r) {
      return r.error();
    }
  }
  if (auto r = tx.commit(); !r) return r.error();
  // Cached keys were unwrapped under a KEK that no longer exists; drop them all (they refill
  // under the new one).
  i.forget_cached_keys();
  if (auto r = i.keys.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !r) return r.error();
  for (auto v : i.ring.versions())
    i.ring.retire(v);
  i.ring.add(std::move(fresh));
  return KekVersion{next};
}

std::vector<KekVersion> Store::kek_versions() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->ring.versions();
}

Result<std::size_t> Store::count_data_keys(KekVersion version) const {
  std::lock_guard lock(impl_->mutex);
  auto s = impl_->keys.prepare("SELECT count(*) FROM data_keys WHERE kek_version = ?");
  if (!s) return s.error();
  s->bind(1, std::int64_t{version.value});
  auto row = s->step();
  if (!row) return row.error();
  return static_cast<std::size_t>(s->int64(0));
}

const PseudonymKeys& Store::pseudonym_keys() const noexcept {
  return impl_->pseudonym_keys;
}

Records& Store::acquire() {
  impl_->mutex.lock();
  return *impl_->records;
}

void Store::release() noexcept {
  auto& i = *impl_;
  // What the unit started and did not commit ends here: a write is rolled back (nothing of it
  // stays), a read snapshot is let go.
  if (i.open == Impl::Open::write && i.data.in_transaction()) {
    static_cast<void>(i.data.run_cached("ROLLBACK"));
    i.forget_partners();  // a partner written inside it is gone again
  } else if (i.open == Impl::Open::read && i.data.in_transaction()) {
    static_cast<void>(i.data.run_cached("COMMIT"));
  }
  i.open = Impl::Open::none;
  if (i.key_batch && i.keys.in_transaction()) static_cast<void>(i.keys.run_cached("ROLLBACK"));
  i.key_batch = false;
  i.mutex.unlock();
}

Result<void> Store::bulk_write(const std::function<Result<void>()>& body) {
  auto& i = *impl_;
  {
    // The mutex guards the connection while the transaction starts; the units of work `body`
    // runs take it themselves (Storage::bulk_write: single user only).
    std::lock_guard lock(i.mutex);
    if (auto r = i.data.run_cached("BEGIN IMMEDIATE"); !r) return r;
  }
  // Every way out that is not a commit rolls back, so a failed load leaves nothing behind.
  auto rollback = [&] {
    std::lock_guard lock(i.mutex);
    if (i.data.in_transaction()) static_cast<void>(i.data.run_cached("ROLLBACK"));
    i.forget_partners();  // a partner added inside the body is gone again
  };
  Result<void> result;
  try {
    result = body();
  } catch (...) {
    rollback();
    throw;
  }
  if (!result) {
    rollback();
    return result;
  }
  std::lock_guard lock(i.mutex);
  i.forget_partners();
  if (auto r = i.data.run_cached("COMMIT"); !r) {
    if (i.data.in_transaction()) static_cast<void>(i.data.run_cached("ROLLBACK"));
    return r;
  }
  return {};
}

Result<void> Store::set_page_cache(std::size_t page_cache_mib) {
  constexpr std::size_t kMaxMib = 65536;
  if (page_cache_mib > kMaxMib) return make_error_code(Errc::invalid_argument);
  std::lock_guard lock(impl_->mutex);
  if (auto r = impl_->data.set_cache_size_kib(page_cache_mib * 1024); !r) return r;
  return impl_->keys.set_cache_size_kib(page_cache_mib * 1024);
}

DataKeyCacheStats Store::data_key_cache_stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->key_cache.stats();
}

}  // namespace sluis::store
