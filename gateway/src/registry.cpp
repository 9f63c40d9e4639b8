// Registry: partners, workers, identified/anonymous registration, cards, links, erasure.
#include "sluis/gateway/registry.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/crypto/field.hpp"
#include "sealed_fields.hpp"
#include "store_impl.hpp"

#include <algorithm>

#include <map>

namespace sluis::gateway {

namespace {

using Impl = Store::Impl;

/// Card event kinds (card_events.kind).
constexpr std::int64_t kEventLink = 1;
constexpr std::int64_t kEventNewCard = 2;
/// Tombstone reasons (erasures.reason).
constexpr std::int64_t kErasedByRequest = 1;
constexpr std::int64_t kAbsorbedByLink = 2;

constexpr std::size_t kMaxDisplayName = 200;
constexpr std::size_t kMaxReference = 256;

bool valid_text(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
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

Result<Partner> load_partner(Impl& i, std::string_view id) {
  return i.partner(id);
}

/// The partner exists and is not revoked.
Result<Partner> active_partner(Impl& i, std::string_view id) {
  auto p = load_partner(i, id);
  if (!p) return p.error();
  if (p->revoked_at) return make_error_code(Errc::not_permitted);
  return p;
}

Result<ClientId> create_client(Impl& i, bool anonymous) {
  const auto client = ClientId::random();
  auto s = i.data.prepare("INSERT INTO clients(id, tag, anonymous, created_at) VALUES(?, ?, ?, ?)");
  if (!s) return s.error();
  if (auto r = s->bind(1, client.view())
                   .bind(2, i.tag_of(client))
                   .bind(3, std::int64_t{anonymous ? 1 : 0})
                   .bind(4, to_db(i.now()))
                   .run();
      !r) {
    return r.error();
  }
  return client;
}

/// The partner's pseudonym for the client, creating the care relationship when absent.
/// Returns {pseudonym, existed}.
Result<std::pair<std::string, bool>> ensure_relationship(Impl& i, std::string_view partner_id,
                                                         const ClientId& client,
                                                         RelationshipOrigin origin) {
  {
    auto s = i.data.prepare(
        "SELECT pseudonym FROM care_relationships WHERE partner_id = ? AND client_id = ?");
    if (!s) return s.error();
    s->bind(1, partner_id).bind(2, client.view());
    auto row = s->step();
    if (!row) return row.error();
    if (*row) return std::pair{s->text(0), true};
  }
  std::string pseudonym = crypto::partner_pseudonym(i.partner_pseudonym_key, partner_id, client);
  auto s = i.data.prepare(
      "INSERT INTO care_relationships(partner_id, client_id, pseudonym, since, origin) "
      "VALUES(?, ?, ?, ?, ?)");
  if (!s) return s.error();
  if (auto r = s->bind(1, partner_id)
                   .bind(2, client.view())
                   .bind(3, pseudonym)
                   .bind(4, to_db(i.now()))
                   .bind(5, origin_to_db(origin))
                   .run();
      !r) {
    return r.error();
  }
  return std::pair{std::move(pseudonym), false};
}

struct ServicePseudonymRow {
  ClientId client;
  bool retired = false;
};

Result<std::optional<ServicePseudonymRow>>
find_service_pseudonym(Impl& i, const crypto::IdentifierDigest& digest) {
  auto s = i.data.prepare("SELECT client_id, retired_at FROM service_pseudonyms WHERE digest = ?");
  if (!s) return s.error();
  s->bind(1, digest);
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return std::optional<ServicePseudonymRow>{};
  auto client = client_from_blob(s->blob(0));
  if (!client) return client.error();
  return std::optional<ServicePseudonymRow>{ServicePseudonymRow{*client, !s->is_null(1)}};
}

Result<void> insert_service_pseudonym(Impl& i, const crypto::IdentifierDigest& digest,
                                      const ClientId& client, std::string_view service_id) {
  auto s =
      i.data.prepare("INSERT INTO service_pseudonyms(digest, client_id, service_id, created_at) "
                     "VALUES(?, ?, ?, ?)");
  if (!s) return s.error();
  return s->bind(1, digest)
      .bind(2, client.view())
      .bind(3, service_id)
      .bind(4, to_db(i.now()))
      .run();
}

Result<void> record_card_event(Impl& i, const ClientId& client, std::int64_t kind,
                               std::string_view first_service, std::string_view second_service,
                               std::string_view reference) {
  auto s = i.data.prepare("INSERT INTO card_events(client_id, kind, first_service, second_service, "
                          "consent_reference, at) VALUES(?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  s->bind(1, client.view()).bind(2, kind);
  if (first_service.empty()) {
    s->bind_null(3);
  } else {
    s->bind(3, first_service);
  }
  return s->bind(4, second_service).bind(5, reference).bind(6, to_db(i.now())).run();
}

Result<bool> load_anonymous(Impl& i, const ClientId& client) {
  auto s = i.data.prepare("SELECT anonymous FROM clients WHERE id = ?");
  if (!s) return bool_error(s.error());
  s->bind(1, client.view());
  auto row = s->step();
  if (!row) return bool_error(row.error());
  if (!*row) return bool_error(make_error_code(Errc::not_found));
  return s->int64(0) != 0;
}

/// Folds client `absorbed` into `survivor` inside the caller's data-store transaction. Fields
/// are bound to their client, so every field of the absorbed client is opened with its old data
/// key and resealed under the survivor's (created in the key store beforehand if needed).
Result<void> absorb_client(Impl& i, const ClientId& survivor, const ClientId& absorbed) {
  struct FragmentRow {
    std::int64_t seq;
    FragmentId fragment;
    std::string category;
    std::uint32_t key_version;
    std::vector<std::uint8_t> fields;
  };
  std::vector<FragmentRow> rows;
  {
    auto s = i.data.prepare(
        "SELECT seq, id, category, key_version, fields FROM fragments WHERE client_id = ?");
    if (!s) return s.error();
    s->bind(1, absorbed.view());
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      auto fid = fragment_from_blob(s->blob(1));
      if (!fid) return fid.error();
      const auto fields = s->blob(4);
      rows.push_back({s->int64(0), *fid, s->text(2), static_cast<std::uint32_t>(s->int64(3)),
                      {fields.begin(), fields.end()}});
    }
  }
  std::map<std::string, std::pair<crypto::DataKeyVersion, crypto::DataKey>, std::less<>> new_keys;
  std::map<std::pair<std::string, std::uint32_t>, crypto::DataKey> old_keys;
  std::vector<SealedFieldView> sealed;
  for (auto& f : rows) {
    auto ok = old_keys.find({f.category, f.key_version});
    if (ok == old_keys.end()) {
      auto k = i.data_key_for_read(absorbed, f.category, crypto::DataKeyVersion{f.key_version});
      if (!k) return k.error();
      ok = old_keys.emplace(std::pair{f.category, f.key_version}, std::move(*k)).first;
    }
    auto nk = new_keys.find(f.category);
    if (nk == new_keys.end()) {
      auto k = i.data_key_for_write(survivor, f.category);
      if (!k) return k.error();
      nk = new_keys.emplace(f.category, std::move(*k)).first;
    }
    if (auto r = decode_sealed_fields(f.fields, sealed); !r) return r;
    auto blob = sealed_fields_header(sealed.size());
    for (const auto& field : sealed) {
      auto plain = crypto::open_field(
          ok->second,
          {f.fragment, field.name, f.category, absorbed, crypto::DataKeyVersion{f.key_version}},
          field.sealed);
      if (!plain) return make_error_code(Errc::crypto_failure);
      auto resealed = crypto::seal_field(
          nk->second.second, {f.fragment, field.name, f.category, survivor, nk->second.first},
          *plain);
      if (!resealed) return make_error_code(Errc::crypto_failure);
      append_sealed_field(blob, field.name, *resealed);
    }
    if (auto r = i.journal_key(survivor, f.category, nk->second.first, &nk->second.second); !r) {
      return r;
    }
    auto up = i.data.prepare(
        "UPDATE fragments SET fields = ?, key_version = ? WHERE client_id = ? AND seq = ?");
    if (!up) return up.error();
    if (auto r = up->bind(1, blob)
                     .bind(2, std::int64_t{nk->second.first.value})
                     .bind(3, absorbed.view())
                     .bind(4, f.seq)
                     .run();
        !r) {
      return r;
    }
  }
  if (auto r = i.step("link.after_reseal"); !r) return r;
  // Care relationships (docs/partner-guide/card-pseudonyms.md "Linking"): a partner that knew
  // only the absorbed client keeps its pseudonym, which now names the survivor; a partner that
  // knew both keeps the survivor's, and its other pseudonym becomes an alias of it, answered to
  // that partner only. No pseudonym a partner holds stops working, and no partner is handed a
  // pseudonym it did not have (promise 3).
  {
    auto s = i.data.prepare(
        "UPDATE care_relationships SET client_id = ?1 WHERE client_id = ?2 AND partner_id NOT IN "
        "(SELECT partner_id FROM care_relationships WHERE client_id = ?1)");
    if (!s) return s.error();
    if (auto r = s->bind(1, survivor.view()).bind(2, absorbed.view()).run(); !r) return r;
  }
  {
    auto s = i.data.prepare(
        "INSERT INTO pseudonym_aliases(pseudonym, partner_id, client_id, since) "
        "SELECT pseudonym, partner_id, ?1, ?3 FROM care_relationships WHERE client_id = ?2");
    if (!s) return s.error();
    if (auto r =
            s->bind(1, survivor.view()).bind(2, absorbed.view()).bind(3, to_db(i.now())).run();
        !r) {
      return r;
    }
  }
  // The absorbed client's fragments join the end of the survivor's range (seq is per client).
  {
    auto last = i.data.prepare("SELECT coalesce(max(seq), 0) FROM fragments WHERE client_id = ?");
    if (!last) return last.error();
    last->bind(1, survivor.view());
    auto row = last->step();
    if (!row) return row.error();
    const std::int64_t offset = last->int64(0);
    auto move = i.data.prepare(
        "UPDATE fragments SET client_id = ?1, seq = seq + ?3 WHERE client_id = ?2");
    if (!move) return move.error();
    if (auto r = move->bind(1, survivor.view()).bind(2, absorbed.view()).bind(3, offset).run();
        !r) {
      return r;
    }
  }
  // Break-the-glass reasons are sealed to their client like fields: resealed the same way.
  if (auto r = i.reseal_break_glass_reasons(survivor, absorbed); !r) return r;
  static constexpr const char* kMoves[] = {
      "UPDATE identifiers SET client_id = ?1 WHERE client_id = ?2",
      "UPDATE service_pseudonyms SET client_id = ?1 WHERE client_id = ?2",
      "UPDATE card_events SET client_id = ?1 WHERE client_id = ?2",
      "UPDATE consents SET client_id = ?1 WHERE client_id = ?2",
      "UPDATE break_glass_grants SET client_id = ?1 WHERE client_id = ?2",
      // Aliases the absorbed client had from an earlier link follow it.
      "UPDATE pseudonym_aliases SET client_id = ?1 WHERE client_id = ?2",
      "UPDATE clients SET anonymous = anonymous * (SELECT anonymous FROM clients WHERE id = ?2) "
      "WHERE id = ?1",
  };
  for (const char* sql : kMoves) {
    auto s = i.data.prepare(sql);
    if (!s) return s.error();
    if (auto r = s->bind(1, survivor.view()).bind(2, absorbed.view()).run(); !r) return r;
  }
  {
    auto s =
        i.data.prepare("INSERT OR IGNORE INTO erasures(tag, erased_at, reason) VALUES(?, ?, ?)");
    if (!s) return s.error();
    if (auto r =
            s->bind(1, i.tag_of(absorbed)).bind(2, to_db(i.now())).bind(3, kAbsorbedByLink).run();
        !r) {
      return r;
    }
  }
  auto del = i.data.prepare("DELETE FROM clients WHERE id = ?");
  if (!del) return del.error();
  return del->bind(1, absorbed.view()).run();
}

/// The keyed digest of an identifier (normalised in memory that is wiped afterwards) and the
/// client it names, if any. Errors: invalid_argument (malformed identifier), storage errors.
Result<std::pair<crypto::IdentifierDigest, std::optional<ClientId>>>
lookup_identifier(Impl& i, std::string_view partner_id, crypto::IdentifierScheme scheme,
                  std::string_view identifier) {
  auto normalised = crypto::normalise_identifier(scheme, identifier, partner_id);
  if (!normalised) return make_error_code(Errc::invalid_argument);
  const auto digest = crypto::identifier_digest(i.identifier_key, scheme, *normalised);
  crypto::wipe(std::span<char>(normalised->data(), normalised->size()));
  auto s = i.data.prepare("SELECT client_id FROM identifiers WHERE digest = ?");
  if (!s) return s.error();
  s->bind(1, digest);
  auto row = s->step();
  if (!row) return row.error();
  std::optional<ClientId> client;
  if (*row) {
    auto c = client_from_blob(s->blob(0));
    if (!c) return c.error();
    client = *c;
  }
  return std::pair{digest, client};
}

/// Registers one identifier inside the caller's transaction.
Result<Registration> register_one(Impl& i, std::string_view partner_id,
                                  crypto::IdentifierScheme scheme, std::string_view identifier) {
  auto found = lookup_identifier(i, partner_id, scheme, identifier);
  if (!found) return found.error();
  const auto& digest = found->first;
  auto client = found->second;
  const bool existing = client.has_value();
  if (!client) {
    auto c = create_client(i, false);
    if (!c) return c.error();
    client = *c;
    auto s = i.data.prepare("INSERT INTO identifiers(digest, client_id) VALUES(?, ?)");
    if (!s) return s.error();
    if (auto r = s->bind(1, digest).bind(2, client->view()).run(); !r) return r.error();
    if (auto r = i.step("register.after_identifier"); !r) return r.error();
  }
  auto rel = ensure_relationship(i, partner_id, *client, RelationshipOrigin::registered);
  if (!rel) return rel.error();
  return Registration{std::move(rel->first), existing};
}

}  // namespace

bool is_valid_name(std::string_view s) noexcept {
  return valid_name(s);
}

bool is_valid_worker_id(std::string_view s) noexcept {
  return valid_text(s, 128);
}

Registry::Registry(Store& store, RegistryOptions options)
    : store_(store), options_(std::move(options)) {}

Result<void> Registry::add_partner(std::string_view id, std::string_view partner_type,
                                   std::string_view display_name) {
  if (!valid_name(id) || !valid_name(partner_type) || !valid_text(display_name, kMaxDisplayName)) {
    return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
      "INSERT INTO partners(id, partner_type, display_name, created_at) VALUES(?, ?, ?, ?)");
  if (!s) return s.error();
  i.forget_partners();
  return s->bind(1, id).bind(2, partner_type).bind(3, display_name).bind(4, to_db(i.now())).run();
}

Result<Partner> Registry::find_partner(std::string_view id) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  return load_partner(i, id);
}

Result<std::vector<Partner>> Registry::list_partners() const {
  auto table = partner_table();
  if (!table) return table.error();
  return **table;
}

Result<std::shared_ptr<const std::vector<Partner>>> Registry::partner_table() const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  return i.partner_table();
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

Result<Partner> Store::Impl::partner(std::string_view id) {
  auto table = partner_table();
  if (!table) return table.error();
  const auto* p = find_in_partner_table(**table, id);
  if (p == nullptr) return make_error_code(Errc::not_found);
  return *p;
}

const Partner* find_in_partner_table(std::span<const Partner> table,
                                     std::string_view id) noexcept {
  const auto it = std::lower_bound(table.begin(), table.end(), id,
                                   [](const Partner& p, std::string_view v) { return p.id < v; });
  return it == table.end() || it->id != id ? nullptr : &*it;
}

Result<void> Registry::revoke_partner(std::string_view id) {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto p = load_partner(i, id);
  if (!p) return p.error();
  if (p->revoked_at) return make_error_code(Errc::conflict);
  auto s = i.data.prepare("UPDATE partners SET revoked_at = ? WHERE id = ?");
  if (!s) return s.error();
  i.forget_partners();
  return s->bind(1, to_db(i.now())).bind(2, id).run();
}

Result<void> Registry::add_worker(std::string_view partner_id, std::string_view worker_id,
                                  std::string_view role) {
  if (!valid_text(worker_id, 128) || !valid_name(role)) {
    return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto p = load_partner(i, partner_id); !p) return p.error();
  auto s =
      i.data.prepare("INSERT INTO workers(partner_id, worker_id, role, active) VALUES(?, ?, ?, 1)");
  if (!s) return s.error();
  return s->bind(1, partner_id).bind(2, worker_id).bind(3, role).run();
}

Result<Worker> Registry::find_worker(std::string_view partner_id,
                                     std::string_view worker_id) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s =
      i.data.prepare("SELECT role, active FROM workers WHERE partner_id = ? AND worker_id = ?");
  if (!s) return s.error();
  s->bind(1, partner_id).bind(2, worker_id);
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  return Worker{std::string(partner_id), std::string(worker_id), s->text(0), s->int64(1) != 0};
}

Result<std::vector<Worker>> Registry::list_workers(std::string_view partner_id) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
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

Result<void> Registry::set_worker_active(std::string_view partner_id, std::string_view worker_id,
                                         bool active) {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare("UPDATE workers SET active = ? WHERE partner_id = ? AND worker_id = ?");
  if (!s) return s.error();
  if (auto r =
          s->bind(1, std::int64_t{active ? 1 : 0}).bind(2, partner_id).bind(3, worker_id).run();
      !r) {
    return r;
  }
  if (i.data.changes() == 0) return make_error_code(Errc::not_found);
  return {};
}

Result<Registration> Registry::register_identified(std::string_view partner_id,
                                                   crypto::IdentifierScheme scheme,
                                                   std::string_view identifier) {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto p = active_partner(i, partner_id); !p) return p.error();
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  auto reg = register_one(i, partner_id, scheme, identifier);
  if (!reg) return reg.error();
  if (auto r = tx.commit(); !r) return r.error();
  return reg;
}

Result<std::vector<Registration>>
Registry::register_identified_bulk(std::string_view partner_id, crypto::IdentifierScheme scheme,
                                   std::span<const std::string> identifiers) {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto p = active_partner(i, partner_id); !p) return p.error();
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  std::vector<Registration> out;
  out.reserve(identifiers.size());
  for (const auto& id : identifiers) {
    auto reg = register_one(i, partner_id, scheme, id);
    if (!reg) return reg.error();
    out.push_back(std::move(*reg));
  }
  if (auto r = tx.commit(); !r) return r.error();
  return out;
}

Result<Registration> Registry::register_anonymous(std::string_view partner_id,
                                                  std::string_view service_pseudonym) {
  // Only the form a partner system derives from a card (crypto::service_pseudonym): anything
  // else would let a caller register free text as an anonymous client.
  if (!crypto::looks_like_service_pseudonym(service_pseudonym)) {
    return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto partner = active_partner(i, partner_id);
  if (!partner) return partner.error();
  if (!options_.anonymous_partner_types.contains(partner->partner_type)) {
    return make_error_code(Errc::not_permitted);
  }
  const auto digest =
      crypto::service_pseudonym_digest(i.service_pseudonym_key, partner_id, service_pseudonym);
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  auto found = find_service_pseudonym(i, digest);
  if (!found) return found.error();
  ClientId client;
  bool existing = false;
  if (*found) {
    if ((*found)->retired) return make_error_code(Errc::card_replaced);
    client = (*found)->client;
    existing = true;
  } else {
    auto c = create_client(i, true);
    if (!c) return c.error();
    client = *c;
    if (auto r = insert_service_pseudonym(i, digest, client, partner_id); !r) return r.error();
    if (auto r = i.step("register_anonymous.after_pseudonym"); !r) return r.error();
  }
  auto rel = ensure_relationship(i, partner_id, client, RelationshipOrigin::card_presented);
  if (!rel) return rel.error();
  if (auto r = tx.commit(); !r) return r.error();
  return Registration{std::move(rel->first), existing};
}

Result<Registration> Registry::link(std::string_view partner_id, std::string_view own_pseudonym,
                                    std::string_view first_service_id,
                                    std::string_view first_pseudonym,
                                    std::string_view consent_reference) {
  if (!crypto::looks_like_service_pseudonym(own_pseudonym) ||
      !crypto::looks_like_service_pseudonym(first_pseudonym) || !valid_name(first_service_id) ||
      !valid_text(consent_reference, kMaxReference) || first_service_id == partner_id) {
    return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto p = active_partner(i, partner_id); !p) return p.error();
  const auto first_digest =
      crypto::service_pseudonym_digest(i.service_pseudonym_key, first_service_id, first_pseudonym);
  const auto own_digest =
      crypto::service_pseudonym_digest(i.service_pseudonym_key, partner_id, own_pseudonym);
  auto first = find_service_pseudonym(i, first_digest);
  if (!first) return first.error();
  if (!*first) return make_error_code(Errc::not_found);
  if ((*first)->retired) return make_error_code(Errc::card_replaced);
  const ClientId survivor = (*first)->client;
  auto own = find_service_pseudonym(i, own_digest);
  if (!own) return own.error();
  if (*own && (*own)->retired) return make_error_code(Errc::card_replaced);

  // Data keys the merge will need are created before the data transaction (see store_impl.hpp).
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  std::optional<ClientId> absorbed;
  if (!*own) {
    if (auto r = insert_service_pseudonym(i, own_digest, survivor, partner_id); !r) {
      return r.error();
    }
  } else if ((*own)->client != survivor) {
    absorbed = (*own)->client;
    if (auto r = absorb_client(i, survivor, *absorbed); !r) return r.error();
  }
  if (auto r = i.step("link.before_relationship"); !r) return r.error();
  auto rel = ensure_relationship(i, partner_id, survivor, RelationshipOrigin::linked);
  if (!rel) return rel.error();
  if (auto r = record_card_event(i, survivor, kEventLink, first_service_id, partner_id,
                                 consent_reference);
      !r) {
    return r.error();
  }
  if (auto r = tx.commit(); !r) return r.error();
  if (absorbed) {
    if (auto r = i.shred_keys(i.tag_of(*absorbed)); !r) return r.error();
  }
  return Registration{std::move(rel->first), rel->second};
}

Result<Registration> Registry::replace_card(std::string_view partner_id,
                                            std::string_view old_pseudonym,
                                            std::string_view new_pseudonym) {
  if (!crypto::looks_like_service_pseudonym(old_pseudonym) ||
      !crypto::looks_like_service_pseudonym(new_pseudonym) || old_pseudonym == new_pseudonym) {
    return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto p = active_partner(i, partner_id); !p) return p.error();
  const auto old_digest =
      crypto::service_pseudonym_digest(i.service_pseudonym_key, partner_id, old_pseudonym);
  const auto new_digest =
      crypto::service_pseudonym_digest(i.service_pseudonym_key, partner_id, new_pseudonym);
  auto old = find_service_pseudonym(i, old_digest);
  if (!old) return old.error();
  if (!*old) return make_error_code(Errc::not_found);
  if ((*old)->retired) return make_error_code(Errc::card_replaced);
  const ClientId client = (*old)->client;
  auto clash = find_service_pseudonym(i, new_digest);
  if (!clash) return clash.error();
  if (*clash) return make_error_code(Errc::conflict);

  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  {
    auto s = i.data.prepare(
        "UPDATE service_pseudonyms SET retired_at = ? WHERE client_id = ? AND retired_at IS NULL");
    if (!s) return s.error();
    if (auto r = s->bind(1, to_db(i.now())).bind(2, client.view()).run(); !r) return r.error();
  }
  if (auto r = i.step("replace_card.after_retire"); !r) return r.error();
  if (auto r = insert_service_pseudonym(i, new_digest, client, partner_id); !r) return r.error();
  if (auto r = record_card_event(i, client, kEventNewCard, {}, partner_id, "new-card"); !r) {
    return r.error();
  }
  auto rel = ensure_relationship(i, partner_id, client, RelationshipOrigin::card_presented);
  if (!rel) return rel.error();
  if (auto r = tx.commit(); !r) return r.error();
  return Registration{std::move(rel->first), true};
}

Result<ClientId> Registry::find_identified(crypto::IdentifierScheme scheme,
                                           std::string_view identifier,
                                           std::string_view case_partner_id) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto found = lookup_identifier(i, case_partner_id, scheme, identifier);
  if (!found) return found.error();
  if (!found->second) return make_error_code(Errc::not_found);
  return *found->second;
}

Result<ClientId> Registry::resolve(std::string_view partner_id, std::string_view pseudonym) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  // A pseudonym the partner held for a client that a link folded into this one answers as this
  // client, to that partner only (absorb_client). One statement: a miss costs the same either way.
  auto s = i.data.prepare(
      "SELECT client_id FROM care_relationships WHERE pseudonym = ?1 AND partner_id = ?2 "
      "UNION ALL "
      "SELECT client_id FROM pseudonym_aliases WHERE pseudonym = ?1 AND partner_id = ?2 LIMIT 1");
  if (!s) return s.error();
  s->bind(1, pseudonym).bind(2, partner_id);
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  return client_from_blob(s->blob(0));
}

Result<std::string> Registry::pseudonym_for(std::string_view partner_id,
                                            const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
      "SELECT pseudonym FROM care_relationships WHERE partner_id = ? AND client_id = ?");
  if (!s) return s.error();
  s->bind(1, partner_id).bind(2, client.view());
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  return s->text(0);
}

Result<bool> Registry::has_care_relationship(std::string_view partner_id,
                                             const ClientId& client) const {
  auto p = pseudonym_for(partner_id, client);
  if (p) return true;
  if (p.error() == Errc::not_found) return false;
  return bool_error(p.error());
}

Result<std::vector<CareRelationship>> Registry::care_relationships(const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
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

Result<bool> Registry::is_anonymous(const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  return load_anonymous(i, client);
}

Result<std::size_t> Registry::client_count() const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare("SELECT count(*) FROM clients");
  if (!s) return s.error();
  auto row = s->step();
  if (!row) return row.error();
  return static_cast<std::size_t>(s->int64(0));
}

Result<std::string> Registry::erase_client(const ClientId& client) {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto a = load_anonymous(i, client); !a) return a.error();
  std::string tag = i.tag_of(client);
  {
    sql::Transaction tx(i.data);
    if (auto r = tx.begin(); !r) return r.error();
    auto ins =
        i.data.prepare("INSERT OR IGNORE INTO erasures(tag, erased_at, reason) VALUES(?, ?, ?)");
    if (!ins) return ins.error();
    if (auto r = ins->bind(1, tag).bind(2, to_db(i.now())).bind(3, kErasedByRequest).run(); !r) {
      return r.error();
    }
    if (auto r = i.step("erase.after_tombstone"); !r) return r.error();
    auto del = i.data.prepare("DELETE FROM clients WHERE id = ?");
    if (!del) return del.error();
    if (auto r = del->bind(1, client.view()).run(); !r) return r.error();
    if (auto r = tx.commit(); !r) return r.error();
  }
  if (auto r = i.data.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !r) return r.error();
  // A crash between the two commits is repaired at the next open: reapply_erasures shreds the
  // keys of every tombstoned client.
  if (auto r = i.shred_keys(tag); !r) return r.error();
  return tag;
}

}  // namespace sluis::gateway
