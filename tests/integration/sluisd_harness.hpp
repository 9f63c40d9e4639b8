// Runs the real sluisd binary in a generated gateway home and talks to it over real mTLS.
#pragma once

#include "server_fixture.hpp"  // TempDir, TlsClient, Response (tests/unit/server)

#include <catch2/catch.hpp>

#include "sluis/crypto/keyfile.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/store/store.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluis::test {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + p.string());
}

/// A valid Belgian national register number for YYMMDDSSS (born before 2000): check = 97 - n%97.
inline std::string national_register_number(unsigned long long yymmddsss) {
  const unsigned long long check = 97 - (yymmddsss % 97);
  std::string s = std::to_string(yymmddsss);
  s.insert(0, 9 - s.size(), '0');
  return s + (check < 10 ? "0" : "") + std::to_string(check);
}

/// The `code` member of a problem document ("" when absent or not JSON).
inline std::string problem_code(const Response& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return "";
  const auto* c = v.as_object().if_contains("code");
  return c != nullptr && c->is_string() ? std::string(c->as_string()) : "";
}

inline json::value body_json(const Response& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  return ec ? json::value() : v;
}

/// A complete gateway home: CA, server and partner certificates, root key, rule pack, store with
/// partners and workers, configuration. Everything in a temporary directory.
struct GatewayHome {
  TempDir dir;
  gw::GatewayCa ca = gw::GatewayCa::create("sluis integration CA", 24h).value();
  gw::Credential ocmw, caw, thuiszorg, shelter, closed, revoked;
  fs::path config_path, port_file, log_file, stderr_file, rules_path;

  GatewayHome() {
    const auto& d = dir.path();
    fs::create_directories(d / "tls");
    fs::create_directories(d / "keys");
    fs::create_directories(d / "data");
    fs::create_directories(d / "policy");
    auto server =
        ca.issue_server_certificate({"sluis gateway", {"localhost"}, {"127.0.0.1"}, 24h}).value();
    server.key.write_pem_file(d / "tls/server.key").value();
    server.certificate.write_pem_file(d / "tls/server.crt").value();
    ca.certificate().write_pem_file(d / "tls/ca.crt").value();
    ocmw = partner("ocmw-brussel");
    caw = partner("caw-brussel");
    thuiszorg = partner("thuiszorg");
    shelter = partner("nachtopvang");
    closed = partner("closed-org");
    revoked = partner("caw-brussel");  // a second certificate of the CAW, revoked below
    gw::RevocationList list;
    REQUIRE(list.add(revoked.certificate.serial_hex()));
    REQUIRE(list.save_file(d / "tls/revoked.txt"));

    rules_path = d / "policy/rules.toml";
    write_text(rules_path,
               read_text(fs::path(SLUIS_SOURCE_DIR) / "policy/packs/brussels-welfare.toml"));

    const auto root = crypto::RootKey::random();
    REQUIRE(crypto::write_raw_root_key(d / "keys/root.key", root));
    {
      sluis::store::StoreOptions o;
      o.data_path = d / "data/data.db";
      o.key_store_path = d / "data/keys.db";
      auto store = sluis::store::Store::open(std::move(o), root).value();
      sluis::domain::Registry r(*store);
      REQUIRE(r.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
      REQUIRE(r.add_partner("caw-brussel", "caw", "CAW Brussel"));
      REQUIRE(r.add_partner("thuiszorg", "home-care", "Thuiszorg Brussel"));
      REQUIRE(r.add_partner("nachtopvang", "low-threshold", "Nachtopvang Noord"));
      REQUIRE(r.add_partner("closed-org", "caw", "Closed CAW"));
      REQUIRE(r.add_worker("ocmw-brussel", "ocmw-sw", "social-worker"));
      REQUIRE(r.add_worker("ocmw-brussel", "ocmw-coord", "coordinator"));
      REQUIRE(r.add_worker("ocmw-brussel", "ocmw-admin", "admin"));
      REQUIRE(r.add_worker("ocmw-brussel", "ocmw-gone", "social-worker"));
      REQUIRE(r.set_worker_active("ocmw-brussel", "ocmw-gone", false));
      REQUIRE(r.add_worker("caw-brussel", "caw-sw", "social-worker"));
      REQUIRE(r.add_worker("thuiszorg", "tz-nurse", "nurse"));
      REQUIRE(r.add_worker("thuiszorg", "tz-dpo", "dpo"));
      REQUIRE(r.add_worker("ocmw-brussel", "ocmw-dpo", "dpo"));
      REQUIRE(r.add_worker("nachtopvang", "shelter-sw", "social-worker"));
      REQUIRE(r.add_worker("closed-org", "closed-sw", "social-worker"));
      REQUIRE(r.revoke_partner("closed-org"));
    }
    config_path = d / "sluis.toml";
    port_file = d / "port";
    log_file = d / "sluisd.log";
    stderr_file = d / "stderr.txt";
    write_config(0);
  }

  gw::Credential partner(const std::string& id) const {
    return ca.issue_partner_certificate({id, "Integration org", 1h}).value();
  }

  void write_config(unsigned port, std::size_t body_limit = 64 * 1024) const {
    std::ostringstream c;
    c << "[server]\nlisten_address = \"127.0.0.1\"\nport = " << port
      << "\nio_threads = 2\nhandler_threads = 2\n"
      << "[metrics]\nenabled = false\n"
      << "[tls]\ncertificate = \"tls/server.crt\"\nprivate_key = \"tls/server.key\"\n"
      << "ca_certificate = \"tls/ca.crt\"\nrevocation_list = \"tls/revoked.txt\"\n"
      << "[limits]\nhandshake_timeout_ms = 3000\nheader_timeout_ms = 3000\n"
      << "body_timeout_ms = 3000\nidle_timeout_ms = 5000\ndrain_timeout_ms = 3000\n"
      << "body_limit_bytes = " << body_limit << "\n"
      << "[paths]\ndata_dir = \"data\"\nkey_file = \"keys/root.key\"\n"
      << "rule_pack = \"policy/rules.toml\"\n"
      << "[log]\ndestination = \"" << log_file.string() << "\"\nlevel = \"info\"\n";
    write_text(config_path, c.str());
  }
};

/// Starts `args` (args[0] the program's path) with stdout and stderr into `out`. The child dies
/// with the test process (an ASan abort, a ctest timeout) instead of staying on a shared machine.
inline pid_t spawn_process(const std::vector<std::string>& args, const fs::path& out) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string out_path = out.string();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

/// Waits for `pid` to end: its exit code, or 128 + the signal that ended it.
inline int wait_process(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Runs `args` to its end: its exit code; what it printed (stdout and stderr) in `output`,
/// through `scratch`/command-output.txt.
inline int run_process(const std::vector<std::string>& args, std::string& output,
                       const fs::path& scratch) {
  const fs::path out = scratch / "command-output.txt";
  const int code = wait_process(spawn_process(args, out));
  output = read_text(out);
  return code;
}

/// A running sluisd process. Stopped (SIGKILL) on destruction if still running.
class Sluisd {
 public:
  /// Starts sluisd on `home`; `extra` arguments are appended.
  explicit Sluisd(const GatewayHome& home, std::vector<std::string> extra = {}) : home_(home) {
    std::error_code ignored;
    fs::remove(home.port_file, ignored);
    std::vector<std::string> args = {SLUISD_PATH, "--config", home.config_path.string(),
                                     "--port-file", home.port_file.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = spawn_process(args, home.stderr_file);
  }
  ~Sluisd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Sluisd(const Sluisd&) = delete;
  Sluisd& operator=(const Sluisd&) = delete;

  /// Waits until the port file appears (true) or the process exits / time runs out (false).
  bool wait_ready(std::chrono::milliseconds limit = 30s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      const auto text = read_text(home_.port_file);
      if (!text.empty() && text.back() == '\n') {
        port_ = static_cast<std::uint16_t>(std::stoul(text));
        return true;
      }
      if (exited(0ms)) return false;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  /// True when the process has exited within `limit`; its exit status is then in exit_code().
  bool exited(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return true;
    const auto end = std::chrono::steady_clock::now() + limit;
    do {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(10ms);
    } while (std::chrono::steady_clock::now() < end);
    return false;
  }

  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] int exit_code() const { return exit_code_; }
  [[nodiscard]] std::string stderr_text() const { return read_text(home_.stderr_file); }

  /// A connected client for `credential` (null: no certificate).
  TlsClient client(const gw::Credential* credential) const {
    return TlsClient(port_, home_.ca.certificate(), ClientOptions{credential, false});
  }

 private:
  const GatewayHome& home_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  int exit_code_ = -1;
};

/// One worker of one partner, talking to a running sluisd over its own keep-alive connection.
class Worker {
 public:
  Worker(const Sluisd& gateway, const gw::Credential& partner, std::string worker)
      : client_(gateway.client(&partner)), worker_(std::move(worker)) {
    REQUIRE_FALSE(client_.connect());
  }

  Response call(const std::string& method, const std::string& target, const std::string& body = {},
                std::optional<std::string> purpose = std::nullopt) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!worker_.empty()) headers.emplace_back("Sluis-Worker", worker_);
    if (purpose) headers.emplace_back("Sluis-Purpose", *purpose);
    auto r = client_.request(method, target, body, headers);
    REQUIRE(r);
    return *r;
  }
  Response get(const std::string& target, const std::string& purpose = "care-coordination") {
    return call("GET", target, {}, purpose);
  }
  Response post(const std::string& target, const std::string& body) {
    return call("POST", target, body);
  }
  /// Raw bytes after the handshake (for malformed requests); reads one response.
  std::optional<Response> raw(const std::string& bytes) {
    if (client_.write_raw(bytes)) return std::nullopt;
    return client_.read_response();
  }

 private:
  TlsClient client_;
  std::string worker_;
};

}  // namespace sluis::test
