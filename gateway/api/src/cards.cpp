// Card resources: a new card for a lost one (POST /v1/clients/{client}/card) and what a
// card-issuing service's screens offer (GET /v1/card-services: the other card services, the
// categories an anonymous record accepts, the purposes).
#include "call.hpp"

#include "strict_json.hpp"

#include "sluis/domain/card_replacement.hpp"

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules

HttpResponse replace_card(Call& call) {
  const auto& body = call.body;
  const auto* member = body.if_contains("service_pseudonym");
  if (!only_members(body, {"service_pseudonym"}) || member == nullptr || !member->is_string()) {
    return invalid_body(call, "Send service_pseudonym: the new card's pseudonym for your service.");
  }
  if (auto refused = resolve_client(call)) return std::move(*refused);
  const auto& text = member->get_string();
  const std::string_view new_pseudonym(text.data(), text.size());
  auto replaced =
      replace_lost_card(call.store(), call.partner.id, call.params.at("client"), new_pseudonym);
  if (!replaced) {
    const auto ec = replaced.error();
    if (ec == Errc::invalid_argument) {
      return deny(call, "card.invalid-pseudonym",
                  problem(call.req, 422, "invalid-identifier", "The identifier is not valid",
                          "Check the service pseudonym's form (sp1- and 64 hexadecimal digits)."));
    }
    if (ec == Errc::not_permitted) {
      return deny(call, "card.not-permitted",
                  problem(call.req, 403, "anonymous-not-permitted",
                          "This organisation may not give this client a card",
                          "Cards are for anonymous clients of the partner types the rule pack "
                          "names."));
    }
    if (ec == Errc::conflict) {
      return deny(call, "card.in-use",
                  problem(call.req, 409, "card-in-use", "This card is already in use",
                          "Nothing was changed. Give the client another new card."));
    }
    if (ec == Errc::not_found) {
      return deny(call, "request.client-not-found",
                  problem(call.req, 404, "client-not-found", "No such client"));
    }
    return store_problem(call.req, ec);
  }
  // Like a link, the store decides whether the replacement happens: its event follows the act
  // (docs/architecture-api.md, "Audit ordering"); refusals are recorded by deny() above.
  AuditEvent e = call.event(AuditAction::card_replace);
  e.decision = AuditDecision::permit;
  e.rule = "card.lost";
  if (auto failed = record(call, e)) return std::move(*failed);
  return json_answer(200, json::object{{"client", replaced->pseudonym}});
}

HttpResponse card_services(Call& call) {
  if (!only_query(call.req, {})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  Registry registry(call.store());
  auto table = registry.partner_table();
  if (!table) return store_problem(call.req, table.error());
  // The partner types that register card holders (RegistryOptions, as register_anonymous uses).
  const RegistryOptions options;
  json::array services;
  for (const auto& p : **table) {
    if (p.revoked_at || p.id == call.partner.id ||
        !options.anonymous_partner_types.contains(p.partner_type)) {
      continue;
    }
    services.push_back(json::object{{"partner", p.id}, {"name", p.display_name}});
  }
  // What an anonymous record accepts (never the identifying categories), and the purposes a
  // read may state: the service's screens offer these.
  const policy::RulePack& pack = call.rules();
  json::array categories;
  for (const auto& c : pack.categories()) {
    const auto id = pack.category(c.name);
    if (id && pack.accepts_on_anonymous_client(*id)) {
      categories.push_back(json::object{{"name", c.name}, {"label", c.label}});
    }
  }
  json::array purposes;
  for (const auto& p : pack.purposes()) {
    purposes.push_back(json::object{{"name", p.name}, {"label", p.label}});
  }
  return json_answer(200, json::object{{"services", std::move(services)},
                                       {"categories", std::move(categories)},
                                       {"purposes", std::move(purposes)}});
}

}  // namespace sluis::api
