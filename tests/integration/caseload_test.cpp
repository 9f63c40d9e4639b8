// Integration tests: the caseload with partner-owned labels (GET /v1/caseload, PUT/DELETE
// /v1/clients/{client}/label, registration with a label) against the real sluisd over mTLS.
#include "sluisd_harness.hpp"

#include <catch2/catch.hpp>

#include <set>

namespace {

using namespace sluis::test;

struct Shared {
  GatewayHome home;
  Sluisd gateway{home};
  Shared() { REQUIRE(gateway.wait_ready()); }
};

Shared& shared() {
  static Shared s;
  return s;
}

std::string registration(unsigned long long person, const std::string& label_member = {}) {
  return R"({"identifier":{"scheme":"national-register","value":")" +
         national_register_number(person) + R"("})" + label_member + "}";
}

std::string client_of(const Response& r) {
  const auto v = body_json(r);
  REQUIRE(v.is_object());
  return std::string(v.at("client").as_string());
}

// Every row of the caller's caseload (all pages, `limit` at a time), in answer order.
std::vector<json::object> whole_caseload(Worker& w, const std::string& query = {}, int limit = 2) {
  std::vector<json::object> rows;
  std::string cursor;
  for (int pages = 0; pages < 200; ++pages) {
    std::string target = "/v1/caseload?limit=" + std::to_string(limit) + query;
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto r = w.call("GET", target);
    INFO(target << " -> " << r.body);
    REQUIRE(r.status == 200);
    const auto body = body_json(r).as_object();
    for (const auto& c : body.at("clients").as_array())
      rows.push_back(c.as_object());
    const auto* next = body.if_contains("next");
    if (next == nullptr) return rows;
    cursor = std::string(next->as_string());
  }
  FAIL("the caseload never ended");
  return rows;
}

std::set<std::string> pseudonyms(const std::vector<json::object>& rows) {
  std::set<std::string> out;
  for (const auto& r : rows)
    out.insert(std::string(r.at("client").as_string()));
  return out;
}

std::string label_of(const std::vector<json::object>& rows, const std::string& client) {
  for (const auto& r : rows) {
    if (r.at("client").as_string() == client) {
      const auto* l = r.if_contains("label");
      return l == nullptr ? std::string() : std::string(l->as_string());
    }
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("a caseload shows the caller's own clients, paged in a stable order, with its labels",
          "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  std::vector<std::string> mine;
  for (unsigned long long i = 0; i < 5; ++i) {
    auto r = ocmw.post("/v1/clients", registration(850101100 + i, R"(,"label":"Dossier )" +
                                                                      std::to_string(i) + R"(")"));
    REQUIRE(r.status == 201);
    mine.push_back(client_of(r));
  }
  // The same person at the CAW, with the CAW's own label.
  auto shared_person = caw.post("/v1/clients", registration(850101100, R"(,"label":"CAW-77")"));
  REQUIRE(shared_person.status == 201);
  const auto caw_client = client_of(shared_person);

  const auto rows = whole_caseload(ocmw);
  const auto seen = pseudonyms(rows);
  CHECK(seen.size() == rows.size());  // no row twice across pages
  for (std::size_t i = 0; i < mine.size(); ++i) {
    CHECK(seen.count(mine[i]) == 1);
    CHECK(label_of(rows, mine[i]) == "Dossier " + std::to_string(i));
  }
  CHECK(seen.count(caw_client) == 0);
  // The same order on a second pass, and the same rows as one big page.
  const auto again = whole_caseload(ocmw, {}, 200);
  REQUIRE(again.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    CHECK(again[i].at("client") == rows[i].at("client"));

  // The CAW's caseload: its client, its label, nothing of the OCMW's.
  auto caw_rows = whole_caseload(caw, {}, 200);
  CHECK(label_of(caw_rows, caw_client) == "CAW-77");
  for (const auto& m : mine)
    CHECK(pseudonyms(caw_rows).count(m) == 0);
  auto raw = caw.call("GET", "/v1/caseload?limit=200");
  CHECK(raw.body.find("Dossier ") == std::string::npos);
  auto ocmw_raw = ocmw.call("GET", "/v1/caseload?limit=200");
  CHECK(ocmw_raw.body.find("CAW-77") == std::string::npos);
}

TEST_CASE("the caseload is searched by label, exact or prefix, only within the caller's own",
          "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  auto a = client_of(ocmw.post("/v1/clients", registration(900202100, R"(,"label":"KV 2024-17")")));
  auto b =
      client_of(ocmw.post("/v1/clients", registration(900202101, R"(,"label":"KV 2024-170")")));
  auto c =
      client_of(ocmw.post("/v1/clients", registration(900202102, R"(,"label":"Élodie 2025")")));
  auto other =
      client_of(caw.post("/v1/clients", registration(900202103, R"(,"label":"KV 2024-17")")));

  auto prefix = pseudonyms(whole_caseload(ocmw, "&label=kv%202024-17"));
  CHECK(prefix == std::set<std::string>{a, b});
  auto exact = pseudonyms(whole_caseload(ocmw, "&label=KV%202024-17&match=exact"));
  CHECK(exact == std::set<std::string>{a});
  // Text beyond ASCII is searched through the search body (a URL carries only ASCII).
  auto accented = ocmw.post("/v1/caseload/search", R"({"label":"\u00c9lo","limit":200})");
  REQUIRE(accented.status == 200);
  const auto accented_body = body_json(accented);
  const auto& found = accented_body.at("clients").as_array();
  REQUIRE(found.size() == 1);
  CHECK(found[0].at("client").as_string() == c);
  CHECK(found[0].at("label") == "Élodie 2025");
  CHECK(whole_caseload(ocmw, "&label=zz").empty());
  // The CAW's own "KV 2024-17" answers only the CAW.
  CHECK(pseudonyms(whole_caseload(caw, "&label=KV%202024-17&match=exact")) ==
        std::set<std::string>{other});

  // Changing a label moves it in the index; removing it takes it out.
  REQUIRE(ocmw.call("PUT", "/v1/clients/" + b + "/label", R"({"label":"HB 9"})").status == 200);
  CHECK(pseudonyms(whole_caseload(ocmw, "&label=KV")) == std::set<std::string>{a});
  CHECK(pseudonyms(whole_caseload(ocmw, "&label=hb")) == std::set<std::string>{b});
  auto removed = ocmw.call("DELETE", "/v1/clients/" + b + "/label");
  REQUIRE(removed.status == 200);
  CHECK(body_json(removed).at("label").is_null());
  CHECK(whole_caseload(ocmw, "&label=hb").empty());
  CHECK(label_of(whole_caseload(ocmw, {}, 200), b).empty());
}

TEST_CASE("bad cursors, limits and labels get problem+json and change nothing", "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  auto mine = client_of(ocmw.post("/v1/clients", registration(770303100, R"(,"label":"Keep")")));
  const auto before = whole_caseload(ocmw, {}, 200);

  for (const auto& [target, code] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/caseload?limit=0", "invalid-limit"},
           {"/v1/caseload?limit=201", "invalid-limit"},
           {"/v1/caseload?limit=abc", "invalid-limit"},
           {"/v1/caseload?cursor=xyz", "invalid-cursor"},
           {"/v1/caseload?cursor=c1.12.P1%27", "invalid-cursor"},
           {"/v1/caseload?label=", "invalid-label"},
           {"/v1/caseload?label=" + std::string(41, 'a'), "invalid-label"},
           {"/v1/caseload?match=exact", "invalid-match"},
           {"/v1/caseload?label=a&match=fuzzy", "invalid-match"},
           {"/v1/caseload?sort=name", "unknown-parameter"},
       }) {
    INFO(target);
    auto r = ocmw.call("GET", target);
    CHECK(r.status == 400);
    CHECK(r.content_type.find("application/problem+json") == 0);
    CHECK(problem_code(r) == code);
  }
  // The search body: any text, the same checks.
  for (const auto& [body, code] : std::vector<std::pair<std::string, std::string>>{
           {R"({"label":"a\u0001b"})", "invalid-label"},
           {R"({"label":""})", "invalid-label"},
           {R"({"label":7})", "invalid-label"},
           {R"({"limit":0})", "invalid-limit"},
           {R"({"limit":"5"})", "invalid-limit"},
           {R"({"cursor":"c1.x.p1"})", "invalid-cursor"},
           {R"({"match":"exact"})", "invalid-match"},
           {R"({"sort":"name"})", "invalid-body"},
       }) {
    INFO(body);
    auto r = ocmw.post("/v1/caseload/search", body);
    CHECK(r.status >= 400);
    CHECK(problem_code(r) == code);
  }
  // A bad label on registration registers nothing.
  auto refused = ocmw.post("/v1/clients", registration(770303101, R"(,"label":"")"));
  CHECK(refused.status == 422);
  CHECK(problem_code(refused) == "invalid-label");
  auto refused2 = ocmw.post("/v1/clients", registration(770303101, R"(,"label":7)"));
  CHECK(problem_code(refused2) == "invalid-label");
  // A bad label or body on PUT leaves the old label.
  CHECK(problem_code(ocmw.call("PUT", "/v1/clients/" + mine + "/label",
                               R"({"label":")" + std::string(41, 'x') + R"("})")) ==
        "invalid-label");
  CHECK(problem_code(ocmw.call("PUT", "/v1/clients/" + mine + "/label", R"({"name":"x"})")) ==
        "invalid-body");
  // Another partner cannot label (or unlabel) the OCMW's client: the usual not-found.
  auto foreign = caw.call("PUT", "/v1/clients/" + mine + "/label", R"({"label":"Mine now"})");
  CHECK(foreign.status == 404);
  CHECK(problem_code(foreign) == "client-not-found");
  CHECK(caw.call("DELETE", "/v1/clients/" + mine + "/label").status == 404);

  auto own = ocmw.call("GET", "/v1/clients/" + mine + "/label");
  REQUIRE(own.status == 200);
  CHECK(body_json(own).at("label") == "Keep");
  CHECK(caw.call("GET", "/v1/clients/" + mine + "/label").status == 404);

  const auto after = whole_caseload(ocmw, {}, 200);
  REQUIRE(after.size() == before.size());
  CHECK(label_of(after, mine) == "Keep");
}

TEST_CASE("caseload reads and label changes are on the record, labels are in no log",
          "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker dpo(s.gateway, s.home.ocmw, "ocmw-dpo");
  auto mine = client_of(
      ocmw.post("/v1/clients", registration(660404100, R"(,"label":"CANARY-LABEL-314")")));
  REQUIRE(ocmw.call("GET", "/v1/caseload?label=CANARY-LABEL").status == 200);
  REQUIRE(ocmw.call("PUT", "/v1/clients/" + mine + "/label", R"({"label":"CANARY-LABEL-315"})")
              .status == 200);

  auto reads = dpo.call("GET", "/v1/audit/events?action=caseload-read&worker=ocmw-sw");
  REQUIRE(reads.status == 200);
  CHECK_FALSE(body_json(reads).at("events").as_array().empty());
  auto labels = dpo.call("GET", "/v1/audit/events?action=caseload-label&client=" + mine);
  REQUIRE(labels.status == 200);
  CHECK(body_json(labels).at("events").as_array().size() == 2);  // at registration, then PUT
  CHECK(reads.body.find("CANARY-LABEL") == std::string::npos);
  CHECK(labels.body.find("CANARY-LABEL") == std::string::npos);
  CHECK(read_text(s.home.log_file).find("CANARY-LABEL") == std::string::npos);
  CHECK(read_text(s.home.stderr_file).find("CANARY-LABEL") == std::string::npos);
}

TEST_CASE("the rule pack's vocabulary and the partners a consent may name are readable",
          "[integration]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  auto pack = ocmw.call("GET", "/v1/rule-pack");
  REQUIRE(pack.status == 200);
  const auto body = body_json(pack);
  bool housing = false;
  for (const auto& c : body.at("categories").as_array()) {
    if (c.at("name") == "housing") housing = true;
  }
  CHECK(housing);
  CHECK(body.at("limits").at("break_glass_reason_min_chars").as_int64() == 20);
  CHECK_FALSE(body.at("purposes").as_array().empty());
  auto partners = ocmw.call("GET", "/v1/partners");
  REQUIRE(partners.status == 200);
  const auto list = body_json(partners);
  std::set<std::string> ids;
  for (const auto& p : list.at("partners").as_array())
    ids.insert(std::string(p.at("id").as_string()));
  CHECK(ids.count("caw-brussel") == 1);
  CHECK(ids.count("closed-org") == 0);  // revoked
  CHECK(problem_code(ocmw.call("GET", "/v1/rule-pack?x=1")) == "unknown-parameter");
  Worker nobody(s.gateway, s.home.ocmw, "");
  CHECK(nobody.call("GET", "/v1/partners").status == 403);
}
