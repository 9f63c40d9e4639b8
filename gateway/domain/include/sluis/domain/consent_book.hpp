// The consent book: consents as opaque JSON documents with indexed metadata, and break-the-glass
// grants.
#pragma once

#include "sluis/domain/records.hpp"

#include <span>
#include <string_view>
#include <vector>

namespace sluis::domain {

/// The short form of a consent reference, for a client to quote (the receipt prints it): the
/// first 36 bits of the 32-hex-character consent id as 8 symbols of the card-code alphabet plus
/// the card code's check symbol, grouped 3-3-3 ("4KD-0QW-7MX"). ConsentBook::record keeps it
/// unique among one client's consents. Precondition: `consent_id` is 32 hex characters (else
/// the result is empty).
[[nodiscard]] std::string short_consent_reference(std::string_view consent_id);

/// Consents and break-the-glass grants of clients. Nothing is ever deleted (except by erasure
/// of the client): revocation marks a consent with when and by whom, and history stays readable.
/// The store does not interpret consent documents; the policy module does.
///
/// Threads: as the Storage it is built on (each call is one unit of work, serialised with the
/// others).
class ConsentBook {
 public:
  explicit ConsentBook(Storage& storage);

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
  /// The consent named by its id (32 hex characters) or by its short reference
  /// (short_consent_reference, as a person types it: any case, '-' and spaces ignored).
  /// Errors: not_found (also for a short reference with a wrong check symbol).
  [[nodiscard]] Result<ConsentRecord> find(const ClientId& client,
                                           std::string_view consent_id) const;

  /// A fresh grant id (32 lowercase hex characters), so the grant's audit event can name it
  /// before the grant is recorded.
  [[nodiscard]] static std::string new_grant_id();
  /// Records a break-the-glass grant (id from `grant` when set, else assigned here; other fields
  /// from `grant`). The reason is sealed (kBreakGlassReasonCategory) and never stored in the
  /// clear. Errors: invalid_argument (empty reason or categories, expires_at not after
  /// starts_at, an id that is not 32 lowercase hex characters), not_found, conflict (id taken).
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
  /// The grants matching `query` with their reasons opened, earliest first: for the gateway's
  /// DPO (all) and a partner's DPO (query.partner_id = the own partner). The caller decides who
  /// is entitled and must not log what it gets.
  [[nodiscard]] Result<std::vector<BreakGlassReason>>
  break_glass_reasons(const BreakGlassReasonQuery& query) const;

 private:
  Storage& storage_;
};

}  // namespace sluis::domain
