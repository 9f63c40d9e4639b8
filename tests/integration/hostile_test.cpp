// Hostile-input catalogue (issue #7, BRIEF §4 promise 11): every case is sent to the real sluisd
// over real mTLS; each must get its documented answer, change nothing, and leave others served.
#include "sluisd_harness.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>

namespace {

using namespace sluis::test;
using sluis::policy::format_time;

// ---------------------------------------------------------------------------------------------
// What a case expects and what it observed.

enum class Outcome {
  problem,            ///< an HTTP response with `status` and, when not 2xx, problem `code`
  handshake_refused,  ///< TLS handshake (or the first read after it) fails: no HTTP at all
  closed,             ///< the connection is closed without a response
  verified,           ///< the case checks its own observations (see Observed::verified)
};

struct Expected {
  Outcome outcome = Outcome::problem;
  int status = 0;
  std::string code;  ///< problem code; empty for success statuses
};

struct Observed {
  bool handshake_failed = false;
  std::optional<Response> response;  ///< nullopt: closed without a response
  bool verified = false;             ///< for Outcome::verified
  std::string note;                  ///< what went wrong, for the failure message
};

Expected problem(int status, std::string code) {
  return {Outcome::problem, status, std::move(code)};
}
Expected success(int status) {
  return {Outcome::problem, status, ""};
}
Expected handshake_refused() {
  return {Outcome::handshake_refused, 0, ""};
}
Expected closed() {
  return {Outcome::closed, 0, ""};
}
Expected verified() {
  return {Outcome::verified, 0, ""};
}

std::string describe(const Observed& o) {
  if (o.handshake_failed) return "handshake refused";
  if (!o.response) return "connection closed without a response" + o.note;
  return std::to_string(o.response->status) + " " + o.response->body + o.note;
}

bool matches(const Expected& e, const Observed& o) {
  switch (e.outcome) {
  case Outcome::handshake_refused: return o.handshake_failed;
  case Outcome::closed: return !o.handshake_failed && !o.response;
  case Outcome::verified: return o.verified;
  case Outcome::problem:
    if (o.handshake_failed || !o.response || o.response->status != e.status) return false;
    if (e.status >= 400) {
      return problem_code(*o.response) == e.code &&
             o.response->content_type == "application/problem+json";
    }
    return true;
  }
  return false;
}

std::string at(std::chrono::system_clock::duration from_now) {
  return format_time(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() + from_now));
}

std::string client_of(const Response& r) {
  const auto v = body_json(r);
  REQUIRE(v.is_object());
  return std::string(v.at("client").as_string());
}

std::string registration(unsigned long long person) {
  return R"({"identifier":{"scheme":"national-register","value":")" +
         national_register_number(person) + R"("}})";
}

std::string consent_body(const std::string& grantee, const std::string& category,
                         const std::string& channel = "in-person",
                         const std::string& language = "nl") {
  return R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":")" + grantee +
         R"("},"categories":[")" + category +
         R"("],"purposes":["care-coordination"],"period":{"start":")" + at(-1h) + R"(","end":")" +
         at(24h * 30) +
         R"("}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)"
         R"("role":"social-worker"},"channel":")" +
         channel + R"(","language":")" + language + R"(","recorded_at":")" + at(-1min) + R"("}})";
}

/// JSON string literal contents for `text` (escapes quotes and backslashes only: enough for the
/// ASCII payloads below).
std::string json_escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

const std::string kSqlQuote = "' OR 1=1 --";
const std::string kSqlDrop = "\"; DROP TABLE clients; --";
const std::string kFormat = "%s%s%n%x%p%99999999d";

// ---------------------------------------------------------------------------------------------
// Certificates the gateway's CA API cannot make: expired (validity in the past). Signed with the
// real CA key (saved to a file and reloaded) so that only the dates are wrong.

gw::Credential expired_partner_certificate(const GatewayHome& home, const std::string& partner) {
  const auto dir = home.dir.path() / "expired-ca";
  fs::create_directories(dir);
  REQUIRE(home.ca.save(dir / "ca.crt", dir / "ca.key"));
  auto ca_key = gw::PrivateKey::load_pem_file(dir / "ca.key").value();
  auto key = gw::PrivateKey::generate().value();

  X509* x = X509_new();
  REQUIRE(x != nullptr);
  gw::Certificate cert(x);  // owns x from here on
  REQUIRE(X509_set_version(x, 2) == 1);
  REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(x), 0x5eed) == 1);
  std::time_t now = std::time(nullptr);
  REQUIRE(X509_time_adj_ex(X509_getm_notBefore(x), -3, 0, &now) != nullptr);
  REQUIRE(X509_time_adj_ex(X509_getm_notAfter(x), -1, 0, &now) != nullptr);
  X509_NAME* name = X509_get_subject_name(x);
  REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(partner.c_str()), -1,
                                     -1, 0) == 1);
  REQUIRE(X509_set_issuer_name(x, X509_get_subject_name(home.ca.certificate().native_handle())) ==
          1);
  REQUIRE(X509_set_pubkey(x, key.native_handle()) == 1);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, home.ca.certificate().native_handle(), x, nullptr, nullptr, 0);
  const std::string san = "URI:urn:sluis:partner:" + partner;
  for (const auto& [nid, value] :
       {std::pair{NID_subject_alt_name, san},
        std::pair{NID_ext_key_usage, std::string("clientAuth")},
        std::pair{NID_key_usage, std::string("critical,digitalSignature")},
        std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    REQUIRE(ext != nullptr);
    const int added = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    REQUIRE(added == 1);
  }
  REQUIRE(X509_sign(x, ca_key.native_handle(), EVP_sha256()) > 0);
  return gw::Credential{std::move(key), std::move(cert)};
}

// ---------------------------------------------------------------------------------------------
// The shared gateway and its prepared state.

struct Catalogue {
  GatewayHome home;
  std::unique_ptr<Sluisd> gateway;
  // Prepared up front.
  std::string ocmw_client;      // the OCMW's identified client with fragments and consents
  std::string caw_client;       // the same person at the CAW (reads through the consent)
  std::string shelter_client;   // the shelter's anonymous client
  std::string scratch_client;   // the OCMW client free-text payloads may be written to
  std::string caw_only_client;  // a client only the CAW knows
  std::string housing_fragment;
  std::string active_consent, revoked_consent;
  std::string shelter_pseudonym;
  // The baseline fingerprint: every read as it was after preparation.
  std::vector<std::string> baseline;
  std::unique_ptr<sluis::audit::AuditLog> audit;
  std::uint64_t audit_cursor = 0;

  Catalogue() {
    // Short timeouts so that slow-loris cases take about two seconds; room for 200 idle clients.
    std::ostringstream c;
    c << "[server]\nlisten_address = \"127.0.0.1\"\nport = 0\nio_threads = 2\n"
      << "handler_threads = 2\n[metrics]\nenabled = false\n"
      << "[tls]\ncertificate = \"tls/server.crt\"\nprivate_key = \"tls/server.key\"\n"
      << "ca_certificate = \"tls/ca.crt\"\nrevocation_list = \"tls/revoked.txt\"\n"
      << "[limits]\nhandshake_timeout_ms = 2000\nheader_timeout_ms = 1000\n"
      << "body_timeout_ms = 1000\nidle_timeout_ms = 5000\ndrain_timeout_ms = 2000\n"
      << "header_limit_bytes = 16384\nbody_limit_bytes = 65536\nmax_connections = 400\n"
      << "[paths]\ndata_dir = \"data\"\nkey_file = \"keys/root.key\"\n"
      << "rule_pack = \"policy/rules.toml\"\n"
      << "[log]\ndestination = \"" << home.log_file.string() << "\"\nlevel = \"info\"\n";
    write_text(home.config_path, c.str());
    gateway = std::make_unique<Sluisd>(home);
    REQUIRE(gateway->wait_ready());
    prepare();
    const auto root = sluis::crypto::read_root_key(home.dir.path() / "keys/root.key", {}).value();
    sluis::audit::AuditLogOptions o;
    o.path = home.dir.path() / "data/audit.db";
    o.origin.clear();
    o.read_only = true;
    audit = sluis::audit::AuditLog::open(std::move(o), root).value();
    baseline = fingerprint();
    for (const auto& part : baseline)
      REQUIRE_FALSE(part.empty());
    (void)audit_since_cursor();
  }

  void prepare() {
    Worker ocmw(*gateway, home.ocmw, "ocmw-sw");
    Worker caw(*gateway, home.caw, "caw-sw");
    Worker shelter(*gateway, home.shelter, "shelter-sw");
    ocmw_client = client_of(ocmw.post("/v1/clients", registration(860101101)));
    caw_client = client_of(caw.post("/v1/clients", registration(860101101)));
    scratch_client = client_of(ocmw.post("/v1/clients", registration(860202202)));
    caw_only_client = client_of(caw.post("/v1/clients", registration(860303303)));
    auto housing = ocmw.post("/v1/clients/" + ocmw_client + "/fragments",
                             R"({"category":"housing","fields":{"situation":"HOSTILE-BASE-1"}})");
    REQUIRE(housing.status == 201);
    housing_fragment = std::string(body_json(housing).at("fragment").as_string());
    REQUIRE(ocmw.post("/v1/clients/" + ocmw_client + "/fragments",
                      R"({"category":"income","fields":{"benefit":"HOSTILE-BASE-2"}})")
                .status == 201);
    auto granted = ocmw.post("/v1/clients/" + ocmw_client + "/consents",
                             consent_body("caw-brussel", "housing"));
    REQUIRE(granted.status == 201);
    active_consent = std::string(body_json(granted).at("consent").as_string());
    auto second = ocmw.post("/v1/clients/" + ocmw_client + "/consents",
                            consent_body("caw-brussel", "income"));
    REQUIRE(second.status == 201);
    revoked_consent = std::string(body_json(second).at("consent").as_string());
    REQUIRE(
        ocmw.call("DELETE", "/v1/clients/" + ocmw_client + "/consents/" + revoked_consent).status ==
        200);

    const auto card = sluis::crypto::new_card_secret();
    shelter_pseudonym = sluis::crypto::service_pseudonym(card, "nachtopvang");
    shelter_client = client_of(
        shelter.post("/v1/clients", R"({"service_pseudonym":")" + shelter_pseudonym + R"("})"));
    REQUIRE(shelter
                .post("/v1/clients/" + shelter_client + "/fragments",
                      R"({"category":"housing","fields":{"situation":"HOSTILE-BASE-3"}})")
                .status == 201);
  }

  /// Every read the fingerprint consists of, each on a fresh connection; "" for a failed read.
  std::vector<std::string> fingerprint() const {
    auto read = [&](const gw::Credential& cred, const std::string& worker,
                    const std::string& target) -> std::string {
      auto c = gateway->client(&cred);
      if (c.connect()) return "";
      auto r = c.request("GET", target, {},
                         {{"Sluis-Worker", worker}, {"Sluis-Purpose", "care-coordination"}});
      if (!r || r->status != 200) return "";
      return r->body;
    };
    return {
        read(home.ocmw, "ocmw-sw", "/v1/clients/" + ocmw_client + "/dossier"),
        read(home.caw, "caw-sw", "/v1/clients/" + caw_client + "/dossier"),
        read(home.caw, "caw-sw", "/v1/clients/" + caw_only_client + "/dossier"),
        read(home.shelter, "shelter-sw", "/v1/clients/" + shelter_client + "/dossier"),
        read(home.ocmw, "ocmw-sw", "/v1/clients/" + ocmw_client + "/consents"),
    };
  }

  /// Audit events appended since the last call.
  std::vector<sluis::audit::StoredEvent> audit_since_cursor() {
    sluis::audit::AuditQuery q;
    q.cursor = audit_cursor;
    auto events = audit->query_all(q).value();
    if (!events.empty()) audit_cursor = events.back().leaf + 1;
    return events;
  }

  /// A well-behaved client on a fresh connection: the OCMW's own dossier read, as at the start.
  bool serves_others() const {
    auto c = gateway->client(&home.ocmw);
    if (c.connect()) return false;
    auto r = c.request("GET", "/v1/clients/" + ocmw_client + "/dossier", {},
                       {{"Sluis-Worker", "ocmw-sw"}, {"Sluis-Purpose", "care-coordination"}});
    return r && r->status == 200 && r->body == baseline.front() &&
           r->body.find("HOSTILE-BASE-1") != std::string::npos;
  }

  // --- Ways of sending ---

  /// Connects with `cred` (null: no certificate); nullopt when the handshake is refused.
  /// A fresh client for `cred` (null: no certificate), not yet connected.
  std::unique_ptr<TlsClient> client(const gw::Credential* cred, bool tls12_only = false) const {
    return std::make_unique<TlsClient>(gateway->port(), home.ca.certificate(),
                                       ClientOptions{cred, tls12_only});
  }

  /// Connects with `cred` (null: no certificate); null when the handshake is refused.
  std::unique_ptr<TlsClient> connect(const gw::Credential* cred) const {
    auto c = client(cred);
    if (c->connect()) return nullptr;
    return c;
  }

  /// Sends raw bytes as `cred` on a new connection and reads one response.
  Observed raw(const std::string& bytes, const gw::Credential* cred = nullptr) const {
    Observed o;
    auto c = connect(cred != nullptr ? cred : &home.ocmw);
    if (!c) {
      o.handshake_failed = true;
      return o;
    }
    if (c->write_raw(bytes)) return o;
    o.response = c->read_response();
    return o;
  }

  /// A well-formed request with the given headers and body (Content-Type JSON when a body).
  Observed request(const std::string& method, const std::string& target,
                   const std::string& body = {}, const std::string& worker = "ocmw-sw",
                   const gw::Credential* cred = nullptr,
                   std::vector<std::pair<std::string, std::string>> headers = {}) const {
    std::string bytes = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
    if (!worker.empty()) bytes += "Sluis-Worker: " + worker + "\r\n";
    for (const auto& [k, v] : headers)
      bytes += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST") {
      bytes += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n";
    }
    return raw(bytes + "\r\n" + body, cred);
  }

  /// A TLS connection attempt that must not get an HTTP answer: true when the handshake fails or
  /// the first request gets no response (TLS 1.3 reports a rejected client certificate only at
  /// the client's first read).
  static Observed tls_attempt(TlsClient& c) {
    Observed o;
    if (c.connect()) {
      o.handshake_failed = true;
      return o;
    }
    auto r = c.request("GET", "/healthz");
    if (!r) {
      o.handshake_failed = true;
    } else {
      o.response = r;
    }
    return o;
  }

  std::string path(const std::string& client, const std::string& rest = {}) const {
    return "/v1/clients/" + client + rest;
  }
};

struct Case {
  std::string category;
  std::string name;
  std::function<Observed(Catalogue&)> send;
  Expected expected;
  /// Writes the case may make (free-text payloads stored verbatim on the scratch client).
  std::set<sluis::audit::AuditAction> may_write = {};
};

bool is_read_only(sluis::audit::AuditAction a) {
  using A = sluis::audit::AuditAction;
  return a == A::read || a == A::consent_read || a == A::access_report || a == A::audit_query;
}

// ---------------------------------------------------------------------------------------------
// The catalogue.

std::vector<Case> catalogue() {
  std::vector<Case> cases;
  auto add = [&](std::string category, std::string name, std::function<Observed(Catalogue&)> send,
                 Expected expected, std::set<sluis::audit::AuditAction> may_write = {}) {
    cases.push_back(
        {std::move(category), std::move(name), std::move(send), expected, std::move(may_write)});
  };
  using A = sluis::audit::AuditAction;
  const std::string json_head = "Content-Type: application/json\r\n";

  // --- Bodies: size, truncation, framing ---------------------------------------------------
  add(
      "body", "declared body over the limit",
      [](Catalogue& k) {
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n");
      },
      problem(413, "payload-too-large"));
  add(
      "body", "10 MB JSON array declared",
      [](Catalogue& k) {
        std::string start = "[" + std::string(32 * 1024, '1');
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n" +
                     start);
      },
      problem(413, "payload-too-large"));
  add(
      "body", "chunked body growing past the limit",
      [](Catalogue& k) {
        std::string bytes = "POST " + k.path(k.ocmw_client, "/fragments") +
                            " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        const std::string chunk = "[" + std::string(0x3fff, '1');
        for (int i = 0; i < 5; ++i)
          bytes += "4000\r\n" + chunk + "\r\n";
        return k.raw(bytes);
      },
      problem(413, "payload-too-large"));
  add(
      "body", "truncated body: Content-Length larger than sent, then close",
      [](Catalogue& k) {
        Observed o;
        auto c = k.connect(&k.home.ocmw);
        if (!c) {
          o.handshake_failed = true;
          return o;
        }
        const std::string body = R"({"category":"housing","fields":{"situation":"TRUNCATED"}})";
        o.verified = !c->write_raw("POST " + k.path(k.ocmw_client, "/fragments") +
                                   " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                                   "Content-Type: application/json\r\nContent-Length: " +
                                   std::to_string(body.size() + 40) + "\r\n\r\n" + body);
        c->close();
        return o;
      },
      verified());
  add(
      "body", "truncated body left waiting past the body timeout",
      [](Catalogue& k) {
        const std::string body = R"({"category":"housing","fields":{"situation":"SLOW"}})";
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size() + 40) + "\r\n\r\n" + body);
      },
      closed());
  add(
      "body", "chunked garbage",
      [](Catalogue& k) {
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "ZZZ\r\n{}\r\n0\r\n\r\n");
      },
      problem(400, "malformed-request"));
  add(
      "body", "POST without Content-Length or chunked coding",
      [](Catalogue& k) {
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\n\r\n");
      },
      problem(411, "length-required"));
  add(
      "body", "smuggling: Content-Length and Transfer-Encoding together",
      [](Catalogue& k) {
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\nContent-Length: 4\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n"
                     "Host: localhost\r\n\r\n");
      },
      problem(400, "malformed-request"));
  add(
      "body", "transfer coding other than chunked",
      [](Catalogue& k) {
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                     "0\r\n\r\n");
      },
      problem(400, "malformed-request"));
  add(
      "body", "two Content-Length headers that differ",
      [](Catalogue& k) {
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                     "Content-Type: application/json\r\nContent-Length: 2\r\n"
                     "Content-Length: 40\r\n\r\n{}");
      },
      problem(400, "malformed-request"));

  // --- Content types -----------------------------------------------------------------------
  for (const std::string type :
       {"text/plain", "application/x-www-form-urlencoded", "application/json-seq"}) {
    add(
        "content-type", "Content-Type " + type,
        [type](Catalogue& k) {
          const std::string body = R"({"category":"housing","fields":{"a":"b"}})";
          return k.raw(
              "POST " + k.path(k.ocmw_client, "/fragments") +
              " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\nContent-Type: " + type +
              "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
        },
        problem(415, "unsupported-media-type"));
  }
  add(
      "content-type", "body without Content-Type",
      [](Catalogue& k) {
        const std::string body = R"({"category":"housing","fields":{"a":"b"}})";
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
      },
      problem(415, "unsupported-media-type"));
  add(
      "content-type", "two Content-Type headers",
      [json_head](Catalogue& k) {
        const std::string body = R"({"category":"housing","fields":{"a":"b"}})";
        return k.raw("POST " + k.path(k.ocmw_client, "/fragments") +
                     " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n" + json_head +
                     json_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                     body);
      },
      problem(400, "malformed-request"));

  // --- JSON --------------------------------------------------------------------------------
  auto post_fragment = [](std::string body) {
    return [body = std::move(body)](Catalogue& k) {
      return k.request("POST", k.path(k.ocmw_client, "/fragments"), body);
    };
  };
  add("json", "invalid UTF-8 in a string",
      post_fragment("{\"category\":\"housing\",\"fields\":"
                    "{\"situation\":\"\xff\xfe\"}}"),
      problem(400, "malformed-json"));
  add("json", "overlong UTF-8 encoding of '/'",
      post_fragment("{\"category\":\"housing\",\"fields\":{\"situation\":\"\xc0\xaf\"}}"),
      problem(400, "malformed-json"));
  add("json", "UTF-16 surrogate encoded in UTF-8",
      post_fragment("{\"category\":\"housing\",\"fields\":{\"situation\":\"\xed\xa0\x80\"}}"),
      problem(400, "malformed-json"));
  add("json", "invalid UTF-8 in a member name",
      post_fragment("{\"category\":\"housing\",\"fields\":{\"\xff\":\"x\"}}"),
      problem(400, "malformed-json"));
  add("json", "arrays nested 1000 deep",
      post_fragment(std::string(1000, '[') + std::string(1000, ']')),
      problem(400, "malformed-json"));
  add("json", "objects nested 17 deep in a field", post_fragment([] {
        std::string s = R"({"category":"housing","fields":)";
        for (int i = 0; i < 17; ++i)
          s += R"({"a":)";
        s += "1";
        s += std::string(17, '}');
        return s + "}";
      }()),
      problem(400, "malformed-json"));
  add("json", "duplicate member names",
      post_fragment(R"({"category":"housing","category":)"
                    R"("income","fields":{"a":"b"}})"),
      problem(400, "malformed-json"));
  add("json", "duplicate field names inside fields",
      post_fragment(R"({"category":"housing","fields":{"a":"b","a":"c"}})"),
      problem(400, "malformed-json"));
  add("json", "two JSON texts", post_fragment(R"({"category":"housing","fields":{"a":"b"}}{})"),
      problem(400, "malformed-json"));
  add("json", "truncated JSON text", post_fragment(R"({"category":"housing","fields":{"a":)"),
      problem(400, "malformed-json"));
  add("json", "large array just under the body limit", post_fragment([] {
        std::string s = "[";
        for (int i = 0; i < 30000; ++i)
          s += i == 0 ? "0" : ",0";
        return s + "]";
      }()),
      problem(422, "invalid-body"));
  add("json", "unknown member",
      post_fragment(R"({"category":"housing","fields":{"a":"b"},)"
                    R"("owner":"caw-brussel"})"),
      problem(422, "invalid-body"));
  add("json", "field value of the wrong type",
      post_fragment(R"({"category":"housing","fields":{"a":["b"]}})"),
      problem(422, "invalid-body"));
  add("json", "NUL escape inside a category name",
      post_fragment(R"({"category":"housing\u0000","fields":{"a":"b"}})"),
      problem(422, "unknown-category"));

  // --- Numbers out of range (break-the-glass minutes) ---------------------------------------
  const std::string reason = "client found unconscious at home, family must be reached";
  for (const std::string minutes : {"1e309", "-1", "9223372036854775808", "0", "1.5", "\"60\"",
                                    "100000000000000000000000000000"}) {
    add(
        "numbers", "break-glass minutes = " + minutes,
        [minutes, reason](Catalogue& k) {
          return k.request("POST", k.path(k.ocmw_client, "/break-glass"),
                           R"({"categories":["contact"],"reason":")" + reason + R"(","minutes":)" +
                               minutes + "}");
        },
        problem(422, "invalid-body"));
  }
  add(
      "numbers", "break-glass minutes over the rule pack's maximum",
      [reason](Catalogue& k) {
        return k.request("POST", k.path(k.ocmw_client, "/break-glass"),
                         R"({"categories":["contact"],"reason":")" + reason +
                             R"(","minutes":481})");
      },
      problem(422, "period-too-long"));

  // --- Headers -----------------------------------------------------------------------------
  add(
      "headers", "a 64 KiB header",
      [](Catalogue& k) {
        return k.raw("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Filler: " +
                     std::string(64 * 1024, 'a') + "\r\n\r\n");
      },
      problem(431, "headers-too-large"));
  add(
      "headers", "500 header fields",
      [](Catalogue& k) {
        std::string bytes = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
        for (int i = 0; i < 500; ++i)
          bytes += "X-Flood-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
        return k.raw(bytes + "\r\n");
      },
      problem(431, "headers-too-large"));
  add(
      "headers", "request line longer than the header limit",
      [](Catalogue& k) {
        return k.raw("GET /healthz?" + std::string(20000, 'q') + " HTTP/1.1\r\nHost: x\r\n\r\n");
      },
      problem(431, "headers-too-large"));
  add(
      "headers", "invalid UTF-8 in Sluis-Worker",
      [](Catalogue& k) {
        return k.request("GET", k.path(k.ocmw_client, "/dossier"), {}, "ocmw-\xff\xfe", nullptr,
                         {{"Sluis-Purpose", "care-coordination"}});
      },
      problem(400, "malformed-request"));
  add(
      "headers", "invalid UTF-8 in Sluis-Purpose",
      [](Catalogue& k) {
        return k.request("GET", k.path(k.ocmw_client, "/dossier"), {}, "ocmw-sw", nullptr,
                         {{"Sluis-Purpose", "care\xc3("}});
      },
      problem(400, "malformed-request"));
  add(
      "headers", "repeated Sluis-Worker",
      [](Catalogue& k) {
        return k.request("GET", k.path(k.ocmw_client, "/dossier"), {}, "ocmw-sw", nullptr,
                         {{"Sluis-Worker", "ocmw-admin"}, {"Sluis-Purpose", "care-coordination"}});
      },
      problem(400, "malformed-request"));
  add(
      "headers", "missing Host",
      [](Catalogue& k) { return k.raw("GET /healthz HTTP/1.1\r\n\r\n"); },
      problem(400, "malformed-request"));
  add(
      "headers", "two Host headers",
      [](Catalogue& k) { return k.raw("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"); },
      problem(400, "malformed-request"));
  add(
      "headers", "X-Request-Id with forbidden characters",
      [](Catalogue& k) {
        return k.request("GET", "/healthz", {}, "", nullptr, {{"X-Request-Id", "a b;c"}});
      },
      problem(400, "malformed-request"));
  add(
      "headers", "header line without a colon",
      [](Catalogue& k) {
        return k.raw("GET /healthz HTTP/1.1\r\nHost: localhost\r\nthis is not a header\r\n\r\n");
      },
      problem(400, "malformed-request"));

  // --- Slow and idle connections -------------------------------------------------------------
  add(
      "connections", "slow-loris: header bytes trickled past the header timeout",
      [](Catalogue& k) {
        Observed o;
        auto c = k.connect(&k.home.ocmw);
        if (!c) {
          o.handshake_failed = true;
          return o;
        }
        const std::string line = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
        bool write_failed = static_cast<bool>(c->write_raw(line));
        // Eight bytes, 250 ms apart: the header never completes within the 1 s header timeout.
        for (int i = 0; i < 8 && !write_failed; ++i) {
          std::this_thread::sleep_for(250ms);
          write_failed = static_cast<bool>(c->write_raw("z"));
        }
        if (!write_failed) o.response = c->read_response(3s);
        return o;
      },
      closed());
  add(
      "connections", "200 idle TLS connections at once, others still served",
      [](Catalogue& k) {
        Observed o;
        std::vector<std::unique_ptr<TlsClient>> idle;
        int connected = 0;
        for (int i = 0; i < 200; ++i) {
          idle.push_back(k.client(&k.home.caw));
          if (!idle.back()->connect()) ++connected;
        }
        o.verified = connected == 200 && k.serves_others();
        o.note = " (" + std::to_string(connected) + " of 200 idle connections made)";
        return o;
      },
      verified());
  add(
      "connections", "100 TCP connections that never start TLS, others still served",
      [](Catalogue& k) {
        Observed o;
        asio::io_context ioc;
        std::vector<std::unique_ptr<tcp::socket>> sockets;
        int connected = 0;
        for (int i = 0; i < 100; ++i) {
          sockets.push_back(std::make_unique<tcp::socket>(ioc));
          boost::system::error_code ec;
          sockets.back()->connect(
              tcp::endpoint(asio::ip::make_address("127.0.0.1"), k.gateway->port()), ec);
          if (!ec) ++connected;
        }
        o.verified = connected == 100 && k.serves_others();
        return o;
      },
      verified());
  add(
      "connections", "pipelined requests answered in order",
      [](Catalogue& k) {
        Observed o;
        auto c = k.connect(&k.home.ocmw);
        if (!c) {
          o.handshake_failed = true;
          return o;
        }
        const std::string get = "GET " + k.path(k.ocmw_client, "/dossier") +
                                " HTTP/1.1\r\nHost: localhost\r\nSluis-Worker: ocmw-sw\r\n"
                                "Sluis-Purpose: care-coordination\r\n\r\n";
        if (c->write_raw(get + "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" + get)) return o;
        auto a = c->read_response();
        auto b = c->read_response();
        auto d = c->read_response();
        o.verified = a && b && d && a->status == 200 && a->body == k.baseline.front() &&
                     b->status == 200 && b->body.find("\"ok\"") != std::string::npos &&
                     d->status == 200 && d->body == k.baseline.front();
        return o;
      },
      verified());
  add(
      "connections", "pipelined hostile request after a good one",
      [](Catalogue& k) {
        Observed o;
        auto c = k.connect(&k.home.ocmw);
        if (!c) {
          o.handshake_failed = true;
          return o;
        }
        if (c->write_raw("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
                         "GET /v1/clients/../healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"))
          return o;
        auto a = c->read_response();
        auto b = c->read_response();
        o.verified =
            a && b && a->status == 200 && b->status == 400 && problem_code(*b) == "malformed-path";
        return o;
      },
      verified());
  add(
      "connections", "HTTP/1.0 request",
      [](Catalogue& k) { return k.raw("GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n"); },
      success(200));
  add(
      "connections", "HTTP/2 connection preface",
      [](Catalogue& k) { return k.raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); },
      problem(400, "malformed-request"));
  add(
      "connections", "unknown HTTP version",
      [](Catalogue& k) { return k.raw("GET /healthz HTTP/3.7\r\nHost: localhost\r\n\r\n"); },
      problem(400, "malformed-request"));

  // --- Paths ---------------------------------------------------------------------------------
  for (const std::string target :
       {"/v1/clients/../healthz", "/v1/clients/%2e%2e/healthz", "/v1/clients/%2E%2e",
        "/v1/clients/./x", "/v1/clients/a%2Fb/dossier", "//v1/clients", "/v1/clients/",
        "/v1/clients/a%00/dossier", "/v1/clients/a%5Cb/dossier", "/v1/clients/%C3%A9/dossier",
        "/v1/clients/a%25b/dossier", "/v1/clients/a%zzb", "http://localhost/healthz",
        "/healthz?x=1&x=2", "/v1/clients/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"}) {
    add(
        "path", "target " + target,
        [target](Catalogue& k) {
          return k.request("GET", target, {}, "ocmw-sw", nullptr,
                           {{"Sluis-Purpose", "care-coordination"}});
        },
        problem(400, "malformed-path"));
  }
  add(
      "path", "segment of 200 bytes",
      [](Catalogue& k) {
        return k.request("GET", "/v1/clients/" + std::string(200, 'p') + "/dossier", {}, "ocmw-sw",
                         nullptr, {{"Sluis-Purpose", "care-coordination"}});
      },
      problem(400, "malformed-path"));
  add(
      "path", "target of 3000 bytes",
      [](Catalogue& k) {
        std::string target;
        while (target.size() < 3000)
          target += "/" + std::string(100, 's');
        return k.request("GET", target, {}, "ocmw-sw");
      },
      problem(400, "malformed-path"));
  add(
      "path", "raw backslash",
      [](Catalogue& k) { return k.raw("GET /v1\\clients HTTP/1.1\r\nHost: localhost\r\n\r\n"); },
      problem(400, "malformed-path"));
  add(
      "path", "raw non-ASCII bytes",
      [](Catalogue& k) {
        return k.raw("GET /v1/clients/\xc3\xa9/dossier HTTP/1.1\r\nHost: localhost\r\n\r\n");
      },
      problem(400, "malformed-path"));
  add(
      "path", "fragment marker",
      [](Catalogue& k) { return k.raw("GET /healthz#x HTTP/1.1\r\nHost: localhost\r\n\r\n"); },
      problem(400, "malformed-path"));
  add(
      "path", "unknown resource",
      [](Catalogue& k) { return k.request("GET", "/v1/secrets", {}, "ocmw-sw"); },
      problem(404, "not-found"));
  add(
      "path", "method the resource does not have",
      [](Catalogue& k) { return k.request("PUT", "/v1/clients", "{}", "ocmw-sw"); },
      problem(405, "method-not-allowed"));

  // --- Whose data ----------------------------------------------------------------------------
  add(
      "identity", "another partner's pseudonym: read",
      [](Catalogue& k) {
        return k.request("GET", k.path(k.ocmw_client, "/dossier"), {}, "caw-sw", &k.home.caw,
                         {{"Sluis-Purpose", "care-coordination"}});
      },
      problem(404, "client-not-found"));
  add(
      "identity", "another partner's pseudonym: write a fragment",
      [](Catalogue& k) {
        return k.request("POST", k.path(k.ocmw_client, "/fragments"),
                         R"({"category":"housing","fields":{"situation":"FOREIGN"}})", "caw-sw",
                         &k.home.caw);
      },
      problem(404, "client-not-found"));
  add(
      "identity", "another partner's pseudonym: withdraw its consent",
      [](Catalogue& k) {
        return k.request("DELETE", k.path(k.ocmw_client, "/consents/" + k.active_consent), {},
                         "caw-sw", &k.home.caw);
      },
      problem(404, "client-not-found"));
  add(
      "identity", "another partner's pseudonym: erase",
      [](Catalogue& k) { return k.request("DELETE", k.path(k.caw_only_client), {}, "ocmw-coord"); },
      problem(404, "client-not-found"));
  add(
      "identity", "a consent id of another client (the grantee asking)",
      [](Catalogue& k) {
        return k.request("DELETE", k.path(k.caw_only_client, "/consents/" + k.active_consent), {},
                         "caw-sw", &k.home.caw);
      },
      problem(404, "consent-not-found"));
  add(
      "identity", "a revoked consent id withdrawn again",
      [](Catalogue& k) {
        return k.request("DELETE", k.path(k.ocmw_client, "/consents/" + k.revoked_consent));
      },
      problem(409, "already-revoked"));
  add(
      "identity", "an unknown consent id",
      [](Catalogue& k) {
        return k.request("DELETE", k.path(k.ocmw_client, "/consents/c1aaaaaaaaaaaaaaaaaaaaaaaa"));
      },
      problem(404, "consent-not-found"));
  add(
      "identity", "supersede another partner's fragment",
      [](Catalogue& k) {
        return k.request("POST", k.path(k.caw_client, "/fragments"),
                         R"({"category":"housing","fields":{"situation":"x"},"supersedes":")" +
                             k.housing_fragment + R"("})",
                         "caw-sw", &k.home.caw);
      },
      problem(404, "fragment-not-found"));
  add(
      "identity", "identifying category on an anonymous client",
      [](Catalogue& k) {
        return k.request("POST", k.path(k.shelter_client, "/fragments"),
                         R"({"category":"contact","fields":{"phone":"0470 12 34 56"}})",
                         "shelter-sw", &k.home.shelter);
      },
      problem(422, "identifying-category-on-anonymous"));
  add(
      "identity", "break-the-glass grant: zero minutes (no expired grant without a clock seam)",
      [reason](Catalogue& k) {
        return k.request("POST", k.path(k.caw_client, "/break-glass"),
                         R"({"categories":["housing"],"reason":")" + reason + R"(","minutes":0})",
                         "caw-sw", &k.home.caw);
      },
      problem(422, "invalid-body"));
  add(
      "identity", "break-the-glass without a reason",
      [](Catalogue& k) {
        return k.request("POST", k.path(k.caw_client, "/break-glass"),
                         R"({"categories":["housing"],"reason":"  ","minutes":30})", "caw-sw",
                         &k.home.caw);
      },
      problem(422, "reason-missing"));
  add(
      "identity", "a worker of another partner",
      [](Catalogue& k) {
        return k.request("GET", k.path(k.caw_client, "/dossier"), {}, "ocmw-sw", &k.home.caw,
                         {{"Sluis-Purpose", "care-coordination"}});
      },
      problem(403, "unknown-worker"));
  add(
      "identity", "a partner revoked in the store",
      [](Catalogue& k) {
        return k.request("POST", "/v1/clients", registration(860404404), "closed-sw",
                         &k.home.closed);
      },
      problem(403, "partner-revoked"));

  // --- SQL and format-string payloads ----------------------------------------------------------
  for (const auto& payload : {kSqlQuote, kSqlDrop, kFormat}) {
    const std::string tag = payload == kSqlQuote  ? "SQL quote"
                            : payload == kSqlDrop ? "SQL drop"
                                                  : "format string";
    // Free text: stored verbatim on the scratch client and returned unchanged.
    add("payload", tag + " in a fragment field value (stored verbatim)",
        [payload](Catalogue& k) {
          Observed o;
          auto w = k.request("POST", k.path(k.scratch_client, "/fragments"),
                             R"({"category":"case-note","fields":{"note":")" +
                                 json_escaped(payload) + R"("}})");
          if (!w.response || w.response->status != 201) {
            o.note = " (write: " + describe(w) + ")";
            return o;
          }
          const auto fragment = body_json(*w.response).at("fragment");
          auto r = k.request("GET", k.path(k.scratch_client, "/dossier"), {}, "ocmw-sw", nullptr,
                             {{"Sluis-Purpose", "care-coordination"}});
          if (!r.response || r.response->status != 200) return o;
          const auto listed = body_json(*r.response);
          for (const auto& f : listed.at("fragments").as_array()) {
            if (f.at("fragment") == fragment) {
              o.verified = f.at("fields").at("note") == json::value(payload);
            }
          }
          return o;
        },
        verified(), {A::fragment_write});
    add("payload", tag + " in a consent's channel note (stored verbatim)",
        [payload](Catalogue& k) {
          Observed o;
          std::string body = consent_body("caw-brussel", "housing", "other");
          const std::string channel = R"("channel":"other")";
          body.replace(body.find(channel), channel.size(),
                       channel + R"(,"channel_note":")" + json_escaped(payload) + "\"");
          auto w = k.request("POST", k.path(k.scratch_client, "/consents"), body);
          if (!w.response || w.response->status != 201) {
            const auto log = read_text(k.home.log_file) + k.gateway->stderr_text();
            o.note = " (write: " + describe(w) +
                     "; gateway log ends: " + log.substr(log.size() > 800 ? log.size() - 800 : 0) +
                     ")";
            return o;
          }
          const auto consent = body_json(*w.response).at("consent");
          auto r = k.request("GET", k.path(k.scratch_client, "/consents"), {}, "ocmw-sw", nullptr,
                             {{"Sluis-Purpose", "care-coordination"}});
          o.response = r.response;  // shown when the check fails
          if (!r.response || r.response->status != 200) return o;
          const auto listed = body_json(*r.response);
          for (const auto& c : listed.at("consents").as_array()) {
            if (c.at("consent") == consent) {
              o.verified =
                  c.at("document").at("evidence").at("channel_note") == json::value(payload);
            }
          }
          return o;
        },
        verified(), {A::consent_grant});
    add("payload", tag + " as a field name",
        post_fragment(R"({"category":"case-note","fields":{")" + json_escaped(payload) +
                      R"(":"x"}})"),
        problem(422, "invalid-body"));
    add("payload", tag + " as a category",
        post_fragment(R"({"category":")" + json_escaped(payload) + R"(","fields":{"a":"b"}})"),
        problem(422, "unknown-category"));
    add(
        "payload", tag + " as an identifier",
        [payload](Catalogue& k) {
          return k.request("POST", "/v1/clients",
                           R"({"identifier":{"scheme":"national-register","value":")" +
                               json_escaped(payload) + R"("}})");
        },
        problem(422, "invalid-identifier"));
    add(
        "payload", tag + " as a service pseudonym",
        [payload](Catalogue& k) {
          return k.request("POST", "/v1/clients",
                           R"({"service_pseudonym":")" + json_escaped(payload) + R"("})",
                           "shelter-sw", &k.home.shelter);
        },
        problem(422, "invalid-identifier"));
    add(
        "payload", tag + " in Sluis-Worker",
        [payload](Catalogue& k) {
          return k.request("GET", k.path(k.ocmw_client, "/dossier"), {}, payload, nullptr,
                           {{"Sluis-Purpose", "care-coordination"}});
        },
        problem(403, "unknown-worker"));
    add(
        "payload", tag + " in Sluis-Purpose",
        [payload](Catalogue& k) {
          return k.request("GET", k.path(k.ocmw_client, "/dossier"), {}, "ocmw-sw", nullptr,
                           {{"Sluis-Purpose", payload}});
        },
        problem(400, "unknown-purpose"));
    add(
        "payload", tag + " as a consent grantee",
        [payload](Catalogue& k) {
          return k.request("POST", k.path(k.ocmw_client, "/consents"),
                           consent_body(json_escaped(payload), "housing"));
        },
        problem(422, "bad-id"));
    add(
        "payload", tag + " as the consent evidence channel",
        [payload](Catalogue& k) {
          return k.request("POST", k.path(k.ocmw_client, "/consents"),
                           consent_body("caw-brussel", "housing", json_escaped(payload)));
        },
        problem(422, "unknown-channel"));
    add(
        "payload", tag + " as a link pseudonym",
        [payload](Catalogue& k) {
          return k.request("POST", "/v1/links",
                           R"({"own_pseudonym":")" + json_escaped(payload) +
                               R"(","first_service":"nachtopvang","first_pseudonym":")" +
                               k.shelter_pseudonym + R"(","consent_reference":"x"})",
                           "caw-sw", &k.home.caw);
        },
        problem(422, "invalid-link"));
    add(
        "payload", tag + " in the break-the-glass reason (minutes out of range)",
        [payload](Catalogue& k) {
          return k.request("POST", k.path(k.ocmw_client, "/break-glass"),
                           R"({"categories":["contact"],"reason":")" + json_escaped(payload) +
                               R"( - client unconscious, family unknown","minutes":-5})");
        },
        problem(422, "invalid-body"));
  }
  add(
      "payload", "SQL in a dossier query parameter",
      [](Catalogue& k) {
        return k.request("GET", k.path(k.ocmw_client, "/dossier?category=x%27OR1%3D1--"), {},
                         "ocmw-sw", nullptr, {{"Sluis-Purpose", "care-coordination"}});
      },
      problem(400, "unknown-category"));
  add(
      "payload", "SQL as a consent id in the path",
      [](Catalogue& k) {
        return k.request("DELETE", k.path(k.ocmw_client, "/consents/x%27OR1%3D1--"));
      },
      problem(404, "consent-not-found"));

  // --- TLS -----------------------------------------------------------------------------------
  add(
      "tls", "no client certificate",
      [](Catalogue& k) { return Catalogue::tls_attempt(*k.client(nullptr)); }, handshake_refused());
  add(
      "tls", "certificate from a foreign CA",
      [](Catalogue& k) {
        auto foreign = gw::GatewayCa::create("foreign CA", 24h).value();
        const auto cred = foreign.issue_partner_certificate({"ocmw-brussel", "", 1h}).value();
        return Catalogue::tls_attempt(*k.client(&cred));
      },
      handshake_refused());
  add(
      "tls", "expired certificate from the gateway's CA",
      [](Catalogue& k) {
        const auto cred = expired_partner_certificate(k.home, "ocmw-brussel");
        return Catalogue::tls_attempt(*k.client(&cred));
      },
      handshake_refused());
  add(
      "tls", "revoked certificate",
      [](Catalogue& k) { return Catalogue::tls_attempt(*k.client(&k.home.revoked)); },
      handshake_refused());
  add(
      "tls", "TLS 1.2-only client (renegotiation needs TLS 1.2: refused before it can start)",
      [](Catalogue& k) { return Catalogue::tls_attempt(*k.client(&k.home.ocmw, true)); },
      handshake_refused());
  add(
      "tls", "TLS 1.1-only client",
      [](Catalogue& k) {
        auto c = k.client(&k.home.ocmw);
        SSL_set_security_level(c->native(), 0);
        SSL_set_min_proto_version(c->native(), TLS1_1_VERSION);
        SSL_set_max_proto_version(c->native(), TLS1_1_VERSION);
        return Catalogue::tls_attempt(*c);
      },
      handshake_refused());
  add(
      "tls", "TLS 1.3 key update requested mid-connection, then served",
      [](Catalogue& k) {
        Observed o;
        auto c = k.connect(&k.home.ocmw);
        if (!c) {
          o.handshake_failed = true;
          return o;
        }
        // TLS 1.3 has no renegotiation; a KeyUpdate is its only re-keying and must be harmless.
        if (SSL_key_update(c->native(), SSL_KEY_UPDATE_REQUESTED) != 1) return o;
        // A renegotiation request is refused by the TLS 1.3 stack itself.
        o.note = SSL_renegotiate(c->native()) == 1 ? " (renegotiate accepted!)" : "";
        ERR_clear_error();
        if (c->write_raw("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")) return o;
        auto r = c->read_response();
        o.response = r;
        o.verified = o.note.empty() && r && r->status == 200;
        return o;
      },
      verified());
  add(
      "tls", "plain HTTP on the TLS port",
      [](Catalogue& k) {
        Observed o;
        asio::io_context ioc;
        beast::tcp_stream s(ioc);
        boost::system::error_code ec;
        s.socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), k.gateway->port()),
                           ec);
        if (ec) return o;
        const std::string get = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
        asio::write(s.socket(), asio::buffer(get), ec);
        // Whatever comes back must not be an HTTP answer; the connection ends.
        std::string got(64, '\0');
        s.expires_after(5s);
        std::size_t n = 0;
        s.async_read_some(asio::buffer(got), [&](boost::system::error_code rec, std::size_t m) {
          ec = rec;
          n = m;
        });
        ioc.run();
        o.handshake_failed = got.substr(0, n).rfind("HTTP/", 0) != 0;
        return o;
      },
      handshake_refused());
  return cases;
}

}  // namespace

TEST_CASE("hostile catalogue: documented error, nothing changed, others still served",
          "[integration][hostile]") {
  Catalogue k;
  const auto cases = catalogue();
  REQUIRE(cases.size() >= 60);
  std::size_t passed = 0;
  std::size_t served = 0;
  std::map<std::string, std::size_t> per_category;
  for (const auto& c : cases) {
    ++per_category[c.category];
    INFO("case [" << c.category << "] " << c.name);
    (void)k.audit_since_cursor();
    const Observed got = c.send(k);
    const bool answer_ok = matches(c.expected, got);
    INFO("observed: " << describe(got));
    CHECK(answer_ok);

    // Nothing written: every audit event of the case is a denial or a read, apart from the
    // writes a verbatim-storage case makes on the scratch client.
    bool audit_ok = true;
    std::size_t writes = 0;
    for (const auto& e : k.audit_since_cursor()) {
      if (e.event.decision == sluis::audit::AuditDecision::deny || is_read_only(e.event.action)) continue;
      if (c.may_write.count(e.event.action) != 0 && writes++ == 0) continue;
      audit_ok = false;
      UNSCOPED_INFO("unexpected audit event " << sluis::audit::to_string(e.event.action) << " "
                                              << sluis::audit::to_string(e.event.decision));
    }
    CHECK(audit_ok);
    const bool state_ok = k.fingerprint() == k.baseline;
    CHECK(state_ok);
    const bool serving = k.serves_others();
    CHECK(serving);
    if (serving) ++served;
    if (answer_ok && audit_ok && state_ok && serving) ++passed;
  }
  std::ostringstream summary;
  summary << "hostile catalogue: " << cases.size() << " cases, " << passed << " passed; ";
  summary << (served == cases.size()
                  ? "gateway served after every case"
                  : "gateway NOT served after " + std::to_string(cases.size() - served) + " cases");
  for (const auto& [category, count] : per_category)
    summary << "\n  " << category << ": " << count;
  WARN(summary.str());
  std::cout << summary.str() << "\n";
  CHECK(passed == cases.size());
  CHECK(served == cases.size());
}

TEST_CASE("TLS 1.2 renegotiation is refused when TLS 1.2 is allowed", "[integration][hostile]") {
  // The catalogue's gateway is TLS 1.3 only (the default), where renegotiation does not exist.
  // This one allows TLS 1.2 (AEAD suites) to show that a client-initiated renegotiation still
  // never completes (SSL_OP_NO_RENEGOTIATION), and that the gateway keeps serving others.
  GatewayHome home;
  auto config = read_text(home.config_path);
  config.replace(config.find("[tls]\n"), 6, "[tls]\nallow_tls12 = true\n");
  write_text(home.config_path, config);
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());

  TlsClient c(gateway.port(), home.ca.certificate(), ClientOptions{&home.ocmw, true});
  REQUIRE_FALSE(c.connect());
  REQUIRE(SSL_version(c.native()) == TLS1_2_VERSION);
  auto first = c.request("GET", "/healthz");
  REQUIRE(first);
  CHECK(first->status == 200);

  REQUIRE(SSL_renegotiate(c.native()) == 1);  // the client asks; the server must not go along
  auto after = c.request("GET", "/healthz");
  const bool renegotiated = after.has_value() && SSL_renegotiate_pending(c.native()) == 0;
  INFO("answered after the attempt: " << after.has_value() << ", still pending: "
                                      << SSL_renegotiate_pending(c.native()));
  CHECK_FALSE(renegotiated);
  ERR_clear_error();

  // TLS 1.1 stays refused here too.
  TlsClient old(gateway.port(), home.ca.certificate(), ClientOptions{&home.ocmw, false});
  SSL_set_security_level(old.native(), 0);
  SSL_set_min_proto_version(old.native(), TLS1_1_VERSION);
  SSL_set_max_proto_version(old.native(), TLS1_1_VERSION);
  CHECK(Catalogue::tls_attempt(old).handshake_failed);

  // Others are still served.
  TlsClient fresh(gateway.port(), home.ca.certificate(), ClientOptions{&home.ocmw, false});
  REQUIRE_FALSE(fresh.connect());
  auto ok = fresh.request("GET", "/healthz");
  REQUIRE(ok);
  CHECK(ok->status == 200);
}
