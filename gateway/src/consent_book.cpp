// Consent book: consent documents with metadata and revocation marks; break-the-glass grants.
#include "sluis/gateway/consent_book.hpp"

#include "store_impl.hpp"

#include "sluis/crypto/card.hpp"

#include <algorithm>

namespace sluis::gateway {

namespace {

using Impl = Store::Impl;

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

Result<std::vector<ConsentRecord>> collect(sql::Stmt& s) {
  std::vector<ConsentRecord> out;
  for (;;) {
    auto row = s.step();
    if (!row) return row.error();
    if (!*row) break;
    auto c = read_consent(s);
    if (!c) return c.error();
    out.push_back(std::move(*c));
  }
  return out;
}

Result<void> client_exists(Impl& i, const ClientId& client) {
  auto s = i.data.prepare("SELECT 1 FROM clients WHERE id = ?");
  if (!s) return s.error();
  s->bind(1, client.view());
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  return {};
}

Result<ConsentRecord> load(Impl& i, const ClientId& client, std::string_view id) {
  static const std::string kSql = std::string(kConsentSelect) + "WHERE id = ? AND client_id = ?";
  auto s = i.data.prepare(kSql.c_str());
  if (!s) return s.error();
  s->bind(1, id).bind(2, client.view());
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  return read_consent(*s);
}

bool is_record_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The short reference carries the first kShortReferenceHex hex characters (36 bits) of the id:
// 8 base-31 symbols hold them (31^8 > 2^36), plus the check symbol.
constexpr std::size_t kShortReferenceHex = 9;
constexpr std::size_t kShortReferenceSymbols = 8;
static_assert(kShortReferenceSymbols <= crypto::kMaxShortCodeSymbols);

/// The id prefix a short reference names; nullopt when it is not a well-formed short reference.
std::optional<std::string> prefix_of_short_reference(std::string_view text) {
  auto value = crypto::parse_short_code(text, kShortReferenceSymbols);
  if (!value || *value >= (std::uint64_t{1} << (4 * kShortReferenceHex))) return std::nullopt;
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string prefix(kShortReferenceHex, '0');
  std::uint64_t v = *value;
  for (std::size_t k = kShortReferenceHex; k-- > 0;) {
    prefix[k] = kHex[v & 0xF];
    v >>= 4;
  }
  return prefix;
}

Result<bool> short_reference_taken(Impl& i, const ClientId& client, std::string_view id) {
  auto s = i.data.prepare("SELECT 1 FROM consents WHERE client_id = ? AND substr(id, 1, ?) = ?");
  if (!s) return bool_error(s.error());
  s->bind(1, client.view())
      .bind(2, static_cast<std::int64_t>(kShortReferenceHex))
      .bind(3, id.substr(0, kShortReferenceHex));
  auto row = s->step();
  if (!row) return bool_error(row.error());
  return *row;
}

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
    // The reason stays sealed in the store (break_glass_reasons opens it for review).
    out.push_back({s.text(0), *client, s.text(2), s.text(3), split(s.text(4)), std::string(),
                   from_db(s.int64(5)), from_db(s.int64(6))});
  }
  return out;
}

}  // namespace

std::string short_consent_reference(std::string_view consent_id) {
  if (!is_record_id(consent_id)) return {};
  std::uint64_t value = 0;
  for (const char c : consent_id.substr(0, kShortReferenceHex)) {
    value = (value << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return crypto::format_short_code(value, kShortReferenceSymbols);
}

ConsentBook::ConsentBook(Store& store) : store_(store) {}

Result<ConsentRecord> ConsentBook::record(const ClientId& client, const NewConsent& consent) {
  if (consent.document.empty() || consent.document.size() > kMaxConsentDocument ||
      consent.valid_until <= consent.valid_from || !valid_name(consent.recorded_by_partner) ||
      consent.recorded_by_worker.empty() || consent.recorded_by_worker.size() > 128) {
    return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto r = client_exists(i, client); !r) return r.error();
  // The short reference a client quotes names one consent of theirs: draw again on the (about
  // one in 2^36 per consent) chance that another of this client's consents shares it.
  std::string id = random_record_id();
  for (;;) {
    auto taken = short_reference_taken(i, client, id);
    if (!taken) return taken.error();
    if (!*taken) break;
    id = random_record_id();
  }
  ConsentRecord c{std::move(id),
                  client,
                  consent.recorded_by_partner,
                  consent.recorded_by_worker,
                  i.now(),
                  consent.valid_from,
                  consent.valid_until,
                  std::nullopt,
                  {},
                  {},
                  consent.document};
  auto s = i.data.prepare(
      "INSERT INTO consents(id, client_id, recorded_by_partner, recorded_by_worker, recorded_at, "
      "valid_from, valid_until, document) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  if (auto r = s->bind(1, c.id)
                   .bind(2, client.view())
                   .bind(3, c.recorded_by_partner)
                   .bind(4, c.recorded_by_worker)
                   .bind(5, to_db(c.recorded_at))
                   .bind(6, to_db(c.valid_from))
                   .bind(7, to_db(c.valid_until))
                   .bind(8, c.document)
                   .run();
      !r) {
    return r.error();
  }
  return c;
}

Result<ConsentRecord> ConsentBook::revoke(const ClientId& client, std::string_view consent_id,
                                          std::string_view partner_id, std::string_view worker_id) {
  if (!valid_name(partner_id) || worker_id.empty() || worker_id.size() > 128) {
    return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto c = load(i, client, consent_id);
  if (!c) return c.error();
  if (c->revoked_at) return make_error_code(Errc::conflict);
  const auto now = i.now();
  auto s = i.data.prepare(
      "UPDATE consents SET revoked_at = ?, revoked_by_partner = ?, revoked_by_worker = ? "
      "WHERE id = ? AND client_id = ? AND revoked_at IS NULL");
  if (!s) return s.error();
  if (auto r = s->bind(1, to_db(now))
                   .bind(2, partner_id)
                   .bind(3, worker_id)
                   .bind(4, consent_id)
                   .bind(5, client.view())
                   .run();
      !r) {
    return r.error();
  }
  if (i.data.changes() != 1) return make_error_code(Errc::conflict);
  c->revoked_at = now;
  c->revoked_by_partner = std::string(partner_id);
  c->revoked_by_worker = std::string(worker_id);
  return c;
}

Result<std::vector<ConsentRecord>> ConsentBook::history(const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  static const std::string kSql =
      std::string(kConsentSelect) + "WHERE client_id = ? ORDER BY recorded_at, rowid";
  auto s = i.data.prepare(kSql.c_str());
  if (!s) return s.error();
  s->bind(1, client.view());
  return collect(*s);
}

Result<std::vector<ConsentRecord>> ConsentBook::in_force(const ClientId& client, Instant at) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  static const std::string kSql = std::string(kConsentSelect) +
                                  "WHERE client_id = ?1 AND valid_from <= ?2 AND valid_until > ?2 "
                                  "AND (revoked_at IS NULL OR revoked_at > ?2) "
                                  "ORDER BY recorded_at, rowid";
  auto s = i.data.prepare(kSql.c_str());
  if (!s) return s.error();
  s->bind(1, client.view()).bind(2, to_db(at));
  return collect(*s);
}

Result<ConsentRecord> ConsentBook::find(const ClientId& client, std::string_view consent_id) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (is_record_id(consent_id)) return load(i, client, consent_id);
  const auto prefix = prefix_of_short_reference(consent_id);
  if (!prefix) return make_error_code(Errc::not_found);
  auto s = i.data.prepare("SELECT id FROM consents WHERE client_id = ? AND substr(id, 1, ?) = ?");
  if (!s) return s.error();
  s->bind(1, client.view())
      .bind(2, static_cast<std::int64_t>(kShortReferenceHex))
      .bind(3, *prefix);
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return make_error_code(Errc::not_found);
  const std::string id = s->text(0);
  // Two consents of one client under one short reference (only possible in files written before
  // short references existed) name neither: the full id is needed then.
  auto second = s->step();
  if (!second) return second.error();
  if (*second) return make_error_code(Errc::not_found);
  return load(i, client, id);
}

std::string ConsentBook::new_grant_id() {
  return random_record_id();
}

Result<BreakGlassGrant> ConsentBook::grant_break_glass(BreakGlassGrant grant) {
  if (grant.reason.empty() || grant.reason.size() > 2000 || grant.categories.empty() ||
      grant.expires_at <= grant.starts_at || !valid_name(grant.partner_id) ||
      grant.worker_id.empty() || grant.worker_id.size() > 128 ||
      (!grant.id.empty() && !is_record_id(grant.id))) {
    return make_error_code(Errc::invalid_argument);
  }
  for (const auto& c : grant.categories) {
    if (!valid_name(c)) return make_error_code(Errc::invalid_argument);
  }
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  if (auto r = client_exists(i, grant.client); !r) return r.error();
  if (grant.id.empty()) grant.id = random_record_id();
  // Sealed before the data-store write (the key, if new, is committed to the key store first).
  auto sealed = i.seal_break_glass_reason(grant.client, grant.id, grant.reason);
  if (!sealed) return sealed.error();
  auto s = i.data.prepare(
      "INSERT INTO break_glass_grants(id, client_id, partner_id, worker_id, categories, "
      "reason_sealed, starts_at, expires_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  if (auto r = s->bind(1, grant.id)
                   .bind(2, grant.client.view())
                   .bind(3, grant.partner_id)
                   .bind(4, grant.worker_id)
                   .bind(5, join(grant.categories))
                   .bind(6, *sealed)
                   .bind(7, to_db(grant.starts_at))
                   .bind(8, to_db(grant.expires_at))
                   .run();
      !r) {
    return r.error();
  }
  // The reason's data key goes into the key journal like a fragment's (docs/store.md "Key
  // journal"), so restoring an older key snapshot does not lose it.
  if (auto v = crypto::sealed_field_key_version(*sealed)) {
    if (auto r = i.journal_key(grant.client, kBreakGlassReasonCategory, *v); !r) return r.error();
  }
  // What the caller gets back is the stored grant: its reason is not handed around further.
  crypto::wipe(std::span<char>(grant.reason.data(), grant.reason.size()));
  grant.reason.clear();
  return grant;
}

Result<std::vector<BreakGlassReason>>
ConsentBook::break_glass_reasons(const BreakGlassReasonQuery& query) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
      "SELECT id, client_id, partner_id, worker_id, starts_at, reason_sealed "
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
  std::vector<BreakGlassReason> out;
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    auto client = client_from_blob(s->blob(1));
    if (!client) return client.error();
    BreakGlassReason r{s->text(0), i.tag_of(*client), s->text(2), s->text(3),
                       from_db(s->int64(4)), std::nullopt};
    auto opened = i.open_break_glass_reason(*client, r.grant_id, s->blob(5));
    if (!opened) return opened.error();
    r.reason = std::move(*opened);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<BreakGlassGrant>> ConsentBook::break_glass_in_force(const ClientId& client,
                                                                       std::string_view partner_id,
                                                                       std::string_view worker_id,
                                                                       Instant at) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
      "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at "
      "FROM break_glass_grants WHERE client_id = ?1 AND partner_id = ?2 AND worker_id = ?3 "
      "AND starts_at <= ?4 AND expires_at > ?4 ORDER BY starts_at, rowid");
  if (!s) return s.error();
  s->bind(1, client.view()).bind(2, partner_id).bind(3, worker_id).bind(4, to_db(at));
  return collect_grants(*s);
}

Result<std::vector<BreakGlassGrant>>
ConsentBook::break_glass_history(const ClientId& client) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
      "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at "
      "FROM break_glass_grants WHERE client_id = ? ORDER BY starts_at, rowid");
  if (!s) return s.error();
  s->bind(1, client.view());
  return collect_grants(*s);
}

Result<std::vector<BreakGlassGrant>> ConsentBook::expired_unrecorded(Instant now,
                                                                     std::size_t limit) const {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  auto s = i.data.prepare(
      "SELECT id, client_id, partner_id, worker_id, categories, starts_at, expires_at "
      "FROM break_glass_grants WHERE expiry_recorded = 0 AND expires_at <= ?1 "
      "ORDER BY expires_at, rowid LIMIT ?2");
  if (!s) return s.error();
  s->bind(1, to_db(now)).bind(2, static_cast<std::int64_t>(limit));
  return collect_grants(*s);
}

Result<void> ConsentBook::mark_expiry_recorded(std::span<const std::string> grant_ids) {
  auto& i = store_.impl();
  std::lock_guard lock(i.mutex);
  sql::Transaction tx(i.data);
  if (auto r = tx.begin(); !r) return r.error();
  for (const auto& id : grant_ids) {
    auto s = i.data.prepare("UPDATE break_glass_grants SET expiry_recorded = 1 WHERE id = ?");
    if (!s) return s.error();
    if (auto r = s->bind(1, id).run(); !r) return r;
  }
  return tx.commit();
}

}  // namespace sluis::gateway
