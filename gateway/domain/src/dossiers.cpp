// Dossiers: sealing fragments under client × category data keys and the permission-filtered read.
#include "sluis/domain/dossiers.hpp"

#include "rules.hpp"
#include "sluis/crypto/field.hpp"

#include <algorithm>
#include <string_view>

namespace sluis::domain {

namespace {

using store::SealedFieldView;

/// Room reserved up front for a fragment's fields (grown as needed).
constexpr std::size_t kTypicalFragmentFields = 8;

Result<void> check_fields(std::span<const FieldInput> fields) {
  if (fields.empty() || fields.size() > kMaxFieldsPerFragment) {
    return make_error_code(Errc::invalid_argument);
  }
  std::set<std::string_view> names;
  for (const auto& f : fields) {
    if (!valid_name(f.name) || f.value.size() > crypto::kMaxFieldPlaintext ||
        !names.insert(f.name).second) {
      return make_error_code(Errc::invalid_argument);
    }
  }
  return {};
}

Result<Partner> active_partner(UnitOfWork& u, std::string_view id) {
  auto p = find_partner_in(u, id);
  if (!p) return p.error();
  if (p->revoked_at) return make_error_code(Errc::not_permitted);
  return p;
}

Result<bool> has_relationship(UnitOfWork& u, std::string_view partner, const ClientId& client) {
  auto rel = u.clients().relationship(partner, client);
  if (!rel) return bool_error(rel.error());
  return rel->has_value();
}

/// Seals every field for fragment `id` into the stored layout (sealed_fields.hpp): pure CPU
/// work, done before the write transaction starts.
Result<std::vector<std::uint8_t>> seal_all(const crypto::DataKey& key,
                                           crypto::DataKeyVersion version, const FragmentId& id,
                                           const ClientId& client, std::string_view category,
                                           std::span<const FieldInput> fields) {
  auto blob = store::sealed_fields_header(fields.size());
  for (const auto& f : fields) {
    auto s = crypto::seal_field(key, {id, f.name, category, client, version}, f.value);
    if (!s) return make_error_code(Errc::invalid_argument);
    store::append_sealed_field(blob, f.name, *s);
  }
  return blob;
}

/// Stores one fragment with its sealed fields inside the unit's write transaction.
Result<void> insert_fragment(UnitOfWork& u, const FragmentMeta& m,
                             crypto::DataKeyVersion key_version,
                             std::span<const std::uint8_t> sealed) {
  if (auto r = u.fragments().insert(m, key_version, sealed); !r) return r;
  if (auto r = u.fault_point_for_test("add_fragment.after_fragment_row"); !r) return r;
  return u.fault_point_for_test("add_fragment.fields");
}

/// Opens one fragment's fields (`blob` in the stored layout) into `entry`. `sealed` is scratch.
Result<void> open_into(UnitOfWork& u, const ClientId& client, std::uint32_t key_version,
                       std::span<const std::uint8_t> blob, DossierEntry& entry,
                       std::vector<SealedFieldView>& sealed) {
  if (auto r = store::decode_sealed_fields(blob, sealed); !r) return r;
  // Valid until the next lookup, which comes only after this fragment's fields are open.
  auto key = u.keys().cached_key(client, entry.meta.category, crypto::DataKeyVersion{key_version});
  if (!key) {
    // A key that is gone takes this fragment's fields with it, not the rest of the dossier: the
    // entry says so (docs/store.md "When a key is gone"). Anything else is an error.
    if (key.error() != Errc::key_unavailable) return key.error();
    entry.fields.clear();
    entry.key_unavailable = true;
    return {};
  }
  entry.fields.reserve(sealed.size());
  for (const auto& f : sealed) {
    const crypto::FieldContext ctx{entry.meta.id, f.name, entry.meta.category, client,
                                   crypto::DataKeyVersion{key_version}};
    auto plain = crypto::open_field(**key, ctx, f.sealed);
    u.field_opened(entry.meta.id);
    if (!plain) return make_error_code(Errc::crypto_failure);
    entry.fields.push_back({std::string(f.name), std::move(*plain)});
  }
  return {};
}

}  // namespace

Dossiers::Dossiers(Storage& storage, DossierOptions options)
    : storage_(storage), options_(std::move(options)) {}

Result<FragmentMeta> Dossiers::add_fragment(const ClientId& client, std::string_view partner_id,
                                            std::string_view worker_id, std::string_view category,
                                            std::span<const FieldInput> fields) {
  if (!valid_name(category) || worker_id.empty() || worker_id.size() > 128) {
    return make_error_code(Errc::invalid_argument);
  }
  if (auto r = check_fields(fields); !r) return r.error();
  UnitOfWork u(storage_);
  if (auto p = active_partner(u, partner_id); !p) return p.error();
  // The checks inside the write transaction, not in a read snapshot before it: on a database
  // several nodes share, what another node commits between a check and the write would go
  // unseen; inside one SERIALIZABLE transaction it makes one of the two fail busy instead.
  if (auto r = u.begin_write(); !r) return r.error();
  auto anonymous = u.clients().anonymous(client);
  if (!anonymous) return anonymous.error();
  auto rel = has_relationship(u, partner_id, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  if (*anonymous && options_.identifying_categories.contains(category)) {
    return make_error_code(Errc::identifying_category_on_anonymous);
  }
  if (auto r = u.fault_point_for_test("add_fragment.checked"); !r) return r.error();
  auto key = u.keys().key_for_sealing(client, category);
  if (!key) return key.error();
  FragmentMeta meta{FragmentId::random(),
                    client,
                    std::string(category),
                    std::string(partner_id),
                    std::string(worker_id),
                    u.now(),
                    1,
                    std::nullopt};
  auto sealed = seal_all(key->second, key->first, meta.id, client, category, fields);
  if (!sealed) return sealed.error();
  if (auto r = insert_fragment(u, meta, key->first, *sealed); !r) return r.error();
  if (auto r = u.keys().journal(client, category, key->first, &key->second); !r) return r.error();
  if (auto r = u.commit(); !r) return r.error();
  return meta;
}

Result<FragmentMeta> Dossiers::supersede(const FragmentId& previous, std::string_view partner_id,
                                         std::string_view worker_id,
                                         std::span<const FieldInput> fields) {
  if (worker_id.empty() || worker_id.size() > 128) return make_error_code(Errc::invalid_argument);
  if (auto r = check_fields(fields); !r) return r.error();
  UnitOfWork u(storage_);
  if (auto p = active_partner(u, partner_id); !p) return p.error();
  // The checks inside the write transaction (see add_fragment): two nodes superseding one
  // version at once must not both succeed and leave two current versions.
  if (auto r = u.begin_write(); !r) return r.error();
  auto prev = u.fragments().find(previous);
  if (!prev) return prev.error();
  if (prev->meta.owner_partner != partner_id) return make_error_code(Errc::not_permitted);
  if (prev->superseded) return make_error_code(Errc::conflict);
  if (auto r = u.fault_point_for_test("supersede.checked"); !r) return r.error();
  const auto& client = prev->meta.client;
  const auto& category = prev->meta.category;
  auto key = u.keys().key_for_sealing(client, category);
  if (!key) return key.error();
  FragmentMeta meta{FragmentId::random(),
                    client,
                    category,
                    std::string(partner_id),
                    std::string(worker_id),
                    u.now(),
                    prev->meta.version + 1,
                    previous};
  auto sealed = seal_all(key->second, key->first, meta.id, client, category, fields);
  if (!sealed) return sealed.error();
  if (auto r = insert_fragment(u, meta, key->first, *sealed); !r) return r.error();
  if (auto r = u.keys().journal(client, category, key->first, &key->second); !r) return r.error();
  if (auto r = u.fragments().mark_superseded(previous, meta.id); !r) return r.error();
  if (auto r = u.commit(); !r) return r.error();
  return meta;
}

Result<std::vector<FragmentId>>
Dossiers::add_fragments_bulk(std::span<const NewFragment> fragments) {
  for (const auto& f : fragments) {
    if (!valid_name(f.category) || f.worker.empty()) return make_error_code(Errc::invalid_argument);
    if (auto r = check_fields(f.fields); !r) return r.error();
  }
  UnitOfWork u(storage_);
  struct Prepared {
    FragmentMeta meta;
    crypto::DataKeyVersion key_version;
    std::vector<std::uint8_t> sealed;
  };
  std::vector<Prepared> prepared;
  prepared.reserve(fragments.size());
  // Keys first, in one key-store batch (see KeyStore::key_for_sealing).
  if (auto r = u.keys().begin_batch(); !r) return r.error();
  for (const auto& f : fragments) {
    auto anonymous = u.clients().anonymous(f.client);
    if (!anonymous) return anonymous.error();
    if (*anonymous && options_.identifying_categories.contains(f.category)) {
      return make_error_code(Errc::identifying_category_on_anonymous);
    }
    auto key = u.keys().key_for_sealing(f.client, f.category);
    if (!key) return key.error();
    FragmentMeta meta{
        FragmentId::random(), f.client, f.category, f.owner_partner, f.worker, u.now(), 1,
        std::nullopt};
    auto sealed = seal_all(key->second, key->first, meta.id, f.client, f.category, f.fields);
    if (!sealed) return sealed.error();
    prepared.push_back({std::move(meta), key->first, std::move(*sealed)});
  }
  if (auto r = u.keys().end_batch(); !r) return r.error();
  if (auto r = u.begin_write(); !r) return r.error();
  std::vector<FragmentId> ids;
  ids.reserve(prepared.size());
  for (auto& p : prepared) {
    if (auto r = insert_fragment(u, p.meta, p.key_version, p.sealed); !r) return r.error();
    if (auto r = u.keys().journal(p.meta.client, p.meta.category, p.key_version); !r) {
      return r.error();
    }
    ids.push_back(p.meta.id);
  }
  if (auto r = u.commit(); !r) return r.error();
  return ids;
}

Result<std::vector<FragmentMeta>> Dossiers::list_current(const ClientId& client) const {
  UnitOfWork u(storage_);
  return u.fragments().current(client);
}

Result<FragmentMeta> Dossiers::find(const FragmentId& fragment) const {
  UnitOfWork u(storage_);
  auto m = u.fragments().find(fragment);
  if (!m) return m.error();
  return std::move(m->meta);
}

Result<std::vector<SealedFragment>> Dossiers::list_current_sealed(const ClientId& client) const {
  UnitOfWork u(storage_);
  return u.fragments().current_sealed(client);
}

Result<std::vector<DossierEntry>>
Dossiers::open_fragments(const ClientId& client, std::string_view requesting_partner,
                         std::span<const SealedFragment* const> fragments) const {
  UnitOfWork u(storage_);
  auto rel = has_relationship(u, requesting_partner, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  std::vector<DossierEntry> out;
  out.reserve(fragments.size());
  std::vector<SealedFieldView> sealed;
  sealed.reserve(kTypicalFragmentFields);
  for (const auto* f : fragments) {
    if (f->meta.client != client) return make_error_code(Errc::invalid_argument);
    DossierEntry entry{f->meta, {}};
    if (auto r = open_into(u, client, f->key_version, f->fields, entry, sealed); !r) {
      return r.error();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::vector<DossierEntry>>
Dossiers::read_dossier(const ClientId& client, std::string_view requesting_partner,
                       const FragmentPermit& permit,
                       std::optional<std::string_view> category) const {
  UnitOfWork u(storage_);
  // One snapshot for the whole read: every look-up below sees the same state.
  if (auto r = u.begin_read(); !r) return r.error();
  auto rel = has_relationship(u, requesting_partner, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  auto current = u.fragments().current_sealed(client);
  if (!current) return current.error();

  std::vector<DossierEntry> out;
  std::vector<SealedFieldView> sealed;
  sealed.reserve(kTypicalFragmentFields);
  for (auto& f : *current) {
    if (category && f.meta.category != *category) continue;
    // The decision. A denied fragment goes no further: no key is fetched, no field opened.
    if (!permit || !permit(f.meta)) continue;
    DossierEntry entry{std::move(f.meta), {}};
    if (auto r = open_into(u, client, f.key_version, f.fields, entry, sealed); !r) {
      return r.error();
    }
    out.push_back(std::move(entry));
  }
  if (auto r = u.commit(); !r) return r.error();
  return out;
}

}  // namespace sluis::domain
