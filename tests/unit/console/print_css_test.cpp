// The print stylesheet's promises, read from the file the console serves: the card at ISO/IEC
// 7810 ID-1 size, A4 pages, print-only rules, nothing fetched from elsewhere, well-formed blocks.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace {

std::string read_static(const std::string& name) {
  const auto path = std::filesystem::path(SLUIS_SOURCE_DIR) / "console/web/static" / name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The declarations of the first rule whose selector list is exactly `selector`.
std::string rule(const std::string& css, const std::string& selector) {
  const auto at = css.find("\n" + selector + " {");
  REQUIRE(at != std::string::npos);
  const auto open = css.find('{', at);
  return css.substr(open + 1, css.find('}', open) - open - 1);
}

std::string without_comments(std::string css) {
  return std::regex_replace(css, std::regex(R"(/\*[\s\S]*?\*/)"), "");
}

}  // namespace

TEST_CASE("print css: the card is credit-card size and documents are A4", "[console][print]") {
  const auto css = without_comments(read_static("print.css"));
  const auto card = rule(css, ".print-card");
  CHECK(card.find("width: 85.6mm;") != std::string::npos);
  CHECK(card.find("height: 53.98mm;") != std::string::npos);
  CHECK(card.find("box-sizing: border-box;") != std::string::npos);  // the border is inside
  CHECK(card.find("break-inside: avoid;") != std::string::npos);
  CHECK(rule(css, "@page").find("size: A4 portrait;") != std::string::npos);
  CHECK(rule(css, "@page cards").find("size: A4 portrait;") != std::string::npos);
  CHECK(css.find("@media print {") != std::string::npos);
  CHECK(css.find("display: table-header-group;") != std::string::npos);
  // Two columns of ID-1 cards and a 5 mm gutter (176.2 mm) fit in A4 less 10 mm margins.
  CHECK(rule(css, ".print-card-sheet").find("gap: 5mm;") != std::string::npos);
  CHECK(rule(css, ".print-card-sheet").find("repeat(2, 85.6mm)") != std::string::npos);
}

TEST_CASE("print css: nothing is fetched from elsewhere and every block is closed",
          "[console][print]") {
  for (const char* name : {"print.css", "console.css"}) {
    INFO(name);
    const auto css = without_comments(read_static(name));
    CHECK(css.find("url(") == std::string::npos);
    CHECK(css.find("@import") == std::string::npos);
    CHECK(css.find("expression(") == std::string::npos);
    int depth = 0;
    bool never_negative = true;
    for (const char c : css) {
      depth += c == '{' ? 1 : c == '}' ? -1 : 0;
      never_negative = never_negative && depth >= 0;
    }
    CHECK(depth == 0);
    CHECK(never_negative);
  }
  const auto js = read_static("js/print.js");
  CHECK(js.find("window.print()") != std::string::npos);
  CHECK(js.find("[data-print]") != std::string::npos);
}
