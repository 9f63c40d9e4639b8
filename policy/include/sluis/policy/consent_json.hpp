// JSON form of consents and break-the-glass grants (the API's bodies and the store's documents).
#pragma once

#include "sluis/policy/break_glass.hpp"
#include "sluis/policy/consent.hpp"
#include "sluis/policy/error.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace sluis::policy {

/// Largest consent JSON document parse_consent accepts (bytes).
inline constexpr std::size_t kMaxConsentJsonBytes = 64 * 1024;

/// The JSON form of a consent (names resolved through `pack`; times RFC 3339 UTC). Shape:
/// {"id", "status": "active"|"revoked", "revocation"?: {"at", "by": {"partner","worker"}},
///  "legal_basis", "provisions": [{"grantee": {"partner"?, "partner_type"?, "role"?},
///  "categories": [names | "all-non-restricted"], "purposes": [names],
///  "period": {"start", "end"}, "except"?: [{"partner"} | {"partner","worker"} | {"category"}]}],
///  "evidence": {"recorded_by": {"partner","worker","role"}, "channel", "channel_note"?,
///  "language", "recorded_at"}, "representative"?: {"reference","relationship"}}
/// See docs/policy.md for every member.
[[nodiscard]] boost::json::value consent_to_json(const Consent& consent, const RulePack& pack);

/// consent_to_json serialised to compact text.
[[nodiscard]] std::string serialize_consent(const Consent& consent, const RulePack& pack);

/// Reads a consent from JSON, resolving names through `pack`. Unknown members, wrong types,
/// unknown names (unknown_category, ...), bad times (bad_time), a missing period end (missing_end)
/// are errors. Shape only: call validate_consent before storing a new consent.
[[nodiscard]] Result<Consent> consent_from_json(const boost::json::value& json,
                                                const RulePack& pack);

/// Parses text (at most kMaxConsentJsonBytes) then consent_from_json.
[[nodiscard]] Result<Consent> parse_consent(std::string_view json, const RulePack& pack);

/// JSON form of a grant: {"id","partner","worker","categories":[names],"reason","start","expiry",
/// "flagged"}.
[[nodiscard]] boost::json::value break_glass_to_json(const BreakGlassGrant& grant,
                                                     const RulePack& pack);

/// Reads a grant from JSON (same rules as consent_from_json); validate_break_glass before storing.
[[nodiscard]] Result<BreakGlassGrant> break_glass_from_json(const boost::json::value& json,
                                                            const RulePack& pack);

}  // namespace sluis::policy
