// The registry: partners and workers, client registration, pseudonyms, cards, links and erasure.
#pragma once

#include "sluis/crypto/pseudonym.hpp"
#include "sluis/domain/records.hpp"

#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::domain {

/// True for partner ids, partner types, roles and categories: 1-64 of a-z, 0-9, '-', '_', '.'.
[[nodiscard]] bool is_valid_name(std::string_view s) noexcept;
/// True for worker ids: 1-128 bytes, no control characters.
[[nodiscard]] bool is_valid_worker_id(std::string_view s) noexcept;

/// Registry settings the rule pack supplies.
struct RegistryOptions {
  /// Partner types allowed to register clients anonymously from a card-derived pseudonym.
  std::set<std::string, std::less<>> anonymous_partner_types{"low-threshold"};
};

/// The audit-domain pseudonym of a client ("a1..."): what tombstones and the audit log name it
/// by (crypto::audit_pseudonym under the storage's audit-pseudonym sub-key). Thread-safe.
[[nodiscard]] std::string audit_pseudonym(const Storage& storage, const ClientId& client);

/// The partner `id` in a table sorted by id (Registry::partner_table), or nullptr.
[[nodiscard]] const Partner* find_in_partner_table(std::span<const Partner> table,
                                                   std::string_view id) noexcept;

/// Clients as partners know them. Every operation is one transaction on the data store; none
/// ever stores an identifier (only its keyed digest) or a card secret (the gateway never sees it).
///
/// Threads: as the Storage it is built on (each call is one unit of work, serialised with the
/// others). A Registry is a cheap view: hold one per storage, or make one per request.
/// What admitting a request looks up about its caller (Registry::admit): each part as its own
/// look-up would answer it.
struct Admission {
  boost::system::error_code partner_error;  ///< not_found, a storage error, or none
  std::optional<Partner> partner;
  /// The client the pseudonym names for the partner (when one was asked for and it resolves).
  std::optional<ClientId> client;
  boost::system::error_code worker_error;  ///< not_found, a storage error, or none
  std::optional<Worker> worker;            ///< when a worker was asked for and is enrolled
};

class Registry {
 public:
  explicit Registry(Storage& storage, RegistryOptions options = {});

  // --- partners and workers (operator actions) ---

  /// Adds a partner. `id` and `partner_type` are names ([a-z0-9-_.], 1..64). Errors:
  /// invalid_argument, conflict (the id exists).
  [[nodiscard]] Result<void> add_partner(std::string_view id, std::string_view partner_type,
                                         std::string_view display_name);
  /// Errors: not_found.
  [[nodiscard]] Result<Partner> find_partner(std::string_view id) const;
  [[nodiscard]] Result<std::vector<Partner>> list_partners() const;
  /// Every partner sorted by id, shared rather than copied: an immutable snapshot of the table
  /// as of the call (the store keeps it between calls and drops it on any partner write).
  [[nodiscard]] Result<std::shared_ptr<const std::vector<Partner>>> partner_table() const;
  /// Marks the partner revoked from now on (kept for provenance) and, when given, its
  /// certificate serial (canonical hex) revoked for every node's transport, in one transaction
  /// (PartnerRecords::add_revoked_serial). Errors: not_found, conflict (already revoked).
  [[nodiscard]] Result<void> revoke_partner(
      std::string_view id, std::optional<std::string_view> certificate_serial = std::nullopt);
  /// Records certificate serial `certificate_serial` of `partner_id` revoked (a repeated
  /// revoke of a partner revoked already). Errors: the store's.
  [[nodiscard]] Result<void> revoke_certificate(std::string_view partner_id,
                                                std::string_view certificate_serial);
  /// Enrols a worker (active). Errors: invalid_argument, not_found (partner), conflict.
  [[nodiscard]] Result<void> add_worker(std::string_view partner_id, std::string_view worker_id,
                                        std::string_view role);
  /// Errors: not_found.
  [[nodiscard]] Result<Worker> find_worker(std::string_view partner_id,
                                           std::string_view worker_id) const;
  [[nodiscard]] Result<std::vector<Worker>> list_workers(std::string_view partner_id) const;
  /// Errors: not_found.
  [[nodiscard]] Result<void> set_worker_active(std::string_view partner_id,
                                               std::string_view worker_id, bool active);

  // --- registration ---

  /// Identified registration: normalises and digests the identifier (keyed), finds or creates
  /// the one client it names, and gives `partner_id` a care relationship and its own pseudonym.
  /// The same identifier at another partner reaches the same client under an unrelated
  /// pseudonym. Case numbers are scoped to the registering partner. Errors: invalid_argument
  /// (malformed identifier — no detail about the value), not_found (partner), not_permitted
  /// (partner revoked).
  [[nodiscard]] Result<Registration> register_identified(std::string_view partner_id,
                                                         crypto::IdentifierScheme scheme,
                                                         std::string_view identifier);
  /// Bulk import path (one transaction, prepared statements): as register_identified for each
  /// identifier, in order. All or nothing.
  [[nodiscard]] Result<std::vector<Registration>>
  register_identified_bulk(std::string_view partner_id, crypto::IdentifierScheme scheme,
                           std::span<const std::string> identifiers);
  /// Anonymous registration by the service itself from the service pseudonym its own system
  /// derived from the client's card (the gateway never sees the card). Indexed by a keyed digest
  /// of (partner_id, pseudonym). The partner's type must be in RegistryOptions. Registering the
  /// same pseudonym again answers the same client (existing = true). Errors: invalid_argument,
  /// not_found, not_permitted (partner type or revoked), card_replaced (pseudonym retired).
  [[nodiscard]] Result<Registration> register_anonymous(std::string_view partner_id,
                                                        std::string_view service_pseudonym);
  /// Client-controlled linking at a second service. The client presented their card to
  /// `partner_id`, whose system derived both this service's pseudonym (`own_pseudonym`) and the
  /// first service's (`first_service_id`, `first_pseudonym`), and the client consented
  /// (`consent_reference`: the consent record or document that covers it). Afterwards both
  /// services reach one client: when this service had no record, it gains a care relationship
  /// (origin linked) with the first service's client; when it had its own anonymous record, the
  /// two records become one (its fragments are resealed under the surviving client's keys, the
  /// absorbed client is tombstoned). No partner's pseudonym stops working: a partner that knew
  /// only the absorbed record keeps its pseudonym (now naming the survivor); a partner that knew
  /// both records keeps the survivor's and its other pseudonym stays an alias of it, resolved
  /// for that partner only (resolve). The pseudonym returned is this service's current one.
  /// Recorded as a card event. Errors: not_found (first pseudonym unknown), card_replaced,
  /// invalid_argument, not_permitted.
  [[nodiscard]] Result<Registration> link(std::string_view partner_id,
                                          std::string_view own_pseudonym,
                                          std::string_view first_service_id,
                                          std::string_view first_pseudonym,
                                          std::string_view consent_reference);
  /// The client got a new card at `partner_id`: every service pseudonym derived from the old
  /// card (all the client's current ones) is retired from now on — it no longer registers or
  /// links — and `new_pseudonym` (derived from the new card for this service) takes over here.
  /// Errors: not_found (old pseudonym unknown here), card_replaced (already retired),
  /// conflict (new pseudonym already in use).
  [[nodiscard]] Result<Registration> replace_card(std::string_view partner_id,
                                                  std::string_view old_pseudonym,
                                                  std::string_view new_pseudonym);

  // --- lookups ---

  /// The client an identifier names, without registering anything (operator acts such as an
  /// erasure ordered by the client). `case_partner_id` scopes case numbers (ignored for the
  /// other schemes). Errors: invalid_argument (malformed identifier), not_found.
  [[nodiscard]] Result<ClientId> find_identified(crypto::IdentifierScheme scheme,
                                                 std::string_view identifier,
                                                 std::string_view case_partner_id = {}) const;
  /// The client behind a partner's own pseudonym — its current one, or one it held for a
  /// record a link folded into this client (an alias, answered to that partner only). Only a
  /// partner with a care relationship has one, so not_found covers "unknown", "not yours" and
  /// "erased" alike.
  [[nodiscard]] Result<ClientId> resolve(std::string_view partner_id,
                                         std::string_view pseudonym) const;
  /// The look-ups that admit a request, in one read unit of work (one snapshot, one take of the
  /// storage): the partner; when it is known, the client `pseudonym` names for it (as resolve)
  /// and the worker `worker_id` (as find_worker). An absent pseudonym or worker id is not
  /// looked up. Never fails as a whole: each part carries its own error.
  [[nodiscard]] Admission admit(std::string_view partner_id,
                                std::optional<std::string_view> pseudonym,
                                std::optional<std::string_view> worker_id) const;
  /// The partner's pseudonym for the client. Errors: not_found (no care relationship).
  [[nodiscard]] Result<std::string> pseudonym_for(std::string_view partner_id,
                                                  const ClientId& client) const;
  [[nodiscard]] Result<bool> has_care_relationship(std::string_view partner_id,
                                                   const ClientId& client) const;
  [[nodiscard]] Result<std::vector<CareRelationship>>
  care_relationships(const ClientId& client) const;
  /// Errors: not_found.
  [[nodiscard]] Result<bool> is_anonymous(const ClientId& client) const;
  /// Number of clients in the store.
  [[nodiscard]] Result<std::size_t> client_count() const;

  // --- erasure ---

  /// Erases the client: records a pseudonymous tombstone (the audit pseudonym, returned for the
  /// audit log) in the data store, deletes every row of the client (fragments, pseudonyms,
  /// relationships, consents, grants), then crypto-shreds the client's data keys in the key
  /// store. From then on no field of the client opens anywhere, including from any data backup.
  /// Errors: not_found.
  [[nodiscard]] Result<std::string> erase_client(const ClientId& client);

 private:
  Storage& storage_;
  RegistryOptions options_;
};

}  // namespace sluis::domain
