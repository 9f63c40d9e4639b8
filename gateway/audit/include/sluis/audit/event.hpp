// Audit events: the record of every decision and act, and its canonical, versioned byte encoding.
#pragma once

#include "sluis/crypto/merkle.hpp"
#include "sluis/store/records.hpp"
#include "sluis/store/error.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::audit {

using store::Errc;
using store::Instant;
using store::Result;

/// What happened. Values and strings are stable: both are part of stored events and exports.
/// Add new actions at the end only.
enum class AuditAction : std::uint8_t {
  registration = 1,         ///< a partner registered a client (identified or anonymous)
  read = 2,                 ///< access decisions of a dossier read with one outcome (see below)
  fragment_write = 3,       ///< a partner wrote a first fragment version
  fragment_supersede = 4,   ///< a partner wrote a new version of its fragment
  consent_grant = 5,        ///< a consent was recorded
  consent_revoke = 6,       ///< a consent was withdrawn
  link = 7,                 ///< the client linked two services with their card
  card_replace = 8,         ///< the client got a new card
  break_glass_start = 9,    ///< a break-the-glass grant was opened
  break_glass_expiry = 10,  ///< a break-the-glass grant ended
  erasure = 11,             ///< the client was erased (crypto-shredded)
  partner_add = 12,
  partner_revoke = 13,
  worker_add = 14,
  worker_disable = 15,
  key_rotate = 16,     ///< key-encryption-key rotation
  policy_reload = 17,  ///< a new rule pack was loaded
  backup = 18,         ///< a backup or key-store snapshot was taken
  worker_enable = 19,
  restore = 20,  ///< a key-store snapshot was restored
  unlink = 21,   ///< the client undid a link (new card, or on request)
  consent_read = 22,   ///< a partner listed the client's consents or printed a receipt
  access_report = 23,  ///< a partner produced the client's "who saw my data" report
  audit_query = 24,    ///< a partner's DPO queried the audit log through the API
  break_glass_review = 25,  ///< a partner's DPO recorded the outcome of a grant's review
  caseload_read = 26,   ///< a partner listed or searched its caseload
  caseload_label = 27,  ///< a partner set or removed its own label on a client
};
inline constexpr AuditAction kLastAuditAction = AuditAction::caseload_label;

/// The stable string of an action: "registration", "read", "fragment-write", ... Total.
[[nodiscard]] std::string_view to_string(AuditAction a) noexcept;
/// The action named `text` (exact match); nullopt for unknown names.
[[nodiscard]] std::optional<AuditAction> parse_audit_action(std::string_view text) noexcept;

/// The outcome of an access decision; `not_applicable` for acts that are not decisions.
enum class AuditDecision : std::uint8_t { not_applicable = 0, permit = 1, deny = 2 };
/// "n/a", "permit", "deny".
[[nodiscard]] std::string_view to_string(AuditDecision d) noexcept;
[[nodiscard]] std::optional<AuditDecision> parse_audit_decision(std::string_view text) noexcept;

/// Bounds on an event's texts (bytes); longer values are refused (Errc::invalid_argument).
inline constexpr std::size_t kMaxAuditText = 256;
inline constexpr std::size_t kMaxAuditCategories = 64;

/// One audit event. Holds pseudonyms and names only — never an identifier, a field value or the
/// internal client id. Empty strings mean "not applicable".
struct AuditEvent {
  Instant time{};       ///< UTC, millisecond resolution
  std::string partner;  ///< acting partner id (empty for gateway/operator acts)
  std::string worker;   ///< acting worker id ("" or e.g. "operator" for sluisctl)
  std::string role;     ///< the worker's role
  AuditAction action = AuditAction::read;
  std::string client;  ///< the client's audit pseudonym "a1..." (Store::audit_pseudonym)
  std::vector<std::string> categories;  ///< categories concerned (in the given order)
  std::string purpose;                  ///< the stated purpose of a read
  AuditDecision decision = AuditDecision::not_applicable;
  std::string rule;           ///< deciding rule id, e.g. "consent.active:<id>"
  bool break_glass = false;   ///< permitted through (or concerns) break-the-glass
  std::string request_id;     ///< the API request this came from
  std::string owner_partner;  ///< for reads: the partner whose data it was

  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

/// Version of the canonical encoding (the "v" member). Bump only with a new encoder, and keep
/// decoding every older version.
inline constexpr int kAuditEncodingVersion = 1;

/// The canonical bytes of an event: compact JSON with members in this fixed order and no
/// whitespace:
///   {"v":1,"time":<ms since epoch>,"partner":s,"worker":s,"role":s,"action":s,"client":s,
///    "categories":[s,...],"purpose":s,"decision":s,"rule":s,"break_glass":true|false,
///    "request_id":s,"owner_partner":s}
/// Strings escape only '"', '\\' and control characters (as \u00XX, lowercase hex); everything
/// else is copied byte for byte. The Merkle leaf is crypto::leaf_hash(these bytes).
/// Errors: invalid_argument when a text is not valid UTF-8, longer than kMaxAuditText, or there
/// are more than kMaxAuditCategories categories. Thread-safe.
[[nodiscard]] Result<std::string> encode_audit_event(const AuditEvent& event);

/// Parses canonical bytes back into an event. Strict: the bytes must be exactly what
/// encode_audit_event produces for the result (anything else is Errc::invalid_argument), so one
/// event has one encoding. Never throws for bad input.
[[nodiscard]] Result<AuditEvent> decode_audit_event(std::string_view canonical);

}  // namespace sluis::audit
