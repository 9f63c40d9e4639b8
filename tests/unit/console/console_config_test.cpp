// console.toml: the threads setting (its default, its bounds, its round trip through the file
// `sluis-console init` writes).
#include "sluis/console/console_config.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace sluis::console;

namespace {

const std::string kBase = R"(transport = "http-loopback"
origin = "http://localhost:8080"
rp_id = "localhost"
)";

ConsoleConfig parse(const std::string& extra) {
  return parse_console_config(kBase + extra, "console.toml", "/tmp");
}

std::string refusal(const std::string& extra) {
  try {
    (void)parse(extra);
  } catch (const ConsoleConfigError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("console config: two threads serve browsers unless configured", "[console]") {
  CHECK(parse("").threads == 2);
  CHECK(parse("threads = 6\n").threads == 6);
}

TEST_CASE("console config: a thread count out of bounds is refused with the bounds", "[console]") {
  for (const char* bad : {"threads = 1\n", "threads = 0\n", "threads = 65\n", "threads = \"4\"\n",
                          "threads = -2\n"}) {
    INFO(bad);
    CHECK(refusal(bad).find("threads must be a whole number from 2 to 64") != std::string::npos);
  }
}

TEST_CASE("console config: the file init writes reads back the same threads", "[console]") {
  ConsoleConfig c = parse("threads = 5\n");
  const ConsoleConfig again = parse_console_config(render_console_config(c), "console.toml", "/tmp");
  CHECK(again.threads == 5);
}
