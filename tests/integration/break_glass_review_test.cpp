// Integration tests: the break-the-glass review (GET /v1/break-glass, POST
// /v1/break-glass/{grant}/review) and the partner's workers (GET /v1/workers) on the real sluisd
// over mTLS.
#include "sluisd_harness.hpp"

#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

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

std::string registration(unsigned long long person) {
  return R"({"identifier":{"scheme":"national-register","value":")" +
         national_register_number(person) + R"("}})";
}

std::string client_of(const Response& r) {
  REQUIRE(r.status == 201);
  return std::string(body_json(r).at("client").as_string());
}

/// A grant of `breaker` on a client that `owner` registered and wrote a contact fragment for,
/// with one read under it.
struct Emergency {
  std::string grant;
  std::string at_owner;    ///< the owner's pseudonym for the client
  std::string at_breaker;  ///< the breaker's
};

Emergency emergency(Worker& owner, Worker& breaker, unsigned long long person) {
  Emergency e;
  e.at_owner = client_of(owner.post("/v1/clients", registration(person)));
  e.at_breaker = client_of(breaker.post("/v1/clients", registration(person)));
  REQUIRE(owner.post("/v1/clients/" + e.at_owner + "/fragments",
                     R"({"category":"contact","fields":{"phone":"0470 11 22 33"}})")
              .status == 201);
  auto granted = breaker.post("/v1/clients/" + e.at_breaker + "/break-glass",
                              R"({"categories":["contact"],"reason":"CANARY-BTG-REVIEW-REASON )"
                              R"(client unconscious, family must be reached","minutes":60})");
  REQUIRE(granted.status == 201);
  e.grant = std::string(body_json(granted).at("grant").as_string());
  auto read = breaker.get("/v1/clients/" + e.at_breaker + "/dossier", "emergency");
  REQUIRE(read.status == 200);
  REQUIRE(body_json(read).at("fragments").as_array().size() == 1);
  return e;
}

/// The grant `id` in a GET /v1/break-glass answer (every page), or null.
json::object find_grant(Worker& dpo, const std::string& id) {
  std::string target = "/v1/break-glass?limit=5";
  for (int pages = 0; pages < 100; ++pages) {
    auto r = dpo.get(target);
    INFO(r.body);
    REQUIRE(r.status == 200);
    const auto body = body_json(r);
    for (const auto& g : body.at("grants").as_array()) {
      if (g.at("grant").as_string() == id) return g.as_object();
    }
    if (!body.as_object().contains("next")) break;
    target = "/v1/break-glass?limit=5&cursor=" + std::to_string(body.at("next").as_int64());
  }
  return {};
}

std::string review_body(const std::string& outcome, const std::string& note) {
  return R"({"outcome":")" + outcome + R"(","note":")" + note + R"("})";
}

}  // namespace

TEST_CASE("break-the-glass review: the DPOs concerned see the grant and its accesses; one "
          "review per organisation, audited",
          "[integration][break-glass-review]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker nurse(s.gateway, s.home.thuiszorg, "tz-nurse");
  Worker ocmw_dpo(s.gateway, s.home.ocmw, "ocmw-dpo");
  Worker tz_dpo(s.gateway, s.home.thuiszorg, "tz-dpo");
  // Catch runs the test case once per section: one emergency for all of them.
  static const Emergency e = emergency(ocmw, nurse, 790101123);

  // The owner's DPO (it serves the client) sees the grant under its own pseudonym, with the
  // read made under it, but not the nurse's written reason.
  auto seen = find_grant(ocmw_dpo, e.grant);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.at("client").as_string() == e.at_owner);
  CHECK(seen.at("partner").as_string() == "thuiszorg");
  CHECK(seen.at("worker").as_string() == "tz-nurse");
  CHECK(seen.at("active").as_bool());
  CHECK_FALSE(seen.contains("reason"));
  REQUIRE(seen.at("accesses").as_array().size() == 1);
  const auto& access = seen.at("accesses").as_array()[0].as_object();
  CHECK(access.at("worker").as_string() == "tz-nurse");
  CHECK(access.at("purpose").as_string() == "emergency");
  CHECK(access.at("owner_partner").as_string() == "ocmw-brussel");
  CHECK_FALSE(seen.at("reviewed").as_bool());
  // The breaker's DPO sees the reason of its own worker's grant, under its own pseudonym.
  auto own = find_grant(tz_dpo, e.grant);
  REQUIRE_FALSE(own.empty());
  CHECK(own.at("client").as_string() == e.at_breaker);
  REQUIRE(own.contains("reason"));
  CHECK(std::string(own.at("reason").as_string()).starts_with("CANARY-BTG-REVIEW-REASON"));

  const std::string path = "/v1/break-glass/" + e.grant + "/review";
  SECTION("a social worker may neither list nor review") {
    auto list = ocmw.get("/v1/break-glass");
    CHECK(list.status == 403);
    CHECK(problem_code(list) == "not-permitted");
    auto review = ocmw.post(path, review_body("justified", "looks fine"));
    CHECK(review.status == 403);
    CHECK(problem_code(review) == "not-permitted");
    CHECK(find_grant(ocmw_dpo, e.grant).at("reviews").as_array().empty());
  }
  SECTION("bad input gets a problem and changes nothing") {
    for (const auto& [body, status, code] : std::vector<std::tuple<std::string, int, std::string>>{
             {review_body("fine", "a note"), 422, "unknown-outcome"},
             {R"({"note":"a note"})", 422, "unknown-outcome"},
             {review_body("justified", ""), 422, "note-missing"},
             {R"({"outcome":"justified"})", 422, "note-missing"},
             {review_body("justified", std::string(4001, 'x')), 422, "note-too-long"},
             {review_body("justified", "bell\\u0007"), 422, "invalid-body"},
             {R"({"outcome":"justified","note":"n","extra":1})", 422, "invalid-body"},
             {"[1]", 422, "invalid-body"},
             {"{", 400, "malformed-json"},
         }) {
      auto r = ocmw_dpo.post(path, body);
      INFO(body << " → " << r.status << " " << r.body);
      CHECK(r.status == status);
      CHECK(problem_code(r) == code);
      CHECK(r.content_type.starts_with("application/problem+json"));
    }
    auto after = find_grant(ocmw_dpo, e.grant);
    CHECK_FALSE(after.at("reviewed").as_bool());
    CHECK(after.at("reviews").as_array().empty());
    // Unknown and malformed grant ids and bad paging: refused.
    CHECK(problem_code(ocmw_dpo.post("/v1/break-glass/0123456789abcdef0123456789abcdef/review",
                                     review_body("justified", "n"))) == "grant-not-found");
    CHECK(problem_code(ocmw_dpo.post("/v1/break-glass/not-a-grant/review",
                                     review_body("justified", "n"))) == "grant-not-found");
    CHECK(problem_code(ocmw_dpo.get("/v1/break-glass?limit=0")) == "invalid-parameter");
    CHECK(problem_code(ocmw_dpo.get("/v1/break-glass?cursor=x")) == "invalid-parameter");
    CHECK(problem_code(ocmw_dpo.get("/v1/break-glass?client=p1")) == "unknown-parameter");
  }
  SECTION("the DPO reviews; a second review is refused; the review is an audit event") {
    const std::string note = "CANARY-REVIEW-NOTE asked the team lead: the client was unconscious";
    auto r = ocmw_dpo.post(path, review_body("justified", note));
    INFO(r.body);
    REQUIRE(r.status == 201);
    CHECK(body_json(r).at("outcome").as_string() == "justified");
    auto again = ocmw_dpo.post(path, review_body("not-justified", "changed my mind"));
    CHECK(again.status == 409);
    CHECK(problem_code(again) == "already-reviewed");

    auto after = find_grant(ocmw_dpo, e.grant);
    CHECK(after.at("reviewed").as_bool());
    REQUIRE(after.at("reviews").as_array().size() == 1);
    const auto& review = after.at("reviews").as_array()[0].as_object();
    CHECK(review.at("outcome").as_string() == "justified");
    CHECK(review.at("partner").as_string() == "ocmw-brussel");
    CHECK(review.at("worker").as_string() == "ocmw-dpo");
    CHECK(review.at("note").as_string() == note);
    // The other organisation sees that it was reviewed and how, not the note; its own review
    // is still to do.
    auto other = find_grant(tz_dpo, e.grant);
    CHECK_FALSE(other.at("reviewed").as_bool());
    REQUIRE(other.at("reviews").as_array().size() == 1);
    CHECK_FALSE(other.at("reviews").as_array()[0].as_object().contains("note"));
    REQUIRE(tz_dpo.post(path, review_body("needs-follow-up", "to discuss with the nurse")).status ==
            201);

    auto events = ocmw_dpo.get("/v1/audit/events?action=break-glass-review&limit=1000");
    REQUIRE(events.status == 200);
    std::size_t found = 0;
    const auto listed = body_json(events);
    for (const auto& v : listed.at("events").as_array()) {
      const auto& ev = v.as_object();
      if (ev.at("rule").as_string() == "break-glass.review:" + e.grant + ":justified") {
        ++found;
        CHECK(ev.at("worker").as_string() == "ocmw-dpo");
        CHECK(ev.at("decision").as_string() == "permit");
        CHECK(ev.at("break_glass").as_bool());
      }
    }
    CHECK(found == 1);
    // The second, refused review is on the record as a refusal.
    CHECK(events.body.find("request.already-reviewed") != std::string::npos);
    // The grant's organisation sees the reviews of its grant too.
    auto tz_events = tz_dpo.get("/v1/audit/events?action=break-glass-review&limit=1000");
    CHECK(tz_events.body.find("break-glass.review:" + e.grant + ":justified") !=
          std::string::npos);
    // Neither the note nor the reason ever reaches sluisd's log.
    const auto log = read_text(s.home.log_file);
    CHECK(log.find("CANARY-REVIEW-NOTE") == std::string::npos);
    CHECK(log.find("CANARY-BTG-REVIEW-REASON") == std::string::npos);
  }
}

TEST_CASE("break-the-glass review: another organisation's grant is not found",
          "[integration][break-glass-review]") {
  auto& s = shared();
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  Worker tz_dpo(s.gateway, s.home.thuiszorg, "tz-dpo");
  Worker ocmw_dpo(s.gateway, s.home.ocmw, "ocmw-dpo");
  // The CAW breaks the glass on a client of the OCMW; the home-care service has nothing to do
  // with it.
  const auto e = emergency(ocmw, caw, 800202456);
  CHECK(find_grant(tz_dpo, e.grant).empty());
  auto r = tz_dpo.post("/v1/break-glass/" + e.grant + "/review",
                       review_body("not-justified", "not ours"));
  CHECK(r.status == 404);
  CHECK(problem_code(r) == "grant-not-found");
  // Same answer as for a grant that does not exist; and nothing was recorded as a review.
  CHECK(find_grant(ocmw_dpo, e.grant).at("reviews").as_array().empty());
}

TEST_CASE("GET /v1/workers: the caller's own organisation's workers only",
          "[integration][workers]") {
  auto& s = shared();
  auto names = [](Worker& w) {
    auto r = w.get("/v1/workers");
    INFO(r.body);
    REQUIRE(r.status == 200);
    std::map<std::string, std::pair<std::string, bool>> out;
    const auto body = body_json(r);
    for (const auto& v : body.at("workers").as_array()) {
      const auto& o = v.as_object();
      out[std::string(o.at("worker").as_string())] = {std::string(o.at("role").as_string()),
                                                      o.at("active").as_bool()};
    }
    return out;
  };
  Worker ocmw(s.gateway, s.home.ocmw, "ocmw-sw");
  Worker caw(s.gateway, s.home.caw, "caw-sw");
  const auto at_ocmw = names(ocmw);
  CHECK(at_ocmw.at("ocmw-sw") == std::pair<std::string, bool>{"social-worker", true});
  CHECK(at_ocmw.at("ocmw-dpo") == std::pair<std::string, bool>{"dpo", true});
  CHECK(at_ocmw.at("ocmw-gone") == std::pair<std::string, bool>{"social-worker", false});
  CHECK_FALSE(at_ocmw.contains("caw-sw"));
  CHECK_FALSE(at_ocmw.contains("tz-nurse"));
  const auto at_caw = names(caw);
  CHECK(at_caw.contains("caw-sw"));
  for (const auto& [id, _] : at_caw)
    CHECK_FALSE(id.starts_with("ocmw-"));
  CHECK(problem_code(ocmw.get("/v1/workers?partner=caw-brussel")) == "unknown-parameter");
  // A disabled worker cannot list anyone.
  Worker gone(s.gateway, s.home.ocmw, "ocmw-gone");
  CHECK(gone.get("/v1/workers").status == 403);
}
