// The common checks every /v1 request passes, problem answers, audit appends, and the routing
// table.
#include "call.hpp"

#include "strict_json.hpp"

#include "sluis/domain/consent_cache.hpp"
#include "sluis/server/problem.hpp"
#include "sluis/policy/error.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <stdexcept>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules

AuditEvent Call::event(AuditAction action) const {
  AuditEvent e;
  e.time = now;
  e.partner = partner.id;
  e.worker = worker.worker_id;
  e.role = worker.role;
  e.action = action;
  e.client = client_audit;
  e.purpose = purpose;
  e.request_id = req.request_id;
  return e;
}

HttpResponse problem(const HttpRequest& req, int status, std::string_view code,
                     std::string_view title, std::string_view detail) {
  return make_problem(status, code, title, detail, problem_instance(req.request_id));
}

namespace {

HttpResponse audit_unavailable(const HttpRequest& req) {
  return problem(req, 503, "audit-unavailable", "The audit log cannot record this request",
                 "Nothing was done. Every access must be on the record before it happens; try "
                 "again later.");
}

}  // namespace

std::optional<HttpResponse> record(const Call& call, std::span<const AuditEvent> events) {
  if (events.empty()) return std::nullopt;
  if (auto r = call.ctx.audit->append(events); !r) return audit_unavailable(call.req);
  return std::nullopt;
}

std::optional<HttpResponse> record(const Call& call, const AuditEvent& event) {
  return record(call, std::span<const AuditEvent>(&event, 1));
}

HttpResponse deny(const Call& call, std::string_view rule, HttpResponse answer) {
  if (!call.options.action) return answer;
  AuditEvent e = call.event(*call.options.action);
  e.decision = AuditDecision::deny;
  e.rule = rule;
  if (auto failed = record(call, e)) return std::move(*failed);
  return answer;
}

void record_failure(const Call& call, AuditEvent intent) {
  intent.decision = AuditDecision::deny;
  intent.rule = "store.failed";
  (void)call.ctx.audit->append(intent);
}

LogLiteral store_cause(boost::system::error_code ec) noexcept {
  if (ec.category() != gateway_category()) return "store_foreign_error";
  switch (static_cast<Errc>(ec.value())) {
  case Errc::key_unavailable: return "store_key_unavailable";
  case Errc::crypto_failure: return "store_crypto_failure";
  case Errc::storage_failure: return "store_storage_failure";
  case Errc::busy: return "store_busy";
  case Errc::database_key_mismatch: return "store_database_key_mismatch";
  case Errc::schema_too_new: return "store_schema_too_new";
  case Errc::audit_log_inconsistent: return "store_audit_log_inconsistent";
  case Errc::in_use: return "store_in_use";
  case Errc::injected_failure: return "store_injected_failure";
  case Errc::invalid_argument: return "store_invalid_argument";
  case Errc::conflict: return "store_conflict";
  case Errc::not_permitted: return "store_not_permitted";
  case Errc::unknown_worker: return "store_unknown_worker";
  case Errc::card_replaced: return "store_card_replaced";
  case Errc::identifying_category_on_anonymous: return "store_identifying_category";
  case Errc::not_found: return "store_not_found";
  case Errc::file_damaged: return "store_file_damaged";
  case Errc::unavailable: return "store_unavailable";
  }
  return "store_unknown_error";
}

HttpResponse store_problem(const HttpRequest& req, boost::system::error_code ec) {
  if (ec == Errc::not_found) {
    return problem(req, 404, "client-not-found", "No such client");
  }
  if (ec == Errc::busy || ec == Errc::storage_failure || ec == Errc::unavailable) {
    auto r = problem(req, 503, "storage-unavailable", "The store is temporarily unavailable",
                     "Nothing was changed; try again later.");
    r.cause = store_cause(ec);
    return r;
  }
  auto r = make_problem(TransportProblem::internal_error, {}, problem_instance(req.request_id));
  r.cause = store_cause(ec);
  return r;
}

std::optional<HttpResponse> resolve_client(Call& call) {
  if (call.client) return std::nullopt;  // admit() already resolved it
  Registry registry(call.store());
  const auto pseudonym = call.params.at("client");
  auto client = registry.resolve(call.partner.id, pseudonym);
  if (!client) {
    if (client.error() != Errc::not_found && client.error() != Errc::invalid_argument) {
      return store_problem(call.req, client.error());
    }
    // Unknown, malformed and another partner's pseudonym alike: one answer, nothing to tell apart.
    return deny(call, "request.client-not-found",
                problem(call.req, 404, "client-not-found", "No such client"));
  }
  call.client = *client;
  call.client_audit = sluis::domain::audit_pseudonym(call.store(), *client);
  return std::nullopt;
}

HttpResponse invalid_body(const Call& call, std::string_view detail) {
  return deny(call, "request.invalid-body",
              problem(call.req, 422, "invalid-body",
                      "The request body does not have the documented shape", detail));
}

HttpResponse policy_refusal(const Call& call, boost::system::error_code ec) {
  std::string code = "invalid-body";
  if (ec.category() == policy::policy_category()) {
    const auto e = static_cast<policy::Errc>(ec.value());
    if (e != policy::Errc::malformed) code = policy::errc_name(e);
  }
  std::string detail;
  if (code == "unknown-role") {
    // A role in the body (a grantee, the evidence's recorder) the pack does not define: name the
    // roles it does define, so the caller can correct the request. They are the rule pack's
    // public vocabulary, not anything the caller sent.
    detail = "A role in the request is not a role of the rule pack in force; its roles are: ";
    bool first = true;
    for (const auto& r : call.rules().roles()) {
      detail += (first ? "" : ", ") + r.name;
      first = false;
    }
    detail += ".";
  }
  return deny(call, "request.policy:" + code,
              problem(call.req, 422, code,
                      "The request breaks a rule of the consent format or "
                      "the rule pack",
                      detail));
}

ReportNames report_names(const Call& call) {
  ReportNames names;
  names.pack = call.pack.get();
  Registry registry(call.store());
  if (auto partners = registry.list_partners()) {
    for (auto& p : *partners)
      names.partner_display_names[p.id] = p.display_name;
  }
  return names;
}

std::string format_instant(Instant t) {
  return policy::format_time(std::chrono::floor<std::chrono::seconds>(t));
}

std::optional<ReportLanguage> requested_language(const HttpRequest& req, ReportLanguage fallback) {
  if (auto lang = req.query_param("lang")) return parse_report_language(*lang);
  if (req.accept_language) {
    // Only the primary subtags, in the order sent; quality values are not needed for three
    // languages.
    std::string_view rest = *req.accept_language;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      while (!item.empty() && item.front() == ' ')
        item.remove_prefix(1);
      const auto tag = item.substr(0, std::min(item.find('-'), item.find(';')));
      if (auto l = parse_report_language(tag)) return l;
    }
  }
  return fallback;
}

bool only_query(const HttpRequest& req, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : req.query) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) return false;
  }
  return true;
}

HttpResponse json_answer(int status, const json::value& body) {
  return HttpResponse::json(status, json::serialize(body));
}

namespace {

// The checks of guarded(), in order; returns the refusal or nullopt when the request may go on.
std::optional<HttpResponse> admit(Call& call) {
  const HttpRequest& req = call.req;
  // Routes without a worker (healthz) need only the certificate the transport already checked.
  if (!call.options.needs_worker) return std::nullopt;
  // Partner, client and worker in one unit of work (one take of the store, one snapshot).
  const bool worker_named = req.worker && is_safe_token(*req.worker);
  auto admitted =
      Registry(call.store())
          .admit(req.peer.partner_id, call.params.get("client"),
                 worker_named ? std::optional<std::string_view>(*req.worker) : std::nullopt);
  // The store's admit reads what other nodes changed (on PostgreSQL: the rule pack's
  // generation, which swaps a newer pack in); the request runs on the pack in force after it.
  call.pack = call.ctx.rules->get();
  if (!admitted.partner) {
    if (admitted.partner_error != Errc::not_found) return store_problem(req, admitted.partner_error);
    return problem(req, 403, "unknown-partner", "This organisation is not enrolled at the gateway",
                   "The certificate is valid but names no partner the gateway knows; ask the "
                   "gateway operator.");
  }
  call.partner = std::move(*admitted.partner);
  const auto type = call.rules().partner_type(call.partner.partner_type);
  if (type) call.partner_type = *type;
  // A refusal on a route about a client names the client when it is the caller's own, so the
  // DPO sees refused attempts per client too. An unresolvable pseudonym is refused later.
  if (admitted.client) {
    call.client = *admitted.client;
    call.client_audit = sluis::domain::audit_pseudonym(call.store(), *admitted.client);
  }

  // From here on the partner is known: refusals naming a worker are recorded (BRIEF promise 7).
  if (!req.worker || !is_safe_token(*req.worker)) {
    return problem(req, 403, "unknown-worker", "The worker is not enrolled at this organisation",
                   "Every request must name the worker in the Sluis-Worker header.");
  }
  call.worker.partner_id = call.partner.id;
  call.worker.worker_id = *req.worker;
  if (call.partner.revoked_at) {
    return deny(call, "partner.revoked",
                problem(req, 403, "partner-revoked", "This organisation's access was revoked"));
  }
  if (!admitted.worker) {
    if (admitted.worker_error != Errc::not_found) {
      return store_problem(req, admitted.worker_error);
    }
    return deny(
        call, "worker.unknown",
        problem(req, 403, "unknown-worker", "The worker is not enrolled at this organisation"));
  }
  call.worker = std::move(*admitted.worker);
  if (!call.worker.active) {
    return deny(call, "worker.inactive",
                problem(req, 403, "inactive-worker", "The worker's access is disabled"));
  }
  const auto role = call.rules().role(call.worker.role);
  if (!role || !type) {
    return deny(call, "worker.role-unknown",
                problem(req, 403, "unknown-role",
                        "The worker's role or the organisation's type is not in the rule pack"));
  }
  call.role = *role;

  if (call.options.needs_purpose) {
    if (!req.purpose) {
      return deny(call, "request.purpose-missing",
                  problem(req, 400, "purpose-required", "A read must state its purpose",
                          "Name the purpose in the Sluis-Purpose header."));
    }
    if (!call.rules().purpose(*req.purpose)) {
      return deny(call, "request.purpose-unknown",
                  problem(req, 400, "unknown-purpose", "The purpose is not in the rule pack"));
    }
    call.purpose = *req.purpose;
  }

  if (call.options.has_body) {
    if (!req.content_type || !req.content_type->starts_with("application/json")) {
      return deny(call, "request.media-type",
                  make_problem(TransportProblem::unsupported_media_type,
                               "The body must be application/json.",
                               problem_instance(req.request_id)));
    }
    if (req.body.size() > call.ctx.limits.max_body_bytes) {
      return deny(
          call, "request.too-large",
          make_problem(TransportProblem::payload_too_large, {}, problem_instance(req.request_id)));
    }
    auto parsed = parse_strict_json(req.body, call.ctx.limits.max_json_depth);
    if (!parsed.value) {
      std::string_view detail = "The body is not one well-formed UTF-8 JSON text.";
      if (parsed.rejection == JsonRejection::too_deep) detail = "The body is nested too deeply.";
      if (parsed.rejection == JsonRejection::duplicate_key) {
        detail = "An object in the body names the same member twice.";
      }
      return deny(call, "request.malformed-json",
                  problem(req, 400, "malformed-json", "The body is not acceptable JSON", detail));
    }
    if (!parsed.value->is_object()) return invalid_body(call, "The body must be a JSON object.");
    call.body = std::move(parsed.value->as_object());
  }
  return std::nullopt;
}

Instant clock_now(const GatewayContext& ctx) {
  if (ctx.clock) return ctx.clock();
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

Handler guarded(std::shared_ptr<const GatewayContext> shared, RouteOptions options,
                CallHandler fn) {
  return [shared = std::move(shared), options = std::move(options),
          fn = std::move(fn)](const HttpRequest& req, const PathParams& params) -> HttpResponse {
    const GatewayContext& ctx = *shared;
    try {
      Call call{ctx, req, params,       options, ctx.rules->get(), clock_now(ctx), {}, {}, {}, {},
                {},  {},  std::nullopt, {}};
      if (auto refused = admit(call)) return std::move(*refused);
      return fn(call);
    } catch (const std::exception&) {
      auto r = make_problem(TransportProblem::internal_error, {}, problem_instance(req.request_id));
      r.cause = "handler_exception";
      return r;
    } catch (...) {
      auto r = make_problem(TransportProblem::internal_error, {}, problem_instance(req.request_id));
      r.cause = "handler_exception";
      return r;
    }
  };
}

namespace {

HttpResponse healthz(Call& call) {
  Registry registry(call.store());
  if (auto partners = registry.list_partners(); !partners) {
    return problem(call.req, 503, "storage-unavailable", "The store is temporarily unavailable");
  }
  json::object body{{"status", "ok"}, {"store", "reachable"}};
  return json_answer(200, body);
}

}  // namespace

Router build_router(const GatewayContext& context) {
  // Every handler shares one copy of the context, so the caller's struct need not outlive them.
  auto shared = std::make_shared<GatewayContext>(context);
  if (!shared->consent_cache) shared->consent_cache = std::make_shared<ConsentCache>();
  const std::shared_ptr<const GatewayContext> ctx = std::move(shared);
  Router router;
  using A = AuditAction;
  router.add("GET", "/healthz", guarded(ctx, {std::nullopt, false, false, false}, healthz));
  router.add("POST", "/v1/clients",
             guarded(ctx, {A::registration, true, false, true}, register_client_labelled));
  router.add("POST", "/v1/clients/{client}/fragments",
             guarded(ctx, {A::fragment_write, true, false, true}, add_fragment));
  router.add("GET", "/v1/clients/{client}/dossier",
             guarded(ctx, {A::read, true, true, false}, read_dossier));
  router.add("POST", "/v1/clients/{client}/consents",
             guarded(ctx, {A::consent_grant, true, false, true}, record_consent));
  router.add("GET", "/v1/clients/{client}/consents",
             guarded(ctx, {A::consent_read, true, true, false}, list_consents));
  router.add("DELETE", "/v1/clients/{client}/consents/{consent}",
             guarded(ctx, {A::consent_revoke, true, false, false}, revoke_consent));
  router.add("GET", "/v1/clients/{client}/consents/{consent}/receipt",
             guarded(ctx, {A::consent_read, true, true, false}, consent_receipt));
  router.add("POST", "/v1/clients/{client}/break-glass",
             guarded(ctx, {A::break_glass_start, true, false, true}, break_glass));
  router.add("POST", "/v1/links", guarded(ctx, {A::link, true, false, true}, link_card));
  router.add("DELETE", "/v1/clients/{client}",
             guarded(ctx, {A::erasure, true, false, false}, erase_client));
  router.add("GET", "/v1/clients/{client}/access-report",
             guarded(ctx, {A::access_report, true, true, false}, access_report));
  // Witnesses (a partner's system, no worker) and the partner's DPO.
  router.add("GET", "/v1/audit/checkpoint",
             guarded(ctx, {std::nullopt, false, false, false}, audit_checkpoint));
  router.add("GET", "/v1/audit/proofs/inclusion",
             guarded(ctx, {std::nullopt, false, false, false}, audit_inclusion_proof));
  router.add("GET", "/v1/audit/proofs/consistency",
             guarded(ctx, {std::nullopt, false, false, false}, audit_consistency_proof));
  router.add("GET", "/v1/audit/events",
             guarded(ctx, {A::audit_query, true, false, false}, audit_events));
  router.add("GET", "/v1/me", guarded(ctx, {std::nullopt, true, false, false}, who_am_i));
  router.add("POST", "/v1/clients/{client}/card",
             guarded(ctx, {A::card_replace, true, false, true}, replace_card));
  router.add("GET", "/v1/card-services",
             guarded(ctx, {std::nullopt, true, false, false}, card_services));
  router.add("GET", "/v1/caseload",
             guarded(ctx, {A::caseload_read, true, false, false}, read_caseload));
  router.add("POST", "/v1/caseload/search",
             guarded(ctx, {A::caseload_read, true, false, true}, search_caseload));
  router.add("PUT", "/v1/clients/{client}/label",
             guarded(ctx, {A::caseload_label, true, false, true}, put_label));
  router.add("GET", "/v1/clients/{client}/label",
             guarded(ctx, {A::caseload_read, true, false, false}, get_label));
  router.add("DELETE", "/v1/clients/{client}/label",
             guarded(ctx, {A::caseload_label, true, false, false}, delete_label));
  router.add("GET", "/v1/rule-pack",
             guarded(ctx, {std::nullopt, true, false, false}, read_rule_pack));
  router.add("GET", "/v1/partners",
             guarded(ctx, {std::nullopt, true, false, false}, list_partners));
  router.add("GET", "/v1/break-glass",
             guarded(ctx, {A::audit_query, true, false, false}, list_break_glass));
  router.add("POST", "/v1/break-glass/{grant}/review",
             guarded(ctx, {A::break_glass_review, true, false, true}, review_break_glass));
  router.add("GET", "/v1/workers", guarded(ctx, {std::nullopt, true, false, false}, list_workers));
  return router;
}

Router make_api_router(const GatewayContext& context) {
  if (context.store == nullptr || context.audit == nullptr || context.rules == nullptr ||
      !context.rules->get()) {
    throw std::invalid_argument("make_api_router: the context needs a store, an audit log and a "
                                "rule pack");
  }
  return build_router(context);
}

}  // namespace sluis::api
