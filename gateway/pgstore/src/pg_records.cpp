// The PostgreSQL implementations of the repository interfaces: every statement the domain's
// operations need on one session, and nothing of their rules.
#include "pg_impl.hpp"
#include "sluis/crypto/field.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace sluis::pgstore {

namespace {

using Impl = PgStorage::Impl;
using store::BreakGlassGrant;
using store::BreakGlassReview;
using store::CareRelationship;
using store::CaseloadPosition;
using store::CaseloadRow;
using store::ConsentRecord;
using store::FragmentMeta;
using store::FragmentRecord;
using store::RelationshipOrigin;
using store::SealedFragment;
using store::SealedReason;
using store::Worker;

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

/// Runs `sql` with $1 = to, $2 = from.
Result<void> run_reassign(pg::Conn& c, const std::string& sql, const ClientId& from,
                          const ClientId& to) {
  return c.run(sql, pg::Params().bytes(to.view()).bytes(from.view()));
}

Result<std::optional<ClientId>> optional_client(const Result<pg::Rows>& rows) {
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<ClientId>{};
  auto c = client_from(rows->bytes(0, 0));
  if (!c) return c.error();
  return std::optional<ClientId>{*c};
}

/// Errors as Result<bool> (an error_code also converts to bool: say which is meant).
Result<bool> bool_error(boost::system::error_code ec) {
  return Result<bool>(boost::system::in_place_error, ec);
}

/// Marks the partner table changed (Impl::partners_generation), in the statement that changes it.
constexpr std::string_view kBumpPartners =
    "UPDATE partner_generation SET value = nextval('partner_generation_seq') WHERE id = 1";

/// Marks client data changed for every node (Impl::client_data_generation): an erasure or a
/// link, in its write transaction. The notification is sent when that transaction commits
/// (nothing when it rolls back); the generation is what gives the guarantee, the notification
/// only lets the nodes drop their copies before their next request.
Result<void> bump_client_data(const Impl& i, pg::Conn& c) {
  if (i.schema_version < 3) return {};
  if (auto r = c.run("UPDATE change_generations SET value = value + 1 WHERE name = 'client_data'");
      !r) {
    return r;
  }
  return c.run("SELECT pg_notify('sluis_changes', 'client_data')");
}

// --- partners ---

class PgPartners final : public store::PartnerRecords {
 public:
  PgPartners(Impl& i, Session& s) : i_(i), s_(s) {}

  Result<void> insert(const Partner& p) override {
    // One statement with the generation bump, so it is atomic also outside a transaction.
    return s_.data.run("WITH added AS (INSERT INTO partners(id, partner_type, display_name, "
                       "created_at) VALUES($1, $2, $3, $4) RETURNING 1) " +
                           std::string(kBumpPartners),
                       pg::Params()
                           .text(p.id)
                           .text(p.partner_type)
                           .text(p.display_name)
                           .int64(to_db(p.created_at)));
  }
  Result<std::shared_ptr<const std::vector<Partner>>> table() override {
    return i_.partner_table(s_);
  }
  Result<void> set_revoked(std::string_view id, Instant at) override {
    return s_.data.run("WITH revoked AS (UPDATE partners SET revoked_at = $1 WHERE id = $2 "
                       "RETURNING 1) " +
                           std::string(kBumpPartners),
                       pg::Params().int64(to_db(at)).text(id));
  }
  Result<void> add_revoked_serial(std::string_view serial, std::string_view partner_id,
                                  Instant at) override {
    return add_revoked_serial_in(i_, s_.data, serial, partner_id, at);
  }

 private:
  Impl& i_;
  Session& s_;
};

// --- workers ---

class PgWorkers final : public store::WorkerRecords {
 public:
  explicit PgWorkers(Session& s) : s_(s) {}

  Result<void> insert(const Worker& w) override {
    return s_.data.run(
        "INSERT INTO workers(partner_id, worker_id, role, active) VALUES($1, $2, $3, $4)",
        pg::Params().text(w.partner_id).text(w.worker_id).text(w.role).boolean(w.active));
  }
  Result<Worker> find(std::string_view partner_id, std::string_view worker_id) override {
    auto rows = s_.data.query(
        "SELECT role, active FROM workers WHERE partner_id = $1 AND worker_id = $2",
        pg::Params().text(partner_id).text(worker_id));
    if (!rows) return rows.error();
    if (rows->empty()) return make_error_code(Errc::not_found);
    return Worker{std::string(partner_id), std::string(worker_id), rows->text(0, 0),
                  rows->boolean(0, 1)};
  }
  Result<std::vector<Worker>> list(std::string_view partner_id) override {
    auto rows = s_.data.query(
        "SELECT worker_id, role, active FROM workers WHERE partner_id = $1 ORDER BY worker_id",
        pg::Params().text(partner_id));
    if (!rows) return rows.error();
    std::vector<Worker> out;
    for (int i = 0; i < rows->size(); ++i)
      out.push_back({std::string(partner_id), rows->text(i, 0), rows->text(i, 1),
                     rows->boolean(i, 2)});
    return out;
  }
  Result<void> set_active(std::string_view partner_id, std::string_view worker_id,
                          bool active) override {
    auto rows = s_.data.query(
        "UPDATE workers SET active = $1 WHERE partner_id = $2 AND worker_id = $3",
        pg::Params().boolean(active).text(partner_id).text(worker_id));
    if (!rows) return rows.error();
    if (rows->affected() == 0) return make_error_code(Errc::not_found);
    return {};
  }

 private:
  Session& s_;
};

// --- clients ---

class PgClients final : public store::ClientRecords {
 public:
  PgClients(const Impl& i, Session& s) : i_(i), s_(s) {}

  Result<void> insert(const ClientId& client, std::string_view tag, bool anonymous,
                      Instant at) override {
    return s_.data.run(
        "INSERT INTO clients(id, tag, anonymous, created_at) VALUES($1, $2, $3, $4)",
        pg::Params().bytes(client.view()).text(tag).boolean(anonymous).int64(to_db(at)));
  }
  Result<bool> anonymous(const ClientId& client) override {
    auto rows = s_.data.query("SELECT anonymous FROM clients WHERE id = $1",
                              pg::Params().bytes(client.view()));
    if (!rows) return bool_error(rows.error());
    if (rows->empty()) return bool_error(make_error_code(Errc::not_found));
    return rows->boolean(0, 0);
  }
  Result<void> set_anonymous(const ClientId& client, bool anonymous) override {
    return s_.data.run("UPDATE clients SET anonymous = $1 WHERE id = $2",
                       pg::Params().boolean(anonymous).bytes(client.view()));
  }
  Result<std::size_t> count() override {
    auto rows = s_.data.query("SELECT count(*) FROM clients");
    if (!rows) return rows.error();
    return static_cast<std::size_t>(rows->int64(0, 0));
  }
  Result<void> remove(const ClientId& client) override {
    // Every other table that names the client goes with it (ON DELETE CASCADE).
    return s_.data.run("DELETE FROM clients WHERE id = $1", pg::Params().bytes(client.view()));
  }
  Result<void> tombstone(std::string_view tag, Instant at, store::ErasureReason reason) override {
    if (auto r = s_.data.run(
            "INSERT INTO erasures(tag, erased_at, reason) VALUES($1, $2, $3) "
            "ON CONFLICT (tag) DO NOTHING",
            pg::Params().text(tag).int64(to_db(at)).int64(static_cast<std::int64_t>(reason)));
        !r) {
      return r;
    }
    return bump_client_data(i_, s_.data);
  }

  Result<std::optional<ClientId>> find_identifier(const crypto::IdentifierDigest& digest) override {
    return optional_client(s_.data.query("SELECT client_id FROM identifiers WHERE digest = $1",
                                         pg::Params().bytes(digest)));
  }
  Result<void> insert_identifier(const crypto::IdentifierDigest& digest,
                                 const ClientId& client) override {
    return s_.data.run("INSERT INTO identifiers(digest, client_id) VALUES($1, $2)",
                       pg::Params().bytes(digest).bytes(client.view()));
  }

  Result<std::optional<store::ServicePseudonymRecord>>
  find_service_pseudonym(const crypto::IdentifierDigest& digest) override {
    auto rows = s_.data.query(
        "SELECT client_id, retired_at FROM service_pseudonyms WHERE digest = $1",
        pg::Params().bytes(digest));
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<store::ServicePseudonymRecord>{};
    auto client = client_from(rows->bytes(0, 0));
    if (!client) return client.error();
    return std::optional<store::ServicePseudonymRecord>{
        store::ServicePseudonymRecord{*client, !rows->is_null(0, 1)}};
  }
  Result<void> insert_service_pseudonym(const crypto::IdentifierDigest& digest,
                                        const ClientId& client, std::string_view service_id,
                                        Instant at) override {
    return s_.data.run(
        "INSERT INTO service_pseudonyms(digest, client_id, service_id, created_at) "
        "VALUES($1, $2, $3, $4)",
        pg::Params().bytes(digest).bytes(client.view()).text(service_id).int64(to_db(at)));
  }
  Result<void> retire_service_pseudonyms(const ClientId& client, Instant at) override {
    return s_.data.run("UPDATE service_pseudonyms SET retired_at = $1 WHERE client_id = $2 AND "
                       "retired_at IS NULL",
                       pg::Params().int64(to_db(at)).bytes(client.view()));
  }

  Result<std::optional<CareRelationship>> relationship(std::string_view partner_id,
                                                       const ClientId& client) override {
    auto rows = s_.data.query("SELECT pseudonym, since, origin FROM care_relationships WHERE "
                              "partner_id = $1 AND client_id = $2",
                              pg::Params().text(partner_id).bytes(client.view()));
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<CareRelationship>{};
    return std::optional<CareRelationship>{
        CareRelationship{std::string(partner_id), rows->text(0, 0), from_db(rows->int64(0, 1)),
                         origin_from_db(rows->int64(0, 2))}};
  }
  Result<std::vector<CareRelationship>> relationships(const ClientId& client) override {
    auto rows = s_.data.query("SELECT partner_id, pseudonym, since, origin FROM care_relationships "
                              "WHERE client_id = $1 ORDER BY since, partner_id",
                              pg::Params().bytes(client.view()));
    if (!rows) return rows.error();
    std::vector<CareRelationship> out;
    for (int i = 0; i < rows->size(); ++i)
      out.push_back({rows->text(i, 0), rows->text(i, 1), from_db(rows->int64(i, 2)),
                     origin_from_db(rows->int64(i, 3))});
    return out;
  }
  Result<void> insert_relationship(const ClientId& client, const CareRelationship& r) override {
    return s_.data.run("INSERT INTO care_relationships(partner_id, client_id, pseudonym, since, "
                       "origin) VALUES($1, $2, $3, $4, $5)",
                       pg::Params()
                           .text(r.partner_id)
                           .bytes(client.view())
                           .text(r.pseudonym)
                           .int64(to_db(r.since))
                           .int64(origin_to_db(r.origin)));
  }
  Result<void> move_relationship(std::string_view partner_id, const ClientId& from,
                                 const ClientId& to) override {
    return s_.data.run("UPDATE care_relationships SET client_id = $1 WHERE client_id = $2 AND "
                       "partner_id = $3",
                       pg::Params().bytes(to.view()).bytes(from.view()).text(partner_id));
  }
  Result<std::optional<ClientId>> resolve_pseudonym(std::string_view partner_id,
                                                    std::string_view pseudonym) override {
    // One statement: a miss costs the same whether or not an alias exists.
    return optional_client(s_.data.query(
        "SELECT client_id FROM care_relationships WHERE pseudonym = $1 AND partner_id = $2 "
        "UNION ALL "
        "SELECT client_id FROM pseudonym_aliases WHERE pseudonym = $1 AND partner_id = $2 "
        "LIMIT 1",
        pg::Params().text(pseudonym).text(partner_id)));
  }
  Result<void> insert_alias(std::string_view pseudonym, std::string_view partner_id,
                            const ClientId& client, Instant since) override {
    return s_.data.run(
        "INSERT INTO pseudonym_aliases(pseudonym, partner_id, client_id, since) "
        "VALUES($1, $2, $3, $4)",
        pg::Params().text(pseudonym).text(partner_id).bytes(client.view()).int64(to_db(since)));
  }
  Result<void> record_card_event(const ClientId& client, store::CardEventKind kind,
                                 std::string_view first_service, std::string_view second_service,
                                 std::string_view reference, Instant at) override {
    pg::Params p;
    p.bytes(client.view()).int64(static_cast<std::int64_t>(kind));
    if (first_service.empty()) {
      p.null(pg::kText);
    } else {
      p.text(first_service);
    }
    p.text(second_service).text(reference).int64(to_db(at));
    return s_.data.run("INSERT INTO card_events(client_id, kind, first_service, second_service, "
                       "consent_reference, at) VALUES($1, $2, $3, $4, $5, $6)",
                       p);
  }
  Result<void> reassign_names(const ClientId& from, const ClientId& to) override {
    static const std::string kMoves[] = {
        "UPDATE identifiers SET client_id = $1 WHERE client_id = $2",
        "UPDATE service_pseudonyms SET client_id = $1 WHERE client_id = $2",
        "UPDATE card_events SET client_id = $1 WHERE client_id = $2",
        "UPDATE pseudonym_aliases SET client_id = $1 WHERE client_id = $2",
    };
    for (const auto& sql : kMoves) {
      if (auto r = run_reassign(s_.data, sql, from, to); !r) return r;
    }
    return bump_client_data(i_, s_.data);  // a link: the absorbed client's copies go
  }

  Result<std::vector<CaseloadRow>>
  caseload(std::string_view partner_id, const std::optional<CaseloadPosition>& after,
           std::size_t limit, const std::optional<crypto::IdentifierDigest>& token) override {
    // $2/$3: the position after which the page starts (since descending, pseudonym ascending);
    // without one, $2 is above every stored time. $4: the token, or NULL for every client.
    pg::Params p;
    p.text(partner_id);
    if (after) {
      p.int64(to_db(after->since)).text(after->pseudonym);
    } else {
      p.int64(std::numeric_limits<std::int64_t>::max()).text(std::string_view{});
    }
    if (token) {
      p.bytes(std::span<const std::uint8_t>(*token));
    } else {
      p.null(pg::kBytea);
    }
    p.int64(static_cast<std::int64_t>(limit));
    // COLLATE "C": the pseudonym order is byte order, as SQLite's (the page positions depend on
    // it, and a database's default collation may differ).
    auto rows = s_.data.query(
        "SELECT r.client_id, r.pseudonym, r.since, r.origin, l.label_sealed "
        "FROM care_relationships r "
        "LEFT JOIN caseload_labels l ON l.partner_id = r.partner_id AND l.client_id = r.client_id "
        "WHERE r.partner_id = $1 AND (r.since < $2 OR (r.since = $2 AND "
        "r.pseudonym COLLATE \"C\" > $3 COLLATE \"C\")) "
        "AND ($4::bytea IS NULL OR EXISTS (SELECT 1 FROM caseload_label_tokens t WHERE "
        "t.partner_id = r.partner_id AND t.token = $4 AND t.client_id = r.client_id)) "
        "ORDER BY r.since DESC, r.pseudonym COLLATE \"C\" ASC LIMIT $5",
        p);
    if (!rows) return rows.error();
    std::vector<CaseloadRow> out;
    for (int i = 0; i < rows->size(); ++i) {
      auto client = client_from(rows->bytes(i, 0));
      if (!client) return client.error();
      CaseloadRow r{*client, rows->text(i, 1), from_db(rows->int64(i, 2)),
                    origin_from_db(rows->int64(i, 3)), {}};
      if (!rows->is_null(i, 4)) r.label_sealed = rows->byte_vector(i, 4);
      out.push_back(std::move(r));
    }
    return out;
  }
  Result<void> set_caseload_label(std::string_view partner_id, const ClientId& client,
                                  std::span<const std::uint8_t> sealed,
                                  std::span<const crypto::IdentifierDigest> tokens,
                                  Instant at) override {
    if (auto r = clear_caseload_label(partner_id, client); !r) return r;
    if (auto r = s_.data.run("INSERT INTO caseload_labels(partner_id, client_id, label_sealed, "
                             "set_at) VALUES($1, $2, $3, $4)",
                             pg::Params()
                                 .text(partner_id)
                                 .bytes(client.view())
                                 .bytes(sealed)
                                 .int64(to_db(at)));
        !r) {
      return r;
    }
    for (const auto& token : tokens) {
      if (auto r = s_.data.run("INSERT INTO caseload_label_tokens(partner_id, token, client_id) "
                               "VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
                               pg::Params()
                                   .text(partner_id)
                                   .bytes(std::span<const std::uint8_t>(token))
                                   .bytes(client.view()));
          !r) {
        return r;
      }
    }
    return {};
  }
  Result<void> clear_caseload_label(std::string_view partner_id,
                                    const ClientId& client) override {
    static const std::string kDeletes[] = {
        "DELETE FROM caseload_label_tokens WHERE client_id = $1 AND partner_id = $2",
        "DELETE FROM caseload_labels WHERE client_id = $1 AND partner_id = $2",
    };
    for (const auto& sql : kDeletes) {
      if (auto r = s_.data.run(sql, pg::Params().bytes(client.view()).text(partner_id)); !r) {
        return r;
      }
    }
    return {};
  }
  Result<std::vector<std::uint8_t>> caseload_label(std::string_view partner_id,
                                                   const ClientId& client) override {
    auto rows = s_.data.query(
        "SELECT label_sealed FROM caseload_labels WHERE partner_id = $1 AND client_id = $2",
        pg::Params().text(partner_id).bytes(client.view()));
    if (!rows) return rows.error();
    if (rows->empty()) return std::vector<std::uint8_t>{};
    return rows->byte_vector(0, 0);
  }

 private:
  const Impl& i_;
  Session& s_;
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

Result<FragmentRecord> read_meta(const pg::Rows& r, int i) {
  FragmentRecord m;
  auto id = fragment_from(r.bytes(i, 1));
  if (!id) return id.error();
  auto client = client_from(r.bytes(i, 2));
  if (!client) return client.error();
  m.meta.id = *id;
  m.meta.client = *client;
  m.meta.category = r.text(i, 3);
  m.meta.owner_partner = r.text(i, 4);
  m.meta.created_by_worker = r.text(i, 5);
  m.meta.created_at = from_db(r.int64(i, 6));
  m.meta.version = static_cast<std::uint32_t>(r.int64(i, 7));
  if (!r.is_null(i, 8)) {
    auto prev = fragment_from(r.bytes(i, 8));
    if (!prev) return prev.error();
    m.meta.supersedes = *prev;
  }
  m.key_version = crypto::DataKeyVersion{static_cast<std::uint32_t>(r.int64(i, 9))};
  m.superseded = !r.is_null(i, 10);
  return m;
}

class PgFragments final : public store::FragmentRecords {
 public:
  explicit PgFragments(Session& s) : s_(s) {}

  Result<void> insert(const FragmentMeta& m, crypto::DataKeyVersion key_version,
                      std::span<const std::uint8_t> sealed_fields) override {
    // Its seq is the next in its client's range (two writers of one client: one of them meets
    // the primary key and fails busy or conflict; SERIALIZABLE makes it busy).
    pg::Params p;
    p.bytes(m.client.view())
        .bytes(m.id.view())
        .text(m.category)
        .text(m.owner_partner)
        .text(m.created_by_worker)
        .int64(to_db(m.created_at))
        .int64(m.version);
    if (m.supersedes) {
      p.bytes(m.supersedes->view());
    } else {
      p.null(pg::kBytea);
    }
    p.int64(key_version.value).bytes(sealed_fields);
    return s_.data.run(
        "INSERT INTO fragments(client_id, seq, id, category, owner_partner, created_by_worker, "
        "created_at, version, supersedes, key_version, fields) VALUES($1, "
        "(SELECT coalesce(max(seq), 0) + 1 FROM fragments WHERE client_id = $1), "
        "$2, $3, $4, $5, $6, $7, $8, $9, $10)",
        p);
  }
  Result<FragmentRecord> find(const FragmentId& id) override {
    static const std::string kSql = meta_select("", "WHERE id = $1");
    auto rows = s_.data.query(kSql, pg::Params().bytes(id.view()));
    if (!rows) return rows.error();
    if (rows->empty()) return make_error_code(Errc::not_found);
    return read_meta(*rows, 0);
  }
  Result<void> mark_superseded(const FragmentId& previous, const FragmentId& next) override {
    auto rows = s_.data.query(
        "UPDATE fragments SET superseded_by = $1 WHERE id = $2 AND superseded_by IS NULL",
        pg::Params().bytes(next.view()).bytes(previous.view()));
    if (!rows) return rows.error();
    if (rows->affected() != 1) return make_error_code(Errc::conflict);
    return {};
  }
  Result<std::vector<FragmentMeta>> current(const ClientId& client) override {
    static const std::string kSql = meta_select(
        "", "WHERE client_id = $1 AND superseded_by IS NULL ORDER BY created_at, seq");
    auto rows = s_.data.query(kSql, pg::Params().bytes(client.view()));
    if (!rows) return rows.error();
    std::vector<FragmentMeta> out;
    for (int i = 0; i < rows->size(); ++i) {
      auto m = read_meta(*rows, i);
      if (!m) return m.error();
      out.push_back(std::move(m->meta));
    }
    return out;
  }
  Result<std::vector<SealedFragment>> current_sealed(const ClientId& client) override {
    static const std::string kSql = meta_select(
        ", fields", "WHERE client_id = $1 AND superseded_by IS NULL ORDER BY created_at, seq");
    return sealed_rows(kSql, client);
  }
  Result<std::vector<SealedFragment>> all_sealed(const ClientId& client) override {
    static const std::string kSql = meta_select(", fields", "WHERE client_id = $1 ORDER BY seq");
    return sealed_rows(kSql, client);
  }
  Result<void> replace_sealed(const FragmentId& fragment, crypto::DataKeyVersion key_version,
                              std::span<const std::uint8_t> sealed) override {
    return s_.data.run("UPDATE fragments SET fields = $1, key_version = $2 WHERE id = $3",
                       pg::Params().bytes(sealed).int64(key_version.value).bytes(fragment.view()));
  }
  Result<void> reassign(const ClientId& from, const ClientId& to) override {
    // `from`'s fragments join the end of `to`'s range (seq is per client).
    auto last = s_.data.query("SELECT coalesce(max(seq), 0)::bigint FROM fragments WHERE "
                              "client_id = $1",
                              pg::Params().bytes(to.view()));
    if (!last) return last.error();
    return s_.data.run(
        "UPDATE fragments SET client_id = $1, seq = seq + $3 WHERE client_id = $2",
        pg::Params().bytes(to.view()).bytes(from.view()).int64(last->int64(0, 0)));
  }

 private:
  Result<std::vector<SealedFragment>> sealed_rows(const std::string& sql, const ClientId& client) {
    auto rows = s_.data.query(sql, pg::Params().bytes(client.view()));
    if (!rows) return rows.error();
    std::vector<SealedFragment> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i) {
      auto m = read_meta(*rows, i);
      if (!m) return m.error();
      out.push_back({std::move(m->meta), m->key_version.value, rows->byte_vector(i, 11)});
    }
    return out;
  }

  Session& s_;
};

// --- consents ---

const std::string kConsentSelect =
    "SELECT id, client_id, recorded_by_partner, recorded_by_worker, recorded_at, valid_from, "
    "valid_until, revoked_at, revoked_by_partner, revoked_by_worker, document_sealed "
    "FROM consents ";

class PgConsents final : public store::ConsentRecords {
 public:
  PgConsents(Impl& i, Session& s) : i_(i), s_(s) {}

  Result<void> insert(const ConsentRecord& c) override {
    // The document is the client's own words about what may be shared: sealed under the
    // client's data key (docs/threat-model.md "PostgreSQL at rest"), unlike in the SQLCipher
    // file, which encrypts every page instead.
    auto sealed = i_.seal_document(s_, c.client, c.id, c.document);
    if (!sealed) return sealed.error();
    return s_.data.run(
        "INSERT INTO consents(id, client_id, recorded_by_partner, recorded_by_worker, "
        "recorded_at, valid_from, valid_until, document_sealed) "
        "VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
        pg::Params()
            .text(c.id)
            .bytes(c.client.view())
            .text(c.recorded_by_partner)
            .text(c.recorded_by_worker)
            .int64(to_db(c.recorded_at))
            .int64(to_db(c.valid_from))
            .int64(to_db(c.valid_until))
            .bytes(*sealed));
  }
  Result<ConsentRecord> find(const ClientId& client, std::string_view id) override {
    static const std::string kSql = kConsentSelect + "WHERE id = $1 AND client_id = $2";
    auto rows = s_.data.query(kSql, pg::Params().text(id).bytes(client.view()));
    if (!rows) return rows.error();
    if (rows->empty()) return make_error_code(Errc::not_found);
    return read(*rows, 0);
  }
  Result<std::vector<ConsentRecord>> history(const ClientId& client) override {
    static const std::string kSql =
        kConsentSelect + "WHERE client_id = $1 ORDER BY recorded_at, seq";
    auto rows = s_.data.query(kSql, pg::Params().bytes(client.view()));
    if (!rows) return rows.error();
    std::vector<ConsentRecord> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i) {
      auto c = read(*rows, i);
      if (!c) return c.error();
      out.push_back(std::move(*c));
    }
    return out;
  }
  Result<std::vector<std::string>> ids_with_prefix(const ClientId& client, std::string_view prefix,
                                                   std::size_t limit) override {
    auto rows = s_.data.query(
        "SELECT id FROM consents WHERE client_id = $1 AND substr(id, 1, length($2)) = $2 "
        "LIMIT $3",
        pg::Params().bytes(client.view()).text(prefix).int64(static_cast<std::int64_t>(limit)));
    if (!rows) return rows.error();
    std::vector<std::string> out;
    for (int i = 0; i < rows->size(); ++i)
      out.push_back(rows->text(i, 0));
    return out;
  }
  Result<void> revoke(const ClientId& client, std::string_view consent_id, Instant at,
                      std::string_view partner_id, std::string_view worker_id) override {
    auto rows = s_.data.query(
        "UPDATE consents SET revoked_at = $1, revoked_by_partner = $2, revoked_by_worker = $3 "
        "WHERE id = $4 AND client_id = $5 AND revoked_at IS NULL",
        pg::Params()
            .int64(to_db(at))
            .text(partner_id)
            .text(worker_id)
            .text(consent_id)
            .bytes(client.view()));
    if (!rows) return rows.error();
    if (rows->affected() != 1) return make_error_code(Errc::conflict);
    return {};
  }
  Result<void> reassign(const ClientId& from, const ClientId& to) override {
    // A sealed document is bound to its client: each is opened under `from`'s key and sealed
    // again under `to`'s as it moves.
    auto rows = s_.data.query("SELECT id, document_sealed FROM consents WHERE client_id = $1",
                              pg::Params().bytes(from.view()));
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i) {
      const std::string id = rows->text(i, 0);
      auto document = i_.open_document(s_, from, id, rows->bytes(i, 1));
      if (!document) return document.error();
      auto sealed = i_.seal_document(s_, to, id, *document);
      crypto::wipe(std::span<char>(document->data(), document->size()));
      if (!sealed) return sealed.error();
      if (auto r = s_.data.run("UPDATE consents SET client_id = $1, document_sealed = $2 "
                               "WHERE id = $3",
                               pg::Params().bytes(to.view()).bytes(*sealed).text(id));
          !r) {
        return r;
      }
    }
    return {};
  }

 private:
  Result<ConsentRecord> read(const pg::Rows& r, int i) {
    auto client = client_from(r.bytes(i, 1));
    if (!client) return client.error();
    const std::string id = r.text(i, 0);
    auto document = i_.open_document(s_, *client, id, r.bytes(i, 10));
    if (!document) return document.error();
    ConsentRecord c{id,
                    *client,
                    r.text(i, 2),
                    r.text(i, 3),
                    from_db(r.int64(i, 4)),
                    from_db(r.int64(i, 5)),
                    from_db(r.int64(i, 6)),
                    std::nullopt,
                    r.is_null(i, 8) ? std::string() : r.text(i, 8),
                    r.is_null(i, 9) ? std::string() : r.text(i, 9),
                    std::move(*document)};
    if (!r.is_null(i, 7)) c.revoked_at = from_db(r.int64(i, 7));
    return c;
  }

  Impl& i_;
  Session& s_;
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

constexpr std::string_view kGrantColumns =
    "id, client_id, partner_id, worker_id, categories, starts_at, expires_at";

Result<BreakGlassGrant> read_grant(const pg::Rows& r, int i) {
  auto client = client_from(r.bytes(i, 1));
  if (!client) return client.error();
  // The reason stays sealed in the store (sealed_reasons hands it out for review).
  return BreakGlassGrant{r.text(i, 0),           *client,
                         r.text(i, 2),           r.text(i, 3),
                         split(r.text(i, 4)),    std::string(),
                         from_db(r.int64(i, 5)), from_db(r.int64(i, 6))};
}

Result<std::vector<BreakGlassGrant>> collect_grants(const Result<pg::Rows>& rows) {
  if (!rows) return rows.error();
  std::vector<BreakGlassGrant> out;
  for (int i = 0; i < rows->size(); ++i) {
    auto g = read_grant(*rows, i);
    if (!g) return g.error();
    out.push_back(std::move(*g));
  }
  return out;
}

Result<std::vector<SealedReason>> collect_reasons(const Result<pg::Rows>& rows) {
  if (!rows) return rows.error();
  std::vector<SealedReason> out;
  for (int i = 0; i < rows->size(); ++i) {
    auto client = client_from(rows->bytes(i, 1));
    if (!client) return client.error();
    out.push_back({rows->text(i, 0), *client, rows->text(i, 2), rows->text(i, 3),
                   from_db(rows->int64(i, 4)), rows->byte_vector(i, 5)});
  }
  return out;
}

std::string grant_select(std::string_view rest) {
  std::string sql = "SELECT ";
  sql += kGrantColumns;
  sql += " FROM break_glass_grants ";
  sql += rest;
  return sql;
}

class PgGrants final : public store::GrantRecords {
 public:
  explicit PgGrants(Session& s) : s_(s) {}

  Result<void> insert(const BreakGlassGrant& g, std::span<const std::uint8_t> sealed) override {
    return s_.data.run(
        "INSERT INTO break_glass_grants(id, client_id, partner_id, worker_id, categories, "
        "reason_sealed, starts_at, expires_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
        pg::Params()
            .text(g.id)
            .bytes(g.client.view())
            .text(g.partner_id)
            .text(g.worker_id)
            .text(join(g.categories))
            .bytes(sealed)
            .int64(to_db(g.starts_at))
            .int64(to_db(g.expires_at)));
  }
  Result<std::vector<BreakGlassGrant>> history(const ClientId& client) override {
    static const std::string kSql = grant_select("WHERE client_id = $1 ORDER BY starts_at, seq");
    return collect_grants(s_.data.query(kSql, pg::Params().bytes(client.view())));
  }
  Result<std::vector<BreakGlassGrant>> expired_unrecorded(Instant now, std::size_t limit) override {
    static const std::string kSql = grant_select(
        "WHERE expiry_recorded = false AND expires_at <= $1 ORDER BY expires_at, seq LIMIT $2");
    return collect_grants(s_.data.query(
        kSql, pg::Params().int64(to_db(now)).int64(static_cast<std::int64_t>(limit))));
  }
  Result<void> mark_expiry_recorded(std::span<const std::string> ids) override {
    for (const auto& id : ids) {
      if (auto r = s_.data.run("UPDATE break_glass_grants SET expiry_recorded = true WHERE id = $1",
                               pg::Params().text(id));
          !r) {
        return r;
      }
    }
    return {};
  }
  Result<std::vector<SealedReason>>
  sealed_reasons(const store::BreakGlassReasonQuery& query) override {
    pg::Params p;
    if (query.partner_id) {
      p.text(*query.partner_id);
    } else {
      p.null(pg::kText);
    }
    if (query.from) {
      p.int64(to_db(*query.from));
    } else {
      p.null(pg::kInt8);
    }
    if (query.until) {
      p.int64(to_db(*query.until));
    } else {
      p.null(pg::kInt8);
    }
    return collect_reasons(s_.data.query(
        "SELECT id, client_id, partner_id, worker_id, starts_at, reason_sealed "
        "FROM break_glass_grants WHERE ($1::text IS NULL OR partner_id = $1) "
        "AND ($2::bigint IS NULL OR starts_at >= $2) AND ($3::bigint IS NULL OR starts_at <= $3) "
        "ORDER BY starts_at, seq",
        p));
  }
  Result<std::vector<SealedReason>> sealed_reasons_of(const ClientId& client) override {
    return collect_reasons(s_.data.query(
        "SELECT id, client_id, partner_id, worker_id, starts_at, reason_sealed "
        "FROM break_glass_grants WHERE client_id = $1 ORDER BY starts_at, seq",
        pg::Params().bytes(client.view())));
  }
  Result<void> replace_sealed_reason(std::string_view grant_id,
                                     std::span<const std::uint8_t> sealed) override {
    return s_.data.run("UPDATE break_glass_grants SET reason_sealed = $1 WHERE id = $2",
                       pg::Params().bytes(sealed).text(grant_id));
  }
  Result<void> reassign(const ClientId& from, const ClientId& to) override {
    return run_reassign(s_.data, "UPDATE break_glass_grants SET client_id = $1 WHERE client_id = $2",
                        from, to);
  }
  Result<std::vector<std::pair<std::int64_t, BreakGlassGrant>>>
  concerning(std::string_view partner_id, std::int64_t before, std::size_t limit) override {
    auto rows = s_.data.query(
        "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at, seq "
        "FROM break_glass_grants g WHERE (g.partner_id = $1 OR EXISTS (SELECT 1 FROM "
        "care_relationships r WHERE r.partner_id = $1 AND r.client_id = g.client_id)) "
        "AND ($2 <= 0 OR g.seq < $2) ORDER BY g.seq DESC LIMIT $3",
        pg::Params().text(partner_id).int64(before).int64(static_cast<std::int64_t>(limit)));
    if (!rows) return rows.error();
    std::vector<std::pair<std::int64_t, BreakGlassGrant>> out;
    for (int i = 0; i < rows->size(); ++i) {
      auto g = read_grant(*rows, i);
      if (!g) return g.error();
      out.emplace_back(rows->int64(i, 7), std::move(*g));
    }
    return out;
  }
  Result<BreakGlassGrant> find(std::string_view grant_id) override {
    static const std::string kSql = grant_select("WHERE id = $1");
    auto all = collect_grants(s_.data.query(kSql, pg::Params().text(grant_id)));
    if (!all) return all.error();
    if (all->empty()) return make_error_code(Errc::not_found);
    return std::move(all->front());
  }
  Result<void> insert_review(const BreakGlassReview& review,
                             std::span<const std::uint8_t> sealed_note) override {
    return s_.data.run(
        "INSERT INTO break_glass_reviews(grant_id, partner_id, worker_id, outcome, note_sealed, "
        "reviewed_at) VALUES($1, $2, $3, $4, $5, $6)",
        pg::Params()
            .text(review.grant_id)
            .text(review.partner_id)
            .text(review.worker_id)
            .text(review.outcome)
            .bytes(sealed_note)
            .int64(to_db(review.reviewed_at)));
  }
  Result<std::vector<std::pair<BreakGlassReview, std::vector<std::uint8_t>>>>
  reviews_of(std::string_view grant_id) override {
    auto rows = s_.data.query(
        "SELECT grant_id, partner_id, worker_id, outcome, note_sealed, reviewed_at "
        "FROM break_glass_reviews WHERE grant_id = $1 ORDER BY reviewed_at, seq",
        pg::Params().text(grant_id));
    if (!rows) return rows.error();
    std::vector<std::pair<BreakGlassReview, std::vector<std::uint8_t>>> out;
    for (int i = 0; i < rows->size(); ++i) {
      out.emplace_back(BreakGlassReview{rows->text(i, 0), rows->text(i, 1), rows->text(i, 2),
                                        rows->text(i, 3), std::nullopt,
                                        from_db(rows->int64(i, 5))},
                       rows->byte_vector(i, 4));
    }
    return out;
  }
  Result<void> replace_sealed_note(std::string_view grant_id, std::string_view partner_id,
                                   std::span<const std::uint8_t> sealed) override {
    return s_.data.run(
        "UPDATE break_glass_reviews SET note_sealed = $1 WHERE grant_id = $2 AND partner_id = $3",
        pg::Params().bytes(sealed).text(grant_id).text(partner_id));
  }

 private:
  Session& s_;
};

// --- keys ---

class PgKeys final : public store::KeyStore {
 public:
  PgKeys(Impl& i, Session& s) : i_(i), s_(s) {}

  Result<std::pair<crypto::DataKeyVersion, crypto::DataKey>>
  key_for_sealing(const ClientId& client, std::string_view category) override {
    return i_.data_key_for_write(s_, client, category);
  }
  Result<crypto::DataKey> key(const ClientId& client, std::string_view category,
                              crypto::DataKeyVersion version) override {
    return i_.data_key_for_read(s_, client, category, version);
  }
  Result<const crypto::DataKey*> cached_key(const ClientId& client, std::string_view category,
                                            crypto::DataKeyVersion version) override {
    return i_.cached_data_key(s_, client, category, version);
  }
  Result<void> journal(const ClientId& client, std::string_view category,
                       crypto::DataKeyVersion version, const crypto::DataKey* known) override {
    return i_.journal_key(s_, client, category, version, known);
  }
  Result<void> shred(std::string_view tag) override { return i_.shred_keys(s_, tag); }
  Result<void> begin_batch() override {
    if (auto r = s_.keys.exec("BEGIN"); !r) return r;
    s_.key_batch = true;
    return {};
  }
  Result<void> end_batch() override {
    if (auto r = s_.keys.exec("COMMIT"); !r) return r;
    s_.key_batch = false;
    return {};
  }

 private:
  Impl& i_;
  Session& s_;
};

// --- the unit of work ---

class PgRecords final : public store::Records {
 public:
  PgRecords(Impl& i, Session& s)
      : i_(i), s_(s), partners_(i, s), workers_(s), clients_(i, s), fragments_(s), consents_(i, s),
        grants_(s), keys_(i, s) {}

  store::PartnerRecords& partners() noexcept override { return partners_; }
  store::WorkerRecords& workers() noexcept override { return workers_; }
  store::ClientRecords& clients() noexcept override { return clients_; }
  store::FragmentRecords& fragments() noexcept override { return fragments_; }
  store::ConsentRecords& consents() noexcept override { return consents_; }
  store::GrantRecords& grants() noexcept override { return grants_; }
  store::KeyStore& keys() noexcept override { return keys_; }

  Result<void> begin_write() override {
    // A read snapshot the unit started ends here; the write transaction sees the newest state.
    // SERIALIZABLE (docs/store.md "PostgreSQL: transactions"): a rule checked by a read inside
    // it and a write that depends on it commit together or not at all, whatever other nodes do
    // meanwhile; PostgreSQL aborts one of two interleaving transactions (Errc::busy).
    if (s_.open == Session::Open::read && s_.data.in_transaction()) {
      if (auto r = s_.data.exec("COMMIT"); !r) return r;
      s_.open = Session::Open::none;
    }
    // Inside bulk_write's transaction the unit's writes join it (commit() is then a no-op).
    if (s_.open == Session::Open::none && s_.data.in_transaction()) return {};
    if (auto r = s_.data.exec("BEGIN ISOLATION LEVEL SERIALIZABLE"); !r) return r;
    s_.open = Session::Open::write;
    return {};
  }
  Result<void> begin_read() override {
    if (s_.data.in_transaction()) return {};
    // One snapshot for every read of the unit; read only, so it takes no predicate locks and
    // never makes a writer fail.
    if (auto r = s_.data.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !r) return r;
    s_.open = Session::Open::read;
    return {};
  }
  Result<void> commit() override {
    if (s_.open == Session::Open::none) return {};
    auto r = s_.data.exec("COMMIT");
    s_.open = Session::Open::none;
    return r;
  }
  Result<void> purge_deleted() override {
    // VACUUM marks the deleted rows' space free for reuse and drops their index entries; it
    // cannot run inside a transaction and does not overwrite the bytes (docs/store.md
    // "PostgreSQL: what remains of deleted rows").
    if (s_.data.in_transaction()) return {};
    return s_.data.exec(
        "VACUUM clients, identifiers, care_relationships, service_pseudonyms, card_events, "
        "pseudonym_aliases, fragments, consents, break_glass_grants, break_glass_reviews, "
        "caseload_labels, caseload_label_tokens, key_journal, data_keys");
  }
  Instant now() const override { return i_.now(); }
  Result<void> fault_point_for_test(std::string_view step) const override { return i_.step(step); }
  void field_opened(const FragmentId& fragment) const override {
    if (i_.options.on_field_opened) i_.options.on_field_opened(fragment);
  }

 private:
  Impl& i_;
  Session& s_;
  PgPartners partners_;
  PgWorkers workers_;
  PgClients clients_;
  PgFragments fragments_;
  PgConsents consents_;
  PgGrants grants_;
  PgKeys keys_;
};

}  // namespace

std::unique_ptr<store::Records> make_pg_records(PgStorage::Impl& impl, Session& s) {
  return std::make_unique<PgRecords>(impl, s);
}

}  // namespace sluis::pgstore
