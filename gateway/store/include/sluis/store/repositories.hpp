// The repository interfaces the domain's rules are written against, and the unit of work that
// reaches them. No SQL and no engine type: an engine (the SQLCipher Store is the first) implements
// them, the domain never sees which one it has.
#pragma once

#include "sluis/crypto/field.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/pseudonym.hpp"
#include "sluis/store/error.hpp"
#include "sluis/store/records.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluis::store {

// Every interface below is used only inside a UnitOfWork, which holds the engine for one
// operation: calls are serialised, and writes belong to the unit's transaction once
// begin_write() was called. Errors not named are the engine's (storage_failure, busy,
// file_damaged). Argument names and ids are checked by the domain before they arrive here.

/// Partners of the gateway.
class PartnerRecords {
 public:
  /// Errors: conflict (the id exists).
  [[nodiscard]] virtual Result<void> insert(const Partner& partner) = 0;
  /// Every partner sorted by id: an immutable snapshot shared between callers, dropped by the
  /// engine on every partner write (so never older than the last one).
  [[nodiscard]] virtual Result<std::shared_ptr<const std::vector<Partner>>> table() = 0;
  [[nodiscard]] virtual Result<void> set_revoked(std::string_view id, Instant at) = 0;
  /// Records that certificate serial `serial` (canonical hex) of partner `partner_id` is
  /// revoked, in the unit's transaction, for every node's transport (PostgreSQL: table
  /// revoked_serials). The SQLCipher engine stores nothing: its one process goes by the
  /// transport's revocation list file, which sluisctl writes (docs/store.md "Several nodes").
  [[nodiscard]] virtual Result<void> add_revoked_serial(std::string_view serial,
                                                        std::string_view partner_id,
                                                        Instant at) = 0;

 protected:
  ~PartnerRecords() = default;
};

/// Workers enrolled at partners.
class WorkerRecords {
 public:
  /// Errors: conflict (enrolled already).
  [[nodiscard]] virtual Result<void> insert(const Worker& worker) = 0;
  /// Errors: not_found.
  [[nodiscard]] virtual Result<Worker> find(std::string_view partner_id,
                                            std::string_view worker_id) = 0;
  /// The partner's workers ordered by worker id.
  [[nodiscard]] virtual Result<std::vector<Worker>> list(std::string_view partner_id) = 0;
  /// Errors: not_found (no such worker).
  [[nodiscard]] virtual Result<void> set_active(std::string_view partner_id,
                                                std::string_view worker_id, bool active) = 0;

 protected:
  ~WorkerRecords() = default;
};

/// A service pseudonym's row: the client it names, and whether a new card retired it.
struct ServicePseudonymRecord {
  ClientId client;
  bool retired = false;
};

/// What a card event records (link or new card).
enum class CardEventKind : std::uint8_t { link = 1, new_card = 2 };

/// Why a client's tombstone was written.
enum class ErasureReason : std::uint8_t { by_request = 1, absorbed_by_link = 2 };

/// Where a caseload page starts: the last row of the page before it.
struct CaseloadPosition {
  Instant since{};
  std::string pseudonym;
};

/// A row of a partner's caseload: the care relationship and the partner's sealed label, if any.
struct CaseloadRow {
  ClientId client;
  std::string pseudonym;
  Instant since{};
  RelationshipOrigin origin{};
  std::vector<std::uint8_t> label_sealed;  ///< empty: no label
};

/// Clients and everything that names them: identifier digests, service-pseudonym digests, care
/// relationships (with the partners' pseudonyms), pseudonym aliases, card events, tombstones.
class ClientRecords {
 public:
  /// A new client under its internal id and audit pseudonym (`tag`).
  [[nodiscard]] virtual Result<void> insert(const ClientId& client, std::string_view tag,
                                            bool anonymous, Instant at) = 0;
  /// The client's anonymous flag. Errors: not_found.
  [[nodiscard]] virtual Result<bool> anonymous(const ClientId& client) = 0;
  [[nodiscard]] virtual Result<void> set_anonymous(const ClientId& client, bool anonymous) = 0;
  [[nodiscard]] virtual Result<std::size_t> count() = 0;
  /// Deletes the client and every record that names it (fragments, consents, grants, digests,
  /// relationships, aliases, card events, key-journal entries). Erasure tombstones stay.
  [[nodiscard]] virtual Result<void> remove(const ClientId& client) = 0;
  /// Records the tombstone of the client with audit pseudonym `tag` (kept when there is one).
  [[nodiscard]] virtual Result<void> tombstone(std::string_view tag, Instant at,
                                               ErasureReason reason) = 0;

  /// The client an identifier digest names, if any.
  [[nodiscard]] virtual Result<std::optional<ClientId>>
  find_identifier(const crypto::IdentifierDigest& digest) = 0;
  [[nodiscard]] virtual Result<void> insert_identifier(const crypto::IdentifierDigest& digest,
                                                       const ClientId& client) = 0;

  [[nodiscard]] virtual Result<std::optional<ServicePseudonymRecord>>
  find_service_pseudonym(const crypto::IdentifierDigest& digest) = 0;
  [[nodiscard]] virtual Result<void>
  insert_service_pseudonym(const crypto::IdentifierDigest& digest, const ClientId& client,
                           std::string_view service_id, Instant at) = 0;
  /// Retires every not yet retired service pseudonym of the client.
  [[nodiscard]] virtual Result<void> retire_service_pseudonyms(const ClientId& client,
                                                               Instant at) = 0;

  /// The partner's care relationship with the client, if any.
  [[nodiscard]] virtual Result<std::optional<CareRelationship>>
  relationship(std::string_view partner_id, const ClientId& client) = 0;
  /// The client's care relationships ordered by since, then partner id.
  [[nodiscard]] virtual Result<std::vector<CareRelationship>>
  relationships(const ClientId& client) = 0;
  /// Errors: conflict (the partner has one already, or the pseudonym is taken).
  [[nodiscard]] virtual Result<void> insert_relationship(const ClientId& client,
                                                         const CareRelationship& relationship) = 0;
  /// Moves the partner's relationship (pseudonym, since and origin kept) from one client to
  /// another.
  [[nodiscard]] virtual Result<void>
  move_relationship(std::string_view partner_id, const ClientId& from, const ClientId& to) = 0;
  /// The client a partner's pseudonym names for that partner: through its care relationship, or
  /// through an alias it holds. nullopt when neither.
  [[nodiscard]] virtual Result<std::optional<ClientId>>
  resolve_pseudonym(std::string_view partner_id, std::string_view pseudonym) = 0;
  /// Records `pseudonym` as the partner's alias of `client`.
  [[nodiscard]] virtual Result<void> insert_alias(std::string_view pseudonym,
                                                  std::string_view partner_id,
                                                  const ClientId& client, Instant since) = 0;

  [[nodiscard]] virtual Result<void> record_card_event(const ClientId& client, CardEventKind kind,
                                                       std::string_view first_service,
                                                       std::string_view second_service,
                                                       std::string_view reference, Instant at) = 0;
  /// Re-points the identifier digests, service pseudonyms, card events and aliases of `from` at
  /// `to` (a link folding one record into another).
  [[nodiscard]] virtual Result<void> reassign_names(const ClientId& from, const ClientId& to) = 0;

  /// One page of the partner's caseload: its care relationships ordered by since descending,
  /// then pseudonym ascending, starting after `after` (exclusive) when given, at most `limit`;
  /// with `token`, only the clients whose label has that blind-index token. Each row carries the
  /// partner's sealed label when it set one.
  [[nodiscard]] virtual Result<std::vector<CaseloadRow>>
  caseload(std::string_view partner_id, const std::optional<CaseloadPosition>& after,
           std::size_t limit, const std::optional<crypto::IdentifierDigest>& token) = 0;
  /// Sets (replaces) the partner's label of the client: its sealed text and its tokens.
  [[nodiscard]] virtual Result<void>
  set_caseload_label(std::string_view partner_id, const ClientId& client,
                     std::span<const std::uint8_t> sealed,
                     std::span<const crypto::IdentifierDigest> tokens, Instant at) = 0;
  /// Removes the partner's label of the client (none: nothing to do).
  [[nodiscard]] virtual Result<void> clear_caseload_label(std::string_view partner_id,
                                                          const ClientId& client) = 0;
  /// The partner's sealed label of the client; empty when it set none.
  [[nodiscard]] virtual Result<std::vector<std::uint8_t>>
  caseload_label(std::string_view partner_id, const ClientId& client) = 0;

 protected:
  ~ClientRecords() = default;
};

/// A stored fragment version's metadata with what the rules need besides: its data-key version
/// and whether a newer version replaced it.
struct FragmentRecord {
  FragmentMeta meta;
  crypto::DataKeyVersion key_version{};
  bool superseded = false;
};

/// Fragment versions with their sealed fields (the sealed_fields.hpp blob, stored as given).
class FragmentRecords {
 public:
  /// Stores a fragment version after the client's others. Errors: conflict (id taken).
  [[nodiscard]] virtual Result<void> insert(const FragmentMeta& meta,
                                            crypto::DataKeyVersion key_version,
                                            std::span<const std::uint8_t> sealed_fields) = 0;
  /// Errors: not_found.
  [[nodiscard]] virtual Result<FragmentRecord> find(const FragmentId& fragment) = 0;
  /// Marks `previous` replaced by `next`. Errors: conflict (already replaced).
  [[nodiscard]] virtual Result<void> mark_superseded(const FragmentId& previous,
                                                     const FragmentId& next) = 0;
  /// The client's current versions' metadata, oldest first (created_at, then insertion).
  [[nodiscard]] virtual Result<std::vector<FragmentMeta>> current(const ClientId& client) = 0;
  /// As current(), each with its fields still sealed, from one pass over the rows.
  [[nodiscard]] virtual Result<std::vector<SealedFragment>>
  current_sealed(const ClientId& client) = 0;
  /// Every version of the client's fragments (superseded too), with their sealed fields.
  [[nodiscard]] virtual Result<std::vector<SealedFragment>> all_sealed(const ClientId& client) = 0;
  /// Replaces a fragment version's sealed fields and data-key version (resealing).
  [[nodiscard]] virtual Result<void> replace_sealed(const FragmentId& fragment,
                                                    crypto::DataKeyVersion key_version,
                                                    std::span<const std::uint8_t> sealed) = 0;
  /// Moves every fragment of `from` to `to`, after `to`'s own.
  [[nodiscard]] virtual Result<void> reassign(const ClientId& from, const ClientId& to) = 0;

 protected:
  ~FragmentRecords() = default;
};

/// Consent documents with their metadata (the engine never interprets a document).
class ConsentRecords {
 public:
  /// Errors: conflict (id taken).
  [[nodiscard]] virtual Result<void> insert(const ConsentRecord& consent) = 0;
  /// Errors: not_found (no such consent of this client).
  [[nodiscard]] virtual Result<ConsentRecord> find(const ClientId& client,
                                                   std::string_view consent_id) = 0;
  /// Every consent of the client in recording order.
  [[nodiscard]] virtual Result<std::vector<ConsentRecord>> history(const ClientId& client) = 0;
  /// Ids of the client's consents that start with `prefix`, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<std::string>>
  ids_with_prefix(const ClientId& client, std::string_view prefix, std::size_t limit) = 0;
  /// Marks the consent revoked. Errors: conflict (no such unrevoked consent).
  [[nodiscard]] virtual Result<void> revoke(const ClientId& client, std::string_view consent_id,
                                            Instant at, std::string_view partner_id,
                                            std::string_view worker_id) = 0;
  [[nodiscard]] virtual Result<void> reassign(const ClientId& from, const ClientId& to) = 0;

 protected:
  ~ConsentRecords() = default;
};

/// A grant's reason as stored: sealed (see kBreakGlassReasonCategory).
struct SealedReason {
  std::string grant_id;
  ClientId client;
  std::string partner_id;
  std::string worker_id;
  Instant starts_at{};
  std::vector<std::uint8_t> sealed;
};

/// Break-the-glass grants; their reasons only ever sealed.
class GrantRecords {
 public:
  /// `grant.reason` is ignored: `sealed_reason` is what is stored. Errors: conflict (id taken).
  [[nodiscard]] virtual Result<void> insert(const BreakGlassGrant& grant,
                                            std::span<const std::uint8_t> sealed_reason) = 0;
  /// Every grant of the client ordered by start (reasons left empty).
  [[nodiscard]] virtual Result<std::vector<BreakGlassGrant>> history(const ClientId& client) = 0;
  /// Grants that ended at or before `now` and are not marked recorded, earliest end first.
  [[nodiscard]] virtual Result<std::vector<BreakGlassGrant>>
  expired_unrecorded(Instant now, std::size_t limit) = 0;
  /// Unknown ids are ignored.
  [[nodiscard]] virtual Result<void> mark_expiry_recorded(std::span<const std::string> ids) = 0;
  /// Sealed reasons of the grants matching `query` (started within it), ordered by start.
  [[nodiscard]] virtual Result<std::vector<SealedReason>>
  sealed_reasons(const BreakGlassReasonQuery& query) = 0;
  /// Sealed reasons of the client's grants.
  [[nodiscard]] virtual Result<std::vector<SealedReason>>
  sealed_reasons_of(const ClientId& client) = 0;
  [[nodiscard]] virtual Result<void>
  replace_sealed_reason(std::string_view grant_id, std::span<const std::uint8_t> sealed) = 0;
  [[nodiscard]] virtual Result<void> reassign(const ClientId& from, const ClientId& to) = 0;
  /// The grants that concern `partner_id` — its workers made them, or it has a care relationship
  /// with the client — newest first, at most `limit`, each with its position for paging; only
  /// positions below `before` when `before` > 0.
  [[nodiscard]] virtual Result<std::vector<std::pair<std::int64_t, BreakGlassGrant>>>
  concerning(std::string_view partner_id, std::int64_t before, std::size_t limit) = 0;
  /// One grant (reason left empty). Errors: not_found.
  [[nodiscard]] virtual Result<BreakGlassGrant> find(std::string_view grant_id) = 0;
  /// Stores a review with its note sealed (`review.note` is ignored). Errors: conflict (this
  /// partner reviewed the grant already).
  [[nodiscard]] virtual Result<void> insert_review(const BreakGlassReview& review,
                                                   std::span<const std::uint8_t> sealed_note) = 0;
  /// The reviews of a grant in recording order, each with its sealed note (notes left empty).
  [[nodiscard]] virtual Result<std::vector<std::pair<BreakGlassReview, std::vector<std::uint8_t>>>>
  reviews_of(std::string_view grant_id) = 0;
  /// Replaces a review's sealed note (a link reseals it to the surviving client).
  [[nodiscard]] virtual Result<void> replace_sealed_note(std::string_view grant_id,
                                                         std::string_view partner_id,
                                                         std::span<const std::uint8_t> sealed) = 0;

 protected:
  ~GrantRecords() = default;
};

/// The sub-keys of the domain's keyed functions (crypto/pseudonym.hpp), derived from the root
/// key by the engine when it opened.
struct PseudonymKeys {
  crypto::SubKey identifier_index;
  crypto::SubKey partner_pseudonym;
  crypto::SubKey audit_pseudonym;
  crypto::SubKey service_pseudonym_index;
  crypto::SubKey caseload_label_index;
};

/// Data keys (per client × category × version, wrapped by KEKs) and the key journal.
class KeyStore {
 public:
  /// The current data key of client × category for sealing, created (random, wrapped under the
  /// current KEK, committed at once, whatever the unit's transaction does) on first use: a key
  /// without data is harmless, data without its key is lost.
  [[nodiscard]] virtual Result<std::pair<crypto::DataKeyVersion, crypto::DataKey>>
  key_for_sealing(const ClientId& client, std::string_view category) = 0;
  /// The data key of that name. Errors: key_unavailable (gone: erased or lost), crypto_failure.
  [[nodiscard]] virtual Result<crypto::DataKey>
  key(const ClientId& client, std::string_view category, crypto::DataKeyVersion version) = 0;
  /// As key(), through the engine's cache of unwrapped keys: the pointer stays valid until the
  /// next call of a KeyStore member.
  [[nodiscard]] virtual Result<const crypto::DataKey*>
  cached_key(const ClientId& client, std::string_view category, crypto::DataKeyVersion version) = 0;
  /// Records the key in the key journal (docs/store.md "Key journal") inside the unit's write
  /// transaction, so that data sealed under it is never committed without it. `known` is the
  /// key when the caller holds it.
  [[nodiscard]] virtual Result<void> journal(const ClientId& client, std::string_view category,
                                             crypto::DataKeyVersion version,
                                             const crypto::DataKey* known = nullptr) = 0;
  /// Crypto-shreds every data key of the client with audit pseudonym `tag` (and every cached
  /// copy, in every engine of the process), recording the tombstone beside them.
  [[nodiscard]] virtual Result<void> shred(std::string_view tag) = 0;
  /// Groups the keys key_for_sealing creates until end_batch() into one commit (bulk import).
  [[nodiscard]] virtual Result<void> begin_batch() = 0;
  [[nodiscard]] virtual Result<void> end_batch() = 0;

 protected:
  ~KeyStore() = default;
};

/// Everything an engine offers one unit of work. Reached through UnitOfWork only.
class Records {
 public:
  virtual ~Records() = default;
  [[nodiscard]] virtual PartnerRecords& partners() noexcept = 0;
  [[nodiscard]] virtual WorkerRecords& workers() noexcept = 0;
  [[nodiscard]] virtual ClientRecords& clients() noexcept = 0;
  [[nodiscard]] virtual FragmentRecords& fragments() noexcept = 0;
  [[nodiscard]] virtual ConsentRecords& consents() noexcept = 0;
  [[nodiscard]] virtual GrantRecords& grants() noexcept = 0;
  [[nodiscard]] virtual KeyStore& keys() noexcept = 0;

  /// Starts the write transaction of the data records (all or nothing until commit()).
  [[nodiscard]] virtual Result<void> begin_write() = 0;
  /// Starts a read snapshot: later reads see one state. No-op inside a transaction.
  [[nodiscard]] virtual Result<void> begin_read() = 0;
  /// Commits what begin_write() or begin_read() started.
  [[nodiscard]] virtual Result<void> commit() = 0;
  /// After deletions: no older image of the deleted records stays in the engine's files.
  [[nodiscard]] virtual Result<void> purge_deleted() = 0;

  /// The engine's clock (every recorded time comes from it).
  [[nodiscard]] virtual Instant now() const = 0;
  /// The test seam of fault injection: an error (injected_failure) when a test asked for one at
  /// `step` ("add_fragment.fields", ...). Success otherwise.
  [[nodiscard]] virtual Result<void> fault_point_for_test(std::string_view step) const = 0;
  /// The metrics seam: one call per field opened (never with its contents).
  virtual void field_opened(const FragmentId& fragment) const = 0;
};

/// A storage engine: hands out its records, one unit of work at a time.
class Storage {
 public:
  virtual ~Storage() = default;

  /// Runs `body` in one write transaction (bulk import, when the caller is the engine's only
  /// user): all or nothing. Operations inside must not start a transaction of their own (they
  /// fail with storage_failure). Errors: body's, busy, storage_failure.
  [[nodiscard]] virtual Result<void> bulk_write(const std::function<Result<void>()>& body) = 0;
  /// The sub-keys of the domain's keyed functions. Fixed for the engine's life; thread-safe.
  [[nodiscard]] virtual const PseudonymKeys& pseudonym_keys() const noexcept = 0;
  /// Registers `drop` (which must not throw), called from any thread when the engine notices
  /// that a client was erased or folded into another through another handle on the same data —
  /// another node on one database — so the caller's in-memory copies of client data (the consent
  /// cache) go too. An engine only one process opens never calls it: the API drops its copies
  /// itself after its own erasures and links (docs/store.md "Several nodes").
  virtual void watch_dropped_clients(std::function<void()> drop) { static_cast<void>(drop); }

 protected:
  friend class UnitOfWork;
  /// Acquires the engine for one unit of work (blocks while another holds it).
  [[nodiscard]] virtual Records& acquire() = 0;
  /// Ends the unit: rolls back a write transaction not committed, ends a read snapshot, and
  /// lets the next unit in.
  virtual void release() noexcept = 0;
};

/// One operation's hold on the storage: serialised with every other unit of the same engine,
/// and — after begin_write() — one transaction, rolled back unless commit() succeeded.
/// Not movable; lives on the stack of one domain operation.
class UnitOfWork {
 public:
  explicit UnitOfWork(Storage& storage) : storage_(storage), records_(storage.acquire()) {}
  ~UnitOfWork() { storage_.release(); }
  UnitOfWork(const UnitOfWork&) = delete;
  UnitOfWork& operator=(const UnitOfWork&) = delete;

  [[nodiscard]] PartnerRecords& partners() noexcept { return records_.partners(); }
  [[nodiscard]] WorkerRecords& workers() noexcept { return records_.workers(); }
  [[nodiscard]] ClientRecords& clients() noexcept { return records_.clients(); }
  [[nodiscard]] FragmentRecords& fragments() noexcept { return records_.fragments(); }
  [[nodiscard]] ConsentRecords& consents() noexcept { return records_.consents(); }
  [[nodiscard]] GrantRecords& grants() noexcept { return records_.grants(); }
  [[nodiscard]] KeyStore& keys() noexcept { return records_.keys(); }
  /// The sub-keys of the domain's keyed functions (Storage::pseudonym_keys).
  [[nodiscard]] const PseudonymKeys& pseudonym_keys() const noexcept {
    return storage_.pseudonym_keys();
  }

  [[nodiscard]] Result<void> begin_write() { return records_.begin_write(); }
  [[nodiscard]] Result<void> begin_read() { return records_.begin_read(); }
  [[nodiscard]] Result<void> commit() { return records_.commit(); }
  [[nodiscard]] Result<void> purge_deleted() { return records_.purge_deleted(); }
  [[nodiscard]] Instant now() const { return records_.now(); }
  [[nodiscard]] Result<void> fault_point_for_test(std::string_view step) const {
    return records_.fault_point_for_test(step);
  }
  void field_opened(const FragmentId& fragment) const { records_.field_opened(fragment); }

 private:
  Storage& storage_;
  Records& records_;
};

}  // namespace sluis::store
