// GET /v1/rule-pack (the pack's public vocabulary: categories, purposes, roles, partner types and
// the consent and break-the-glass limits) and GET /v1/partners (the partners a consent may name),
// for forms a partner's own screens build. Neither says anything about a client, so neither is an
// audited access.
#include "call.hpp"

#include <boost/json.hpp>

namespace sluis::api {

HttpResponse read_rule_pack(Call& call) {
  if (!only_query(call.req, {})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  const policy::RulePack& pack = call.rules();
  json::array categories;
  for (const auto& c : pack.categories()) {
    categories.push_back(json::object{{"name", c.name},
                                      {"label", c.label},
                                      {"sensitivity", policy::to_string(c.sensitivity)},
                                      {"identifying", c.identifying},
                                      {"restricted", c.restricted}});
  }
  json::array purposes;
  for (const auto& p : pack.purposes())
    purposes.push_back(json::object{{"name", p.name}, {"label", p.label}});
  json::array roles;
  for (const auto& r : pack.roles())
    roles.push_back(json::object{{"name", r.name}, {"label", r.label}});
  json::array types;
  for (const auto& t : pack.partner_types())
    types.push_back(json::object{{"name", t.name}, {"label", t.label}});
  json::object limits{{"consent_max_days", pack.consent_max_duration().count()},
                      {"break_glass_max_minutes", pack.break_glass_max_duration().count()},
                      {"break_glass_reason_min_chars", pack.break_glass_reason_min_chars()},
                      {"break_glass_reason_max_chars", pack.break_glass_reason_max_chars()}};
  return json_answer(200, json::object{{"name", pack.name()},
                                       {"version", pack.version()},
                                       {"categories", std::move(categories)},
                                       {"purposes", std::move(purposes)},
                                       {"roles", std::move(roles)},
                                       {"partner_types", std::move(types)},
                                       {"limits", std::move(limits)}});
}

HttpResponse list_partners(Call& call) {
  if (!only_query(call.req, {})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  auto table = Registry(call.store()).partner_table();
  if (!table) return store_problem(call.req, table.error());
  json::array partners;
  for (const auto& p : **table) {
    if (p.revoked_at) continue;  // a consent cannot usefully name a revoked partner
    partners.push_back(
        json::object{{"id", p.id}, {"name", p.display_name}, {"type", p.partner_type}});
  }
  return json_answer(200, json::object{{"partners", std::move(partners)}});
}

}  // namespace sluis::api
