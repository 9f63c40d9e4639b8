// Validation of break-the-glass grants against the rule pack.
#include "sluis/policy/break_glass.hpp"

#include "text.hpp"

namespace sluis::policy {

Result<void> validate_break_glass(const BreakGlassGrant& grant, const RulePack& pack, RoleId role,
                                  Time now) {
  if (!is_valid_id(grant.id) || !is_valid_id(grant.partner) || !is_valid_id(grant.worker)) {
    return Errc::bad_id;
  }
  if (!pack.valid(role)) return Errc::unknown_role;
  if (is_blank(grant.reason) || utf8_length(grant.reason) < pack.break_glass_reason_min_chars()) {
    return Errc::reason_missing;
  }
  if (utf8_length(grant.reason) > pack.break_glass_reason_max_chars()) return Errc::text_too_long;

  if (grant.categories.empty()) return Errc::no_categories;
  bool unknown = false;
  bool restricted = false;
  bool unreachable = false;
  grant.categories.for_each([&](CategoryId c) {
    if (!pack.valid(c)) {
      unknown = true;
      return;
    }
    if (pack.restricted_categories().contains(c)) restricted = true;
    bool reachable = false;
    for (std::size_t p = 0; p < pack.purposes().size(); ++p) {
      const PurposeId pid{static_cast<std::uint8_t>(p)};
      reachable = reachable || pack.access(role, c, pid) == AccessLevel::consent_or_break_glass;
    }
    if (!reachable) unreachable = true;
  });
  if (unknown) return Errc::unknown_category;
  if (restricted) return Errc::restricted_category;
  if (unreachable) return Errc::break_glass_not_allowed;

  if (grant.expiry <= grant.start) return Errc::end_not_after_start;
  if (grant.expiry - grant.start > pack.break_glass_max_duration()) return Errc::period_too_long;
  if (grant.expiry <= now) return Errc::period_ended;
  if (!grant.flagged) return Errc::malformed;
  return {};
}

}  // namespace sluis::policy
