// Records the store keeps and the domain's services exchange: partners, fragments, consents.
#pragma once

#include "sluis/crypto/secret.hpp"
#include "sluis/crypto/types.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::store {

using crypto::ClientId;
using crypto::FragmentId;

/// A point in time as the store records it (UTC, millisecond resolution).
using Instant = std::chrono::sys_time<std::chrono::milliseconds>;

/// An organisation connected to the gateway. `id` is a short stable slug ("ocmw-brussel").
struct Partner {
  std::string id;
  std::string partner_type;  ///< a partner type of the rule pack ("ocmw", "low-threshold", ...)
  std::string display_name;
  Instant created_at{};
  std::optional<Instant> revoked_at;  ///< set once revoked; revoked partners are refused
};

/// A named person at a partner.
struct Worker {
  std::string partner_id;
  std::string worker_id;  ///< as the partner's system names them
  std::string role;       ///< a role of the rule pack ("social-worker", "nurse", "dpo", ...)
  bool active = true;
};

/// How a partner came to have a care relationship with a client.
enum class RelationshipOrigin {
  registered,      ///< the partner registered the client (identified or anonymous)
  card_presented,  ///< the client presented their card there (anonymous registration/new card)
  linked,          ///< the client linked this service's record to another's (client-controlled)
};

/// A partner's care relationship with a client, and the partner-local pseudonym it knows them by.
struct CareRelationship {
  std::string partner_id;
  std::string pseudonym;  ///< "p1..." — what this partner, and only it, calls the client
  Instant since{};
  RelationshipOrigin origin = RelationshipOrigin::registered;
};

/// What registration answers: the caller's own pseudonym, and whether the client already existed.
struct Registration {
  std::string pseudonym;
  bool existing = false;  ///< true when this identifier/pseudonym was already known
};

/// Metadata of one fragment version (never the fields). This is what a permission decision sees.
struct FragmentMeta {
  FragmentId id;
  ClientId client;
  std::string category;
  std::string owner_partner;      ///< the partner that wrote it (provenance)
  std::string created_by_worker;  ///< the worker who wrote it
  Instant created_at{};
  std::uint32_t version = 1;             ///< 1 for a first version, +1 per supersession
  std::optional<FragmentId> supersedes;  ///< the version this one replaced
};

/// One named field of a fragment to be written. `value` is wiped when freed.
struct FieldInput {
  std::string name;
  crypto::PlainBytes value;
};

/// One opened field of a permitted fragment. `value` is wiped when freed.
struct OpenedField {
  std::string name;
  crypto::PlainBytes value;
};

/// A permitted, current fragment with its opened fields, in the order they were written.
struct DossierEntry {
  FragmentMeta meta;
  std::vector<OpenedField> fields;
  /// True when the fragment's data key is gone (destroyed, or lost with a key store restored
  /// without its journal): `fields` is empty, the rest of the dossier still opens.
  bool key_unavailable = false;
};

/// A stored fragment whose fields are still sealed: only ciphertext and field names, in the
/// store's layout (docs/store.md "Fragments"). Opened only by Dossiers::open_fragments.
struct SealedFragment {
  FragmentMeta meta;
  std::uint32_t key_version = 0;
  std::vector<std::uint8_t> fields;
};

/// Metadata columns of a stored consent; the consent itself is an opaque JSON document.
struct ConsentRecord {
  std::string id;  ///< random, 32 lowercase hex characters
  ClientId client;
  std::string recorded_by_partner;
  std::string recorded_by_worker;
  Instant recorded_at{};
  Instant valid_from{};
  Instant valid_until{};  ///< every consent has an end date
  std::optional<Instant> revoked_at;
  std::string revoked_by_partner;  ///< empty while not revoked
  std::string revoked_by_worker;
  std::string document;  ///< JSON, as the policy module defines it
};

/// What a caller supplies to record a consent.
struct NewConsent {
  std::string recorded_by_partner;
  std::string recorded_by_worker;
  Instant valid_from{};
  Instant valid_until{};
  std::string document;  ///< JSON; at most kMaxConsentDocument bytes
};

inline constexpr std::size_t kMaxConsentDocument = 64 * 1024;

/// The data-key category a break-the-glass reason is sealed under (never a rule-pack category:
/// pack names have no '.'). Why the client's own data key, in a category of its own: a reason
/// often names a health condition, so it gets what a fragment field gets — an AEAD under a
/// random key per client × category, wrapped by the current KEK (rotation rewraps it like any
/// other), bound to the grant, field, category, client and key version. Being the client's key,
/// erasing the client destroys it with the others (crypto-shredding), also in old data backups;
/// being a category of its own, opening reasons never needs, and never unlocks, a fragment key.
inline constexpr std::string_view kBreakGlassReasonCategory = "sluis.break-glass-reason";
/// The field name bound into a sealed reason's context.
inline constexpr std::string_view kBreakGlassReasonField = "reason";

/// A break-the-glass grant: emergency access without consent, time-limited, reasoned.
struct BreakGlassGrant {
  std::string id;  ///< random, 32 lowercase hex characters
  ClientId client;
  std::string partner_id;
  std::string worker_id;
  std::vector<std::string> categories;
  /// Required, non-empty, when recording. The store keeps it sealed (it often names a health
  /// condition) and leaves it empty in the grants it returns; only
  /// ConsentBook::break_glass_reasons opens it, for those entitled to review it.
  std::string reason;
  Instant starts_at{};
  Instant expires_at{};
};

/// A grant's written reason, opened for a DPO's review (docs/dpo-guide.md §5).
struct BreakGlassReason {
  std::string grant_id;
  std::string client;  ///< the client's audit pseudonym (what the audit log names)
  std::string partner_id;
  std::string worker_id;
  Instant starts_at{};
  /// nullopt when it can no longer be opened: its data key is gone (the client was erased, or
  /// a key-store snapshot older than the grant was restored).
  std::optional<std::string> reason;
};

/// Which grants' reasons to open: all, or those of one partner, started within [from, until].
struct BreakGlassReasonQuery {
  std::optional<std::string> partner_id;
  std::optional<Instant> from;
  std::optional<Instant> until;
};

/// The data-key category a break-the-glass review's note is sealed under (like a grant's reason:
/// the client's own key, a category of its own, so erasing the client destroys it too).
inline constexpr std::string_view kBreakGlassReviewCategory = "sluis.break-glass-review";

/// One organisation's review of a break-the-glass grant (docs/dpo-guide.md §5): at most one per
/// grant and reviewing partner, never changed afterwards.
struct BreakGlassReview {
  std::string grant_id;
  std::string partner_id;  ///< the reviewing organisation
  std::string worker_id;   ///< its DPO who recorded it
  std::string outcome;     ///< "justified", "not-justified" or "needs-follow-up"
  /// Opened only for the reviewing organisation; nullopt otherwise or when it cannot be opened.
  std::optional<std::string> note;
  Instant reviewed_at{};
};

}  // namespace sluis::store
