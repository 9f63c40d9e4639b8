// The console's routes: the guard every request passes through, then the sign-in, enrolment,
// home, admin, language and static-file handlers.
#include "sluis/console/console_app.hpp"

#include "sluis/console/base64url.hpp"
#include "sluis/console/http_input.hpp"
#include "sluis/console/webauthn.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluis/gateway/http.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <array>
#include <ctime>
#include <fstream>
#include <iterator>
#include <optional>

namespace sluis::console {
namespace {

namespace fs = std::filesystem;
namespace gw = sluis::gateway;
namespace json = boost::json;

constexpr std::string_view kSessionCookie = "__Host-sluis-session";
constexpr std::string_view kLanguageCookie = "__Host-sluis-lang";
constexpr std::size_t kChallengeBytes = 32;

/// Who may use a route.
enum class Access { anyone, signed_in, admin };

/// What one request sees while its handler runs.
struct Ctx {
  Ctx(const gw::HttpRequest& r, const gw::PathParams& p) : req(r), params(p) {}
  const gw::HttpRequest& req;
  const gw::PathParams& params;
  UnixSeconds now = 0;
  std::string lang;
  std::string nonce;
  std::optional<ConsoleSession> session;
  FormFields form;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Set-Cookie and the like
};

std::string random_b64(std::size_t n) {
  std::vector<std::uint8_t> raw(n);
  crypto::random_bytes(raw);
  return base64url_encode(raw);
}

std::string session_cookie(std::string_view id) {
  return std::string(kSessionCookie) + "=" + std::string(id) +
         "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool is_unsafe(std::string_view method) {
  return method != "GET" && method != "HEAD";
}

std::string utc_time(UnixSeconds t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M", &tm);
  return std::string(buf.data(), n);
}

/// A same-origin path for after the language switch: "/x..." but never "//host" or "/\\".
std::string safe_return_to(std::string_view v) {
  if (v.empty() || v.front() != '/' || v.size() > 1024) return "/";
  if (v.size() > 1 && (v[1] == '/' || v[1] == '\\')) return "/";
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == '\\') return "/";
  }
  return std::string(v);
}

std::optional<std::vector<std::uint8_t>> field_bytes(const FormFields& f, std::string_view name) {
  const auto v = f.get(name);
  if (!v) return std::nullopt;
  return base64url_decode(*v);
}

}  // namespace

std::string enrolment_link(const ConsoleConfig& config, std::string_view token) {
  return config.origin + "/enrol?invite=" + url_encode(token);
}

ConsoleWeb ConsoleWeb::load(const fs::path& web_root) {
  for (const char* sub : {"templates", "i18n", "static"}) {
    if (!fs::is_directory(web_root / sub)) {
      throw std::runtime_error((web_root / sub).string() +
                               ": the console's web files are missing; set web_root in the "
                               "configuration to the directory holding templates/, i18n/, static/");
    }
  }
  ConsoleWeb web{TemplateSet::load(web_root / "templates"), {}, web_root / "static"};
  for (const auto& lang : console_languages()) {
    web.catalogues.emplace(lang, Catalogue::load(web_root / "i18n" / (lang + ".toml"), lang));
  }
  return web;
}

std::string ConsoleApp::content_security_policy(std::string_view nonce) {
  const std::string n(nonce);
  return "default-src 'none'; script-src 'self' 'nonce-" + n + "'; style-src 'self' 'nonce-" + n +
         "'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors "
         "'none'; base-uri 'none'";
}

struct ConsoleApp::Impl {
  const ConsoleConfig& config;
  ConsoleStore& store;
  const ConsoleWeb& web;
  std::map<std::string, ApiClient, std::less<>> clients;
  RelyingParty rp;

  Impl(const ConsoleConfig& c, ConsoleStore& s, const ConsoleWeb& w,
       std::map<std::string, ApiClient, std::less<>> cl)
      : config(c), store(s), web(w), clients(std::move(cl)), rp{c.rp_id, c.origin} {}

  const Catalogue& catalogue(std::string_view lang) const {
    auto it = web.catalogues.find(lang);
    return it != web.catalogues.end() ? it->second : web.catalogues.begin()->second;
  }
  std::string tr(const Ctx& ctx, std::string_view key) const {
    const std::string* s = catalogue(ctx.lang).find(key);
    return s != nullptr ? *s : std::string(key);
  }

  // --- the guard ----------------------------------------------------------------------------

  using PageFn = std::function<gw::HttpResponse(Impl&, Ctx&)>;

  gw::Handler guard(Access access, PageFn fn) {
    return [this, access, fn = std::move(fn)](const gw::HttpRequest& req,
                                              const gw::PathParams& params) {
      Ctx ctx(req, params);
      ctx.now = unix_now();
      ctx.nonce = random_b64(16);
      gw::HttpResponse res;
      try {
        res = run_guarded(ctx, access, fn);
      } catch (...) {
        // Never the exception's text: it may hold SQL or values.
        res = error_page(ctx, 500, "error.server_title", "error.server");
        res.cause = "console_handler_exception";
      }
      add_security_headers(ctx, res);
      return res;
    };
  }

  gw::HttpResponse run_guarded(Ctx& ctx, Access access, const PageFn& fn) {
    const auto& req = ctx.req;
    // Language first, so that every refusal below is readable.
    ctx.lang = choose_language(req.accept_language.value_or(""), console_languages());
    std::optional<Cookies> cookies;
    if (req.cookie) {
      if (auto c = parse_cookie_header(*req.cookie); c) cookies = std::move(*c);
    }
    if (cookies) {
      const auto l = cookies->find(kLanguageCookie);
      if (l.status == Cookies::Status::found && catalogue_has(l.value)) ctx.lang = l.value;
    }
    if (const auto q = req.query_param("lang"); q && catalogue_has(*q)) ctx.lang = *q;
    // DNS rebinding and misrouted requests: the Host must be the configured origin's.
    if (!req.host || *req.host != config.origin_authority()) {
      return error_page(ctx, 421, "error.bad_input_title", "error.wrong_host");
    }
    bool cookie_sent = false;
    if (cookies) {
      const auto s = cookies->find(kSessionCookie);
      cookie_sent = s.status != Cookies::Status::absent;
      if (s.status == Cookies::Status::found) ctx.session = store.touch_session(s.value, ctx.now);
    }
    // A navigation from another site carries no SameSite=Strict cookie. Answering it with a new
    // session would overwrite the visitor's own (a cross-site sign-out): instead the page
    // reloads itself, now same-origin, with the cookie.
    const bool cross_site = req.sec_fetch_site && (*req.sec_fetch_site == "cross-site" ||
                                                   *req.sec_fetch_site == "same-site");
    if (cross_site && !cookie_sent && !is_unsafe(req.method)) return reload_page(ctx);
    if (is_unsafe(req.method)) {
      if (!same_origin_request(req)) {
        return error_page(ctx, 403, "error.cross_site_title", "error.cross_site");
      }
      const bool form_body =
          req.content_type && req.content_type->starts_with("application/x-www-form-urlencoded");
      if (!form_body) return error_page(ctx, 415, "error.bad_input_title", "error.bad_input");
      auto form = parse_urlencoded(req.body, FormLimits{}, DuplicateNames::refuse);
      if (!form) return error_page(ctx, 400, "error.bad_input_title", "error.bad_input");
      ctx.form = std::move(*form);
      const auto token = ctx.form.get("csrf");
      if (!ctx.session || !token || !constant_time_equal(*token, ctx.session->csrf)) {
        return error_page(ctx, 403, "error.form_expired_title", "error.form_expired");
      }
    }
    if (access != Access::anyone) {
      if (!ctx.session || !ctx.session->account) {
        if (!is_unsafe(req.method)) return redirect("/login");
        return error_page(ctx, 401, "error.signed_out_title", "error.signed_out");
      }
      if (access == Access::admin && ctx.session->account->role != ConsoleRole::admin) {
        return error_page(ctx, 403, "error.forbidden_title", "error.forbidden");
      }
    }
    return fn(*this, ctx);
  }

  bool catalogue_has(std::string_view lang) const { return web.catalogues.contains(lang); }

  /// CSRF, first half (issue 14): Sec-Fetch-Site same-origin or none (a typed URL, a bookmark);
  /// without it (older browsers), Origin must be the console's own.
  bool same_origin_request(const gw::HttpRequest& req) const {
    if (req.sec_fetch_site) {
      return *req.sec_fetch_site == "same-origin" || *req.sec_fetch_site == "none";
    }
    return req.origin && *req.origin == config.origin;
  }

  void add_security_headers(const Ctx& ctx, gw::HttpResponse& res) const {
    res.headers.emplace_back("Content-Security-Policy", content_security_policy(ctx.nonce));
    res.headers.emplace_back("Referrer-Policy", "no-referrer");
    res.headers.emplace_back("X-Frame-Options", "DENY");
    res.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
    res.headers.emplace_back("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (config.transport == ConsoleTransport::https) {
      res.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
    }
    for (const auto& h : ctx.headers)
      res.headers.push_back(h);
  }

  // --- rendering -----------------------------------------------------------------------------

  /// Makes sure the request has a session (a pre-sign-in one when needed) for the forms' token.
  void ensure_session(Ctx& ctx) {
    if (ctx.session) return;
    start_session(ctx, std::nullopt, std::nullopt);
  }

  /// A new session id (rotation: the caller has ended any previous one), set as the cookie.
  void start_session(Ctx& ctx, std::optional<std::string> account_id,
                     std::optional<std::string> invite_hash) {
    const std::string id = store.create_session(account_id, std::move(invite_hash), ctx.now);
    ctx.session = store.touch_session(id, ctx.now);
    if (!ctx.session) throw std::runtime_error("new session not found");
    ctx.headers.emplace_back("Set-Cookie", session_cookie(id));
  }

  std::string current_target(const Ctx& ctx) const {
    std::string t = ctx.req.path;
    char sep = '?';
    for (const auto& [k, v] : ctx.req.query) {
      if (k == "lang") continue;
      t += sep + url_encode(k) + "=" + url_encode(v);
      sep = '&';
    }
    return safe_return_to(t);
  }

  gw::HttpResponse page(Ctx& ctx, int status, std::string_view name, std::string_view title_key,
                        TemplateData data, bool with_script = false, bool may_start_session = true) {
    if (may_start_session) ensure_session(ctx);
    const Catalogue& cat = catalogue(ctx.lang);
    const std::string csrf = ctx.session ? ctx.session->csrf : std::string();
    data.set("csrf", csrf);
    auto content = web.templates.render(name, data, cat);
    if (!content) throw std::runtime_error("render failed");
    TemplateData layout;
    layout.set("lang", ctx.lang);
    layout.set("title", tr(ctx, title_key));
    layout.set("nonce", ctx.nonce);
    layout.set("csrf", csrf);
    layout.set("return_to", current_target(ctx));
    std::vector<TemplateData> scripts;
    if (with_script) scripts.emplace_back().set("file", "webauthn.js");
    layout.set_list("scripts", std::move(scripts));
    std::vector<TemplateData> languages;
    for (const auto& code : console_languages()) {
      TemplateData l;
      const std::string* label = catalogue(code).find("language." + code);
      l.set("code", code).set("label", label ? *label : code).set_flag("current", code == ctx.lang);
      languages.push_back(std::move(l));
    }
    layout.set_list("languages", std::move(languages));
    if (ctx.session && ctx.session->account) {
      TemplateData who;
      who.set("worker", ctx.session->account->worker).set("partner", ctx.session->account->partner);
      layout.set_object("session", std::move(who));
    } else {
      layout.set_flag("session", false);
    }
    layout.set_html("content", std::move(*content));
    auto html = web.templates.render("layout", layout, cat);
    if (!html) throw std::runtime_error("render failed");
    gw::HttpResponse r;
    r.status = status;
    r.content_type = "text/html; charset=utf-8";
    r.body = html->str();
    r.headers.emplace_back("Content-Language", ctx.lang);
    return r;
  }

  gw::HttpResponse error_page(Ctx& ctx, int status, std::string_view heading_key,
                              std::string_view message_key) {
    TemplateData d;
    d.set("heading", tr(ctx, heading_key)).set("message", tr(ctx, message_key));
    // A refusal never starts a session: it may answer another site's request.
    gw::HttpResponse r = page(ctx, status, "error", heading_key, std::move(d), false, false);
    if (status >= 500) r.cause = "console_error";
    return r;
  }

  gw::HttpResponse reload_page(Ctx& ctx) {
    TemplateData d;
    d.set("lang", ctx.lang);
    auto html = web.templates.render("reload", d, catalogue(ctx.lang));
    if (!html) throw std::runtime_error("render failed");
    gw::HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = html->str();
    return r;
  }

  static gw::HttpResponse redirect(std::string_view to) {
    gw::HttpResponse r;
    r.status = 303;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Location", std::string(to));
    return r;
  }

  static gw::HttpResponse json_answer(int status, const json::value& v) {
    gw::HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = json::serialize(v);
    return r;
  }

  std::string role_label(const Ctx& ctx, ConsoleRole role) const {
    return tr(ctx, "role." + std::string(to_string(role)));
  }

  // --- pages ---------------------------------------------------------------------------------

  gw::HttpResponse home(Ctx& ctx) {
    const ConsoleAccount& a = *ctx.session->account;
    TemplateData d;
    d.set("worker", a.worker).set("partner", a.partner).set("role", role_label(ctx, a.role));
    d.set_flag("admin", a.role == ConsoleRole::admin);
    d.set("sessions", std::to_string(store.count_sessions_of(a.id)));
    // The gateway, reached with this account's partner certificate (never another partner's).
    bool gateway_ok = false;
    if (auto it = clients.find(a.partner); it != clients.end()) {
      ApiRequest call;
      call.target = "/v1/audit/checkpoint";
      call.worker = a.worker;
      const auto answer = it->second.call(call);
      gateway_ok = answer && answer->status == 200;
    }
    d.set_flag("gateway_ok", gateway_ok);
    return page(ctx, 200, "home", "home.page_title", std::move(d));
  }

  gw::HttpResponse login_page(Ctx& ctx) {
    if (ctx.session && ctx.session->account) return redirect("/");
    TemplateData d;
    d.set_flag("failed", ctx.req.query_param("failed").has_value());
    return page(ctx, 200, "login", "login.page_title", std::move(d), true);
  }

  gw::HttpResponse ceremony_refused(Ctx& ctx, std::string_view event, std::string_view account) {
    store.record_event(event, account, ctx.now);
    return json_answer(403, json::object{{"ok", false}});
  }

  gw::HttpResponse login_options(Ctx& ctx) {
    std::vector<std::uint8_t> challenge(kChallengeBytes);
    crypto::random_bytes(challenge);
    store.set_challenge(ctx.session->handle_hash, ChallengePurpose::login, challenge, ctx.now);
    return json_answer(200, json::object{{"challenge", base64url_encode(challenge)},
                                         {"rpId", config.rp_id},
                                         {"timeout", 120000},
                                         {"userVerification", "required"}});
  }

  gw::HttpResponse login_finish(Ctx& ctx) {
    const auto challenge =
        store.take_challenge(ctx.session->handle_hash, ChallengePurpose::login, ctx.now);
    const auto id = field_bytes(ctx.form, "id");
    const auto client_data = field_bytes(ctx.form, "client_data");
    const auto auth_data = field_bytes(ctx.form, "authenticator_data");
    const auto signature = field_bytes(ctx.form, "signature");
    if (!challenge || !id || !client_data || !auth_data || !signature) {
      return ceremony_refused(ctx, "login_malformed", "");
    }
    const auto passkey = store.find_passkey(*id);
    if (!passkey) return ceremony_refused(ctx, "unknown_passkey", "");
    if (passkey->revoked) return ceremony_refused(ctx, "revoked_passkey", passkey->account_id);
    const auto account = store.account(passkey->account_id);
    if (!account || account->revoked) {
      return ceremony_refused(ctx, "revoked_account", passkey->account_id);
    }
    const StoredCredential stored{passkey->id, passkey->cose_key, passkey->sign_count};
    const AssertionResponse response{*id, *client_data, *auth_data, *signature};
    const auto verified = verify_assertion(rp, *challenge, stored, response);
    if (!verified) {
      // A regression means a second copy of the authenticator may exist: recorded, refused.
      return ceremony_refused(ctx,
                              verified.error() == WebauthnErrc::sign_count_regression
                                  ? "sign_count_regression"
                                  : "assertion_refused",
                              passkey->account_id);
    }
    store.update_sign_count(passkey->id, verified->sign_count, ctx.now);
    // Session fixation: the pre-sign-in id ends; the signed-in session gets a new one.
    store.delete_session(ctx.session->handle_hash);
    start_session(ctx, account->id, std::nullopt);
    return json_answer(200, json::object{{"ok", true}, {"redirect", "/"}});
  }

  gw::HttpResponse invite_refusal(Ctx& ctx, InviteState state) {
    switch (state) {
    case InviteState::expired:
      return error_page(ctx, 410, "error.invite_title", "error.invite_expired");
    case InviteState::used: return error_page(ctx, 410, "error.invite_title", "error.invite_used");
    default: return error_page(ctx, 404, "error.invite_title", "error.invite_unknown");
    }
  }

  gw::HttpResponse enrol_page(Ctx& ctx) {
    const auto token = ctx.req.query_param("invite");
    if (!token) return error_page(ctx, 404, "error.invite_title", "error.invite_unknown");
    const InviteView invite = store.find_invite(*token, ctx.now);
    if (invite.state != InviteState::valid) return invite_refusal(ctx, invite.state);
    // A fresh session bound to this invitation (whoever was signed in here is signed out).
    if (ctx.session) store.delete_session(ctx.session->handle_hash);
    start_session(ctx, std::nullopt, ConsoleStore::hash_token(*token));
    TemplateData d;
    d.set("worker", invite.worker).set("partner", invite.partner);
    d.set("role", role_label(ctx, invite.role));
    return page(ctx, 200, "enrol", "enrol.page_title", std::move(d), true);
  }

  gw::HttpResponse enrol_options(Ctx& ctx) {
    if (!ctx.session->invite_hash) {
      return error_page(ctx, 403, "error.invite_title", "error.invite_unknown");
    }
    const InviteView invite = store.find_invite_by_hash(*ctx.session->invite_hash, ctx.now);
    if (invite.state != InviteState::valid) return json_answer(410, json::object{{"ok", false}});
    std::vector<std::uint8_t> challenge(kChallengeBytes);
    crypto::random_bytes(challenge);
    store.set_challenge(ctx.session->handle_hash, ChallengePurpose::enrol, challenge, ctx.now);
    const std::vector<std::uint8_t> user_id(invite.account_id.begin(), invite.account_id.end());
    return json_answer(
        200,
        json::object{
            {"challenge", base64url_encode(challenge)},
            {"rp", json::object{{"id", config.rp_id}, {"name", "sluis"}}},
            {"user", json::object{{"id", base64url_encode(user_id)},
                                  {"name", invite.worker + "@" + invite.partner},
                                  {"displayName", invite.worker + " (" + invite.partner + ")"}}},
            {"pubKeyCredParams", json::array{json::object{{"type", "public-key"}, {"alg", -7}},
                                             json::object{{"type", "public-key"}, {"alg", -8}}}},
            {"timeout", 120000},
            {"attestation", "none"},
            {"authenticatorSelection", json::object{{"residentKey", "required"},
                                                    {"requireResidentKey", true},
                                                    {"userVerification", "required"}}}});
  }

  gw::HttpResponse enrol_finish(Ctx& ctx) {
    const auto challenge =
        store.take_challenge(ctx.session->handle_hash, ChallengePurpose::enrol, ctx.now);
    const auto id = field_bytes(ctx.form, "id");
    const auto client_data = field_bytes(ctx.form, "client_data");
    const auto attestation = field_bytes(ctx.form, "attestation_object");
    if (!ctx.session->invite_hash || !challenge || !id || !client_data || !attestation) {
      return ceremony_refused(ctx, "enrol_malformed", "");
    }
    const RegistrationResponse response{*id, *client_data, *attestation};
    const auto registered = verify_registration(rp, *challenge, response);
    if (!registered) return ceremony_refused(ctx, "registration_refused", "");
    const auto account = store.enrol(*ctx.session->invite_hash, *registered, ctx.now);
    if (!account) return ceremony_refused(ctx, "enrol_invite_refused", "");
    store.delete_session(ctx.session->handle_hash);
    start_session(ctx, account->id, std::nullopt);
    return json_answer(200, json::object{{"ok", true}, {"redirect", "/"}});
  }

  gw::HttpResponse logout(Ctx& ctx) {
    if (ctx.session) store.delete_session(ctx.session->handle_hash);
    ctx.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) +
                                               "=; Path=/; Secure; HttpOnly; SameSite=Strict; "
                                               "Max-Age=0");
    return redirect("/login");
  }

  gw::HttpResponse logout_everywhere(Ctx& ctx) {
    store.delete_sessions_of(ctx.session->account->id);
    ctx.session.reset();
    return logout(ctx);
  }

  gw::HttpResponse language(Ctx& ctx) {
    const auto lang = ctx.form.get("lang");
    if (!lang || !catalogue_has(*lang)) {
      return error_page(ctx, 400, "error.bad_input_title", "error.bad_input");
    }
    ctx.headers.emplace_back("Set-Cookie", std::string(kLanguageCookie) + "=" + std::string(*lang) +
                                               "; Path=/; Secure; HttpOnly; SameSite=Strict; "
                                               "Max-Age=31536000");
    return redirect(safe_return_to(ctx.form.get("return_to").value_or("/")));
  }

  gw::HttpResponse admin_page(Ctx& ctx, std::optional<TemplateData> invite) {
    const ConsoleAccount& me = *ctx.session->account;
    TemplateData d;
    d.set("partner", me.partner);
    std::vector<TemplateData> rows;
    for (const auto& a : store.accounts_of(me.partner)) {
      TemplateData row;
      const char* status = a.revoked                  ? "status.revoked"
                           : a.active_credentials > 0 ? "status.active"
                                                      : "status.pending";
      row.set("id", a.id).set("worker", a.worker).set("role", role_label(ctx, a.role));
      row.set("passkeys", std::to_string(a.active_credentials)).set("status", tr(ctx, status));
      row.set_flag("revocable", !a.revoked && a.id != me.id);
      rows.push_back(std::move(row));
    }
    d.set_list("accounts", std::move(rows));
    std::vector<TemplateData> roles;
    for (const ConsoleRole r : {ConsoleRole::worker, ConsoleRole::dpo, ConsoleRole::admin}) {
      TemplateData t;
      t.set("code", std::string(to_string(r))).set("label", role_label(ctx, r));
      roles.push_back(std::move(t));
    }
    d.set_list("roles", std::move(roles));
    if (invite) {
      d.set_object("invite", std::move(*invite));
    } else {
      d.set_flag("invite", false);
    }
    return page(ctx, 200, "admin", "admin.page_title", std::move(d));
  }

  gw::HttpResponse admin_invite(Ctx& ctx) {
    const auto worker = ctx.form.get("worker");
    const auto role = parse_console_role(ctx.form.get("role").value_or(""));
    if (!worker || !gw::is_safe_token(*worker)) {
      return error_page(ctx, 400, "error.bad_input_title", "error.worker_invalid");
    }
    if (!role) return error_page(ctx, 400, "error.bad_input_title", "error.bad_input");
    const std::string partner = ctx.session->account->partner;
    const IssuedInvite issued = store.create_invite(partner, *worker, *role, ctx.now);
    TemplateData invite;
    invite.set("link", enrolment_link(config, issued.token)).set("worker", std::string(*worker));
    invite.set("expires", utc_time(issued.expires));
    return admin_page(ctx, std::move(invite));
  }

  gw::HttpResponse admin_revoke(Ctx& ctx) {
    const auto id = ctx.params.get("account");
    // Scoped to the admin's own partner: another partner's account is "not found" here.
    if (!id || !store.revoke_account(ctx.session->account->partner, *id)) {
      return error_page(ctx, 404, "error.not_found_title", "error.account_not_found");
    }
    return redirect("/admin");
  }

  gw::HttpResponse static_file(Ctx& ctx) {
    auto rel = static_relative_path(ctx.req.path, "/static/");
    std::optional<fs::path> file;
    if (rel) {
      if (auto f = resolve_static_file(web.static_root, *rel); f) file = *f;
    }
    std::string type;
    if (file) {
      const std::string ext = file->extension().string();
      if (ext == ".css") type = "text/css; charset=utf-8";
      if (ext == ".js") type = "text/javascript; charset=utf-8";
      if (ext == ".png") type = "image/png";
      if (ext == ".svg") type = "image/svg+xml";
    }
    if (type.empty()) return error_page(ctx, 404, "error.not_found_title", "error.not_found");
    std::ifstream in(*file, std::ios::binary);
    gw::HttpResponse r;
    r.content_type = type;
    r.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return r;
  }
};

ConsoleApp::ConsoleApp(const ConsoleConfig& config, ConsoleStore& store, const ConsoleWeb& web,
                       std::map<std::string, ApiClient, std::less<>> clients)
    : impl_(std::make_unique<Impl>(config, store, web, std::move(clients))) {}

ConsoleApp::~ConsoleApp() = default;

gw::Router ConsoleApp::router() {
  gw::Router r;
  Impl& i = *impl_;
  using I = Impl;
  const auto add = [&](const char* method, const char* path, Access access, auto member) {
    r.add(method, path, i.guard(access, [member](I& self, Ctx& ctx) { return (self.*member)(ctx); }));
  };
  add("GET", "/", Access::signed_in, &I::home);
  add("GET", "/login", Access::anyone, &I::login_page);
  add("POST", "/login/options", Access::anyone, &I::login_options);
  add("POST", "/login/finish", Access::anyone, &I::login_finish);
  add("GET", "/enrol", Access::anyone, &I::enrol_page);
  add("POST", "/enrol/options", Access::anyone, &I::enrol_options);
  add("POST", "/enrol/finish", Access::anyone, &I::enrol_finish);
  add("POST", "/logout", Access::anyone, &I::logout);
  add("POST", "/logout/everywhere", Access::signed_in, &I::logout_everywhere);
  add("POST", "/language", Access::anyone, &I::language);
  r.add("GET", "/admin", i.guard(Access::admin, [](I& self, Ctx& ctx) {
          return self.admin_page(ctx, std::nullopt);
        }));
  add("POST", "/admin/invites", Access::admin, &I::admin_invite);
  add("POST", "/admin/accounts/{account}/revoke", Access::admin, &I::admin_revoke);
  add("GET", "/static/{file}", Access::anyone, &I::static_file);
  add("GET", "/static/js/{file}", Access::anyone, &I::static_file);
  // Everything else is a readable "not found" page in the visitor's language (up to four
  // segments; longer paths get the transport's problem+json 404).
  const auto not_found = [](I& self, Ctx& ctx) {
    return self.error_page(ctx, 404, "error.not_found_title", "error.not_found");
  };
  for (const char* path : {"/{a}", "/{a}/{b}", "/{a}/{b}/{c}", "/{a}/{b}/{c}/{d}"}) {
    r.add("GET", path, i.guard(Access::anyone, not_found));
    r.add("POST", path, i.guard(Access::anyone, not_found));
  }
  return r;
}

}  // namespace sluis::console
