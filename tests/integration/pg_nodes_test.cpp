// Two real sluisd nodes on one PostgreSQL database (issue 16), over real mTLS: a write on one is
// readable on the other at once; a consent withdrawal, a worker disabled, a partner revoked or a
// client erased on one node is in force on the other at its very next request, with the other's
// caches warm; and PostgreSQL stopped under load answers 503 problem+json, acknowledges nothing
// that is not durable, and service comes back by itself when the database does.
#include "pg_two_nodes.hpp"

#include "sluis/ops/operator_channel.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace sluis::test;

namespace {

std::string member(const Response& r, const char* name) {
  const auto v = body_json(r);
  if (!v.is_object()) return {};
  const auto* m = v.as_object().if_contains(name);
  return m != nullptr && m->is_string() ? std::string(m->as_string()) : std::string();
}

std::size_t fragments_in(const Response& r) {
  REQUIRE(r.status == 200);
  return body_json(r).at("fragments").as_array().size();
}

/// One operator act on a running node (what sluisctl sends over its operator socket).
std::string operator_act(const GatewayHome& home, const std::string& request) {
  auto call = sluis::ops::call_operator_channel(home.dir.path() / "run/operator.sock", request,
                                                std::chrono::seconds(30));
  REQUIRE(call.outcome == sluis::ops::OperatorCall::Outcome::answered);
  return call.answer;
}

}  // namespace

TEST_CASE("two sluisd nodes on PostgreSQL: a change made on one is in force on the other at its "
          "very next request",
          "[integration][postgresql][nodes]") {
  GatewayHome home_a;
  GatewayHome home_b;
  two_nodes_on_postgresql(home_a, home_b);
  Sluisd a(home_a);
  Sluisd b(home_b);
  REQUIRE(a.wait_ready());
  REQUIRE(b.wait_ready());
  REQUIRE(a.port() != b.port());
  Worker ocmw_a(a, home_a.ocmw, "ocmw-sw");
  Worker coord_a(a, home_a.ocmw, "ocmw-coord");
  Worker caw_b(b, home_a.caw, "caw-sw");
  Worker caw2_b(b, home_a.caw, "caw-sw2");
  Worker ocmw_b(b, home_a.ocmw, "ocmw-sw");

  // A client registered on A is the same client on B; a fragment and a consent written on A
  // are read on B at once.
  const auto reg = ocmw_a.post("/v1/clients", registration(850505505));
  REQUIRE(reg.status == 201);
  const std::string at_ocmw = member(reg, "client");
  const auto reg_b = caw_b.post("/v1/clients", registration(850505505));
  REQUIRE(reg_b.status == 201);  // new for the CAW; the same person as on A
  const std::string at_caw = member(reg_b, "client");
  REQUIRE(ocmw_a
              .post("/v1/clients/" + at_ocmw + "/fragments",
                    R"({"category":"housing","fields":{"situation":"NODES-A-1"}})")
              .status == 201);
  const std::string dossier = "/v1/clients/" + at_caw + "/dossier";
  CHECK(fragments_in(caw_b.get(dossier)) == 0);  // no consent yet
  const auto granted = ocmw_a.post("/v1/clients/" + at_ocmw + "/consents", consent_for_caw());
  REQUIRE(granted.status == 201);
  const std::string consent_id = member(granted, "consent");
  REQUIRE_FALSE(consent_id.empty());

  // B's caches are warm: the partner table, the parsed consent, the data key of the fragment.
  for (int i = 0; i < 3; ++i) {
    const auto read = caw_b.get(dossier);
    REQUIRE(fragments_in(read) == 1);
    CHECK(read.body.find("NODES-A-1") != std::string::npos);
  }
  // (b) a second write on A is in B's very next read.
  REQUIRE(ocmw_a
              .post("/v1/clients/" + at_ocmw + "/fragments",
                    R"({"category":"housing","fields":{"situation":"NODES-A-2"}})")
              .status == 201);
  {
    const auto read = caw_b.get(dossier);
    CHECK(fragments_in(read) == 2);
    CHECK(read.body.find("NODES-A-2") != std::string::npos);
  }

  SECTION("the consent withdrawn on A: B's very next read is refused the fragments") {
    const auto withdrawn =
        ocmw_a.call("DELETE", "/v1/clients/" + at_ocmw + "/consents/" + consent_id);
    REQUIRE(withdrawn.status == 200);
    const auto read = caw_b.get(dossier);
    CHECK(fragments_in(read) == 0);
    CHECK(read.body.find("NODES-A") == std::string::npos);
  }
  SECTION("a worker disabled on A: B refuses the worker's very next request") {
    const auto answer = operator_act(
        home_a, R"({"op":"worker.disable","partner":"caw-brussel","worker":"caw-sw"})");
    REQUIRE(answer.starts_with(R"({"ok":true)"));
    const auto read = caw_b.get(dossier);
    CHECK(read.status == 403);
    CHECK(problem_code(read) == "inactive-worker");
    CHECK(read.body.find("NODES-A") == std::string::npos);
    CHECK(fragments_in(caw2_b.get(dossier)) == 2);  // the partner's other worker still reads
  }
  SECTION("a partner revoked on A: B refuses the partner's very next request") {
    const auto answer = operator_act(home_a, R"({"op":"partner.revoke","id":"caw-brussel"})");
    REQUIRE(answer.starts_with(R"({"ok":true)"));
    const auto read = caw_b.get(dossier);
    CHECK(read.status == 403);
    CHECK(problem_code(read) == "partner-revoked");
    CHECK(read.body.find("NODES-A") == std::string::npos);
    CHECK(fragments_in(ocmw_b.get("/v1/clients/" + at_ocmw + "/dossier")) == 2);  // others go on
  }
  SECTION("a client erased on A: B's very next read finds no such client") {
    const auto erased = coord_a.call("DELETE", "/v1/clients/" + at_ocmw);
    REQUIRE(erased.status == 200);
    const auto read = caw_b.get(dossier);
    CHECK(read.status == 404);
    CHECK(problem_code(read) == "client-not-found");
    CHECK(read.body.find("NODES-A") == std::string::npos);
    const auto consents = caw_b.get("/v1/clients/" + at_caw + "/consents");
    CHECK(consents.status == 404);
  }
  SECTION("a worker disabled on B: A refuses it too (either way round)") {
    const auto answer = operator_act(
        home_b, R"({"op":"worker.disable","partner":"ocmw-brussel","worker":"ocmw-sw"})");
    REQUIRE(answer.starts_with(R"({"ok":true)"));
    const auto write = ocmw_a.post("/v1/clients/" + at_ocmw + "/fragments",
                                   R"({"category":"housing","fields":{"situation":"late"}})");
    CHECK(write.status == 403);
    CHECK(problem_code(write) == "inactive-worker");
  }
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  CHECK(a.exited(10s));
  CHECK(b.exited(10s));
}

TEST_CASE("two sluisd nodes on PostgreSQL: a rule pack reloaded and a certificate revoked on "
          "one are in force on the other",
          "[integration][postgresql][nodes][shared]") {
  GatewayHome home_a;
  GatewayHome home_b;
  two_nodes_on_postgresql(home_a, home_b);
  Sluisd a(home_a);
  Sluisd b(home_b);
  REQUIRE(a.wait_ready());
  REQUIRE(b.wait_ready());
  Worker ocmw_a(a, home_a.ocmw, "ocmw-sw");
  Worker caw_b(b, home_a.caw, "caw-sw");
  const auto reg = ocmw_a.post("/v1/clients", registration(850808808));
  REQUIRE(reg.status == 201);
  const std::string at_ocmw = member(reg, "client");
  const auto reg_b = caw_b.post("/v1/clients", registration(850808808));
  REQUIRE(reg_b.status == 201);
  const std::string dossier = "/v1/clients/" + member(reg_b, "client") + "/dossier";
  REQUIRE(ocmw_a
              .post("/v1/clients/" + at_ocmw + "/fragments",
                    R"({"category":"housing","fields":{"situation":"SHARED-1"}})")
              .status == 201);
  REQUIRE(ocmw_a.post("/v1/clients/" + at_ocmw + "/consents", consent_for_caw()).status == 201);
  for (int i = 0; i < 2; ++i)
    REQUIRE(fragments_in(caw_b.get(dossier)) == 1);  // B's rule pack and caches warm

  SECTION("a rule pack reloaded on A: B's very next request is judged by it") {
    // The sector decides that social workers no longer read housing for care coordination.
    std::string pack = read_text(home_a.rules_path);
    const std::string before =
        R"(housing = { consent = ["care-coordination", "referral", "administration"] })";
    const auto at = pack.find(before);
    REQUIRE(at != std::string::npos);
    pack.replace(at, before.size(), R"(housing = { consent = ["referral", "administration"] })");
    const auto version = pack.find(R"(version = "2025.1")");
    REQUIRE(version != std::string::npos);
    pack.replace(version, 18, R"(version = "2025.2")");
    write_text(home_a.rules_path, pack);
    const auto answer = operator_act(home_a, R"({"op":"policy.reload"})");
    REQUIRE(answer.starts_with(R"({"ok":true)"));
    CHECK(answer.find("2025.2") != std::string::npos);
    // B's file is the old one; what counts is the pack stored in the database.
    const auto read = caw_b.get(dossier);
    CHECK(fragments_in(read) == 0);
    CHECK(read.body.find("SHARED-1") == std::string::npos);
    CHECK(read_text(home_b.rules_path).find(before) != std::string::npos);
    // B restarted takes the stored pack, not its own file.
    b.signal(SIGTERM);
    REQUIRE(b.exited(10s));
    Sluisd b_again(home_b);
    REQUIRE(b_again.wait_ready());
    Worker caw_b_again(b_again, home_a.caw, "caw-sw");
    CHECK(fragments_in(caw_b_again.get(dossier)) == 0);
  }
  SECTION("a partner's certificate revoked on A: B's TLS refuses it within a second or two") {
    {
      auto c = b.client(&home_a.caw);
      REQUIRE_FALSE(c.connect());
      const auto healthz = c.request("GET", "/healthz");
      REQUIRE(healthz);
      REQUIRE(healthz->status == 200);
    }
    const auto answer =
        operator_act(home_a, R"({"op":"partner.revoke","id":"caw-brussel","serial":")" +
                                 home_a.caw.certificate.serial_hex() + R"("})");
    REQUIRE(answer.starts_with(R"({"ok":true)"));
    // On B's open connection, the next /v1 request is refused at once.
    const auto read = caw_b.get(dossier);
    CHECK(read.status == 403);
    CHECK(read.body.find("SHARED-1") == std::string::npos);
    // /healthz needs only the certificate: it is refused once B's transport has the serial,
    // which its listener reads twice a second.
    const auto revoked_at = std::chrono::steady_clock::now();
    bool refused = false;
    while (!refused && std::chrono::steady_clock::now() - revoked_at < 3s) {
      auto c = b.client(&home_a.caw);
      refused = c.connect() || !c.request("GET", "/healthz");
      if (!refused) std::this_thread::sleep_for(50ms);
    }
    CHECK(refused);
    // The other partners' certificates still connect.
    auto ocmw = b.client(&home_a.ocmw);
    REQUIRE_FALSE(ocmw.connect());
    const auto ok = ocmw.request("GET", "/healthz");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
}

TEST_CASE("two sluisd nodes on PostgreSQL: the database stopped under load answers 503, "
          "acknowledges only what is durable, and service resumes by itself",
          "[integration][postgresql][nodes][outage]") {
  GatewayHome home_a;
  GatewayHome home_b;
  const std::string conninfo = two_nodes_on_postgresql(home_a, home_b);
  Sluisd a(home_a);
  Sluisd b(home_b);
  REQUIRE(a.wait_ready());
  REQUIRE(b.wait_ready());
  // A client per node: two nodes adding to one client's dossier at the same instant may be
  // told 503 "try again" by SERIALIZABLE (its fragments' numbering), which is not the outage.
  std::map<std::string, std::string> client_of_node;
  {
    Worker w(a, home_a.ocmw, "ocmw-sw");
    for (const auto& [name, person] :
         {std::pair{"a", 850606606ULL}, std::pair{"b", 850707707ULL}}) {
      const auto reg = w.post("/v1/clients", registration(person));
      REQUIRE(reg.status == 201);
      client_of_node[name] = member(reg, "client");
    }
  }
  auto fragments_of = [&](const std::string& node) {
    return "/v1/clients/" + client_of_node.at(node) + "/fragments";
  };
  auto dossier_of = [&](const std::string& node) {
    return "/v1/clients/" + client_of_node.at(node) + "/dossier";
  };

  // Phases, by the load's clock: before the stop, the outage, after the database is back.
  enum Phase : int { before = 0, outage = 1, after = 2, done = 3 };
  std::atomic<int> phase{before};
  std::mutex mutex;
  std::set<std::string> acknowledged;       // canaries of every write answered 201
  std::vector<std::string> unexpected;      // any answer that is neither 2xx nor the documented 503
  std::array<std::atomic<int>, 4> ok_in{};  // by Phase
  std::array<std::atomic<int>, 4> refused_in{};

  // One bounded client loop per node: a write, then a read, on one keep-alive connection each.
  // No Catch2 assertion in these threads (Catch2 2 is not thread-safe): what they see is
  // collected and checked after they end.
  auto load = [&](Sluisd& node, const char* name) {
    const std::string fragments = fragments_of(name);
    const std::string dossier = dossier_of(name);
    TlsClient c = node.client(&home_a.ocmw);
    if (c.connect()) {
      std::lock_guard lock(mutex);
      unexpected.push_back(std::string("no connection to node ") + name);
      return;
    }
    const std::vector<std::pair<std::string, std::string>> headers{
        {"Sluis-Worker", "ocmw-sw"}, {"Sluis-Purpose", "care-coordination"}};
    // An answer counts in the phase its request started in, a refusal in the phase it arrived
    // in: the phase becomes `outage` before the stop begins, so a refusal that arrives while it
    // is still `before` is one the database's stop did not cause.
    auto send = [&](const std::string& method, const std::string& target,
                    const std::string& body) -> std::optional<Response> {
      const auto started = static_cast<std::size_t>(phase.load());
      auto r = c.request(method, target, body, headers);
      if (!r) return r;
      if (r->status == 201 || r->status == 200) {
        ++ok_in[started];
      } else if (r->status == 503 &&
                 (problem_code(*r) == "storage-unavailable" ||
                  problem_code(*r) == "audit-unavailable") &&
                 r->content_type.starts_with("application/problem+json")) {
        // The records or the audit log (both in the database): whichever the request met
        // first when the database went away; both say nothing was done.
        ++refused_in[static_cast<std::size_t>(phase.load())];
      } else {
        std::lock_guard lock(mutex);
        unexpected.push_back(std::to_string(r->status) + " " + r->body.substr(0, 200));
      }
      return r;
    };
    for (int i = 0; i < 2000 && phase.load() != done; ++i) {
      const std::string canary = std::string("LOAD-") + name + "-" + std::to_string(i);
      const auto wrote = send("POST", fragments,
                              R"({"category":"housing","fields":{"situation":")" + canary + "\"}}");
      const auto read = wrote ? send("GET", dossier, {}) : std::nullopt;
      if (!wrote || !read) {
        std::lock_guard lock(mutex);
        unexpected.push_back(std::string("connection to node ") + name + " lost");
        return;
      }
      if (wrote->status == 201) {
        std::lock_guard lock(mutex);
        acknowledged.insert(canary);
      }
      std::this_thread::sleep_for(10ms);
    }
  };
  std::thread on_a([&] { load(a, "a"); });
  std::thread on_b([&] { load(b, "b"); });
  auto wait_until = [](const auto& done_when, std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done_when() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(20ms);
    }
    return done_when();
  };
  CHECK(wait_until([&] { return ok_in[before].load() >= 20; }, 30s));
  phase = outage;  // from here on a refusal is expected (the stop takes a moment)
  PgServer::instance().stop_for_test();  // pg_ctl stop -m fast, mid-run
  CHECK(wait_until([&] { return refused_in[outage].load() >= 10; }, 30s));
  PgServer::instance().start_again();
  phase = after;
  // Neither sluisd is restarted: both serve again once the database is back.
  const bool resumed = wait_until([&] { return ok_in[after].load() >= 20; }, 60s);
  phase = done;
  on_a.join();
  on_b.join();
  CHECK(resumed);
  INFO("answered before " << ok_in[before] << ", refused in the outage " << refused_in[outage]
                          << ", answered after " << ok_in[after]);
  std::string seen;
  for (const auto& u : unexpected)
    seen += u + "\n";
  INFO(seen);
  CHECK(unexpected.empty());
  CHECK(refused_in[outage].load() >= 10);
  CHECK(refused_in[before].load() == 0);

  // Every write answered 201 is in the database and readable from both nodes.
  REQUIRE_FALSE(acknowledged.empty());
  for (Sluisd* node : {&a, &b}) {
    Worker reader(*node, home_a.ocmw, "ocmw-sw");
    const auto read_a = reader.get(dossier_of("a"));
    const auto read_b = reader.get(dossier_of("b"));
    REQUIRE(read_a.status == 200);
    REQUIRE(read_b.status == 200);
    std::size_t missing = 0;
    for (const auto& canary : acknowledged) {
      const auto& read = canary.starts_with("LOAD-a-") ? read_a : read_b;
      if (read.body.find("\"" + canary + "\"") == std::string::npos) ++missing;
    }
    CHECK(missing == 0);
  }
  RawPg raw(conninfo);
  CHECK(raw.column("SELECT 1 FROM fragments").size() >= acknowledged.size());
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  CHECK(a.exited(10s));
  CHECK(b.exited(10s));
}
