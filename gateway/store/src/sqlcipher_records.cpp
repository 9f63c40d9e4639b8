// The SQLCipher implementations of the repository interfaces: every SQL statement the domain's
// operations need, and nothing of their rules.
#include "sluis/store/sealed_fields.hpp"
#include "store_impl.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace sluis::store {

namespace {

using Impl = Store::Impl;

/// A stored id of 16 bytes; anything else is damage.
Result<FragmentId> fragment_blob(std::span<const std::uint8_t> b) {
  return fragment_from_blob(b);
}

RelationshipOrigin origin_from_db(std::int64_t v) {
  switch (v) {
  case 2: return RelationshipOrigin::card_presented;
  case 3: return RelationshipOrigin::linked;
  default: return RelationshipOrigin::registered;
  }
}

std::int64_t origin_to_db(RelationshipOrigin o) {
  switch (o) {
  case RelationshipOrigin::registered: return 1;
  case RelationshipOrigin::card_presented: return 2;
  case RelationshipOrigin::linked: return 3;
  }
  return 1;
}

/// Runs `sql` with the two client ids bound as ?1 = to, ?2 = from.
Result<void> run_reassign(sql::Db& db, const char* sql, const ClientId& from, const ClientId& to) {
  auto s = db.prepare(sql);
  if (!s) return s.error();
  return s->bind(1, to.view()).bind(2, from.view()).run();
}

// --- partners ---

class SqlPartners final : public PartnerRecords {
 public:
  explicit SqlPartners(Impl& i) : i_(i) {}

  Result<void> insert(const Partner& p) override {
    auto s = i_.data.prepare(
        "INSERT INTO partners(id, partner_type, display_name, created_at) VALUES(?, ?, ?, ?)");
    if (!s) return s.error();
    i_.forget_partners();
    return s->bind(1, p.id)
        .bind(2, p.partner_type)
        .bind(3, p.display_name)
        .bind(4, to_db(p.created_at))
        .run();
  }
  Result<std::shared_ptr<const std::vector<Partner>>> table() override {
    return i_.partner_table();
  }
  Result<void> set_revoked(std::string_view id, Instant at) override {
    auto s = i_.data.prepare("UPDATE partners SET revoked_at = ? WHERE id = ?");
    if (!s) return s.error();
    i_.forget_partners();
    return s->bind(1, to_db(at)).bind(2, id).run();
  }
  Result<void> add_revoked_serial(std::string_view, std::string_view, Instant) override {
    // One process: the transport's revocation list file is the record (sluisctl writes it and
    // the operator act puts the serial in force in the running server).
    return {};
  }

 private:
  Impl& i_;
};

// --- workers ---

class SqlWorkers final : public WorkerRecords {
 public:
  explicit SqlWorkers(Impl& i) : i_(i) {}

  Result<void> insert(const Worker& w) override {
    auto s = i_.data.prepare(
        "INSERT INTO workers(partner_id, worker_id, role, active) VALUES(?, ?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, w.partner_id)
        .bind(2, w.worker_id)
        .bind(3, w.role)
        .bind(4, std::int64_t{w.active ? 1 : 0})
        .run();
  }
  Result<Worker> find(std::string_view partner_id, std::string_view worker_id) override {
    auto s =
        i_.data.prepare("SELECT role, active FROM workers WHERE partner_id = ? AND worker_id = ?");
    if (!s) return s.error();
    s->bind(1, partner_id).bind(2, worker_id);
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return make_error_code(Errc::not_found);
    return Worker{std::string(partner_id), std::string(worker_id), s->text(0), s->int64(1) != 0};
  }
  Result<std::vector<Worker>> list(std::string_view partner_id) override {
    auto s = i_.data.prepare(
        "SELECT worker_id, role, active FROM workers WHERE partner_id = ? ORDER BY worker_id");
    if (!s) return s.error();
    s->bind(1, partner_id);
    std::vector<Worker> out;
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      out.push_back({std::string(partner_id), s->text(0), s->text(1), s->int64(2) != 0});
    }
    return out;
  }
  Result<void> set_active(std::string_view partner_id, std::string_view worker_id,
                          bool active) override {
    auto s =
        i_.data.prepare("UPDATE workers SET active = ? WHERE partner_id = ? AND worker_id = ?");
    if (!s) return s.error();
    if (auto r =
            s->bind(1, std::int64_t{active ? 1 : 0}).bind(2, partner_id).bind(3, worker_id).run();
        !r) {
      return r;
    }
    if (i_.data.changes() == 0) return make_error_code(Errc::not_found);
    return {};
  }

 private:
  Impl& i_;
};

// --- clients ---

class SqlClients final : public ClientRecords {
 public:
  explicit SqlClients(Impl& i) : i_(i) {}

  Result<void> insert(const ClientId& client, std::string_view tag, bool anonymous,
                      Instant at) override {
    auto s =
        i_.data.prepare("INSERT INTO clients(id, tag, anonymous, created_at) VALUES(?, ?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, client.view())
        .bind(2, tag)
        .bind(3, std::int64_t{anonymous ? 1 : 0})
        .bind(4, to_db(at))
        .run();
  }
  Result<bool> anonymous(const ClientId& client) override {
    auto s = i_.data.prepare("SELECT anonymous FROM clients WHERE id = ?");
    if (!s) return bool_error(s.error());
    s->bind(1, client.view());
    auto row = s->step();
    if (!row) return bool_error(row.error());
    if (!*row) return bool_error(make_error_code(Errc::not_found));
    return s->int64(0) != 0;
  }
  Result<void> set_anonymous(const ClientId& client, bool anonymous) override {
    auto s = i_.data.prepare("UPDATE clients SET anonymous = ? WHERE id = ?");
    if (!s) return s.error();
    return s->bind(1, std::int64_t{anonymous ? 1 : 0}).bind(2, client.view()).run();
  }
  Result<std::size_t> count() override {
    auto s = i_.data.prepare("SELECT count(*) FROM clients");
    if (!s) return s.error();
    auto row = s->step();
    if (!row) return row.error();
    return static_cast<std::size_t>(s->int64(0));
  }
  Result<void> remove(const ClientId& client) override {
    // Every other table that names the client goes with it (ON DELETE CASCADE).
    auto s = i_.data.prepare("DELETE FROM clients WHERE id = ?");
    if (!s) return s.error();
    return s->bind(1, client.view()).run();
  }
  Result<void> tombstone(std::string_view tag, Instant at, ErasureReason reason) override {
    auto s =
        i_.data.prepare("INSERT OR IGNORE INTO erasures(tag, erased_at, reason) VALUES(?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, tag).bind(2, to_db(at)).bind(3, static_cast<std::int64_t>(reason)).run();
  }

  Result<std::optional<ClientId>> find_identifier(const crypto::IdentifierDigest& digest) override {
    auto s = i_.data.prepare("SELECT client_id FROM identifiers WHERE digest = ?");
    if (!s) return s.error();
    s->bind(1, digest);
    return optional_client(*s);
  }
  Result<void> insert_identifier(const crypto::IdentifierDigest& digest,
                                 const ClientId& client) override {
    auto s = i_.data.prepare("INSERT INTO identifiers(digest, client_id) VALUES(?, ?)");
    if (!s) return s.error();
    return s->bind(1, digest).bind(2, client.view()).run();
  }

  Result<std::optional<ServicePseudonymRecord>>
  find_service_pseudonym(const crypto::IdentifierDigest& digest) override {
    auto s =
        i_.data.prepare("SELECT client_id, retired_at FROM service_pseudonyms WHERE digest = ?");
    if (!s) return s.error();
    s->bind(1, digest);
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return std::optional<ServicePseudonymRecord>{};
    auto client = client_from_blob(s->blob(0));
    if (!client) return client.error();
    return std::optional<ServicePseudonymRecord>{ServicePseudonymRecord{*client, !s->is_null(1)}};
  }
  Result<void> insert_service_pseudonym(const crypto::IdentifierDigest& digest,
                                        const ClientId& client, std::string_view service_id,
                                        Instant at) override {
    auto s =
        i_.data.prepare("INSERT INTO service_pseudonyms(digest, client_id, service_id, created_at) "
                        "VALUES(?, ?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, digest).bind(2, client.view()).bind(3, service_id).bind(4, to_db(at)).run();
  }
  Result<void> retire_service_pseudonyms(const ClientId& client, Instant at) override {
    auto s = i_.data.prepare(
        "UPDATE service_pseudonyms SET retired_at = ? WHERE client_id = ? AND retired_at IS NULL");
    if (!s) return s.error();
    return s->bind(1, to_db(at)).bind(2, client.view()).run();
  }

  Result<std::optional<CareRelationship>> relationship(std::string_view partner_id,
                                                       const ClientId& client) override {
    auto s = i_.data.prepare(
        "SELECT pseudonym, since, origin FROM care_relationships WHERE partner_id = ? AND "
        "client_id = ?");
    if (!s) return s.error();
    s->bind(1, partner_id).bind(2, client.view());
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return std::optional<CareRelationship>{};
    return std::optional<CareRelationship>{CareRelationship{
        std::string(partner_id), s->text(0), from_db(s->int64(1)), origin_from_db(s->int64(2))}};
  }
  Result<std::vector<CareRelationship>> relationships(const ClientId& client) override {
    auto s = i_.data.prepare(
        "SELECT partner_id, pseudonym, since, origin FROM care_relationships WHERE client_id = ? "
        "ORDER BY since, partner_id");
    if (!s) return s.error();
    s->bind(1, client.view());
    std::vector<CareRelationship> out;
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      out.push_back({s->text(0), s->text(1), from_db(s->int64(2)), origin_from_db(s->int64(3))});
    }
    return out;
  }
  Result<void> insert_relationship(const ClientId& client, const CareRelationship& r) override {
    auto s = i_.data.prepare(
        "INSERT INTO care_relationships(partner_id, client_id, pseudonym, since, origin) "
        "VALUES(?, ?, ?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, r.partner_id)
        .bind(2, client.view())
        .bind(3, r.pseudonym)
        .bind(4, to_db(r.since))
        .bind(5, origin_to_db(r.origin))
        .run();
  }
  Result<void> move_relationship(std::string_view partner_id, const ClientId& from,
                                 const ClientId& to) override {
    auto s = i_.data.prepare(
        "UPDATE care_relationships SET client_id = ?1 WHERE client_id = ?2 AND partner_id = ?3");
    if (!s) return s.error();
    return s->bind(1, to.view()).bind(2, from.view()).bind(3, partner_id).run();
  }
  Result<std::optional<ClientId>> resolve_pseudonym(std::string_view partner_id,
                                                    std::string_view pseudonym) override {
    // One statement: a miss costs the same whether or not an alias exists.
    auto s = i_.data.prepare(
        "SELECT client_id FROM care_relationships WHERE pseudonym = ?1 AND partner_id = ?2 "
        "UNION ALL "
        "SELECT client_id FROM pseudonym_aliases WHERE pseudonym = ?1 AND partner_id = ?2 "
        "LIMIT 1");
    if (!s) return s.error();
    s->bind(1, pseudonym).bind(2, partner_id);
    return optional_client(*s);
  }
  Result<void> insert_alias(std::string_view pseudonym, std::string_view partner_id,
                            const ClientId& client, Instant since) override {
    auto s =
        i_.data.prepare("INSERT INTO pseudonym_aliases(pseudonym, partner_id, client_id, since) "
                        "VALUES(?, ?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, pseudonym)
        .bind(2, partner_id)
        .bind(3, client.view())
        .bind(4, to_db(since))
        .run();
  }
  Result<void> record_card_event(const ClientId& client, CardEventKind kind,
                                 std::string_view first_service, std::string_view second_service,
                                 std::string_view reference, Instant at) override {
    auto s =
        i_.data.prepare("INSERT INTO card_events(client_id, kind, first_service, second_service, "
                        "consent_reference, at) VALUES(?, ?, ?, ?, ?, ?)");
    if (!s) return s.error();
    s->bind(1, client.view()).bind(2, static_cast<std::int64_t>(kind));
    if (first_service.empty()) {
      s->bind_null(3);
    } else {
      s->bind(3, first_service);
    }
    return s->bind(4, second_service).bind(5, reference).bind(6, to_db(at)).run();
  }
  Result<void> reassign_names(const ClientId& from, const ClientId& to) override {
    static constexpr const char* kMoves[] = {
        "UPDATE identifiers SET client_id = ?1 WHERE client_id = ?2",
        "UPDATE service_pseudonyms SET client_id = ?1 WHERE client_id = ?2",
        "UPDATE card_events SET client_id = ?1 WHERE client_id = ?2",
        "UPDATE pseudonym_aliases SET client_id = ?1 WHERE client_id = ?2",
    };
    for (const char* sql : kMoves) {
      if (auto r = run_reassign(i_.data, sql, from, to); !r) return r;
    }
    return {};
  }

  Result<std::vector<CaseloadRow>>
  caseload(std::string_view partner_id, const std::optional<CaseloadPosition>& after,
           std::size_t limit, const std::optional<crypto::IdentifierDigest>& token) override {
    // ?2/?3: the position after which the page starts (since descending, pseudonym ascending);
    // without one, ?2 is above every stored time. ?4: the token, or NULL for every client.
    auto s = i_.data.prepare(
        "SELECT r.client_id, r.pseudonym, r.since, r.origin, l.label_sealed "
        "FROM care_relationships r "
        "LEFT JOIN caseload_labels l ON l.partner_id = r.partner_id AND l.client_id = r.client_id "
        "WHERE r.partner_id = ?1 AND (r.since < ?2 OR (r.since = ?2 AND r.pseudonym > ?3)) "
        "AND (?4 IS NULL OR EXISTS (SELECT 1 FROM caseload_label_tokens t WHERE "
        "t.partner_id = r.partner_id AND t.token = ?4 AND t.client_id = r.client_id)) "
        "ORDER BY r.since DESC, r.pseudonym ASC LIMIT ?5");
    if (!s) return s.error();
    s->bind(1, partner_id);
    if (after) {
      s->bind(2, to_db(after->since)).bind(3, after->pseudonym);
    } else {
      s->bind(2, std::numeric_limits<std::int64_t>::max()).bind(3, std::string_view{});
    }
    if (token) {
      s->bind(4, std::span<const std::uint8_t>(*token));
    } else {
      s->bind_null(4);
    }
    s->bind(5, static_cast<std::int64_t>(limit));
    std::vector<CaseloadRow> out;
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto client = client_from_blob(s->blob(0));
      if (!client) return client.error();
      CaseloadRow r{*client, s->text(1), from_db(s->int64(2)), origin_from_db(s->int64(3)), {}};
      if (!s->is_null(4)) {
        const auto sealed = s->blob(4);
        r.label_sealed.assign(sealed.begin(), sealed.end());
      }
      out.push_back(std::move(r));
    }
    return out;
  }
  Result<void> set_caseload_label(std::string_view partner_id, const ClientId& client,
                                  std::span<const std::uint8_t> sealed,
                                  std::span<const crypto::IdentifierDigest> tokens,
                                  Instant at) override {
    if (auto r = clear_caseload_label(partner_id, client); !r) return r;
    auto s = i_.data.prepare("INSERT INTO caseload_labels(partner_id, client_id, label_sealed, "
                             "set_at) VALUES(?, ?, ?, ?)");
    if (!s) return s.error();
    if (auto r = s->bind(1, partner_id).bind(2, client.view()).bind(3, sealed).bind(4, to_db(at))
                     .run();
        !r) {
      return r;
    }
    for (const auto& token : tokens) {
      auto t = i_.data.prepare("INSERT OR IGNORE INTO caseload_label_tokens(partner_id, token, "
                               "client_id) VALUES(?, ?, ?)");
      if (!t) return t.error();
      if (auto r = t->bind(1, partner_id)
                       .bind(2, std::span<const std::uint8_t>(token))
                       .bind(3, client.view())
                       .run();
          !r) {
        return r;
      }
    }
    return {};
  }
  Result<void> clear_caseload_label(std::string_view partner_id,
                                    const ClientId& client) override {
    static constexpr const char* kDeletes[] = {
        "DELETE FROM caseload_label_tokens WHERE client_id = ?1 AND partner_id = ?2",
        "DELETE FROM caseload_labels WHERE partner_id = ?2 AND client_id = ?1",
    };
    for (const char* sql : kDeletes) {
      auto s = i_.data.prepare(sql);
      if (!s) return s.error();
      if (auto r = s->bind(1, client.view()).bind(2, partner_id).run(); !r) return r;
    }
    return {};
  }
  Result<std::vector<std::uint8_t>> caseload_label(std::string_view partner_id,
                                                   const ClientId& client) override {
    auto s = i_.data.prepare(
        "SELECT label_sealed FROM caseload_labels WHERE partner_id = ? AND client_id = ?");
    if (!s) return s.error();
    s->bind(1, partner_id).bind(2, client.view());
    auto row = s->step();
    if (!row) return row.error();
    std::vector<std::uint8_t> out;
    if (*row) {
      const auto b = s->blob(0);
      out.assign(b.begin(), b.end());
    }
    return out;
  }

 private:
  static Result<std::optional<ClientId>> optional_client(sql::Stmt& s) {
    auto row = s.step();
    if (!row) return row.error();
    if (!*row) return std::optional<ClientId>{};
    auto c = client_from_blob(s.blob(0));
    if (!c) return c.error();
    return std::optional<ClientId>{*c};
  }

  Impl& i_;
};

// --- fragments ---

/// The metadata columns read_meta decodes, in its order; a select may add columns after them.
constexpr std::string_view kMetaColumns =
    "seq, id, client_id, category, owner_partner, created_by_worker, created_at, version, "
    "supersedes, key_version, superseded_by";

/// "SELECT <metadata>[, extra] FROM fragments <rest>"
std::string meta_select(std::string_view extra, std::string_view rest) {
  std::string sql = "SELECT ";
  sql += kMetaColumns;
  sql += extra;
  sql += " FROM fragments ";
  sql += rest;
  return sql;
}

/// Room reserved up front for a dossier's fragments (grown as needed).
constexpr std::size_t kTypicalDossierFragments = 32;

Result<FragmentRecord> read_meta(const sql::Stmt& s) {
  FragmentRecord m;
  auto id = fragment_blob(s.blob(1));
  if (!id) return id.error();
  auto client = client_from_blob(s.blob(2));
  if (!client) return client.error();
  m.meta.id = *id;
  m.meta.client = *client;
  m.meta.category = s.text(3);
  m.meta.owner_partner = s.text(4);
  m.meta.created_by_worker = s.text(5);
  m.meta.created_at = from_db(s.int64(6));
  m.meta.version = static_cast<std::uint32_t>(s.int64(7));
  if (!s.is_null(8)) {
    auto prev = fragment_blob(s.blob(8));
    if (!prev) return prev.error();
    m.meta.supersedes = *prev;
  }
  m.key_version = crypto::DataKeyVersion{static_cast<std::uint32_t>(s.int64(9))};
  m.superseded = !s.is_null(10);
  return m;
}

class SqlFragments final : public FragmentRecords {
 public:
  explicit SqlFragments(Impl& i) : i_(i) {}

  Result<void> insert(const FragmentMeta& m, crypto::DataKeyVersion key_version,
                      std::span<const std::uint8_t> sealed_fields) override {
    // Its seq is the next in its client's range: a client's fragments lie together in the table
    // (schema 3).
    auto s = i_.data.prepare(
        "INSERT INTO fragments(client_id, seq, id, category, owner_partner, created_by_worker, "
        "created_at, version, supersedes, key_version, fields) VALUES(?1, "
        "(SELECT coalesce(max(seq), 0) + 1 FROM fragments WHERE client_id = ?1), "
        "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!s) return s.error();
    s->bind(1, m.client.view())
        .bind(2, m.id.view())
        .bind(3, m.category)
        .bind(4, m.owner_partner)
        .bind(5, m.created_by_worker)
        .bind(6, to_db(m.created_at))
        .bind(7, std::int64_t{m.version})
        .bind(9, std::int64_t{key_version.value})
        .bind(10, sealed_fields);
    if (m.supersedes) {
      s->bind(8, m.supersedes->view());
    } else {
      s->bind_null(8);
    }
    return s->run();
  }
  Result<FragmentRecord> find(const FragmentId& id) override {
    static const std::string kSql = meta_select("", "WHERE id = ?");
    auto s = i_.data.prepare(kSql.c_str());
    if (!s) return s.error();
    s->bind(1, id.view());
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return make_error_code(Errc::not_found);
    return read_meta(*s);
  }
  Result<void> mark_superseded(const FragmentId& previous, const FragmentId& next) override {
    auto s = i_.data.prepare(
        "UPDATE fragments SET superseded_by = ? WHERE id = ? AND superseded_by IS NULL");
    if (!s) return s.error();
    if (auto r = s->bind(1, next.view()).bind(2, previous.view()).run(); !r) return r;
    if (i_.data.changes() != 1) return make_error_code(Errc::conflict);
    return {};
  }
  Result<std::vector<FragmentMeta>> current(const ClientId& client) override {
    static const std::string kSql =
        meta_select("", "WHERE client_id = ? AND superseded_by IS NULL ORDER BY created_at, seq");
    auto s = i_.data.prepare(kSql.c_str());
    if (!s) return s.error();
    s->bind(1, client.view());
    std::vector<FragmentMeta> out;
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto m = read_meta(*s);
      if (!m) return m.error();
      out.push_back(std::move(m->meta));
    }
    return out;
  }
  Result<std::vector<SealedFragment>> current_sealed(const ClientId& client) override {
    // A client's current fragments lie together in the table (primary key client, seq) with
    // their sealed fields in the row: a dossier of 20 fragments is a few adjacent pages.
    static const std::string kSql = meta_select(
        ", fields", "WHERE client_id = ? AND superseded_by IS NULL ORDER BY created_at, seq");
    return sealed_rows(kSql.c_str(), client);
  }
  Result<std::vector<SealedFragment>> all_sealed(const ClientId& client) override {
    static const std::string kSql = meta_select(", fields", "WHERE client_id = ? ORDER BY seq");
    return sealed_rows(kSql.c_str(), client);
  }
  Result<void> replace_sealed(const FragmentId& fragment, crypto::DataKeyVersion key_version,
                              std::span<const std::uint8_t> sealed) override {
    auto s = i_.data.prepare("UPDATE fragments SET fields = ?, key_version = ? WHERE id = ?");
    if (!s) return s.error();
    return s->bind(1, sealed)
        .bind(2, std::int64_t{key_version.value})
        .bind(3, fragment.view())
        .run();
  }
  Result<void> reassign(const ClientId& from, const ClientId& to) override {
    // `from`'s fragments join the end of `to`'s range (seq is per client).
    auto last = i_.data.prepare("SELECT coalesce(max(seq), 0) FROM fragments WHERE client_id = ?");
    if (!last) return last.error();
    last->bind(1, to.view());
    auto row = last->step();
    if (!row) return row.error();
    const std::int64_t offset = last->int64(0);
    auto move =
        i_.data.prepare("UPDATE fragments SET client_id = ?1, seq = seq + ?3 WHERE client_id = ?2");
    if (!move) return move.error();
    return move->bind(1, to.view()).bind(2, from.view()).bind(3, offset).run();
  }

 private:
  Result<std::vector<SealedFragment>> sealed_rows(const char* sql, const ClientId& client) {
    auto s = i_.data.prepare(sql);
    if (!s) return s.error();
    s->bind(1, client.view());
    std::vector<SealedFragment> out;
    out.reserve(kTypicalDossierFragments);
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto m = read_meta(*s);
      if (!m) return m.error();
      const auto blob = s->blob(11);
      out.push_back({std::move(m->meta), m->key_version.value, {blob.begin(), blob.end()}});
    }
    return out;
  }

  Impl& i_;
};

// --- consents ---

constexpr const char* kConsentSelect =
    "SELECT id, client_id, recorded_by_partner, recorded_by_worker, recorded_at, valid_from, "
    "valid_until, revoked_at, revoked_by_partner, revoked_by_worker, document FROM consents ";

Result<ConsentRecord> read_consent(const sql::Stmt& s) {
  auto client = client_from_blob(s.blob(1));
  if (!client) return client.error();
  ConsentRecord c{s.text(0),           *client,
                  s.text(2),           s.text(3),
                  from_db(s.int64(4)), from_db(s.int64(5)),
                  from_db(s.int64(6)), std::nullopt,
                  s.text(8),           s.text(9),
                  s.text(10)};
  if (!s.is_null(7)) c.revoked_at = from_db(s.int64(7));
  return c;
}

class SqlConsents final : public ConsentRecords {
 public:
  explicit SqlConsents(Impl& i) : i_(i) {}

  Result<void> insert(const ConsentRecord& c) override {
    auto s = i_.data.prepare(
        "INSERT INTO consents(id, client_id, recorded_by_partner, recorded_by_worker, "
        "recorded_at, valid_from, valid_until, document) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, c.id)
        .bind(2, c.client.view())
        .bind(3, c.recorded_by_partner)
        .bind(4, c.recorded_by_worker)
        .bind(5, to_db(c.recorded_at))
        .bind(6, to_db(c.valid_from))
        .bind(7, to_db(c.valid_until))
        .bind(8, c.document)
        .run();
  }
  Result<ConsentRecord> find(const ClientId& client, std::string_view id) override {
    static const std::string kSql = std::string(kConsentSelect) + "WHERE id = ? AND client_id = ?";
    auto s = i_.data.prepare(kSql.c_str());
    if (!s) return s.error();
    s->bind(1, id).bind(2, client.view());
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return make_error_code(Errc::not_found);
    return read_consent(*s);
  }
  Result<std::vector<ConsentRecord>> history(const ClientId& client) override {
    static const std::string kSql =
        std::string(kConsentSelect) + "WHERE client_id = ? ORDER BY recorded_at, rowid";
    auto s = i_.data.prepare(kSql.c_str());
    if (!s) return s.error();
    s->bind(1, client.view());
    std::vector<ConsentRecord> out;
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto c = read_consent(*s);
      if (!c) return c.error();
      out.push_back(std::move(*c));
    }
    return out;
  }
  Result<std::vector<std::string>> ids_with_prefix(const ClientId& client, std::string_view prefix,
                                                   std::size_t limit) override {
    auto s = i_.data.prepare(
        "SELECT id FROM consents WHERE client_id = ? AND substr(id, 1, ?) = ? LIMIT ?");
    if (!s) return s.error();
    s->bind(1, client.view())
        .bind(2, static_cast<std::int64_t>(prefix.size()))
        .bind(3, prefix)
        .bind(4, static_cast<std::int64_t>(limit));
    std::vector<std::string> out;
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      out.push_back(s->text(0));
    }
    return out;
  }
  Result<void> revoke(const ClientId& client, std::string_view consent_id, Instant at,
                      std::string_view partner_id, std::string_view worker_id) override {
    auto s = i_.data.prepare(
        "UPDATE consents SET revoked_at = ?, revoked_by_partner = ?, revoked_by_worker = ? "
        "WHERE id = ? AND client_id = ? AND revoked_at IS NULL");
    if (!s) return s.error();
    if (auto r = s->bind(1, to_db(at))
                     .bind(2, partner_id)
                     .bind(3, worker_id)
                     .bind(4, consent_id)
                     .bind(5, client.view())
                     .run();
        !r) {
      return r;
    }
    if (i_.data.changes() != 1) return make_error_code(Errc::conflict);
    return {};
  }
  Result<void> reassign(const ClientId& from, const ClientId& to) override {
    return run_reassign(i_.data, "UPDATE consents SET client_id = ?1 WHERE client_id = ?2", from,
                        to);
  }

 private:
  Impl& i_;
};

// --- break-the-glass grants ---

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

Result<std::vector<BreakGlassGrant>> collect_grants(sql::Stmt& s) {
  std::vector<BreakGlassGrant> out;
  for (;;) {
    auto row = s.step();
    if (!row) return row.error();
    if (!*row) break;
    auto client = client_from_blob(s.blob(1));
    if (!client) return client.error();
    // The reason stays sealed in the store (sealed_reasons hands it out for review).
    out.push_back({s.text(0), *client, s.text(2), s.text(3), split(s.text(4)), std::string(),
                   from_db(s.int64(5)), from_db(s.int64(6))});
  }
  return out;
}

class SqlGrants final : public GrantRecords {
 public:
  explicit SqlGrants(Impl& i) : i_(i) {}

  Result<void> insert(const BreakGlassGrant& g, std::span<const std::uint8_t> sealed) override {
    auto s = i_.data.prepare(
        "INSERT INTO break_glass_grants(id, client_id, partner_id, worker_id, categories, "
        "reason_sealed, starts_at, expires_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    if (!s) return s.error();
    return s->bind(1, g.id)
        .bind(2, g.client.view())
        .bind(3, g.partner_id)
        .bind(4, g.worker_id)
        .bind(5, join(g.categories))
        .bind(6, sealed)
        .bind(7, to_db(g.starts_at))
        .bind(8, to_db(g.expires_at))
        .run();
  }
  Result<std::vector<BreakGlassGrant>> history(const ClientId& client) override {
    auto s = i_.data.prepare(
        "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at "
        "FROM break_glass_grants WHERE client_id = ? ORDER BY starts_at, rowid");
    if (!s) return s.error();
    s->bind(1, client.view());
    return collect_grants(*s);
  }
  Result<std::vector<BreakGlassGrant>> expired_unrecorded(Instant now, std::size_t limit) override {
    auto s = i_.data.prepare(
        "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at "
        "FROM break_glass_grants WHERE expiry_recorded = 0 AND expires_at <= ?1 "
        "ORDER BY expires_at, rowid LIMIT ?2");
    if (!s) return s.error();
    s->bind(1, to_db(now)).bind(2, static_cast<std::int64_t>(limit));
    return collect_grants(*s);
  }
  Result<void> mark_expiry_recorded(std::span<const std::string> ids) override {
    for (const auto& id : ids) {
      auto s = i_.data.prepare("UPDATE break_glass_grants SET expiry_recorded = 1 WHERE id = ?");
      if (!s) return s.error();
      if (auto r = s->bind(1, id).run(); !r) return r;
    }
    return {};
  }
  Result<std::vector<SealedReason>> sealed_reasons(const BreakGlassReasonQuery& query) override {
    auto s =
        i_.data.prepare("SELECT id, client_id, partner_id, worker_id, starts_at, reason_sealed "
                        "FROM break_glass_grants WHERE (?1 IS NULL OR partner_id = ?1) "
                        "AND (?2 IS NULL OR starts_at >= ?2) AND (?3 IS NULL OR starts_at <= ?3) "
                        "ORDER BY starts_at, rowid");
    if (!s) return s.error();
    if (query.partner_id) {
      s->bind(1, *query.partner_id);
    } else {
      s->bind_null(1);
    }
    if (query.from) {
      s->bind(2, to_db(*query.from));
    } else {
      s->bind_null(2);
    }
    if (query.until) {
      s->bind(3, to_db(*query.until));
    } else {
      s->bind_null(3);
    }
    return collect_reasons(*s);
  }
  Result<std::vector<SealedReason>> sealed_reasons_of(const ClientId& client) override {
    auto s =
        i_.data.prepare("SELECT id, client_id, partner_id, worker_id, starts_at, reason_sealed "
                        "FROM break_glass_grants WHERE client_id = ? ORDER BY starts_at, rowid");
    if (!s) return s.error();
    s->bind(1, client.view());
    return collect_reasons(*s);
  }
  Result<void> replace_sealed_reason(std::string_view grant_id,
                                     std::span<const std::uint8_t> sealed) override {
    auto s = i_.data.prepare("UPDATE break_glass_grants SET reason_sealed = ? WHERE id = ?");
    if (!s) return s.error();
    return s->bind(1, sealed).bind(2, grant_id).run();
  }
  Result<void> reassign(const ClientId& from, const ClientId& to) override {
    return run_reassign(
        i_.data, "UPDATE break_glass_grants SET client_id = ?1 WHERE client_id = ?2", from, to);
  }
  // Break-the-glass reviews (defined at the end of the file).
  Result<std::vector<std::pair<std::int64_t, BreakGlassGrant>>>
  concerning(std::string_view partner_id, std::int64_t before, std::size_t limit) override;
  Result<BreakGlassGrant> find(std::string_view grant_id) override;
  Result<void> insert_review(const BreakGlassReview& review,
                             std::span<const std::uint8_t> sealed_note) override;
  Result<std::vector<std::pair<BreakGlassReview, std::vector<std::uint8_t>>>>
  reviews_of(std::string_view grant_id) override;
  Result<void> replace_sealed_note(std::string_view grant_id, std::string_view partner_id,
                                   std::span<const std::uint8_t> sealed) override;

 private:
  static Result<std::vector<SealedReason>> collect_reasons(sql::Stmt& s) {
    std::vector<SealedReason> out;
    for (;;) {
      auto row = s.step();
      if (!row) return row.error();
      if (!*row) break;
      auto client = client_from_blob(s.blob(1));
      if (!client) return client.error();
      const auto sealed = s.blob(5);
      out.push_back({s.text(0),
                     *client,
                     s.text(2),
                     s.text(3),
                     from_db(s.int64(4)),
                     {sealed.begin(), sealed.end()}});
    }
    return out;
  }

  Impl& i_;
};

// --- keys ---

class SqlKeys final : public KeyStore {
 public:
  explicit SqlKeys(Impl& i) : i_(i) {}

  Result<std::pair<crypto::DataKeyVersion, crypto::DataKey>>
  key_for_sealing(const ClientId& client, std::string_view category) override {
    return i_.data_key_for_write(client, category);
  }
  Result<crypto::DataKey> key(const ClientId& client, std::string_view category,
                              crypto::DataKeyVersion version) override {
    return i_.data_key_for_read(client, category, version);
  }
  Result<const crypto::DataKey*> cached_key(const ClientId& client, std::string_view category,
                                            crypto::DataKeyVersion version) override {
    return i_.cached_data_key(client, category, version);
  }
  Result<void> journal(const ClientId& client, std::string_view category,
                       crypto::DataKeyVersion version, const crypto::DataKey* known) override {
    return i_.journal_key(client, category, version, known);
  }
  Result<void> shred(std::string_view tag) override { return i_.shred_keys(tag); }
  Result<void> begin_batch() override {
    if (auto r = i_.keys.run_cached("BEGIN IMMEDIATE"); !r) return r;
    i_.key_batch = true;
    return {};
  }
  Result<void> end_batch() override {
    if (auto r = i_.keys.run_cached("COMMIT"); !r) return r;
    i_.key_batch = false;
    return {};
  }

 private:
  Impl& i_;
};

// --- the unit of work ---

class SqlRecords final : public Records {
 public:
  explicit SqlRecords(Impl& i)
      : i_(i), partners_(i), workers_(i), clients_(i), fragments_(i), consents_(i), grants_(i),
        keys_(i) {}

  PartnerRecords& partners() noexcept override { return partners_; }
  WorkerRecords& workers() noexcept override { return workers_; }
  ClientRecords& clients() noexcept override { return clients_; }
  FragmentRecords& fragments() noexcept override { return fragments_; }
  ConsentRecords& consents() noexcept override { return consents_; }
  GrantRecords& grants() noexcept override { return grants_; }
  KeyStore& keys() noexcept override { return keys_; }

  Result<void> begin_write() override {
    // A read snapshot the unit started ends here (its reads stay valid: the write lock is taken
    // on the newest state, and nobody else writes under the unit's hold of the store).
    if (i_.open == Impl::Open::read && i_.data.in_transaction()) {
      if (auto r = i_.data.run_cached("COMMIT"); !r) return r;
      i_.open = Impl::Open::none;
    }
    // Inside Storage::bulk_write's transaction the unit's writes join it (its commit is bulk
    // write's; commit() below is then a no-op).
    if (i_.open == Impl::Open::none && i_.data.in_transaction()) return {};
    if (auto r = i_.data.run_cached("BEGIN IMMEDIATE"); !r) return r;
    i_.open = Impl::Open::write;
    return {};
  }
  Result<void> begin_read() override {
    // Without it every statement is its own read transaction, each taking and dropping the WAL
    // read lock (an fcntl(2) pair). Inside a transaction the caller holds already: nothing.
    if (i_.data.in_transaction()) return {};
    if (auto r = i_.data.run_cached("BEGIN"); !r) return r;
    i_.open = Impl::Open::read;
    return {};
  }
  Result<void> commit() override {
    if (i_.open == Impl::Open::none) return {};
    if (auto r = i_.data.run_cached("COMMIT"); !r) return r;
    i_.open = Impl::Open::none;
    return {};
  }
  Result<void> purge_deleted() override {
    // secure_delete overwrote the freed cells; the checkpoint moves those pages into the file
    // and truncates the WAL, so no older page image of the deleted rows stays behind in it.
    return i_.data.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  Instant now() const override { return i_.now(); }
  Result<void> fault_point_for_test(std::string_view step) const override { return i_.step(step); }
  void field_opened(const FragmentId& fragment) const override {
    if (i_.options.on_field_opened) i_.options.on_field_opened(fragment);
  }

 private:
  Impl& i_;
  SqlPartners partners_;
  SqlWorkers workers_;
  SqlClients clients_;
  SqlFragments fragments_;
  SqlConsents consents_;
  SqlGrants grants_;
  SqlKeys keys_;
};

}  // namespace

std::unique_ptr<Records> make_sqlcipher_records(Store::Impl& impl) {
  return std::make_unique<SqlRecords>(impl);
}

Result<std::shared_ptr<const std::vector<Partner>>> Store::Impl::partner_table() {
  if (partners) return partners;
  auto s = data.prepare(
      "SELECT id, partner_type, display_name, created_at, revoked_at FROM partners ORDER BY id");
  if (!s) return s.error();
  auto out = std::make_shared<std::vector<Partner>>();
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    Partner p{s->text(0), s->text(1), s->text(2), from_db(s->int64(3)), std::nullopt};
    if (!s->is_null(4)) p.revoked_at = from_db(s->int64(4));
    out->push_back(std::move(p));
  }
  partners = std::move(out);
  return partners;
}

// --- break-the-glass reviews (SqlGrants) ---

namespace {

Result<std::vector<std::pair<std::int64_t, BreakGlassGrant>>>
SqlGrants::concerning(std::string_view partner_id, std::int64_t before, std::size_t limit) {
  auto s = i_.data.prepare(
      "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at, rowid "
      "FROM break_glass_grants g WHERE (g.partner_id = ?1 OR EXISTS (SELECT 1 FROM "
      "care_relationships r WHERE r.partner_id = ?1 AND r.client_id = g.client_id)) "
      "AND (?2 <= 0 OR g.rowid < ?2) ORDER BY g.rowid DESC LIMIT ?3");
  if (!s) return s.error();
  s->bind(1, partner_id).bind(2, before).bind(3, static_cast<std::int64_t>(limit));
  std::vector<std::pair<std::int64_t, BreakGlassGrant>> out;
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    auto client = client_from_blob(s->blob(1));
    if (!client) return client.error();
    out.emplace_back(s->int64(7),
                     BreakGlassGrant{s->text(0), *client, s->text(2), s->text(3),
                                     split(s->text(4)), std::string(), from_db(s->int64(5)),
                                     from_db(s->int64(6))});
  }
  return out;
}

Result<BreakGlassGrant> SqlGrants::find(std::string_view grant_id) {
  auto s = i_.data.prepare(
      "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at "
      "FROM break_glass_grants WHERE id = ?");
  if (!s) return s.error();
  s->bind(1, grant_id);
  auto all = collect_grants(*s);
  if (!all) return all.error();
  if (all->empty()) return make_error_code(Errc::not_found);
  return std::move(all->front());
}

Result<void> SqlGrants::insert_review(const BreakGlassReview& review,
                                      std::span<const std::uint8_t> sealed_note) {
  auto s = i_.data.prepare(
      "INSERT INTO break_glass_reviews(grant_id, partner_id, worker_id, outcome, note_sealed, "
      "reviewed_at) VALUES(?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  return s->bind(1, review.grant_id)
      .bind(2, review.partner_id)
      .bind(3, review.worker_id)
      .bind(4, review.outcome)
      .bind(5, sealed_note)
      .bind(6, to_db(review.reviewed_at))
      .run();
}

Result<std::vector<std::pair<BreakGlassReview, std::vector<std::uint8_t>>>>
SqlGrants::reviews_of(std::string_view grant_id) {
  auto s = i_.data.prepare(
      "SELECT grant_id, partner_id, worker_id, outcome, note_sealed, reviewed_at "
      "FROM break_glass_reviews WHERE grant_id = ? ORDER BY reviewed_at, rowid");
  if (!s) return s.error();
  s->bind(1, grant_id);
  std::vector<std::pair<BreakGlassReview, std::vector<std::uint8_t>>> out;
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    const auto sealed = s->blob(4);
    out.emplace_back(BreakGlassReview{s->text(0), s->text(1), s->text(2), s->text(3),
                                      std::nullopt, from_db(s->int64(5))},
                     std::vector<std::uint8_t>(sealed.begin(), sealed.end()));
  }
  return out;
}

Result<void> SqlGrants::replace_sealed_note(std::string_view grant_id,
                                            std::string_view partner_id,
                                            std::span<const std::uint8_t> sealed) {
  auto s = i_.data.prepare(
      "UPDATE break_glass_reviews SET note_sealed = ? WHERE grant_id = ? AND partner_id = ?");
  if (!s) return s.error();
  return s->bind(1, sealed).bind(2, grant_id).bind(3, partner_id).run();
}

}  // namespace

}  // namespace sluis::store
