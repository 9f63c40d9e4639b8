// The DPO's log-health page from a real witness archive: a healthy log shows no alert; a forked
// and a shrunk log show the red alert naming both tree sizes, in every language, and it stays
// after the log answers well again.
#include "dpo_log_health.hpp"

#include "sluis/console/catalogue.hpp"
#include "sluis/console/template.hpp"
#include "sluis/console/witness.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

using namespace sluis::console;
namespace crypto = sluis::crypto;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kOrigin = "sluis.test/audit";

struct Dir {
  fs::path path;
  Dir() {
    std::string t = (fs::temp_directory_path() / "sluis-dpo-health-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~Dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

// One signer, several histories: an honest log and the versions a dishonest one may show.
struct Log {
  explicit Log(const crypto::SigningKey& k) : key(k) {}
  const crypto::SigningKey& key;
  crypto::MerkleTree tree;
  void append(std::size_t n, std::string_view salt = "event") {
    for (std::size_t i = 0; i < n; ++i)
      tree.append(crypto::leaf_hash(std::string(salt) + " " + std::to_string(tree.size())));
  }
  [[nodiscard]] std::string checkpoint() const {
    return crypto::sign_checkpoint(std::string(kOrigin), tree.size(), tree.root(), key,
                                   std::string(kOrigin))
        .value();
  }
  [[nodiscard]] crypto::NoteVerifierKey verifier() const {
    return crypto::make_verifier_key(std::string(kOrigin), key.verifying_key()).value();
  }
  [[nodiscard]] ConsistencyProofSource proofs() const {
    return [this](std::uint64_t from,
                  std::uint64_t to) -> WitnessResult<std::optional<std::vector<crypto::Hash>>> {
      auto p = tree.consistency_proof(from, to);
      if (!p) return std::optional<std::vector<crypto::Hash>>{};
      return std::optional(std::move(*p));
    };
  }
};

std::string render(const LogHealthView& view, const std::string& lang) {
  const std::string web = std::string(SLUIS_SOURCE_DIR) + "/console/web";
  static const auto set = TemplateSet::load(web + "/templates");
  const auto cat = Catalogue::load_dir(web + "/i18n", lang);
  std::string where;
  auto html = set.render("dpo_log_health", log_health_data(view), cat, where);
  INFO(where);
  REQUIRE(html.has_value());
  return html->str();
}

LogHealthView view_of(FileCheckpointArchive& archive, WitnessReport report) {
  LogHealthView v;
  v.configured = true;
  v.check = std::move(report);
  v.checkpoints = archive.recent(10).value();
  v.alerts = archive.recent_alerts(20).value();
  return v;
}

}  // namespace

TEST_CASE("dpo log health: healthy, then a forked log's red alert names both sizes",
          "[console][dpo][witness]") {
  Dir dir;
  const auto key = crypto::SigningKey::generate();
  Log log(key);
  log.append(12);
  auto archive = FileCheckpointArchive::open(dir.path / "witness.log").value();
  Witness witness(log.verifier(), archive);
  auto first = witness.observe(log.checkpoint(), log.proofs()).value();
  REQUIRE(first.status == WitnessReport::Status::first);
  const auto healthy = render(view_of(archive, first), "en");
  CHECK(healthy.find("id=\"witness-healthy\"") != std::string::npos);
  CHECK(healthy.find("witness-alert") == std::string::npos);
  CHECK(healthy.find("12 entries") != std::string::npos);

  // Another history of the same size: a fork.
  Log other(key);
  other.append(12, "rewritten");
  auto forked = witness.observe(other.checkpoint(), other.proofs()).value();
  REQUIRE(forked.status == WitnessReport::Status::alert);
  for (const auto& [lang, sizes] :
       {std::pair{"en", "log of 12 entries that the console saw before, and the log of 12 entries"},
        std::pair{"nl", "logboek van 12 items dat de console eerder zag en het logboek van 12 items"},
        std::pair{"fr", "journal de 12 entrées que la console a vu auparavant et le journal de 12 "
                        "entrées"}}) {
    INFO(lang);
    const auto html = render(view_of(archive, forked), lang);
    CHECK(html.find("class=\"alert-red\" role=\"alert\"") != std::string::npos);
    CHECK(html.find(sizes) != std::string::npos);
    CHECK(html.find("witness-healthy") == std::string::npos);
  }
}

TEST_CASE("dpo log health: a shrunk log's alert names the two sizes and stays on the page",
          "[console][dpo][witness]") {
  Dir dir;
  const auto key = crypto::SigningKey::generate();
  Log log(key);
  log.append(15);
  auto archive = FileCheckpointArchive::open(dir.path / "witness.log").value();
  Witness witness(log.verifier(), archive);
  REQUIRE(witness.observe(log.checkpoint(), log.proofs()).value().status ==
          WitnessReport::Status::first);
  Log smaller(key);
  smaller.append(9);
  auto shrunk = witness.observe(smaller.checkpoint(), smaller.proofs()).value();
  REQUIRE(shrunk.status == WitnessReport::Status::alert);
  auto html = render(view_of(archive, shrunk), "en");
  CHECK(html.find("The log of 15 entries that the console saw before, and the log of 9 entries") !=
        std::string::npos);
  CHECK(html.find("The log became smaller") != std::string::npos);
  // The honest log again: unchanged, but the alert stays on record and on the page.
  auto again = witness.observe(log.checkpoint(), log.proofs()).value();
  CHECK(again.status == WitnessReport::Status::unchanged);
  html = render(view_of(archive, again), "en");
  CHECK(html.find("role=\"alert\"") != std::string::npos);
  CHECK(html.find("log of 9 entries") != std::string::npos);
  // Not configured: says so, no alert.
  LogHealthView none;
  const auto off = render(none, "en");
  CHECK(off.find("audit_verifier_key") != std::string::npos);
  CHECK(off.find("role=\"alert\"") == std::string::npos);
}

TEST_CASE("dpo log health: the page tells when the console last checked on its own, and how it "
          "ended, in every language",
          "[console][dpo][witness]") {
  Dir dir;
  const auto key = crypto::SigningKey::generate();
  Log log(key);
  log.append(4);
  auto archive = FileCheckpointArchive::open(dir.path / "witness.log").value();
  Witness witness(log.verifier(), archive);
  auto view = view_of(archive, witness.observe(log.checkpoint(), log.proofs()).value());
  view.timer_on = true;
  view.interval = std::chrono::seconds(300);
  // 2026-12-07 07:45:00 UTC.
  const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(1796629500));
  // Not yet: the first round of its own is still running.
  auto html = render(view, "en");
  CHECK(html.find("every 5 minutes") != std::string::npos);
  CHECK(html.find("has not finished its first check on its own yet") != std::string::npos);
  CHECK(html.find("witness-last-round") == std::string::npos);

  for (const auto& [outcome, en] :
       {std::pair{WitnessRound::Outcome::ok, "at 2026-12-07 07:45 UTC: the log only grew."},
        std::pair{WitnessRound::Outcome::unreachable,
                  "at 2026-12-07 07:45 UTC: the gateway could not be reached"},
        std::pair{WitnessRound::Outcome::alert,
                  "at 2026-12-07 07:45 UTC: the log could not prove it only grew."},
        std::pair{WitnessRound::Outcome::archive,
                  "at 2026-12-07 07:45 UTC: the console could not read or write"}}) {
    view.last_round = WitnessRound{at, outcome};
    html = render(view, "en");
    INFO(html);
    CHECK(html.find("id=\"witness-last-round\"") != std::string::npos);
    CHECK(html.find("Last checked by the console on its own " + std::string(en)) !=
          std::string::npos);
  }
  view.last_round = WitnessRound{at, WitnessRound::Outcome::ok};
  view.interval = std::chrono::seconds(90);
  for (const auto& [lang, words] :
       {std::pair{"nl", "om de 90 seconden"}, std::pair{"fr", "toutes les 90 secondes"},
        std::pair{"en", "every 90 seconds"}}) {
    INFO(lang);
    html = render(view, lang);
    CHECK(html.find(words) != std::string::npos);
    CHECK(html.find("2026-12-07 07:45 UTC") != std::string::npos);
  }
  // The timer off (the console serves no partner to call sluisd as): only page visits check.
  view.timer_on = false;
  view.last_round.reset();
  html = render(view, "en");
  CHECK(html.find("only when this page is opened") != std::string::npos);
  CHECK(html.find("first check on its own") == std::string::npos);
}
