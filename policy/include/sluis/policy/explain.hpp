// Human-readable rendering of an access decision and the chain of checks behind it.
#pragma once

#include "sluis/policy/decision.hpp"

#include <string>

namespace sluis::policy {

/// One line per check as it ran ("  4. access matrix: nurse × health × care-coordination is
/// consent — passed"), then "decision: PERMIT|DENY by rule <rule id>" and, for break-the-glass,
/// a line saying the access is flagged. Names come from the pack; no client data is involved.
[[nodiscard]] std::string explain(const RulePack& pack, const AccessRequest& request,
                                  const DecisionTrace& trace, const AccessDecision& decision);

/// A sentence for one rule, e.g. "no active consent covers this grantee, category and purpose".
[[nodiscard]] std::string_view describe(Rule r) noexcept;

}  // namespace sluis::policy
