// Unit tests of the /v1 handlers without sockets: routing, audit ordering, strict JSON, receipts.
#include "sluis/gateway/api.hpp"
#include "sluis/gateway/registry.hpp"

#include "../../../gateway/api/src/receipt.hpp"
#include "../../../gateway/api/src/strict_json.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <random>

namespace {

namespace fs = std::filesystem;
namespace gw = sluis::gateway;
namespace json = boost::json;
using namespace std::chrono_literals;

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("sluis-api-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A gateway in one process: store, audit log (with a switchable failure), default rule pack.
struct Api {
  TempDir dir;
  sluis::crypto::RootKey root = sluis::crypto::RootKey::random();
  std::atomic<bool> audit_fails{false};
  std::unique_ptr<gw::Store> store;
  std::unique_ptr<gw::AuditLog> audit;
  std::unique_ptr<gw::CurrentRulePack> rules;
  gw::Router router;
  int next_request = 0;

  Api() {
    gw::StoreOptions so;
    so.data_path = dir.path / "data.db";
    so.key_store_path = dir.path / "keys.db";
    store = gw::Store::open(std::move(so), root).value();
    gw::AuditLogOptions ao;
    ao.path = dir.path / "audit.db";
    ao.origin = "test/audit";
    ao.inject_failure = [this](std::string_view) { return audit_fails.load(); };
    audit = gw::AuditLog::open(std::move(ao), root).value();
    auto pack = sluis::policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                              "/policy/packs/brussels-welfare.toml");
    REQUIRE(pack.has_value());
    rules = std::make_unique<gw::CurrentRulePack>(
        std::make_shared<const sluis::policy::RulePack>(std::move(*pack)));
    gw::Registry r(*store);
    REQUIRE(r.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
    REQUIRE(r.add_partner("caw-brussel", "caw", "CAW <Brussel>"));
    REQUIRE(r.add_worker("ocmw-brussel", "ocmw-sw", "social-worker"));
    REQUIRE(r.add_worker("caw-brussel", "caw-sw", "social-worker"));
    gw::GatewayContext ctx;
    ctx.store = store.get();
    ctx.audit = audit.get();
    ctx.rules = rules.get();
    router = gw::make_api_router(ctx);
  }

  gw::HttpResponse call(const std::string& partner, const std::string& worker,
                        const std::string& method, const std::string& target,
                        const std::string& body = {},
                        std::optional<std::string> purpose = std::nullopt) {
    gw::HttpRequest req;
    req.method = method;
    REQUIRE(gw::parse_target(target, gw::RequestLimits{}, req));
    req.peer.partner_id = partner;
    if (!worker.empty()) req.worker = worker;
    req.purpose = std::move(purpose);
    if (method == "POST") req.content_type = "application/json";
    req.body = body;
    req.request_id = std::to_string(++next_request);
    std::string_view route;
    return router.dispatch(req, route);
  }

  std::string register_client(const std::string& partner, const std::string& worker,
                              const std::string& number) {
    auto r = call(partner, worker, "POST", "/v1/clients",
                  R"({"identifier":{"scheme":"case-number","value":")" + number + R"("}})");
    REQUIRE((r.status == 201 || r.status == 200));
    return std::string(json::parse(r.body).at("client").as_string());
  }
};

std::string code_of(const gw::HttpResponse& r) {
  auto v = json::parse(r.body);
  return std::string(v.at("code").as_string());
}

}  // namespace

TEST_CASE("strict JSON refuses duplicates, depth, bad UTF-8 and trailing garbage", "[api]") {
  using sluis::gateway::api::JsonRejection;
  using sluis::gateway::api::parse_strict_json;
  CHECK(parse_strict_json(R"({"a":{"b":[1,2,{"c":"d"}]}})", 16).value);
  CHECK(parse_strict_json(R"({"a":1,"b":{"a":2}})", 16).value);  // same name, other object
  auto dup = parse_strict_json(R"({"a":1,"a":2})", 16);
  CHECK_FALSE(dup.value);
  CHECK(dup.rejection == JsonRejection::duplicate_key);
  // A duplicate spelled with an escape is still a duplicate.
  CHECK(parse_strict_json(R"({"a":1,"\u0061":2})", 16).rejection == JsonRejection::duplicate_key);
  auto deep = parse_strict_json(std::string(20, '[') + std::string(20, ']'), 16);
  CHECK(deep.rejection == JsonRejection::too_deep);
  CHECK_FALSE(parse_strict_json("{\"a\":\"\xc3\x28\"}", 16).value);
  CHECK_FALSE(parse_strict_json(R"({"a":"\ud800"})", 16).value);
  CHECK_FALSE(parse_strict_json(R"({"a":1} {})", 16).value);
  CHECK_FALSE(parse_strict_json(R"({"a":1,})", 16).value);
  CHECK_FALSE(parse_strict_json("", 16).value);
  CHECK_FALSE(parse_strict_json("{/*c*/}", 16).value);
}

TEST_CASE("a read whose audit append fails is not answered and opens nothing", "[api]") {
  Api api;
  const auto client = api.register_client("ocmw-brussel", "ocmw-sw", "case-1");
  auto w = api.call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + client + "/fragments",
                    R"({"category":"housing","fields":{"situation":"SECRET-FIELD"}})");
  REQUIRE(w.status == 201);
  api.audit_fails = true;
  auto r = api.call("ocmw-brussel", "ocmw-sw", "GET", "/v1/clients/" + client + "/dossier", {},
                    "care-coordination");
  CHECK(r.status == 503);
  CHECK(code_of(r) == "audit-unavailable");
  CHECK(r.body.find("SECRET-FIELD") == std::string::npos);
  api.audit_fails = false;
  auto ok = api.call("ocmw-brussel", "ocmw-sw", "GET", "/v1/clients/" + client + "/dossier", {},
                     "care-coordination");
  CHECK(ok.status == 200);
  CHECK(ok.body.find("SECRET-FIELD") != std::string::npos);
}

TEST_CASE("a write whose audit append fails changes nothing", "[api]") {
  Api api;
  const auto client = api.register_client("ocmw-brussel", "ocmw-sw", "case-2");
  api.audit_fails = true;
  auto w = api.call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + client + "/fragments",
                    R"({"category":"housing","fields":{"situation":"x"}})");
  CHECK(w.status == 503);
  CHECK(code_of(w) == "audit-unavailable");
  auto e = api.call("ocmw-brussel", "ocmw-sw", "DELETE", "/v1/clients/" + client);
  CHECK(e.status == 503);
  api.audit_fails = false;
  auto r = api.call("ocmw-brussel", "ocmw-sw", "GET", "/v1/clients/" + client + "/dossier", {},
                    "care-coordination");
  CHECK(r.status == 200);                  // not erased
  CHECK(r.body == R"({"fragments":[]})");  // nothing written
}

TEST_CASE("every act and every refusal lands in the audit log", "[api]") {
  Api api;
  const auto before = api.audit->size();
  const auto client = api.register_client("ocmw-brussel", "ocmw-sw", "case-3");
  CHECK(api.audit->size() == before + 1);
  auto ev = api.audit->event(before).value().event;
  CHECK(ev.action == gw::AuditAction::registration);
  CHECK(ev.partner == "ocmw-brussel");
  CHECK(ev.worker == "ocmw-sw");
  CHECK(ev.role == "social-worker");
  CHECK(ev.client.rfind("a1", 0) == 0);
  CHECK(ev.client != client);  // the audit pseudonym, never the partner's

  REQUIRE(api.call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + client + "/fragments",
                   R"({"category":"housing","fields":{"situation":"x"}})")
              .status == 201);
  ev = api.audit->event(before + 1).value().event;
  CHECK(ev.action == gw::AuditAction::fragment_write);
  CHECK(ev.decision == gw::AuditDecision::permit);
  CHECK(ev.categories == std::vector<std::string>{"housing"});

  // An unknown worker is refused and recorded.
  auto refused = api.call("ocmw-brussel", "mallory", "GET", "/v1/clients/" + client + "/dossier",
                          {}, "care-coordination");
  CHECK(refused.status == 403);
  ev = api.audit->event(before + 2).value().event;
  CHECK(ev.decision == gw::AuditDecision::deny);
  CHECK(ev.worker == "mallory");
  CHECK(ev.rule == "worker.unknown");

  // A read: one event per fragment decision.
  REQUIRE(api.call("ocmw-brussel", "ocmw-sw", "GET", "/v1/clients/" + client + "/dossier", {},
                   "care-coordination")
              .status == 200);
  ev = api.audit->event(before + 3).value().event;
  CHECK(ev.action == gw::AuditAction::read);
  CHECK(ev.purpose == "care-coordination");
  CHECK(api.audit->size() == before + 4);
}

TEST_CASE("handlers never leak: unknown routes, bad methods, unknown partners", "[api]") {
  Api api;
  auto r = api.call("ocmw-brussel", "ocmw-sw", "GET", "/v1/nothing");
  CHECK(r.status == 404);
  CHECK(code_of(r) == "not-found");
  auto m = api.call("ocmw-brussel", "ocmw-sw", "PUT", "/v1/clients");
  CHECK(m.status == 405);
  auto unknown_partner = api.call("nobody", "x", "GET", "/healthz");
  CHECK(unknown_partner.status == 200);  // healthz needs only the certificate
  auto u = api.call("nobody", "x", "POST", "/v1/clients", "{}");
  CHECK(u.status == 403);
  CHECK(code_of(u) == "unknown-partner");
}

TEST_CASE("the consent receipt escapes every text it prints", "[api]") {
  Api api;
  const auto client = api.register_client("ocmw-brussel", "ocmw-sw", "case-4");
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  using sluis::policy::format_time;
  const std::string body =
      R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":"caw-brussel"},)"
      R"("categories":["housing"],"purposes":["care-coordination"],"period":{"start":")" +
      format_time(now - 1h) + R"(","end":")" + format_time(now + 24h) +
      R"("}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)"
      R"("role":"social-worker"},"channel":"other","channel_note":"<script>x</script>",)"
      R"("language":"en","recorded_at":")" +
      format_time(now - 1min) + R"("}})";
  auto granted =
      api.call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + client + "/consents", body);
  REQUIRE(granted.status == 201);
  const std::string id(json::parse(granted.body).at("consent").as_string());
  auto receipt =
      api.call("ocmw-brussel", "ocmw-sw", "GET",
               "/v1/clients/" + client + "/consents/" + id + "/receipt", {}, "administration");
  REQUIRE(receipt.status == 200);
  CHECK(receipt.body.find("<script>") == std::string::npos);
  CHECK(receipt.body.find("&lt;script&gt;") != std::string::npos);
  CHECK(receipt.body.find("CAW &lt;Brussel&gt;") != std::string::npos);
  CHECK(receipt.body.find("Consent receipt") != std::string::npos);

  // The CAW (grantee) sees it; a consent the caller has no part in is not listed to others.
  auto listed = api.call("caw-brussel", "caw-sw", "GET",
                         "/v1/clients/" + api.register_client("caw-brussel", "caw-sw", "case-4") +
                             "/consents",
                         {}, "administration");
  CHECK(listed.status == 200);
  // case numbers are partner-scoped: this is another client, so nothing is listed.
  CHECK(listed.body == R"({"consents":[]})");

  // A recorder other than the caller is refused.
  std::string forged = body;
  forged.replace(forged.find("\"worker\":\"ocmw-sw\""), 18, "\"worker\":\"someone\"");
  auto mismatch =
      api.call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + client + "/consents", forged);
  CHECK(mismatch.status == 422);
  CHECK(code_of(mismatch) == "recorder-mismatch");
}
