// The log witness on the console daemon's timer, against the real sluisd over mTLS: the real
// `sluis-console serve` (on a port nobody is told, so no page is ever opened) archives sluisd's
// checkpoints as the log grows; when sluisd is stopped it logs one outage; when an older backup
// of the gateway's data is restored, the log cannot prove it only grew, and the timer raises the
// alert — once in the archive, one log line naming the kind and both tree sizes.
#include "sluis/console/api_client.hpp"

#include "sluisd_harness.hpp"

#include "sluis/crypto/note.hpp"
#include "sluis/crypto/sign.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <charconv>

using namespace sluis::test;
namespace sc = sluis::console;
namespace crypto = sluis::crypto;

namespace {

constexpr const char* kWitnessWorker = "console-witness";

crypto::NoteVerifierKey pinned_log_key(const GatewayHome& home) {
  const auto root = crypto::read_root_key(home.dir.path() / "keys/root.key", {}).value();
  const auto signer = crypto::SigningKey::from_subkey(
      crypto::derive_subkey(root, crypto::KeyPurpose::audit_signing));
  return crypto::make_verifier_key("sluis-gateway/audit", signer.verifying_key()).value();
}

sc::ApiClient client_for(const GatewayHome& home, std::uint16_t port) {
  sc::ApiClientOptions o;
  o.port = port;
  o.timeout = std::chrono::milliseconds(3000);
  return sc::ApiClient(o, home.ca.certificate(), home.ocmw);
}

void register_people(const sc::ApiClient& client, unsigned long long first, int count) {
  for (int i = 0; i < count; ++i) {
    sc::ApiRequest reg;
    reg.method = "POST";
    reg.target = "/v1/clients";
    reg.worker = "ocmw-sw";
    reg.body = R"({"identifier":{"scheme":"national-register","value":")" +
               national_register_number(first + static_cast<unsigned long long>(i)) + R"("}})";
    const auto r = client.call(reg);
    REQUIRE(r.has_value());
    REQUIRE(r->status == 201);
  }
}

/// The size of the checkpoint sluisd serves now (verified with the pinned key).
std::uint64_t served_size(const sc::ApiClient& client, const crypto::NoteVerifierKey& key) {
  sc::ApiRequest get;
  get.target = "/v1/audit/checkpoint";
  get.worker = "ocmw-sw";
  const auto r = client.call(get);
  REQUIRE(r.has_value());
  REQUIRE(r->status == 200);
  const auto cp = crypto::verify_checkpoint(r->body, key.key, key.name, key.name);
  REQUIRE(cp.has_value());
  return cp->size;
}

/// Waits until sluisd serves a checkpoint of more than `size` entries (it signs one at least
/// every second while events arrive); returns its size.
std::uint64_t served_beyond(const sc::ApiClient& client, const crypto::NoteVerifierKey& key,
                            std::uint64_t size) {
  const auto end = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < end) {
    if (const auto s = served_size(client, key); s > size) return s;
    std::this_thread::sleep_for(100ms);
  }
  FAIL("sluisd served no checkpoint beyond " << size << " entries");
  return 0;
}

/// What the console's witness.log holds, read as text (never opened as an archive: the daemon
/// appends to it meanwhile).
struct ArchiveText {
  std::vector<std::uint64_t> sizes;  ///< the checkpoints, oldest first
  struct Alert {
    std::string kind;
    std::uint64_t old_size = 0, new_size = 0;
  };
  std::vector<Alert> alerts;

  static std::uint64_t number(std::string_view s) {
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    REQUIRE(ec == std::errc());
    REQUIRE(p == s.data() + s.size());
    return v;
  }
  static ArchiveText read(const fs::path& p) {
    ArchiveText a;
    std::istringstream in(read_text(p));
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f;
      std::istringstream words(line);
      for (std::string w; words >> w;)
        f.push_back(w);
      if (!f.empty() && f[0] == "sluis-witness-v1") {
        REQUIRE(f.size() == 5);
        a.sizes.push_back(number(f[2]));
      } else if (!f.empty() && f[0] == "sluis-witness-alert-v1") {
        REQUIRE(f.size() == 6);
        a.alerts.push_back({f[2], number(f[3]), number(f[4])});
      }
    }
    return a;
  }
};

/// The console's JSON log lines whose event is `event`.
std::vector<json::object> log_events(const fs::path& log, std::string_view event) {
  std::vector<json::object> out;
  std::istringstream in(read_text(log));
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    const auto* e = v.as_object().if_contains("event");
    if (e != nullptr && e->is_string() && e->as_string() == event) {
      out.push_back(std::move(v.as_object()));
    }
  }
  return out;
}

/// How long the timer (a round a second) may take to show what a test waits for.
constexpr std::chrono::milliseconds kRounds = 20s;

/// The exit status of `pid` within `limit` (-1 when it is still running).
int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  do {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(10ms);
  } while (std::chrono::steady_clock::now() < end);
  return -1;
}

/// A console home made by `sluis-console init`, then configured by hand: plain HTTP on a port
/// the system picks (the test never learns it: no page can be opened), one partner (the OCMW)
/// at sluisd's fixed port, the pinned key, and the timer's interval.
struct ConsoleHome {
  fs::path dir, config, log, out;
  ConsoleHome(const GatewayHome& gw, std::uint16_t gateway_port, const std::string& verifier_key,
              int interval_seconds)
      : dir(gw.dir.path() / "console"), config(dir / "console.toml"), log(dir / "console.log"),
        out(gw.dir.path() / "console.out") {
    const pid_t init = spawn_process({SLUIS_CONSOLE_PATH, "init", "--home", dir.string()}, out);
    REQUIRE(wait_exit(init, 30s) == 0);
    const fs::path partner = gw.dir.path() / "partner";
    fs::create_directories(partner);
    gw.ocmw.certificate.write_pem_file(partner / "ocmw.crt").value();
    gw.ocmw.key.write_pem_file(partner / "ocmw.key").value();
    std::ostringstream c;
    c << "listen_address = \"127.0.0.1\"\nport = 0\ntransport = \"http-loopback\"\n"
      << "origin = \"http://localhost:8080\"\nrp_id = \"localhost\"\n"
      << "root_key_file = \"keys/root.key\"\ndatabase = \"data/console.db\"\n"
      << "log_destination = \"" << log.string() << "\"\n"
      << "audit_verifier_key = \"" << verifier_key << "\"\n"
      << "[witness]\ninterval_seconds = " << interval_seconds << "\n"
      << "[[partner]]\nid = \"ocmw-brussel\"\ncertificate = \"" << (partner / "ocmw.crt").string()
      << "\"\nprivate_key = \"" << (partner / "ocmw.key").string() << "\"\ngateway_ca = \""
      << (gw.dir.path() / "tls/ca.crt").string() << "\"\ngateway_port = " << gateway_port << "\n";
    write_text(config, c.str());
  }
  [[nodiscard]] fs::path archive() const { return dir / "data/witness.log"; }
};

/// `sluis-console serve` running; SIGKILLed on destruction when the test did not stop it.
class ConsoleDaemon {
 public:
  explicit ConsoleDaemon(const ConsoleHome& home)
      : pid_(spawn_process({SLUIS_CONSOLE_PATH, "serve", "--config", home.config.string()},
                           home.out)) {}
  ~ConsoleDaemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  ConsoleDaemon(const ConsoleDaemon&) = delete;
  ConsoleDaemon& operator=(const ConsoleDaemon&) = delete;
  /// SIGTERM, then the exit status (-1 when it did not exit within `limit`).
  int terminate(std::chrono::milliseconds limit) {
    ::kill(pid_, SIGTERM);
    const int rc = wait_exit(pid_, limit);
    if (rc >= 0) pid_ = -1;
    return rc;
  }
  [[nodiscard]] bool running() const { return ::kill(pid_, 0) == 0; }

 private:
  pid_t pid_;
};

/// Stops sluisd with SIGTERM and waits for it.
void stop_gateway(Sluisd& gateway) {
  gateway.signal(SIGTERM);
  REQUIRE(gateway.exited(20s));
  REQUIRE(gateway.exit_code() == 0);
}

}  // namespace

TEST_CASE("console witness timer: the daemon archives the growing log with no page opened, and "
          "raises the alert when a restored older backup cannot prove the log only grew",
          "[console][witness]") {
  GatewayHome home;
  const auto key = pinned_log_key(home);
  // sluisd on a port of its choosing, then always on that one (the console's configuration
  // names it). An older state of the gateway's data is kept aside, as a backup would be.
  std::uint16_t port = 0;
  std::uint64_t backup_size = 0;
  {
    Sluisd first(home);
    REQUIRE(first.wait_ready());
    port = first.port();
    const auto client = client_for(home, port);
    register_people(client, 850101101, 2);
    backup_size = served_beyond(client, key, 0);
    stop_gateway(first);
  }
  const fs::path backup = home.dir.path() / "backup-data";
  fs::copy(home.dir.path() / "data", backup, fs::copy_options::recursive);
  home.write_config(port);
  auto gateway = std::make_unique<Sluisd>(home);
  REQUIRE(gateway->wait_ready());
  REQUIRE(gateway->port() == port);
  const auto client = client_for(home, port);

  // The console, checking every second; nothing ever asks it for a page.
  ConsoleHome console(home, port, crypto::format_verifier_key(key), 1);
  ConsoleDaemon daemon(console);
  const auto why = [&] {
    return "console output:\n" + read_text(console.out) + "console log:\n" + read_text(console.log);
  };
  if (!eventually([&] { return !ArchiveText::read(console.archive()).sizes.empty(); }, kRounds)) {
    FAIL("the timer archived no checkpoint\n" << why());
  }
  const auto on = log_events(console.log, "witness_on");
  REQUIRE(on.size() == 1);
  CHECK(on[0].at("interval_seconds").as_int64() == 1);
  const auto first_size = ArchiveText::read(console.archive()).sizes.front();
  CHECK(first_size >= backup_size);

  // The log grows through /v1; the timer proves and archives the larger trees on its own.
  register_people(client, 850101201, 5);
  const auto grown = served_beyond(client, key, first_size);
  if (!eventually(
          [&] {
            const auto a = ArchiveText::read(console.archive());
            return a.sizes.size() >= 2 && a.sizes.back() >= grown;
          },
          kRounds)) {
    FAIL("the timer archived no larger tree\n" << why());
  }
  auto archive = ArchiveText::read(console.archive());
  for (std::size_t i = 1; i < archive.sizes.size(); ++i)
    CHECK(archive.sizes[i] > archive.sizes[i - 1]);
  CHECK(archive.alerts.empty());
  CHECK(log_events(console.log, "witness_alert").empty());
  const std::uint64_t proven = archive.sizes.back();
  REQUIRE(proven > backup_size);
  // The calls were the timer's: sluisd's request log names the witness's worker on them.
  CHECK(read_text(home.log_file)
            .find(std::string("\"worker\":\"") + kWitnessWorker +
                  "\",\"method\":\"GET\",\"route\":\"/v1/audit/checkpoint\"") != std::string::npos);

  // sluisd stops: one outage, logged once however many rounds it lasts.
  stop_gateway(*gateway);
  gateway.reset();
  REQUIRE(
      eventually([&] { return !log_events(console.log, "witness_unreachable").empty(); }, kRounds));
  std::this_thread::sleep_for(3s);  // three more rounds against the stopped gateway
  CHECK(log_events(console.log, "witness_unreachable").size() == 1);
  CHECK(log_events(console.log, "witness_alert").empty());

  // The older backup is restored: the same key signs a smaller tree than the console proved.
  fs::remove_all(home.dir.path() / "data");
  fs::copy(backup, home.dir.path() / "data", fs::copy_options::recursive);
  gateway = std::make_unique<Sluisd>(home);
  REQUIRE(gateway->wait_ready());
  REQUIRE(gateway->port() == port);
  if (!eventually([&] { return !log_events(console.log, "witness_alert").empty(); }, kRounds)) {
    FAIL("the timer raised no alert\n" << why());
  }
  const auto restored = served_size(client, key);
  REQUIRE(restored < proven);
  auto alerts = log_events(console.log, "witness_alert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].at("level").as_string() == "error");
  CHECK(alerts[0].at("reason").as_string() == "shrunk");
  CHECK(alerts[0].at("old_size").as_int64() == static_cast<std::int64_t>(proven));
  CHECK(alerts[0].at("new_size").as_int64() == static_cast<std::int64_t>(restored));
  // The alert line is all it says: the kind and two numbers, no note, no client, no worker.
  CHECK(alerts[0].size() == 6);  // time, level, event, reason, old_size, new_size
  archive = ArchiveText::read(console.archive());
  REQUIRE(archive.alerts.size() == 1);
  CHECK(archive.alerts[0].kind == "shrunk");
  CHECK(archive.alerts[0].old_size == proven);
  CHECK(archive.alerts[0].new_size == restored);
  CHECK(archive.sizes.back() == proven);  // the refused checkpoint is not kept
  CHECK(log_events(console.log, "witness_reachable").size() == 1);

  // Later rounds see the same refusal: still one alert kept, one line logged.
  std::this_thread::sleep_for(3s);
  CHECK(ArchiveText::read(console.archive()).alerts.size() == 1);
  CHECK(log_events(console.log, "witness_alert").size() == 1);
  CHECK(ArchiveText::read(console.archive()).sizes.back() == proven);

  // SIGTERM ends the daemon promptly, between two rounds, and cleanly.
  REQUIRE(daemon.running());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(daemon.terminate(10s) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

TEST_CASE("console witness timer: without a pinned key the daemon says once that it does not "
          "witness, and calls nothing",
          "[console][witness]") {
  GatewayHome home;
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  ConsoleHome console(home, gateway.port(), "", 1);
  // The same configuration without the key.
  auto text = read_text(console.config);
  const auto at = text.find("audit_verifier_key");
  text.erase(at, text.find('\n', at) + 1 - at);
  write_text(console.config, text);
  ConsoleDaemon daemon(console);
  REQUIRE(eventually([&] { return !log_events(console.log, "witness_off").empty(); }, kRounds));
  std::this_thread::sleep_for(2500ms);
  const auto off = log_events(console.log, "witness_off");
  REQUIRE(off.size() == 1);
  CHECK(off[0].at("reason").as_string() == "no audit_verifier_key");
  CHECK(log_events(console.log, "witness_on").empty());
  CHECK_FALSE(fs::exists(console.archive()));
  CHECK(read_text(home.log_file).find(kWitnessWorker) == std::string::npos);
  CHECK(daemon.terminate(10s) == 0);
}
