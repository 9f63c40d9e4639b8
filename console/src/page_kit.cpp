// The page kit: the guard every console route passes through, rendering in the user's language
// with the navigation and security headers, and the signed-in account's calls to sluisd.
#include "page_kit.hpp"

#include "sluis/console/base64url.hpp"
#include "sluis/crypto/secret.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <array>
#include <ctime>

namespace sluis::console {
namespace {

namespace json = boost::json;

constexpr auto kIdentityTtl = std::chrono::minutes(1);

bool is_unsafe(std::string_view method) {
  return method != "GET" && method != "HEAD";
}

std::string session_cookie(std::string_view id) {
  return std::string(kSessionCookie) + "=" + std::string(id) +
         "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

std::string string_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool flag_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

}  // namespace

std::string random_b64(std::size_t n) {
  std::vector<std::uint8_t> raw(n);
  crypto::random_bytes(raw);
  return base64url_encode(raw);
}

std::string utc_time(UnixSeconds t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M", &tm);
  return std::string(buf.data(), n);
}

std::string safe_return_to(std::string_view v) {
  if (v.empty() || v.front() != '/' || v.size() > 1024) return "/";
  if (v.size() > 1 && (v[1] == '/' || v[1] == '\\')) return "/";
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == '\\') return "/";
  }
  return std::string(v);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

PageKit::PageKit(const ConsoleConfig& c, ConsoleStore& s, const ConsoleWeb& w,
                 std::map<std::string, ApiClient, std::less<>> cl)
    : config(c), store(s), web(w), clients(std::move(cl)), rp{c.rp_id, c.origin} {}

// --- text ------------------------------------------------------------------------------------

const Catalogue& PageKit::catalogue(std::string_view lang) const {
  auto it = web.catalogues.find(lang);
  return it != web.catalogues.end() ? it->second : web.catalogues.begin()->second;
}

std::string PageKit::tr(const Ctx& ctx, std::string_view key) const {
  const std::string* s = catalogue(ctx.lang).find(key);
  return s != nullptr ? *s : std::string(key);
}

std::string
PageKit::tr(const Ctx& ctx, std::string_view key,
            std::initializer_list<std::pair<std::string_view, std::string_view>> values) const {
  const std::string* s = catalogue(ctx.lang).find(key);
  if (s == nullptr) return std::string(key);
  std::string out;
  for_each_part(
      *s, [&](std::string_view text) { out += text; },
      [&](std::string_view name) {
        for (const auto& [k, v] : values) {
          if (k == name) {
            out += v;
            return;
          }
        }
      });
  return out;
}

bool PageKit::catalogue_has(std::string_view lang) const {
  return web.catalogues.contains(lang);
}

std::string PageKit::role_label(const Ctx& ctx, ConsoleRole role) const {
  return tr(ctx, "role." + std::string(to_string(role)));
}

// --- the guard -------------------------------------------------------------------------------

gw::Handler PageKit::guard(Access access, PageFn fn, DuplicateNames duplicates) {
  return [this, access, duplicates, fn = std::move(fn)](const gw::HttpRequest& req,
                                                        const gw::PathParams& params) {
    Ctx ctx(req, params);
    ctx.now = unix_now();
    ctx.nonce = random_b64(16);
    gw::HttpResponse res;
    try {
      res = run_guarded(ctx, access, fn, duplicates);
    } catch (...) {
      // Never the exception's text: it may hold SQL or values.
      res = error_page(ctx, 500, "error.server_title", "error.server");
      res.cause = "console_handler_exception";
    }
    add_security_headers(ctx, res);
    return res;
  };
}

gw::HttpResponse PageKit::run_guarded(Ctx& ctx, Access access, const PageFn& fn,
                                      DuplicateNames duplicates) {
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
    auto form = parse_urlencoded(req.body, FormLimits{}, duplicates);
    if (!form) return error_page(ctx, 400, "error.bad_input_title", "error.bad_input");
    ctx.form = std::move(*form);
    const auto tokens = ctx.form.get_all("csrf");
    if (!ctx.session || tokens.size() != 1 || !constant_time_equal(tokens[0], ctx.session->csrf)) {
      return error_page(ctx, 403, "error.form_expired_title", "error.form_expired");
    }
  }
  if (access != Access::anyone) {
    if (!ctx.session || !ctx.session->account) {
      if (!is_unsafe(req.method)) return redirect("/login");
      return error_page(ctx, 401, "error.signed_out_title", "error.signed_out");
    }
    const ConsoleRole role = ctx.session->account->role;
    if ((access == Access::admin && role != ConsoleRole::admin) ||
        (access == Access::dpo && role != ConsoleRole::dpo)) {
      return error_page(ctx, 403, "error.forbidden_title", "error.forbidden");
    }
  }
  return fn(*this, ctx);
}

/// CSRF, first half (issue 14): Sec-Fetch-Site same-origin or none (a typed URL, a bookmark);
/// without it (older browsers), Origin must be the console's own.
bool PageKit::same_origin_request(const gw::HttpRequest& req) const {
  if (req.sec_fetch_site) {
    return *req.sec_fetch_site == "same-origin" || *req.sec_fetch_site == "none";
  }
  return req.origin && *req.origin == config.origin;
}

void PageKit::add_security_headers(const Ctx& ctx, gw::HttpResponse& res) const {
  res.headers.emplace_back("Content-Security-Policy",
                           ConsoleApp::content_security_policy(ctx.nonce));
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

// --- rendering -------------------------------------------------------------------------------

void PageKit::ensure_session(Ctx& ctx) {
  if (ctx.session) return;
  start_session(ctx, std::nullopt, std::nullopt);
}

void PageKit::start_session(Ctx& ctx, std::optional<std::string> account_id,
                            std::optional<std::string> invite_hash) {
  const std::string id = store.create_session(account_id, std::move(invite_hash), ctx.now);
  ctx.session = store.touch_session(id, ctx.now);
  if (!ctx.session) throw std::runtime_error("new session not found");
  ctx.headers.emplace_back("Set-Cookie", session_cookie(id));
}

std::string PageKit::current_target(const Ctx& ctx) const {
  std::string t = ctx.req.path;
  char sep = '?';
  for (const auto& [k, v] : ctx.req.query) {
    if (k == "lang") continue;
    t += sep + url_encode(k) + "=" + url_encode(v);
    sep = '&';
  }
  return safe_return_to(t);
}

/// The layout's navigation for the signed-in account: what its console role and its partner's
/// kind of service (as sluisd says) let it use.
std::optional<TemplateData> PageKit::navigation(const Ctx& ctx) {
  if (!ctx.session || !ctx.session->account) return std::nullopt;
  const ConsoleRole role = ctx.session->account->role;
  const std::string& path = ctx.req.path;
  const auto at = [&](std::string_view area) {
    return path == area || path.starts_with(std::string(area) + "/");
  };
  TemplateData nav;
  bool low_threshold = false;
  if (role != ConsoleRole::dpo) {
    const auto identity = who(ctx);
    low_threshold = identity && identity->low_threshold;
  }
  nav.set_flag("at_home", path == "/");
  nav.set_flag("clients", role != ConsoleRole::dpo && !low_threshold);
  nav.set_flag("at_clients", at("/clients"));
  nav.set_flag("guests", role != ConsoleRole::dpo && low_threshold);
  nav.set_flag("at_guests", at("/guests"));
  nav.set_flag("dpo", role == ConsoleRole::dpo);
  nav.set_flag("at_dpo", at("/dpo"));
  nav.set_flag("admin", role == ConsoleRole::admin);
  nav.set_flag("at_admin", at("/admin"));
  return nav;
}

gw::HttpResponse PageKit::page(Ctx& ctx, int status, std::string_view name,
                               std::string_view title_key, TemplateData data,
                               std::vector<std::string> scripts, bool may_start_session) {
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
  std::vector<TemplateData> script_list;
  for (auto& file : scripts)
    script_list.emplace_back().set("file", std::move(file));
  layout.set_list("scripts", std::move(script_list));
  std::vector<TemplateData> languages;
  for (const auto& code : console_languages()) {
    TemplateData l;
    const std::string* label = catalogue(code).find("language." + code);
    l.set("code", code).set("label", label ? *label : code).set_flag("current", code == ctx.lang);
    languages.push_back(std::move(l));
  }
  layout.set_list("languages", std::move(languages));
  if (ctx.session && ctx.session->account) {
    TemplateData who_data;
    who_data.set("worker", ctx.session->account->worker)
        .set("partner", ctx.session->account->partner);
    layout.set_object("session", std::move(who_data));
  } else {
    layout.set_flag("session", false);
  }
  if (auto nav = navigation(ctx)) {
    layout.set_object("nav", std::move(*nav));
  } else {
    layout.set_flag("nav", false);
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

gw::HttpResponse PageKit::error_page(Ctx& ctx, int status, std::string_view heading_key,
                                     std::string_view message_key) {
  TemplateData d;
  d.set("heading", tr(ctx, heading_key)).set("message", tr(ctx, message_key));
  // A refusal never starts a session: it may answer another site's request.
  gw::HttpResponse r = page(ctx, status, "error", heading_key, std::move(d), {}, false);
  if (status >= 500) r.cause = "console_error";
  return r;
}

gw::HttpResponse PageKit::reload_page(Ctx& ctx) {
  TemplateData d;
  d.set("lang", ctx.lang);
  auto html = web.templates.render("reload", d, catalogue(ctx.lang));
  if (!html) throw std::runtime_error("render failed");
  gw::HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = html->str();
  return r;
}

gw::HttpResponse PageKit::redirect(std::string_view to) {
  gw::HttpResponse r;
  r.status = 303;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("Location", std::string(to));
  return r;
}

gw::HttpResponse PageKit::json_answer(int status, const json::value& v) {
  gw::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = json::serialize(v);
  return r;
}

// --- sluisd ----------------------------------------------------------------------------------

boost::system::result<ApiResponse> PageKit::call_api(const Ctx& ctx, ApiRequest request) const {
  if (!ctx.session || !ctx.session->account) return ApiClientErrc::invalid_request;
  const ConsoleAccount& a = *ctx.session->account;
  const auto it = clients.find(a.partner);
  if (it == clients.end()) return ApiClientErrc::invalid_request;
  request.worker = a.worker;
  return it->second.call(request);
}

std::string PageKit::problem_code(const ApiResponse& answer) {
  if (!answer.content_type.starts_with("application/problem+json")) return {};
  boost::system::error_code ec;
  const json::value v = json::parse(answer.body, ec);
  if (ec || !v.is_object()) return {};
  return string_of(v.as_object(), "code");
}

gw::HttpResponse PageKit::api_problem_page(Ctx& ctx, const ApiResponse& answer) {
  const std::string code = problem_code(answer);
  const int status = answer.status == 404 || answer.status == 403 ? answer.status : 502;
  TemplateData d;
  const std::string key = "problem." + code;
  std::string message;
  if (!code.empty() && catalogue(ctx.lang).find(key) != nullptr) {
    message = tr(ctx, key);
  } else {
    message = tr(ctx, "gateway.refused",
                 {{"code", code.empty() ? std::to_string(answer.status) : code}});
  }
  d.set("heading", tr(ctx, "gateway.refused_title")).set("message", message);
  gw::HttpResponse r =
      page(ctx, status, "error", "gateway.refused_title", std::move(d), {}, false);
  if (status >= 500) r.cause = "console_gateway_refused";
  return r;
}

gw::HttpResponse PageKit::gateway_down_page(Ctx& ctx) {
  gw::HttpResponse r = error_page(ctx, 502, "gateway.down_title", "gateway.down");
  r.cause = "console_gateway_unreachable";
  return r;
}

boost::system::result<ApiResponse> PageKit::shared_get(const Ctx& ctx, std::string_view target) {
  if (!ctx.session || !ctx.session->account) return ApiClientErrc::invalid_request;
  std::string key = ctx.session->account->partner;
  key += ' ';
  key += target;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(shared_mutex_);
    if (auto it = shared_.find(key); it != shared_.end() && now - it->second.fetched < kIdentityTtl) {
      return it->second.answer;
    }
  }
  ApiRequest request;
  request.target = std::string(target);
  auto answer = call_api(ctx, std::move(request));
  if (answer && answer->status == 200) {
    std::lock_guard lock(shared_mutex_);
    shared_[std::move(key)] = CachedAnswer{*answer, now};
  }
  return answer;
}

std::optional<GatewayIdentity> PageKit::who(const Ctx& ctx) {
  if (!ctx.session || !ctx.session->account) return std::nullopt;
  const std::string& account = ctx.session->account->id;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(identities_mutex_);
    if (auto it = identities_.find(account);
        it != identities_.end() && now - it->second.fetched < kIdentityTtl) {
      return it->second.identity;
    }
  }
  ApiRequest request;
  request.target = "/v1/me";
  const auto answer = call_api(ctx, request);
  if (!answer || answer->status != 200) return std::nullopt;
  boost::system::error_code ec;
  const json::value v = json::parse(answer->body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* partner = v.as_object().if_contains("partner");
  const auto* worker = v.as_object().if_contains("worker");
  if (partner == nullptr || !partner->is_object() || worker == nullptr || !worker->is_object()) {
    return std::nullopt;
  }
  const json::object& p = partner->as_object();
  const json::object& w = worker->as_object();
  GatewayIdentity id{string_of(p, "id"),
                     string_of(p, "name"),
                     string_of(p, "type"),
                     string_of(p, "type_label"),
                     flag_of(p, "low_threshold"),
                     string_of(w, "id"),
                     string_of(w, "role"),
                     string_of(w, "role_label"),
                     flag_of(w, "may_record_consent"),
                     flag_of(w, "may_erase_client"),
                     flag_of(w, "may_query_audit")};
  std::lock_guard lock(identities_mutex_);
  identities_[account] = CachedIdentity{id, now};
  return id;
}

}  // namespace sluis::console
