// The access decision (BRIEF §4 promise 1): a pure, allocation-free function of the rule pack, the
// request, and the client's consents and break-the-glass grants, returning the rule that decided.
#pragma once

#include "sluis/policy/break_glass.hpp"
#include "sluis/policy/consent.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluis/policy/types.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::policy {

/// One read of one category for one purpose, with the facts the gateway established about it.
/// The string views must outlive the decide() call only.
struct AccessRequest {
  std::string_view partner_id;  ///< requesting partner (from its TLS certificate)
  PartnerTypeId partner_type{};
  bool partner_revoked = false;  ///< certificate or partner revoked
  std::string_view worker_id;    ///< the worker the partner's system names
  RoleId role{};
  bool worker_active = false;  ///< enrolled at that partner with this role, not suspended
  CategoryId category{};
  PurposeId purpose{};
  std::string_view owner_partner_id;  ///< the partner that owns the fragment
  PartnerTypeId owner_type{};
  bool care_relationship = false;  ///< the requesting partner has one with the client
  bool client_linked = false;      ///< the client linked their card to the requesting partner
                                   ///< (only consulted when the owner type requires a link)
  Time now{};
};

enum class Effect : std::uint8_t { deny = 0, permit = 1 };

/// Every rule that can decide. Stable names (rule_name) are written to the audit log.
enum class Rule : std::uint8_t {
  request_invalid,         ///< "request.invalid": an id outside the pack, or an empty id
  partner_revoked,         ///< "partner.revoked"
  worker_inactive,         ///< "worker.inactive"
  relationship_none,       ///< "relationship.none"
  matrix_no,               ///< "matrix.no": role × category × purpose is `no`
  owner_own_data,          ///< "owner.own-data" (permit): the owner's own worker
  disclosure_unlinked,     ///< "disclosure.unlinked": owner requires the client's link
  disclosure_not_allowed,  ///< "disclosure.not-allowed": owner type never gives it to this type
  consent_none,            ///< "consent.none": no consent covers grantee × category × purpose
  consent_restricted_not_named,  ///< "consent.restricted-not-named": only a wildcard, restricted
                                 ///< category
  consent_revoked,               ///< "consent.revoked"
  consent_not_yet_valid,         ///< "consent.not-yet-valid"
  consent_expired,               ///< "consent.expired"
  consent_excepted_partner,      ///< "consent.excepted-partner"
  consent_excepted_worker,       ///< "consent.excepted-worker"
  consent_excepted_category,     ///< "consent.excepted-category"
  consent_active,                ///< "consent.active" (permit)
  btg_matrix_consent_only,  ///< "btg.matrix-consent-only": cell is `consent`, not break-the-glass
  btg_owner_forbids,        ///< "btg.owner-forbids": owner type excludes break-the-glass
  btg_restricted_category,  ///< "btg.restricted-category"
  btg_not_yet_valid,        ///< "btg.not-yet-valid"
  btg_expired,              ///< "btg.expired"
  btg_valid,                ///< "btg.valid" (permit, break_glass flag set)
};

/// "consent.active", "matrix.no", ... (without the ":<id>" suffix).
[[nodiscard]] std::string_view rule_name(Rule r) noexcept;

/// The outcome. `subject` is the id of the consent or grant the rule is about (consent.* and btg.*
/// rules that concern one), empty otherwise; it views into the consent/grant passed to decide().
struct AccessDecision {
  Effect effect = Effect::deny;
  Rule rule = Rule::request_invalid;
  bool break_glass = false;  ///< permitted through a break-the-glass grant: flag it in the audit
  std::string_view subject;

  [[nodiscard]] bool permitted() const noexcept { return effect == Effect::permit; }
  /// Stable rule id for the audit log: rule_name, plus ":<subject>" when there is one,
  /// e.g. "consent.active:c-42", "btg.valid:g-7", "matrix.no".
  [[nodiscard]] std::string rule_id() const;
};

/// The checks in the order decide() runs them.
enum class Check : std::uint8_t {
  request,
  partner,
  worker,
  relationship,
  matrix,
  own_data,
  client_link,
  disclosure,
  consent,
  break_glass,
};

/// One check as it ran: passed or not, and the rule it produced (for failed checks, the deciding
/// rule; for passed checks, the rule naming what passed where one exists).
struct DecisionStep {
  Check check = Check::request;
  bool passed = false;
  Rule rule = Rule::request_invalid;
  std::string_view subject;
};

/// The chain of checks behind one decision (for `explain`; not used on the hot path).
struct DecisionTrace {
  std::vector<DecisionStep> steps;
};

/// Decides one access. Deterministic; deny unless every check passes. Order:
///  1. request ids valid for the pack and non-empty partner/worker/owner ids (request.invalid)
///  2. partner not revoked (partner.revoked)      3. worker active (worker.inactive)
///  4. care relationship (relationship.none)       5. matrix cell not `no` (matrix.no)
///  6. requester is the owner → permit owner.own-data (the matrix alone governs own data)
///  7. owner type requires the client's link → linked (disclosure.unlinked)
///  8. category not restricted → owner type discloses it to the requester's type
///     (disclosure.not-allowed); restricted categories skip this and need an explicit consent
///  9. consents, in span order: the first provision whose grantee, category and purpose cover the
///     request and which is active, in period and not excepted → permit consent.active:<id>
/// 10. break-the-glass grants of this worker at this partner for this category, in span order:
///     cell consent-or-break-glass, owner allows it, category not restricted, start <= now < expiry
///     → permit btg.valid:<id> with break_glass set
/// 11. otherwise deny: the btg.* reason when the worker holds a grant for the category, else the
///     consent.* reason of the consent that came closest (excepted > expired > not yet valid >
///     revoked > restricted-not-named > none; first in span order on ties).
/// Consents and grants must be this client's. noexcept, allocation-free, O(consents + grants).
[[nodiscard]] AccessDecision decide(const RulePack& pack, const AccessRequest& request,
                                    std::span<const Consent> consents,
                                    std::span<const BreakGlassGrant> grants) noexcept;

/// As decide(), also recording every check into `trace` (appends; allocates).
[[nodiscard]] AccessDecision decide(const RulePack& pack, const AccessRequest& request,
                                    std::span<const Consent> consents,
                                    std::span<const BreakGlassGrant> grants, DecisionTrace& trace);

}  // namespace sluis::policy
