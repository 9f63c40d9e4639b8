// Break-the-glass review: the grants that concern an organisation, and its DPO's review of one
// (the outcome in the clear, the note sealed like a fragment field under the client's key).
#include "sluis/domain/break_glass_review.hpp"

#include "rules.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/field.hpp"
#include "sluis/crypto/pseudonym.hpp"

#include <algorithm>

namespace sluis::domain {

namespace {

/// The sealed context's fragment id: the grant id's 16 bytes (as for its reason).
Result<FragmentId> review_context_id(std::string_view grant_id) {
  if (grant_id.size() != 32) return make_error_code(Errc::invalid_argument);
  auto bytes = crypto::from_hex(grant_id);
  if (!bytes || bytes->size() != 16) return make_error_code(Errc::invalid_argument);
  return FragmentId::from(std::span<const std::uint8_t, 16>(bytes->data(), 16));
}

/// The field name bound into a note's context: the reviewing partner's, so one organisation's
/// note cannot be moved onto another organisation's review of the same grant.
std::string note_field(std::string_view partner_id) {
  return "note:" + std::string(partner_id);
}

Result<std::vector<std::uint8_t>> seal_note(UnitOfWork& u, const ClientId& client,
                                            std::string_view grant_id,
                                            std::string_view partner_id, std::string_view note) {
  auto id = review_context_id(grant_id);
  if (!id) return id.error();
  auto key = u.keys().key_for_sealing(client, kBreakGlassReviewCategory);
  if (!key) return key.error();
  const auto field = note_field(partner_id);
  const crypto::FieldContext ctx{*id, field, kBreakGlassReviewCategory, client, key->first};
  auto sealed = crypto::seal_field(
      key->second, ctx,
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(note.data()),
                                    note.size()));
  if (!sealed) return make_error_code(Errc::invalid_argument);
  return std::move(*sealed);
}

/// nullopt when it cannot be opened (key gone: the client was erased; bytes altered or moved).
Result<std::optional<std::string>> open_note(UnitOfWork& u, const ClientId& client,
                                             std::string_view grant_id,
                                             std::string_view partner_id,
                                             std::span<const std::uint8_t> sealed) {
  auto id = review_context_id(grant_id);
  if (!id) return make_error_code(Errc::storage_failure);
  auto version = crypto::sealed_field_key_version(sealed);
  if (!version) return std::optional<std::string>();
  auto key = u.keys().cached_key(client, kBreakGlassReviewCategory, *version);
  if (!key) {
    if (key.error() == Errc::key_unavailable || key.error() == Errc::crypto_failure) {
      return std::optional<std::string>();
    }
    return key.error();
  }
  const auto field = note_field(partner_id);
  const crypto::FieldContext ctx{*id, field, kBreakGlassReviewCategory, client, *version};
  auto plain = crypto::open_field(**key, ctx, sealed);
  if (!plain) return std::optional<std::string>();
  return std::optional<std::string>(std::string(plain->begin(), plain->end()));
}

/// True when the grant concerns the partner: its worker opened it, or it serves the client.
Result<bool> concerns(UnitOfWork& u, const BreakGlassGrant& g, std::string_view partner_id) {
  if (g.partner_id == partner_id) return true;
  auto rel = u.clients().relationship(partner_id, g.client);
  if (!rel) return bool_error(rel.error());
  return rel->has_value();
}

/// Fills everything but position and grant.
Result<void> describe(UnitOfWork& u, std::string_view partner_id, GrantUnderReview& out) {
  const auto& g = out.grant;
  out.client_audit = crypto::audit_pseudonym(u.pseudonym_keys().audit_pseudonym, g.client);
  auto rel = u.clients().relationship(partner_id, g.client);
  if (!rel) return rel.error();
  if (*rel) out.client_pseudonym = (*rel)->pseudonym;
  if (g.partner_id == partner_id) {
    auto sealed = u.grants().sealed_reasons_of(g.client);
    if (!sealed) return sealed.error();
    for (const auto& s : *sealed) {
      if (s.grant_id != g.id) continue;
      auto opened = open_break_glass_reason(u, g.client, g.id, s.sealed);
      if (!opened) return opened.error();
      out.reason = std::move(*opened);
    }
  }
  auto reviews = u.grants().reviews_of(g.id);
  if (!reviews) return reviews.error();
  for (auto& [review, sealed] : *reviews) {
    if (review.partner_id == partner_id) {
      auto opened = open_note(u, g.client, g.id, partner_id, sealed);
      if (!opened) return opened.error();
      review.note = std::move(*opened);
    }
    out.reviews.push_back(std::move(review));
  }
  return {};
}

}  // namespace

bool valid_review_outcome(std::string_view outcome) noexcept {
  return outcome == kReviewJustified || outcome == kReviewNotJustified ||
         outcome == kReviewNeedsFollowUp;
}

bool valid_review_note(std::string_view note) noexcept {
  if (note.empty() || note.size() > kMaxReviewNote) return false;
  return std::none_of(note.begin(), note.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n' && c != '\r' && c != '\t') || u == 0x7f;
  });
}

BreakGlassReviews::BreakGlassReviews(Storage& storage) : storage_(storage) {}

Result<GrantReviewPage> BreakGlassReviews::concerning(std::string_view partner_id,
                                                      std::int64_t before,
                                                      std::size_t limit) const {
  UnitOfWork u(storage_);
  if (auto r = u.begin_read(); !r) return r.error();
  // One more than asked: whether a next page exists.
  auto rows = u.grants().concerning(partner_id, before, limit + 1);
  if (!rows) return rows.error();
  GrantReviewPage page;
  for (auto& [position, grant] : *rows) {
    if (page.grants.size() == limit) {
      page.next = page.grants.back().position;
      break;
    }
    GrantUnderReview g;
    g.position = position;
    g.grant = std::move(grant);
    if (auto r = describe(u, partner_id, g); !r) return r.error();
    page.grants.push_back(std::move(g));
  }
  if (auto r = u.commit(); !r) return r.error();
  return page;
}

Result<GrantUnderReview> BreakGlassReviews::find(std::string_view partner_id,
                                                 std::string_view grant_id) const {
  if (!review_context_id(grant_id)) return make_error_code(Errc::not_found);
  UnitOfWork u(storage_);
  auto grant = u.grants().find(grant_id);
  if (!grant) return grant.error();
  auto ok = concerns(u, *grant, partner_id);
  if (!ok) return ok.error();
  if (!*ok) return make_error_code(Errc::not_found);
  GrantUnderReview g;
  g.grant = std::move(*grant);
  if (auto r = describe(u, partner_id, g); !r) return r.error();
  return g;
}

Result<BreakGlassReview> BreakGlassReviews::record(BreakGlassReview review,
                                                   std::string_view note) {
  if (!valid_review_outcome(review.outcome) || !valid_review_note(note) ||
      !valid_name(review.partner_id) || review.worker_id.empty() ||
      review.worker_id.size() > 128) {
    return make_error_code(Errc::invalid_argument);
  }
  if (!review_context_id(review.grant_id)) return make_error_code(Errc::not_found);
  UnitOfWork u(storage_);
  // The checks inside the write transaction (Dossiers::add_fragment says why); the note's key,
  // if new, is committed to the key store at once, whatever the transaction does.
  if (auto r = u.begin_write(); !r) return r.error();
  auto grant = u.grants().find(review.grant_id);
  if (!grant) return grant.error();
  auto ok = concerns(u, *grant, review.partner_id);
  if (!ok) return ok.error();
  if (!*ok) return make_error_code(Errc::not_found);
  review.reviewed_at = u.now();
  // Sealed in the write (the key, if new, is committed to the key store at once).
  auto sealed = seal_note(u, grant->client, review.grant_id, review.partner_id, note);
  if (!sealed) return sealed.error();
  if (auto r = u.grants().insert_review(review, *sealed); !r) return r.error();
  // The note's data key goes into the key journal like a reason's (docs/store.md "Key journal").
  if (auto v = crypto::sealed_field_key_version(*sealed)) {
    if (auto r = u.keys().journal(grant->client, kBreakGlassReviewCategory, *v); !r) {
      return r.error();
    }
  }
  if (auto r = u.commit(); !r) return r.error();
  review.note.reset();  // the caller has it; it is not handed around further
  return review;
}

Result<void> reseal_review_notes(UnitOfWork& u, const ClientId& survivor,
                                 const ClientId& absorbed) {
  auto grants = u.grants().history(absorbed);
  if (!grants) return grants.error();
  for (const auto& g : *grants) {
    auto reviews = u.grants().reviews_of(g.id);
    if (!reviews) return reviews.error();
    for (const auto& [review, sealed] : *reviews) {
      auto plain = open_note(u, absorbed, g.id, review.partner_id, sealed);
      if (!plain) return plain.error();
      if (!*plain) continue;  // cannot be opened under the absorbed client either: left as is
      auto resealed = seal_note(u, survivor, g.id, review.partner_id, **plain);
      crypto::wipe(std::span<char>((*plain)->data(), (*plain)->size()));
      if (!resealed) return resealed.error();
      if (auto r = u.grants().replace_sealed_note(g.id, review.partner_id, *resealed); !r) {
        return r;
      }
    }
  }
  return {};
}

}  // namespace sluis::domain
