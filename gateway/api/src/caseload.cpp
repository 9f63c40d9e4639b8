// The caller's caseload with its own labels: GET /v1/caseload, PUT/DELETE /v1/clients/{c}/label,
// and registration with a label.
#include "call.hpp"

#include "strict_json.hpp"

#include "sluis/domain/caseload.hpp"

#include <charconv>
#include <utility>
#include <variant>

namespace sluis::api {

namespace {

constexpr std::size_t kDefaultCaseloadPage = 50;
constexpr std::string_view kCursorPrefix = "c1.";

std::string_view origin_name(RelationshipOrigin o) {
  switch (o) {
  case RelationshipOrigin::registered: return "registered";
  case RelationshipOrigin::card_presented: return "card-presented";
  case RelationshipOrigin::linked: return "linked";
  }
  return "registered";
}

// The cursor is opaque to callers: "c1.<since ms>.<pseudonym>" of the page's last row.
std::string make_cursor(const CaseloadPosition& p) {
  return std::string(kCursorPrefix) + std::to_string(p.since.time_since_epoch().count()) + "." +
         p.pseudonym;
}

std::optional<CaseloadPosition> parse_cursor(std::string_view text) {
  if (!text.starts_with(kCursorPrefix) || text.size() > 128) return std::nullopt;
  text.remove_prefix(kCursorPrefix.size());
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 19) return std::nullopt;
  std::int64_t ms = 0;
  const auto digits = text.substr(0, dot);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (ec != std::errc{} || end != digits.data() + digits.size() || ms < 0) return std::nullopt;
  const auto pseudonym = text.substr(dot + 1);
  if (pseudonym.empty() || pseudonym.size() > 64) return std::nullopt;
  for (const char c : pseudonym) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return std::nullopt;
  }
  return CaseloadPosition{Instant(std::chrono::milliseconds(ms)), std::string(pseudonym)};
}

std::optional<std::size_t> parse_limit(std::string_view text) {
  std::size_t n = 0;
  if (text.empty() || text.size() > 4) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n == 0 || n > kMaxCaseloadPage) {
    return std::nullopt;
  }
  return n;
}

constexpr std::string_view kLabelTitle = "The label is not acceptable";
constexpr std::string_view kLabelDetail =
    "A label is 1 to 40 characters of text, without control characters.";

// 400 for a search text (query), 422 for a label in a body.
HttpResponse invalid_label(const Call& call, int status) {
  return deny(call, "request.invalid-label",
              status == 400 ? problem(call.req, 400, "invalid-label", kLabelTitle, kLabelDetail)
                            : problem(call.req, 422, "invalid-label", kLabelTitle, kLabelDetail));
}

// The label member of a body: absent (nullopt with ok), a checked label, or a refusal.
struct BodyLabel {
  std::optional<std::string> label;
  bool ok = true;
};

BodyLabel body_label(const json::object& body) {
  const auto* v = body.if_contains("label");
  if (v == nullptr) return {};
  const auto* s = v->if_string();
  if (s == nullptr) return {std::nullopt, false};
  auto checked = checked_label(std::string_view(s->data(), s->size()));
  if (!checked) return {std::nullopt, false};
  return {std::move(checked), true};
}

// Sets the resolved client's label, on the record first. nullopt on success.
std::optional<HttpResponse> set_label_recorded(Call& call, const std::string& label) {
  AuditEvent intent = call.event(AuditAction::caseload_label);
  intent.decision = AuditDecision::permit;
  intent.rule = "caseload.label-set";
  if (auto failed = record(call, intent)) return std::move(*failed);
  Caseload caseload(call.store());
  if (auto r = caseload.set_label(call.partner.id, *call.client, label); !r) {
    record_failure(call, std::move(intent));
    if (r.error() == Errc::not_found) {
      return problem(call.req, 404, "client-not-found", "No such client");
    }
    return store_problem(call.req, r.error());
  }
  return std::nullopt;
}

}  // namespace

namespace {

HttpResponse bad_limit(const Call& call) {
  return deny(call, "request.invalid-limit",
              problem(call.req, 400, "invalid-limit", "The page size is not acceptable",
                      "limit is a whole number from 1 to 200."));
}

HttpResponse bad_cursor(const Call& call) {
  return deny(call, "request.invalid-cursor",
              problem(call.req, 400, "invalid-cursor", "The cursor is not one this API gave",
                      "Use the next value of the previous page unchanged, or start again "
                      "without a cursor."));
}

HttpResponse bad_match(const Call& call, std::string_view title) {
  return deny(call, "request.invalid-match", problem(call.req, 400, "invalid-match", title));
}

// The query's parts as text (from the URL or from a search body), checked into a CaseloadQuery
// or a refusal.
struct CaseloadAsk {
  std::optional<std::string_view> limit, cursor, label, match;
};

std::variant<CaseloadQuery, HttpResponse> checked_query(const Call& call, const CaseloadAsk& ask) {
  CaseloadQuery query;
  query.limit = kDefaultCaseloadPage;
  if (ask.limit) {
    auto n = parse_limit(*ask.limit);
    if (!n) return bad_limit(call);
    query.limit = *n;
  }
  if (ask.cursor) {
    query.after = parse_cursor(*ask.cursor);
    if (!query.after) return bad_cursor(call);
  }
  if (ask.label) {
    query.search = checked_label(*ask.label);
    if (!query.search) return invalid_label(call, 400);
  }
  if (ask.match) {
    if (*ask.match == "exact") {
      query.match = LabelMatch::exact;
    } else if (*ask.match == "prefix") {
      query.match = LabelMatch::prefix;
    } else {
      return bad_match(call, "match is exact or prefix");
    }
    if (!query.search) return bad_match(call, "match needs a label to match");
  }
  return query;
}

HttpResponse answer_caseload(Call& call, const CaseloadQuery& query) {
  // On the record before anything is read; the search text is not (a label is the partner's
  // own data, never in the log): only that there was a search.
  AuditEvent e = call.event(AuditAction::caseload_read);
  e.decision = AuditDecision::permit;
  e.rule = query.search ? "caseload.own.search" : "caseload.own";
  if (auto failed = record(call, e)) return std::move(*failed);

  Caseload caseload(call.store());
  auto page = caseload.page(call.partner.id, query);
  if (!page) return store_problem(call.req, page.error());
  json::array clients;
  clients.reserve(page->entries.size());
  for (auto& entry : page->entries) {
    json::object row{{"client", entry.pseudonym},
                     {"since", format_instant(entry.since)},
                     {"origin", origin_name(entry.origin)}};
    if (entry.label) row["label"] = *entry.label;
    clients.push_back(std::move(row));
  }
  json::object body{{"clients", std::move(clients)}};
  if (page->next) body["next"] = make_cursor(*page->next);
  return json_answer(200, body);
}

}  // namespace

HttpResponse read_caseload(Call& call) {
  if (!only_query(call.req, {"cursor", "limit", "label", "match"})) {
    return deny(call, "request.unknown-parameter",
                problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter"));
  }
  const auto& q = call.req;
  auto query = checked_query(call, {q.query_param("limit"), q.query_param("cursor"),
                                    q.query_param("label"), q.query_param("match")});
  if (auto* refused = std::get_if<HttpResponse>(&query)) return std::move(*refused);
  return answer_caseload(call, std::get<CaseloadQuery>(query));
}

HttpResponse search_caseload(Call& call) {
  // The same query in a JSON body: a URL carries only ASCII, a label may be any text.
  const auto& body = call.body;
  if (!only_members(body, {"cursor", "limit", "label", "match"})) {
    return invalid_body(call, "Allowed members: label, match, cursor, limit.");
  }
  CaseloadAsk ask;
  std::string limit_text;
  for (const auto& [name, slot] : {std::pair{"cursor", &ask.cursor}, std::pair{"label", &ask.label},
                                   std::pair{"match", &ask.match}}) {
    if (const auto* v = body.if_contains(name)) {
      const auto* s = v->if_string();
      if (s == nullptr) {
        if (std::string_view(name) == "label") return invalid_label(call, 400);
        return invalid_body(call, "label, match and cursor are strings.");
      }
      *slot = std::string_view(s->data(), s->size());
    }
  }
  if (const auto* v = body.if_contains("limit")) {
    if (!v->is_int64()) return bad_limit(call);
    limit_text = std::to_string(v->as_int64());
    ask.limit = limit_text;
  }
  auto query = checked_query(call, ask);
  if (auto* refused = std::get_if<HttpResponse>(&query)) return std::move(*refused);
  return answer_caseload(call, std::get<CaseloadQuery>(query));
}

HttpResponse put_label(Call& call) {
  if (!only_members(call.body, {"label"}) || !call.body.contains("label")) {
    return invalid_body(call, "The body is {\"label\": \"...\"}.");
  }
  auto label = body_label(call.body);
  if (!label.ok || !label.label) return invalid_label(call, 422);
  if (auto refused = resolve_client(call)) return std::move(*refused);
  if (auto failed = set_label_recorded(call, *label.label)) return std::move(*failed);
  return json_answer(200,
                     json::object{{"client", call.params.at("client")}, {"label", *label.label}});
}

HttpResponse get_label(Call& call) {
  if (!only_query(call.req, {})) {
    return deny(call, "request.unknown-parameter",
                problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter"));
  }
  if (auto refused = resolve_client(call)) return std::move(*refused);
  AuditEvent e = call.event(AuditAction::caseload_read);
  e.decision = AuditDecision::permit;
  e.rule = "caseload.own.label";
  if (auto failed = record(call, e)) return std::move(*failed);
  auto label = Caseload(call.store()).label(call.partner.id, *call.client);
  if (!label) return store_problem(call.req, label.error());
  json::object body{{"client", call.params.at("client")}};
  if (*label) {
    body["label"] = **label;
  } else {
    body["label"] = nullptr;
  }
  return json_answer(200, body);
}

HttpResponse delete_label(Call& call) {
  if (auto refused = resolve_client(call)) return std::move(*refused);
  AuditEvent intent = call.event(AuditAction::caseload_label);
  intent.decision = AuditDecision::permit;
  intent.rule = "caseload.label-removed";
  if (auto failed = record(call, intent)) return std::move(*failed);
  Caseload caseload(call.store());
  if (auto r = caseload.clear_label(call.partner.id, *call.client); !r) {
    record_failure(call, std::move(intent));
    return store_problem(call.req, r.error());
  }
  return json_answer(200, json::object{{"client", call.params.at("client")}, {"label", nullptr}});
}

HttpResponse register_client_labelled(Call& call) {
  // The label is checked before anything is registered: a bad label changes nothing.
  auto label = body_label(call.body);
  if (!label.ok) return invalid_label(call, 422);
  call.body.erase("label");
  HttpResponse answer = register_client(call);
  if (!label.label || (answer.status != 200 && answer.status != 201) || !call.client) {
    return answer;
  }
  if (auto failed = set_label_recorded(call, *label.label)) return std::move(*failed);
  return answer;
}

}  // namespace sluis::api
