// Break-the-glass grants: a worker's emergency access to one client's categories without consent —
// reason required, time-limited, flagged for review, reported to the client.
#pragma once

#include "sluis/policy/error.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluis/policy/types.hpp"

#include <string>

namespace sluis::policy {

/// One grant for one client (the store files it under the client; the caller passes the decision
/// only that client's grants). Reaches a category only where the access matrix says
/// consent-or-break-glass for the worker's role and the request's purpose, never a restricted
/// category, never data of an owner type whose disclosure forbids break-the-glass.
struct BreakGlassGrant {
  std::string id;
  std::string partner;  ///< the worker's partner id
  std::string worker;   ///< the worker id at that partner
  CategorySet categories;
  std::string reason;  ///< why; shown to the DPO and in the client's access report
  Time start{};
  Time expiry{};        ///< exclusive; expiry - start <= the pack's maximum
  bool flagged = true;  ///< always true: every grant is flagged for DPO review and reporting
  friend bool operator==(const BreakGlassGrant&, const BreakGlassGrant&) = default;
};

/// Checks a grant a worker with `role` asks for at `now`: valid ids; reason of
/// pack.break_glass_reason_min_chars()..max_chars() characters, not only blanks (reason_missing /
/// text_too_long); categories not empty, none restricted (restricted_category) and each reachable
/// by break-the-glass for `role` for at least one purpose (break_glass_not_allowed); expiry after
/// start, after `now`, within the pack maximum; flagged.
[[nodiscard]] Result<void> validate_break_glass(const BreakGlassGrant& grant, const RulePack& pack,
                                                RoleId role, Time now);

}  // namespace sluis::policy
