// The console's pages and routes: one guard every request passes through (Host, session,
// CSRF, access, security headers with a per-response CSP nonce), then the page handlers.
#pragma once

#include "sluis/console/api_client.hpp"
#include "sluis/console/catalogue.hpp"
#include "sluis/console/console_config.hpp"
#include "sluis/console/console_store.hpp"
#include "sluis/console/template.hpp"
#include "sluis/server/request_log.hpp"
#include "sluis/server/router.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sluis::console {

/// The web files: templates (parsed once), the three catalogues and the static root.
struct ConsoleWeb {
  TemplateSet templates;
  std::map<std::string, Catalogue, std::less<>> catalogues;  ///< by language code
  std::filesystem::path static_root;

  /// Loads `web_root`/templates, /i18n/{nl,fr,en}.toml and /static. Throws TemplateSyntaxError
  /// or CatalogueError naming file and line; std::runtime_error when a directory is missing.
  [[nodiscard]] static ConsoleWeb load(const std::filesystem::path& web_root);
};

/// The console application. Holds references: `config`, `store` and `web` outlive it.
/// Its handlers run on the server's handler pool, concurrently (the store serialises itself).
class ConsoleApp final {
 public:
  /// `clients`: one /v1 client per served partner (by partner id).
  ConsoleApp(const ConsoleConfig& config, ConsoleStore& store, const ConsoleWeb& web,
             std::map<std::string, ApiClient, std::less<>> clients);
  ~ConsoleApp();
  ConsoleApp(const ConsoleApp&) = delete;
  ConsoleApp& operator=(const ConsoleApp&) = delete;

  /// Every route of the console, each wrapped in the guard.
  [[nodiscard]] sluis::server::Router router();

  /// Starts the log witness's timer on a thread of its own (docs/console.md "The log's health"):
  /// a first round now, then one every [witness] interval_seconds, sharing one archive and one
  /// lock with the DPO's log-health page; alerts and outages go to `log`. Without
  /// audit_verifier_key (or a served partner) it only logs that the witness is off. The app's
  /// destructor stops it. Call at most once; without it the page still checks on each visit.
  void start_witness(std::shared_ptr<sluis::server::LogSink> log);

  /// The Content-Security-Policy for a response with `nonce` (exactly issue 14's policy).
  [[nodiscard]] static std::string content_security_policy(std::string_view nonce);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The enrolment link for an invitation token: `<origin>/enrol?invite=<token>`.
[[nodiscard]] std::string enrolment_link(const ConsoleConfig& config, std::string_view token);

}  // namespace sluis::console
