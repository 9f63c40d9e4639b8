// /v1/audit: signed checkpoints and proofs for partners who witness the log, and the events of
// a partner's own organisation for its DPO.
#include "call.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/domain/consent_book.hpp"
#include "sluis/policy/types.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <limits>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules
namespace {

/// A whole number query parameter within [0, max]; nullopt when absent or malformed.
std::optional<std::uint64_t> number_param(const HttpRequest& req, std::string_view name,
                                          std::uint64_t max) {
  const auto text = req.query_param(name);
  if (!text || text->empty() || text->size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v > max) return std::nullopt;
  return v;
}

std::string b64(const crypto::Hash& h) {
  return crypto::to_base64(std::span<const std::uint8_t>(h.data(), h.size()));
}

json::array b64_all(const std::vector<crypto::Hash>& hashes) {
  json::array out;
  out.reserve(hashes.size());
  for (const auto& h : hashes)
    out.emplace_back(b64(h));
  return out;
}

/// Witness routes need no worker, but a partner the gateway knows and has not revoked.
std::optional<HttpResponse> known_partner(const Call& call) {
  auto partner = Registry(call.store()).find_partner(call.req.peer.partner_id);
  if (!partner) {
    if (partner.error() != Errc::not_found) return store_problem(call.req, partner.error());
    return problem(call.req, 403, "unknown-partner",
                   "This organisation is not enrolled at the gateway");
  }
  if (partner->revoked_at) {
    return problem(call.req, 403, "partner-revoked", "This organisation's access was revoked");
  }
  return std::nullopt;
}

HttpResponse bad_parameter(const Call& call, std::string_view detail) {
  return problem(call.req, 400, "invalid-parameter", "A query parameter is not acceptable", detail);
}

HttpResponse audit_unreadable(const Call& call) {
  return problem(call.req, 503, "audit-unavailable", "The audit log cannot be read now");
}

/// The event as a DPO sees it: no canonical bytes; the client's audit pseudonym only when the
/// query named the client (AuditQuery::scope_partner explains why).
json::object event_json(const StoredEvent& s) {
  const AuditEvent& e = s.event;
  json::array categories;
  for (const auto& c : e.categories)
    categories.emplace_back(c);
  json::object o{{"leaf", s.leaf},
                 {"time", format_instant(e.time)},
                 {"partner", e.partner},
                 {"worker", e.worker},
                 {"role", e.role},
                 {"action", to_string(e.action)},
                 {"categories", std::move(categories)},
                 {"purpose", e.purpose},
                 {"decision", to_string(e.decision)},
                 {"rule", e.rule},
                 {"break_glass", e.break_glass},
                 {"request_id", e.request_id},
                 {"owner_partner", e.owner_partner}};
  if (!e.client.empty()) o["client_audit_pseudonym"] = e.client;
  return o;
}

/// The written reasons of the grants the caller's own workers opened among `events` (the
/// accessing partner's DPO reviews them; other partners' grants stay out). Opened from the store,
/// where they are sealed: the audit log never holds a reason.
Result<std::vector<BreakGlassReason>> own_grant_reasons(const Call& call,
                                                        const std::vector<StoredEvent>& events) {
  BreakGlassReasonQuery rq;
  rq.partner_id = call.partner.id;
  for (const auto& se : events) {
    const auto& e = se.event;
    if (e.action != AuditAction::break_glass_start || e.decision == AuditDecision::deny ||
        e.partner != call.partner.id) {
      continue;
    }
    if (!rq.from || e.time < *rq.from) rq.from = e.time;
    if (!rq.until || e.time > *rq.until) rq.until = e.time;
  }
  if (!rq.from) return std::vector<BreakGlassReason>{};
  return ConsentBook(call.store()).break_glass_reasons(rq);
}

}  // namespace

HttpResponse audit_checkpoint(Call& call) {
  if (auto refused = known_partner(call)) return std::move(*refused);
  if (!only_query(call.req, {})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  auto latest = call.ctx.audit->latest_checkpoint();
  if (!latest && latest.error() == Errc::not_found) {
    // A new gateway: sign one now rather than answer "nothing yet".
    if (auto issued = call.ctx.audit->checkpoint(); !issued) return audit_unreadable(call);
    latest = call.ctx.audit->latest_checkpoint();
  }
  if (!latest) return audit_unreadable(call);
  HttpResponse res;
  res.status = 200;
  res.content_type = "text/plain; charset=utf-8";
  res.body = latest->note;
  return res;
}

HttpResponse audit_inclusion_proof(Call& call) {
  if (auto refused = known_partner(call)) return std::move(*refused);
  if (!only_query(call.req, {"index", "size"})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  const auto size_now = call.ctx.audit->size();
  const auto size = number_param(call.req, "size", size_now);
  const auto index = number_param(call.req, "index", std::numeric_limits<std::uint64_t>::max());
  if (!size || !index || *index >= *size) {
    return bad_parameter(call, "Give index and size as whole numbers with index < size <= the "
                               "size of the latest checkpoint you hold.");
  }
  auto proof = call.ctx.audit->inclusion_proof(*index, *size);
  if (!proof) return audit_unreadable(call);
  json::object body{{"index", proof->index},
                    {"size", proof->size},
                    {"leaf_hash", b64(proof->leaf_hash)},
                    {"path", b64_all(proof->path)}};
  // The event itself only to the organisation that acted or whose data it concerned.
  if (auto stored = call.ctx.audit->event(*index)) {
    if (stored->event.partner == call.req.peer.partner_id ||
        stored->event.owner_partner == call.req.peer.partner_id) {
      body["event"] = stored->canonical;
    }
  }
  return json_answer(200, body);
}

HttpResponse audit_consistency_proof(Call& call) {
  if (auto refused = known_partner(call)) return std::move(*refused);
  if (!only_query(call.req, {"from", "to"})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  const auto size_now = call.ctx.audit->size();
  const auto to = number_param(call.req, "to", size_now);
  const auto from = number_param(call.req, "from", size_now);
  if (!to || !from || *from > *to) {
    return bad_parameter(call, "Give from and to as whole numbers with from <= to <= the size of "
                               "the latest checkpoint.");
  }
  auto proof = call.ctx.audit->consistency_proof(*from, *to);
  if (!proof) return audit_unreadable(call);
  return json_answer(200, json::object{{"from", *from}, {"to", *to}, {"path", b64_all(*proof)}});
}

HttpResponse audit_events(Call& call) {
  if (!call.rules().may_query_audit(call.role)) {
    return deny(call, "audit.role-not-allowed",
                problem(call.req, 403, "not-permitted", "This worker's role may not do this",
                        "The audit log is queried by the roles the rule pack allows (the DPO)."));
  }
  if (!only_query(call.req,
                  {"client", "worker", "action", "decision", "from", "until", "cursor", "limit"})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  AuditQuery q;
  q.scope_partner = call.partner.id;
  if (call.req.query_param("client")) {
    // The client as this organisation knows them; resolved like every {client} path parameter
    // (another organisation's pseudonym is "not found", recorded).
    Registry registry(call.store());
    auto client = registry.resolve(call.partner.id, *call.req.query_param("client"));
    if (!client) {
      if (client.error() != Errc::not_found) return store_problem(call.req, client.error());
      return deny(call, "client.not-found",
                  problem(call.req, 404, "client-not-found", "No such client"));
    }
    call.client = *client;
    call.client_audit = sluis::domain::audit_pseudonym(call.store(), *client);
    q.client = call.client_audit;
  }
  if (auto w = call.req.query_param("worker")) q.worker = std::string(*w);
  if (auto a = call.req.query_param("action")) {
    q.action = parse_audit_action(*a);
    if (!q.action) return bad_parameter(call, "action must be an action name of the DPO guide.");
  }
  if (auto d = call.req.query_param("decision")) {
    q.decision = parse_audit_decision(*d);
    if (!q.decision) return bad_parameter(call, "decision must be permit, deny or n/a.");
  }
  for (const auto name : {"from", "until"}) {
    if (auto text = call.req.query_param(name)) {
      const auto t = policy::parse_time(*text);
      if (!t) return bad_parameter(call, "from and until are RFC 3339 UTC times.");
      (std::string_view(name) == "from" ? q.from : q.until) = Instant(*t);
    }
  }
  if (call.req.query_param("cursor")) {
    const auto c = number_param(call.req, "cursor", std::numeric_limits<std::uint64_t>::max());
    if (!c) return bad_parameter(call, "cursor is the next value of the previous page.");
    q.cursor = *c;
  }
  if (call.req.query_param("limit")) {
    const auto l = number_param(call.req, "limit", kMaxAuditPage);
    if (!l || *l == 0) return bad_parameter(call, "limit is 1 to 1000.");
    q.limit = static_cast<std::size_t>(*l);
  }
  // The query is itself on the record before its answer exists.
  AuditEvent asked = call.event(AuditAction::audit_query);
  asked.decision = AuditDecision::permit;
  asked.rule = "audit.scope:" + call.partner.id;
  if (auto failed = record(call, asked)) return std::move(*failed);
  auto page = call.ctx.audit->query(q);
  if (!page) return audit_unreadable(call);
  auto reasons = own_grant_reasons(call, page->events);
  if (!reasons) return store_problem(call.req, reasons.error());
  json::array events;
  events.reserve(page->events.size());
  for (const auto& e : page->events) {
    auto o = event_json(e);
    if (e.event.partner == call.partner.id) {
      if (const auto* r = find_break_glass_reason(e.event, *reasons); r != nullptr && r->reason) {
        o["break_glass_reason"] = *r->reason;
      }
    }
    events.push_back(std::move(o));
  }
  json::object body{{"events", std::move(events)}};
  if (page->next) body["next"] = *page->next;
  return json_answer(200, body);
}

}  // namespace sluis::api
