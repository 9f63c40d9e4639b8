// Console HTTP input: form bodies, query strings, Cookie headers and static paths, with hostile
// inputs (oversized forms, broken escapes, forged and duplicate cookies, traversal attempts).
#include "sluis/console/http_input.hpp"

#include "result_printer.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sluis::console;

namespace {

InputResult<FormFields> form(std::string_view s, DuplicateNames d = DuplicateNames::refuse) {
  return parse_urlencoded(s, FormLimits{}, d);
}

}  // namespace

TEST_CASE("input: a form body decodes to its fields in order", "[console][input]") {
  const auto f = form("name=Ana+Lima&note=caf%C3%A9+%26+th%C3%A9%0D%0Aline+2&empty=&flag");
  REQUIRE(f.has_value());
  REQUIRE(f->size() == 4);
  CHECK(f->get("name") == "Ana Lima");
  CHECK(f->get("note") == "caf\xc3\xa9 & th\xc3\xa9\r\nline 2");
  CHECK(f->get("empty") == "");
  CHECK(f->get("flag") == "");
  CHECK(!f->get("missing"));
  CHECK(f->fields()[0].first == "name");
  CHECK(f->fields()[3].first == "flag");
  CHECK(form("")->size() == 0);
  // '+' is a space; an encoded '+' is a plus; '=' inside a value is kept.
  CHECK(form("a=1%2B1%3D2+ok=yes")->get("a") == "1+1=2 ok=yes");
  CHECK(form("a=b=c")->get("a") == "b=c");
}

TEST_CASE("input: duplicate names follow the policy the caller names", "[console][input]") {
  CHECK(form("purpose=care&purpose=audit").error() == InputErrc::duplicate_name);
  // A duplicate spelled with an escape is still a duplicate.
  CHECK(form("purpose=care&purpos%65=audit").error() == InputErrc::duplicate_name);
  const auto all = form("category=housing&category=health&x=1", DuplicateNames::keep_all);
  REQUIRE(all.has_value());
  CHECK(all->get_all("category") == std::vector<std::string_view>{"housing", "health"});
  CHECK(all->get("category") == "housing");
  CHECK(all->get_all("none").empty());
}

TEST_CASE("input: broken escapes, bad names, controls and invalid UTF-8 are refused",
          "[console][input]") {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "a=%4g", "a=100%", "%=1", "a=%%41"}) {
    INFO(bad);
    CHECK(form(bad).error() == InputErrc::bad_escape);
  }
  for (const char* bad :
       {"=1", "a b=1", "a%20b=1", "%3Cscript%3E=1", "a[]=1", "na%C3%AFve=1", "a/b=1", "+=1"}) {
    INFO(bad);
    CHECK(form(bad).error() == InputErrc::bad_name);
  }
  for (const char* bad : {"a=%00", "a=x%01y", "a=%7F", "a=%1B%5B31m"}) {
    INFO(bad);
    CHECK(form(bad).error() == InputErrc::control_character);
  }
  for (const char* bad : {"a=%C0%AF", "a=%ED%A0%80", "a=%FF", "a=%E2%82", "a=\xff"}) {
    INFO(bad);
    CHECK(form(bad).error() == InputErrc::invalid_utf8);
  }
  for (const char* bad : {"a=1&&b=2", "&a=1", "a=1&", "&"}) {
    INFO(bad);
    CHECK(form(bad).error() == InputErrc::malformed);
  }
}

TEST_CASE("input: oversized forms are refused before they are decoded", "[console][input]") {
  FormLimits limits;
  CHECK(parse_urlencoded(std::string(limits.max_bytes + 1, 'a'), limits, DuplicateNames::refuse)
            .error() == InputErrc::too_large);
  std::string many;
  for (std::size_t i = 0; i <= limits.max_fields; ++i)
    many += (i ? "&f" : "f") + std::to_string(i) + "=1";
  CHECK(parse_urlencoded(many, limits, DuplicateNames::refuse).error() ==
        InputErrc::too_many_fields);
  CHECK(parse_urlencoded(std::string(60000, '&'), limits, DuplicateNames::refuse).error() ==
        InputErrc::too_many_fields);
  CHECK(parse_urlencoded(std::string(limits.max_name_bytes + 1, 'n') + "=1", limits,
                         DuplicateNames::refuse)
            .error() == InputErrc::name_too_long);
  CHECK(parse_urlencoded("v=" + std::string(limits.max_value_bytes + 1, 'v'), limits,
                         DuplicateNames::refuse)
            .error() == InputErrc::value_too_long);
  // Exactly at the limits: accepted. Escapes count as the byte they decode to.
  CHECK(parse_urlencoded("v=" + std::string(limits.max_value_bytes, 'v'), limits,
                         DuplicateNames::refuse)
            .has_value());
  std::string escaped = "v=";
  for (std::size_t i = 0; i < limits.max_value_bytes; ++i)
    escaped += "%41";
  FormLimits roomy = limits;
  roomy.max_bytes = escaped.size();
  CHECK(parse_urlencoded(escaped, roomy, DuplicateNames::refuse)->get("v")->size() ==
        limits.max_value_bytes);
}

TEST_CASE("input: the query of a request target", "[console][input]") {
  const auto q =
      parse_query("/clients?q=Dupont%20%26+fils&page=2", FormLimits{}, DuplicateNames::refuse);
  REQUIRE(q.has_value());
  CHECK(q->get("q") == "Dupont & fils");
  CHECK(q->get("page") == "2");
  CHECK(parse_query("/clients", FormLimits{}, DuplicateNames::refuse)->size() == 0);
  CHECK(parse_query("/clients?", FormLimits{}, DuplicateNames::refuse)->size() == 0);
  CHECK(parse_query("/clients?page=1&page=2", FormLimits{}, DuplicateNames::refuse).error() ==
        InputErrc::duplicate_name);
  CHECK(parse_query("/clients?q=x#frag", FormLimits{}, DuplicateNames::refuse).error() ==
        InputErrc::malformed);
}

TEST_CASE("input: percent_decode on its own", "[console][input]") {
  CHECK(percent_decode("a+b%20c", true) == std::string("a b c"));
  CHECK(percent_decode("a+b%20c", false) == std::string("a+b c"));
  CHECK(percent_decode("%e2%82%ac", false) == std::string("\xe2\x82\xac"));
  CHECK(percent_decode("%2e%2e%2f", false) == std::string("../"));
  CHECK(percent_decode("%", false).error() == InputErrc::bad_escape);
}

TEST_CASE("input: cookies as browsers send them", "[console][input]") {
  const auto c = parse_cookie_header("__Host-sluis-session=AbC_123-x; lang=fr; theme=\"dark\"");
  REQUIRE(c.has_value());
  CHECK(c->size() == 3);
  auto s = c->find("__Host-sluis-session");
  CHECK(s.status == Cookies::Status::found);
  CHECK(s.value == "AbC_123-x");
  CHECK(c->find("lang").value == "fr");
  CHECK(c->find("theme").value == "dark");
  CHECK(c->find("missing").status == Cookies::Status::absent);
  // Names are case-sensitive (RFC 6265 §5.4 compares them exactly).
  CHECK(c->find("LANG").status == Cookies::Status::absent);
  CHECK(parse_cookie_header("")->size() == 0);
  CHECK(parse_cookie_header("a=1;")->size() == 1);
  CHECK(parse_cookie_header("a=1;;  ; b=2")->size() == 2);
}

TEST_CASE("input: forged and duplicate cookies are never guessed between", "[console][input]") {
  // A second copy (a parent domain's or another path's cookie of the same name): ambiguous.
  const auto dup = parse_cookie_header("sid=mine; other=1; sid=planted");
  REQUIRE(dup.has_value());
  CHECK(dup->find("sid").status == Cookies::Status::ambiguous);
  CHECK(dup->find("sid").value.empty());
  CHECK(dup->find("other").status == Cookies::Status::found);
  // A malformed copy of the same name also makes the name ambiguous; other names still work.
  for (const char* forged : {"sid=ok; sid=bad value", "sid=ok; sid=bad\"q", "sid=ok; sid=a,b",
                             "sid=ok; sid=a\\b", "sid=ok; sid", "sid=ok; sid=\"unterminated"}) {
    INFO(forged);
    const auto c = parse_cookie_header(forged);
    REQUIRE(c.has_value());
    CHECK(c->find("sid").status == Cookies::Status::ambiguous);
    CHECK(c->malformed() == 1);
  }
  // Odd cookies of other sites are dropped, not fatal.
  const auto odd = parse_cookie_header("=nameless; bad name=1; (x)=2; sid=fine; t=caf\xc3\xa9");
  REQUIRE(odd.has_value());
  CHECK(odd->find("sid").status == Cookies::Status::found);
  CHECK(odd->find("t").status == Cookies::Status::absent);
  CHECK(odd->malformed() == 4);
  // Control characters anywhere: an injection attempt, the whole header is refused.
  for (const std::string& bad :
       std::vector<std::string>{std::string("sid=a\r\nSet-Cookie: x=1"), std::string("sid=a\0b", 7),
                                std::string("sid=\x7f")}) {
    CHECK(parse_cookie_header(bad).error() == InputErrc::control_character);
  }
}

TEST_CASE("input: cookie limits", "[console][input]") {
  CookieLimits limits;
  CHECK(parse_cookie_header(std::string(limits.max_bytes + 1, 'a'), limits).error() ==
        InputErrc::too_large);
  std::string many;
  for (std::size_t i = 0; i <= limits.max_cookies; ++i)
    many += "c" + std::to_string(i) + "=1; ";
  CHECK(parse_cookie_header(many, limits).error() == InputErrc::too_many_fields);
  CHECK(parse_cookie_header(std::string(limits.max_name_bytes + 1, 'n') + "=1", limits).error() ==
        InputErrc::name_too_long);
  CHECK(parse_cookie_header("n=" + std::string(limits.max_value_bytes + 1, 'v'), limits).error() ==
        InputErrc::value_too_long);
}

TEST_CASE("input: static paths refuse every way out of the web root", "[console][input]") {
  CHECK(static_relative_path("/static/console.css", "/static/") == std::string("console.css"));
  CHECK(static_relative_path("/static/js/webauthn-login.js", "/static/") ==
        std::string("js/webauthn-login.js"));
  for (const std::string& bad : std::vector<std::string>{"/static/../config.toml",
                                                         "/static/js/../../x",
                                                         "/static/..",
                                                         "/static/.",
                                                         "/static/./a",
                                                         "/static/%2e%2e/x",
                                                         "/static/%2E%2E%2Fx",
                                                         "/static/.%2e/x",
                                                         "/static/%2fetc%2fpasswd",
                                                         "/static/..\\x",
                                                         "/static/js\\..\\..\\x",
                                                         "/static//etc/passwd",
                                                         "/static/",
                                                         "/static/a//b",
                                                         "/static/a/",
                                                         "/static/.hidden",
                                                         "/static/js/.git",
                                                         "/static/a:b",
                                                         "/static/a?b=1",
                                                         "/static/a#x",
                                                         "/staticx/a",
                                                         "/other/a",
                                                         "static/a",
                                                         "",
                                                         "/static/a%00.css",
                                                         std::string("/static/a\0.css", 15),
                                                         "/static/a b",
                                                         "/static/caf\xc3\xa9",
                                                         "/static/a/b/c/d/e/f/g/h/i",
                                                         "/static/" + std::string(300, 'a')}) {
    INFO(bad);
    CHECK(static_relative_path(bad, "/static/").error() == InputErrc::bad_path);
  }
  CHECK(static_relative_path("/static/a", "static/").error() == InputErrc::bad_path);
}

TEST_CASE("input: static files resolve inside the root only", "[console][input]") {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("sluis-static-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "root" / "js");
  fs::create_directories(base / "outside");
  std::ofstream(base / "root" / "console.css") << "body{}";
  std::ofstream(base / "root" / "js" / "a.js") << "1";
  std::ofstream(base / "outside" / "secret.txt") << "no";
  fs::create_symlink(base / "outside" / "secret.txt", base / "root" / "leak.txt");
  fs::create_directory_symlink(base / "outside", base / "root" / "out");

  const auto css = resolve_static_file(base / "root", "console.css");
  REQUIRE(css.has_value());
  CHECK(*css == fs::canonical(base / "root" / "console.css"));
  CHECK(resolve_static_file(base / "root", "js/a.js").has_value());
  CHECK(resolve_static_file(base / "root", "leak.txt").error() == InputErrc::bad_path);
  CHECK(resolve_static_file(base / "root", "out/secret.txt").error() == InputErrc::bad_path);
  CHECK(resolve_static_file(base / "root", "missing.css").error() == InputErrc::not_found);
  CHECK(resolve_static_file(base / "root", "js").error() == InputErrc::not_found);
  CHECK(resolve_static_file(base / "root", "../outside/secret.txt").error() == InputErrc::bad_path);
  CHECK(resolve_static_file(base / "root", "/etc/passwd").error() == InputErrc::bad_path);
  fs::remove_all(base);
}
