// A real PostgreSQL 15 for the domain's test cases: one server per test process (initdb'd once
// into a template cluster, copied, started with pg_ctl on 127.0.0.1 and a port picked here,
// stopped when the process ends), a fresh database per fixture, and raw libpq access.
#pragma once

#include "gateway_fixture.hpp"
#include "sluis/pgstore/pg_storage.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluis::gateway::testing {

/// The PostgreSQL server of this test process. Started on first use; every fixture asks it for
/// a database of its own.
class PgServer {
 public:
  /// The server, started if it is not yet (throws when it cannot be: a test that needs it then
  /// fails with the reason, never skips).
  static PgServer& instance() {
    static PgServer server;
    return server;
  }
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;
  ~PgServer() { stop(); }

  /// A connection string for database `db` (TCP on the loopback).
  [[nodiscard]] std::string conninfo(const std::string& db) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=sluis dbname=" + db;
  }
  /// Creates an empty database and returns its connection string.
  [[nodiscard]] std::string new_database() {
    static std::atomic<int> counter{0};
    const std::string name = "sluis_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    admin("CREATE DATABASE " + name);
    return conninfo(name);
  }
  /// Runs one statement as the superuser on the `postgres` database.
  void admin(const std::string& sql) const {
    PGconn* c = PQconnectdb(conninfo("postgres").c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      const std::string why = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("cannot reach the test PostgreSQL: " + why);
    }
    PGresult* r = PQexec(c, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    const std::string why = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error("test PostgreSQL: " + sql + ": " + why);
  }
  [[nodiscard]] int port() const { return port_; }

  /// Stops the server as an operator would for maintenance (pg_ctl stop -m fast: sessions are
  /// ended, committed work is flushed), for tests of an outage. start_again() brings it back.
  void stop_for_test() {
    if (!started_) return;
    if (!run(bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " -w -t 60 -s -m fast stop",
             true)) {
      throw std::runtime_error("the test PostgreSQL did not stop");
    }
    started_ = false;
  }
  /// Starts the server stopped by stop_for_test() again, on the same port and data.
  void start_again() {
    if (started_) return;
    if (!start_on(port_)) {
      throw std::runtime_error("the test PostgreSQL did not start again; see " +
                               (dir_ / "server.log").string());
    }
    started_ = true;
  }

 private:
  bool start_on(int port) const {
    const std::string opts =
        "-c listen_addresses=127.0.0.1 -c port=" + std::to_string(port) +
        " -c unix_socket_directories=" + dir_.string() +
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        " -c max_connections=200 -c shared_buffers=32MB";
    return run(bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " -w -t 60 -s -l " +
                   (dir_ / "server.log").string() + " -o '" + opts + "' start",
               true);
  }

  PgServer() {
    const char* bin = std::getenv("SLUIS_PG_BIN");
    bin_ = bin != nullptr ? bin : "/usr/lib/postgresql/15/bin";
    if (!fs::exists(fs::path(bin_) / "pg_ctl")) {
      throw std::runtime_error("no PostgreSQL 15 at " + bin_ +
                               " (apt-get install postgresql-15, or set SLUIS_PG_BIN)");
    }
    // initdb refuses to run as root: then the server runs as the `postgres` system user (made by
    // the postgresql package) and owns its directory.
    as_root_ = geteuid() == 0;
    if (as_root_) {
      if (getpwnam("postgres") == nullptr) {
        throw std::runtime_error("running as root, but no postgres user exists");
      }
    }
    const fs::path tmpl = template_cluster();
    std::string d = (fs::temp_directory_path() / "sluis-pg-XXXXXX").string();
    if (mkdtemp(d.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = d;
    run("cp -a " + tmpl.string() + " " + (dir_ / "data").string(), false);
    if (as_root_) run("chown -R postgres:postgres " + dir_.string(), false);
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (start_on(port_)) {
        started_ = true;
        watch();
        return;
      }
    }
    throw std::runtime_error("the test PostgreSQL did not start; see " +
                             (dir_ / "server.log").string());
  }

  /// A test process that dies without running its destructors (a sanitizer's report ends it
  /// with _exit, a ctest timeout kills it) must not leave its server behind: a detached watcher
  /// stops the server (SIGQUIT to the postmaster: immediate shutdown) and removes the directory
  /// once this process is gone, unless stop() did so already.
  void watch() const {
    const std::string d = dir_.string();
    const std::string script = "while kill -0 " + std::to_string(getpid()) +
                               " 2>/dev/null; do sleep 1; done; if [ -f " + d +
                               "/data/postmaster.pid ]; then kill -QUIT $(head -1 " + d +
                               "/data/postmaster.pid) 2>/dev/null; sleep 1; rm -rf " + d + "; fi";
    const std::string cmd = "setsid sh -c '" + script + "' </dev/null >/dev/null 2>&1 &";
    static_cast<void>(std::system(cmd.c_str()));
  }

  void stop() noexcept {
    if (started_) {
      static_cast<void>(run(bin_ + "/pg_ctl -D " + (dir_ / "data").string() +
                                " -w -s -m immediate stop",
                            true));
      started_ = false;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  /// A cluster made by initdb once per machine (and PostgreSQL build) under the temp dir, which
  /// each test process copies: initdb takes seconds, a copy a fraction of one.
  fs::path template_cluster() {
    const fs::path tmpl = fs::temp_directory_path() /
                          ("sluis-pg-template-15-" + std::to_string(geteuid()));
    const std::string lock_path = tmpl.string() + ".lock";
    const int lock = ::open(lock_path.c_str(), O_CREAT | O_RDWR, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + lock_path);
    if (!fs::exists(tmpl / "PG_VERSION")) {
      const fs::path fresh = tmpl.string() + ".new";
      std::error_code ec;
      fs::remove_all(fresh, ec);
      fs::remove(fresh.string() + ".log", ec);
      fs::create_directory(fresh);
      if (as_root_) run("chown postgres:postgres " + fresh.string(), false);
      if (!run(bin_ + "/initdb -D " + fresh.string() +
                   " -U sluis --auth=trust -E UTF8 --locale=C --no-sync --no-instructions"
                   " >" + fresh.string() + ".log 2>&1",
               true)) {
        ::close(lock);
        throw std::runtime_error("initdb failed; see " + fresh.string() + ".log");
      }
      fs::rename(fresh, tmpl);
    }
    ::close(lock);
    return tmpl;
  }

  /// Runs a shell command (as the postgres user when `as_server` and running as root).
  bool run(const std::string& command, bool as_server) const {
    std::string cmd = (as_server && as_root_) ? "runuser -u postgres -- sh -c \"" + command + "\""
                                              : command;
    return std::system(cmd.c_str()) == 0;
  }

  static int free_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t n = sizeof a;
    if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
      throw std::runtime_error("cannot pick a port");
    }
    ::close(s);
    return ntohs(a.sin_port);
  }

  std::string bin_;
  fs::path dir_;
  int port_ = 0;
  bool as_root_ = false;
  bool started_ = false;
};

/// The PostgreSQL engine for the domain's test cases (engines.hpp): a PgStorage on a fresh
/// database of the test process's server, with a root key the test keeps. `options` as
/// SqlCipherEngine's (clock, inject_failure, on_field_opened are what shared cases set).
struct PgEngine {
  crypto::RootKey root = crypto::RootKey::random();
  /// Where the KEK ring file and the erasure ledger live (beside the root key, in sluisd).
  TempDir key_dir;
  pgstore::PgOptions options;
  std::unique_ptr<pgstore::PgStorage> store;

  PgEngine() {
    options.conninfo = PgServer::instance().new_database();
    options.kek_ring_file = key_dir / "kek-ring";
    options.erasure_ledger_file = key_dir / "erasure-ledger";
    options.application_name = "sluis-test";
    options.pool_size = 2;
    reopen();
  }
  /// Closes the engine (if open) and opens it again on the same database with `options`.
  void reopen() {
    store.reset();
    auto s = pgstore::PgStorage::open(options, root);
    REQUIRE(s);
    store = std::move(*s);
  }
  void close() { store.reset(); }
  [[nodiscard]] Storage& storage() { return *store; }
};

/// A raw libpq connection to an engine's database, for looking at it as an outsider would.
class RawPg {
 public:
  explicit RawPg(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    INFO(PQerrorMessage(c_));
    REQUIRE(PQstatus(c_) == CONNECTION_OK);
  }
  ~RawPg() { PQfinish(c_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  /// Runs `sql`; REQUIREs success.
  void exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    INFO(sql << ": " << PQerrorMessage(c_));
    const auto st = PQresultStatus(r);
    PQclear(r);
    REQUIRE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK));
  }
  /// Every value of the first column of `sql` as its raw bytes (binary result format).
  std::vector<std::vector<std::uint8_t>> column(const std::string& sql) {
    PGresult* r = PQexecParams(c_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1);
    INFO(sql << ": " << PQerrorMessage(c_));
    REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
    std::vector<std::vector<std::uint8_t>> out;
    for (int i = 0; i < PQntuples(r); ++i) {
      const auto* p = reinterpret_cast<const std::uint8_t*>(PQgetvalue(r, i, 0));
      out.emplace_back(p, p + PQgetlength(r, i, 0));
    }
    PQclear(r);
    return out;
  }
  /// Every byte of every row of `table` (its text form, as a dump would have it).
  std::vector<std::uint8_t> dump(const std::string& table) {
    std::vector<std::uint8_t> all;
    PGresult* r = PQexec(c_, ("SELECT t::text FROM " + table + " t").c_str());
    REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); ++i) {
      const char* p = PQgetvalue(r, i, 0);
      all.insert(all.end(), p, p + PQgetlength(r, i, 0));
    }
    PQclear(r);
    return all;
  }

 private:
  PGconn* c_;
};

}  // namespace sluis::gateway::testing
