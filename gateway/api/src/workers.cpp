// /v1/workers: the caller's organisation's workers as sluisd knows them (for the console's
// admin page), never another organisation's.
#include "call.hpp"

#include <boost/json.hpp>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::domain;  // the rules

HttpResponse list_workers(Call& call) {
  if (!only_query(call.req, {})) {
    return problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter");
  }
  // The partner comes from the caller's certificate (admit): no parameter names another one.
  auto workers = Registry(call.store()).list_workers(call.partner.id);
  if (!workers) return store_problem(call.req, workers.error());
  json::array out;
  out.reserve(workers->size());
  for (const auto& w : *workers) {
    out.push_back(json::object{{"worker", w.worker_id}, {"role", w.role}, {"active", w.active}});
  }
  return json_answer(200, json::object{{"partner", call.partner.id}, {"workers", std::move(out)}});
}

}  // namespace sluis::api
