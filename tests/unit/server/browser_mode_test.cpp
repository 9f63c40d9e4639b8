// The transport's browser mode (the web console): which headers reach handlers, which bodies.
#include "sluis/server/config.hpp"
#include "sluis/server/http.hpp"

#include <catch2/catch.hpp>

namespace gw = sluis::server;

namespace {
const char* kFormPost =
    "POST /login/finish HTTP/1.1\r\nHost: localhost:8080\r\nCookie: __Host-sluis-session=abc\r\n"
    "Origin: http://localhost:8080\r\nSec-Fetch-Site: same-origin\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\ncsrf=x";
}

TEST_CASE("browser mode: Cookie, Origin, Sec-Fetch-Site and Host reach handlers, forms accepted") {
  gw::ServerConfig config;
  config.mode = gw::ListenerMode::browser_plain_loopback;
  auto r = gw::parse_http_request(kFormPost, config.request_limits());
  REQUIRE(r.has_value());
  CHECK(r->cookie == std::optional<std::string>("__Host-sluis-session=abc"));
  CHECK(r->origin == std::optional<std::string>("http://localhost:8080"));
  CHECK(r->sec_fetch_site == std::optional<std::string>("same-origin"));
  CHECK(r->host == std::optional<std::string>("localhost:8080"));
  CHECK(r->body == "csrf=x");
}

TEST_CASE("sluisd's mode: no browser header is passed on and a form body is refused") {
  const gw::ServerConfig config;  // partner_mtls
  CHECK_FALSE(config.request_limits().browser);
  auto r = gw::parse_http_request(kFormPost, config.request_limits());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == gw::ServerErrc::unsupported_media_type);
  auto get = gw::parse_http_request("GET /v1/x HTTP/1.1\r\nHost: a\r\nCookie: a=b\r\n\r\n");
  REQUIRE(get.has_value());
  CHECK_FALSE(get->cookie);
  CHECK_FALSE(get->host);
}

TEST_CASE("browser mode: a second Cookie or Sec-Fetch-Site header is refused") {
  gw::ServerConfig config;
  config.mode = gw::ListenerMode::browser_tls;
  auto r = gw::parse_http_request(
      "GET / HTTP/1.1\r\nHost: a\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Site: none\r\n\r\n",
      config.request_limits());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == gw::ServerErrc::malformed_request);
}
