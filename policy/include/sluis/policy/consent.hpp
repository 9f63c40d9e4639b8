// The client's consent, shaped like FHIR R5 Consent: base decision deny, permit provisions with
// nested deny exceptions, evidence, legal basis, optional representative; and its validation.
#pragma once

#include "sluis/policy/error.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluis/policy/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluis::policy {

/// Bounds on a consent (hostile input stays small; a real consent is far below them).
inline constexpr std::size_t kMaxProvisions = 32;
inline constexpr std::size_t kMaxExceptions = 64;
inline constexpr std::size_t kMaxNoteChars = 500;        ///< evidence channel note
inline constexpr std::size_t kMaxReferenceLength = 128;  ///< representative reference (an id)

/// A named person at a partner (the partner-scoped worker id as the partner's system sends it).
struct WorkerRef {
  std::string partner;  ///< partner id
  std::string worker;   ///< worker id at that partner
  friend bool operator==(const WorkerRef&, const WorkerRef&) = default;
};

/// Who a provision permits. Every field given must match the requester (a conjunction); at least
/// one is given. E.g. {partner_type: home-care, role: nurse} = nurses at any home-care partner.
struct Grantee {
  std::string partner;                        ///< a partner id; empty = any partner
  std::optional<PartnerTypeId> partner_type;  ///< any partner of this type
  std::optional<RoleId> role;                 ///< workers with this role
  friend bool operator==(const Grantee&, const Grantee&) = default;
};

/// A nested deny inside a provision: exactly one of a partner, a worker, a category.
struct ConsentException {
  enum class Kind : std::uint8_t { partner, worker, category };
  Kind kind = Kind::partner;
  std::string partner;    ///< partner (kind partner) or the worker's partner (kind worker)
  std::string worker;     ///< kind worker only
  CategoryId category{};  ///< kind category only
  friend bool operator==(const ConsentException&, const ConsentException&) = default;
};

/// A time span [start, end): end is exclusive and mandatory.
struct Period {
  Time start{};
  Time end{};
  friend bool operator==(const Period&, const Period&) = default;
};

/// One permit: grantee × categories × purposes × period, minus its exceptions.
struct ConsentProvision {
  Grantee grantee;
  CategorySet categories;           ///< categories named explicitly
  bool all_non_restricted = false;  ///< also every category the pack does not mark restricted
  PurposeSet purposes;
  Period period;
  std::vector<ConsentException> exceptions;
  friend bool operator==(const ConsentProvision&, const ConsentProvision&) = default;
};

/// How the consent was given.
enum class Channel : std::uint8_t { in_person, paper_signed, other };
/// The language the client was informed in (and receipts are printed in).
enum class Language : std::uint8_t { nl, fr, en };

/// GDPR ground for the processing this consent documents.
/// - consent: art. 6(1)(a) + 9(2)(a), the client's explicit consent — the normal case.
/// - vital_interest: art. 6(1)(d) + 9(2)(c), the client cannot consent and life or health is at
///   stake (e.g. recorded with a representative for an unconscious client).
/// - legal_obligation: art. 6(1)(c), a law or court order requires the sharing (youth protection
///   measure, OCMW/CPAS statutory inquiry).
/// - public_task: art. 6(1)(e) + 9(2)(h), a public social-care mission (OCMW/CPAS) under
///   professional secrecy, where the client is informed rather than asked.
enum class LegalBasis : std::uint8_t { consent, vital_interest, legal_obligation, public_task };

/// Who speaks for a client who cannot (Belgian patient-rights and protection law).
enum class Relationship : std::uint8_t {
  parent,                         ///< parent of a minor
  legal_guardian,                 ///< guardian (voogd / tuteur) of a minor
  court_appointed_administrator,  ///< bewindvoerder / administrateur for a protected adult
  trusted_person,                 ///< vertrouwenspersoon / personne de confiance
};

/// A representative, by a name-free reference (e.g. the partner's own contact-person id).
struct Representative {
  std::string reference;
  Relationship relationship = Relationship::parent;
  friend bool operator==(const Representative&, const Representative&) = default;
};

struct ConsentEvidence {
  WorkerRef recorded_by;
  RoleId recorder_role{};
  Channel channel = Channel::in_person;
  std::string channel_note;  ///< required for Channel::other: what it was (e.g. "by phone")
  Language language = Language::nl;
  Time recorded_at{};
  friend bool operator==(const ConsentEvidence&, const ConsentEvidence&) = default;
};

enum class ConsentStatus : std::uint8_t { active, revoked };

struct Revocation {
  Time at{};
  WorkerRef by;
  friend bool operator==(const Revocation&, const Revocation&) = default;
};

/// A client's consent. Base decision deny: only the provisions permit anything. The client it
/// belongs to is not part of the value: the store files it under the client. Name ids are bound to
/// the RulePack it was parsed or built with.
struct Consent {
  std::string id;
  ConsentStatus status = ConsentStatus::active;
  std::optional<Revocation> revocation;  ///< present exactly when status is revoked
  LegalBasis legal_basis = LegalBasis::consent;
  std::vector<ConsentProvision> provisions;
  ConsentEvidence evidence;
  std::optional<Representative> representative;
  friend bool operator==(const Consent&, const Consent&) = default;
};

/// Stable text of the enumerations, as used in JSON ("in-person", "paper-signed", "other"; "nl";
/// "consent", "vital-interest", "legal-obligation", "public-task"; "parent", "legal-guardian",
/// "court-appointed-administrator", "trusted-person"; "active", "revoked").
[[nodiscard]] std::string_view to_string(Channel c) noexcept;
[[nodiscard]] std::string_view to_string(Language l) noexcept;
[[nodiscard]] std::string_view to_string(LegalBasis b) noexcept;
[[nodiscard]] std::string_view to_string(Relationship r) noexcept;
[[nodiscard]] std::string_view to_string(ConsentStatus s) noexcept;

/// Checks a consent as it arrives from the API, before it is stored. Returns the first problem
/// found, in this order: ids (bad_id), evidence (recorder role may record consents, channel note,
/// recorded_at not after `now`), status/revocation agreement, provisions (at least one, at most
/// kMaxProvisions; grantee not empty; categories and purposes not empty; period end after start,
/// not longer than the pack allows, not already ended at `now`; a restricted category only
/// explicitly and only to one named partner; exceptions well-formed, at most kMaxExceptions),
/// representative reference. Names are already resolved (parse_consent rejects unknown ones).
[[nodiscard]] Result<void> validate_consent(const Consent& consent, const RulePack& pack, Time now);

/// Revokes a consent with immediate effect: status revoked, revocation {at, by}. Fails with
/// already_revoked when it is revoked, bad_revocation when `at` precedes the recording time.
[[nodiscard]] Result<void> revoke_consent(Consent& consent, const WorkerRef& by, Time at);

/// The moment the last provision ends (the consent's own end date); recorded_at when it has none.
[[nodiscard]] Time consent_end(const Consent& consent) noexcept;

}  // namespace sluis::policy
