// Validation and revocation of consents (the rules a consent must meet before it is stored).
#include "sluis/policy/consent.hpp"

#include "text.hpp"

#include <algorithm>

namespace sluis::policy {

std::string_view to_string(Channel c) noexcept {
  switch (c) {
  case Channel::in_person: return "in-person";
  case Channel::paper_signed: return "paper-signed";
  case Channel::other: return "other";
  }
  return "unknown";
}

std::string_view to_string(Language l) noexcept {
  switch (l) {
  case Language::nl: return "nl";
  case Language::fr: return "fr";
  case Language::en: return "en";
  }
  return "unknown";
}

std::string_view to_string(LegalBasis b) noexcept {
  switch (b) {
  case LegalBasis::consent: return "consent";
  case LegalBasis::vital_interest: return "vital-interest";
  case LegalBasis::legal_obligation: return "legal-obligation";
  case LegalBasis::public_task: return "public-task";
  }
  return "unknown";
}

std::string_view to_string(Relationship r) noexcept {
  switch (r) {
  case Relationship::parent: return "parent";
  case Relationship::legal_guardian: return "legal-guardian";
  case Relationship::court_appointed_administrator: return "court-appointed-administrator";
  case Relationship::trusted_person: return "trusted-person";
  }
  return "unknown";
}

std::string_view to_string(ConsentStatus s) noexcept {
  switch (s) {
  case ConsentStatus::active: return "active";
  case ConsentStatus::revoked: return "revoked";
  }
  return "unknown";
}

namespace {

Result<void> check_worker(const WorkerRef& w) {
  if (!is_valid_id(w.partner) || !is_valid_id(w.worker)) return Errc::bad_id;
  return {};
}

Result<void> check_provision(const ConsentProvision& p, const RulePack& pack, Time now) {
  const Grantee& g = p.grantee;
  if (g.partner.empty() && !g.partner_type && !g.role) return Errc::empty_grantee;
  if (!g.partner.empty() && !is_valid_id(g.partner)) return Errc::bad_id;
  if (g.partner_type && !pack.valid(*g.partner_type)) return Errc::unknown_partner_type;
  if (g.role && !pack.valid(*g.role)) return Errc::unknown_role;

  const auto all = CategorySet::from_bits(pack.categories().size() >= 64
                                              ? ~std::uint64_t{0}
                                              : (std::uint64_t{1} << pack.categories().size()) - 1);
  if ((p.categories.bits() & ~all.bits()) != 0) return Errc::unknown_category;
  if (p.categories.empty() && !p.all_non_restricted) return Errc::no_categories;
  const auto all_purposes = PurposeSet::from_bits(
      pack.purposes().size() >= 64 ? ~std::uint64_t{0}
                                   : (std::uint64_t{1} << pack.purposes().size()) - 1);
  if ((p.purposes.bits() & ~all_purposes.bits()) != 0) return Errc::unknown_purpose;
  if (p.purposes.empty()) return Errc::no_purposes;

  // Residence status (and any restricted category) is the most dangerous thing a client can
  // share: it only ever goes, by name, to one partner the client chose — never a whole sector.
  if (!(p.categories & pack.restricted_categories()).empty() &&
      (g.partner.empty() || g.partner_type || g.role)) {
    return Errc::restricted_needs_partner;
  }

  if (p.period.end <= p.period.start) return Errc::end_not_after_start;
  if (p.period.end - p.period.start > pack.consent_max_duration()) return Errc::period_too_long;
  if (p.period.end <= now) return Errc::period_ended;

  if (p.exceptions.size() > kMaxExceptions) return Errc::too_many_items;
  for (const ConsentException& e : p.exceptions) {
    switch (e.kind) {
    case ConsentException::Kind::partner:
      if (!e.worker.empty()) return Errc::bad_exception;
      if (!is_valid_id(e.partner)) return Errc::bad_id;
      break;
    case ConsentException::Kind::worker:
      if (!is_valid_id(e.partner) || !is_valid_id(e.worker)) return Errc::bad_id;
      break;
    case ConsentException::Kind::category:
      if (!e.partner.empty() || !e.worker.empty()) return Errc::bad_exception;
      if (!pack.valid(e.category)) return Errc::unknown_category;
      break;
    default: return Errc::bad_exception;
    }
  }
  return {};
}

}  // namespace

Result<void> validate_consent(const Consent& consent, const RulePack& pack, Time now) {
  if (!is_valid_id(consent.id)) return Errc::bad_id;

  const ConsentEvidence& ev = consent.evidence;
  if (auto r = check_worker(ev.recorded_by); !r) return r;
  if (!pack.valid(ev.recorder_role)) return Errc::unknown_role;
  if (!pack.may_record_consent(ev.recorder_role)) return Errc::recorder_not_allowed;
  if (ev.channel == Channel::other && is_blank(ev.channel_note)) return Errc::channel_note_required;
  if (utf8_length(ev.channel_note) > kMaxNoteChars) return Errc::text_too_long;
  if (ev.recorded_at > now) return Errc::recorded_in_future;

  if ((consent.status == ConsentStatus::revoked) != consent.revocation.has_value()) {
    return Errc::bad_revocation;
  }
  if (consent.revocation) {
    if (auto r = check_worker(consent.revocation->by); !r) return r;
    if (consent.revocation->at < ev.recorded_at) return Errc::bad_revocation;
  }

  if (consent.provisions.empty()) return Errc::no_provision;
  if (consent.provisions.size() > kMaxProvisions) return Errc::too_many_items;
  for (const ConsentProvision& p : consent.provisions) {
    if (auto r = check_provision(p, pack, now); !r) return r;
  }

  if (consent.representative) {
    const std::string& ref = consent.representative->reference;
    if (ref.size() > kMaxReferenceLength || !is_valid_id(ref)) return Errc::bad_id;
  }
  return {};
}

Result<void> revoke_consent(Consent& consent, const WorkerRef& by, Time at) {
  if (consent.status == ConsentStatus::revoked) return Errc::already_revoked;
  if (at < consent.evidence.recorded_at) return Errc::bad_revocation;
  if (auto r = check_worker(by); !r) return r;
  consent.status = ConsentStatus::revoked;
  consent.revocation = Revocation{at, by};
  return {};
}

Time consent_end(const Consent& consent) noexcept {
  Time end = consent.evidence.recorded_at;
  for (const ConsentProvision& p : consent.provisions)
    end = std::max(end, p.period.end);
  return end;
}

}  // namespace sluis::policy
