// Consent resources (record, list, withdraw, receipt), break-the-glass and the client's access
// report.
#include "call.hpp"

#include "receipt.hpp"
#include "strict_json.hpp"

#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/consent_cache.hpp"
#include "sluis/policy/consent_json.hpp"

#include <algorithm>
#include <limits>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules
namespace {

// Longest break-the-glass grant a request may ask for, before the pack's own (shorter) maximum.
constexpr std::int64_t kMaxBreakGlassMinutes = 7 * 24 * 60;

// True when a consent is the calling partner's business: it recorded it, or a provision's grantee
// can be the caller. Other consents name services the caller must not learn about (promise 3).
bool concerns(const ConsentRecord& record, const std::optional<policy::Consent>& consent,
              const Call& call) {
  if (record.recorded_by_partner == call.partner.id) return true;
  if (!consent) return false;
  return std::any_of(consent->provisions.begin(), consent->provisions.end(),
                     [&](const policy::ConsentProvision& p) {
                       const auto& g = p.grantee;
                       if (!g.partner.empty()) return g.partner == call.partner.id;
                       if (g.partner_type) return *g.partner_type == call.partner_type;
                       return true;  // a role anywhere: the caller's workers may hold it
                     });
}

std::optional<policy::Consent> parse_stored(const ConsentRecord& record, const Call& call) {
  // Parsed once per document and rule pack (the consent cache the dossier reads share).
  auto parsed = call.ctx.consent_cache->parsed(record, call.pack);
  if (!parsed) return std::nullopt;
  policy::Consent c = std::move(*parsed);
  // The store is the source of truth for the id and the withdrawal.
  c.id = record.id;
  if (record.revoked_at) {
    c.status = policy::ConsentStatus::revoked;
    c.revocation =
        policy::Revocation{std::chrono::floor<std::chrono::seconds>(*record.revoked_at),
                           policy::WorkerRef{record.revoked_by_partner, record.revoked_by_worker}};
  } else {
    c.status = policy::ConsentStatus::active;
    c.revocation.reset();
  }
  return c;
}

std::string_view status_of(const ConsentRecord& r, Instant now) {
  if (r.revoked_at) return "revoked";
  if (now >= r.valid_until) return "expired";
  if (now < r.valid_from) return "pending";
  return "active";
}

std::vector<std::string> consent_categories(const policy::Consent& c,
                                            const policy::RulePack& pack) {
  policy::CategorySet all;
  for (const auto& p : c.provisions)
    all = all | p.categories;
  std::vector<std::string> out;
  all.for_each([&](policy::CategoryId id) { out.push_back(pack.def(id).name); });
  return out;
}

json::object consent_summary(const ConsentRecord& r, const std::optional<policy::Consent>& c,
                             const Call& call) {
  json::object o{{"consent", r.id},
                 {"reference", short_consent_reference(r.id)},
                 {"status", status_of(r, call.now)},
                 {"recorded_at", format_instant(r.recorded_at)},
                 {"recorded_by", json::object{{"partner", r.recorded_by_partner},
                                              {"worker", r.recorded_by_worker}}},
                 {"valid_from", format_instant(r.valid_from)},
                 {"valid_until", format_instant(r.valid_until)}};
  if (r.revoked_at) o["revoked_at"] = format_instant(*r.revoked_at);
  if (c) {
    o["document"] = policy::consent_to_json(*c, call.rules());
  } else {
    o["document"] = nullptr;  // no longer readable under the rule pack in force
  }
  return o;
}

// The consent named by the path, if it is this client's and the caller's business.
std::optional<HttpResponse> find_consent(Call& call, ConsentRecord& record,
                                         std::optional<policy::Consent>& consent) {
  ConsentBook book(call.store());
  auto found = book.find(*call.client, call.params.at("consent"));
  if (!found) {
    if (found.error() != Errc::not_found && found.error() != Errc::invalid_argument) {
      return store_problem(call.req, found.error());
    }
  } else {
    consent = parse_stored(*found, call);
    if (concerns(*found, consent, call)) {
      record = std::move(*found);
      return std::nullopt;
    }
  }
  return deny(call, "consent.not-found",
              problem(call.req, 404, "consent-not-found", "No such consent"));
}

}  // namespace

HttpResponse record_consent(Call& call) {
  if (auto refused = resolve_client(call)) return std::move(*refused);
  const auto& rules = call.rules();
  if (!rules.may_record_consent(call.role)) {
    return deny(call, "consent.recorder-not-allowed",
                problem(call.req, 403, "recorder-not-allowed",
                        "This worker's role may not record consents"));
  }
  // The gateway assigns the id and the status: a new consent is active. A body may leave both
  // out; when it sends them they must say exactly that.
  json::object document = call.body;
  if (!document.contains("id")) document["id"] = "new";
  if (!document.contains("status")) document["status"] = "active";
  const auto* status = document["status"].if_string();
  if (status == nullptr || *status != "active" || document.contains("revocation")) {
    return invalid_body(call, "A new consent is active and has no revocation.");
  }
  auto consent = policy::consent_from_json(document, rules);
  if (!consent) return policy_refusal(call, consent.error());
  const auto& by = consent->evidence.recorded_by;
  if (by.partner != call.partner.id || by.worker != call.worker.worker_id ||
      consent->evidence.recorder_role != call.role) {
    return deny(call, "consent.recorder-mismatch",
                problem(call.req, 422, "recorder-mismatch",
                        "The evidence must name the calling organisation, worker and role"));
  }
  if (auto valid = policy::validate_consent(*consent, rules, call.now_seconds()); !valid) {
    return policy_refusal(call, valid.error());
  }
  policy::Time from = policy::consent_end(*consent);
  for (const auto& p : consent->provisions)
    from = std::min(from, p.period.start);

  AuditEvent intent = call.event(AuditAction::consent_grant);
  intent.categories = consent_categories(*consent, rules);
  intent.rule = "consent.grant";
  if (auto failed = record(call, intent)) return std::move(*failed);

  NewConsent fresh;
  fresh.recorded_by_partner = call.partner.id;
  fresh.recorded_by_worker = call.worker.worker_id;
  fresh.valid_from = std::chrono::time_point_cast<std::chrono::milliseconds>(from);
  fresh.valid_until =
      std::chrono::time_point_cast<std::chrono::milliseconds>(policy::consent_end(*consent));
  fresh.document = policy::serialize_consent(*consent, rules);
  ConsentBook book(call.store());
  auto stored = book.record(*call.client, fresh);
  if (!stored) {
    record_failure(call, std::move(intent));
    if (stored.error() == Errc::invalid_argument) {
      return problem(call.req, 422, "invalid-body",
                     "The request body does not have the documented shape");
    }
    return store_problem(call.req, stored.error());
  }
  return json_answer(201, consent_summary(*stored, parse_stored(*stored, call), call));
}

HttpResponse list_consents(Call& call) {
  if (!only_query(call.req, {})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  if (auto refused = resolve_client(call)) return std::move(*refused);
  ConsentBook book(call.store());
  auto history = book.history(*call.client);
  if (!history) return store_problem(call.req, history.error());
  json::array out;
  for (const auto& r : *history) {
    const auto parsed = parse_stored(r, call);
    if (!concerns(r, parsed, call)) continue;
    out.push_back(consent_summary(r, parsed, call));
  }
  AuditEvent seen = call.event(AuditAction::consent_read);
  seen.decision = AuditDecision::permit;
  seen.rule = "consent.list";
  if (auto failed = record(call, seen)) return std::move(*failed);
  return json_answer(200, json::object{{"consents", std::move(out)}});
}

HttpResponse revoke_consent(Call& call) {
  if (auto refused = resolve_client(call)) return std::move(*refused);
  if (!call.rules().may_record_consent(call.role)) {
    return deny(call, "consent.recorder-not-allowed",
                problem(call.req, 403, "recorder-not-allowed",
                        "This worker's role may not record consents or their withdrawal"));
  }
  ConsentRecord record_found;
  std::optional<policy::Consent> consent;
  if (auto refused = find_consent(call, record_found, consent)) return std::move(*refused);
  if (record_found.revoked_at) {
    return deny(call, "consent.already-revoked",
                problem(call.req, 409, "already-revoked", "This consent was already withdrawn"));
  }
  AuditEvent intent = call.event(AuditAction::consent_revoke);
  if (consent) intent.categories = consent_categories(*consent, call.rules());
  intent.rule = "consent.revoke:" + record_found.id;
  if (auto failed = record(call, intent)) return std::move(*failed);
  ConsentBook book(call.store());
  auto revoked = book.revoke(*call.client, record_found.id, call.partner.id, call.worker.worker_id);
  if (!revoked) {
    record_failure(call, std::move(intent));
    if (revoked.error() == Errc::conflict) {
      return problem(call.req, 409, "already-revoked", "This consent was already withdrawn");
    }
    return store_problem(call.req, revoked.error());
  }
  return json_answer(200, consent_summary(*revoked, parse_stored(*revoked, call), call));
}

HttpResponse consent_receipt(Call& call) {
  if (!only_query(call.req, {"lang"})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  if (auto refused = resolve_client(call)) return std::move(*refused);
  ConsentRecord found;
  std::optional<policy::Consent> consent;
  if (auto refused = find_consent(call, found, consent)) return std::move(*refused);
  if (!consent) {
    return problem(call.req, 409, "consent-unreadable",
                   "This consent no longer fits the rule pack in force",
                   "Its categories or purposes were removed from the rule pack; it permits "
                   "nothing and no receipt can be printed.");
  }
  // The client's language is the one they were informed in, unless the request asks otherwise.
  const auto informed = static_cast<ReportLanguage>(consent->evidence.language);
  std::optional<ReportLanguage> lang = informed;
  if (call.req.query_param("lang")) lang = requested_language(call.req, informed);
  if (!lang) {
    return problem(call.req, 400, "unknown-language", "The language must be nl, fr or en");
  }
  AuditEvent seen = call.event(AuditAction::consent_read);
  seen.decision = AuditDecision::permit;
  seen.rule = "consent.receipt:" + found.id;
  if (auto failed = record(call, seen)) return std::move(*failed);
  HttpResponse res;
  res.status = 200;
  res.content_type = "text/html; charset=utf-8";
  res.body = render_consent_receipt(found, *consent, call.rules(), *lang, report_names(call));
  return res;
}

HttpResponse break_glass(Call& call) {
  if (auto refused = resolve_client(call)) return std::move(*refused);
  const auto& body = call.body;
  if (!only_members(body, {"categories", "reason", "minutes"})) {
    return invalid_body(call, "Allowed members: categories, reason, minutes.");
  }
  const auto* cats = body.if_contains("categories");
  const auto* reason = body.if_contains("reason");
  const auto* minutes = body.if_contains("minutes");
  if (cats == nullptr || !cats->is_array() || reason == nullptr || !reason->is_string() ||
      minutes == nullptr || !minutes->is_int64() || minutes->as_int64() < 1 ||
      minutes->as_int64() > kMaxBreakGlassMinutes) {
    return invalid_body(call, "categories (array of names), reason (text) and minutes (a whole "
                              "number from 1) are required.");
  }
  const auto& rules = call.rules();
  policy::BreakGlassGrant grant;
  grant.id = "new";
  grant.partner = call.partner.id;
  grant.worker = call.worker.worker_id;
  std::vector<std::string> names;
  for (const auto& c : cats->as_array()) {
    const auto* s = c.if_string();
    if (s == nullptr) return invalid_body(call, "categories must be category names.");
    const auto id = rules.category(std::string_view(s->data(), s->size()));
    if (!id) {
      return deny(
          call, "request.unknown-category",
          problem(call.req, 422, "unknown-category", "The category is not in the rule pack"));
    }
    if (grant.categories.contains(*id)) return policy_refusal(call, policy::Errc::duplicate_name);
    grant.categories.insert(*id);
    names.emplace_back(rules.def(*id).name);
  }
  grant.reason = std::string(reason->as_string());
  grant.start = call.now_seconds();
  grant.expiry = grant.start + std::chrono::minutes(minutes->as_int64());
  grant.flagged = true;
  if (auto valid = policy::validate_break_glass(grant, rules, call.role, call.now_seconds());
      !valid) {
    return policy_refusal(call, valid.error());
  }
  // The event names the grant, so a DPO's review finds the grant (and its sealed reason) it
  // opened. The reason itself never goes into the audit log.
  BreakGlassGrant stored;
  stored.id = ConsentBook::new_grant_id();
  AuditEvent intent = call.event(AuditAction::break_glass_start);
  intent.categories = names;
  intent.decision = AuditDecision::permit;
  intent.break_glass = true;
  intent.rule = "break-glass.grant:" + stored.id;
  if (auto failed = record(call, intent)) return std::move(*failed);

  stored.client = *call.client;
  stored.partner_id = call.partner.id;
  stored.worker_id = call.worker.worker_id;
  stored.categories = names;
  stored.reason = std::move(grant.reason);
  stored.starts_at = call.now;
  stored.expires_at = call.now + std::chrono::minutes(minutes->as_int64());
  ConsentBook book(call.store());
  auto granted = book.grant_break_glass(std::move(stored));
  if (!granted) {
    record_failure(call, std::move(intent));
    return store_problem(call.req, granted.error());
  }
  json::array out_categories;
  for (const auto& n : names)
    out_categories.emplace_back(n);
  return json_answer(201, json::object{{"grant", granted->id},
                                       {"categories", std::move(out_categories)},
                                       {"starts_at", format_instant(granted->starts_at)},
                                       {"expires_at", format_instant(granted->expires_at)},
                                       {"flagged", true}});
}

HttpResponse access_report(Call& call) {
  if (!only_query(call.req, {"lang"})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  const auto lang = requested_language(call.req, ReportLanguage::nl);
  if (!lang) return problem(call.req, 400, "unknown-language", "The language must be nl, fr or en");
  if (auto refused = resolve_client(call)) return std::move(*refused);
  // Recorded first, so the report the client receives shows that it was asked for.
  AuditEvent seen = call.event(AuditAction::access_report);
  seen.decision = AuditDecision::permit;
  seen.rule = "access-report";
  if (auto failed = record(call, seen)) return std::move(*failed);
  auto report = sluis::audit::access_report(*call.ctx.audit, call.client_audit);
  if (!report) {
    return problem(call.req, 503, "audit-unavailable", "The audit log cannot be read now");
  }
  // The reference printed on the report is the caller's own pseudonym: the audit pseudonym is the
  // same for every partner and would let two partners match their clients (promise 3).
  report->client = std::string(call.params.at("client"));
  HttpResponse res;
  res.status = 200;
  res.content_type = "text/html; charset=utf-8";
  res.body = render_access_report_html(*report, *lang, report_names(call));
  return res;
}

}  // namespace sluis::api
