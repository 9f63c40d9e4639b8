// The /v1 HTTP resources: binds the transport's Router to the store, the rule pack and the audit
// log.
#pragma once

#include "sluis/audit/log.hpp"
#include "sluis/store/records.hpp"
#include "sluis/server/router.hpp"
#include "sluis/store/repositories.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

namespace sluis::domain {
class ConsentCache;
}  // namespace sluis::domain

namespace sluis::api {

/// The rule pack in force, swappable at run time (SIGHUP) without locks on the request path.
///
/// Every request takes one snapshot at its start and uses it throughout, so a reload never changes
/// the rules under a request that is half done. All members are thread-safe.
class CurrentRulePack {
 public:
  explicit CurrentRulePack(std::shared_ptr<const policy::RulePack> pack) : pack_(std::move(pack)) {}

  /// The pack in force now (never null once constructed with a non-null pack).
  [[nodiscard]] std::shared_ptr<const policy::RulePack> get() const { return pack_.load(); }
  /// Puts `pack` in force for every request that starts from now on.
  void replace(std::shared_ptr<const policy::RulePack> pack) { pack_.store(std::move(pack)); }

 private:
  std::atomic<std::shared_ptr<const policy::RulePack>> pack_;
};

/// Limits the API applies to request bodies, on top of the transport's byte limit.
struct ApiLimits {
  std::size_t max_body_bytes = 1024 * 1024;  ///< larger bodies get 413 payload-too-large
  std::size_t max_json_depth = 16;           ///< deeper documents get 400 malformed-json
};

/// Everything the handlers need. The pointed-to objects must outlive the Router built from it.
struct GatewayContext {
  /// The storage engine (SQLCipher or PostgreSQL; shared, thread-safe).
  sluis::store::Storage* store = nullptr;
  sluis::audit::AuditLog* audit = nullptr;  ///< the audit log every act is appended to before answering
  CurrentRulePack* rules = nullptr;
  /// The clock every decision and record uses (defaults to the system clock when empty).
  std::function<sluis::store::Instant()> clock;
  ApiLimits limits;
  /// Consent documents parsed once per rule pack for the dossier reads (made by
  /// make_api_router when empty; shared by every handler of the router).
  std::shared_ptr<sluis::domain::ConsentCache> consent_cache;
};

/// Builds the Router with every /v1 resource and GET /healthz for `context`
/// (docs/api/openapi.yaml describes them; docs/architecture-api.md explains the choices).
///
/// Promises, for every handler: errors are RFC 9457 problem+json with a stable code and no
/// internal detail; nothing a request carries (bodies, pseudonyms, identifiers, fields) is logged;
/// every state change and every dossier read is appended to the audit log, durably, before the
/// response is produced, and when that append fails the answer is 503 audit-unavailable and the
/// change is not made; no exception escapes a handler.
/// Throws std::invalid_argument when `context` lacks its store, audit log or rule pack.
[[nodiscard]] server::Router make_api_router(const GatewayContext& context);

}  // namespace sluis::api
