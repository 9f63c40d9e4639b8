// GET /v1/me: who the caller is as sluisd knows them — the partner (id, name, type) and the
// worker's role with what the rule pack lets that role do. For a partner's own screens (the
// console's navigation); says nothing about any client, so it is not an audited access.
#include "call.hpp"

#include <boost/json.hpp>

namespace sluis::api {

HttpResponse who_am_i(Call& call) {
  if (!only_query(call.req, {})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  const policy::RulePack& pack = call.rules();
  const policy::RoleDef& role = pack.def(call.role);
  json::object partner{{"id", call.partner.id},
                       {"name", call.partner.display_name},
                       {"type", call.partner.partner_type},
                       {"type_label", pack.def(call.partner_type).label},
                       // The pack's mark of a low-threshold service: what it owns leaves only to
                       // services the client linked their card to.
                       {"low_threshold", pack.requires_client_link(call.partner_type)}};
  json::object worker{{"id", call.worker.worker_id},
                      {"role", role.name},
                      {"role_label", role.label},
                      {"may_record_consent", role.may_record_consent},
                      {"may_erase_client", role.may_erase_client},
                      {"may_query_audit", role.may_query_audit},
                      {"may_review_break_glass", role.may_review_break_glass}};
  return json_answer(200, json::object{{"partner", std::move(partner)},
                                       {"worker", std::move(worker)},
                                       {"rule_pack", json::object{{"name", pack.name()},
                                                                  {"version", pack.version()}}}});
}

}  // namespace sluis::api
