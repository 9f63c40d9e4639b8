// The access decision of BRIEF §4 promise 1, as one straight-line pass over interned ids.
#include "sluis/policy/decision.hpp"

namespace sluis::policy {

std::string_view rule_name(Rule r) noexcept {
  switch (r) {
  case Rule::request_invalid: return "request.invalid";
  case Rule::partner_revoked: return "partner.revoked";
  case Rule::worker_inactive: return "worker.inactive";
  case Rule::relationship_none: return "relationship.none";
  case Rule::matrix_no: return "matrix.no";
  case Rule::owner_own_data: return "owner.own-data";
  case Rule::disclosure_unlinked: return "disclosure.unlinked";
  case Rule::disclosure_not_allowed: return "disclosure.not-allowed";
  case Rule::consent_none: return "consent.none";
  case Rule::consent_restricted_not_named: return "consent.restricted-not-named";
  case Rule::consent_revoked: return "consent.revoked";
  case Rule::consent_not_yet_valid: return "consent.not-yet-valid";
  case Rule::consent_expired: return "consent.expired";
  case Rule::consent_excepted_partner: return "consent.excepted-partner";
  case Rule::consent_excepted_worker: return "consent.excepted-worker";
  case Rule::consent_excepted_category: return "consent.excepted-category";
  case Rule::consent_active: return "consent.active";
  case Rule::btg_matrix_consent_only: return "btg.matrix-consent-only";
  case Rule::btg_owner_forbids: return "btg.owner-forbids";
  case Rule::btg_restricted_category: return "btg.restricted-category";
  case Rule::btg_not_yet_valid: return "btg.not-yet-valid";
  case Rule::btg_expired: return "btg.expired";
  case Rule::btg_valid: return "btg.valid";
  }
  return "unknown";
}

std::string AccessDecision::rule_id() const {
  std::string id(rule_name(rule));
  if (!subject.empty()) {
    id += ':';
    id += subject;
  }
  return id;
}

namespace {

// How close a consent came to covering the request; the closest one explains a denial.
int consent_rank(Rule r) noexcept {
  switch (r) {
  case Rule::consent_restricted_not_named: return 1;
  case Rule::consent_revoked: return 2;
  case Rule::consent_not_yet_valid: return 3;
  case Rule::consent_expired: return 4;
  case Rule::consent_excepted_partner:
  case Rule::consent_excepted_worker:
  case Rule::consent_excepted_category: return 5;
  default: return 0;
  }
}

// Runs every check in order. `trace` is null on the hot path: then nothing allocates.
AccessDecision run_checks(const RulePack& pack, const AccessRequest& req,
                          std::span<const Consent> consents,
                          std::span<const BreakGlassGrant> grants, DecisionTrace* trace) {
  const auto record = [trace](Check c, bool passed, Rule r, std::string_view subject = {}) {
    if (trace != nullptr) trace->steps.push_back(DecisionStep{c, passed, r, subject});
  };
  const auto deny = [&record](Check c, Rule r, std::string_view subject = {}) {
    record(c, false, r, subject);
    return AccessDecision{Effect::deny, r, false, subject};
  };

  // 1. Names the pack does not know, or anonymous callers, never get anything.
  if (!pack.valid(req.partner_type) || !pack.valid(req.owner_type) || !pack.valid(req.role) ||
      !pack.valid(req.category) || !pack.valid(req.purpose) || req.partner_id.empty() ||
      req.worker_id.empty() || req.owner_partner_id.empty()) {
    return deny(Check::request, Rule::request_invalid);
  }
  record(Check::request, true, Rule::request_invalid);

  // 2–4. Who is asking, and do they serve this client at all.
  if (req.partner_revoked) return deny(Check::partner, Rule::partner_revoked);
  record(Check::partner, true, Rule::partner_revoked);
  if (!req.worker_active) return deny(Check::worker, Rule::worker_inactive);
  record(Check::worker, true, Rule::worker_inactive);
  if (!req.care_relationship) return deny(Check::relationship, Rule::relationship_none);
  record(Check::relationship, true, Rule::relationship_none);

  // 5. The sector's matrix binds everyone, the owner's own workers included.
  const AccessLevel level = pack.access(req.role, req.category, req.purpose);
  if (level == AccessLevel::no) return deny(Check::matrix, Rule::matrix_no);
  record(Check::matrix, true, Rule::matrix_no);

  // 6. Own fragments are not a disclosure: the matrix alone governs them.
  if (req.partner_id == req.owner_partner_id) {
    record(Check::own_data, true, Rule::owner_own_data);
    return AccessDecision{Effect::permit, Rule::owner_own_data, false, {}};
  }
  record(Check::own_data, false, Rule::owner_own_data);

  // 7–8. The owner's disclosure defaults.
  if (pack.requires_client_link(req.owner_type)) {
    if (!req.client_linked) return deny(Check::client_link, Rule::disclosure_unlinked);
    record(Check::client_link, true, Rule::disclosure_unlinked);
  }
  const bool restricted = pack.restricted_categories().contains(req.category);
  if (restricted) {
    // Never disclosed by default: only a consent naming the category can open it (step 9).
    record(Check::disclosure, true, Rule::consent_restricted_not_named);
  } else if (!pack.disclosed(req.owner_type, req.partner_type).contains(req.category)) {
    return deny(Check::disclosure, Rule::disclosure_not_allowed);
  } else {
    record(Check::disclosure, true, Rule::disclosure_not_allowed);
  }

  // 9. Consents: first covering, active, in-period, unexcepted provision permits.
  Rule consent_reason = Rule::consent_none;
  std::string_view consent_subject;
  for (const Consent& c : consents) {
    for (const ConsentProvision& p : c.provisions) {
      const Grantee& g = p.grantee;
      if (!g.partner.empty() && g.partner != req.partner_id) continue;
      if (g.partner_type && *g.partner_type != req.partner_type) continue;
      if (g.role && *g.role != req.role) continue;
      if (!p.purposes.contains(req.purpose)) continue;
      Rule outcome = Rule::consent_active;
      if (!p.categories.contains(req.category)) {
        if (!p.all_non_restricted) continue;
        if (restricted) outcome = Rule::consent_restricted_not_named;
      }
      if (outcome == Rule::consent_active) {
        if (c.status != ConsentStatus::active) {
          outcome = Rule::consent_revoked;
        } else if (req.now < p.period.start) {
          outcome = Rule::consent_not_yet_valid;
        } else if (req.now >= p.period.end) {
          outcome = Rule::consent_expired;
        } else {
          bool by_partner = false;
          bool by_worker = false;
          bool by_category = false;
          for (const ConsentException& e : p.exceptions) {
            switch (e.kind) {
            case ConsentException::Kind::partner:
              by_partner = by_partner || e.partner == req.partner_id;
              break;
            case ConsentException::Kind::worker:
              by_worker = by_worker || (e.partner == req.partner_id && e.worker == req.worker_id);
              break;
            case ConsentException::Kind::category:
              by_category = by_category || e.category == req.category;
              break;
            }
          }
          if (by_partner) {
            outcome = Rule::consent_excepted_partner;
          } else if (by_worker) {
            outcome = Rule::consent_excepted_worker;
          } else if (by_category) {
            outcome = Rule::consent_excepted_category;
          }
        }
      }
      if (outcome == Rule::consent_active) {
        record(Check::consent, true, Rule::consent_active, c.id);
        return AccessDecision{Effect::permit, Rule::consent_active, false, c.id};
      }
      if (consent_rank(outcome) > consent_rank(consent_reason)) {
        consent_reason = outcome;
        consent_subject = c.id;
      }
    }
  }
  record(Check::consent, false, consent_reason, consent_subject);

  // 10. Break-the-glass: only where the matrix allows it, for this worker, for this category.
  bool holds_grant = false;
  Rule grant_reason = Rule::btg_expired;
  std::string_view grant_subject;
  for (const BreakGlassGrant& g : grants) {
    if (g.partner != req.partner_id || g.worker != req.worker_id ||
        !g.categories.contains(req.category)) {
      continue;
    }
    Rule outcome = Rule::btg_valid;
    if (level != AccessLevel::consent_or_break_glass) {
      outcome = Rule::btg_matrix_consent_only;
    } else if (!pack.allows_break_glass(req.owner_type)) {
      outcome = Rule::btg_owner_forbids;
    } else if (restricted) {
      outcome = Rule::btg_restricted_category;
    } else if (req.now < g.start) {
      outcome = Rule::btg_not_yet_valid;
    } else if (req.now >= g.expiry) {
      outcome = Rule::btg_expired;
    }
    if (outcome == Rule::btg_valid) {
      record(Check::break_glass, true, Rule::btg_valid, g.id);
      return AccessDecision{Effect::permit, Rule::btg_valid, true, g.id};
    }
    if (!holds_grant) {
      holds_grant = true;
      grant_reason = outcome;
      grant_subject = g.id;
    }
  }

  // 11. Deny, naming the path the worker was actually on.
  if (holds_grant) return deny(Check::break_glass, grant_reason, grant_subject);
  return AccessDecision{Effect::deny, consent_reason, false, consent_subject};
}

}  // namespace

AccessDecision decide(const RulePack& pack, const AccessRequest& request,
                      std::span<const Consent> consents,
                      std::span<const BreakGlassGrant> grants) noexcept {
  return run_checks(pack, request, consents, grants, nullptr);
}

AccessDecision decide(const RulePack& pack, const AccessRequest& request,
                      std::span<const Consent> consents, std::span<const BreakGlassGrant> grants,
                      DecisionTrace& trace) {
  return run_checks(pack, request, consents, grants, &trace);
}

}  // namespace sluis::policy
