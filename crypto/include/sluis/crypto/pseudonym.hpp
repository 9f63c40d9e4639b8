// Keyed, domain-separated pseudonyms: identifier index, partner-local and audit pseudonyms.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/types.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluis::crypto {

/// The kinds of client identifier a partner may register with.
enum class IdentifierScheme {
  national_register,  ///< Belgian rijksregisternummer / numéro de registre national (11 digits)
  bis,                ///< BIS number (11 digits, month + 20 or + 40)
  case_number,        ///< the partner's own case number; scoped to that partner
};

/// Normalises an identifier so that every way a worker may type it gives the same string.
///
/// national_register / bis: spaces, dots and dashes are removed; what remains must be exactly 11
/// digits YYMMDDSSSCC with CC = 97 - (YYMMDDSSS mod 97) (born before 2000) or
/// CC = 97 - (2YYMMDDSSS mod 97) (born in or after 2000); either rule is accepted and the one that
/// matches fixes the century. The serial SSS must be 001..998. Month: national_register 00..12,
/// bis 20..32 (month + 20, sex unknown) or 40..52 (month + 40, sex known); a (real) month of 00
/// means "unknown or serials exhausted" and then any day 00..31 is accepted; with a known month
/// the day is 00 (unknown) or a real calendar day of that month and century. A BIS number given
/// as national_register (or the reverse) is rejected. Normal form: the 11 digits.
///
/// case_number: surrounding ASCII whitespace is trimmed; the rest must be 1..64 printable ASCII
/// characters (0x20..0x7e; inner spaces and case are kept). `partner_id` must be 1..255 printable
/// ASCII characters without ':' or space. Normal form: "<partner_id>:<case>", so two partners'
/// "123" differ. `partner_id` is ignored for the other schemes.
///
/// Errors: invalid_argument, and nothing else: the error never carries the value (it is personal
/// data). Pure function, thread-safe.
[[nodiscard]] Result<std::string>
normalise_identifier(IdentifierScheme scheme, std::string_view raw, std::string_view partner_id);

/// 32-byte keyed hash of a normalised identifier: BLAKE2b-256 keyed with the identifier_index
/// sub-key over LP("sluis/identifier/v1") || LP(scheme label) || LP(normalised), where LP(x) is x's
/// length as 8 bytes big-endian followed by x, and the scheme labels are "national-register",
/// "bis" and "case-number" (docs/crypto/pseudonyms.md). The gateway stores only this, to find the
/// same client again. Precondition: `normalised` comes from normalise_identifier for `scheme`.
using IdentifierDigest = std::array<std::uint8_t, 32>;
[[nodiscard]] IdentifierDigest identifier_digest(const SubKey& identifier_index_key,
                                                 IdentifierScheme scheme,
                                                 std::string_view normalised);

/// What a partner sees for a client: "p1" followed by 26 lowercase RFC 4648 base32 characters
/// (no padding) of 16 bytes of BLAKE2b-128 keyed with the partner_pseudonym sub-key over
/// LP("sluis/partner-pseudonym/v1") || LP(partner_id) || LP(client id bytes). Stable for a
/// (partner, client) pair; unrelated across partners. Thread-safe.
[[nodiscard]] std::string partner_pseudonym(const SubKey& partner_pseudonym_key,
                                            std::string_view partner_id, const ClientId& client);

/// The client as the audit log names it: "a1" + 26 base32 characters of BLAKE2b-128 keyed with the
/// audit_pseudonym sub-key over LP("sluis/audit-pseudonym/v1") || LP(client id bytes).
[[nodiscard]] std::string audit_pseudonym(const SubKey& audit_pseudonym_key,
                                          const ClientId& client);

/// Keyed hash under which the gateway indexes an anonymous client's service pseudonym (the
/// "sp1-..." string a low-threshold service sends, see card.hpp): BLAKE2b-256 keyed with the
/// service_pseudonym_index sub-key over LP("sluis/service-pseudonym-index/v1") || LP(service_id)
/// || LP(service_pseudonym). A stolen database therefore cannot be joined against pseudonyms a
/// partner holds. Precondition: the caller has checked looks_like_service_pseudonym.
[[nodiscard]] IdentifierDigest service_pseudonym_digest(const SubKey& service_pseudonym_index_key,
                                                        std::string_view service_id,
                                                        std::string_view service_pseudonym);

/// What a caseload-label token stands for: the whole label, or one of its prefixes.
enum class LabelTokenKind : std::uint8_t { exact = 1, prefix = 2 };

/// The blind-index token of a partner's own caseload label (or of a prefix of it): BLAKE2b-256
/// keyed with the caseload_label_index sub-key over LP("sluis/caseload-label/v1") ||
/// LP(partner_id) || LP("exact" | "prefix") || LP(normalised text). The partner id inside the
/// hash makes the index one keyed function per partner: the same label at two partners gives
/// unrelated tokens, so a stolen database cannot be joined across partners, and without the root
/// key no label can be tested against it (docs/threat-model.md "Caseload labels").
/// Precondition: `normalised` is the domain's normal form of a label. Thread-safe.
[[nodiscard]] IdentifierDigest caseload_label_token(const SubKey& caseload_label_index_key,
                                                    std::string_view partner_id,
                                                    LabelTokenKind kind,
                                                    std::string_view normalised);

}  // namespace sluis::crypto
