// `sluisctl policy check` and `sluisctl policy explain`, driven through run_policy.
#include "policy_test_support.hpp"

#include "sluisctl/command.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Run {
  int code = 0;
  std::string out;
  std::string err;
};

// Runs `sluisctl policy ARGS...` in-process, capturing std::cout and std::cerr.
Run policy(std::vector<std::string> args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::ostringstream out;
  std::ostringstream err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  Run r;
  r.code = sluis::ctl::run_policy(views);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

const std::string& pack_path() {
  return sluis::policy::test::kDefaultPackPath;
}

std::vector<std::string> explain_args(std::vector<std::string> extra) {
  std::vector<std::string> a{"explain", "--pack", pack_path()};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace

TEST_CASE("policy check accepts the default pack", "[policy][sluisctl]") {
  const Run r = policy({"check", pack_path()});
  CHECK(r.code == sluis::ctl::kExitOk);
  CHECK(
      r.out.find("rule pack 'brussels-welfare' version 2025.1 is valid: 8 partner types, 7 roles, "
                 "11 categories, 4 purposes") != std::string::npos);
  CHECK(r.err.empty());
}

TEST_CASE("policy check prints file:line:col diagnostics and fails", "[policy][sluisctl]") {
  std::ifstream in(pack_path());
  std::stringstream text;
  text << in.rdbuf();
  std::string broken = text.str();
  const std::string from = "[matrix.nurse]\n";
  const auto pos = broken.find(from);
  REQUIRE(pos != std::string::npos);
  broken.insert(pos + from.size(), "helth = { consent = [\"referral\"] }\n");
  std::uint32_t line = 1;
  for (std::size_t i = 0; i < pos + from.size(); ++i)
    line += broken[i] == '\n' ? 1U : 0U;
  const std::string path = std::string(SLUIS_BINARY_DIR) + "/policy-cmd-test-broken.toml";
  std::ofstream(path) << broken;

  const Run r = policy({"check", path});
  CHECK(r.code == sluis::ctl::kExitFailed);
  CHECK(r.err.find(path + ":" + std::to_string(line) +
                   ":1: unknown category 'helth' in [matrix.nurse]") != std::string::npos);
  CHECK(r.err.find("1 error; the rule pack was not accepted") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("policy usage errors say what to type", "[policy][sluisctl]") {
  CHECK(policy({}).code == sluis::ctl::kExitUsage);
  Run r = policy({"chek", pack_path()});
  CHECK(r.code == sluis::ctl::kExitUsage);
  CHECK(r.err.find("unknown policy command 'chek'; use `check FILE`") != std::string::npos);
  r = policy({"check"});
  CHECK(r.code == sluis::ctl::kExitUsage);
  CHECK(r.err.find("`check` takes exactly one rule pack file") != std::string::npos);
  r = policy(explain_args({"--role", "nurse"}));
  CHECK(r.code == sluis::ctl::kExitUsage);
  CHECK(r.err.find("`explain` needs --partner-type VALUE") != std::string::npos);
  r = policy(explain_args({"--role", "janitor", "--partner-type", "caw", "--owner-type", "ocmw",
                           "--category", "health", "--purpose", "referral", "--consent", "none"}));
  CHECK(r.code == sluis::ctl::kExitUsage);
  CHECK(r.err.find("--role must be one of: ") != std::string::npos);
  r = policy(explain_args({"--role", "nurse", "--partner-type", "caw", "--owner-type", "ocmw",
                           "--category", "health", "--purpose", "referral", "--consent", "maybe"}));
  CHECK(r.code == sluis::ctl::kExitUsage);
  CHECK(r.err.find("--consent takes one of none, active") != std::string::npos);
  r = policy(explain_args({"--colour", "red"}));
  CHECK(r.code == sluis::ctl::kExitUsage);
  CHECK(r.err.find("unknown option --colour") != std::string::npos);
}

TEST_CASE("policy explain: permit through consent", "[policy][sluisctl]") {
  const Run r = policy(explain_args({"--role", "nurse", "--partner-type", "home-care",
                                     "--owner-type", "community-health", "--category", "health",
                                     "--purpose", "care-coordination", "--consent", "active"}));
  INFO(r.out << r.err);
  CHECK(r.code == sluis::ctl::kExitOk);
  CHECK(r.out.find("access matrix: nurse x health x care-coordination is consent - passed") !=
        std::string::npos);
  CHECK(r.out.find("community-health discloses health to home-care - passed") != std::string::npos);
  CHECK(r.out.find("decision: PERMIT by rule consent.active:hypothetical-consent") !=
        std::string::npos);
}

TEST_CASE("policy explain: each consent state and break-the-glass", "[policy][sluisctl]") {
  const auto decide = [](const std::string& consent, const std::string& glass,
                         const std::string& relationship) {
    const Run r = policy(explain_args(
        {"--role", "doctor", "--partner-type", "community-health", "--owner-type", "mental-health",
         "--category", "mental-health", "--purpose", "emergency", "--consent", consent,
         "--break-glass", glass, "--relationship", relationship}));
    const auto pos = r.out.find("decision: ");
    return std::to_string(r.code) + " " +
           (pos == std::string::npos ? r.err : r.out.substr(pos, r.out.find(" (", pos) - pos));
  };
  CHECK(decide("none", "none", "yes") == "1 decision: DENY by rule consent.none");
  CHECK(decide("expired", "none", "yes") ==
        "1 decision: DENY by rule consent.expired:hypothetical-consent");
  CHECK(decide("revoked", "none", "yes") ==
        "1 decision: DENY by rule consent.revoked:hypothetical-consent");
  CHECK(decide("excepted-partner", "none", "yes") ==
        "1 decision: DENY by rule consent.excepted-partner:hypothetical-consent");
  CHECK(decide("excepted-worker", "none", "yes") ==
        "1 decision: DENY by rule consent.excepted-worker:hypothetical-consent");
  CHECK(decide("excepted-category", "none", "yes") ==
        "1 decision: DENY by rule consent.excepted-category:hypothetical-consent");
  CHECK(decide("none", "valid", "yes") ==
        "0 decision: PERMIT by rule btg.valid:hypothetical-grant");
  CHECK(decide("none", "expired", "yes") ==
        "1 decision: DENY by rule btg.expired:hypothetical-grant");
  CHECK(decide("active", "valid", "no") == "1 decision: DENY by rule relationship.none");
}

TEST_CASE("policy explain: low-threshold owner and admin", "[policy][sluisctl]") {
  Run r = policy(explain_args({"--role", "social-worker", "--partner-type", "caw", "--owner-type",
                               "low-threshold", "--category", "addiction", "--purpose", "referral",
                               "--consent", "active"}));
  CHECK(r.code == sluis::ctl::kExitFailed);
  CHECK(r.out.find("not linked - FAILED") != std::string::npos);
  CHECK(r.out.find("decision: DENY by rule disclosure.unlinked") != std::string::npos);
  r = policy(explain_args({"--role", "social-worker", "--partner-type", "caw", "--owner-type",
                           "low-threshold", "--category", "addiction", "--purpose", "referral",
                           "--consent", "active", "--linked", "yes"}));
  CHECK(r.code == sluis::ctl::kExitOk);
  r = policy(
      explain_args({"--role", "admin", "--partner-type", "ocmw", "--owner-type", "ocmw",
                    "--category", "health", "--purpose", "administration", "--consent", "active"}));
  CHECK(r.code == sluis::ctl::kExitFailed);
  CHECK(r.out.find("decision: DENY by rule matrix.no") != std::string::npos);
}
