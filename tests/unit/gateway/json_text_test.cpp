// The JSON string escaper shared by the audit encoding and the dossier answer (audit/json_text.hpp).
#include "sluis/audit/json_text.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>

namespace json = boost::json;
using sluis::audit::append_json_string;

TEST_CASE("json text: control characters become \\u00XX with four hex digits", "[audit]") {
  std::string out;
  append_json_string(out, std::string("a\x01" "b\x1f" "c\x7f" "d\n", 8));
  CHECK(out == R"("a\u0001b\u001fc\u007fd\u000a")");
}

TEST_CASE("json text: quotes and backslashes are escaped, other bytes copied", "[audit]") {
  std::string out = "x";
  append_json_string(out, "q\" b\\ \xc3\xa9 </script>");
  CHECK(out == "x\"q\\\" b\\\\ \xc3\xa9 </script>\"");
}

TEST_CASE("json text: every single byte below 0x80 round-trips through a JSON parser", "[audit]") {
  for (int c = 0; c < 0x80; ++c) {
    const std::string s(1, static_cast<char>(c));
    std::string out;
    append_json_string(out, s);
    INFO("byte " << c);
    const auto parsed = json::parse(out);
    CHECK(std::string(parsed.as_string()) == s);
  }
}
