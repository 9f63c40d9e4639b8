// Registry: partners, workers, identified/anonymous registration, cards, links, erasure.
#include "sluis/domain/registry.hpp"

#include "rules.hpp"
#include "sluis/domain/break_glass_review.hpp"
#include "sluis/crypto/card.hpp"
#include "sluis/crypto/field.hpp"

#include <algorithm>
#include <map>

namespace sluis::domain {

namespace {

using store::CardEventKind;
using store::ErasureReason;

constexpr std::size_t kMaxDisplayName = 200;
constexpr std::size_t kMaxReference = 256;

/// The partner exists and is not revoked.
Result<Partner> active_partner(UnitOfWork& u, std::string_view id) {
  auto p = find_partner_in(u, id);
  if (!p) return p.error();
  if (p->revoked_at) return make_error_code(Errc::not_permitted);
  return p;
}

Result<ClientId> create_client(UnitOfWork& u, bool anonymous) {
  const auto client = ClientId::random();
  const auto tag = crypto::audit_pseudonym(u.pseudonym_keys().audit_pseudonym, client);
  if (auto r = u.clients().insert(client, tag, anonymous, u.now()); !r) return r.error();
  return client;
}

/// The partner's pseudonym for the client (a keyed function of both: unrelated across partners),
/// creating the care relationship when absent. Returns {pseudonym, existed}.
Result<std::pair<std::string, bool>> ensure_relationship(UnitOfWork& u, std::string_view partner_id,
                                                         const ClientId& client,
                                                         RelationshipOrigin origin) {
  auto existing = u.clients().relationship(partner_id, client);
  if (!existing) return existing.error();
  if (*existing) return std::pair{std::move((*existing)->pseudonym), true};
  CareRelationship rel{
      std::string(partner_id),
      crypto::partner_pseudonym(u.pseudonym_keys().partner_pseudonym, partner_id, client), u.now(),
      origin};
  if (auto r = u.clients().insert_relationship(client, rel); !r) return r.error();
  return std::pair{std::move(rel.pseudonym), false};
}

/// Reseals one fragment's fields from `absorbed`'s data key to `survivor`'s: a field is bound to
/// its client, so it is opened with the old key and sealed again under the new one.
Result<std::vector<std::uint8_t>>
reseal_fields(const SealedFragment& f, const ClientId& absorbed, const crypto::DataKey& old_key,
              const ClientId& survivor, crypto::DataKeyVersion new_version,
              const crypto::DataKey& new_key, std::vector<store::SealedFieldView>& scratch) {
  if (auto r = store::decode_sealed_fields(f.fields, scratch); !r) return r.error();
  auto blob = store::sealed_fields_header(scratch.size());
  const crypto::DataKeyVersion old_version{f.key_version};
  for (const auto& field : scratch) {
    auto plain = crypto::open_field(
        old_key, {f.meta.id, field.name, f.meta.category, absorbed, old_version}, field.sealed);
    if (!plain) return make_error_code(Errc::crypto_failure);
    auto resealed = crypto::seal_field(
        new_key, {f.meta.id, field.name, f.meta.category, survivor, new_version}, *plain);
    if (!resealed) return make_error_code(Errc::crypto_failure);
    store::append_sealed_field(blob, field.name, *resealed);
  }
  return blob;
}

/// Moves `absorbed`'s fragments to `survivor`, every field resealed under the survivor's key of
/// its category (created in the key store beforehand when needed, and journalled).
Result<void> reseal_fragments(UnitOfWork& u, const ClientId& survivor, const ClientId& absorbed) {
  auto rows = u.fragments().all_sealed(absorbed);
  if (!rows) return rows.error();
  std::map<std::string, std::pair<crypto::DataKeyVersion, crypto::DataKey>, std::less<>> new_keys;
  std::map<std::pair<std::string, std::uint32_t>, crypto::DataKey> old_keys;
  std::vector<store::SealedFieldView> scratch;
  for (const auto& f : *rows) {
    auto ok = old_keys.find({f.meta.category, f.key_version});
    if (ok == old_keys.end()) {
      auto k = u.keys().key(absorbed, f.meta.category, crypto::DataKeyVersion{f.key_version});
      if (!k) return k.error();
      ok = old_keys.emplace(std::pair{f.meta.category, f.key_version}, std::move(*k)).first;
    }
    auto nk = new_keys.find(f.meta.category);
    if (nk == new_keys.end()) {
      auto k = u.keys().key_for_sealing(survivor, f.meta.category);
      if (!k) return k.error();
      nk = new_keys.emplace(f.meta.category, std::move(*k)).first;
    }
    auto blob = reseal_fields(f, absorbed, ok->second, survivor, nk->second.first,
                              nk->second.second, scratch);
    if (!blob) return blob.error();
    if (auto r = u.keys().journal(survivor, f.meta.category, nk->second.first, &nk->second.second);
        !r) {
      return r;
    }
    if (auto r = u.fragments().replace_sealed(f.meta.id, nk->second.first, *blob); !r) return r;
  }
  if (auto r = u.fault_point_for_test("link.after_reseal"); !r) return r;
  return u.fragments().reassign(absorbed, survivor);
}

/// Care relationships of a link (docs/partner-guide/card-pseudonyms.md "Linking"): a partner
/// that knew only the absorbed client keeps its pseudonym, which now names the survivor; a
/// partner that knew both keeps the survivor's, and its other pseudonym becomes an alias of it,
/// answered to that partner only. No pseudonym a partner holds stops working, and no partner is
/// handed a pseudonym it did not have (promise 3).
Result<void> merge_relationships(UnitOfWork& u, const ClientId& survivor,
                                 const ClientId& absorbed) {
  auto theirs = u.clients().relationships(absorbed);
  if (!theirs) return theirs.error();
  auto ours = u.clients().relationships(survivor);
  if (!ours) return ours.error();
  for (const auto& rel : *theirs) {
    const bool knew_both = std::any_of(ours->begin(), ours->end(), [&](const CareRelationship& o) {
      return o.partner_id == rel.partner_id;
    });
    if (knew_both) {
      if (auto r = u.clients().insert_alias(rel.pseudonym, rel.partner_id, survivor, u.now()); !r) {
        return r;
      }
    } else if (auto r = u.clients().move_relationship(rel.partner_id, absorbed, survivor); !r) {
      return r;
    }
  }
  return {};
}

/// Folds client `absorbed` into `survivor` inside the unit's write transaction.
Result<void> absorb_client(UnitOfWork& u, const ClientId& survivor, const ClientId& absorbed) {
  if (auto r = reseal_fragments(u, survivor, absorbed); !r) return r;
  if (auto r = merge_relationships(u, survivor, absorbed); !r) return r;
  // Break-the-glass reasons are sealed to their client like fields: resealed the same way.
  if (auto r = reseal_break_glass_reasons(u, survivor, absorbed); !r) return r;
  if (auto r = reseal_review_notes(u, survivor, absorbed); !r) return r;
  if (auto r = u.clients().reassign_names(absorbed, survivor); !r) return r;
  if (auto r = u.consents().reassign(absorbed, survivor); !r) return r;
  if (auto r = u.grants().reassign(absorbed, survivor); !r) return r;
  // One record stays anonymous only if both were.
  auto survivor_anonymous = u.clients().anonymous(survivor);
  if (!survivor_anonymous) return survivor_anonymous.error();
  auto absorbed_anonymous = u.clients().anonymous(absorbed);
  if (!absorbed_anonymous) return absorbed_anonymous.error();
  if (*survivor_anonymous && !*absorbed_anonymous) {
    if (auto r = u.clients().set_anonymous(survivor, false); !r) return r;
  }
  const auto tag = crypto::audit_pseudonym(u.pseudonym_keys().audit_pseudonym, absorbed);
  if (auto r = u.clients().tombstone(tag, u.now(), ErasureReason::absorbed_by_link); !r) return r;
  return u.clients().remove(absorbed);
}

/// The keyed digest of an identifier (normalised in memory that is wiped afterwards) and the
/// client it names, if any. Errors: invalid_argument (malformed identifier), storage errors.
Result<std::pair<crypto::IdentifierDigest, std::optional<ClientId>>>
lookup_identifier(UnitOfWork& u, std::string_view partner_id, crypto::IdentifierScheme scheme,
                  std::string_view identifier) {
  auto normalised = crypto::normalise_identifier(scheme, identifier, partner_id);
  if (!normalised) return make_error_code(Errc::invalid_argument);
  const auto digest =
      crypto::identifier_digest(u.pseudonym_keys().identifier_index, scheme, *normalised);
  crypto::wipe(std::span<char>(normalised->data(), normalised->size()));
  auto client = u.clients().find_identifier(digest);
  if (!client) return client.error();
  return std::pair{digest, *client};
}

/// Registers one identifier inside the unit's write transaction.
Result<Registration> register_one(UnitOfWork& u, std::string_view partner_id,
                                  crypto::IdentifierScheme scheme, std::string_view identifier) {
  auto found = lookup_identifier(u, partner_id, scheme, identifier);
  if (!found) return found.error();
  const auto& digest = found->first;
  auto client = found->second;
  const bool existing = client.has_value();
  if (!client) {
    auto c = create_client(u, false);
    if (!c) return c.error();
    client = *c;
    if (auto r = u.clients().insert_identifier(digest, *client); !r) return r.error();
    if (auto r = u.fault_point_for_test("register.after_identifier"); !r) return r.error();
  }
  auto rel = ensure_relationship(u, partner_id, *client, RelationshipOrigin::registered);
  if (!rel) return rel.error();
  return Registration{std::move(rel->first), existing};
}

crypto::IdentifierDigest service_digest(UnitOfWork& u, std::string_view service_id,
                                        std::string_view pseudonym) {
  return crypto::service_pseudonym_digest(u.pseudonym_keys().service_pseudonym_index, service_id,
                                          pseudonym);
}

}  // namespace

bool is_valid_name(std::string_view s) noexcept {
  return valid_name(s);
}

bool is_valid_worker_id(std::string_view s) noexcept {
  return valid_text(s, 128);
}

std::string audit_pseudonym(const Storage& storage, const ClientId& client) {
  return crypto::audit_pseudonym(storage.pseudonym_keys().audit_pseudonym, client);
}

const Partner* find_in_partner_table(std::span<const Partner> table, std::string_view id) noexcept {
  const auto it = std::lower_bound(table.begin(), table.end(), id,
                                   [](const Partner& p, std::string_view v) { return p.id < v; });
  return it == table.end() || it->id != id ? nullptr : &*it;
}

Registry::Registry(Storage& storage, RegistryOptions options)
    : storage_(storage), options_(std::move(options)) {}

Result<void> Registry::add_partner(std::string_view id, std::string_view partner_type,
                                   std::string_view display_name) {
  if (!valid_name(id) || !valid_name(partner_type) || !valid_text(display_name, kMaxDisplayName)) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage_);
  return u.partners().insert(Partner{std::string(id), std::string(partner_type),
                                     std::string(display_name), u.now(), std::nullopt});
}

Result<Partner> Registry::find_partner(std::string_view id) const {
  UnitOfWork u(storage_);
  return find_partner_in(u, id);
}

Result<std::vector<Partner>> Registry::list_partners() const {
  auto table = partner_table();
  if (!table) return table.error();
  return **table;
}

Result<std::shared_ptr<const std::vector<Partner>>> Registry::partner_table() const {
  UnitOfWork u(storage_);
  return u.partners().table();
}

Result<void> Registry::revoke_partner(std::string_view id,
                                      std::optional<std::string_view> certificate_serial) {
  UnitOfWork u(storage_);
  if (auto r = u.begin_write(); !r) return r.error();  // the check and the mark: one commit
  auto p = find_partner_in(u, id);
  if (!p) return p.error();
  if (p->revoked_at) return make_error_code(Errc::conflict);
  if (auto r = u.partners().set_revoked(id, u.now()); !r) return r;
  if (certificate_serial) {
    if (auto r = u.partners().add_revoked_serial(*certificate_serial, id, u.now()); !r) return r;
  }
  return u.commit();
}

Result<void> Registry::revoke_certificate(std::string_view partner_id,
                                          std::string_view certificate_serial) {
  UnitOfWork u(storage_);
  if (auto r = u.begin_write(); !r) return r.error();
  if (auto r = u.partners().add_revoked_serial(certificate_serial, partner_id, u.now()); !r) {
    return r;
  }
  return u.commit();
}

Result<void> Registry::add_worker(std::string_view partner_id, std::string_view worker_id,
                                  std::string_view role) {
  if (!valid_text(worker_id, 128) || !valid_name(role)) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage_);
  if (auto p = find_partner_in(u, partner_id); !p) return p.error();
  return u.workers().insert(
      Worker{std::string(partner_id), std::string(worker_id), std::string(role), true});
}

Result<Worker> Registry::find_worker(std::string_view partner_id,
                                     std::string_view worker_id) const {
  UnitOfWork u(storage_);
  return u.workers().find(partner_id, worker_id);
}

Result<std::vector<Worker>> Registry::list_workers(std::string_view partner_id) const {
  UnitOfWork u(storage_);
  return u.workers().list(partner_id);
}

Result<void> Registry::set_worker_active(std::string_view partner_id, std::string_view worker_id,
                                         bool active) {
  UnitOfWork u(storage_);
  return u.workers().set_active(partner_id, worker_id, active);
}

Result<Registration> Registry::register_identified(std::string_view partner_id,
                                                   crypto::IdentifierScheme scheme,
                                                   std::string_view identifier) {
  UnitOfWork u(storage_);
  if (auto p = active_partner(u, partner_id); !p) return p.error();
  if (auto r = u.begin_write(); !r) return r.error();
  auto reg = register_one(u, partner_id, scheme, identifier);
  if (!reg) return reg.error();
  if (auto r = u.commit(); !r) return r.error();
  return reg;
}

Result<std::vector<Registration>>
Registry::register_identified_bulk(std::string_view partner_id, crypto::IdentifierScheme scheme,
                                   std::span<const std::string> identifiers) {
  UnitOfWork u(storage_);
  if (auto p = active_partner(u, partner_id); !p) return p.error();
  if (auto r = u.begin_write(); !r) return r.error();
  std::vector<Registration> out;
  out.reserve(identifiers.size());
  for (const auto& id : identifiers) {
    auto reg = register_one(u, partner_id, scheme, id);
    if (!reg) return reg.error();
    out.push_back(std::move(*reg));
  }
  if (auto r = u.commit(); !r) return r.error();
  return out;
}

Result<Registration> Registry::register_anonymous(std::string_view partner_id,
                                                  std::string_view service_pseudonym) {
  // Only the form a partner system derives from a card (crypto::service_pseudonym): anything
  // else would let a caller register free text as an anonymous client.
  if (!crypto::looks_like_service_pseudonym(service_pseudonym)) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage_);
  auto partner = active_partner(u, partner_id);
  if (!partner) return partner.error();
  if (!options_.anonymous_partner_types.contains(partner->partner_type)) {
    return make_error_code(Errc::not_permitted);
  }
  const auto digest = service_digest(u, partner_id, service_pseudonym);
  if (auto r = u.begin_write(); !r) return r.error();
  auto found = u.clients().find_service_pseudonym(digest);
  if (!found) return found.error();
  ClientId client;
  bool existing = false;
  if (*found) {
    if ((*found)->retired) return make_error_code(Errc::card_replaced);
    client = (*found)->client;
    existing = true;
  } else {
    auto c = create_client(u, true);
    if (!c) return c.error();
    client = *c;
    if (auto r = u.clients().insert_service_pseudonym(digest, client, partner_id, u.now()); !r) {
      return r.error();
    }
    if (auto r = u.fault_point_for_test("register_anonymous.after_pseudonym"); !r) {
      return r.error();
    }
  }
  auto rel = ensure_relationship(u, partner_id, client, RelationshipOrigin::card_presented);
  if (!rel) return rel.error();
  if (auto r = u.commit(); !r) return r.error();
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
  UnitOfWork u(storage_);
  if (auto p = active_partner(u, partner_id); !p) return p.error();
  // The checks inside the write transaction: on a database several nodes share, another node's
  // card replacement or link between a check and the write would otherwise go unseen
  // (SERIALIZABLE makes one of the two fail busy instead).
  if (auto r = u.begin_write(); !r) return r.error();
  const auto first_digest = service_digest(u, first_service_id, first_pseudonym);
  const auto own_digest = service_digest(u, partner_id, own_pseudonym);
  auto first = u.clients().find_service_pseudonym(first_digest);
  if (!first) return first.error();
  if (!*first) return make_error_code(Errc::not_found);
  if ((*first)->retired) return make_error_code(Errc::card_replaced);
  const ClientId survivor = (*first)->client;
  auto own = u.clients().find_service_pseudonym(own_digest);
  if (!own) return own.error();
  if (*own && (*own)->retired) return make_error_code(Errc::card_replaced);

  std::optional<ClientId> absorbed;
  if (!*own) {
    if (auto r = u.clients().insert_service_pseudonym(own_digest, survivor, partner_id, u.now());
        !r) {
      return r.error();
    }
  } else if ((*own)->client != survivor) {
    absorbed = (*own)->client;
    if (auto r = absorb_client(u, survivor, *absorbed); !r) return r.error();
  }
  if (auto r = u.fault_point_for_test("link.before_relationship"); !r) return r.error();
  auto rel = ensure_relationship(u, partner_id, survivor, RelationshipOrigin::linked);
  if (!rel) return rel.error();
  if (auto r = u.clients().record_card_event(survivor, CardEventKind::link, first_service_id,
                                             partner_id, consent_reference, u.now());
      !r) {
    return r.error();
  }
  if (auto r = u.commit(); !r) return r.error();
  if (absorbed) {
    const auto tag = crypto::audit_pseudonym(u.pseudonym_keys().audit_pseudonym, *absorbed);
    if (auto r = u.keys().shred(tag); !r) return r.error();
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
  UnitOfWork u(storage_);
  if (auto p = active_partner(u, partner_id); !p) return p.error();
  if (auto r = u.begin_write(); !r) return r.error();  // the checks below in the write (link)
  const auto old_digest = service_digest(u, partner_id, old_pseudonym);
  const auto new_digest = service_digest(u, partner_id, new_pseudonym);
  auto old = u.clients().find_service_pseudonym(old_digest);
  if (!old) return old.error();
  if (!*old) return make_error_code(Errc::not_found);
  if ((*old)->retired) return make_error_code(Errc::card_replaced);
  const ClientId client = (*old)->client;
  auto clash = u.clients().find_service_pseudonym(new_digest);
  if (!clash) return clash.error();
  if (*clash) return make_error_code(Errc::conflict);

  if (auto r = u.clients().retire_service_pseudonyms(client, u.now()); !r) return r.error();
  if (auto r = u.fault_point_for_test("replace_card.after_retire"); !r) return r.error();
  if (auto r = u.clients().insert_service_pseudonym(new_digest, client, partner_id, u.now()); !r) {
    return r.error();
  }
  if (auto r = u.clients().record_card_event(client, CardEventKind::new_card, {}, partner_id,
                                             "new-card", u.now());
      !r) {
    return r.error();
  }
  auto rel = ensure_relationship(u, partner_id, client, RelationshipOrigin::card_presented);
  if (!rel) return rel.error();
  if (auto r = u.commit(); !r) return r.error();
  return Registration{std::move(rel->first), true};
}

Result<ClientId> Registry::find_identified(crypto::IdentifierScheme scheme,
                                           std::string_view identifier,
                                           std::string_view case_partner_id) const {
  UnitOfWork u(storage_);
  auto found = lookup_identifier(u, case_partner_id, scheme, identifier);
  if (!found) return found.error();
  if (!found->second) return make_error_code(Errc::not_found);
  return *found->second;
}

Result<ClientId> Registry::resolve(std::string_view partner_id, std::string_view pseudonym) const {
  UnitOfWork u(storage_);
  // A pseudonym the partner held for a client that a link folded into this one answers as this
  // client, to that partner only (merge_relationships).
  auto client = u.clients().resolve_pseudonym(partner_id, pseudonym);
  if (!client) return client.error();
  if (!*client) return make_error_code(Errc::not_found);
  return **client;
}

Admission Registry::admit(std::string_view partner_id, std::optional<std::string_view> pseudonym,
                          std::optional<std::string_view> worker_id) const {
  Admission out;
  UnitOfWork u(storage_);
  auto partner = find_partner_in(u, partner_id);
  if (!partner) {
    out.partner_error = partner.error();
    return out;
  }
  out.partner = std::move(*partner);
  // One snapshot for the statements below: one read transaction instead of one per statement.
  if (auto r = u.begin_read(); !r) {
    out.worker_error = r.error();
    return out;
  }
  if (pseudonym) {
    auto client = u.clients().resolve_pseudonym(partner_id, *pseudonym);
    if (client && *client) out.client = **client;
  }
  if (worker_id) {
    auto worker = u.workers().find(partner_id, *worker_id);
    if (worker) {
      out.worker = std::move(*worker);
    } else {
      out.worker_error = worker.error();
    }
  }
  if (auto r = u.commit(); !r && !out.worker_error) out.worker_error = r.error();
  return out;
}

Result<std::string> Registry::pseudonym_for(std::string_view partner_id,
                                            const ClientId& client) const {
  UnitOfWork u(storage_);
  auto rel = u.clients().relationship(partner_id, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  return std::move((*rel)->pseudonym);
}

Result<bool> Registry::has_care_relationship(std::string_view partner_id,
                                             const ClientId& client) const {
  UnitOfWork u(storage_);
  auto rel = u.clients().relationship(partner_id, client);
  if (!rel) return bool_error(rel.error());
  return rel->has_value();
}

Result<std::vector<CareRelationship>> Registry::care_relationships(const ClientId& client) const {
  UnitOfWork u(storage_);
  return u.clients().relationships(client);
}

Result<bool> Registry::is_anonymous(const ClientId& client) const {
  UnitOfWork u(storage_);
  return u.clients().anonymous(client);
}

Result<std::size_t> Registry::client_count() const {
  UnitOfWork u(storage_);
  return u.clients().count();
}

Result<std::string> Registry::erase_client(const ClientId& client) {
  UnitOfWork u(storage_);
  if (auto a = u.clients().anonymous(client); !a) return a.error();
  std::string tag = crypto::audit_pseudonym(u.pseudonym_keys().audit_pseudonym, client);
  if (auto r = u.begin_write(); !r) return r.error();
  if (auto r = u.clients().tombstone(tag, u.now(), ErasureReason::by_request); !r) {
    return r.error();
  }
  if (auto r = u.fault_point_for_test("erase.after_tombstone"); !r) return r.error();
  if (auto r = u.clients().remove(client); !r) return r.error();
  if (auto r = u.commit(); !r) return r.error();
  if (auto r = u.purge_deleted(); !r) return r.error();
  // A crash between the two commits is repaired at the next open: the engine shreds the keys of
  // every tombstoned client.
  if (auto r = u.keys().shred(tag); !r) return r.error();
  return tag;
}

}  // namespace sluis::domain
