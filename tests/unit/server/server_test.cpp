// The HTTPS server over real mTLS sockets on 127.0.0.1: identity, refusals, limits, drain, metrics.
#include "server_fixture.hpp"

#include "sluis/server/problem.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include "result_printer.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include <signal.h>
#include <unistd.h>

using namespace sluis::test;
using namespace std::chrono_literals;

namespace {

gw::Router test_router() {
  gw::Router router;
  router.add("GET", "/v1/whoami", [](const gw::HttpRequest& req, const gw::PathParams&) {
    return gw::HttpResponse::json(200, "{\"partner\":\"" + req.peer.partner_id +
                                           "\",\"serial\":\"" + req.peer.serial_hex + "\"}");
  });
  router.add("POST", "/v1/clients/{client}/fragments",
             [](const gw::HttpRequest& req, const gw::PathParams& p) {
               return gw::HttpResponse::json(
                   201, "{\"client_len\":" + std::to_string(p.at("client").size()) +
                            ",\"body_len\":" + std::to_string(req.body.size()) + "}");
             });
  router.add("GET", "/v1/slow", [](const gw::HttpRequest&, const gw::PathParams&) {
    std::this_thread::sleep_for(700ms);
    return gw::HttpResponse::json(200, "{\"slow\":true}");
  });
  return router;
}

struct Gateway {
  Pki& pki;
  gw::HttpsServer server;
  Gateway(Pki& p, gw::ServerConfig config, gw::ServerHooks hooks = {})
      : pki(p), server(std::move(config), test_router(), with_quiet_log(std::move(hooks))) {
    server.start();
  }
  static gw::ServerHooks with_quiet_log(gw::ServerHooks hooks) {
    if (!hooks.log) hooks.log = gw::LogSink::callback([](std::string_view) {}, gw::LogLevel::info);
    return hooks;
  }
  TlsClient client(const gw::Credential* cred, bool tls12 = false) {
    return TlsClient(server.port(), pki.ca.certificate(), ClientOptions{cred, tls12});
  }
};

std::string problem_code_of(const Response& r) {
  auto v = boost::json::parse(r.body);
  return std::string(v.as_object().at("code").as_string());
}

}  // namespace

TEST_CASE("mTLS request succeeds and the handler sees the partner id", "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-brussel");
  Gateway gwy(pki, pki.config);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  CHECK(std::string(SSL_get_version(c.native())) == "TLSv1.3");
  auto r = c.request("GET", "/v1/whoami");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.find("\"partner\":\"ocmw-brussel\"") != std::string::npos);
  CHECK(r->body.find(partner.certificate.serial_hex()) != std::string::npos);
  CHECK(r->header("X-Request-Id").size() == 32);
  CHECK(r->header("Cache-Control") == "no-store");
}

TEST_CASE("connections without a client certificate or from a foreign CA are refused", "[server]") {
  Pki pki;
  Gateway gwy(pki, pki.config);
  SECTION("no client certificate") {
    auto c = gwy.client(nullptr);
    // TLS 1.3: the client may finish its side before the server's refusal arrives.
    const bool refused = c.connect() || !c.request("GET", "/v1/whoami");
    CHECK(refused);
    CHECK(eventually([&] {
      return gwy.server.metrics().handshake_failures(gw::HandshakeFailure::no_certificate) == 1;
    }));
  }
  SECTION("certificate from another CA") {
    auto foreign = gw::GatewayCa::create("evil CA", 24h).value();
    const auto cred = foreign.issue_partner_certificate({"ocmw-brussel", "", 1h}).value();
    auto c = gwy.client(&cred);
    const bool refused = c.connect() || !c.request("GET", "/v1/whoami");
    CHECK(refused);
    CHECK(eventually([&] {
      return gwy.server.metrics().handshake_failures(gw::HandshakeFailure::untrusted) == 1;
    }));
  }
}

TEST_CASE("revocation refuses new handshakes and the next request on open connections",
          "[server]") {
  Pki pki;
  const auto partner = pki.partner("caw-oost");
  const auto other = pki.partner("home-care-1");
  Gateway gwy(pki, pki.config);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  auto r1 = c.request("GET", "/v1/whoami");
  REQUIRE(r1);
  REQUIRE(r1->status == 200);
  REQUIRE(r1->keep_alive);

  gw::RevocationList revoked;
  REQUIRE(revoked.add(partner.certificate.serial_hex()));
  REQUIRE(revoked.save_file(pki.config.tls.revocation_list));
  gwy.server.reload();  // what SIGHUP does

  auto r2 = c.request("GET", "/v1/whoami");
  REQUIRE(r2);
  CHECK(r2->status == 403);
  CHECK(r2->content_type == "application/problem+json");
  CHECK(problem_code_of(*r2) == "certificate-revoked");
  CHECK_FALSE(r2->keep_alive);
  CHECK_FALSE(c.request("GET", "/v1/whoami"));  // the connection is closed

  auto again = gwy.client(&partner);
  const bool refused = again.connect() || !again.request("GET", "/v1/whoami");
  CHECK(refused);
  CHECK(eventually(
      [&] { return gwy.server.metrics().handshake_failures(gw::HandshakeFailure::revoked) == 1; }));

  auto unaffected = gwy.client(&other);  // others keep being served
  REQUIRE_FALSE(unaffected.connect());
  auto r3 = unaffected.request("GET", "/v1/whoami");
  REQUIRE(r3);
  CHECK(r3->status == 200);
}

TEST_CASE("revoke_now is in force when it returns, whatever the file says later", "[server]") {
  Pki pki;
  const auto partner = pki.partner("caw-west");
  const auto other = pki.partner("caw-zuid");
  Gateway gwy(pki, pki.config);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  REQUIRE(c.request("GET", "/v1/whoami")->status == 200);  // change detection just ran

  auto& store = gwy.server.revocations();
  CHECK(store.revoke_now("not-a-serial").error() == gw::ServerErrc::invalid_argument);
  // The serial is not in the file: revoke_now alone puts it in force, with no sleep and no
  // reload call, for the open connection and for new handshakes.
  REQUIRE(store.revoke_now(partner.certificate.serial_hex()));
  auto r = c.request("GET", "/v1/whoami");
  REQUIRE(r);
  CHECK(problem_code_of(*r) == "certificate-revoked");
  auto again = gwy.client(&partner);
  CHECK((again.connect() || !again.request("GET", "/v1/whoami")));

  // A reload of a file without it (an edit by hand, an unreadable file) does not undo it.
  gw::RevocationList unrelated;
  REQUIRE(unrelated.add("ABCDEF"));
  REQUIRE(unrelated.save_file(pki.config.tls.revocation_list));
  REQUIRE(store.reload());
  CHECK(store.is_revoked(partner.certificate.serial_hex()));
  CHECK(store.is_revoked("abcdef"));
  std::filesystem::remove(pki.config.tls.revocation_list);
  CHECK_FALSE(store.reload());
  REQUIRE(store.revoke_now(other.certificate.serial_hex()));  // the file is gone: still in force
  CHECK(store.is_revoked(other.certificate.serial_hex()));
  CHECK(store.is_revoked(partner.certificate.serial_hex()));
}

TEST_CASE("a changed revocation file takes effect without a reload call", "[server]") {
  Pki pki;
  const auto partner = pki.partner("shelter-noord");
  Gateway gwy(pki, pki.config);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  REQUIRE(c.request("GET", "/v1/whoami")->status == 200);
  gw::RevocationList revoked;
  REQUIRE(revoked.add(partner.certificate.serial_hex()));
  REQUIRE(revoked.save_file(pki.config.tls.revocation_list));
  std::this_thread::sleep_for(1100ms);  // change detection runs at most once per second
  auto r = c.request("GET", "/v1/whoami");
  REQUIRE(r);
  CHECK(r->status == 403);
}

TEST_CASE("TLS 1.2 is refused by default and accepted with an AEAD suite when configured",
          "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-gent");
  SECTION("default: TLS 1.3 only") {
    Gateway gwy(pki, pki.config);
    auto c = gwy.client(&partner, true);
    CHECK(c.connect());
    CHECK(eventually([&] {
      return gwy.server.metrics().handshake_failures(gw::HandshakeFailure::protocol) == 1;
    }));
  }
  SECTION("allow_tls12 = true") {
    auto config = pki.config;
    config.tls.allow_tls12 = true;
    Gateway gwy(pki, config);
    auto c = gwy.client(&partner, true);
    REQUIRE_FALSE(c.connect());
    CHECK(std::string(SSL_get_version(c.native())) == "TLSv1.2");
    const std::string cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(c.native()));
    CHECK(cipher.rfind("ECDHE-", 0) == 0);
    CHECK(
        (cipher.find("GCM") != std::string::npos || cipher.find("CHACHA20") != std::string::npos));
    auto r = c.request("GET", "/v1/whoami");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}

TEST_CASE("transport errors are problem+json", "[server]") {
  Pki pki;
  const auto partner = pki.partner("mental-health-1");
  auto config = pki.config;
  config.limits.body_limit_bytes = 1024;
  config.limits.header_limit_bytes = 4096;
  Gateway gwy(pki, config);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());

  SECTION("oversized body → 413") {
    auto r = c.request("POST", "/v1/clients/abc/fragments", std::string(5000, 'x'));
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->content_type == "application/problem+json");
    CHECK(problem_code_of(*r) == "payload-too-large");
    auto v = boost::json::parse(r->body).as_object();
    CHECK(v.at("type").as_string() == "urn:sluis:problem:payload-too-large");
    CHECK(v.at("status").as_int64() == 413);
  }
  SECTION("header flood → 431") {
    std::vector<std::pair<std::string, std::string>> flood;
    for (int i = 0; i < 100; ++i)
      flood.emplace_back("X-Flood-" + std::to_string(i), std::string(80, 'a'));
    auto r = c.request("GET", "/v1/whoami", {}, flood);
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(problem_code_of(*r) == "headers-too-large");
  }
  SECTION("POST without length → 411, wrong media type → 415") {
    REQUIRE_FALSE(c.write_raw("POST /v1/clients/a/fragments HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 411);
    auto c2 = gwy.client(&partner);
    REQUIRE_FALSE(c2.connect());
    REQUIRE_FALSE(c2.write_raw("POST /v1/clients/a/fragments HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"));
    auto r2 = c2.read_response();
    REQUIRE(r2);
    CHECK(r2->status == 415);
  }
  SECTION("path tricks → 400, unknown → 404, wrong method → 405") {
    for (const std::string target :
         {"/v1/clients/%2e%2e/fragments", "/v1/clients/a%2Fb/fragments", "/v1//whoami",
          "/v1/clients/../whoami", "/v1/clients/%00/fragments", "/v1/whoami/"}) {
      auto cx = gwy.client(&partner);
      REQUIRE_FALSE(cx.connect());
      auto r = cx.request("GET", target);
      REQUIRE(r);
      INFO(target);
      CHECK(r->status == 400);
      CHECK(problem_code_of(*r) == "malformed-path");
    }
    auto r404 = c.request("GET", "/v1/nothing-here");
    REQUIRE(r404);
    CHECK(r404->status == 404);
    CHECK(problem_code_of(*r404) == "not-found");
    auto r405 = c.request("DELETE", "/v1/whoami");
    REQUIRE(r405);
    CHECK(r405->status == 405);
    CHECK(r405->header("Allow") == "GET");
    CHECK(problem_code_of(*r405) == "method-not-allowed");
  }
  SECTION("garbage → 400") {
    REQUIRE_FALSE(c.write_raw("GET /v1/whoami HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(problem_code_of(*r) == "malformed-request");
    CHECK(r->body.find("Bad Header") == std::string::npos);
  }
}

TEST_CASE("keep-alive reuses one connection up to the request cap", "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-brussel");
  auto config = pki.config;
  config.limits.max_requests_per_connection = 3;
  Gateway gwy(pki, config);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  for (int i = 1; i <= 3; ++i) {
    auto r = c.request("GET", "/v1/whoami");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->keep_alive == (i < 3));
  }
  // Metrics are recorded just after the response is written: allow the server a moment.
  CHECK(eventually([&] { return gwy.server.metrics().requests("/v1/whoami", 200) == 3; }));
  CHECK_FALSE(c.request("GET", "/v1/whoami"));
}

TEST_CASE("a slow-loris client is cut at the header timeout while others are served", "[server]") {
  Pki pki;
  const auto partner = pki.partner("street-work");
  auto config = pki.config;
  config.limits.header_timeout = 800ms;
  Gateway gwy(pki, config);

  std::promise<std::chrono::milliseconds> cut;
  std::thread slow([&] {
    asio::io_context ioc;
    ssl::context ctx(ssl::context::tls_client);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.native_handle()),
                        pki.ca.certificate().native_handle());
    SSL_CTX_use_certificate(ctx.native_handle(), partner.certificate.native_handle());
    SSL_CTX_use_PrivateKey(ctx.native_handle(), partner.key.native_handle());
    ssl::stream<tcp::socket> s(ioc, ctx);
    s.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), gwy.server.port()));
    s.handshake(ssl::stream_base::client);
    const auto start = std::chrono::steady_clock::now();
    std::optional<std::chrono::milliseconds> closed_after;
    std::array<char, 256> buf{};
    s.async_read_some(asio::buffer(buf), [&](boost::system::error_code, std::size_t) {
      closed_after = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    });
    asio::steady_timer timer(ioc);
    const std::string dribble =
        "GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
    std::size_t sent = 0;
    std::function<void()> step = [&] {
      if (closed_after || sent >= dribble.size()) return;
      asio::async_write(s, asio::buffer(dribble.data() + sent, 1),
                        [&](boost::system::error_code ec, std::size_t) {
                          if (ec) return;
                          ++sent;
                          timer.expires_after(100ms);
                          timer.async_wait([&](boost::system::error_code tec) {
                            if (!tec) step();
                          });
                        });
    };
    step();
    ioc.run_for(4s);
    cut.set_value(closed_after.value_or(std::chrono::milliseconds(99'999)));
    boost::system::error_code ignored;
    s.next_layer().close(ignored);
  });

  std::this_thread::sleep_for(200ms);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.request("GET", "/v1/whoami");
  const auto served_in = std::chrono::steady_clock::now() - t0;
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(served_in < 500ms);

  const auto cut_after = cut.get_future().get();
  slow.join();
  CHECK(cut_after >= 700ms);
  CHECK(cut_after < 2500ms);
}

TEST_CASE("connections beyond the limit are refused cheaply", "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-brussel");
  auto config = pki.config;
  config.limits.max_connections = 2;
  Gateway gwy(pki, config);
  auto a = gwy.client(&partner);
  auto b = gwy.client(&partner);
  REQUIRE_FALSE(a.connect());
  REQUIRE_FALSE(b.connect());
  REQUIRE(a.request("GET", "/v1/whoami"));
  REQUIRE(b.request("GET", "/v1/whoami"));
  auto third = gwy.client(&partner);
  CHECK(third.connect());
  CHECK(gwy.server.metrics().rejected(gw::ConnectionRejection::over_limit) >= 1);
  a.close();
  CHECK(eventually([&] { return gwy.server.metrics().open_connections() == 1; }));
  auto fourth = gwy.client(&partner);
  REQUIRE_FALSE(fourth.connect());
  auto r = fourth.request("GET", "/v1/whoami");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("graceful shutdown completes an in-flight request and closes idle connections",
          "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-brussel");
  Gateway gwy(pki, pki.config);
  auto idle = gwy.client(&partner);
  REQUIRE_FALSE(idle.connect());
  REQUIRE(idle.request("GET", "/v1/whoami"));

  auto busy = std::async(std::launch::async, [&] {
    auto c = gwy.client(&partner);
    if (c.connect()) return std::optional<Response>{};
    return c.request("GET", "/v1/slow");
  });
  std::this_thread::sleep_for(250ms);
  const auto t0 = std::chrono::steady_clock::now();
  gwy.server.shutdown();
  const auto took = std::chrono::steady_clock::now() - t0;
  auto r = busy.get();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_FALSE(r->keep_alive);
  CHECK(took < 2s);  // did not wait for the idle connection's keep-alive timeout
  CHECK_FALSE(idle.request("GET", "/v1/whoami"));
  auto late = gwy.client(&partner);
  CHECK(late.connect());
}

TEST_CASE("metrics answer on loopback and a non-loopback metrics bind is refused", "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-brussel");
  {
    Gateway gwy(pki, pki.config);
    auto c = gwy.client(&partner);
    REQUIRE_FALSE(c.connect());
    REQUIRE(c.request("GET", "/v1/whoami"));
    REQUIRE(gwy.server.metrics_port() != 0);
    REQUIRE(eventually([&] { return gwy.server.metrics().requests("/v1/whoami", 200) == 1; }));
    auto m = plain_get(gwy.server.metrics_port(), "/metrics");
    REQUIRE(m);
    CHECK(m->status == 200);
    CHECK(m->body.find("sluis_http_requests_total{route=\"/v1/whoami\",status=\"200\"} 1") !=
          std::string::npos);
    CHECK(m->body.find("sluis_http_request_duration_seconds_bucket") != std::string::npos);
    CHECK(m->body.find("sluis_open_connections 1") != std::string::npos);
    CHECK(m->body.find("sluis_tls_handshake_failures_total{reason=\"revoked\"} 0") !=
          std::string::npos);
    CHECK(m->body.find("sluis_rejected_connections_total") != std::string::npos);
    auto other = plain_get(gwy.server.metrics_port(), "/other");
    REQUIRE(other);
    CHECK(other->status == 404);
  }
  auto config = pki.config;
  config.metrics_address = "0.0.0.0";
  gw::HttpsServer server(config, test_router(), Gateway::with_quiet_log({}));
  CHECK_THROWS_WITH(server.start(), Catch::Contains("loopback"));
}

TEST_CASE("a port already in use gives a clear sentence at start-up", "[server]") {
  Pki pki;
  asio::io_context ioc;
  tcp::acceptor taken(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto config = pki.config;
  config.port = taken.local_endpoint().port();
  gw::HttpsServer server(config, test_router(), Gateway::with_quiet_log({}));
  CHECK_THROWS_WITH(server.start(), Catch::Contains("already in use") &&
                                        Catch::Contains(std::to_string(config.port)));
}

TEST_CASE("the request log names route template, partner and worker but no secrets", "[server]") {
  Pki pki;
  const auto partner = pki.partner("caw-zuid");
  std::mutex m;
  std::vector<std::string> lines;
  gw::ServerHooks hooks;
  hooks.log = gw::LogSink::callback(
      [&](std::string_view l) {
        const std::lock_guard lock(m);
        lines.emplace_back(l);
      },
      gw::LogLevel::debug);
  {
    auto config = pki.config;
    config.limits.body_limit_bytes = 1024;
    Gateway gwy(pki, config, std::move(hooks));
    auto c = gwy.client(&partner);
    REQUIRE_FALSE(c.connect());
    auto r = c.request("POST", "/v1/clients/CANARY-PATH-9911/fragments?q=CANARY-QUERY-4242",
                       "{\"note\":\"CANARY-BODY-7731\"}",
                       {{"Sluis-Worker", "w-0042"}, {"Sluis-Purpose", "CANARY-PURPOSE-5150"}});
    REQUIRE(r);
    CHECK(r->status == 201);
    auto bad = c.request("POST", "/v1/clients/CANARY-PATH-9911/fragments",
                         "{\"n\":\"CANARY-BIG-" + std::string(4000, 'Z') + "\"}");
    REQUIRE(bad);
    CHECK(bad->status == 413);
    CHECK(bad->body.find("CANARY") == std::string::npos);
  }
  const std::lock_guard lock(m);
  std::string all;
  for (const auto& l : lines)
    all += l + "\n";
  INFO(all);
  CHECK(all.find("\"route\":\"/v1/clients/{client}/fragments\"") != std::string::npos);
  CHECK(all.find("\"partner\":\"caw-zuid\"") != std::string::npos);
  CHECK(all.find("\"worker\":\"w-0042\"") != std::string::npos);
  CHECK(all.find("\"status\":201") != std::string::npos);
  CHECK(all.find("\"status\":413") != std::string::npos);
  CHECK(all.find("CANARY") == std::string::npos);
  for (const auto& l : lines)
    CHECK_NOTHROW(boost::json::parse(l));
}

TEST_CASE("run_until_signalled: SIGHUP reloads, SIGTERM drains", "[server]") {
  Pki pki;
  std::atomic<int> reloads{0};
  gw::ServerHooks hooks;
  hooks.on_reload = [&] { reloads.fetch_add(1); };
  Gateway gwy(pki, pki.config, std::move(hooks));
  // Until run_until_signalled has installed its handlers, a SIGHUP must not kill the test.
  std::signal(SIGHUP, SIG_IGN);
  std::thread runner([&] { gwy.server.run_until_signalled(); });
  // The signal_set is armed asynchronously; retry SIGHUP until the callback has run.
  CHECK(eventually(
      [&] {
        if (reloads.load() == 0) ::kill(::getpid(), SIGHUP);
        return reloads.load() >= 1;
      },
      3s));
  ::kill(::getpid(), SIGTERM);
  runner.join();
  auto late = gwy.client(nullptr);
  CHECK(late.connect());
}

TEST_CASE("silent TCP clients are cut at the handshake timeout, idle keep-alive at idle timeout",
          "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-brussel");
  auto config = pki.config;
  config.limits.handshake_timeout = 500ms;
  config.limits.idle_timeout = 500ms;
  config.limits.header_timeout = 200ms;
  Gateway gwy(pki, config);
  {
    asio::io_context ioc;
    beast::tcp_stream raw(ioc);
    raw.expires_after(3s);
    raw.socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), gwy.server.port()));
    const auto t0 = std::chrono::steady_clock::now();
    std::array<char, 16> buf{};
    boost::system::error_code result;
    raw.async_read_some(asio::buffer(buf),
                        [&](boost::system::error_code ec, std::size_t) { result = ec; });
    ioc.run();
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(result == asio::error::eof);  // closed by the server, not by our 3 s deadline
    CHECK(took >= 400ms);
    CHECK(took < 2s);
    CHECK(eventually([&] {
      return gwy.server.metrics().handshake_failures(gw::HandshakeFailure::timeout) == 1;
    }));
  }
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  // Waiting for the first request is idleness too: not cut at the (shorter) header timeout.
  std::this_thread::sleep_for(350ms);
  REQUIRE(c.request("GET", "/v1/whoami"));
  std::this_thread::sleep_for(900ms);
  CHECK_FALSE(c.request("GET", "/v1/whoami"));
  auto never = gwy.client(&partner);
  REQUIRE_FALSE(never.connect());
  std::this_thread::sleep_for(900ms);
  CHECK_FALSE(never.request("GET", "/v1/whoami"));  // nothing sent: cut at the idle timeout
}

TEST_CASE("Expect: 100-continue is answered before the body is read", "[server]") {
  Pki pki;
  const auto partner = pki.partner("ocmw-brussel");
  Gateway gwy(pki, pki.config);
  auto c = gwy.client(&partner);
  REQUIRE_FALSE(c.connect());
  REQUIRE_FALSE(c.write_raw("POST /v1/clients/c9/fragments HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json\r\nContent-Length: 2\r\n"
                            "Expect: 100-continue\r\n\r\n"));
  auto interim = c.read_response();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE_FALSE(c.write_raw("{}"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(r->body == "{\"client_len\":2,\"body_len\":2}");
}

TEST_CASE("curl (OpenSSL) interoperates with PEM and PKCS#12 partner credentials", "[server]") {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) {
    WARN("curl not installed; interop test skipped");
    return;
  }
  Pki pki;
  const auto partner = pki.partner("caw-brussel");
  const auto& d = pki.dir.path();
  REQUIRE(partner.key.write_pem_file(d / "p.key"));
  REQUIRE(partner.certificate.write_pem_file(d / "p.crt"));
  REQUIRE(gw::write_pkcs12_file(d / "p.p12", partner, pki.ca.certificate(), "demo-password-1",
                                "caw-brussel"));
  Gateway gwy(pki, pki.config);
  auto run = [](const std::string& cmd) {
    std::string out;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) return out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr)
      out += buf;
    ::pclose(pipe);
    return out;
  };
  const std::string url = "https://127.0.0.1:" + std::to_string(gwy.server.port());
  const std::string base = "curl -sS --max-time 5 --cacert " + (d / "ca.crt").string();
  const auto pem = run(base + " --cert " + (d / "p.crt").string() + " --key " +
                       (d / "p.key").string() + " " + url + "/v1/whoami 2>&1");
  CHECK(pem.find("\"partner\":\"caw-brussel\"") != std::string::npos);
  const auto p12 =
      run(base + " --cert-type P12 --cert " + (d / "p.p12").string() +
          ":demo-password-1 -H 'Content-Type: application/json' --data '{}' -w ' %{http_code}' " +
          url + "/v1/clients/x1/fragments 2>&1");
  CHECK(p12.find("201") != std::string::npos);
  const auto none = run(base + " -w ' %{http_code}' " + url + "/v1/whoami 2>&1");
  CHECK(none.find("caw-brussel") == std::string::npos);
  CHECK(none.find(" 200") == std::string::npos);
}
