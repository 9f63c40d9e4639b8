// What every console page is built with (internal to console/src): the request context, the
// guard every route passes through, page rendering in the user's language, and the signed-in
// account's calls to sluisd's /v1 API. Page areas (worker, low-threshold, DPO) each register
// their routes with add_<area>_pages().
#pragma once

#include "sluis/console/api_client.hpp"
#include "sluis/console/console_app.hpp"
#include "sluis/console/console_config.hpp"
#include "sluis/console/console_store.hpp"
#include "sluis/console/http_input.hpp"
#include "sluis/console/template.hpp"
#include "sluis/console/webauthn.hpp"
#include "sluis/server/http.hpp"
#include "sluis/server/router.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluis::console {

namespace gw = sluis::server;

inline constexpr std::string_view kSessionCookie = "__Host-sluis-session";
inline constexpr std::string_view kLanguageCookie = "__Host-sluis-lang";

/// Who may use a route.
enum class Access {
  anyone,     ///< also without a session (sign-in, enrolment, static files)
  signed_in,  ///< any signed-in account of any role
  admin,      ///< the partner's console admin
  dpo,        ///< the partner's DPO (console role dpo)
};

/// What one request sees while its handler runs.
struct Ctx {
  Ctx(const gw::HttpRequest& r, const gw::PathParams& p) : req(r), params(p) {}
  const gw::HttpRequest& req;
  const gw::PathParams& params;
  UnixSeconds now = 0;
  std::string lang;   ///< nl, fr or en
  std::string nonce;  ///< this response's CSP nonce
  std::optional<ConsoleSession> session;
  FormFields form;  ///< a POST's fields (checked: same origin, csrf token); the query string
                    ///< is req.query (decoded by the transport, duplicates refused)
  std::vector<std::pair<std::string, std::string>> headers;  ///< Set-Cookie and the like

  /// The signed-in account. Precondition: the route's access is not `anyone`.
  [[nodiscard]] const ConsoleAccount& account() const { return *session->account; }
};

/// The caller as sluisd knows them (GET /v1/me).
struct GatewayIdentity {
  std::string partner_id;
  std::string partner_name;
  std::string partner_type;
  std::string partner_type_label;
  bool low_threshold = false;  ///< the pack's low-threshold mark (data leaves only through a link)
  std::string worker;
  std::string role;
  std::string role_label;
  bool may_record_consent = false;
  bool may_erase_client = false;
  bool may_query_audit = false;
};

/// The shared machinery of the console's pages. One per ConsoleApp; handlers run concurrently.
struct PageKit {
  PageKit(const ConsoleConfig& c, ConsoleStore& s, const ConsoleWeb& w,
          std::map<std::string, ApiClient, std::less<>> cl);
  virtual ~PageKit() = default;
  PageKit(const PageKit&) = delete;
  PageKit& operator=(const PageKit&) = delete;

  const ConsoleConfig& config;
  ConsoleStore& store;
  const ConsoleWeb& web;
  std::map<std::string, ApiClient, std::less<>> clients;  ///< one per served partner
  RelyingParty rp;

  // --- the guard -----------------------------------------------------------------------------

  using PageFn = std::function<gw::HttpResponse(PageKit&, Ctx&)>;

  /// Wraps a page: language, Host (421), session, CSRF for unsafe methods (Sec-Fetch-Site or
  /// Origin, a form body, the session's token), `access`, then `fn`; security
  /// headers on every answer; an exception becomes a 500 page without its text. `duplicates`:
  /// whether the form may repeat a name (check boxes, multi-selects) — read them with get_all().
  [[nodiscard]] gw::Handler guard(Access access, PageFn fn,
                                  DuplicateNames duplicates = DuplicateNames::refuse);

  // --- text ----------------------------------------------------------------------------------

  [[nodiscard]] const Catalogue& catalogue(std::string_view lang) const;
  /// The string for `key` in the request's language (the key itself when missing).
  [[nodiscard]] std::string tr(const Ctx& ctx, std::string_view key) const;
  /// The same with its {placeholders} filled from `values` (an unnamed placeholder stays empty).
  [[nodiscard]] std::string
  tr(const Ctx& ctx, std::string_view key,
     std::initializer_list<std::pair<std::string_view, std::string_view>> values) const;

  // --- answers -------------------------------------------------------------------------------

  /// Renders template `name` inside the layout, with `csrf` added to `data`; `scripts` are file
  /// names under /static/js/ loaded with the nonce. Starts a (signed-out) session when none
  /// exists and `may_start_session`, so that the page's forms carry a token.
  [[nodiscard]] gw::HttpResponse page(Ctx& ctx, int status, std::string_view name,
                                      std::string_view title_key, TemplateData data,
                                      std::vector<std::string> scripts = {},
                                      bool may_start_session = true);
  /// A readable refusal page (never starts a session).
  [[nodiscard]] gw::HttpResponse error_page(Ctx& ctx, int status, std::string_view heading_key,
                                            std::string_view message_key);
  [[nodiscard]] static gw::HttpResponse redirect(std::string_view to);
  [[nodiscard]] static gw::HttpResponse json_answer(int status, const boost::json::value& v);

  // --- sluisd ---------------------------------------------------------------------------------

  /// Calls sluisd with the signed-in account's partner certificate, naming its worker
  /// (`request.worker` is overwritten: a page can never act as someone else). Errors: the
  /// transport's (sluisd unreachable, ...), or ApiClientErrc::invalid_request when the console
  /// serves no such partner.
  [[nodiscard]] boost::system::result<ApiResponse> call_api(const Ctx& ctx,
                                                            ApiRequest request) const;
  /// The page for a /v1 answer that is not a success: sluisd's problem code shown through the
  /// catalogue key `problem.<code>` when one exists, else a sentence naming the code; 404/403
  /// keep their status, anything else becomes 502.
  [[nodiscard]] gw::HttpResponse api_problem_page(Ctx& ctx, const ApiResponse& answer);
  /// The page for a failed call (sluisd unreachable, TLS refused, ...): 502, readable.
  [[nodiscard]] gw::HttpResponse gateway_down_page(Ctx& ctx);
  /// sluisd's problem code of an answer ("" when it carries none).
  [[nodiscard]] static std::string problem_code(const ApiResponse& answer);
  /// The signed-in account as sluisd knows it (GET /v1/me), cached per account for a minute;
  /// nullopt when sluisd cannot say (unreachable, worker unknown there).
  [[nodiscard]] std::optional<GatewayIdentity> who(const Ctx& ctx);
  /// GET of a sluisd resource that reads the same for every worker of a partner and changes
  /// rarely (the rule pack's vocabulary, the partner list, the card services): a 200 answer is
  /// kept per partner and target for a minute, so a page does not ask again each time. Only
  /// unaudited reads belong here; client data never does.
  [[nodiscard]] boost::system::result<ApiResponse> shared_get(const Ctx& ctx,
                                                              std::string_view target);

  // --- small helpers ---------------------------------------------------------------------------

  [[nodiscard]] std::string role_label(const Ctx& ctx, ConsoleRole role) const;
  [[nodiscard]] bool catalogue_has(std::string_view lang) const;

 private:
  gw::HttpResponse run_guarded(Ctx& ctx, Access access, const PageFn& fn,
                               DuplicateNames duplicates);
  bool same_origin_request(const gw::HttpRequest& req) const;
  void add_security_headers(const Ctx& ctx, gw::HttpResponse& res) const;
  std::string current_target(const Ctx& ctx) const;
  gw::HttpResponse reload_page(Ctx& ctx);
  std::optional<TemplateData> navigation(const Ctx& ctx);

 protected:
  /// Makes sure the request has a session (a signed-out one when needed) for the forms' token.
  void ensure_session(Ctx& ctx);
  /// A new session id (rotation: the caller has ended any previous one), set as the cookie.
  void start_session(Ctx& ctx, std::optional<std::string> account_id,
                     std::optional<std::string> invite_hash);

 private:
  struct CachedIdentity {
    GatewayIdentity identity;
    std::chrono::steady_clock::time_point fetched;
  };
  std::mutex identities_mutex_;
  std::map<std::string, CachedIdentity, std::less<>> identities_;  ///< by console account id
  struct CachedAnswer {
    ApiResponse answer;
    std::chrono::steady_clock::time_point fetched;
  };
  std::mutex shared_mutex_;
  std::map<std::string, CachedAnswer, std::less<>> shared_;  ///< by "partner target"
};

/// Random bytes as base64url text (ids, tokens, nonces).
[[nodiscard]] std::string random_b64(std::size_t bytes);
/// "YYYY-MM-DD HH:MM" in UTC.
[[nodiscard]] std::string utc_time(UnixSeconds t);
/// A same-origin path to return to: "/x..." but never "//host" or "/\\"; else "/".
[[nodiscard]] std::string safe_return_to(std::string_view v);
/// Constant-time comparison of two tokens.
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b);

// The page areas: each registers its routes (literal paths win over the catch-all 404 routes).
void add_worker_pages(gw::Router& router, PageKit& kit);
void add_lowthreshold_pages(gw::Router& router, PageKit& kit);
// add_dpo_pages (dpo_pages.hpp) also takes the app's log witness.

}  // namespace sluis::console
