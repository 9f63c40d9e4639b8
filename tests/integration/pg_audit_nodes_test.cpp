// Two real sluisd nodes on one PostgreSQL database share one audit log: the integrator's node is
// killed with SIGKILL right after a burst of audited requests, the other node takes over the
// integration, and sluisctl audit verify passes over the whole log.
#include "pg_fixture.hpp"
#include "sluisd_harness.hpp"

#include "sluis/crypto/keyfile.hpp"
#include "sluis/domain/registry.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <thread>

using namespace sluis::test;
using sluis::gateway::testing::PgServer;
using sluis::gateway::testing::RawPg;

namespace {

std::string registration(unsigned long long person) {
  return R"({"identifier":{"scheme":"national-register","value":")" +
         national_register_number(person) + R"("}})";
}

/// `home`'s sector in a fresh database under its root key; `home` then runs on it.
std::string sector_in_postgresql(const GatewayHome& home) {
  const std::string conninfo = PgServer::instance().new_database();
  const auto root = sluis::crypto::read_root_key(home.dir.path() / "keys/root.key", {});
  REQUIRE(root);
  sluis::pgstore::PgOptions o;
  o.conninfo = conninfo;
  auto pg = sluis::pgstore::PgStorage::open(o, *root);
  REQUIRE(pg);
  sluis::domain::Registry r(**pg);
  REQUIRE(r.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
  REQUIRE(r.add_partner("caw-brussel", "caw", "CAW Brussel"));
  REQUIRE(r.add_worker("ocmw-brussel", "ocmw-sw", "social-worker"));
  REQUIRE(r.add_worker("caw-brussel", "caw-sw", "social-worker"));
  return conninfo;
}

/// Points `home` at the database (its SQLCipher files removed, so a fall-back would show).
void use_database(const GatewayHome& home, const std::string& conninfo) {
  for (const char* f : {"data/data.db", "data/data.db-wal", "data/data.db-shm", "data/keys.db",
                        "data/keys.db-wal", "data/keys.db-shm"}) {
    fs::remove(home.dir.path() / f);
  }
  std::ofstream(home.config_path, std::ios::app)
      << "[store]\nengine = \"postgresql\"\nconninfo = \"" << conninfo << "\"\npool_size = 2\n";
}

/// The second node: a home of its own (port, log, operator socket, server certificate) with the
/// first one's root key and partner CA, so the same partners' certificates are admitted by both.
void same_gateway(const GatewayHome& from, const GatewayHome& to) {
  for (const char* f : {"keys/root.key", "tls/ca.crt", "tls/revoked.txt"}) {
    fs::copy_file(from.dir.path() / f, to.dir.path() / f, fs::copy_options::overwrite_existing);
  }
}

std::int64_t number(RawPg& raw, const std::string& sql) {
  const auto rows = raw.column(sql);
  REQUIRE(rows.size() == 1);
  return std::stoll(std::string(rows[0].begin(), rows[0].end()));
}

std::pair<int, std::string> sluisctl(const std::string& args) {
  std::string out;
  FILE* p = ::popen((std::string(SLUISCTL_PATH) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  return {::pclose(p), out};
}

const std::string kIntegratorHolders =
    "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
    "((classid::bigint << 32) | objid::bigint) = " +
    std::to_string(0x736c756973000002LL);

}  // namespace

TEST_CASE("sluisd on PostgreSQL, two nodes: the integrator's node killed with SIGKILL, the other "
          "integrates everything and the whole log verifies",
          "[integration][postgresql][audit]") {
  GatewayHome home_a;
  GatewayHome home_b;
  same_gateway(home_a, home_b);
  const std::string conninfo = sector_in_postgresql(home_a);
  use_database(home_a, conninfo);
  use_database(home_b, conninfo);
  RawPg raw(conninfo);

  Sluisd a(home_a);
  REQUIRE(a.wait_ready());
  // A started alone: it holds the integrator lock before B starts.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (number(raw, kIntegratorHolders) != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(number(raw, kIntegratorHolders) == 1);
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
  const auto acknowledged_by_a = number(raw, "SELECT next::text FROM audit_sequence");
  a.signal(SIGKILL);
  REQUIRE(a.exited(10s));

  // B takes the lock over and integrates what A sequenced, then what B appends itself.
  Worker caw_b(b, home_a.caw, "caw-sw");
  for (int i = 0; i < 10; ++i)
    CHECK(caw_b.get("/v1/clients/" + at_b + "/dossier").status == 200);
  const auto all = number(raw, "SELECT next::text FROM audit_sequence");
  CHECK(all > acknowledged_by_a);
  const auto until = std::chrono::steady_clock::now() + 15s;
  while (number(raw, "SELECT size::text FROM audit_tree") != all &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(number(raw, "SELECT size::text FROM audit_tree") == all);
  CHECK(number(raw, kIntegratorHolders) == 1);  // B's session now
  CHECK(number(raw, "SELECT count(*)::text FROM audit_event") == all);
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
