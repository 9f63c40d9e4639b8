// The "sluis.policy" error category.
#include "sluis/policy/error.hpp"

#include <string>

namespace sluis::policy {
namespace {

class PolicyCategory final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "sluis.policy"; }

  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
    case Errc::malformed: return "the document does not have the documented shape";
    case Errc::unknown_category: return "unknown category";
    case Errc::unknown_purpose: return "unknown purpose";
    case Errc::unknown_role: return "unknown role";
    case Errc::unknown_partner_type: return "unknown partner type";
    case Errc::missing_end: return "a period needs an end date";
    case Errc::end_not_after_start: return "a period must end after it starts";
    case Errc::period_too_long: return "the period is longer than the rule pack allows";
    case Errc::period_ended: return "the period has already ended";
    case Errc::no_provision: return "a consent needs at least one provision";
    case Errc::empty_grantee: return "a grantee must name a partner, a partner type or a role";
    case Errc::no_categories: return "at least one category is required";
    case Errc::no_purposes: return "at least one purpose is required";
    case Errc::restricted_needs_partner:
      return "a restricted category may only be granted, by name, to one named partner";
    case Errc::bad_exception: return "an exception names exactly one partner, worker or category";
    case Errc::bad_id:
      return "an id is empty, too long or has characters outside [A-Za-z0-9._:@/-]";
    case Errc::bad_time: return "a time must be RFC 3339 UTC: YYYY-MM-DDTHH:MM:SSZ";
    case Errc::unknown_channel: return "channel must be in-person, paper-signed or other";
    case Errc::unknown_language: return "language must be nl, fr or en";
    case Errc::unknown_legal_basis: return "unknown legal basis";
    case Errc::unknown_relationship: return "unknown representative relationship";
    case Errc::channel_note_required: return "channel other needs a note saying what it was";
    case Errc::text_too_long: return "a text is longer than allowed";
    case Errc::recorder_not_allowed: return "this role may not record consents";
    case Errc::bad_revocation: return "status and revocation do not agree";
    case Errc::already_revoked: return "the consent is already revoked";
    case Errc::too_many_items: return "too many provisions or exceptions";
    case Errc::reason_missing: return "a reason is required";
    case Errc::break_glass_not_allowed:
      return "this role may not break the glass for that category";
    case Errc::restricted_category: return "break-the-glass never reaches a restricted category";
    case Errc::duplicate_name: return "a name is listed twice";
    case Errc::recorded_in_future: return "the recording time is in the future";
    }
    return "unknown policy error";
  }
};

}  // namespace

const boost::system::error_category& policy_category() noexcept {
  static const PolicyCategory category;
  return category;
}

boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), policy_category()};
}

const char* errc_name(Errc e) noexcept {
  switch (e) {
  case Errc::malformed: return "malformed";
  case Errc::unknown_category: return "unknown-category";
  case Errc::unknown_purpose: return "unknown-purpose";
  case Errc::unknown_role: return "unknown-role";
  case Errc::unknown_partner_type: return "unknown-partner-type";
  case Errc::missing_end: return "missing-end";
  case Errc::end_not_after_start: return "end-not-after-start";
  case Errc::period_too_long: return "period-too-long";
  case Errc::period_ended: return "period-ended";
  case Errc::no_provision: return "no-provision";
  case Errc::empty_grantee: return "empty-grantee";
  case Errc::no_categories: return "no-categories";
  case Errc::no_purposes: return "no-purposes";
  case Errc::restricted_needs_partner: return "restricted-needs-partner";
  case Errc::bad_exception: return "bad-exception";
  case Errc::bad_id: return "bad-id";
  case Errc::bad_time: return "bad-time";
  case Errc::unknown_channel: return "unknown-channel";
  case Errc::unknown_language: return "unknown-language";
  case Errc::unknown_legal_basis: return "unknown-legal-basis";
  case Errc::unknown_relationship: return "unknown-relationship";
  case Errc::channel_note_required: return "channel-note-required";
  case Errc::text_too_long: return "text-too-long";
  case Errc::recorder_not_allowed: return "recorder-not-allowed";
  case Errc::bad_revocation: return "bad-revocation";
  case Errc::already_revoked: return "already-revoked";
  case Errc::too_many_items: return "too-many-items";
  case Errc::reason_missing: return "reason-missing";
  case Errc::break_glass_not_allowed: return "break-glass-not-allowed";
  case Errc::restricted_category: return "restricted-category";
  case Errc::duplicate_name: return "duplicate-name";
  case Errc::recorded_in_future: return "recorded-in-future";
  }
  return "unknown";
}

}  // namespace sluis::policy
