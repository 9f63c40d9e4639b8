// Socket-free parts of the transport: request parsing, routing, problems, config, logs, metrics.
#include "sluis/server/config.hpp"
#include "sluis/server/http.hpp"
#include "sluis/server/metrics.hpp"
#include "sluis/server/problem.hpp"
#include "sluis/server/request_log.hpp"
#include "sluis/server/router.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include "result_printer.hpp"

#include <random>
#include <stdexcept>

namespace gw = sluis::server;

namespace {

gw::HttpRequest target(std::string_view t) {
  gw::HttpRequest r;
  auto ok = gw::parse_target(t, {}, r);
  if (!ok) throw std::runtime_error("refused");
  return r;
}

bool refused(std::string_view t) {
  gw::HttpRequest r;
  auto ok = gw::parse_target(t, {}, r);
  return !ok && ok.error() == gw::ServerErrc::malformed_path;
}

}  // namespace

TEST_CASE("request targets are decoded strictly", "[http]") {
  auto r = target("/v1/clients/ab%41c/fragments?category=health&x=a%20b");
  CHECK(r.segments == std::vector<std::string>{"v1", "clients", "abAc", "fragments"});
  CHECK(r.path == "/v1/clients/ab%41c/fragments");
  REQUIRE(r.query.size() == 2);
  CHECK(r.query_param("category") == std::optional<std::string_view>("health"));
  CHECK(r.query_param("x") == std::optional<std::string_view>("a b"));
  CHECK(target("/").segments.empty());
  for (const std::string_view bad :
       {"",          "v1/x",        "//",           "/v1//x",      "/v1/x/",
        "/v1/./x",   "/v1/../x",    "/v1/%2e%2e/x", "/v1/%2E/x",   "/v1/a%2fb",
        "/v1/a%5cb", "/v1/a%00b",   "/v1/a%0d%0ab", "/v1/a%c3%a9", "/v1/a%zz",
        "/v1/a%4",   "/v1/a b",     "/v1/\xc3\xa9", "/v1/x#frag",  "/v1/x?a=1&a=2",
        "/v1/x?=1",  "/v1/x?a=%ff", "/v1/%2525"}) {
    INFO(bad);
    CHECK(refused(bad));
  }
  // A query value is data: an escaped '%', '/' or '\\' decodes (a worker id may hold them); a
  // key, controls, non-ASCII and malformed escapes stay refused.
  auto v = target("/v1/audit/events?worker=50%25%2Fteam%5Cb");
  CHECK(v.query_param("worker") == std::optional<std::string_view>("50%/team\\b"));
  for (const std::string_view bad : {"/v1/x?a%25=1", "/v1/x?a%2F=1", "/v1/x?a=%0a", "/v1/x?a=%7f",
                                     "/v1/x?a=%c3%a9", "/v1/x?a=%2", "/v1/x?a=%%41"}) {
    INFO(bad);
    CHECK(refused(bad));
  }
  gw::RequestLimits tight;
  tight.segment_bytes = 4;
  gw::HttpRequest out;
  CHECK_FALSE(gw::parse_target("/abcde", tight, out));
  CHECK(gw::parse_target("/abcd", tight, out));
  CHECK(refused("/" + std::string(3000, 'a')));
  std::string many;
  for (int i = 0; i < 17; ++i)
    many += "/s";
  CHECK(refused(many));
}

TEST_CASE("parse_http_request: whole requests from bytes", "[http]") {
  auto ok = gw::parse_http_request(
      "POST /v1/clients/c1/fragments HTTP/1.1\r\nHost: gw\r\nSluis-Worker: w-1\r\n"
      "Sluis-Purpose: care-coordination\r\nContent-Type: application/json; charset=utf-8\r\n"
      "X-Request-Id: abc-123\r\nX-Other: dropped\r\nContent-Length: 2\r\n\r\n{}");
  REQUIRE(ok);
  CHECK(ok->method == "POST");
  CHECK(ok->worker == std::optional<std::string>("w-1"));
  CHECK(ok->purpose == std::optional<std::string>("care-coordination"));
  CHECK(ok->client_request_id == std::optional<std::string>("abc-123"));
  CHECK(ok->body == "{}");
  CHECK_FALSE(ok->accept);

  auto chunked =
      gw::parse_http_request("POST /x HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  REQUIRE(chunked);
  CHECK(chunked->body == "{}");

  struct Case {
    std::string raw;
    gw::ServerErrc expected;
  };
  gw::RequestLimits limits;
  limits.header_bytes = 1024;
  limits.body_bytes = 16;
  const Case cases[] = {
      {"GET /x HTTP/1.1\r\nHost: gw\r\n", gw::ServerErrc::incomplete_request},
      {"GET /x HTTP/1.1\r\n\r\n", gw::ServerErrc::malformed_request},  // no Host
      {"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", gw::ServerErrc::malformed_request},
      {"GET /x HTTP/1.1\r\nHost: a\r\n" + std::string(2000, 'X') + ": y\r\n\r\n",
       gw::ServerErrc::headers_too_large},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: "
       "17\r\n\r\n" +
           std::string(17, 'a'),
       gw::ServerErrc::body_too_large},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: "
       "chunked\r\n\r\n20\r\n" +
           std::string(32, 'a') + "\r\n0\r\n\r\n",
       gw::ServerErrc::body_too_large},
      {"POST /x HTTP/1.1\r\nHost: a\r\n\r\n", gw::ServerErrc::length_required},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\na",
       gw::ServerErrc::unsupported_media_type},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 1\r\n"
       "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
       gw::ServerErrc::malformed_request},
      {"GET /x HTTP/1.1\r\nHost: a\r\nSluis-Worker: a\r\nSluis-Worker: b\r\n\r\n",
       gw::ServerErrc::malformed_request},
      {"GET /x HTTP/1.1\r\nHost: a\r\nX-Request-Id: has space\r\n\r\n",
       gw::ServerErrc::malformed_request},
      {"GET /x HTTP/1.1\r\nHost: a\r\nSluis-Worker: caf\xc3\xa9\r\n\r\n",
       gw::ServerErrc::malformed_request},
      {"GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n", gw::ServerErrc::malformed_path},
      {"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", gw::ServerErrc::malformed_request},
      {"\x16\x03\x01\x00\xa5garbage", gw::ServerErrc::malformed_request},
  };
  for (const auto& c : cases) {
    INFO(c.raw.substr(0, 120));
    auto r = gw::parse_http_request(c.raw, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error() == c.expected);
  }
}

TEST_CASE("router: templates, literal precedence, 404/405, exceptions become 500", "[http]") {
  gw::Router router;
  router.add("GET", "/v1/clients/{client}/dossier",
             [](const gw::HttpRequest&, const gw::PathParams& p) {
               return gw::HttpResponse::json(200, std::string(p.at("client")));
             });
  router.add("GET", "/v1/clients/special/dossier",
             [](const gw::HttpRequest&, const gw::PathParams&) {
               return gw::HttpResponse::json(200, "literal");
             });
  router.add("POST", "/v1/boom",
             [](const gw::HttpRequest&, const gw::PathParams&) -> gw::HttpResponse {
               throw std::runtime_error("SELECT secret FROM t");
             });
  CHECK_THROWS_AS(router.add("GET", "/v1/clients/{other}/dossier", {}), std::invalid_argument);
  CHECK_THROWS_AS(
      router.add("GET", "/v1/clients/{x}/dossier",
                 [](const gw::HttpRequest&, const gw::PathParams&) { return gw::HttpResponse{}; }),
      std::invalid_argument);
  CHECK_THROWS_AS(
      router.add("GET", "/v1//x",
                 [](const gw::HttpRequest&, const gw::PathParams&) { return gw::HttpResponse{}; }),
      std::invalid_argument);

  auto req = [](std::string method, std::string_view t) {
    gw::HttpRequest r;
    REQUIRE(gw::parse_target(t, {}, r));
    r.method = std::move(method);
    r.request_id = "0123456789abcdef0123456789abcdef";
    return r;
  };
  std::string_view route;
  auto r1 = router.dispatch(req("GET", "/v1/clients/p-123/dossier"), route);
  CHECK(r1.body == "p-123");
  CHECK(route == "/v1/clients/{client}/dossier");
  CHECK(router.dispatch(req("GET", "/v1/clients/special/dossier"), route).body == "literal");
  auto r404 = router.dispatch(req("GET", "/v1/nope"), route);
  CHECK(r404.status == 404);
  CHECK(route.empty());
  auto r405 = router.dispatch(req("DELETE", "/v1/clients/p/dossier"), route);
  CHECK(r405.status == 405);
  REQUIRE(r405.headers.size() == 1);
  CHECK(r405.headers[0].second == "GET");
  router.add("DELETE", "/v1/clients/{client}/dossier",
             [](const gw::HttpRequest&, const gw::PathParams& p) {
               return gw::HttpResponse::json(200, "deleted " + std::string(p.at("client")));
             });
  // The literal GET route does not hide the placeholder route's DELETE.
  CHECK(router.dispatch(req("DELETE", "/v1/clients/special/dossier"), route).body ==
        "deleted special");
  auto r405b = router.dispatch(req("PUT", "/v1/clients/special/dossier"), route);
  CHECK(r405b.status == 405);
  CHECK(r405b.headers[0].second == "GET, DELETE");
  auto r500 = router.dispatch(req("POST", "/v1/boom"), route);
  CHECK(r500.status == 500);
  CHECK(r500.body.find("SELECT") == std::string::npos);
  CHECK(r500.body.find("urn:sluis:request:0123456789abcdef0123456789abcdef") != std::string::npos);
}

TEST_CASE("problem+json has a stable type per code", "[http]") {
  auto p = gw::make_problem(gw::TransportProblem::headers_too_large, "Send fewer headers.",
                            gw::problem_instance("abc"));
  CHECK(p.status == 431);
  CHECK(p.content_type == "application/problem+json");
  auto o = boost::json::parse(p.body).as_object();
  CHECK(o.at("type").as_string() == "urn:sluis:problem:headers-too-large");
  CHECK(o.at("code").as_string() == "headers-too-large");
  CHECK(o.at("status").as_int64() == 431);
  CHECK(o.at("detail").as_string() == "Send fewer headers.");
  CHECK(o.at("instance").as_string() == "urn:sluis:request:abc");
  CHECK(o.contains("title"));
  auto custom = gw::make_problem(403, "consent-required", "Consent is required");
  CHECK(boost::json::parse(custom.body).as_object().at("type").as_string() ==
        "urn:sluis:problem:consent-required");
  CHECK_FALSE(boost::json::parse(custom.body).as_object().contains("detail"));
  auto bad = gw::make_problem(403, "Bad Code!", "x");
  CHECK(bad.status == 500);
  CHECK(gw::problem_code(gw::TransportProblem::draining) == "draining");
  CHECK(gw::problem_status(gw::TransportProblem::overloaded) == 503);
}

TEST_CASE("log lines are JSON and redact ids that are not safe tokens", "[log]") {
  std::vector<std::string> lines;
  auto sink =
      gw::LogSink::callback([&](std::string_view l) { lines.emplace_back(l); }, gw::LogLevel::info);
  gw::RequestRecord r;
  r.time = std::chrono::system_clock::now();
  r.request_id = "0123456789abcdef0123456789abcdef";
  r.partner_id = "ocmw-brussel";
  r.worker_id = "jan.peeters@ocmw\n{\"injected\":1}";
  r.method = "GET";
  r.route = gw::LogLiteral::route_template("/v1/clients/{client}/dossier");
  r.status = 200;
  r.latency_us = 1234;
  sink->request(r);
  sink->event(gw::LogLevel::debug, "not_shown");
  sink->event(gw::LogLevel::warn, "drain_timeout", "slow");
  REQUIRE(lines.size() == 2);
  auto o = boost::json::parse(lines[0]).as_object();
  CHECK(o.at("worker").as_string() == "<invalid>");
  CHECK(o.at("partner").as_string() == "ocmw-brussel");
  CHECK(o.at("route").as_string() == "/v1/clients/{client}/dossier");
  CHECK(o.at("latency_us").as_int64() == 1234);
  CHECK(lines[0].find("injected") == std::string::npos);
  CHECK(boost::json::parse(lines[1]).as_object().at("reason").as_string() == "slow");
}

TEST_CASE("an event line carries whole-number fields named by literals", "[log]") {
  std::vector<std::string> lines;
  auto sink =
      gw::LogSink::callback([&](std::string_view l) { lines.emplace_back(l); }, gw::LogLevel::info);
  sink->event(gw::LogLevel::error, "witness_alert", "shrunk", {{"old_size", 15}, {"new_size", 9}});
  sink->event(gw::LogLevel::debug, "not_shown", "", {{"n", 1}});
  sink->event(gw::LogLevel::info, "witness_on", "", {{"interval_seconds", 300}});
  REQUIRE(lines.size() == 2);
  const auto o = boost::json::parse(lines[0]).as_object();
  CHECK(o.at("level").as_string() == "error");
  CHECK(o.at("event").as_string() == "witness_alert");
  CHECK(o.at("reason").as_string() == "shrunk");
  CHECK(o.at("old_size").as_int64() == 15);
  CHECK(o.at("new_size").as_int64() == 9);
  const auto on = boost::json::parse(lines[1]).as_object();
  CHECK_FALSE(on.contains("reason"));
  CHECK(on.at("interval_seconds").as_int64() == 300);
}

TEST_CASE("a 5xx log line is at level error and names its cause", "[log]") {
  std::vector<std::string> lines;
  auto sink =
      gw::LogSink::callback([&](std::string_view l) { lines.emplace_back(l); }, gw::LogLevel::info);
  gw::RequestRecord r;
  r.request_id = "0123456789abcdef0123456789abcdef";
  r.status = 500;
  r.cause = "store_crypto_failure";
  sink->request(r);
  r.cause = "";
  sink->request(r);  // a producer that forgot: still says so
  r.status = 200;
  sink->request(r);
  REQUIRE(lines.size() == 3);
  auto first = boost::json::parse(lines[0]).as_object();
  CHECK(first.at("level").as_string() == "error");
  CHECK(first.at("cause").as_string() == "store_crypto_failure");
  CHECK(first.at("request_id").as_string() == "0123456789abcdef0123456789abcdef");
  CHECK(boost::json::parse(lines[1]).as_object().at("cause").as_string() == "unrecorded");
  auto ok = boost::json::parse(lines[2]).as_object();
  CHECK(ok.at("level").as_string() == "info");
  CHECK_FALSE(ok.contains("cause"));
  // Every 5xx problem carries a cause from its code; a 4xx none.
  CHECK(gw::make_problem(gw::TransportProblem::internal_error, {}, "").cause.view() ==
        "internal_error");
  CHECK(gw::make_problem(gw::TransportProblem::draining, {}, "").cause.view() == "draining");
  CHECK(gw::make_problem(gw::TransportProblem::not_found, {}, "").cause.view().empty());
}

TEST_CASE("metrics render in Prometheus text format", "[metrics]") {
  gw::Metrics m;
  m.record_request("/v1/x", 200, 700);
  m.record_request("/v1/x", 200, 3'000'000);
  m.record_request("unmatched", 404, 10);
  m.record_handshake_failure(gw::HandshakeFailure::revoked);
  m.record_rejected(gw::ConnectionRejection::over_limit);
  m.connection_opened();
  const auto text = m.render_prometheus();
  CHECK(text.find("sluis_http_requests_total{route=\"/v1/x\",status=\"200\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("sluis_http_request_duration_seconds_bucket{le=\"0.001\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("sluis_http_request_duration_seconds_bucket{le=\"5\"} 3\n") != std::string::npos);
  CHECK(text.find("sluis_http_request_duration_seconds_count 3\n") != std::string::npos);
  CHECK(text.find("sluis_tls_handshake_failures_total{reason=\"revoked\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("sluis_rejected_connections_total{reason=\"over_limit\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("sluis_open_connections 1\n") != std::string::npos);
}

TEST_CASE("parse_http_request survives random and mutated input", "[http]") {
  // A cheap in-test fuzz pass; the libFuzzer target (issue 7) drives the same entry point.
  std::mt19937 rng(20261122);
  const std::string seed =
      "POST /v1/clients/c1/fragments?x=1 HTTP/1.1\r\nHost: gw\r\nSluis-Worker: w\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: "
      "chunked\r\n\r\n4\r\n{\"a\"\r\n0\r\n\r\n";
  using namespace std::string_literals;
  const std::string alphabet = "\r\n:%/. ?&=#\x00\x7f\xff"s + "0123456789abcdefABCDEF";
  gw::RequestLimits limits;
  limits.header_bytes = 512;
  limits.body_bytes = 64;
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string input = seed;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % (input.size() + 1);
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
      case 0: input.insert(pos, 1, c); break;
      case 1:
        if (pos < input.size()) input.erase(pos, 1);
        break;
      default:
        if (pos < input.size()) input[pos] = c;
        break;
      }
    }
    auto r = gw::parse_http_request(input, limits);
    if (r) {
      ++accepted;
      for (const auto& s : r->segments) {
        CHECK(s != "..");
        CHECK(s.find('/') == std::string::npos);
      }
    }
  }
  CHECK(accepted > 0);
  for (int i = 0; i < 500; ++i) {
    std::string junk(rng() % 300, '\0');
    for (auto& ch : junk)
      ch = static_cast<char>(rng());
    CHECK_NOTHROW((void)gw::parse_http_request(junk, limits));
  }
}
