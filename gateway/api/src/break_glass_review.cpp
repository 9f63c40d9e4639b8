// /v1/break-glass: the grants that concern the caller's organisation with the accesses made
// under each, and the DPO's review of one (docs/dpo-guide.md §5).
#include "call.hpp"

#include "strict_json.hpp"

#include "sluis/domain/break_glass_review.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules

namespace {

constexpr std::size_t kDefaultGrantPage = 20;
constexpr std::size_t kMaxGrantPage = 100;
/// The accesses listed under one grant (a grant lasts at most the pack's maximum; a worker
/// reading more than this under one grant is itself worth a look, and the list says it is cut).
constexpr std::size_t kMaxAccessesPerGrant = 500;

std::optional<std::int64_t> whole_param(const HttpRequest& req, std::string_view name,
                                        std::int64_t min, std::int64_t max) {
  const auto text = req.query_param(name);
  if (!text || text->empty() || text->size() > 19) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

HttpResponse not_permitted(const Call& call) {
  return deny(call, "review.role-not-allowed",
              problem(call.req, 403, "not-permitted", "This worker's role may not do this",
                      "Break-the-glass grants are reviewed by the roles the rule pack allows "
                      "(the DPO)."));
}

json::array names_json(const std::vector<std::string>& names) {
  json::array out;
  out.reserve(names.size());
  for (const auto& n : names)
    out.emplace_back(n);
  return out;
}

struct Accesses {
  std::vector<StoredEvent> events;
  bool truncated = false;
};

/// The reads permitted through the grant (rule btg.valid:<grant id>) that the caller's
/// organisation may see in the log (it acted, or the data was its own).
Result<Accesses> accesses_under(const Call& call, const GrantUnderReview& g) {
  AuditQuery q;
  q.client = g.client_audit;
  q.partner = g.grant.partner_id;
  q.action = AuditAction::read;
  q.decision = AuditDecision::permit;
  q.from = g.grant.starts_at;
  q.until = g.grant.expires_at;
  q.scope_partner = call.partner.id;
  q.limit = kMaxAuditPage;
  const std::string rule = "btg.valid:" + g.grant.id;
  Accesses out;
  for (;;) {
    auto page = call.ctx.audit->query(q);
    if (!page) return page.error();
    for (auto& e : page->events) {
      if (e.event.rule != rule) continue;
      if (out.events.size() == kMaxAccessesPerGrant) {
        out.truncated = true;
        return out;
      }
      out.events.push_back(std::move(e));
    }
    if (!page->next) return out;
    q.cursor = *page->next;
  }
}

json::object review_json(const BreakGlassReview& r, std::string_view caller) {
  json::object o{{"partner", r.partner_id},
                 {"worker", r.worker_id},
                 {"outcome", r.outcome},
                 {"reviewed_at", format_instant(r.reviewed_at)}};
  if (r.partner_id == caller && r.note) o["note"] = *r.note;
  return o;
}

json::object grant_json(const Call& call, const GrantUnderReview& g, const Accesses& accesses) {
  json::object o{{"grant", g.grant.id},
                 {"partner", g.grant.partner_id},
                 {"worker", g.grant.worker_id},
                 {"categories", names_json(g.grant.categories)},
                 {"starts_at", format_instant(g.grant.starts_at)},
                 {"expires_at", format_instant(g.grant.expires_at)},
                 {"active", g.grant.expires_at > call.now}};
  if (g.client_pseudonym) o["client"] = *g.client_pseudonym;
  if (g.reason) o["reason"] = *g.reason;
  json::array list;
  for (const auto& se : accesses.events) {
    const auto& e = se.event;
    list.push_back(json::object{{"leaf", se.leaf},
                                {"time", format_instant(e.time)},
                                {"worker", e.worker},
                                {"role", e.role},
                                {"categories", names_json(e.categories)},
                                {"purpose", e.purpose},
                                {"owner_partner", e.owner_partner},
                                {"request_id", e.request_id}});
  }
  o["accesses"] = std::move(list);
  o["accesses_truncated"] = accesses.truncated;
  json::array reviews;
  bool reviewed = false;
  for (const auto& r : g.reviews) {
    reviewed = reviewed || r.partner_id == call.partner.id;
    reviews.push_back(review_json(r, call.partner.id));
  }
  o["reviews"] = std::move(reviews);
  o["reviewed"] = reviewed;
  return o;
}

HttpResponse grant_not_found(const Call& call) {
  return deny(call, "request.grant-not-found",
              problem(call.req, 404, "grant-not-found", "No such break-the-glass grant"));
}

}  // namespace

HttpResponse list_break_glass(Call& call) {
  if (!call.rules().may_review_break_glass(call.role)) return not_permitted(call);
  if (!only_query(call.req, {"cursor", "limit"})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  std::int64_t before = 0;
  std::size_t limit = kDefaultGrantPage;
  if (call.req.query_param("cursor")) {
    const auto c = whole_param(call.req, "cursor", 1, std::numeric_limits<std::int64_t>::max());
    if (!c) {
      return problem(call.req, 400, "invalid-parameter", "A query parameter is not acceptable",
                     "cursor is the next value of the previous page.");
    }
    before = *c;
  }
  if (call.req.query_param("limit")) {
    const auto l = whole_param(call.req, "limit", 1, kMaxGrantPage);
    if (!l) {
      return problem(call.req, 400, "invalid-parameter", "A query parameter is not acceptable",
                     "limit is 1 to 100.");
    }
    limit = static_cast<std::size_t>(*l);
  }
  // The list is itself on the record before its answer exists (it reads the log).
  AuditEvent asked = call.event(AuditAction::audit_query);
  asked.decision = AuditDecision::permit;
  asked.rule = "break-glass.scope:" + call.partner.id;
  if (auto failed = record(call, asked)) return std::move(*failed);
  auto page = BreakGlassReviews(call.store()).concerning(call.partner.id, before, limit);
  if (!page) return store_problem(call.req, page.error());
  json::array grants;
  for (const auto& g : page->grants) {
    auto accesses = accesses_under(call, g);
    if (!accesses) {
      return problem(call.req, 503, "audit-unavailable", "The audit log cannot be read now");
    }
    grants.push_back(grant_json(call, g, *accesses));
  }
  json::object body{{"grants", std::move(grants)}};
  if (page->next) body["next"] = *page->next;
  return json_answer(200, body);
}

HttpResponse review_break_glass(Call& call) {
  if (!call.rules().may_review_break_glass(call.role)) return not_permitted(call);
  const auto& body = call.body;
  if (!only_members(body, {"outcome", "note"})) {
    return invalid_body(call, "Allowed members: outcome, note.");
  }
  const auto* outcome = body.if_contains("outcome");
  const auto* note = body.if_contains("note");
  if (outcome == nullptr || !outcome->is_string() ||
      !valid_review_outcome(std::string_view(outcome->as_string()))) {
    return deny(call, "request.unknown-outcome",
                problem(call.req, 422, "unknown-outcome", "The review's outcome is not known",
                        "outcome is one of justified, not-justified, needs-follow-up."));
  }
  if (note == nullptr || !note->is_string() || note->as_string().empty()) {
    return deny(call, "request.note-missing",
                problem(call.req, 422, "note-missing", "A review needs a note",
                        "Write in note what the review found (who was asked, what they said)."));
  }
  const std::string_view note_text(note->as_string());
  if (note_text.size() > kMaxReviewNote) {
    return deny(call, "request.note-too-long",
                problem(call.req, 422, "note-too-long", "The note is too long",
                        "A note is at most 4000 bytes."));
  }
  if (!valid_review_note(note_text)) {
    return invalid_body(call,
                        "The note may not hold control characters other than line breaks and tabs.");
  }
  BreakGlassReviews reviews(call.store());
  const std::string grant_id(call.params.at("grant"));
  auto found = reviews.find(call.partner.id, grant_id);
  if (!found) {
    if (found.error() == Errc::not_found) return grant_not_found(call);
    return store_problem(call.req, found.error());
  }
  call.client_audit = found->client_audit;
  for (const auto& r : found->reviews) {
    if (r.partner_id == call.partner.id) {
      return deny(call, "request.already-reviewed",
                  problem(call.req, 409, "already-reviewed",
                          "Your organisation has reviewed this grant already",
                          "A review is final; the first one stays on the record."));
    }
  }
  const std::string outcome_name(outcome->as_string());
  AuditEvent intent = call.event(AuditAction::break_glass_review);
  intent.categories = found->grant.categories;
  intent.decision = AuditDecision::permit;
  intent.break_glass = true;
  intent.rule = "break-glass.review:" + grant_id + ":" + outcome_name;
  intent.owner_partner = found->grant.partner_id;
  if (auto failed = record(call, intent)) return std::move(*failed);

  BreakGlassReview review;
  review.grant_id = grant_id;
  review.partner_id = call.partner.id;
  review.worker_id = call.worker.worker_id;
  review.outcome = outcome_name;
  auto stored = reviews.record(std::move(review), note_text);
  if (!stored) {
    record_failure(call, std::move(intent));
    if (stored.error() == Errc::conflict) {
      return problem(call.req, 409, "already-reviewed",
                     "Your organisation has reviewed this grant already");
    }
    return store_problem(call.req, stored.error());
  }
  return json_answer(201, json::object{{"grant", stored->grant_id},
                                       {"partner", stored->partner_id},
                                       {"worker", stored->worker_id},
                                       {"outcome", stored->outcome},
                                       {"reviewed_at", format_instant(stored->reviewed_at)}});
}

}  // namespace sluis::api
