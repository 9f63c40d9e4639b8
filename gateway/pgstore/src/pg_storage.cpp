// PgStorage: connecting, the schema and its migrations, the session pool, the key store (KEKs,
// data keys, journal, shredding) and consent-document sealing on PostgreSQL.
#include "sluis/pgstore/pg_storage.hpp"

#include "pg_impl.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/key_journal.hpp"
#include "sluis/crypto/key_ring.hpp"
#include "sluis/crypto/pseudonym.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <thread>

namespace sluis::pgstore {

namespace {

using crypto::DataKeyVersion;
using crypto::KekVersion;

/// One forward migration: its version and the DDL that brings the schema from version - 1.
struct Migration {
  int version;
  const char* sql;
};

// Times are milliseconds since the epoch (BIGINT), ids and digests BYTEA, as in the SQLCipher
// engine's schema 8 (gateway/store/src/store.cpp), so the same rows mean the same things. What
// differs: consent documents are sealed (document_sealed), rows that were ordered by SQLite's
// rowid carry a BIGSERIAL seq, partner writes bump partner_generation (the nodes' partner-table
// caches), and the key store's tables (keks, data_keys, key_erasures) live beside the data.
// docs/store.md "PostgreSQL" and docs/threat-model.md "PostgreSQL at rest" say what each column
// holds. Version 2 is the audit log (sluis::pgaudit, docs/store.md "The audit log on
// PostgreSQL"): the sequence row, the sequenced events, the integrated tree and checkpoints.
constexpr std::array kMigrations{
    Migration{1, R"sql(
CREATE TABLE partners(
  id TEXT PRIMARY KEY, partner_type TEXT NOT NULL, display_name TEXT NOT NULL,
  created_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE SEQUENCE partner_generation_seq;
CREATE TABLE partner_generation(id INT PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
INSERT INTO partner_generation(id, value) VALUES(1, 0);
CREATE TABLE workers(
  partner_id TEXT NOT NULL REFERENCES partners(id), worker_id TEXT NOT NULL, role TEXT NOT NULL,
  active BOOLEAN NOT NULL, PRIMARY KEY(partner_id, worker_id));
CREATE TABLE clients(
  id BYTEA PRIMARY KEY, tag TEXT NOT NULL UNIQUE, anonymous BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL);
CREATE TABLE identifiers(
  digest BYTEA PRIMARY KEY,
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE);
CREATE INDEX identifiers_client ON identifiers(client_id);
CREATE TABLE care_relationships(
  partner_id TEXT NOT NULL REFERENCES partners(id),
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  pseudonym TEXT NOT NULL UNIQUE, since BIGINT NOT NULL, origin SMALLINT NOT NULL,
  PRIMARY KEY(partner_id, client_id));
CREATE INDEX care_relationships_client ON care_relationships(client_id);
CREATE INDEX care_relationships_caseload ON care_relationships(partner_id, since, pseudonym);
CREATE TABLE service_pseudonyms(
  digest BYTEA PRIMARY KEY,
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  service_id TEXT NOT NULL REFERENCES partners(id), created_at BIGINT NOT NULL,
  retired_at BIGINT);
CREATE INDEX service_pseudonyms_client ON service_pseudonyms(client_id);
CREATE TABLE card_events(
  seq BIGSERIAL PRIMARY KEY, client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  kind SMALLINT NOT NULL, first_service TEXT, second_service TEXT NOT NULL,
  consent_reference TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX card_events_client ON card_events(client_id);
CREATE TABLE pseudonym_aliases(
  pseudonym TEXT PRIMARY KEY, partner_id TEXT NOT NULL REFERENCES partners(id),
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE, since BIGINT NOT NULL);
CREATE INDEX pseudonym_aliases_client ON pseudonym_aliases(client_id);
CREATE TABLE fragments(
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL, id BYTEA NOT NULL UNIQUE,
  category TEXT NOT NULL, owner_partner TEXT NOT NULL REFERENCES partners(id),
  created_by_worker TEXT NOT NULL, created_at BIGINT NOT NULL, version BIGINT NOT NULL,
  supersedes BYTEA, superseded_by BYTEA, key_version BIGINT NOT NULL, fields BYTEA NOT NULL,
  PRIMARY KEY(client_id, seq));
CREATE TABLE consents(
  id TEXT PRIMARY KEY, seq BIGSERIAL UNIQUE,
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  recorded_by_partner TEXT NOT NULL, recorded_by_worker TEXT NOT NULL,
  recorded_at BIGINT NOT NULL, valid_from BIGINT NOT NULL, valid_until BIGINT NOT NULL,
  revoked_at BIGINT, revoked_by_partner TEXT, revoked_by_worker TEXT,
  document_sealed BYTEA NOT NULL);
CREATE INDEX consents_client ON consents(client_id, recorded_at, seq);
CREATE TABLE break_glass_grants(
  id TEXT PRIMARY KEY, seq BIGSERIAL UNIQUE,
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  partner_id TEXT NOT NULL, worker_id TEXT NOT NULL, categories TEXT NOT NULL,
  reason_sealed BYTEA NOT NULL, starts_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
  expiry_recorded BOOLEAN NOT NULL DEFAULT false);
CREATE INDEX break_glass_client ON break_glass_grants(client_id, expires_at);
CREATE INDEX break_glass_pending ON break_glass_grants(expiry_recorded, expires_at);
CREATE INDEX break_glass_partner ON break_glass_grants(partner_id);
CREATE TABLE break_glass_reviews(
  grant_id TEXT NOT NULL REFERENCES break_glass_grants(id) ON DELETE CASCADE,
  partner_id TEXT NOT NULL, worker_id TEXT NOT NULL, outcome TEXT NOT NULL,
  note_sealed BYTEA NOT NULL, reviewed_at BIGINT NOT NULL, seq BIGSERIAL UNIQUE,
  PRIMARY KEY(grant_id, partner_id));
CREATE TABLE caseload_labels(
  partner_id TEXT NOT NULL REFERENCES partners(id),
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  label_sealed BYTEA NOT NULL, set_at BIGINT NOT NULL,
  PRIMARY KEY(partner_id, client_id));
CREATE INDEX caseload_labels_client ON caseload_labels(client_id);
CREATE TABLE caseload_label_tokens(
  partner_id TEXT NOT NULL, token BYTEA NOT NULL,
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  PRIMARY KEY(partner_id, token, client_id));
CREATE INDEX caseload_label_tokens_client ON caseload_label_tokens(client_id, partner_id);
CREATE TABLE erasures(tag TEXT PRIMARY KEY, erased_at BIGINT NOT NULL, reason SMALLINT NOT NULL);
CREATE TABLE key_journal(
  seq BIGSERIAL PRIMARY KEY,
  client_id BYTEA NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  category TEXT NOT NULL, version BIGINT NOT NULL, recipient BYTEA NOT NULL,
  sealed BYTEA NOT NULL, UNIQUE(client_id, category, version));
CREATE TABLE key_journal_recipient(
  id INT PRIMARY KEY CHECK (id = 1), public_key BYTEA NOT NULL, snapshot TEXT NOT NULL,
  adopted_at BIGINT NOT NULL);
CREATE TABLE keks(
  version BIGINT PRIMARY KEY, wrapped BYTEA NOT NULL, created_at BIGINT NOT NULL,
  retired_at BIGINT);
CREATE TABLE data_keys(
  client_id BYTEA NOT NULL, client_tag TEXT NOT NULL, category TEXT NOT NULL,
  version BIGINT NOT NULL, kek_version BIGINT NOT NULL, wrapped BYTEA NOT NULL,
  PRIMARY KEY(client_id, category, version));
CREATE INDEX data_keys_tag ON data_keys(client_tag);
CREATE INDEX data_keys_kek ON data_keys(kek_version);
CREATE TABLE key_erasures(tag TEXT PRIMARY KEY, erased_at BIGINT NOT NULL);
)sql"},
    Migration{2, R"sql(
CREATE TABLE audit_meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE audit_sequence(id INT PRIMARY KEY CHECK (id = 1), next BIGINT NOT NULL);
INSERT INTO audit_sequence(id, next) VALUES(1, 0);
CREATE TABLE audit_event(
  leaf BIGINT PRIMARY KEY, time_ms BIGINT NOT NULL, partner TEXT NOT NULL, worker TEXT NOT NULL,
  action TEXT NOT NULL, client TEXT NOT NULL, decision TEXT NOT NULL,
  owner_partner TEXT NOT NULL, canonical BYTEA NOT NULL);
CREATE INDEX audit_event_client ON audit_event(client, leaf);
CREATE INDEX audit_event_partner ON audit_event(partner, leaf);
CREATE INDEX audit_event_owner ON audit_event(owner_partner, leaf);
CREATE TABLE audit_merkle_node(
  level INT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY(level, idx));
CREATE TABLE audit_tree(
  id INT PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, root BYTEA NOT NULL,
  integrated_at BIGINT NOT NULL);
INSERT INTO audit_tree(id, size, root, integrated_at) VALUES(1, 0, sha256(''::bytea), 0);
CREATE TABLE audit_checkpoint(size BIGINT PRIMARY KEY, issued_ms BIGINT NOT NULL, note TEXT NOT NULL);
)sql"},
    // 3 (2 is the audit log's): the generation of client data on the nodes — an erasure or a
    // link bumps it in its transaction, every request reads it with the partner generation,
    // and a node that sees it move drops its in-memory copies of client data (docs/store.md
    // "Several nodes").
    Migration{3, R"sql(
CREATE TABLE change_generations(name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO change_generations(name, value) VALUES('client_data', 0);
)sql"},
    // `sluisctl store migrate --to postgresql` (home_migration.cpp): which home is being moved
    // in (a keyed digest only its root key makes), and per table the last key copied, updated
    // in the transaction of each batch, so an interrupted move goes on where it stopped.
    Migration{4, R"sql(
CREATE TABLE store_migration(
  id INT PRIMARY KEY CHECK (id = 1), home TEXT NOT NULL, started_at BIGINT NOT NULL,
  finished_at BIGINT);
CREATE TABLE store_migration_tables(
  table_name TEXT PRIMARY KEY, last_key BYTEA, copied BIGINT NOT NULL, done BOOLEAN NOT NULL);
)sql"},
    // 6 (5 is the erasure ledger's): what the nodes share beyond the records — the rule pack in
    // force (its file's bytes, their SHA-256, who stored it, when, and the generation every
    // request reads) and the revoked certificate serials, whose generation row is bumped with
    // each addition (docs/store.md "Several nodes").
    Migration{6, R"sql(
CREATE TABLE rule_pack(
  id INT PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL, pack BYTEA NOT NULL,
  digest BYTEA NOT NULL CHECK (length(digest) = 32), loaded_by TEXT NOT NULL,
  loaded_at BIGINT NOT NULL);
CREATE TABLE revoked_serials(
  serial TEXT PRIMARY KEY, partner_id TEXT NOT NULL, revoked_at BIGINT NOT NULL);
INSERT INTO change_generations(name, value) VALUES('revoked_serials', 0);
)sql"},
    // 7: the KEKs leave the database for the ring file beside the root key (kek_ring.cpp moves
    // the keks table's rows there at open and empties it; the table stays as the inbox a home
    // migration copies into). What stays is each version's fingerprint (a keyed hash under the
    // KEK itself, crypto::kek_fingerprint) and when it was destroyed, so a node with another
    // ring is refused and every node's ring loses a destroyed version (docs/store.md "The KEK
    // ring and the erasure ledger").
    Migration{7, R"sql(
CREATE TABLE kek_versions(
  version BIGINT PRIMARY KEY, fingerprint BYTEA NOT NULL CHECK (length(fingerprint) = 32),
  created_at BIGINT NOT NULL, destroyed_at BIGINT);
)sql"},
};

/// The schema version from which change_generations exists.
constexpr int kGenerationsSchema = 3;
/// The schema version from which rule_pack and revoked_serials exist.
constexpr int kSharedSettingsSchema = 6;
/// The advisory lock the node that runs the once-only jobs (the break-the-glass expiry sweeper)
/// holds on its listener connection ("sluis" in ASCII, then 3; the audit integrator's is ...02).
constexpr const char* kSweeperLock = "SELECT pg_try_advisory_lock(x'736c756973000003'::bigint)";
/// The channel nodes LISTEN on (payload 'client_data': an erasure or a link committed;
/// 'rule_pack', 'revoked_serials': those changed).
constexpr const char* kListen = "LISTEN sluis_changes";

/// The advisory lock nodes take while migrating ("sluis" in ASCII, then 1).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(x'736c756973000001'::bigint)";

Result<int> migrate(pg::Conn& c, int limit, std::int64_t now_ms) {
  if (auto r = c.exec("BEGIN"); !r) return r.error();
  // Several nodes may start on one database at once: one migrates, the others wait and then
  // find the schema current.
  if (auto r = c.exec(kMigrationLock); !r) {
    static_cast<void>(c.exec("ROLLBACK"));
    return r.error();
  }
  if (auto r = c.exec("CREATE TABLE IF NOT EXISTS schema_version("
                      "version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)");
      !r) {
    static_cast<void>(c.exec("ROLLBACK"));
    return r.error();
  }
  auto fail = [&](boost::system::error_code ec) -> Result<int> {
    static_cast<void>(c.exec("ROLLBACK"));
    return ec;
  };
  auto v = c.query("SELECT coalesce(max(version), 0)::bigint FROM schema_version");
  if (!v) return fail(v.error());
  int current = static_cast<int>(v->int64(0, 0));
  if (current > limit) return fail(make_error_code(Errc::schema_too_new));
  for (const auto& m : kMigrations) {
    if (m.version <= current || m.version > limit) continue;
    if (auto r = c.exec(m.sql); !r) return fail(r.error());
    if (auto r = c.run("INSERT INTO schema_version(version, applied_at) VALUES($1, $2)",
                       pg::Params().int64(m.version).int64(now_ms));
        !r) {
      return fail(r.error());
    }
    current = m.version;
  }
  if (auto r = c.exec("COMMIT"); !r) return r.error();
  return current;
}

/// The first line of the password file, NUL-terminated, in guarded memory.
Result<crypto::SecretBuffer> read_password(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error_code(Errc::invalid_argument);
  crypto::PlainBytes text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto end = std::find(text.begin(), text.end(), std::uint8_t{'\n'});
  if (end != text.begin() && *(end - 1) == '\r') --end;
  const auto n = static_cast<std::size_t>(end - text.begin());
  if (n == 0 || std::find(text.begin(), end, std::uint8_t{0}) != end) {
    return make_error_code(Errc::invalid_argument);
  }
  crypto::SecretBuffer out(n + 1);
  std::copy(text.begin(), end, out.reveal_mut().begin());
  out.reveal_mut()[n] = 0;
  return out;
}

/// A stored public key (a wrong length reads as all zeros, which nothing is sealed to).
crypto::JournalPublicKey public_key_of(std::span<const std::uint8_t> blob) {
  crypto::JournalPublicKey pk{};
  if (blob.size() == pk.size()) std::copy(blob.begin(), blob.end(), pk.begin());
  return pk;
}

/// Fetches and unwraps data key client × category × version into `out`.
Result<void> load_data_key(pg::Conn& keys, PgStorage::Impl& i, const ClientId& client,
                           std::string_view category, DataKeyVersion version,
                           crypto::DataKey& out) {
  auto rows = keys.query("SELECT kek_version, wrapped FROM data_keys WHERE client_id = $1 AND "
                         "category = $2 AND version = $3",
                         pg::Params().bytes(client.view()).text(category).int64(version.value));
  if (!rows) return rows.error();
  if (rows->empty()) return make_error_code(Errc::key_unavailable);
  const KekVersion kek_version{static_cast<std::uint32_t>(rows->int64(0, 0))};
  std::shared_ptr<const crypto::KeyRing> hold;
  auto kek = i.kek_for(kek_version, hold);
  if (!kek) return kek.error();
  const crypto::WrappedDataKey wrapped{kek_version, rows->byte_vector(0, 1)};
  if (!crypto::unwrap_data_key_into(**kek, {client, category, version}, wrapped, out)) {
    return make_error_code(Errc::crypto_failure);
  }
  return {};
}

/// A consent id (32 hex characters) as the 16-byte id its sealed document is bound to.
Result<FragmentId> consent_context_id(std::string_view consent_id) {
  if (consent_id.size() != 32) return make_error_code(Errc::invalid_argument);
  auto bytes = crypto::from_hex(consent_id);
  if (!bytes || bytes->size() != 16) return make_error_code(Errc::invalid_argument);
  return FragmentId::from(std::span<const std::uint8_t, 16>(bytes->data(), 16));
}

/// The units of work the calling thread holds, innermost last: a unit inside bulk_write's body
/// (or nested in another unit) on the same thread takes the session already held.
thread_local std::vector<std::pair<const PgStorage::Impl*, Session*>> t_held;

}  // namespace

Result<ClientId> client_from(std::span<const std::uint8_t> b) {
  if (b.size() != 16) return make_error_code(Errc::storage_failure);
  return ClientId::from(std::span<const std::uint8_t, 16>(b.data(), 16));
}

Result<FragmentId> fragment_from(std::span<const std::uint8_t> b) {
  if (b.size() != 16) return make_error_code(Errc::storage_failure);
  return FragmentId::from(std::span<const std::uint8_t, 16>(b.data(), 16));
}

std::string PgStorage::Impl::tag_of(const ClientId& client) const {
  return crypto::audit_pseudonym(pseudonym_keys.audit_pseudonym, client);
}

Result<void> PgStorage::Impl::connect(pg::Conn& c, bool data_connection) {
  // The key-store connection's statements never wait on a unit's locks but on another node's
  // key insert at most, so the same lock_timeout serves both connections.
  static_cast<void>(data_connection);
  return pg::connect_node(c, options, password ? &*password : nullptr);
}

Result<std::unique_ptr<Session>> PgStorage::Impl::new_session() {
  auto s = std::make_unique<Session>(options.data_key_cache_size);
  if (auto r = connect(s->data, true); !r) return r.error();
  if (auto r = connect(s->keys, false); !r) return r.error();
  s->records = make_pg_records(*this, *s);
  return s;
}

void PgStorage::Impl::revive(Session& s) noexcept {
  // A connection the server closed while the session was idle is noticed here and opened
  // again; one lost during a unit failed that unit (Errc::unavailable) and is opened again when
  // the session is next taken. If the server is still away, this unit fails the same way.
  for (pg::Conn* c : {&s.data, &s.keys}) {
    if (!c->probe()) static_cast<void>(connect(*c, c == &s.data));
  }
  if (!s.data.ok() || !s.keys.ok()) s.key_cache.clear();
  s.open = Session::Open::none;
  s.key_batch = false;
}

Result<std::shared_ptr<const std::vector<Partner>>> PgStorage::Impl::partner_table(Session& s) {
  // Every request reads the partner table (Registry::admit) after the change it must see
  // committed: the generations it reads here are at least those of every change answered
  // before it began, on any node. Both in one statement of one row.
  static const std::string kBoth =
      "SELECT (SELECT value FROM partner_generation WHERE id = 1), "
      "(SELECT value FROM change_generations WHERE name = 'client_data')";
  static const std::string kPartnersOnly = "SELECT value FROM partner_generation WHERE id = 1";
  // Schema 6: the rule pack's and the revoked serials' generations in the same row.
  static const std::string kAll = kBoth +
                                  ", (SELECT generation FROM rule_pack WHERE id = 1), "
                                  "(SELECT value FROM change_generations WHERE name = "
                                  "'revoked_serials')";
  const bool both = schema_version >= kGenerationsSchema;
  const bool shared = schema_version >= kSharedSettingsSchema;
  auto gen = s.data.query(shared ? kAll : both ? kBoth : kPartnersOnly);
  if (!gen) return gen.error();
  if (gen->empty() || gen->is_null(0, 0)) return make_error_code(Errc::storage_failure);
  const std::int64_t generation = gen->int64(0, 0);
  if (both && !gen->is_null(0, 1)) note_client_data_generation(gen->int64(0, 1));
  if (shared) {
    std::optional<std::int64_t> pack;
    if (!gen->is_null(0, 2)) pack = gen->int64(0, 2);
    const std::int64_t serials = gen->is_null(0, 3) ? -1 : gen->int64(0, 3);
    if (auto r = note_shared_generations(s.data, pack, serials); !r) return r.error();
  }
  {
    std::lock_guard lock(partners_mutex);
    if (partners && partners_generation == generation) return partners;
  }
  auto rows = s.data.query(
      "SELECT id, partner_type, display_name, created_at, revoked_at FROM partners ORDER BY id");
  if (!rows) return rows.error();
  auto out = std::make_shared<std::vector<Partner>>();
  out->reserve(static_cast<std::size_t>(rows->size()));
  for (int i = 0; i < rows->size(); ++i) {
    Partner p{rows->text(i, 0), rows->text(i, 1), rows->text(i, 2), from_db(rows->int64(i, 3)),
              std::nullopt};
    if (!rows->is_null(i, 4)) p.revoked_at = from_db(rows->int64(i, 4));
    out->push_back(std::move(p));
  }
  std::shared_ptr<const std::vector<Partner>> table = std::move(out);
  std::lock_guard lock(partners_mutex);
  partners = table;
  partners_generation = generation;
  return table;
}

void PgStorage::Impl::note_client_data_generation(std::int64_t generation) noexcept {
  std::int64_t seen = client_data_generation.load();
  while (seen < generation) {
    if (client_data_generation.compare_exchange_weak(seen, generation)) {
      // The read at open only learns where the count stands; later moves are changes another
      // node (or this one) committed since.
      if (seen >= 0) drop_client_copies();
      return;
    }
  }
}

void PgStorage::Impl::drop_client_copies() noexcept {
  {
    std::lock_guard lock(pool_mutex);
    everywhere_signal.clear_everywhere();  // held sessions: before their next look-up
    for (Session* idle_session : idle)
      idle_session->key_cache.clear();
  }
  std::lock_guard lock(watchers_mutex);
  for (const auto& watcher : watchers)
    watcher();
}

namespace {

/// The stored rule pack, read on `c` (nullopt: none stored yet).
Result<std::optional<StoredRulePack>> read_rule_pack(pg::Conn& c) {
  auto rows = c.query(
      "SELECT generation, pack, digest, loaded_by, loaded_at FROM rule_pack WHERE id = 1");
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<StoredRulePack>{};
  const auto bytes = rows->bytes(0, 1);
  StoredRulePack p{std::string(bytes.begin(), bytes.end()), rows->byte_vector(0, 2),
                   rows->text(0, 3), from_db(rows->int64(0, 4)), rows->int64(0, 0)};
  return std::optional<StoredRulePack>{std::move(p)};
}

/// Every stored revoked serial, read on `c`.
Result<std::vector<std::string>> read_serials(pg::Conn& c) {
  auto rows = c.query("SELECT serial FROM revoked_serials ORDER BY serial");
  if (!rows) return rows.error();
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(rows->size()));
  for (int i = 0; i < rows->size(); ++i)
    out.push_back(rows->text(i, 0));
  return out;
}

/// The revoked serials' generation, read on `c`.
Result<std::int64_t> read_serials_generation(pg::Conn& c) {
  auto rows = c.query("SELECT value FROM change_generations WHERE name = 'revoked_serials'");
  if (!rows) return rows.error();
  if (rows->empty()) return make_error_code(Errc::storage_failure);
  return rows->int64(0, 0);
}

/// Inserts `serials` of `partner_id` and moves their generation, on `c` (in its transaction).
Result<void> insert_serials(pg::Conn& c, const std::vector<std::string>& serials,
                            std::string_view partner_id, std::int64_t now_ms) {
  bool added = false;
  for (const auto& serial : serials) {
    auto r = c.query("INSERT INTO revoked_serials(serial, partner_id, revoked_at) "
                     "VALUES($1, $2, $3) ON CONFLICT (serial) DO NOTHING",
                     pg::Params().text(serial).text(partner_id).int64(now_ms));
    if (!r) return r.error();
    added = added || r->affected() == 1;
  }
  // Only a serial no node had moves the generation: nodes starting together with the same
  // file (or an empty one) do not write the generation row, so they do not abort each other.
  if (!added) return {};
  if (auto r = c.run(
          "UPDATE change_generations SET value = value + 1 WHERE name = 'revoked_serials'");
      !r) {
    return r;
  }
  return c.run("SELECT pg_notify('sluis_changes', 'revoked_serials')");
}

}  // namespace

Result<void> add_revoked_serial_in(const PgStorage::Impl& i, pg::Conn& c, std::string_view serial,
                                   std::string_view partner_id, Instant at) {
  if (i.schema_version < kSharedSettingsSchema) return {};
  return insert_serials(c, {std::string(serial)}, partner_id, to_db(at));
}

Result<void> PgStorage::Impl::note_shared_generations(pg::Conn& c,
                                                      std::optional<std::int64_t> rule_pack,
                                                      std::int64_t serials) {
  std::lock_guard lock(shared_mutex);
  if (rule_pack && *rule_pack > rule_pack_applied && !rule_pack_watchers.empty()) {
    auto pack = read_rule_pack(c);
    if (!pack) return pack.error();
    if (*pack) {
      for (const auto& watcher : rule_pack_watchers)
        watcher(**pack);
      rule_pack_applied = std::max(rule_pack_applied, (*pack)->generation);
    }
  }
  if (serials > serials_applied && !serial_watchers.empty()) {
    // What is read here is at least what `serials` counted: serials are only ever added.
    auto list = read_serials(c);
    if (!list) return list.error();
    for (const auto& watcher : serial_watchers)
      watcher(*list);
    serials_applied = serials;
  }
  return {};
}

void PgStorage::Impl::listen_for_changes(const std::stop_token& stop) noexcept {
  // Two jobs on one connection of its own: LISTEN sluis_changes (listen_for_changes), and on
  // schema 6 a poll twice a second of the shared generations — so the transport's revocation
  // list is refreshed within a second even when a notification is lost — which also takes the
  // once-only jobs' advisory lock when no node holds it.
  static const std::string kSharedGenerations =
      "SELECT (SELECT generation FROM rule_pack WHERE id = 1), "
      "(SELECT value FROM change_generations WHERE name = 'revoked_serials')";
  constexpr auto kPollEvery = std::chrono::milliseconds(500);
  const bool shared = schema_version >= kSharedSettingsSchema;
  pg::Conn c;
  bool listened_before = false;
  auto last_poll = std::chrono::steady_clock::now() - kPollEvery;
  while (!stop.stop_requested()) {
    if (!c.ok()) {
      once_only_lock.store(false);  // the lock went with the session that held it
      // Its own name in pg_stat_activity ("sluisd-listener"), so that it is told apart from the
      // sessions.
      const std::string name = options.application_name + "-listener";
      if (!connect(c, false) ||
          !c.run("SELECT set_config('application_name', $1, false)", pg::Params().text(name)) ||
          (options.listen_for_changes && !c.exec(kListen))) {
        // The database is away: try again in a second (in steps, so a stop is not held up).
        for (int i = 0; i < 10 && !stop.stop_requested(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        continue;
      }
      // Notifications sent while this node was not listening are lost: drop everything.
      if (listened_before && options.listen_for_changes) drop_client_copies();
      listened_before = true;
    }
    if (shared && std::chrono::steady_clock::now() - last_poll >= kPollEvery) {
      last_poll = std::chrono::steady_clock::now();
      if (auto g = c.query(kSharedGenerations); g && !g->empty()) {
        std::optional<std::int64_t> pack;
        if (!g->is_null(0, 0)) pack = g->int64(0, 0);
        static_cast<void>(note_shared_generations(c, pack, g->is_null(0, 1) ? -1 : g->int64(0, 1)));
      }
      reload_ring_if_changed();  // sluisctl or another node rotated or destroyed a version
      if (!once_only_lock.load()) {
        if (auto l = c.query(kSweeperLock); l && !l->empty() && l->boolean(0, 0)) {
          once_only_lock.store(true);
        }
      }
    }
    auto notes = c.wait_notifications(options.listen_for_changes ? 200 : 100);
    if (!notes) continue;  // lost: reconnect above
    if (std::any_of(notes->begin(), notes->end(),
                    [](const std::string& n) { return n == "client_data"; })) {
      drop_client_copies();
    }
    if (std::any_of(notes->begin(), notes->end(),
                    [](const std::string& n) { return n == "rule_pack" || n == "revoked_serials"; })) {
      last_poll = std::chrono::steady_clock::now() - kPollEvery;  // read them now
    }
  }
}

Result<void> PgStorage::Impl::load_keks(pg::Conn& c) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto rows = c.query("SELECT version, wrapped FROM keks WHERE retired_at IS NULL");
    if (!rows) return rows.error();
    if (!rows->empty()) {
      crypto::KeyRing fresh;
      for (int i = 0; i < rows->size(); ++i) {
        crypto::WrappedKek wrapped{KekVersion{static_cast<std::uint32_t>(rows->int64(i, 0))},
                                   rows->byte_vector(i, 1)};
        auto kek = crypto::unwrap_kek(kek_wrapping_key, wrapped);
        if (!kek) return make_error_code(Errc::crypto_failure);
        fresh.add(std::move(*kek));
      }
      std::lock_guard lock(ring_mutex);
      ring = std::make_shared<const crypto::KeyRing>(std::move(fresh));
      return {};
    }
    // A new database: KEK 1. Another node opening at the same moment may win the insert; then
    // its KEK is the one read back.
    auto kek = crypto::KeyEncryptionKey::generate(KekVersion{1});
    auto wrapped = crypto::wrap_kek(kek_wrapping_key, kek);
    if (!wrapped) return make_error_code(Errc::crypto_failure);
    if (auto r = c.run("INSERT INTO keks(version, wrapped, created_at) VALUES(1, $1, $2) "
                       "ON CONFLICT (version) DO NOTHING",
                       pg::Params().bytes(wrapped->blob).int64(to_db(now())));
        !r) {
      return r;
    }
  }
  return make_error_code(Errc::storage_failure);
}

Result<std::pair<DataKeyVersion, crypto::DataKey>>
PgStorage::Impl::data_key_for_write(Session& s, const ClientId& client, std::string_view category) {
  static const std::string kCurrent =
      "SELECT version, kek_version, wrapped FROM data_keys WHERE client_id = $1 AND "
      "category = $2 ORDER BY version DESC LIMIT 1";
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto rows = s.keys.query(kCurrent, pg::Params().bytes(client.view()).text(category));
    if (!rows) return rows.error();
    if (!rows->empty()) {
      const DataKeyVersion version{static_cast<std::uint32_t>(rows->int64(0, 0))};
      const KekVersion kek_version{static_cast<std::uint32_t>(rows->int64(0, 1))};
      std::shared_ptr<const crypto::KeyRing> hold;
      auto kek = kek_for(kek_version, hold);
      if (!kek) return kek.error();
      crypto::WrappedDataKey wrapped{kek_version, rows->byte_vector(0, 2)};
      auto key = crypto::unwrap_data_key(**kek, {client, category, version}, wrapped);
      if (!key) return make_error_code(Errc::crypto_failure);
      return std::pair{version, std::move(*key)};
    }
    auto current = current_kek_version(s.keys);
    if (!current) return current.error();
    std::shared_ptr<const crypto::KeyRing> hold;
    auto kek = kek_for(*current, hold);
    if (!kek) return kek.error();
    const DataKeyVersion version{1};
    auto key = crypto::generate_data_key();
    auto wrapped = crypto::wrap_data_key(**kek, {client, category, version}, key);
    if (!wrapped) return make_error_code(Errc::crypto_failure);
    // Outside the unit's transaction (this connection autocommits unless a key batch is open):
    // a key without data is harmless, data without its key is lost. Another node creating the
    // same key at the same moment wins or loses the insert; the loser reads the winner's.
    auto ins = s.keys.query(
        "INSERT INTO data_keys(client_id, client_tag, category, version, kek_version, wrapped) "
        "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        pg::Params()
            .bytes(client.view())
            .text(tag_of(client))
            .text(category)
            .int64(version.value)
            .int64(wrapped->kek_version.value)
            .bytes(wrapped->blob));
    if (!ins) return ins.error();
    if (ins->affected() == 1) return std::pair{version, std::move(key)};
  }
  return make_error_code(Errc::busy);
}

Result<crypto::DataKey> PgStorage::Impl::data_key_for_read(Session& s, const ClientId& client,
                                                           std::string_view category,
                                                           DataKeyVersion version) {
  crypto::DataKey key;
  if (auto r = load_data_key(s.keys, *this, client, category, version, key); !r) return r.error();
  return key;
}

Result<const crypto::DataKey*> PgStorage::Impl::cached_data_key(Session& s, const ClientId& client,
                                                                std::string_view category,
                                                                DataKeyVersion version) {
  return s.key_cache.get(client, category, version, [&](crypto::DataKey& out) {
    return load_data_key(s.keys, *this, client, category, version, out);
  });
}

Result<void> PgStorage::Impl::journal_key(Session& s, const ClientId& client,
                                          std::string_view category, DataKeyVersion version,
                                          const crypto::DataKey* known) {
  // As the SQLCipher engine (docs/store.md "Key journal"): entries exist only once a key-store
  // snapshot named a recipient. This engine takes no key-store snapshots (its key tables are in
  // the database, backed up with it), so no recipient row is written by it; a database migrated
  // from a SQLCipher home that had one keeps journalling to it.
  auto rec = s.data.query("SELECT public_key FROM key_journal_recipient WHERE id = 1");
  if (!rec) return rec.error();
  if (rec->empty()) return {};
  const auto recipient = public_key_of(rec->bytes(0, 0));
  auto had = s.data.query(
      "SELECT recipient FROM key_journal WHERE client_id = $1 AND category = $2 AND version = $3",
      pg::Params().bytes(client.view()).text(category).int64(version.value));
  if (!had) return had.error();
  if (!had->empty()) {
    const auto b = had->bytes(0, 0);
    if (b.size() == recipient.size() && std::equal(b.begin(), b.end(), recipient.begin())) {
      return {};
    }
  }
  std::optional<crypto::DataKey> loaded;
  if (known == nullptr) {
    auto k = data_key_for_read(s, client, category, version);
    if (!k) return k.error();
    loaded.emplace(std::move(*k));
    known = &*loaded;
  }
  auto sealed = crypto::seal_journal_entry(recipient, {client, category, version}, *known);
  if (!sealed) return make_error_code(Errc::crypto_failure);
  return s.data.run(
      "INSERT INTO key_journal(client_id, category, version, recipient, sealed) "
      "VALUES($1, $2, $3, $4, $5) ON CONFLICT (client_id, category, version) DO UPDATE SET "
      "recipient = excluded.recipient, sealed = excluded.sealed",
      pg::Params()
          .bytes(client.view())
          .text(category)
          .int64(version.value)
          .bytes(std::span<const std::uint8_t>(recipient))
          .bytes(*sealed));
}

Result<void> PgStorage::Impl::shred_keys(Session& s, std::string_view tag) {
  // First, whatever follows: a cached copy must not outlive the wrapped key it came from (every
  // cache of this process; another node's cache holds keys whose data the erasure deleted).
  s.key_cache.clear_everywhere();
  // The tombstone leaves the database's reach before the erasure is answered: a restore of any
  // dump re-applies it at the next open (docs/store.md "The KEK ring and the erasure ledger").
  if (auto r = ledger_erasure(s, tag); !r) return r;
  auto fail = [&](boost::system::error_code ec) -> Result<void> {
    if (!s.key_batch) static_cast<void>(s.keys.exec("ROLLBACK"));
    return ec;
  };
  if (!s.key_batch) {
    if (auto r = s.keys.exec("BEGIN"); !r) return r;
  }
  if (auto r = s.keys.run("INSERT INTO key_erasures(tag, erased_at) VALUES($1, $2) "
                          "ON CONFLICT (tag) DO NOTHING",
                          pg::Params().text(tag).int64(to_db(now())));
      !r) {
    return fail(r.error());
  }
  if (auto r = s.keys.run("DELETE FROM data_keys WHERE client_tag = $1", pg::Params().text(tag));
      !r) {
    return fail(r.error());
  }
  if (s.key_batch) return {};
  return s.keys.exec("COMMIT");
}

Result<std::vector<std::uint8_t>> PgStorage::Impl::seal_document(Session& s,
                                                                 const ClientId& client,
                                                                 std::string_view consent_id,
                                                                 std::string_view document) {
  auto id = consent_context_id(consent_id);
  if (!id) return id.error();
  auto key = data_key_for_write(s, client, kConsentDocumentCategory);
  if (!key) return key.error();
  const crypto::FieldContext ctx{*id, kConsentDocumentField, kConsentDocumentCategory, client,
                                 key->first};
  auto sealed = crypto::seal_field(
      key->second, ctx,
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(document.data()),
                                    document.size()));
  if (!sealed) return make_error_code(Errc::invalid_argument);
  return std::move(*sealed);
}

Result<std::string> PgStorage::Impl::open_document(Session& s, const ClientId& client,
                                                   std::string_view consent_id,
                                                   std::span<const std::uint8_t> sealed) {
  auto id = consent_context_id(consent_id);
  if (!id) return make_error_code(Errc::storage_failure);  // not written by this engine
  auto version = crypto::sealed_field_key_version(sealed);
  if (!version) return make_error_code(Errc::crypto_failure);
  auto key = cached_data_key(s, client, kConsentDocumentCategory, *version);
  if (!key) return key.error();
  const crypto::FieldContext ctx{*id, kConsentDocumentField, kConsentDocumentCategory, client,
                                 *version};
  auto plain = crypto::open_field(**key, ctx, sealed);
  if (!plain) return make_error_code(Errc::crypto_failure);
  return std::string(plain->begin(), plain->end());
}

// --- the public libpq helpers (sluis/pgstore/pg.hpp) ---

namespace pg {

Result<crypto::SecretBuffer> read_password_file(const std::filesystem::path& path) {
  return read_password(path);
}

Result<int> migrate_schema(Conn& c, int limit, std::int64_t now_ms) {
  return migrate(c, limit < 0 ? PgStorage::kSchemaVersion : limit, now_ms);
}

Result<void> connect_node(Conn& c, const PgOptions& options, const crypto::SecretBuffer* password) {
  const std::string timeout = std::to_string(std::max(options.connect_timeout_s, 1));
  const std::string root_cert = options.sslrootcert.string();
  std::vector<std::pair<const char*, const char*>> kw{{"dbname", options.conninfo.c_str()}};
  if (!options.sslmode.empty()) kw.emplace_back("sslmode", options.sslmode.c_str());
  if (!root_cert.empty()) kw.emplace_back("sslrootcert", root_cert.c_str());
  // libpq copies the password into the connection (kept for reconnects, wiped by libpq when
  // the connection is freed); our copy stays in guarded memory.
  if (password != nullptr) {
    kw.emplace_back("password", reinterpret_cast<const char*>(password->reveal().data()));
  }
  kw.emplace_back("connect_timeout", timeout.c_str());
  kw.emplace_back("application_name", options.application_name.c_str());
  // Times and sizes are sent as binary values; the server must not reinterpret text.
  kw.emplace_back("client_encoding", "UTF8");
  if (auto r = c.connect(kw); !r) return r;
  // A lock another session holds is waited for busy_timeout at most, then Errc::busy (as
  // SQLite's busy timeout).
  const std::string lock_timeout =
      "SET lock_timeout = " +
      std::to_string(std::max<std::int64_t>(options.busy_timeout.count(), 1));
  return c.exec(lock_timeout.c_str());
}

}  // namespace pg

// --- PgStorage ---

PgStorage::PgStorage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgStorage::~PgStorage() = default;

Result<std::unique_ptr<PgStorage>> PgStorage::open(PgOptions options, const crypto::RootKey& root,
                                                   std::string* refusal) {
  if (options.conninfo.empty()) return make_error_code(Errc::invalid_argument);
  if (options.kek_ring_file.empty() || options.erasure_ledger_file.empty()) {
    if (refusal != nullptr) {
      *refusal = "the PostgreSQL engine needs its KEK ring file and its erasure ledger named "
                 "(beside the root key: [store] kek_ring and erasure_ledger)";
    }
    return make_error_code(Errc::invalid_argument);
  }
  if (!options.clock) {
    options.clock = [] {
      return std::chrono::time_point_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now());
    };
  }
  if (options.schema_version_limit < 0) options.schema_version_limit = kSchemaVersion;
  options.pool_size = std::max<std::size_t>(options.pool_size, 1);
  auto impl = std::unique_ptr<Impl>(new Impl{
      std::move(options),
      0,
      store::PseudonymKeys{
          crypto::derive_subkey(root, crypto::KeyPurpose::identifier_index),
          crypto::derive_subkey(root, crypto::KeyPurpose::partner_pseudonym),
          crypto::derive_subkey(root, crypto::KeyPurpose::audit_pseudonym),
          crypto::derive_subkey(root, crypto::KeyPurpose::service_pseudonym_index),
          crypto::derive_subkey(root, crypto::KeyPurpose::caseload_label_index)},
      crypto::derive_subkey(root, crypto::KeyPurpose::kek_wrapping),
      std::nullopt,
      {},
      {},
      {},
      {},
      {},
      0,
      {},
      -1,
      {}});
  auto& i = *impl;
  i.ledger_key = crypto::derive_subkey(root, crypto::kErasureLedgerPurpose);
  if (!i.options.password_file.empty()) {
    auto pw = read_password(i.options.password_file);
    if (!pw) return pw.error();
    i.password.emplace(std::move(*pw));
  }
  auto first = i.new_session();
  if (!first) return first.error();
  auto v = migrate((*first)->data, i.options.schema_version_limit, to_db(i.now()));
  if (!v) return v.error();
  i.schema_version = *v;
  // The ring first (the keks rows of an older schema move into it), then every erasure the
  // ledger or the database knows (a restored old dump is erased again here, before anything
  // reads it), then whether the ring opens every data key left.
  if (i.schema_version >= kRingFileSchema) {
    if (auto r = i.open_ring((*first)->keys, refusal); !r) return r.error();
  } else if (auto r = i.load_keks((*first)->keys); !r) {
    return r.error();
  }
  if (auto r = i.reapply_erasures((*first)->data, refusal); !r) return r.error();
  if (auto r = i.check_ring_covers((*first)->keys, refusal); !r) return r.error();
  if (i.schema_version >= kGenerationsSchema) {
    auto g = (*first)->data.query("SELECT value FROM change_generations WHERE name = 'client_data'");
    if (!g) return g.error();
    if (!g->empty()) i.note_client_data_generation(g->int64(0, 0));
  }
  i.idle.push_back(first->get());
  i.sessions.push_back(std::move(*first));
  i.opened = 1;
  if ((i.schema_version >= kGenerationsSchema && i.options.listen_for_changes) ||
      i.schema_version >= kSharedSettingsSchema) {
    i.listener = std::jthread([&i](std::stop_token stop) { i.listen_for_changes(stop); });
  }
  return std::unique_ptr<PgStorage>(new PgStorage(std::move(impl)));
}

int PgStorage::schema_version() const {
  return impl_->schema_version;
}

const store::PseudonymKeys& PgStorage::pseudonym_keys() const noexcept {
  return impl_->pseudonym_keys;
}

void PgStorage::watch_dropped_clients(std::function<void()> drop) {
  std::lock_guard lock(impl_->watchers_mutex);
  impl_->watchers.push_back(std::move(drop));
}

// --- what the nodes share beyond the records ---

namespace {

/// Runs `body` on a session of its own in one SERIALIZABLE transaction, again (a few times,
/// after a short pause) when another node's transaction aborted it (Errc::busy): nodes starting
/// together seed the same rows, and an operator act must not fail because another node wrote.
template <typename Body>
Result<void> in_own_transaction(PgStorage::Impl& i, Session& s, Body&& body) {
  if (i.schema_version < kSharedSettingsSchema) return make_error_code(Errc::invalid_argument);
  constexpr int kAttempts = 5;
  Result<void> outcome;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
    outcome = [&]() -> Result<void> {
      if (auto r = s.data.exec("BEGIN ISOLATION LEVEL SERIALIZABLE"); !r) return r;
      if (auto r = body(); !r) {
        static_cast<void>(s.data.exec("ROLLBACK"));
        return r;
      }
      if (auto r = s.data.exec("COMMIT"); !r) {
        if (s.data.in_transaction()) static_cast<void>(s.data.exec("ROLLBACK"));
        return r;
      }
      return {};
    }();
    if (outcome || outcome.error() != make_error_code(Errc::busy)) return outcome;
  }
  return outcome;
}

/// Stores `text` as the rule pack, moving its generation (the row's, from 1).
Result<void> write_rule_pack(PgStorage::Impl& i, pg::Conn& c, std::string_view text,
                             std::string_view loaded_by) {
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()),
                                            text.size());
  if (auto r = c.run("INSERT INTO rule_pack(id, generation, pack, digest, loaded_by, loaded_at) "
                     "VALUES(1, 1, $1, sha256($1), $2, $3) ON CONFLICT (id) DO UPDATE SET "
                     "generation = rule_pack.generation + 1, pack = excluded.pack, "
                     "digest = excluded.digest, loaded_by = excluded.loaded_by, "
                     "loaded_at = excluded.loaded_at",
                     pg::Params().bytes(bytes).text(loaded_by).int64(to_db(i.now())));
      !r) {
    return r;
  }
  return c.run("SELECT pg_notify('sluis_changes', 'rule_pack')");
}

}  // namespace

Result<StoredRulePack> PgStorage::store_rule_pack(std::string_view text,
                                                  std::string_view loaded_by) {
  auto& i = *impl_;
  std::optional<StoredRulePack> stored;
  {
    store::UnitOfWork hold(*this);
    Session& s = *t_held.back().second;
    auto r = in_own_transaction(i, s, [&]() -> Result<void> {
      if (auto w = write_rule_pack(i, s.data, text, loaded_by); !w) return w;
      auto p = read_rule_pack(s.data);
      if (!p) return p.error();
      if (!*p) return make_error_code(Errc::storage_failure);
      stored = std::move(**p);
      return {};
    });
    if (!r) return r.error();
  }
  // This node's watchers have it before the operator reads "in force".
  std::lock_guard lock(i.shared_mutex);
  if (stored->generation > i.rule_pack_applied) {
    for (const auto& watcher : i.rule_pack_watchers)
      watcher(*stored);
    i.rule_pack_applied = stored->generation;
  }
  return std::move(*stored);
}

Result<StoredRulePack> PgStorage::seed_rule_pack(std::string_view text,
                                                 std::string_view loaded_by) {
  auto& i = *impl_;
  store::UnitOfWork hold(*this);
  Session& s = *t_held.back().second;
  std::optional<StoredRulePack> stored;
  auto r = in_own_transaction(i, s, [&]() -> Result<void> {
    auto p = read_rule_pack(s.data);
    if (!p) return p.error();
    if (!*p) {
      if (auto w = write_rule_pack(i, s.data, text, loaded_by); !w) return w;
      p = read_rule_pack(s.data);
      if (!p) return p.error();
      if (!*p) return make_error_code(Errc::storage_failure);
    }
    stored = std::move(**p);
    return {};
  });
  if (!r) return r.error();
  return std::move(*stored);
}

void PgStorage::watch_rule_pack(std::function<void(const StoredRulePack&)> apply,
                                std::int64_t known_generation) {
  std::lock_guard lock(impl_->shared_mutex);
  impl_->rule_pack_watchers.push_back(std::move(apply));
  impl_->rule_pack_applied = std::max(impl_->rule_pack_applied, known_generation);
}

Result<void> PgStorage::add_revoked_serials(const std::vector<std::string>& serials,
                                            std::string_view partner_id) {
  auto& i = *impl_;
  store::UnitOfWork hold(*this);
  Session& s = *t_held.back().second;
  return in_own_transaction(i, s, [&] { return insert_serials(s.data, serials, partner_id,
                                                              to_db(i.now())); });
}

Result<std::vector<std::string>> PgStorage::revoked_serials() {
  if (impl_->schema_version < kSharedSettingsSchema) {
    return make_error_code(Errc::invalid_argument);
  }
  store::UnitOfWork hold(*this);
  return read_serials(t_held.back().second->data);
}

Result<void> PgStorage::watch_revoked_serials(
    std::function<void(const std::vector<std::string>&)> apply) {
  auto& i = *impl_;
  if (i.schema_version < kSharedSettingsSchema) return make_error_code(Errc::invalid_argument);
  store::UnitOfWork hold(*this);
  pg::Conn& c = t_held.back().second->data;
  std::lock_guard lock(i.shared_mutex);
  // The generation first: the serials read after it hold at least what it counts.
  auto generation = read_serials_generation(c);
  if (!generation) return generation.error();
  auto list = read_serials(c);
  if (!list) return list.error();
  apply(*list);
  i.serial_watchers.push_back(std::move(apply));
  i.serials_applied = std::max(i.serials_applied, *generation);
  return {};
}

void PgStorage::stop_watching() noexcept {
  std::lock_guard lock(impl_->shared_mutex);
  impl_->rule_pack_watchers.clear();
  impl_->serial_watchers.clear();
}

bool PgStorage::holds_once_only_lock() const noexcept {
  return impl_->once_only_lock.load();
}

store::Records& PgStorage::acquire() {
  auto& i = *impl_;
  for (auto it = t_held.rbegin(); it != t_held.rend(); ++it) {
    if (it->first == &i) {  // bulk_write's body (or a nested unit): the same session
      Session* held = it->second;
      t_held.emplace_back(&i, held);
      return *held->records;
    }
  }
  Session* s = nullptr;
  {
    std::unique_lock lock(i.pool_mutex);
    for (;;) {
      if (!i.idle.empty()) {
        s = i.idle.back();
        i.idle.pop_back();
        break;
      }
      if (i.opened < i.options.pool_size) {
        ++i.opened;
        lock.unlock();
        auto fresh = i.new_session();
        lock.lock();
        if (fresh) {
          s = fresh->get();
          i.sessions.push_back(std::move(*fresh));
          break;
        }
        // The database is away: reuse a session of the pool (its unit fails with unavailable
        // and a later one reconnects), or wait for one to come back.
        --i.opened;
        if (!i.sessions.empty()) {
          i.pool_free.wait(lock, [&] { return !i.idle.empty(); });
          continue;
        }
        // Not even one session: keep a dead one so the unit gets its clear error.
        auto dead = std::make_unique<Session>(i.options.data_key_cache_size);
        dead->records = make_pg_records(i, *dead);
        s = dead.get();
        i.sessions.push_back(std::move(dead));
        ++i.opened;
        break;
      }
      i.pool_free.wait(lock, [&] { return !i.idle.empty(); });
    }
  }
  i.revive(*s);
  t_held.emplace_back(&i, s);
  return *s->records;
}

void PgStorage::release() noexcept {
  auto& i = *impl_;
  Session* s = nullptr;
  for (auto it = t_held.rbegin(); it != t_held.rend(); ++it) {
    if (it->first == &i) {
      s = it->second;
      t_held.erase(std::next(it).base());
      break;
    }
  }
  if (s == nullptr) return;
  // What the unit started and did not commit ends here: a write is rolled back, a read
  // snapshot let go.
  if (s->open != Session::Open::none && s->data.in_transaction()) {
    static_cast<void>(s->data.exec("ROLLBACK"));
  }
  s->open = Session::Open::none;
  const bool still_held = std::any_of(t_held.begin(), t_held.end(),
                                      [&](const auto& h) { return h.first == &i && h.second == s; });
  if (still_held) return;
  if (s->key_batch && s->keys.in_transaction()) static_cast<void>(s->keys.exec("ROLLBACK"));
  s->key_batch = false;
  if (s->data.in_transaction()) static_cast<void>(s->data.exec("ROLLBACK"));
  {
    std::lock_guard lock(i.pool_mutex);
    i.idle.push_back(s);
  }
  i.pool_free.notify_one();
}

Result<void> PgStorage::bulk_write(const std::function<Result<void>()>& body) {
  // The body's units run on this thread and take the session held here (acquire), so they
  // join this one transaction.
  store::UnitOfWork hold(*this);
  Session* s = t_held.back().second;
  if (auto r = s->data.exec("BEGIN ISOLATION LEVEL SERIALIZABLE"); !r) return r;
  Result<void> result;
  try {
    result = body();
  } catch (...) {
    static_cast<void>(s->data.exec("ROLLBACK"));
    throw;
  }
  if (!result) {
    static_cast<void>(s->data.exec("ROLLBACK"));
    return result;
  }
  if (auto r = s->data.exec("COMMIT"); !r) {
    if (s->data.in_transaction()) static_cast<void>(s->data.exec("ROLLBACK"));
    return r;
  }
  return {};
}

}  // namespace sluis::pgstore
