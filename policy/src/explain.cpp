// Plain-text rendering of a decision's chain of checks (for `sluisctl policy explain`).
#include "sluis/policy/explain.hpp"

#include <sstream>

namespace sluis::policy {

std::string_view describe(Rule r) noexcept {
  switch (r) {
  case Rule::request_invalid:
    return "the request names something the rule pack does not define, or lacks an id";
  case Rule::partner_revoked: return "the requesting partner is revoked";
  case Rule::worker_inactive:
    return "the worker is not active in this role at the requesting partner";
  case Rule::relationship_none:
    return "the requesting partner has no care relationship with the client";
  case Rule::matrix_no:
    return "the access matrix never lets this role read this category for this purpose";
  case Rule::owner_own_data:
    return "the requesting partner owns the fragment; the access matrix alone governs its own data";
  case Rule::disclosure_unlinked:
    return "the owner's data leaves only to partners the client linked their card to, and the "
           "client has not";
  case Rule::disclosure_not_allowed:
    return "the owner's partner type never discloses this category to the requester's partner type";
  case Rule::consent_none: return "no consent covers this grantee, category and purpose";
  case Rule::consent_restricted_not_named:
    return "the category is restricted and the consent covers it only through a wildcard; it must "
           "name it";
  case Rule::consent_revoked: return "the consent that would cover this was revoked";
  case Rule::consent_not_yet_valid: return "the consent that would cover this has not started yet";
  case Rule::consent_expired: return "the consent that would cover this has ended";
  case Rule::consent_excepted_partner: return "the consent excepts the requesting partner";
  case Rule::consent_excepted_worker: return "the consent excepts this worker";
  case Rule::consent_excepted_category: return "the consent excepts this category";
  case Rule::consent_active: return "an active consent covers this grantee, category and purpose";
  case Rule::btg_matrix_consent_only:
    return "the worker holds a break-the-glass grant, but the matrix allows this only with consent";
  case Rule::btg_owner_forbids:
    return "the worker holds a break-the-glass grant, but the owner's partner type never allows "
           "break-the-glass";
  case Rule::btg_restricted_category:
    return "the worker holds a break-the-glass grant, but break-the-glass never reaches a "
           "restricted category";
  case Rule::btg_not_yet_valid: return "the worker's break-the-glass grant has not started yet";
  case Rule::btg_expired: return "the worker's break-the-glass grant has expired";
  case Rule::btg_valid:
    return "a valid break-the-glass grant covers it (emergency access, flagged for review)";
  }
  return "unknown rule";
}

namespace {

std::string step_text(const RulePack& pack, const AccessRequest& req, const DecisionStep& s) {
  const std::string& role = pack.def(req.role).name;
  const std::string& category = pack.def(req.category).name;
  const std::string& purpose = pack.def(req.purpose).name;
  const std::string& owner = pack.def(req.owner_type).name;
  const std::string& recipient = pack.def(req.partner_type).name;
  std::string subject = s.subject.empty() ? std::string() : " [" + std::string(s.subject) + "]";
  switch (s.check) {
  case Check::request:
    return s.passed ? "request names known to the rule pack" : std::string(describe(s.rule));
  case Check::partner: return "requesting partner authenticated and not revoked";
  case Check::worker: return "worker active as " + role;
  case Check::relationship: return "care relationship with the client";
  case Check::matrix:
    return "access matrix: " + role + " x " + category + " x " + purpose + " is " +
           std::string(to_string(pack.access(req.role, req.category, req.purpose)));
  case Check::own_data:
    return s.passed ? "the requester owns the fragment: own data, the matrix alone decides"
                    : "the requester does not own the fragment: disclosure and consent apply";
  case Check::client_link:
    return owner + " data leaves only to partners the client linked their card to: " +
           (s.passed ? "linked" : "not linked");
  case Check::disclosure:
    if (s.rule == Rule::consent_restricted_not_named) {
      return category + " is restricted: never disclosed by default, only a consent naming it "
                        "explicitly can open it";
    }
    return owner + (s.passed ? " discloses " : " never discloses ") + category + " to " + recipient;
  case Check::consent:
  case Check::break_glass: return std::string(describe(s.rule)) + subject;
  }
  return "unknown check";
}

}  // namespace

std::string explain(const RulePack& pack, const AccessRequest& req, const DecisionTrace& trace,
                    const AccessDecision& decision) {
  std::ostringstream out;
  const bool names_ok = pack.valid(req.role) && pack.valid(req.category) &&
                        pack.valid(req.purpose) && pack.valid(req.owner_type) &&
                        pack.valid(req.partner_type);
  if (names_ok) {
    out << "request: a " << pack.def(req.role).name << " at a " << pack.def(req.partner_type).name
        << " partner reads " << pack.def(req.category).name << " ("
        << to_string(pack.def(req.category).sensitivity) << ") owned by a "
        << pack.def(req.owner_type).name << " partner, for " << pack.def(req.purpose).name
        << ", at " << format_time(req.now) << "\n";
  }
  int n = 0;
  for (const DecisionStep& s : trace.steps) {
    ++n;
    const char* verdict = s.passed ? "passed" : "FAILED";
    if (s.check == Check::own_data && !s.passed) verdict = "continue";
    out << "  " << n << ". "
        << (names_ok || s.check == Check::request ? step_text(pack, req, s)
                                                  : std::string(describe(s.rule)))
        << " - " << verdict << "\n";
  }
  out << "decision: " << (decision.permitted() ? "PERMIT" : "DENY") << " by rule "
      << decision.rule_id() << " (" << describe(decision.rule) << ")\n";
  if (decision.break_glass) {
    out << "note: break-the-glass access: flagged for DPO review and reported to the client\n";
  }
  return out.str();
}

}  // namespace sluis::policy
