// The log witness's timer (console/src/witness_timer.hpp) without a gateway: it is off, and says
// so once, without a pinned key; against a closed port its rounds are "unreachable", logged once
// for the whole outage; the page sees the timer's last round; stop() ends a long wait at once.
// (Against the real sluisd: tests/integration/console_witness_timer_test.cpp.)
#include "witness_timer.hpp"

#include "sluis/crypto/note.hpp"
#include "sluis/crypto/sign.hpp"
#include "sluis/server/ca.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

using namespace sluis::console;
namespace crypto = sluis::crypto;
namespace gw = sluis::server;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct Dir {
  fs::path path;
  Dir() {
    std::string t = (fs::temp_directory_path() / "sluis-witness-timer-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~Dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

/// The console's log as lines, safe to read while the timer writes.
struct Lines {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::shared_ptr<gw::LogSink> sink = gw::LogSink::callback(
      [this](std::string_view l) {
        std::lock_guard lock(mutex);
        lines.emplace_back(l);
      },
      gw::LogLevel::info);
  std::size_t count(std::string_view event) {
    std::lock_guard lock(mutex);
    std::size_t n = 0;
    for (const auto& l : lines) {
      const auto v = boost::json::parse(l).as_object();
      if (v.at("event").as_string() == event) ++n;
    }
    return n;
  }
  std::string all() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& l : lines)
      out += l + "\n";
    return out;
  }
};

/// A console configuration whose one partner's gateway port is closed.
struct Setup {
  Dir dir;
  ConsoleConfig config;
  std::map<std::string, ApiClient, std::less<>> clients;
  explicit Setup(bool pinned, std::chrono::seconds interval = 1s) {
    config.database = dir.path / "console.db";
    if (pinned) {
      const auto signer = crypto::SigningKey::generate();
      config.audit_verifier_key = crypto::format_verifier_key(
          crypto::make_verifier_key("sluis-gateway/audit", signer.verifying_key()).value());
    }
    config.witness.interval = interval;
    ServedPartner p;
    p.id = "ocmw-brussel";
    config.partners.push_back(p);
    const auto ca = gw::GatewayCa::create("witness timer test CA", 1h).value();
    const auto partner = ca.issue_partner_certificate({"ocmw-brussel", "Test org", 1h}).value();
    ApiClientOptions o;
    o.port = 1;  // nothing listens there
    o.timeout = 1000ms;
    clients.emplace("ocmw-brussel", ApiClient(o, ca.certificate(), partner));
  }
};

/// Waits until the timer has finished `rounds` rounds (as seen through last_round's time).
void wait_rounds(WitnessTimer& timer, int rounds) {
  std::optional<std::chrono::system_clock::time_point> seen;
  int n = 0;
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (n < rounds && std::chrono::steady_clock::now() < end) {
    if (const auto r = timer.last_round(); r && (!seen || r->at != *seen)) {
      seen = r->at;
      ++n;
    }
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(n == rounds);
}

}  // namespace

TEST_CASE("witness timer: without a pinned key it is off, says so once, and the page says so",
          "[console][witness]") {
  Setup s(false);
  Lines log;
  WitnessTimer timer(s.config, s.clients);
  timer.start(log.sink);
  std::this_thread::sleep_for(1500ms);
  CHECK(log.count("witness_off") == 1);
  CHECK(log.all().find("no audit_verifier_key") != std::string::npos);
  CHECK(log.count("witness_on") == 0);
  CHECK_FALSE(timer.last_round().has_value());
  const auto view = timer.visit(&s.clients.begin()->second, "dora");
  CHECK_FALSE(view.configured);
  CHECK_FALSE(view.timer_on);
  CHECK_FALSE(fs::exists(s.dir.path / "witness.log"));
}

TEST_CASE("witness timer: a key but no served partner is off too", "[console][witness]") {
  Setup s(true);
  s.config.partners.clear();
  Lines log;
  WitnessTimer timer(s.config, s.clients);
  timer.start(log.sink);
  CHECK(log.count("witness_off") == 1);
  CHECK(log.all().find("no served partner") != std::string::npos);
  CHECK_FALSE(timer.visit(nullptr, "dora").timer_on);
}

TEST_CASE("witness timer: an unreachable gateway is one log line per outage, and the page shows "
          "the timer's last round",
          "[console][witness]") {
  Setup s(true);
  Lines log;
  WitnessTimer timer(s.config, s.clients);
  timer.start(log.sink);
  wait_rounds(timer, 3);
  CHECK(log.count("witness_on") == 1);
  CHECK(log.all().find("\"interval_seconds\":1") != std::string::npos);
  CHECK(log.count("witness_unreachable") == 1);
  CHECK(log.count("witness_reachable") == 0);
  CHECK(log.count("witness_alert") == 0);
  const auto last = timer.last_round();
  REQUIRE(last);
  CHECK(last->outcome == WitnessRound::Outcome::unreachable);
  // The archive was opened (created) by the timer, and holds nothing yet.
  CHECK(fs::exists(s.dir.path / "witness.log"));

  // The DPO's visit goes through the same witness: its own check fails the same way, and it
  // sees the timer's round.
  const auto view = timer.visit(&s.clients.begin()->second, "dora");
  CHECK(view.configured);
  CHECK(view.timer_on);
  CHECK(view.interval == 1s);
  CHECK_FALSE(view.check.has_value());
  CHECK(view.problem == LogHealthView::Problem::unreachable);
  REQUIRE(view.last_round);
  CHECK(view.last_round->outcome == WitnessRound::Outcome::unreachable);
  CHECK(view.checkpoints.empty());
  timer.stop();
  CHECK(log.count("witness_unreachable") == 1);
}

TEST_CASE("witness timer: stop() ends the wait between rounds at once", "[console][witness]") {
  Setup s(true, std::chrono::hours(24));
  Lines log;
  WitnessTimer timer(s.config, s.clients);
  timer.start(log.sink);
  wait_rounds(timer, 1);  // the round at start-up; the next one would be a day later
  const auto t0 = std::chrono::steady_clock::now();
  timer.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  timer.stop();  // idempotent
}

TEST_CASE("witness timer: a damaged archive is one log line, and the rounds say so",
          "[console][witness]") {
  Setup s(true);
  {
    std::ofstream out(s.dir.path / "witness.log", std::ios::binary);
    out << "not a witness archive\n";
  }
  Lines log;
  WitnessTimer timer(s.config, s.clients);
  timer.start(log.sink);
  wait_rounds(timer, 2);
  CHECK(log.count("witness_archive_failed") == 1);
  REQUIRE(timer.last_round());
  CHECK(timer.last_round()->outcome == WitnessRound::Outcome::archive);
  CHECK(timer.visit(nullptr, "dora").problem == LogHealthView::Problem::archive);
}
