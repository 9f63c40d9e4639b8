// Fuzz target: the whole web console as sluis-console serves it — every path, query, cookie,
// header and form body through the real router and guard (ConsoleApp::router), its real
// SQLCipher session store and the real templates and catalogues from console/web.
//
// The console is built once in a scratch directory (under $SLUIS_FUZZ_TMPDIR, else /dev/shm,
// else the system temp directory) with three enrolled accounts — `an` (admin) and `wanda`
// (worker) of ocmw-brussel, `dora` (dpo) of caw-brussel — each with a signed-in session, and is
// rebuilt every kInputsPerWorld inputs. sluisd is not running: the console's /v1 client for each
// partner points at a closed loopback port, so every page that needs the gateway takes its
// "gateway unreachable" path (the browser tests drive the pages against a real sluisd).
//
// Input format (text; see corpus/console_app/ for examples):
//   line 1      who sends it: none | an | wanda | dora (whose session cookie is sent, unless the
//               input sends its own Cookie header)
//   line 2      METHOD TARGET          (" HTTP/1.1" is appended)
//   lines       header fields "Name: value", up to an empty line
//   rest        the body
// Host: localhost:8080 (the configured origin) is added unless the input sends a Host; a
// matching Content-Length is added unless it frames the body itself. Placeholders, replaced
// anywhere after line 1: {csrf} the sender's form token, {session} the sender's cookie value,
// {csrf:NAME}/{session:NAME} another account's.
//
// Invariants, for every request the transport accepts in browser mode: no 5xx other than the
// gateway-unreachable 502 (a 500 is a handler exception); every answer carries the
// Content-Security-Policy with a fresh nonce of at least 16 base64url characters, no-referrer,
// DENY framing and, on an HTML refusal, Content-Language; no header holds CR, LF or NUL; every script
// element of an HTML page is a same-origin /static/js/ file carrying this answer's nonce (so
// text from the input never becomes a script: it is escaped), no element has an on* handler
// attribute and no style attribute or element; a Set-Cookie is only ever the console's own
// __Host- cookies with Secure, HttpOnly, SameSite=Strict, Path=/; a refused unsafe request
// (403, 415, 400, 401) never changes which accounts exist or revokes one; a GET never signs
// anyone out.
#include "sluis/console/api_client.hpp"
#include "sluis/console/console_app.hpp"
#include "sluis/console/console_config.hpp"
#include "sluis/console/console_store.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluis/server/ca.hpp"
#include "sluis/server/http.hpp"

#include "fuzz_support.hpp"

#include <array>
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
namespace sc = sluis::console;

constexpr std::size_t kInputsPerWorld = 400;
constexpr std::string_view kHost = "localhost:8080";

struct AccountSpec {
  std::string_view name;
  std::string_view partner;
  sc::ConsoleRole role;
};
constexpr std::array<AccountSpec, 3> kAccounts{{{"an", "ocmw-brussel", sc::ConsoleRole::admin},
                                                {"wanda", "ocmw-brussel", sc::ConsoleRole::worker},
                                                {"dora", "caw-brussel", sc::ConsoleRole::dpo}}};

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

/// Port 1 on loopback: privileged and served by nothing here, so a connection is refused at once.
constexpr std::uint16_t kClosedPort = 1;

struct Session {
  std::string cookie;  ///< the session id (cookie value)
  std::string csrf;
  std::string account_id;
};

class World {
 public:
  World() : dir_(scratch_parent() / ("sluis-fuzz-console-" + std::to_string(::getpid()))) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::create_directories(dir_);
    config_.origin = "http://localhost:8080";
    config_.rp_id = "localhost";
    const sluis::crypto::RootKey root = sluis::crypto::RootKey::random();
    store_ = sc::ConsoleStore::open(dir_ / "console.db", root);
    if (!store_) setup_failed("the console store opens");
    web_ = std::make_unique<sc::ConsoleWeb>(
        sc::ConsoleWeb::load(fs::path(SLUIS_SOURCE_DIR) / "console" / "web"));
    auto ca = gw::GatewayCa::create("fuzz gateway CA", std::chrono::hours(24));
    if (!ca) setup_failed("the gateway CA is created");
    std::map<std::string, sc::ApiClient, std::less<>> clients;
    for (const std::string_view partner : {"ocmw-brussel", "caw-brussel"}) {
      auto cred = ca->issue_partner_certificate({std::string(partner), "", std::chrono::hours(24)});
      if (!cred) setup_failed("a partner certificate is issued");
      sc::ApiClientOptions options;
      options.port = kClosedPort;
      options.timeout = std::chrono::milliseconds(200);
      clients.emplace(std::string(partner), sc::ApiClient(options, ca->certificate(), *cred));
    }
    app_ = std::make_unique<sc::ConsoleApp>(config_, *store_, *web_, std::move(clients));
    router_ = std::make_unique<gw::Router>(app_->router());
    const auto now = sc::unix_now();
    std::uint8_t n = 1;
    for (const auto& spec : kAccounts) {
      const auto invite = store_->create_invite(spec.partner, spec.name, spec.role, now);
      sc::RegisteredCredential credential;
      credential.credential_id.assign(16, n);
      credential.cose_key.assign(77, n);
      ++n;
      const auto account =
          store_->enrol(sc::ConsoleStore::hash_token(invite.token), credential, now);
      if (!account) setup_failed("an account is enrolled");
      const std::string id = store_->create_session(account->id, std::nullopt, now);
      const auto session = store_->touch_session(id, now);
      if (!session) setup_failed("a session is opened");
      sessions_.emplace(std::string(spec.name), Session{id, session->csrf, account->id});
    }
  }
  ~World() {
    router_.reset();
    app_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  [[nodiscard]] const Session* session(std::string_view name) const {
    const auto it = sessions_.find(name);
    return it == sessions_.end() ? nullptr : &it->second;
  }

  /// The input after line 1 with its placeholders replaced (see the file comment).
  [[nodiscard]] std::string expand(std::string_view text, std::string_view sender) const {
    std::string out;
    out.reserve(text.size() + 64);
    std::size_t pos = 0;
    while (pos < text.size()) {
      const std::size_t open = text.find('{', pos);
      if (open == std::string_view::npos) break;
      const std::size_t close = text.find('}', open);
      if (close == std::string_view::npos) break;
      out.append(text.substr(pos, open - pos));
      const std::string_view name = text.substr(open + 1, close - open - 1);
      const std::size_t colon = name.find(':');
      const std::string_view what = name.substr(0, colon);
      const std::string_view who =
          colon == std::string_view::npos ? sender : name.substr(colon + 1);
      const Session* s = session(who);
      if (s != nullptr && what == "csrf") {
        out.append(s->csrf);
      } else if (s != nullptr && what == "session") {
        out.append(s->cookie);
      } else {
        out.append(text.substr(open, close - open + 1));
      }
      pos = close + 1;
    }
    out.append(text.substr(pos));
    return out;
  }

  gw::HttpResponse dispatch(const gw::HttpRequest& req) {
    std::string_view route;
    return router_->dispatch(req, route);
  }

  /// Which accounts exist and are active, and whose sessions are alive (for "changes nothing").
  [[nodiscard]] std::string state() {
    std::string out;
    const auto now = sc::unix_now();
    for (const std::string_view partner : {"ocmw-brussel", "caw-brussel"}) {
      for (const auto& a : store_->accounts_of(partner)) {
        out += a.id + (a.revoked ? ":revoked" : ":active") + ";";
      }
    }
    for (const auto& [name, s] : sessions_) {
      out += name + (store_->touch_session(s.cookie, now) ? ":in" : ":out") + ";";
    }
    return out;
  }

  std::size_t inputs = 0;

 private:
  fs::path dir_;
  sc::ConsoleConfig config_;
  std::unique_ptr<sc::ConsoleStore> store_;
  std::unique_ptr<sc::ConsoleWeb> web_;
  std::unique_ptr<sc::ConsoleApp> app_;
  std::unique_ptr<gw::Router> router_;
  std::map<std::string, Session, std::less<>> sessions_;
};

std::unique_ptr<World> g_world;

World& world() {
  if (!g_world || g_world->inputs >= kInputsPerWorld) {
    g_world.reset();
    g_world = std::make_unique<World>();
    static const bool registered = std::atexit([] { g_world.reset(); }) == 0;
    if (!registered) setup_failed("the exit handler is registered");
  }
  ++g_world->inputs;
  return *g_world;
}

std::optional<std::string_view> header(const gw::HttpResponse& res, std::string_view name) {
  for (const auto& [n, v] : res.headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

bool b64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

/// The nonce of the answer's CSP, checked to be exactly the console's policy around it.
std::string nonce_of(const gw::HttpResponse& res) {
  const auto csp = header(res, "Content-Security-Policy");
  SLUIS_FUZZ_CHECK(csp.has_value());
  const std::string_view marker = "script-src 'self' 'nonce-";
  const std::size_t at = csp->find(marker);
  SLUIS_FUZZ_CHECK(at != std::string_view::npos);
  const std::size_t start = at + marker.size();
  const std::size_t end = csp->find('\'', start);
  SLUIS_FUZZ_CHECK(end != std::string_view::npos);
  const std::string nonce(csp->substr(start, end - start));
  SLUIS_FUZZ_CHECK(nonce.size() >= 16);
  for (const char c : nonce)
    SLUIS_FUZZ_CHECK(b64url_char(c));
  SLUIS_FUZZ_CHECK(*csp == sc::ConsoleApp::content_security_policy(nonce));
  return nonce;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

/// Every script element is `<script src="/static/js/NAME.js" nonce="NONCE" defer>`; no inline
/// handler, style attribute or style element anywhere.
void check_html(std::string_view body, const std::string& nonce) {
  const std::string html = lower(body);
  const std::string want_prefix = "<script src=\"/static/js/";
  std::size_t pos = 0;
  while ((pos = html.find("<script", pos)) != std::string::npos) {
    SLUIS_FUZZ_CHECK(html.compare(pos, want_prefix.size(), want_prefix) == 0);
    const std::size_t end = html.find('>', pos);
    SLUIS_FUZZ_CHECK(end != std::string::npos);
    const std::string_view tag(body.data() + pos, end - pos);
    SLUIS_FUZZ_CHECK(tag.find(" nonce=\"" + nonce + "\"") != std::string_view::npos);
    pos = end;
  }
  SLUIS_FUZZ_CHECK(html.find("<style") == std::string::npos);
  SLUIS_FUZZ_CHECK(html.find(" style=") == std::string::npos);
  SLUIS_FUZZ_CHECK(html.find("javascript:") == std::string::npos);
  // An event handler attribute: " on" + letters + "=" inside a tag.
  for (std::size_t at = html.find(" on"); at != std::string::npos; at = html.find(" on", at + 1)) {
    std::size_t i = at + 3;
    while (i < html.size() && html[i] >= 'a' && html[i] <= 'z')
      ++i;
    if (i == at + 3 || i >= html.size() || html[i] != '=') continue;
    // Inside a tag when the nearest '<' before it is after the nearest '>'.
    const std::size_t lt = html.rfind('<', at);
    const std::size_t gt = html.rfind('>', at);
    SLUIS_FUZZ_CHECK(lt == std::string::npos || (gt != std::string::npos && gt > lt));
  }
}

void check_cookie(std::string_view value) {
  SLUIS_FUZZ_CHECK(value.starts_with("__Host-sluis-session=") ||
                   value.starts_with("__Host-sluis-lang="));
  SLUIS_FUZZ_CHECK(value.find("; Path=/; Secure; HttpOnly; SameSite=Strict") !=
                   std::string_view::npos);
}

void check_response(const gw::HttpResponse& res) {
  SLUIS_FUZZ_CHECK(res.status >= 200 && res.status < 600);
  SLUIS_FUZZ_CHECK(res.status < 500 || res.status == 502);
  for (const auto& [name, value] : res.headers) {
    SLUIS_FUZZ_CHECK(sluis::fuzz::clean_header_text(name) &&
                     sluis::fuzz::clean_header_text(value));
    if (name == "Set-Cookie") check_cookie(value);
  }
  const std::string nonce = nonce_of(res);
  SLUIS_FUZZ_CHECK(header(res, "Referrer-Policy") == std::optional<std::string_view>("no-referrer"));
  SLUIS_FUZZ_CHECK(header(res, "X-Frame-Options") == std::optional<std::string_view>("DENY"));
  if (res.content_type.starts_with("text/html")) {
    check_html(res.body, nonce);
    // Every refusal is a page in the visitor's language.
    if (res.status >= 400) SLUIS_FUZZ_CHECK(header(res, "Content-Language").has_value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);
  const std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos) return 0;
  const std::string_view sender = text.substr(0, eol);
  World& w = world();
  std::string request = w.expand(text.substr(eol + 1), sender);
  // The sender's cookie, unless the input brings its own Cookie header.
  if (const Session* s = w.session(sender); s != nullptr) {
    const std::size_t line_end = request.find('\n');
    if (line_end != std::string::npos && lower(request).find("\ncookie:") == std::string::npos) {
      request.insert(line_end + 1, "Cookie: __Host-sluis-session=" + s->cookie + "\n");
    }
  }
  const std::string raw = sluis::fuzz::to_http(request, kHost);
  gw::RequestLimits limits;
  limits.browser = true;
  auto req = gw::parse_http_request(raw, limits);
  if (!req) return 0;  // refused by the transport: never reaches the router
  const std::string before = w.state();
  const gw::HttpResponse res = w.dispatch(*req);
  check_response(res);
  const std::string after = w.state();
  const bool refused = res.status == 400 || res.status == 401 || res.status == 403 ||
                       res.status == 415 || res.status == 421;
  if (req->method == "GET" || req->method == "HEAD" || refused) {
    SLUIS_FUZZ_CHECK(before == after);
  }
  static const bool verbose = std::getenv("SLUIS_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "%s %s -> %d %.200s\n", req->method.c_str(), req->path.c_str(),
                 res.status, res.body.c_str());
  }
  return 0;
}
