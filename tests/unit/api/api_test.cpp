// Unit tests of the /v1 handlers without sockets: routing, audit ordering, strict JSON, receipts.
#include "sluis/crypto/card.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/api/api.hpp"
#include "sluis/store/store.hpp"
#include "sluis/domain/registry.hpp"

#include "../../../gateway/api/src/receipt.hpp"
#include "../../../gateway/api/src/strict_json.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>

namespace {

namespace fs = std::filesystem;
namespace gw = sluis::server;
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
  std::unique_ptr<sluis::store::Store> store;
  std::unique_ptr<sluis::audit::AuditLog> audit;
  std::unique_ptr<sluis::api::CurrentRulePack> rules;
  gw::Router router;
  int next_request = 0;

  Api() {
    sluis::store::StoreOptions so;
    so.data_path = dir.path / "data.db";
    so.key_store_path = dir.path / "keys.db";
    store = sluis::store::Store::open(std::move(so), root).value();
    sluis::audit::AuditLogOptions ao;
    ao.path = dir.path / "audit.db";
    ao.origin = "test/audit";
    ao.inject_failure = [this](std::string_view) { return audit_fails.load(); };
    audit = sluis::audit::AuditLog::open(std::move(ao), root).value();
    auto pack = sluis::policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                              "/policy/packs/brussels-welfare.toml");
    REQUIRE(pack.has_value());
    rules = std::make_unique<sluis::api::CurrentRulePack>(
        std::make_shared<const sluis::policy::RulePack>(std::move(*pack)));
    sluis::domain::Registry r(*store);
    REQUIRE(r.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
    REQUIRE(r.add_partner("caw-brussel", "caw", "CAW <Brussel>"));
    REQUIRE(r.add_worker("ocmw-brussel", "ocmw-sw", "social-worker"));
    REQUIRE(r.add_worker("caw-brussel", "caw-sw", "social-worker"));
    sluis::api::GatewayContext ctx;
    ctx.store = store.get();
    ctx.audit = audit.get();
    ctx.rules = rules.get();
    router = sluis::api::make_api_router(ctx);
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
  using sluis::api::JsonRejection;
  using sluis::api::parse_strict_json;
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

TEST_CASE("the dossier answer gives back every field value exactly, whatever its characters",
          "[api]") {
  Api api;
  const auto client = api.register_client("ocmw-brussel", "ocmw-sw", "case-json");
  // Quotes, backslashes, control characters, DEL, 2- and 4-byte UTF-8, markup.
  const std::string tricky = "q\" b\\ t\t n\n c\x01 d\x7f \xc3\xa9 \xf0\x9d\x84\x9e </script>";
  json::object body{{"category", "housing"},
                    {"fields", json::object{{"situation", tricky}, {"empty", ""}}}};
  auto w = api.call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + client + "/fragments",
                    json::serialize(body));
  REQUIRE(w.status == 201);
  const std::string id(json::parse(w.body).at("fragment").as_string());
  auto r = api.call("ocmw-brussel", "ocmw-sw", "GET", "/v1/clients/" + client + "/dossier", {},
                    "care-coordination");
  REQUIRE(r.status == 200);
  const auto answer = json::parse(r.body);  // throws (fails the test) if not JSON
  const auto& fragments = answer.at("fragments").as_array();
  REQUIRE(fragments.size() == 1);
  const auto& f = fragments[0].as_object();
  CHECK(f.size() == 6);
  CHECK(f.at("fragment").as_string() == id);
  CHECK(f.at("category").as_string() == "housing");
  CHECK(f.at("owner").at("partner").as_string() == "ocmw-brussel");
  CHECK_FALSE(f.at("owner").at("name").as_string().empty());
  CHECK(f.at("created_at").as_string().size() == 20);  // 2026-11-23T01:02:03Z
  CHECK(f.at("version").as_int64() == 1);
  const auto& fields = f.at("fields").as_object();
  CHECK(fields.size() == 2);
  CHECK(std::string(fields.at("situation").as_string()) == tricky);
  CHECK(fields.at("empty").as_string().empty());
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
  CHECK(ev.action == sluis::audit::AuditAction::registration);
  CHECK(ev.partner == "ocmw-brussel");
  CHECK(ev.worker == "ocmw-sw");
  CHECK(ev.role == "social-worker");
  CHECK(ev.client.rfind("a1", 0) == 0);
  CHECK(ev.client != client);  // the audit pseudonym, never the partner's

  REQUIRE(api.call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + client + "/fragments",
                   R"({"category":"housing","fields":{"situation":"x"}})")
              .status == 201);
  ev = api.audit->event(before + 1).value().event;
  CHECK(ev.action == sluis::audit::AuditAction::fragment_write);
  CHECK(ev.decision == sluis::audit::AuditDecision::permit);
  CHECK(ev.categories == std::vector<std::string>{"housing"});

  // An unknown worker is refused and recorded.
  auto refused = api.call("ocmw-brussel", "mallory", "GET", "/v1/clients/" + client + "/dossier",
                          {}, "care-coordination");
  CHECK(refused.status == 403);
  ev = api.audit->event(before + 2).value().event;
  CHECK(ev.decision == sluis::audit::AuditDecision::deny);
  CHECK(ev.worker == "mallory");
  CHECK(ev.rule == "worker.unknown");

  // A read: its decisions on the record (one event: one fragment, one outcome).
  REQUIRE(api.call("ocmw-brussel", "ocmw-sw", "GET", "/v1/clients/" + client + "/dossier", {},
                   "care-coordination")
              .status == 200);
  ev = api.audit->event(before + 3).value().event;
  CHECK(ev.action == sluis::audit::AuditAction::read);
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

namespace {

// The events one request appended, as "action/decision" in leaf order (reads sorted, since their
// order follows the dossier's).
std::vector<std::string> events_since(const Api& api, std::uint64_t since) {
  std::vector<std::string> out;
  for (auto leaf = since; leaf < api.audit->size(); ++leaf) {
    const auto e = api.audit->event(leaf).value().event;
    out.push_back(std::string(sluis::audit::to_string(e.action)) + "/" +
                  std::string(sluis::audit::to_string(e.decision)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string consent_for(const std::string& grantee, const std::string& category) {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  using sluis::policy::format_time;
  return R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":")" + grantee +
         R"("},"categories":[")" + category +
         R"("],"purposes":["care-coordination"],"period":{"start":")" + format_time(now - 1h) +
         R"(","end":")" + format_time(now + 24h) +
         R"("}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)"
         R"("role":"social-worker"},"channel":"in-person","language":"nl","recorded_at":")" +
         format_time(now - 1min) + R"("}})";
}

}  // namespace

TEST_CASE("every API action produces exactly the expected events", "[api][audit]") {
  Api api;
  sluis::domain::Registry r(*api.store);
  REQUIRE(r.add_worker("ocmw-brussel", "ocmw-dpo", "dpo"));
  REQUIRE(r.add_partner("nachtopvang", "low-threshold", "Nachtopvang"));
  REQUIRE(r.add_worker("nachtopvang", "dirk", "social-worker"));

  std::string last_body;
  // Runs one request and checks its status and the exact events it appended.
  auto expect = [&](const std::string& what, const std::string& partner, const std::string& worker,
                    const std::string& method, const std::string& target, const std::string& body,
                    std::optional<std::string> purpose, int status,
                    std::vector<std::string> events) {
    INFO(what);
    const auto before = api.audit->size();
    auto res = api.call(partner, worker, method, target, body, std::move(purpose));
    INFO(res.body);
    CHECK(res.status == status);
    std::sort(events.begin(), events.end());
    CHECK(events_since(api, before) == events);
    last_body = res.body;
  };
  const std::optional<std::string> care = "care-coordination";
  const std::string nrn = R"({"identifier":{"scheme":"national-register","value":"85073003328"}})";

  expect("identified registration", "ocmw-brussel", "ocmw-sw", "POST", "/v1/clients", nrn, {}, 201,
         {"registration/n/a"});
  const std::string p_ocmw(json::parse(last_body).at("client").as_string());
  const std::string c = "/v1/clients/" + p_ocmw;
  expect("fragment write", "ocmw-brussel", "ocmw-sw", "POST", c + "/fragments",
         R"({"category":"housing","fields":{"situation":"x"}})", {}, 201,
         {"fragment-write/permit"});
  const std::string housing(json::parse(last_body).at("fragment").as_string());
  expect("second fragment", "ocmw-brussel", "ocmw-sw", "POST", c + "/fragments",
         R"({"category":"income","fields":{"source":"y"}})", {}, 201, {"fragment-write/permit"});
  expect("new version", "ocmw-brussel", "ocmw-sw", "POST", c + "/fragments",
         R"({"category":"housing","fields":{"situation":"z"},"supersedes":")" + housing + R"("})",
         {}, 201, {"fragment-supersede/permit"});
  expect("own read: both fragments, one outcome, one event", "ocmw-brussel", "ocmw-sw", "GET",
         c + "/dossier", {}, care, 200, {"read/permit"});
  {
    const auto own = api.audit->event(api.audit->size() - 1).value().event;
    CHECK(own.categories == std::vector<std::string>{"income", "housing"});
  }

  expect("registration at a second partner", "caw-brussel", "caw-sw", "POST", "/v1/clients", nrn,
         {}, 201, {"registration/n/a"});
  const std::string p_caw(json::parse(last_body).at("client").as_string());
  const std::string cc = "/v1/clients/" + p_caw;
  expect("read without consent: every decision denied, one event", "caw-brussel", "caw-sw", "GET",
         cc + "/dossier", {}, care, 200, {"read/deny"});
  expect("consent grant", "ocmw-brussel", "ocmw-sw", "POST", c + "/consents",
         consent_for("caw-brussel", "housing"), {}, 201, {"consent-grant/n/a"});
  const std::string consent(json::parse(last_body).at("consent").as_string());
  expect("read with consent for one category", "caw-brussel", "caw-sw", "GET", cc + "/dossier", {},
         care, 200, {"read/deny", "read/permit"});
  expect("consent list", "caw-brussel", "caw-sw", "GET", cc + "/consents", {}, care, 200,
         {"consent-read/permit"});
  expect("consent receipt", "caw-brussel", "caw-sw", "GET",
         cc + "/consents/" + consent + "/receipt", {}, care, 200, {"consent-read/permit"});
  expect("consent revoke", "ocmw-brussel", "ocmw-sw", "DELETE", c + "/consents/" + consent, {}, {},
         200, {"consent-revoke/n/a"});
  expect("revoking again is refused", "ocmw-brussel", "ocmw-sw", "DELETE",
         c + "/consents/" + consent, {}, {}, 409, {"consent-revoke/deny"});
  expect("break-the-glass", "caw-brussel", "caw-sw", "POST", cc + "/break-glass",
         R"({"categories":["contact"],"reason":"client unresponsive, need to reach family",)"
         R"("minutes":60})",
         {}, 201, {"break-glass-start/permit"});
  expect("access report", "ocmw-brussel", "ocmw-sw", "GET", c + "/access-report", {}, care, 200,
         {"access-report/permit"});
  expect("DPO query", "ocmw-brussel", "ocmw-dpo", "GET", "/v1/audit/events?client=" + p_ocmw, {},
         {}, 200, {"audit-query/permit"});
  expect("audit query by a role without the right", "ocmw-brussel", "ocmw-sw", "GET",
         "/v1/audit/events", {}, {}, 403, {"audit-query/deny"});
  expect("checkpoint: no event", "caw-brussel", "", "GET", "/v1/audit/checkpoint", {}, {}, 200, {});
  expect("consistency proof: no event", "caw-brussel", "", "GET",
         "/v1/audit/proofs/consistency?from=1&to=2", {}, {}, 200, {});

  const auto card = sluis::crypto::new_card_secret();
  const auto sp_shelter = sluis::crypto::service_pseudonym(card, "nachtopvang");
  const auto sp_caw = sluis::crypto::service_pseudonym(card, "caw-brussel");
  expect("anonymous registration", "nachtopvang", "dirk", "POST", "/v1/clients",
         R"({"service_pseudonym":")" + sp_shelter + R"("})", {}, 201, {"registration/n/a"});
  expect("identifying data on an anonymous client is refused", "nachtopvang", "dirk", "POST",
         "/v1/clients/" + std::string(json::parse(last_body).at("client").as_string()) +
             "/fragments",
         R"({"category":"identity","fields":{"name":"J"}})", {}, 422, {"fragment-write/deny"});
  expect("link with the card", "caw-brussel", "caw-sw", "POST", "/v1/links",
         R"({"own_pseudonym":")" + sp_caw +
             R"(","first_service":"nachtopvang","first_pseudonym":")" + sp_shelter +
             R"(","consent_reference":"paper-form-1"})",
         {}, 200, {"link/permit"});

  expect("unknown worker", "ocmw-brussel", "mallory", "GET", c + "/dossier", {}, care, 403,
         {"read/deny"});
  expect("another partner's pseudonym is not found", "caw-brussel", "caw-sw", "GET", c + "/dossier",
         {}, care, 404, {"read/deny"});
  expect("erasure by a role without the right", "ocmw-brussel", "ocmw-sw", "DELETE", c, {}, {}, 403,
         {"erasure/deny"});
  expect("erasure", "ocmw-brussel", "ocmw-dpo", "DELETE", c, {}, {}, 200, {"erasure/permit"});
  expect("health check: no event", "ocmw-brussel", "", "GET", "/healthz", {}, {}, 200, {});
}

TEST_CASE("audit endpoints: checkpoints and proofs verify with the crypto core", "[api][audit]") {
  Api api;
  for (int i = 0; i < 5; ++i)
    (void)api.register_client("ocmw-brussel", "ocmw-sw", "case-a" + std::to_string(i));
  // The endpoint serves the newest stored checkpoint (issued at least every second while events
  // arrive); the test does not wait for the writer's clock.
  REQUIRE(api.audit->checkpoint());
  auto cp = api.call("caw-brussel", "", "GET", "/v1/audit/checkpoint");
  REQUIRE(cp.status == 200);
  CHECK(cp.content_type.starts_with("text/plain"));
  auto note = sluis::crypto::open_note(cp.body, api.audit->verifier_key());
  REQUIRE(note);
  auto old_cp = sluis::crypto::parse_checkpoint_body(*note).value();
  CHECK(old_cp.size == api.audit->size());

  for (int i = 0; i < 4; ++i)
    (void)api.register_client("ocmw-brussel", "ocmw-sw", "case-b" + std::to_string(i));
  REQUIRE(api.audit->checkpoint());
  auto cp2 = api.call("caw-brussel", "", "GET", "/v1/audit/checkpoint");
  auto new_cp = sluis::crypto::parse_checkpoint_body(
                    sluis::crypto::open_note(cp2.body, api.audit->verifier_key()).value())
                    .value();
  REQUIRE(new_cp.size > old_cp.size);

  auto decode_path = [](const json::value& arr) {
    std::vector<sluis::crypto::Hash> out;
    for (const auto& v : arr.as_array()) {
      auto bytes = sluis::crypto::from_base64(v.as_string()).value();
      REQUIRE(bytes.size() == 32);
      sluis::crypto::Hash h{};
      std::copy(bytes.begin(), bytes.end(), h.begin());
      out.push_back(h);
    }
    return out;
  };
  auto consistency = api.call("caw-brussel", "", "GET",
                              "/v1/audit/proofs/consistency?from=" + std::to_string(old_cp.size) +
                                  "&to=" + std::to_string(new_cp.size));
  REQUIRE(consistency.status == 200);
  auto path = decode_path(json::parse(consistency.body).at("path"));
  CHECK(sluis::crypto::verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, path)
            .has_value());
  if (!path.empty()) {
    path[0][0] ^= 1;  // tampered
    CHECK_FALSE(
        sluis::crypto::verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, path)
            .has_value());
  }

  // Inclusion of an event the caller (ocmw) acted in: its bytes come along and hash to the leaf.
  auto inclusion =
      api.call("ocmw-brussel", "", "GET",
               "/v1/audit/proofs/inclusion?index=2&size=" + std::to_string(new_cp.size));
  REQUIRE(inclusion.status == 200);
  const auto proof = json::parse(inclusion.body).as_object();
  const std::string canonical(proof.at("event").as_string());
  const auto leaf = sluis::crypto::leaf_hash(std::string_view(canonical));
  CHECK(sluis::crypto::to_base64(leaf) == std::string(proof.at("leaf_hash").as_string()));
  auto ipath = decode_path(proof.at("path"));
  CHECK(sluis::crypto::verify_inclusion(leaf, 2, new_cp.size, ipath, new_cp.root).has_value());
  CHECK_FALSE(
      sluis::crypto::verify_inclusion(leaf, 3, new_cp.size, ipath, new_cp.root).has_value());
  // Another organisation gets the proof but not the event's bytes.
  auto foreign = api.call("caw-brussel", "", "GET",
                          "/v1/audit/proofs/inclusion?index=2&size=" + std::to_string(new_cp.size));
  REQUIRE(foreign.status == 200);
  CHECK_FALSE(json::parse(foreign.body).as_object().contains("event"));

  // Bad parameters: a clear 400, never a crash.
  for (const std::string q : {"?index=5&size=5", "?index=0&size=999999", "?index=-1&size=3",
                              "?index=x&size=3", "?size=3", "?index=0&size=3&extra=1"}) {
    INFO(q);
    auto bad = api.call("caw-brussel", "", "GET", "/v1/audit/proofs/inclusion" + q);
    CHECK(bad.status == 400);
  }
  CHECK(api.call("caw-brussel", "", "GET", "/v1/audit/proofs/consistency?from=5&to=2").status ==
        400);
  CHECK(api.call("nobody", "", "GET", "/v1/audit/checkpoint").status == 403);
}

TEST_CASE("audit events: a partner's DPO sees only its own organisation's events", "[api][audit]") {
  Api api;
  sluis::domain::Registry r(*api.store);
  REQUIRE(r.add_worker("caw-brussel", "caw-dpo", "dpo"));
  const auto own = api.register_client("caw-brussel", "caw-sw", "c1");
  (void)api.register_client("ocmw-brussel", "ocmw-sw", "o1");  // not the CAW's business
  auto page = api.call("caw-brussel", "caw-dpo", "GET", "/v1/audit/events?action=registration");
  REQUIRE(page.status == 200);
  const auto events = json::parse(page.body).at("events").as_array();
  REQUIRE(events.size() == 1);
  CHECK(events[0].at("partner").as_string() == "caw-brussel");
  CHECK_FALSE(events[0].as_object().contains("client_audit_pseudonym"));
  auto by_client =
      api.call("caw-brussel", "caw-dpo", "GET", "/v1/audit/events?client=" + own + "&limit=1");
  REQUIRE(by_client.status == 200);
  const auto first = json::parse(by_client.body).as_object();
  CHECK(first.at("events").as_array().size() == 1);
  CHECK(first.at("events").as_array()[0].as_object().contains("client_audit_pseudonym"));
  CHECK(first.contains("next"));
  for (const std::string q : {"?action=teleport", "?decision=maybe", "?from=yesterday", "?limit=0",
                              "?limit=1001", "?cursor=x", "?colour=blue"}) {
    INFO(q);
    CHECK(api.call("caw-brussel", "caw-dpo", "GET", "/v1/audit/events" + q).status == 400);
  }
  CHECK(api.call("caw-brussel", "caw-dpo", "GET", "/v1/audit/events?client=p1unknown").status ==
        404);
}
