// The console's routes: sign-in, enrolment, home, admin, language and static files here; the
// worker, low-threshold and DPO areas in their own files; the guard and rendering in page_kit.
#include "sluis/console/console_app.hpp"

#include "page_kit.hpp"
#include "dpo_pages.hpp"
#include "witness_timer.hpp"

#include "sluis/console/base64url.hpp"
#include "sluis/console/http_input.hpp"
#include "sluis/console/webauthn.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluis/server/http.hpp"

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
namespace json = boost::json;

constexpr std::size_t kChallengeBytes = 32;

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
    web.catalogues.emplace(lang, Catalogue::load_dir(web_root / "i18n", lang));
  }
  return web;
}

std::string ConsoleApp::content_security_policy(std::string_view nonce) {
  const std::string n(nonce);
  return "default-src 'none'; script-src 'self' 'nonce-" + n + "'; style-src 'self' 'nonce-" + n +
         "'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors "
         "'none'; base-uri 'none'";
}

struct ConsoleApp::Impl final : PageKit {
  Impl(const ConsoleConfig& c, ConsoleStore& s, const ConsoleWeb& w,
       std::map<std::string, ApiClient, std::less<>> cl)
      : PageKit(c, s, w, std::move(cl)), witness(config, clients) {}

  /// The one witness of the log: the daemon's timer and the DPO's page (destroyed, so stopped,
  /// before PageKit's clients it calls through).
  WitnessTimer witness;

  // --- pages ---------------------------------------------------------------------------------

  gw::HttpResponse home(Ctx& ctx) {
    const ConsoleAccount& a = *ctx.session->account;
    TemplateData d;
    d.set("worker", a.worker).set("partner", a.partner).set("role", role_label(ctx, a.role));
    d.set_flag("admin", a.role == ConsoleRole::admin);
    // The organisation's name as sluisd knows it (its id while sluisd cannot say).
    const auto identity = who(ctx);
    d.set("partner_name", identity ? identity->partner_name : a.partner);
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
    return page(ctx, 200, "login", "login.page_title", std::move(d), {"webauthn.js"});
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
    return page(ctx, 200, "enrol", "enrol.page_title", std::move(d), {"webauthn.js"});
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
    add_sluisd_workers(*this, ctx, d);  // dpo_pages.cpp: the workers as sluisd knows them
    if (invite) {
      d.set_object("invite", std::move(*invite));
    } else {
      d.set_flag("invite", false);
    }
    return page(ctx, 200, "admin", "admin.page_title", std::move(d));
  }

  gw::HttpResponse admin_security(Ctx& ctx) {
    std::vector<TemplateData> rows;
    for (const auto& e : store.events_of(ctx.account().partner, 100)) {
      const std::string key = "security.kind_" + e.kind;
      TemplateData row;
      row.set("time", utc_time(e.time)).set("worker", e.worker);
      row.set("what", catalogue(ctx.lang).find(key) != nullptr
                          ? tr(ctx, key)
                          : tr(ctx, "security.kind_other", {{"kind", e.kind}}));
      rows.push_back(std::move(row));
    }
    TemplateData d;
    d.set_flag("none", rows.empty());
    d.set_list("events", std::move(rows));
    return page(ctx, 200, "admin_security", "security.page_title", std::move(d));
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

void ConsoleApp::start_witness(std::shared_ptr<gw::LogSink> log) {
  impl_->witness.start(std::move(log));
}

gw::Router ConsoleApp::router() {
  gw::Router r;
  Impl& i = *impl_;
  using I = Impl;
  const auto add = [&](const char* method, const char* path, Access access, auto member) {
    r.add(method, path, i.guard(access, [member](PageKit& self, Ctx& ctx) {
            return (static_cast<I&>(self).*member)(ctx);
          }));
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
  r.add("GET", "/admin", i.guard(Access::admin, [](PageKit& self, Ctx& ctx) {
          return static_cast<I&>(self).admin_page(ctx, std::nullopt);
        }));
  add("GET", "/admin/security", Access::admin, &I::admin_security);
  add("POST", "/admin/invites", Access::admin, &I::admin_invite);
  add("POST", "/admin/accounts/{account}/revoke", Access::admin, &I::admin_revoke);
  add("GET", "/static/{file}", Access::anyone, &I::static_file);
  add("GET", "/static/js/{file}", Access::anyone, &I::static_file);
  add_worker_pages(r, i);
  add_lowthreshold_pages(r, i);
  add_dpo_pages(r, i, i.witness);
  // Everything else is a readable "not found" page in the visitor's language (up to four
  // segments; longer paths get the transport's problem+json 404).
  const auto not_found = [](PageKit& self, Ctx& ctx) {
    return self.error_page(ctx, 404, "error.not_found_title", "error.not_found");
  };
  for (const char* path : {"/{a}", "/{a}/{b}", "/{a}/{b}/{c}", "/{a}/{b}/{c}/{d}"}) {
    r.add("GET", path, i.guard(Access::anyone, not_found));
    r.add("POST", path, i.guard(Access::anyone, not_found));
  }
  return r;
}

}  // namespace sluis::console
