// Operator acts (execute_operator_request) and the operator socket, on a real store and audit log.
#include "sluis/ops/operator.hpp"
#include "sluis/ops/operator_channel.hpp"
#include "sluis/domain/registry.hpp"

#include "result_printer.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <set>

namespace {

namespace fs = std::filesystem;
namespace gw = sluis::ops;
namespace json = boost::json;
using namespace std::chrono_literals;

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    // Short: a local socket's path must fit in 108 bytes.
    path = fs::path("/tmp") / ("sluis-op-" + std::to_string(rd() % 1000000000));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

constexpr const char* kNationalNumber = "85.07.30-033.28";

struct Gateway {
  TempDir dir;
  sluis::crypto::RootKey root = sluis::crypto::RootKey::random();
  std::atomic<bool> audit_fails{false};
  std::unique_ptr<sluis::store::Store> store;
  std::unique_ptr<sluis::audit::AuditLog> audit;
  std::shared_ptr<const sluis::policy::RulePack> pack;
  sluis::ops::OperatorContext ctx;
  sluis::ops::OperatorIdentity who{"tester"};

  Gateway() {
    sluis::store::StoreOptions so;
    so.data_path = dir.path / "data.db";
    so.key_store_path = dir.path / "keys.db";
    store = sluis::store::Store::open(std::move(so), root).value();
    sluis::audit::AuditLogOptions ao;
    ao.path = dir.path / "audit.db";
    ao.origin = "test/audit";
    ao.inject_failure = [this](std::string_view) { return audit_fails.load(); };
    audit = sluis::audit::AuditLog::open(std::move(ao), root).value();
    auto loaded = sluis::policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                                "/policy/packs/brussels-welfare.toml");
    REQUIRE(loaded.has_value());
    pack = std::make_shared<const sluis::policy::RulePack>(std::move(*loaded));
    ctx.store = store.get();
    ctx.sqlcipher = store.get();
    ctx.audit = audit.get();
    ctx.rules = [this] { return pack; };
  }

  json::object run(const std::string& request) {
    const auto answer = sluis::ops::execute_operator_request(ctx, who, request);
    auto v = json::parse(answer);
    REQUIRE(v.is_object());
    return v.as_object();
  }
  static bool ok(const json::object& a) { return a.at("ok").as_bool(); }
  static std::string code(const json::object& a) {
    return a.contains("code") ? std::string(a.at("code").as_string()) : std::string();
  }
  sluis::audit::StoredEvent last_event() const {
    REQUIRE(audit->size() > 0);
    return audit->event(audit->size() - 1).value();
  }
};

}  // namespace

TEST_CASE("operator: each act is audited before it is done, naming the operator", "[operator]") {
  Gateway g;
  auto a = g.run(R"({"op":"partner.add","id":"ocmw-brussel","type":"ocmw","name":"OCMW Brussel"})");
  REQUIRE(Gateway::ok(a));
  CHECK(g.audit->size() == 1);
  auto e = g.last_event().event;
  CHECK(e.action == sluis::audit::AuditAction::partner_add);
  CHECK(e.worker == "operator:tester");
  CHECK(e.role == "operator");
  CHECK(e.partner.empty());
  CHECK(e.owner_partner == "ocmw-brussel");
  CHECK(e.rule == "type:ocmw");
  CHECK(e.request_id == std::string(a.at("request_id").as_string()));
  sluis::domain::Registry registry(*g.store);
  CHECK(registry.find_partner("ocmw-brussel"));

  REQUIRE(Gateway::ok(g.run(
      R"({"op":"worker.add","partner":"ocmw-brussel","worker":"an","role":"social-worker"})")));
  e = g.last_event().event;
  CHECK(e.action == sluis::audit::AuditAction::worker_add);
  CHECK(e.rule == "worker:an role:social-worker");
  REQUIRE(Gateway::ok(g.run(R"({"op":"worker.disable","partner":"ocmw-brussel","worker":"an"})")));
  CHECK(g.last_event().event.action == sluis::audit::AuditAction::worker_disable);
  CHECK_FALSE(registry.find_worker("ocmw-brussel", "an")->active);
  REQUIRE(Gateway::ok(g.run(R"({"op":"worker.enable","partner":"ocmw-brussel","worker":"an"})")));
  CHECK(g.last_event().event.action == sluis::audit::AuditAction::worker_enable);
  CHECK(registry.find_worker("ocmw-brussel", "an")->active);

  const auto before = g.store->kek_versions().back().value;
  auto rotated = g.run(R"({"op":"key.rotate"})");
  REQUIRE(Gateway::ok(rotated));
  CHECK(g.store->kek_versions().back().value == before + 1);
  CHECK(g.last_event().event.action == sluis::audit::AuditAction::key_rotate);

  auto backup = g.run(R"({"op":"backup","out":")" + (g.dir.path / "bk").string() +
                      R"(","key_snapshot":true})");
  REQUIRE(Gateway::ok(backup));
  CHECK(fs::exists(std::string(backup.at("data").as_string())));
  CHECK(fs::exists(std::string(backup.at("keys").as_string())));
  CHECK(g.last_event().event.rule == "data+key-snapshot");

  REQUIRE(Gateway::ok(g.run(R"({"op":"partner.revoke","id":"ocmw-brussel"})")));
  CHECK(g.last_event().event.action == sluis::audit::AuditAction::partner_revoke);
  CHECK(registry.find_partner("ocmw-brussel")->revoked_at.has_value());
  CHECK(g.audit->size() == 7);

  // Lists and status are not acts: nothing is appended.
  CHECK(Gateway::ok(g.run(R"({"op":"partner.list"})")));
  CHECK(Gateway::ok(g.run(R"({"op":"worker.list","partner":"ocmw-brussel"})")));
  CHECK(Gateway::ok(g.run(R"({"op":"status"})")));
  CHECK(g.audit->size() == 7);
}

TEST_CASE("operator: backups taken into one directory in the same second get their own names",
          "[operator]") {
  Gateway g;
  const std::string request =
      R"({"op":"backup","out":")" + (g.dir.path / "bk").string() + R"(","key_snapshot":true})";
  std::set<std::string> names;
  for (int i = 0; i < 3; ++i) {
    auto backup = g.run(request);
    REQUIRE(Gateway::ok(backup));
    const std::string data(backup.at("data").as_string());
    const std::string keys(backup.at("keys").as_string());
    CHECK(fs::exists(data));
    CHECK(fs::exists(keys));
    names.insert(data);
    names.insert(keys);
  }
  CHECK(names.size() == 6);  // none overwritten, none refused
}

TEST_CASE("operator: a refused request changes nothing and is answered with a sentence",
          "[operator]") {
  Gateway g;
  REQUIRE(Gateway::ok(g.run(R"({"op":"partner.add","id":"caw","type":"caw","name":"CAW"})")));
  sluis::domain::Registry registry(*g.store);
  const auto events = g.audit->size();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "bad-request"},
      {"[1,2]", "bad-request"},
      {R"({"id":"x"})", "bad-request"},
      {R"({"op":"partner.delete"})", "bad-request"},
      {R"({"op":"partner.add","id":"x","type":"caw","name":"X","extra":1})", "bad-request"},
      {R"({"op":"partner.add","id":"x","type":"caw"})", "bad-request"},
      {R"({"op":"partner.add","id":"x","type":"no-such-type","name":"X"})", "bad-request"},
      {R"({"op":"partner.add","id":"caw","type":"caw","name":"again"})", "conflict"},
      {R"({"op":"partner.add","id":"Bad Id!","type":"caw","name":"X"})", "bad-request"},
      {R"({"op":"partner.revoke","id":"nobody"})", "not-found"},
      {R"({"op":"worker.add","partner":"caw","worker":"w","role":"wizard"})", "bad-request"},
      {R"({"op":"worker.add","partner":"nobody","worker":"w","role":"social-worker"})",
       "not-found"},
      {R"({"op":"worker.disable","partner":"caw","worker":"nobody"})", "not-found"},
      {R"({"op":"backup","out":"relative/dir","key_snapshot":false})", "bad-request"},
      {R"({"op":"backup","out":"/tmp/x","key_snapshot":"yes"})", "bad-request"},
      {R"({"op":"client.erase","partner":"caw","pseudonym":"p1none"})", "bad-request"},
      {R"({"op":"client.erase","partner":"caw","pseudonym":"p1none","reason":"r"})", "not-found"},
      {R"({"op":"client.erase","scheme":"national-register","identifier":"12345","reason":"r"})",
       "bad-request"},
      {R"({"op":"client.erase","scheme":"case-number","identifier":"A1","reason":"r"})",
       "bad-request"},
      {R"({"op":"client.erase","scheme":"passport","identifier":"A1","reason":"r"})",
       "bad-request"},
      {R"({"op":"policy.reload"})", "unavailable"},
      {std::string(gw::kMaxOperatorRequest + 1, ' '), "bad-request"},
  };
  for (const auto& [request, expected] : cases) {
    INFO(request.substr(0, 120));
    auto a = g.run(request);
    CHECK_FALSE(Gateway::ok(a));
    CHECK(Gateway::code(a) == expected);
    CHECK_FALSE(std::string(a.at("error").as_string()).empty());
  }
  CHECK(g.audit->size() == events);
  CHECK(registry.list_partners()->size() == 1);
  CHECK_FALSE(registry.find_partner("x"));
  CHECK(registry.list_workers("caw")->empty());
}

TEST_CASE("operator: on another engine than SQLCipher, key rotation, backup and restore are refused "
          "with a sentence and change nothing",
          "[operator]") {
  Gateway g;
  g.ctx.sqlcipher = nullptr;  // what sluisd sets on PostgreSQL
  const auto before = g.audit->size();
  for (const char* request :
       {R"({"op":"key.rotate"})", R"({"op":"backup","out":"/tmp/sluis-none","key_snapshot":false})",
        R"({"op":"restore","data":"/tmp/x.db","keys":"/tmp/y.db","force":true})"}) {
    INFO(request);
    const auto a = g.run(request);
    CHECK_FALSE(Gateway::ok(a));
    CHECK(Gateway::code(a) == "unavailable");
    CHECK_THAT(std::string(a.at("error").as_string()), Catch::Contains("PostgreSQL"));
  }
  CHECK(g.audit->size() == before);
  // The acts every engine has still work.
  CHECK(Gateway::ok(g.run(R"({"op":"partner.add","id":"caw","type":"caw","name":"CAW"})")));
}

TEST_CASE("operator: an act the audit log cannot record is not done", "[operator]") {
  Gateway g;
  g.audit_fails = true;
  auto a = g.run(R"({"op":"partner.add","id":"caw","type":"caw","name":"CAW"})");
  CHECK_FALSE(Gateway::ok(a));
  CHECK(Gateway::code(a) == "audit-unavailable");
  CHECK_FALSE(sluis::domain::Registry(*g.store).find_partner("caw"));
  const auto versions = g.store->kek_versions();
  CHECK(Gateway::code(g.run(R"({"op":"key.rotate"})")) == "audit-unavailable");
  CHECK(g.store->kek_versions() == versions);
}

TEST_CASE("operator: erasure by identifier or pseudonym, recorded without the identifier",
          "[operator]") {
  Gateway g;
  sluis::domain::Registry registry(*g.store);
  REQUIRE(registry.add_partner("ocmw", "ocmw", "OCMW"));
  auto reg = registry.register_identified(
      "ocmw", sluis::crypto::IdentifierScheme::national_register, kNationalNumber);
  REQUIRE(reg);
  const auto client = registry.resolve("ocmw", reg->pseudonym).value();
  const auto audit_name = sluis::domain::audit_pseudonym(*g.store, client);

  auto a = g.run(R"({"op":"client.erase","scheme":"national-register","identifier":"85073003328",)"
                 R"("reason":"request 2026/114"})");
  REQUIRE(Gateway::ok(a));
  CHECK(std::string(a.at("audit_pseudonym").as_string()) == audit_name);
  const auto stored = g.last_event();
  CHECK(stored.event.action == sluis::audit::AuditAction::erasure);
  CHECK(stored.event.client == audit_name);
  CHECK(stored.event.purpose == "request 2026/114");
  CHECK(stored.event.decision == sluis::audit::AuditDecision::permit);
  CHECK(stored.canonical.find("85073003328") == std::string::npos);
  CHECK(
      registry.find_identified(sluis::crypto::IdentifierScheme::national_register, kNationalNumber)
          .error() == sluis::store::Errc::not_found);
  CHECK(registry.resolve("ocmw", reg->pseudonym).error() == sluis::store::Errc::not_found);
  // Erasing again finds nobody and records nothing.
  const auto events = g.audit->size();
  CHECK(Gateway::code(g.run(R"({"op":"client.erase","scheme":"national-register",)"
                            R"("identifier":"85073003328","reason":"again"})")) == "not-found");
  CHECK(g.audit->size() == events);

  // By a partner's pseudonym (e.g. the request came through that partner).
  auto other = registry.register_identified("ocmw", sluis::crypto::IdentifierScheme::case_number,
                                            "dossier-7");
  REQUIRE(other);
  REQUIRE(Gateway::ok(g.run(R"({"op":"client.erase","partner":"ocmw","pseudonym":")" +
                            other->pseudonym + R"(","reason":"client asked at the desk"})")));
  CHECK(registry.resolve("ocmw", other->pseudonym).error() == sluis::store::Errc::not_found);
}

TEST_CASE("operator: policy reload goes through the context and is recorded", "[operator]") {
  Gateway g;
  int reloads = 0;
  std::string problem;
  g.ctx.reload_rules = [&](const sluis::ops::OperatorIdentity&) {
    ++reloads;
    return problem;
  };
  REQUIRE(Gateway::ok(g.run(R"({"op":"policy.reload"})")));
  CHECK(reloads == 1);
  CHECK(g.last_event().event.action == sluis::audit::AuditAction::policy_reload);
  CHECK(g.last_event().event.rule.starts_with("rule-pack:"));
  problem = "the rule pack did not load";
  const auto events = g.audit->size();
  auto a = g.run(R"({"op":"policy.reload"})");
  CHECK_FALSE(Gateway::ok(a));
  CHECK(std::string(a.at("error").as_string()) == problem);
  CHECK(g.audit->size() == events);
}

TEST_CASE("operator: partner.revoke puts the certificate's revocation in force before answering",
          "[operator]") {
  Gateway g;
  REQUIRE(Gateway::ok(g.run(R"({"op":"partner.add","id":"caw","type":"caw","name":"CAW"})")));
  std::vector<std::string> refused;
  std::size_t events_when_refused = 0;
  g.ctx.revoke_certificate = [&](std::string_view serial) {
    refused.emplace_back(serial);
    events_when_refused = g.audit->size();
    return true;
  };
  const auto events = g.audit->size();
  auto bad = g.run(R"({"op":"partner.revoke","id":"caw","serial":"not-hex"})");
  CHECK(Gateway::code(bad) == "bad-request");
  CHECK(refused.empty());
  CHECK(g.audit->size() == events);

  REQUIRE(Gateway::ok(g.run(R"({"op":"partner.revoke","id":"caw","serial":"0A1B2C"})")));
  REQUIRE(refused == std::vector<std::string>{"0A1B2C"});
  CHECK(events_when_refused == events + 1);  // after the act is on the record
  CHECK(g.last_event().event.action == sluis::audit::AuditAction::partner_revoke);
  CHECK(sluis::domain::Registry(*g.store).find_partner("caw")->revoked_at.has_value());

  // Repeated (e.g. after a revoke whose store change failed): refused again, not an act.
  auto again = g.run(R"({"op":"partner.revoke","id":"caw","serial":"0A1B2C"})");
  CHECK(Gateway::code(again) == "conflict");
  CHECK(refused.size() == 2);
  CHECK(g.audit->size() == events + 1);
  // No serial (a stopped gateway's own act): nothing to put in force here.
  CHECK(Gateway::code(g.run(R"({"op":"partner.revoke","id":"caw"})")) == "conflict");
  CHECK(refused.size() == 2);
}

TEST_CASE("operator: an unknown role or partner type is answered with the rule pack's names",
          "[operator]") {
  Gateway g;
  REQUIRE(Gateway::ok(g.run(R"({"op":"partner.add","id":"caw","type":"caw","name":"CAW"})")));
  auto role = g.run(R"({"op":"worker.add","partner":"caw","worker":"w","role":"wizard"})");
  CHECK(Gateway::code(role) == "bad-request");
  const std::string role_error(role.at("error").as_string());
  CHECK_THAT(role_error, Catch::Contains("'wizard'"));
  for (const auto& r : g.pack->roles()) CHECK_THAT(role_error, Catch::Contains(r.name));
  auto type = g.run(R"({"op":"partner.add","id":"x","type":"wizardry","name":"X"})");
  const std::string type_error(type.at("error").as_string());
  for (const auto& t : g.pack->partner_types()) CHECK_THAT(type_error, Catch::Contains(t.name));
}

TEST_CASE("audit: only one process appends — a second writer is refused", "[operator][audit]") {
  Gateway g;
  sluis::audit::AuditLogOptions second;
  second.path = g.dir.path / "audit.db";
  second.origin.clear();
  CHECK(sluis::audit::AuditLog::open(second, g.root).error() == sluis::store::Errc::in_use);
  second.read_only = true;
  CHECK(sluis::audit::AuditLog::open(second, g.root).has_value());
  g.audit.reset();  // the lock goes with the writer
  second.read_only = false;
  CHECK(sluis::audit::AuditLog::open(second, g.root).has_value());
}

TEST_CASE("operator channel: owner-only socket, one answer per request, stale files replaced",
          "[operator]") {
  TempDir dir;
  const fs::path socket = dir.path / "run" / "op.sock";
  std::atomic<int> handled{0};
  sluis::ops::OperatorChannelOptions options;
  options.socket = socket;
  options.read_timeout = 300ms;
  options.handler = [&](std::string_view request, const sluis::ops::PeerAccount& peer) {
    ++handled;
    CHECK(peer.uid == ::geteuid());
    return std::string(R"({"ok":true,"echo":)") + std::string(request) + "}";
  };
  {
    sluis::ops::OperatorChannel channel(options);
    struct stat st{};
    REQUIRE(::stat(socket.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(socket.parent_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);

    auto call = sluis::ops::call_operator_channel(socket, R"({"op":"status"})", 5s);
    REQUIRE(call.outcome == sluis::ops::OperatorCall::Outcome::answered);
    CHECK(call.answer == R"({"ok":true,"echo":{"op":"status"}})");

    // A second channel on a live socket is refused.
    CHECK_THROWS_AS(sluis::ops::OperatorChannel(options), std::runtime_error);

    // A client that connects and says nothing gets an answer after the read timeout, and the
    // channel keeps serving.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    char buf[512] = {};
    const auto n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    CHECK(n > 0);
    CHECK(std::string(buf).find("bad-request") != std::string::npos);
    CHECK(sluis::ops::call_operator_channel(socket, "{}", 5s).outcome ==
          sluis::ops::OperatorCall::Outcome::answered);
  }
  CHECK_FALSE(fs::exists(socket));
  CHECK(handled == 2);
  CHECK(sluis::ops::call_operator_channel(socket, "{}", 1s).outcome ==
        sluis::ops::OperatorCall::Outcome::no_gateway);

  // A stale socket file (its process died) is replaced.
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);  // bound, never listened: connecting is refused
  }
  REQUIRE(fs::exists(socket));
  CHECK(sluis::ops::call_operator_channel(socket, "{}", 1s).outcome ==
        sluis::ops::OperatorCall::Outcome::no_gateway);
  sluis::ops::OperatorChannel again(options);
  CHECK(sluis::ops::call_operator_channel(socket, "{}", 5s).outcome == sluis::ops::OperatorCall::Outcome::answered);
}
