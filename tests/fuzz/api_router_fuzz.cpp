// Fuzz target: the whole /v1 API as sluisd serves it — every JSON request body, path and header
// through the real Router (make_api_router) over a real Store and AuditLog.
//
// The gateway is built once in a scratch directory (under $SLUIS_FUZZ_TMPDIR, else /dev/shm,
// where fsync is cheap, else the system temp directory) with partners, workers, clients, fragments
// and a consent already in place, and rebuilt from scratch every kInputsPerWorld inputs so the
// files stay small and erasures by earlier inputs do not starve later ones. The clock is fixed
// per world (2025-06-01T12:00:00Z, one second later for each input), so seeds with 2025 dates
// keep working.
//
// Input format (text; see corpus/api_router/ for examples):
//   line 1      the calling partner, as its TLS certificate would name it
//   line 2      METHOD TARGET          (" HTTP/1.1" is appended)
//   lines       header fields "Name: value", up to an empty line
//   rest        the body
// Host and, unless the input sends Content-Length or Transfer-Encoding itself, a Content-Length
// matching the body are added, so mutations of the body keep the request well framed. The bytes
// then go through parse_http_request exactly as the server reads them; what it refuses is done.
// Placeholders, replaced anywhere after line 1:
//   {c0} … {c3}       the caller's own pseudonym for pre-registered client 0 … 3 (a well-formed
//                     unknown pseudonym when the caller has none)
//   {consent0}        the pre-recorded consent's id      {fragment0}  the pre-written fragment's id
//   {sp0@ID}, {sp1@ID} the service pseudonym card 0 / card 1 gives at partner ID
//
// Invariants, for every request the transport accepts (api.hpp, docs/api/openapi.yaml):
// no 5xx (the store and audit log are healthy, so a 500 is a handler exception and a 503 an
// unexpected failure); every error is problem+json with a stable code, matching status and type,
// and this request's instance; every JSON answer parses; no response header carries CR, LF or
// NUL; no HTML page carries a script element (receipts and reports escape every text); every
// state change answered 2xx has appended to the audit log; no answer shows a pre-registered
// client's audit pseudonym, and no answer without stored free text shows another partner's
// pseudonym for a client.
#include "sluis/crypto/card.hpp"
#include "sluis/api/api.hpp"
#include "sluis/store/store.hpp"
#include "sluis/domain/registry.hpp"

#include "default_rule_pack.hpp"
#include "fuzz_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
namespace gw = sluis::server;
namespace json = boost::json;
namespace crypto = sluis::crypto;

constexpr std::size_t kInputsPerWorld = 500;
constexpr std::size_t kClients = 4;
// Well-formed (p1 + 26 base32 characters) but never issued: what {cN} becomes for a stranger.
constexpr std::string_view kUnknownPseudonym = "p1aaaaaaaaaaaaaaaaaaaaaaaaaa";
const sluis::store::Instant kEpoch{std::chrono::sys_days{std::chrono::year{2025} / 6 / 1} +
                         std::chrono::hours{12}};

struct PartnerSpec {
  std::string_view id;
  std::string_view type;
};
constexpr std::array<PartnerSpec, 5> kPartners{{{"ocmw-brussel", "ocmw"},
                                                {"caw-brussel", "caw"},
                                                {"straat", "low-threshold"},
                                                {"thuiszorg", "home-care"},
                                                {"wijkpraktijk", "community-health"}}};

struct WorkerSpec {
  std::string_view partner;
  std::string_view id;
  std::string_view role;
};
constexpr std::array<WorkerSpec, 11> kWorkers{{{"ocmw-brussel", "ocmw-sw", "social-worker"},
                                               {"ocmw-brussel", "ocmw-coord", "coordinator"},
                                               {"ocmw-brussel", "ocmw-admin", "admin"},
                                               {"ocmw-brussel", "ocmw-dpo", "dpo"},
                                               {"ocmw-brussel", "ocmw-old", "social-worker"},
                                               {"ocmw-brussel", "ocmw-janitor", "janitor"},
                                               {"caw-brussel", "caw-sw", "social-worker"},
                                               {"caw-brussel", "caw-nurse", "nurse"},
                                               {"straat", "straat-sw", "social-worker"},
                                               {"thuiszorg", "thuis-nurse", "nurse"},
                                               {"wijkpraktijk", "wijk-doc", "doctor"}}};

crypto::CardSecret card(std::uint8_t fill) {
  std::array<std::uint8_t, 16> bytes{};
  bytes.fill(fill);
  return crypto::CardSecret::copy_of(bytes);
}

[[noreturn]] void setup_failed(const char* what) {
  sluis::fuzz::invariant_failed(what, __FILE__, __LINE__);
}

fs::path scratch_parent() {
  if (const char* dir = std::getenv("SLUIS_FUZZ_TMPDIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  std::error_code ec;
  if (fs::is_directory("/dev/shm", ec)) return "/dev/shm";
  return fs::temp_directory_path();
}

constexpr std::string_view kDirPrefix = "sluis-fuzz-api-";

// Removes gateways left behind by target processes that died without cleaning up (a crash, a
// kill): directories named sluis-fuzz-api-<pid>-<n> whose process no longer exists.
void remove_stale_dirs(const fs::path& parent) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kDirPrefix)) continue;
    const std::size_t end = name.find('-', kDirPrefix.size());
    const std::string pid = name.substr(kDirPrefix.size(), end - kDirPrefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ignored;
    if (fs::exists("/proc/" + pid, ignored)) continue;
    fs::remove_all(entry.path(), ignored);
  }
}

// One gateway: its files, its objects, and what the placeholders stand for.
class World {
 public:
  World() : dir_(make_dir()) {
    // A fixed root key: every world derives the same sub-keys (nothing here is secret).
    std::array<std::uint8_t, 32> root_bytes{};
    root_bytes.fill(0x5a);
    const auto root = crypto::RootKey::copy_of(root_bytes);
    // Read by the audit writer thread too (checkpoint times), hence atomic.
    auto clock = [this] { return now_.load(); };

    sluis::store::StoreOptions so;
    so.data_path = dir_ / "data.db";
    so.key_store_path = dir_ / "keys.db";
    so.clock = clock;
    so.data_key_cache_size = 16;
    auto store = sluis::store::Store::open(std::move(so), root);
    if (!store) setup_failed("the store opens");
    store_ = std::move(*store);

    sluis::audit::AuditLogOptions ao;
    ao.path = dir_ / "audit.db";
    ao.origin = "sluis.example/audit";
    ao.clock = clock;
    ao.group_commit_window = std::chrono::microseconds{0};
    auto audit = sluis::audit::AuditLog::open(std::move(ao), root);
    if (!audit) setup_failed("the audit log opens");
    audit_ = std::move(*audit);

    rules_ = std::make_unique<sluis::api::CurrentRulePack>(
        std::make_shared<const sluis::policy::RulePack>(sluis::fuzz::default_rule_pack()));

    sluis::api::GatewayContext ctx;
    ctx.store = store_.get();
    ctx.audit = audit_.get();
    ctx.rules = rules_.get();
    ctx.clock = clock;
    router_ = sluis::api::make_api_router(ctx);
    populate();
  }

  ~World() {
    router_ = gw::Router{};
    audit_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  [[nodiscard]] std::size_t inputs() const noexcept { return inputs_; }
  [[nodiscard]] std::uint64_t audit_size() const { return audit_->size(); }

  /// Runs one request as the server would after parsing it.
  gw::HttpResponse dispatch(gw::HttpRequest& req, std::string_view partner) {
    ++inputs_;
    now_ = kEpoch + std::chrono::seconds{static_cast<std::int64_t>(inputs_)};
    req.peer.partner_id = std::string(partner);
    req.request_id = next_request_id();
    std::string_view route;
    return router_.dispatch(req, route);
  }

  /// Replaces the placeholders in `text` for a request by `partner`.
  [[nodiscard]] std::string expand(std::string_view text, std::string_view partner) const {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
      const std::size_t open = text.find('{', i);
      if (open == std::string_view::npos) break;
      // Placeholders are short: look for the closing brace nearby only (bounded work per '{').
      const std::size_t close = text.substr(open, 66).find('}');
      std::optional<std::string> value;
      if (close != std::string_view::npos)
        value = placeholder(text.substr(open + 1, close - 1), partner);
      if (!value) {
        // Not a placeholder (JSON braces, mostly): keep the '{' and look again after it.
        out.append(text.substr(i, open + 1 - i));
        i = open + 1;
        continue;
      }
      out.append(text.substr(i, open - i)).append(*value);
      i = open + close + 1;
    }
    out.append(text.substr(i));
    return out;
  }

  [[nodiscard]] std::string next_request_id() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(32, '0');
    std::uint64_t n = ++requests_;
    for (std::size_t k = 0; k < 16 && n != 0; ++k, n >>= 4U)
      id[31 - k] = kHex[n & 0xfU];
    return id;
  }

  /// The name of a pre-registered client that `body` must never show to `caller`: when
  /// `audit_names`, an audit pseudonym (the same for every partner, so handing it out would let
  /// two partners match their clients: docs/dpo-guide.md §3), and when `strict`, another
  /// partner's own pseudonym (BRIEF promise 3). Not strict for answers that echo stored free text
  /// (dossiers, consent documents, pages), which an earlier input may have filled with such a
  /// string; no input can learn an audit pseudonym, so that check holds for every answer.
  [[nodiscard]] std::optional<std::string>
  leaked_name(std::string_view body, std::string_view caller, bool audit_names, bool strict) const {
    for (const auto& a : audit_pseudonyms_) {
      if (audit_names && body.find(a) != std::string_view::npos) return a;
    }
    if (!strict) return std::nullopt;
    for (const auto& [key, pseudonym] : pseudonyms_) {
      if (key.first != caller && body.find(pseudonym) != std::string_view::npos) return pseudonym;
    }
    return std::nullopt;
  }

 private:
  static fs::path make_dir() {
    static unsigned serial = 0;
    const fs::path parent = scratch_parent();
    if (serial == 0) remove_stale_dirs(parent);
    const fs::path dir = parent / (std::string(kDirPrefix) + std::to_string(::getpid()) + "-" +
                                   std::to_string(++serial));
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) setup_failed("the scratch directory is created");
    return dir;
  }

  std::optional<std::string> placeholder(std::string_view name, std::string_view partner) const {
    if (name.size() == 2 && name[0] == 'c' && name[1] >= '0' &&
        name[1] < static_cast<char>('0' + kClients)) {
      const auto it =
          pseudonyms_.find({std::string(partner), static_cast<std::size_t>(name[1] - '0')});
      return it == pseudonyms_.end() ? std::string(kUnknownPseudonym) : it->second;
    }
    if (name == "consent0") return consent0_;
    if (name == "fragment0") return fragment0_;
    if (name.size() > 4 && (name.starts_with("sp0@") || name.starts_with("sp1@"))) {
      return crypto::service_pseudonym(name[2] == '0' ? card0_ : card1_, name.substr(4));
    }
    return std::nullopt;
  }

  // A setup request through the router itself, so the state is what the API would have made.
  json::value setup_call(std::string_view partner, std::string_view worker, std::string_view method,
                         std::string_view target, std::string body, int expected_status) {
    gw::HttpRequest req;
    req.method = std::string(method);
    if (!gw::parse_target(target, gw::RequestLimits{}, req)) setup_failed("setup target parses");
    req.worker = std::string(worker);
    if (!body.empty()) req.content_type = "application/json";
    req.body = std::move(body);
    auto res = dispatch(req, partner);
    if (res.status != expected_status) {
      std::fprintf(stderr, "setup %s %s: %d %s\n", std::string(method).c_str(),
                   std::string(target).c_str(), res.status, res.body.c_str());
      setup_failed("a setup request succeeds");
    }
    return json::parse(res.body);
  }

  std::string register_client(std::string_view partner, std::string_view worker, std::string body) {
    auto v = setup_call(partner, worker, "POST", "/v1/clients", std::move(body), 201);
    return std::string(v.at("client").as_string());
  }

  void populate() {
    sluis::domain::Registry registry(*store_);
    for (const auto& p : kPartners) {
      if (!registry.add_partner(p.id, p.type, std::string(p.id) + " <display>")) {
        setup_failed("a partner is added");
      }
    }
    for (const auto& w : kWorkers) {
      if (!registry.add_worker(w.partner, w.id, w.role)) setup_failed("a worker is added");
    }
    // Client 0: a case number at the OCMW only, with two fragments.
    const std::string c0 = register_client(
        "ocmw-brussel", "ocmw-sw", R"({"identifier":{"scheme":"case-number","value":"case-0"}})");
    pseudonyms_[{"ocmw-brussel", 0}] = c0;
    auto f = setup_call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + c0 + "/fragments",
                        R"({"category":"housing","fields":{"situation":"night shelter"}})", 201);
    fragment0_ = std::string(f.at("fragment").as_string());
    (void)setup_call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + c0 + "/fragments",
                     R"({"category":"health","fields":{"note":"diabetes"}})", 201);

    // Client 1: one national register number at the OCMW and the CAW, an OCMW fragment and a
    // consent from the OCMW to the CAW.
    constexpr std::string_view nrn =
        R"({"identifier":{"scheme":"national-register","value":"85.07.31-003.28"}})";
    const std::string c1 = register_client("ocmw-brussel", "ocmw-sw", std::string(nrn));
    pseudonyms_[{"ocmw-brussel", 1}] = c1;
    pseudonyms_[{"caw-brussel", 1}] = register_client("caw-brussel", "caw-sw", std::string(nrn));
    (void)setup_call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + c1 + "/fragments",
                     R"({"category":"income","fields":{"benefit":"leefloon","debt":"none"}})", 201);
    auto consent =
        setup_call("ocmw-brussel", "ocmw-sw", "POST", "/v1/clients/" + c1 + "/consents",
                   R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":"caw-brussel"},)"
                   R"("categories":["housing","income"],"purposes":["care-coordination"],)"
                   R"("period":{"start":"2025-01-01T00:00:00Z","end":"2026-01-01T00:00:00Z"}}],)"
                   R"("evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)"
                   R"("role":"social-worker"},"channel":"in-person","language":"nl",)"
                   R"("recorded_at":"2025-05-01T00:00:00Z"}})",
                   201);
    consent0_ = std::string(consent.at("consent").as_string());

    // Client 2: anonymous at the low-threshold service with card 0.
    pseudonyms_[{"straat", 2}] = register_client(
        "straat", "straat-sw",
        R"({"service_pseudonym":")" + crypto::service_pseudonym(card0_, "straat") + R"("})");

    // Client 3: a case number at the home-care partner, whose access is then revoked.
    pseudonyms_[{"thuiszorg", 3}] = register_client(
        "thuiszorg", "thuis-nurse", R"({"identifier":{"scheme":"case-number","value":"t-3"}})");
    if (!registry.revoke_partner("thuiszorg")) setup_failed("a partner is revoked");
    if (!registry.set_worker_active("ocmw-brussel", "ocmw-old", false)) {
      setup_failed("a worker is disabled");
    }
    for (const auto& [key, pseudonym] : pseudonyms_) {
      auto client = registry.resolve(key.first, pseudonym);
      if (!client) setup_failed("a registered client resolves");
      audit_pseudonyms_.push_back(sluis::domain::audit_pseudonym(*store_, *client));
    }
    inputs_ = 0;
  }

  fs::path dir_;
  std::unique_ptr<sluis::store::Store> store_;
  std::unique_ptr<sluis::audit::AuditLog> audit_;
  std::unique_ptr<sluis::api::CurrentRulePack> rules_;
  gw::Router router_;
  std::atomic<sluis::store::Instant> now_{kEpoch};
  std::size_t inputs_ = 0;
  std::uint64_t requests_ = 0;
  crypto::CardSecret card0_ = card(0x11);
  crypto::CardSecret card1_ = card(0x22);
  std::map<std::pair<std::string, std::size_t>, std::string> pseudonyms_;
  std::vector<std::string> audit_pseudonyms_;  ///< of the pre-registered clients
  std::string consent0_;
  std::string fragment0_;
};

std::unique_ptr<World> g_world;

void destroy_world() {
  g_world.reset();
}

World& world() {
  if (!g_world || g_world->inputs() >= kInputsPerWorld) {
    g_world.reset();  // the old files go first: one world on disk at a time
    g_world = std::make_unique<World>();
    // The audit log commits and SQLCipher draws random bytes while the world closes, so it must
    // close before OpenSSL's own exit handler (registered while the first world opened) runs.
    // Exit handlers run in reverse order of registration: register ours after OpenSSL's.
    static const bool registered = std::atexit(destroy_world) == 0;
    if (!registered) setup_failed("the exit handler is registered");
  }
  return *g_world;
}

// True for answers that carry no stored free text: every problem, and the 2xx answers of
// registration, linking, fragment writes, break-the-glass and erasure.
bool echoes_nothing_stored(const gw::HttpRequest& req, const gw::HttpResponse& res) {
  if (res.status >= 400) return true;
  const auto& s = req.segments;
  if (req.method == "POST") return s.size() != 4 || s[3] != "consents";
  return req.method == "DELETE" && s.size() == 3;
}

void check_response(const World& w, std::string_view partner, const gw::HttpRequest& req,
                    const gw::HttpResponse& res, std::uint64_t audit_before,
                    std::uint64_t audit_after) {
  SLUIS_FUZZ_CHECK(res.status >= 200 && res.status < 500);
  // No answer names the client's audit pseudonym (the access report once did: docs/fuzzing.md,
  // "Findings"; it now prints the caller's own pseudonym as its reference).
  SLUIS_FUZZ_CHECK(!w.leaked_name(res.body, partner, true, echoes_nothing_stored(req, res)));
  for (const auto& [name, value] : res.headers)
    SLUIS_FUZZ_CHECK(sluis::fuzz::clean_header_text(name) &&
                     sluis::fuzz::clean_header_text(value));

  if (res.status >= 400) {
    SLUIS_FUZZ_CHECK(res.content_type == "application/problem+json");
    boost::system::error_code ec;
    const json::value v = json::parse(res.body, ec);
    SLUIS_FUZZ_CHECK(!ec && v.is_object());
    const json::object& o = v.get_object();
    const auto* code = o.if_contains("code");
    const auto* type = o.if_contains("type");
    const auto* status = o.if_contains("status");
    const auto* instance = o.if_contains("instance");
    SLUIS_FUZZ_CHECK(code != nullptr && code->is_string() && type != nullptr && type->is_string());
    SLUIS_FUZZ_CHECK(std::string_view(type->get_string()) ==
                     "urn:sluis:problem:" + std::string(code->get_string()));
    SLUIS_FUZZ_CHECK(status != nullptr && status->is_int64() && status->get_int64() == res.status);
    SLUIS_FUZZ_CHECK(instance != nullptr && instance->is_string() &&
                     std::string_view(instance->get_string()) ==
                         "urn:sluis:request:" + req.request_id);
    return;
  }
  if (res.content_type.starts_with("application/json")) {
    boost::system::error_code ec;
    (void)json::parse(res.body, ec);
    SLUIS_FUZZ_CHECK(!ec);
  } else if (res.content_type.starts_with("text/html")) {
    SLUIS_FUZZ_CHECK(res.body.find("<script") == std::string::npos);
    SLUIS_FUZZ_CHECK(res.body.find("<SCRIPT") == std::string::npos);
  }
  if (req.method == "POST" || req.method == "DELETE") SLUIS_FUZZ_CHECK(audit_after > audit_before);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);
  const std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos) return 0;
  const std::string_view partner = text.substr(0, eol);
  World& w = world();
  const std::string raw =
      sluis::fuzz::to_http(w.expand(text.substr(eol + 1), partner), "gateway.example.be");
  auto req = gw::parse_http_request(raw);
  if (!req) return 0;  // refused by the transport: never reaches the router
  const std::uint64_t before = w.audit_size();
  const gw::HttpResponse res = w.dispatch(*req, partner);
  check_response(w, partner, *req, res, before, w.audit_size());
  // SLUIS_FUZZ_VERBOSE=1 shows each answer: for writing seeds that reach the handler they aim at.
  static const bool verbose = std::getenv("SLUIS_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "%s %s -> %d %.300s\n", req->method.c_str(), req->path.c_str(), res.status,
                 res.body.c_str());
  }
  return 0;
}
