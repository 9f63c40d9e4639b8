// Dossiers: sealing fragments under client × category data keys and the permission-filtered read.
#include "sluis/gateway/dossiers.hpp"

#include "sluis/crypto/field.hpp"
#include "store_impl.hpp"

#include <algorithm>
#include <array>

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

/// Columns selected by kMetaColumns, in order.
constexpr const char* kMetaSelect =
    "SELECT seq, id, client_id, category, owner_partner, created_by_worker, created_at, version, "
    "supersedes, key_version, superseded_by FROM fragments ";

/// Room reserved up front for a dossier's fragments and a fragment's fields (grown as needed).
constexpr std::size_t kTypicalDossierFragments = 32;
constexpr std::size_t kTypicalFragmentFields = 8;

/// Most fragments whose fields one statement fetches (well under SQLite's 999 parameters).
constexpr std::size_t kMaxFieldBatch = 64;

/// The fields of up to `count` fragments named by seq, in (fragment_seq, position) order: the
/// primary key's order, so SQLite seeks each listed fragment and needs no sort. Statement texts
/// come in a few sizes (8, 16, 32, 64 placeholders) so each is prepared once per connection; the
/// unused placeholders are left NULL. Only the listed fragments' rows are visited.
const char* field_batch_sql(std::size_t count) {
  static const std::array<std::string, 4> kTexts = [] {
    std::array<std::string, 4> texts;
    for (std::size_t b = 0; b < texts.size(); ++b) {
      std::string sql = "SELECT fragment_seq, name, sealed FROM fragment_fields "
                        "WHERE fragment_seq IN (?";
      for (std::size_t n = 1; n < (std::size_t{8} << b); ++n)
        sql += ",?";
      sql += ") ORDER BY fragment_seq, position";
      texts[b] = std::move(sql);
    }
    return texts;
  }();
  std::size_t b = 0;
  while ((std::size_t{8} << b) < count)
    ++b;
  return kTexts[b].c_str();
}

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
  static const std::string kSql = std::string(kMetaSelect) + "WHERE id = ?";
  auto s = i.data.prepare(kSql.c_str());
  if (!s) return s.error();
  s->bind(1, id.view());
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  return read_meta(*s);
}

Result<Partner> active_partner(Impl& i, std::string_view id) {
  auto s = i.data.prepare("SELECT partner_type, revoked_at FROM partners WHERE id = ?");
  if (!s) return s.error();
  s->bind(1, id);
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  if (!s->is_null(1)) return make_error_code(Errc::not_permitted);
  return Partner{std::string(id), s->text(0), {}, {}, std::nullopt};
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

/// Inserts one fragment and its sealed fields inside the caller's transaction; returns its seq.
Result<std::int64_t> insert_fragment(Impl& i, const FragmentMeta& m,
                                     crypto::DataKeyVersion key_version,
                                     std::span<const FieldInput> fields,
                                     const std::vector<std::vector<std::uint8_t>>& sealed) {
  auto s = i.data.prepare(
      "INSERT INTO fragments(id, client_id, category, owner_partner, created_by_worker, "
      "created_at, version, supersedes, key_version) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  s->bind(1, m.id.view())
      .bind(2, m.client.view())
      .bind(3, m.category)
      .bind(4, m.owner_partner)
      .bind(5, m.created_by_worker)
      .bind(6, to_db(m.created_at))
      .bind(7, std::int64_t{m.version})
      .bind(9, std::int64_t{key_version.value});
  if (m.supersedes) {
    s->bind(8, m.supersedes->view());
  } else {
    s->bind_null(8);
  }
  if (auto r = s->run(); !r) return r.error();
  const std::int64_t seq = i.data.last_insert_rowid();
  if (auto r = i.step("add_fragment.after_fragment_row"); !r) return r.error();
  for (std::size_t n = 0; n < fields.size(); ++n) {
    if (n == fields.size() / 2) {
      if (auto r = i.step("add_fragment.fields"); !r) return r.error();
    }
    auto f = i.data.prepare(
        "INSERT INTO fragment_fields(fragment_seq, position, name, sealed) VALUES(?, ?, ?, ?)");
    if (!f) return f.error();
    if (auto r = f->bind(1, seq)
                     .bind(2, static_cast<std::int64_t>(n))
                     .bind(3, fields[n].name)
                     .bind(4, sealed[n])
                     .run();
        !r) {
      return r.error();
    }
  }
  return seq;
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
    ids.push_back(p.meta.id);
  }
  if (auto r = tx.commit(); !r) return r.error();
  return ids;
}

Result<std::vector<FragmentMeta>> Dossiers::list_current(const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  static const std::string kSql = std::string(kMetaSelect) +
                                  "WHERE client_id = ? AND superseded_by IS NULL "
                                  "ORDER BY created_at, seq";
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

  // 1. Metadata only, in the one stable order (created_at, then insertion).
  static const std::string kSql = std::string(kMetaSelect) +
                                  "WHERE client_id = ? AND superseded_by IS NULL "
                                  "ORDER BY created_at, seq";
  std::vector<MetaRow> permitted;
  permitted.reserve(kTypicalDossierFragments);
  {
    auto s = i.data.prepare(kSql.c_str());
    if (!s) return s.error();
    s->bind(1, client.view());
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      if (category && s->text_view(3) != *category) continue;
      auto m = read_meta(*s);
      if (!m) return m.error();
      // 2. The decision. A denied fragment goes no further: no key, no field row is touched.
      if (!permit || !permit(m->meta)) continue;
      permitted.push_back(std::move(*m));
    }
  }
  // 3. Keys and fields of the permitted fragments only, in one statement per batch (see
  // field_batch_sql): a statement per fragment cost more in SQLite's per-statement work than
  // the rows themselves.
  std::vector<DossierEntry> out;
  out.reserve(permitted.size());
  for (auto& m : permitted) {
    out.push_back({std::move(m.meta), {}});
    out.back().fields.reserve(kTypicalFragmentFields);
  }
  // Fragments by seq: rows arrive in (fragment_seq, position) order.
  std::vector<std::pair<std::int64_t, std::size_t>> by_seq;
  by_seq.reserve(permitted.size());
  for (std::size_t n = 0; n < permitted.size(); ++n)
    by_seq.emplace_back(permitted[n].seq, n);
  std::sort(by_seq.begin(), by_seq.end());
  for (std::size_t first = 0; first < by_seq.size(); first += kMaxFieldBatch) {
    const std::size_t count = std::min(kMaxFieldBatch, by_seq.size() - first);
    auto f = i.data.prepare(field_batch_sql(count));
    if (!f) return f.error();
    // Placeholders past `count` stay NULL, and `x IN (NULL)` matches nothing.
    for (std::size_t n = 0; n < count; ++n)
      f->bind(static_cast<int>(n + 1), by_seq[first + n].first);
    std::size_t cursor = first;  // the by_seq entry the current rows belong to
    const crypto::DataKey* key = nullptr;
    for (;;) {
      auto row = f->step();
      if (!row) return row.error();
      if (!*row) break;
      const std::int64_t seq = f->int64(0);
      if (key == nullptr || by_seq[cursor].first != seq) {
        while (cursor < first + count && by_seq[cursor].first != seq)
          ++cursor;
        if (cursor == first + count) return make_error_code(Errc::storage_failure);
        const auto& m = permitted[by_seq[cursor].second];
        // Valid until the next lookup, which comes only after this fragment's fields are open.
        auto k = i.cached_data_key(client, out[by_seq[cursor].second].meta.category,
                                   crypto::DataKeyVersion{m.key_version});
        if (!k) return k.error();
        key = *k;
      }
      const auto n = by_seq[cursor].second;
      auto& entry = out[n];
      const auto name = f->text_view(1);
      const crypto::FieldContext ctx{entry.meta.id, name, entry.meta.category, client,
                                     crypto::DataKeyVersion{permitted[n].key_version}};
      auto plain = crypto::open_field(*key, ctx, f->blob(2));
      if (i.options.on_field_opened) i.options.on_field_opened(entry.meta.id);
      if (!plain) return make_error_code(Errc::crypto_failure);
      entry.fields.push_back({std::string(name), std::move(*plain)});
    }
  }
  return out;
}

}  // namespace sluis::gateway
