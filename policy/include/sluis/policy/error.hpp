// Error codes of the policy module and the Result type its fallible operations return.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace sluis::policy {

/// Every way a consent or break-the-glass grant can be rejected. Values are stable: the API maps
/// them to problem+json codes and they may appear in logs as numbers. Never renumber; append.
enum class Errc {
  malformed = 1,                  ///< JSON is not an object of the documented shape
  unknown_category = 2,           ///< a category name the rule pack does not define
  unknown_purpose = 3,            ///< a purpose name the rule pack does not define
  unknown_role = 4,               ///< a role name the rule pack does not define
  unknown_partner_type = 5,       ///< a partner type name the rule pack does not define
  missing_end = 6,                ///< a period without an end date (every consent must end)
  end_not_after_start = 7,        ///< a period whose end is not strictly after its start
  period_too_long = 8,            ///< a period longer than the rule pack's maximum
  period_ended = 9,               ///< a new consent or grant whose end is already in the past
  no_provision = 10,              ///< a consent without any permit provision
  empty_grantee = 11,             ///< a grantee naming neither partner, partner type nor role
  no_categories = 12,             ///< a provision or grant without categories
  no_purposes = 13,               ///< a provision without purposes
  restricted_needs_partner = 14,  ///< a restricted category granted to more than one named partner
  bad_exception = 15,        ///< an exception that is not exactly one partner, worker or category
  bad_id = 16,               ///< an id empty, too long or with characters outside [A-Za-z0-9._:@/-]
  bad_time = 17,             ///< a time that is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)
  unknown_channel = 18,      ///< evidence channel not in-person / paper-signed / other
  unknown_language = 19,     ///< evidence language not nl / fr / en
  unknown_legal_basis = 20,  ///< legal basis not one of the documented values
  unknown_relationship = 21,   ///< representative relationship not one of the documented values
  channel_note_required = 22,  ///< channel "other" without a note saying what it was
  text_too_long = 23,          ///< a free-text field longer than its documented bound
  recorder_not_allowed = 24,   ///< the recording worker's role may not record consents
  bad_revocation = 25,         ///< status and revocation disagree, or revocation precedes recording
  already_revoked = 26,        ///< revoking a consent that is already revoked
  too_many_items = 27,         ///< more provisions / exceptions than the documented bounds
  reason_missing = 28,         ///< break-the-glass without a reason (or a too short one)
  break_glass_not_allowed = 29,  ///< the role may not break the glass for a requested category
  restricted_category = 30,      ///< break-the-glass asking for a restricted category
  duplicate_name = 31,           ///< the same category or purpose listed twice
  recorded_in_future = 32,       ///< evidence time after the moment of validation
};

/// The error category of sluis::policy ("sluis.policy").
[[nodiscard]] const boost::system::error_category& policy_category() noexcept;

[[nodiscard]] boost::system::error_code make_error_code(Errc e) noexcept;

/// Stable machine name of a code, e.g. "missing-end" (for problem+json `code` members).
[[nodiscard]] const char* errc_name(Errc e) noexcept;

/// Result of a fallible policy operation. Must be checked.
template <class T> using Result = boost::system::result<T>;

}  // namespace sluis::policy

template <> struct boost::system::is_error_code_enum<sluis::policy::Errc> : std::true_type {};
