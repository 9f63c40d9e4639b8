// Two real sluisd nodes on one PostgreSQL database share one audit log: the integrator's node is
// killed with SIGKILL right after a burst of audited requests, the other node takes over the
// integration, and sluisctl audit verify passes over the whole log.
#include "pg_two_nodes.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace sluis::test;

TEST_CASE("sluisd on PostgreSQL, two nodes: the integrator's node killed with SIGKILL, the other "
          "integrates everything and the whole log verifies",
          "[integration][postgresql][audit]") {
  GatewayHome home_a;
  GatewayHome home_b;
  const std::string conninfo = two_nodes_on_postgresql(home_a, home_b);
  RawPg raw(conninfo);

  Sluisd a(home_a);
  REQUIRE(a.wait_ready());
  // A started alone: it holds the integrator lock before B starts.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (pg_number(raw, kIntegratorHolders) != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(pg_number(raw, kIntegratorHolders) == 1);
  Sluisd b(home_b);
  REQUIRE(b.wait_ready());

  std::string at_b;
  {
    Worker ocmw_a(a, home_a.ocmw, "ocmw-sw");
    Worker caw_b(b, home_a.caw, "caw-sw");
    for (unsigned long long i = 0; i < 10; ++i) {
      REQUIRE(ocmw_a.post("/v1/clients", registration(850606101 + i)).status == 201);
      const auto r = caw_b.post("/v1/clients", registration(850606101 + i));
      REQUIRE((r.status == 200 || r.status == 201));
      at_b = std::string(body_json(r).at("client").as_string());
    }
    // A burst of audited reads on A, answered (so durable), then A is killed at once.
    for (int i = 0; i < 20; ++i)
      CHECK(Worker(a, home_a.caw, "caw-sw").get("/v1/clients/" + at_b + "/dossier").status == 200);
  }
  const auto acknowledged_by_a = pg_number(raw, "SELECT next::text FROM audit_sequence");
  a.signal(SIGKILL);
  REQUIRE(a.exited(10s));

  // B takes the lock over and integrates what A sequenced, then what B appends itself.
  Worker caw_b(b, home_a.caw, "caw-sw");
  for (int i = 0; i < 10; ++i)
    CHECK(caw_b.get("/v1/clients/" + at_b + "/dossier").status == 200);
  const auto all = pg_number(raw, "SELECT next::text FROM audit_sequence");
  CHECK(all > acknowledged_by_a);
  const auto until = std::chrono::steady_clock::now() + 15s;
  while (pg_number(raw, "SELECT size::text FROM audit_tree") != all &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(pg_number(raw, "SELECT size::text FROM audit_tree") == all);
  CHECK(pg_number(raw, kIntegratorHolders) == 1);  // B's session now
  CHECK(pg_number(raw, "SELECT count(*)::text FROM audit_event") == all);
  // A witness's checkpoint from B covers everything (signed within the checkpoint interval).
  bool covered = false;
  for (int i = 0; i < 100 && !covered; ++i) {
    const auto checkpoint = caw_b.get("/v1/audit/checkpoint");
    REQUIRE(checkpoint.status == 200);
    covered = checkpoint.body.find("\n" + std::to_string(all) + "\n") != std::string::npos;
    if (!covered) std::this_thread::sleep_for(100ms);
  }
  CHECK(covered);

  const auto [status, out] =
      sluisctl("audit verify --key " + (home_b.dir.path() / "keys/root.key").string() +
               " --config " + home_b.config_path.string());
  INFO(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("The audit log verifies: " + std::to_string(all) + " events"));
}
