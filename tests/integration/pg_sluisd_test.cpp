// sluisd on the PostgreSQL engine ([store] engine = "postgresql"): the real daemon over real mTLS
// against a real PostgreSQL started by the test harness. What is acknowledged lives in the
// database (no SQLCipher data file is made), survives a restart, and consent still decides reads;
// an unreachable database or a wrong configuration stops sluisd with a sentence.
#include "pg_two_nodes.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace sluis::test;

namespace {

std::string client_of(const Response& r) {
  return std::string(body_json(r).at("client").as_string());
}

std::size_t fragments_in(const Response& r) {
  REQUIRE(r.status == 200);
  return body_json(r).at("fragments").as_array().size();
}

}  // namespace

TEST_CASE("sluisd on PostgreSQL: what it acknowledged is in the database, survives a restart, "
          "and consent still decides",
          "[integration][postgresql]") {
  GatewayHome home;
  const std::string conninfo = move_home_to_postgresql(home);
  std::string at_ocmw, at_caw;
  {
    Sluisd gateway(home);
    REQUIRE(gateway.wait_ready());
    Worker ocmw(gateway, home.ocmw, "ocmw-sw");
    Worker caw(gateway, home.caw, "caw-sw");
    auto reg = ocmw.post("/v1/clients", registration(850404404));
    REQUIRE(reg.status == 201);
    at_ocmw = client_of(reg);
    at_caw = client_of(caw.post("/v1/clients", registration(850404404)));
    auto written = ocmw.post("/v1/clients/" + at_ocmw + "/fragments",
                             R"({"category":"housing","fields":{"situation":"PGCANARY-4c1e"}})");
    REQUIRE(written.status == 201);
    CHECK(fragments_in(caw.get("/v1/clients/" + at_caw + "/dossier")) == 0);  // no consent yet
    REQUIRE(ocmw.post("/v1/clients/" + at_ocmw + "/consents", consent_for_caw()).status == 201);
    const auto read = caw.get("/v1/clients/" + at_caw + "/dossier");
    REQUIRE(fragments_in(read) == 1);
    CHECK(read.body.find("PGCANARY-4c1e") != std::string::npos);
    gateway.signal(SIGTERM);
    REQUIRE(gateway.exited(10s));
    CHECK(gateway.exit_code() == 0);
  }
  // The records are PostgreSQL's: no SQLCipher data file was made, and the rows are there,
  // the field sealed.
  CHECK_FALSE(fs::exists(home.dir.path() / "data/data.db"));
  CHECK_FALSE(fs::exists(home.dir.path() / "data/keys.db"));
  RawPg raw(conninfo);
  CHECK(raw.column("SELECT 1 FROM fragments").size() == 1);
  for (const auto& blob : raw.column("SELECT fields FROM fragments")) {
    const std::string bytes(blob.begin(), blob.end());
    CHECK(bytes.find("PGCANARY") == std::string::npos);
  }
  // A restart reads the same from the database.
  Sluisd again(home);
  REQUIRE(again.wait_ready());
  Worker caw(again, home.caw, "caw-sw");
  const auto after = caw.get("/v1/clients/" + at_caw + "/dossier");
  REQUIRE(fragments_in(after) == 1);
  CHECK(after.body.find("PGCANARY-4c1e") != std::string::npos);
  CHECK(read_text(home.log_file).find("\"postgresql\"") != std::string::npos);
}

TEST_CASE("sluisd on PostgreSQL: an unreachable database, or a database without conninfo, stops "
          "it with a sentence",
          "[integration][postgresql]") {
  GatewayHome home;
  std::ofstream(home.config_path, std::ios::app)
      << "[store]\nengine = \"postgresql\"\n"
         "conninfo = \"host=127.0.0.1 port=1 dbname=nowhere user=sluis connect_timeout=2\"\n";
  {
    Sluisd gateway(home);
    REQUIRE(gateway.exited(20s));
    CHECK(gateway.exit_code() != 0);
    CHECK_THAT(read_text(home.stderr_file),
               Catch::Contains("PostgreSQL") && Catch::Contains("cannot be reached"));
  }
  GatewayHome bare;
  std::ofstream(bare.config_path, std::ios::app) << "[store]\nengine = \"postgresql\"\n";
  Sluisd refused(bare);
  REQUIRE(refused.exited(20s));
  CHECK(refused.exit_code() != 0);
  CHECK_THAT(read_text(bare.stderr_file), Catch::Contains("conninfo"));
}

TEST_CASE("sluisd on PostgreSQL: the audit log is in the database, proofs answer, and sluisctl "
          "audit verify checks it there and names an altered event",
          "[integration][postgresql][audit]") {
  GatewayHome home;
  const std::string conninfo = move_home_to_postgresql(home);
  std::string read_leaf;
  {
    Sluisd gateway(home);
    REQUIRE(gateway.wait_ready());
    Worker ocmw(gateway, home.ocmw, "ocmw-sw");
    Worker caw(gateway, home.caw, "caw-sw");
    const auto at_ocmw = client_of(ocmw.post("/v1/clients", registration(850505505)));
    const auto at_caw = client_of(caw.post("/v1/clients", registration(850505505)));
    REQUIRE(ocmw.post("/v1/clients/" + at_ocmw + "/fragments",
                      R"({"category":"housing","fields":{"situation":"x"}})")
                .status == 201);
    // An audited read, refused (no consent): its event is durable before the answer.
    CHECK(fragments_in(caw.get("/v1/clients/" + at_caw + "/dossier")) == 0);
    RawPg raw(conninfo);
    const auto reads = raw.column("SELECT leaf::text FROM audit_event WHERE partner = "
                                  "'caw-brussel' AND action = 'read'");
    REQUIRE_FALSE(reads.empty());
    read_leaf.assign(reads[0].begin(), reads[0].end());
    // A witness's proof of the newest event: answered from the integrated tree.
    const auto events = raw.column("SELECT leaf FROM audit_event");
    const auto size = std::to_string(events.size());
    auto proof = caw.get("/v1/audit/proofs/inclusion?index=0&size=" + size);
    CHECK(proof.status == 200);
    auto checkpoint = caw.get("/v1/audit/checkpoint");
    CHECK(checkpoint.status == 200);
    gateway.signal(SIGTERM);
    REQUIRE(gateway.exited(10s));
    CHECK(gateway.exit_code() == 0);
  }
  CHECK_FALSE(fs::exists(home.dir.path() / "data/audit.db"));  // no file log beside it
  const std::string verify = "audit verify --key " + (home.dir.path() / "keys/root.key").string() +
                             " --config " + home.config_path.string();
  {
    const auto [status, out] = sluisctl(verify);
    INFO(out);
    CHECK(status == 0);
    CHECK_THAT(out, Catch::Contains("The audit log verifies") && Catch::Contains("PostgreSQL"));
  }
  RawPg raw(conninfo);
  raw.exec("UPDATE audit_event SET canonical = convert_to(replace(convert_from(canonical, "
           "'UTF8'), 'caw-brussel', 'caw-elsewhere'), 'UTF8') WHERE leaf = " +
           read_leaf);
  const auto [status, out] = sluisctl(verify);
  INFO(out);
  CHECK(status != 0);
  CHECK_THAT(out, Catch::Contains("DOES NOT VERIFY") &&
                      Catch::Contains("First event that differs: #" + read_leaf + " "));
}

TEST_CASE("sluisd on PostgreSQL: sluisctl store kek rotate and destroy while it serves; the old "
          "version leaves the ring and reads go on, also after a restart",
          "[integration][postgresql][keys]") {
  GatewayHome home;
  const std::string conninfo = move_home_to_postgresql(home);
  const fs::path ring = home.dir.path() / "keys/kek-ring";
  const std::string dir = home.dir.path().string();
  // A client registered at the OCMW with a housing fragment holding `canary`: its pseudonym.
  auto client_with = [](Worker& ocmw, unsigned long long person, const std::string& canary) {
    const auto client = client_of(ocmw.post("/v1/clients", registration(person)));
    REQUIRE(ocmw.post("/v1/clients/" + client + "/fragments",
                      R"({"category":"housing","fields":{"situation":")" + canary + R"("}})")
                .status == 201);
    return client;
  };
  std::string first, second;
  {
    Sluisd gateway(home);
    REQUIRE(gateway.wait_ready());
    Worker ocmw(gateway, home.ocmw, "ocmw-sw");
    first = client_with(ocmw, 850606606, "KEKCANARY-1");
    // The current version is not destroyed.
    const auto current = sluisctl("store kek destroy --home " + dir + " --version 1");
    INFO(current.second);
    CHECK(current.first != 0);
    CHECK_THAT(current.second, Catch::Contains("new data keys are wrapped under"));
    // Rotated while sluisd serves: every data key is rewrapped under version 2 in the database.
    const auto rotated = sluisctl("store kek rotate --home " + dir + " --batch 1");
    INFO(rotated.second);
    REQUIRE(rotated.first == 0);
    CHECK_THAT(rotated.second, Catch::Contains("Rotated to KEK version 2"));
    RawPg raw(conninfo);
    CHECK(raw.column("SELECT 1 FROM data_keys WHERE kek_version <> 2").empty());
    // The running node meets version 2 (a new client's key is wrapped under it; the first
    // client's key was rewrapped) and reads and writes on.
    second = client_with(ocmw, 850707707, "KEKCANARY-2");
    const auto destroyed = sluisctl("store kek destroy --home " + dir + " --version 1");
    INFO(destroyed.second);
    REQUIRE(destroyed.first == 0);
    CHECK_THAT(read_text(ring), !Catch::Contains("\nkek 1 "));
    CHECK(raw.column("SELECT 1 FROM kek_versions WHERE version = 1 AND destroyed_at IS NOT NULL")
              .size() == 1);
    // Each act is on the record before it is done (the refused destruction twice: its intent,
    // then that it did not happen).
    CHECK(raw.column("SELECT 1 FROM audit_event WHERE action = 'key-rotate' AND worker LIKE "
                     "'operator:%' AND convert_from(canonical, 'UTF8') LIKE '%kek:%'")
              .size() == 4);
    CHECK(raw.column("SELECT 1 FROM audit_event WHERE action = 'key-rotate' AND decision = "
                     "'deny'")
              .size() == 1);
    const auto read = ocmw.get("/v1/clients/" + first + "/dossier");
    REQUIRE(fragments_in(read) == 1);
    CHECK(read.body.find("KEKCANARY-1") != std::string::npos);
    gateway.signal(SIGTERM);
    REQUIRE(gateway.exited(10s));
  }
  Sluisd again(home);
  REQUIRE(again.wait_ready());
  Worker ocmw(again, home.ocmw, "ocmw-sw");
  CHECK(ocmw.get("/v1/clients/" + first + "/dossier").body.find("KEKCANARY-1") !=
        std::string::npos);
  CHECK(ocmw.get("/v1/clients/" + second + "/dossier").body.find("KEKCANARY-2") !=
        std::string::npos);
}

TEST_CASE("sluisd on PostgreSQL: a node without the gateway's KEK ring file refuses to start, "
          "naming the version and what to copy",
          "[integration][postgresql][keys]") {
  GatewayHome home;
  move_home_to_postgresql(home);
  const fs::path ring = home.dir.path() / "keys/kek-ring";
  REQUIRE(fs::exists(ring));
  fs::rename(ring, home.dir.path() / "kek-ring.elsewhere");  // a node whose ring was not copied
  {
    Sluisd refused(home);
    REQUIRE(refused.exited(20s));
    CHECK(refused.exit_code() != 0);
    CHECK_THAT(read_text(home.stderr_file), Catch::Contains("KEK version 1") &&
                                                Catch::Contains(ring.string()) &&
                                                Catch::Contains("copy the KEK ring file"));
  }
  fs::rename(home.dir.path() / "kek-ring.elsewhere", ring);
  Sluisd started(home);
  CHECK(started.wait_ready());
}
