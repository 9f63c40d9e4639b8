// The SLUIS_BUG tier: an impossible state is logged and counted (and shown in the metrics of a
// running server); in debug builds it aborts, in release builds the caller carries on.
#include "server_fixture.hpp"

#include "sluis/server/bug.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace sluis::test;

namespace {

/// Makes SLUIS_BUG log and count without aborting for the life of the object (the release
/// behaviour, also in this debug test build), with its lines collected.
struct CollectedBugs {
  std::mutex mutex;
  std::vector<std::string> lines;
  bool previous = gw::set_bug_aborts_for_test(false);
  CollectedBugs() {
    gw::set_bug_log(gw::LogSink::callback(
        [this](std::string_view l) {
          const std::lock_guard lock(mutex);
          lines.emplace_back(l);
        },
        gw::LogLevel::error));
  }
  ~CollectedBugs() {
    gw::set_bug_log(nullptr);
    (void)gw::set_bug_aborts_for_test(previous);
  }
};

}  // namespace

TEST_CASE("a bug-tier event is logged with its place and counted", "[server][bug]") {
  CollectedBugs bugs;
  const auto before = gw::bug_count();
  SLUIS_BUG("test_impossible_state");
  CHECK(gw::bug_count() == before + 1);
  REQUIRE(bugs.lines.size() == 1);
  CHECK(bugs.lines[0].find("\"level\":\"error\"") != std::string::npos);
  CHECK(bugs.lines[0].find("\"event\":\"bug\"") != std::string::npos);
  CHECK(bugs.lines[0].find("\"reason\":\"test_impossible_state\"") != std::string::npos);
  CHECK(bugs.lines[0].find("bug_test.cpp:") != std::string::npos);
  const std::string text = gw::Metrics{}.render_prometheus();
  CHECK(text.find("# TYPE sluis_bugs_total counter\n") != std::string::npos);
  CHECK(text.find("sluis_bugs_total " + std::to_string(before + 1) + "\n") != std::string::npos);
}

TEST_CASE("a running server's metrics count bug-tier events", "[server][bug]") {
  Pki pki;
  CollectedBugs bugs;
  gw::HttpsServer server(pki.config, gw::Router{},
                         {{}, gw::LogSink::callback([](std::string_view) {}, gw::LogLevel::info)});
  server.start();  // installs the server's log (here a quiet one) for bug lines
  const auto before = gw::bug_count();
  SLUIS_BUG("test_counted_by_the_server");
  SLUIS_BUG("test_counted_by_the_server");
  auto m = plain_get(server.metrics_port(), "/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->body.find("sluis_bugs_total " + std::to_string(before + 2) + "\n") !=
        std::string::npos);
  server.shutdown();
}

TEST_CASE("a bug-tier event aborts a debug build and not a release build", "[server][bug]") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The build's own policy, not the test override (the other cases restore it).
    gw::set_bug_log(gw::LogSink::callback([](std::string_view) {}, gw::LogLevel::error));
    SLUIS_BUG("test_policy_of_this_build");
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
#ifdef NDEBUG
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
#else
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
#endif
}
