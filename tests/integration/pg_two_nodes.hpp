// The set-up the PostgreSQL integration tests share: a GatewayHome's sector in a fresh database,
// a home pointed at it, a second home made a node of the same gateway, and the small calls
// (sluisctl, one number from SQL, a registration and a consent body) those tests all make.
#pragma once

#include "pg_fixture.hpp"
#include "sluisd_harness.hpp"

#include "sluis/crypto/keyfile.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

namespace sluis::test {

using sluis::gateway::testing::PgServer;
using sluis::gateway::testing::RawPg;

/// The advisory lock key the audit integrator holds (gateway/pgaudit), as pg_locks shows it:
/// `(classid << 32) | objid`.
inline constexpr std::int64_t kIntegratorLockKey = 0x736c756973000002LL;

/// How many sessions hold the integrator lock (0 or 1).
inline const std::string kIntegratorHolders =
    "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
    "((classid::bigint << 32) | objid::bigint) = " +
    std::to_string(kIntegratorLockKey);

/// A time `from_now` in the API's format (whole seconds).
inline std::string pg_at(std::chrono::system_clock::duration from_now) {
  return sluis::policy::format_time(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() + from_now));
}

/// A consent body from the OCMW granting the CAW housing for care coordination, 30 days.
inline std::string consent_for_caw() {
  return R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":"caw-brussel"},)"
         R"("categories":["housing"],"purposes":["care-coordination"],"period":{"start":")" +
         pg_at(-std::chrono::hours(1)) + R"(","end":")" + pg_at(std::chrono::hours(24 * 30)) +
         R"("}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)"
         R"("role":"social-worker"},"channel":"in-person","language":"nl","recorded_at":")" +
         pg_at(-std::chrono::minutes(1)) + R"("}})";
}

/// A registration body for the person with national register digits `person` (yymmddsss).
inline std::string registration(unsigned long long person) {
  return R"({"identifier":{"scheme":"national-register","value":")" +
         national_register_number(person) + R"("}})";
}

#ifdef SLUISCTL_PATH
/// Runs sluisctl with `args`: its exit status and what it printed (stdout and stderr).
inline std::pair<int, std::string> sluisctl(const std::string& args) {
  std::string out;
  FILE* p = ::popen((std::string(SLUISCTL_PATH) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {status, out};
}
#endif

/// The one integer `sql` answers (one row, one column, as text).
inline std::int64_t pg_number(RawPg& raw, const std::string& sql) {
  const auto rows = raw.column(sql);
  REQUIRE(rows.size() == 1);
  return std::stoll(std::string(rows[0].begin(), rows[0].end()));
}

/// `home`'s sector (the OCMW and the CAW, their social workers, the OCMW's coordinator and a
/// second CAW worker) in a fresh PostgreSQL database under the home's root key: its conninfo.
inline std::string sector_in_postgresql(const GatewayHome& home) {
  const std::string conninfo = PgServer::instance().new_database();
  const auto root = sluis::crypto::read_root_key(home.dir.path() / "keys/root.key", {});
  REQUIRE(root);
  sluis::pgstore::PgOptions o;
  o.conninfo = conninfo;
  // Where sluisd keeps them by default: beside the root key.
  o.kek_ring_file = home.dir.path() / "keys/kek-ring";
  o.erasure_ledger_file = home.dir.path() / "keys/erasure-ledger";
  auto pg = sluis::pgstore::PgStorage::open(o, *root);
  REQUIRE(pg);
  sluis::domain::Registry r(**pg);
  REQUIRE(r.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
  REQUIRE(r.add_partner("caw-brussel", "caw", "CAW Brussel"));
  REQUIRE(r.add_worker("ocmw-brussel", "ocmw-sw", "social-worker"));
  REQUIRE(r.add_worker("ocmw-brussel", "ocmw-coord", "coordinator"));
  REQUIRE(r.add_worker("caw-brussel", "caw-sw", "social-worker"));
  REQUIRE(r.add_worker("caw-brussel", "caw-sw2", "social-worker"));
  return conninfo;
}

/// Points `home` at the database (its SQLCipher files removed, so a fall-back would show).
inline void use_database(const GatewayHome& home, const std::string& conninfo) {
  for (const char* f : {"data/data.db", "data/data.db-wal", "data/data.db-shm", "data/keys.db",
                        "data/keys.db-wal", "data/keys.db-shm"}) {
    fs::remove(home.dir.path() / f);
  }
  std::ofstream(home.config_path, std::ios::app)
      << "[store]\nengine = \"postgresql\"\nconninfo = \"" << conninfo << "\"\npool_size = 2\n";
}

/// `home` moved to a fresh PostgreSQL database (its sector in it, no SQLCipher files).
inline std::string move_home_to_postgresql(const GatewayHome& home) {
  const std::string conninfo = sector_in_postgresql(home);
  use_database(home, conninfo);
  return conninfo;
}

/// Makes `to` a second node of `from`'s gateway: the same CA (certificate and key, so `to`'s
/// clients trust the server certificate and `to` accepts `from`'s partner certificates), server
/// certificate, revocation list, root key and rule pack; its own port, audit log, log file and
/// operator socket.
inline void same_gateway(const GatewayHome& from, GatewayHome& to) {
  const auto ca_dir = to.dir.path() / "ca";
  fs::create_directories(ca_dir);
  REQUIRE(from.ca.save(ca_dir / "ca.crt", ca_dir / "ca.key"));
  to.ca = gw::GatewayCa::load(ca_dir / "ca.crt", ca_dir / "ca.key").value();
  for (const char* f : {"tls/server.crt", "tls/server.key", "tls/ca.crt", "tls/revoked.txt",
                        "keys/root.key", "policy/rules.toml"}) {
    fs::copy_file(from.dir.path() / f, to.dir.path() / f, fs::copy_options::overwrite_existing);
  }
}

/// Node A's home moved to a fresh PostgreSQL database and `b` made a second node of the same
/// gateway on that database: the conninfo.
inline std::string two_nodes_on_postgresql(GatewayHome& a, GatewayHome& b) {
  same_gateway(a, b);
  const std::string conninfo = sector_in_postgresql(a);
  // The KEK ring, made when the sector was written, goes to the second node as an operator
  // copies it (docs/operations.md "The KEK ring").
  fs::copy_file(a.dir.path() / "keys/kek-ring", b.dir.path() / "keys/kek-ring",
                fs::copy_options::overwrite_existing);
  use_database(a, conninfo);
  use_database(b, conninfo);
  return conninfo;
}

}  // namespace sluis::test
