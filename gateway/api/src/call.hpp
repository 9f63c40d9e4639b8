// What every /v1 handler shares: the checked caller, problem answers, audit appends.
#pragma once

#include "sluis/api/api.hpp"
#include "sluis/audit/event.hpp"
#include "sluis/audit/report.hpp"
#include "sluis/server/http.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/policy/types.hpp"

#include <boost/json/value.hpp>

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::api {

using namespace sluis::server;  // the transport: requests, answers, problems, routes
using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules

namespace json = boost::json;

/// How a route behaves before its own code runs.
struct RouteOptions {
  /// The act the route performs, for the deny events of refused requests (none: not audited).
  std::optional<AuditAction> action;
  bool needs_worker = true;    ///< Sluis-Worker required and checked
  bool needs_purpose = false;  ///< Sluis-Purpose required, a purpose of the pack (reads)
  bool has_body = false;       ///< a JSON object body is required (POST)
};

/// One request after the common checks passed: the caller is an enrolled, active worker of a
/// partner the store knows and has not revoked.
struct Call {
  const GatewayContext& ctx;
  const HttpRequest& req;
  const PathParams& params;
  const RouteOptions& options;
  std::shared_ptr<const policy::RulePack> pack;  ///< the snapshot this request uses throughout
  Instant now{};
  Partner partner;
  Worker worker;  ///< empty worker_id on routes without a worker
  policy::RoleId role{};
  policy::PartnerTypeId partner_type{};
  std::string purpose;             ///< "" unless the route reads
  json::object body;               ///< the body's object on routes with a body
  std::optional<ClientId> client;  ///< filled by resolve_client
  std::string client_audit;        ///< the client's audit pseudonym once resolved

  [[nodiscard]] const policy::RulePack& rules() const noexcept { return *pack; }
  [[nodiscard]] Storage& store() const noexcept { return *ctx.store; }
  [[nodiscard]] policy::Time now_seconds() const {
    return std::chrono::floor<std::chrono::seconds>(now);
  }

  /// An event of `action` by this caller about the resolved client (if any), for this request.
  [[nodiscard]] AuditEvent event(AuditAction action) const;
};

/// A problem+json answer for this request (instance = the request id).
[[nodiscard]] HttpResponse problem(const HttpRequest& req, int status, std::string_view code,
                                   std::string_view title, std::string_view detail = {});

/// Appends `events` durably. On failure returns the 503 audit-unavailable answer to send instead.
[[nodiscard]] std::optional<HttpResponse> record(const Call& call,
                                                 std::span<const AuditEvent> events);
[[nodiscard]] std::optional<HttpResponse> record(const Call& call, const AuditEvent& event);

/// Records a refused request (decision deny, `rule`) for the route's action, then returns
/// `answer`; or 503 audit-unavailable when the record cannot be made. Routes without an action
/// return `answer` unrecorded.
[[nodiscard]] HttpResponse deny(const Call& call, std::string_view rule, HttpResponse answer);

/// After an intent event was recorded and the change then failed: records the failure
/// (best effort — the intent is already durable, and the caller is told the change failed).
void record_failure(const Call& call, AuditEvent intent);

/// The answer for a store error: 404 client-not-found, 503 storage-unavailable (busy, I/O),
/// otherwise 500 internal-error. Never says more than the code.
[[nodiscard]] HttpResponse store_problem(const HttpRequest& req, boost::system::error_code ec);
/// The log cause naming a store error (sluisd's request log line; never sent to the caller).
[[nodiscard]] LogLiteral store_cause(boost::system::error_code ec) noexcept;

/// Resolves the `{client}` path parameter (the caller's own pseudonym) into call.client and
/// call.client_audit. Unknown pseudonyms and other partners' pseudonyms get the same refusal
/// (recorded, 404 client-not-found); nullopt on success.
[[nodiscard]] std::optional<HttpResponse> resolve_client(Call& call);

/// 422 invalid-body, recorded as a refusal: the body's shape is wrong (`detail` is fixed text).
[[nodiscard]] HttpResponse invalid_body(const Call& call, std::string_view detail);

/// A policy error as a recorded 422 refusal with the policy's stable code ("missing-end", …).
[[nodiscard]] HttpResponse policy_refusal(const Call& call, boost::system::error_code ec);

/// Partner id → display name for every partner (for owners in dossiers, receipts, reports).
[[nodiscard]] ReportNames report_names(const Call& call);

/// RFC 3339 UTC text of an instant, whole seconds ("2025-03-01T09:30:00Z").
[[nodiscard]] std::string format_instant(Instant t);

/// The language asked for by `?lang=` (nl|fr|en), else the first of nl/fr/en in Accept-Language,
/// else `fallback`. nullopt when `lang` is present but not one of the three.
[[nodiscard]] std::optional<ReportLanguage> requested_language(const HttpRequest& req,
                                                               ReportLanguage fallback);

/// True when every query parameter's name is in `allowed`.
[[nodiscard]] bool only_query(const HttpRequest& req,
                              std::initializer_list<std::string_view> allowed);

/// A JSON answer.
[[nodiscard]] HttpResponse json_answer(int status, const json::value& body);

using CallHandler = std::function<HttpResponse(Call&)>;

/// Wraps `fn` in the common checks (partner, worker, purpose, body) and a catch-all, producing a
/// Router handler. See make_api_router for the order of the checks.
[[nodiscard]] Handler guarded(std::shared_ptr<const GatewayContext> context, RouteOptions options,
                              CallHandler fn);

/// The routing table of make_api_router.
[[nodiscard]] Router build_router(const GatewayContext& context);

// The resource handlers, by file.
HttpResponse register_client(Call& call);
HttpResponse add_fragment(Call& call);
HttpResponse read_dossier(Call& call);
HttpResponse link_card(Call& call);
HttpResponse erase_client(Call& call);
HttpResponse record_consent(Call& call);
HttpResponse list_consents(Call& call);
HttpResponse revoke_consent(Call& call);
HttpResponse consent_receipt(Call& call);
HttpResponse break_glass(Call& call);
HttpResponse access_report(Call& call);
HttpResponse audit_checkpoint(Call& call);
HttpResponse audit_inclusion_proof(Call& call);
HttpResponse audit_consistency_proof(Call& call);
HttpResponse audit_events(Call& call);
HttpResponse replace_card(Call& call);
HttpResponse card_services(Call& call);
HttpResponse who_am_i(Call& call);
HttpResponse read_caseload(Call& call);
HttpResponse search_caseload(Call& call);
HttpResponse put_label(Call& call);
HttpResponse delete_label(Call& call);
HttpResponse get_label(Call& call);
HttpResponse register_client_labelled(Call& call);
HttpResponse read_rule_pack(Call& call);
HttpResponse list_partners(Call& call);
HttpResponse list_break_glass(Call& call);    // break_glass_review.cpp
HttpResponse review_break_glass(Call& call);  // break_glass_review.cpp
HttpResponse list_workers(Call& call);        // workers.cpp

}  // namespace sluis::api
