// sluis-console's configuration: the log witness's [witness] table and the pinned verifier key —
// defaults, good values, and bad ones refused with the file, the line and a sentence to act on;
// what `sluis-console init` writes parses back to the same settings.
#include "sluis/console/console_config.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/crypto/sign.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace sluis::console;
namespace crypto = sluis::crypto;

namespace {

std::string verifier_key_text() {
  const auto signer = crypto::SigningKey::generate();
  return crypto::format_verifier_key(
      crypto::make_verifier_key("sluis-gateway/audit", signer.verifying_key()).value());
}

std::string partner_table(const std::string& id) {
  return "\n[[partner]]\nid = \"" + id + "\"\ncertificate = \"p/" + id +
         ".crt\"\nprivate_key = \"p/" + id + ".key\"\ngateway_ca = \"ca.crt\"\n";
}

/// A configuration with a pinned key, `witness` as the [witness] table's body (none when empty)
/// and two served partners.
std::string config_text(const std::string& witness, const std::string& key = verifier_key_text()) {
  std::string t = "audit_verifier_key = \"" + key + "\"\n";
  if (!witness.empty()) t += "\n[witness]\n" + witness + "\n";
  return t + partner_table("ocmw-brussel") + partner_table("caw-brussel");
}

ConsoleConfig parse(const std::string& text) {
  return parse_console_config(text, "console.toml", "/srv/console");
}

/// The refusal's text for `text` (fails the test when it is accepted).
std::string refusal(const std::string& text) {
  try {
    (void)parse(text);
  } catch (const ConsoleConfigError& e) {
    return e.what();
  }
  FAIL("accepted: " << text);
  return {};
}

}  // namespace

TEST_CASE("console config: without [witness] the timer checks every 300 s as the first partner",
          "[console][config][witness]") {
  const auto c = parse(config_text(""));
  CHECK(c.witness.interval == std::chrono::seconds(300));
  CHECK(c.witness.interval == WitnessSettings::kDefaultInterval);
  CHECK(c.witness.partner.empty());
  CHECK(c.witness.worker == "console-witness");
  REQUIRE(c.witness_partner() != nullptr);
  CHECK(c.witness_partner()->id == "ocmw-brussel");
  // No partner at all: nobody to call sluisd as.
  const auto none = parse("audit_verifier_key = \"" + verifier_key_text() + "\"\n");
  CHECK(none.witness_partner() == nullptr);
}

TEST_CASE("console config: [witness] takes an interval from 1 s to a day, a served partner and a "
          "worker",
          "[console][config][witness]") {
  auto c =
      parse(config_text("interval_seconds = 1\npartner = \"caw-brussel\"\nworker = \"dpo-bot\""));
  CHECK(c.witness.interval == std::chrono::seconds(1));
  CHECK(c.witness.partner == "caw-brussel");
  REQUIRE(c.witness_partner() != nullptr);
  CHECK(c.witness_partner()->id == "caw-brussel");
  CHECK(c.witness.worker == "dpo-bot");
  c = parse(config_text("interval_seconds = 86400"));
  CHECK(c.witness.interval == std::chrono::hours(24));
  c = parse(config_text("interval_seconds = 60"));
  CHECK(c.witness.interval == std::chrono::minutes(1));
}

TEST_CASE("console config: a bad [witness] is refused with file, line and what to write",
          "[console][config][witness]") {
  for (const auto* bad :
       {"interval_seconds = 0", "interval_seconds = -300", "interval_seconds = 86401",
        "interval_seconds = 9999999999999", "interval_seconds = \"300\"", "interval_seconds = 1.5",
        "interval_seconds = true"}) {
    INFO(bad);
    const auto why = refusal(config_text(bad));
    CHECK(why.find("console.toml:4:") == 0);  // the line of interval_seconds
    CHECK(why.find("interval_seconds must be a whole number of seconds from 1 to 86400") !=
          std::string::npos);
  }
  auto why = refusal(config_text("partner = \"thuiszorg\""));
  CHECK(why.find("console.toml:4:") == 0);
  CHECK(why.find("partner \"thuiszorg\" is not served by this console") != std::string::npos);
  why = refusal(config_text("worker = \"console witness\""));
  CHECK(why.find("worker must be 1 to 64 letters") != std::string::npos);
  why = refusal(config_text("worker = \"\""));
  CHECK(why.find("worker must be a non-empty string") != std::string::npos);
  why = refusal(config_text("interval = 300"));
  CHECK(why.find("unknown key 'interval' in [witness]") != std::string::npos);
  why = refusal("witness = 300\n");
  CHECK(why.find("[witness] must be a table") != std::string::npos);
}

TEST_CASE("console config: audit_verifier_key must be the verifier key sluisctl prints",
          "[console][config][witness]") {
  const auto good = verifier_key_text();
  CHECK(parse(config_text("", good)).audit_verifier_key == good);
  for (const std::string& bad :
       {std::string("sluis-gateway/audit"), std::string("not a key"),
        good.substr(0, good.size() - 4), good + "x", "other+" + good.substr(good.find('+') + 1)}) {
    INFO(bad);
    const auto why = refusal(config_text("", bad));
    CHECK(why.find("console.toml:1:") == 0);
    CHECK(why.find("audit_verifier_key must be the gateway's verifier key exactly as `sluisctl "
                   "audit checkpoint` prints it") != std::string::npos);
  }
}

TEST_CASE("console config: what init writes documents [witness] and parses back",
          "[console][config][witness]") {
  ConsoleConfig c;
  ServedPartner p;
  p.id = "ocmw-brussel";
  p.certificate = "p/o.crt";
  p.private_key = "p/o.key";
  p.gateway_ca = "ca.crt";
  c.partners.push_back(p);
  // The defaults, as init writes them: the key commented out, the timer's settings shown.
  auto text = render_console_config(c);
  CHECK(text.find("\n[witness]\n") != std::string::npos);
  CHECK(text.find("\ninterval_seconds = 300\n") != std::string::npos);
  CHECK(text.find("\n# audit_verifier_key = ") != std::string::npos);
  CHECK(text.find("\n# partner = ") != std::string::npos);
  auto back = parse(text);
  CHECK(back.audit_verifier_key.empty());
  CHECK(back.witness.interval == WitnessSettings::kDefaultInterval);
  CHECK(back.witness.worker == "console-witness");
  // Every setting given.
  c.audit_verifier_key = verifier_key_text();
  c.witness.interval = std::chrono::seconds(42);
  c.witness.partner = "ocmw-brussel";
  c.witness.worker = "witness-1";
  text = render_console_config(c);
  back = parse(text);
  CHECK(back.audit_verifier_key == c.audit_verifier_key);
  CHECK(back.witness.interval == std::chrono::seconds(42));
  CHECK(back.witness.partner == "ocmw-brussel");
  CHECK(back.witness.worker == "witness-1");
}

TEST_CASE("console config: two threads serve browsers unless configured", "[console]") {
  CHECK(parse(config_text("")).threads == 2);
  CHECK(parse("threads = 6\n" + config_text("")).threads == 6);
}

TEST_CASE("console config: a thread count out of bounds is refused with the bounds", "[console]") {
  for (const char* bad : {"threads = 1\n", "threads = 0\n", "threads = 65\n", "threads = \"4\"\n",
                          "threads = -2\n"}) {
    INFO(bad);
    CHECK(refusal(bad + config_text("")).find("threads must be a whole number from 2 to 64") !=
          std::string::npos);
  }
}

TEST_CASE("console config: the file init writes reads back the same threads", "[console]") {
  const ConsoleConfig c = parse("threads = 5\n" + config_text(""));
  CHECK(parse(render_console_config(c)).threads == 5);
}
