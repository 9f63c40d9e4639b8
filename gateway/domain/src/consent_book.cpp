// Consent book: consent documents with metadata and revocation marks; break-the-glass grants.
#include "sluis/domain/consent_book.hpp"

#include "rules.hpp"
#include "sluis/crypto/card.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/field.hpp"

#include <algorithm>

namespace sluis::domain {

namespace {

Result<void> client_exists(UnitOfWork& u, const ClientId& client) {
  auto a = u.clients().anonymous(client);
  if (!a) return a.error();
  return {};
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

Result<bool> short_reference_taken(UnitOfWork& u, const ClientId& client, std::string_view id) {
  auto ids = u.consents().ids_with_prefix(client, id.substr(0, kShortReferenceHex), 1);
  if (!ids) return bool_error(ids.error());
  return !ids->empty();
}

Result<FragmentId> grant_context_id(std::string_view grant_id) {
  if (grant_id.size() != 32) return make_error_code(Errc::invalid_argument);
  auto bytes = crypto::from_hex(grant_id);
  if (!bytes || bytes->size() != 16) return make_error_code(Errc::invalid_argument);
  return FragmentId::from(std::span<const std::uint8_t, 16>(bytes->data(), 16));
}

/// In force at `at`: not revoked by then, valid_from <= at < valid_until.
bool consent_in_force(const ConsentRecord& c, Instant at) {
  return c.valid_from <= at && at < c.valid_until && (!c.revoked_at || *c.revoked_at > at);
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

ConsentBook::ConsentBook(Storage& storage) : storage_(storage) {}

Result<ConsentRecord> ConsentBook::record(const ClientId& client, const NewConsent& consent) {
  if (consent.document.empty() || consent.document.size() > kMaxConsentDocument ||
      consent.valid_until <= consent.valid_from || !valid_name(consent.recorded_by_partner) ||
      consent.recorded_by_worker.empty() || consent.recorded_by_worker.size() > 128) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage_);
  // The checks and the insert in one write transaction (one commit, one fsync).
  if (auto r = u.begin_write(); !r) return r.error();
  if (auto r = client_exists(u, client); !r) return r.error();
  // The short reference a client quotes names one consent of theirs: draw again on the (about
  // one in 2^36 per consent) chance that another of this client's consents shares it.
  std::string id = random_record_id();
  for (;;) {
    auto taken = short_reference_taken(u, client, id);
    if (!taken) return taken.error();
    if (!*taken) break;
    id = random_record_id();
  }
  ConsentRecord c{std::move(id),
                  client,
                  consent.recorded_by_partner,
                  consent.recorded_by_worker,
                  u.now(),
                  consent.valid_from,
                  consent.valid_until,
                  std::nullopt,
                  {},
                  {},
                  consent.document};
  if (auto r = u.consents().insert(c); !r) return r.error();
  if (auto r = u.commit(); !r) return r.error();
  return c;
}

Result<ConsentRecord> ConsentBook::revoke(const ClientId& client, std::string_view consent_id,
                                          std::string_view partner_id, std::string_view worker_id) {
  if (!valid_name(partner_id) || worker_id.empty() || worker_id.size() > 128) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage_);
  if (auto r = u.begin_write(); !r) return r.error();  // the look-up and the mark: one commit
  auto c = u.consents().find(client, consent_id);
  if (!c) return c.error();
  if (c->revoked_at) return make_error_code(Errc::conflict);
  const auto now = u.now();
  if (auto r = u.consents().revoke(client, consent_id, now, partner_id, worker_id); !r) {
    return r.error();
  }
  if (auto r = u.commit(); !r) return r.error();
  c->revoked_at = now;
  c->revoked_by_partner = std::string(partner_id);
  c->revoked_by_worker = std::string(worker_id);
  return c;
}

Result<std::vector<ConsentRecord>> ConsentBook::history(const ClientId& client) const {
  UnitOfWork u(storage_);
  return u.consents().history(client);
}

Result<std::vector<ConsentRecord>> ConsentBook::in_force(const ClientId& client, Instant at) const {
  auto all = history(client);
  if (!all) return all.error();
  std::erase_if(*all, [at](const ConsentRecord& c) { return !consent_in_force(c, at); });
  return all;
}

Result<ConsentRecord> ConsentBook::find(const ClientId& client, std::string_view consent_id) const {
  UnitOfWork u(storage_);
  if (is_record_id(consent_id)) return u.consents().find(client, consent_id);
  const auto prefix = prefix_of_short_reference(consent_id);
  if (!prefix) return make_error_code(Errc::not_found);
  auto ids = u.consents().ids_with_prefix(client, *prefix, 2);
  if (!ids) return ids.error();
  // Two consents of one client under one short reference (only possible in files written before
  // short references existed) name neither: the full id is needed then.
  if (ids->size() != 1) return make_error_code(Errc::not_found);
  return u.consents().find(client, ids->front());
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
  UnitOfWork u(storage_);
  if (auto r = client_exists(u, grant.client); !r) return r.error();
  if (grant.id.empty()) grant.id = random_record_id();
  // Sealed before the write (the key, if new, is committed to the key store first).
  auto sealed = seal_break_glass_reason(u, grant.client, grant.id, grant.reason);
  if (!sealed) return sealed.error();
  if (auto r = u.grants().insert(grant, *sealed); !r) return r.error();
  // The reason's data key goes into the key journal like a fragment's (docs/store.md "Key
  // journal"), so restoring an older key snapshot does not lose it.
  if (auto v = crypto::sealed_field_key_version(*sealed)) {
    if (auto r = u.keys().journal(grant.client, kBreakGlassReasonCategory, *v); !r) {
      return r.error();
    }
  }
  // What the caller gets back is the stored grant: its reason is not handed around further.
  crypto::wipe(std::span<char>(grant.reason.data(), grant.reason.size()));
  grant.reason.clear();
  return grant;
}

Result<std::vector<BreakGlassReason>>
ConsentBook::break_glass_reasons(const BreakGlassReasonQuery& query) const {
  UnitOfWork u(storage_);
  auto sealed = u.grants().sealed_reasons(query);
  if (!sealed) return sealed.error();
  std::vector<BreakGlassReason> out;
  out.reserve(sealed->size());
  for (const auto& g : *sealed) {
    BreakGlassReason r{
        g.grant_id,   crypto::audit_pseudonym(u.pseudonym_keys().audit_pseudonym, g.client),
        g.partner_id, g.worker_id,
        g.starts_at,  std::nullopt};
    auto opened = open_break_glass_reason(u, g.client, r.grant_id, g.sealed);
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
  auto all = break_glass_history(client);
  if (!all) return all.error();
  std::erase_if(*all, [&](const BreakGlassGrant& g) {
    return g.partner_id != partner_id || g.worker_id != worker_id || g.starts_at > at ||
           g.expires_at <= at;
  });
  return all;
}

Result<std::vector<BreakGlassGrant>>
ConsentBook::break_glass_history(const ClientId& client) const {
  UnitOfWork u(storage_);
  return u.grants().history(client);
}

Result<std::vector<BreakGlassGrant>> ConsentBook::expired_unrecorded(Instant now,
                                                                     std::size_t limit) const {
  UnitOfWork u(storage_);
  return u.grants().expired_unrecorded(now, limit);
}

Result<void> ConsentBook::mark_expiry_recorded(std::span<const std::string> grant_ids) {
  UnitOfWork u(storage_);
  if (auto r = u.begin_write(); !r) return r;
  if (auto r = u.grants().mark_expiry_recorded(grant_ids); !r) return r;
  return u.commit();
}

Result<std::vector<std::uint8_t>> seal_break_glass_reason(UnitOfWork& u, const ClientId& client,
                                                          std::string_view grant_id,
                                                          std::string_view reason) {
  auto id = grant_context_id(grant_id);
  if (!id) return id.error();
  auto key = u.keys().key_for_sealing(client, kBreakGlassReasonCategory);
  if (!key) return key.error();
  const crypto::FieldContext ctx{*id, kBreakGlassReasonField, kBreakGlassReasonCategory, client,
                                 key->first};
  auto sealed =
      crypto::seal_field(key->second, ctx,
                         std::span<const std::uint8_t>(
                             reinterpret_cast<const std::uint8_t*>(reason.data()), reason.size()));
  if (!sealed) return make_error_code(Errc::invalid_argument);
  return std::move(*sealed);
}

Result<std::optional<std::string>> open_break_glass_reason(UnitOfWork& u, const ClientId& client,
                                                           std::string_view grant_id,
                                                           std::span<const std::uint8_t> sealed) {
  auto id = grant_context_id(grant_id);
  if (!id) return make_error_code(Errc::storage_failure);
  auto version = crypto::sealed_field_key_version(sealed);
  if (!version) return std::optional<std::string>();
  auto key = u.keys().cached_key(client, kBreakGlassReasonCategory, *version);
  if (!key) {
    if (key.error() == Errc::key_unavailable || key.error() == Errc::crypto_failure) {
      return std::optional<std::string>();
    }
    return key.error();
  }
  const crypto::FieldContext ctx{*id, kBreakGlassReasonField, kBreakGlassReasonCategory, client,
                                 *version};
  auto plain = crypto::open_field(**key, ctx, sealed);
  if (!plain) return std::optional<std::string>();
  return std::optional<std::string>(std::string(plain->begin(), plain->end()));
}

Result<void> reseal_break_glass_reasons(UnitOfWork& u, const ClientId& survivor,
                                        const ClientId& absorbed) {
  auto rows = u.grants().sealed_reasons_of(absorbed);
  if (!rows) return rows.error();
  for (const auto& g : *rows) {
    auto plain = open_break_glass_reason(u, absorbed, g.grant_id, g.sealed);
    if (!plain) return plain.error();
    if (!*plain) continue;  // cannot be opened under the absorbed client either: left as it is
    auto resealed = seal_break_glass_reason(u, survivor, g.grant_id, **plain);
    crypto::wipe(std::span<char>((*plain)->data(), (*plain)->size()));
    if (!resealed) return resealed.error();
    if (auto r = u.grants().replace_sealed_reason(g.grant_id, *resealed); !r) return r;
  }
  return {};
}

}  // namespace sluis::domain
