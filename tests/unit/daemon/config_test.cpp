// sluisd's configuration file (gateway/main, sluis::daemon): defaults, the transport's and the
// daemon's keys, and refusals that name the file and the line.
#include "sluis/daemon/config.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>

namespace gw = sluis::server;
namespace sd = sluis::daemon;

namespace {

/// What parsing `text` as sluis.toml (base /base) says: the refusal's message, or "accepted".
std::string message(std::string_view text) {
  try {
    (void)sd::parse_daemon_config(text, "sluis.toml", "/base");
  } catch (const gw::ConfigError& e) {
    return std::string(e.what());
  }
  return std::string("accepted");
}

}  // namespace

TEST_CASE("configuration: defaults, and refusals that name file and line", "[config]") {
  const auto def = sd::parse_daemon_config(sd::default_config_toml(), "sluis.toml", "/etc/sluis");
  const sd::DaemonConfig plain;
  CHECK(def.server.port == plain.server.port);
  // The API listens on loopback until the operator chooses otherwise (issue #13).
  CHECK(def.server.listen_address == "127.0.0.1");
  CHECK(plain.server.listen_address == "127.0.0.1");
  CHECK(def.server.limits.body_limit_bytes == plain.server.limits.body_limit_bytes);
  CHECK(def.server.limits.idle_timeout == plain.server.limits.idle_timeout);
  CHECK(def.server.tls.certificate == std::filesystem::path("/etc/sluis/tls/server.crt"));
  CHECK_FALSE(def.server.tls.allow_tls12);

  const auto ok = sd::parse_daemon_config(
      "[server]\nport = 0\n[limits]\nheader_timeout_ms = 500\n[tls]\nallow_tls12 = true\n"
      "certificate = \"/abs/s.crt\"\n[log]\nlevel = \"debug\"\n",
      "t.toml", "/base");
  CHECK(ok.server.port == 0);
  CHECK(ok.server.limits.header_timeout == std::chrono::milliseconds(500));
  CHECK(ok.server.tls.allow_tls12);
  CHECK(ok.server.tls.certificate == std::filesystem::path("/abs/s.crt"));
  CHECK(ok.server.log_level == gw::LogLevel::debug);

  CHECK_THAT(message("[server]\nport = 1\n\n[limits]\nbody_limt_bytes = 3\n"),
             Catch::StartsWith("sluis.toml:5: unknown key 'body_limt_bytes' in [limits]"));
  CHECK_THAT(
      message("[server]\nport = 70000\n"),
      Catch::StartsWith("sluis.toml:2: 'port' in [server] must be a whole number from 0 to 65535"));
  CHECK_THAT(message("[server]\nport = \"8443\"\n"), Catch::StartsWith("sluis.toml:2:"));
  CHECK_THAT(message("\n[metrics]\naddress = \"0.0.0.0\"\n"),
             Catch::StartsWith("sluis.toml:3:") && Catch::Contains("loopback"));
  CHECK_THAT(message("[server]\nlisten_address = \"gateway.example\"\n"),
             Catch::StartsWith("sluis.toml:2:") && Catch::Contains("numeric"));
  CHECK_THAT(message("[nonsense]\n"), Catch::StartsWith("sluis.toml:1: unknown section"));
  CHECK_THAT(message("[server]\nport = = 3\n"),
             Catch::StartsWith("sluis.toml:2: this is not valid TOML"));
  CHECK_THAT(message("[log]\nlevel = \"loud\"\n"), Catch::StartsWith("sluis.toml:2:"));
  CHECK_THAT(message("[tls]\nallow_tls12 = 1\n"), Catch::Contains("true or false"));
  // Operator socket, passphrase file, audit settings.
  CHECK(def.operator_socket == std::filesystem::path("/etc/sluis/run/operator.sock"));
  CHECK(def.passphrase_file.empty());
  CHECK(def.audit.origin == plain.audit.origin);
  const auto audit = sd::parse_daemon_config(
      "[paths]\noperator_socket = \"\"\npassphrase_file = \"keys/pass\"\n"
      "[audit]\norigin = \"ocmw.example/audit\"\ncheckpoint_interval_ms = 250\n",
      "t.toml", "/base");
  CHECK(audit.operator_socket.empty());
  CHECK(audit.passphrase_file == std::filesystem::path("/base/keys/pass"));
  CHECK(audit.audit.origin == "ocmw.example/audit");
  CHECK(audit.audit.checkpoint_interval == std::chrono::milliseconds(250));
  CHECK_THAT(message("[audit]\norigin = \"two words\"\n"),
             Catch::StartsWith("sluis.toml:2:") && Catch::Contains("origin"));
  CHECK_THAT(message("[audit]\norigin = \"a+b\"\n"), Catch::StartsWith("sluis.toml:2:"));
  CHECK_THAT(message("[paths]\noperator_socket = \"/" + std::string(120, 'x') + "\"\n"),
             Catch::Contains("operator_socket") && Catch::Contains("shorter"));
  CHECK(gw::is_loopback_address("127.0.0.1"));
  CHECK(gw::is_loopback_address("127.8.0.1"));
  CHECK(gw::is_loopback_address("::1"));
  CHECK_FALSE(gw::is_loopback_address("0.0.0.0"));
  CHECK_FALSE(gw::is_loopback_address("::"));
  CHECK_FALSE(gw::is_loopback_address("localhost"));
  CHECK_THROWS_WITH(sd::load_daemon_config("/nonexistent/sluis.toml"),
                    Catch::StartsWith("/nonexistent/sluis.toml: cannot read"));
}


TEST_CASE("configuration: the caches are the daemon's, in [limits] as before", "[config]") {
  const auto def = sd::parse_daemon_config(sd::default_config_toml(), "sluis.toml", "/etc/sluis");
  CHECK(def.audit_page_cache_mib == 16);
  CHECK(def.store_page_cache_mib == 32);
  const auto set = sd::parse_daemon_config("[limits]\npage_cache_mib = 4\nstore_page_cache_mib = 64\n",
                                           "t.toml", "/base");
  CHECK(set.audit_page_cache_mib == 4);
  CHECK(set.store_page_cache_mib == 64);
  CHECK(set.data_dir == std::filesystem::path("/base/data"));
}

TEST_CASE("configuration: [store] chooses the engine; PostgreSQL needs a database and no password "
          "in the file",
          "[config]") {
  const auto def = sd::parse_daemon_config(sd::default_config_toml(), "sluis.toml", "/etc/sluis");
  CHECK(def.store.engine == sd::StoreEngine::sqlcipher);
  const auto pg = sd::parse_daemon_config(
      "[store]\nengine = \"postgresql\"\nconninfo = \"host=127.0.0.1 port=5433 dbname=sluis\"\n"
      "sslmode = \"verify-full\"\nsslrootcert = \"tls/db-ca.crt\"\npassword_file = \"keys/db.pass\"\n"
      "pool_size = 8\n",
      "t.toml", "/base");
  CHECK(pg.store.engine == sd::StoreEngine::postgresql);
  CHECK(pg.store.conninfo == "host=127.0.0.1 port=5433 dbname=sluis");
  CHECK(pg.store.sslmode == "verify-full");
  CHECK(pg.store.sslrootcert == std::filesystem::path("/base/tls/db-ca.crt"));
  CHECK(pg.store.password_file == std::filesystem::path("/base/keys/db.pass"));
  CHECK(pg.store.pool_size == 8);
  CHECK(sd::to_string(pg.store.engine) == "postgresql");
  // The KEK ring and the erasure ledger: beside the root key unless named.
  CHECK(sd::kek_ring_path(pg) == std::filesystem::path("/base/keys/kek-ring"));
  CHECK(sd::erasure_ledger_path(pg) == std::filesystem::path("/base/keys/erasure-ledger"));
  const auto named = sd::parse_daemon_config(
      "[store]\nengine = \"postgresql\"\nconninfo = \"dbname=sluis\"\n"
      "kek_ring = \"/secure/ring\"\nerasure_ledger = \"ledger/erasures\"\n",
      "t.toml", "/base");
  CHECK(sd::kek_ring_path(named) == std::filesystem::path("/secure/ring"));
  CHECK(sd::erasure_ledger_path(named) == std::filesystem::path("/base/ledger/erasures"));

  CHECK_THAT(message("[store]\nengine = \"mysql\"\n"),
             Catch::StartsWith("sluis.toml:2:") && Catch::Contains("sqlcipher"));
  CHECK_THAT(message("[store]\nengine = \"postgresql\"\n"),
             Catch::StartsWith("sluis.toml:2:") && Catch::Contains("conninfo"));
  CHECK_THAT(message("[store]\nconninfo = \"host=db password=secret\"\n"),
             Catch::StartsWith("sluis.toml:2:") && Catch::Contains("password_file"));
  CHECK_THAT(message("[store]\nconninfo = \"host=db  password = 'a b' user=x\"\n"),
             Catch::Contains("password_file"));
  CHECK_THAT(message("[store]\nconninfo = \"postgresql://sluis:secret@db1/sluis\"\n"),
             Catch::Contains("password_file"));
  CHECK_THAT(message("[store]\nconninfo = \"postgres://db1/sluis?sslmode=require&password=x\"\n"),
             Catch::Contains("password_file"));
  // A database or user whose name merely contains the word is not a password.
  CHECK(message("[store]\nconninfo = \"host=db dbname=password_vault user=sluis\"\n") ==
        "accepted");
  CHECK(message("[store]\nconninfo = \"postgresql://sluis@db1/password_vault\"\n") ==
        "accepted");
  CHECK_THAT(message("[store]\nsslmode = \"sometimes\"\n"),
             Catch::StartsWith("sluis.toml:2:") && Catch::Contains("verify-full"));
  CHECK_THAT(message("[store]\npool_size = 0\n"), Catch::StartsWith("sluis.toml:2:"));
}
