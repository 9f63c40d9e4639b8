// The console's /v1 client (console/src/api_client.cpp) against the real sluisd over mTLS: it
// presents one partner's certificate, names the worker on every call, and cannot act as another
// partner; a gateway it does not trust, a wrong server name and a silent peer are refused.
#include "sluis/console/api_client.hpp"

#include "sluisd_harness.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace sluis::test;
namespace sc = sluis::console;

namespace {

std::string registration(unsigned long long person) {
  return R"({"identifier":{"scheme":"national-register","value":")" +
         national_register_number(person) + R"("}})";
}

sc::ApiClient client_for(const GatewayHome& home, const Sluisd& gw, const gw::Credential& partner,
                         std::string server_name = "localhost") {
  sc::ApiClientOptions o;
  o.port = gw.port();
  o.server_name = std::move(server_name);
  o.timeout = std::chrono::milliseconds(3000);
  return sc::ApiClient(o, home.ca.certificate(), partner);
}

std::string client_id(const sc::ApiResponse& r) {
  const auto v = boost::json::parse(r.body);
  return std::string(v.at("client").as_string());
}

/// This process's established TCP connections to 127.0.0.1:`port` (from /proc/net/tcp and the
/// socket inodes of /proc/self/fd).
std::size_t connections_to(std::uint16_t port) {
  std::set<std::string> mine;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) mine.insert(target.substr(8, target.size() - 9));
  }
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // the heading
  std::size_t n = 0;
  char want[8];
  std::snprintf(want, sizeof want, "%04X", static_cast<unsigned>(port));
  while (std::getline(tcp, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
    f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
    if (state == "01" && remote == std::string("0100007F:") + want && mine.contains(inode)) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("console client: calls one after another share one kept-alive connection",
          "[console]") {
  GatewayHome home;
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  const auto ocmw = client_for(home, gateway, home.ocmw);
  CHECK(connections_to(gateway.port()) == 0);
  sc::ApiRequest checkpoint;
  checkpoint.target = "/v1/audit/checkpoint";
  checkpoint.worker = "ocmw-sw";
  for (int i = 0; i < 5; ++i) {
    const auto r = ocmw.call(checkpoint);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
  }
  CHECK(connections_to(gateway.port()) == 1);
  // A change goes over the kept connection too, and is answered once.
  sc::ApiRequest reg;
  reg.method = "POST";
  reg.target = "/v1/clients";
  reg.worker = "ocmw-sw";
  reg.body = registration(850404404);
  const auto created = ocmw.call(reg);
  REQUIRE(created.has_value());
  CHECK(created->status == 201);
  CHECK(connections_to(gateway.port()) == 1);
}

TEST_CASE("console client: registers and reads as its partner's worker over mTLS", "[console]") {
  GatewayHome home;
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  const auto ocmw = client_for(home, gateway, home.ocmw);

  sc::ApiRequest reg;
  reg.method = "POST";
  reg.target = "/v1/clients";
  reg.worker = "ocmw-sw";
  reg.body = registration(850101101);
  const auto created = ocmw.call(reg);
  REQUIRE(created.has_value());
  CHECK(created->status == 201);
  CHECK(created->content_type.rfind("application/json", 0) == 0);
  const auto id = client_id(*created);
  // The same person again: the same pseudonym (the call really reached the registry).
  const auto again = ocmw.call(reg);
  REQUIRE(again.has_value());
  CHECK(again->status == 200);
  CHECK(client_id(*again) == id);

  sc::ApiRequest read;
  read.target = "/v1/clients/" + id + "/dossier";
  read.worker = "ocmw-sw";
  read.purpose = "care-coordination";
  const auto dossier = ocmw.call(read);
  REQUIRE(dossier.has_value());
  CHECK(dossier->status == 200);

  // The worker header is what sluisd checks: a worker of another partner is unknown here.
  read.worker = "caw-sw";
  const auto foreign_worker = ocmw.call(read);
  REQUIRE(foreign_worker.has_value());
  CHECK(foreign_worker->status >= 400);
  CHECK(foreign_worker->content_type == "application/problem+json");

  // A client for another partner sees its own pseudonym for the same person, never this one.
  const auto caw = client_for(home, gateway, home.caw);
  reg.worker = "caw-sw";
  const auto at_caw = caw.call(reg);
  REQUIRE(at_caw.has_value());
  REQUIRE(at_caw->status == 201);
  CHECK(client_id(*at_caw) != id);
  read.worker = "caw-sw";
  const auto cross = caw.call(read);  // the OCMW's pseudonym, asked by the CAW
  REQUIRE(cross.has_value());
  CHECK(cross->status == 404);
}

TEST_CASE("console client: refuses what it must not send and gateways it must not trust",
          "[console]") {
  GatewayHome home;
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  const auto ocmw = client_for(home, gateway, home.ocmw);
  sc::ApiRequest r;
  r.target = "/v1/clients";
  r.worker = "ocmw-sw";
  for (auto bad : {std::string("TRACE"), std::string("get")}) {
    auto x = r;
    x.method = bad;
    CHECK(ocmw.call(x).error() == sc::ApiClientErrc::invalid_request);
  }
  for (auto bad :
       {std::string("/healthz"), std::string("/v1/clients x"), std::string("/v1/a\r\nX: y")}) {
    auto x = r;
    x.target = bad;
    CHECK(ocmw.call(x).error() == sc::ApiClientErrc::invalid_request);
  }
  for (auto bad :
       {std::string(""), std::string("ocmw sw"), std::string("ocmw-sw\r\nSluis-Worker: x")}) {
    auto x = r;
    x.worker = bad;
    CHECK(ocmw.call(x).error() == sc::ApiClientErrc::invalid_request);
  }

  // sluisd's certificate names localhost and 127.0.0.1, not another host.
  const auto wrong_name = client_for(home, gateway, home.ocmw, "gateway.example.org");
  CHECK(wrong_name.call(r).error() == sc::ApiClientErrc::tls_failed);
  CHECK(client_for(home, gateway, home.ocmw, "127.0.0.1").call(r).has_value());

  // A gateway signed by another CA is not trusted.
  const auto other_ca = gw::GatewayCa::create("another CA", std::chrono::hours(1)).value();
  sc::ApiClientOptions o;
  o.port = gateway.port();
  const sc::ApiClient distrusting(o, other_ca.certificate(), home.ocmw);
  CHECK(distrusting.call(r).error() == sc::ApiClientErrc::tls_failed);

  // Nothing listening.
  sc::ApiClientOptions closed;
  closed.port = 1;
  const sc::ApiClient nowhere(closed, home.ca.certificate(), home.ocmw);
  CHECK(nowhere.call(r).error() == sc::ApiClientErrc::connect_failed);
}

TEST_CASE("console client: a peer that never answers ends in a timeout, in time", "[console]") {
  GatewayHome home;
  sc::ApiRequest r;
  r.target = "/v1/partners";
  r.worker = "ocmw-sw";
  using Clock = std::chrono::steady_clock;

  // A TCP peer that accepts (the kernel's backlog does) and never sends: the handshake waits.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  sc::ApiClientOptions silent;
  silent.port = ntohs(addr.sin_port);
  silent.timeout = std::chrono::milliseconds(300);
  const sc::ApiClient mute(silent, home.ca.certificate(), home.ocmw);
  auto t0 = Clock::now();
  CHECK(mute.call(r).error() == sc::ApiClientErrc::timeout);
  auto took = Clock::now() - t0;
  CHECK(took >= std::chrono::milliseconds(300));
  CHECK(took < std::chrono::milliseconds(3000));
  ::close(fd);

  // A real TLS server (the project's transport, the gateway's certificate) whose handler takes
  // longer than the client waits: the handshake completes, the answer does not come in time.
  gw::ServerConfig cfg;
  cfg.port = 0;
  cfg.metrics_enabled = false;
  cfg.io_threads = 1;
  cfg.handler_threads = 1;
  cfg.tls.certificate = home.dir.path() / "tls/server.crt";
  cfg.tls.private_key = home.dir.path() / "tls/server.key";
  cfg.tls.ca_certificate = home.dir.path() / "tls/ca.crt";
  cfg.tls.revocation_list = home.dir.path() / "tls/revoked.txt";
  cfg.log_destination = (home.dir.path() / "slow.log").string();
  gw::Router router;
  router.add("GET", "/v1/partners", [](const gw::HttpRequest&, const gw::PathParams&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return gw::HttpResponse::json(200, gw::HttpBody(std::string("[]")));
  });
  gw::HttpsServer slow(cfg, std::move(router));
  slow.start();
  sc::ApiClientOptions o;
  o.port = slow.port();
  o.timeout = std::chrono::milliseconds(400);
  const sc::ApiClient impatient(o, home.ca.certificate(), home.ocmw);
  t0 = Clock::now();
  CHECK(impatient.call(r).error() == sc::ApiClientErrc::timeout);
  took = Clock::now() - t0;
  CHECK(took >= std::chrono::milliseconds(400));
  CHECK(took < std::chrono::milliseconds(1500));
  slow.shutdown();
}
