// NL/FR/EN catalogues: complete for every template, identical key sets and placeholders; loader
// refusals; the choice of a page's language from Accept-Language.
#include "sluis/console/catalogue.hpp"
#include "sluis/console/template.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace sluis::console;

namespace {

const std::string kWeb = std::string(SLUIS_SOURCE_DIR) + "/console/web";

}  // namespace

TEST_CASE(
    "catalogue: every template key is in nl, fr and en, and no catalogue has a key the others lack",
    "[console][catalogue]") {
  const auto set = TemplateSet::load(kWeb + "/templates");
  const auto used = set.translation_keys();
  REQUIRE(used.size() >= 10);
  std::vector<Catalogue> cats;
  for (const auto& lang : console_languages())
    cats.push_back(Catalogue::load_dir(kWeb + "/i18n", lang));
  REQUIRE(cats.size() == 3);
  for (const auto& cat : cats) {
    INFO(cat.language());
    for (const auto& key : used) {
      INFO(key);
      CHECK(cat.find(key) != nullptr);
    }
    CHECK(cat.keys() == cats.front().keys());
  }
  // A string names the same values in every language (a translator cannot drop or add one).
  for (const auto& key : cats.front().keys()) {
    INFO(key);
    for (const auto& cat : cats)
      CHECK(cat.placeholders(key) == cats.front().placeholders(key));
  }
  CHECK(cats.front().placeholders("layout.signed_in_as") ==
        std::set<std::string>{"partner", "worker"});
  // The translations differ (no language is a copy of another), apart from proper names.
  CHECK(*cats[0].find("login.title") != *cats[1].find("login.title"));
  CHECK(*cats[1].find("login.title") != *cats[2].find("login.title"));
}

TEST_CASE("catalogue: malformed catalogues are start-up errors naming file and line",
          "[console][catalogue]") {
  auto error_of = [](const std::string& toml) -> std::string {
    try {
      (void)Catalogue::from_toml(toml, "nl", "nl.toml");
    } catch (const CatalogueError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of("[a]\nb = 1\n").find("nl.toml:2: 'a.b' is not a string") == 0);
  CHECK(error_of("[a]\n\nb = \"\"\n").find("nl.toml:3: 'a.b' is empty") == 0);
  CHECK(error_of("b = \"x {\"\n").find("without '}'") != std::string::npos);
  CHECK(error_of("b = \"x }\"\n").find("without '{'") != std::string::npos);
  CHECK(error_of("b = \"x {Name}\"\n").find("placeholder") != std::string::npos);
  CHECK(error_of("b = \"x {}\"\n").find("placeholder") != std::string::npos);
  CHECK(error_of("b = [\"x\"]\n").find("is not a string") != std::string::npos);
  CHECK(error_of("a = \"x\"\nb = = \n").find("nl.toml:2:") == 0);
  CHECK(error_of("a = \"x\"\na = \"y\"\n").find("nl.toml:2:") == 0);  // duplicate key
  CHECK(error_of("[a]\nb = \"x {n} and {m.k}\"\n").empty());
  CHECK_THROWS_AS(Catalogue::load(kWeb + "/i18n/xx.toml", "xx"), CatalogueError);
}

TEST_CASE("catalogue: the page language follows Accept-Language", "[console][catalogue]") {
  const auto& langs = console_languages();
  CHECK(choose_language("", langs) == "nl");
  CHECK(choose_language("fr-BE,fr;q=0.9,en;q=0.8", langs) == "fr");
  CHECK(choose_language("en-GB,en;q=0.9,nl;q=0.8", langs) == "en");
  CHECK(choose_language("de-DE,de;q=0.9,fr;q=0.5,en;q=0.4", langs) == "fr");
  CHECK(choose_language("de, en;q=0.1", langs) == "en");
  CHECK(choose_language("de", langs) == "nl");
  CHECK(choose_language("*", langs) == "nl");
  CHECK(choose_language("FR", langs) == "fr");
  CHECK(choose_language("fr;q=0, en;q=0.2", langs) == "en");
  CHECK(choose_language("en;q=0.5, fr;q=0.5", langs) == "en");  // a tie goes to the earlier
  CHECK(choose_language("en;q=2, fr;q=0.1", langs) == "fr");    // q above 1 is malformed
  CHECK(choose_language("en;q=abc, fr;q=0.100", langs) == "fr");
  CHECK(choose_language("en;q=0.12345, fr", langs) == "fr");
  CHECK(choose_language(";;;,,,=", langs) == "nl");
}

TEST_CASE("catalogue: an area's file is merged into its language, and a key defined twice is refused",
          "[console][catalogue]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sluis-catalogue-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("nl.toml", "[a]\nb = \"één\"\n");
  write("area.nl.toml", "[c]\nd = \"twee\"\n");
  write("area.fr.toml", "[c]\nd = \"deux\"\n");  // another language: not merged into nl
  const auto nl = Catalogue::load_dir(dir, "nl");
  CHECK(*nl.find("a.b") == "één");
  CHECK(*nl.find("c.d") == "twee");
  write("other.nl.toml", "[a]\nb = \"dubbel\"\n");
  try {
    (void)Catalogue::load_dir(dir, "nl");
    FAIL("a key defined in two files was accepted");
  } catch (const CatalogueError& e) {
    CHECK(std::string(e.what()).find("other.nl.toml: 'a.b' is already defined") !=
          std::string::npos);
  }
  fs::remove_all(dir);
}
