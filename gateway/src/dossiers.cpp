// Dossiers: sealing fragments under client × category data keys and the permission-filtered read.
#include "sluis/gateway/dossiers.hpp"

#include "sluis/crypto/field.hpp"
#include "sealed_fields.hpp"
#include "store_impl.hpp"

#include <algorithm>
#include <string_view>

namespace sluis::gateway {

namespace {

using Impl = Store::Impl;

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

/// Room reserved up front for a dossier's fragments and a fragment's fields (grown as needed).
constexpr std::size_t kTypicalDossierFragments = 32;
constexpr std::size_t kTypicalFragmentFields = 8;

struct MetaRow {
  FragmentMeta meta;
  std::int64_t seq = 0;
  std::uint32_t key_version = 0;
  bool superseded = false;
};

Result<MetaRow> read_meta(const sql::Stmt& s) {
  MetaRow m;
  m.seq = s.int64(0);
  auto id = fragment_from_blob(s.blob(1));
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
    auto prev = fragment_from_blob(s.blob(8));
    if (!prev) return prev.error();
    m.meta.supersedes = *prev;
  }
  m.key_version = static_cast<std::uint32_t>(s.int64(9));
  m.superseded = !s.is_null(10);
  return m;
}

Result<MetaRow> load_fragment(Impl& i, const FragmentId& id) {
  static const std::string kSql = meta_select("", "WHERE id = ?");
  auto s = i.data.prepare(kSql.c_str());
  if (!s) return s.error();
  s->bind(1, id.view());
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  return read_meta(*s);
}

Result<Partner> active_partner(Impl& i, std::string_view id) {
  auto p = i.partner(id);
  if (!p) return p.error();
  if (p->revoked_at) return make_error_code(Errc::not_permitted);
  return p;
}

Result<bool> has_relationship(Impl& i, std::string_view partner, const ClientId& client) {
  auto s =
      i.data.prepare("SELECT 1 FROM care_relationships WHERE partner_id = ? AND client_id = ?");
  if (!s) return bool_error(s.error());
  s->bind(1, partner).bind(2, client.view());
  return s->step();
}

/// The client's anonymous flag. Errors: not_found.
Result<bool> client_anonymous(Impl& i, const ClientId& client) {
  auto s = i.data.prepare("SELECT anonymous FROM clients WHERE id = ?");
  if (!s) return bool_error(s.error());
  s->bind(1, client.view());
  auto row = s->step();
  if (!row) return bool_error(row.error());
  if (!*row) return bool_error(make_error_code(Errc::not_found));
  return s->int64(0) != 0;
}

/// Seals every field for fragment `id` (outside any transaction: pure CPU work).
Result<std::vector<std::vector<std::uint8_t>>>
seal_all(const crypto::DataKey& key, crypto::DataKeyVersion version, const FragmentId& id,
         const ClientId& client, std::string_view category, std::span<const FieldInput> fields) {
  std::vector<std::vector<std::uint8_t>> sealed;
  sealed.reserve(fields.size());
  for (const auto& f : fields) {
    auto s = crypto::seal_field(key, {id, f.name, category, client, version}, f.value);
    if (!s) return make_error_code(Errc::invalid_argument);
    sealed.push_back(std::move(*s));
  }
  return sealed;
}

/// Inserts one fragment with its sealed fields inside the caller's transaction. Its seq is the
/// next in its client's range: a client's fragments lie together in the table (schema 3).
Result<void> insert_fragment(Impl& i, const FragmentMeta& m, crypto::DataKeyVersion key_version,
                             std::span<const FieldInput> fields,
                             const std::vector<std::vector<std::uint8_t>>& sealed) {
  auto blob = sealed_fields_header(fields.size());
  for (std::size_t n = 0; n < fields.size(); ++n)
    append_sealed_field(blob, fields[n].name, sealed[n]);
  auto s = i.data.prepare(
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
      .bind(10, blob);
  if (m.supersedes) {
    s->bind(8, m.supersedes->view());
  } else {
    s->bind_null(8);
  }
  if (auto r = s->run(); !r) return r.error();
  if (auto r = i.step("add_fragment.after_fragment_row"); !r) return r.error();
  return i.step("add_fragment.fields");
}

}  // namespace

Dossiers::Dossiers(Store& store, DossierOptions options)
    : store_(store), options_(std::move(options)) {}

Result<FragmentMeta> Dossiers::add_fragment(const ClientId& client, std::string_view partner_id,
                                            std::string_view worker_id, std::string_view category,
                                            std::span<const FieldInput> fields) {
  if (!valid_name(category) || worker_id.empty() || worker_id.size() > 128) {
    return make_error_code(Errc::invalid_argument);
  }
  if (auto r = check_fields(fields); !r) return r.error();
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto p = active_partner(i, partner_id); !p) return p.error();
  auto anonymous = client_anonymous(i, client);
  if (!anonymous) return anonymous.error();
  auto rel = has_relationship(i, partner_id, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  if (*anonymous && options_.identifying_categories.contains(category)) {
    return make_error_code(Errc::identifying_category_on_anonymous);
  }
  auto key = i.data_key_for_write(client, category);
  if (!key) return key.error();
  FragmentMeta meta{FragmentId::random(),
                    client,
                    std::string(category),
                    std::string(partner_id),
                    std::string(worker_id),
                    i.now(),
                    1,
                    std::nullopt};
  auto sealed = seal_all(key->second, key->first, meta.id, client, category, fields);
  if (!sealed) return sealed.error();
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  if (auto r = insert_fragment(i, meta, key->first, fields, *sealed); !r) return r.error();
  if (auto r = i.journal_key(client, category, key->first, &key->second); !r) return r.error();
  if (auto r = tx.commit(); !r) return r.error();
  return meta;
}

Result<FragmentMeta> Dossiers::supersede(const FragmentId& previous, std::string_view partner_id,
                                         std::string_view worker_id,
                                         std::span<const FieldInput> fields) {
  if (worker_id.empty() || worker_id.size() > 128) return make_error_code(Errc::invalid_argument);
  if (auto r = check_fields(fields); !r) return r.error();
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto p = active_partner(i, partner_id); !p) return p.error();
  auto prev = load_fragment(i, previous);
  if (!prev) return prev.error();
  if (prev->meta.owner_partner != partner_id) return make_error_code(Errc::not_permitted);
  if (prev->superseded) return make_error_code(Errc::conflict);
  const auto& client = prev->meta.client;
  const auto& category = prev->meta.category;
  auto key = i.data_key_for_write(client, category);
  if (!key) return key.error();
  FragmentMeta meta{FragmentId::random(),
                    client,
                    category,
                    std::string(partner_id),
                    std::string(worker_id),
                    i.now(),
                    prev->meta.version + 1,
                    previous};
  auto sealed = seal_all(key->second, key->first, meta.id, client, category, fields);
  if (!sealed) return sealed.error();
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  if (auto r = insert_fragment(i, meta, key->first, fields, *sealed); !r) return r.error();
  if (auto r = i.journal_key(client, category, key->first, &key->second); !r) return r.error();
  {
    auto s = i.data.prepare(
        "UPDATE fragments SET superseded_by = ? WHERE id = ? AND superseded_by IS NULL");
    if (!s) return s.error();
    if (auto r = s->bind(1, meta.id.view()).bind(2, previous.view()).run(); !r) return r.error();
    if (i.data.changes() != 1) return make_error_code(Errc::conflict);
  }
  if (auto r = tx.commit(); !r) return r.error();
  return meta;
}

Result<std::vector<FragmentId>>
Dossiers::add_fragments_bulk(std::span<const NewFragment> fragments) {
  for (const auto& f : fragments) {
    if (!valid_name(f.category) || f.worker.empty()) return make_error_code(Errc::invalid_argument);
    if (auto r = check_fields(f.fields); !r) return r.error();
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  struct Prepared {
    FragmentMeta meta;
    crypto::DataKeyVersion key_version;
    std::vector<std::vector<std::uint8_t>> sealed;
  };
  std::vector<Prepared> prepared;
  prepared.reserve(fragments.size());
  // Keys first, each in the key store's own transaction batch (see data_key_for_write).
  {
    sql::Transaction ktx(i.keys);
    if (auto r = ktx.begin(); !r) return r.error();
    for (const auto& f : fragments) {
      auto anonymous = client_anonymous(i, f.client);
      if (!anonymous) return anonymous.error();
      if (*anonymous && options_.identifying_categories.contains(f.category)) {
        return make_error_code(Errc::identifying_category_on_anonymous);
      }
      auto key = i.data_key_for_write(f.client, f.category);
      if (!key) return key.error();
      FragmentMeta meta{
          FragmentId::random(), f.client, f.category, f.owner_partner, f.worker, i.now(), 1,
          std::nullopt};
      auto sealed = seal_all(key->second, key->first, meta.id, f.client, f.category, f.fields);
      if (!sealed) return sealed.error();
      prepared.push_back({std::move(meta), key->first, std::move(*sealed)});
    }
    if (auto r = ktx.commit(); !r) return r.error();
  }
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  std::vector<FragmentId> ids;
  ids.reserve(prepared.size());
  for (std::size_t n = 0; n < prepared.size(); ++n) {
    auto& p = prepared[n];
    if (auto r = insert_fragment(i, p.meta, p.key_version, fragments[n].fields, p.sealed); !r) {
      return r.error();
    }
    if (auto r = i.journal_key(p.meta.client, p.meta.category, p.key_version); !r) {
      return r.error();
    }
    ids.push_back(p.meta.id);
  }
  if (auto r = tx.commit(); !r) return r.error();
  return ids;
}

Result<std::vector<FragmentMeta>> Dossiers::list_current(const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  static const std::string kSql = meta_select(
      "", "WHERE client_id = ? AND superseded_by IS NULL ORDER BY created_at, seq");
  auto s = i.data.prepare(kSql.c_str());
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

Result<FragmentMeta> Dossiers::find(const FragmentId& fragment) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto m = load_fragment(i, fragment);
  if (!m) return m.error();
  return std::move(m->meta);
}

namespace {

/// The current-fragments query with the sealed fields as column 11.
const std::string& current_with_fields_sql() {
  static const std::string kSql = meta_select(
      ", fields", "WHERE client_id = ? AND superseded_by IS NULL ORDER BY created_at, seq");
  return kSql;
}

/// Opens one fragment's fields (`blob` in the stored layout) into `entry`. Caller holds the
/// store's mutex. `sealed` is scratch space.
Result<void> open_into(Impl& i, const ClientId& client, std::uint32_t key_version,
                       std::span<const std::uint8_t> blob, DossierEntry& entry,
                       std::vector<SealedFieldView>& sealed) {
  if (auto r = decode_sealed_fields(blob, sealed); !r) return r;
  // Valid until the next lookup, which comes only after this fragment's fields are open.
  auto key = i.cached_data_key(client, entry.meta.category, crypto::DataKeyVersion{key_version});
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
    if (i.options.on_field_opened) i.options.on_field_opened(entry.meta.id);
    if (!plain) return make_error_code(Errc::crypto_failure);
    entry.fields.push_back({std::string(f.name), std::move(*plain)});
  }
  return {};
}

/// Steps the client's current fragments, with their sealed fields as column 11, in dossier order
/// (created_at, then insertion), calling `row(stmt)` for each; stops at the first error. They lie
/// together in the table (primary key client, seq), with their sealed fields in the row: a
/// dossier of 20 fragments is a few adjacent pages, not a page per fragment and per field.
template <typename Row>
Result<void> each_current_row(Impl& i, const ClientId& client, Row&& row) {
  auto s = i.data.prepare(current_with_fields_sql().c_str());
  if (!s) return s.error();
  s->bind(1, client.view());
  for (;;) {
    auto stepped = s->step();
    if (!stepped) return stepped.error();
    if (!*stepped) return {};
    if (auto r = row(*s); !r) return r;
  }
}

}  // namespace

Result<std::vector<SealedFragment>> Dossiers::list_current_sealed(const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  std::vector<SealedFragment> out;
  out.reserve(kTypicalDossierFragments);
  auto listed = each_current_row(i, client, [&](const sql::Stmt& s) -> Result<void> {
    auto m = read_meta(s);
    if (!m) return m.error();
    const auto blob = s.blob(11);
    out.push_back({std::move(m->meta), m->key_version, {blob.begin(), blob.end()}});
    return {};
  });
  if (!listed) return listed.error();
  return out;
}

Result<std::vector<DossierEntry>>
Dossiers::open_fragments(const ClientId& client, std::string_view requesting_partner,
                         std::span<const SealedFragment* const> fragments) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto rel = has_relationship(i, requesting_partner, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  std::vector<DossierEntry> out;
  out.reserve(fragments.size());
  std::vector<SealedFieldView> sealed;
  sealed.reserve(kTypicalFragmentFields);
  for (const auto* f : fragments) {
    if (f->meta.client != client) return make_error_code(Errc::invalid_argument);
    DossierEntry entry{f->meta, {}};
    if (auto r = open_into(i, client, f->key_version, f->fields, entry, sealed); !r) {
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
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  // One snapshot for the whole read: every statement below sees the same state, and the WAL
  // read lock is taken once rather than once per statement.
  sql::ReadTransaction snapshot(i.data);
  if (auto r = snapshot.begin(); !r) return r.error();
  auto rel = has_relationship(i, requesting_partner, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);

  std::vector<DossierEntry> out;
  out.reserve(kTypicalDossierFragments);
  std::vector<SealedFieldView> sealed;
  sealed.reserve(kTypicalFragmentFields);
  auto read = each_current_row(i, client, [&](const sql::Stmt& s) -> Result<void> {
    if (category && s.text_view(3) != *category) return {};
    auto m = read_meta(s);
    if (!m) return m.error();
    // The decision. A denied fragment goes no further: no key is fetched, no field opened.
    if (!permit || !permit(m->meta)) return {};
    DossierEntry entry{std::move(m->meta), {}};
    if (auto r = open_into(i, client, m->key_version, s.blob(11), entry, sealed); !r) return r;
    out.push_back(std::move(entry));
    return {};
  });
  if (!read) return read.error();
  return out;
}

}  // namespace sluis::gateway
