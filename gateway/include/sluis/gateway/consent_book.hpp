// The consent book: consents as opaque JSON documents with indexed metadata, and break-the-glass
// grants.
#pragma once

#include "sluis/gateway/domain.hpp"
#include "sluis/gateway/error.hpp"
#include "sluis/gateway/store.hpp"

#include <span>
#include <string_view>
#include <vector>

namespace sluis::gateway {

/// Consents and break-the-glass grants of clients. Nothing is ever deleted (except by erasure
/// of the client): revocation marks a consent with when and by whom, and history stays readable.
/// The store does not interpret consent documents; the policy module does.
///
/// Threads: as the Store it is built on (each call holds the store's mutex).
class ConsentBook {
 public:
  explicit ConsentBook(Store& store);

  /// Records a consent (recorded_at = now, fresh id). Errors: not_found (client),
  /// invalid_argument (empty or oversized document, valid_until not after valid_from, empty
  /// recorder).
  [[nodiscard]] Result<ConsentRecord> record(const ClientId& client, const NewConsent& consent);
  /// Revokes a consent of this client from now on. Errors: not_found (no such consent for this
  /// client), conflict (already revoked).
  [[nodiscard]] Result<ConsentRecord> revoke(const ClientId& client, std::string_view consent_id,
                                             std::string_view partner_id,
                                             std::string_view worker_id);
  /// Every consent of the client, revoked and expired included, in recording order.
  [[nodiscard]] Result<std::vector<ConsentRecord>> history(const ClientId& client) const;
  /// The consents in force at `at`: not revoked by then, valid_from <= at < valid_until.
  [[nodiscard]] Result<std::vector<ConsentRecord>> in_force(const ClientId& client,
                                                            Instant at) const;
  /// Errors: not_found.
  [[nodiscard]] Result<ConsentRecord> find(const ClientId& client,
                                           std::string_view consent_id) const;

  /// Records a break-the-glass grant (id assigned here; other fields from `grant`). Errors:
  /// invalid_argument (empty reason or categories, expires_at not after starts_at), not_found.
  [[nodiscard]] Result<BreakGlassGrant> grant_break_glass(BreakGlassGrant grant);
  /// Grants of the client for this worker at this partner in force at `at`.
  [[nodiscard]] Result<std::vector<BreakGlassGrant>>
  break_glass_in_force(const ClientId& client, std::string_view partner_id,
                       std::string_view worker_id, Instant at) const;
  /// Grants that ended at or before `now` whose end is not yet on the audit record, earliest
  /// first, at most `limit` (across all clients).
  [[nodiscard]] Result<std::vector<BreakGlassGrant>> expired_unrecorded(Instant now,
                                                                       std::size_t limit) const;
  /// Marks these grants' ends as recorded. Unknown ids (erased meanwhile) are ignored.
  [[nodiscard]] Result<void> mark_expiry_recorded(std::span<const std::string> grant_ids);
  /// Every grant of the client (for review and the client's access report).
  [[nodiscard]] Result<std::vector<BreakGlassGrant>>
  break_glass_history(const ClientId& client) const;

 private:
  Store& store_;
};

}  // namespace sluis::gateway
